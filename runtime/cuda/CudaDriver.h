//===- CudaDriver.h - the NVIDIA driver API, loaded with dlopen -*- C++ -*-===//
//
// Internal to runtime/cuda (CudaDevice.cpp, MgpuRuntime.cpp) and the tests;
// the rest of Tessel uses CudaDevice.h.
//
// Tessel never links libcuda: a binary linked against it would not even
// start on a machine without the NVIDIA driver, and CI has none. Instead the
// driver library is opened with dlopen the first time something asks for the
// GPU, and every entry point used is resolved with dlsym into a table
// (Driver). The few driver types needed are declared here with the driver
// ABI's sizes, so the build needs no cuda.h either.
//
// Where the driver exports several versions of an entry point, the table
// names the one cuda.h maps the plain name to (cuMemAlloc -> cuMemAlloc_v2):
// the unversioned symbols are kept only for binaries built against CUDA 3.x
// and take 32-bit sizes.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_CUDA_CUDADRIVER_H
#define TESSEL_RUNTIME_CUDA_CUDADRIVER_H

#include "absl/strings/string_view.h"
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessel::runtime::cuda {

// Driver API types with the ABI of cuda.h (64-bit Linux).
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;
using CUjit_option = int;
using CUdevice_attribute = int;
using CUfunction_attribute = int;

// The enumerators used, with cuda.h's values.
inline constexpr CUresult kCudaSuccess = 0;
inline constexpr CUresult kCudaErrorInvalidValue = 1;
inline constexpr CUresult kCudaErrorOutOfMemory = 2;
inline constexpr CUresult kCudaErrorNotInitialized = 3;
inline constexpr CUresult kCudaErrorStubLibrary = 34;
inline constexpr CUresult kCudaErrorNoDevice = 100;
inline constexpr CUresult kCudaErrorInvalidDevice = 101;
inline constexpr CUresult kCudaErrorInvalidContext = 201;
inline constexpr CUresult kCudaErrorInvalidPtx = 218;
inline constexpr CUresult kCudaErrorInvalidHandle = 400;
inline constexpr CUresult kCudaErrorNotFound = 500;

inline constexpr CUjit_option kJitInfoLogBuffer = 3;
inline constexpr CUjit_option kJitInfoLogBufferSizeBytes = 4;
inline constexpr CUjit_option kJitErrorLogBuffer = 5;
inline constexpr CUjit_option kJitErrorLogBufferSizeBytes = 6;
inline constexpr CUjit_option kJitOptimizationLevel = 7;

inline constexpr CUdevice_attribute kAttrMultiprocessorCount = 16;
inline constexpr CUdevice_attribute kAttrComputeCapabilityMajor = 75;
inline constexpr CUdevice_attribute kAttrComputeCapabilityMinor = 76;
inline constexpr CUdevice_attribute kAttrMaxSharedMemoryPerBlockOptin = 97;

inline constexpr CUfunction_attribute kFuncAttrMaxDynamicSharedSizeBytes = 8;

inline constexpr unsigned kStreamNonBlocking = 1;  // CU_STREAM_NON_BLOCKING
inline constexpr unsigned kEventDisableTiming = 2; // CU_EVENT_DISABLE_TIMING
inline constexpr unsigned kMemAttachGlobal = 1;    // CU_MEM_ATTACH_GLOBAL

/// Dynamic shared memory a kernel may use without opting in with
/// cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES).
inline constexpr int kDefaultMaxDynamicSharedBytes = 48 * 1024;

// Every entry point the runtime calls: X(member, exported symbol, result,
// (parameters)). The fake driver (tests/cuda) exports the same symbols.
#define TESSEL_CUDA_DRIVER_ENTRY_POINTS(X)                                                         \
  X(cuInit, "cuInit", CUresult, (unsigned flags))                                                  \
  X(cuDriverGetVersion, "cuDriverGetVersion", CUresult, (int *version))                            \
  X(cuGetErrorName, "cuGetErrorName", CUresult, (CUresult error, const char **name))               \
  X(cuGetErrorString, "cuGetErrorString", CUresult, (CUresult error, const char **text))           \
  X(cuDeviceGetCount, "cuDeviceGetCount", CUresult, (int *count))                                  \
  X(cuDeviceGet, "cuDeviceGet", CUresult, (CUdevice * device, int ordinal))                        \
  X(cuDeviceGetName, "cuDeviceGetName", CUresult, (char *name, int length, CUdevice device))       \
  X(cuDeviceGetAttribute, "cuDeviceGetAttribute", CUresult,                                        \
    (int *value, CUdevice_attribute attribute, CUdevice device))                                   \
  X(cuDeviceTotalMem, "cuDeviceTotalMem_v2", CUresult, (size_t * bytes, CUdevice device))          \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", CUresult,                                \
    (CUcontext * context, CUdevice device))                                                        \
  X(cuCtxSetCurrent, "cuCtxSetCurrent", CUresult, (CUcontext context))                             \
  X(cuCtxSynchronize, "cuCtxSynchronize", CUresult, ())                                            \
  X(cuMemAlloc, "cuMemAlloc_v2", CUresult, (CUdeviceptr * ptr, size_t bytes))                      \
  X(cuMemAllocManaged, "cuMemAllocManaged", CUresult,                                              \
    (CUdeviceptr * ptr, size_t bytes, unsigned flags))                                             \
  X(cuMemFree, "cuMemFree_v2", CUresult, (CUdeviceptr ptr))                                        \
  X(cuMemcpyHtoD, "cuMemcpyHtoD_v2", CUresult, (CUdeviceptr dst, const void *src, size_t bytes))   \
  X(cuMemcpyDtoH, "cuMemcpyDtoH_v2", CUresult, (void *dst, CUdeviceptr src, size_t bytes))         \
  X(cuMemcpyDtoD, "cuMemcpyDtoD_v2", CUresult, (CUdeviceptr dst, CUdeviceptr src, size_t bytes))   \
  X(cuMemcpyAsync, "cuMemcpyAsync", CUresult,                                                      \
    (CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream))                             \
  X(cuMemsetD8, "cuMemsetD8_v2", CUresult, (CUdeviceptr dst, unsigned char value, size_t count))   \
  X(cuMemsetD16Async, "cuMemsetD16Async", CUresult,                                                \
    (CUdeviceptr dst, unsigned short value, size_t count, CUstream stream))                        \
  X(cuMemsetD32Async, "cuMemsetD32Async", CUresult,                                                \
    (CUdeviceptr dst, unsigned value, size_t count, CUstream stream))                              \
  X(cuModuleLoadDataEx, "cuModuleLoadDataEx", CUresult,                                            \
    (CUmodule * module, const void *image, unsigned numOptions, CUjit_option *options,             \
     void **optionValues))                                                                         \
  X(cuModuleGetFunction, "cuModuleGetFunction", CUresult,                                          \
    (CUfunction * function, CUmodule module, const char *name))                                    \
  X(cuModuleUnload, "cuModuleUnload", CUresult, (CUmodule module))                                 \
  X(cuFuncSetAttribute, "cuFuncSetAttribute", CUresult,                                            \
    (CUfunction function, CUfunction_attribute attribute, int value))                              \
  X(cuLaunchKernel, "cuLaunchKernel", CUresult,                                                    \
    (CUfunction function, unsigned gridX, unsigned gridY, unsigned gridZ, unsigned blockX,         \
     unsigned blockY, unsigned blockZ, unsigned sharedBytes, CUstream stream, void **params,       \
     void **extra))                                                                                \
  X(cuStreamCreate, "cuStreamCreate", CUresult, (CUstream * stream, unsigned flags))               \
  X(cuStreamDestroy, "cuStreamDestroy_v2", CUresult, (CUstream stream))                            \
  X(cuStreamSynchronize, "cuStreamSynchronize", CUresult, (CUstream stream))                       \
  X(cuStreamWaitEvent, "cuStreamWaitEvent", CUresult,                                              \
    (CUstream stream, CUevent event, unsigned flags))                                              \
  X(cuEventCreate, "cuEventCreate", CUresult, (CUevent * event, unsigned flags))                   \
  X(cuEventDestroy, "cuEventDestroy_v2", CUresult, (CUevent event))                                \
  X(cuEventRecord, "cuEventRecord", CUresult, (CUevent event, CUstream stream))                    \
  X(cuEventSynchronize, "cuEventSynchronize", CUresult, (CUevent event))

/// The loaded driver: its entry points, and the device and primary context
/// this process uses.
struct Driver {
#define TESSEL_CUDA_DECLARE_ENTRY_POINT(member, symbol, result, params)                            \
  result(*member) params = nullptr;
  TESSEL_CUDA_DRIVER_ENTRY_POINTS(TESSEL_CUDA_DECLARE_ENTRY_POINT)
#undef TESSEL_CUDA_DECLARE_ENTRY_POINT

  std::string path; // what dlopen was given
  void *library = nullptr;
  int driverVersion = 0; // 13000 for CUDA 13.0
  int ordinal = 0;
  CUdevice device = 0;
  CUcontext context = nullptr; // the device's primary context, retained
};

/// The driver, loaded and initialised on the first call (thread-safe; later
/// calls return the same result, success or failure, without retrying):
/// dlopen of $TESSEL_CUDA_DRIVER or libcuda.so.1, every entry point
/// resolved, cuInit(0), at least one device, and the primary context of
/// device $TESSEL_CUDA_DEVICE (default 0, or mgpuSetDefaultDevice's)
/// retained. Does not make the context current on the calling thread.
absl::StatusOr<const Driver *> loadDriver();

/// loadDriver(), with the context current on the calling thread (set once
/// per thread: the driver keeps the current context per thread).
absl::StatusOr<const Driver *> currentDriver();

/// The device mgpuSetDefaultDevice asks for: used if the driver is not loaded
/// yet, an error if another device already is.
absl::Status selectDevice(int ordinal);

/// OK for CUDA_SUCCESS, else "CUDA: <call> failed: CUDA_ERROR_X (text)".
absl::Status check(const Driver &driver, CUresult result, absl::string_view call);

/// "CUDA_ERROR_X (text)" for a driver result.
std::string describeResult(const Driver &driver, CUresult result);

/// Forgets the loaded driver (without unloading it) so the next call loads
/// again, reading the environment again. Tests only: handles from before
/// stay with the old driver.
void resetForTesting();

// --- Bookkeeping shared by CudaDevice.cpp and MgpuRuntime.cpp -----------------

/// Keeps `status` for takeError() unless an error is already waiting.
void recordError(const absl::Status &status);

/// Device memory (cuMemAlloc, or cuMemAllocManaged when `managed`), counted
/// in stats(); 0 bytes gives nullptr without calling the driver.
absl::StatusOr<void *> allocate(size_t bytes, bool managed);

/// Which way a copy between two addresses goes, judged by whether they lie in
/// memory allocate() returned (compiled code's mgpuMemcpy does not say).
enum class CopyDirection { HostToDevice, DeviceToHost, DeviceToDevice, HostToHost };
CopyDirection copyDirection(const void *dst, const void *src);

/// Counts a copy of `bytes` in stats() by its direction.
void countCopy(CopyDirection direction, size_t bytes);
void countKernelLaunch();
void countModuleLoad();

} // namespace tessel::runtime::cuda

#endif // TESSEL_RUNTIME_CUDA_CUDADRIVER_H

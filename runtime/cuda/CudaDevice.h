//===- CudaDevice.h - the GPU as the rest of Tessel sees it -----*- C++ -*-===//
//
// One NVIDIA GPU through the driver API, loaded at run time (CudaDriver.h):
// a binary with this library starts and runs on machines without a GPU or
// driver, and only the first GPU call fails, with a status that says why.
//
// Device pointers are CUdeviceptr values carried as void *, as compiled code
// (MLIR's gpu-to-llvm lowering) carries them; they are never dereferenced on
// the host. Compiled code itself calls the mgpu* functions (MgpuRuntime.cpp),
// which cannot return a status: they keep their first error for takeError().
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_CUDA_CUDADEVICE_H
#define TESSEL_RUNTIME_CUDA_CUDADEVICE_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessel::runtime::cuda {

/// Loads the driver (once per process) and makes the device's context
/// current on the calling thread. Every other call here does the same first.
absl::Status ensureDevice();

/// e.g. "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)".
absl::StatusOr<std::string> deviceDescription();

/// major * 10 + minor: 90 for sm_90.
absl::StatusOr<int> computeCapability();

/// `bytes` of device memory. 0 bytes gives nullptr (and deviceFree(nullptr)
/// does nothing), as no driver call can allocate nothing.
absl::StatusOr<void *> deviceAlloc(size_t bytes);

/// Frees what deviceAlloc (or compiled code's mgpuMemAlloc) returned; an
/// error (a pointer the driver does not know) is kept for takeError().
void deviceFree(void *ptr);

// Synchronous copies (host memory may be pageable); 0 bytes does nothing.
absl::Status copyToDevice(void *dst, const void *src, size_t bytes);
absl::Status copyToHost(void *dst, const void *src, size_t bytes);
absl::Status copyOnDevice(void *dst, const void *src, size_t bytes);
absl::Status fillZero(void *dst, size_t bytes);

/// Waits for all work on the device (every stream) to finish.
absl::Status synchronize();

/// Errors raised inside the mgpu* functions compiled code calls (they return
/// void or pointers, so they cannot return a status): the first one since the
/// last call, then cleared. The runtime calls this after each compiled entry
/// point.
absl::Status takeError();

/// name -> address of every extern "C" mgpu* function compiled GPU code
/// calls, for registering with the JIT (MgpuRuntime.cpp).
std::vector<std::pair<std::string, void *>> runtimeSymbols();

/// Counters since process start (tests and `--profile` use them).
struct DeviceStats {
  uint64_t bytesToDevice = 0, bytesToHost = 0, kernelLaunches = 0, moduleLoads = 0,
           liveAllocations = 0, liveBytes = 0;
};
DeviceStats stats();

} // namespace tessel::runtime::cuda

#endif // TESSEL_RUNTIME_CUDA_CUDADEVICE_H

//===- MgpuRuntime.h - the mgpu* C ABI compiled GPU code calls --*- C++ -*-===//
//
// The functions MLIR 22's `gpu-to-llvm` lowering and the `gpu.binary`
// (#gpu.select_object) LLVM translation emit calls to, with their signatures
// (mlir/lib/ExecutionEngine/CudaRuntimeWrappers.cpp of LLVM 22): the host
// side of every gpu.launch_func, gpu.alloc, gpu.memcpy, gpu.wait, ... and the
// global constructor that loads each gpu.binary. Implemented on CudaDriver.h
// instead of libmlir_cuda_runtime, which links libcuda.
//
// None of them can return a status: on failure (no driver included) each
// keeps its error for cuda::takeError() and returns nullptr or does nothing,
// so a failed call never crashes the process. Handles are the driver's
// (CUmodule, CUfunction, CUstream, CUevent) as opaque pointers.
//
// Declared here for the tests; compiled code finds them through
// cuda::runtimeSymbols() (JIT) or the executable's exported symbols (AOT).
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_CUDA_MGPURUNTIME_H
#define TESSEL_RUNTIME_CUDA_MGPURUNTIME_H

#include <cstddef>
#include <cstdint>

extern "C" {

/// A cubin or fatbin (#gpu.select_object of format bin/fatbin).
void *mgpuModuleLoad(void *data, size_t gpuBlobSize);
/// NUL-terminated PTX text, compiled by the driver's JIT at `optLevel` (0-4).
void *mgpuModuleLoadJIT(void *data, int optLevel);
void mgpuModuleUnload(void *module);
/// The kernel `name` of `module`, or nullptr.
void *mgpuModuleGetFunction(void *module, const char *name);
/// Dimensions are MLIR `index` values; `smem` bytes of dynamic shared memory
/// (over 48 KiB is opted into per kernel); `params` has `paramsCount` entries.
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                      intptr_t blockX, intptr_t blockY, intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t paramsCount);

void *mgpuStreamCreate();
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamWaitEvent(void *stream, void *event);
void *mgpuEventCreate();
void mgpuEventDestroy(void *event);
void mgpuEventSynchronize(void *event);
void mgpuEventRecord(void *event, void *stream);

/// Device memory, or managed memory when `isHostShared` (gpu.alloc
/// host_shared). 0 bytes gives nullptr.
void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared);
void mgpuMemFree(void *ptr, void *stream);
/// Either side may be host or device memory (unified addressing).
void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream);
/// `count` 32- or 16-bit elements set to `value`.
void mgpuMemset32(void *dst, unsigned int value, size_t count, void *stream);
void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream);
/// The device to open; must come before the first GPU call.
void mgpuSetDefaultDevice(int32_t device);

} // extern "C"

#endif // TESSEL_RUNTIME_CUDA_MGPURUNTIME_H

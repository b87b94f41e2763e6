//===- MgpuRuntime.cpp - the mgpu* C ABI on the dlopen'ed driver ----------===//
//
// Differences from MLIR's CudaRuntimeWrappers.cpp, on purpose: the context is
// made current once per thread instead of pushed and popped around every
// call; errors are kept for takeError() instead of printed; module loads
// return the JIT's error log; kernels opt into more than 48 KiB of dynamic
// shared memory; copies and launches are counted for stats().
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/MgpuRuntime.h"

#include <algorithm>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/CudaDevice.h"
#include "runtime/cuda/CudaDriver.h"

namespace tessel::runtime::cuda {
namespace {

/// The driver with its context current, or nullptr with the error recorded.
const Driver *driverOrRecord() {
  absl::StatusOr<const Driver *> d = currentDriver();
  if (!d.ok()) {
    recordError(d.status());
    return nullptr;
  }
  return *d;
}

/// Records a failed driver call; true when it succeeded.
bool succeeded(const Driver &d, CUresult result, absl::string_view call) {
  absl::Status s = check(d, result, call);
  recordError(s);
  return s.ok();
}

CUdeviceptr devicePointer(const void *ptr) {
  return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(ptr));
}

/// Kernel names by function handle, for launch errors (the handle alone says
/// nothing), and the dynamic shared memory each kernel was opted into. An
/// entry dies with its module: the driver may reuse the handle for another
/// kernel, which has not opted into anything.
struct KernelInfo {
  CUmodule module = nullptr;
  std::string name;
  int maxDynamicSharedBytes = kDefaultMaxDynamicSharedBytes;
};
struct KernelTable {
  std::mutex mutex;
  std::unordered_map<CUfunction, KernelInfo> byHandle; // guarded by mutex
};
/// Never destroyed: a gpu.binary's global destructor unloads its module,
/// possibly after this file's statics would have been destroyed.
KernelTable &kernelTable() {
  static KernelTable *table = new KernelTable();
  return *table;
}

std::string kernelName(CUfunction function) {
  KernelTable &kernels = kernelTable();
  std::lock_guard<std::mutex> lock(kernels.mutex);
  auto it = kernels.byHandle.find(function);
  return it == kernels.byHandle.end() ? "<unknown>" : it->second.name;
}

/// The driver's JIT log as one line: its lines joined with "; ".
std::string oneLine(const char *log) {
  std::string out;
  for (const char *p = log; *p; ++p) {
    if (*p == '\n') {
      if (!out.empty() && p[1] != '\0' && out.back() != ' ')
        out += "; ";
    } else if (*p != '\r') {
      out += *p;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';'))
    out.pop_back();
  return out;
}

/// cuModuleLoadDataEx with an error log buffer, so a PTX that does not
/// compile says why; `optLevel` < 0 leaves the JIT's default.
void *loadModule(const void *image, int optLevel) {
  const Driver *d = driverOrRecord();
  if (!d)
    return nullptr;
  if (!image) {
    recordError(absl::InvalidArgumentError("CUDA: mgpuModuleLoad was given no module image"));
    return nullptr;
  }
  // Large enough for ptxas's usual complaint (one line per error); the driver
  // truncates a longer log.
  char errorLog[8192] = {};
  CUjit_option options[3] = {kJitErrorLogBuffer, kJitErrorLogBufferSizeBytes,
                             kJitOptimizationLevel};
  void *values[3] = {errorLog, reinterpret_cast<void *>(uintptr_t{sizeof errorLog - 1}),
                     reinterpret_cast<void *>(static_cast<uintptr_t>(std::clamp(optLevel, 0, 4)))};
  unsigned numOptions = optLevel < 0 ? 2 : 3;
  CUmodule module = nullptr;
  CUresult result = d->cuModuleLoadDataEx(&module, image, numOptions, options, values);
  if (result != kCudaSuccess) {
    std::string log = oneLine(errorLog);
    absl::Status s = check(*d, result, "cuModuleLoadDataEx");
    recordError(
        log.empty() ? s : absl::Status(s.code(), absl::StrCat(s.message(), "; JIT log: ", log)));
    return nullptr;
  }
  countModuleLoad();
  return module;
}

} // namespace
} // namespace tessel::runtime::cuda

using namespace tessel::runtime::cuda;

extern "C" void *mgpuModuleLoad(void *data, size_t /*gpuBlobSize: the image is self-describing*/) {
  return loadModule(data, /*optLevel=*/-1);
}

extern "C" void *mgpuModuleLoadJIT(void *data, int optLevel) { return loadModule(data, optLevel); }

extern "C" void mgpuModuleUnload(void *module) {
  if (!module)
    return; // its load failed, and said so
  {
    KernelTable &kernels = kernelTable();
    std::lock_guard<std::mutex> lock(kernels.mutex);
    for (auto it = kernels.byHandle.begin(); it != kernels.byHandle.end();)
      it = it->second.module == module ? kernels.byHandle.erase(it) : std::next(it);
  }
  if (const Driver *d = driverOrRecord())
    succeeded(*d, d->cuModuleUnload(static_cast<CUmodule>(module)), "cuModuleUnload");
}

extern "C" void *mgpuModuleGetFunction(void *module, const char *name) {
  const Driver *d = driverOrRecord();
  if (!d)
    return nullptr;
  if (!module) {
    recordError(absl::FailedPreconditionError(absl::StrCat(
        "CUDA: no module to look up kernel '", name, "' in (loading its module failed)")));
    return nullptr;
  }
  CUfunction function = nullptr;
  CUresult result = d->cuModuleGetFunction(&function, static_cast<CUmodule>(module), name);
  if (result != kCudaSuccess) {
    recordError(check(*d, result, absl::StrCat("cuModuleGetFunction for kernel '", name, "'")));
    return nullptr;
  }
  KernelTable &kernels = kernelTable();
  std::lock_guard<std::mutex> lock(kernels.mutex);
  KernelInfo &info = kernels.byHandle[function];
  if (info.module != module || info.name != name) // new, or a handle reused
    info = KernelInfo{static_cast<CUmodule>(module), name};
  return function;
}

extern "C" void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                                 intptr_t blockX, intptr_t blockY, intptr_t blockZ, int32_t smem,
                                 void *stream, void **params, void **extra,
                                 size_t /*paramsCount: the kernel knows its parameters*/) {
  const Driver *d = driverOrRecord();
  if (!d)
    return;
  auto f = static_cast<CUfunction>(function);
  if (!f) {
    recordError(absl::FailedPreconditionError(
        "CUDA: mgpuLaunchKernel was given no kernel (looking it up failed)"));
    return;
  }
  auto describe = [&] {
    return absl::StrCat(" for kernel '", kernelName(f), "' (grid ", gridX, "x", gridY, "x", gridZ,
                        ", block ", blockX, "x", blockY, "x", blockZ, ", ", smem,
                        " bytes of dynamic shared memory)");
  };
  if (smem > kDefaultMaxDynamicSharedBytes) {
    // Over 48 KiB a kernel must opt in first, once per kernel and size.
    KernelTable &kernels = kernelTable();
    std::lock_guard<std::mutex> lock(kernels.mutex);
    KernelInfo &info = kernels.byHandle[f];
    if (smem > info.maxDynamicSharedBytes) {
      CUresult r = d->cuFuncSetAttribute(f, kFuncAttrMaxDynamicSharedSizeBytes, smem);
      if (r != kCudaSuccess) {
        int limit = 0;
        d->cuDeviceGetAttribute(&limit, kAttrMaxSharedMemoryPerBlockOptin, d->device);
        recordError(check(*d, r,
                          absl::StrCat("cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES) for "
                                       "kernel '",
                                       info.name, "' asking for ", smem,
                                       " bytes (the device allows ", limit, ")")));
        return;
      }
      info.maxDynamicSharedBytes = smem;
    }
  }
  CUresult result = d->cuLaunchKernel(
      f, static_cast<unsigned>(gridX), static_cast<unsigned>(gridY), static_cast<unsigned>(gridZ),
      static_cast<unsigned>(blockX), static_cast<unsigned>(blockY), static_cast<unsigned>(blockZ),
      static_cast<unsigned>(smem), static_cast<CUstream>(stream), params, extra);
  if (result != kCudaSuccess) {
    recordError(check(*d, result, absl::StrCat("cuLaunchKernel", describe())));
    return;
  }
  countKernelLaunch();
}

extern "C" void *mgpuStreamCreate() {
  const Driver *d = driverOrRecord();
  CUstream stream = nullptr;
  // Non-blocking: compiled code orders its work with events, and must not
  // serialise with the legacy default stream other libraries may use.
  if (d && !succeeded(*d, d->cuStreamCreate(&stream, kStreamNonBlocking), "cuStreamCreate"))
    stream = nullptr;
  return stream;
}

extern "C" void mgpuStreamDestroy(void *stream) {
  if (const Driver *d = driverOrRecord())
    succeeded(*d, d->cuStreamDestroy(static_cast<CUstream>(stream)), "cuStreamDestroy");
}

extern "C" void mgpuStreamSynchronize(void *stream) {
  if (const Driver *d = driverOrRecord())
    succeeded(*d, d->cuStreamSynchronize(static_cast<CUstream>(stream)), "cuStreamSynchronize");
}

extern "C" void mgpuStreamWaitEvent(void *stream, void *event) {
  if (const Driver *d = driverOrRecord())
    succeeded(*d,
              d->cuStreamWaitEvent(static_cast<CUstream>(stream), static_cast<CUevent>(event), 0),
              "cuStreamWaitEvent");
}

extern "C" void *mgpuEventCreate() {
  const Driver *d = driverOrRecord();
  CUevent event = nullptr;
  if (d && !succeeded(*d, d->cuEventCreate(&event, kEventDisableTiming), "cuEventCreate"))
    event = nullptr;
  return event;
}

extern "C" void mgpuEventDestroy(void *event) {
  if (const Driver *d = driverOrRecord())
    succeeded(*d, d->cuEventDestroy(static_cast<CUevent>(event)), "cuEventDestroy");
}

extern "C" void mgpuEventSynchronize(void *event) {
  if (const Driver *d = driverOrRecord())
    succeeded(*d, d->cuEventSynchronize(static_cast<CUevent>(event)), "cuEventSynchronize");
}

extern "C" void mgpuEventRecord(void *event, void *stream) {
  if (const Driver *d = driverOrRecord())
    succeeded(*d, d->cuEventRecord(static_cast<CUevent>(event), static_cast<CUstream>(stream)),
              "cuEventRecord");
}

extern "C" void *mgpuMemAlloc(uint64_t sizeBytes, void * /*stream: allocation is synchronous*/,
                              bool isHostShared) {
  absl::StatusOr<void *> ptr = allocate(sizeBytes, isHostShared);
  if (!ptr.ok()) {
    recordError(ptr.status());
    return nullptr;
  }
  return *ptr;
}

extern "C" void mgpuMemFree(void *ptr, void * /*stream*/) { deviceFree(ptr); }

extern "C" void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream) {
  const Driver *d = driverOrRecord();
  if (!d || sizeBytes == 0)
    return;
  if (succeeded(*d,
                d->cuMemcpyAsync(devicePointer(dst), devicePointer(src), sizeBytes,
                                 static_cast<CUstream>(stream)),
                "cuMemcpyAsync"))
    countCopy(copyDirection(dst, src), sizeBytes);
}

extern "C" void mgpuMemset32(void *dst, unsigned int value, size_t count, void *stream) {
  if (const Driver *d = driverOrRecord(); d && count)
    succeeded(*d,
              d->cuMemsetD32Async(devicePointer(dst), value, count, static_cast<CUstream>(stream)),
              "cuMemsetD32Async");
}

extern "C" void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream) {
  if (const Driver *d = driverOrRecord(); d && count)
    succeeded(*d,
              d->cuMemsetD16Async(devicePointer(dst), value, count, static_cast<CUstream>(stream)),
              "cuMemsetD16Async");
}

extern "C" void mgpuSetDefaultDevice(int32_t device) { recordError(selectDevice(device)); }

std::vector<std::pair<std::string, void *>> tessel::runtime::cuda::runtimeSymbols() {
  return {
      {"mgpuModuleLoad", reinterpret_cast<void *>(&mgpuModuleLoad)},
      {"mgpuModuleLoadJIT", reinterpret_cast<void *>(&mgpuModuleLoadJIT)},
      {"mgpuModuleUnload", reinterpret_cast<void *>(&mgpuModuleUnload)},
      {"mgpuModuleGetFunction", reinterpret_cast<void *>(&mgpuModuleGetFunction)},
      {"mgpuLaunchKernel", reinterpret_cast<void *>(&mgpuLaunchKernel)},
      {"mgpuStreamCreate", reinterpret_cast<void *>(&mgpuStreamCreate)},
      {"mgpuStreamDestroy", reinterpret_cast<void *>(&mgpuStreamDestroy)},
      {"mgpuStreamSynchronize", reinterpret_cast<void *>(&mgpuStreamSynchronize)},
      {"mgpuStreamWaitEvent", reinterpret_cast<void *>(&mgpuStreamWaitEvent)},
      {"mgpuEventCreate", reinterpret_cast<void *>(&mgpuEventCreate)},
      {"mgpuEventDestroy", reinterpret_cast<void *>(&mgpuEventDestroy)},
      {"mgpuEventSynchronize", reinterpret_cast<void *>(&mgpuEventSynchronize)},
      {"mgpuEventRecord", reinterpret_cast<void *>(&mgpuEventRecord)},
      {"mgpuMemAlloc", reinterpret_cast<void *>(&mgpuMemAlloc)},
      {"mgpuMemFree", reinterpret_cast<void *>(&mgpuMemFree)},
      {"mgpuMemcpy", reinterpret_cast<void *>(&mgpuMemcpy)},
      {"mgpuMemset32", reinterpret_cast<void *>(&mgpuMemset32)},
      {"mgpuMemset16", reinterpret_cast<void *>(&mgpuMemset16)},
      {"mgpuSetDefaultDevice", reinterpret_cast<void *>(&mgpuSetDefaultDevice)},
  };
}

//===- CudaDriver.cpp - the NVIDIA driver API, loaded with dlopen ---------===//
#include "runtime/cuda/CudaDriver.h"

#include <dlfcn.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tessel::runtime::cuda {

namespace {

constexpr const char *kDefaultLibrary = "libcuda.so.1";
constexpr const char *kNeedsGpu = "--device cuda needs an NVIDIA GPU and its driver (run on a GPU "
                                  "machine, or use --device cpu)";

/// What one load produced. Never freed: handles made with a driver stay
/// valid for as long as the process may use them, and resetForTesting only
/// stops handing this one out.
struct Loaded {
  absl::Status status;
  Driver driver;
};

/// Never destroyed, as everything here: compiled code may call the driver
/// from global destructors.
std::mutex &loadMutex() {
  static std::mutex *mutex = new std::mutex();
  return *mutex;
}
std::atomic<const Loaded *> loaded{nullptr};
/// Loads resetForTesting set aside, kept reachable (leak checkers).
std::vector<const Loaded *> &retired() {
  static auto *retired = new std::vector<const Loaded *>();
  return *retired;
}
/// mgpuSetDefaultDevice's choice before the load (-1: none).
int requestedOrdinal = -1;

/// The driver on this thread's current context (nullptr: none set yet).
thread_local const Driver *currentOnThisThread = nullptr;

/// Looks up every entry point; the first one missing is the error.
absl::Status resolveEntryPoints(Driver &d) {
#define TESSEL_CUDA_RESOLVE_ENTRY_POINT(member, symbol, result, params)                            \
  d.member = reinterpret_cast<decltype(d.member)>(dlsym(d.library, symbol));                       \
  if (!d.member)                                                                                   \
    return absl::FailedPreconditionError(                                                          \
        absl::StrCat("CUDA: the driver library '", d.path, "' has no ", symbol,                    \
                     "; it is not an NVIDIA driver, or one too old for Tessel (update the "        \
                     "NVIDIA driver)"));
  TESSEL_CUDA_DRIVER_ENTRY_POINTS(TESSEL_CUDA_RESOLVE_ENTRY_POINT)
#undef TESSEL_CUDA_RESOLVE_ENTRY_POINT
  return absl::OkStatus();
}

/// The device ordinal: mgpuSetDefaultDevice's, else $TESSEL_CUDA_DEVICE, else 0.
absl::StatusOr<int> deviceOrdinal(int count) {
  int ordinal = requestedOrdinal;
  std::string source = "mgpuSetDefaultDevice";
  if (ordinal < 0) {
    const char *env = std::getenv("TESSEL_CUDA_DEVICE");
    if (!env || !*env)
      return 0;
    char *end = nullptr;
    errno = 0;
    long value = std::strtol(env, &end, 10);
    if (*end != '\0' || errno != 0 || value < 0 || value > 1'000'000)
      return absl::InvalidArgumentError(absl::StrCat("CUDA: TESSEL_CUDA_DEVICE='", env,
                                                     "' is not a device number (use 0 to ",
                                                     count - 1, ")"));
    ordinal = static_cast<int>(value);
    source = "TESSEL_CUDA_DEVICE";
  }
  if (ordinal >= count)
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA: ", source, " asks for device ", ordinal, " but the driver found ",
                     count, count == 1 ? " GPU" : " GPUs", " (use 0 to ", count - 1, ")"));
  return ordinal;
}

absl::Status load(Driver &d) {
  const char *env = std::getenv("TESSEL_CUDA_DRIVER");
  bool fromEnv = env && *env;
  d.path = fromEnv ? env : kDefaultLibrary;
  // RTLD_LOCAL: the driver's symbols must not satisfy anything else's
  // lookups (a second, linked copy of the driver API, say).
  d.library = dlopen(d.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!d.library) {
    const char *why = dlerror();
    return absl::FailedPreconditionError(
        absl::StrCat("CUDA: cannot load the NVIDIA driver library '", d.path, "'",
                     fromEnv ? " that TESSEL_CUDA_DRIVER names" : "", " (",
                     why ? why : "unknown dlopen error", "); ", kNeedsGpu));
  }
  if (absl::Status s = resolveEntryPoints(d); !s.ok())
    return s;
  if (CUresult r = d.cuInit(0); r != kCudaSuccess)
    return absl::FailedPreconditionError(
        absl::StrCat("CUDA: cuInit failed: ", describeResult(d, r), "; ", kNeedsGpu));
  if (absl::Status s = check(d, d.cuDriverGetVersion(&d.driverVersion), "cuDriverGetVersion");
      !s.ok())
    return s;
  int count = 0;
  if (absl::Status s = check(d, d.cuDeviceGetCount(&count), "cuDeviceGetCount"); !s.ok())
    return s;
  if (count <= 0)
    return absl::FailedPreconditionError(
        "CUDA: the driver found no GPU (cuDeviceGetCount returned 0); run on a GPU machine, or "
        "use --device cpu");
  absl::StatusOr<int> ordinal = deviceOrdinal(count);
  if (!ordinal.ok())
    return ordinal.status();
  d.ordinal = *ordinal;
  if (absl::Status s = check(d, d.cuDeviceGet(&d.device, d.ordinal), "cuDeviceGet"); !s.ok())
    return s;
  // The primary context is the one the CUDA runtime API and other libraries
  // in the process share; a context of our own would split memory from them.
  return check(d, d.cuDevicePrimaryCtxRetain(&d.context, d.device), "cuDevicePrimaryCtxRetain");
}

} // namespace

std::string describeResult(const Driver &driver, CUresult result) {
  const char *name = nullptr, *text = nullptr;
  if (driver.cuGetErrorName && driver.cuGetErrorName(result, &name) != kCudaSuccess)
    name = nullptr;
  if (driver.cuGetErrorString && driver.cuGetErrorString(result, &text) != kCudaSuccess)
    text = nullptr;
  // The CUDA toolkit's stub libcuda (for linking only) fails every call,
  // cuGetErrorName included.
  if (!name && result == kCudaErrorStubLibrary)
    return "CUDA_ERROR_STUB_LIBRARY (the CUDA toolkit's link-time stub was loaded instead of the "
           "NVIDIA driver's libcuda.so.1)";
  std::string out = name ? name : absl::StrCat("CUDA error ", result);
  if (text)
    absl::StrAppend(&out, " (", text, ")");
  return out;
}

absl::Status check(const Driver &driver, CUresult result, absl::string_view call) {
  if (result == kCudaSuccess)
    return absl::OkStatus();
  std::string message = absl::StrCat("CUDA: ", call, " failed: ", describeResult(driver, result));
  if (result == kCudaErrorOutOfMemory)
    return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

absl::StatusOr<const Driver *> loadDriver() {
  const Loaded *done = loaded.load(std::memory_order_acquire);
  if (!done) {
    std::lock_guard<std::mutex> lock(loadMutex());
    done = loaded.load(std::memory_order_relaxed);
    if (!done) {
      auto *fresh = new Loaded();
      fresh->status = load(fresh->driver);
      loaded.store(fresh, std::memory_order_release);
      done = fresh;
    }
  }
  if (!done->status.ok())
    return done->status;
  return &done->driver;
}

absl::StatusOr<const Driver *> currentDriver() {
  absl::StatusOr<const Driver *> driver = loadDriver();
  if (!driver.ok() || currentOnThisThread == *driver)
    return driver;
  if (absl::Status s =
          check(**driver, (*driver)->cuCtxSetCurrent((*driver)->context), "cuCtxSetCurrent");
      !s.ok())
    return s;
  currentOnThisThread = *driver;
  return driver;
}

absl::Status selectDevice(int ordinal) {
  std::lock_guard<std::mutex> lock(loadMutex());
  const Loaded *done = loaded.load(std::memory_order_relaxed);
  if (!done) {
    requestedOrdinal = ordinal;
    return absl::OkStatus();
  }
  if (done->status.ok() && done->driver.ordinal != ordinal)
    return absl::FailedPreconditionError(absl::StrCat(
        "CUDA: mgpuSetDefaultDevice(", ordinal, ") after device ", done->driver.ordinal,
        " was opened; choose the device before the first GPU call "
        "(TESSEL_CUDA_DEVICE=",
        ordinal, ")"));
  return absl::OkStatus();
}

void resetForTesting() {
  std::lock_guard<std::mutex> lock(loadMutex());
  if (const Loaded *old = loaded.exchange(nullptr, std::memory_order_acq_rel))
    retired().push_back(old);
  requestedOrdinal = -1;
}

} // namespace tessel::runtime::cuda

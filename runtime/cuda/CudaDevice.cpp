//===- CudaDevice.cpp - the GPU as the rest of Tessel sees it -------------===//
#include "runtime/cuda/CudaDevice.h"

#include <atomic>
#include <iterator>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/cuda/CudaDriver.h"

namespace tessel::runtime::cuda {

namespace {

/// The runtime's state, never destroyed: compiled code calls in from its
/// global destructors (a gpu.binary's module unload), which may run after
/// this file's statics would have been.
struct State {
  std::mutex errorMutex;
  absl::Status pendingError; // guarded by errorMutex

  /// Live allocations by start address, to free by pointer, count live bytes
  /// and tell which side of a copy is the device's.
  std::mutex allocationMutex;
  std::map<uintptr_t, size_t> allocations; // guarded by allocationMutex
};
State &state() {
  static State *state = new State();
  return *state;
}

std::atomic<uint64_t> bytesToDevice{0}, bytesToHost{0}, kernelLaunches{0}, moduleLoads{0};

CUdeviceptr devicePointer(const void *ptr) {
  return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(ptr));
}

bool isAllocated(uintptr_t address) {
  const std::map<uintptr_t, size_t> &allocations = state().allocations;
  auto after = allocations.upper_bound(address);
  if (after == allocations.begin())
    return false;
  auto it = std::prev(after);
  return address < it->first + it->second;
}

} // namespace

void recordError(const absl::Status &status) {
  if (status.ok())
    return;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.errorMutex);
  if (st.pendingError.ok())
    st.pendingError = status;
}

absl::Status takeError() {
  State &st = state();
  std::lock_guard<std::mutex> lock(st.errorMutex);
  return std::exchange(st.pendingError, absl::OkStatus());
}

absl::StatusOr<void *> allocate(size_t bytes, bool managed) {
  absl::StatusOr<const Driver *> d = currentDriver();
  if (!d.ok())
    return d.status();
  if (bytes == 0)
    return nullptr;
  CUdeviceptr ptr = 0;
  absl::Status s = managed ? check(**d, (*d)->cuMemAllocManaged(&ptr, bytes, kMemAttachGlobal),
                                   "cuMemAllocManaged")
                           : check(**d, (*d)->cuMemAlloc(&ptr, bytes), "cuMemAlloc");
  if (!s.ok())
    return absl::Status(s.code(), absl::StrCat(s.message(), " (allocating ", bytes, " bytes)"));
  {
    std::lock_guard<std::mutex> lock(state().allocationMutex);
    state().allocations[static_cast<uintptr_t>(ptr)] = bytes;
  }
  return reinterpret_cast<void *>(static_cast<uintptr_t>(ptr));
}

CopyDirection copyDirection(const void *dst, const void *src) {
  std::lock_guard<std::mutex> lock(state().allocationMutex);
  bool toDevice = isAllocated(reinterpret_cast<uintptr_t>(dst));
  bool fromDevice = isAllocated(reinterpret_cast<uintptr_t>(src));
  if (toDevice)
    return fromDevice ? CopyDirection::DeviceToDevice : CopyDirection::HostToDevice;
  return fromDevice ? CopyDirection::DeviceToHost : CopyDirection::HostToHost;
}

void countCopy(CopyDirection direction, size_t bytes) {
  if (direction == CopyDirection::HostToDevice)
    bytesToDevice.fetch_add(bytes, std::memory_order_relaxed);
  else if (direction == CopyDirection::DeviceToHost)
    bytesToHost.fetch_add(bytes, std::memory_order_relaxed);
}

void countKernelLaunch() { kernelLaunches.fetch_add(1, std::memory_order_relaxed); }
void countModuleLoad() { moduleLoads.fetch_add(1, std::memory_order_relaxed); }

absl::Status ensureDevice() { return currentDriver().status(); }

absl::StatusOr<std::string> deviceDescription() {
  absl::StatusOr<const Driver *> d = currentDriver();
  if (!d.ok())
    return d.status();
  const Driver &driver = **d;
  char name[256] = {};
  int major = 0, minor = 0, sms = 0;
  size_t memory = 0;
  for (absl::Status s :
       {check(driver, driver.cuDeviceGetName(name, sizeof name - 1, driver.device),
              "cuDeviceGetName"),
        check(driver,
              driver.cuDeviceGetAttribute(&major, kAttrComputeCapabilityMajor, driver.device),
              "cuDeviceGetAttribute"),
        check(driver,
              driver.cuDeviceGetAttribute(&minor, kAttrComputeCapabilityMinor, driver.device),
              "cuDeviceGetAttribute"),
        check(driver, driver.cuDeviceGetAttribute(&sms, kAttrMultiprocessorCount, driver.device),
              "cuDeviceGetAttribute"),
        check(driver, driver.cuDeviceTotalMem(&memory, driver.device), "cuDeviceTotalMem")})
    if (!s.ok())
      return s;
  return absl::StrFormat("%s (sm_%d%d, %d SMs, %.1f GiB)", name, major, minor, sms,
                         static_cast<double>(memory) / (1ull << 30));
}

absl::StatusOr<int> computeCapability() {
  absl::StatusOr<const Driver *> d = currentDriver();
  if (!d.ok())
    return d.status();
  const Driver &driver = **d;
  int major = 0, minor = 0;
  if (absl::Status s = check(
          driver, driver.cuDeviceGetAttribute(&major, kAttrComputeCapabilityMajor, driver.device),
          "cuDeviceGetAttribute");
      !s.ok())
    return s;
  if (absl::Status s = check(
          driver, driver.cuDeviceGetAttribute(&minor, kAttrComputeCapabilityMinor, driver.device),
          "cuDeviceGetAttribute");
      !s.ok())
    return s;
  return major * 10 + minor;
}

absl::StatusOr<void *> deviceAlloc(size_t bytes) { return allocate(bytes, /*managed=*/false); }

void deviceFree(void *ptr) {
  if (!ptr)
    return;
  absl::StatusOr<const Driver *> d = currentDriver();
  if (!d.ok()) {
    recordError(d.status());
    return;
  }
  absl::Status s = check(**d, (*d)->cuMemFree(devicePointer(ptr)), "cuMemFree");
  if (!s.ok()) {
    recordError(s);
    return;
  }
  std::lock_guard<std::mutex> lock(state().allocationMutex);
  state().allocations.erase(reinterpret_cast<uintptr_t>(ptr));
}

absl::Status copyToDevice(void *dst, const void *src, size_t bytes) {
  absl::StatusOr<const Driver *> d = currentDriver();
  if (!d.ok() || bytes == 0)
    return d.status();
  if (absl::Status s =
          check(**d, (*d)->cuMemcpyHtoD(devicePointer(dst), src, bytes), "cuMemcpyHtoD");
      !s.ok())
    return s;
  countCopy(CopyDirection::HostToDevice, bytes);
  return absl::OkStatus();
}

absl::Status copyToHost(void *dst, const void *src, size_t bytes) {
  absl::StatusOr<const Driver *> d = currentDriver();
  if (!d.ok() || bytes == 0)
    return d.status();
  if (absl::Status s =
          check(**d, (*d)->cuMemcpyDtoH(dst, devicePointer(src), bytes), "cuMemcpyDtoH");
      !s.ok())
    return s;
  countCopy(CopyDirection::DeviceToHost, bytes);
  return absl::OkStatus();
}

absl::Status copyOnDevice(void *dst, const void *src, size_t bytes) {
  absl::StatusOr<const Driver *> d = currentDriver();
  if (!d.ok() || bytes == 0)
    return d.status();
  return check(**d, (*d)->cuMemcpyDtoD(devicePointer(dst), devicePointer(src), bytes),
               "cuMemcpyDtoD");
}

absl::Status fillZero(void *dst, size_t bytes) {
  absl::StatusOr<const Driver *> d = currentDriver();
  if (!d.ok() || bytes == 0)
    return d.status();
  return check(**d, (*d)->cuMemsetD8(devicePointer(dst), 0, bytes), "cuMemsetD8");
}

absl::Status synchronize() {
  absl::StatusOr<const Driver *> d = currentDriver();
  if (!d.ok())
    return d.status();
  return check(**d, (*d)->cuCtxSynchronize(), "cuCtxSynchronize");
}

DeviceStats stats() {
  DeviceStats out;
  out.bytesToDevice = bytesToDevice.load(std::memory_order_relaxed);
  out.bytesToHost = bytesToHost.load(std::memory_order_relaxed);
  out.kernelLaunches = kernelLaunches.load(std::memory_order_relaxed);
  out.moduleLoads = moduleLoads.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(state().allocationMutex);
  out.liveAllocations = state().allocations.size();
  for (const auto &[address, bytes] : state().allocations)
    out.liveBytes += bytes;
  return out;
}

} // namespace tessel::runtime::cuda

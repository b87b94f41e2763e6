//===- FakeCudaDriver.cpp - a CUDA driver on host memory, for CI ----------===//
//
// libtessel_fake_cuda.so exports the driver API entry points runtime/cuda
// resolves (same symbols, same ABI) so that TESSEL_CUDA_DRIVER=<this library>
// tests all of the runtime's host-side bookkeeping on machines without a GPU:
//   - one device (TESSEL_FAKE_CUDA_DEVICES=N sets how many, 0 included),
//     "Tessel fake GPU", compute capability 9.0, 4 SMs, 1 GiB;
//   - device memory is aligned host memory; copies and memsets are memcpy and
//     memset, checked against the allocations as the driver does;
//   - a module is PTX text (it starts with "//" or ".version"); its kernels
//     are the names after `.entry`; anything else fails with
//     CUDA_ERROR_INVALID_PTX and a line in the JIT error log;
//   - cuLaunchKernel checks its arguments and counts the launch, but runs
//     nothing (it cannot run PTX).
// Like the real driver, calls that need a context fail with
// CUDA_ERROR_INVALID_CONTEXT on a thread that has none current, and
// everything but cuGetError* and cuDriverGetVersion fails before cuInit.
//
// Its own types and constants on purpose (not runtime/cuda/CudaDriver.h): it
// stands for the driver's ABI, which the runtime's declarations must match.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {

using CUresult = int;
using CUdeviceptr = unsigned long long;

constexpr CUresult kSuccess = 0, kInvalidValue = 1, kOutOfMemory = 2, kNotInitialized = 3,
                   kNoDevice = 100, kInvalidDevice = 101, kInvalidContext = 201, kInvalidPtx = 218,
                   kInvalidHandle = 400, kNotFound = 500;

constexpr int kComputeMajor = 9, kComputeMinor = 0, kSms = 4;
constexpr size_t kTotalMemory = size_t{1} << 30;
constexpr int kDefaultDynamicShared = 48 * 1024, kMaxDynamicShared = 227 * 1024;
constexpr size_t kAlignment = 256; // cuMemAlloc's guarantee

/// Names and texts (the real driver's wording) of the results the fake returns.
struct ErrorText {
  CUresult code;
  const char *name, *text;
};
constexpr ErrorText kErrors[] = {
    {kSuccess, "CUDA_SUCCESS", "no error"},
    {kInvalidValue, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {kOutOfMemory, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {kNotInitialized, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {kNoDevice, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {kInvalidDevice, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {kInvalidContext, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {kInvalidPtx, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {kInvalidHandle, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {kNotFound, "CUDA_ERROR_NOT_FOUND", "named symbol not found"}};

struct Context {
  int device = 0;
};
struct Function {
  std::string name;
  int maxDynamicShared = kDefaultDynamicShared;
};
struct Module {
  std::vector<std::unique_ptr<Function>> functions;
};
struct Stream {};
struct Event {};

std::atomic<bool> initialized{false};
std::atomic<int> deviceCount{1};
std::atomic<uint64_t> launches{0};
Context contexts[16];
thread_local Context *current = nullptr;

/// Handles and allocations. Never destroyed, like a real driver's: compiled
/// code unloads its modules from global destructors, at exit.
struct State {
  std::mutex mutex; // guards everything below
  std::map<uintptr_t, size_t> allocations;
  std::set<Module *> modules;
  std::set<Function *> functions;
  std::set<Stream *> streams;
  std::set<Event *> events;
};
State &state() {
  static State *state = new State();
  return *state;
}

CUresult needContext() {
  if (!initialized)
    return kNotInitialized;
  return current ? kSuccess : kInvalidContext;
}

/// Whether [address, address + bytes) lies in one allocation.
bool inAllocation(CUdeviceptr address, size_t bytes) {
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  auto after = st.allocations.upper_bound(static_cast<uintptr_t>(address));
  if (after == st.allocations.begin())
    return false;
  auto it = std::prev(after);
  return address >= it->first && address + bytes <= it->first + it->second;
}

bool validStream(void *stream) {
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  return !stream || st.streams.count(static_cast<Stream *>(stream));
}

CUresult allocate(CUdeviceptr *ptr, size_t bytes) {
  if (CUresult r = needContext())
    return r;
  if (!ptr || bytes == 0)
    return kInvalidValue;
  if (bytes > kTotalMemory)
    return kOutOfMemory;
  void *memory = std::aligned_alloc(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  if (!memory)
    return kOutOfMemory;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  st.allocations[reinterpret_cast<uintptr_t>(memory)] = bytes;
  *ptr = reinterpret_cast<uintptr_t>(memory);
  return kSuccess;
}

void *host(CUdeviceptr ptr) { return reinterpret_cast<void *>(static_cast<uintptr_t>(ptr)); }

/// The kernel names a PTX text declares: the identifier after each `.entry`.
std::vector<std::string> entryNames(const char *ptx) {
  std::vector<std::string> names;
  for (const char *p = std::strstr(ptx, ".entry"); p; p = std::strstr(p, ".entry")) {
    p += std::strlen(".entry");
    while (*p == ' ' || *p == '\t' || *p == '\n')
      ++p;
    const char *start = p;
    while (std::isalnum(static_cast<unsigned char>(*p)) || *p == '_' || *p == '$')
      ++p;
    if (p > start)
      names.emplace_back(start, p);
  }
  return names;
}

void writeLog(char *buffer, size_t *size, const char *text) {
  if (!buffer || !size || *size == 0)
    return;
  size_t n = std::min(std::strlen(text), *size - 1);
  std::memcpy(buffer, text, n);
  buffer[n] = '\0';
  *size = n + 1; // as the driver does: the bytes written, NUL included
}

} // namespace

extern "C" {

/// How many launches the fake has accepted (tests check that mgpuLaunchKernel
/// reached the driver).
uint64_t tesselFakeCudaLaunchCount() { return launches.load(); }

CUresult cuInit(unsigned flags) {
  if (flags != 0)
    return kInvalidValue;
  const char *env = std::getenv("TESSEL_FAKE_CUDA_DEVICES");
  deviceCount = env && *env ? std::atoi(env) : 1;
  if (deviceCount > 16)
    deviceCount = 16;
  initialized = true;
  return kSuccess;
}

CUresult cuDriverGetVersion(int *version) {
  if (!version)
    return kInvalidValue;
  *version = 13000;
  return kSuccess;
}

CUresult cuGetErrorName(CUresult error, const char **name) {
  for (const ErrorText &e : kErrors)
    if (e.code == error) {
      *name = e.name;
      return kSuccess;
    }
  *name = nullptr;
  return kInvalidValue;
}

CUresult cuGetErrorString(CUresult error, const char **text) {
  for (const ErrorText &e : kErrors)
    if (e.code == error) {
      *text = e.text;
      return kSuccess;
    }
  *text = nullptr;
  return kInvalidValue;
}

CUresult cuDeviceGetCount(int *count) {
  if (!initialized)
    return kNotInitialized;
  *count = deviceCount;
  return kSuccess;
}

CUresult cuDeviceGet(int *device, int ordinal) {
  if (!initialized)
    return kNotInitialized;
  if (ordinal < 0 || ordinal >= deviceCount)
    return kInvalidDevice;
  *device = ordinal;
  return kSuccess;
}

CUresult cuDeviceGetName(char *name, int length, int device) {
  if (!initialized)
    return kNotInitialized;
  if (device < 0 || device >= deviceCount)
    return kInvalidDevice;
  if (!name || length <= 0)
    return kInvalidValue;
  std::strncpy(name, "Tessel fake GPU", static_cast<size_t>(length));
  name[length - 1] = '\0';
  return kSuccess;
}

CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
  if (!initialized)
    return kNotInitialized;
  if (device < 0 || device >= deviceCount)
    return kInvalidDevice;
  switch (attribute) {
  case 16: // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    *value = kSms;
    return kSuccess;
  case 75: // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
    *value = kComputeMajor;
    return kSuccess;
  case 76: // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
    *value = kComputeMinor;
    return kSuccess;
  case 97: // CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    *value = kMaxDynamicShared;
    return kSuccess;
  default:
    return kInvalidValue;
  }
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, int device) {
  if (!initialized)
    return kNotInitialized;
  if (device < 0 || device >= deviceCount)
    return kInvalidDevice;
  *bytes = kTotalMemory;
  return kSuccess;
}

CUresult cuDevicePrimaryCtxRetain(void **context, int device) {
  if (!initialized)
    return kNotInitialized;
  if (device < 0 || device >= deviceCount)
    return kInvalidDevice;
  contexts[device].device = device;
  *context = &contexts[device];
  return kSuccess;
}

CUresult cuCtxSetCurrent(void *context) {
  if (!initialized)
    return kNotInitialized;
  current = static_cast<Context *>(context);
  return kSuccess;
}

CUresult cuCtxSynchronize() { return needContext(); }

CUresult cuMemAlloc_v2(CUdeviceptr *ptr, size_t bytes) { return allocate(ptr, bytes); }

CUresult cuMemAllocManaged(CUdeviceptr *ptr, size_t bytes, unsigned flags) {
  if (flags != 1 && flags != 2) // CU_MEM_ATTACH_GLOBAL or CU_MEM_ATTACH_HOST
    return kInvalidValue;
  return allocate(ptr, bytes);
}

CUresult cuMemFree_v2(CUdeviceptr ptr) {
  if (CUresult r = needContext())
    return r;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  if (!st.allocations.erase(static_cast<uintptr_t>(ptr)))
    return kInvalidValue;
  std::free(host(ptr));
  return kSuccess;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes) {
  if (CUresult r = needContext())
    return r;
  if (!inAllocation(dst, bytes))
    return kInvalidValue;
  std::memcpy(host(dst), src, bytes);
  return kSuccess;
}

CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t bytes) {
  if (CUresult r = needContext())
    return r;
  if (!inAllocation(src, bytes))
    return kInvalidValue;
  std::memcpy(dst, host(src), bytes);
  return kSuccess;
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
  if (CUresult r = needContext())
    return r;
  if (!inAllocation(dst, bytes) || !inAllocation(src, bytes))
    return kInvalidValue;
  std::memmove(host(dst), host(src), bytes);
  return kSuccess;
}

CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes, void *stream) {
  if (CUresult r = needContext())
    return r;
  if (!validStream(stream))
    return kInvalidHandle;
  // Unified addressing: either side may be host memory.
  std::memmove(host(dst), host(src), bytes);
  return kSuccess;
}

CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, size_t count) {
  if (CUresult r = needContext())
    return r;
  if (!inAllocation(dst, count))
    return kInvalidValue;
  std::memset(host(dst), value, count);
  return kSuccess;
}

CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short value, size_t count, void *stream) {
  if (CUresult r = needContext())
    return r;
  if (!validStream(stream))
    return kInvalidHandle;
  if (dst % 2 != 0 || !inAllocation(dst, count * 2))
    return kInvalidValue;
  auto *out = static_cast<uint16_t *>(host(dst));
  for (size_t i = 0; i < count; ++i)
    out[i] = value;
  return kSuccess;
}

CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count, void *stream) {
  if (CUresult r = needContext())
    return r;
  if (!validStream(stream))
    return kInvalidHandle;
  if (dst % 4 != 0 || !inAllocation(dst, count * 4))
    return kInvalidValue;
  auto *out = static_cast<uint32_t *>(host(dst));
  for (size_t i = 0; i < count; ++i)
    out[i] = value;
  return kSuccess;
}

CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned numOptions, int *options,
                            void **optionValues) {
  if (CUresult r = needContext())
    return r;
  if (!module || !image)
    return kInvalidValue;
  char *errorLog = nullptr;
  size_t *errorLogSize = nullptr;
  for (unsigned i = 0; i < numOptions; ++i) {
    switch (options[i]) {
    case 5: // CU_JIT_ERROR_LOG_BUFFER
      errorLog = static_cast<char *>(optionValues[i]);
      break;
    case 6: // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES: a size passed in the pointer itself
      errorLogSize = reinterpret_cast<size_t *>(&optionValues[i]);
      break;
    case 7: // CU_JIT_OPTIMIZATION_LEVEL
      if (reinterpret_cast<uintptr_t>(optionValues[i]) > 4)
        return kInvalidValue;
      break;
    case 3: // CU_JIT_INFO_LOG_BUFFER
    case 4: // CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES
      break;
    default:
      return kInvalidValue;
    }
  }
  const char *text = static_cast<const char *>(image);
  if (std::strncmp(text, "//", 2) != 0 && std::strncmp(text, ".version", 8) != 0) {
    writeLog(errorLog, errorLogSize,
             "ptxas fatal   : fake driver: the module is not PTX text\n"
             "(it must start with '//' or '.version')\n");
    return kInvalidPtx;
  }
  auto fresh = std::make_unique<Module>();
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  for (std::string &name : entryNames(text)) {
    fresh->functions.push_back(std::make_unique<Function>(Function{std::move(name)}));
    st.functions.insert(fresh->functions.back().get());
  }
  *module = fresh.get();
  st.modules.insert(fresh.release());
  return kSuccess;
}

CUresult cuModuleLoadData(void **module, const void *image) {
  return cuModuleLoadDataEx(module, image, 0, nullptr, nullptr);
}

CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
  if (CUresult r = needContext())
    return r;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  auto it = st.modules.find(static_cast<Module *>(module));
  if (it == st.modules.end())
    return kInvalidHandle;
  for (const auto &f : (*it)->functions)
    if (f->name == name) {
      *function = f.get();
      return kSuccess;
    }
  return kNotFound;
}

CUresult cuModuleUnload(void *module) {
  if (CUresult r = needContext())
    return r;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  auto it = st.modules.find(static_cast<Module *>(module));
  if (it == st.modules.end())
    return kInvalidHandle;
  for (const auto &f : (*it)->functions)
    st.functions.erase(f.get());
  delete *it;
  st.modules.erase(it);
  return kSuccess;
}

CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
  if (CUresult r = needContext())
    return r;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  auto it = st.functions.find(static_cast<Function *>(function));
  if (it == st.functions.end())
    return kInvalidHandle;
  if (attribute != 8) // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    return kInvalidValue;
  if (value < 0 || value > kMaxDynamicShared)
    return kInvalidValue;
  (*it)->maxDynamicShared = value;
  return kSuccess;
}

CUresult cuLaunchKernel(void *function, unsigned gridX, unsigned gridY, unsigned gridZ,
                        unsigned blockX, unsigned blockY, unsigned blockZ, unsigned sharedBytes,
                        void *stream, void **params, void **extra) {
  if (CUresult r = needContext())
    return r;
  if (!validStream(stream))
    return kInvalidHandle;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  auto it = st.functions.find(static_cast<Function *>(function));
  if (it == st.functions.end())
    return kInvalidHandle;
  if (!gridX || !gridY || !gridZ || !blockX || !blockY || !blockZ ||
      uint64_t{blockX} * blockY * blockZ > 1024 || (params && extra))
    return kInvalidValue;
  if (sharedBytes > static_cast<unsigned>((*it)->maxDynamicShared))
    return kInvalidValue;
  ++launches;
  return kSuccess;
}

CUresult cuStreamCreate(void **stream, unsigned flags) {
  if (CUresult r = needContext())
    return r;
  if (flags > 1)
    return kInvalidValue;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  *stream = *st.streams.insert(new Stream).first;
  return kSuccess;
}

CUresult cuStreamDestroy_v2(void *stream) {
  if (CUresult r = needContext())
    return r;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  if (!st.streams.erase(static_cast<Stream *>(stream)))
    return kInvalidHandle;
  delete static_cast<Stream *>(stream);
  return kSuccess;
}

CUresult cuStreamSynchronize(void *stream) {
  if (CUresult r = needContext())
    return r;
  return validStream(stream) ? kSuccess : kInvalidHandle;
}

CUresult cuStreamWaitEvent(void *stream, void *event, unsigned flags) {
  if (CUresult r = needContext())
    return r;
  if (!validStream(stream) || flags != 0)
    return kInvalidHandle;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  return st.events.count(static_cast<Event *>(event)) ? kSuccess : kInvalidHandle;
}

CUresult cuEventCreate(void **event, unsigned flags) {
  if (CUresult r = needContext())
    return r;
  if (flags > 7)
    return kInvalidValue;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  *event = *st.events.insert(new Event).first;
  return kSuccess;
}

CUresult cuEventDestroy_v2(void *event) {
  if (CUresult r = needContext())
    return r;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  if (!st.events.erase(static_cast<Event *>(event)))
    return kInvalidHandle;
  delete static_cast<Event *>(event);
  return kSuccess;
}

CUresult cuEventRecord(void *event, void *stream) {
  if (CUresult r = needContext())
    return r;
  if (!validStream(stream))
    return kInvalidHandle;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  return st.events.count(static_cast<Event *>(event)) ? kSuccess : kInvalidHandle;
}

CUresult cuEventSynchronize(void *event) {
  if (CUresult r = needContext())
    return r;
  State &st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  return st.events.count(static_cast<Event *>(event)) ? kSuccess : kInvalidHandle;
}

} // extern "C"

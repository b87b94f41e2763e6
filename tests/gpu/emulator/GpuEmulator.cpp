//===- GpuEmulator.cpp - run GPU kernels on the CPU, thread by thread -----===//
//
// See GpuEmulator.h. A block runs as one coroutine per GPU thread. The
// scheduler (the launching thread's own stack) resumes every ready thread
// in turn; a thread runs until it calls tessel_emu_barrier,
// tessel_emu_shuffle_* or tessel_emu_mma_*, or its kernel returns, and then
// switches back. When no thread is ready the scheduler releases what can be
// released: a warp whose lanes all wait at a shuffle or all at an mma, else
// the whole block when every thread waits at a barrier. Anything else is a
// stuck block: divergence, reported with the state of its threads.
//
//===----------------------------------------------------------------------===//
#include "tests/gpu/emulator/GpuEmulator.h"

#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace tessel::gpuemu {
namespace {

constexpr int64_t kWarpSize = 32;
// CUDA's limits: a launch beyond them fails on every GPU the pipeline
// targets, so it fails here too.
constexpr int64_t kMaxThreadsPerBlock = 1024;
constexpr int64_t kMaxBlockZ = 64;
constexpr int64_t kMaxGridX = (int64_t{1} << 31) - 1, kMaxGridYZ = 65535;
constexpr int64_t kMaxStaticSharedBytes = 48 * 1024;

//===----------------------------------------------------------------------===//
// Coroutines: a stack each, and a switch between two of them.
//===----------------------------------------------------------------------===//

// A kernel's frame holds its spilled registers (a few KiB for the
// flash-attention kernels); 256 KiB of address space is committed only as
// it is touched. The guard page below it makes an overflow fault instead of
// silently corrupting the next stack.
constexpr size_t kStackBytes = 256 * 1024, kGuardBytes = 4096;

class Stack {
public:
  static std::unique_ptr<Stack> create() {
    void *p = mmap(nullptr, kGuardBytes + kStackBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
      return nullptr;
    mprotect(p, kGuardBytes, PROT_NONE);
    return std::unique_ptr<Stack>(new Stack(static_cast<char *>(p)));
  }
  ~Stack() { munmap(mapping_, kGuardBytes + kStackBytes); }
  char *base() const { return mapping_ + kGuardBytes; }
  char *top() const { return base() + kStackBytes; } // 16-byte aligned (page aligned)

private:
  explicit Stack(char *mapping) : mapping_(mapping) {}
  char *mapping_;
};

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
// glibc's swapcontext saves and restores the signal mask with a system call
// (~1.4 us a round trip here), and the flash-attention kernels switch at
// every shuffle: millions of switches per suite. On x86-64 the switch is
// done by hand: push the callee-saved registers and the SSE/x87 control
// words, swap stack pointers, pop. (AddressSanitizer builds take the
// ucontext path, which it understands.)
extern "C" void tessel_emu_switch_stack(void **save, void *load);
asm(R"(
  .text
  .globl tessel_emu_switch_stack
  .hidden tessel_emu_switch_stack
  .type tessel_emu_switch_stack, @function
  .p2align 4
tessel_emu_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size tessel_emu_switch_stack, .-tessel_emu_switch_stack
)");

struct Context {
  void *sp = nullptr;
};

// A stack that tessel_emu_switch_stack "returns" into `entry`, as if
// `entry` had been called (stack pointer = 8 mod 16 at its first
// instruction), with the default MXCSR and x87 control word.
void startContext(Context &c, const Stack &stack, void (*entry)()) {
  auto *sp = reinterpret_cast<uint64_t *>(stack.top());
  *--sp = 0; // entry's return address: it never returns
  *--sp = reinterpret_cast<uint64_t>(entry);
  for (int i = 0; i < 6; ++i)
    *--sp = 0; // rbp, rbx, r12-r15
  *--sp = 0x1F80 | (uint64_t{0x037F} << 32);
  c.sp = sp;
}

void switchContext(Context &from, const Context &to) { tessel_emu_switch_stack(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc;
};

void startContext(Context &c, const Stack &stack, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack.base();
  c.uc.uc_stack.ss_size = kStackBytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}

void switchContext(Context &from, const Context &to) { swapcontext(&from.uc, &to.uc); }
#endif

//===----------------------------------------------------------------------===//
// Blocks.
//===----------------------------------------------------------------------===//

enum class State { Ready, AtBarrier, AtShuffle, AtMma, Done };
constexpr int kStates = 5;

struct Shuffle {
  uint32_t bits = 0; // the value (f32 or i32)
  int32_t offset = 0, width = 0, mode = 0;
  bool isFloat = false;
};

enum class MmaType { BF16, F16 };

// One lane's operands of an mma.sync m16n8k16 with f32 accumulators.
struct Mma {
  MmaType type = MmaType::BF16;
  uint32_t a[4] = {}, b[2] = {}; // two 16-bit values each, the first low
  float c[4] = {};
};

struct Thread {
  Context context;
  State state = State::Ready;
  std::vector<void *> args; // packed: the launch's, the shared buffers', then coords
  int64_t coords[12] = {};  // thread id, block id, block dims, grid dims
  Shuffle shuffle;          // the one it waits at
  uint32_t result = 0;      // of its last shuffle
  bool valid = false;
  Mma mma;         // the one it waits at
  float d[4] = {}; // the result of its last mma
};

// Workgroup memory: bytes from a 64-byte boundary (the
// kernels' vector loads and stores of it assume their llvm.align, 16).
class SharedMemory {
public:
  explicit SharedMemory(size_t bytes) : storage_(bytes + kAlign) {}
  uint8_t *data() {
    auto p = reinterpret_cast<uintptr_t>(storage_.data());
    return storage_.data() + (kAlign - p % kAlign) % kAlign;
  }
  size_t size() const { return storage_.size() - kAlign; }

private:
  static constexpr size_t kAlign = 64;
  std::vector<uint8_t> storage_;
};

struct Launch {
  std::string name;
  PackedKernel kernel = nullptr;
  Dim3 grid, block;
  int64_t threads = 0;
  std::vector<Thread> thread;
  std::vector<SharedMemory> shared;
  std::vector<std::vector<int64_t>> descriptors; // of the shared buffers
  std::vector<void *> descriptorPointers;        // what the packed args point to
  Context scheduler;
  int64_t running = -1; // the thread running now, -1 in the scheduler
  Stats stats;
};

// The launch running on this OS thread (kernels call back into it).
thread_local Launch *current = nullptr;
// Stacks are reused from launch to launch.
thread_local std::vector<std::unique_ptr<Stack>> stackPool;

Stats totals;
// Errors of launches made by compiled code, and of callbacks made outside
// any launch.
absl::Status pendingError;

void recordError(absl::Status status) {
  if (pendingError.ok())
    pendingError = std::move(status);
}

void threadMain() {
  Launch &l = *current;
  Thread &t = l.thread[l.running];
  l.kernel(t.args.data());
  t.state = State::Done;
  switchContext(t.context, l.scheduler);
  __builtin_unreachable(); // a finished thread is never resumed
}

// Suspends the running thread in `state` until the scheduler releases it.
Thread *suspend(State state) {
  Launch *l = current;
  if (!l || l->running < 0) {
    recordError(absl::FailedPreconditionError(
        "a kernel called the GPU emulator outside a launch (call it through gpuemu::launch)"));
    return nullptr;
  }
  Thread &t = l->thread[l->running];
  t.state = state;
  switchContext(t.context, l->scheduler);
  return &t;
}

std::string describe(Dim3 d) { return absl::StrCat("(", d.x, ", ", d.y, ", ", d.z, ")"); }
std::string threadName(const Thread &t) {
  return absl::StrCat("thread (", t.coords[0], ", ", t.coords[1], ", ", t.coords[2], ")");
}

const char *typeName(MmaType t) { return t == MmaType::F16 ? "f16" : "bf16"; }

const char *modeName(int32_t mode) {
  switch (mode) {
  case 0:
    return "xor";
  case 1:
    return "down";
  case 2:
    return "up";
  case 3:
    return "idx";
  default:
    return "unknown";
  }
}

// The shuffle all `lanes` lanes of the warp at `first` wait at. Lane k
// gets the value of lane k ^ offset, k + offset, k - offset or offset (xor,
// down, up, idx), valid when that lane is among the first `width`, as
// gpu.shuffle defines it; otherwise its own value, as PTX's shfl.sync
// returns, and valid = false.
absl::Status releaseShuffle(Launch &l, int64_t first, int64_t lanes) {
  const Shuffle &s = l.thread[first].shuffle;
  for (int64_t k = 1; k < lanes; ++k) {
    const Shuffle &o = l.thread[first + k].shuffle;
    if (o.offset != s.offset || o.width != s.width || o.mode != s.mode || o.isFloat != s.isFloat)
      return absl::InternalError(absl::StrCat(
          "divergence: lanes of warp ", first / kWarpSize, " shuffle differently: lane 0 ",
          modeName(s.mode), " offset ", s.offset, " width ", s.width, ", lane ", k, " ",
          modeName(o.mode), " offset ", o.offset, " width ", o.width));
  }
  if (s.width < 1 || s.width > lanes || s.mode < 0 || s.mode > 3)
    return absl::InternalError(absl::StrCat("a ", modeName(s.mode), " shuffle of width ", s.width,
                                            " in warp ", first / kWarpSize, " of ", lanes,
                                            " threads (the first `width` lanes take part)"));
  for (int64_t k = 0; k < lanes; ++k) {
    Thread &t = l.thread[first + k];
    int64_t source = s.mode == 0   ? (k ^ s.offset)
                     : s.mode == 1 ? k + s.offset
                     : s.mode == 2 ? k - s.offset
                                   : s.offset;
    t.valid = source >= 0 && source < s.width;
    t.result = l.thread[first + (t.valid ? source : k)].shuffle.bits;
    t.state = State::Ready;
  }
  ++l.stats.shuffles;
  return absl::OkStatus();
}

// bf16 and f16 values widened to f32: exact (every bf16 and f16 value is
// an f32 value).
float bf16ToFloat(uint16_t h) {
  uint32_t bits = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float f16ToFloat(uint16_t h) {
  const int exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
  float v;
  if (exponent == 0) // zero or subnormal: mantissa * 2^-24
    v = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 0x1F)
    v = mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else
    v = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  return (h & 0x8000) ? -v : v;
}

// Value `i` (0: low half) of register `word` of an mma operand.
float element(uint32_t word, int i, MmaType type) {
  const auto h = static_cast<uint16_t>(i ? word >> 16 : word & 0xFFFF);
  return type == MmaType::F16 ? f16ToFloat(h) : bf16ToFloat(h);
}

// The mma.sync m16n8k16 row.col (f32 accumulators) all 32 lanes of the warp
// at `first` wait at: D = A * B + C for the warp's 16 x 16 A, 16 x 8 B and
// 16 x 8 C, each lane's registers placed and its values of D taken as the
// PTX ISA lays out the fragments ("Matrix Fragments for mma.m16n8k16 with
// floating point type"; cross-checked with CUTLASS's CuTe traits of
// SM80_16x8x16_F32BF16BF16F32_TN). With g = lane >> 2 (groupID) and
// t = lane % 4 (threadID_in_group):
//   A: a0..a7, register j holding a(2j) (low half) and a(2j+1):
//        row = g for a0, a1, a4, a5 and g + 8 for a2, a3, a6, a7;
//        col = 2t + (i & 1), + 8 for i >= 4.
//      So register 0 = (g, 2t..2t+1), 1 = (g + 8, 2t..), 2 = (g, 2t + 8..),
//      3 = (g + 8, 2t + 8..).
//   B: b0..b3, register j holding b(2j) and b(2j+1):
//        row = 2t + (i & 1), + 8 for i >= 2; col = g.
//   C, D: c0..c3 (f32): row = g for c0, c1 and g + 8 for c2, c3;
//        col = 2t + (i & 1).
// The 16-bit values are widened exactly to f32; each product is added to
// the running f32 sum with one rounding (fmaf: the product of two bf16 or
// f16 values is exact), in the order C, k = 0, 1, ..., 15. The tensor cores
// add the products in another order with their own internal precision, so
// the hardware's D may differ from this one in the last bits of f32.
absl::Status releaseMma(Launch &l, int64_t first, int64_t lanes) {
  const int64_t warp = first / kWarpSize;
  if (lanes != kWarpSize)
    return absl::InternalError(absl::StrCat("an mma.sync in warp ", warp, " of only ", lanes,
                                            " threads (all 32 lanes of a warp take part)"));
  const MmaType type = l.thread[first].mma.type;
  for (int64_t k = 1; k < lanes; ++k)
    if (MmaType other = l.thread[first + k].mma.type; other != type)
      return absl::InternalError(absl::StrCat("divergence: lanes of warp ", warp,
                                              " run different mmas: lane 0 ", typeName(type),
                                              ", lane ", k, " ", typeName(other)));
  float a[16][16], b[16][8], c[16][8];
  for (int lane = 0; lane < kWarpSize; ++lane) {
    const Mma &m = l.thread[first + lane].mma;
    const int g = lane >> 2, t = lane % 4;
    for (int i = 0; i < 8; ++i)
      a[g + 8 * ((i >> 1) & 1)][2 * t + (i & 1) + 8 * (i >> 2)] = element(m.a[i / 2], i & 1, type);
    for (int i = 0; i < 4; ++i)
      b[2 * t + (i & 1) + 8 * (i >> 1)][g] = element(m.b[i / 2], i & 1, type);
    for (int i = 0; i < 4; ++i)
      c[g + 8 * (i >> 1)][2 * t + (i & 1)] = m.c[i];
  }
  for (int lane = 0; lane < kWarpSize; ++lane) {
    Thread &th = l.thread[first + lane];
    const int g = lane >> 2, t = lane % 4;
    for (int i = 0; i < 4; ++i) {
      const int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
      float sum = c[row][col];
      for (int k = 0; k < 16; ++k)
        sum = std::fmaf(a[row][k], b[k][col], sum);
      th.d[i] = sum;
    }
    th.state = State::Ready;
  }
  ++l.stats.mmas;
  return absl::OkStatus();
}

// Releases warp `first / 32` if every one of its lanes waits at a shuffle,
// or every one at an mma (a lane that has finished never arrives, nor one
// waiting elsewhere: the block is then stuck).
absl::StatusOr<bool> releaseWarp(Launch &l, int64_t first) {
  const int64_t lanes = std::min(kWarpSize, l.threads - first);
  const State state = l.thread[first].state;
  if (state != State::AtShuffle && state != State::AtMma)
    return false;
  for (int64_t k = 1; k < lanes; ++k)
    if (l.thread[first + k].state != state)
      return false;
  absl::Status st =
      state == State::AtShuffle ? releaseShuffle(l, first, lanes) : releaseMma(l, first, lanes);
  if (!st.ok())
    return st;
  return true;
}

// Why no thread of the block can go on.
absl::Status stuck(const Launch &l) {
  int64_t counts[kStates] = {};
  const Thread *example[kStates] = {};
  for (const Thread &t : l.thread) {
    int s = static_cast<int>(t.state);
    ++counts[s];
    if (!example[s])
      example[s] = &t;
  }
  std::string detail;
  auto add = [&](State s, const char *what) {
    int i = static_cast<int>(s);
    if (counts[i])
      absl::StrAppend(&detail, detail.empty() ? "" : ", ", counts[i], " ", what, " (",
                      threadName(*example[i]), ")");
  };
  add(State::AtBarrier, "waiting at a barrier");
  add(State::AtShuffle, "waiting at a shuffle");
  add(State::AtMma, "waiting at an mma");
  add(State::Done, "finished");
  return absl::InternalError(
      absl::StrCat("divergence: the block's ", l.threads, " threads cannot all go on: ", detail));
}

absl::Status runBlock(Launch &l, Dim3 blockId) {
  for (SharedMemory &buffer : l.shared)
    std::memset(buffer.data(), 0xFF, buffer.size()); // NaN as f32 and f64
  for (int64_t i = 0; i < l.threads; ++i) {
    Thread &t = l.thread[i];
    t.state = State::Ready;
    const int64_t c[12] = {i % l.block.x,
                           i / l.block.x % l.block.y,
                           i / (l.block.x * l.block.y),
                           blockId.x,
                           blockId.y,
                           blockId.z,
                           l.block.x,
                           l.block.y,
                           l.block.z,
                           l.grid.x,
                           l.grid.y,
                           l.grid.z};
    std::memcpy(t.coords, c, sizeof(c));
    startContext(t.context, *stackPool[i], threadMain);
  }
  ++l.stats.blocks;
  for (;;) {
    for (int64_t i = 0; i < l.threads; ++i) {
      if (l.thread[i].state != State::Ready)
        continue;
      l.running = i;
      switchContext(l.scheduler, l.thread[i].context);
    }
    l.running = -1;
    bool released = false;
    for (int64_t first = 0; first < l.threads; first += kWarpSize) {
      absl::StatusOr<bool> r = releaseWarp(l, first);
      if (!r.ok())
        return r.status();
      released |= *r;
    }
    if (released)
      continue;
    int64_t atBarrier = 0, done = 0;
    for (const Thread &t : l.thread) {
      atBarrier += t.state == State::AtBarrier;
      done += t.state == State::Done;
    }
    if (done == l.threads)
      return absl::OkStatus();
    // A thread that has finished never arrives: the others would wait
    // forever on a GPU.
    if (atBarrier != l.threads)
      return stuck(l);
    for (Thread &t : l.thread)
      t.state = State::Ready;
    ++l.stats.barriers;
  }
}

absl::Status checkDims(Dim3 grid, Dim3 block, const std::vector<SharedBuffer> &shared) {
  if (grid.x < 1 || grid.y < 1 || grid.z < 1 || block.x < 1 || block.y < 1 || block.z < 1)
    return absl::InvalidArgumentError(absl::StrCat("an empty launch: grid ", describe(grid),
                                                   ", block ", describe(block),
                                                   " (CUDA rejects it)"));
  if (grid.x > kMaxGridX || grid.y > kMaxGridYZ || grid.z > kMaxGridYZ)
    return absl::InvalidArgumentError(
        absl::StrCat("grid ", describe(grid), " exceeds CUDA's (2^31 - 1, 65535, 65535)"));
  if (block.x > kMaxThreadsPerBlock || block.y > kMaxThreadsPerBlock || block.z > kMaxBlockZ ||
      block.x * block.y * block.z > kMaxThreadsPerBlock)
    return absl::InvalidArgumentError(absl::StrCat(
        "block ", describe(block), " exceeds CUDA's 1024 threads (and 64 in z) per block"));
  int64_t bytes = 0;
  for (const SharedBuffer &s : shared) {
    int64_t n = s.elementBytes;
    for (int64_t d : s.shape)
      n *= d;
    bytes += n;
  }
  if (bytes > kMaxStaticSharedBytes)
    return absl::InvalidArgumentError(absl::StrCat(
        bytes, " bytes of workgroup memory exceed the 48 KiB of static shared memory"));
  return absl::OkStatus();
}

} // namespace

absl::Status launch(const std::string &name, PackedKernel kernel, Dim3 grid, Dim3 block,
                    const std::vector<void *> &args, const std::vector<SharedBuffer> &shared) {
  auto fail = [&](const absl::Status &st) {
    return absl::Status(st.code(), absl::StrCat("GPU emulator: ", name, ": ", st.message()));
  };
  if (current)
    return fail(absl::FailedPreconditionError("a launch from inside a kernel"));
  if (absl::Status st = checkDims(grid, block, shared); !st.ok())
    return fail(st);
  Launch l;
  l.name = name;
  l.kernel = kernel;
  l.grid = grid;
  l.block = block;
  l.threads = block.x * block.y * block.z;
  while (static_cast<int64_t>(stackPool.size()) < l.threads) {
    std::unique_ptr<Stack> s = Stack::create();
    if (!s)
      return fail(absl::ResourceExhaustedError("cannot map a thread stack"));
    stackPool.push_back(std::move(s));
  }
  for (const SharedBuffer &s : shared) {
    int64_t n = 1;
    for (int64_t d : s.shape)
      n *= d;
    l.shared.emplace_back(static_cast<size_t>(n * s.elementBytes));
    // The memref descriptor: allocated and aligned pointers, offset 0,
    // sizes, row-major strides.
    const int64_t rank = static_cast<int64_t>(s.shape.size());
    std::vector<int64_t> d(3 + 2 * rank);
    auto address = reinterpret_cast<int64_t>(l.shared.back().data());
    d[0] = d[1] = address;
    int64_t stride = 1;
    for (int64_t i = rank - 1; i >= 0; --i) {
      d[3 + i] = s.shape[i];
      d[3 + rank + i] = stride;
      stride *= s.shape[i];
    }
    l.descriptors.push_back(std::move(d));
  }
  for (std::vector<int64_t> &d : l.descriptors)
    l.descriptorPointers.push_back(d.data());
  l.thread.resize(l.threads);
  for (Thread &t : l.thread) {
    t.args = args;
    for (void *&p : l.descriptorPointers)
      t.args.push_back(&p);
    for (int64_t &c : t.coords)
      t.args.push_back(&c);
  }

  current = &l;
  absl::Status status;
  for (int64_t z = 0; z < grid.z && status.ok(); ++z)
    for (int64_t y = 0; y < grid.y && status.ok(); ++y)
      for (int64_t x = 0; x < grid.x && status.ok(); ++x)
        if (absl::Status st = runBlock(l, {x, y, z}); !st.ok())
          status = absl::Status(st.code(), absl::StrCat("block (", x, ", ", y, ", ", z, ") of ",
                                                        describe(grid), ": ", st.message()));
  current = nullptr;
  ++totals.launches;
  totals.blocks += l.stats.blocks;
  totals.barriers += l.stats.barriers;
  totals.shuffles += l.stats.shuffles;
  totals.mmas += l.stats.mmas;
  return status.ok() ? status : fail(status);
}

Stats stats() { return totals; }
void resetStats() { totals = Stats(); }

absl::Status takeLaunchError() {
  absl::Status st = std::move(pendingError);
  pendingError = absl::OkStatus();
  return st;
}

} // namespace tessel::gpuemu

using namespace tessel::gpuemu;

namespace {

uint32_t shuffle(uint32_t bits, int32_t offset, int32_t width, int32_t mode, bool isFloat) {
  Launch *l = current;
  if (l && l->running >= 0)
    l->thread[l->running].shuffle = {bits, offset, width, mode, isFloat};
  Thread *t = suspend(State::AtShuffle);
  return t ? t->result : bits;
}

// One lane's part of an mma.sync: waits for the warp, then writes its D.
// Outside a launch (an error already recorded) D is NaN.
void mma(MmaType type, std::array<int32_t, 4> a, std::array<int32_t, 2> b, std::array<float, 4> c,
         float *d) {
  Launch *l = current;
  if (l && l->running >= 0) {
    Mma &m = l->thread[l->running].mma;
    m.type = type;
    for (int i = 0; i < 4; ++i) {
      m.a[i] = static_cast<uint32_t>(a[i]);
      m.c[i] = c[i];
    }
    for (int i = 0; i < 2; ++i)
      m.b[i] = static_cast<uint32_t>(b[i]);
  }
  Thread *t = suspend(State::AtMma);
  for (int i = 0; i < 4; ++i)
    d[i] = t ? t->d[i] : std::numeric_limits<float>::quiet_NaN();
}

} // namespace

extern "C" {

void tessel_emu_barrier() { suspend(State::AtBarrier); }

float tessel_emu_shuffle_f32(float value, int32_t offset, int32_t width, int32_t mode) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  bits = shuffle(bits, offset, width, mode, /*isFloat=*/true);
  std::memcpy(&value, &bits, 4);
  return value;
}

int32_t tessel_emu_shuffle_i32(int32_t value, int32_t offset, int32_t width, int32_t mode) {
  return static_cast<int32_t>(
      shuffle(static_cast<uint32_t>(value), offset, width, mode, /*isFloat=*/false));
}

bool tessel_emu_shuffle_valid() {
  Launch *l = current;
  return l && l->running >= 0 && l->thread[l->running].valid;
}

void tessel_emu_mma_m16n8k16_bf16(int32_t a0, int32_t a1, int32_t a2, int32_t a3, int32_t b0,
                                  int32_t b1, float c0, float c1, float c2, float c3, float *d) {
  mma(MmaType::BF16, {a0, a1, a2, a3}, {b0, b1}, {c0, c1, c2, c3}, d);
}

void tessel_emu_mma_m16n8k16_f16(int32_t a0, int32_t a1, int32_t a2, int32_t a3, int32_t b0,
                                 int32_t b1, float c0, float c1, float c2, float c3, float *d) {
  mma(MmaType::F16, {a0, a1, a2, a3}, {b0, b1}, {c0, c1, c2, c3}, d);
}

void tessel_emu_launch(PackedKernel thread, const char *name, int64_t gridX, int64_t gridY,
                       int64_t gridZ, int64_t blockX, int64_t blockY, int64_t blockZ, void **args,
                       int64_t numArgs, const int64_t *info) {
  if (!pendingError.ok())
    return; // the first error is the one to report
  const Dim3 block{blockX, blockY, blockZ};
  // info: known block size x, y, z (0: unknown), buffers, then per buffer
  // element bytes, rank, dims.
  if (info[0] && (info[0] != blockX || info[1] != blockY || info[2] != blockZ)) {
    recordError(absl::InvalidArgumentError(absl::StrCat(
        "GPU emulator: ", name, ": launched with block ", describe(block),
        " but compiled for known_block_size (", info[0], ", ", info[1], ", ", info[2], ")")));
    return;
  }
  std::vector<SharedBuffer> shared(info[3]);
  const int64_t *at = info + 4;
  for (SharedBuffer &s : shared) {
    s.elementBytes = at[0];
    s.shape.assign(at + 2, at + 2 + at[1]);
    at += 2 + at[1];
  }
  absl::Status st = launch(name, thread, {gridX, gridY, gridZ}, block,
                           std::vector<void *>(args, args + numArgs), shared);
  if (!st.ok())
    recordError(st);
}

} // extern "C"

//===- GpuEmulator.h - run GPU kernels on the CPU, thread by thread -*- C++ -*-===//
//
// For testing without a GPU. The kernels the CUDA pipeline generates,
// turned into CPU functions by tessel-gpu-kernels-to-cpu (passes/Passes.td),
// run here with the GPU's execution model where it matters for correctness:
//   * every block runs on its own (blocks one after another), every thread
//     of a block is a coroutine with its own stack;
//   * gpu.barrier (tessel_emu_barrier) releases only when every thread of
//     the block waits at a barrier; a thread that finishes while others
//     wait at one, or a block where some threads wait at a barrier and
//     others at a shuffle, is a divergence error;
//   * gpu.shuffle (tessel_emu_shuffle_*) exchanges values between the
//     lanes of a warp (32 consecutive threads, x fastest) once all of them
//     have reached it with the same offset, width and mode (xor, down, up,
//     idx); lanes that disagree, or a lane that has finished, are an error;
//   * nvvm.mma.sync m16n8k16 (tessel_emu_mma_m16n8k16_*) is warp-collective
//     like a shuffle: it runs once all 32 lanes of the warp have reached an
//     mma of the same type, and computes D = A * B + C for the whole warp
//     from the lanes' fragments (the PTX ISA's layout, in GpuEmulator.cpp);
//     lanes at different ops, a lane that has finished, or a warp of fewer
//     than 32 threads are an error;
//   * workgroup (shared) buffers are fresh for every block and filled with
//     NaN bit patterns (all bytes 0xFF), so a read of shared memory nobody
//     wrote shows up in the results;
//   * the CUDA limits on grid, block and static shared memory sizes hold.
// Errors come back as absl::Status; nothing aborts (short of a kernel
// overflowing its 256 KiB stack, which faults on a guard page).
//
// Threads of a block run one at a time, in order, each until it reaches a
// barrier, a shuffle or its end. A missing barrier then shows as NaN (a
// tile not yet written) or wrong results (a tile already overwritten by
// threads that ran ahead), but there is no race detector: a race this
// order happens to hide goes unnoticed.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_TESTS_GPU_EMULATOR_GPUEMULATOR_H
#define TESSEL_TESTS_GPU_EMULATOR_GPUEMULATOR_H

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace tessel::gpuemu {

struct Dim3 {
  int64_t x = 1, y = 1, z = 1;
};

/// A workgroup attribution of the kernel: a dense row-major buffer.
struct SharedBuffer {
  std::vector<int64_t> shape;
  int64_t elementBytes = 4;
};

/// A kernel in the ExecutionEngine's packed form: `args[i]` points to the
/// i-th argument of the C interface (`_mlir_ciface_<kernel>`): to a pointer
/// to the memref descriptor for a memref, to the value for a scalar.
using PackedKernel = void (*)(void **args);

/// Runs `kernel` over `grid` x `block`. Each thread gets `args`, then one
/// descriptor per `shared` buffer (its block's copy), then the twelve
/// index arguments tessel-gpu-kernels-to-cpu appends: thread id x/y/z,
/// block id x/y/z, block dims x/y/z, grid dims x/y/z. `name` is for
/// messages.
absl::Status launch(const std::string &name, PackedKernel kernel, Dim3 grid, Dim3 block,
                    const std::vector<void *> &args, const std::vector<SharedBuffer> &shared = {});

/// Counts over every launch since the last reset: what a test can check
/// actually ran.
struct Stats {
  int64_t launches = 0, blocks = 0, barriers = 0, shuffles = 0;
  int64_t mmas = 0; ///< warp-wide mma.sync operations (not per lane)
};
Stats stats();
void resetStats();

/// The first error of a launch compiled code made through
/// tessel_emu_launch since the last call (OK if none), which can return no
/// status itself. After an error further launches are skipped until it is
/// taken.
absl::Status takeLaunchError();

} // namespace tessel::gpuemu

// What code rewritten by tessel-gpu-kernels-to-cpu calls. The JIT resolves
// these from the process: link the emulator into an executable that
// exports its symbols (ENABLE_EXPORTS).
extern "C" {
void tessel_emu_barrier();
/// gpu.shuffle's value; `mode` is gpu::ShuffleMode's value (0 xor, 1 down,
/// 2 up, 3 idx).
float tessel_emu_shuffle_f32(float value, int32_t offset, int32_t width, int32_t mode);
int32_t tessel_emu_shuffle_i32(int32_t value, int32_t offset, int32_t width, int32_t mode);
/// gpu.shuffle's `valid` result for this thread's last shuffle.
bool tessel_emu_shuffle_valid();
/// nvvm.mma.sync m16n8k16 row.col with f32 accumulators, for one lane:
/// a0..a3 and b0, b1 are its A and B registers (two bf16 or f16 values
/// each, the first in the low 16 bits), c0..c3 its accumulators; `d`
/// receives its 4 values of D once the whole warp has arrived.
void tessel_emu_mma_m16n8k16_bf16(int32_t a0, int32_t a1, int32_t a2, int32_t a3, int32_t b0,
                                  int32_t b1, float c0, float c1, float c2, float c3, float *d);
void tessel_emu_mma_m16n8k16_f16(int32_t a0, int32_t a1, int32_t a2, int32_t a3, int32_t b0,
                                 int32_t b1, float c0, float c1, float c2, float c3, float *d);
/// A gpu.launch_func of compiled host code: `thread` is the kernel's
/// packed trampoline, `args` its `numArgs` packed arguments; `info` is
/// {known block size x, y, z (0: unknown), number of workgroup buffers,
/// then per buffer: element bytes, rank, dims...}. Errors go to
/// takeLaunchError().
void tessel_emu_launch(tessel::gpuemu::PackedKernel thread, const char *name, int64_t gridX,
                       int64_t gridY, int64_t gridZ, int64_t blockX, int64_t blockY, int64_t blockZ,
                       void **args, int64_t numArgs, const int64_t *info);
}

#endif // TESSEL_TESTS_GPU_EMULATOR_GPUEMULATOR_H

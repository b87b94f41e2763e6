//===- KernelAbi.cpp - MLIR memref descriptors -> Highway kernels ---------===//
#include "codegen/KernelAbi.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "runtime/kernels/Kernels.h"

namespace {

// MLIR's ranked memref descriptor (see mlir/ExecutionEngine/CRunnerUtils.h).
template <int Rank> struct MemRef {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];

  float *data() const { return aligned + offset; }
};
using Matrix = MemRef<2>;
using Vector = MemRef<1>;

// The compiler only passes row-major views (unit inner stride); anything
// else is a bug in a pass, so stop loudly rather than compute garbage.
void requireRows(const Matrix *m, const char *kernel, const char *operand) {
  if (m->strides[1] != 1 && m->sizes[1] > 1) {
    std::fprintf(stderr, "tessel: %s: %s has inner stride %lld (expected 1)\n", kernel, operand,
                 static_cast<long long>(m->strides[1]));
    std::abort();
  }
}

void linear(const Matrix *x, const Matrix *w, const Vector *bias, const Matrix *out,
            const char *name) {
  requireRows(x, name, "x");
  requireRows(w, name, "w");
  requireRows(out, name, "out");
  if (bias && bias->strides[0] != 1 && bias->sizes[0] > 1) {
    std::fprintf(stderr, "tessel: %s: bias is not contiguous\n", name);
    std::abort();
  }
  tessel_gemm_f32(x->sizes[0], w->sizes[0], x->sizes[1], x->data(), x->strides[0], w->data(),
                  w->strides[0], bias ? bias->data() : nullptr, out->data(), out->strides[0]);
}

} // namespace

extern "C" {

// out = x w^T
void _mlir_ciface_tessel_linear_f32(Matrix *x, Matrix *w, Matrix *out) {
  linear(x, w, nullptr, out, "tessel_linear_f32");
}

// out = x w^T + bias
void _mlir_ciface_tessel_linear_bias_f32(Matrix *x, Matrix *w, Vector *bias, Matrix *out) {
  linear(x, w, bias, out, "tessel_linear_bias_f32");
}

// out = act(x wg^T) * (x wu^T); activation 0 = SiLU, 1 = GELU.
void _mlir_ciface_tessel_glu_f32(Matrix *x, Matrix *wGate, Matrix *wUp, Matrix *out,
                                 int64_t activation, int64_t tanhApprox) {
  const char *name = "tessel_glu_f32";
  requireRows(x, name, "x");
  requireRows(wGate, name, "w_gate");
  requireRows(wUp, name, "w_up");
  requireRows(out, name, "out");
  if (wGate->strides[0] != wUp->strides[0]) {
    std::fprintf(stderr, "tessel: %s: gate and up weights have different row strides\n", name);
    std::abort();
  }
  tessel_gemm_glu_f32(x->sizes[0], wUp->sizes[0], x->sizes[1], x->data(), x->strides[0],
                      wGate->data(), wUp->data(), wUp->strides[0],
                      activation == 0 ? TESSEL_GLU_SILU : TESSEL_GLU_GELU,
                      static_cast<int>(tanhApprox), out->data(), out->strides[0]);
}

// memref.copy between non-contiguous buffers lowers to a call of this
// function (MLIR's runtime has it in libmlir_c_runner_utils; ours keeps
// compiled code free of that library). Memrefs arrive unranked: {rank,
// pointer to the ranked descriptor}; elements are `elementSize` bytes.
struct UnrankedMemRef {
  int64_t rank;
  void *descriptor;
};

void memrefCopy(int64_t elementSize, UnrankedMemRef *src, UnrankedMemRef *dst) {
  struct Header {
    char *allocated;
    char *aligned;
    int64_t offset;
  };
  const int64_t rank = src->rank;
  auto *s = static_cast<Header *>(src->descriptor);
  auto *d = static_cast<Header *>(dst->descriptor);
  const int64_t *sizes = reinterpret_cast<const int64_t *>(s + 1);
  const int64_t *srcStrides = sizes + rank;
  const int64_t *dstStrides = reinterpret_cast<const int64_t *>(d + 1) + rank;
  int64_t total = 1;
  for (int64_t i = 0; i < rank; ++i)
    total *= sizes[i];
  if (total == 0)
    return;
  std::vector<int64_t> index(rank, 0);
  // Copy runs of the innermost dimension when it is contiguous on both sides.
  const bool rowsContiguous = rank > 0 && srcStrides[rank - 1] == 1 && dstStrides[rank - 1] == 1;
  const int64_t run = rowsContiguous ? sizes[rank - 1] : 1;
  for (int64_t done = 0; done < total; done += run) {
    int64_t so = s->offset, doff = d->offset;
    for (int64_t i = 0; i < rank; ++i) {
      so += index[i] * srcStrides[i];
      doff += index[i] * dstStrides[i];
    }
    std::memcpy(d->aligned + doff * elementSize, s->aligned + so * elementSize,
                static_cast<size_t>(run * elementSize));
    for (int64_t i = rank - (rowsContiguous ? 2 : 1); i >= 0; --i) {
      if (++index[i] < sizes[i])
        break;
      index[i] = 0;
    }
  }
}

} // extern "C"

namespace tessel::codegen {

const std::vector<std::pair<const char *, void *>> &kernelAbiSymbols() {
  static const std::vector<std::pair<const char *, void *>> kSymbols = {
      {"_mlir_ciface_tessel_linear_f32", reinterpret_cast<void *>(&_mlir_ciface_tessel_linear_f32)},
      {"_mlir_ciface_tessel_linear_bias_f32",
       reinterpret_cast<void *>(&_mlir_ciface_tessel_linear_bias_f32)},
      {"_mlir_ciface_tessel_glu_f32", reinterpret_cast<void *>(&_mlir_ciface_tessel_glu_f32)},
      {"memrefCopy", reinterpret_cast<void *>(&memrefCopy)},
  };
  return kSymbols;
}

} // namespace tessel::codegen

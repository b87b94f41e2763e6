//===- LinearFusion.h - what a linear layer's kernel can fuse ---*- C++ -*-===//
//
// Matchers shared by the passes that fuse ops into a GEMM's prologue or
// epilogue (tessel-lower-to-kernels on the CPU, tessel-linear-to-gpu-mma on
// the GPU), so both fuse the same patterns. Include from .cpp files only.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_PASSES_LINEARFUSION_H
#define TESSEL_PASSES_LINEARFUSION_H

#include "dialect/TesselOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace tessel {

/// The RoPE applied to a linear layer's output, if a GEMM epilogue can
/// apply it: the output's only use is a split into heads
/// ([..., heads * dim] -> [..., heads, dim]) whose only use is a tessel.rope
/// with one position per row and no frequency factors. `split` is set to
/// that split when the first use is one.
RopeOp ropeAfterLinear(LinearOp linear, mlir::tensor::ExpandShapeOp &split);

} // namespace tessel

#endif // TESSEL_PASSES_LINEARFUSION_H

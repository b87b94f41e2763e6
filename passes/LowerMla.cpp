//===- LowerMla.cpp - tessel.mla -> projections, RoPE and attention -------===//
//
// See TesselLowerMla in Passes.td. The expansion follows the op's reference
// semantics (reference/Ops.cpp, mla()) step by step.
//
//===----------------------------------------------------------------------===//
#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "passes/Passes.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELLOWERMLA
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

class MlaExpansion {
public:
  explicit MlaExpansion(MLAOp op) : op(op), b(op), loc(op.getLoc()), f32(b.getF32Type()) {
    auto in = cast<RankedTensorType>(op.getInput().getType());
    batch = dimOf(op.getInput(), 0);
    seq = dimOf(op.getInput(), 1);
    batchSize = in.getDimSize(0);
    seqSize = in.getDimSize(1);
  }

  Value build() {
    int64_t h = op.getNumHeads(), dn = op.getQkNopeDim(), dr = op.getQkRopeDim(),
            dv = op.getVHeadDim(), r = op.getKvLoraRank();
    Value x = op.getInput();
    ValueRange qw = op.getQWeights(), kvw = op.getKvWeights();

    // Queries [b, s, H, dn + dr], directly or through the low-rank q path.
    // input_format carries over to every projection but wkv_b's.
    StringAttr q8 = op.getInputFormatAttr();
    Value q = qw.size() == 1 ? linear(x, qw[0], q8)
                             : linear(norm(linear(x, qw[0], q8), qw[1]), qw[2], q8);
    Value q4 = splitHeads(q, h, dn + dr);

    // The compressed latent c and the RoPE key shared by every head.
    Value ckv = linear(x, kvw[0], q8);
    Value latent = sliceLast(ckv, 0, r);
    Value kRope = splitHeads(sliceLast(ckv, r, dr), 1, dr);
    Value kv4 = splitHeads(linear(norm(latent, kvw[1]), kvw[2]), h, dn + dv);

    Value qRope = rope(sliceLast(q4, dn, dr));
    Value query = tensor::ConcatOp::create(b, loc, 3, ValueRange{sliceLast(q4, 0, dn), qRope});
    Value kRopeHeads = broadcastHeads(rope(kRope), h, dr);
    Value key = tensor::ConcatOp::create(b, loc, 3, ValueRange{sliceLast(kv4, 0, dn), kRopeHeads});
    Value value = sliceLast(kv4, dn, dv);

    // The default scale is the query head's: 1/sqrt(dn + dr), as for MLA.
    auto attnType = RankedTensorType::get({batchSize, seqSize, h, dv}, f32);
    Value attn = AttentionOp::create(b, loc, attnType, query, key, value, op.getMask(), Value(),
                                     op.getNumHeadsAttr(), op.getNumHeadsAttr(), op.getCausalAttr(),
                                     op.getWindowAttr(), op.getScaleAttr());
    Value flat = tensor::CollapseShapeOp::create(
        b, loc, attn, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
    return linear(flat, op.getWo(), q8);
  }

private:
  OpFoldResult dimOf(Value v, int64_t d) {
    auto t = cast<RankedTensorType>(v.getType());
    if (!t.isDynamicDim(d))
      return b.getIndexAttr(t.getDimSize(d));
    return tensor::DimOp::create(b, loc, v, d).getResult();
  }

  Value linear(Value x, Value w, StringAttr inputFormat = nullptr) {
    auto t = cast<RankedTensorType>(x.getType());
    SmallVector<int64_t> shape(t.getShape());
    shape.back() = cast<RankedTensorType>(w.getType()).getDimSize(0);
    return LinearOp::create(b, loc, RankedTensorType::get(shape, f32), x, w, Value(), Value(),
                            inputFormat);
  }

  Value norm(Value x, Value w) {
    return RMSNormOp::create(b, loc, x.getType(), x, w, op.getEpsilonAttr(), nullptr);
  }

  Value rope(Value x) {
    return RopeOp::create(b, loc, x.getType(), x, op.getPositions(), Value(),
                          op.getRopeLayoutAttr(), op.getRopeThetaAttr(), nullptr,
                          b.getF32FloatAttr(1.0f));
  }

  // x[..., offset : offset + size] along the last dimension.
  Value sliceLast(Value x, int64_t offset, int64_t size) {
    auto t = cast<RankedTensorType>(x.getType());
    int64_t rank = t.getRank();
    SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), sizes,
        strides(rank, b.getIndexAttr(1));
    SmallVector<int64_t> shape(t.getShape());
    for (int64_t d = 0; d < rank; ++d)
      sizes.push_back(dimOf(x, d));
    offsets.back() = b.getIndexAttr(offset);
    sizes.back() = b.getIndexAttr(size);
    shape.back() = size;
    return tensor::ExtractSliceOp::create(b, loc, RankedTensorType::get(shape, f32), x, offsets,
                                          sizes, strides);
  }

  // [b, s, heads * dim] -> [b, s, heads, dim]
  Value splitHeads(Value x, int64_t heads, int64_t dim) {
    auto type = RankedTensorType::get({batchSize, seqSize, heads, dim}, f32);
    return tensor::ExpandShapeOp::create(
        b, loc, type, x, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}},
        SmallVector<OpFoldResult>{batch, seq, b.getIndexAttr(heads), b.getIndexAttr(dim)});
  }

  // [b, s, 1, dr] -> [b, s, H, dr]: the shared RoPE key, once per head.
  Value broadcastHeads(Value x, int64_t heads, int64_t dr) {
    Value one = tensor::CollapseShapeOp::create(
        b, loc, x, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
    SmallVector<OpFoldResult> shape = {batch, seq, b.getIndexAttr(heads), b.getIndexAttr(dr)};
    Value init = tensor::EmptyOp::create(b, loc, shape, f32);
    return linalg::BroadcastOp::create(b, loc, one, init, ArrayRef<int64_t>{2}).getResult()[0];
  }

  MLAOp op;
  OpBuilder b;
  Location loc;
  Type f32;
  OpFoldResult batch, seq;
  int64_t batchSize, seqSize;
};

struct LowerMlaPass : impl::TesselLowerMlaBase<LowerMlaPass> {
  void runOnOperation() override {
    SmallVector<MLAOp> ops;
    getOperation().walk([&](MLAOp op) { ops.push_back(op); });
    for (MLAOp op : ops) {
      Value out = MlaExpansion(op).build();
      op.getResult().replaceAllUsesWith(out);
      op.erase();
    }
  }
};

} // namespace
} // namespace tessel

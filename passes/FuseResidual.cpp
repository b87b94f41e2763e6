//===- FuseResidual.cpp - residual adds into the projection's epilogue ----===//
//
// See TesselFuseResidual in Passes.td.
//
//===----------------------------------------------------------------------===//
#include "dialect/TesselOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "passes/Passes.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELFUSERESIDUAL
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

// `branch` as a projection the residual can join: a linear or FFN with no
// residual yet whose only user is the add (otherwise the unfused value is
// still needed).
Operation *fusableProjection(Value branch) {
  Operation *def = branch.getDefiningOp();
  if (!def || !branch.hasOneUse())
    return nullptr;
  if (auto linear = dyn_cast<LinearOp>(def))
    return linear.getResidual() ? nullptr : def;
  if (auto ffn = dyn_cast<FFNOp>(def))
    return ffn.getResidual() ? nullptr : def;
  return nullptr;
}

// Whether `v` is available where `op` is (the fused op takes it there).
bool definedBefore(Value v, Operation *op) {
  if (auto arg = dyn_cast<BlockArgument>(v))
    return arg.getOwner()->getParentOp()->isAncestor(op);
  Operation *def = v.getDefiningOp();
  return def->getBlock() == op->getBlock() && def->isBeforeInBlock(op);
}

Value withResidual(OpBuilder &b, Operation *projection, Value residual) {
  b.setInsertionPoint(projection);
  if (auto l = dyn_cast<LinearOp>(projection))
    return LinearOp::create(b, l.getLoc(), l.getType(), l.getInput(), l.getWeight(), l.getBias(),
                            residual, l.getInputFormatAttr());
  auto f = cast<FFNOp>(projection);
  return FFNOp::create(b, f.getLoc(), f.getType(), f.getInput(), f.getWUp(), f.getWGate(),
                       f.getWDown(), f.getBUp(), f.getBDown(), residual, f.getActivationAttr(),
                       f.getTanhApproxAttr(), f.getInputFormatAttr());
}

struct FuseResidualPass : impl::TesselFuseResidualBase<FuseResidualPass> {
  void runOnOperation() override {
    SmallVector<ResidualAddOp> adds;
    getOperation().walk([&](ResidualAddOp op) { adds.push_back(op); });
    OpBuilder b(&getContext());
    for (ResidualAddOp add : adds) {
      // residual + branch = branch + residual: either side may be the projection.
      Value residual = add.getResidual(), branch = add.getBranch();
      Operation *projection = fusableProjection(branch);
      if (!projection) {
        std::swap(residual, branch);
        projection = fusableProjection(branch);
      }
      if (!projection || !definedBefore(residual, projection))
        continue;
      Value fused = withResidual(b, projection, residual);
      add.getResult().replaceAllUsesWith(fused);
      add.erase();
      projection->erase();
    }
  }
};

} // namespace
} // namespace tessel

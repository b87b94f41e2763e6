//===- DropAliasedResults.cpp - entry points stop returning their arguments ===//
//
// See TesselDropAliasedResults in Passes.td.
//
//===----------------------------------------------------------------------===//
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "passes/Passes.h"
#include "llvm/ADT/BitVector.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELDROPALIASEDRESULTS
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

// The function argument `v` is, through casts, if any.
BlockArgument argumentBehind(Value v) {
  while (auto cast = v.getDefiningOp<memref::CastOp>())
    v = cast.getSource();
  return dyn_cast<BlockArgument>(v);
}

struct DropAliasedResultsPass : impl::TesselDropAliasedResultsBase<DropAliasedResultsPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal())
      return;
    SmallVector<func::ReturnOp> returns;
    fn.walk([&](func::ReturnOp r) { returns.push_back(r); });
    if (returns.size() != 1)
      return; // bufferized entry points have a single block
    func::ReturnOp ret = returns.front();
    llvm::BitVector drop(fn.getNumResults());
    for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
      BlockArgument arg = argumentBehind(v);
      drop[i] = arg && arg.getOwner() == &fn.getBody().front();
    }
    if (drop.none())
      return;
    for (int i = static_cast<int>(drop.size()) - 1; i >= 0; --i)
      if (drop[i])
        ret->eraseOperand(i);
    if (failed(fn.eraseResults(drop))) {
      fn.emitOpError() << "cannot drop the results that alias arguments";
      return signalPassFailure();
    }
  }
};

} // namespace
} // namespace tessel

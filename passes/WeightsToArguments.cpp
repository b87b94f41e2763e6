//===- WeightsToArguments.cpp - tessel.weight -> function arguments -------===//
//
// See TesselWeightsToArguments in Passes.td.
//
//===----------------------------------------------------------------------===//
#include <map>

#include "dialect/TesselOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "passes/Passes.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELWEIGHTSTOARGUMENTS
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

struct WeightsToArgumentsPass : impl::TesselWeightsToArgumentsBase<WeightsToArgumentsPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal())
      return;
    std::map<std::string, BlockArgument> args;
    SmallVector<Attribute> names;
    SmallVector<WeightOp> ops;
    fn.walk([&](WeightOp op) { ops.push_back(op); });
    for (WeightOp op : ops) {
      std::string name = op.getName().str();
      // A stored weight arrives as its bytes and is dequantized where it is
      // used (tessel-lower-to-kernels folds that into the kernels).
      Type argType = op.getType();
      std::optional<StorageBlock> block;
      if (auto storage = op.getStorage()) {
        block = storageBlock(*storage);
        argType = RankedTensorType::get({storageBytes(*block, op.getType().getShape())},
                                        IntegerType::get(&getContext(), 8));
      }
      auto it = args.find(name);
      if (it == args.end()) {
        unsigned index = fn.getNumArguments();
        if (failed(fn.insertArgument(index, argType, {}, op.getLoc()))) {
          op.emitOpError() << "cannot add an argument for weight '" << name << "'";
          return signalPassFailure();
        }
        it = args.emplace(name, fn.getArgument(index)).first;
        names.push_back(StringAttr::get(&getContext(), name));
      } else if (it->second.getType() != argType) {
        op.emitOpError() << "weight '" << name
                         << "' is used with two types: " << it->second.getType() << " and "
                         << argType;
        return signalPassFailure();
      }
      Value value = it->second;
      if (block) {
        OpBuilder b(op);
        value = DequantizeOp::create(b, op.getLoc(), op.getType(), value, *op.getStorage());
      }
      op.replaceAllUsesWith(value);
      op.erase();
    }
    if (!names.empty())
      fn->setAttr("tessel.weights", ArrayAttr::get(&getContext(), names));
  }
};

} // namespace
} // namespace tessel

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
      auto it = args.find(name);
      if (it == args.end()) {
        unsigned index = fn.getNumArguments();
        if (failed(fn.insertArgument(index, op.getType(), {}, op.getLoc()))) {
          op.emitOpError() << "cannot add an argument for weight '" << name << "'";
          return signalPassFailure();
        }
        it = args.emplace(name, fn.getArgument(index)).first;
        names.push_back(StringAttr::get(&getContext(), name));
      } else if (it->second.getType() != op.getType()) {
        op.emitOpError() << "weight '" << name
                         << "' is used with two types: " << it->second.getType() << " and "
                         << op.getType();
        return signalPassFailure();
      }
      op.replaceAllUsesWith(it->second);
      op.erase();
    }
    if (!names.empty())
      fn->setAttr("tessel.weights", ArrayAttr::get(&getContext(), names));
  }
};

} // namespace
} // namespace tessel

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

constexpr char kPrefixAttr[] = "tessel.weight_prefix";

// A weight a function takes as an argument: its name (relative to the
// layer in a block function), its logical type and its storage format.
struct WeightParam {
  std::string name;
  RankedTensorType type;
  std::optional<StringRef> storage;
};

// The argument type of a weight: the tensor itself, or its bytes when it
// has a storage format.
Type argumentType(const WeightParam &w) {
  if (!w.storage)
    return w.type;
  std::optional<StorageBlock> block = storageBlock(*w.storage);
  assert(block && "the verifier checks storage formats");
  return RankedTensorType::get({storageBytes(*block, w.type.getShape())},
                               IntegerType::get(w.type.getContext(), 8));
}

// Per converted function of one module, the weights its trailing arguments
// take.
using TakenWeights = std::map<Operation *, std::vector<WeightParam>>;

struct WeightsToArgumentsPass : impl::TesselWeightsToArgumentsBase<WeightsToArgumentsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Local to this run: a pass instance may run again on another module
    // (tessel-opt --split-input-file), whose functions can reuse addresses.
    TakenWeights taken;
    // Callees first: a call site needs the weights its callee takes. Block
    // functions call nothing that takes weights, entry points call blocks.
    SmallVector<func::FuncOp> leaves, callers;
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      bool calls = false;
      fn.walk([&](func::CallOp call) { calls |= call->hasAttr(kPrefixAttr); });
      (calls ? callers : leaves).push_back(fn);
    }
    for (func::FuncOp fn : leaves)
      if (failed(convert(fn, module, taken)))
        return signalPassFailure();
    for (func::FuncOp fn : callers)
      if (failed(convert(fn, module, taken)))
        return signalPassFailure();
  }

  LogicalResult convert(func::FuncOp fn, ModuleOp module, TakenWeights &taken) {
    std::map<std::string, BlockArgument> args;
    std::vector<WeightParam> params;
    // The argument for weight `w`, added on first use.
    auto argumentFor = [&](const WeightParam &w, Location loc) -> FailureOr<Value> {
      Type type = argumentType(w);
      auto it = args.find(w.name);
      if (it == args.end()) {
        unsigned index = fn.getNumArguments();
        if (failed(fn.insertArgument(index, type, {}, loc)))
          return emitError(loc) << "cannot add an argument for weight '" << w.name << "'";
        it = args.emplace(w.name, fn.getArgument(index)).first;
        params.push_back(w);
      } else if (it->second.getType() != type) {
        return emitError(loc) << "weight '" << w.name
                              << "' is used with two types: " << it->second.getType() << " and "
                              << type;
      }
      return Value(it->second);
    };

    SmallVector<Operation *> ops;
    fn.walk([&](Operation *op) {
      if (isa<WeightOp>(op) || (isa<func::CallOp>(op) && op->hasAttr(kPrefixAttr)))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      if (auto weight = dyn_cast<WeightOp>(op)) {
        WeightParam w{weight.getName().str(), weight.getType(), weight.getStorage()};
        FailureOr<Value> arg = argumentFor(w, weight.getLoc());
        if (failed(arg))
          return failure();
        Value value = *arg;
        // A stored weight arrives as its bytes and is dequantized where it
        // is used (tessel-lower-to-kernels folds that into the kernels).
        if (w.storage) {
          OpBuilder b(weight);
          value = DequantizeOp::create(b, weight.getLoc(), w.type, value, *w.storage);
        }
        weight.replaceAllUsesWith(value);
        weight.erase();
        continue;
      }
      // A call of a block function: its weights, named relative to the
      // layer, are this function's arguments under the call's prefix, passed
      // in the form the block takes them (bytes stay bytes).
      auto call = cast<func::CallOp>(op);
      auto prefix = call->getAttrOfType<StringAttr>(kPrefixAttr);
      auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee());
      if (!prefix || !callee || !taken.count(callee))
        return call.emitOpError() << "has a `" << kPrefixAttr
                                  << "` string but its callee is not a function defined in "
                                     "this module that calls no block itself";
      SmallVector<Value> extra;
      for (WeightParam w : taken[callee]) {
        w.name = prefix.str() + w.name;
        FailureOr<Value> arg = argumentFor(w, call.getLoc());
        if (failed(arg))
          return failure();
        extra.push_back(*arg);
      }
      call.getOperandsMutable().append(extra);
    }
    SmallVector<Attribute> names;
    for (const WeightParam &w : params)
      names.push_back(StringAttr::get(&getContext(), w.name));
    if (!names.empty())
      fn->setAttr("tessel.weights", ArrayAttr::get(&getContext(), names));
    taken[fn] = std::move(params);
    return success();
  }
};

} // namespace
} // namespace tessel

//===- ProfileOps.cpp - time every tessel op ------------------------------===//
//
// See TesselProfileOps in Passes.td.
//
//===----------------------------------------------------------------------===//
#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"
#include "passes/Passes.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELPROFILEOPS
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

constexpr char kTableAttr[] = "tessel.profile_ops";

// The first name in `loc` (NameLoc, possibly inside fused or call-site
// locations), or "".
std::string nameIn(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (std::string s = nameIn(inner); !s.empty())
        return s;
  if (auto call = dyn_cast<CallSiteLoc>(loc))
    return nameIn(call.getCallee());
  return "";
}

// The first file position in `loc`, as file:line:col, or "".
std::string positionIn(Location loc) {
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return file.getFilename().str() + ":" + std::to_string(file.getLine()) + ":" +
           std::to_string(file.getColumn());
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (std::string s = positionIn(inner); !s.empty())
        return s;
  if (auto call = dyn_cast<CallSiteLoc>(loc))
    return positionIn(call.getCallee());
  return "";
}

// What the report calls an op's place in the model: its location's name
// (the frontends name layers and tensors, e.g. blk.0.attn_q), else its
// file position, else nothing.
std::string placeOf(Location loc) {
  std::string name = nameIn(loc);
  return name.empty() ? positionIn(loc) : name;
}

// The private declaration `@name(i64)`, created at the top of the module
// unless it exists (then it must have that type).
FailureOr<func::FuncOp> declare(ModuleOp module, StringRef name) {
  auto type =
      FunctionType::get(module.getContext(), {IntegerType::get(module.getContext(), 64)}, {});
  if (auto existing = module.lookupSymbol<func::FuncOp>(name)) {
    if (existing.getFunctionType() != type)
      return existing.emitOpError() << "is not (i64) -> (), as tessel-profile-ops calls it";
    return existing;
  }
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  auto fn = func::FuncOp::create(b, module.getLoc(), name, type);
  fn.setPrivate();
  return fn;
}

struct ProfileOpsPass : impl::TesselProfileOpsBase<ProfileOpsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (module->hasAttr(kTableAttr))
      return; // profiled already: ids would collide
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      // Weights are bindings, not work (tessel-weights-to-arguments removes
      // them before the CPU pipeline anyway).
      if (isa_and_nonnull<TesselDialect>(op->getDialect()) && !isa<WeightOp>(op))
        ops.push_back(op);
    });
    // Each declaration goes to the top of the module: begin ends up first.
    auto end = declare(module, "tessel_profile_end");
    auto begin = declare(module, "tessel_profile_begin");
    if (failed(begin) || failed(end))
      return signalPassFailure();
    SmallVector<Attribute> table;
    OpBuilder b(&getContext());
    for (Operation *op : ops) {
      const int64_t id = static_cast<int64_t>(table.size());
      std::string name = op->getName().getStringRef().str();
      if (std::string place = placeOf(op->getLoc()); !place.empty())
        name += " @ " + place;
      table.push_back(b.getStringAttr(name));
      b.setInsertionPoint(op);
      Value idValue = arith::ConstantIntOp::create(b, op->getLoc(), id, 64);
      func::CallOp::create(b, op->getLoc(), *begin, ValueRange{idValue});
      b.setInsertionPointAfter(op);
      func::CallOp::create(b, op->getLoc(), *end, ValueRange{idValue});
    }
    module->setAttr(kTableAttr, b.getArrayAttr(table));
  }
};

} // namespace
} // namespace tessel

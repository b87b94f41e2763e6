//===- LinearFusion.cpp ---------------------------------------------------===//
#include "passes/LinearFusion.h"

using namespace mlir;

namespace tessel {

RopeOp ropeAfterLinear(LinearOp linear, tensor::ExpandShapeOp &split) {
  if (!linear.getResult().hasOneUse())
    return nullptr;
  split = dyn_cast<tensor::ExpandShapeOp>(*linear.getResult().getUsers().begin());
  if (!split || !split.getResult().hasOneUse())
    return nullptr;
  auto in = cast<RankedTensorType>(split.getSrc().getType());
  auto reassociation = split.getReassociationIndices();
  if (reassociation.size() != static_cast<size_t>(in.getRank()) || reassociation.back().size() != 2)
    return nullptr;
  for (size_t i = 0; i + 1 < reassociation.size(); ++i)
    if (reassociation[i].size() != 1)
      return nullptr;
  auto rope = dyn_cast<RopeOp>(*split.getResult().getUsers().begin());
  if (!rope || rope.getInput() != split.getResult() || rope.getFreqFactors())
    return nullptr;
  return rope;
}

} // namespace tessel

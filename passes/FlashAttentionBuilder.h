//===- FlashAttentionBuilder.h - FlashAttention's online softmax -*- C++ -*-===//
//
// The pieces of FlashAttention for one tessel.attention op, shared by
// tessel-tile-attention (one loop over every key) and
// tessel-split-kv-attention (one loop per split of the keys, then a
// combine): the grouped view of the query, the running state, the loop over
// K/V tiles of a key range and the final acc / l.
//
// Index names: b batch, i query row, j key within a tile, kv K/V head, g
// query head within its group (h = kv * group + g), d head dim, e value dim.
// The running state of every (b, kv, g, i) row is
//   m   [b, kv, g, i]     the largest score seen so far (-inf: none yet),
//   l   [b, kv, g, i]     sum of exp(score - m) over the keys seen,
//   acc [b, i, kv, g, e]  sum of exp(score - m) * value over the keys seen.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_PASSES_FLASHATTENTIONBUILDER_H
#define TESSEL_PASSES_FLASHATTENTIONBUILDER_H

#include "dialect/TesselOps.h"
#include "mlir/IR/Builders.h"
#include "passes/LinalgBuilder.h"

namespace tessel {

/// The online-softmax state (see the file comment for shapes).
struct SoftmaxState {
  mlir::Value m, l, acc;
};

class FlashAttentionBuilder {
public:
  /// Reads `op`'s shapes and attributes and creates the extents and
  /// constants every piece uses at `b`'s insertion point, which must
  /// therefore dominate everything built later through this object. `b` is
  /// kept by reference: pieces are built at its insertion point when called.
  FlashAttentionBuilder(AttentionOp op, mlir::OpBuilder &b, int64_t kvTileSize);

  /// [b, i, kv, g, d]: the query viewed by K/V head (tensor.expand_shape, no copy).
  mlir::Value groupedQuery();
  /// [b, kv, g, i]: each row's sink logit (sink[h] broadcast over b and i);
  /// null without sinks.
  mlir::Value sinkRows();

  /// The state before any key (m = -inf, l = 0, acc = 0) in new tensors.
  SoftmaxState emptyState();
  /// The same, filled into the given destinations (shapes as in SoftmaxState).
  SoftmaxState emptyState(mlir::Value mInit, mlir::Value lInit, mlir::Value accInit);
  /// The state before any key with the sinks counted (a sink is one more
  /// logit per head: m = sink, l = 1); emptyState() without sinks.
  SoftmaxState initialState();

  /// An scf.for over the keys [begin, end) in tiles of kvTileSize keys,
  /// starting from `init`; returns the state after the last tile. Key
  /// positions are absolute (causal and window tests, mask columns), so any
  /// sub-range of [0, kv_len) can be given.
  SoftmaxState tileLoop(mlir::Value q5, mlir::Value begin, mlir::Value end, SoftmaxState init);

  /// The op's result: acc / l (zeros where l = 0, a row that saw no key),
  /// collapsed back to [b, i, h, e].
  mlir::Value finish(mlir::Value l, mlir::Value acc);

  /// exp(x - max) in a linalg body, 0 where x = -inf: keys that are not
  /// visible and states that saw no key contribute nothing (and never
  /// compute -inf - -inf = NaN).
  mlir::Value expOrZero(mlir::OpBuilder &nb, mlir::Location nl, mlir::Value x, mlir::Value max);

  /// Extents of m and l ([b, kv, g, i]) and of acc ([b, i, kv, g, e]).
  llvm::SmallVector<mlir::Value> rowShape();
  llvm::SmallVector<mlir::Value> accShape();

  LinalgBuilder &linalg() { return lb; }
  mlir::Value batch() const { return batch_; }
  mlir::Value queryLen() const { return qLen; }
  mlir::Value keyLen() const { return kvLen; }
  mlir::Value negInfinity() const { return negInf; }
  mlir::Value zeroF32() const { return zero; }
  int64_t tileSize() const { return tile; }

private:
  SoftmaxState tileStep(mlir::Value q5, mlir::Value t, mlir::Value end, SoftmaxState state);
  mlir::Value slice(mlir::Value x, mlir::Value t, mlir::Value n, int64_t lastDim);

  AttentionOp op;
  mlir::OpBuilder &b;
  mlir::Location loc;
  LinalgBuilder lb;
  int64_t tile, kvHeads = 1, group = 1, headDim = 0, valueDim = 0;
  mlir::Value batch_, qLen, kvLen, scaleValue, negInf, zero;
  mlir::Type f32;
};

} // namespace tessel

#endif // TESSEL_PASSES_FLASHATTENTIONBUILDER_H

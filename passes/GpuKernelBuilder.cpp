//===- GpuKernelBuilder.cpp - the GPU FlashAttention kernels --------------===//
//
// Kernel layouts. Notation: D = head_dim, Dv = v_head_dim, H = num_heads,
// group = H / num_kv_heads (query head h reads K/V head h / group: GQA and
// MQA by indexing, K/V heads are never copied), C = keys per step. Query row
// i sits at absolute position pos(i) = i + kv_len - q_len. Scores are kept
// in base 2: q is multiplied by scale * log2(e) once, so the softmax uses
// exp2 and gives exactly softmax(scale * q.k).
//
// Flash attention (FlashAttention-2; prefill, any q_len):
//   grid  (ceil(q_len / BLOCK_Q), H, batch), block BLOCK_Q * T threads.
//   Thread t serves query row r = t / T of the block's BLOCK_Q rows with
//   lane p = t % T of its T-lane group; the lane owns dims p, p + T,
//   p + 2T, ... of q (D / T values) and of acc (Dv / T values), all in
//   registers (SSA values; loop-carried), so nothing goes to local memory.
//   Interleaved dims make the T lanes of a row read T consecutive words of
//   a K/V tile row while every row of the warp reads the same key: no
//   shared-memory bank conflicts.
//   Shared memory: a K tile [BLOCK_KV, D] and a V tile [BLOCK_KV, Dv]. Per
//   tile: every thread helps load both (consecutive threads, consecutive
//   words: coalesced), gpu.barrier, then each row walks the tile C keys at
//   a time: a partial dot product per lane, summed over the T lanes with
//   gpu.shuffle xor (every lane ends up with the same score), then the
//   online softmax (running max m, running sum l, acc rescaled by
//   exp2(m_old - m_new) once per C keys), then gpu.barrier before the next
//   tile overwrites the buffers.
//   The tiles a block visits are [kv_begin, kv_end): kv_end stops after the
//   block's last row's position when causal, kv_begin starts at its first
//   row's window; keys outside a row's own range inside those tiles are
//   masked. So causal prefill does about half the work, a window a band.
//
// Flash decoding (split-KV; q_len <= a few tokens):
//   grid (splits, H, batch * q_len), block NT threads, lane groups of T.
//   A block reduces one contiguous range of the keys its query row sees
//   (the row's visible range [lo, hi) cut into `splits` equal chunks). The
//   NT / T lane groups take C consecutive keys each, side by side, straight
//   from global memory (a decode block uses every key once: staging it in
//   shared memory buys nothing); T lanes split a key's D dims as above.
//   Each group keeps its own (m, l, acc); the groups then meet in shared
//   memory (m, l [NT / T], acc [NT / T, Dv]) and merge into the block's
//   partial state, written to the workspace: ws_m, ws_l [b * q_len, H, S],
//   ws_acc [b * q_len, H, S, Dv] (acc not yet divided by l).
// Combine: grid (H, batch * q_len), block Dv threads (whole warps); thread e
//   merges value dim e over the splits: M = max_s m_s, w_s = exp2(m_s - M),
//   out = sum_s w_s acc_s / sum_s w_s l_s.
//
// Sizes (the pass options' defaults, for head_dim 64 and 128): BLOCK_Q =
// 64 rows share every K/V element loaded from global memory (64 FMAs per
// load); T = 4 lanes per row keep q and acc in registers (2 * D / 4: 64
// values at D = 128; one lane per row would need 256 and spill) for 2
// shuffles per key; 64 * 4 = 256 threads = 8 warps per block. BLOCK_KV =
// 32 keys makes the K and V tiles 32 KiB at D = 128 (under the 48 KiB of
// static shared memory; ptxas: 127 registers, no spills, so two blocks per
// SM); 16 KiB at D = 64. C = 8 keys per step amortises the rescale of acc
// over 8 keys. Decode: 128 threads in groups of 8 lanes (the 8 lanes read
// 8 consecutive floats of a key row, a 32-byte sector, per load), C = 4
// keys per step so that the step's K and V loads (all in flight at once,
// which is what hides memory latency) fit in registers.
//
// -inf: a masked key scores -inf and m starts at -inf. Exponents are
// always taken against m_safe = (m_new == -inf ? 0 : m_new), so a row or
// group that has seen no key yet gets exp2(-inf) = 0 everywhere and never
// computes -inf - -inf = NaN; l stays 0 and the output is 0 (a row that
// sees no key yields zeros). Keys past a range's end are loaded from a
// clamped, in-bounds position (finite data) and masked, so p = 0 multiplies
// finite values only.
//
// Barriers: every gpu.barrier is at the top level of the kernel or of the
// K/V tile loop, whose bounds depend only on block ids and extents; every
// gpu.shuffle runs in loops with block-uniform bounds. Threads of query
// rows past q_len load a clamped row, take part in everything, and skip
// only the final store.
//
//===----------------------------------------------------------------------===//
#include "passes/GpuKernelBuilder.h"
#include "passes/GpuEmitter.h"

#include <cmath>
#include <limits>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;

namespace tessel {
namespace {

constexpr double kLog2e = 1.4426950408889634;
constexpr int32_t kWarpSize = 32;

// The attention kernels' builders: GpuEmitter's, and the online softmax's.
class Emitter : public GpuEmitter {
public:
  using GpuEmitter::GpuEmitter;

  Value negInf() { return f32(-std::numeric_limits<double>::infinity()); }
  Value ceilDiv(Value x, Value y) { return arith::CeilDivSIOp::create(b, loc, x, y); }
  Value clamp(Value x, int64_t lo, Value hi) { return min(max(x, idx(lo)), hi); }
  Value le(Value x, Value y) { return cmp(arith::CmpIPredicate::sle, x, y); }
  Value ge(Value x, Value y) { return cmp(arith::CmpIPredicate::sge, x, y); }
  Value eq(Value x, Value y) { return cmp(arith::CmpIPredicate::eq, x, y); }
  Value both(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }

  Value subf(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value maxf(Value x, Value y) { return arith::MaxNumFOp::create(b, loc, x, y); }
  Value exp2(Value x) { return math::Exp2Op::create(b, loc, x); }
  Value isNegInf(Value x) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, negInf());
  }
  /// m, or 0 when m = -inf: the reference exponents are taken against.
  Value safeMax(Value m) {
    Value none = isNegInf(m);
    return select(none, f32(0.0), m);
  }
  /// 1 / l, or 0 when l = 0 (nothing seen: the output is zeros).
  Value safeInverse(Value l) {
    Value seen = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, l, f32(0.0));
    Value inverse = arith::DivFOp::create(b, loc, f32(1.0), l);
    return select(seen, inverse, f32(0.0));
  }

  /// x plus its value in the lane `offset` away (xor): after offsets 1, 2,
  /// ..., lanes/2 every lane of an aligned group of `lanes` holds the
  /// group's sum. Float addition commutes, so all lanes get the same bits.
  Value sumOverLanes(Value x, int64_t lanes) {
    for (int64_t off = 1; off < lanes; off *= 2) {
      auto s = gpu::ShuffleOp::create(b, loc, x, static_cast<int32_t>(off), kWarpSize,
                                      gpu::ShuffleMode::XOR);
      x = addf(x, s.getShuffleResult());
    }
    return x;
  }

  using LoopBody = llvm::function_ref<SmallVector<Value>(Value iv, ValueRange iterArgs)>;
  /// scf.for whose body is built by `body` at `b` (which returns the yield).
  SmallVector<Value> forLoop(Value lb, Value ub, Value step, ValueRange init, LoopBody body) {
    auto op = scf::ForOp::create(
        b, loc, lb, ub, step, init, [&](OpBuilder &nb, Location, Value iv, ValueRange args) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          SmallVector<Value> yielded = body(iv, args);
          scf::YieldOp::create(b, loc, yielded);
        });
    return SmallVector<Value>(op.getResults());
  }
  /// for i in [0, n): acc = step(i, acc), from `init`; returns acc.
  Value reduce(Value n, Value init, llvm::function_ref<Value(Value i, Value acc)> step) {
    Value zero = idx(0), one = idx(1);
    return forLoop(zero, n, one, init, [&](Value i, ValueRange acc) -> SmallVector<Value> {
      return {step(i, acc[0])};
    })[0];
  }
  /// for i = first; i < end; i += stride: body(i) (a block-strided loop).
  void strided(Value first, int64_t end, int64_t stride, llvm::function_ref<void(Value i)> body) {
    Value last = idx(end), step = idx(stride);
    forLoop(first, last, step, {}, [&](Value i, ValueRange) -> SmallVector<Value> {
      body(i);
      return {};
    });
  }
};

/// The online-softmax state of one query row (or lane group), in registers:
/// m and l, and this lane's Dv / T accumulator values.
struct RowState {
  Value m, l;
  SmallVector<Value> acc;

  SmallVector<Value> pack() const {
    SmallVector<Value> all = {m, l};
    all.append(acc.begin(), acc.end());
    return all;
  }
  static RowState unpack(ValueRange all) {
    return {all[0], all[1], SmallVector<Value>(all.drop_front(2))};
  }
  static RowState empty(Emitter &e, int64_t accValues) {
    return {e.negInf(), e.f32(0.0), SmallVector<Value>(accValues, e.f32(0.0))};
  }
};

using KeyPredicate = llvm::function_ref<Value(int64_t c)>;
using KeyElement = llvm::function_ref<Value(int64_t c, int64_t k)>;

/// One online-softmax step over `keys` keys: key c's scaled score is
/// sum_k q[k] * keyAt(c, k) over this lane's dims, summed over the `lanes`
/// lanes, -inf unless valid(c); then m, l and acc take in the C keys with
/// one rescale. valueAt(c, k) is the lane's k-th value dim of key c.
RowState keyStep(Emitter &e, const RowState &st, ArrayRef<Value> q, int64_t lanes, int64_t keys,
                 KeyPredicate valid, KeyElement keyAt, KeyElement valueAt) {
  SmallVector<Value> scores;
  for (int64_t c = 0; c < keys; ++c) {
    Value dot = e.mulf(q[0], keyAt(c, 0));
    for (size_t k = 1; k < q.size(); ++k)
      dot = e.fma(q[k], keyAt(c, k), dot);
    dot = e.sumOverLanes(dot, lanes);
    scores.push_back(e.select(valid(c), dot, e.negInf()));
  }
  Value mNew = st.m;
  for (Value s : scores)
    mNew = e.maxf(mNew, s);
  Value ref = e.safeMax(mNew);
  Value alpha = e.exp2(e.subf(st.m, ref)); // 0 while nothing was seen
  SmallVector<Value> p;
  Value l = e.mulf(st.l, alpha);
  for (Value s : scores) {
    p.push_back(e.exp2(e.subf(s, ref))); // 0 for masked keys
    l = e.addf(l, p.back());
  }
  RowState next{mNew, l, {}};
  for (size_t k = 0; k < st.acc.size(); ++k) {
    Value a = e.mulf(st.acc[k], alpha);
    for (int64_t c = 0; c < keys; ++c)
      a = e.fma(p[c], valueAt(c, static_cast<int64_t>(k)), a);
    next.acc.push_back(a);
  }
  return next;
}

MemRefType stridedType(MLIRContext *ctx, ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), ShapedType::kDynamic);
  return MemRefType::get(shape, Float32Type::get(ctx),
                         StridedLayoutAttr::get(ctx, ShapedType::kDynamic, strides));
}

MemRefType sharedType(MLIRContext *ctx, ArrayRef<int64_t> shape) {
  return MemRefType::get(shape, Float32Type::get(ctx), MemRefLayoutAttrInterface{},
                         gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup));
}

/// An empty kernel `name` taking `args`, with `threads` threads per block
/// (known_block_size lets the backend use the bound; it also becomes
/// .maxntid in the PTX). Returns it with `b` at the start of its body,
/// before the gpu.return.
gpu::GPUFuncOp makeKernel(OpBuilder &b, Location loc, StringRef name, TypeRange args,
                          TypeRange workgroup, int64_t threads) {
  auto fn = gpu::GPUFuncOp::create(b, loc, name, b.getFunctionType(args, {}), workgroup);
  fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  fn.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  b.setInsertionPointToStart(&fn.front());
  auto ret = gpu::ReturnOp::create(b, loc);
  b.setInsertionPoint(ret);
  return fn;
}

/// The lane's dims: lane, lane + lanes, lane + 2 * lanes, ... below `dim`.
SmallVector<Value> laneDims(Emitter &e, Value lane, int64_t lanes, int64_t dim) {
  SmallVector<Value> dims;
  for (int64_t k = 0; k < dim / lanes; ++k)
    dims.push_back(e.add(lane, k * lanes));
  return dims;
}

/// q[batch, row, head, d] * scale * log2(e) for the lane's dims.
SmallVector<Value> loadScaledQuery(Emitter &e, Value q, Value batch, Value row, Value head,
                                   ArrayRef<Value> dims, double scale) {
  Value factor = e.f32(scale * kLog2e);
  SmallVector<Value> values;
  for (Value d : dims)
    values.push_back(e.mulf(e.load(q, {batch, row, head, d}), factor));
  return values;
}

struct LaunchFuncMemoryEffects
    : MemoryEffectOpInterface::ExternalModel<LaunchFuncMemoryEffects, gpu::LaunchFuncOp> {
  void
  getEffects(Operation *op,
             SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>> &effects) const {
    for (OpOperand &operand : op->getOpOperands()) {
      if (!isa<BaseMemRefType>(operand.get().getType()))
        continue;
      effects.emplace_back(MemoryEffects::Read::get(), &operand);
      effects.emplace_back(MemoryEffects::Write::get(), &operand);
    }
    effects.emplace_back(MemoryEffects::Write::get());
  }
};

} // namespace

void registerGpuLaunchMemoryEffects(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, gpu::GPUDialect *) {
    gpu::LaunchFuncOp::attachInterface<LaunchFuncMemoryEffects>(*ctx);
  });
}

int64_t combineThreads(const AttentionKernelSpec &spec) {
  return (spec.valueDim + kWarpSize - 1) / kWarpSize * kWarpSize;
}

MemRefType queryArgType(MLIRContext *ctx, const AttentionKernelSpec &spec) {
  return stridedType(ctx, {ShapedType::kDynamic, ShapedType::kDynamic, spec.heads, spec.headDim});
}
MemRefType keyArgType(MLIRContext *ctx, const AttentionKernelSpec &spec) {
  return stridedType(ctx, {ShapedType::kDynamic, ShapedType::kDynamic, spec.kvHeads, spec.headDim});
}
MemRefType valueArgType(MLIRContext *ctx, const AttentionKernelSpec &spec) {
  return stridedType(ctx,
                     {ShapedType::kDynamic, ShapedType::kDynamic, spec.kvHeads, spec.valueDim});
}
MemRefType outputArgType(MLIRContext *ctx, const AttentionKernelSpec &spec) {
  return MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic, spec.heads, spec.valueDim},
                         Float32Type::get(ctx));
}
MemRefType workspaceRowType(MLIRContext *ctx, const AttentionKernelSpec &spec) {
  return MemRefType::get({ShapedType::kDynamic, spec.heads, ShapedType::kDynamic},
                         Float32Type::get(ctx));
}
MemRefType workspaceAccType(MLIRContext *ctx, const AttentionKernelSpec &spec) {
  return MemRefType::get({ShapedType::kDynamic, spec.heads, ShapedType::kDynamic, spec.valueDim},
                         Float32Type::get(ctx));
}

gpu::GPUFuncOp buildFlashAttentionKernel(OpBuilder &b, Location loc, StringRef name,
                                         const AttentionKernelSpec &spec,
                                         const PrefillLayout &layout) {
  MLIRContext *ctx = b.getContext();
  const int64_t lanes = layout.threadsPerRow, blockQ = layout.blockQ, blockKv = layout.blockKv;
  const int64_t threads = layout.threads(), group = spec.heads / spec.kvHeads;
  const int64_t steps = layout.keysPerStep;
  OpBuilder::InsertionGuard guard(b);
  auto fn = makeKernel(
      b, loc, name,
      {queryArgType(ctx, spec), keyArgType(ctx, spec), valueArgType(ctx, spec),
       outputArgType(ctx, spec)},
      {sharedType(ctx, {blockKv, spec.headDim}), sharedType(ctx, {blockKv, spec.valueDim})},
      threads);
  Emitter e(b, loc);
  Value q = fn.getArgument(0), k = fn.getArgument(1), v = fn.getArgument(2),
        out = fn.getArgument(3);
  Value kTile = fn.getWorkgroupAttributions()[0], vTile = fn.getWorkgroupAttributions()[1];

  Value qBlock = e.blockId(gpu::Dimension::x), head = e.blockId(gpu::Dimension::y),
        batch = e.blockId(gpu::Dimension::z), tid = e.threadId();
  Value row = e.divu(tid, lanes), lane = e.remu(tid, lanes);
  Value kvHead = e.divu(head, group);
  Value qLen = e.dim(q, 1), kvLen = e.dim(k, 1);
  Value offset = e.sub(kvLen, qLen);
  Value firstRow = e.mul(qBlock, blockQ);
  Value i = e.add(firstRow, row);
  Value pos = e.add(i, offset);

  // The block's tiles: [kvBegin, kvEnd), the same for all its threads.
  Value kvEnd = kvLen, kvBegin = e.idx(0);
  if (spec.causal) {
    Value lastRow = e.sub(e.min(e.add(firstRow, blockQ), qLen), 1);
    kvEnd = e.clamp(e.add(e.add(lastRow, offset), 1), 0, kvLen);
  }
  Value windowLo; // a row's oldest visible key: pos - (W - 1)
  if (spec.window) {
    windowLo = e.sub(pos, *spec.window - 1);
    Value oldest = e.sub(e.add(firstRow, offset), *spec.window - 1);
    kvBegin = e.max(oldest, e.idx(0));
  }

  SmallVector<Value> qDims = laneDims(e, lane, lanes, spec.headDim);
  SmallVector<Value> vDims = laneDims(e, lane, lanes, spec.valueDim);
  // Rows past q_len compute on the last row and store nothing.
  Value qRow = e.min(i, e.sub(qLen, 1));
  SmallVector<Value> qv = loadScaledQuery(e, q, batch, qRow, head, qDims, spec.scale);

  RowState init = RowState::empty(e, static_cast<int64_t>(vDims.size()));
  SmallVector<Value> last =
      e.forLoop(kvBegin, kvEnd, e.idx(blockKv), init.pack(), [&](Value t, ValueRange state) {
        Value rest = e.sub(kvEnd, t);
        Value n = e.min(e.idx(blockKv), rest); // keys of this tile (>= 1)
        Value lastKey = e.add(t, e.sub(n, 1));
        // Whole tile, cooperatively; rows past n repeat key lastKey (in
        // bounds, finite, and masked below).
        auto loadTile = [&](Value src, Value tile, int64_t dim) {
          e.strided(tid, blockKv * dim, threads, [&](Value at) {
            Value jj = e.divu(at, dim), d = e.remu(at, dim);
            Value key = e.min(e.add(t, jj), lastKey);
            e.store(e.load(src, {batch, key, kvHead, d}), tile, {jj, d});
          });
        };
        loadTile(k, kTile, spec.headDim);
        loadTile(v, vTile, spec.valueDim);
        e.barrier();
        Value zero = e.idx(0), step = e.idx(steps);
        SmallVector<Value> next = e.forLoop(zero, n, step, state, [&](Value c0, ValueRange st) {
          SmallVector<Value> jj, valid;
          for (int64_t c = 0; c < steps; ++c) {
            jj.push_back(e.add(c0, c));
            Value j = e.add(t, jj.back());
            Value ok = e.lt(jj.back(), n);
            if (spec.causal)
              ok = e.both(ok, e.le(j, pos));
            if (spec.window)
              ok = e.both(ok, e.ge(j, windowLo));
            valid.push_back(ok);
          }
          RowState s = keyStep(
              e, RowState::unpack(st), qv, lanes, steps, [&](int64_t c) { return valid[c]; },
              [&](int64_t c, int64_t kk) {
                return e.load(kTile, {jj[c], qDims[kk]});
              },
              [&](int64_t c, int64_t kk) {
                return e.load(vTile, {jj[c], vDims[kk]});
              });
          return s.pack();
        });
        // Everyone is done with the tile before the next one overwrites it.
        e.barrier();
        return next;
      });

  RowState fin = RowState::unpack(last);
  e.ifThen(e.lt(i, qLen), [&] {
    Value inv = e.safeInverse(fin.l);
    for (size_t kk = 0; kk < vDims.size(); ++kk)
      e.store(e.mulf(fin.acc[kk], inv), out, {batch, i, head, vDims[kk]});
  });
  return fn;
}

gpu::GPUFuncOp buildFlashDecodingKernel(OpBuilder &b, Location loc, StringRef name,
                                        const AttentionKernelSpec &spec,
                                        const DecodeLayout &layout) {
  MLIRContext *ctx = b.getContext();
  const int64_t lanes = layout.threadsPerKey, threads = layout.threads;
  const int64_t groups = layout.keyGroups(), group = spec.heads / spec.kvHeads;
  const int64_t steps = layout.keysPerStep;
  OpBuilder::InsertionGuard guard(b);
  auto fn = makeKernel(b, loc, name,
                       {queryArgType(ctx, spec), keyArgType(ctx, spec), valueArgType(ctx, spec),
                        workspaceRowType(ctx, spec), workspaceRowType(ctx, spec),
                        workspaceAccType(ctx, spec)},
                       {sharedType(ctx, {groups}), sharedType(ctx, {groups}),
                        sharedType(ctx, {groups, spec.valueDim})},
                       threads);
  Emitter e(b, loc);
  Value q = fn.getArgument(0), k = fn.getArgument(1), v = fn.getArgument(2);
  Value wsM = fn.getArgument(3), wsL = fn.getArgument(4), wsAcc = fn.getArgument(5);
  auto shared = fn.getWorkgroupAttributions();
  Value smM = shared[0], smL = shared[1], smAcc = shared[2];

  Value split = e.blockId(gpu::Dimension::x), head = e.blockId(gpu::Dimension::y),
        rowId = e.blockId(gpu::Dimension::z), tid = e.threadId();
  Value grp = e.divu(tid, lanes), lane = e.remu(tid, lanes);
  Value kvHead = e.divu(head, group);
  Value qLen = e.dim(q, 1), kvLen = e.dim(k, 1), splits = e.dim(wsM, 2);
  Value batch = e.divu(rowId, qLen), i = e.remu(rowId, qLen);
  Value pos = e.add(i, e.sub(kvLen, qLen));

  // The keys this row sees, [lo, hi), and this split's share of them.
  Value hi = kvLen, lo = e.idx(0);
  if (spec.causal)
    hi = e.clamp(e.add(pos, 1), 0, kvLen);
  if (spec.window)
    lo = e.clamp(e.sub(pos, *spec.window - 1), 0, hi);
  Value chunk = e.ceilDiv(e.sub(hi, lo), splits);
  Value begin = e.min(e.add(lo, e.mul(split, chunk)), hi);
  Value end = e.min(e.add(begin, chunk), hi);

  SmallVector<Value> qDims = laneDims(e, lane, lanes, spec.headDim);
  SmallVector<Value> vDims = laneDims(e, lane, lanes, spec.valueDim);
  SmallVector<Value> qv = loadScaledQuery(e, q, batch, i, head, qDims, spec.scale);

  // Group g takes keys base + g * C + c; the bounds are the block's, so
  // the shuffles inside run with every lane of every warp.
  RowState init = RowState::empty(e, static_cast<int64_t>(vDims.size()));
  SmallVector<Value> last =
      e.forLoop(begin, end, e.idx(groups * steps), init.pack(), [&](Value base, ValueRange st) {
        Value first = e.add(base, e.mul(grp, steps));
        Value lastKey = e.sub(end, 1);
        SmallVector<Value> key, valid;
        for (int64_t c = 0; c < steps; ++c) {
          Value j = e.add(first, c);
          valid.push_back(e.lt(j, end));
          key.push_back(e.min(j, lastKey)); // in bounds; masked when past end
        }
        RowState s = keyStep(
            e, RowState::unpack(st), qv, lanes, steps, [&](int64_t c) { return valid[c]; },
            [&](int64_t c, int64_t kk) {
              return e.load(k, {batch, key[c], kvHead, qDims[kk]});
            },
            [&](int64_t c, int64_t kk) {
              return e.load(v, {batch, key[c], kvHead, vDims[kk]});
            });
        return s.pack();
      });

  // Merge the groups' states through shared memory.
  RowState mine = RowState::unpack(last);
  e.ifThen(e.eq(lane, e.idx(0)), [&] {
    e.store(mine.m, smM, {grp});
    e.store(mine.l, smL, {grp});
  });
  for (size_t kk = 0; kk < vDims.size(); ++kk)
    e.store(mine.acc[kk], smAcc, {grp, vDims[kk]});
  e.barrier();

  Value numGroups = e.idx(groups);
  Value m = e.reduce(numGroups, e.negInf(),
                     [&](Value g, Value acc) { return e.maxf(acc, e.load(smM, {g})); });
  Value ref = e.safeMax(m);
  // exp2(m_g - M) * x: a group that saw no key has m_g = -inf, weight 0.
  auto weighted = [&](Value g, Value x, Value acc) {
    Value w = e.exp2(e.subf(e.load(smM, {g}), ref));
    return e.fma(w, x, acc);
  };
  e.strided(tid, spec.valueDim, threads, [&](Value d) {
    Value a = e.reduce(numGroups, e.f32(0.0), [&](Value g, Value acc) {
      return weighted(g, e.load(smAcc, {g, d}), acc);
    });
    e.store(a, wsAcc, {rowId, head, split, d});
  });
  e.ifThen(e.eq(tid, e.idx(0)), [&] {
    Value l = e.reduce(numGroups, e.f32(0.0),
                       [&](Value g, Value acc) { return weighted(g, e.load(smL, {g}), acc); });
    e.store(m, wsM, {rowId, head, split});
    e.store(l, wsL, {rowId, head, split});
  });
  return fn;
}

gpu::GPUFuncOp buildFlashDecodingCombineKernel(OpBuilder &b, Location loc, StringRef name,
                                               const AttentionKernelSpec &spec) {
  MLIRContext *ctx = b.getContext();
  const int64_t threads = combineThreads(spec);
  OpBuilder::InsertionGuard guard(b);
  auto fn = makeKernel(b, loc, name,
                       {workspaceRowType(ctx, spec), workspaceRowType(ctx, spec),
                        workspaceAccType(ctx, spec), outputArgType(ctx, spec)},
                       {}, threads);
  Emitter e(b, loc);
  Value wsM = fn.getArgument(0), wsL = fn.getArgument(1), wsAcc = fn.getArgument(2),
        out = fn.getArgument(3);
  Value head = e.blockId(gpu::Dimension::x), rowId = e.blockId(gpu::Dimension::y),
        tid = e.threadId();
  Value qLen = e.dim(out, 1), splits = e.dim(wsM, 2);
  Value batch = e.divu(rowId, qLen), i = e.remu(rowId, qLen);

  Value m = e.reduce(splits, e.negInf(), [&](Value s, Value acc) {
    return e.maxf(acc, e.load(wsM, {rowId, head, s}));
  });
  Value ref = e.safeMax(m);
  // exp2(m_s - M) * x: a split that saw no key has m_s = -inf, weight 0.
  auto weighted = [&](Value s, Value x, Value acc) {
    Value w = e.exp2(e.subf(e.load(wsM, {rowId, head, s}), ref));
    return e.fma(w, x, acc);
  };
  Value l = e.reduce(splits, e.f32(0.0), [&](Value s, Value acc) {
    return weighted(s, e.load(wsL, {rowId, head, s}), acc);
  });
  Value inv = e.safeInverse(l);
  e.strided(tid, spec.valueDim, threads, [&](Value d) {
    Value a = e.reduce(splits, e.f32(0.0), [&](Value s, Value acc) {
      return weighted(s, e.load(wsAcc, {rowId, head, s, d}), acc);
    });
    e.store(e.mulf(a, inv), out, {batch, i, head, d});
  });
  return fn;
}

} // namespace tessel

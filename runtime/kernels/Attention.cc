//===- Attention.cc - flash-attention policy and dispatch -----------------===//
//
// Work items are (batch, KV head, block of query positions); each runs the
// tile over its visible key range. Items are handed out dynamically, which
// balances causal prefill (later blocks see more keys). When there are fewer
// items than threads (decode) and the context is long, each item's key range
// is also split (flash-decoding) and the partial states are combined.
//
//===----------------------------------------------------------------------===//
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/Attention.cc"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/highway.h"
#include "runtime/kernels/attention-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tessel::kernels::HWY_NAMESPACE {

void FlashTile(const TileArgs &t) { FlashTileImpl(t); }

void FlashFinalize(int64_t rows, int64_t vDim, const float *l, const float *acc, int64_t accStride,
                   float *out, int64_t outStride) {
  for (int64_t r = 0; r < rows; ++r)
    FinalizeRow(vDim, l[r], acc + r * accStride, out + r * outStride);
}

// Partial states laid out as in tessel_flash_combine_f32; row r goes to outRows[r].
void FlashCombine(int64_t splits, int64_t rows, int64_t vDim, const float *m, const float *l,
                  const float *acc, float *const *outRows) {
  for (int64_t r = 0; r < rows; ++r)
    CombineRow(splits, vDim, m + r, l + r, rows, acc + r * vDim, rows * vDim, outRows[r]);
}

void AttentionBlock(const AttentionArgs &a, int64_t b, int64_t kvh, int64_t i0, int64_t i1,
                    int64_t j0, int64_t j1, bool withSinks, float *m, float *l, float *acc,
                    bool finalize) {
  AttentionBlockImpl(a, b, kvh, i0, i1, j0, j1, withSinks, m, l, acc, finalize);
}

} // namespace tessel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/kernels/ThreadPool.h"

namespace tessel::kernels {
HWY_EXPORT(FlashTile);
HWY_EXPORT(FlashFinalize);
HWY_EXPORT(FlashCombine);
HWY_EXPORT(AttentionBlock);

namespace {
int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
} // namespace

void attention(const AttentionArgs &args, ThreadPool *pool) {
  AttentionArgs a = args;
  if (a.batch <= 0 || a.qLen <= 0 || a.numHeads <= 0 || a.vHeadDim <= 0)
    return;
  if (a.numKvHeads <= 0 || a.numHeads % a.numKvHeads != 0)
    return; // verifier's job
  if (a.scale == 0.0f)
    a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(a.headDim)));
  const int64_t group = a.numHeads / a.numKvHeads;
  // Positions per block, so that a block has about kAttentionRows rows.
  const int64_t qBlock = std::max<int64_t>(1, kAttentionRows / group);
  const int64_t qBlocks = ceilDiv(a.qLen, qBlock);
  const int64_t items = a.batch * a.numKvHeads * qBlocks;
  const int64_t threads = pool ? pool->numThreads() : 1;
  const int64_t rowsMax = std::min(qBlock, a.qLen) * group;
  auto block = HWY_DYNAMIC_DISPATCH(AttentionBlock);

  auto decode = [&](int64_t item, int64_t &b, int64_t &kvh, int64_t &i0, int64_t &i1) {
    const int64_t qb = item % qBlocks;
    kvh = (item / qBlocks) % a.numKvHeads;
    b = item / (qBlocks * a.numKvHeads);
    i0 = qb * qBlock;
    i1 = std::min(a.qLen, i0 + qBlock);
  };

  int64_t splits = 1;
  if (items < threads)
    splits = std::min(ceilDiv(threads, items), a.kvLen / kMinKeysPerSplit);
  if (splits <= 1) {
    auto run = [&](int64_t item) {
      int64_t b, kvh, i0, i1;
      decode(item, b, kvh, i0, i1);
      const int64_t R = (i1 - i0) * group;
      float *state = scratchOf<float>(Scratch::kAttnState, R * (2 + a.vHeadDim));
      block(a, b, kvh, i0, i1, 0, a.kvLen, true, state, state + R, state + 2 * R, true);
    };
    if (!pool) {
      for (int64_t i = 0; i < items; ++i)
        run(i);
    } else if (qBlocks > 1) {
      pool->run(items, run); // causal blocks differ in cost: balance them
    } else {
      // Decode: equal items. Thread t always takes the same contiguous
      // range of KV heads, so it finds them in its own caches next step.
      const int64_t tasks = std::min(threads, items);
      pool->runPinned(tasks, [&](int64_t t) {
        for (int64_t i = items * t / tasks; i < items * (t + 1) / tasks; ++i)
          run(i);
      });
    }
    return;
  }

  // Flash-decoding: split s of an item covers keys [s*span, (s+1)*span);
  // partial states per item: m[splits][R], l[splits][R], acc[splits][R][vd].
  const int64_t tile = a.kvTile > 0 ? a.kvTile : TESSEL_ATTENTION_KV_TILE;
  const int64_t span = ceilDiv(ceilDiv(a.kvLen, splits), tile) * tile;
  const int64_t perItem = splits * rowsMax * (2 + a.vHeadDim);
  std::vector<float> partial(items * perItem);
  auto partialOf = [&](int64_t item, int64_t R, float *&m, float *&l, float *&acc) {
    float *base = partial.data() + item * perItem;
    m = base;
    l = base + splits * R;
    acc = base + 2 * splits * R;
  };
  pool->runPinned(items * splits, [&](int64_t task) {
    const int64_t item = task / splits, s = task % splits;
    int64_t b, kvh, i0, i1;
    decode(item, b, kvh, i0, i1);
    const int64_t R = (i1 - i0) * group;
    float *m, *l, *acc;
    partialOf(item, R, m, l, acc);
    const int64_t j0 = std::min(a.kvLen, s * span), j1 = std::min(a.kvLen, (s + 1) * span);
    block(a, b, kvh, i0, i1, j0, j1, s == 0, m + s * R, l + s * R, acc + s * R * a.vHeadDim, false);
  });
  std::vector<float *> outRows(rowsMax);
  for (int64_t item = 0; item < items; ++item) {
    int64_t b, kvh, i0, i1;
    decode(item, b, kvh, i0, i1);
    const int64_t R = (i1 - i0) * group;
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t g = 0; g < group; ++g)
        outRows[(i - i0) * group + g] =
            a.out + b * a.outBatchStride + i * a.outRowStride + (kvh * group + g) * a.vHeadDim;
    float *m, *l, *acc;
    partialOf(item, R, m, l, acc);
    HWY_DYNAMIC_DISPATCH(FlashCombine)(splits, R, a.vHeadDim, m, l, acc, outRows.data());
  }
}

} // namespace tessel::kernels

extern "C" {

void tessel_attention_f32(int64_t batch, int64_t q_len, int64_t kv_len, int64_t num_heads,
                          int64_t num_kv_heads, int64_t head_dim, int64_t v_head_dim,
                          const float *q, int64_t q_bs, int64_t q_rs, const float *k, int64_t k_bs,
                          int64_t k_rs, const float *v, int64_t v_bs, int64_t v_rs,
                          const uint8_t *mask, int64_t mask_bs, int64_t mask_rs, const float *sinks,
                          int causal, int64_t window, float scale, int64_t kv_tile, float *out,
                          int64_t out_bs, int64_t out_rs) {
  tessel::kernels::AttentionArgs a;
  a.batch = batch, a.qLen = q_len, a.kvLen = kv_len, a.numHeads = num_heads;
  a.numKvHeads = num_kv_heads, a.headDim = head_dim, a.vHeadDim = v_head_dim;
  a.q = q, a.qBatchStride = q_bs, a.qRowStride = q_rs;
  a.k = k, a.kBatchStride = k_bs, a.kRowStride = k_rs;
  a.v = v, a.vBatchStride = v_bs, a.vRowStride = v_rs;
  a.mask = mask, a.maskBatchStride = mask_bs, a.maskRowStride = mask_rs;
  a.sinks = sinks, a.causal = causal != 0, a.window = window, a.scale = scale;
  a.kvTile = kv_tile;
  a.out = out, a.outBatchStride = out_bs, a.outRowStride = out_rs;
  tessel::kernels::attention(a, &tessel::kernels::ThreadPool::global());
}

void tessel_flash_init_f32(int64_t rows, int64_t v_dim, float *m, float *l, float *acc,
                           int64_t acc_stride) {
  for (int64_t r = 0; r < rows; ++r) {
    m[r] = -std::numeric_limits<float>::infinity();
    l[r] = 0.0f;
    std::fill(acc + r * acc_stride, acc + r * acc_stride + v_dim, 0.0f);
  }
}

void tessel_flash_tile_f32(int64_t rows, int64_t keys, int64_t head_dim, int64_t v_dim,
                           const float *q, int64_t q_stride, const float *k, int64_t k_stride,
                           const float *v, int64_t v_stride, float scale, const int64_t *q_pos,
                           int64_t k_pos0, int causal, int64_t window, const uint8_t *mask,
                           int64_t mask_stride, float *m, float *l, float *acc,
                           int64_t acc_stride) {
  using namespace tessel::kernels;
  if (rows <= 0 || keys <= 0)
    return;
  TileArgs t;
  t.rows = rows, t.keys = keys, t.headDim = head_dim, t.vDim = v_dim;
  t.q = q, t.qStride = q_stride, t.k = k, t.kStride = k_stride, t.v = v, t.vStride = v_stride;
  t.scale = scale, t.qPos = q_pos, t.kPos0 = k_pos0, t.causal = causal != 0, t.window = window;
  t.m = m, t.l = l, t.acc = acc, t.accStride = acc_stride;
  std::vector<const uint8_t *> maskRows;
  if (mask) {
    maskRows.resize(rows);
    for (int64_t r = 0; r < rows; ++r)
      maskRows[r] = mask + r * mask_stride;
    t.maskRows = maskRows.data();
  }
  HWY_DYNAMIC_DISPATCH(FlashTile)(t);
}

void tessel_flash_finalize_f32(int64_t rows, int64_t v_dim, const float *l, const float *acc,
                               int64_t acc_stride, float *out, int64_t out_stride) {
  using namespace tessel::kernels;
  if (rows <= 0 || v_dim <= 0)
    return;
  HWY_DYNAMIC_DISPATCH(FlashFinalize)(rows, v_dim, l, acc, acc_stride, out, out_stride);
}

void tessel_flash_combine_f32(int64_t splits, int64_t rows, int64_t v_dim, const float *m,
                              const float *l, const float *acc, float *out, int64_t out_stride) {
  using namespace tessel::kernels;
  if (rows <= 0 || v_dim <= 0)
    return;
  std::vector<float *> outRows(rows);
  for (int64_t r = 0; r < rows; ++r)
    outRows[r] = out + r * out_stride;
  HWY_DYNAMIC_DISPATCH(FlashCombine)(splits, rows, v_dim, m, l, acc, outRows.data());
}

} // extern "C"
#endif // HWY_ONCE

//===- ModelToIR.cpp - ModelConfig -> tessel IR ---------------------------===//
#include "frontends/ModelToIR.h"

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"

namespace tessel::frontends {

using namespace mlir;

void loadModelDialects(MLIRContext &context) {
  context.loadDialect<TesselDialect, func::FuncDialect, tensor::TensorDialect, arith::ArithDialect,
                      bufferization::BufferizationDialect>();
}

namespace {

// `input_format` on the linear layers whose weight, and the FFNs, MLA and
// MoE layers all of whose matrices, are in `formats`
// (EntryPoints::inputFormats) with one format, inside `root`; weight names
// there are relative to `prefix` (a block function's layer).
void markInputFormats(Operation *root, const std::map<std::string, std::string> &formats,
                      const std::string &prefix) {
  if (formats.empty())
    return;
  // The format of w's weight, "" when it is not listed.
  auto formatOf = [&](Value w) -> std::string {
    auto weight = w ? w.getDefiningOp<WeightOp>() : WeightOp();
    if (!weight)
      return "";
    auto it = formats.find(prefix + weight.getName().str());
    return it == formats.end() ? "" : it->second;
  };
  // Sets op's input_format when every one of `weights` has the same one.
  auto mark = [&](Operation *op, ArrayRef<Value> weights) {
    const std::string first = weights.empty() ? "" : formatOf(weights.front());
    if (first.empty() || !llvm::all_of(weights, [&](Value w) { return formatOf(w) == first; }))
      return;
    op->setAttr("input_format", StringAttr::get(root->getContext(), first));
  };
  root->walk([&](Operation *op) {
    if (auto linear = dyn_cast<LinearOp>(op))
      mark(op, {linear.getWeight()});
    if (auto ffn = dyn_cast<FFNOp>(op)) {
      SmallVector<Value> weights = {ffn.getWUp(), ffn.getWDown()};
      if (ffn.getWGate())
        weights.push_back(ffn.getWGate());
      mark(op, weights);
    }
    // MLA: its matrices but wkv_b (split per head for decoding's einsums,
    // never stored); q_weights[1] and kv_weights[1] are norm weights.
    if (auto mla = dyn_cast<MLAOp>(op)) {
      ValueRange q = mla.getQWeights();
      SmallVector<Value> weights = {q[0], mla.getKvWeights()[0], mla.getWo()};
      if (q.size() > 1)
        weights.push_back(q[2]);
      mark(op, weights);
    }
    if (auto moe = dyn_cast<MoEOp>(op)) {
      SmallVector<Value> weights(moe.getExperts().begin(), moe.getExperts().end());
      weights.append(moe.getShared().begin(), moe.getShared().end());
      mark(op, weights);
    }
  });
}

class ModelIRBuilder {
public:
  ModelIRBuilder(MLIRContext &ctx, const ModelConfig &c, const std::string &source)
      : b(&ctx), c(c), fileLoc(FileLineColLoc::get(&ctx, source, 0, 0)) {
    for (const WeightSpec &w : expectedWeights(c))
      weightShapes[w.name] = w.shape;
  }

  OwningOpRef<ModuleOp> build(const EntryPoints &entries) {
    OwningOpRef<ModuleOp> owned = ModuleOp::create(fileLoc);
    module = *owned;
    b.setInsertionPointToEnd(module.getBody());
    storedWeights = entries.storedWeights;
    inputFormats = entries.inputFormats;
    shareLayers = entries.shareLayers;
    if (entries.forward)
      buildFunction("forward", /*cached=*/false);
    cacheLength = entries.cacheLength > 0 ? entries.cacheLength : c.contextLength;
    if (entries.step && supportsKvCache(c))
      buildFunction("step", /*cached=*/true);
    if (entries.attentionProbsLayer >= 0)
      buildFunction("attention_probs", /*cached=*/false, entries.attentionProbsLayer);
    // The entry points' own weights (blocks were marked as they were built).
    for (auto fn : module.getOps<func::FuncOp>())
      if (!fn.isPrivate())
        markInputFormats(fn, inputFormats, "");
    return owned;
  }

private:
  // @forward(tokens, positions) -> logits at every position; @step(tokens,
  // positions, caches...) -> (logits at the last position, caches...);
  // with `probeLayer` >= 0, @attention_probs(tokens, positions) -> that
  // layer's attention probabilities (the layers after it are not built).
  void buildFunction(const std::string &name, bool cached, int64_t probeLayer = -1) {
    OpBuilder::InsertionGuard guard(b);
    auto idsType = RankedTensorType::get({1, ShapedType::kDynamic}, b.getI64Type());
    SmallVector<Type> argTypes = {idsType, idsType}, resultTypes;
    // @step: the cache rows already filled, where this step's rows go.
    const unsigned firstCache = cached ? 3 : 2;
    if (cached)
      argTypes.push_back(b.getI64Type());
    cacheShapes = cached ? kvCacheShapes(c, cacheLength) : std::vector<std::vector<int64_t>>{};
    int64_t numCaches = static_cast<int64_t>(cacheShapes.size());
    for (int64_t i = 0; i < numCaches; ++i)
      argTypes.push_back(cacheType(i));
    if (probeLayer >= 0)
      resultTypes.push_back(RankedTensorType::get(
          {1, c.numHeads, ShapedType::kDynamic, ShapedType::kDynamic}, b.getF32Type()));
    else
      resultTypes.push_back(cached ? RankedTensorType::get({1, 1, c.vocabSize}, b.getF32Type())
                                   : activation(c.vocabSize));
    for (int64_t i = 0; i < numCaches; ++i)
      resultTypes.push_back(cacheType(i));
    auto fn = func::FuncOp::create(b, loc(name), name, b.getFunctionType(argTypes, resultTypes));
    // The caches are updated in place (tessel.kv_cache_update on a writable
    // argument); tessel-drop-aliased-results then stops returning them.
    for (int64_t i = 0; i < numCaches; ++i)
      fn.setArgAttr(firstCache + i, "bufferization.writable", b.getBoolAttr(true));
    b.setInsertionPointToStart(fn.addEntryBlock());
    Value tokens = fn.getArgument(0);
    positions = fn.getArgument(1);
    seqLen = tensor::DimOp::create(b, loc("seq_len"), tokens, 1);
    freqFactors = Value();
    caches.clear();
    if (cached) {
      // The new rows go after the `fill` rows the caches hold; attention
      // sees fill + seq_len rows. Positions (for RoPE) are absolute and may
      // run ahead of fill when the runtime rolls a windowed cache.
      start = fn.getArgument(2);
      Value n = arith::IndexCastOp::create(b, loc("cache"), b.getI64Type(), seqLen);
      kvLen = arith::AddIOp::create(b, loc("cache"), start, n);
      for (int64_t i = 0; i < numCaches; ++i)
        caches.push_back(fn.getArgument(firstCache + i));
    }

    Value h =
        EmbeddingOp::create(b, loc("token_embd"), activation(c.dim), weight("token_embd.weight"),
                            tokens, b.getF32FloatAttr(c.embeddingScale));
    if (c.learnedPositions) {
      Value pos =
          EmbeddingOp::create(b, loc("position_embd"), activation(c.dim),
                              weight("position_embd.weight"), positions, b.getF32FloatAttr(1.0f));
      h = ResidualAddOp::create(b, loc("position_embd"), h, pos);
    }
    if (c.ropeFreqFactors)
      freqFactors = weight("rope_freqs.weight");
    for (int64_t i = 0; i < c.numLayers; ++i) {
      if (i == probeLayer) {
        Value x = norm(h, prefix(i) + "attn_norm");
        func::ReturnOp::create(b, loc(prefix(i) + "attn_probs"), attentionProbs(x, i));
        return;
      }
      h = shareLayers && probeLayer < 0 ? callBlock(h, i) : layer(h, i);
    }
    if (cached) {
      // Only the last position's logits are needed to pick the next token.
      Value last = arith::SubIOp::create(b, loc("output"), seqLen,
                                         arith::ConstantIndexOp::create(b, loc("output"), 1));
      h = tensor::ExtractSliceOp::create(
          b, loc("output"), RankedTensorType::get({1, 1, c.dim}, b.getF32Type()), h,
          ArrayRef<OpFoldResult>{b.getIndexAttr(0), last, b.getIndexAttr(0)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1), b.getIndexAttr(c.dim)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1), b.getIndexAttr(1)});
    }
    h = norm(h, "output_norm");
    Value logits = LinearOp::create(b, loc("output"), resultTypes[0], h, weight("output.weight"),
                                    Value(), Value(), nullptr);
    SmallVector<Value> results = {logits};
    results.append(caches.begin(), caches.end());
    func::ReturnOp::create(b, loc("output"), results);
  }

  // Decoder layer `i` on the residual stream `h`, at the insertion point.
  Value layer(Value h, int64_t i) {
    std::string p = prefix(i);
    Value x = norm(h, p + "attn_norm");
    Value a = !c.isMla() ? attention(x, i) : caches.empty() ? mla(x, i) : mlaCached(x, i);
    h = ResidualAddOp::create(b, loc(p + "attn_residual"), h, a);
    x = norm(h, p + "ffn_norm");
    Value f = c.layers[i].moe ? moe(x, p) : ffn(x, p);
    return ResidualAddOp::create(b, loc(p + "ffn_residual"), h, f);
  }

  // Layer `i` as a call of a private block function
  //   @block_N(h, positions, [start, kv_len,] [rope_freqs,] caches...)
  //       -> (h, caches...)
  // whose weights are tessel.weight ops named relative to the layer
  // ("attn_q.weight"); the call's `tessel.weight_prefix` ("blk.3.") completes
  // them (tessel-weights-to-arguments). Layers whose blocks come out the same
  // (same sizes, window, FFN kind, weight formats and input rounding) call
  // one function, so the compiler lowers and compiles it once whatever the
  // depth.
  Value callBlock(Value h, int64_t i) {
    const std::string layerPrefix = prefix(i);
    const int64_t cachesPerLayer = caches.empty() ? 0 : c.isMla() ? 1 : 2;
    SmallVector<Value> operands = {h, positions};
    if (!caches.empty())
      operands.append({start, kvLen});
    if (freqFactors)
      operands.push_back(freqFactors);
    const size_t firstCache = operands.size();
    for (int64_t k = 0; k < cachesPerLayer; ++k)
      operands.push_back(caches[cacheIndex(i, k)]);
    SmallVector<Type> resultTypes = {h.getType()};
    for (int64_t k = 0; k < cachesPerLayer; ++k)
      resultTypes.push_back(operands[firstCache + k].getType());

    func::FuncOp block;
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToEnd(module.getBody());
      // Named for no layer: the layers that share it are the calls'.
      auto fn =
          func::FuncOp::create(b, loc("block"), "block",
                               b.getFunctionType(ValueRange(operands).getTypes(), resultTypes));
      fn.setPrivate();
      b.setInsertionPointToStart(fn.addEntryBlock());
      // The block's own values stand in for the caller's while it is built.
      auto saved = std::make_tuple(positions, seqLen, start, kvLen, freqFactors, caches);
      ValueRange args = fn.getArguments();
      unsigned next = 1;
      positions = args[next++];
      seqLen = tensor::DimOp::create(b, loc("seq_len"), args[0], 1);
      if (cachesPerLayer > 0) {
        start = args[next++];
        kvLen = args[next++];
      }
      if (freqFactors)
        freqFactors = args[next++];
      caches.assign(args.begin() + firstCache, args.end());
      inBlock = true;
      blockPrefix = layerPrefix;
      Value out = layer(args[0], i);
      inBlock = false;
      // The new residual stream goes where the old one was: bufferized, the
      // block updates its caller's buffer in place (like the caches), so the
      // caller holds one residual buffer however many layers it calls.
      out = bufferization::MaterializeInDestinationOp::create(b, loc("block"), out, args[0])
                .getResult();
      SmallVector<Value> results = {out};
      results.append(caches.begin(), caches.end());
      func::ReturnOp::create(b, loc("block"), results);
      std::tie(positions, seqLen, start, kvLen, freqFactors, caches) = saved;
      markInputFormats(fn, inputFormats, layerPrefix);
      block = dedupBlock(fn);
    }
    auto call = func::CallOp::create(b, loc(layerPrefix + "block"), block, operands);
    call->setAttr("tessel.weight_prefix", b.getStringAttr(layerPrefix));
    for (int64_t k = 0; k < cachesPerLayer; ++k)
      caches[cacheIndex(i, k)] = call.getResult(1 + k);
    return call.getResult(0);
  }

  // `fn` if no block built so far has its text (types, ops and attributes;
  // locations are not printed), else that block, and `fn` is erased.
  func::FuncOp dedupBlock(func::FuncOp fn) {
    std::string text;
    llvm::raw_string_ostream os(text);
    fn.print(os);
    auto [it, fresh] = blocks.try_emplace(text, fn);
    if (!fresh) {
      fn.erase();
      return it->second;
    }
    fn.setSymName(absl::StrCat("block_", blocks.size() - 1));
    // Kept out of line: inlining a block into every call would undo the
    // point of sharing it.
    fn->setAttr("passthrough", b.getArrayAttr({b.getStringAttr("noinline")}));
    return fn;
  }

  // The names of layer `layer`'s weights and ops start with this: "blk.3."
  // in an entry point, "" inside a block function (relative names).
  std::string prefix(int64_t layer) const {
    return inBlock ? std::string() : absl::StrCat("blk.", layer, ".");
  }

  // Where cache `which` (K 0, V 1; MLA's latent 0) of layer `layer` is in
  // `caches`.
  int64_t cacheIndex(int64_t layer, int64_t which) const {
    if (inBlock)
      return which;
    return c.isMla() ? layer : 2 * layer + which;
  }

  // Cache `index` (see kvCacheShapes).
  RankedTensorType cacheType(int64_t index) {
    return RankedTensorType::get(cacheShapes[index], b.getF32Type());
  }

  // Writes this step's rows into cache `index` and returns the view of
  // every row so far.
  Value throughCache(Value fresh, int64_t index, const std::string &name) {
    caches[index] =
        KVCacheUpdateOp::create(b, loc(name), cacheType(index), caches[index], fresh, start);
    auto viewType = cast<RankedTensorType>(fresh.getType());
    return KVCacheViewOp::create(b, loc(name), viewType, caches[index], kvLen);
  }

  Location loc(const std::string &name) { return NameLoc::get(b.getStringAttr(name), fileLoc); }

  RankedTensorType activation(int64_t features) {
    return RankedTensorType::get({1, ShapedType::kDynamic, features}, b.getF32Type());
  }
  RankedTensorType perHead(int64_t heads, int64_t dim) {
    return RankedTensorType::get({1, ShapedType::kDynamic, heads, dim}, b.getF32Type());
  }

  // Inside a block function `name` is relative to the layer being built.
  std::string fullName(const std::string &name) const {
    return inBlock ? blockPrefix + name : name;
  }
  Value weight(const std::string &name) {
    auto it = weightShapes.find(fullName(name));
    assert(it != weightShapes.end() && "weight not in expectedWeights");
    auto type = RankedTensorType::get(it->second, b.getF32Type());
    std::string locName = name.substr(0, name.rfind('.'));
    auto stored = storedWeights.find(fullName(name));
    return WeightOp::create(b, loc(locName), type, name,
                            stored == storedWeights.end() ? nullptr
                                                          : b.getStringAttr(stored->second));
  }
  Value optionalWeight(const std::string &name) {
    return weightShapes.count(fullName(name)) ? weight(name) : Value();
  }

  // [1, seq, heads*dim] -> [1, seq, heads, dim]
  Value splitHeads(Value x, int64_t heads, int64_t dim, const std::string &name) {
    SmallVector<OpFoldResult> shape = {b.getIndexAttr(1), seqLen, b.getIndexAttr(heads),
                                       b.getIndexAttr(dim)};
    return tensor::ExpandShapeOp::create(b, loc(name), perHead(heads, dim), x,
                                         SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}},
                                         shape);
  }
  Value mergeHeads(Value x, const std::string &name) {
    return tensor::CollapseShapeOp::create(b, loc(name), x,
                                           SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
  }

  Value norm(Value x, const std::string &name) {
    Value w = weight(name + ".weight");
    if (c.norm == NormKind::LayerNorm)
      return LayerNormOp::create(b, loc(name), x.getType(), x, w, weight(name + ".bias"),
                                 b.getF32FloatAttr(c.normEps));
    return RMSNormOp::create(b, loc(name), x.getType(), x, w, b.getF32FloatAttr(c.normEps),
                             c.normUnitOffset ? b.getUnitAttr() : nullptr);
  }

  Value rope(Value x, int64_t dim, const std::string &name) {
    auto layout =
        c.rope == RopeStyle::Interleaved ? RopeLayout::interleaved : RopeLayout::half_split;
    IntegerAttr rotary = c.ropeDim && c.ropeDim != dim ? b.getI64IntegerAttr(c.ropeDim) : nullptr;
    return RopeOp::create(b, loc(name), x.getType(), x, positions, freqFactors,
                          RopeLayoutAttr::get(b.getContext(), layout),
                          b.getF32FloatAttr(c.ropeTheta), rotary,
                          b.getF32FloatAttr(c.ropeLinearScaling));
  }

  IntegerAttr windowAttr(int64_t layer) {
    return c.layers[layer].window > 0 ? b.getI64IntegerAttr(c.layers[layer].window) : nullptr;
  }

  // The layer's query, key or value heads: [1, seq, heads, head_dim].
  Value projectHeads(Value x, int64_t layer, const char *which, int64_t heads) {
    std::string n = prefix(layer) + "attn_" + which;
    // Weights are materialised in a fixed order (argument evaluation order
    // is unspecified in C++, and the printed IR must be deterministic).
    Value w = weight(n + ".weight");
    Value bias = optionalWeight(n + ".bias");
    Value y =
        LinearOp::create(b, loc(n), activation(heads * c.headDim), x, w, bias, Value(), nullptr);
    return splitHeads(y, heads, c.headDim, n);
  }

  // Queries and keys with RoPE applied.
  std::pair<Value, Value> queriesAndKeys(Value x, int64_t layer) {
    std::string p = prefix(layer);
    Value q = projectHeads(x, layer, "q", c.numHeads);
    Value k = projectHeads(x, layer, "k", c.numKvHeads);
    if (c.rope != RopeStyle::None) {
      q = rope(q, c.headDim, p + "attn_q.rope");
      k = rope(k, c.headDim, p + "attn_k.rope");
    }
    return {q, k};
  }

  // What the layer's heads attend to: [1, heads, seq, seq].
  Value attentionProbs(Value x, int64_t layer) {
    auto [q, k] = queriesAndKeys(x, layer);
    auto type = RankedTensorType::get({1, c.numHeads, ShapedType::kDynamic, ShapedType::kDynamic},
                                      b.getF32Type());
    return AttentionProbsOp::create(b, loc(prefix(layer) + "attn_probs"), type, q, k, Value(),
                                    Value(), b.getI64IntegerAttr(c.numHeads),
                                    b.getI64IntegerAttr(c.numKvHeads), b.getUnitAttr(),
                                    windowAttr(layer), nullptr);
  }

  Value attention(Value x, int64_t layer) {
    std::string p = prefix(layer);
    int64_t hd = c.headDim;
    auto [q, k] = queriesAndKeys(x, layer);
    Value v = projectHeads(x, layer, "v", c.numKvHeads);
    if (!caches.empty()) {
      k = throughCache(k, cacheIndex(layer, 0), p + "k_cache");
      v = throughCache(v, cacheIndex(layer, 1), p + "v_cache");
    }
    Value o =
        AttentionOp::create(b, loc(p + "attn"), perHead(c.numHeads, hd), q, k, v, Value(), Value(),
                            b.getI64IntegerAttr(c.numHeads), b.getI64IntegerAttr(c.numKvHeads),
                            b.getUnitAttr(), windowAttr(layer), nullptr);
    Value merged = mergeHeads(o, p + "attn_output");
    Value wo = weight(p + "attn_output.weight");
    Value bo = optionalWeight(p + "attn_output.bias");
    return LinearOp::create(b, loc(p + "attn_output"), activation(c.dim), merged, wo, bo, Value(),
                            nullptr);
  }

  Value mla(Value x, int64_t layer) {
    std::string p = prefix(layer);
    SmallVector<Value> q;
    if (c.qLoraRank > 0)
      q = {weight(p + "attn_q_a.weight"), weight(p + "attn_q_a_norm.weight"),
           weight(p + "attn_q_b.weight")};
    else
      q = {weight(p + "attn_q.weight")};
    SmallVector<Value> kv = {weight(p + "attn_kv_a_mqa.weight"),
                             weight(p + "attn_kv_a_norm.weight"), weight(p + "attn_kv_b.weight")};
    auto layout = c.rope == RopeStyle::HalfSplit ? RopeLayout::half_split : RopeLayout::interleaved;
    Value wo = weight(p + "attn_output.weight");
    return MLAOp::create(b, loc(p + "attn"), activation(c.dim), x, positions, q, kv, wo, Value(),
                         b.getI64IntegerAttr(c.numHeads), b.getI64IntegerAttr(c.kvLoraRank),
                         b.getI64IntegerAttr(c.qkNopeDim), b.getI64IntegerAttr(c.qkRopeDim),
                         b.getI64IntegerAttr(c.vHeadDim),
                         c.qLoraRank > 0 ? b.getI64IntegerAttr(c.qLoraRank) : nullptr,
                         RopeLayoutAttr::get(b.getContext(), layout),
                         b.getF32FloatAttr(c.ropeTheta), b.getF32FloatAttr(c.normEps),
                         b.getUnitAttr(), windowAttr(layer), nullptr, nullptr);
  }

  // x[..., offset : offset + size] along the last dimension.
  Value sliceLast(Value x, int64_t offset, int64_t size, const std::string &name) {
    auto t = cast<RankedTensorType>(x.getType());
    int64_t rank = t.getRank();
    SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), sizes,
        strides(rank, b.getIndexAttr(1));
    for (int64_t d = 0; d < rank; ++d)
      sizes.push_back(t.isDynamicDim(d) ? OpFoldResult(tensor::DimOp::create(b, loc(name), x, d))
                                        : OpFoldResult(b.getIndexAttr(t.getDimSize(d))));
    offsets.back() = b.getIndexAttr(offset);
    sizes.back() = b.getIndexAttr(size);
    SmallVector<int64_t> shape(t.getShape());
    shape.back() = size;
    return tensor::ExtractSliceOp::create(
        b, loc(name), RankedTensorType::get(shape, b.getF32Type()), x, offsets, sizes, strides);
  }

  // MLA with a KV cache, in the weight-absorbed form DeepSeek decodes with:
  // the cache holds, per token, only the normalised latent c (kv_lora_rank
  // values) and the rotated RoPE key (qk_rope_dim values), one "head"
  // shared by every query head. wkv_b's key part is absorbed into the query
  // (q_nope W_uk: [H, r]) and its value part applied after attention
  // (o W_uv^T), so keys and values are never expanded per head:
  //   scores = (q_nope W_uk) . c + q_rope . k_rope,   out = (p . c) W_uv^T.
  // Same numbers as the naive form (tessel-lower-mla) up to rounding.
  Value mlaCached(Value x, int64_t layer) {
    std::string p = prefix(layer);
    const int64_t h = c.numHeads, dn = c.qkNopeDim, dr = c.qkRopeDim, dv = c.vHeadDim,
                  r = c.kvLoraRank;
    auto f32 = b.getF32Type();
    auto layout = c.rope == RopeStyle::HalfSplit ? RopeLayout::half_split : RopeLayout::interleaved;
    auto ropeOf = [&](Value v, const std::string &name) {
      return RopeOp::create(b, loc(name), v.getType(), v, positions, Value(),
                            RopeLayoutAttr::get(b.getContext(), layout),
                            b.getF32FloatAttr(c.ropeTheta), nullptr, b.getF32FloatAttr(1.0f));
    };
    auto normOf = [&](Value v, Value w, const std::string &name) {
      return RMSNormOp::create(b, loc(name), v.getType(), v, w, b.getF32FloatAttr(c.normEps),
                               nullptr);
    };
    auto linearOf = [&](Value v, Value w, int64_t out, const std::string &name) {
      return LinearOp::create(b, loc(name), activation(out), v, w, Value(), Value(), nullptr);
    };
    // Weights in the order of the naive form's op, so both read the same.
    Value q;
    if (c.qLoraRank > 0) {
      Value wa = weight(p + "attn_q_a.weight"), qn = weight(p + "attn_q_a_norm.weight"),
            wb = weight(p + "attn_q_b.weight");
      q = linearOf(normOf(linearOf(x, wa, c.qLoraRank, p + "attn_q_a"), qn, p + "attn_q_a_norm"),
                   wb, h * (dn + dr), p + "attn_q_b");
    } else {
      q = linearOf(x, weight(p + "attn_q.weight"), h * (dn + dr), p + "attn_q");
    }
    Value wkvA = weight(p + "attn_kv_a_mqa.weight"), kvNorm = weight(p + "attn_kv_a_norm.weight"),
          wkvB = weight(p + "attn_kv_b.weight"), wo = weight(p + "attn_output.weight");
    Value q4 = splitHeads(q, h, dn + dr, p + "attn_q");
    Value qNope = sliceLast(q4, 0, dn, p + "attn_q");
    Value qRope = ropeOf(sliceLast(q4, dn, dr, p + "attn_q"), p + "attn_q.rope");

    // This step's cache rows: [1, s, 1, r + dr] = concat(norm(c), rope(k_rope)).
    Value ckv = linearOf(x, wkvA, r + dr, p + "attn_kv_a_mqa");
    Value latent =
        splitHeads(normOf(sliceLast(ckv, 0, r, p + "attn_kv_a_mqa"), kvNorm, p + "attn_kv_a_norm"),
                   1, r, p + "attn_kv_a_norm");
    Value kRope =
        ropeOf(splitHeads(sliceLast(ckv, r, dr, p + "attn_kv_a_mqa"), 1, dr, p + "attn_k.rope"),
               p + "attn_k.rope");
    Value rows = tensor::ConcatOp::create(b, loc(p + "kv_cache"), 3, ValueRange{latent, kRope});
    Value cached = throughCache(rows, cacheIndex(layer, 0), p + "kv_cache");
    Value values = sliceLast(cached, 0, r, p + "kv_cache");

    // wkv_b [H * (dn + dv), r] as W_uk [H, dn, r] and W_uv [H, dv, r].
    Value wkvB3 = tensor::ExpandShapeOp::create(b, loc(p + "attn_kv_b"),
                                                RankedTensorType::get({h, dn + dv, r}, f32), wkvB,
                                                SmallVector<ReassociationIndices>{{0, 1}, {2}});
    auto headsSlice = [&](int64_t offset, int64_t size) {
      return tensor::ExtractSliceOp::create(
          b, loc(p + "attn_kv_b"), RankedTensorType::get({h, size, r}, f32), wkvB3,
          ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(offset), b.getIndexAttr(0)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(h), b.getIndexAttr(size), b.getIndexAttr(r)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1), b.getIndexAttr(1)});
    };
    Value wUk = headsSlice(0, dn), wUv = headsSlice(dn, dv);
    Value qAbsorbed = EinsumOp::create(b, loc(p + "attn_q.absorb"), perHead(h, r),
                                       b.getStringAttr("bshd,hdr->bshr"), ValueRange{qNope, wUk});
    Value query = tensor::ConcatOp::create(b, loc(p + "attn_q"), 3, ValueRange{qAbsorbed, qRope});
    // MQA over the latent rows; the scale is the model's, 1/sqrt(dn + dr),
    // not the absorbed head size's.
    Value o = AttentionOp::create(
        b, loc(p + "attn"), perHead(h, r), query, cached, values, Value(), Value(),
        b.getI64IntegerAttr(h), b.getI64IntegerAttr(1), b.getUnitAttr(), windowAttr(layer),
        b.getF32FloatAttr(static_cast<float>(1.0 / std::sqrt(static_cast<double>(dn + dr)))));
    Value oHeads = EinsumOp::create(b, loc(p + "attn_v.absorb"), perHead(h, dv),
                                    b.getStringAttr("bshr,hvr->bshv"), ValueRange{o, wUv});
    return linearOf(mergeHeads(oHeads, p + "attn_output"), wo, c.dim, p + "attn_output");
  }

  Activation activationKind() const {
    switch (c.activation) {
    case FfnActivation::SwiGLU:
      return Activation::swiglu;
    case FfnActivation::GeGLU:
      return Activation::geglu;
    case FfnActivation::Gelu:
      return Activation::gelu;
    }
    return Activation::swiglu;
  }

  Value ffn(Value x, const std::string &p) {
    Value up = weight(p + "ffn_up.weight");
    Value gate = optionalWeight(p + "ffn_gate.weight");
    Value down = weight(p + "ffn_down.weight");
    Value upBias = optionalWeight(p + "ffn_up.bias");
    Value downBias = optionalWeight(p + "ffn_down.bias");
    return FFNOp::create(b, loc(p + "ffn"), x.getType(), x, up, gate, down, upBias, downBias,
                         Value(), ActivationAttr::get(b.getContext(), activationKind()),
                         c.geluTanh ? b.getUnitAttr() : nullptr, nullptr);
  }

  Value moe(Value x, const std::string &p) {
    SmallVector<Value> experts = {weight(p + "ffn_up_exps.weight")};
    if (Value g = optionalWeight(p + "ffn_gate_exps.weight"))
      experts.push_back(g);
    experts.push_back(weight(p + "ffn_down_exps.weight"));
    SmallVector<Value> shared;
    if (c.numSharedExperts > 0) {
      shared.push_back(weight(p + "ffn_up_shexp.weight"));
      if (Value g = optionalWeight(p + "ffn_gate_shexp.weight"))
        shared.push_back(g);
      shared.push_back(weight(p + "ffn_down_shexp.weight"));
    }
    auto scoring = c.scoring == RouterScoring::Sigmoid ? MoeScoring::sigmoid : MoeScoring::softmax;
    Value router = weight(p + "ffn_gate_inp.weight");
    return MoEOp::create(
        b, loc(p + "ffn_moe"), x.getType(), x, router, experts, shared,
        b.getI64IntegerAttr(c.expertsPerToken), MoeScoringAttr::get(b.getContext(), scoring),
        c.normalizeTopK ? b.getUnitAttr() : nullptr, b.getF32FloatAttr(c.routedScale),
        ActivationAttr::get(b.getContext(), activationKind()),
        c.geluTanh ? b.getUnitAttr() : nullptr, nullptr);
  }

  OpBuilder b;
  const ModelConfig &c;
  Location fileLoc;
  std::map<std::string, std::vector<int64_t>> weightShapes;
  std::map<std::string, std::string> storedWeights; // name -> storage format
  Value positions, seqLen, freqFactors;
  int64_t cacheLength = 0;
  std::vector<std::vector<int64_t>> cacheShapes;
  Value start, kvLen;        // i64: the step's first position, and start + seq_len
  SmallVector<Value> caches; // @step: the current value of each layer's K and V cache
  ModuleOp module;
  bool shareLayers = false;
  std::map<std::string, std::string> inputFormats; // EntryPoints::inputFormats
  bool inBlock = false;                            // building a block function (callBlock)...
  std::string blockPrefix;                         // ...for the layer whose names start with this
  std::map<std::string, func::FuncOp> blocks;      // block text -> its function
};

} // namespace

absl::StatusOr<OwningOpRef<ModuleOp>> buildModelModule(MLIRContext &context,
                                                       const ModelConfig &config,
                                                       const std::string &source,
                                                       const EntryPoints &entries) {
  loadModelDialects(context);
  if (entries.attentionProbsLayer >= 0) {
    if (entries.attentionProbsLayer >= config.numLayers)
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": attention map layer ", entries.attentionProbsLayer,
                       " does not exist (the model has layers 0 to ", config.numLayers - 1, ")"));
    if (config.isMla())
      return absl::UnimplementedError(absl::StrCat(
          source, ": attention maps of MLA models are not supported yet (tessel.mla computes "
                  "its probabilities inside the op)"));
  }
  OwningOpRef<ModuleOp> module = ModelIRBuilder(context, config, source).build(entries);
  std::string diagnostics;
  {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
      diagnostics += d.str() + "\n";
      return success();
    });
    if (failed(verify(*module)))
      return absl::InternalError(
          absl::StrCat(source, ": the generated IR does not verify:\n", diagnostics));
  }
  return module;
}

bool supportsKvCache(const ModelConfig &) { return true; }

std::vector<std::vector<int64_t>> kvCacheShapes(const ModelConfig &c, int64_t cacheLength) {
  std::vector<std::vector<int64_t>> shapes;
  if (c.isMla()) {
    for (int64_t i = 0; i < c.numLayers; ++i)
      shapes.push_back({1, cacheLength, 1, c.kvLoraRank + c.qkRopeDim});
    return shapes;
  }
  for (int64_t i = 0; i < 2 * c.numLayers; ++i)
    shapes.push_back({1, cacheLength, c.numKvHeads, c.headDim});
  return shapes;
}

absl::StatusOr<std::string> modelToMlir(const ModelConfig &config, const std::string &source,
                                        bool debugInfo, const EntryPoints &entries) {
  MLIRContext context;
  auto module = buildModelModule(context, config, source, entries);
  if (!module.ok())
    return module.status();
  std::string text;
  llvm::raw_string_ostream os(text);
  OpPrintingFlags flags;
  if (debugInfo)
    flags.enableDebugInfo();
  (*module)->print(os, flags);
  return text;
}

} // namespace tessel::frontends

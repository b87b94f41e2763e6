//===- TesselOps.cpp - tessel op verifiers --------------------------------===//
//
// Messages follow one pattern: they name the operand (as spelled in the
// assembly format), the dimension and its meaning, what was expected and what
// was found, so a frontend bug can be traced from the message alone.
//
//===----------------------------------------------------------------------===//
#include "dialect/TesselOps.h"

#include "dialect/Einsum.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

#include <cstdio>

using namespace mlir;
using namespace tessel;

namespace {

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += ShapedType::isDynamic(shape[i]) ? "?" : std::to_string(shape[i]);
  }
  return s + "]";
}

// Shortest readable form of an attribute value, e.g. "0.8", "1e-05".
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

bool dimsAgree(int64_t a, int64_t b) {
  return a == b || ShapedType::isDynamic(a) || ShapedType::isDynamic(b);
}

bool shapesAgree(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!dimsAgree(a[i], b[i]))
      return false;
  return true;
}

// Small fluent checker: every method emits at most one error, and once an
// error is emitted the rest are skipped, so the user sees the first problem.
class Checker {
public:
  explicit Checker(Operation *op) : op(op) {}
  LogicalResult result() const { return failed ? failure() : success(); }

  Checker &f32(Value v, StringRef name) {
    if (!failed && !tensorType(v).getElementType().isF32())
      fail() << name << " must have f32 elements, got " << tensorType(v).getElementType();
    return *this;
  }
  Checker &integer(Value v, StringRef name) {
    if (!failed && !tensorType(v).getElementType().isSignlessInteger())
      fail() << name << " must have integer elements, got " << tensorType(v).getElementType();
    return *this;
  }
  Checker &boolean(Value v, StringRef name) {
    if (!failed && !tensorType(v).getElementType().isInteger(1))
      fail() << name << " must have i1 elements, got " << tensorType(v).getElementType();
    return *this;
  }
  Checker &rank(Value v, StringRef name, int64_t r, StringRef layout) {
    if (!failed && tensorType(v).getRank() != r)
      fail() << name << " must have rank " << r << " " << layout << ", got rank "
             << tensorType(v).getRank();
    return *this;
  }
  Checker &minRank(Value v, StringRef name, int64_t r) {
    if (!failed && tensorType(v).getRank() < r)
      fail() << name << " must have rank >= " << r << ", got rank " << tensorType(v).getRank();
    return *this;
  }
  // Checks dimension `d` of `v` (negative counts from the end).
  Checker &dim(Value v, StringRef name, int64_t d, int64_t expected, StringRef meaning) {
    if (failed)
      return *this;
    auto t = tensorType(v);
    int64_t idx = d < 0 ? t.getRank() + d : d;
    if (!dimsAgree(t.getDimSize(idx), expected))
      fail() << name << " dimension " << idx << " (" << meaning << ") must be " << expected
             << ", got " << t.getDimSize(idx);
    return *this;
  }
  Checker &shape(Value v, StringRef name, ArrayRef<int64_t> expected, StringRef layout) {
    if (!failed && !shapesAgree(tensorType(v).getShape(), expected))
      fail() << name << " must have shape " << shapeString(expected) << " " << layout << ", got "
             << shapeString(tensorType(v).getShape());
    return *this;
  }
  Checker &resultIs(Value result, ArrayRef<int64_t> shape, Type elem, StringRef layout) {
    if (failed)
      return *this;
    auto t = tensorType(result);
    if (t.getElementType() != elem)
      fail() << "result must have " << elem << " elements, got " << t.getElementType();
    else if (!shapesAgree(t.getShape(), shape))
      fail() << "result must have shape " << shapeString(shape) << " " << layout << ", got "
             << shapeString(t.getShape());
    return *this;
  }
  Checker &positive(int64_t value, StringRef name) {
    if (!failed && value <= 0)
      fail() << name << " must be positive, got " << value;
    return *this;
  }
  Checker &positive(float value, StringRef name) {
    // num() prints "0" or "-1" rather than the stream's "0.000000e+00".
    if (!failed && !(value > 0.0f))
      fail() << name << " must be positive, got " << num(value);
    return *this;
  }
  Checker &check(bool ok, const Twine &message) {
    if (!failed && !ok)
      fail() << message;
    return *this;
  }
  bool ok() const { return !failed; }

private:
  InFlightDiagnostic fail() {
    failed = true;
    return op->emitOpError();
  }
  Operation *op;
  bool failed = false;
};

SmallVector<int64_t> withLastDim(ArrayRef<int64_t> shape, int64_t last) {
  SmallVector<int64_t> s(shape.begin(), shape.end());
  s.back() = last;
  return s;
}

bool isGated(Activation a) { return a == Activation::swiglu || a == Activation::geglu; }
bool isGelu(Activation a) { return a == Activation::gelu || a == Activation::geglu; }

// Shared by attention and MLA.
void checkMask(Checker &c, Value mask, int64_t batch, int64_t qLen, int64_t kvLen) {
  if (!mask)
    return;
  c.boolean(mask, "mask");
  auto rank = tensorType(mask).getRank();
  c.check(rank == 2 || rank == 3,
          "mask must have rank 2 [batch, kv_len] or rank 3 [batch, q_len, kv_len], got rank " +
              Twine(rank));
  if (!c.ok())
    return;
  if (rank == 2)
    c.shape(mask, "mask", {batch, kvLen}, "[batch, kv_len]");
  else
    c.shape(mask, "mask", {batch, qLen, kvLen}, "[batch, q_len, kv_len]");
}

void checkWindow(Checker &c, std::optional<uint64_t> window, bool causal) {
  if (!window)
    return;
  c.positive(static_cast<int64_t>(*window), "window");
  c.check(causal, "window requires causal: a sliding window only limits how far back a "
                  "query looks");
}

} // namespace

//===----------------------------------------------------------------------===//

std::optional<StorageBlock> tessel::storageBlock(llvm::StringRef format) {
  if (format == "bf16" || format == "f16")
    return StorageBlock{1, 2};
  if (format == "q8_0")
    return StorageBlock{32, 34};
  if (format == "q4_0")
    return StorageBlock{32, 18};
  return std::nullopt;
}

int64_t tessel::storageBytes(const StorageBlock &block, int64_t rows, int64_t k) {
  return rows * (k / block.elements) * block.bytes;
}

int64_t tessel::storageBytes(const StorageBlock &block, llvm::ArrayRef<int64_t> shape) {
  int64_t rows = 1;
  for (int64_t d : shape.drop_back())
    rows *= d;
  return storageBytes(block, rows, shape.back());
}

namespace {
// A stored weight: the format is known, the tensor is f32 [..., rows, k]
// and k fills whole blocks.
void checkStoredMatrix(Checker &c, RankedTensorType matrix, StringRef format, StringRef what) {
  auto block = storageBlock(format);
  c.check(block.has_value(),
          what + " '" + format + "' is not a storage format (bf16, f16, q8_0 or q4_0)");
  c.check(!c.ok() || (matrix.getRank() >= 2 && matrix.getElementType().isF32()),
          what + " needs an f32 [..., rows, k] tensor of rank 2 or more");
  if (c.ok())
    c.check(matrix.getShape().back() % block->elements == 0,
            what + " '" + format + "' needs k (" + Twine(matrix.getShape().back()) +
                ") to be a multiple of " + Twine(block->elements));
}
} // namespace

LogicalResult WeightOp::verify() {
  Checker c(*this);
  c.check(!getName().empty(), "name must not be empty");
  c.check(getResult().getType().hasStaticShape(),
          "weight '" + getName() + "' must have a static shape");
  if (auto storage = getStorage())
    checkStoredMatrix(c, getResult().getType(), *storage, "storage");
  return c.result();
}

LogicalResult DequantizeOp::verify() {
  Checker c(*this);
  auto result = cast<RankedTensorType>(getResult().getType());
  checkStoredMatrix(c, result, getFormat(), "format");
  auto input = cast<RankedTensorType>(getInput().getType());
  c.check(!c.ok() || (input.getRank() == 1 && input.getElementType().isInteger(8)),
          "input must be the bytes, tensor<Nxi8>");
  if (c.ok() && result.hasStaticShape() && input.hasStaticShape()) {
    int64_t want = storageBytes(*storageBlock(getFormat()), result.getShape());
    c.check(input.getDimSize(0) == want, "input holds " + Twine(input.getDimSize(0)) +
                                             " bytes; a " + getFormat() +
                                             " tensor of this shape takes " + Twine(want));
  }
  return c.result();
}

LogicalResult EmbeddingOp::verify() {
  Checker c(*this);
  c.f32(getTable(), "table").rank(getTable(), "table", 2, "[vocab, dim]");
  c.integer(getIds(), "ids");
  if (!c.ok())
    return failure();
  SmallVector<int64_t> shape(getIds().getType().getShape());
  shape.push_back(getTable().getType().getDimSize(1));
  c.resultIs(getResult(), shape, getTable().getType().getElementType(), "(ids shape + [dim])");
  return c.result();
}

// `input_format`, when set: "bf16", or "q8_0" with every rounded row
// length (`dims`) a whole number of 32-value blocks (dynamic ones are
// checked by nobody: the weights fix them in practice).
void checkInputFormat(Checker &c, std::optional<StringRef> format, ArrayRef<int64_t> dims) {
  if (!format)
    return;
  if (!c.check(*format == "q8_0" || *format == "bf16",
               "input_format must be \"q8_0\" or \"bf16\", not \"" + *format + "\"")
           .ok() ||
      *format == "bf16")
    return;
  for (int64_t d : dims)
    c.check(ShapedType::isDynamic(d) || d % 32 == 0,
            "input_format q8_0 rounds blocks of 32 values; a row of " + std::to_string(d) +
                " is not a whole number of blocks");
}

LogicalResult LinearOp::verify() {
  Checker c(*this);
  c.f32(getInput(), "input").minRank(getInput(), "input", 1);
  c.f32(getWeight(), "weight").rank(getWeight(), "weight", 2, "[out, in]");
  if (!c.ok())
    return failure();
  auto in = getInput().getType();
  int64_t inFeatures = in.getDimSize(in.getRank() - 1);
  int64_t outFeatures = getWeight().getType().getDimSize(0);
  c.dim(getWeight(), "weight", 1, inFeatures, "in features = input's last dimension");
  if (getBias())
    c.f32(getBias(), "bias").shape(getBias(), "bias", {outFeatures}, "[out]");
  c.resultIs(getResult(), withLastDim(in.getShape(), outFeatures), in.getElementType(),
             "[..., out]");
  if (getResidual())
    c.f32(getResidual(), "residual")
        .shape(getResidual(), "residual", withLastDim(in.getShape(), outFeatures),
               "(the result's shape)");
  checkInputFormat(c, getInputFormat(), {inFeatures});
  return c.result();
}

static LogicalResult verifyNorm(Operation *op, Value input, Value weight, Value bias, Value result,
                                float epsilon) {
  Checker c(op);
  c.f32(input, "input").minRank(input, "input", 1);
  if (!c.ok())
    return failure();
  int64_t dim = tensorType(input).getShape().back();
  c.f32(weight, "weight").shape(weight, "weight", {dim}, "[dim]");
  if (bias)
    c.f32(bias, "bias").shape(bias, "bias", {dim}, "[dim]");
  c.positive(epsilon, "epsilon");
  c.resultIs(result, tensorType(input).getShape(), tensorType(input).getElementType(),
             "(the input's shape)");
  return c.result();
}

LogicalResult RMSNormOp::verify() {
  return verifyNorm(*this, getInput(), getWeight(), nullptr, getResult(),
                    getEpsilon().convertToFloat());
}

LogicalResult LayerNormOp::verify() {
  return verifyNorm(*this, getInput(), getWeight(), getBias(), getResult(),
                    getEpsilon().convertToFloat());
}

LogicalResult RopeOp::verify() {
  Checker c(*this);
  c.f32(getInput(), "input").rank(getInput(), "input", 4, "[batch, seq, heads, head_dim]");
  c.integer(getPositions(), "positions");
  if (!c.ok())
    return failure();
  auto in = getInput().getType();
  c.shape(getPositions(), "positions", {in.getDimSize(0), in.getDimSize(1)}, "[batch, seq]");
  int64_t headDim = in.getDimSize(3);
  if (auto rd = getRotaryDim()) {
    int64_t r = static_cast<int64_t>(*rd);
    c.positive(r, "rotary_dim");
    c.check(r % 2 == 0, "rotary_dim must be even, got " + Twine(r));
    c.check(ShapedType::isDynamic(headDim) || r <= headDim,
            "rotary_dim (" + Twine(r) + ") must not exceed head_dim (" + Twine(headDim) + ")");
  } else {
    c.check(ShapedType::isDynamic(headDim) || headDim % 2 == 0,
            "head_dim must be even to be rotated, got " + Twine(headDim));
  }
  if (getFreqFactors() && c.ok()) {
    int64_t rot = getRotaryDim() ? static_cast<int64_t>(*getRotaryDim()) : headDim;
    c.f32(getFreqFactors(), "freq_factors");
    c.shape(getFreqFactors(), "freq_factors",
            {ShapedType::isDynamic(rot) ? ShapedType::kDynamic : rot / 2}, "[rotary_dim / 2]");
  }
  c.positive(getTheta().convertToFloat(), "theta");
  c.positive(getLinearScaling().convertToFloat(), "linear_scaling");
  c.resultIs(getResult(), in.getShape(), in.getElementType(), "(the input's shape)");
  return c.result();
}

namespace {
// What tessel.attention and tessel.attention_probs share: query and key,
// heads, the visibility rules, sinks and scale.
template <typename AttentionLikeOp> void checkQueryKeyAndRules(Checker &c, AttentionLikeOp op) {
  c.f32(op.getQuery(), "query")
      .rank(op.getQuery(), "query", 4, "[batch, q_len, num_heads, head_dim]");
  c.f32(op.getKey(), "key").rank(op.getKey(), "key", 4, "[batch, kv_len, num_kv_heads, head_dim]");
  if (!c.ok())
    return;
  auto q = op.getQuery().getType(), k = op.getKey().getType();
  int64_t batch = q.getDimSize(0), qLen = q.getDimSize(1), kvLen = k.getDimSize(1);
  int64_t heads = static_cast<int64_t>(op.getNumHeads());
  int64_t kvHeads = static_cast<int64_t>(op.getNumKvHeads());
  c.positive(heads, "num_heads").positive(kvHeads, "num_kv_heads");
  c.check(!c.ok() || heads % kvHeads == 0, "num_heads (" + Twine(heads) +
                                               ") must be a multiple of num_kv_heads (" +
                                               Twine(kvHeads) + ")");
  c.dim(op.getQuery(), "query", 2, heads, "num_heads");
  c.dim(op.getKey(), "key", 0, batch, "batch, as in query");
  c.dim(op.getKey(), "key", 2, kvHeads, "num_kv_heads");
  c.dim(op.getKey(), "key", 3, q.getDimSize(3), "head_dim, as in query");
  if (op.getCausal() && !ShapedType::isDynamic(qLen) && !ShapedType::isDynamic(kvLen))
    c.check(qLen <= kvLen, "causal attention needs q_len (" + Twine(qLen) + ") <= kv_len (" +
                               Twine(kvLen) + "): queries are the newest keys");
  checkWindow(c, op.getWindow(), op.getCausal());
  checkMask(c, op.getMask(), batch, qLen, kvLen);
  if (op.getSinks())
    c.f32(op.getSinks(), "sinks").shape(op.getSinks(), "sinks", {heads}, "[num_heads]");
  if (auto s = op.getScale())
    c.positive(s->convertToFloat(), "scale");
}
} // namespace

LogicalResult AttentionOp::verify() {
  Checker c(*this);
  checkQueryKeyAndRules(c, *this);
  c.f32(getValue(), "value")
      .rank(getValue(), "value", 4, "[batch, kv_len, num_kv_heads, v_head_dim]");
  if (!c.ok())
    return failure();
  auto q = getQuery().getType(), k = getKey().getType(), v = getValue().getType();
  int64_t batch = q.getDimSize(0), qLen = q.getDimSize(1), kvLen = k.getDimSize(1);
  int64_t heads = static_cast<int64_t>(getNumHeads()), kvHeads = k.getDimSize(2);
  c.shape(getValue(), "value", {batch, kvLen, kvHeads, v.getDimSize(3)},
          "[batch, kv_len, num_kv_heads, v_head_dim] (as in key)");
  c.resultIs(getResult(), {batch, qLen, heads, v.getDimSize(3)}, q.getElementType(),
             "[batch, q_len, num_heads, v_head_dim]");
  return c.result();
}

LogicalResult AttentionProbsOp::verify() {
  Checker c(*this);
  checkQueryKeyAndRules(c, *this);
  if (!c.ok())
    return failure();
  auto q = getQuery().getType(), k = getKey().getType();
  c.resultIs(
      getResult(),
      {q.getDimSize(0), static_cast<int64_t>(getNumHeads()), q.getDimSize(1), k.getDimSize(1)},
      q.getElementType(), "[batch, num_heads, q_len, kv_len]");
  return c.result();
}

LogicalResult MLAOp::verify() {
  Checker c(*this);
  c.f32(getInput(), "input").rank(getInput(), "input", 3, "[batch, seq, dim]");
  c.integer(getPositions(), "positions");
  if (!c.ok())
    return failure();
  auto in = getInput().getType();
  int64_t batch = in.getDimSize(0), seq = in.getDimSize(1), dim = in.getDimSize(2);
  c.shape(getPositions(), "positions", {batch, seq}, "[batch, seq]");
  int64_t h = static_cast<int64_t>(getNumHeads()), r = static_cast<int64_t>(getKvLoraRank());
  int64_t dn = static_cast<int64_t>(getQkNopeDim()), dr = static_cast<int64_t>(getQkRopeDim());
  int64_t dv = static_cast<int64_t>(getVHeadDim());
  c.positive(h, "num_heads").positive(r, "kv_lora_rank").positive(dn, "qk_nope_dim");
  c.positive(dr, "qk_rope_dim").positive(dv, "v_head_dim");
  c.check(dr % 2 == 0, "qk_rope_dim must be even to be rotated, got " + Twine(dr));
  if (!c.ok())
    return failure();
  // Only the weights: the optional mask (i1) follows wo in the operand list
  // and is checked by checkMask below.
  for (Value w : getQWeights())
    c.f32(w, "every weight");
  for (Value w : getKvWeights())
    c.f32(w, "every weight");
  c.f32(getWo(), "wo");
  auto qw = getQWeights();
  if (auto rq = getQLoraRank()) {
    int64_t rank = static_cast<int64_t>(*rq);
    c.positive(rank, "q_lora_rank");
    c.check(qw.size() == 3, "q_lora_rank is set, so q(...) must be (wq_a, q_norm, wq_b), got " +
                                Twine(qw.size()) + " weights");
    if (!c.ok())
      return failure();
    c.shape(qw[0], "wq_a", {rank, dim}, "[q_lora_rank, dim]");
    c.shape(qw[1], "q_norm", {rank}, "[q_lora_rank]");
    c.shape(qw[2], "wq_b", {h * (dn + dr), rank},
            "[num_heads*(qk_nope_dim+qk_rope_dim), q_lora_rank]");
  } else {
    c.check(qw.size() == 1,
            "without q_lora_rank, q(...) must be (wq), got " + Twine(qw.size()) + " weights");
    if (!c.ok())
      return failure();
    c.shape(qw[0], "wq", {h * (dn + dr), dim}, "[num_heads*(qk_nope_dim+qk_rope_dim), dim]");
  }
  auto kvw = getKvWeights();
  c.check(kvw.size() == 3,
          "kv(...) must be (wkv_a, kv_norm, wkv_b), got " + Twine(kvw.size()) + " weights");
  if (!c.ok())
    return failure();
  c.shape(kvw[0], "wkv_a", {r + dr, dim}, "[kv_lora_rank+qk_rope_dim, dim]");
  c.shape(kvw[1], "kv_norm", {r}, "[kv_lora_rank]");
  c.shape(kvw[2], "wkv_b", {h * (dn + dv), r},
          "[num_heads*(qk_nope_dim+v_head_dim), kv_lora_rank]");
  c.shape(getWo(), "wo", {dim, h * dv}, "[dim, num_heads*v_head_dim]");
  checkWindow(c, getWindow(), getCausal());
  checkMask(c, getMask(), batch, seq, seq);
  c.positive(getRopeTheta().convertToFloat(), "rope_theta");
  c.positive(getEpsilon().convertToFloat(), "epsilon");
  if (auto s = getScale())
    c.positive(s->convertToFloat(), "scale");
  c.resultIs(getResult(), in.getShape(), in.getElementType(), "(the input's shape)");
  if (c.ok()) {
    SmallVector<int64_t> rows = {in.getShape().back(),
                                 static_cast<int64_t>(getNumHeads() * getVHeadDim())};
    if (auto r = getQLoraRank())
      rows.push_back(static_cast<int64_t>(*r));
    checkInputFormat(c, getInputFormat(), rows);
  }
  return c.result();
}

// Checks one FFN's weights (`prefix` names them in messages); `lead` holds
// leading dims (the expert count for MoE, nothing for a dense FFN).
static void checkFfnWeights(Checker &c, StringRef prefix, ArrayRef<int64_t> lead, int64_t dim,
                            Value up, Value gate, Value down) {
  auto withLead = [&](std::initializer_list<int64_t> tail) {
    SmallVector<int64_t> s(lead.begin(), lead.end());
    s.append(tail.begin(), tail.end());
    return s;
  };
  std::string lay = lead.empty() ? "" : "experts, ";
  c.f32(up, (prefix + "up").str())
      .rank(up, (prefix + "up").str(), lead.size() + 2, "[" + lay + "hidden, dim]");
  if (!c.ok())
    return;
  int64_t hidden = tensorType(up).getDimSize(lead.size());
  c.shape(up, (prefix + "up").str(), withLead({hidden, dim}), "[" + lay + "hidden, dim]");
  if (gate)
    c.f32(gate, (prefix + "gate").str())
        .shape(gate, (prefix + "gate").str(), withLead({hidden, dim}),
               "[" + lay + "hidden, dim] (as up)");
  c.f32(down, (prefix + "down").str())
      .shape(down, (prefix + "down").str(), withLead({dim, hidden}), "[" + lay + "dim, hidden]");
}

LogicalResult FFNOp::verify() {
  Checker c(*this);
  c.f32(getInput(), "input").minRank(getInput(), "input", 1);
  if (!c.ok())
    return failure();
  auto in = getInput().getType();
  int64_t dim = in.getShape().back();
  Activation act = getActivation();
  if (isGated(act))
    c.check(static_cast<bool>(getWGate()),
            "activation " + stringifyActivation(act) + " is gated and needs a gate(...) weight");
  else
    c.check(!getWGate(), "activation " + stringifyActivation(act) +
                             " is not gated; use swiglu or geglu with a gate(...) weight");
  c.check(!getTanhApprox() || isGelu(act),
          "tanh_approx applies only to gelu and geglu, not " + stringifyActivation(act));
  checkFfnWeights(c, "w_", {}, dim, getWUp(), getWGate(), getWDown());
  if (!c.ok())
    return failure();
  int64_t hidden = getWUp().getType().getDimSize(0);
  if (getBUp())
    c.f32(getBUp(), "up_bias").shape(getBUp(), "up_bias", {hidden}, "[hidden]");
  if (getBDown())
    c.f32(getBDown(), "down_bias").shape(getBDown(), "down_bias", {dim}, "[dim]");
  c.resultIs(getResult(), in.getShape(), in.getElementType(), "(the input's shape)");
  if (getResidual())
    c.f32(getResidual(), "residual")
        .shape(getResidual(), "residual", in.getShape(), "(the input's shape)");
  checkInputFormat(c, getInputFormat(), {dim, hidden});
  return c.result();
}

LogicalResult MoEOp::verify() {
  Checker c(*this);
  c.f32(getInput(), "input").minRank(getInput(), "input", 1);
  c.f32(getRouter(), "router").rank(getRouter(), "router", 2, "[experts, dim]");
  if (!c.ok())
    return failure();
  auto in = getInput().getType();
  int64_t dim = in.getShape().back();
  int64_t experts = getRouter().getType().getDimSize(0);
  c.dim(getRouter(), "router", 1, dim, "dim = input's last dimension");
  Activation act = getActivation();
  size_t want = isGated(act) ? 3 : 2;
  StringRef names = isGated(act) ? "(up, gate, down)" : "(up, down)";
  c.check(getExperts().size() == want, "activation " + stringifyActivation(act) + " needs experts" +
                                           names + ", got " + Twine(getExperts().size()) +
                                           " weights");
  c.check(getShared().empty() || getShared().size() == want,
          "activation " + stringifyActivation(act) + " needs shared" + names + ", got " +
              Twine(getShared().size()) + " weights");
  c.check(!getTanhApprox() || isGelu(act),
          "tanh_approx applies only to gelu and geglu, not " + stringifyActivation(act));
  if (!c.ok())
    return failure();
  auto e = getExperts();
  checkFfnWeights(c, "experts ", {experts}, dim, e[0], want == 3 ? e[1] : Value(), e.back());
  if (!getShared().empty()) {
    auto s = getShared();
    checkFfnWeights(c, "shared ", {}, dim, s[0], want == 3 ? s[1] : Value(), s.back());
  }
  int64_t topK = static_cast<int64_t>(getTopK());
  c.positive(topK, "top_k");
  c.check(ShapedType::isDynamic(experts) || topK <= experts,
          "top_k (" + Twine(topK) + ") must not exceed the number of experts (" + Twine(experts) +
              ")");
  c.positive(getRoutedScale().convertToFloat(), "routed_scale");
  c.resultIs(getResult(), in.getShape(), in.getElementType(), "(the input's shape)");
  if (c.ok()) {
    SmallVector<int64_t> rows = {dim, cast<RankedTensorType>(e[0].getType()).getDimSize(1)};
    if (!getShared().empty())
      rows.push_back(cast<RankedTensorType>(getShared()[0].getType()).getDimSize(0));
    checkInputFormat(c, getInputFormat(), rows);
  }
  return c.result();
}

LogicalResult EinsumOp::verify() {
  Checker c(*this);
  EinsumEquation eq;
  std::string error;
  if (!parseEinsumEquation(getEquation().str(), eq, error))
    return emitOpError() << error;
  std::vector<std::vector<int64_t>> shapes;
  for (Value v : getInputs()) {
    c.f32(v, "every input");
    auto s = tensorType(v).getShape();
    shapes.emplace_back(s.begin(), s.end());
  }
  if (!c.ok())
    return failure();
  std::vector<int64_t> resultShape;
  if (!inferEinsumShape(eq, shapes, resultShape, error))
    return emitOpError() << error;
  c.resultIs(getResult(), resultShape, Float32Type::get(getContext()),
             ("(from '" + eq.output + "')").c_str());
  return c.result();
}

LogicalResult SoftmaxOp::verify() {
  Checker c(*this);
  c.f32(getInput(), "input").minRank(getInput(), "input", 1);
  int64_t rank = getInput().getType().getRank();
  int64_t axis = getAxis();
  c.check(axis >= -rank && axis < rank,
          "axis " + Twine(axis) + " is out of range for rank " + Twine(rank));
  return c.result();
}

LogicalResult ResidualAddOp::verify() {
  Checker c(*this);
  c.f32(getResidual(), "residual");
  return c.result();
}

LogicalResult KVCacheUpdateOp::verify() {
  Checker c(*this);
  c.f32(getCache(), "cache").rank(getCache(), "cache", 4, "[batch, max_len, kv_heads, head_dim]");
  c.f32(getUpdate(), "update").rank(getUpdate(), "update", 4, "[batch, n, kv_heads, head_dim]");
  if (!c.ok())
    return failure();
  auto cache = getCache().getType();
  c.dim(getUpdate(), "update", 0, cache.getDimSize(0), "batch, as in cache");
  c.dim(getUpdate(), "update", 2, cache.getDimSize(2), "kv_heads, as in cache");
  c.dim(getUpdate(), "update", 3, cache.getDimSize(3), "head_dim, as in cache");
  int64_t n = getUpdate().getType().getDimSize(1), maxLen = cache.getDimSize(1);
  c.check(ShapedType::isDynamic(n) || ShapedType::isDynamic(maxLen) || n <= maxLen,
          "update has " + Twine(n) + " rows but the cache holds only " + Twine(maxLen));
  c.resultIs(getResult(), cache.getShape(), cache.getElementType(), "(the cache's shape)");
  return c.result();
}

LogicalResult KVCacheViewOp::verify() {
  Checker c(*this);
  c.f32(getCache(), "cache").rank(getCache(), "cache", 4, "[batch, max_len, kv_heads, head_dim]");
  if (!c.ok())
    return failure();
  auto cache = getCache().getType();
  auto res = getResult().getType();
  // The length is the result's own (any value is fine); a result of the wrong
  // rank shows it as "?" rather than a misleading 0.
  c.resultIs(getResult(),
             {cache.getDimSize(0), res.getRank() == 4 ? res.getDimSize(1) : ShapedType::kDynamic,
              cache.getDimSize(2), cache.getDimSize(3)},
             cache.getElementType(), "[batch, length, kv_heads, head_dim]");
  if (!c.ok())
    return failure();
  int64_t len = res.getDimSize(1), maxLen = cache.getDimSize(1);
  c.check(ShapedType::isDynamic(len) || ShapedType::isDynamic(maxLen) || len <= maxLen,
          "result length " + Twine(len) + " exceeds the cache's max_len " + Twine(maxLen));
  return c.result();
}

LogicalResult SampleOp::verify() {
  Checker c(*this);
  c.f32(getLogits(), "logits").minRank(getLogits(), "logits", 1);
  if (!c.ok())
    return failure();
  auto shape = getLogits().getType().getShape();
  c.resultIs(getResult(), shape.drop_back(), IntegerType::get(getContext(), 64),
             "(the logits' shape without vocab)");
  float t = getTemperature().convertToFloat(), p = getTopP().convertToFloat();
  c.check(t >= 0.0f, "temperature must be >= 0, got " + num(t));
  // ODS hands I64Attr back as uint64_t: compare as signed, or -1 passes.
  int64_t topK = static_cast<int64_t>(getTopK());
  c.check(topK >= 0, "top_k must be >= 0 (0 = no limit), got " + Twine(topK));
  c.check(p > 0.0f && p <= 1.0f, "top_p must be in (0, 1], got " + num(p));
  return c.result();
}

#define GET_OP_CLASSES
#include "dialect/TesselOps.cpp.inc"

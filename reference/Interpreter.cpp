//===- Interpreter.cpp - run a tessel function on host tensors ------------===//
#include "reference/Interpreter.h"

#include "absl/strings/str_cat.h"
#include "dialect/TesselOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "reference/Ops.h"
#include "support/StatusMacros.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/SourceMgr.h"

namespace tessel::ref {

using namespace mlir;

struct ReferenceProgram::Impl {
  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

namespace {

std::string locationString(Location loc) {
  std::string s;
  llvm::raw_string_ostream os(s);
  loc.print(os);
  return s;
}

absl::StatusOr<DType> dtypeOf(Type type) {
  Type elem = type;
  if (auto shaped = dyn_cast<ShapedType>(type))
    elem = shaped.getElementType();
  if (elem.isF32())
    return DType::F32;
  if (elem.isInteger(1))
    return DType::I1;
  if (elem.isSignlessInteger() || elem.isIndex())
    return DType::I64;
  std::string s;
  llvm::raw_string_ostream os(s);
  type.print(os);
  return absl::UnimplementedError("the reference evaluator does not handle type " + s);
}

absl::StatusOr<ArgumentSpec> specOf(Type type) {
  auto dtype = dtypeOf(type);
  if (!dtype.ok())
    return dtype.status();
  ArgumentSpec spec{*dtype, {}, false};
  if (auto ranked = dyn_cast<RankedTensorType>(type)) {
    for (int64_t d : ranked.getShape())
      spec.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
  } else if (isa<ShapedType>(type)) {
    return absl::UnimplementedError("unranked tensors are not supported");
  } else {
    spec.isScalar = true;
  }
  return spec;
}

// Does a concrete tensor fit a (possibly dynamic) type?
absl::Status checkFits(const Tensor &t, Type type, const std::string &what) {
  auto spec = specOf(type);
  if (!spec.ok())
    return spec.status();
  bool ok = t.dtype == spec->dtype && t.shape.size() == spec->shape.size();
  for (size_t i = 0; ok && i < t.shape.size(); ++i)
    ok = spec->shape[i] < 0 || spec->shape[i] == t.shape[i];
  if (ok)
    return absl::OkStatus();
  std::string s;
  llvm::raw_string_ostream os(s);
  type.print(os);
  return absl::InvalidArgumentError(what + " is " + t.describe() + " but the IR expects " + s);
}

RopeLayout ropeLayout(tessel::RopeLayout l) {
  return l == tessel::RopeLayout::interleaved ? RopeLayout::Interleaved : RopeLayout::HalfSplit;
}

// An op's `input_format` (absent: F32).
absl::StatusOr<InputFormat> inputFormat(std::optional<StringRef> attr) {
  if (!attr)
    return InputFormat::F32;
  return parseInputFormat(attr->str());
}

Activation activation(tessel::Activation a) {
  switch (a) {
  case tessel::Activation::relu:
    return Activation::Relu;
  case tessel::Activation::gelu:
    return Activation::Gelu;
  case tessel::Activation::silu:
    return Activation::Silu;
  case tessel::Activation::swiglu:
    return Activation::SwiGLU;
  case tessel::Activation::geglu:
    return Activation::GeGLU;
  }
  return Activation::Relu;
}

AttentionParams attentionParams(bool causal, std::optional<uint64_t> window,
                                std::optional<APFloat> scale) {
  AttentionParams p;
  p.causal = causal;
  p.window = window ? static_cast<int64_t>(*window) : 0;
  if (scale)
    p.scale = scale->convertToDouble();
  return p;
}

absl::StatusOr<Tensor> constantTensor(arith::ConstantOp op) {
  auto dense = dyn_cast<DenseElementsAttr>(op.getValue());
  auto dtype = dtypeOf(op.getType());
  if (!dtype.ok())
    return dtype.status();
  if (!dense) {
    if (auto intAttr = dyn_cast<IntegerAttr>(op.getValue()))
      return Tensor::scalarI64(intAttr.getValue().getSExtValue());
    return absl::UnimplementedError("arith.constant must be a dense tensor or an integer");
  }
  auto type = cast<RankedTensorType>(dense.getType());
  std::vector<int64_t> shape(type.getShape().begin(), type.getShape().end());
  if (*dtype == DType::F32) {
    Tensor t = Tensor::zerosF32(shape);
    int64_t i = 0;
    for (APFloat v : dense.getValues<APFloat>())
      t.f[i++] = v.convertToFloat();
    return t;
  }
  Tensor t = Tensor::zerosI64(shape, *dtype);
  int64_t i = 0;
  for (APInt v : dense.getValues<APInt>())
    t.i[i++] = *dtype == DType::I1 ? v.getZExtValue() : v.getSExtValue();
  return t;
}

class Evaluator {
public:
  explicit Evaluator(const WeightProvider &weights) : weights(weights) {}

  absl::StatusOr<std::vector<Tensor>> run(func::FuncOp fn, const std::vector<Tensor> &args) {
    auto argTypes = fn.getArgumentTypes();
    if (args.size() != argTypes.size())
      return absl::InvalidArgumentError(absl::StrCat(
          "@", fn.getSymName().str(), " takes ", argTypes.size(), " arguments, got ", args.size()));
    for (size_t i = 0; i < args.size(); ++i) {
      auto st = checkFits(args[i], argTypes[i], "argument " + std::to_string(i));
      if (!st.ok())
        return st;
      values[fn.getArgument(i)] = args[i];
    }
    if (!fn.getBody().hasOneBlock())
      return absl::UnimplementedError("the reference evaluator handles single-block functions");
    for (Operation &op : fn.getBody().front()) {
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        std::vector<Tensor> results;
        for (Value v : ret.getOperands())
          results.push_back(values.at(v));
        return results;
      }
      auto result = evaluate(op);
      if (!result.ok())
        return absl::Status(result.status().code(), absl::StrCat(locationString(op.getLoc()), ": ",
                                                                 op.getName().getStringRef().str(),
                                                                 ": ", result.status().message()));
      auto st = checkFits(*result, op.getResult(0).getType(), "the result");
      if (!st.ok())
        return absl::InternalError(absl::StrCat(locationString(op.getLoc()), ": ",
                                                op.getName().getStringRef().str(), ": ",
                                                st.message()));
      values[op.getResult(0)] = std::move(*result);
    }
    return absl::InvalidArgumentError("function has no func.return");
  }

private:
  const Tensor &get(Value v) { return values.at(v); }
  const Tensor *getOpt(Value v) { return v ? &values.at(v) : nullptr; }

  FfnWeights ffnWeights(ValueRange w, bool gated) {
    FfnWeights f;
    f.up = &get(w[0]);
    f.gate = gated ? &get(w[1]) : nullptr;
    f.down = &get(w.back());
    return f;
  }

  // A fused residual (tessel-fuse-residual) means exactly the residual_add
  // it replaced: residual + y.
  absl::StatusOr<Tensor> withResidual(absl::StatusOr<Tensor> y, Value residual) {
    if (!y.ok() || !residual)
      return y;
    return residualAdd(get(residual), *y);
  }

  absl::StatusOr<Tensor> evaluate(Operation &op) {
    using R = absl::StatusOr<Tensor>;
    return llvm::TypeSwitch<Operation *, R>(&op)
        .Case([&](EmbeddingOp o) -> R {
          return embedding(get(o.getTable()), get(o.getIds()), o.getScale().convertToDouble());
        })
        .Case([&](LinearOp o) -> R {
          if (o.getInputFormat()) {
            ASSIGN_OR_RETURN(format, inputFormat(o.getInputFormat()));
            ASSIGN_OR_RETURN(rounded, roundRows(get(o.getInput()), format));
            return withResidual(linear(rounded, get(o.getWeight()), getOpt(o.getBias())),
                                o.getResidual());
          }
          return withResidual(linear(get(o.getInput()), get(o.getWeight()), getOpt(o.getBias())),
                              o.getResidual());
        })
        .Case([&](RMSNormOp o) -> R {
          return rmsNorm(get(o.getInput()), get(o.getWeight()), o.getEpsilon().convertToDouble(),
                         o.getUnitOffset());
        })
        .Case([&](LayerNormOp o) -> R {
          return layerNorm(get(o.getInput()), get(o.getWeight()), getOpt(o.getBias()),
                           o.getEpsilon().convertToDouble());
        })
        .Case([&](RopeOp o) -> R {
          RopeParams p;
          p.layout = ropeLayout(o.getLayout());
          p.theta = o.getTheta().convertToDouble();
          p.rotaryDim = o.getRotaryDim() ? static_cast<int64_t>(*o.getRotaryDim()) : 0;
          p.linearScaling = o.getLinearScaling().convertToDouble();
          return rope(get(o.getInput()), get(o.getPositions()), p, getOpt(o.getFreqFactors()));
        })
        .Case([&](AttentionOp o) -> R {
          return attention(get(o.getQuery()), get(o.getKey()), get(o.getValue()),
                           getOpt(o.getMask()), getOpt(o.getSinks()),
                           attentionParams(o.getCausal(), o.getWindow(), o.getScale()));
        })
        .Case([&](AttentionProbsOp o) -> R {
          return attentionProbs(get(o.getQuery()), get(o.getKey()), getOpt(o.getMask()),
                                getOpt(o.getSinks()),
                                attentionParams(o.getCausal(), o.getWindow(), o.getScale()));
        })
        .Case([&](MLAOp o) -> R {
          MlaParams p;
          p.numHeads = static_cast<int64_t>(o.getNumHeads());
          p.kvLoraRank = static_cast<int64_t>(o.getKvLoraRank());
          p.qkNopeDim = static_cast<int64_t>(o.getQkNopeDim());
          p.qkRopeDim = static_cast<int64_t>(o.getQkRopeDim());
          p.vHeadDim = static_cast<int64_t>(o.getVHeadDim());
          p.qLoraRank = o.getQLoraRank() ? static_cast<int64_t>(*o.getQLoraRank()) : 0;
          p.ropeLayout = ropeLayout(o.getRopeLayout());
          p.ropeTheta = o.getRopeTheta().convertToDouble();
          p.epsilon = o.getEpsilon().convertToDouble();
          p.attention = attentionParams(o.getCausal(), o.getWindow(), o.getScale());
          ASSIGN_OR_RETURN(inputs, inputFormat(o.getInputFormat()));
          p.inputs = inputs;
          MlaWeights w;
          for (Value v : o.getQWeights())
            w.q.push_back(&get(v));
          for (Value v : o.getKvWeights())
            w.kv.push_back(&get(v));
          w.wo = &get(o.getWo());
          return mla(get(o.getInput()), get(o.getPositions()), w, getOpt(o.getMask()), p);
        })
        .Case([&](FFNOp o) -> R {
          ASSIGN_OR_RETURN(inputs, inputFormat(o.getInputFormat()));
          FfnParams p{activation(o.getActivation()), o.getTanhApprox(), inputs};
          FfnWeights w{&get(o.getWUp()), getOpt(o.getWGate()), &get(o.getWDown())};
          return withResidual(
              ffn(get(o.getInput()), w, getOpt(o.getBUp()), getOpt(o.getBDown()), p),
              o.getResidual());
        })
        .Case([&](MoEOp o) -> R {
          MoeParams p;
          p.topK = static_cast<int64_t>(o.getTopK());
          p.scoring = o.getScoring() == tessel::MoeScoring::softmax ? MoeScoring::Softmax
                                                                    : MoeScoring::Sigmoid;
          p.normalizeTopK = o.getNormalizeTopK();
          p.routedScale = o.getRoutedScale().convertToDouble();
          ASSIGN_OR_RETURN(inputs, inputFormat(o.getInputFormat()));
          p.ffn = FfnParams{activation(o.getActivation()), o.getTanhApprox(), inputs};
          bool gated = isGated(p.ffn.activation);
          FfnWeights experts = ffnWeights(o.getExperts(), gated);
          FfnWeights shared;
          if (!o.getShared().empty())
            shared = ffnWeights(o.getShared(), gated);
          return moe(get(o.getInput()), get(o.getRouter()), experts,
                     o.getShared().empty() ? nullptr : &shared, p);
        })
        .Case([&](EinsumOp o) -> R {
          std::vector<const Tensor *> inputs;
          for (Value v : o.getInputs())
            inputs.push_back(&get(v));
          return einsum(o.getEquation().str(), inputs);
        })
        .Case([&](SoftmaxOp o) -> R { return softmax(get(o.getInput()), o.getAxis()); })
        .Case([&](ResidualAddOp o) -> R {
          return residualAdd(get(o.getResidual()), get(o.getBranch()));
        })
        .Case([&](KVCacheUpdateOp o) -> R {
          return kvCacheUpdate(get(o.getCache()), get(o.getUpdate()), get(o.getPosition()).i[0]);
        })
        .Case([&](KVCacheViewOp o) -> R {
          return kvCacheView(get(o.getCache()), get(o.getLength()).i[0]);
        })
        .Case([&](SampleOp o) -> R {
          SampleParams p;
          p.temperature = o.getTemperature().convertToDouble();
          p.topK = o.getTopK();
          p.topP = o.getTopP().convertToDouble();
          p.seed = static_cast<uint64_t>(o.getSeed());
          return sample(get(o.getLogits()), p);
        })
        .Case([&](WeightOp o) -> R {
          if (!weights)
            return absl::FailedPreconditionError("weight '" + o.getName().str() +
                                                 "' needs a model's weights to be bound");
          auto type = o.getResult().getType();
          return weights(o.getName().str(),
                         std::vector<int64_t>(type.getShape().begin(), type.getShape().end()));
        })
        .Case([&](tensor::ExpandShapeOp o) -> R {
          // Static extents come from the type, dynamic ones from SSA values.
          std::vector<int64_t> shape;
          for (OpFoldResult d : o.getMixedOutputShape()) {
            if (auto attr = dyn_cast<Attribute>(d))
              shape.push_back(cast<IntegerAttr>(attr).getInt());
            else
              shape.push_back(get(cast<Value>(d)).i[0]);
          }
          return reshape(get(o.getSrc()), shape);
        })
        .Case([&](tensor::CollapseShapeOp o) -> R {
          const Tensor &src = get(o.getSrc());
          std::vector<int64_t> shape;
          for (const auto &group : o.getReassociationIndices()) {
            int64_t n = 1;
            for (int64_t d : group)
              n *= src.shape[d];
            shape.push_back(n);
          }
          return reshape(src, shape);
        })
        .Case([&](tensor::DimOp o) -> R {
          const Tensor &src = get(o.getSource());
          int64_t d = get(o.getIndex()).i[0];
          if (d < 0 || d >= src.rank())
            return absl::InvalidArgumentError("dimension out of range");
          return Tensor::scalarI64(src.shape[d]);
        })
        .Case([&](arith::ConstantOp o) -> R { return constantTensor(o); })
        .Default([&](Operation *other) -> R {
          return absl::UnimplementedError(
              "the reference evaluator does not implement this op (supported: the tessel "
              "dialect, tensor.expand_shape/collapse_shape/dim, arith.constant)");
        });
  }

  const WeightProvider &weights;
  llvm::DenseMap<Value, Tensor> values;
};

} // namespace

ReferenceProgram::ReferenceProgram(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ReferenceProgram::~ReferenceProgram() = default;

absl::StatusOr<std::unique_ptr<ReferenceProgram>>
ReferenceProgram::parse(std::string_view text, std::string_view sourceName) {
  auto impl = std::make_unique<Impl>();
  impl->context
      .loadDialect<TesselDialect, func::FuncDialect, tensor::TensorDialect, arith::ArithDialect>();
  std::string diagnostics;
  llvm::raw_string_ostream diagStream(diagnostics);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(text.data(), text.size()),
                                           llvm::StringRef(sourceName.data(), sourceName.size())),
      llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &impl->context, diagStream);
  impl->module = parseSourceFile<ModuleOp>(sourceMgr, &impl->context);
  if (!impl->module)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse ", std::string(sourceName), ":\n", diagnostics));
  return std::unique_ptr<ReferenceProgram>(new ReferenceProgram(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<ReferenceProgram>> ReferenceProgram::load(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return absl::NotFoundError(absl::StrCat(path, ": ", buffer.getError().message()));
  return parse((*buffer)->getBuffer().str(), path);
}

static absl::StatusOr<func::FuncOp> findFunction(ModuleOp module, std::string_view entry) {
  auto fn = module.lookupSymbol<func::FuncOp>(llvm::StringRef(entry.data(), entry.size()));
  if (!fn)
    return absl::NotFoundError(absl::StrCat("no function @", std::string(entry), " in the module"));
  return fn;
}

absl::StatusOr<std::vector<ArgumentSpec>>
ReferenceProgram::arguments(std::string_view entry) const {
  auto fn = findFunction(*impl_->module, entry);
  if (!fn.ok())
    return fn.status();
  std::vector<ArgumentSpec> specs;
  for (Type t : fn->getArgumentTypes()) {
    auto spec = specOf(t);
    if (!spec.ok())
      return spec.status();
    specs.push_back(*spec);
  }
  return specs;
}

absl::StatusOr<std::vector<Tensor>> ReferenceProgram::run(const std::vector<Tensor> &args,
                                                          std::string_view entry,
                                                          const WeightProvider &weights) const {
  auto fn = findFunction(*impl_->module, entry);
  if (!fn.ok())
    return fn.status();
  Evaluator evaluator(weights);
  return evaluator.run(*fn, args);
}

} // namespace tessel::ref

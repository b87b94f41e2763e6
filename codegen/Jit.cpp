//===- Jit.cpp - compile tessel IR to native code and run it --------------===//
#include "codegen/Jit.h"

#include <cstdlib>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "codegen/KernelAbi.h"
#include "codegen/Lowering.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "passes/Passes.h"

namespace tessel::codegen {

using namespace mlir;

namespace {

struct TypeInfo {
  ref::DType dtype;
  int64_t rank = -1; // -1: a scalar
};

absl::StatusOr<TypeInfo> typeInfo(Type t) {
  Type elem = t;
  TypeInfo info;
  if (auto shaped = dyn_cast<ShapedType>(t); shaped && shaped.hasRank()) {
    elem = shaped.getElementType();
    info.rank = shaped.getRank();
  }
  if (elem.isF32())
    info.dtype = ref::DType::F32;
  else if (elem.isInteger(64) || elem.isIndex())
    info.dtype = ref::DType::I64;
  else if (elem.isInteger(1))
    info.dtype = ref::DType::I1; // one byte per element
  else {
    std::string s;
    llvm::raw_string_ostream os(s);
    t.print(os);
    return absl::UnimplementedError("the JIT passes f32, i64 and i1 tensors, not " + s);
  }
  return info;
}

struct Signature {
  std::vector<TypeInfo> args, results;
  std::vector<std::string> weights; // names of the trailing weight arguments
};

// A ranked memref descriptor: {allocated, aligned, offset, sizes[r],
// strides[r]}, every field 8 bytes wide.
size_t descriptorWords(int64_t rank) { return 3 + 2 * rank; }

void fillDescriptor(int64_t *d, void *data, const std::vector<int64_t> &shape) {
  std::memcpy(&d[0], &data, sizeof(void *));
  std::memcpy(&d[1], &data, sizeof(void *));
  d[2] = 0;
  int64_t stride = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    d[3 + i] = shape[i];
    d[3 + shape.size() + i] = stride;
    stride *= shape[i];
  }
}

} // namespace

struct JitModule::Impl {
  MLIRContext context;
  std::unique_ptr<ExecutionEngine> engine;
  std::map<std::string, Signature> signatures;
};

JitModule::JitModule(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JitModule::~JitModule() = default;

absl::StatusOr<std::unique_ptr<JitModule>>
JitModule::compile(std::string_view mlirText, std::string_view sourceName,
                   const std::vector<PipelineStage> &pipeline) {
  auto impl = std::make_unique<Impl>();
  prepareContext(impl->context);
  DiagnosticCollector diagnostics(impl->context);
  std::string name(sourceName);
  auto parsed = parseModule(impl->context, mlirText, name, diagnostics);
  if (!parsed.ok())
    return parsed.status();
  OwningOpRef<ModuleOp> module = std::move(*parsed);

  // Weights become trailing arguments first, so the recorded signatures are
  // the ones the compiled code has.
  if (auto st = runPipeline(*module, "builtin.module(func.func(tessel-weights-to-arguments))", name,
                            diagnostics);
      !st.ok())
    return st;
  // Signatures are read before lowering and again after every stage that
  // still has func.func entry points: bufferization may drop results (the
  // KV caches updated in place), and the last reading is what the compiled
  // code takes and returns.
  auto readSignatures = [&]() -> absl::Status {
    for (auto fn : module->getOps<func::FuncOp>()) {
      if (fn.isExternal() || fn.isPrivate())
        continue;
      Signature sig;
      if (auto names = fn->getAttrOfType<ArrayAttr>("tessel.weights"))
        for (Attribute a : names)
          sig.weights.push_back(cast<StringAttr>(a).str());
      for (Type t : fn.getArgumentTypes()) {
        auto info = typeInfo(t);
        if (!info.ok())
          return info.status();
        sig.args.push_back(*info);
      }
      for (Type t : fn.getResultTypes()) {
        auto info = typeInfo(t);
        if (!info.ok())
          return info.status();
        if (info->rank < 0)
          return absl::UnimplementedError("scalar results are not supported");
        sig.results.push_back(*info);
      }
      impl->signatures[fn.getSymName().str()] = sig;
      fn->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), UnitAttr::get(&impl->context));
    }
    return absl::OkStatus();
  };
  if (auto st = readSignatures(); !st.ok())
    return st;
  for (const PipelineStage &stage : pipeline) {
    if (auto st = runPipeline(*module, stage.passes, name, diagnostics); !st.ok())
      return st;
    bool hasFuncs = !module->getOps<func::FuncOp>().empty();
    if (hasFuncs)
      if (auto st = readSignatures(); !st.ok())
        return st;
  }

  if (std::getenv("TESSEL_DUMP_LLVM_DIALECT"))
    module->print(llvm::errs());
  ExecutionEngineOptions options;
  // `transformer` is a function_ref: the std::function must outlive create().
  std::function<llvm::Error(llvm::Module *)> optimize =
      makeOptimizingTransformer(/*optLevel=*/3, /*sizeLevel=*/0, nullptr);
  options.transformer = optimize;
  options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  auto engine = ExecutionEngine::create(*module, options);
  if (!engine) {
    std::string msg;
    llvm::raw_string_ostream os(msg);
    os << engine.takeError();
    return absl::InternalError("JIT compilation of " + name + " failed: " + msg + "\n" +
                               diagnostics.text());
  }
  impl->engine = std::move(*engine);
  impl->engine->registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap symbols;
    for (const auto &[name, address] : kernelAbiSymbols())
      symbols[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                 llvm::JITSymbolFlags::Exported};
    return symbols;
  });
  // ORC compiles on first lookup: look every entry point up now, so that
  // compile time is paid here and not by the first call.
  for (const auto &[fn, sig] : impl->signatures) {
    auto symbol = impl->engine->lookupPacked("_mlir_ciface_" + fn);
    if (!symbol) {
      std::string msg;
      llvm::raw_string_ostream os(msg);
      os << symbol.takeError();
      return absl::InternalError("JIT compilation of @" + fn + " failed: " + msg);
    }
  }
  return std::unique_ptr<JitModule>(new JitModule(std::move(impl)));
}

absl::StatusOr<std::vector<std::string>> JitModule::weightNames(const std::string &function) const {
  auto it = impl_->signatures.find(function);
  if (it == impl_->signatures.end())
    return absl::NotFoundError("no function @" + function + " in the compiled module");
  return it->second.weights;
}

absl::StatusOr<size_t> JitModule::numResults(const std::string &function) const {
  auto it = impl_->signatures.find(function);
  if (it == impl_->signatures.end())
    return absl::NotFoundError("no function @" + function + " in the compiled module");
  return it->second.results.size();
}

absl::StatusOr<std::vector<ref::Tensor>>
JitModule::run(const std::string &function, const std::vector<ref::Tensor> &args) const {
  // Copies: bufferization may write a writable argument in place. I1
  // tensors travel as one byte per element.
  std::vector<ref::Tensor> inputs = args;
  std::vector<std::vector<uint8_t>> bytes(args.size());
  std::vector<BufferRef> refs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    BufferRef r = BufferRef::of(inputs[i]);
    if (inputs[i].dtype == ref::DType::I1) {
      bytes[i].assign(inputs[i].i.begin(), inputs[i].i.end());
      r.data = bytes[i].data();
    }
    refs.push_back(std::move(r));
  }
  return call(function, refs);
}

absl::StatusOr<std::vector<ref::Tensor>> JitModule::call(const std::string &function,
                                                         const std::vector<BufferRef> &args) const {
  auto it = impl_->signatures.find(function);
  if (it == impl_->signatures.end())
    return absl::NotFoundError("no function @" + function + " in the compiled module");
  const Signature &sig = it->second;
  if (args.size() != sig.args.size())
    return absl::InvalidArgumentError(
        absl::StrCat("@", function, " takes ", sig.args.size(), " arguments, got ", args.size()));
  std::vector<std::vector<int64_t>> descriptors;
  std::vector<int64_t> scalars(args.size());
  std::vector<void *> argPointers(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    const TypeInfo &t = sig.args[i];
    int64_t rank = static_cast<int64_t>(args[i].shape.size());
    if (args[i].dtype != t.dtype || (t.rank >= 0 && rank != t.rank) || (t.rank < 0 && rank != 0))
      return absl::InvalidArgumentError(
          absl::StrCat("argument ", i, " of @", function, " is ", ref::dtypeName(args[i].dtype),
                       " of rank ", rank, ", which does not match the function's type"));
    if (t.rank < 0) {
      scalars[i] = *static_cast<const int64_t *>(args[i].data);
      argPointers[i] = &scalars[i];
      continue;
    }
    descriptors.emplace_back(descriptorWords(t.rank));
    fillDescriptor(descriptors.back().data(), args[i].data, args[i].shape);
  }
  // The C interface takes a pointer to each descriptor, and returns results
  // through a pointer to one struct holding every result descriptor.
  std::vector<void *> descriptorPointers;
  descriptorPointers.reserve(args.size()); // argPointers keep addresses into it
  size_t next = 0;
  for (size_t i = 0; i < args.size(); ++i)
    if (sig.args[i].rank >= 0) {
      descriptorPointers.push_back(descriptors[next++].data());
      argPointers[i] = &descriptorPointers.back();
    }
  size_t resultWords = 0;
  for (const TypeInfo &r : sig.results)
    resultWords += descriptorWords(r.rank);
  std::vector<int64_t> resultBuffer(resultWords);
  void *resultPointer = resultBuffer.data();
  std::vector<void *> packed;
  if (!sig.results.empty())
    packed.push_back(&resultPointer);
  for (void *p : argPointers)
    packed.push_back(p);
  if (auto err = impl_->engine->invokePacked("_mlir_ciface_" + function, packed)) {
    std::string msg;
    llvm::raw_string_ostream os(msg);
    os << err;
    return absl::InternalError("calling @" + function + " failed: " + msg);
  }
  std::vector<ref::Tensor> results;
  size_t offset = 0;
  for (const TypeInfo &r : sig.results) {
    const int64_t *d = &resultBuffer[offset];
    offset += descriptorWords(r.rank);
    std::vector<int64_t> shape(d + 3, d + 3 + r.rank);
    ref::Tensor t = r.dtype == ref::DType::F32 ? ref::Tensor::zerosF32(shape)
                                               : ref::Tensor::zerosI64(shape, r.dtype);
    void *allocated, *aligned;
    std::memcpy(&allocated, &d[0], sizeof(void *));
    std::memcpy(&aligned, &d[1], sizeof(void *));
    // Copy element by element through the strides (results may be views).
    int64_t n = t.numel();
    std::vector<int64_t> index(r.rank, 0);
    for (int64_t e = 0; e < n; ++e) {
      int64_t off = d[2];
      for (int64_t k = 0; k < r.rank; ++k)
        off += index[k] * d[3 + r.rank + k];
      if (r.dtype == ref::DType::F32)
        t.f[e] = static_cast<const float *>(aligned)[off];
      else if (r.dtype == ref::DType::I1)
        t.i[e] = static_cast<const uint8_t *>(aligned)[off] != 0;
      else
        t.i[e] = static_cast<const int64_t *>(aligned)[off];
      for (int64_t k = r.rank - 1; k >= 0; --k) {
        if (++index[k] < shape[k])
          break;
        index[k] = 0;
      }
    }
    // Results own their buffers (ownership-based deallocation hands them
    // over); free them unless they alias an argument.
    bool aliasesInput = false;
    for (const BufferRef &in : args)
      aliasesInput |= allocated == in.data;
    if (!aliasesInput)
      std::free(allocated);
    results.push_back(std::move(t));
  }
  return results;
}

} // namespace tessel::codegen

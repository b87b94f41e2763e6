//===- Jit.cpp - compile tessel IR to native code and run it --------------===//
#include "codegen/Jit.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "codegen/Compile.h"
#include "codegen/KernelAbi.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "runtime/Profiler.h"
#include "runtime/cuda/CudaDevice.h"
#include "support/Progress.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/Module.h"

namespace tessel::codegen {

using namespace mlir;

namespace {

absl::StatusOr<TensorKind> typeInfo(Type t) {
  Type elem = t;
  TensorKind info;
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
  else if (elem.isInteger(8))
    info.dtype = ref::DType::I8; // a stored weight's bytes
  else {
    std::string s;
    llvm::raw_string_ostream os(s);
    t.print(os);
    return absl::UnimplementedError("the JIT passes f32, i64, i1 and i8 tensors, not " + s);
  }
  return info;
}

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

int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

size_t elementBytes(ref::DType dtype) {
  switch (dtype) {
  case ref::DType::F32:
    return 4;
  case ref::DType::I64:
    return 8;
  default: // I1 (one byte per element) and I8
    return 1;
  }
}

// Device copies of host arguments for one call, freed when it returns.
class DeviceTemporaries {
public:
  ~DeviceTemporaries() {
    for (void *p : buffers_)
      runtime::cuda::deviceFree(p);
  }
  absl::StatusOr<void *> upload(const void *host, int64_t bytes) {
    auto buffer = runtime::cuda::deviceAlloc(static_cast<size_t>(bytes));
    if (!buffer.ok())
      return buffer.status();
    buffers_.push_back(*buffer);
    if (absl::Status st = runtime::cuda::copyToDevice(*buffer, host, static_cast<size_t>(bytes));
        !st.ok())
      return st;
    return *buffer;
  }

private:
  std::vector<void *> buffers_;
};

} // namespace

struct JitModule::Impl {
  std::unique_ptr<ExecutionEngine> engine; // JIT-compiled code
  void *library = nullptr;                 // or a shared library (dlopen handle)
  Signatures signatures;
  std::vector<std::string> profileOps; // tessel.profile_ops, if profiled
  // `_mlir__mlir_ciface_<fn>`: the C interface with every argument and the
  // result pointer packed into one array of pointers.
  std::map<std::string, void (*)(void **)> entryPoints;
  bool cuda = false; // code for runtime/cuda: buffers live on the device

  ~Impl() {
    engine.reset();
    if (library)
      dlclose(library);
  }
};

JitModule::JitModule(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JitModule::~JitModule() = default;

absl::StatusOr<OwningOpRef<ModuleOp>>
lowerToLlvmDialect(MLIRContext &context, std::string_view text, const std::string &name,
                   const std::vector<PipelineStage> &pipeline,
                   const DiagnosticCollector &diagnostics, Signatures &signatures,
                   support::ProgressBar *progress) {
  const std::string weightsToArguments = "builtin.module(tessel-weights-to-arguments)";
  // Where the bar stands after each stage (a stage whose passes coalesce
  // into fewer adaptors than parsed still ends where it should).
  std::vector<int64_t> stageEnds;
  if (progress) {
    int64_t units = countTopLevelPasses(weightsToArguments);
    for (const PipelineStage &stage : pipeline)
      stageEnds.push_back(units += countTopLevelPasses(stage.passes));
    progress->setTotal(units + kTranslateUnits + kOptimizeUnits + kMachineCodeUnits);
  }
  auto parsed = parseModule(context, text, name, diagnostics);
  if (!parsed.ok())
    return parsed.status();
  OwningOpRef<ModuleOp> module = std::move(*parsed);

  // Weights become trailing arguments first, so the recorded signatures are
  // the ones the compiled code has.
  if (auto st = runPipeline(*module, weightsToArguments, name, diagnostics, nullptr, progress);
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
      FunctionSignature sig;
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
      signatures[fn.getSymName().str()] = sig;
      fn->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), UnitAttr::get(&context));
    }
    return absl::OkStatus();
  };
  if (auto st = readSignatures(); !st.ok())
    return st;
  for (size_t i = 0; i < pipeline.size(); ++i) {
    if (auto st = runPipeline(*module, pipeline[i].passes, name, diagnostics, nullptr, progress);
        !st.ok())
      return st;
    if (progress)
      progress->set(stageEnds[i]);
    bool hasFuncs = !module->getOps<func::FuncOp>().empty();
    if (hasFuncs)
      if (auto st = readSignatures(); !st.ok())
        return st;
  }
  if (std::getenv("TESSEL_DUMP_LLVM_DIALECT"))
    module->print(llvm::errs());
  return module;
}

absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> hostTargetMachine(bool sharedLibrary) {
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder)
    return absl::InternalError("cannot describe the host CPU: " + toString(builder.takeError()));
  // Set here, on the machine itself: ExecutionEngineOptions::jitCodeGenOptLevel
  // is ignored when the engine is handed a target machine (and when it builds
  // its own one, too).
  builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  if (sharedLibrary) {
    builder->setRelocationModel(llvm::Reloc::PIC_);
    builder->setCodeModel(llvm::CodeModel::Small);
  }
  auto machine = builder->createTargetMachine();
  if (!machine)
    return absl::InternalError("no target machine for the host: " + toString(machine.takeError()));
  return std::move(*machine);
}

std::function<llvm::Error(llvm::Module *)> llvmOptimizer() {
  return makeOptimizingTransformer(/*optLevel=*/3, /*sizeLevel=*/0, nullptr);
}

absl::StatusOr<std::unique_ptr<JitModule>>
JitModule::compile(std::string_view mlirText, std::string_view sourceName,
                   const std::vector<PipelineStage> &pipeline) {
  return compileWith(mlirText, sourceName, pipeline, /*cuda=*/false);
}

absl::StatusOr<std::unique_ptr<JitModule>> JitModule::compileCuda(std::string_view mlirText,
                                                                  std::string_view sourceName,
                                                                  const GpuOptions &gpu) {
  // The module's constructors load its PTX: fail here, with the driver's
  // own message, rather than at the first call.
  if (absl::Status st = runtime::cuda::ensureDevice(); !st.ok())
    return st;
  return compileWith(mlirText, sourceName, gpuPipeline(gpu), /*cuda=*/true);
}

bool JitModule::onDevice() const { return impl_->cuda; }

absl::StatusOr<std::unique_ptr<JitModule>>
JitModule::compileWith(std::string_view mlirText, std::string_view sourceName,
                       const std::vector<PipelineStage> &pipeline, bool cuda) {
  // Declared before the module, which must go first.
  MLIRContext context;
  prepareContext(context);
  DiagnosticCollector diagnostics(context);
  std::string name(sourceName);
  auto impl = std::make_unique<Impl>();
  support::ProgressBar progress("compiling", 0);
  auto module = lowerToLlvmDialect(context, mlirText, name, pipeline, diagnostics, impl->signatures,
                                   &progress);
  if (!module.ok())
    return module.status();
  if (auto table = (**module)->getAttrOfType<ArrayAttr>("tessel.profile_ops"))
    for (Attribute a : table)
      impl->profileOps.push_back(cast<StringAttr>(a).str());
  auto machine = hostTargetMachine(/*sharedLibrary=*/false);
  if (!machine.ok())
    return machine.status();

  ExecutionEngineOptions options;
  // `transformer` is a function_ref: the std::function must outlive create().
  // ORC runs it on the translated module when the first entry point is
  // looked up, then generates machine code.
  std::function<llvm::Error(llvm::Module *)> optimize = [&progress,
                                                         o3 = llvmOptimizer()](llvm::Module *m) {
    progress.advance(kTranslateUnits);
    llvm::Error error = o3(m);
    progress.advance(kOptimizeUnits);
    return error;
  };
  options.transformer = optimize;
  // The engine gives every external function a packed `_mlir_<name>(void **)`
  // wrapper. We call the C interfaces' (`_mlir__mlir_ciface_<fn>`); the
  // wrapper of an entry point itself would be a call with every memref
  // field as a scalar argument (about 1,400 for stories110M's @step), whose
  // stack stores SelectionDAG combines in quadratic time: 7 of its 8 s of
  // compile. Internal entry points get no wrapper, as in the AOT library.
  std::function<std::unique_ptr<llvm::Module>(Operation *, llvm::LLVMContext &)> translate =
      [&impl](Operation *op, llvm::LLVMContext &llvmContext) {
        std::unique_ptr<llvm::Module> m = translateModuleToLLVMIR(op, llvmContext);
        if (m)
          for (const auto &[fn, sig] : impl->signatures)
            if (llvm::Function *f = m->getFunction(fn); f && !f->isDeclaration())
              f->setLinkage(llvm::GlobalValue::InternalLinkage);
        return m;
      };
  options.llvmModuleBuilder = translate;
  auto engine = ExecutionEngine::create(**module, options, std::move(*machine));
  if (!engine) {
    std::string msg;
    llvm::raw_string_ostream os(msg);
    os << engine.takeError();
    return absl::InternalError("JIT compilation of " + name + " failed: " + msg + "\n" +
                               diagnostics.text());
  }
  impl->engine = std::move(*engine);
  impl->cuda = cuda;
  impl->engine->registerSymbols([cuda](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap symbols;
    for (const auto &[name, address] : kernelAbiSymbols())
      symbols[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                 llvm::JITSymbolFlags::Exported};
    // The mgpu* functions gpu-to-llvm's launches and the kernels' module
    // constructors call.
    if (cuda)
      for (const auto &[name, address] : runtime::cuda::runtimeSymbols())
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
    impl->entryPoints[fn] = *symbol;
  }
  // CUDA code has constructors: each loads one kernel module (its PTX) into
  // the driver. Run them now; a module the driver rejects fails here.
  if (cuda) {
    impl->engine->initialize();
    if (absl::Status st = runtime::cuda::takeError(); !st.ok())
      return st;
  }
  progress.finish();
  return std::unique_ptr<JitModule>(new JitModule(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<JitModule>>
JitModule::loadSharedLibrary(const std::string &path, const Signatures &functions,
                             const std::vector<std::string> &imports) {
  std::map<std::string, void *> provided;
  for (const auto &[name, address] : kernelAbiSymbols())
    provided[name] = address;
  for (const std::string &name : imports)
    if (!provided.count(name))
      return absl::FailedPreconditionError(
          path + " calls " + name +
          ", which this build of Tessel does not provide; compile the model again");
  // RTLD_LOCAL: entry points of two models loaded side by side (both name
  // their function @step) must not resolve to one another.
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    return absl::FailedPreconditionError("cannot load " + path + ": " +
                                         (why ? why : "unknown dlopen error"));
  }
  auto impl = std::make_unique<Impl>();
  impl->library = handle;
  impl->signatures = functions;
  // The library reaches the kernels through pointers it exports (see
  // compileAot); fill them in before anything can call them.
  for (const std::string &name : imports) {
    auto *slot = static_cast<void **>(dlsym(handle, (kImportPrefix + name).c_str()));
    if (!slot)
      return absl::FailedPreconditionError(path + " has no import slot for " + name +
                                           "; it was not written by this version of Tessel");
    *slot = provided[name];
  }
  for (const auto &[fn, sig] : functions) {
    void *symbol = dlsym(handle, packedEntryName(fn).c_str());
    if (!symbol)
      return absl::FailedPreconditionError(path + " has no entry point @" + fn);
    impl->entryPoints[fn] = reinterpret_cast<void (*)(void **)>(symbol);
  }
  return std::unique_ptr<JitModule>(new JitModule(std::move(impl)));
}

const Signatures &JitModule::signatures() const { return impl_->signatures; }

const std::vector<std::string> &JitModule::profileOps() const { return impl_->profileOps; }

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
  const FunctionSignature &sig = it->second;
  if (args.size() != sig.args.size())
    return absl::InvalidArgumentError(
        absl::StrCat("@", function, " takes ", sig.args.size(), " arguments, got ", args.size()));
  // One flat buffer for every descriptor (a decode step passes ~50 and
  // should not allocate per argument), and the pointers the C interface
  // wants: to each scalar, or to a pointer to each descriptor.
  size_t argWords = 0;
  for (const TensorKind &t : sig.args)
    argWords += t.rank >= 0 ? descriptorWords(t.rank) : 1;
  // CUDA code reads device memory only: host arguments (token ids,
  // positions) travel to the device for the call.
  DeviceTemporaries temporaries;
  std::vector<int64_t> words(argWords);
  std::vector<void *> descriptorPointers(args.size()), argPointers(args.size());
  size_t at = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const TensorKind &t = sig.args[i];
    int64_t rank = static_cast<int64_t>(args[i].shape.size());
    if (args[i].dtype != t.dtype || (t.rank >= 0 && rank != t.rank) || (t.rank < 0 && rank != 0))
      return absl::InvalidArgumentError(
          absl::StrCat("argument ", i, " of @", function, " is ", ref::dtypeName(args[i].dtype),
                       " of rank ", rank, ", which does not match the function's type"));
    if (t.rank < 0) {
      words[at] = *static_cast<const int64_t *>(args[i].data);
      argPointers[i] = &words[at++];
      continue;
    }
    void *data = args[i].data;
    if (impl_->cuda && !args[i].onDevice) {
      auto copy = temporaries.upload(data, numElements(args[i].shape) * elementBytes(t.dtype));
      if (!copy.ok())
        return copy.status();
      data = *copy;
    } else if (!impl_->cuda && args[i].onDevice) {
      return absl::InvalidArgumentError(absl::StrCat(
          "argument ", i, " of @", function, " is in device memory, but the code runs on the CPU"));
    }
    fillDescriptor(&words[at], data, args[i].shape);
    descriptorPointers[i] = &words[at];
    argPointers[i] = &descriptorPointers[i];
    at += descriptorWords(t.rank);
  }
  size_t resultWords = 0;
  for (const TensorKind &r : sig.results)
    resultWords += descriptorWords(r.rank);
  std::vector<int64_t> resultBuffer(resultWords);
  void *resultPointer = resultBuffer.data();
  std::vector<void *> packed;
  if (!sig.results.empty())
    packed.push_back(&resultPointer);
  for (void *p : argPointers)
    packed.push_back(p);
  {
    // Time in compiled code, for the profile (the rest of the caller's time
    // is the runtime's).
    const bool profiling = tessel::runtime::Profiler::enabled();
    const int64_t start = profiling ? tessel::runtime::profileNowNs() : 0;
    impl_->entryPoints.at(function)(packed.data());
    if (impl_->cuda) {
      // Launches are asynchronous: the call has finished once the device
      // has; a failed launch or allocation surfaces here.
      absl::Status st = runtime::cuda::synchronize();
      if (absl::Status launch = runtime::cuda::takeError(); !launch.ok())
        st = launch;
      if (!st.ok())
        return absl::Status(st.code(), absl::StrCat("@", function, ": ", st.message()));
    }
    if (profiling)
      tessel::runtime::Profiler::global().call(function, start);
  }
  std::vector<ref::Tensor> results;
  size_t offset = 0;
  for (const TensorKind &r : sig.results) {
    const int64_t *d = &resultBuffer[offset];
    offset += descriptorWords(r.rank);
    std::vector<int64_t> shape(d + 3, d + 3 + r.rank);
    ref::Tensor t = r.dtype == ref::DType::F32 ? ref::Tensor::zerosF32(shape)
                                               : ref::Tensor::zerosI64(shape, r.dtype);
    void *allocated, *aligned;
    std::memcpy(&allocated, &d[0], sizeof(void *));
    std::memcpy(&aligned, &d[1], sizeof(void *));
    // A device result comes back whole (every element its strides reach)
    // and is read from the host copy.
    std::vector<uint8_t> hostCopy;
    if (impl_->cuda && t.numel() > 0) {
      int64_t last = d[2];
      for (int64_t k = 0; k < r.rank; ++k)
        last += (shape[k] - 1) * d[3 + r.rank + k];
      const size_t bytes = static_cast<size_t>(last + 1) * elementBytes(r.dtype);
      hostCopy.resize(bytes);
      if (absl::Status st = runtime::cuda::copyToHost(hostCopy.data(), aligned, bytes); !st.ok())
        return st;
      aligned = hostCopy.data();
    }
    // Copy through the strides (results may be views): whole rows when the
    // innermost stride is 1 and the element types match (f32, i64: the
    // logits every decode step returns, 32000+ floats), else element by
    // element.
    int64_t n = t.numel();
    const bool rows = r.rank >= 1 && d[3 + 2 * r.rank - 1] == 1 &&
                      (r.dtype == ref::DType::F32 || r.dtype == ref::DType::I64);
    if (rows && n > 0) {
      const int64_t width = shape.back();
      const size_t bytes = static_cast<size_t>(width) * elementBytes(r.dtype);
      std::vector<int64_t> outer(r.rank - 1, 0);
      for (int64_t row = 0; row < n / width; ++row) {
        int64_t off = d[2];
        for (int64_t k = 0; k + 1 < r.rank; ++k)
          off += outer[k] * d[3 + r.rank + k];
        void *to = r.dtype == ref::DType::F32 ? static_cast<void *>(&t.f[row * width])
                                              : static_cast<void *>(&t.i[row * width]);
        std::memcpy(to, static_cast<const uint8_t *>(aligned) + off * elementBytes(r.dtype), bytes);
        for (int64_t k = r.rank - 2; k >= 0; --k) {
          if (++outer[k] < shape[k])
            break;
          outer[k] = 0;
        }
      }
      n = 0; // done
    }
    std::vector<int64_t> index(r.rank, 0);
    for (int64_t e = 0; e < n; ++e) {
      int64_t off = d[2];
      for (int64_t k = 0; k < r.rank; ++k)
        off += index[k] * d[3 + r.rank + k];
      if (r.dtype == ref::DType::F32)
        t.f[e] = static_cast<const float *>(aligned)[off];
      else if (r.dtype == ref::DType::I1)
        t.i[e] = static_cast<const uint8_t *>(aligned)[off] != 0;
      else if (r.dtype == ref::DType::I8)
        t.i[e] = static_cast<const int8_t *>(aligned)[off];
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
    if (!aliasesInput && impl_->cuda)
      runtime::cuda::deviceFree(allocated);
    else if (!aliasesInput)
      std::free(allocated);
    results.push_back(std::move(t));
  }
  return results;
}

} // namespace tessel::codegen

//===- Aot.cpp - compile ahead of time: a shared library + manifest -------===//
#include "codegen/Aot.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codegen/Compile.h"
#include "codegen/KernelAbi.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "nlohmann/json.hpp"
#include "support/Progress.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SHA256.h"
#include "llvm/TargetParser/Host.h"

namespace tessel::codegen {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

// Bumped whenever the manifest or the library's conventions (entry point
// names, the import table) change.
constexpr int kFormatVersion = 1;
constexpr char kFormatName[] = "tessel-aot";

//===----------------------------------------------------------------------===//
// Build identity
//===----------------------------------------------------------------------===//

// The GNU build id of a loaded object, from its PT_NOTE segments ("" if none).
std::string buildIdOf(const dl_phdr_info &info) {
  for (int i = 0; i < info.dlpi_phnum; ++i) {
    const ElfW(Phdr) &ph = info.dlpi_phdr[i];
    if (ph.p_type != PT_NOTE)
      continue;
    const char *p = reinterpret_cast<const char *>(info.dlpi_addr + ph.p_vaddr);
    const char *end = p + ph.p_memsz;
    // Name and descriptor are padded to the segment's alignment (4, or 8
    // for segments holding .note.gnu.property).
    const size_t a = ph.p_align == 8 ? 8 : 4;
    auto pad = [a](size_t n) { return (n + a - 1) & ~(a - 1); };
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto *note = reinterpret_cast<const ElfW(Nhdr) *>(p);
      const char *name = p + sizeof(ElfW(Nhdr));
      const auto *desc = reinterpret_cast<const unsigned char *>(name + pad(note->n_namesz));
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0)
        return llvm::toHex(llvm::ArrayRef<uint8_t>(desc, note->n_descsz), /*LowerCase=*/true);
      p = reinterpret_cast<const char *>(desc) + pad(note->n_descsz);
    }
  }
  return "";
}

// An object with no build id is identified by its size and modification time.
std::string fileStamp(const std::string &path) {
  struct stat st;
  if (path.empty() || stat(path.c_str(), &st) != 0)
    return "unknown";
  return absl::StrCat(path, ":", st.st_size, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec);
}

struct BuildIds {
  std::string tessel;   // the object holding this code
  std::string compiler; // that + libMLIR + libLLVM + the LLVM version
};

const BuildIds &buildIds() {
  static const BuildIds ids = [] {
    struct Search {
      uintptr_t anchor;
      std::string self;
      std::vector<std::string> libraries; // "name=id" of libMLIR*/libLLVM*
    } search{reinterpret_cast<uintptr_t>(&buildIds), "", {}};
    dl_iterate_phdr(
        [](dl_phdr_info *info, size_t, void *data) {
          auto &s = *static_cast<Search *>(data);
          std::string name = info->dlpi_name ? info->dlpi_name : "";
          std::string base = fs::path(name).filename().string();
          bool holdsAnchor = false;
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const ElfW(Phdr) &ph = info->dlpi_phdr[i];
            uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
            holdsAnchor |=
                ph.p_type == PT_LOAD && s.anchor >= begin && s.anchor < begin + ph.p_memsz;
          }
          bool compilerLibrary = base.rfind("libMLIR", 0) == 0 || base.rfind("libLLVM", 0) == 0;
          if (!holdsAnchor && !compilerLibrary)
            return 0;
          std::string id = buildIdOf(*info);
          if (id.empty()) {
            if (holdsAnchor && name.empty()) {
              // The main program: dlpi_name is "" for it.
              char exe[4096];
              ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
              name = n > 0 ? std::string(exe, n) : "";
            }
            id = fileStamp(name);
          }
          if (holdsAnchor)
            s.self = id;
          else
            s.libraries.push_back(base + "=" + id);
          return 0;
        },
        &search);
    std::sort(search.libraries.begin(), search.libraries.end());
    BuildIds ids;
    ids.tessel = search.self.empty() ? "unknown" : search.self;
    ids.compiler = absl::StrCat("tessel=", ids.tessel, ";", absl::StrJoin(search.libraries, ";"),
                                ";llvm=", LLVM_VERSION_STRING);
    return ids;
  }();
  return ids;
}

//===----------------------------------------------------------------------===//
// Code generation
//===----------------------------------------------------------------------===//

// Adds `_mlir__mlir_ciface_<fn>(void **args)` for each entry point, exactly
// like MLIR's ExecutionEngine does for the JIT: the arguments' addresses
// first, then the address the result is stored at.
absl::Status addPackedEntryPoints(llvm::Module &module, const Signatures &functions) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::IRBuilder<> builder(ctx);
  for (const auto &[name, sig] : functions) {
    llvm::Function *fn = module.getFunction("_mlir_ciface_" + name);
    if (!fn || fn->isDeclaration())
      return absl::InternalError("no C interface for @" + name + " in the LLVM module");
    auto *type = llvm::FunctionType::get(builder.getVoidTy(), builder.getPtrTy(), false);
    auto *wrapper = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                           packedEntryName(name), module);
    builder.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", wrapper));
    llvm::Value *list = wrapper->getArg(0);
    std::vector<llvm::Value *> args;
    for (auto [index, arg] : llvm::enumerate(fn->args())) {
      llvm::Value *slot = builder.CreateGEP(builder.getPtrTy(), list, builder.getInt64(index));
      llvm::Value *pointer = builder.CreateLoad(builder.getPtrTy(), slot);
      args.push_back(builder.CreateLoad(arg.getType(), pointer));
    }
    llvm::Value *result = builder.CreateCall(fn, args);
    if (!result->getType()->isVoidTy()) {
      llvm::Value *slot =
          builder.CreateGEP(builder.getPtrTy(), list, builder.getInt64(fn->arg_size()));
      builder.CreateStore(result, builder.CreateLoad(builder.getPtrTy(), slot));
    }
    builder.CreateRetVoid();
  }
  return absl::OkStatus();
}

// Calls of the kernels become indirect calls through exported pointers
// (kImportPrefix + symbol) that the loader fills. Returns the kernels used.
absl::StatusOr<std::vector<std::string>> redirectKernelCalls(llvm::Module &module) {
  std::set<std::string> kernels;
  for (const auto &[name, address] : kernelAbiSymbols())
    kernels.insert(name);
  std::vector<std::string> imports;
  llvm::PointerType *ptr = llvm::PointerType::getUnqual(module.getContext());
  for (llvm::Function &fn : llvm::make_early_inc_range(module)) {
    std::string name = fn.getName().str();
    if (!fn.isDeclaration() || fn.isIntrinsic())
      continue;
    // Left undefined, it would only fail when the library is loaded.
    if (!kernels.count(name) && name.rfind("_mlir_ciface_", 0) == 0)
      return absl::InternalError("compiled code calls " + name +
                                 ", which this build of Tessel does not provide");
    if (!kernels.count(name))
      continue;
    auto *slot = new llvm::GlobalVariable(
        module, ptr, /*isConstant=*/false, llvm::GlobalValue::ExternalLinkage,
        llvm::ConstantPointerNull::get(ptr), kImportPrefix + name);
    for (llvm::User *user : llvm::make_early_inc_range(fn.users())) {
      auto *call = llvm::dyn_cast<llvm::CallBase>(user);
      if (!call || call->getCalledOperand() != &fn)
        return absl::InternalError("compiled code uses " + name + " other than by calling it");
      llvm::IRBuilder<> builder(call);
      call->setCalledOperand(builder.CreateLoad(ptr, slot, name));
    }
    fn.eraseFromParent();
    imports.push_back(name);
  }
  return imports;
}

absl::StatusOr<std::string> findLinker() {
  if (const char *env = std::getenv("TESSEL_LD"); env && *env) {
    if (access(env, X_OK) != 0)
      return absl::UnavailableError(absl::StrCat("TESSEL_LD=", env, " is not an executable"));
    return std::string(env);
  }
#ifdef TESSEL_LLD_PATH
  if (std::string configured = TESSEL_LLD_PATH;
      !configured.empty() && access(configured.c_str(), X_OK) == 0)
    return configured;
#endif
  std::vector<llvm::StringRef> llvmTools;
#ifdef TESSEL_LLVM_TOOLS_DIR
  llvmTools.push_back(TESSEL_LLVM_TOOLS_DIR);
#endif
  for (const char *name : {"ld.lld-22", "ld.lld"}) {
    if (!llvmTools.empty())
      if (auto found = llvm::sys::findProgramByName(name, llvmTools))
        return *found;
    if (auto found = llvm::sys::findProgramByName(name))
      return *found;
  }
  // GNU ld links a single position-independent object just as well.
  if (auto found = llvm::sys::findProgramByName("ld"))
    return *found;
  return absl::UnavailableError("no linker to write a shared library with: install lld "
                                "(apt-get install lld-22) or point TESSEL_LD at ld.lld");
}

// The file this process's libm was loaded from: the library records it as a
// dependency, so it loads into a process that does not have libm yet.
std::string libmPath() {
  void *handle = dlopen("libm.so.6", RTLD_LAZY | RTLD_NOLOAD);
  if (!handle)
    return "";
  link_map *map = nullptr;
  std::string path;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name)
    path = map->l_name;
  dlclose(handle);
  return access(path.c_str(), R_OK) == 0 ? path : "";
}

std::string readFile(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `bytes` to `path` through a temporary name in the same directory.
absl::Status writeAtomically(const fs::path &path, std::string_view bytes) {
  fs::path tmp = path;
  tmp += absl::StrCat(".tmp-", getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out)
      return absl::UnavailableError("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return absl::UnavailableError("cannot write " + path.string() + ": " + ec.message());
  }
  return absl::OkStatus();
}

absl::Status link(const fs::path &object, const fs::path &library) {
  auto linker = findLinker();
  if (!linker.ok())
    return linker.status();
  fs::path tmp = library;
  tmp += absl::StrCat(".tmp-", getpid());
  fs::path log = library;
  log += absl::StrCat(".log-", getpid());
  std::string libm = libmPath();
  std::vector<std::string> args = {*linker,         "-shared",    "-o", tmp.string(),
                                   object.string(), "--build-id", "-z", "noexecstack"};
  if (!libm.empty()) {
    args.push_back("--as-needed");
    args.push_back(libm);
  }
  std::vector<llvm::StringRef> argRefs(args.begin(), args.end());
  const std::string logPath = log.string();
  std::optional<llvm::StringRef> redirects[] = {llvm::StringRef(""), llvm::StringRef(logPath),
                                                llvm::StringRef(logPath)};
  std::string error;
  int rc = llvm::sys::ExecuteAndWait(*linker, argRefs, std::nullopt, redirects, 0, 0, &error);
  std::string output = readFile(log);
  std::error_code ec;
  fs::remove(log, ec);
  if (rc != 0) {
    fs::remove(tmp, ec);
    return absl::UnavailableError(absl::StrCat("linking ", library.string(), " with ", *linker,
                                               " failed", error.empty() ? "" : ": " + error,
                                               output.empty() ? "" : ":\n" + output));
  }
  fs::rename(tmp, library, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return absl::UnavailableError("cannot write " + library.string() + ": " + ec.message());
  }
  return absl::OkStatus();
}

//===----------------------------------------------------------------------===//
// Manifest
//===----------------------------------------------------------------------===//

ordered_json kindToJson(const TensorKind &k) {
  return ordered_json{{"dtype", ref::dtypeName(k.dtype)}, {"rank", k.rank}};
}

struct ManifestError {
  std::string message;
};

const json &field(const json &object, const std::string &key, const std::string &path) {
  if (!object.is_object())
    throw ManifestError{path + " is not an object"};
  auto it = object.find(key);
  if (it == object.end())
    throw ManifestError{"no field " + path + "." + key};
  return *it;
}

std::string stringField(const json &object, const std::string &key, const std::string &path) {
  const json &v = field(object, key, path);
  if (!v.is_string())
    throw ManifestError{path + "." + key + " is not a string"};
  return v.get<std::string>();
}

int64_t intField(const json &object, const std::string &key, const std::string &path) {
  const json &v = field(object, key, path);
  if (!v.is_number_integer())
    throw ManifestError{path + "." + key + " is not an integer"};
  return v.get<int64_t>();
}

std::vector<std::string> stringList(const json &object, const std::string &key,
                                    const std::string &path) {
  const json &v = field(object, key, path);
  if (!v.is_array())
    throw ManifestError{path + "." + key + " is not a list"};
  std::vector<std::string> out;
  for (const json &e : v) {
    if (!e.is_string())
      throw ManifestError{path + "." + key + " holds a value that is not a string"};
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::vector<TensorKind> kindList(const json &object, const std::string &key,
                                 const std::string &path) {
  const json &v = field(object, key, path);
  if (!v.is_array())
    throw ManifestError{path + "." + key + " is not a list"};
  std::vector<TensorKind> out;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string at = absl::StrCat(path, ".", key, "[", i, "]");
    std::string dtype = stringField(v[i], "dtype", at);
    TensorKind k;
    if (dtype == "f32")
      k.dtype = ref::DType::F32;
    else if (dtype == "i64")
      k.dtype = ref::DType::I64;
    else if (dtype == "i1")
      k.dtype = ref::DType::I1;
    else if (dtype == "i8")
      k.dtype = ref::DType::I8;
    else
      throw ManifestError{at + ".dtype is '" + dtype + "', not f32, i64, i1 or i8"};
    k.rank = intField(v[i], "rank", at);
    if (k.rank < -1 || k.rank > 16)
      throw ManifestError{absl::StrCat(at, ".rank is ", k.rank)};
    out.push_back(k);
  }
  return out;
}

std::string manifestText(const AotManifest &m) {
  ordered_json functions = ordered_json::object();
  for (const auto &[name, sig] : m.functions) {
    ordered_json args = ordered_json::array(), results = ordered_json::array();
    for (const TensorKind &k : sig.args)
      args.push_back(kindToJson(k));
    for (const TensorKind &k : sig.results)
      results.push_back(kindToJson(k));
    functions[name] = ordered_json{{"args", args}, {"results", results}, {"weights", sig.weights}};
  }
  ordered_json j;
  j["format"] = kFormatName;
  j["format_version"] = m.formatVersion;
  j["tessel_build"] = m.tesselBuild;
  j["llvm_version"] = m.llvmVersion;
  j["key"] = m.key;
  j["ir_sha256"] = m.irHash;
  j["target"] = ordered_json{
      {"triple", m.target.triple}, {"cpu", m.target.name}, {"features", m.target.features}};
  j["library"] = m.library;
  j["imports"] = m.imports;
  j["functions"] = functions;
  j["pipeline"] = m.pipeline;
  j["model"] = m.metadataJson.empty() ? ordered_json::object()
                                      : ordered_json::parse(m.metadataJson, nullptr, false);
  return j.dump(2) + "\n";
}

// Scratch directories of compiles that were killed before they could
// rename theirs into place; a day is far longer than any compile.
void removeAbandonedScratch(const std::string &cacheRoot) {
  std::error_code ec;
  const auto cutoff = fs::file_time_type::clock::now() - std::chrono::hours(24);
  for (fs::directory_iterator it(cacheRoot, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ignored;
    if (it->path().filename().string().rfind(".tmp-", 0) == 0 &&
        fs::last_write_time(it->path(), ignored) < cutoff && !ignored)
      fs::remove_all(it->path(), ignored);
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// Public interface
//===----------------------------------------------------------------------===//

const TargetCpu &hostCpu() {
  static const TargetCpu cpu = [] {
    TargetCpu c;
    c.triple = llvm::sys::getProcessTriple();
    c.name = llvm::sys::getHostCPUName().str();
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      if (feature.second)
        c.features.push_back(feature.first().str());
    std::sort(c.features.begin(), c.features.end());
    return c;
  }();
  return cpu;
}

const std::string &tesselBuildId() { return buildIds().tessel; }

std::string sha256Hex(std::string_view data) {
  llvm::SHA256 hash;
  hash.update(llvm::StringRef(data.data(), data.size()));
  return llvm::toHex(hash.final(), /*LowerCase=*/true);
}

std::string aotKey(std::string_view mlirText, const std::vector<PipelineStage> &pipeline) {
  const TargetCpu &cpu = hostCpu();
  std::string material =
      absl::StrCat(kFormatName, " ", kFormatVersion, "\n", buildIds().compiler, "\n", cpu.triple,
                   "\n", cpu.name, "\n", absl::StrJoin(cpu.features, ","), "\n",
                   pipelineText(pipeline), "\n", sha256Hex(mlirText));
  // 128 bits name a directory well enough.
  return sha256Hex(material).substr(0, 32);
}

absl::StatusOr<AotManifest> compileAot(std::string_view mlirText, std::string_view sourceName,
                                       const std::string &dir, const std::string &metadataJson,
                                       const std::vector<PipelineStage> &pipeline) {
  if (!metadataJson.empty() && !json::accept(metadataJson))
    return absl::InvalidArgumentError("AOT metadata is not valid JSON");
  std::string name(sourceName);
  AotManifest manifest;
  {
    // Declared before the module, which must go first.
    mlir::MLIRContext context;
    prepareContext(context);
    DiagnosticCollector diagnostics(context);
    support::ProgressBar progress("compiling", 0);
    auto module = lowerToLlvmDialect(context, mlirText, name, pipeline, diagnostics,
                                     manifest.functions, &progress);
    if (!module.ok())
      return module.status();

    llvm::LLVMContext llvmContext;
    std::unique_ptr<llvm::Module> llvmModule =
        mlir::translateModuleToLLVMIR(**module, llvmContext, name);
    if (!llvmModule)
      return absl::InternalError("translating " + name + " to LLVM IR failed:\n" +
                                 diagnostics.text());
    progress.advance(kTranslateUnits);
    auto machine = hostTargetMachine(/*sharedLibrary=*/true);
    if (!machine.ok())
      return machine.status();
    llvmModule->setDataLayout((*machine)->createDataLayout());
    llvmModule->setTargetTriple((*machine)->getTargetTriple());
    // The JIT's order: entry points packed, then -O3.
    if (auto st = addPackedEntryPoints(*llvmModule, manifest.functions); !st.ok())
      return st;
    if (auto err = llvmOptimizer()(llvmModule.get()))
      return absl::InternalError("optimizing " + name + " failed: " + toString(std::move(err)));
    progress.advance(kOptimizeUnits);
    auto imports = redirectKernelCalls(*llvmModule);
    if (!imports.ok())
      return imports.status();
    manifest.imports = *imports;
    // Only the packed entry points and import slots are the library's
    // interface; hiding the rest keeps its calls direct and its symbols few.
    std::set<std::string> exported;
    for (const auto &[fn, sig] : manifest.functions)
      exported.insert(packedEntryName(fn));
    for (const std::string &kernel : manifest.imports)
      exported.insert(kImportPrefix + kernel);
    for (llvm::GlobalValue &g : llvmModule->global_values())
      if (!g.isDeclaration() && g.hasExternalLinkage() && !exported.count(g.getName().str()))
        g.setVisibility(llvm::GlobalValue::HiddenVisibility);
    std::string problems;
    llvm::raw_string_ostream os(problems);
    if (llvm::verifyModule(*llvmModule, &os))
      return absl::InternalError("the LLVM module for " + name + " is invalid: " + problems);

    llvm::SmallVector<char, 0> object;
    llvm::raw_svector_ostream out(object);
    llvm::legacy::PassManager pm;
    if ((*machine)->addPassesToEmitFile(pm, out, nullptr, llvm::CodeGenFileType::ObjectFile))
      return absl::InternalError("the host target cannot emit object files");
    pm.run(*llvmModule);

    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir))
      return absl::UnavailableError("cannot create the directory " + dir +
                                    (ec ? ": " + ec.message() : ""));
    fs::path objectPath = fs::path(dir) / absl::StrCat(".model.o.tmp-", getpid());
    if (auto st = writeAtomically(objectPath, std::string_view(object.data(), object.size()));
        !st.ok())
      return st;
    absl::Status linked = link(objectPath, fs::path(dir) / kLibraryFile);
    fs::remove(objectPath, ec);
    if (!linked.ok())
      return linked;
    progress.finish();
  }
  manifest.formatVersion = kFormatVersion;
  manifest.key = aotKey(mlirText, pipeline);
  manifest.irHash = sha256Hex(mlirText);
  manifest.pipeline = pipelineText(pipeline);
  manifest.tesselBuild = tesselBuildId();
  manifest.llvmVersion = LLVM_VERSION_STRING;
  manifest.target = hostCpu();
  manifest.library = kLibraryFile;
  manifest.metadataJson = metadataJson;
  if (auto st = writeAtomically(fs::path(dir) / kManifestFile, manifestText(manifest)); !st.ok())
    return st;
  return manifest;
}

absl::StatusOr<AotManifest> readAotManifest(const std::string &dir) {
  fs::path path = fs::path(dir) / kManifestFile;
  std::string where = path.string();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return absl::NotFoundError(dir + " is not a directory");
  if (!fs::exists(path, ec))
    return absl::NotFoundError(dir + " has no " + kManifestFile +
                               " (write one with `tessel compile MODEL -o " + dir + "`)");
  json j = json::parse(readFile(path), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return absl::DataLossError(where + " is not valid JSON; compile the model again");
  AotManifest m;
  try {
    if (stringField(j, "format", "manifest") != kFormatName)
      throw ManifestError{"manifest.format is not \"" + std::string(kFormatName) + "\""};
    m.formatVersion = static_cast<int>(intField(j, "format_version", "manifest"));
    if (m.formatVersion != kFormatVersion)
      return absl::FailedPreconditionError(
          absl::StrCat(where, " has format version ", m.formatVersion, "; this Tessel reads ",
                       kFormatVersion, ": compile the model again"));
    m.tesselBuild = stringField(j, "tessel_build", "manifest");
    m.llvmVersion = stringField(j, "llvm_version", "manifest");
    m.key = stringField(j, "key", "manifest");
    m.irHash = stringField(j, "ir_sha256", "manifest");
    const json &target = field(j, "target", "manifest");
    m.target.triple = stringField(target, "triple", "manifest.target");
    m.target.name = stringField(target, "cpu", "manifest.target");
    m.target.features = stringList(target, "features", "manifest.target");
    m.library = stringField(j, "library", "manifest");
    if (m.library.empty() || m.library.find('/') != std::string::npos || m.library[0] == '.')
      throw ManifestError{"manifest.library must name a file in " + dir};
    m.imports = stringList(j, "imports", "manifest");
    const json &functions = field(j, "functions", "manifest");
    if (!functions.is_object() || functions.empty())
      throw ManifestError{"manifest.functions names no function"};
    for (const auto &[name, f] : functions.items()) {
      std::string at = "manifest.functions." + name;
      FunctionSignature sig;
      sig.args = kindList(f, "args", at);
      sig.results = kindList(f, "results", at);
      sig.weights = stringList(f, "weights", at);
      if (sig.weights.size() > sig.args.size())
        throw ManifestError{at + " has more weights than arguments"};
      m.functions[name] = std::move(sig);
    }
    m.pipeline = stringField(j, "pipeline", "manifest");
    const json &model = field(j, "model", "manifest");
    if (!model.is_object())
      throw ManifestError{"manifest.model is not an object"};
    m.metadataJson = model.dump();
  } catch (const ManifestError &e) {
    return absl::DataLossError(where + ": " + e.message + "; compile the model again");
  }
  return m;
}

absl::StatusOr<std::unique_ptr<JitModule>> loadAot(const std::string &dir,
                                                   const AotManifest &manifest) {
  const TargetCpu &host = hostCpu();
  if (manifest.target.triple != host.triple)
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " holds code for ", manifest.target.triple, ", not for this ",
                     host.triple, " machine: compile the model here"));
  std::vector<std::string> missing;
  for (const std::string &feature : manifest.target.features)
    if (!std::binary_search(host.features.begin(), host.features.end(), feature))
      missing.push_back(feature);
  if (!missing.empty())
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " was compiled for a ", manifest.target.name, " CPU; this ", host.name,
                     " CPU lacks ", absl::StrJoin(missing, ", "), ": compile the model here"));
  if (manifest.tesselBuild != tesselBuildId())
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " was compiled by another build of Tessel (", manifest.tesselBuild,
                     "; this one is ", tesselBuildId(), "): compile the model again"));
  fs::path library = fs::path(dir) / manifest.library;
  std::error_code ec;
  if (!fs::exists(library, ec))
    return absl::NotFoundError(library.string() + " is missing: compile the model again");
  return JitModule::loadSharedLibrary(library.string(), manifest.functions, manifest.imports);
}

absl::StatusOr<CachedModule> compileCached(std::string_view mlirText, std::string_view sourceName,
                                           const std::string &cacheRoot,
                                           const std::string &metadataJson,
                                           const std::vector<PipelineStage> &pipeline) {
  CachedModule result;
  const std::string key = aotKey(mlirText, pipeline);
  const fs::path entry = fs::path(cacheRoot) / key;
  std::error_code ec;
  if (fs::exists(entry, ec)) {
    absl::Status why;
    auto manifest = readAotManifest(entry.string());
    if (!manifest.ok())
      why = manifest.status();
    else if (manifest->key != key || manifest->irHash != sha256Hex(mlirText))
      why = absl::DataLossError("its manifest describes other code");
    else if (auto module = loadAot(entry.string(), *manifest); !module.ok())
      why = module.status();
    else {
      result.module = std::move(*module);
      result.manifest = std::move(*manifest);
      result.dir = entry.string();
      result.hit = true;
      return result;
    }
    result.note =
        absl::StrCat("replaced the cache entry ", entry.string(), " (", why.message(), ")");
  }

  auto useJit = [&](const std::string &why) -> absl::StatusOr<CachedModule> {
    auto jit = JitModule::compile(mlirText, sourceName, pipeline);
    if (!jit.ok())
      return jit.status();
    result.module = std::move(*jit);
    result.dir.clear();
    result.note = "compile cache not used: " + why;
    return std::move(result);
  };
  // Without a linker, say so before lowering rather than lower twice.
  if (auto linker = findLinker(); !linker.ok())
    return useJit(std::string(linker.status().message()));
  fs::create_directories(cacheRoot, ec);
  removeAbandonedScratch(cacheRoot);
  std::string scratch = (fs::path(cacheRoot) / (".tmp-" + key + "-XXXXXX")).string();
  if (!mkdtemp(scratch.data()))
    return useJit(absl::StrCat("cannot write to ", cacheRoot, ": ", std::strerror(errno)));
  auto manifest = compileAot(mlirText, sourceName, scratch, metadataJson, pipeline);
  if (!manifest.ok()) {
    fs::remove_all(scratch, ec);
    // Lowering errors are the JIT's too; a missing linker or a full disk is not.
    if (manifest.status().code() == absl::StatusCode::kUnavailable)
      return useJit(std::string(manifest.status().message()));
    return manifest.status();
  }
  // A broken entry goes first; a valid one another process published in the
  // meantime stays (ours is identical), and then the rename fails.
  if (!result.note.empty())
    fs::remove_all(entry, ec);
  fs::rename(scratch, entry, ec);
  const bool published = !ec;
  auto module = loadAot(published ? entry.string() : scratch, *manifest);
  if (!published)
    fs::remove_all(scratch, ec); // the library stays mapped
  if (!module.ok())
    return module.status();
  result.module = std::move(*module);
  result.manifest = std::move(*manifest);
  result.dir = entry.string();
  return result;
}

} // namespace tessel::codegen

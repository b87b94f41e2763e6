//===- GpuKernelsToCpu.cpp - GPU kernels as CPU functions, for testing ----===//
//
// See TesselGpuKernelsToCpu in Passes.td; the calls it makes are answered
// by the GPU emulator (tests/gpu/emulator/GpuEmulator.h). For a kernel
// @k of gpu.module @m (N = "m__k"):
//
//   @N(args..., workgroup buffers..., 12 x index)   the kernel, one thread
//
// and with record-launches, for the host:
//
//   @tessel_emu_thread_N(%packed: !llvm.ptr)
//       one GPU thread: loads each argument from packed[i] (a pointer to a
//       pointer to a memref descriptor, or to a scalar: the packed form of
//       the ExecutionEngine's _mlir_ciface_ wrappers) and calls @N;
//   @tessel_emu_launch_N(grid x/y/z, block x/y/z, args...)
//       what a gpu.launch_func becomes: packs the arguments that way and
//       calls tessel_emu_launch(@tessel_emu_thread_N, "N", grid, block,
//       packed, count, info), info = {known block size, workgroup buffer
//       shapes} (an LLVM global).
//
// The packing uses LLVM dialect ops on memref descriptors reached through
// unrealized casts, which the standard lowering to LLVM resolves.
//
// A warp-collective nvvm.mma.sync (the m16n8k16 forms tessel-linear-to-gpu-mma
// emits) becomes, per lane,
//
//   call @tessel_emu_mma_m16n8k16_<bf16|f16>(a0..a3, b0, b1 : i32,
//                                            c0..c3 : f32, %d : !llvm.ptr)
//
// with each operand register as its 32 bits (two 16-bit values, the lower
// column or row in the low half) and %d a 4 x f32 stack slot of the kernel
// (one per kernel, allocated in its entry block) that the call fills with
// the lane's 4 values of D; the struct the op returned is rebuilt from
// them (in practice its llvm.extractvalue users read them directly). The
// emulator answers the call once all 32 lanes of the warp have made it.
// arith.truncf / arith.extf between f32 and bf16 in kernels are expanded to
// integer arithmetic (round to nearest even, as the GPU's cvt.rn.bf16.f32):
// the CPU backend would otherwise call a runtime function (__truncsfbf2)
// that older C runtimes lack.
//
//===----------------------------------------------------------------------===//
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/AttrTypeSubElements.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"
#include "passes/Passes.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/TypeSwitch.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELGPUKERNELSTOCPU
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

constexpr llvm::StringLiteral kPassName = "tessel-gpu-kernels-to-cpu";
constexpr int kCoords = 12; // thread id, block id, block dims, grid dims (x, y, z each)
constexpr int64_t kWarpSize = 32;

/// What the launch code needs to know about a converted kernel.
struct Kernel {
  std::string name; // "m__k"
  func::FuncOp fn;
  unsigned numArgs = 0;      // the gpu.func's own arguments
  std::vector<int64_t> info; // for tessel_emu_launch: see the file comment
  func::FuncOp launcher;     // @tessel_emu_launch_<name>, once built
};

/// `t` without a GPU address space: the emulator's workgroup and private
/// memory is host memory.
std::optional<Type> dropGpuAddressSpace(MemRefType t) {
  if (!isa_and_nonnull<gpu::AddressSpaceAttr>(t.getMemorySpace()))
    return std::nullopt;
  return MemRefType::get(t.getShape(), t.getElementType(), t.getLayout(), Attribute());
}

MemRefType withoutAddressSpace(Type t) {
  auto m = cast<MemRefType>(t);
  std::optional<Type> plain = dropGpuAddressSpace(m);
  return plain ? cast<MemRefType>(*plain) : m;
}

/// Dialects whose ops only a GPU runs.
bool isDeviceDialect(Dialect *d) {
  return d && llvm::is_contained({"gpu", "nvvm", "nvgpu", "rocdl", "amdgpu", "xevm", "spirv"},
                                 d->getNamespace());
}

/// How launches name kernels: "module::kernel".
std::string kernelKey(StringRef module, StringRef kernel) { return (module + "::" + kernel).str(); }

/// Bytes of one element of a workgroup buffer; 0 when not a scalar.
int64_t elementBytes(Type t) {
  if (t.isIndex())
    return 8;
  if (t.isIntOrFloat())
    return (t.getIntOrFloatBitWidth() + 7) / 8;
  return 0;
}

/// The multiplicand type of an nvvm.mma.sync the emulator runs.
enum class MmaKind { BF16, F16 };

/// A multiplicand register's element type from its MLIR type: two 16-bit
/// floats (vector<2xf16>, vector<2xbf16>), or nullopt (an i32 says nothing).
std::optional<NVVM::MMATypes> registerElementType(Type t) {
  auto v = dyn_cast<VectorType>(t);
  if (!v || v.getRank() != 1 || v.getDimSize(0) != 2)
    return std::nullopt;
  if (v.getElementType().isF16())
    return NVVM::MMATypes::f16;
  if (v.getElementType().isBF16())
    return NVVM::MMATypes::bf16;
  return std::nullopt;
}

/// Whether `op` is a form the emulator runs, and which: m16n8k16, A row-major
/// and B column-major, bf16 or f16 multiplicands (4 registers of A, 2 of B,
/// each two values: i32, or vector<2xf16/bf16> of that type), f32
/// accumulators in and out, no b1 or integer options. Otherwise says why in
/// `why`.
std::optional<MmaKind> emulatedMma(NVVM::MmaOp op, std::string &why) {
  auto fail = [&](const std::string &msg) -> std::optional<MmaKind> {
    why = msg;
    return std::nullopt;
  };
  NVVM::MMAShapeAttr shape = op.getShapeAttr();
  if (shape.getM() != 16 || shape.getN() != 8 || shape.getK() != 16)
    return fail("shape m" + std::to_string(shape.getM()) + "n" + std::to_string(shape.getN()) +
                "k" + std::to_string(shape.getK()));
  if (op.getLayoutA() != NVVM::MMALayout::row || op.getLayoutB() != NVVM::MMALayout::col)
    return fail("layouts other than row.col");
  if (op.getB1Op() || op.getIntOverflowBehavior())
    return fail("b1 or integer options");
  Type f32 = Float32Type::get(op.getContext());
  auto result = dyn_cast<LLVM::LLVMStructType>(op.getRes().getType());
  if (op.getOperandA().size() != 4 || op.getOperandB().size() != 2 ||
      op.getOperandC().size() != 4 || !result || result.getBody().size() != 4 ||
      !llvm::all_of(result.getBody(), [&](Type t) { return t == f32; }) ||
      !llvm::all_of(op.getOperandC().getTypes(), [&](Type t) { return t == f32; }))
    return fail("accumulators other than 4 f32 registers");
  // The multiplicand type: the attributes, else the registers' type.
  std::optional<NVVM::MMATypes> a = op.getMultiplicandAPtxType(), b = op.getMultiplicandBPtxType();
  if (!a)
    a = registerElementType(op.getOperandA()[0].getType());
  if (!b)
    b = registerElementType(op.getOperandB()[0].getType());
  if (!a || !b || *a != *b || (*a != NVVM::MMATypes::bf16 && *a != NVVM::MMATypes::f16))
    return fail("multiplicands other than bf16 x bf16 or f16 x f16");
  for (Value v : llvm::concat<const Value>(op.getOperandA(), op.getOperandB())) {
    Type t = v.getType();
    if (!t.isInteger(32) && registerElementType(t) != a) {
      std::string type;
      llvm::raw_string_ostream(type) << t;
      return fail("a multiplicand register of type " + type);
    }
  }
  return *a == NVVM::MMATypes::f16 ? MmaKind::F16 : MmaKind::BF16;
}

struct GpuKernelsToCpuPass : impl::TesselGpuKernelsToCpuBase<GpuKernelsToCpuPass> {
  using TesselGpuKernelsToCpuBase::TesselGpuKernelsToCpuBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::GPUModuleOp> gpuModules(module.getOps<gpu::GPUModuleOp>());
    // Everything is checked before anything changes: a rejected module is
    // left as it was.
    for (gpu::GPUModuleOp m : gpuModules)
      if (failed(checkGpuModule(m)))
        return signalPassFailure();
    if (failed(checkHost(module)))
      return signalPassFailure();

    llvm::StringMap<Kernel> kernels; // by "m::k"
    for (gpu::GPUModuleOp m : gpuModules)
      for (auto k : llvm::make_early_inc_range(m.getOps<gpu::GPUFuncOp>())) {
        std::string key = kernelKey(m.getName(), k.getName());
        kernels[key] = convertKernel(module, m, k); // erases k
      }

    SmallVector<gpu::LaunchFuncOp> launches;
    module.walk([&](gpu::LaunchFuncOp op) { launches.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (gpu::LaunchFuncOp op : launches) {
      if (!recordLaunches) {
        rewriter.eraseOp(op);
        continue;
      }
      Kernel &k = kernels[kernelKey(op.getKernelModuleName(), op.getKernelName())];
      rewriter.setInsertionPoint(op);
      SmallVector<Value> operands = {op.getGridSizeX(),  op.getGridSizeY(),  op.getGridSizeZ(),
                                     op.getBlockSizeX(), op.getBlockSizeY(), op.getBlockSizeZ()};
      llvm::append_range(operands, op.getKernelOperands());
      func::CallOp::create(rewriter, op.getLoc(), launcher(module, k), operands);
      rewriter.eraseOp(op);
    }
    if (recordLaunches)
      rewriteHostMemory(module, rewriter);
    for (gpu::GPUModuleOp m : gpuModules)
      rewriter.eraseOp(m);
    module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
  }

private:
  InFlightDiagnostic error(Operation *op) { return op->emitError() << kPassName << ": "; }

  //===--------------------------------------------------------------------===//
  // Checks.
  //===--------------------------------------------------------------------===//

  LogicalResult checkGpuModule(gpu::GPUModuleOp m) {
    for (Operation &op : m.getBody()->getOperations()) {
      auto k = dyn_cast<gpu::GPUFuncOp>(op);
      if (!k) {
        return error(&op) << "'" << op.getName() << "' in gpu.module @" << m.getName()
                          << " is not emulated (only kernels are)";
      }
      if (!k.isKernel())
        return error(k) << "@" << k.getName() << " is a device function (not emulated)";
      if (failed(checkKernel(k)))
        return failure();
    }
    return success();
  }

  LogicalResult checkKernel(gpu::GPUFuncOp k) {
    for (BlockArgument a : k.getWorkgroupAttributions()) {
      auto t = cast<MemRefType>(a.getType());
      if (!t.hasStaticShape() || !t.getLayout().isIdentity() || !elementBytes(t.getElementType()))
        return error(k) << "workgroup buffer " << t << " of @" << k.getName()
                        << " is not a static, dense buffer of scalars";
    }
    if (recordLaunches)
      for (Type t : k.getArgumentTypes()) {
        bool ok = isa<MemRefType>(t) || t.isIndex() || LLVM::isCompatibleType(t);
        if (!ok)
          return error(k) << "@" << k.getName() << " takes " << t
                          << ", which the launch code cannot pass";
      }
    WalkResult result = k.walk([&](Operation *op) -> WalkResult {
      if (op == k.getOperation())
        return WalkResult::advance();
      if (isa<gpu::ThreadIdOp, gpu::BlockIdOp, gpu::BlockDimOp, gpu::GridDimOp, gpu::GlobalIdOp,
              gpu::LaneIdOp, gpu::BarrierOp, gpu::ReturnOp>(op))
        return WalkResult::advance();
      if (auto s = dyn_cast<gpu::ShuffleOp>(op)) {
        Type t = s.getValue().getType();
        if (t.isF32() || t.isInteger(32))
          return WalkResult::advance();
        error(op) << "'gpu.shuffle' of " << t << " is not emulated (f32 and i32 are)";
        return WalkResult::interrupt();
      }
      if (auto mma = dyn_cast<NVVM::MmaOp>(op)) {
        std::string why;
        if (emulatedMma(mma, why))
          return WalkResult::advance();
        error(op) << "'nvvm.mma.sync' with " << why
                  << " is not emulated (m16n8k16 row.col, bf16 or f16 multiplicands, f32 "
                     "accumulators is)";
        return WalkResult::interrupt();
      }
      if (isa<CallOpInterface>(op)) {
        error(op) << "a call in kernel @" << k.getName() << ": device functions are not emulated";
        return WalkResult::interrupt();
      }
      if (isDeviceDialect(op->getDialect())) {
        error(op) << "'" << op->getName()
                  << "' is not emulated (thread, block and grid ids and dims, gpu.lane_id, "
                     "gpu.global_id, gpu.barrier, 32-bit gpu.shuffle and nvvm.mma.sync "
                     "m16n8k16 are)";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    return failure(result.wasInterrupted());
  }

  /// The host side: gpu.launch_func (and with record-launches the host's
  /// gpu.alloc, gpu.dealloc, gpu.memcpy, gpu.wait) in their synchronous
  /// forms; any other GPU op outside the gpu.modules is rejected.
  LogicalResult checkHost(ModuleOp module) {
    WalkResult result = module->walk<WalkOrder::PreOrder>([&](Operation *op) -> WalkResult {
      if (isa<gpu::GPUModuleOp>(op))
        return WalkResult::skip();
      if (auto launch = dyn_cast<gpu::LaunchFuncOp>(op)) {
        if (!launch.getAsyncDependencies().empty() ||
            (launch.getAsyncToken() && !launch.getAsyncToken().use_empty())) {
          error(op) << "asynchronous launches are not emulated (run before gpu-async-region)";
          return WalkResult::interrupt();
        }
        if (launch.getDynamicSharedMemorySize() || launch.hasClusterSize()) {
          error(op) << "launches with dynamic shared memory or clusters are not emulated";
          return WalkResult::interrupt();
        }
        auto m = module.lookupSymbol<gpu::GPUModuleOp>(launch.getKernelModuleName());
        if (!m || !m.lookupSymbol<gpu::GPUFuncOp>(launch.getKernelName())) {
          error(op) << "launches " << launch.getKernel()
                    << ", which is not a gpu.func kernel here (run the pass before "
                       "gpu-module-to-binary)";
          return WalkResult::interrupt();
        }
        return WalkResult::advance();
      }
      if (!isDeviceDialect(op->getDialect()) || !recordLaunches)
        return WalkResult::advance();
      auto async = dyn_cast<gpu::AsyncOpInterface>(op);
      bool synchronous = !async || (async.getAsyncDependencies().empty() && !async.getAsyncToken());
      if (synchronous && isa<gpu::AllocOp, gpu::DeallocOp, gpu::MemcpyOp, gpu::WaitOp>(op))
        return WalkResult::advance();
      error(op) << "'" << op->getName() << "' on the host is not emulated"
                << (synchronous ? "" : " (asynchronous)");
      return WalkResult::interrupt();
    });
    return failure(result.wasInterrupted());
  }

  //===--------------------------------------------------------------------===//
  // Kernels.
  //===--------------------------------------------------------------------===//

  func::FuncOp declare(ModuleOp module, StringRef name, TypeRange args, TypeRange results) {
    if (auto fn = module.lookupSymbol<func::FuncOp>(name))
      return fn;
    OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
    auto fn = func::FuncOp::create(b, module.getLoc(), name, b.getFunctionType(args, results));
    fn.setPrivate();
    return fn;
  }

  Kernel convertKernel(ModuleOp module, gpu::GPUModuleOp m, gpu::GPUFuncOp k) {
    MLIRContext *ctx = &getContext();
    Location loc = k.getLoc();
    Kernel result;
    result.name = (m.getName() + "__" + k.getName()).str();
    result.numArgs = k.getNumArguments();
    // info: known block size, then the workgroup buffers.
    if (std::optional<ArrayRef<int32_t>> known = k.getKnownBlockSize())
      result.info.assign(known->begin(), known->end());
    else
      result.info.assign(3, 0);
    result.info.push_back(k.getNumWorkgroupAttributions());

    IndexType index = IndexType::get(ctx);
    SmallVector<Type> types(k.getArgumentTypes());
    for (BlockArgument a : k.getWorkgroupAttributions()) {
      auto t = cast<MemRefType>(a.getType());
      types.push_back(withoutAddressSpace(t));
      result.info.push_back(elementBytes(t.getElementType()));
      result.info.push_back(t.getRank());
      llvm::append_range(result.info, t.getShape());
    }
    types.append(kCoords, index);

    OpBuilder b(m);
    auto fn = func::FuncOp::create(b, loc, result.name, b.getFunctionType(types, {}));
    fn->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), b.getUnitAttr());
    // With record-launches only the trampoline calls the kernel.
    if (recordLaunches)
      fn.setPrivate();
    const unsigned firstPrivate = k.getNumArguments() + k.getNumWorkgroupAttributions();
    const unsigned numPrivate = k.getNumPrivateAttributions();
    fn.getBody().takeBody(k.getBody());
    k.erase();
    Block &entry = fn.front();

    // Private attributions: a stack buffer per thread.
    b.setInsertionPointToStart(&entry);
    for (unsigned i = 0; i < numPrivate; ++i) {
      BlockArgument a = entry.getArgument(firstPrivate + i);
      Value buffer = memref::AllocaOp::create(b, loc, withoutAddressSpace(a.getType()));
      a.replaceAllUsesWith(buffer);
    }
    entry.eraseArguments(firstPrivate, numPrivate);
    SmallVector<Value> coords;
    for (int i = 0; i < kCoords; ++i)
      coords.push_back(entry.addArgument(index, loc));

    // Every type and attribute in the body loses its GPU address space (a
    // subview of a workgroup buffer, say).
    AttrTypeReplacer replacer;
    replacer.addReplacement(dropGpuAddressSpace);
    replacer.recursivelyReplaceElementsIn(fn, /*replaceAttrs=*/true, /*replaceLocs=*/false,
                                          /*replaceTypes=*/true);
    fn.setFunctionType(b.getFunctionType(types, {}));

    rewriteGpuOps(module, fn, coords);
    rewriteMmaOps(module, fn);
    expandBFloat16(fn);
    result.fn = fn;
    return result;
  }

  /// The GPU ops checkKernel accepts, as arguments, arithmetic and calls.
  void rewriteGpuOps(ModuleOp module, func::FuncOp fn, ArrayRef<Value> coords) {
    MLIRContext *ctx = &getContext();
    Type i32 = IntegerType::get(ctx, 32), i1 = IntegerType::get(ctx, 1);
    SmallVector<Operation *> ops;
    fn.walk([&](Operation *op) {
      if (isa<gpu::GPUDialect>(op->getDialect()))
        ops.push_back(op);
    });
    IRRewriter r(ctx);
    auto coord = [&](int first, gpu::Dimension d) { return coords[first + static_cast<int>(d)]; };
    for (Operation *op : ops) {
      r.setInsertionPoint(op);
      Location loc = op->getLoc();
      llvm::TypeSwitch<Operation *>(op)
          .Case([&](gpu::ThreadIdOp o) { r.replaceOp(o, coord(0, o.getDimension())); })
          .Case([&](gpu::BlockIdOp o) { r.replaceOp(o, coord(3, o.getDimension())); })
          .Case([&](gpu::BlockDimOp o) { r.replaceOp(o, coord(6, o.getDimension())); })
          .Case([&](gpu::GridDimOp o) { r.replaceOp(o, coord(9, o.getDimension())); })
          .Case([&](gpu::GlobalIdOp o) {
            Value base = arith::MulIOp::create(r, loc, coord(3, o.getDimension()),
                                               coord(6, o.getDimension()));
            r.replaceOpWithNewOp<arith::AddIOp>(o, base, coord(0, o.getDimension()));
          })
          .Case([&](gpu::LaneIdOp o) {
            // Warps are runs of 32 threads in x-fastest order.
            Value zy = arith::MulIOp::create(r, loc, coords[2], coords[7]);
            Value y = arith::AddIOp::create(r, loc, zy, coords[1]);
            Value yx = arith::MulIOp::create(r, loc, y, coords[6]);
            Value linear = arith::AddIOp::create(r, loc, yx, coords[0]);
            Value warp = arith::ConstantIndexOp::create(r, loc, kWarpSize);
            r.replaceOpWithNewOp<arith::RemUIOp>(o, linear, warp);
          })
          .Case([&](gpu::BarrierOp o) {
            func::FuncOp callee = declare(module, "tessel_emu_barrier", {}, {});
            r.replaceOpWithNewOp<func::CallOp>(o, callee, ValueRange{});
          })
          .Case([&](gpu::ShuffleOp o) {
            Type t = o.getValue().getType();
            func::FuncOp callee =
                declare(module, t.isF32() ? "tessel_emu_shuffle_f32" : "tessel_emu_shuffle_i32",
                        {t, i32, i32, i32}, {t});
            Value mode =
                arith::ConstantIntOp::create(r, loc, static_cast<int64_t>(o.getMode()), 32);
            Value value =
                func::CallOp::create(r, loc, callee,
                                     ValueRange{o.getValue(), o.getOffset(), o.getWidth(), mode})
                    .getResult(0);
            r.replaceAllUsesWith(o.getShuffleResult(), value);
            if (!o.getValid().use_empty()) {
              func::FuncOp query = declare(module, "tessel_emu_shuffle_valid", {}, {i1});
              r.replaceAllUsesWith(o.getValid(),
                                   func::CallOp::create(r, loc, query, ValueRange{}).getResult(0));
            }
            r.eraseOp(o);
          })
          .Case([&](gpu::ReturnOp o) { r.replaceOpWithNewOp<func::ReturnOp>(o); });
    }
  }

  /// Every nvvm.mma.sync (checked by checkKernel) as a call of the
  /// emulator's warp-collective mma: see the file comment.
  void rewriteMmaOps(ModuleOp module, func::FuncOp fn) {
    SmallVector<NVVM::MmaOp> mmas;
    fn.walk([&](NVVM::MmaOp op) { mmas.push_back(op); });
    if (mmas.empty())
      return;
    MLIRContext *ctx = &getContext();
    Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
    Type f32 = Float32Type::get(ctx);
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    IRRewriter r(ctx);
    // D's slot: in the entry block, so that a loop does not grow the stack.
    r.setInsertionPointToStart(&fn.front());
    Location loc = fn.getLoc();
    Value four = LLVM::ConstantOp::create(r, loc, i64, 4);
    Value d = LLVM::AllocaOp::create(r, loc, ptr, f32, four, /*alignment=*/16);
    SmallVector<Type> argTypes(6, i32);
    argTypes.append(4, f32);
    argTypes.push_back(ptr);
    for (NVVM::MmaOp op : mmas) {
      std::string why;
      MmaKind kind = *emulatedMma(op, why);
      loc = op.getLoc();
      r.setInsertionPoint(op);
      func::FuncOp callee = declare(module,
                                    kind == MmaKind::BF16 ? "tessel_emu_mma_m16n8k16_bf16"
                                                          : "tessel_emu_mma_m16n8k16_f16",
                                    argTypes, {});
      SmallVector<Value> operands;
      for (Value v : llvm::concat<const Value>(op.getOperandA(), op.getOperandB()))
        operands.push_back(v.getType() == i32 ? v : LLVM::BitcastOp::create(r, loc, i32, v));
      llvm::append_range(operands, op.getOperandC());
      operands.push_back(d);
      func::CallOp::create(r, loc, callee, operands);
      SmallVector<Value> values;
      for (int32_t i = 0; i < 4; ++i) {
        Value at = LLVM::GEPOp::create(r, loc, ptr, f32, d, ArrayRef<LLVM::GEPArg>{i});
        values.push_back(LLVM::LoadOp::create(r, loc, f32, at));
      }
      for (Operation *user : llvm::make_early_inc_range(op.getRes().getUsers())) {
        auto extract = dyn_cast<LLVM::ExtractValueOp>(user);
        if (extract && extract.getPosition().size() == 1)
          r.replaceOp(extract, values[extract.getPosition()[0]]);
      }
      if (!op.getRes().use_empty()) {
        Value s = LLVM::PoisonOp::create(r, loc, op.getRes().getType());
        for (int64_t i = 0; i < 4; ++i)
          s = LLVM::InsertValueOp::create(r, loc, s, values[i], i);
        r.replaceAllUsesWith(op.getRes(), s);
      }
      r.eraseOp(op);
    }
  }

  /// f32 <-> bf16 conversions as integer arithmetic (see the file comment).
  void expandBFloat16(func::FuncOp fn) {
    RewritePatternSet patterns(&getContext());
    arith::populateExpandBFloat16Patterns(patterns);
    walkAndApplyPatterns(fn, std::move(patterns));
  }

  //===--------------------------------------------------------------------===//
  // Launches (record-launches).
  //===--------------------------------------------------------------------===//

  /// @tessel_emu_launch_<name>, built with its trampoline on first use.
  func::FuncOp launcher(ModuleOp module, Kernel &k) {
    if (k.launcher)
      return k.launcher;
    MLIRContext *ctx = &getContext();
    Location loc = k.fn.getLoc();
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    Type i64 = IntegerType::get(ctx, 64), index = IndexType::get(ctx);
    LLVMTypeConverter descriptors(ctx);
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    auto constant = [&](int64_t v) -> Value { return LLVM::ConstantOp::create(b, loc, i64, v); };
    auto slotOf = [&](Value array, int64_t i) -> Value {
      return LLVM::GEPOp::create(b, loc, ptr, ptr, array,
                                 ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(i)});
    };

    // One GPU thread: packed[i] -> the kernel's i-th argument.
    auto thread =
        func::FuncOp::create(b, loc, "tessel_emu_thread_" + k.name, b.getFunctionType({ptr}, {}));
    thread.setPrivate();
    b.setInsertionPointToStart(thread.addEntryBlock());
    SmallVector<Value> args;
    for (auto [i, t] : llvm::enumerate(k.fn.getArgumentTypes())) {
      Value at = LLVM::LoadOp::create(b, loc, ptr, slotOf(thread.getArgument(0), i));
      if (auto m = dyn_cast<MemRefType>(t)) {
        Value descriptor = LLVM::LoadOp::create(b, loc, ptr, at);
        Value fields = LLVM::LoadOp::create(b, loc, descriptors.convertType(m), descriptor);
        args.push_back(UnrealizedConversionCastOp::create(b, loc, t, fields).getResult(0));
      } else if (t.isIndex()) {
        Value v = LLVM::LoadOp::create(b, loc, i64, at);
        args.push_back(arith::IndexCastOp::create(b, loc, index, v));
      } else {
        args.push_back(LLVM::LoadOp::create(b, loc, t, at));
      }
    }
    func::CallOp::create(b, loc, k.fn, args);
    func::ReturnOp::create(b, loc);

    // The launch: every argument stored in a slot of its own, the slots'
    // addresses in `packed`.
    b.setInsertionPointToEnd(module.getBody());
    SmallVector<Type> types(6, index);
    llvm::append_range(types, k.fn.getArgumentTypes().take_front(k.numArgs));
    auto launch =
        func::FuncOp::create(b, loc, "tessel_emu_launch_" + k.name, b.getFunctionType(types, {}));
    launch.setPrivate();
    Block *body = launch.addEntryBlock();
    auto info = LLVM::GlobalOp::create(
        b, loc, LLVM::LLVMArrayType::get(i64, k.info.size()), /*isConstant=*/true,
        LLVM::Linkage::Internal, "tessel_emu_info_" + k.name,
        DenseElementsAttr::get(RankedTensorType::get({static_cast<int64_t>(k.info.size())}, i64),
                               ArrayRef<int64_t>(k.info)));
    b.setInsertionPointToStart(body);
    Value one = constant(1), count = constant(k.numArgs);
    Value packed = LLVM::AllocaOp::create(b, loc, ptr, ptr, count);
    for (unsigned i = 0; i < k.numArgs; ++i) {
      Value a = launch.getArgument(6 + i);
      Value slot;
      if (auto m = dyn_cast<MemRefType>(a.getType())) {
        Type fieldsType = descriptors.convertType(m);
        Value fields = UnrealizedConversionCastOp::create(b, loc, fieldsType, a).getResult(0);
        Value descriptor = LLVM::AllocaOp::create(b, loc, ptr, fieldsType, one);
        LLVM::StoreOp::create(b, loc, fields, descriptor);
        slot = LLVM::AllocaOp::create(b, loc, ptr, ptr, one);
        LLVM::StoreOp::create(b, loc, descriptor, slot);
      } else {
        Value v = a.getType().isIndex() ? arith::IndexCastOp::create(b, loc, i64, a) : a;
        slot = LLVM::AllocaOp::create(b, loc, ptr, v.getType(), one);
        LLVM::StoreOp::create(b, loc, v, slot);
      }
      LLVM::StoreOp::create(b, loc, slot, slotOf(packed, i));
    }
    Value fn =
        func::ConstantOp::create(b, loc, thread.getFunctionType(), SymbolRefAttr::get(thread));
    Value name = LLVM::createGlobalString(loc, b, "tessel_emu_name_" + k.name, k.name + '\0',
                                          LLVM::Linkage::Internal);
    Value infoAddress = LLVM::AddressOfOp::create(b, loc, info);
    func::FuncOp emulator = declare(
        module, "tessel_emu_launch",
        {thread.getFunctionType(), ptr, index, index, index, index, index, index, ptr, i64, ptr},
        {});
    SmallVector<Value> operands = {fn, name};
    llvm::append_range(operands, launch.getArguments().take_front(6));
    llvm::append_range(operands, ValueRange{packed, count, infoAddress});
    func::CallOp::create(b, loc, emulator, operands);
    func::ReturnOp::create(b, loc);
    k.launcher = launch;
    return launch;
  }

  /// The host's device memory is host memory.
  void rewriteHostMemory(ModuleOp module, IRRewriter &r) {
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<gpu::AllocOp, gpu::DeallocOp, gpu::MemcpyOp, gpu::WaitOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      r.setInsertionPoint(op);
      llvm::TypeSwitch<Operation *>(op)
          .Case([&](gpu::AllocOp o) {
            r.replaceOpWithNewOp<memref::AllocOp>(o, o.getMemref().getType(), o.getDynamicSizes(),
                                                  o.getSymbolOperands());
          })
          .Case(
              [&](gpu::DeallocOp o) { r.replaceOpWithNewOp<memref::DeallocOp>(o, o.getMemref()); })
          .Case([&](gpu::MemcpyOp o) {
            r.replaceOpWithNewOp<memref::CopyOp>(o, o.getSrc(), o.getDst());
          })
          .Case([&](gpu::WaitOp o) { r.eraseOp(o); }); // launches are synchronous
    }
  }
};

} // namespace
} // namespace tessel

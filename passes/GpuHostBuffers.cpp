//===- GpuHostBuffers.cpp - a GPU entry point's buffers live on the device ===//
//
// See TesselGpuHostBuffers in Passes.td.
//
//===----------------------------------------------------------------------===//
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "passes/Passes.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELGPUHOSTBUFFERS
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

// The allocation `v` is a view of, if any.
Value allocBehind(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (isa<memref::AllocOp>(def))
      return v;
    auto view = dyn_cast<ViewLikeOpInterface>(def);
    if (!view)
      return v;
    v = view.getViewSource();
  }
  return v;
}

// Whether host code loads from, stores to or calls a function with `buffer`
// or a view of it.
template <typename OnHost> bool isReadOrWrittenOnHost(Value buffer, OnHost onHost) {
  SmallVector<Value> worklist{buffer};
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    for (Operation *user : v.getUsers()) {
      if (!onHost(user))
        continue;
      if (isa<memref::LoadOp, memref::StoreOp, func::CallOp>(user))
        return true;
      if (auto view = dyn_cast<ViewLikeOpInterface>(user); view && view.getViewSource() == v)
        llvm::append_range(worklist, user->getResults());
    }
  }
  return false;
}

struct GpuHostBuffersPass : impl::TesselGpuHostBuffersBase<GpuHostBuffersPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    // Kernel bodies allocate in their own address spaces; only host code
    // (outside gpu.launch and gpu.func) is rewritten.
    auto onHost = [](Operation *op) {
      return !op->getParentOfType<gpu::LaunchOp>() && !op->getParentOfType<gpu::GPUFuncOp>();
    };
    // Host code reads and writes some buffers itself: the deallocation
    // pipeline's lists of pointers and ownership flags, which it fills with
    // memref.store and passes to its helper function. Those stay in host
    // memory, with their deallocs.
    DenseSet<Value> hostData;
    fn.walk([&](memref::AllocOp alloc) {
      if (onHost(alloc) && isReadOrWrittenOnHost(alloc.getMemref(), onHost))
        hostData.insert(alloc.getMemref());
    });
    SmallVector<Operation *> work;
    fn.walk([&](Operation *op) {
      if (!onHost(op))
        return;
      if (auto alloc = dyn_cast<memref::AllocOp>(op); alloc && hostData.contains(alloc.getMemref()))
        return;
      if (auto dealloc = dyn_cast<memref::DeallocOp>(op);
          dealloc && hostData.contains(allocBehind(dealloc.getMemref())))
        return;
      if (isa<memref::AllocOp, memref::DeallocOp, memref::CopyOp>(op))
        work.push_back(op);
    });
    IRRewriter rewriter(fn.getContext());
    for (Operation *op : work) {
      rewriter.setInsertionPoint(op);
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        if (!alloc.getSymbolOperands().empty()) {
          alloc.emitOpError() << "symbol operands cannot be allocated on the device";
          return signalPassFailure();
        }
        // The synchronous form (no async token): the runtime runs every
        // entry point on one stream and synchronises at its end.
        auto device = gpu::AllocOp::create(rewriter, alloc.getLoc(), alloc.getType(),
                                           /*asyncToken=*/Type(), /*asyncDependencies=*/{},
                                           alloc.getDynamicSizes(), /*symbolOperands=*/{},
                                           /*hostShared=*/false);
        rewriter.replaceOp(alloc, device.getMemref());
      } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
        gpu::DeallocOp::create(rewriter, dealloc.getLoc(), /*asyncToken=*/Type(),
                               /*asyncDependencies=*/{}, dealloc.getMemref());
        rewriter.eraseOp(dealloc);
      } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
        rewriter.replaceOpWithNewOp<linalg::CopyOp>(copy, copy.getSource(), copy.getTarget());
      }
    }
  }
};

} // namespace
} // namespace tessel

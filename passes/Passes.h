//===- Passes.h - tessel transformation passes ------------------*- C++ -*-===//
#ifndef TESSEL_PASSES_PASSES_H
#define TESSEL_PASSES_PASSES_H

#include <memory>

#include "mlir/Pass/Pass.h"

namespace mlir::func {
class FuncOp;
} // namespace mlir::func

namespace tessel {

// Declares each pass's options struct and create function, and
// registerTesselPasses(), which registers them all (tessel-opt).
#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace tessel

#endif // TESSEL_PASSES_PASSES_H

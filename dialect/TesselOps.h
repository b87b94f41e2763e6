//===- TesselOps.h - tessel dialect ops and attributes ----------*- C++ -*-===//
#ifndef TESSEL_DIALECT_TESSELOPS_H
#define TESSEL_DIALECT_TESSELOPS_H

#include "dialect/TesselDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialect/TesselEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/TesselAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialect/TesselOps.h.inc"

#include <cstdint>
#include <optional>

namespace tessel {

/// How a weight `storage` / `tessel.dequantize` format packs values:
/// `elements` values in `bytes` bytes (GGUF's block layouts).
struct StorageBlock {
  int64_t elements;
  int64_t bytes;
};

/// "bf16", "q8_0", "q4_0" -> their block; nothing for other names.
std::optional<StorageBlock> storageBlock(llvm::StringRef format);

/// Bytes a `[rows, k]` matrix takes in `format` (k a multiple of the block).
int64_t storageBytes(const StorageBlock &block, int64_t rows, int64_t k);

/// Bytes a `[..., rows, k]` tensor takes: its rows (the product of all
/// dimensions but the last) one after another.
int64_t storageBytes(const StorageBlock &block, llvm::ArrayRef<int64_t> shape);

} // namespace tessel

#endif // TESSEL_DIALECT_TESSELOPS_H

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

#endif // TESSEL_DIALECT_TESSELOPS_H

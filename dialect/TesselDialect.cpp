//===- TesselDialect.cpp - dialect registration ---------------------------===//
#include "dialect/TesselDialect.h"

#include "dialect/TesselOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace tessel;

#include "dialect/TesselDialect.cpp.inc"
#include "dialect/TesselEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/TesselAttrs.cpp.inc"

void TesselDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/TesselAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialect/TesselOps.cpp.inc"
      >();
}

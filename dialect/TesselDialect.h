//===- TesselDialect.h - the tessel dialect ---------------------*- C++ -*-===//
#ifndef TESSEL_DIALECT_TESSELDIALECT_H
#define TESSEL_DIALECT_TESSELDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialect/TesselDialect.h.inc"

#endif // TESSEL_DIALECT_TESSELDIALECT_H

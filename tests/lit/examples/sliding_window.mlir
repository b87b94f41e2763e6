// examples/sliding_window.mlir must parse, verify and round-trip (custom and generic
// form); the CHECK lines live in the example itself.
// RUN: tessel-opt %examples/sliding_window.mlir | tessel-opt | FileCheck %examples/sliding_window.mlir
// RUN: tessel-opt %examples/sliding_window.mlir --mlir-print-op-generic | tessel-opt | FileCheck %examples/sliding_window.mlir

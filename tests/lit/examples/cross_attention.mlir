// examples/cross_attention.mlir must parse, verify and round-trip (custom and generic
// form); the CHECK lines live in the example itself.
// RUN: tessel-opt %examples/cross_attention.mlir | tessel-opt | FileCheck %examples/cross_attention.mlir
// RUN: tessel-opt %examples/cross_attention.mlir --mlir-print-op-generic | tessel-opt | FileCheck %examples/cross_attention.mlir

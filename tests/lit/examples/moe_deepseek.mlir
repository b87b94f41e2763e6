// examples/moe_deepseek.mlir must parse, verify and round-trip (custom and generic
// form); the CHECK lines live in the example itself.
// RUN: tessel-opt %examples/moe_deepseek.mlir | tessel-opt | FileCheck %examples/moe_deepseek.mlir
// RUN: tessel-opt %examples/moe_deepseek.mlir --mlir-print-op-generic | tessel-opt | FileCheck %examples/moe_deepseek.mlir

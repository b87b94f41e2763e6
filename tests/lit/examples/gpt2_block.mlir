// examples/gpt2_block.mlir must parse, verify and round-trip (custom and generic
// form); the CHECK lines live in the example itself.
// RUN: tessel-opt %examples/gpt2_block.mlir | tessel-opt | FileCheck %examples/gpt2_block.mlir
// RUN: tessel-opt %examples/gpt2_block.mlir --mlir-print-op-generic | tessel-opt | FileCheck %examples/gpt2_block.mlir

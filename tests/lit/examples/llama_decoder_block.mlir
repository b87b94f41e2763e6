// examples/llama_decoder_block.mlir must parse, verify and round-trip (custom and generic
// form); the CHECK lines live in the example itself.
// RUN: tessel-opt %examples/llama_decoder_block.mlir | tessel-opt | FileCheck %examples/llama_decoder_block.mlir
// RUN: tessel-opt %examples/llama_decoder_block.mlir --mlir-print-op-generic | tessel-opt | FileCheck %examples/llama_decoder_block.mlir

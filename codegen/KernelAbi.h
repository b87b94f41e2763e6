//===- KernelAbi.h - the functions compiled code calls ----------*- C++ -*-===//
//
// tessel-lower-to-kernels turns linear layers and gated FFNs into calls such
// as `func.call @tessel_linear_f32(memref, memref, memref)`, declared with
// `llvm.emit_c_interface`. MLIR's C interface passes each memref as a
// pointer to its descriptor {allocated, aligned, offset, sizes[], strides[]}
// and prefixes the symbol with `_mlir_ciface_`. KernelAbi.cpp defines those
// symbols: it unpacks the descriptors, checks the layout the kernel needs
// and calls the Highway kernels (runtime/kernels/Kernels.h), which know
// nothing of MLIR.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_CODEGEN_KERNELABI_H
#define TESSEL_CODEGEN_KERNELABI_H

#include <utility>
#include <vector>

namespace tessel::codegen {

/// (symbol name, address) of every `_mlir_ciface_tessel_*` function, for
/// the JIT's symbol table.
const std::vector<std::pair<const char *, void *>> &kernelAbiSymbols();

} // namespace tessel::codegen

#endif // TESSEL_CODEGEN_KERNELABI_H

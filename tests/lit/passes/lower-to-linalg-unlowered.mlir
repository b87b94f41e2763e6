// RUN: not tessel-opt %s --tessel-lower-to-linalg 2>&1 | FileCheck %s --check-prefix=UNLOWERED
// RUN: tessel-opt %s --tessel-lower-to-linalg="allow-unlowered=true" | FileCheck %s --check-prefix=ALLOW

// Ops without a lowering yet are an error naming them (or, with
// allow-unlowered, left in place).
// UNLOWERED: error: 'tessel.sample' op is not lowered to linalg yet
// ALLOW-LABEL: func.func @unlowered
// ALLOW: tessel.sample
func.func @unlowered(%l: tensor<1x8xf32>) -> tensor<1xi64> {
  %s = tessel.sample %l : tensor<1x8xf32> -> tensor<1xi64>
  return %s : tensor<1xi64>
}

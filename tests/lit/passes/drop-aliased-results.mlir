// RUN: tessel-opt %s --tessel-drop-aliased-results --split-input-file | FileCheck %s

// A result that is (through a cast) an argument of the function is dropped:
// the caller holds that buffer already.
// CHECK-LABEL: func.func @step(%{{.*}}: memref<4xf32>, %{{.*}}: memref<16x4xf32>) -> memref<4xf32>
// CHECK: return %{{.*}} : memref<4xf32>
func.func @step(%x: memref<4xf32>, %cache: memref<16x4xf32>) -> (memref<4xf32>, memref<16x4xf32>, memref<?x4xf32>) {
  %y = memref.alloc() : memref<4xf32>
  memref.copy %x, %y : memref<4xf32> to memref<4xf32>
  %c = memref.cast %cache : memref<16x4xf32> to memref<?x4xf32>
  return %y, %cache, %c : memref<4xf32>, memref<16x4xf32>, memref<?x4xf32>
}

// -----

// Nothing to drop: the function is unchanged.
// CHECK-LABEL: func.func @fresh(%{{.*}}: memref<4xf32>) -> memref<4xf32>
func.func @fresh(%x: memref<4xf32>) -> memref<4xf32> {
  %y = memref.alloc() : memref<4xf32>
  memref.copy %x, %y : memref<4xf32> to memref<4xf32>
  return %y : memref<4xf32>
}

// RUN: tessel-opt %s --tessel-gpu-host-buffers --split-input-file | FileCheck %s

// Buffers the host allocates for kernels move to the device; copies become
// linalg.copy (later a kernel), deallocations gpu.dealloc.
// CHECK-LABEL: func.func @step
// CHECK-SAME: (%[[X:[^:]*]]: memref<1x?x64xf32>, %[[CACHE:[^:]*]]: memref<1x128x4x8xf32>
// CHECK:   %[[N:.*]] = memref.dim %[[X]], %{{.*}}
// CHECK:   %[[A:.*]] = gpu.alloc  (%[[N]]) : memref<1x?x64xf32>
// CHECK:   linalg.copy ins(%[[X]] : memref<1x?x64xf32>) outs(%[[A]] : memref<1x?x64xf32>)
// CHECK:   %[[T:.*]] = gpu.alloc  () : memref<1x1x4x8xf32>
// CHECK:   %[[SLOT:.*]] = memref.subview %[[CACHE]]
// CHECK:   linalg.copy ins(%[[T]] : memref<1x1x4x8xf32>) outs(%[[SLOT]] : memref<1x1x4x8xf32, strided<[4096, 32, 8, 1], offset: ?>>)
// CHECK:   gpu.dealloc  %[[T]] : memref<1x1x4x8xf32>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.copy
// CHECK:   return %[[A]]
func.func @step(%x: memref<1x?x64xf32>, %cache: memref<1x128x4x8xf32>, %fill: index) -> memref<1x?x64xf32> {
  %c1 = arith.constant 1 : index
  %n = memref.dim %x, %c1 : memref<1x?x64xf32>
  %a = memref.alloc(%n) {alignment = 64 : i64} : memref<1x?x64xf32>
  memref.copy %x, %a : memref<1x?x64xf32> to memref<1x?x64xf32>
  %t = memref.alloc() : memref<1x1x4x8xf32>
  %slot = memref.subview %cache[0, %fill, 0, 0] [1, 1, 4, 8] [1, 1, 1, 1]
      : memref<1x128x4x8xf32> to memref<1x1x4x8xf32, strided<[4096, 32, 8, 1], offset: ?>>
  memref.copy %t, %slot : memref<1x1x4x8xf32> to memref<1x1x4x8xf32, strided<[4096, 32, 8, 1], offset: ?>>
  memref.dealloc %t : memref<1x1x4x8xf32>
  return %a : memref<1x?x64xf32>
}

// -----

// The deallocation pipeline's pointer lists are filled and read by the host
// (and passed to its helper): they stay in host memory, with their deallocs.
// CHECK-LABEL: func.func @ownership
// CHECK:   %[[PTRS:.*]] = memref.alloc() : memref<2xindex>
// CHECK:   memref.store %{{.*}}, %[[PTRS]]
// CHECK:   %[[FLAGS:.*]] = memref.alloc() : memref<2xi1>
// CHECK:   call @helper(%[[PTRS]], %[[FLAGS]])
// CHECK:   memref.dealloc %[[PTRS]]
// CHECK:   memref.dealloc %[[FLAGS]]
func.func private @helper(memref<2xindex>, memref<2xi1>)
func.func @ownership(%p: index) {
  %c0 = arith.constant 0 : index
  %ptrs = memref.alloc() : memref<2xindex>
  memref.store %p, %ptrs[%c0] : memref<2xindex>
  %flags = memref.alloc() : memref<2xi1>
  func.call @helper(%ptrs, %flags) : (memref<2xindex>, memref<2xi1>) -> ()
  memref.dealloc %ptrs : memref<2xindex>
  memref.dealloc %flags : memref<2xi1>
  return
}

// -----

// Allocations inside a kernel body are the kernel's own (private memory).
// CHECK-LABEL: func.func @in_kernel
// CHECK:   gpu.launch
// CHECK:     memref.alloca() : memref<4xf32>
// CHECK:     memref.alloc() : memref<4xf32>
func.func @in_kernel() {
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %s = memref.alloca() : memref<4xf32>
    %h = memref.alloc() : memref<4xf32>
    gpu.terminator
  }
  return
}

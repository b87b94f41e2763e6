// RUN: tessel-opt %s --tessel-plan-memory --split-input-file | FileCheck %s
// RUN: tessel-opt %s --tessel-plan-memory="same-type-only=1" --split-input-file | FileCheck %s --check-prefix=SAME
// RUN: tessel-opt %s --tessel-plan-memory="report=1" --split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT

func.func private @tessel_linear_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>)

// Two buffers of one type whose lifetimes do not overlap share one alloc,
// even though their sizes come from different SSA values: both are
// `memref.dim %x, 0`, once through a collapse_shape. The plan says so.
// CHECK-LABEL: func.func @reuse
// CHECK-SAME: tessel.memory_plan = {buffers = 3 : i64, bytes_after = "512 * arg0.dim0", bytes_before = "768 * arg0.dim0", live_peak = "512 * arg0.dim0", planned = 3 : i64, reused = 1 : i64, slots = [{buffers = 2 : i64, bytes = "256 * arg0.dim0", names = ["{{[0-9]+}}:{{[0-9]+}}", "{{[0-9]+}}:{{[0-9]+}}"], type = memref<?x64xf32>}, {buffers = 1 : i64, bytes = "256 * arg0.dim0", names = {{.*}}, type = memref<1x?x64xf32>}]}
// CHECK: %[[A:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x64xf32>
// CHECK: linalg.fill {{.*}} outs(%[[A]] : memref<?x64xf32>)
// CHECK: %[[E:.*]] = memref.expand_shape %[[A]]
// CHECK: memref.alloc
// CHECK: linalg.copy ins(%[[E]] : memref<1x?x64xf32>)
// CHECK-NOT: memref.alloc
// CHECK: linalg.fill {{.*}} outs(%[[A]] : memref<?x64xf32>)
// CHECK: memref.copy %[[A]], %{{.*}}
// REPORT: tessel-plan-memory @reuse: 3 allocs, 3 planned into 2 slots (1 reused)
// REPORT: slot 0: memref<?x64xf32>, 256 * arg0.dim0 bytes, 2 buffers
func.func @reuse(%x: memref<?x64xf32>, %y: memref<?x64xf32>, %r: memref<1x?x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %f = arith.constant 1.0 : f32
  %n = memref.dim %x, %c0 : memref<?x64xf32>
  %a = memref.alloc(%n) {alignment = 64 : i64} : memref<?x64xf32>
  linalg.fill ins(%f : f32) outs(%a : memref<?x64xf32>)
  %e = memref.expand_shape %a [[0, 1], [2]] output_shape [1, %n, 64] : memref<?x64xf32> into memref<1x?x64xf32>
  %out = memref.alloc(%n) {alignment = 64 : i64} : memref<1x?x64xf32>
  linalg.copy ins(%e : memref<1x?x64xf32>) outs(%out : memref<1x?x64xf32>)
  // %a is dead from here on.
  %col = memref.collapse_shape %out [[0, 1], [2]] : memref<1x?x64xf32> into memref<?x64xf32>
  %m = memref.dim %col, %c0 : memref<?x64xf32>
  %b = memref.alloc(%m) {alignment = 64 : i64} : memref<?x64xf32>
  linalg.fill ins(%f : f32) outs(%b : memref<?x64xf32>)
  memref.copy %b, %y : memref<?x64xf32> to memref<?x64xf32>
  memref.copy %out, %r : memref<1x?x64xf32> to memref<1x?x64xf32>
  return
}

// -----

// Overlapping lifetimes: %b is allocated while %a is still read.
// CHECK-LABEL: func.func @overlap
// CHECK-SAME: reused = 0
// CHECK: %[[A:.*]] = memref.alloc() : memref<16xf32>
// CHECK: %[[B:.*]] = memref.alloc() : memref<16xf32>
// CHECK: memref.copy %[[A]], %[[B]]
func.func @overlap(%x: memref<16xf32>, %y: memref<16xf32>) {
  %a = memref.alloc() : memref<16xf32>
  memref.copy %x, %a : memref<16xf32> to memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  memref.copy %a, %b : memref<16xf32> to memref<16xf32>
  memref.copy %b, %y : memref<16xf32> to memref<16xf32>
  return
}

// -----

// The last use of %a is the op just before %b's alloc: reuse. A use ending
// at the alloc itself is impossible, so "strictly before" is exercised by
// @overlap.
// CHECK-LABEL: func.func @adjacent
// CHECK-SAME: reused = 1
// CHECK: %[[A:.*]] = memref.alloc() : memref<16xf32>
// CHECK-NEXT: memref.copy %{{.*}}, %[[A]]
// CHECK-NEXT: memref.copy %[[A]], %{{.*}}
// CHECK-NEXT: memref.copy %{{.*}}, %[[A]]
func.func @adjacent(%x: memref<16xf32>, %y: memref<16xf32>) {
  %a = memref.alloc() : memref<16xf32>
  memref.copy %x, %a : memref<16xf32> to memref<16xf32>
  memref.copy %a, %y : memref<16xf32> to memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  memref.copy %x, %b : memref<16xf32> to memref<16xf32>
  memref.copy %b, %y : memref<16xf32> to memref<16xf32>
  return
}

// -----

// Different dynamic sizes (two unrelated arguments' lengths) never share,
// in either mode, though the types are equal.
// CHECK-LABEL: func.func @different_sizes
// CHECK-SAME: bytes_after = "4 * arg0.dim0 + 4 * arg1.dim0"
// CHECK-SAME: reused = 0
// CHECK: memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK: memref.alloc(%{{.*}}) : memref<?xf32>
// SAME-LABEL: func.func @different_sizes
// SAME-SAME: reused = 0
func.func @different_sizes(%x: memref<?xf32>, %y: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %m = memref.dim %y, %c0 : memref<?xf32>
  %a = memref.alloc(%n) : memref<?xf32>
  memref.copy %x, %a : memref<?xf32> to memref<?xf32>
  %b = memref.alloc(%m) : memref<?xf32>
  memref.copy %y, %b : memref<?xf32> to memref<?xf32>
  return
}

// -----

// Equal sizes are not equal shapes: [4, n] and [n, 4] may share bytes
// through views, never one typed alloc.
// CHECK-LABEL: func.func @transposed_extents
// CHECK: %[[S:.*]] = memref.alloc(%{{.*}}) : memref<?xi8>
// CHECK: memref.view %[[S]][%{{.*}}][%{{.*}}, %{{.*}}] : memref<?xi8> to memref<?x?xf32>
// CHECK: memref.view %[[S]][%{{.*}}][%{{.*}}, %{{.*}}] : memref<?xi8> to memref<?x?xf32>
// SAME-LABEL: func.func @transposed_extents
// SAME-SAME: reused = 0
// SAME-COUNT-2: memref.alloc(%{{.*}}, %{{.*}}) : memref<?x?xf32>
func.func @transposed_extents(%x: memref<?xf32>, %y: memref<?x?xf32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %a = memref.alloc(%c4, %n) : memref<?x?xf32>
  memref.copy %a, %y : memref<?x?xf32> to memref<?x?xf32>
  %b = memref.alloc(%n, %c4) : memref<?x?xf32>
  memref.copy %b, %y : memref<?x?xf32> to memref<?x?xf32>
  return
}

// -----

// A returned buffer (through a cast) escapes: not planned, and not a slot
// for the later buffer of the same type either.
// CHECK-LABEL: func.func @returned
// CHECK-SAME: buffers = 2 : i64
// CHECK-SAME: planned = 1 : i64
// CHECK-SAME: reused = 0
// CHECK-COUNT-2: memref.alloc() : memref<16xf32>
// REPORT-LABEL: tessel-plan-memory @returned
// REPORT: not planned: memref<16xf32> at {{.*}}: escapes through func.return
func.func @returned(%x: memref<16xf32>) -> memref<?xf32> {
  %a = memref.alloc() : memref<16xf32>
  memref.copy %x, %a : memref<16xf32> to memref<16xf32>
  %c = memref.cast %a : memref<16xf32> to memref<?xf32>
  %b = memref.alloc() : memref<16xf32>
  memref.copy %x, %b : memref<16xf32> to memref<16xf32>
  return %c : memref<?xf32>
}

// -----

// Returned through a loop's result, yielded from an scf.if, or passed to a
// call that is not a kernel: all escape.
// CHECK-LABEL: func.func @escapes
// CHECK-SAME: planned = 0 : i64
// REPORT-LABEL: tessel-plan-memory @escapes
// REPORT: not planned: {{.*}} escapes through func.return
// REPORT: not planned: {{.*}} escapes through func.return
// REPORT: not planned: {{.*}} escapes through scf.yield
// REPORT: not planned: {{.*}} escapes through func.call
func.func private @keep(memref<16xf32>)
func.func @escapes(%x: memref<16xf32>, %n: index, %p: i1) -> memref<16xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a = memref.alloc() : memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%it = %a) -> memref<16xf32> {
    scf.yield %b : memref<16xf32>
  }
  %e = memref.alloc() : memref<16xf32>
  %s = scf.if %p -> memref<16xf32> {
    scf.yield %e : memref<16xf32>
  } else {
    scf.yield %x : memref<16xf32>
  }
  memref.copy %s, %x : memref<16xf32> to memref<16xf32>
  %k = memref.alloc() : memref<16xf32>
  call @keep(%k) : (memref<16xf32>) -> ()
  return %r : memref<16xf32>
}

// -----

// A buffer carried by an scf.for (init, iter_arg, yield, result) is one
// buffer with the loop's result: it lives until the result's last use, so
// %b (allocated after the loop, while the result is still read) gets its
// own alloc and %c (after that read) takes the carried buffer's.
// CHECK-LABEL: func.func @iter_args
// CHECK-SAME: planned = 3 : i64
// CHECK-SAME: reused = 1 : i64
// CHECK: %[[A:.*]] = memref.alloc() : memref<16xf32>
// CHECK: %[[R:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %[[A]])
// CHECK: %[[B:.*]] = memref.alloc() : memref<16xf32>
// CHECK: memref.copy %[[R]], %[[B]]
// CHECK-NOT: memref.alloc
// CHECK: memref.copy %{{.*}}, %[[A]]
func.func @iter_args(%x: memref<16xf32>, %y: memref<16xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a = memref.alloc() : memref<16xf32>
  memref.copy %x, %a : memref<16xf32> to memref<16xf32>
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%it = %a) -> memref<16xf32> {
    %v = memref.load %it[%i] : memref<16xf32>
    memref.store %v, %it[%c0] : memref<16xf32>
    scf.yield %it : memref<16xf32>
  }
  %b = memref.alloc() : memref<16xf32>
  memref.copy %r, %b : memref<16xf32> to memref<16xf32>
  memref.copy %b, %y : memref<16xf32> to memref<16xf32>
  %c = memref.alloc() : memref<16xf32>
  memref.copy %x, %c : memref<16xf32> to memref<16xf32>
  memref.copy %c, %y : memref<16xf32> to memref<16xf32>
  return
}

// -----

// A buffer read inside a loop lives until the loop ends: %b, allocated
// before the loop, cannot take %a's place although %a's last use in the
// entry block itself comes before %b; %c, allocated after the loop, can.
// CHECK-LABEL: func.func @loop
// CHECK-SAME: reused = 1
// CHECK: %[[A:.*]] = memref.alloc() : memref<16xf32>
// CHECK: %[[B:.*]] = memref.alloc() : memref<16xf32>
// CHECK: scf.for
// CHECK: memref.subview %[[A]]
// CHECK: memref.copy %[[B]], %{{.*}}
// CHECK-NOT: memref.alloc
// CHECK: memref.copy %{{.*}}, %[[A]]
// CHECK-NEXT: memref.copy %[[A]], %{{.*}}
func.func @loop(%x: memref<16xf32>, %y: memref<16xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a = memref.alloc() : memref<16xf32>
  memref.copy %x, %a : memref<16xf32> to memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  memref.copy %x, %b : memref<16xf32> to memref<16xf32>
  scf.for %i = %c0 to %n step %c1 {
    %s = memref.subview %a[%i] [1] [1] : memref<16xf32> to memref<1xf32, strided<[1], offset: ?>>
    %v = memref.load %s[%c0] : memref<1xf32, strided<[1], offset: ?>>
    memref.store %v, %y[%i] : memref<16xf32>
  }
  memref.copy %b, %y : memref<16xf32> to memref<16xf32>
  %c = memref.alloc() : memref<16xf32>
  memref.copy %x, %c : memref<16xf32> to memref<16xf32>
  memref.copy %c, %y : memref<16xf32> to memref<16xf32>
  return
}

// -----

// Buffers of different types and the same dynamic extent share a byte slot
// as large as the largest, each seeing it through a memref.view with its
// own sizes; the smaller slot grows rather than a new one being made. A
// kernel call is a plain read/write. same-type-only keeps them apart.
// CHECK-LABEL: func.func @byte_slot
// CHECK-SAME: bytes_after = "688 * arg0.dim0"
// CHECK-SAME: bytes_before = "944 * arg0.dim0"
// CHECK-SAME: type = memref<?xi8>
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[N:.*]] = memref.dim %arg0
// CHECK: %[[BYTES:.*]] = arith.muli %{{.*}}, %[[N]] : index
// CHECK: %[[SLOT:.*]] = memref.alloc(%[[BYTES]]) {alignment = 64 : i64} : memref<?xi8>
// CHECK: %[[A:.*]] = memref.view %[[SLOT]][%[[C0]]][%[[N]]] : memref<?xi8> to memref<?x64xf32>
// CHECK: call @tessel_linear_f32
// CHECK: %[[B:.*]] = memref.view %[[SLOT]][%[[C0]]][%[[N]]] : memref<?xi8> to memref<?x172xf32>
// SAME-LABEL: func.func @byte_slot
// SAME-SAME: reused = 0
func.func private @tessel_linear_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>)
func.func @byte_slot(%x: memref<?x64xf32>, %w: memref<64x64xf32>, %y: memref<?x172xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x64xf32>
  %a = memref.alloc(%n) {alignment = 64 : i64} : memref<?x64xf32>
  %xs = memref.cast %x : memref<?x64xf32> to memref<?x?xf32, strided<[?, ?], offset: ?>>
  %ws = memref.cast %w : memref<64x64xf32> to memref<?x?xf32, strided<[?, ?], offset: ?>>
  %as = memref.cast %a : memref<?x64xf32> to memref<?x?xf32, strided<[?, ?], offset: ?>>
  call @tessel_linear_f32(%xs, %ws, %as) : (memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>) -> ()
  %b = memref.alloc(%n) {alignment = 64 : i64} : memref<?x172xf32>
  memref.copy %b, %y : memref<?x172xf32> to memref<?x172xf32>
  return
}

// -----

// The example of Passes.td: four projections in a chain. Largest first,
// %c (688 bytes per token) opens a slot that %a, dead by then, shares
// through views; %d takes %b's alloc. 944 bytes per token is the bound.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: bytes_after = "944 * arg0.dim0", bytes_before = "1456 * arg0.dim0", live_peak = "944 * arg0.dim0", planned = 4 : i64, reused = 2 : i64
// CHECK: %[[SLOT:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?xi8>
// CHECK: memref.view %[[SLOT]][%{{.*}}][%{{.*}}] : memref<?xi8> to memref<?x64xf32>
// CHECK: %[[B:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?x64xf32>
// CHECK: memref.view %[[SLOT]][%{{.*}}][%{{.*}}] : memref<?xi8> to memref<?x172xf32>
// CHECK-NOT: memref.alloc
// CHECK: memref.copy %[[B]], %arg0
func.func private @tessel_linear_f32(memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>)
func.func @chain(%x: memref<?x64xf32>, %w: memref<?x?xf32, strided<[?, ?], offset: ?>>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x64xf32>
  %xs = memref.cast %x : memref<?x64xf32> to memref<?x?xf32, strided<[?, ?], offset: ?>>
  %a = memref.alloc(%n) {alignment = 64 : i64} : memref<?x64xf32>
  %as = memref.cast %a : memref<?x64xf32> to memref<?x?xf32, strided<[?, ?], offset: ?>>
  call @tessel_linear_f32(%xs, %w, %as) : (memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>) -> ()
  %b = memref.alloc(%n) {alignment = 64 : i64} : memref<?x64xf32>
  %bs = memref.cast %b : memref<?x64xf32> to memref<?x?xf32, strided<[?, ?], offset: ?>>
  call @tessel_linear_f32(%as, %w, %bs) : (memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>) -> ()
  %c = memref.alloc(%n) {alignment = 64 : i64} : memref<?x172xf32>
  %cs = memref.cast %c : memref<?x172xf32> to memref<?x?xf32, strided<[?, ?], offset: ?>>
  call @tessel_linear_f32(%bs, %w, %cs) : (memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>) -> ()
  %d = memref.alloc(%n) {alignment = 64 : i64} : memref<?x64xf32>
  %ds = memref.cast %d : memref<?x64xf32> to memref<?x?xf32, strided<[?, ?], offset: ?>>
  call @tessel_linear_f32(%cs, %w, %ds) : (memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?x?xf32, strided<[?, ?], offset: ?>>) -> ()
  memref.copy %d, %x : memref<?x64xf32> to memref<?x64xf32>
  return
}

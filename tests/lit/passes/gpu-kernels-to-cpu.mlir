// RUN: tessel-opt %s --tessel-gpu-kernels-to-cpu --split-input-file --verify-diagnostics | FileCheck %s
// RUN: tessel-opt %s --tessel-gpu-kernels-to-cpu=record-launches --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=REC

// GPU kernels as CPU functions for the GPU emulator (tests/gpu/emulator;
// tests/unit/GpuEmulationTest.cpp runs them). The kernel takes its
// arguments, its workgroup buffers (address space dropped) and twelve
// indices: thread id, block id, block dims, grid dims.
// CHECK-NOT: gpu.container_module
// CHECK-DAG: func.func private @tessel_emu_barrier()
// CHECK-DAG: func.func private @tessel_emu_shuffle_f32(f32, i32, i32, i32) -> f32
// CHECK-DAG: func.func private @tessel_emu_shuffle_valid() -> i1
// CHECK-LABEL: func.func @f
// CHECK-NOT:   gpu.launch_func
// CHECK:       return
// CHECK-LABEL: func.func @kernels__k(
// CHECK-SAME:  %[[X:[^:]*]]: memref<64xf32>, %[[N:[^:]*]]: index, %[[T:[^:]*]]: memref<64xf32>,
// CHECK-SAME:  %[[TX:[^:]*]]: index, %[[TY:[^:]*]]: index, %[[TZ:[^:]*]]: index,
// CHECK-SAME:  %[[BX:[^:]*]]: index, %[[BY:[^:]*]]: index, %[[BZ:[^:]*]]: index,
// CHECK-SAME:  %[[NTX:[^:]*]]: index, %[[NTY:[^:]*]]: index, %[[NTZ:[^:]*]]: index,
// CHECK-SAME:  %[[NBX:[^:]*]]: index, %[[NBY:[^:]*]]: index, %[[NBZ:[^:]*]]: index)
// CHECK-SAME:  attributes {llvm.emit_c_interface}
// Private attributions: stack buffers.
// CHECK:       %[[P:.*]] = memref.alloca() : memref<2xf32>
// global_id x = block id * block dim + thread id:
// CHECK:       %[[BASE:.*]] = arith.muli %[[BX]], %[[NTX]] : index
// CHECK:       %[[GID:.*]] = arith.addi %[[BASE]], %[[TX]] : index
// lane_id = linear thread id % 32:
// CHECK:       %[[ZY:.*]] = arith.muli %[[TZ]], %[[NTY]] : index
// CHECK:       %[[Y:.*]] = arith.addi %[[ZY]], %[[TY]] : index
// CHECK:       %[[YX:.*]] = arith.muli %[[Y]], %[[NTX]] : index
// CHECK:       %[[LINEAR:.*]] = arith.addi %[[YX]], %[[TX]] : index
// CHECK:       %[[LANE:.*]] = arith.remui %[[LINEAR]], %{{.*}} : index
// CHECK:       %[[V:.*]] = memref.load %[[X]][%[[TX]]] : memref<64xf32>
// CHECK:       memref.store %[[V]], %[[T]][%[[BY]]] : memref<64xf32>
// CHECK:       memref.subview %[[T]][0] [32] [1] : memref<64xf32> to memref<32xf32, strided<[1]>>
// CHECK:       call @tessel_emu_barrier() : () -> ()
// Mode 0 = xor, 1 = down:
// CHECK:       %[[XOR:.*]] = call @tessel_emu_shuffle_f32(%[[V]], %{{.*}}, %{{.*}}, %c0_i32) : (f32, i32, i32, i32) -> f32
// CHECK:       %[[DOWN:.*]] = call @tessel_emu_shuffle_f32(%[[V]], %{{.*}}, %{{.*}}, %c1_i32{{.*}}) : (f32, i32, i32, i32) -> f32
// CHECK-NEXT:  %[[OK:.*]] = call @tessel_emu_shuffle_valid() : () -> i1
// CHECK:       memref.store %[[XOR]], %[[P]]
// CHECK:       arith.select %[[OK]], %[[XOR]], %[[DOWN]] : f32
// CHECK:       memref.store %{{.*}}, %[[X]][%[[GID]]]
// CHECK:       memref.store %{{.*}}, %[[X]][%[[LANE]]]
// CHECK:       memref.store %{{.*}}, %[[X]][%[[NBZ]]]
// CHECK:       return
// CHECK-NOT:   gpu.module

// With record-launches the host runs on the CPU: device memory is host
// memory, the launch a call of a generated function that packs the
// arguments and hands them, the per-thread trampoline and the kernel's
// shapes (known block size 64, 1, 1; one workgroup buffer of 4-byte
// elements, rank 1, 64) to the emulator.
// REC-LABEL: func.func @f(
// REC-SAME:  %[[ARG:.*]]: memref<64xf32>)
// REC:       %[[A:.*]] = memref.alloc() : memref<64xf32>
// REC:       memref.copy %[[ARG]], %[[A]]
// REC:       call @tessel_emu_launch_kernels__k(%c1, %c2, %c1, %c64, %c1, %c1, %[[A]], %c64)
// REC:       memref.dealloc %[[A]]
// REC-NOT:   gpu.
// REC:       return
// REC:       func.func private @kernels__k(
// REC-LABEL: func.func private @tessel_emu_thread_kernels__k(%{{.*}}: !llvm.ptr)
// REC:       %[[D:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>
// REC:       %[[M:.*]] = builtin.unrealized_conversion_cast %[[D]] : {{.*}} to memref<64xf32>
// REC:       call @kernels__k(%[[M]],
// REC-LABEL: func.func private @tessel_emu_launch_kernels__k(
// REC:       %[[PACKED:.*]] = llvm.alloca %{{.*}} x !llvm.ptr
// REC:       %[[FN:.*]] = constant @tessel_emu_thread_kernels__k : (!llvm.ptr) -> ()
// REC:       %[[INFO:.*]] = llvm.mlir.addressof @tessel_emu_info_kernels__k
// REC:       call @tessel_emu_launch(%[[FN]], %{{.*}}, %arg0, %arg1, %arg2, %arg3, %arg4, %arg5, %[[PACKED]], %{{.*}}, %[[INFO]])
// REC:       llvm.mlir.global internal constant @tessel_emu_info_kernels__k(dense<[64, 1, 1, 1, 4, 1, 64]> : tensor<7xi64>)
module attributes {gpu.container_module} {
  func.func @f(%x: memref<64xf32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c64 = arith.constant 64 : index
    %a = gpu.alloc () : memref<64xf32>
    gpu.memcpy %a, %x : memref<64xf32>, memref<64xf32>
    gpu.launch_func @kernels::@k blocks in (%c1, %c2, %c1) threads in (%c64, %c1, %c1)
        args(%a : memref<64xf32>, %c64 : index)
    gpu.dealloc %a : memref<64xf32>
    return
  }
  gpu.module @kernels {
    gpu.func @k(%x: memref<64xf32>, %n: index)
        workgroup(%t : memref<64xf32, #gpu.address_space<workgroup>>)
        private(%p : memref<2xf32, #gpu.address_space<private>>)
        kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
      %i = gpu.thread_id x
      %b = gpu.block_id y
      %gid = gpu.global_id x
      %lane = gpu.lane_id
      %nbz = gpu.grid_dim z
      %v = memref.load %x[%i] : memref<64xf32>
      memref.store %v, %t[%b] : memref<64xf32, #gpu.address_space<workgroup>>
      %s = memref.subview %t[0] [32] [1]
          : memref<64xf32, #gpu.address_space<workgroup>> to memref<32xf32, strided<[1]>, #gpu.address_space<workgroup>>
      gpu.barrier
      %c1 = arith.constant 1 : i32
      %c32 = arith.constant 32 : i32
      %r, %unused = gpu.shuffle xor %v, %c1, %c32 : f32
      %r2, %ok = gpu.shuffle down %v, %c1, %c32 : f32
      %c0 = arith.constant 0 : index
      memref.store %r, %p[%c0] : memref<2xf32, #gpu.address_space<private>>
      %sel = arith.select %ok, %r, %r2 : f32
      memref.store %sel, %x[%gid] : memref<64xf32>
      memref.store %sel, %x[%lane] : memref<64xf32>
      memref.store %sel, %x[%nbz] : memref<64xf32>
      gpu.return
    }
  }
}

// -----

// What the pass does not translate is an error naming it.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%x: memref<32xf32>) kernel {
      %one = arith.constant 1.0 : f32
      // expected-error @+1 {{tessel-gpu-kernels-to-cpu: 'gpu.all_reduce' is not emulated}}
      %sum = gpu.all_reduce add %one uniform {} : (f32) -> f32
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%x: memref<32xf64>) kernel {
      %one = arith.constant 1.0 : f64
      %c1 = arith.constant 1 : i32
      %c32 = arith.constant 32 : i32
      // expected-error @+1 {{'gpu.shuffle' of 'f64' is not emulated (f32 and i32 are)}}
      %r, %ok = gpu.shuffle xor %one, %c1, %c32 : f64
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%x: memref<32xf32>) kernel {
      %c0 = arith.constant 0 : index
      %one = arith.constant 1.0 : f32
      // expected-error @+1 {{'gpu.subgroup_reduce' is not emulated}}
      %sum = gpu.subgroup_reduce add %one : (f32) -> f32
      memref.store %sum, %x[%c0] : memref<32xf32>
      gpu.return
    }
  }
}

// -----

// nvvm.mma.sync m16n8k16 (what tessel-linear-to-gpu-mma emits): a call of
// the emulator's warp-collective mma per lane, with the registers as i32
// (f16 ones bitcast back from vector<2xf16>), the accumulators and a
// 4 x f32 slot in the kernel's entry block that the call fills with D;
// extractvalue reads D from the slot, other uses get the struct rebuilt.
// f32 -> bf16 truncation (the kernels' staging) becomes integer arithmetic.
// CHECK-DAG: func.func private @tessel_emu_mma_m16n8k16_bf16(i32, i32, i32, i32, i32, i32, f32, f32, f32, f32, !llvm.ptr)
// CHECK-DAG: func.func private @tessel_emu_mma_m16n8k16_f16(i32, i32, i32, i32, i32, i32, f32, f32, f32, f32, !llvm.ptr)
// CHECK-LABEL: func.func @kernels__mma(
// CHECK-SAME:  %[[A:[^:]*]]: memref<4xi32>, %[[C:[^:]*]]: memref<4xf32>, %[[X:[^:]*]]: f32, %[[D:[^:]*]]: memref<8xf32>
// CHECK:       %[[FOUR:.*]] = llvm.mlir.constant(4 : i64) : i64
// CHECK:       %[[SLOT:.*]] = llvm.alloca %[[FOUR]] x f32 {alignment = 16 : i64} : (i64) -> !llvm.ptr
// CHECK-NOT:   llvm.alloca
// CHECK:       %[[A0:.*]] = memref.load %[[A]]
// CHECK:       %[[A1:.*]] = memref.load %[[A]]
// CHECK:       %[[A2:.*]] = memref.load %[[A]]
// CHECK:       %[[A3:.*]] = memref.load %[[A]]
// CHECK:       %[[C0:.*]] = memref.load %[[C]]
// CHECK:       scf.for
// CHECK:       call @tessel_emu_mma_m16n8k16_bf16(%[[A0]], %[[A1]], %[[A2]], %[[A3]], %[[A0]], %[[A1]], %[[ACC:[^,]*]], %[[ACC]], %[[ACC]], %[[ACC]], %[[SLOT]])
// CHECK-NEXT:  %[[P0:.*]] = llvm.getelementptr %[[SLOT]][0] : (!llvm.ptr) -> !llvm.ptr, f32
// CHECK-NEXT:  %[[D0:.*]] = llvm.load %[[P0]] : !llvm.ptr -> f32
// CHECK-NEXT:  %[[P1:.*]] = llvm.getelementptr %[[SLOT]][1] : (!llvm.ptr) -> !llvm.ptr, f32
// CHECK-NEXT:  %[[D1:.*]] = llvm.load %[[P1]] : !llvm.ptr -> f32
// CHECK:       scf.yield %[[D0]] : f32
// CHECK-NOT:   nvvm.mma.sync
// f16: the vector<2xf16> registers as their 32 bits.
// CHECK:       %[[H0:.*]] = llvm.bitcast %[[A0]] : i32 to vector<2xf16>
// CHECK:       %[[W0:.*]] = llvm.bitcast %[[H0]] : vector<2xf16> to i32
// CHECK:       call @tessel_emu_mma_m16n8k16_f16(%[[W0]], {{.*}}, %[[SLOT]])
// The struct, rebuilt for a use other than extractvalue.
// CHECK:       %[[S0:.*]] = llvm.mlir.poison : !llvm.struct<(f32, f32, f32, f32)>
// CHECK:       %[[S1:.*]] = llvm.insertvalue %{{.*}}, %[[S0]][0]
// CHECK:       %[[S4:.*]] = llvm.insertvalue %{{.*}}, %{{.*}}[3]
// CHECK:       llvm.insertvalue %[[X]], %[[S4]][1]
// No truncf to bf16 is left: its integer form (round to nearest even).
// CHECK-NOT:   arith.truncf
// CHECK:       arith.bitcast %[[X]] : f32 to i32
// CHECK-NOT:   arith.truncf
// CHECK:       return
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @mma(%a: memref<4xi32>, %c: memref<4xf32>, %x: f32, %d: memref<8xf32>) kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c3 = arith.constant 3 : index
      %c4 = arith.constant 4 : index
      %a0 = memref.load %a[%c0] : memref<4xi32>
      %a1 = memref.load %a[%c1] : memref<4xi32>
      %a2 = memref.load %a[%c2] : memref<4xi32>
      %a3 = memref.load %a[%c3] : memref<4xi32>
      %acc0 = memref.load %c[%c0] : memref<4xf32>
      // A loop of mmas, as the GEMM kernels' K loop: D flows back in as C.
      %sum = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %acc0) -> f32 {
        %m = nvvm.mma.sync A[%a0, %a1, %a2, %a3] B[%a0, %a1] C[%acc, %acc, %acc, %acc]
            {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>,
             multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>,
             shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
        %d0 = llvm.extractvalue %m[0] : !llvm.struct<(f32, f32, f32, f32)>
        %d1 = llvm.extractvalue %m[1] : !llvm.struct<(f32, f32, f32, f32)>
        memref.store %d1, %d[%c1] : memref<8xf32>
        scf.yield %d0 : f32
      }
      %h0 = llvm.bitcast %a0 : i32 to vector<2xf16>
      %h1 = llvm.bitcast %a1 : i32 to vector<2xf16>
      %h2 = llvm.bitcast %a2 : i32 to vector<2xf16>
      %h3 = llvm.bitcast %a3 : i32 to vector<2xf16>
      %f = nvvm.mma.sync A[%h0, %h1, %h2, %h3] B[%h0, %h1] C[%sum, %sum, %sum, %sum]
          {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>,
           shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
      %s = llvm.insertvalue %x, %f[1] : !llvm.struct<(f32, f32, f32, f32)>
      %e = llvm.extractvalue %s[1] : !llvm.struct<(f32, f32, f32, f32)>
      memref.store %e, %d[%c2] : memref<8xf32>
      %b = arith.truncf %x : f32 to bf16
      %w = arith.extf %b : bf16 to f32
      memref.store %w, %d[%c3] : memref<8xf32>
      gpu.return
    }
  }
}

// -----

// mma.sync forms other than the GEMM kernels' are errors that say why.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%a: i32, %c: f32) kernel {
      // expected-error @+1 {{tessel-gpu-kernels-to-cpu: 'nvvm.mma.sync' with shape m16n8k8 is not emulated (m16n8k16 row.col, bf16 or f16 multiplicands, f32 accumulators is)}}
      %m = nvvm.mma.sync A[%a, %a] B[%a] C[%c, %c, %c, %c]
          {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>,
           multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>,
           shape = #nvvm.shape<m = 16, n = 8, k = 8>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%h: vector<2xf16>) kernel {
      // expected-error @+1 {{'nvvm.mma.sync' with accumulators other than 4 f32 registers is not emulated}}
      %m = nvvm.mma.sync A[%h, %h, %h, %h] B[%h, %h] C[%h, %h]
          {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>,
           shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, vector<2xf16>) -> !llvm.struct<(vector<2xf16>, vector<2xf16>)>
      gpu.return
    }
  }
}

// -----

// Any other NVVM op is an error that names it.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%x: memref<32xi32>) kernel {
      %c0 = arith.constant 0 : index
      // expected-error @+1 {{'nvvm.read.ptx.sreg.laneid' is not emulated}}
      %lane = nvvm.read.ptx.sreg.laneid : i32
      memref.store %lane, %x[%c0] : memref<32xi32>
      gpu.return
    }
  }
}

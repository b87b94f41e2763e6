// RUN: tessel-opt %s --tessel-linear-to-gpu-mma --split-input-file | FileCheck %s
// RUN: tessel-opt %s --tessel-linear-to-gpu-mma='block-m=32 block-n=32 block-k=64 warps-m=1 warps-n=2 decode-max-rows=0' --split-input-file | FileCheck %s --check-prefix=OPT
// RUN: tessel-opt %s --tessel-linear-to-gpu-mma='extra-kernels=f16_n16_k32_bias_residual' --split-input-file | FileCheck %s --check-prefix=F16
// RUN: not tessel-opt %s --tessel-linear-to-gpu-mma='block-m=24' --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not tessel-opt %s --tessel-linear-to-gpu-mma='decode-block-k=96' --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD-DECODE
// RUN: not tessel-opt %s --tessel-linear-to-gpu-mma='extra-kernels=bf16_n12_k32' --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD-EXTRA

// Host side (buffers, the weight's bytes viewed as bf16, grid and block of
// each launch) and kernel bodies (workgroup tiles, staging, mma fragments,
// epilogue, the row bound). tests/gpu/check_kernels_ptx.sh (mma) assembles the
// kernels with ptxas.

// BAD: tessel-linear-to-gpu-mma: block-m (24) must be a multiple of 16 * warps-m
// BAD-DECODE: tessel-linear-to-gpu-mma: decode layout: block-k (96) must be a multiple of 16 * warps-k
// BAD-EXTRA: tessel-linear-to-gpu-mma: extra-kernels: 'bf16_n12_k32' is not E_nN_kK[_rms|_rmsu][_glu_ACT][_rope_L_dD_rR][_bias][_residual]

// Prefill with a static M = 2 * 64 = 128 > decode-max-rows: one launch of
// the GEMM layout over (64 / 64, ceil(128 / 64)) blocks of 4 warps.
// CHECK: module attributes {gpu.container_module}
// CHECK-LABEL: func.func @prefill_static
// CHECK-SAME: (%[[X:.*]]: tensor<2x64x32xf32>, %[[BYTES:.*]]: tensor<4096xi8>)
// CHECK-NOT: tessel.dequantize
// CHECK: %[[XF:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<2x64x32xf32> into tensor<128x32xf32>
// CHECK: %[[XB:.*]] = bufferization.to_buffer %[[XF]] read_only : tensor<128x32xf32> to memref<128x32xf32, strided<[?, ?], offset: ?>>
// CHECK: %[[XC:.*]] = memref.cast %[[XB]] : memref<128x32xf32, strided<[?, ?], offset: ?>> to memref<?x32xf32, strided<[?, ?], offset: ?>>
// CHECK: %[[WB:.*]] = bufferization.to_buffer %[[BYTES]] read_only : tensor<4096xi8> to memref<4096xi8>
// CHECK: %[[W:.*]] = memref.view %[[WB]][%c0{{(_[0-9]+)?}}][] : memref<4096xi8> to memref<64x32xbf16>
// CHECK: %[[Y:.*]] = memref.alloc() : memref<2x64x64xf32>
// CHECK: %[[YF:.*]] = memref.collapse_shape %[[Y]] {{\[}}[0, 1], [2]] : memref<2x64x64xf32> into memref<128x64xf32>
// CHECK: %[[YC:.*]] = memref.cast %[[YF]] : memref<128x64xf32> to memref<?x64xf32>
// CHECK: %[[GY:.*]] = arith.ceildivui %c128{{(_[0-9]+)?}}, %c64{{(_[0-9]+)?}} : index
// CHECK-NOT: scf.if
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemm_bf16_n64_k32
// CHECK-SAME: blocks in (%c1{{(_[0-9]+)?}}, %[[GY]], %c1{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%[[XC]] : memref<?x32xf32, strided<[?, ?], offset: ?>>, %[[W]] : memref<64x32xbf16>, %[[YC]] : memref<?x64xf32>)
// CHECK-NOT: mma_gemv
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[Y]] restrict writable : memref<2x64x64xf32> to tensor<2x64x64xf32>
// CHECK: return %[[R]]
// CHECK-NOT: tessel.linear
// CHECK-NOT: tessel.dequantize
//
// The kernel: x and W tiles of 64 rows x 32 columns as 16 words (two bf16
// each) + 4 words of padding, 16-byte aligned; 2 x 2 warps.
// CHECK: gpu.module @tessel_mma_kernels
// CHECK: gpu.func @mma_gemm_bf16_n64_k32(%[[KX:.*]]: memref<?x32xf32, strided<[?, ?], offset: ?>>, %[[KW:.*]]: memref<64x32xbf16>, %[[KY:.*]]: memref<?x64xf32>)
// CHECK-SAME: workgroup(%[[AS:.*]] : memref<64x20xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[BS:.*]] : memref<64x20xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: kernel attributes {known_block_size = array<i32: 128, 1, 1>, tessel.kernel_config = "bm64_bn64_bk32_w2x2x1"}
// CHECK: %[[BX:.*]] = gpu.block_id x
// CHECK: %[[BY:.*]] = gpu.block_id y
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[WARP:.*]] = arith.divui %[[TID]], %c32{{(_[0-9]+)?}}
// CHECK: %[[LANE:.*]] = arith.remui %[[TID]], %c32{{(_[0-9]+)?}}
// CHECK: %[[G:.*]] = arith.divui %[[LANE]], %c4{{(_[0-9]+)?}}
// CHECK: %[[T:.*]] = arith.remui %[[LANE]], %c4{{(_[0-9]+)?}}
// CHECK: %[[WK:.*]] = arith.divui %[[WARP]], %c4{{(_[0-9]+)?}}
// CHECK: %[[WMN:.*]] = arith.remui %[[WARP]], %c4{{(_[0-9]+)?}}
// CHECK: %[[WM:.*]] = arith.divui %[[WMN]], %c2{{(_[0-9]+)?}}
// CHECK: %[[WN:.*]] = arith.remui %[[WMN]], %c2{{(_[0-9]+)?}}
// CHECK: %[[M:.*]] = memref.dim %[[KX]], %c0{{(_[0-9]+)?}}
// CHECK: %[[M0:.*]] = arith.muli %[[BY]], %c64{{(_[0-9]+)?}}
// CHECK: %[[N0:.*]] = arith.muli %[[BX]], %c64{{(_[0-9]+)?}}
// CHECK: %[[LASTROW:.*]] = arith.subi %[[M]], %c1{{(_[0-9]+)?}}
// CHECK: %[[WROW0:.*]] = arith.muli %[[WM]], %c32{{(_[0-9]+)?}}
// CHECK: %[[WROW:.*]] = arith.addi %[[WROW0]], %[[G]]
// CHECK: %[[WCOL0:.*]] = arith.muli %[[WN]], %c32{{(_[0-9]+)?}}
// CHECK: %[[WCOL:.*]] = arith.addi %[[WCOL0]], %[[G]]
// 32 accumulators (2 m16 x 4 n8 tiles x 4 registers), K in steps of 32.
// CHECK: %[[ACC:.*]]:32 = scf.for %[[K0:.*]] = %c0{{(_[0-9]+)?}} to %c32{{(_[0-9]+)?}} step %c32{{(_[0-9]+)?}} iter_args
// x: 64 rows x 16 pairs over 128 threads, 8 per thread; rows past M read
// row M - 1.
// CHECK: %[[AR:.*]] = arith.divui %[[TID]], %c16{{(_[0-9]+)?}}
// CHECK: %[[AW:.*]] = arith.remui %[[TID]], %c16{{(_[0-9]+)?}}
// CHECK: %[[AROW0:.*]] = arith.addi %[[M0]], %[[AR]]
// CHECK: %[[AROW:.*]] = arith.minsi %[[AROW0]], %[[LASTROW]]
// CHECK: %[[ACOL0:.*]] = arith.muli %[[AW]], %c2{{(_[0-9]+)?}}
// CHECK: %[[ACOL:.*]] = arith.addi %[[K0]], %[[ACOL0]]
// CHECK: %[[ACOL1:.*]] = arith.addi %[[ACOL]], %c1{{(_[0-9]+)?}}
// CHECK: %[[LO:.*]] = memref.load %[[KX]][%[[AROW]], %[[ACOL]]]
// CHECK: %[[HI:.*]] = memref.load %[[KX]][%[[AROW]], %[[ACOL1]]]
// CHECK-COUNT-14: memref.load %[[KX]]
// Then the stores: rounded to bf16, packed low | high << 16.
// CHECK: %[[LOB:.*]] = arith.truncf %[[LO]] : f32 to bf16
// CHECK: %[[LOI:.*]] = arith.bitcast %[[LOB]] : bf16 to i16
// CHECK: %[[LOW:.*]] = arith.extui %[[LOI]] : i16 to i32
// CHECK: %[[HIB:.*]] = arith.truncf %[[HI]] : f32 to bf16
// CHECK: %[[HII:.*]] = arith.bitcast %[[HIB]] : bf16 to i16
// CHECK: %[[HIW:.*]] = arith.extui %[[HII]] : i16 to i32
// CHECK: %[[HIS:.*]] = arith.shli %[[HIW]], %c16_i32{{(_[0-9]+)?}} : i32
// CHECK: %[[PAIR:.*]] = arith.ori %[[LOW]], %[[HIS]] : i32
// CHECK: memref.store %[[PAIR]], %[[AS]][{{.*}}] : memref<64x20xi32, #gpu.address_space<workgroup>>
// CHECK-COUNT-7: memref.store {{.*}}, %[[AS]]
// W: 64 rows x 4 vectors of 8 bf16 (16 bytes) over 128 threads, 2 per thread.
// CHECK: %[[BR:.*]] = arith.divui %[[TID]], %c4{{(_[0-9]+)?}}
// CHECK: %[[BC:.*]] = arith.remui %[[TID]], %c4{{(_[0-9]+)?}}
// CHECK: %[[BN:.*]] = arith.addi %[[N0]], %[[BR]]
// CHECK: %[[BK0:.*]] = arith.muli %[[BC]], %c8{{(_[0-9]+)?}}
// CHECK: %[[BK:.*]] = arith.addi %[[K0]], %[[BK0]]
// CHECK: %[[WV:.*]] = vector.load %[[KW]][%[[BN]], %[[BK]]] {alignment = 16 : i64} : memref<64x32xbf16>, vector<8xbf16>
// CHECK: vector.load %[[KW]]
// CHECK: %[[WORDS:.*]] = vector.bitcast %[[WV]] : vector<8xbf16> to vector<4xi32>
// CHECK: vector.store %[[WORDS]], %[[BS]][{{.*}}] {alignment = 16 : i64} : memref<64x20xi32, #gpu.address_space<workgroup>>, vector<4xi32>
// CHECK: vector.store
// CHECK-NEXT: gpu.barrier
// k16 step 0 of warp wk: word kw = wk * 8 + t. A fragment (rows g, g + 8;
// words kw, kw + 4), B fragment (row g of W; words kw, kw + 4).
// CHECK: %[[KWS:.*]] = arith.muli %[[WK]], %c8{{(_[0-9]+)?}}
// CHECK: %[[KWD:.*]] = arith.addi %[[KWS]], %[[T]]
// CHECK: %[[KW4:.*]] = arith.addi %[[KWD]], %c4{{(_[0-9]+)?}}
// CHECK: %[[R8:.*]] = arith.addi %[[WROW]], %c8{{(_[0-9]+)?}}
// CHECK: %[[A0:.*]] = memref.load %[[AS]][%[[WROW]], %[[KWD]]]
// CHECK: %[[A1:.*]] = memref.load %[[AS]][%[[R8]], %[[KWD]]]
// CHECK: %[[A2:.*]] = memref.load %[[AS]][%[[WROW]], %[[KW4]]]
// CHECK: %[[A3:.*]] = memref.load %[[AS]][%[[R8]], %[[KW4]]]
// CHECK: %[[R16:.*]] = arith.addi %[[WROW]], %c16{{(_[0-9]+)?}}
// CHECK-COUNT-4: memref.load %[[AS]]
// CHECK: %[[B0:.*]] = memref.load %[[BS]][%[[WCOL]], %[[KWD]]]
// CHECK: %[[B1:.*]] = memref.load %[[BS]][%[[WCOL]], %[[KW4]]]
// CHECK-COUNT-6: memref.load %[[BS]]
// CHECK: %[[D:.*]] = nvvm.mma.sync A[%[[A0]], %[[A1]], %[[A2]], %[[A3]]] B[%[[B0]], %[[B1]]] C[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}]
// CHECK-SAME: layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK-SAME: : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK: %[[D0:.*]] = llvm.extractvalue %[[D]][0]
// CHECK: llvm.extractvalue %[[D]][3]
// 8 mmas per k16 step, 2 steps per 32-column chunk.
// CHECK-COUNT-7: nvvm.mma.sync A
// CHECK: arith.muli
// CHECK-COUNT-8: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {{.*}}shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK-NEXT: scf.yield
// Epilogue, a row at a time (RoPE pairs columns of one row): the C
// fragment's rows g, g + 8 of each m16 tile, bounded by M; columns 2t,
// 2t + 1 of each n8 tile. No bias, no residual: no adds.
// CHECK: %[[C2T:.*]] = arith.muli %[[T]], %c2{{(_[0-9]+)?}}
// CHECK: %[[ROW:.*]] = arith.addi %[[M0]], %[[WROW]]
// CHECK: %[[INB:.*]] = arith.cmpi slt, %[[ROW]], %[[M]] : index
// CHECK: scf.if %[[INB]] {
// CHECK: %[[COL0:.*]] = arith.muli %[[WN]], %c32{{(_[0-9]+)?}}
// CHECK: %[[COL1:.*]] = arith.addi %[[COL0]], %[[C2T]]
// CHECK: %[[COL:.*]] = arith.addi %[[N0]], %[[COL1]]
// CHECK-NOT: arith.addf
// CHECK: memref.store %[[ACC]]#0, %[[KY]][%[[ROW]], %[[COL]]] : memref<?x64xf32>
// CHECK-NEXT: memref.store %[[ACC]]#1, %[[KY]][%[[ROW]], %{{.*}}]
// CHECK-NEXT: memref.store %[[ACC]]#4, %[[KY]][%[[ROW]], %{{.*}}]
// CHECK-COUNT-5: memref.store %[[ACC]]#{{[0-9]+}}, %[[KY]][%[[ROW]],
// CHECK: %[[ROW8A:.*]] = arith.addi %[[WROW]], %c8{{(_[0-9]+)?}}
// CHECK: %[[ROW8:.*]] = arith.addi %[[M0]], %[[ROW8A]]
// CHECK: arith.cmpi slt, %[[ROW8]], %[[M]] : index
// CHECK: memref.store %[[ACC]]#2, %[[KY]][%[[ROW8]],
// CHECK-COUNT-7: memref.store %[[ACC]]#{{[0-9]+}}, %[[KY]][%[[ROW8]],
// CHECK-COUNT-16: memref.store %[[ACC]]#
// CHECK-NOT: arith.addf
// CHECK: gpu.return

// The options' layout: 32 x 32 tiles, 1 x 2 warps (64 threads), 64
// columns per step: a warp computes 32 x 16 (2 x 2 mma tiles) for 4 k16
// steps = 16 mmas per step.
// OPT-LABEL: func.func @prefill_static
// OPT: gpu.launch_func @tessel_mma_kernels::@mma_gemm_bf16_n64_k32
// OPT-SAME: blocks in (%c2{{(_[0-9]+)?}}, %{{.*}}, %c1{{(_[0-9]+)?}}) threads in (%c64{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// K = 32 < block-k: the step shrinks to 32 (2 k16 steps, 8 mmas).
// OPT: gpu.func @mma_gemm_bf16_n64_k32
// OPT-SAME: workgroup(%{{.*}} : memref<32x20xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<32x20xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// OPT-SAME: known_block_size = array<i32: 64, 1, 1>, tessel.kernel_config = "bm32_bn32_bk32_w1x2x1"
// OPT: scf.for {{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) {
// OPT-COUNT-8: nvvm.mma.sync
// OPT-NOT: nvvm.mma.sync
// OPT: gpu.return

// extra-kernels builds kernels no op asks for (the verifier takes no f16
// storage format yet), in both layouts.
// F16-LABEL: gpu.module @tessel_mma_kernels
// F16: gpu.func @mma_gemm_f16_n16_k32_bias_residual(%{{.*}}: memref<?x32xf32, strided<[?, ?], offset: ?>>, %{{.*}}: memref<16x32xf16>, %{{.*}}: memref<16xf32, strided<[?], offset: ?>>, %{{.*}}: memref<?x16xf32, strided<[?, ?], offset: ?>>, %{{.*}}: memref<?x16xf32>)
// F16-SAME: tessel.kernel_config = "bm64_bn16_bk32_w2x2x1"
// F16: arith.truncf %{{.*}} : f32 to f16
// F16: vector.load %{{.*}} {alignment = 16 : i64} : memref<16x32xf16>, vector<8xf16>
// F16: vector.bitcast %{{.*}} : vector<8xf16> to vector<4xi32>
// F16: %[[FA:.*]] = llvm.bitcast %{{.*}} : i32 to vector<2xf16>
// F16: nvvm.mma.sync A[%[[FA]], {{.*}} {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// F16: gpu.func @mma_gemv_f16_n16_k32_bias_residual
// F16-SAME: tessel.kernel_config = "bm16_bn16_bk32_w1x1x2"

func.func @prefill_static(%x: tensor<2x64x32xf32>, %bytes: tensor<4096xi8>) -> tensor<2x64x64xf32> {
  %w = tessel.dequantize %bytes {format = "bf16"} : tensor<4096xi8> -> tensor<64x32xf32>
  %y = tessel.linear %x, %w : (tensor<2x64x32xf32>, tensor<64x32xf32>) -> tensor<2x64x64xf32>
  return %y : tensor<2x64x64xf32>
}


// -----

// A step entry point (dynamic M, with bias): nothing to launch when M = 0;
// M <= 16 (decode) takes the decode layout, longer prompts the GEMM one.
// N = 32 < block-n: the GEMM tile shrinks to 32 columns.
// CHECK-LABEL: func.func @step_bias
// CHECK-SAME: (%[[X:.*]]: tensor<1x?x64xf32>, %[[BYTES:.*]]: tensor<4096xi8>, %[[B:.*]]: tensor<32xf32>)
// CHECK: %[[XF:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<1x?x64xf32> into tensor<?x64xf32>
// CHECK: %[[XB:.*]] = bufferization.to_buffer %[[XF]] read_only : tensor<?x64xf32> to memref<?x64xf32, strided<[?, ?], offset: ?>>
// CHECK: %[[WB:.*]] = bufferization.to_buffer %[[BYTES]] read_only : tensor<4096xi8> to memref<4096xi8>
// CHECK: %[[W:.*]] = memref.view %[[WB]][%c0{{(_[0-9]+)?}}][] : memref<4096xi8> to memref<32x64xbf16>
// CHECK: %[[BB:.*]] = bufferization.to_buffer %[[B]] read_only : tensor<32xf32> to memref<32xf32, strided<[?], offset: ?>>
// CHECK: %[[LEN:.*]] = tensor.dim %[[X]], %c1{{(_[0-9]+)?}} : tensor<1x?x64xf32>
// CHECK: %[[Y:.*]] = memref.alloc(%[[LEN]]) : memref<1x?x32xf32>
// CHECK: %[[YF:.*]] = memref.collapse_shape %[[Y]] {{\[}}[0, 1], [2]] : memref<1x?x32xf32> into memref<?x32xf32>
// CHECK: %[[M:.*]] = tensor.dim %[[XF]], %c0{{(_[0-9]+)?}} : tensor<?x64xf32>
// CHECK: %[[NONEMPTY:.*]] = arith.cmpi ugt, %[[M]], %c0{{(_[0-9]+)?}} : index
// CHECK: scf.if %[[NONEMPTY]] {
// CHECK: %[[SHORT:.*]] = arith.cmpi ule, %[[M]], %c16{{(_[0-9]+)?}} : index
// CHECK: scf.if %[[SHORT]] {
// CHECK: %[[GY16:.*]] = arith.ceildivui %[[M]], %c16{{(_[0-9]+)?}} : index
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n32_k64_bias
// CHECK-SAME: blocks in (%c2{{(_[0-9]+)?}}, %[[GY16]], %c1{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%[[XB]] : memref<?x64xf32, strided<[?, ?], offset: ?>>, %[[W]] : memref<32x64xbf16>, %[[BB]] : memref<32xf32, strided<[?], offset: ?>>, %[[YF]] : memref<?x32xf32>)
// CHECK: } else {
// CHECK: %[[GY64:.*]] = arith.ceildivui %[[M]], %c64{{(_[0-9]+)?}} : index
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemm_bf16_n32_k64_bias
// CHECK-SAME: blocks in (%c1{{(_[0-9]+)?}}, %[[GY64]], %c1{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%[[XB]] : {{.*}}, %[[W]] : {{.*}}, %[[BB]] : {{.*}}, %[[YF]] : memref<?x32xf32>)
// CHECK: bufferization.to_tensor %[[Y]] restrict writable : memref<1x?x32xf32> to tensor<1x?x32xf32>
//
// The decode layout: 16 x 16 tiles, 4 warps splitting each 64-column step
// (K = 64 < decode-block-k), one k16 step each; the partial sums of warps
// 1..3 meet warp 0's in workgroup memory.
// CHECK: gpu.func @mma_gemv_bf16_n32_k64_bias(%[[DX:.*]]: memref<?x64xf32, strided<[?, ?], offset: ?>>, %{{.*}}: memref<32x64xbf16>, %[[DB:.*]]: memref<32xf32, strided<[?], offset: ?>>, %[[DY:.*]]: memref<?x32xf32>)
// CHECK-SAME: workgroup(%{{.*}} : memref<16x36xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<16x36xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[RED:.*]] : memref<3x16x16xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>, tessel.kernel_config = "bm16_bn16_bk64_w1x1x4"
// CHECK: %[[TID:.*]] = gpu.thread_id x
// One warp across the tile: the warp index is wk.
// CHECK: %[[WK:.*]] = arith.divui %[[TID]], %c32{{(_[0-9]+)?}}
// CHECK: %[[M:.*]] = memref.dim %[[DX]], %c0{{(_[0-9]+)?}}
// CHECK: %[[M0:.*]] = arith.muli %{{.*}}, %c16{{(_[0-9]+)?}}
// CHECK: %[[ACC:.*]]:8 = scf.for %{{.*}} = %c0{{(_[0-9]+)?}} to %c64{{(_[0-9]+)?}} step %c64{{(_[0-9]+)?}} iter_args
// CHECK: gpu.barrier
// CHECK-COUNT-2: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK-NEXT: scf.yield
// CHECK: %[[NOTFIRST:.*]] = arith.cmpi ne, %[[WK]], %c0{{(_[0-9]+)?}} : index
// CHECK: scf.if %[[NOTFIRST]] {
// CHECK: %[[SLOT:.*]] = arith.subi %[[WK]], %c1{{(_[0-9]+)?}}
// CHECK: memref.store %[[ACC]]#0, %[[RED]][%[[SLOT]], {{.*}}] : memref<3x16x16xf32, #gpu.address_space<workgroup>>
// CHECK-COUNT-7: memref.store %[[ACC]]#{{[1-7]}}, %[[RED]]
// CHECK: }
// CHECK-NEXT: gpu.barrier
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[WK]], %c0{{(_[0-9]+)?}} : index
// CHECK: scf.if %[[FIRST]] {
// CHECK: %[[ROW:.*]] = arith.addi %[[M0]], %{{.*}}
// CHECK: %[[INB:.*]] = arith.cmpi slt, %[[ROW]], %[[M]] : index
// CHECK: scf.if %[[INB]] {
// CHECK: %[[P1:.*]] = memref.load %[[RED]][%c0{{(_[0-9]+)?}}, %[[R:.*]], %[[C:.*]]] : memref<3x16x16xf32, #gpu.address_space<workgroup>>
// CHECK: %[[S1:.*]] = arith.addf %[[ACC]]#0, %[[P1]] : f32
// CHECK: %[[P2:.*]] = memref.load %[[RED]][%c1{{(_[0-9]+)?}}, %[[R]], %[[C]]]
// CHECK: %[[S2:.*]] = arith.addf %[[S1]], %[[P2]] : f32
// CHECK: %[[P3:.*]] = memref.load %[[RED]][%c2{{(_[0-9]+)?}}, %[[R]], %[[C]]]
// CHECK: %[[S3:.*]] = arith.addf %[[S2]], %[[P3]] : f32
// CHECK: %[[N:.*]] = arith.addi %{{.*}}, %[[C]]
// CHECK: %[[BIAS:.*]] = memref.load %[[DB]][%[[N]]] : memref<32xf32, strided<[?], offset: ?>>
// CHECK: %[[V:.*]] = arith.addf %[[S3]], %[[BIAS]] : f32
// CHECK: memref.store %[[V]], %[[DY]][%[[ROW]], %[[N]]] : memref<?x32xf32>
// CHECK: gpu.func @mma_gemm_bf16_n32_k64_bias
// CHECK-SAME: workgroup(%{{.*}} : memref<64x20xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<32x20xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: tessel.kernel_config = "bm64_bn32_bk32_w2x2x1"

// OPT-LABEL: func.func @step_bias
// OPT-NOT: mma_gemv
// OPT: gpu.launch_func @tessel_mma_kernels::@mma_gemm_bf16_n32_k64_bias
// OPT-SAME: blocks in (%c1{{(_[0-9]+)?}}, %{{.*}}, %c1{{(_[0-9]+)?}}) threads in (%c64{{(_[0-9]+)?}}
// OPT-NOT: mma_gemv
// OPT: gpu.func @mma_gemm_bf16_n32_k64_bias
// OPT-SAME: tessel.kernel_config = "bm32_bn32_bk64_w1x2x1"
// OPT-COUNT-16: nvvm.mma.sync
// OPT-NOT: nvvm.mma.sync
// OPT: gpu.return

func.func @step_bias(%x: tensor<1x?x64xf32>, %bytes: tensor<4096xi8>, %b: tensor<32xf32>) -> tensor<1x?x32xf32> {
  %w = tessel.dequantize %bytes {format = "bf16"} : tensor<4096xi8> -> tensor<32x64xf32>
  %y = tessel.linear %x, %w bias(%b) : (tensor<1x?x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<1x?x32xf32>
  return %y : tensor<1x?x32xf32>
}

// -----

// Decode (static M = 1) with a residual: the decode layout only; the
// residual is read through its own flattened buffer and added last.
// CHECK-LABEL: func.func @decode_residual
// CHECK-SAME: (%[[X:.*]]: tensor<1x1x64xf32>, %[[BYTES:.*]]: tensor<8192xi8>, %[[H:.*]]: tensor<1x1x64xf32>)
// CHECK: %[[HF:.*]] = tensor.collapse_shape %[[H]] {{\[}}[0, 1], [2]] : tensor<1x1x64xf32> into tensor<1x64xf32>
// CHECK: %[[HB:.*]] = bufferization.to_buffer %[[HF]] read_only : tensor<1x64xf32> to memref<1x64xf32, strided<[?, ?], offset: ?>>
// CHECK: %[[HC:.*]] = memref.cast %[[HB]] : memref<1x64xf32, strided<[?, ?], offset: ?>> to memref<?x64xf32, strided<[?, ?], offset: ?>>
// CHECK-NOT: scf.if
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n64_k64_residual
// CHECK-SAME: blocks in (%c4{{(_[0-9]+)?}}, %{{.*}}, %c1{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}}
// CHECK-SAME: %[[HC]] : memref<?x64xf32, strided<[?, ?], offset: ?>>
// CHECK-NOT: mma_gemm
// CHECK: gpu.func @mma_gemv_bf16_n64_k64_residual(%{{.*}}: memref<?x64xf32, strided<[?, ?], offset: ?>>, %{{.*}}: memref<64x64xbf16>, %[[KR:.*]]: memref<?x64xf32, strided<[?, ?], offset: ?>>, %[[KY:.*]]: memref<?x64xf32>)
// CHECK: arith.cmpi slt
// CHECK: %[[S:.*]] = arith.addf
// CHECK: %[[S2:.*]] = arith.addf %[[S]],
// CHECK: %[[S3:.*]] = arith.addf %[[S2]],
// CHECK: %[[RES:.*]] = memref.load %[[KR]][%[[ROW:.*]], %[[COL:.*]]] : memref<?x64xf32, strided<[?, ?], offset: ?>>
// CHECK: %[[V:.*]] = arith.addf %[[S3]], %[[RES]] : f32
// CHECK: memref.store %[[V]], %[[KY]][%[[ROW]], %[[COL]]]
// CHECK-NOT: mma_gemm
func.func @decode_residual(%x: tensor<1x1x64xf32>, %bytes: tensor<8192xi8>, %h: tensor<1x1x64xf32>) -> tensor<1x1x64xf32> {
  %w = tessel.dequantize %bytes {format = "bf16"} : tensor<8192xi8> -> tensor<64x64xf32>
  %y = tessel.linear %x, %w residual(%h) : (tensor<1x1x64xf32>, tensor<64x64xf32>, tensor<1x1x64xf32>) -> tensor<1x1x64xf32>
  return %y : tensor<1x1x64xf32>
}

// -----

// A vector input ([K] -> [N]) is one row; a weight shared by two linear
// layers gets one kernel and is viewed where each uses it; its
// tessel.dequantize goes with its last use.
// CHECK-LABEL: func.func @vector_shared
// CHECK-SAME: (%[[X:.*]]: tensor<64xf32>, %[[BYTES:.*]]: tensor<4096xi8>)
// CHECK-NOT: tessel.dequantize
// CHECK: %[[XE:.*]] = tensor.expand_shape %[[X]] {{\[}}[0, 1]] output_shape [1, 64] : tensor<64xf32> into tensor<1x64xf32>
// CHECK: %[[Y:.*]] = memref.alloc() : memref<32xf32>
// CHECK: %[[YE:.*]] = memref.expand_shape %[[Y]] {{\[}}[0, 1]] output_shape [1, 32] : memref<32xf32> into memref<1x32xf32>
// CHECK: %[[YC:.*]] = memref.cast %[[YE]] : memref<1x32xf32> to memref<?x32xf32>
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n32_k64
// CHECK-SAME: %[[YC]] : memref<?x32xf32>
// CHECK: %[[R1:.*]] = bufferization.to_tensor %[[Y]] restrict writable : memref<32xf32> to tensor<32xf32>
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n32_k64
// CHECK: %[[R2:.*]] = bufferization.to_tensor
// CHECK: return %[[R1]], %[[R2]]
// CHECK: gpu.module @tessel_mma_kernels
// CHECK-COUNT-1: gpu.func @mma_gemv_bf16_n32_k64(
// CHECK-NOT: gpu.func
func.func @vector_shared(%x: tensor<64xf32>, %bytes: tensor<4096xi8>) -> (tensor<32xf32>, tensor<32xf32>) {
  %w = tessel.dequantize %bytes {format = "bf16"} : tensor<4096xi8> -> tensor<32x64xf32>
  %y1 = tessel.linear %x, %w : (tensor<64xf32>, tensor<32x64xf32>) -> tensor<32xf32>
  %y2 = tessel.linear %x, %w : (tensor<64xf32>, tensor<32x64xf32>) -> tensor<32xf32>
  return %y1, %y2 : tensor<32xf32>, tensor<32xf32>
}

// -----

// Left alone: an f32 weight, a q8_0 weight, K = 24 (not a multiple of 16),
// N = 12 (not a multiple of 8); a bf16 matrix used by something else than
// a linear layer stays.
// CHECK-LABEL: func.func @left_alone
// CHECK: tessel.linear %{{.*}}, %{{.*}} : (tensor<1x4x64xf32>, tensor<64x64xf32>)
// CHECK: %[[Q:.*]] = tessel.dequantize %{{.*}} {format = "q8_0"}
// CHECK: tessel.linear %{{.*}}, %[[Q]]
// CHECK: %[[K24:.*]] = tessel.dequantize %{{.*}} {format = "bf16"} : tensor<3072xi8> -> tensor<64x24xf32>
// CHECK: tessel.linear %{{.*}}, %[[K24]]
// CHECK: %[[N12:.*]] = tessel.dequantize %{{.*}} {format = "bf16"} : tensor<1536xi8> -> tensor<12x64xf32>
// CHECK: tessel.linear %{{.*}}, %[[N12]]
// CHECK-NOT: gpu.
// CHECK-LABEL: func.func @other_use
// CHECK: %[[D:.*]] = tessel.dequantize
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n64_k64
// CHECK: return %{{.*}}, %[[D]]
func.func @left_alone(%x: tensor<1x4x64xf32>, %wf: tensor<64x64xf32>, %q8: tensor<4352xi8>,
                      %x24: tensor<1x4x24xf32>, %b24: tensor<3072xi8>, %b12: tensor<1536xi8>)
    -> (tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x12xf32>) {
  %y0 = tessel.linear %x, %wf : (tensor<1x4x64xf32>, tensor<64x64xf32>) -> tensor<1x4x64xf32>
  %wq = tessel.dequantize %q8 {format = "q8_0"} : tensor<4352xi8> -> tensor<64x64xf32>
  %y1 = tessel.linear %x, %wq : (tensor<1x4x64xf32>, tensor<64x64xf32>) -> tensor<1x4x64xf32>
  %w24 = tessel.dequantize %b24 {format = "bf16"} : tensor<3072xi8> -> tensor<64x24xf32>
  %y2 = tessel.linear %x24, %w24 : (tensor<1x4x24xf32>, tensor<64x24xf32>) -> tensor<1x4x64xf32>
  %w12 = tessel.dequantize %b12 {format = "bf16"} : tensor<1536xi8> -> tensor<12x64xf32>
  %y3 = tessel.linear %x, %w12 : (tensor<1x4x64xf32>, tensor<12x64xf32>) -> tensor<1x4x12xf32>
  return %y0, %y1, %y2, %y3 : tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x12xf32>
}

func.func @other_use(%x: tensor<1x4x64xf32>, %bytes: tensor<8192xi8>) -> (tensor<1x4x64xf32>, tensor<64x64xf32>) {
  %w = tessel.dequantize %bytes {format = "bf16"} : tensor<8192xi8> -> tensor<64x64xf32>
  %y = tessel.linear %x, %w : (tensor<1x4x64xf32>, tensor<64x64xf32>) -> tensor<1x4x64xf32>
  return %y, %w : tensor<1x4x64xf32>, tensor<64x64xf32>
}

// -----

// A llama FFN block: RMSNorm, SwiGLU on bf16 weights, residual. Two
// launches: the hidden layer (norm in the prologue, both GEMMs over the
// same x tile, silu(gate) * up in the epilogue, h written once), then the
// down projection with the residual in its epilogue. Neither the norm's
// output nor any f32 weight is materialised.
// CHECK-LABEL: func.func @ffn_swiglu
// CHECK-SAME: (%[[H:.*]]: tensor<1x?x64xf32>, %[[G:.*]]: tensor<64xf32>, %[[WG:.*]]: tensor<22528xi8>, %[[WU:.*]]: tensor<22528xi8>, %[[WD:.*]]: tensor<22528xi8>)
// CHECK-NOT: tessel.rms_norm
// CHECK: %[[HF:.*]] = tensor.collapse_shape %[[H]]
// CHECK: %[[XB:.*]] = bufferization.to_buffer %[[HF]] read_only
// CHECK: %[[GB:.*]] = bufferization.to_buffer %[[G]] read_only : tensor<64xf32> to memref<64xf32, strided<[?], offset: ?>>
// CHECK: %[[GATE:.*]] = memref.view {{.*}} : memref<22528xi8> to memref<176x64xbf16>
// CHECK: %[[UP:.*]] = memref.view {{.*}} : memref<22528xi8> to memref<176x64xbf16>
// CHECK: %[[HID:.*]] = memref.alloc(%{{.*}}) : memref<1x?x176xf32>
// CHECK: %[[HIDR:.*]] = memref.collapse_shape %[[HID]]
// CHECK: %[[EPS:.*]] = arith.constant 9.99999997E-7 : f32
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n176_k64_rms_glu_silu
// CHECK-SAME: args(%[[XB]] : {{.*}}, %[[GB]] : {{.*}}, %[[GATE]] : memref<176x64xbf16>, %[[UP]] : memref<176x64xbf16>, %[[HIDR]] : memref<?x176xf32>, %[[EPS]] : f32)
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemm_bf16_n176_k64_rms_glu_silu
// CHECK: %[[HT:.*]] = bufferization.to_tensor %[[HID]] restrict writable
// CHECK: %[[HTF:.*]] = tensor.collapse_shape %[[HT]]
// CHECK: %[[HB:.*]] = bufferization.to_buffer %[[HTF]] read_only : tensor<?x176xf32>
// CHECK: %[[DOWN:.*]] = memref.view {{.*}} : memref<22528xi8> to memref<64x176xbf16>
// CHECK: %[[RF:.*]] = tensor.collapse_shape %[[H]]
// CHECK: %[[RB:.*]] = bufferization.to_buffer %[[RF]] read_only
// CHECK: %[[Y:.*]] = memref.alloc(%{{.*}}) : memref<1x?x64xf32>
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n64_k176_residual
// CHECK-SAME: args(%[[HB]] : memref<?x176xf32, strided<[?, ?], offset: ?>>, %[[DOWN]] : memref<64x176xbf16>, %[[RB]] : {{.*}}, %{{.*}} : memref<?x64xf32>)
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemm_bf16_n64_k176_residual
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[Y]] restrict writable
// CHECK: return %[[R]]
// CHECK-NOT: tessel.ffn
// CHECK-NOT: tessel.dequantize
//
// The gated kernel: x staged as x * gamma (rounded to bf16) while its
// squares accumulate per staging item in Sq; two weight tiles; 1 / rms per
// row after the loop; the epilogue scales both sums by it.
// CHECK: gpu.func @mma_gemm_bf16_n176_k64_rms_glu_silu(%[[KX:.*]]: memref<?x64xf32, strided<[?, ?], offset: ?>>, %[[KG:.*]]: memref<64xf32, strided<[?], offset: ?>>, %{{.*}}: memref<176x64xbf16>, %{{.*}}: memref<176x64xbf16>, %[[KY:.*]]: memref<?x176xf32>, %[[KEPS:.*]]: f32)
// CHECK-SAME: workgroup(%[[AS:.*]] : memref<64x20xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[BG:.*]] : memref<16x20xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[BU:.*]] : memref<16x20xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[SQ:.*]] : memref<64x16xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %[[INV:.*]] : memref<64xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: tessel.kernel_config = "bm64_bn16_bk32_w2x2x1"
// CHECK-COUNT-8: memref.store %{{.*}}, %[[SQ]]
// CHECK: %[[ACC:.*]]:16 = scf.for
// CHECK: %[[LO:.*]] = memref.load %[[KX]]
// CHECK: %[[HI:.*]] = memref.load %[[KX]]
// CHECK: %[[GLO:.*]] = memref.load %[[KG]]
// CHECK: %[[GHI:.*]] = memref.load %[[KG]]
// CHECK: %[[S0:.*]] = memref.load %[[SQ]][%[[R:.*]], %[[W:.*]]]
// CHECK: %[[S1:.*]] = math.fma %[[LO]], %[[LO]], %[[S0]] : f32
// CHECK: %[[S2:.*]] = math.fma %[[HI]], %[[HI]], %[[S1]] : f32
// CHECK: memref.store %[[S2]], %[[SQ]][%[[R]], %[[W]]]
// CHECK: %[[XG:.*]] = arith.mulf %[[LO]], %[[GLO]] : f32
// CHECK: arith.mulf %[[HI]], %[[GHI]] : f32
// CHECK: arith.truncf %[[XG]] : f32 to bf16
// CHECK: memref.store %{{.*}}, %[[AS]]
// CHECK: vector.store %{{.*}}, %[[BG]]
// CHECK: vector.store %{{.*}}, %[[BU]]
// CHECK: gpu.barrier
// 2 x 1 mma tiles per warp and weight, 2 k16 steps per chunk.
// CHECK-COUNT-8: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK-NEXT: scf.yield
// CHECK: scf.for %[[ROW:.*]] = %{{.*}} to %c64{{(_[0-9]+)?}} step %c128{{(_[0-9]+)?}} {
// CHECK: %[[SS:.*]] = scf.for
// CHECK: memref.load %[[SQ]][%[[ROW]],
// CHECK: %[[MEAN:.*]] = arith.divf %[[SS]], %cst{{.*}} : f32
// CHECK: %[[VAR:.*]] = arith.addf %[[MEAN]], %[[KEPS]] : f32
// CHECK: %[[ROOT:.*]] = math.sqrt %[[VAR]] : f32
// CHECK: %[[IR:.*]] = arith.divf %cst{{.*}}, %[[ROOT]] : f32
// CHECK: memref.store %[[IR]], %[[INV]][%[[ROW]]]
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK: %[[SCALE:.*]] = memref.load %[[INV]]
// CHECK: %[[GSUM:.*]] = arith.mulf %[[ACC]]#0, %[[SCALE]] : f32
// CHECK: %[[USUM:.*]] = arith.mulf %[[ACC]]#8, %[[SCALE]] : f32
// CHECK: %[[NEG:.*]] = arith.negf %[[GSUM]] : f32
// CHECK: %[[EXP:.*]] = math.exp %[[NEG]] : f32
// CHECK: %[[DEN:.*]] = arith.addf %cst{{.*}}, %[[EXP]] : f32
// CHECK: %[[SILU:.*]] = arith.divf %[[GSUM]], %[[DEN]] : f32
// CHECK: %[[HV:.*]] = arith.mulf %[[SILU]], %[[USUM]] : f32
// CHECK: memref.store %[[HV]], %[[KY]]
// CHECK: gpu.return
func.func @ffn_swiglu(%h: tensor<1x?x64xf32>, %g: tensor<64xf32>, %wg: tensor<22528xi8>, %wu: tensor<22528xi8>, %wd: tensor<22528xi8>) -> tensor<1x?x64xf32> {
  %n = tessel.rms_norm %h, %g {epsilon = 1.0e-06 : f32} : (tensor<1x?x64xf32>, tensor<64xf32>) -> tensor<1x?x64xf32>
  %gate = tessel.dequantize %wg {format = "bf16"} : tensor<22528xi8> -> tensor<176x64xf32>
  %up = tessel.dequantize %wu {format = "bf16"} : tensor<22528xi8> -> tensor<176x64xf32>
  %down = tessel.dequantize %wd {format = "bf16"} : tensor<22528xi8> -> tensor<64x176xf32>
  %y = tessel.ffn %n up(%up) gate(%gate) down(%down) residual(%h) {activation = #tessel.activation<swiglu>}
      : (tensor<1x?x64xf32>, tensor<176x64xf32>, tensor<176x64xf32>, tensor<64x176xf32>, tensor<1x?x64xf32>) -> tensor<1x?x64xf32>
  return %y : tensor<1x?x64xf32>
}

// -----

// Q, K, V of an attention layer off one RMSNorm (also returned, so it
// stays): each projection folds the norm into its prologue; Q and K fold
// their RoPE into the epilogue (half-split with a 500000 base, and
// interleaved over the first 16 of 32 dims with linear scaling 4),
// reading the positions flattened to one per row; the result is split
// into heads where the rope was.
// CHECK-LABEL: func.func @qkv_rope
// CHECK-SAME: (%[[H:.*]]: tensor<1x4x64xf32>, %[[G:.*]]: tensor<64xf32>, %[[POS:.*]]: tensor<1x4xi64>,
// CHECK: %[[NORM:.*]] = tessel.rms_norm %[[H]], %[[G]]
// CHECK: %[[PF:.*]] = tensor.collapse_shape %[[POS]] {{\[}}[0, 1]] : tensor<1x4xi64> into tensor<4xi64>
// CHECK: %[[PB:.*]] = bufferization.to_buffer %[[PF]] read_only : tensor<4xi64> to memref<4xi64, strided<[?], offset: ?>>
// CHECK: %[[PC:.*]] = memref.cast %[[PB]] : memref<4xi64, strided<[?], offset: ?>> to memref<?xi64, strided<[?], offset: ?>>
// CHECK: %[[EPS:.*]] = arith.constant 9.99999974E-6 : f32
// CHECK: %[[THETA:.*]] = arith.constant 5.000000e+05 : f32
// CHECK: %[[SCALING:.*]] = arith.constant 1.000000e+00 : f32
// Half-split: one 16-wide head per block (grid x = 64 / 16).
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n64_k64_rms_rope_h_d16_r16 blocks in (%c4
// CHECK-SAME: args({{.*}}, %[[PC]] : memref<?xi64, strided<[?], offset: ?>>, %{{.*}} : memref<?x64xf32>, %[[EPS]] : f32, %[[THETA]] : f32, %[[SCALING]] : f32)
// CHECK: %[[Q:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0], [1], [2, 3]] output_shape [1, 4, 4, 16] : tensor<1x4x64xf32> into tensor<1x4x4x16xf32>
// CHECK: %[[KTHETA:.*]] = arith.constant 1.000000e+04 : f32
// CHECK: %[[KSCALING:.*]] = arith.constant 4.000000e+00 : f32
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n32_k64_rms_rope_i_d32_r16
// CHECK-SAME: %[[KTHETA]] : f32, %[[KSCALING]] : f32)
// CHECK: %[[K:.*]] = tensor.expand_shape %{{.*}} output_shape [1, 4, 1, 32]
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n32_k64_rms blocks
// CHECK: %[[V:.*]] = bufferization.to_tensor
// CHECK: return %[[Q]], %[[K]], %[[V]], %[[NORM]]
// CHECK-NOT: tessel.rope
// CHECK-NOT: tessel.linear
//
// The half-split kernel: one warp column over the head (16 columns, two
// n8 tiles); column d < 8 (tile 0) pairs with d + 8 (tile 1) in the same
// lane. Inverse frequencies exp(d * -2 ln(theta) / 16) in f64, the angle
// pos / scaling * inv reduced to [-pi, pi] in f64, then f32 cos and sin.
// CHECK: gpu.func @mma_gemv_bf16_n64_k64_rms_rope_h_d16_r16(%{{.*}}, %[[KPOS:.*]]: memref<?xi64, strided<[?], offset: ?>>, %[[KY:.*]]: memref<?x64xf32>, %[[KEPS:.*]]: f32, %[[KTH:.*]]: f32, %[[KSC:.*]]: f32)
// CHECK-SAME: tessel.kernel_config = "bm16_bn16_bk64_w1x1x2"
// CHECK: %[[ACC:.*]]:8 = scf.for
// CHECK: %[[THETA64:.*]] = arith.extf %[[KTH]] : f32 to f64
// CHECK: %[[LOGT:.*]] = math.log %[[THETA64]] : f64
// CHECK: %[[STEP:.*]] = arith.mulf %[[LOGT]], %cst{{.*}} : f64
// CHECK: %[[SC64:.*]] = arith.extf %[[KSC]] : f32 to f64
// CHECK: scf.if
// CHECK: %[[M:.*]] = arith.addi
// CHECK: scf.if
// Column 2t of tile 0 (A) pairs with column 2t of tile 1 (B), after 2t + 1
// of tile 0: the sums times the norm's scale.
// CHECK: %[[A:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: %[[COLA:.*]] = arith.addi %{{.*}} : index
// CHECK: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: %[[B:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: %[[P:.*]] = memref.load %[[KPOS]][%[[M]]]
// CHECK: %[[PF:.*]] = arith.sitofp %[[P]] : i64 to f64
// CHECK: %[[PS:.*]] = arith.divf %[[PF]], %[[SC64]] : f64
// CHECK: %[[D:.*]] = arith.remui %[[COLA]], %c16{{(_[0-9]+)?}} : index
// CHECK: %[[D64:.*]] = arith.index_castui %[[D]] : index to i64
// CHECK: %[[PAIR:.*]] = arith.uitofp %[[D64]] : i64 to f64
// CHECK: %[[EXPO:.*]] = arith.mulf %[[PAIR]], %[[STEP]] : f64
// CHECK: %[[INVF:.*]] = math.exp %[[EXPO]] : f64
// CHECK: %[[ANGLE:.*]] = arith.mulf %[[PS]], %[[INVF]] : f64
// CHECK: %[[TURNS:.*]] = arith.mulf %[[ANGLE]], %cst{{.*}} : f64
// CHECK: %[[TURNS1:.*]] = arith.addf %[[TURNS]], %cst{{.*}} : f64
// CHECK: %[[TURNSF:.*]] = math.floor %[[TURNS1]] : f64
// CHECK: %[[WHOLE:.*]] = arith.mulf %[[TURNSF]], %cst{{.*}} : f64
// CHECK: %[[RED:.*]] = arith.subf %[[ANGLE]], %[[WHOLE]] : f64
// CHECK: %[[R32:.*]] = arith.truncf %[[RED]] : f64 to f32
// CHECK: %[[COS:.*]] = math.cos %[[R32]] : f32
// CHECK: %[[SIN:.*]] = math.sin %[[R32]] : f32
// CHECK: %[[AC:.*]] = arith.mulf %[[A]], %[[COS]] : f32
// CHECK: %[[BS:.*]] = arith.mulf %[[B]], %[[SIN]] : f32
// CHECK: %[[OA:.*]] = arith.subf %[[AC]], %[[BS]] : f32
// CHECK: %[[AS:.*]] = arith.mulf %[[A]], %[[SIN]] : f32
// CHECK: %[[BC:.*]] = arith.mulf %[[B]], %[[COS]] : f32
// CHECK: %[[OB:.*]] = arith.addf %[[AS]], %[[BC]] : f32
// CHECK: memref.store %[[OA]], %[[KY]]
// CHECK: memref.store
// CHECK: memref.store %[[OB]], %[[KY]]
//
// Interleaved: pairs (2i, 2i + 1) are the two columns of a fragment half;
// d = column mod 32 is rotated when d < 16 (the rest pass through).
// CHECK: gpu.func @mma_gemv_bf16_n32_k64_rms_rope_i_d32_r16
// CHECK: math.log
// CHECK: %[[D:.*]] = arith.remui %{{.*}}, %c32{{(_[0-9]+)?}} : index
// CHECK: %[[ROT:.*]] = arith.cmpi ult, %[[D]], %c16{{(_[0-9]+)?}} : index
// CHECK: %[[I:.*]] = arith.divui %[[D]], %c2{{(_[0-9]+)?}} : index
// CHECK: math.cos
// CHECK: %[[OA:.*]] = arith.subf
// CHECK: %[[OB:.*]] = arith.addf
// CHECK: %[[SA:.*]] = arith.select %[[ROT]], %[[OA]], %{{.*}} : f32
// CHECK: %[[SB:.*]] = arith.select %[[ROT]], %[[OB]], %{{.*}} : f32
// CHECK: memref.store %[[SA]]
// CHECK: memref.store %[[SB]]
func.func @qkv_rope(%h: tensor<1x4x64xf32>, %g: tensor<64xf32>, %pos: tensor<1x4xi64>, %wq: tensor<8192xi8>, %wk: tensor<4096xi8>, %wv: tensor<4096xi8>) -> (tensor<1x4x4x16xf32>, tensor<1x4x1x32xf32>, tensor<1x4x32xf32>, tensor<1x4x64xf32>) {
  %n = tessel.rms_norm %h, %g {epsilon = 1.0e-05 : f32} : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
  %q = tessel.dequantize %wq {format = "bf16"} : tensor<8192xi8> -> tensor<64x64xf32>
  %k = tessel.dequantize %wk {format = "bf16"} : tensor<4096xi8> -> tensor<32x64xf32>
  %v = tessel.dequantize %wv {format = "bf16"} : tensor<4096xi8> -> tensor<32x64xf32>
  %q0 = tessel.linear %n, %q : (tensor<1x4x64xf32>, tensor<64x64xf32>) -> tensor<1x4x64xf32>
  %qh = tensor.expand_shape %q0 [[0], [1], [2, 3]] output_shape [1, 4, 4, 16] : tensor<1x4x64xf32> into tensor<1x4x4x16xf32>
  %qr = tessel.rope %qh, %pos {layout = #tessel.rope_layout<half_split>, theta = 500000.0 : f32} : (tensor<1x4x4x16xf32>, tensor<1x4xi64>) -> tensor<1x4x4x16xf32>
  %k0 = tessel.linear %n, %k : (tensor<1x4x64xf32>, tensor<32x64xf32>) -> tensor<1x4x32xf32>
  %kh = tensor.expand_shape %k0 [[0], [1], [2, 3]] output_shape [1, 4, 1, 32] : tensor<1x4x32xf32> into tensor<1x4x1x32xf32>
  %kr = tessel.rope %kh, %pos {layout = #tessel.rope_layout<interleaved>, theta = 10000.0 : f32, rotary_dim = 16 : i64, linear_scaling = 4.0 : f32} : (tensor<1x4x1x32xf32>, tensor<1x4xi64>) -> tensor<1x4x1x32xf32>
  %v0 = tessel.linear %n, %v : (tensor<1x4x64xf32>, tensor<32x64xf32>) -> tensor<1x4x32xf32>
  return %qr, %kr, %v0, %n : tensor<1x4x4x16xf32>, tensor<1x4x1x32xf32>, tensor<1x4x32xf32>, tensor<1x4x64xf32>
}

// -----

// GeGLU (tanh) on a norm with Gemma's unit offset: fused, and the norm
// goes with its last fused user (the K projection below). Left alone: an
// FFN with an up bias, a plain (ungated) FFN, one with a q8_0 gate; a RoPE
// with frequency factors (its linear layer still folds the norm).
// CHECK-LABEL: func.func @geglu_and_left_alone
// CHECK-NOT: tessel.rms_norm
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n128_k64_rmsu_glu_gelutanh
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n64_k128 blocks
// CHECK: tessel.ffn %{{.*}} up_bias
// CHECK: tessel.ffn %{{.*}} {activation = #tessel.activation<silu>}
// CHECK: %[[Q8:.*]] = tessel.dequantize %{{.*}} {format = "q8_0"}
// CHECK: tessel.ffn %{{.*}} gate(%[[Q8]])
// CHECK: gpu.launch_func @tessel_mma_kernels::@mma_gemv_bf16_n32_k64_rmsu blocks
// CHECK: %[[KH:.*]] = tensor.expand_shape
// CHECK: tessel.rope %[[KH]], %{{.*}} freq_factors
// CHECK-NOT: tessel.rms_norm
// CHECK: gpu.func @mma_gemv_bf16_n128_k64_rmsu_glu_gelutanh
// Gamma + 1 while staging.
// CHECK: arith.addf %{{.*}}, %cst{{.*}} : f32
// CHECK: math.tanh
// CHECK-NOT: gpu.func @{{.*}}silu
func.func @geglu_and_left_alone(%h: tensor<1x4x64xf32>, %g: tensor<64xf32>, %pos: tensor<1x4xi64>, %ff: tensor<8xf32>,
    %wg: tensor<16384xi8>, %wu: tensor<16384xi8>, %wd: tensor<16384xi8>, %q8: tensor<8704xi8>, %bu: tensor<128xf32>, %wk: tensor<4096xi8>)
    -> (tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x2x16xf32>) {
  %n = tessel.rms_norm %h, %g {unit_offset} : (tensor<1x4x64xf32>, tensor<64xf32>) -> tensor<1x4x64xf32>
  %gate = tessel.dequantize %wg {format = "bf16"} : tensor<16384xi8> -> tensor<128x64xf32>
  %up = tessel.dequantize %wu {format = "bf16"} : tensor<16384xi8> -> tensor<128x64xf32>
  %down = tessel.dequantize %wd {format = "bf16"} : tensor<16384xi8> -> tensor<64x128xf32>
  %y0 = tessel.ffn %n up(%up) gate(%gate) down(%down) {activation = #tessel.activation<geglu>, tanh_approx}
      : (tensor<1x4x64xf32>, tensor<128x64xf32>, tensor<128x64xf32>, tensor<64x128xf32>) -> tensor<1x4x64xf32>
  %y1 = tessel.ffn %h up(%up) gate(%gate) down(%down) up_bias(%bu) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x64xf32>, tensor<128x64xf32>, tensor<128x64xf32>, tensor<64x128xf32>, tensor<128xf32>) -> tensor<1x4x64xf32>
  %y2 = tessel.ffn %h up(%up) down(%down) {activation = #tessel.activation<silu>}
      : (tensor<1x4x64xf32>, tensor<128x64xf32>, tensor<64x128xf32>) -> tensor<1x4x64xf32>
  %gq = tessel.dequantize %q8 {format = "q8_0"} : tensor<8704xi8> -> tensor<128x64xf32>
  %y3 = tessel.ffn %h up(%up) gate(%gq) down(%down) {activation = #tessel.activation<swiglu>}
      : (tensor<1x4x64xf32>, tensor<128x64xf32>, tensor<128x64xf32>, tensor<64x128xf32>) -> tensor<1x4x64xf32>
  %k = tessel.dequantize %wk {format = "bf16"} : tensor<4096xi8> -> tensor<32x64xf32>
  %k0 = tessel.linear %n, %k : (tensor<1x4x64xf32>, tensor<32x64xf32>) -> tensor<1x4x32xf32>
  %kh = tensor.expand_shape %k0 [[0], [1], [2, 3]] output_shape [1, 4, 2, 16] : tensor<1x4x32xf32> into tensor<1x4x2x16xf32>
  %kr = tessel.rope %kh, %pos freq_factors(%ff) {layout = #tessel.rope_layout<half_split>} : (tensor<1x4x2x16xf32>, tensor<1x4xi64>, tensor<8xf32>) -> tensor<1x4x2x16xf32>
  return %y0, %y1, %y2, %y3, %kr : tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x64xf32>, tensor<1x4x2x16xf32>
}

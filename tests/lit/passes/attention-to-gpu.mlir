// RUN: tessel-opt %s --tessel-attention-to-gpu --split-input-file | FileCheck %s
// RUN: tessel-opt %s --tessel-attention-to-gpu='block-q=32 block-kv=16 threads-per-row=2' --split-input-file | FileCheck %s --check-prefix=OPT
// RUN: not tessel-opt %s --tessel-attention-to-gpu='block-q=20' --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD

// Host side (buffers, grid and block of each launch) and kernel bodies
// (workgroup tiles, GQA head index, masking comparisons, shuffles, online
// softmax). tests/gpu/check_kernels_ptx.sh (attention) assembles the kernels with
// ptxas.

// BAD: tessel-attention-to-gpu: block-q must be a multiple of 32

// MHA, causal prefill (q_len 128 > decode-max-query-len): one flash-attention
// launch over (ceil(128 / 64), heads, batch) blocks of 64 rows x 4 lanes.
// CHECK: module attributes {gpu.container_module}
// CHECK-LABEL: func.func @mha_causal_prefill
// CHECK: %[[QB:.*]] = bufferization.to_buffer %arg0 read_only : tensor<2x128x4x8xf32> to memref<2x128x4x8xf32, strided<[?, ?, ?, ?], offset: ?>>
// CHECK: %[[QC:.*]] = memref.cast %[[QB]] : {{.*}} to memref<?x?x4x8xf32, strided<[?, ?, ?, ?], offset: ?>>
// CHECK: %[[KB:.*]] = bufferization.to_buffer %arg1 read_only
// CHECK: %[[KC:.*]] = memref.cast %[[KB]]
// CHECK: %[[VB:.*]] = bufferization.to_buffer %arg2 read_only
// CHECK: %[[VC:.*]] = memref.cast %[[VB]]
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<2x128x4x8xf32>
// CHECK: %[[OC:.*]] = memref.cast %[[OUT]] : memref<2x128x4x8xf32> to memref<?x?x4x8xf32>
// CHECK: %[[GX:.*]] = arith.ceildivui %c128{{(_[0-9]+)?}}, %c64{{(_[0-9]+)?}} : index
// CHECK: gpu.launch_func @tessel_attention_kernels::@flash_attention_h4_kv4_d8_causal
// CHECK-SAME: blocks in (%[[GX]], %c4{{(_[0-9]+)?}}, %c2{{(_[0-9]+)?}}) threads in (%c256{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%[[QC]] : memref<?x?x4x8xf32, strided<[?, ?, ?, ?], offset: ?>>, %[[KC]] : memref<?x?x4x8xf32, strided<[?, ?, ?, ?], offset: ?>>, %[[VC]] : memref<?x?x4x8xf32, strided<[?, ?, ?, ?], offset: ?>>, %[[OC]] : memref<?x?x4x8xf32>)
// CHECK-NOT: flash_decoding
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[OUT]] restrict writable : memref<2x128x4x8xf32> to tensor<2x128x4x8xf32>
// CHECK: return %[[R]]
// CHECK-NOT: tessel.attention
//
// The kernel: K and V tiles of 32 keys in workgroup memory.
// CHECK: gpu.module @tessel_attention_kernels
// CHECK: gpu.func @flash_attention_h4_kv4_d8_causal(%[[Q:.*]]: memref<?x?x4x8xf32, strided<[?, ?, ?, ?], offset: ?>>, %[[K:.*]]: memref<?x?x4x8xf32, strided<[?, ?, ?, ?], offset: ?>>, %[[V:.*]]: memref<?x?x4x8xf32, strided<[?, ?, ?, ?], offset: ?>>, %[[O:.*]]: memref<?x?x4x8xf32>)
// CHECK-SAME: workgroup(%[[KT:.*]] : memref<32x8xf32, #gpu.address_space<workgroup>>, %[[VT:.*]] : memref<32x8xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME: kernel attributes {known_block_size = array<i32: 256, 1, 1>
// CHECK: %[[QBLK:.*]] = gpu.block_id x
// CHECK: %[[H:.*]] = gpu.block_id y
// CHECK: %[[B:.*]] = gpu.block_id z
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[ROW:.*]] = arith.divui %[[TID]], %c4{{(_[0-9]+)?}}
// CHECK: %[[LANE:.*]] = arith.remui %[[TID]], %c4{{(_[0-9]+)?}}
// CHECK: %[[QLEN:.*]] = memref.dim %[[Q]], %c1{{(_[0-9]+)?}}
// CHECK: %[[KVLEN:.*]] = memref.dim %[[K]], %c1{{(_[0-9]+)?}}
// CHECK: %[[OFF:.*]] = arith.subi %[[KVLEN]], %[[QLEN]]
// CHECK: %[[FIRST:.*]] = arith.muli %[[QBLK]], %c64{{(_[0-9]+)?}}
// CHECK: %[[I:.*]] = arith.addi %[[FIRST]], %[[ROW]]
// CHECK: %[[POS:.*]] = arith.addi %[[I]], %[[OFF]]
// Causal: the block's tiles end after its last row's position.
// CHECK: %[[END0:.*]] = arith.addi %[[FIRST]], %c64{{(_[0-9]+)?}}
// CHECK: %[[END1:.*]] = arith.minsi %[[END0]], %[[QLEN]]
// CHECK: %[[LAST:.*]] = arith.subi %[[END1]], %c1{{(_[0-9]+)?}}
// CHECK: %[[LASTPOS:.*]] = arith.addi %[[LAST]], %[[OFF]]
// CHECK: %[[END2:.*]] = arith.addi %[[LASTPOS]], %c1{{(_[0-9]+)?}}
// CHECK: %[[END3:.*]] = arith.maxsi %[[END2]], %c0{{(_[0-9]+)?}}
// CHECK: %[[KVEND:.*]] = arith.minsi %[[END3]], %[[KVLEN]]
// Lane p owns dims p and p + 4 (of q, then of v); rows past q_len read the
// last row.
// CHECK: %[[D1:.*]] = arith.addi %[[LANE]], %c4{{(_[0-9]+)?}}
// CHECK: %[[DV1:.*]] = arith.addi %[[LANE]], %c4{{(_[0-9]+)?}}
// CHECK: %[[QLAST:.*]] = arith.subi %[[QLEN]], %c1{{(_[0-9]+)?}}
// CHECK: %[[QROW:.*]] = arith.minsi %[[I]], %[[QLAST]]
// CHECK: memref.load %[[Q]][%[[B]], %[[QROW]], %[[H]], %[[LANE]]]
// CHECK: memref.load %[[Q]][%[[B]], %[[QROW]], %[[H]], %[[D1]]]
// Tiles of 32 keys, loaded by all 256 threads (MHA: K/V head = query head).
// The running state starts at m = -inf, l = 0, acc = 0.
// CHECK: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[ST:.*]]:4 = scf.for %[[T:.*]] = %c0{{(_[0-9]+)?}} to %[[KVEND]] step %c32{{(_[0-9]+)?}} iter_args(%{{.*}} = %[[NEGINF]], %{{.*}} = %[[ZERO]], %{{[a-z0-9_]+}} = %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} = %{{[a-z0-9_]+}})
// CHECK: %[[REST:.*]] = arith.subi %[[KVEND]], %[[T]]
// CHECK: %[[N:.*]] = arith.minsi %c32{{.*}}, %[[REST]]
// CHECK: scf.for %[[AT:.*]] = %[[TID]] to %c256{{.*}} step %c256{{(_[0-9]+)?}}
// CHECK: %[[KROW:.*]] = arith.divui %[[AT]], %c8{{(_[0-9]+)?}}
// CHECK: %[[KCOL:.*]] = arith.remui %[[AT]], %c8{{(_[0-9]+)?}}
// CHECK: %[[KEY:.*]] = arith.minsi
// CHECK: %[[KV:.*]] = memref.load %[[K]][%[[B]], %[[KEY]], %[[H]], %[[KCOL]]]
// CHECK: memref.store %[[KV]], %[[KT]][%[[KROW]], %[[KCOL]]] : memref<32x8xf32, #gpu.address_space<workgroup>>
// CHECK: memref.load %[[V]]
// CHECK: memref.store %{{.*}}, %[[VT]]
// CHECK: gpu.barrier
// Steps of 8 keys: key jj of the tile is masked unless jj < n and t + jj <= pos.
// CHECK: scf.for %[[C0:.*]] = %c0{{.*}} to %[[N]] step %c8{{(_[0-9]+)?}}
// CHECK: %[[J:.*]] = arith.addi %[[T]], %[[C0]]
// CHECK: %[[INTILE:.*]] = arith.cmpi slt, %[[C0]], %[[N]]
// CHECK: %[[CAUSAL:.*]] = arith.cmpi sle, %[[J]], %[[POS]]
// CHECK: %[[VISIBLE:.*]] = arith.andi %[[INTILE]], %[[CAUSAL]]
// CHECK: memref.load %[[KT]][%[[C0]], %[[LANE]]]
// CHECK: memref.load %[[KT]][%[[C0]], %[[D1]]]
// CHECK: %[[DOT:.*]] = math.fma
// CHECK: %[[S1:.*]], %{{.*}} = gpu.shuffle xor %[[DOT]], %c1_i32{{(_[0-9]+)?}}, %c32_i32{{(_[0-9]+)?}} : f32
// CHECK: %[[DOT1:.*]] = arith.addf %[[DOT]], %[[S1]]
// CHECK: %[[S2:.*]], %{{.*}} = gpu.shuffle xor %[[DOT1]], %c2_i32{{(_[0-9]+)?}}, %c32_i32{{.*}} : f32
// CHECK: %[[DOT2:.*]] = arith.addf %[[DOT1]], %[[S2]]
// CHECK: arith.select %[[VISIBLE]], %[[DOT2]], %{{.*}} : f32
// Online softmax, exponents against max(m) or 0 while nothing is seen.
// CHECK: arith.maxnumf
// CHECK: %[[NONE:.*]] = arith.cmpf oeq, %[[MNEW:.*]], %{{.*}} : f32
// CHECK: %[[REF:.*]] = arith.select %[[NONE]], %{{.*}}, %[[MNEW]] : f32
// CHECK: %[[MDIFF:.*]] = arith.subf %{{.*}}, %[[REF]] : f32
// CHECK: math.exp2 %[[MDIFF]] : f32
// CHECK: memref.load %[[VT]]
// CHECK: math.fma
// CHECK: scf.yield
// CHECK: gpu.barrier
// CHECK: scf.yield
// Only rows below q_len store; l = 0 (no visible key) gives zeros.
// CHECK: %[[ROWOK:.*]] = arith.cmpi slt, %[[I]], %[[QLEN]]
// CHECK: scf.if %[[ROWOK]]
// CHECK: arith.cmpf ogt, %[[ST]]#1, %{{.*}} : f32
// CHECK: memref.store %{{.*}}, %[[O]][%[[B]], %[[I]], %[[H]], %[[LANE]]]
// CHECK: memref.store %{{.*}}, %[[O]][%[[B]], %[[I]], %[[H]], %[[DV1]]]
// CHECK: gpu.return

// The same with block-q=32 block-kv=16 threads-per-row=2: 64 threads, one
// shuffle per key, 16-key tiles, 4 dims per lane.
// OPT-LABEL: func.func @mha_causal_prefill
// OPT: %[[GX:.*]] = arith.ceildivui %c128{{(_[0-9]+)?}}, %c32{{(_[0-9]+)?}} : index
// OPT: gpu.launch_func @tessel_attention_kernels::@flash_attention_h4_kv4_d8_causal
// OPT-SAME: blocks in (%[[GX]], %c4{{(_[0-9]+)?}}, %c2{{(_[0-9]+)?}}) threads in (%c64{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// OPT: gpu.func @flash_attention_h4_kv4_d8_causal
// OPT-SAME: workgroup(%{{.*}} : memref<16x8xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<16x8xf32, #gpu.address_space<workgroup>>)
// OPT-SAME: known_block_size = array<i32: 64, 1, 1>
// OPT: arith.divui %{{.*}}, %c2{{(_[0-9]+)?}}
// OPT: scf.for %{{.*}} = %{{.*}} to %c128{{.*}} step %c64{{(_[0-9]+)?}}
// OPT: gpu.shuffle xor %{{.*}}, %c1_i32{{(_[0-9]+)?}}, %c32_i32{{(_[0-9]+)?}} : f32
// OPT-NOT: gpu.shuffle xor %{{.*}}, %c2_i32{{(_[0-9]+)?}}
// OPT: gpu.return
func.func @mha_causal_prefill(%q: tensor<2x128x4x8xf32>, %k: tensor<2x128x4x8xf32>, %v: tensor<2x128x4x8xf32>) -> tensor<2x128x4x8xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal}
      : (tensor<2x128x4x8xf32>, tensor<2x128x4x8xf32>, tensor<2x128x4x8xf32>) -> tensor<2x128x4x8xf32>
  return %o : tensor<2x128x4x8xf32>
}

// -----

// GQA (8 query heads over 2 KV heads), not causal, over a dynamic KV cache:
// query head h reads K/V head h / 4; no causal test on keys.
// CHECK-LABEL: func.func @gqa
// CHECK: gpu.launch_func @tessel_attention_kernels::@flash_attention_h8_kv2_d8
// CHECK-SAME: blocks in (%{{.*}}, %c8{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c256{{(_[0-9]+)?}}
// CHECK: gpu.func @flash_attention_h8_kv2_d8(%[[Q:.*]]: memref<?x?x8x8xf32, {{.*}}>, %[[K:.*]]: memref<?x?x2x8xf32, {{.*}}>, %[[V:.*]]: memref<?x?x2x8xf32, {{.*}}>, %{{.*}}: memref<?x?x8x8xf32>)
// CHECK: %[[H:.*]] = gpu.block_id y
// CHECK: %[[B:.*]] = gpu.block_id z
// CHECK: %[[KVH:.*]] = arith.divui %[[H]], %c4{{(_[0-9]+)?}} : index
// CHECK: memref.load %[[Q]][%[[B]], %{{.*}}, %[[H]], %{{.*}}]
// CHECK: memref.load %[[K]][%[[B]], %{{.*}}, %[[KVH]], %{{.*}}]
// CHECK: memref.load %[[V]][%[[B]], %{{.*}}, %[[KVH]], %{{.*}}]
// CHECK-NOT: arith.cmpi sle
// CHECK: gpu.return
func.func @gqa(%q: tensor<1x16x8x8xf32>, %k: tensor<1x?x2x8xf32>, %v: tensor<1x?x2x8xf32>) -> tensor<1x16x8x8xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 2 : i64}
      : (tensor<1x16x8x8xf32>, tensor<1x?x2x8xf32>, tensor<1x?x2x8xf32>) -> tensor<1x16x8x8xf32>
  return %o : tensor<1x16x8x8xf32>
}

// -----

// MQA: every query head reads K/V head h / 4 = 0; v_head_dim differs from
// head_dim, and an explicit scale is part of the kernel's name.
// CHECK-LABEL: func.func @mqa
// CHECK: gpu.launch_func @tessel_attention_kernels::@flash_attention_h4_kv1_d16_dv8_scale3e800000
// CHECK: gpu.func @flash_attention_h4_kv1_d16_dv8_scale3e800000(%{{.*}}: memref<?x?x4x16xf32, {{.*}}>, %[[K:.*]]: memref<?x?x1x16xf32, {{.*}}>, %{{.*}}: memref<?x?x1x8xf32, {{.*}}>, %{{.*}}: memref<?x?x4x8xf32>)
// CHECK-SAME: workgroup(%{{.*}} : memref<32x16xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<32x8xf32, #gpu.address_space<workgroup>>)
// CHECK: %[[H:.*]] = gpu.block_id y
// CHECK: %[[KVH:.*]] = arith.divui %[[H]], %c4{{(_[0-9]+)?}} : index
// scale 0.25 * log2(e), folded into q.
// CHECK: arith.constant 0.360673755 : f32
// CHECK: memref.load %[[K]][%{{.*}}, %{{.*}}, %[[KVH]], %{{.*}}]
func.func @mqa(%q: tensor<1x20x4x16xf32>, %k: tensor<1x20x1x16xf32>, %v: tensor<1x20x1x8xf32>) -> tensor<1x20x4x8xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 4 : i64, num_kv_heads = 1 : i64, scale = 0.25 : f32}
      : (tensor<1x20x4x16xf32>, tensor<1x20x1x16xf32>, tensor<1x20x1x8xf32>) -> tensor<1x20x4x8xf32>
  return %o : tensor<1x20x4x8xf32>
}

// -----

// Sliding window of 16 keys: a block starts at its first row's window, and
// key j is visible to a row at pos when pos - 15 <= j <= pos.
// CHECK-LABEL: func.func @window
// CHECK: gpu.func @flash_attention_h2_kv2_d8_causal_w16
// CHECK: %[[QLEN:.*]] = memref.dim
// CHECK: %[[KVLEN:.*]] = memref.dim
// CHECK: %[[OFF:.*]] = arith.subi %[[KVLEN]], %[[QLEN]]
// CHECK: %[[FIRST:.*]] = arith.muli %{{.*}}, %c64{{(_[0-9]+)?}}
// CHECK: %[[I:.*]] = arith.addi %[[FIRST]], %{{.*}}
// CHECK: %[[POS:.*]] = arith.addi %[[I]], %[[OFF]]
// CHECK: %[[KVEND:.*]] = arith.minsi %{{.*}}, %[[KVLEN]]
// CHECK: %[[LO:.*]] = arith.subi %[[POS]], %c15{{(_[0-9]+)?}}
// CHECK: %[[FIRSTPOS:.*]] = arith.addi %[[FIRST]], %[[OFF]]
// CHECK: %[[B0:.*]] = arith.subi %[[FIRSTPOS]], %c15{{(_[0-9]+)?}}
// CHECK: %[[KVBEGIN:.*]] = arith.maxsi %[[B0]], %c0{{(_[0-9]+)?}}
// CHECK: scf.for %[[T:.*]] = %[[KVBEGIN]] to %[[KVEND]] step %c32{{(_[0-9]+)?}}
// CHECK: scf.for %[[C0:.*]] = %c0{{.*}} to %{{.*}} step %c8{{(_[0-9]+)?}}
// CHECK: %[[J:.*]] = arith.addi %[[T]], %[[C0]]
// CHECK: %[[INTILE:.*]] = arith.cmpi slt, %[[C0]]
// CHECK: %[[CAUSAL:.*]] = arith.cmpi sle, %[[J]], %[[POS]]
// CHECK: %[[OK:.*]] = arith.andi %[[INTILE]], %[[CAUSAL]]
// CHECK: %[[INWINDOW:.*]] = arith.cmpi sge, %[[J]], %[[LO]]
// CHECK: arith.andi %[[OK]], %[[INWINDOW]]
func.func @window(%q: tensor<1x?x2x8xf32>, %k: tensor<1x?x2x8xf32>, %v: tensor<1x?x2x8xf32>) -> tensor<1x?x2x8xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 2 : i64, num_kv_heads = 2 : i64, causal, window = 16 : i64}
      : (tensor<1x?x2x8xf32>, tensor<1x?x2x8xf32>, tensor<1x?x2x8xf32>) -> tensor<1x?x2x8xf32>
  return %o : tensor<1x?x2x8xf32>
}

// -----

// Decode (q_len = 1), GQA, causal: split-KV only. splits = clamp(ceil(kv_len
// / 256), 1, 64); a (splits, heads, batch * q_len) grid writes partial
// states to the workspace, then the combine kernel merges them.
// CHECK-LABEL: func.func @decode
// CHECK: %[[KVLEN:.*]] = tensor.dim %arg1, %c1{{(_[0-9]+)?}}
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x1x8x8xf32>
// CHECK: %[[OC:.*]] = memref.cast %[[OUT]]
// CHECK: %[[S0:.*]] = arith.ceildivsi %[[KVLEN]], %c256{{(_[0-9]+)?}} : index
// CHECK: %[[S1:.*]] = arith.maxsi %[[S0]], %c1{{(_[0-9]+)?}} : index
// CHECK: %[[SPLITS:.*]] = arith.minsi %[[S1]], %c64{{(_[0-9]+)?}} : index
// CHECK: %[[ROWS:.*]] = arith.muli %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}} : index
// CHECK: %[[WSM:.*]] = memref.alloc(%[[ROWS]], %[[SPLITS]]) : memref<?x8x?xf32>
// CHECK: %[[WSL:.*]] = memref.alloc(%[[ROWS]], %[[SPLITS]]) : memref<?x8x?xf32>
// CHECK: %[[WSA:.*]] = memref.alloc(%[[ROWS]], %[[SPLITS]]) : memref<?x8x?x8xf32>
// CHECK: gpu.launch_func @tessel_attention_kernels::@flash_decoding_h8_kv2_d8_causal
// CHECK-SAME: blocks in (%[[SPLITS]], %c8{{(_[0-9]+)?}}, %[[ROWS]]) threads in (%c128{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: %[[WSM]] : memref<?x8x?xf32>, %[[WSL]] : memref<?x8x?xf32>, %[[WSA]] : memref<?x8x?x8xf32>)
// CHECK: gpu.launch_func @tessel_attention_kernels::@flash_decoding_combine_h8_dv8
// CHECK-SAME: blocks in (%c8{{.*}}, %[[ROWS]], %c1{{(_[0-9]+)?}}) threads in (%c32{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}})
// CHECK-SAME: args(%[[WSM]] : memref<?x8x?xf32>, %[[WSL]] : memref<?x8x?xf32>, %[[WSA]] : memref<?x8x?x8xf32>, %[[OC]] : memref<?x?x8x8xf32>)
// CHECK-NOT: @flash_attention_
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
//
// Split kernel: 16 groups of 8 lanes; each group takes 4 keys per step.
// CHECK: gpu.func @flash_decoding_h8_kv2_d8_causal(%[[Q:.*]]: memref<?x?x8x8xf32, {{.*}}>, %[[K:.*]]: memref<?x?x2x8xf32, {{.*}}>, %[[V:.*]]: memref<?x?x2x8xf32, {{.*}}>, %[[M:.*]]: memref<?x8x?xf32>, %[[L:.*]]: memref<?x8x?xf32>, %[[A:.*]]: memref<?x8x?x8xf32>)
// CHECK-SAME: workgroup(%[[SM:.*]] : memref<16xf32, #gpu.address_space<workgroup>>, %[[SL:.*]] : memref<16xf32, #gpu.address_space<workgroup>>, %[[SA:.*]] : memref<16x8xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: %[[SPLIT:.*]] = gpu.block_id x
// CHECK: %[[H:.*]] = gpu.block_id y
// CHECK: %[[ROW:.*]] = gpu.block_id z
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[GRP:.*]] = arith.divui %[[TID]], %c8{{(_[0-9]+)?}}
// CHECK: %[[LANE:.*]] = arith.remui %[[TID]], %c8{{(_[0-9]+)?}}
// CHECK: %[[KVH:.*]] = arith.divui %[[H]], %c4{{(_[0-9]+)?}}
// CHECK: %[[QLEN:.*]] = memref.dim %[[Q]], %c1{{(_[0-9]+)?}}
// CHECK: %[[KVL:.*]] = memref.dim %[[K]], %c1{{(_[0-9]+)?}}
// CHECK: %[[NS:.*]] = memref.dim %[[M]], %c2{{(_[0-9]+)?}}
// CHECK: %[[B:.*]] = arith.divui %[[ROW]], %[[QLEN]]
// CHECK: %[[I:.*]] = arith.remui %[[ROW]], %[[QLEN]]
// The row sees [0, min(pos + 1, kv_len)); split s takes chunk s of it.
// CHECK: %[[CHUNK:.*]] = arith.ceildivsi %{{.*}}, %[[NS]]
// CHECK: arith.muli %[[SPLIT]], %[[CHUNK]]
// CHECK: %[[BEGIN:.*]] = arith.minsi
// CHECK: %[[END0:.*]] = arith.addi %[[BEGIN]], %[[CHUNK]]
// CHECK: %[[END:.*]] = arith.minsi %[[END0]]
// CHECK: memref.load %[[Q]][%[[B]], %[[I]], %[[H]], %[[LANE]]]
// CHECK: scf.for %[[BASE:.*]] = %[[BEGIN]] to %[[END]] step %c64{{(_[0-9]+)?}}
// CHECK: %[[G4:.*]] = arith.muli %[[GRP]], %c4{{(_[0-9]+)?}}
// CHECK: %[[KEY:.*]] = arith.addi %[[BASE]], %[[G4]]
// CHECK: %[[LASTKEY:.*]] = arith.subi %[[END]], %c1{{(_[0-9]+)?}}
// CHECK: %[[VALID:.*]] = arith.cmpi slt, %[[KEY]], %[[END]]
// CHECK: %[[KEYC:.*]] = arith.minsi %[[KEY]], %[[LASTKEY]]
// CHECK: memref.load %[[K]][%[[B]], %[[KEYC]], %[[KVH]], %[[LANE]]]
// CHECK: gpu.shuffle xor %{{.*}}, %c1_i32{{(_[0-9]+)?}}
// CHECK: gpu.shuffle xor %{{.*}}, %c2_i32{{(_[0-9]+)?}}
// CHECK: gpu.shuffle xor %{{.*}}, %c4_i32{{(_[0-9]+)?}}
// CHECK: arith.select %[[VALID]]
// CHECK: memref.load %[[V]][%[[B]], %[[KEYC]], %[[KVH]], %[[LANE]]]
// CHECK: scf.yield
// The groups meet in workgroup memory, then write the split's state.
// CHECK: memref.store %{{.*}}, %[[SM]][%[[GRP]]]
// CHECK: memref.store %{{.*}}, %[[SL]][%[[GRP]]]
// CHECK: memref.store %{{.*}}, %[[SA]][%[[GRP]], %[[LANE]]]
// CHECK: gpu.barrier
// CHECK: memref.store %{{.*}}, %[[A]][%[[ROW]], %[[H]], %[[SPLIT]], %{{.*}}]
// CHECK: memref.store %{{.*}}, %[[M]][%[[ROW]], %[[H]], %[[SPLIT]]]
// CHECK: memref.store %{{.*}}, %[[L]][%[[ROW]], %[[H]], %[[SPLIT]]]
// CHECK: gpu.return
//
// Combine kernel: thread d merges value dim d over the splits.
// CHECK: gpu.func @flash_decoding_combine_h8_dv8(%[[CM:.*]]: memref<?x8x?xf32>, %[[CL:.*]]: memref<?x8x?xf32>, %[[CA:.*]]: memref<?x8x?x8xf32>, %[[CO:.*]]: memref<?x?x8x8xf32>)
// CHECK-SAME: known_block_size = array<i32: 32, 1, 1>
// CHECK: %[[NS2:.*]] = memref.dim %[[CM]], %c2{{(_[0-9]+)?}}
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %[[NS2]] step %c1{{(_[0-9]+)?}}
// CHECK: arith.maxnumf
// CHECK: memref.load %[[CL]]
// CHECK: math.exp2
// CHECK: memref.load %[[CA]]
// CHECK: math.exp2
// CHECK: memref.store %{{.*}}, %[[CO]]
func.func @decode(%q: tensor<1x1x8x8xf32>, %k: tensor<1x?x2x8xf32>, %v: tensor<1x?x2x8xf32>) -> tensor<1x1x8x8xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 8 : i64, num_kv_heads = 2 : i64, causal}
      : (tensor<1x1x8x8xf32>, tensor<1x?x2x8xf32>, tensor<1x?x2x8xf32>) -> tensor<1x1x8x8xf32>
  return %o : tensor<1x1x8x8xf32>
}

// -----

// Dynamic batch, q_len and kv_len (a step entry point serving prefill and
// decode): nothing is launched for an empty grid, and q_len <= 4 picks the
// split-KV kernels at run time.
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[B:.*]] = tensor.dim %arg0, %c0{{(_[0-9]+)?}}
// CHECK: %[[QLEN:.*]] = tensor.dim %arg0, %c1{{(_[0-9]+)?}}
// CHECK: %[[KVLEN:.*]] = tensor.dim %arg1, %c1{{(_[0-9]+)?}}
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x?x4x8xf32>
// CHECK: %[[HASB:.*]] = arith.cmpi ugt, %[[B]], %c0{{(_[0-9]+)?}}
// CHECK: %[[HASQ:.*]] = arith.cmpi ugt, %[[QLEN]], %c0{{(_[0-9]+)?}}
// CHECK: %[[NONEMPTY:.*]] = arith.andi %[[HASB]], %[[HASQ]]
// CHECK: scf.if %[[NONEMPTY]] {
// CHECK: %[[SHORT:.*]] = arith.cmpi ule, %[[QLEN]], %c4{{(_[0-9]+)?}}
// CHECK: scf.if %[[SHORT]] {
// CHECK: arith.ceildivsi %[[KVLEN]], %c256{{(_[0-9]+)?}}
// CHECK: %[[ROWS:.*]] = arith.muli %[[B]], %[[QLEN]]
// CHECK: gpu.launch_func @tessel_attention_kernels::@flash_decoding_h4_kv4_d8
// CHECK-SAME: blocks in (%{{.*}}, %c4{{.*}}, %[[ROWS]])
// CHECK: gpu.launch_func @tessel_attention_kernels::@flash_decoding_combine_h4_dv8
// CHECK: } else {
// CHECK: %[[GX:.*]] = arith.ceildivui %[[QLEN]], %c64{{(_[0-9]+)?}}
// CHECK: gpu.launch_func @tessel_attention_kernels::@flash_attention_h4_kv4_d8
// CHECK-SAME: blocks in (%[[GX]], %c4{{.*}}, %[[B]]) threads in (%c256{{(_[0-9]+)?}}
// CHECK: }
// CHECK: }
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @dynamic(%q: tensor<?x?x4x8xf32>, %k: tensor<?x?x4x8xf32>, %v: tensor<?x?x4x8xf32>) -> tensor<?x?x4x8xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 4 : i64, num_kv_heads = 4 : i64}
      : (tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32>) -> tensor<?x?x4x8xf32>
  return %o : tensor<?x?x4x8xf32>
}

// -----

// Two ops of one shape share one kernel.
// CHECK-LABEL: func.func @shared_kernel
// CHECK: gpu.launch_func @tessel_attention_kernels::@flash_attention_h2_kv1_d8_causal
// CHECK: gpu.launch_func @tessel_attention_kernels::@flash_attention_h2_kv1_d8_causal
// CHECK: gpu.func @flash_attention_h2_kv1_d8_causal(
// CHECK-NOT: gpu.func
func.func @shared_kernel(%q: tensor<1x8x2x8xf32>, %k: tensor<1x8x1x8xf32>, %v: tensor<1x8x1x8xf32>) -> tensor<1x8x2x8xf32> {
  %o = tessel.attention %q, %k, %v {num_heads = 2 : i64, num_kv_heads = 1 : i64, causal}
      : (tensor<1x8x2x8xf32>, tensor<1x8x1x8xf32>, tensor<1x8x1x8xf32>) -> tensor<1x8x2x8xf32>
  %o2 = tessel.attention %o, %k, %v {num_heads = 2 : i64, num_kv_heads = 1 : i64, causal}
      : (tensor<1x8x2x8xf32>, tensor<1x8x1x8xf32>, tensor<1x8x1x8xf32>) -> tensor<1x8x2x8xf32>
  return %o2 : tensor<1x8x2x8xf32>
}

// -----

// Masks and sinks (and head dims over 256) are left for the generic path;
// with nothing to lower, no kernel module is created.
// CHECK-LABEL: func.func @unsupported
// CHECK: tessel.attention %arg0, %arg1, %arg2 mask(%arg3)
// CHECK: tessel.attention %arg0, %arg1, %arg2 sinks(%arg4)
// CHECK: tessel.attention %arg5, %arg5, %arg5
// CHECK-NOT: gpu.launch_func
// CHECK-NOT: gpu.module
func.func @unsupported(%q: tensor<1x4x2x8xf32>, %k: tensor<1x4x2x8xf32>, %v: tensor<1x4x2x8xf32>, %m: tensor<1x4xi1>, %s: tensor<2xf32>, %big: tensor<1x4x2x512xf32>) -> (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x512xf32>) {
  %o = tessel.attention %q, %k, %v mask(%m) {num_heads = 2 : i64, num_kv_heads = 2 : i64, causal}
      : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4xi1>) -> tensor<1x4x2x8xf32>
  %o2 = tessel.attention %q, %k, %v sinks(%s) {num_heads = 2 : i64, num_kv_heads = 2 : i64, causal}
      : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<2xf32>) -> tensor<1x4x2x8xf32>
  %o3 = tessel.attention %big, %big, %big {num_heads = 2 : i64, num_kv_heads = 2 : i64}
      : (tensor<1x4x2x512xf32>, tensor<1x4x2x512xf32>, tensor<1x4x2x512xf32>) -> tensor<1x4x2x512xf32>
  return %o, %o2, %o3 : tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x512xf32>
}

// Batched matrix multiply, BLAS-style:
//
//   C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b]      for b < batch
//
// op(A) is [M, K]: A(m, k) = TRANS_A ? A[k * lda + m] : A[m * lda + k]
// op(B) is [K, N]: B(k, n) = TRANS_B ? B[n * ldb + k] : B[k * ldb + n]
// C is [M, N] with row stride ldc: C(m, n) = C[m * ldc + n].
// Matrix b starts at b * strideA (B, C alike); a stride of 0 broadcasts one
// matrix over the batch (a weight shared by all batch items).
// A Linear layer y = x W^T (W [out, in]) is TRANS_B = true.
//
// When beta == 0, C is never read (so an uninitialised or NaN C is fine).
// The sum over k runs in increasing k with fma() (lavapipe lowers it to a
// multiply and an add; GPUs fuse it).
//
// Bindings: 0 uniform Params, 1 A (read), 2 B (read), 3 C (read_write).
//
// Versions (chosen by src/ops/matmul.ts):
//
// naive      one invocation per C element, 8 x 8 workgroups. For tiny shapes.
//
// regblock   register-blocked. A workgroup of LANES invocations computes a
//            TM x (LANES * TN) block of C: its TM rows are the same for all
//            invocations (they come from workgroup_id), and invocation l owns
//            columns n0 + j * LANES + l, j < TN. Each k-step loads TM values
//            of A and TN of B per invocation and reuses them from registers
//            for TM * TN multiply-adds, with no workgroup memory and no
//            barriers. On a CPU driver (lavapipe) a workgroup of 8 is one
//            SIMD vector; there every storage load is a per-lane load with a
//            bounds check (even at a uniform address, as the LLVM IR shows)
//            and barriers switch coroutines, so register reuse without
//            barriers is what pays (bench/NOTES.md has the measurements).
//            Rows and columns past the
//            edge are clamped when loading (reading a real, finite element)
//            and skipped when storing, so the inner loop has no branches.
//            Grid: [ceil(N / (LANES * TN)), ceil(M / TM), batch].
//
// regblock4  regblock with A and B bound as array<vec4<f32>>: k advances by 4
//            and each operand that is contiguous in k (A when !TRANS_A, B when
//            TRANS_B) is read as one vec4 instead of 4 scalars. Needs K, lda,
//            ldb and the batch strides to be multiples of 4.

//
// Split-K (regblock, regblock4 and regblock_sg): when C has too few tiles to
// keep the device busy and K is long (the LoRA gradients dA = du^T x
// [r, in] and dB = dy^T su [out, r] sum over every token), the k range is cut
// into S chunks: workgroup z = split * batch + b writes the partial product
// of its chunk into P [S * batch, M, N], and matmul_reduce_splits forms
//   C[b] = alpha * (P[b] + P[batch + b] + ... + P[(S-1) * batch + b]) + beta * C[b]
// summing the splits in order, so the result is the same every run.
// Grid of the reduce: 1-D over batch * M * N in workgroups of 256.

// #include "lib/matmul_common.wgsl"

// ------------------------------------------------------------------ naive
@compute @workgroup_size(8, 8)
fn naive(@builtin(global_invocation_id) g: vec3u) {
  let n = g.x;
  let m = g.y;
  let b = g.z;
  if (m >= p.M || n >= p.N) { return; }
  let baseA = b * p.strideA;
  let baseB = b * p.strideB;
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    acc = fma(a_at(baseA, m, k), b_at(baseB, k, n), acc);
  }
  store(b, m, n, acc);
}

// --------------------------------------------------------------- regblock
@compute @workgroup_size(LANES)
fn regblock(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let sl = slice(wid.z);
  let b = sl.b;
  let m0 = wid.y * TM;
  let n0 = wid.x * LANES * TN + lane;
  let baseA = b * p.strideA;
  let baseB = b * p.strideB;

  // Clamped row / column indices: out-of-range ones repeat the last valid one.
  var rows: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { rows[i] = min(m0 + i, p.M - 1u); }
  var cols: array<u32, TN>;
  for (var j = 0u; j < TN; j++) { cols[j] = min(n0 + j * LANES, p.N - 1u); }

  var acc: array<array<f32, TN>, TM>;
  for (var k = sl.k0; k < sl.k1; k++) {
    var bk: array<f32, TN>;
    for (var j = 0u; j < TN; j++) { bk[j] = b_at(baseB, k, cols[j]); }
    for (var i = 0u; i < TM; i++) {
      let a = a_at(baseA, rows[i], k);
      for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a, bk[j], acc[i][j]); }
    }
  }

  store_block(acc, wid.z, m0, n0);
}

// -------------------------------------------------------------- regblock4
@group(0) @binding(1) var<storage, read> A4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B4: array<vec4<f32>>;

// op(A)(m, k..k+3) as a vec4 (k a multiple of 4).
fn a4_at(base: u32, m: u32, k: u32) -> vec4<f32> {
  if (TRANS_A) {
    let i = base + k * p.lda + m;
    return vec4(A4[i / 4u][i % 4u], A4[(i + p.lda) / 4u][(i + p.lda) % 4u],
                A4[(i + 2u * p.lda) / 4u][(i + 2u * p.lda) % 4u], A4[(i + 3u * p.lda) / 4u][(i + 3u * p.lda) % 4u]);
  }
  return A4[(base + m * p.lda + k) / 4u];
}

// op(B)(k..k+3, n) as a vec4 (k a multiple of 4).
fn b4_at(base: u32, k: u32, n: u32) -> vec4<f32> {
  if (TRANS_B) { return B4[(base + n * p.ldb + k) / 4u]; }
  let i = base + k * p.ldb + n;
  return vec4(B4[i / 4u][i % 4u], B4[(i + p.ldb) / 4u][(i + p.ldb) % 4u],
              B4[(i + 2u * p.ldb) / 4u][(i + 2u * p.ldb) % 4u], B4[(i + 3u * p.ldb) / 4u][(i + 3u * p.ldb) % 4u]);
}

@compute @workgroup_size(LANES)
fn regblock4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let sl = slice(wid.z);
  let b = sl.b;
  let m0 = wid.y * TM;
  let n0 = wid.x * LANES * TN + lane;
  let baseA = b * p.strideA;
  let baseB = b * p.strideB;

  var rows: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { rows[i] = min(m0 + i, p.M - 1u); }
  var cols: array<u32, TN>;
  for (var j = 0u; j < TN; j++) { cols[j] = min(n0 + j * LANES, p.N - 1u); }

  var acc: array<array<f32, TN>, TM>;
  for (var k = sl.k0; k < sl.k1; k += 4u) {
    var bk: array<vec4<f32>, TN>;
    for (var j = 0u; j < TN; j++) { bk[j] = b4_at(baseB, k, cols[j]); }
    for (var i = 0u; i < TM; i++) {
      let a = a4_at(baseA, rows[i], k);
      for (var j = 0u; j < TN; j++) {
        // Same order as regblock: k, k+1, k+2, k+3.
        var s = fma(a.x, bk[j].x, acc[i][j]);
        s = fma(a.y, bk[j].y, s);
        s = fma(a.z, bk[j].z, s);
        acc[i][j] = fma(a.w, bk[j].w, s);
      }
    }
  }

  store_block(acc, wid.z, m0, n0);
}

// ------------------------------------------------------ split-K reduction
struct ReduceParams { M: u32, N: u32, batch: u32, splits: u32, ldc: u32, strideC: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<uniform> rp: ReduceParams;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> reduced: array<f32>;

@compute @workgroup_size(256)
fn matmul_reduce_splits(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  let mn = rp.M * rp.N;
  if (i >= rp.batch * mn) { return; }
  let b = i / mn;
  let m = (i % mn) / rp.N;
  let n = i % rp.N;
  var acc = 0.0;
  for (var s = 0u; s < rp.splits; s++) { acc += partials[(s * rp.batch) * mn + i]; }
  let c = b * rp.strideC + m * rp.ldc + n;
  if (rp.beta == 0.0) {
    reduced[c] = rp.alpha * acc;
  } else {
    reduced[c] = fma(rp.alpha, acc, rp.beta * reduced[c]);
  }
}

// LoRA: a frozen Linear layer plus a trainable low-rank update.
//
//   y = x W^T + b + s * dropout(x) A^T B^T
//
// x [N, in] (N = tokens, leading dims flattened), W [out, in] frozen, b [out]
// optional (frozen), A [r, in], B [out, r], s = alpha / r (alpha / sqrt(r) for
// rsLoRA). src/ops/lora.ts computes su = s * dropout(x) A^T [N, r] with the
// matmul kernel (alpha = s), then one fused dispatch here gives y.
//
// Backward, given dy [N, out] (W gets no gradient):
//   du = s * dy B                 [N, r]     (matmul)
//   dB = dy^T su                  [out, r]   (matmul)
//   dA = du^T dropout(x)          [r, in]    (matmul; the mask is recomputed)
//   dx = dy W + dropout'(du A)    [N, in]    (one fused dispatch here)
// where dropout'(t) = mask * t / (1 - p) with the forward's mask.
//
// ---------------------------------------------------------------- dropout
// Counter-based, so the mask is never stored and a replay with the same seed
// (GradCache re-running a mini-batch) reproduces it bit for bit:
//   key     = pcg(seed)
//   keep(i) = pcg(pcg(i) ^ key) >= threshold,   threshold = round(p * 2^32)
//   dropout(x)[i] = keep(i) ? x[i] / (1 - p) : 0
// i is the element's flat index in x [N, in]. pcg is the PCG-RXS-M-XS 32-bit
// output permutation used as a hash (Jarzynski & Olano, "Hash Functions for
// GPU Rendering", JCGT 2020): a bijection on u32 with good avalanche. Hashing
// the index before mixing in the key makes two seeds' masks unrelated (with
// i ^ key alone they would be permutations of each other).
// reference/lora.ts computes the same hash with Math.imul and >>>.
// The backward of dropout is dropout again (same mask, same 1 / (1 - p)).
//
// ---------------------------------------------------- fused two-part matmul
// lora_fused / lora_fused_bias compute, for C [M, Ncol],
//   C(m, n) = mask(m, n) * sum_{k < K2} A2(m, k) B2(k, n)
//           +              sum_{k < K1} A1(m, k) B1(k, n)   (+ bias[n])
// i.e. the product of the concatenation [A1 | A2] [M, K1 + K2] with
// [B1 ; B2] [K1 + K2, Ncol] without materialising either concatenation.
// A1 [M, K1] and A2 [M, K2] are dense row-major. B1, B2:
//   TRANS_B:  B1(k, n) = B1[n * K1 + k], B2(k, n) = B2[n * K2 + k]   (forward: W, B)
//   else:     B1(k, n) = B1[k * Ncol + n], B2(k, n) = B2[k * Ncol + n] (backward: W, A)
// Forward:  A1 = x, B1 = W^T, A2 = su, B2 = B^T, bias b, no mask.
// Backward: A1 = dy, B1 = W,  A2 = du, B2 = A, mask = DROPOUT ? keep(m * Ncol + n) / (1 - p) : 1.
// The K2 part is summed first so the mask multiplies exactly that partial sum;
// then the K1 part continues in the same accumulators. Each sum runs in
// increasing k with fused multiply-adds.
//
// Register blocking is matmul.wgsl's `regblock` (see its header for why this
// shape is fast on lavapipe; lora_subgroup.wgsl has the regblock_sg version): a workgroup of LANES invocations computes a
// TM x (LANES * TN) block of C; its TM rows are uniform across the workgroup
// (loads of A1 / A2 are broadcasts), lane l owns columns n0 + j * LANES + l.
// Out-of-range rows / columns are clamped when loading, skipped when storing.
// Grid: [ceil(Ncol / (LANES * TN)), ceil(M / TM), 1].
//
// Bindings:
//   dropout, dropout4 0 Params, 1 x (read), 2 y (read_write)             grid1d over n (n / 4), 256 per workgroup
//   lora_fused       0 Params, 1 A1, 2 B1, 3 A2, 4 B2, 5 C (read_write)
//   lora_fused_bias  0 Params, 1 A1, 2 B1, 3 A2, 4 B2, 5 bias, 6 C (read_write)

const WG: u32 = 256u;

// #include "lib/lora_common.wgsl"

// ---------------------------------------------------------------- dropout
// dropout4 does 4 neighbouring elements per invocation through vec4 loads
// (n a multiple of 4; dp.n counts vec4s): the same mask, element by element.
struct DropParams { n: u32, key: u32, threshold: u32, inv_keep: f32 }
@group(0) @binding(0) var<uniform> dp: DropParams;
@group(0) @binding(1) var<storage, read> drop_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> drop_y: array<f32>;
@group(0) @binding(1) var<storage, read> drop_x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> drop_y4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn dropout(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= dp.n) { return; }
  drop_y[i] = select(0.0, drop_x[i] * dp.inv_keep, keep(i, dp.key, dp.threshold));
}

@compute @workgroup_size(WG)
fn dropout4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= dp.n) { return; }
  let e = 4u * i;
  let kept = vec4(keep(e, dp.key, dp.threshold), keep(e + 1u, dp.key, dp.threshold),
                  keep(e + 2u, dp.key, dp.threshold), keep(e + 3u, dp.key, dp.threshold));
  drop_y4[i] = select(vec4(0.0), drop_x4[i] * dp.inv_keep, kept);
}

// ---------------------------------------------------- fused two-part matmul
// The TM x TN accumulators of the workgroup's block starting at row m0 and
// this lane's first column n0.
fn block(m0: u32, n0: u32) -> array<array<f32, TN>, TM> {
  var rows: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { rows[i] = min(m0 + i, p.M - 1u); }
  var cols: array<u32, TN>;
  for (var j = 0u; j < TN; j++) { cols[j] = min(n0 + j * LANES, p.N - 1u); }

  var acc: array<array<f32, TN>, TM>;
  for (var k = 0u; k < p.K2; k++) {
    var bk: array<f32, TN>;
    for (var j = 0u; j < TN; j++) { bk[j] = b2_at(k, cols[j]); }
    for (var i = 0u; i < TM; i++) {
      let a = A2[rows[i] * p.K2 + k];
      for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a, bk[j], acc[i][j]); }
    }
  }
  if (DROPOUT) { apply_mask(&acc, m0, n0); }
  for (var k = 0u; k < p.K1; k++) {
    var bk: array<f32, TN>;
    for (var j = 0u; j < TN; j++) { bk[j] = b1_at(k, cols[j]); }
    for (var i = 0u; i < TM; i++) {
      let a = A1[rows[i] * p.K1 + k];
      for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a, bk[j], acc[i][j]); }
    }
  }
  return acc;
}

@compute @workgroup_size(LANES)
fn lora_fused(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let m0 = wid.y * TM;
  let n0 = wid.x * LANES * TN + lane;
  store_block(block(m0, n0), m0, n0);
}

@compute @workgroup_size(LANES)
fn lora_fused_bias(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let m0 = wid.y * TM;
  let n0 = wid.x * LANES * TN + lane;
  store_block_bias(block(m0, n0), m0, n0);
}

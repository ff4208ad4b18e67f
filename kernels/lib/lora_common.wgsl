// Shared by kernels/lora.wgsl and kernels/lora_subgroup.wgsl: the dropout
// hash, the fused kernel's parameters, tile constants (rewritten per pipeline),
// bindings, B accessors and C stores. The math is in lora.wgsl's header.

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn keep(i: u32, key: u32, threshold: u32) -> bool {
  return pcg(pcg(i) ^ key) >= threshold;
}

// ---------------------------------------------------- fused two-part matmul
struct Params {
  M: u32, N: u32, K1: u32, K2: u32,
  key: u32, threshold: u32, inv_keep: f32,
}

const TRANS_B: bool = true;
const DROPOUT: bool = false;
const TM: u32 = 16u;
const TN: u32 = 8u;
const LANES: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A1: array<f32>;
@group(0) @binding(2) var<storage, read> B1: array<f32>;
@group(0) @binding(3) var<storage, read> A2: array<f32>;
@group(0) @binding(4) var<storage, read> B2: array<f32>;
@group(0) @binding(5) var<storage, read_write> C: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> Cb: array<f32>;

fn b1_at(k: u32, n: u32) -> f32 {
  if (TRANS_B) { return B1[n * p.K1 + k]; }
  return B1[k * p.N + n];
}

fn b2_at(k: u32, n: u32) -> f32 {
  if (TRANS_B) { return B2[n * p.K2 + k]; }
  return B2[k * p.N + n];
}

// Writes the block's accumulators (rows m0.., this lane's columns n0 + j * LANES).
fn store_block(acc: array<array<f32, TN>, TM>, m0: u32, n0: u32) {
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < TN; j++) {
      let n = n0 + j * LANES;
      if (n < p.N) { C[m * p.N + n] = acc[i][j]; }
    }
  }
}

// The same with the bias added (lora_fused_bias binds C at 6 as Cb).
fn store_block_bias(acc: array<array<f32, TN>, TM>, m0: u32, n0: u32) {
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < TN; j++) {
      let n = n0 + j * LANES;
      if (n < p.N) { Cb[m * p.N + n] = acc[i][j] + bias[n]; }
    }
  }
}

// The dropout mask's factor on the K2 partial sums (backward only).
fn apply_mask(acc: ptr<function, array<array<f32, TN>, TM>>, m0: u32, n0: u32) {
  for (var i = 0u; i < TM; i++) {
    let row = min(m0 + i, p.M - 1u);
    for (var j = 0u; j < TN; j++) {
      let col = min(n0 + j * LANES, p.N - 1u);
      (*acc)[i][j] = select(0.0, (*acc)[i][j] * p.inv_keep, keep(row * p.N + col, p.key, p.threshold));
    }
  }
}

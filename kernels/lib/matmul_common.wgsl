// Shared by kernels/matmul.wgsl and kernels/matmul_subgroup.wgsl: the
// parameters, the compile-time tile constants (rewritten per pipeline by
// src/gpu/pipelines.ts), the scalar operand accessors and the C store.
// The layout and the meaning of every field are in matmul.wgsl's header.

struct Params {
  M: u32, N: u32, K: u32,
  lda: u32, ldb: u32, ldc: u32,
  strideA: u32, strideB: u32, strideC: u32,
  alpha: f32, beta: f32,
  batch: u32,
  // Split-K: workgroup z = split * batch + b sums k in [split * k_chunk,
  // min(K, (split + 1) * k_chunk)) and stores its partial as output matrix z
  // (alpha 1, beta 0, into a [splits * batch, M, N] buffer that
  // matmul_reduce_splits sums). Without split-K, k_chunk = K and z = b.
  k_chunk: u32,
}

// The batch item and k range of workgroup z (its output matrix is z itself).
struct Slice { b: u32, k0: u32, k1: u32 }

fn slice(z: u32) -> Slice {
  let split = z / p.batch;
  let k0 = split * p.k_chunk;
  return Slice(z % p.batch, k0, min(p.K, k0 + p.k_chunk));
}

const TRANS_A: bool = false;
const TRANS_B: bool = false;
const TM: u32 = 16u;
const TN: u32 = 8u;
const LANES: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

fn store(b: u32, m: u32, n: u32, acc: f32) {
  let i = b * p.strideC + m * p.ldc + n;
  if (p.beta == 0.0) {
    C[i] = p.alpha * acc;
  } else {
    C[i] = fma(p.alpha, acc, p.beta * C[i]);
  }
}

// B's storage type: f32, or f16 for half-precision weights (the shader-f16
// feature; src/gpu/pipelines.ts adds `enable f16;` when the alias names it).
// Each value converts to f32 as it is loaded, so every sum is f32.
alias BT = f32;

@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<BT>;

fn a_at(base: u32, m: u32, k: u32) -> f32 {
  if (TRANS_A) { return A[base + k * p.lda + m]; }
  return A[base + m * p.lda + k];
}

fn b_at(base: u32, k: u32, n: u32) -> f32 {
  if (TRANS_B) { return f32(B[base + n * p.ldb + k]); }
  return f32(B[base + k * p.ldb + n]);
}

// Stores a register block: rows m0 + i, columns n0 + j * LANES (this lane's),
// into output matrix z, skipping rows and columns past the edge.
fn store_block(acc: array<array<f32, TN>, TM>, z: u32, m0: u32, n0: u32) {
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < TN; j++) {
      let n = n0 + j * LANES;
      if (n < p.N) { store(z, m, n, acc[i][j]); }
    }
  }
}

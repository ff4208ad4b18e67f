// AdamW step (PyTorch semantics, decoupled weight decay) and the global
// gradient norm used for clipping. All tensors f32, flat [N].
//
// adamw, for step t (1-based), with g := g * s (s = clip scale, or 1):
//   p = p * (1 - lr wd)
//   m = b1 m + (1 - b1) g
//   v = b2 v + (1 - b2) g^2
//   p = p - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),   bc1 = 1 - b1^t, bc2 = 1 - b2^t
// i.e. p -= lr mhat / (sqrt(vhat) + eps) with mhat = m / bc1, vhat = v / bc2, as
// torch.optim.AdamW computes it. 1 - lr wd, 1 - b1, 1 - b2, lr / bc1 and
// 1 / sqrt(bc2) are computed on the CPU in float64 and passed as uniforms.
// The scale s is read from a [1] GPU tensor (clip_scale's output), so gradient
// clipping needs no read-back; without clipping the wrapper binds the gradient
// again in that slot and sets has_scale = 0.
//
// sgd (torch.optim.SGD, dampening 0, not Nesterov), with g := g * s:
//   g = g + wd p                (coupled L2 weight decay, as torch's SGD)
//   b = mu b + g                (momentum buffer, starts at zero: the first step gives b = g, as torch)
//   p = p - lr b                (mu = 0: p = p - lr g, and b is left untouched)
//
// Global gradient norm over a list of tensors, deterministic (fixed order):
//   sumsq_partial  per tensor: one workgroup per chunk of 4096 elements writes
//                  the sum of squares of its chunk into partials[offset + chunk]
//                  (each invocation sums 16 elements with stride 256, then a
//                  workgroup tree reduction).
//   sumsq_final    one workgroup: each invocation sums partials lid, lid + 256, ...
//                  in order, a tree reduction, then norm[0] = sqrt(total).
//   clip_scale     scale[0] = min(1, max_norm / (norm[0] + 1e-6))  (torch clip_grad_norm_)
//
// Bindings (uniform first, then inputs, then outputs):
//   adamw          (g, s[1]) -> (p, m, v)      1-D over N, 256 per workgroup
//   sgd            (g, s[1]) -> (p, b)         1-D over N, 256 per workgroup
//   sumsq_partial  (x) -> (partials)           ceil(N / 4096) workgroups of 256
//   sumsq_final    (partials) -> (norm[1])     1 workgroup of 256
//   clip_scale     (norm[1]) -> (s[1])         1 workgroup of 1
// 1-D grids are folded into [x, y] when they exceed the per-dimension limit.

const WG: u32 = 256u;
const PER_THREAD: u32 = 16u;
const CHUNK: u32 = WG * PER_THREAD;

fn flat_group(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// ----------------------------------------------------------------- adamw
struct AdamParams {
  n: u32,
  has_scale: u32,
  decay: f32,        // 1 - lr * weight_decay
  beta1: f32,
  one_m_beta1: f32,  // 1 - beta1
  beta2: f32,
  one_m_beta2: f32,  // 1 - beta2
  step_size: f32,    // lr / (1 - beta1^t)
  inv_sqrt_bc2: f32, // 1 / sqrt(1 - beta2^t)
  eps: f32,
}

@group(0) @binding(0) var<uniform> ap: AdamParams;
@group(0) @binding(1) var<storage, read> a_g: array<f32>;
@group(0) @binding(2) var<storage, read> a_s: array<f32>;
@group(0) @binding(3) var<storage, read_write> a_p: array<f32>;
@group(0) @binding(4) var<storage, read_write> a_m: array<f32>;
@group(0) @binding(5) var<storage, read_write> a_v: array<f32>;

@compute @workgroup_size(WG)
fn adamw(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_group(wid, nwg) * WG + lid;
  if (i >= ap.n) { return; }
  var s = 1.0;
  if (ap.has_scale != 0u) { s = a_s[0]; }
  let g = a_g[i] * s;
  let m = ap.beta1 * a_m[i] + ap.one_m_beta1 * g;
  let v = ap.beta2 * a_v[i] + ap.one_m_beta2 * (g * g);
  a_m[i] = m;
  a_v[i] = v;
  let denom = sqrt(v) * ap.inv_sqrt_bc2 + ap.eps;
  a_p[i] = a_p[i] * ap.decay - ap.step_size * (m / denom);
}

// ------------------------------------------------------------------- sgd
struct SgdParams {
  n: u32,
  has_scale: u32,
  lr: f32,
  momentum: f32,
  weight_decay: f32,
}

@group(0) @binding(0) var<uniform> gp: SgdParams;
@group(0) @binding(1) var<storage, read> g_g: array<f32>;
@group(0) @binding(2) var<storage, read> g_s: array<f32>;
@group(0) @binding(3) var<storage, read_write> g_p: array<f32>;
@group(0) @binding(4) var<storage, read_write> g_b: array<f32>;

@compute @workgroup_size(WG)
fn sgd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_group(wid, nwg) * WG + lid;
  if (i >= gp.n) { return; }
  var s = 1.0;
  if (gp.has_scale != 0u) { s = g_s[0]; }
  let p = g_p[i];
  var d = g_g[i] * s + gp.weight_decay * p;
  if (gp.momentum != 0.0) {
    d = gp.momentum * g_b[i] + d;
    g_b[i] = d;
  }
  g_p[i] = p - gp.lr * d;
}

// ---------------------------------------------------------- sum of squares
struct SumParams {
  n: u32,       // sumsq_partial: elements of x; sumsq_final: number of partials
  offset: u32,  // sumsq_partial: first partial this tensor writes
}

@group(0) @binding(0) var<uniform> sp: SumParams;
@group(0) @binding(1) var<storage, read> s_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> s_out: array<f32>;

var<workgroup> red: array<f32, WG>;

// Fixed-shape tree over red[]: the same additions in the same order every run.
fn tree_sum(lid: u32) -> f32 {
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] += red[lid + stride]; }
  }
  workgroupBarrier();
  return red[0];
}

@compute @workgroup_size(WG)
fn sumsq_partial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let chunk = flat_group(wid, nwg);
  // Folded grids may hold a few extra groups; they return together (uniformly).
  if (chunk * CHUNK >= sp.n) { return; }
  let base = chunk * CHUNK + lid;
  var acc = 0.0;
  for (var k = 0u; k < PER_THREAD; k++) {
    let i = base + k * WG;
    if (i < sp.n) {
      let x = s_in[i];
      acc += x * x;
    }
  }
  red[lid] = acc;
  let total = tree_sum(lid);
  if (lid == 0u) { s_out[sp.offset + chunk] = total; }
}

@compute @workgroup_size(WG)
fn sumsq_final(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = lid; i < sp.n; i += WG) { acc += s_in[i]; }
  red[lid] = acc;
  let total = tree_sum(lid);
  if (lid == 0u) { s_out[0] = sqrt(total); }
}

// ------------------------------------------------------------ clip scale
struct ClipParams { max_norm: f32 }

@group(0) @binding(0) var<uniform> cp: ClipParams;

@compute @workgroup_size(1)
fn clip_scale() {
  s_out[0] = min(1.0, cp.max_norm / (s_in[0] + 1e-6));
}

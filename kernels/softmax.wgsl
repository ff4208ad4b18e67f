// Softmax over the last dimension, forward and backward.
//
// x is [R, C] (leading dims flattened into R rows). The optional additive mask
// is [Rm, C] with R % Rm == 0; row r of x uses mask row r % Rm. So a mask [C]
// is Rm = 1, a full mask [R, C] is Rm = R, and an attention mask [T, T]
// against scores [B*H*T, T] is Rm = T.
//
//   forward   v[c] = x[r, c] + mask[r % Rm, c]
//             m = max_c v[c],  s = sum_c exp(v[c] - m),  y[r, c] = exp(v[c] - m) / s
//   backward  dx[r, c] = y[r, c] * (dy[r, c] - sum_k dy[r, k] * y[r, k])
//             (the mask gets no gradient)
//
// Masking: an entry is masked when x <= -1e30 or mask <= -1e30 (so -inf and
// the -3e38 / -1e30 sentinels all qualify). It gets y = 0 and takes no part in
// m or s. A row whose entries are all masked has s = 0 and outputs zeros, never
// NaN. Finite masks such as -1e9 are ordinary additive values: their exp
// underflows to 0 next to any unmasked entry of the row.
//
// Scheme: online max+sum (Milakov & Gimelshein 2018). Each invocation keeps a
// running (m, s) over its strided columns, rescaling s when m grows, so the
// row is read twice in all (once for (m, s), once to write y) instead of three
// times. The 256 partial (m, s) pairs are merged in a fixed binary tree in
// workgroup memory: results are identical run to run. Every exp argument is
// <= 0, so logits of any magnitude (|x| up to 1e4 and beyond) cannot overflow.
// Merging with a partial that has seen nothing (s = 0, m = the start sentinel)
// skips the exp, so no sentinel difference is ever exponentiated.
//
// Bindings: @binding(0) uniform Params, then the inputs, then the outputs, in
// the order of each entry point's comment.
// Grid: one workgroup of 256 per row, rows folded into [x, y] when R exceeds
// the per-dimension limit; row = wid.y * nwg.x + wid.x.

const WG: u32 = 256u;
const MASKED: f32 = -1e30;   // at or below: masked
const START: f32 = -3.0e38;  // running max before any unmasked value (all of those are > -2e30)

struct Params { rows: u32, cols: u32, mask_rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;

// #include "lib/online_lse.wgsl"

fn reduce_sum(lid: u32, part: f32) -> f32 {
  red_s[lid] = part;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { red_s[lid] += red_s[lid + stride]; }
    workgroupBarrier();
  }
  return red_s[0];
}

fn inverse(s: f32) -> f32 {
  return select(0.0, 1.0 / s, s > 0.0);
}

// ------------------------------------------------ softmax: (x) -> (y)
@group(0) @binding(1) var<storage, read> sm_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> sm_y: array<f32>;

@compute @workgroup_size(WG)
fn softmax(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var part = MS(START, 0.0);
  for (var c = lid; c < p.cols; c += WG) {
    let v = sm_x[base + c];
    if (!(v <= MASKED)) { part = push(part, v); }
  }
  let t = reduce_ms(lid, part);
  let inv = inverse(t.s);
  for (var c = lid; c < p.cols; c += WG) {
    let v = sm_x[base + c];
    sm_y[base + c] = select(exp(v - t.m) * inv, 0.0, v <= MASKED);
  }
}

// ------------------------------------- softmax_masked: (x, mask) -> (y)
@group(0) @binding(1) var<storage, read> smm_x: array<f32>;
@group(0) @binding(2) var<storage, read> smm_mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> smm_y: array<f32>;

@compute @workgroup_size(WG)
fn softmax_masked(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let mbase = (row % p.mask_rows) * p.cols;
  var part = MS(START, 0.0);
  for (var c = lid; c < p.cols; c += WG) {
    let x = smm_x[base + c];
    let k = smm_mask[mbase + c];
    if (!(x <= MASKED || k <= MASKED)) { part = push(part, x + k); }
  }
  let t = reduce_ms(lid, part);
  let inv = inverse(t.s);
  for (var c = lid; c < p.cols; c += WG) {
    let x = smm_x[base + c];
    let k = smm_mask[mbase + c];
    smm_y[base + c] = select(exp((x + k) - t.m) * inv, 0.0, x <= MASKED || k <= MASKED);
  }
}

// ------------------------------- softmax_backward: (y, dy) -> (dx)
@group(0) @binding(1) var<storage, read> bw_y: array<f32>;
@group(0) @binding(2) var<storage, read> bw_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> bw_dx: array<f32>;

@compute @workgroup_size(WG)
fn softmax_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var part = 0.0;
  for (var c = lid; c < p.cols; c += WG) { part += bw_dy[base + c] * bw_y[base + c]; }
  let d = reduce_sum(lid, part);
  for (var c = lid; c < p.cols; c += WG) {
    let y = bw_y[base + c];
    bw_dx[base + c] = y * (bw_dy[base + c] - d);
  }
}

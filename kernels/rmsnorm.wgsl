// RMSNorm (Llama / Qwen2), forward and backward, over the last dim of x [N, C]
// (N = all leading dims flattened) with a weight w [C]:
//
//   forward   rstd_i = 1 / sqrt(mean_c(x_ic^2) + eps)
//             y_ic   = x_ic * rstd_i * w_c                 (rstd [N] is kept for backward)
//   backward  dx_ic  = rstd_i * (w_c dy_ic - x_ic * rstd_i^2 * mean_c(w_c dy_ic x_ic))
//             dw_c   = sum_i dy_ic x_ic rstd_i
//
// Entry points (bindings after the uniform: inputs, then outputs):
//   rmsnorm_forward          (x, w)           -> (y, rstd)   one workgroup per row
//   rmsnorm_backward_dx      (x, w, rstd, dy) -> (dx)        one workgroup per row
//   rmsnorm_dweight_partial  (x, rstd, dy)    -> (partial)   partial [ceil(N / block_rows), C]
//   rmsnorm_dweight_reduce   (partial)        -> (dw)
//
// Row kernels, two layouts (src/ops/rmsnorm.ts picks one per adapter):
//   *_forward / *_backward_dx   one workgroup per row (GPUs): WG invocations
//            stride over the row's C columns, then a fixed tree reduction in
//            workgroup memory; row = wid.y * nwg.x + wid.x (the grid is folded
//            into 2-D when N exceeds the per-dimension limit).
//   *_lanes  one invocation per row, LANES rows per workgroup (CPU adapters):
//            each invocation sums its row in column order in a register. On
//            lavapipe a workgroup of 256 is 32 SIMD vectors that switch
//            coroutines at each of the tree's 9 barriers, and for C = 128 half
//            of them idle; a row per lane has no barrier at all (measured on
//            the tiny decoder's [1024, 128]: bench/NOTES.md).
//
// dw is a deterministic two-stage sum without atomics: stage 1 gives each
// invocation one column of one block of `block_rows` rows, summed in row order
// (coalesced across the columns of a workgroup); stage 2 gives each invocation
// one column and sums the blocks in order. Same N, same result, every run.

const WG: u32 = 256u;   // row kernels
const CWG: u32 = 64u;   // column kernels (C = 576 or 896 is a multiple of 64)
const LANES: u32 = 8u;  // rows per workgroup of the *_lanes kernels

struct Params { rows: u32, cols: u32, eps: f32, block_rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;

// #include "lib/workgroup_sum.wgsl"

// ---------------------------------------------------------------- forward
@group(0) @binding(1) var<storage, read> fw_x: array<f32>;
@group(0) @binding(2) var<storage, read> fw_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> fw_y: array<f32>;
@group(0) @binding(4) var<storage, read_write> fw_rstd: array<f32>;

@compute @workgroup_size(WG)
fn rmsnorm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; } // uniform per workgroup
  let base = row * p.cols;
  var acc = 0.0;
  for (var c = lid; c < p.cols; c += WG) {
    let v = fw_x[base + c];
    acc += v * v;
  }
  red[lid] = acc;
  let r = inverseSqrt(reduce_sum(lid) / f32(p.cols) + p.eps);
  for (var c = lid; c < p.cols; c += WG) {
    fw_y[base + c] = fw_x[base + c] * r * fw_w[c];
  }
  if (lid == 0u) { fw_rstd[row] = r; }
}

// Row = (wid.y * nwg.x + wid.x) * LANES + lane.
@compute @workgroup_size(LANES)
fn rmsnorm_forward_lanes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lane: u32) {
  let row = (wid.y * nwg.x + wid.x) * LANES + lane;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var acc = 0.0;
  for (var c = 0u; c < p.cols; c++) {
    let v = fw_x[base + c];
    acc += v * v;
  }
  let r = inverseSqrt(acc / f32(p.cols) + p.eps);
  for (var c = 0u; c < p.cols; c++) {
    fw_y[base + c] = fw_x[base + c] * r * fw_w[c];
  }
  fw_rstd[row] = r;
}

// ------------------------------------------------------------ backward dx
@group(0) @binding(1) var<storage, read> bx_x: array<f32>;
@group(0) @binding(2) var<storage, read> bx_w: array<f32>;
@group(0) @binding(3) var<storage, read> bx_rstd: array<f32>;
@group(0) @binding(4) var<storage, read> bx_dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> bx_dx: array<f32>;

@compute @workgroup_size(WG)
fn rmsnorm_backward_dx(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var acc = 0.0;
  for (var c = lid; c < p.cols; c += WG) {
    acc += bx_w[c] * bx_dy[base + c] * bx_x[base + c];
  }
  red[lid] = acc;
  let mean = reduce_sum(lid) / f32(p.cols);
  let r = bx_rstd[row];
  let k = r * r * mean;
  for (var c = lid; c < p.cols; c += WG) {
    bx_dx[base + c] = r * (bx_w[c] * bx_dy[base + c] - bx_x[base + c] * k);
  }
}

@compute @workgroup_size(LANES)
fn rmsnorm_backward_dx_lanes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lane: u32) {
  let row = (wid.y * nwg.x + wid.x) * LANES + lane;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var acc = 0.0;
  for (var c = 0u; c < p.cols; c++) {
    acc += bx_w[c] * bx_dy[base + c] * bx_x[base + c];
  }
  let mean = acc / f32(p.cols);
  let r = bx_rstd[row];
  let k = r * r * mean;
  for (var c = 0u; c < p.cols; c++) {
    bx_dx[base + c] = r * (bx_w[c] * bx_dy[base + c] - bx_x[base + c] * k);
  }
}

// ----------------------------------------------------- backward dw, stage 1
@group(0) @binding(1) var<storage, read> dp_x: array<f32>;
@group(0) @binding(2) var<storage, read> dp_rstd: array<f32>;
@group(0) @binding(3) var<storage, read> dp_dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dp_partial: array<f32>;

// Grid [ceil(C / CWG), ceil(N / block_rows)]: wid.x picks the columns, wid.y the row block.
@compute @workgroup_size(CWG)
fn rmsnorm_dweight_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x * CWG + lid;
  if (c >= p.cols) { return; }
  let r0 = wid.y * p.block_rows;
  let r1 = min(r0 + p.block_rows, p.rows);
  var acc = 0.0;
  for (var r = r0; r < r1; r++) {
    let i = r * p.cols + c;
    acc += dp_dy[i] * dp_x[i] * dp_rstd[r];
  }
  dp_partial[wid.y * p.cols + c] = acc;
}

// ----------------------------------------------------- backward dw, stage 2
@group(0) @binding(1) var<storage, read> dr_partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> dr_dw: array<f32>;

// Grid [ceil(C / CWG)]; sums the ceil(N / block_rows) partial rows in order
// (at least one block, so N = 0 gives dw = 0).
@compute @workgroup_size(CWG)
fn rmsnorm_dweight_reduce(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x * CWG + lid;
  if (c >= p.cols) { return; }
  let blocks = max(1u, (p.rows + p.block_rows - 1u) / p.block_rows);
  var acc = 0.0;
  for (var b = 0u; b < blocks; b++) { acc += dr_partial[b * p.cols + c]; }
  dr_dw[c] = acc;
}

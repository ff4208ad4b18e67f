// Elementwise ops, forward and backward. All tensors are flat f32[N]
// (any shape, row-major; the op only sees the element count N), except
// bias_add / bias_grad which see x as [R, C] and a bias [C].
//
//   fill          y = v
//   axpby         y = alpha * a + beta * b           (add: alpha = beta = 1)
//                 backward: da = alpha * dy, db = beta * dy (axpby / scale again)
//   scale         y = s * x                           backward: dx = s * dy
//   accumulate    y += s * x  (in place on y; gradient accumulation)
//   mul           y = a * b                           backward: da = dy * b, db = dy * a
//   silu          y = x * sig(x)                      backward: dx = dy * sig(x) * (1 + x * (1 - sig(x)))
//   swiglu        y = silu(g) * u                     backward: dg = dy * u * silu'(g), du = dy * silu(g)
//   bias_add      y[r, c] = x[r, c] + b[c]            backward: db[c] = sum_r dy[r, c] (bias_grad)
//
// sig(x) is computed from exp(-|x|) so that exp never overflows.
//
// Element type E: f32, or vec4<f32> when the element count (and for the bias
// ops the row length C) is a multiple of 4; the f32 ops then see 4 elements
// per invocation and n, C counted in vec4s. src/ops/elementwise.ts picks it.
// The fills (Gpu.fill) stay scalar.
// On lavapipe a vec4 load of 4 neighbouring floats is one 16-byte load per
// lane instead of four scalar ones: a + b over 3M floats ran at 2.8 GB/s with
// f32 and 7.0 GB/s with vec4 (bench/NOTES.md).
//
// Bindings: @binding(0) uniform Params, then the read-only inputs, then the
// read-write outputs, in the order of each entry point's comment.
// Grid: 1-D over n in workgroups of 256, folded into [x, y] when n / 256
// exceeds the per-dimension limit; i = (wid.y * nwg.x + wid.x) * 256 + lid.

const WG: u32 = 256u;
alias E = f32;

fn flat(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

fn sigmoid(x: E) -> E {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= E(0.0));
}

// ---------------------------------------------------------------- fill
struct FillParams { n: u32, vf: f32, vu: u32 }
@group(0) @binding(0) var<uniform> fp: FillParams;
@group(0) @binding(1) var<storage, read_write> fill_f32_out: array<f32>;

@compute @workgroup_size(WG)
fn fill_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i < fp.n) { fill_f32_out[i] = fp.vf; }
}

@group(0) @binding(1) var<storage, read_write> fill_u32_out: array<u32>;

@compute @workgroup_size(WG)
fn fill_u32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i < fp.n) { fill_u32_out[i] = fp.vu; }
}

// --------------------------------------------------- binary: a, b -> y
// axpby and mul: (a, b) -> (y)
struct BinParams { n: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<uniform> bp: BinParams;
@group(0) @binding(1) var<storage, read> bin_a: array<E>;
@group(0) @binding(2) var<storage, read> bin_b: array<E>;
@group(0) @binding(3) var<storage, read_write> bin_y: array<E>;

@compute @workgroup_size(WG)
fn axpby(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i < bp.n) { bin_y[i] = bp.alpha * bin_a[i] + bp.beta * bin_b[i]; }
}

@compute @workgroup_size(WG)
fn mul(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i < bp.n) { bin_y[i] = bin_a[i] * bin_b[i]; }
}

// silu_backward and scale-free products: (x, dy) -> (dx) reuse the same slots
@compute @workgroup_size(WG)
fn silu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i < bp.n) {
    let x = bin_a[i];
    let s = sigmoid(x);
    bin_y[i] = bin_b[i] * s * (1.0 + x * (1.0 - s));
  }
}

// swiglu forward: (g, u) -> (y)
@compute @workgroup_size(WG)
fn swiglu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i < bp.n) {
    let g = bin_a[i];
    bin_y[i] = g * sigmoid(g) * bin_b[i];
  }
}

// ---------------------------------------------------- unary: x -> y
struct UnParams { n: u32, s: f32 }
@group(0) @binding(0) var<uniform> up: UnParams;
@group(0) @binding(1) var<storage, read> un_x: array<E>;
@group(0) @binding(2) var<storage, read_write> un_y: array<E>;

// accumulate: (x) -> (y), y read and written in place: y += s * x.
@compute @workgroup_size(WG)
fn accumulate(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i < up.n) { un_y[i] += up.s * un_x[i]; }
}

@compute @workgroup_size(WG)
fn scale(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i < up.n) { un_y[i] = up.s * un_x[i]; }
}

@compute @workgroup_size(WG)
fn silu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i < up.n) {
    let x = un_x[i];
    un_y[i] = x * sigmoid(x);
  }
}

// ------------------------------------- binary backward: a, b, dy -> da, db
// mul_backward: (a, b, dy) -> (da, db);  swiglu_backward: (g, u, dy) -> (dg, du)
@group(0) @binding(1) var<storage, read> bw_a: array<E>;
@group(0) @binding(2) var<storage, read> bw_b: array<E>;
@group(0) @binding(3) var<storage, read> bw_dy: array<E>;
@group(0) @binding(4) var<storage, read_write> bw_da: array<E>;
@group(0) @binding(5) var<storage, read_write> bw_db: array<E>;

@compute @workgroup_size(WG)
fn mul_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i < bp.n) {
    let dy = bw_dy[i];
    bw_da[i] = dy * bw_b[i];
    bw_db[i] = dy * bw_a[i];
  }
}

@compute @workgroup_size(WG)
fn swiglu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i < bp.n) {
    let g = bw_a[i];
    let u = bw_b[i];
    let dy = bw_dy[i];
    let s = sigmoid(g);
    bw_da[i] = dy * u * s * (1.0 + g * (1.0 - s));
    bw_db[i] = dy * g * s;
  }
}

// --------------------------------------------- bias over rows of [R, C]
struct BiasParams { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> bsp: BiasParams;
@group(0) @binding(1) var<storage, read> bias_x: array<E>;
@group(0) @binding(2) var<storage, read> bias_b: array<E>;
@group(0) @binding(3) var<storage, read_write> bias_y: array<E>;

@compute @workgroup_size(WG)
fn bias_add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i < bsp.rows * bsp.cols) { bias_y[i] = bias_x[i] + bias_b[i % bsp.cols]; }
}

// bias_grad: (dy [R, C]) -> (db [C]). One invocation per column sums its rows
// in order: deterministic, and coalesced across the columns of a workgroup.
@group(0) @binding(1) var<storage, read> bg_dy: array<E>;
@group(0) @binding(2) var<storage, read_write> bg_db: array<E>;

@compute @workgroup_size(WG)
fn bias_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = flat(wid, nwg, lid);
  if (c >= bsp.cols) { return; }
  var acc = E(0.0);
  for (var r = 0u; r < bsp.rows; r++) { acc += bg_dy[r * bsp.cols + c]; }
  bg_db[c] = acc;
}

// L2 normalisation over the last dim of x [N, D] (N = all leading dims
// flattened), as torch.nn.functional.normalize(x, dim=-1, eps):
//
//   forward   n_i   = ||x_i|| = sqrt(sum_d x_id^2)        (n [N] is kept for backward)
//             y_id  = x_id / max(n_i, eps)
//   backward  n_i >= eps:  dx_id = (dy_id - y_id * dot(y_i, dy_i)) / n_i
//             n_i <  eps:  dx_id = dy_id / eps             (the clamp is constant there,
//                                                           so y = x / eps is linear in x)
//
// The backward reads the forward's y and n, not x. The norm is the plain sum
// of squares (like torch): entries above ~1e19 in magnitude overflow it.
//
// Entry points (bindings after the uniform: inputs, then outputs):
//   l2norm_forward   (x)        -> (y, n)
//   l2norm_backward  (y, n, dy) -> (dx)
// One workgroup of WG invocations per row: a strided loop over D, then a fixed
// tree reduction in workgroup memory; row = wid.y * nwg.x + wid.x (the grid
// is folded into 2-D when N exceeds the per-dimension limit).

const WG: u32 = 256u;

struct Params { rows: u32, cols: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;

// #include "lib/workgroup_sum.wgsl"

// ---------------------------------------------------------------- forward
@group(0) @binding(1) var<storage, read> fw_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> fw_y: array<f32>;
@group(0) @binding(3) var<storage, read_write> fw_n: array<f32>;

@compute @workgroup_size(WG)
fn l2norm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; } // uniform per workgroup
  let base = row * p.cols;
  var acc = 0.0;
  for (var c = lid; c < p.cols; c += WG) {
    let v = fw_x[base + c];
    acc += v * v;
  }
  red[lid] = acc;
  let n = sqrt(reduce_sum(lid));
  let inv = 1.0 / max(n, p.eps);
  for (var c = lid; c < p.cols; c += WG) {
    fw_y[base + c] = fw_x[base + c] * inv;
  }
  if (lid == 0u) { fw_n[row] = n; }
}

// --------------------------------------------------------------- backward
@group(0) @binding(1) var<storage, read> bw_y: array<f32>;
@group(0) @binding(2) var<storage, read> bw_n: array<f32>;
@group(0) @binding(3) var<storage, read> bw_dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> bw_dx: array<f32>;

@compute @workgroup_size(WG)
fn l2norm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var acc = 0.0;
  for (var c = lid; c < p.cols; c += WG) {
    acc += bw_y[base + c] * bw_dy[base + c];
  }
  red[lid] = acc;
  // The dot is reduced on both branches: the branch depends on stored data,
  // and barriers must stay in uniform control flow.
  let dot = reduce_sum(lid);
  let n = bw_n[row];
  let clamped = n < p.eps;
  let inv = 1.0 / max(n, p.eps);
  for (var c = lid; c < p.cols; c += WG) {
    let dy = bw_dy[base + c];
    bw_dx[base + c] = select((dy - bw_y[base + c] * dot) * inv, dy * inv, clamped);
  }
}

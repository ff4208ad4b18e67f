// Cross-entropy with a fused log-softmax and an ignore index, forward and
// backward. logits are [N, V] (N rows of V vocabulary logits), targets [N] i32.
//
//   forward   m = max_j x[i, j],  s = sum_j exp(x[i, j] - m)
//             lse[i]  = m + log(s)
//             loss[i] = (m - x[i, t]) + log(s)      (= lse[i] - x[i, t], without
//                                                   the cancellation of two large numbers)
//   reduce    count = #{i : t[i] != ignore},  sum = sum over those rows of loss[i]
//             reduced = sum / count ('mean'; 0 when count = 0) or sum ('sum')
//   backward  dx[i, j] = (exp(x[i, j] - lse[i]) - [j == t]) * g,
//             g = grad / count ('mean', count >= 1) or grad ('sum')
//
// Ignored rows (t == ignore) have loss 0 and zero gradient. A target outside
// [0, V) that is not the ignore index is never used as an index: the row's
// loss and gradient are NaN (a uniform value the wrapper passes in), so the
// mistake shows in the mean instead of being silently wrong.
//
// Scheme: online max+sum (Milakov & Gimelshein 2018), as in softmax.wgsl: each
// invocation keeps a running (m, s) over its strided columns, and the 256
// partials are merged in a fixed binary tree in workgroup memory. Every exp
// argument is <= 0, so logits of 1e4 and beyond cannot overflow; finite
// sentinels such as -3e38 for padded vocabulary entries give exp(...) = 0.
// The forward saves lse so the backward is one elementwise pass over the row
// (no second max/sum). lse is rounded to float32, so p = exp(x - lse) carries
// a relative error of about eps * |lse|: the float32 conditioning of logits that
// large, nothing worse. The reduction runs in one workgroup in a fixed order:
// the loss is identical run to run (no atomics).
//
// Bindings: @binding(0) uniform Params, then the inputs, then the outputs, in
// the order of each entry point's comment.
// Grid: ce_forward and ce_backward use one workgroup of 256 per row, folded into
// [x, y] when N exceeds the per-dimension limit (row = wid.y * nwg.x + wid.x);
// ce_reduce is a single workgroup.

const WG: u32 = 256u;
const START: f32 = -3.0e38;  // running max before any value

struct Params { rows: u32, vocab: u32, ignore_index: i32, nan: f32, mean: u32, grad: f32 }
@group(0) @binding(0) var<uniform> p: Params;

var<workgroup> red_n: array<u32, WG>;

// #include "lib/online_lse.wgsl"

fn row_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// 0: ignored, 1: a valid target, 2: out of range.
fn target_kind(t: i32) -> u32 {
  if (t == p.ignore_index) { return 0u; }
  if (t >= 0 && u32(t) < p.vocab) { return 1u; }
  return 2u;
}

// ----------------------- ce_forward: (logits, targets) -> (loss, lse)
@group(0) @binding(1) var<storage, read> fw_x: array<f32>;
@group(0) @binding(2) var<storage, read> fw_t: array<i32>;
@group(0) @binding(3) var<storage, read_write> fw_loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> fw_lse: array<f32>;

@compute @workgroup_size(WG)
fn ce_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.vocab;
  var part = MS(START, 0.0);
  for (var j = lid; j < p.vocab; j += WG) { part = push(part, fw_x[base + j]); }
  let all = reduce_ms(lid, part);
  if (lid == 0u) {
    let m = all.m;
    let log_s = log(all.s);
    fw_lse[row] = m + log_s;
    let t = fw_t[row];
    let kind = target_kind(t);
    var loss = 0.0;
    if (kind == 1u) { loss = (m - fw_x[base + u32(t)]) + log_s; }
    if (kind == 2u) { loss = p.nan; }
    fw_loss[row] = loss;
  }
}

// ------------------ ce_reduce: (loss, targets) -> (reduced [1], count [1])
@group(0) @binding(1) var<storage, read> rd_loss: array<f32>;
@group(0) @binding(2) var<storage, read> rd_t: array<i32>;
@group(0) @binding(3) var<storage, read_write> rd_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> rd_count: array<f32>;

@compute @workgroup_size(WG)
fn ce_reduce(@builtin(local_invocation_index) lid: u32) {
  var sum = 0.0;
  var n = 0u;
  for (var i = lid; i < p.rows; i += WG) {
    if (rd_t[i] != p.ignore_index) {
      sum += rd_loss[i];
      n += 1u;
    }
  }
  red_s[lid] = sum;
  red_n[lid] = n;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      red_s[lid] += red_s[lid + stride];
      red_n[lid] += red_n[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let count = f32(red_n[0]);
    rd_count[0] = count;
    rd_out[0] = select(red_s[0], red_s[0] / max(count, 1.0), p.mean != 0u);
  }
}

// -------------- ce_backward: (logits, targets, lse, count) -> (dlogits)
@group(0) @binding(1) var<storage, read> bw_x: array<f32>;
@group(0) @binding(2) var<storage, read> bw_t: array<i32>;
@group(0) @binding(3) var<storage, read> bw_lse: array<f32>;
@group(0) @binding(4) var<storage, read> bw_count: array<f32>;
@group(0) @binding(5) var<storage, read_write> bw_dx: array<f32>;

@compute @workgroup_size(WG)
fn ce_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.vocab;
  let t = bw_t[row];
  let kind = target_kind(t);
  let g = select(p.grad, p.grad / max(bw_count[0], 1.0), p.mean != 0u);
  let lse = bw_lse[row];
  for (var j = lid; j < p.vocab; j += WG) {
    var d = 0.0;
    if (kind == 1u) { d = (exp(bw_x[base + j] - lse) - select(0.0, 1.0, u32(t) == j)) * g; }
    if (kind == 2u) { d = p.nan; }
    bw_dx[base + j] = d;
  }
}

// Pooling of hidden states h [B, T, C] by an attention mask [B, T] (i32; a
// token is valid where mask != 0), for any padding: left, right or arbitrary.
//
//   last token   idx_b = max { t : mask_bt != 0 }, or -1 when the row has none
//                out_bc = h_b,idx_b,c  (0 when idx_b = -1)
//                backward: dh_btc = dy_bc where t = idx_b, else 0 (dh fully written)
//   masked mean  k_b = #{ t : mask_bt != 0 }
//                out_bc = sum_{t valid} h_btc / max(k_b, 1)   (0 for a row with no valid token)
//                backward: dh_btc = [mask_bt != 0] * dy_bc / max(k_b, 1)
//
// Entry points (bindings after the uniform: inputs, then outputs):
//   last_token_forward   (mask, h)          -> (out, idx)   one workgroup per b
//   last_token_backward  (idx, dy)          -> (dh)         one invocation per dh element
//   mean_pool_forward    (mask, h)          -> (out)        one invocation per (b, c), loops over t in order
//   mask_denominator     (mask)             -> (den)        one invocation per b: den_b = max(k_b, 1) as f32
//   mean_pool_backward   (mask, den, dy)    -> (dh)         one invocation per dh element
// Grids are 1-D over their items, folded into 2-D when they exceed the
// per-dimension limit: g = wid.y * nwg.x + wid.x.

const WG: u32 = 256u;
const CWG: u32 = 64u; // columns per workgroup of mean_pool_forward

struct Params { batch: u32, time: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: Params;

fn group_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// ------------------------------------------------------- last token: forward
@group(0) @binding(1) var<storage, read> lf_mask: array<i32>;
@group(0) @binding(2) var<storage, read> lf_h: array<f32>;
@group(0) @binding(3) var<storage, read_write> lf_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> lf_idx: array<i32>;

var<workgroup> best: array<i32, WG>;

@compute @workgroup_size(WG)
fn last_token_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = group_index(wid, nwg);
  if (b >= p.batch) { return; } // uniform per workgroup
  // Each invocation visits t = lid, lid + WG, ... in increasing order, so its
  // last hit is its largest valid t; a max-tree then picks the row's largest.
  var m = -1;
  for (var t = lid; t < p.time; t += WG) {
    if (lf_mask[b * p.time + t] != 0) { m = i32(t); }
  }
  best[lid] = m;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { best[lid] = max(best[lid], best[lid + s]); }
  }
  workgroupBarrier();
  let t = best[0];
  let ob = b * p.cols;
  if (t >= 0) {
    let hb = (b * p.time + u32(t)) * p.cols;
    for (var c = lid; c < p.cols; c += WG) { lf_out[ob + c] = lf_h[hb + c]; }
  } else {
    for (var c = lid; c < p.cols; c += WG) { lf_out[ob + c] = 0.0; }
  }
  if (lid == 0u) { lf_idx[b] = t; }
}

// ------------------------------------------------------ last token: backward
@group(0) @binding(1) var<storage, read> lb_idx: array<i32>;
@group(0) @binding(2) var<storage, read> lb_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> lb_dh: array<f32>;

@compute @workgroup_size(WG)
fn last_token_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * WG + lid;
  if (i >= p.batch * p.time * p.cols) { return; }
  let c = i % p.cols;
  let bt = i / p.cols;
  let t = bt % p.time;
  let b = bt / p.time;
  // An index of -1 (no valid token) or out of [0, T) matches no t: all zeros.
  lb_dh[i] = select(0.0, lb_dy[b * p.cols + c], lb_idx[b] == i32(t));
}

// ------------------------------------------------------ masked mean: forward
@group(0) @binding(1) var<storage, read> mf_mask: array<i32>;
@group(0) @binding(2) var<storage, read> mf_h: array<f32>;
@group(0) @binding(3) var<storage, read_write> mf_out: array<f32>;

// Group g covers batch b = g / tiles and columns (g % tiles) * CWG + lid, with
// tiles = ceil(C / CWG); loads of h are coalesced across the columns.
@compute @workgroup_size(CWG)
fn mean_pool_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tiles = (p.cols + CWG - 1u) / CWG;
  let g = group_index(wid, nwg);
  let b = g / tiles;
  let c = (g % tiles) * CWG + lid;
  if (b >= p.batch || c >= p.cols) { return; }
  var acc = 0.0;
  var k = 0u;
  for (var t = 0u; t < p.time; t++) {
    if (mf_mask[b * p.time + t] != 0) {
      acc += mf_h[(b * p.time + t) * p.cols + c];
      k++;
    }
  }
  mf_out[b * p.cols + c] = acc / f32(max(k, 1u));
}

// ------------------------------------------------ masked mean: denominators
@group(0) @binding(1) var<storage, read> md_mask: array<i32>;
@group(0) @binding(2) var<storage, read_write> md_den: array<f32>;

@compute @workgroup_size(CWG)
fn mask_denominator(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = group_index(wid, nwg) * CWG + lid;
  if (b >= p.batch) { return; }
  var k = 0u;
  for (var t = 0u; t < p.time; t++) {
    k += select(0u, 1u, md_mask[b * p.time + t] != 0);
  }
  md_den[b] = f32(max(k, 1u));
}

// ----------------------------------------------------- masked mean: backward
@group(0) @binding(1) var<storage, read> mb_mask: array<i32>;
@group(0) @binding(2) var<storage, read> mb_den: array<f32>;
@group(0) @binding(3) var<storage, read> mb_dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> mb_dh: array<f32>;

@compute @workgroup_size(WG)
fn mean_pool_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = group_index(wid, nwg) * WG + lid;
  if (i >= p.batch * p.time * p.cols) { return; }
  let c = i % p.cols;
  let bt = i / p.cols;
  let b = bt / p.time;
  mb_dh[i] = select(0.0, mb_dy[b * p.cols + c] / mb_den[b], mb_mask[bt] != 0);
}

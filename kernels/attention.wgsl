// Scaled dot-product attention with grouped-query heads, a key padding mask
// and an optional causal mask: fused forward (online softmax over key blocks,
// flash-attention style), fused backward, and the helpers of the unfused path.
//
// Layouts: q, o, dO, dq [B, T, H, D]; k, v, dk, dv [B, T, HKV, D]; mask [B, T]
// i32 (nonzero = valid key); lse [B, H, T]; stats [B, H, T, 2]. H % HKV == 0:
// query head h uses kv head h / G, G = H / HKV.
//
// Query t may attend key s when mask[b, s] != 0 and (not causal or s <= t).
//
//   forward   s_ts = scale q_t . k_s,  m_t = max_s s_ts,  l_t = sum_s exp(s_ts - m_t)
//             o_t = sum_s exp(s_ts - m_t) v_s / l_t,  lse_t = m_t + log l_t
//   backward  D_t = dO_t . o_t,  p_ts = exp(s_ts - lse_t),  dp_ts = dO_t . v_s,
//             ds_ts = p_ts (dp_ts - D_t)
//             dq_t = scale sum_s ds_ts k_s
//             dk_s = scale sum_{t, g} ds_ts q_t,  dv_s = sum_{t, g} p_ts dO_t
//             (the sums over g run over the G query heads that share kv head)
//
// Empty rows: a query with no allowed key (a left-pad query with no valid key
// at or before it, or a fully padded sequence) gets o = 0 and lse = LSE_EMPTY
// (-3e38, "log 0"). Backward it has no allowed (t, s) pair, so it contributes
// nothing and its dq is 0. Masked scores are the finite START sentinel and are
// excluded by select before any exp: no inf or NaN is ever formed.
//
// Online softmax (forward): keys are taken TK at a time; per block the running
// max m grows to the block's max bm, the running sum l and the accumulator o
// are rescaled once by exp(m - bm), and the block's TK terms are added. Every
// exp argument is <= 0. A running max still at START (nothing seen yet) gives
// exp(START - bm) = 0 times an accumulator that is 0 anyway.
//
// Shape. A workgroup is LANES invocations; lane l owns R rows, r * LANES + l
// for r < R, of one head (queries in forward and dq, keys in dk/dv), and keeps
// their D-vectors (q, the output accumulator, ...) in private arrays. The loop
// over the other side (keys, or queries of all G heads) is uniform: key row
// s0 + j is the same for every lane, so its padding mask is uniform and a
// block of TK keys that are all padding (or past the causal end) is skipped;
// only the causal test s <= t differs per lane. Per head-dim element d a block
// loads TK elements of K (and V) once and uses each in R FMAs per lane.
// Why on lavapipe (a workgroup is one 8-lane SIMD vector): measured there,
// every storage load costs about 2-3 FMAs of time whether or not its address
// is uniform (the driver bounds-checks and loads lane by lane), while private
// arrays with a uniform dynamic index and workgroup memory are cheap. So the
// win is reuse: R = 16 query rows per lane runs the forward 4x faster than
// R = 1 (bench/NOTES.md). Tiles whose score arrays R x TK exceed 128 entries
// fall off a cliff (spills). No workgroup memory and no barriers are needed:
// a variant that put the score tile in workgroup memory (lanes along keys for
// q k^T, along D for P v) ran slower, its per-lane loads were not amortised.
// Loops over d run to the runtime bound p.dim (== D): unrolled (D <= 16) the
// pipelines compile ~10x slower. Every private array is zeroed explicitly:
// with Dawn + lavapipe a `var a: array<...>;` declared inside a loop body is
// not re-zeroed on each iteration (it keeps the previous iteration's values).
//
// The backward is deterministic (no atomics): attention_backward_dq loops over
// keys per query row, attention_backward_dkdv over the queries of all G heads
// per key row, both recomputing p from lse; attention_stats first packs
// (lse_t, D_t) per row (8 storage bindings per entry point at most, the
// WebGPU minimum).
//
// Shared loads (SUBGROUPS, with TK == LANES == the subgroup size): the TK
// K / V (or q / dO) elements a block needs per d are the same for every lane,
// so lane l loads only the l-th and subgroupShuffle hands it to the others
// (tk_k and friends below). The values and the order of every sum are the
// same, so results are bit-identical (tested). Measured on lavapipe, causal
// T = 1024, H 9 / KV 3, D 64: forward 84 -> 52 ms, backward 330 -> 215 ms.
//
// Module constants (rewritten per pipeline): D the head dim, LANES, R, TK,
// SUBGROUPS (also selects the `// #if SUBGROUPS` blocks).
//
// Entry points (bindings: 0 uniform, then inputs, then outputs):
//   attention_forward        (q, k, v, mask) -> (o, lse)
//   attention_stats          (o, dO, lse) -> (stats)      one row per invocation
//   attention_backward_dq    (q, k, v, mask, dO, stats) -> (dq)
//   attention_backward_dkdv  (q, k, v, mask, dO, stats) -> (dk, dv)
//   Grids: forward and dq [H, ceil(T / QB), B], QB = LANES * R, rows
//   wid.y * QB + r * LANES + lane of head wid.x; dkdv [HKV, ceil(T / QB), B]
//   over keys; stats [H, ceil(T / LANES), B]. Rows past T are computed
//   clamped to row T - 1 and not stored.
//   When use_mask == 0 the mask binding is not read (the wrapper binds q).
// Unfused path (materialised scores, see src/ops/attention.ts):
//   attention_split_heads    (x [B, T, HX, D]) -> (y [B, H, T, D]),
//                            y[b, h, t] = x[b, t, h / (H / HX)]
//   attention_merge_heads    (x [B, H, T, D]) -> (y [B, T, HX, D]),
//                            y[b, t, j] = sum_{g < H / HX} x[b, j (H / HX) + g, t]
//   attention_bias           (mask) -> (bias [Rm, T]): 0 where row r = (b, h, i)
//                            (i = r % T, b = r / (H T)) may attend key s, else -3e38
//   One invocation per output element, 64 per workgroup, 2-D folded grid.

// #if SUBGROUPS
enable subgroups;
diagnostic(off, subgroup_uniformity);
// #endif

const D: u32 = 64u;
const LANES: u32 = 8u;
const SUBGROUPS: bool = false; // loads shared through subgroup shuffles (needs TK == LANES == subgroup size)
const TK: u32 = 8u;
const R: u32 = 8u;
const QB: u32 = LANES * R;      // rows per workgroup

const START: f32 = -3.0e38;     // a masked score / the running max before any key
const MASKED: f32 = -1.0e30;    // scores at or below are masked (real scores are far above)
const LSE_EMPTY: f32 = -3.0e38; // lse of a row with no allowed key

struct Params {
  B: u32, T: u32, H: u32, HKV: u32,
  causal: u32, use_mask: u32, scale: f32,
  dim: u32, // == D; loops over the head dim run to this runtime bound so the
            // compiler keeps them as loops (unrolled they compile 10x slower)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> att_q: array<f32>;
@group(0) @binding(2) var<storage, read> att_k: array<f32>;
@group(0) @binding(3) var<storage, read> att_v: array<f32>;
@group(0) @binding(4) var<storage, read> att_mask: array<i32>;

// Key s (< T) of batch b passes the padding mask (uniform across lanes).
fn key_valid(b: u32, s: u32) -> bool {
  return p.use_mask == 0u || att_mask[b * p.T + s] != 0;
}

// Some key of [s0, min(s0 + n, end)) passes the padding mask.
fn any_valid(b: u32, s0: u32, n: u32, end: u32) -> bool {
  for (var j = 0u; j < n; j++) {
    if (s0 + j < end && key_valid(b, s0 + j)) { return true; }
  }
  return false;
}

// Offset of row t of head h in a [B, T, heads, D] tensor.
fn row_at(b: u32, t: u32, heads: u32, h: u32) -> u32 {
  return ((b * p.T + t) * heads + h) * D;
}

// Keys a query block [t0, t0 + QB) may attend: up to its last query when causal.
fn key_end(t0: u32) -> u32 {
  return select(p.T, min(p.T, t0 + QB), p.causal != 0u);
}

// Rows of keys s0 + j (clamped to T - 1) of kv head hk and whether each is
// below kend and valid; false when none is (the block is skipped).
fn key_block(b: u32, hk: u32, s0: u32, kend: u32, rows: ptr<function, array<u32, TK>>, kv: ptr<function, array<bool, TK>>) -> bool {
  var live = false;
  for (var j = 0u; j < TK; j++) {
    let s = min(s0 + j, p.T - 1u);
    (*rows)[j] = row_at(b, s, p.HKV, hk);
    (*kv)[j] = s0 + j < kend && key_valid(b, s);
    live = live || (*kv)[j];
  }
  return live;
}

// Element d of the TK rows rows[j] of K, V, q or dO, for every j: the loads
// the inner loops make for a block (the same addresses in every lane). With
// SUBGROUPS, lane l loads row l's element only and the others get it through
// subgroupShuffle (a register move on a SIMD CPU driver): 1 load per lane
// instead of TK. sg_id is the lane's subgroup invocation id (set by the entry).
var<private> sg_id: u32 = 0u;

// #if SUBGROUPS
fn tk_k(rows: array<u32, TK>, d: u32) -> array<f32, TK> { return shared_tk(att_k[rows[sg_id % TK] + d]); }
fn tk_v(rows: array<u32, TK>, d: u32) -> array<f32, TK> { return shared_tk(att_v[rows[sg_id % TK] + d]); }
fn tk_q(rows: array<u32, TK>, d: u32) -> array<f32, TK> { return shared_tk(att_q[rows[sg_id % TK] + d]); }
fn tk_do(rows: array<u32, TK>, d: u32) -> array<f32, TK> { return shared_tk(bw_do[rows[sg_id % TK] + d]); }
fn shared_tk(own: f32) -> array<f32, TK> {
  var x: array<f32, TK>;
  for (var j = 0u; j < TK; j++) { x[j] = subgroupShuffle(own, j); }
  return x;
}
// #else
fn tk_k(rows: array<u32, TK>, d: u32) -> array<f32, TK> {
  var x: array<f32, TK>;
  for (var j = 0u; j < TK; j++) { x[j] = att_k[rows[j] + d]; }
  return x;
}
fn tk_v(rows: array<u32, TK>, d: u32) -> array<f32, TK> {
  var x: array<f32, TK>;
  for (var j = 0u; j < TK; j++) { x[j] = att_v[rows[j] + d]; }
  return x;
}
fn tk_q(rows: array<u32, TK>, d: u32) -> array<f32, TK> {
  var x: array<f32, TK>;
  for (var j = 0u; j < TK; j++) { x[j] = att_q[rows[j] + d]; }
  return x;
}
fn tk_do(rows: array<u32, TK>, d: u32) -> array<f32, TK> {
  var x: array<f32, TK>;
  for (var j = 0u; j < TK; j++) { x[j] = bw_do[rows[j] + d]; }
  return x;
}
// #endif

// ----------------------------------------------------------------- forward
@group(0) @binding(5) var<storage, read_write> fw_o: array<f32>;
@group(0) @binding(6) var<storage, read_write> fw_lse: array<f32>;

@compute @workgroup_size(LANES)
fn attention_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32,
  // #if SUBGROUPS
  @builtin(subgroup_invocation_id) sg_lane: u32,
  // #endif
) {
  // #if SUBGROUPS
  sg_id = sg_lane;
  // #endif
  let h = wid.x;
  let b = wid.z;
  let t0 = wid.y * QB;
  let hk = h / (p.H / p.HKV);
  var t: array<u32, R>;
  var qi: array<u32, R>;
  for (var r = 0u; r < R; r++) {
    t[r] = t0 + r * LANES + lane;
    qi[r] = row_at(b, min(t[r], p.T - 1u), p.H, h);
  }

  // q pre-scaled: s = (scale q) . k.
  var q: array<array<f32, D>, R>;
  var acc: array<array<f32, D>, R>;
  for (var d = 0u; d < p.dim; d++) {
    for (var r = 0u; r < R; r++) {
      q[r][d] = att_q[qi[r] + d] * p.scale;
      acc[r][d] = 0.0;
    }
  }
  var m: array<f32, R>;
  var l: array<f32, R>;
  for (var r = 0u; r < R; r++) { m[r] = START; l[r] = 0.0; }

  let kend = key_end(t0);
  for (var s0 = 0u; s0 < kend; s0 += TK) {
    var rows: array<u32, TK>;
    var kv: array<bool, TK>;
    if (!key_block(b, hk, s0, kend, &rows, &kv)) { continue; }

    var sc: array<array<f32, TK>, R>;
    for (var r = 0u; r < R; r++) { for (var j = 0u; j < TK; j++) { sc[r][j] = 0.0; } }
    for (var d = 0u; d < p.dim; d++) {
      let kd = tk_k(rows, d);
      for (var r = 0u; r < R; r++) {
        let qd = q[r][d];
        for (var j = 0u; j < TK; j++) { sc[r][j] = fma(qd, kd[j], sc[r][j]); }
      }
    }
    var alpha: array<f32, R>;
    var pr: array<array<f32, TK>, R>;
    for (var r = 0u; r < R; r++) {
      var bm = m[r];
      for (var j = 0u; j < TK; j++) {
        let ok = kv[j] && (p.causal == 0u || s0 + j <= t[r]);
        sc[r][j] = select(START, sc[r][j], ok);
        bm = max(bm, sc[r][j]);
      }
      alpha[r] = exp(m[r] - bm);
      var rs = 0.0;
      for (var j = 0u; j < TK; j++) {
        pr[r][j] = select(0.0, exp(sc[r][j] - bm), sc[r][j] > MASKED);
        rs += pr[r][j];
      }
      l[r] = fma(l[r], alpha[r], rs);
      m[r] = bm;
    }
    for (var d = 0u; d < p.dim; d++) {
      let vd = tk_v(rows, d);
      for (var r = 0u; r < R; r++) {
        var a = acc[r][d] * alpha[r];
        for (var j = 0u; j < TK; j++) { a = fma(pr[r][j], vd[j], a); }
        acc[r][d] = a;
      }
    }
  }

  for (var r = 0u; r < R; r++) {
    if (t[r] >= p.T) { continue; }
    let inv = select(0.0, 1.0 / l[r], l[r] > 0.0);
    for (var d = 0u; d < p.dim; d++) { fw_o[qi[r] + d] = acc[r][d] * inv; }
    fw_lse[(b * p.H + h) * p.T + t[r]] = select(LSE_EMPTY, m[r] + log(l[r]), l[r] > 0.0);
  }
}

// ------------------------------------------------------------------- stats
@group(0) @binding(1) var<storage, read> st_o: array<f32>;
@group(0) @binding(2) var<storage, read> st_do: array<f32>;
@group(0) @binding(3) var<storage, read> st_lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> st_out: array<f32>;

@compute @workgroup_size(LANES)
fn attention_stats(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let h = wid.x;
  let b = wid.z;
  let t = wid.y * LANES + lane;
  if (t >= p.T) { return; }
  let oi = row_at(b, t, p.H, h);
  var delta = 0.0;
  for (var d = 0u; d < p.dim; d++) { delta = fma(st_do[oi + d], st_o[oi + d], delta); }
  let r = (b * p.H + h) * p.T + t;
  st_out[2u * r] = st_lse[r];
  st_out[2u * r + 1u] = delta;
}

// --------------------------------------------------------------- backward
@group(0) @binding(5) var<storage, read> bw_do: array<f32>;
@group(0) @binding(6) var<storage, read> bw_stats: array<f32>;
@group(0) @binding(7) var<storage, read_write> bw_dq: array<f32>;

@compute @workgroup_size(LANES)
fn attention_backward_dq(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32,
  // #if SUBGROUPS
  @builtin(subgroup_invocation_id) sg_lane: u32,
  // #endif
) {
  // #if SUBGROUPS
  sg_id = sg_lane;
  // #endif
  let h = wid.x;
  let b = wid.z;
  let t0 = wid.y * QB;
  let hk = h / (p.H / p.HKV);
  var t: array<u32, R>;
  var qi: array<u32, R>;
  var lse: array<f32, R>;
  var delta: array<f32, R>;
  for (var r = 0u; r < R; r++) {
    t[r] = t0 + r * LANES + lane;
    let tc = min(t[r], p.T - 1u);
    qi[r] = row_at(b, tc, p.H, h);
    let sr = (b * p.H + h) * p.T + tc;
    lse[r] = bw_stats[2u * sr];
    delta[r] = bw_stats[2u * sr + 1u];
  }
  var q: array<array<f32, D>, R>;
  var g: array<array<f32, D>, R>;
  var dq: array<array<f32, D>, R>;
  for (var d = 0u; d < p.dim; d++) {
    for (var r = 0u; r < R; r++) {
      q[r][d] = att_q[qi[r] + d] * p.scale;
      g[r][d] = bw_do[qi[r] + d];
      dq[r][d] = 0.0;
    }
  }

  let kend = key_end(t0);
  for (var s0 = 0u; s0 < kend; s0 += TK) {
    var rows: array<u32, TK>;
    var kv: array<bool, TK>;
    if (!key_block(b, hk, s0, kend, &rows, &kv)) { continue; }

    // s = (scale q) . k and dp = dO . v for the block's keys.
    var sc: array<array<f32, TK>, R>;
    var dp: array<array<f32, TK>, R>;
    for (var r = 0u; r < R; r++) { for (var j = 0u; j < TK; j++) { sc[r][j] = 0.0; dp[r][j] = 0.0; } }
    for (var d = 0u; d < p.dim; d++) {
      let kd = tk_k(rows, d);
      let vd = tk_v(rows, d);
      for (var r = 0u; r < R; r++) {
        let qd = q[r][d];
        let gd = g[r][d];
        for (var j = 0u; j < TK; j++) {
          sc[r][j] = fma(qd, kd[j], sc[r][j]);
          dp[r][j] = fma(gd, vd[j], dp[r][j]);
        }
      }
    }
    // ds = p (dp - D), p = exp(s - lse) (<= 1; clamped against rounding), into sc.
    for (var r = 0u; r < R; r++) {
      for (var j = 0u; j < TK; j++) {
        let ok = kv[j] && lse[r] > MASKED && (p.causal == 0u || s0 + j <= t[r]);
        let pr = select(0.0, exp(min(sc[r][j] - lse[r], 0.0)), ok);
        sc[r][j] = pr * (dp[r][j] - delta[r]);
      }
    }
    for (var d = 0u; d < p.dim; d++) {
      let kd = tk_k(rows, d);
      for (var r = 0u; r < R; r++) {
        var a = dq[r][d];
        for (var j = 0u; j < TK; j++) { a = fma(sc[r][j], kd[j], a); }
        dq[r][d] = a;
      }
    }
  }

  for (var r = 0u; r < R; r++) {
    if (t[r] >= p.T) { continue; }
    for (var d = 0u; d < p.dim; d++) { bw_dq[qi[r] + d] = dq[r][d] * p.scale; }
  }
}

@group(0) @binding(7) var<storage, read_write> bw_dk: array<f32>;
@group(0) @binding(8) var<storage, read_write> bw_dv: array<f32>;

@compute @workgroup_size(LANES)
fn attention_backward_dkdv(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32,
  // #if SUBGROUPS
  @builtin(subgroup_invocation_id) sg_lane: u32,
  // #endif
) {
  // #if SUBGROUPS
  sg_id = sg_lane;
  // #endif
  let hk = wid.x;
  let b = wid.z;
  let s0 = wid.y * QB;
  let G = p.H / p.HKV;
  // Lane's keys s0 + r * LANES + lane.
  var s: array<u32, R>;
  var ki: array<u32, R>;
  var kval: array<bool, R>;
  for (var r = 0u; r < R; r++) {
    s[r] = s0 + r * LANES + lane;
    let sc = min(s[r], p.T - 1u);
    ki[r] = row_at(b, sc, p.HKV, hk);
    kval[r] = s[r] < p.T && key_valid(b, sc);
  }
  // k pre-scaled: s_ts = (scale k) . q.
  var k: array<array<f32, D>, R>;
  var v: array<array<f32, D>, R>;
  var dk: array<array<f32, D>, R>;
  var dv: array<array<f32, D>, R>;
  for (var d = 0u; d < p.dim; d++) {
    for (var r = 0u; r < R; r++) {
      k[r][d] = att_k[ki[r] + d] * p.scale;
      v[r][d] = att_v[ki[r] + d];
      dk[r][d] = 0.0;
      dv[r][d] = 0.0;
    }
  }

  // No valid key in the block: dk = dv = 0. Causal: only queries t >= s0 see it.
  let tstart = select(select(0u, s0, p.causal != 0u), p.T, !any_valid(b, s0, QB, p.T));
  for (var gi = 0u; gi < G; gi++) {
    let h = hk * G + gi;
    for (var t0 = tstart; t0 < p.T; t0 += TK) {
      // The block's queries t0 + j (uniform) and their (lse, D).
      var rows: array<u32, TK>;
      var lse: array<f32, TK>;
      var delta: array<f32, TK>;
      var qok: array<bool, TK>;
      for (var j = 0u; j < TK; j++) {
        let tc = min(t0 + j, p.T - 1u);
        rows[j] = row_at(b, tc, p.H, h);
        let sr = (b * p.H + h) * p.T + tc;
        lse[j] = bw_stats[2u * sr];
        delta[j] = bw_stats[2u * sr + 1u];
        qok[j] = t0 + j < p.T && lse[j] > MASKED;
      }
      var sc: array<array<f32, TK>, R>;
      var dp: array<array<f32, TK>, R>;
      for (var r = 0u; r < R; r++) { for (var j = 0u; j < TK; j++) { sc[r][j] = 0.0; dp[r][j] = 0.0; } }
      for (var d = 0u; d < p.dim; d++) {
        let qd = tk_q(rows, d);
        let gd = tk_do(rows, d);
        for (var r = 0u; r < R; r++) {
          let kr = k[r][d];
          let vr = v[r][d];
          for (var j = 0u; j < TK; j++) {
            sc[r][j] = fma(kr, qd[j], sc[r][j]);
            dp[r][j] = fma(vr, gd[j], dp[r][j]);
          }
        }
      }
      // p into sc, ds = p (dp - D) into dp.
      for (var r = 0u; r < R; r++) {
        for (var j = 0u; j < TK; j++) {
          let ok = kval[r] && qok[j] && (p.causal == 0u || s[r] <= t0 + j);
          let pr = select(0.0, exp(min(sc[r][j] - lse[j], 0.0)), ok);
          sc[r][j] = pr;
          dp[r][j] = pr * (dp[r][j] - delta[j]);
        }
      }
      for (var d = 0u; d < p.dim; d++) {
        let qd = tk_q(rows, d);
        let gd = tk_do(rows, d);
        for (var r = 0u; r < R; r++) {
          var a = dv[r][d];
          var c = dk[r][d];
          for (var j = 0u; j < TK; j++) {
            a = fma(sc[r][j], gd[j], a);
            c = fma(dp[r][j], qd[j], c);
          }
          dv[r][d] = a;
          dk[r][d] = c;
        }
      }
    }
  }

  for (var r = 0u; r < R; r++) {
    if (s[r] >= p.T) { continue; }
    for (var d = 0u; d < p.dim; d++) {
      bw_dk[ki[r] + d] = dk[r][d] * p.scale;
      bw_dv[ki[r] + d] = dv[r][d];
    }
  }
}

// ------------------------------------------------------ unfused helpers
struct Layout {
  n: u32, B: u32, T: u32, H: u32, HX: u32, D: u32, causal: u32, use_mask: u32,
}
@group(0) @binding(0) var<uniform> u: Layout;
@group(0) @binding(1) var<storage, read> hx_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> hx_out: array<f32>;

fn element(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 64u + lid;
}

@compute @workgroup_size(64)
fn attention_split_heads(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = element(wid, nwg, lid);
  if (i >= u.n) { return; }
  // i indexes y [B, H, T, D].
  let d = i % u.D;
  let t = (i / u.D) % u.T;
  let h = (i / (u.D * u.T)) % u.H;
  let b = i / (u.D * u.T * u.H);
  hx_out[i] = hx_in[((b * u.T + t) * u.HX + h / (u.H / u.HX)) * u.D + d];
}

@compute @workgroup_size(64)
fn attention_merge_heads(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = element(wid, nwg, lid);
  if (i >= u.n) { return; }
  // i indexes y [B, T, HX, D]; the G heads of group j are summed in order.
  let d = i % u.D;
  let j = (i / u.D) % u.HX;
  let t = (i / (u.D * u.HX)) % u.T;
  let b = i / (u.D * u.HX * u.T);
  let G = u.H / u.HX;
  var acc = 0.0;
  for (var g = 0u; g < G; g++) { acc += hx_in[((b * u.H + j * G + g) * u.T + t) * u.D + d]; }
  hx_out[i] = acc;
}

@group(0) @binding(1) var<storage, read> bias_mask: array<i32>;

@compute @workgroup_size(64)
fn attention_bias(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = element(wid, nwg, lid);
  if (i >= u.n) { return; }
  // i indexes bias [Rm, T]: row r = (b, h, t) of the scores [B, H, T, T].
  let s = i % u.T;
  let r = i / u.T;
  let t = r % u.T;
  let b = r / (u.H * u.T);
  let ok = (u.use_mask == 0u || bias_mask[b * u.T + s] != 0) && (u.causal == 0u || s <= t);
  hx_out[i] = select(START, 0.0, ok);
}

// Contrastive losses over L2-normalised embeddings, the part after the
// similarity matmul: one-way InfoNCE (LCO-Emb; sentence-transformers MNRL),
// the symmetric UNITE stage-1 form, and UNITE's modality-aware mask (MAMCL).
// Also the column-prefix copy and its gradient for Matryoshka losses.
//
// Layout: anchors a [B, E], candidates c [M, E] with M = B (1 + k): rows
// [0, B) are the positives (anchor i's positive is c[i]), then k blocks of B
// hard negatives (negative j of anchor i is c[B + j B + i]): "all positives,
// then all negatives", as MNRL. Every anchor scores every candidate (in-batch
// negatives and everyone's hard negatives), so the kernels only need M and
// the fact that column i is row i's target.
//
//   logits   S = a c^T / t                                   [B, M]  (matmul, alpha = 1/t)
//   mask     keep(i, j) = !masked || j == i || label[j] == label[i]
//            label [M] u32 per candidate; label[i] (i < B) is the label of
//            anchor i's positive. A dropped logit is -inf after the division
//            by t: it adds exp(-inf) = 0 to every sum below, so the kernels
//            skip it. The positive is never dropped, so no row is empty.
//   forward  (anchor i -> candidates) over kept j in [0, M):
//            lse_f[i] = log sum_j exp(S[i, j]),  l_f[i] = lse_f[i] - S[i, i]
//   reverse  (symmetric only; positive j -> anchors) over kept i in [0, B):
//            lse_r[j] = log sum_i exp(S[i, j]),  l_r[j] = lse_r[j] - S[j, j]
//            This is CE over the rows of p a^T / t = (S[:, :B])^T: the reverse
//            direction scores the B anchors only, never the hard negatives.
//            keep(i, j) is symmetric on that block (both labels are positives').
//   loss     L = w_f mean_i l_f[i] + w_r mean_j l_r[j]
//            one-way: w_f = 1, w_r = 0;  symmetric: w_f = w_r = 1/2
//   backward with G the upstream gradient of L,
//            P[i, j] = keep ? exp(S[i, j] - lse_f[i]) : 0
//            Q[i, j] = keep ? exp(S[i, j] - lse_r[j]) : 0                 (j < B)
//            dsim[i, j] = G/(B t) (w_f (P[i, j] - [i == j]) + w_r [j < B] (Q[i, j] - [i == j]))
//            dsim is dL/d(a c^T); the wrapper finishes with dA = dsim c and
//            dC = dsim^T a (matmul).
//
// Stability: each line's max is subtracted before exp (online max+sum, as in
// cross_entropy.wgsl), so 1/t = 100 with duplicate rows (all logits equal)
// gives exactly log(#kept) and never overflows. l = (m - S_diag) + log(s)
// avoids the cancellation of lse - S_diag for two large numbers. The saved
// lse is rounded to float32, so P carries a relative error of eps * |lse|.
// Every reduction is a fixed tree in one workgroup: identical run to run.
//
// Prefix ops (Matryoshka): x [N, E] row-major, width d <= E:
//   prefix_copy        y[r, c] = x[r, c]             c < d      y [N, d]
//   prefix_accumulate  dx[r, c] += dy[r, c]          c < d      in place on dx [N, E]
//
// Bindings: @binding(0) uniform params, then the inputs, then the outputs, in
// the order of each entry point's comment. Without a mask the wrapper binds
// the logits in the label slot; the kernels never read it then.
// Grids: con_lse one workgroup per line (rows of S, then columns of S[:, :B]
// when symmetric); con_reduce one workgroup; con_backward and the prefix ops
// one invocation per element. Lines and elements fold into [x, y] when they
// exceed the per-dimension limit (index = wid.y * nwg.x + wid.x).

const WG: u32 = 256u;
const START: f32 = -3.0e38; // running max before any value

// rows = B, cols = M, dirs = 1 (one-way) or 2 (symmetric), masked = 0 | 1,
// w_f / w_r: direction weights, g_f = G w_f / (B t), g_r = G w_r / (B t).
struct ConParams { rows: u32, cols: u32, dirs: u32, masked: u32, w_f: f32, w_r: f32, g_f: f32, g_r: f32 }
@group(0) @binding(0) var<uniform> p: ConParams;

// rows = N, cols = E, width = d.
struct PrefixParams { rows: u32, cols: u32, width: u32 }
@group(0) @binding(0) var<uniform> q: PrefixParams;


// #include "lib/online_lse.wgsl"

// ----------------- con_lse: (logits [B, M], label [M]) -> (loss [dirs, B], lse [dirs, B])
@group(0) @binding(1) var<storage, read> ls_s: array<f32>;
@group(0) @binding(2) var<storage, read> ls_label: array<u32>;
@group(0) @binding(3) var<storage, read_write> ls_loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> ls_lse: array<f32>;

@compute @workgroup_size(WG)
fn con_lse(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let line = wid.y * nwg.x + wid.x;
  if (line >= p.dirs * p.rows) { return; } // uniform per workgroup
  var part = MS(START, 0.0);
  var diag: u32;
  if (line < p.rows) {
    // forward: row i of S over all M candidates
    let i = line;
    diag = i * p.cols + i;
    for (var j = lid; j < p.cols; j += WG) {
      if (p.masked == 0u || j == i || ls_label[j] == ls_label[i]) { part = push(part, ls_s[i * p.cols + j]); }
    }
  } else {
    // reverse: column j < B of S over the B anchors
    let j = line - p.rows;
    diag = j * p.cols + j;
    for (var i = lid; i < p.rows; i += WG) {
      if (p.masked == 0u || i == j || ls_label[i] == ls_label[j]) { part = push(part, ls_s[i * p.cols + j]); }
    }
  }
  let all = reduce_ms(lid, part);
  if (lid == 0u) {
    let m = all.m;
    let log_s = log(all.s);
    ls_lse[line] = m + log_s;
    ls_loss[line] = (m - ls_s[diag]) + log_s;
  }
}

// ------------------------------------------- con_reduce: (loss [dirs, B]) -> (out [1])
// out = w_f mean(loss[0, :]) + w_r mean(loss[1, :]) (the second term only when dirs = 2).
@group(0) @binding(1) var<storage, read> rd_loss: array<f32>;
@group(0) @binding(2) var<storage, read_write> rd_out: array<f32>;

@compute @workgroup_size(WG)
fn con_reduce(@builtin(local_invocation_index) lid: u32) {
  var sf = 0.0;
  var sr = 0.0;
  for (var i = lid; i < p.rows; i += WG) {
    sf += rd_loss[i];
    if (p.dirs == 2u) { sr += rd_loss[p.rows + i]; }
  }
  red_m[lid] = sf;
  red_s[lid] = sr;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      red_m[lid] += red_m[lid + stride];
      red_s[lid] += red_s[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let n = f32(p.rows);
    rd_out[0] = p.w_f * (red_m[0] / n) + p.w_r * (red_s[0] / n);
  }
}

// -------------- con_backward: (logits [B, M], label [M], lse [dirs, B]) -> (dsim [B, M])
@group(0) @binding(1) var<storage, read> bw_s: array<f32>;
@group(0) @binding(2) var<storage, read> bw_label: array<u32>;
@group(0) @binding(3) var<storage, read> bw_lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> bw_d: array<f32>;

@compute @workgroup_size(WG)
fn con_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * nwg.x + wid.x) * WG + lid;
  if (idx >= p.rows * p.cols) { return; }
  let i = idx / p.cols;
  let j = idx % p.cols;
  var d = 0.0;
  // A dropped logit has P = Q = 0 and is never the target: its gradient is 0.
  if (p.masked == 0u || j == i || bw_label[j] == bw_label[i]) {
    let s = bw_s[idx];
    let eye = select(0.0, 1.0, i == j);
    d = p.g_f * (exp(s - bw_lse[i]) - eye);
    if (p.dirs == 2u && j < p.rows) { d += p.g_r * (exp(s - bw_lse[p.rows + j]) - eye); }
  }
  bw_d[idx] = d;
}

// ---------------------------------- prefix_copy: (x [N, E]) -> (y [N, d])
@group(0) @binding(1) var<storage, read> pc_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> pc_y: array<f32>;

@compute @workgroup_size(WG)
fn prefix_copy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * nwg.x + wid.x) * WG + lid;
  if (idx >= q.rows * q.width) { return; }
  let r = idx / q.width;
  let c = idx % q.width;
  pc_y[idx] = pc_x[r * q.cols + c];
}

// ------------------- prefix_accumulate: (dy [N, d]) -> (dx [N, E], in place: += on c < d)
@group(0) @binding(1) var<storage, read> pa_dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> pa_dx: array<f32>;

@compute @workgroup_size(WG)
fn prefix_accumulate(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * nwg.x + wid.x) * WG + lid;
  if (idx >= q.rows * q.width) { return; }
  let r = idx / q.width;
  let c = idx % q.width;
  pa_dx[r * q.cols + c] += pa_dy[idx];
}

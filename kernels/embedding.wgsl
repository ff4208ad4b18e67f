// Token embedding: gather forward, deterministic scatter-add backward.
// table [V, C], ids [N] (i32), out [N, C]:
//
//   out[n, c] = table[ids[n], c]          (zeros when ids[n] is not in [0, V))
//   dtable[v, c] (+)= sum over n with ids[n] = v of dy[n, c], n increasing
//
// The backward uses no atomics. The CPU groups the positions by id (CSR, built
// in src/ops/embedding.ts) into one u32 buffer
//   groups = [ ids of the U distinct tokens (U) | offsets (U + 1) | positions (N) ]
// where the positions of distinct token u are positions[offsets[u] .. offsets[u+1])
// in increasing order. One workgroup per distinct token sums its rows of dy in
// that fixed order, so the result is bit-identical run to run, and adds the sum
// to dtable (accumulate = 1, gradient accumulation) or stores it (accumulate = 0;
// the wrapper clears dtable first so rows of absent tokens are zero).
//
// Bindings:
//   gather            (ids, table) -> (out)       1-D over N * C, 256 per workgroup
//   scatter_add       (groups, dy) -> (dtable)    one workgroup of 64 per distinct
//                                                  token, strided over C
// Workgroup grids are folded into [x, y] when they exceed the per-dimension limit.

struct Params {
  n: u32,           // N rows (tokens)
  c: u32,           // C channels
  v: u32,           // V vocabulary rows
  u: u32,           // distinct tokens (scatter_add only)
  accumulate: u32,  // scatter_add: 1 adds to dtable, 0 overwrites
}

@group(0) @binding(0) var<uniform> P: Params;

// ---------------------------------------------------------------- gather
const WG_GATHER: u32 = 256u;

@group(0) @binding(1) var<storage, read> g_ids: array<i32>;
@group(0) @binding(2) var<storage, read> g_table: array<f32>;
@group(0) @binding(3) var<storage, read_write> g_out: array<f32>;

@compute @workgroup_size(WG_GATHER)
fn gather(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_GATHER + lid;
  if (i >= P.n * P.c) { return; }
  let row = i / P.c;
  let col = i - row * P.c;
  let id = g_ids[row];
  // Out-of-range ids (only possible when ids were made on the GPU) give zeros,
  // never a read outside the table.
  var value = 0.0;
  if (id >= 0 && u32(id) < P.v) { value = g_table[u32(id) * P.c + col]; }
  g_out[i] = value;
}

// ----------------------------------------------------------- scatter_add
const WG_SCATTER: u32 = 64u;

@group(0) @binding(1) var<storage, read> s_groups: array<u32>;
@group(0) @binding(2) var<storage, read> s_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> s_dtable: array<f32>;

@compute @workgroup_size(WG_SCATTER)
fn scatter_add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let u = wid.y * nwg.x + wid.x;
  if (u >= P.u) { return; }
  let id = s_groups[u];
  let begin = s_groups[P.u + u];
  let end = s_groups[P.u + u + 1u];
  let pos_at = 2u * P.u + 1u;
  for (var col = lid; col < P.c; col += WG_SCATTER) {
    var acc = 0.0;
    for (var k = begin; k < end; k++) { acc += s_dy[s_groups[pos_at + k] * P.c + col]; }
    let at = id * P.c + col;
    if (P.accumulate != 0u) { s_dtable[at] = s_dtable[at] + acc; } else { s_dtable[at] = acc; }
  }
}

// Rotary position embedding, rotate-half form (HF Llama / Qwen2
// apply_rotary_pos_emb), forward and backward, on x [B, T, H, D] row-major with
// per-token positions pos [B, T] (i32). Only the first R = rotaryDim channels of
// each head rotate (R even, R <= D; R = D for Llama-style models); channels
// R..D-1 pass through. With half = R / 2 and inv_freq_j = theta^(-2j / R):
//
//   angle = pos * inv_freq_j                                    (j < half)
//   y_j        = x_j cos(angle) - x_{j+half} sin(angle)
//   y_{j+half} = x_{j+half} cos(angle) + x_j sin(angle)
//
// Backward is the transposed (inverse) rotation, i.e. the same with sin negated:
//   dx_j = dy_j cos + dy_{j+half} sin,  dx_{j+half} = dy_{j+half} cos - dy_j sin.
// The uniform `sgn` is +1 for forward and -1 for backward.
//
// Accurate angles. pos * inv_freq reaches ~3e4 rad at 32k positions, where an
// f32 angle is only good to ~2e-3 rad and f32 sin/cos of a large argument are
// worse. So no angle is formed on the GPU: the CPU (float64) tabulates
// cos/sin(d * 256^k * inv_freq_j) for the four base-256 digits d of |pos|
// (k = 0..3, d = 0..255), and the kernel composes the rotations of the nonzero
// digits with the angle-addition formula:
//   (c, s) <- (c c_k - s s_k, s c_k + c s_k).
// Each table entry is the correctly rounded f32 of an f64 value; at most three
// compositions add a few f32 roundings, so cos/sin are good to ~3e-7 absolute
// for every |pos| < 2^32, independent of the position. Negative positions use
// cos(-a) = cos(a), sin(-a) = -sin(a).
//
// Table: f32 [4, 256, half, 2] = (cos, sin) pairs, index (k * 256 + d) * half + j.
//
// Bindings (pos and table keep their numbers in both entry points):
//   rope         (pos, table, x) -> (y)      out of place; copies the tail R..D-1
//   rope_inplace (pos, table)    -> (x)      x rotated in place; tail untouched
// Grid: one invocation per (token, j < half), 1-D in workgroups of 256 folded
// into [x, y]; each invocation loops over the H heads of its token, so the
// table composition is done once per (token, j), not per head. Each invocation
// reads and writes only its own pair (j, j + half), so in place is safe.

const WG: u32 = 256u;

struct Params {
  tokens: u32,   // B * T
  heads: u32,    // H
  dim: u32,      // D
  half: u32,     // R / 2
  sgn: f32,      // +1 forward, -1 backward
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> pos: array<i32>;
@group(0) @binding(2) var<storage, read> rope_table: array<vec2f>;

// (cos, sin) of sgn * pos * inv_freq_j.
fn cos_sin(p: i32, j: u32) -> vec2f {
  // abs(i32 min) stays i32 min, whose bit pattern as u32 is the right 2^31.
  let a = bitcast<u32>(abs(p));
  var cs = rope_table[(a & 255u) * P.half + j];
  for (var k = 1u; k < 4u; k++) {
    let d = (a >> (8u * k)) & 255u;
    if (d != 0u) {
      let t = rope_table[(k * 256u + d) * P.half + j];
      cs = vec2f(cs.x * t.x - cs.y * t.y, cs.y * t.x + cs.x * t.y);
    }
  }
  let s = select(P.sgn, -P.sgn, p < 0);
  return vec2f(cs.x, s * cs.y);
}

fn flat(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

@group(0) @binding(3) var<storage, read> rope_x: array<f32>;
@group(0) @binding(4) var<storage, read_write> rope_y: array<f32>;

@compute @workgroup_size(WG)
fn rope(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i >= P.tokens * P.half) { return; }
  let tok = i / P.half;
  let j = i % P.half;
  let cs = cos_sin(pos[tok], j);
  let rot = 2u * P.half;
  for (var h = 0u; h < P.heads; h++) {
    let base = (tok * P.heads + h) * P.dim;
    let a = rope_x[base + j];
    let b = rope_x[base + j + P.half];
    rope_y[base + j] = a * cs.x - b * cs.y;
    rope_y[base + j + P.half] = b * cs.x + a * cs.y;
    // Pass-through channels R..D-1, spread over the invocations of this token.
    for (var c = rot + j; c < P.dim; c += P.half) { rope_y[base + c] = rope_x[base + c]; }
  }
}

@group(0) @binding(3) var<storage, read_write> rope_io: array<f32>;

@compute @workgroup_size(WG)
fn rope_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i >= P.tokens * P.half) { return; }
  let tok = i / P.half;
  let j = i % P.half;
  let cs = cos_sin(pos[tok], j);
  for (var h = 0u; h < P.heads; h++) {
    let base = (tok * P.heads + h) * P.dim;
    let a = rope_io[base + j];
    let b = rope_io[base + j + P.half];
    rope_io[base + j] = a * cs.x - b * cs.y;
    rope_io[base + j + P.half] = b * cs.x + a * cs.y;
  }
}

// Online log-sum-exp (shared by softmax, cross_entropy and contrastive):
// a running max m and the sum s of exp(v - m), one exp per value, merged
// exactly across invocations. A state that has seen nothing has s = 0.
// reduce_ms merges a workgroup's partial states through red_m / red_s
// (declared here; the including kernel defines WG, a power of two, and may
// reuse red_s for plain sums).
struct MS { m: f32, s: f32 }

var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;

// s rescaled to a max m >= a.m; 0 when a has seen nothing.
fn rescaled(a: MS, m: f32) -> f32 {
  return select(0.0, a.s * exp(a.m - m), a.s > 0.0);
}

// Adds one value.
fn push(a: MS, v: f32) -> MS {
  if (v > a.m) { return MS(v, rescaled(a, v) + 1.0); }
  return MS(a.m, a.s + exp(v - a.m));
}

fn merge(a: MS, b: MS) -> MS {
  let m = max(a.m, b.m);
  return MS(m, rescaled(a, m) + rescaled(b, m));
}

// Merges every invocation's partial (m, s) by a tree over the workgroup; all
// invocations get the row's. Call from uniform control flow (it has barriers).
fn reduce_ms(lid: u32, part: MS) -> MS {
  red_m[lid] = part.m;
  red_s[lid] = part.s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let r = merge(MS(red_m[lid], red_s[lid]), MS(red_m[lid + stride], red_s[lid + stride]));
      red_m[lid] = r.m;
      red_s[lid] = r.s;
    }
    workgroupBarrier();
  }
  return MS(red_m[0], red_s[0]);
}

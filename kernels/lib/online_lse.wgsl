// Online log-sum-exp (shared by softmax, cross_entropy and contrastive):
// a running max m and the sum s of exp(v - m), one exp per value, merged
// exactly across invocations. A state that has seen nothing has s = 0.
struct MS { m: f32, s: f32 }

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

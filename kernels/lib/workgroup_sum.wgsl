// Workgroup tree sum (shared by rmsnorm and l2norm); the including file
// defines WG, the workgroup size (a power of two).
var<workgroup> red: array<f32, WG>;

// Sums red[0..WG) into red[0] in a fixed order. Called once per workgroup in
// uniform control flow, after every invocation has written red[lid].
fn reduce_sum(lid: u32) -> f32 {
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { red[lid] += red[lid + s]; }
  }
  workgroupBarrier();
  return red[0];
}

// Batched matrix multiply with subgroup shuffles (needs the `subgroups`
// feature, hence its own file: `enable` must open the module).
//
//   C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b]      (layout: matmul.wgsl)
//
// regblock_sg  regblock (matmul.wgsl) with A's loads shared across the
//              subgroup. A workgroup is exactly one subgroup of LANES
//              invocations and computes a TM x (LANES * TN) block of C, lane l
//              owning columns n0 + j * LANES + l. In regblock every lane loads
//              all TM values of A for each k (the same addresses in every
//              lane); here lane l loads only rows m0 + s * LANES + l (TM / LANES
//              loads) and each row's value reaches the other lanes through
//              subgroupShuffle, a register move on a SIMD CPU driver. Per
//              k-step and lane: TM / LANES + TN loads (10 instead of 24 for a
//              16 x 8 tile) for TM * TN multiply-adds.
//              Needs subgroup size == LANES (checked by src/ops/matmul.ts)
//              and TM a multiple of LANES. Rows and columns past the edge are
//              clamped when loading and skipped when storing, as in regblock;
//              the sum over k runs in the same order, so the result is
//              bit-identical to regblock's.
//              Grid: [ceil(N / (LANES * TN)), ceil(M / TM), batch].
enable subgroups;

// #include "lib/matmul_common.wgsl"

const ROWS_PER_LANE: u32 = TM / LANES;

@compute @workgroup_size(LANES)
fn regblock_sg(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let sl = slice(wid.z);
  let b = sl.b;
  let m0 = wid.y * TM;
  let n0 = wid.x * LANES * TN + lane;
  let baseA = b * p.strideA;
  let baseB = b * p.strideB;

  // This lane's rows of A (clamped), and its columns of B (clamped).
  var my_rows: array<u32, ROWS_PER_LANE>;
  for (var s = 0u; s < ROWS_PER_LANE; s++) { my_rows[s] = min(m0 + s * LANES + lane, p.M - 1u); }
  var cols: array<u32, TN>;
  for (var j = 0u; j < TN; j++) { cols[j] = min(n0 + j * LANES, p.N - 1u); }

  var acc: array<array<f32, TN>, TM>;
  for (var k = sl.k0; k < sl.k1; k++) {
    var bk: array<f32, TN>;
    for (var j = 0u; j < TN; j++) { bk[j] = b_at(baseB, k, cols[j]); }
    var ak: array<f32, ROWS_PER_LANE>;
    for (var s = 0u; s < ROWS_PER_LANE; s++) { ak[s] = a_at(baseA, my_rows[s], k); }
    for (var i = 0u; i < TM; i++) {
      // Row m0 + i was loaded by lane i % LANES as its value number i / LANES.
      let a = subgroupShuffle(ak[i / LANES], i % LANES);
      for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a, bk[j], acc[i][j]); }
    }
  }

  store_block(acc, sl.out, m0, n0);
}

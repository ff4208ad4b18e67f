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
//
// regblock_sg_n4  regblock_sg for a B that is not transposed, loaded as vec4
//              along n: lane l owns the 4 neighbouring columns n0 + 4 l + c
//              (c < 4) of each group of 4 * LANES, so the lanes' vec4 loads
//              are contiguous across the subgroup (one wide load on lavapipe,
//              as in the vec4 elementwise ops) and each k-step needs TN / 4
//              loads of B instead of TN. The accumulators are vec4s; each
//              component sums in the same order, so the result is
//              bit-identical to regblock's. Needs N, ldb and B's batch stride
//              multiples of 4, TN a multiple of 4 and an f32 B (checked by
//              src/ops/matmul.ts). Measured on lavapipe: 20-35% faster than
//              regblock_sg at 1024³, [2048x576]x[576x1536] and dY^T X.
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

  store_block(acc, wid.z, m0, n0);
}

// ---------------------------------------------------------- regblock_sg_n4
@group(0) @binding(2) var<storage, read> B4n: array<vec4<f32>>; // B (not transposed) as vec4 along n
// Column groups of 4 per lane; at least 1 so the module compiles for the
// other entry points' tiles (regblock_sg_n4 itself runs with TN % 4 == 0).
const TN4: u32 = max(1u, TN / 4u);

@compute @workgroup_size(LANES)
fn regblock_sg_n4(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let sl = slice(wid.z);
  let b = sl.b;
  let m0 = wid.y * TM;
  // This lane owns columns n0 + j * 4 * LANES + c, c < 4, j < TN / 4.
  let n0 = wid.x * LANES * TN + 4u * lane;
  let baseA = b * p.strideA;
  let baseB = b * p.strideB;
  var my_rows: array<u32, ROWS_PER_LANE>;
  for (var s = 0u; s < ROWS_PER_LANE; s++) { my_rows[s] = min(m0 + s * LANES + lane, p.M - 1u); }
  var cols4: array<u32, TN4>;
  // Clamped to the last whole vec4 of a row (N % 4 == 0): a real, finite element.
  for (var j = 0u; j < TN4; j++) { cols4[j] = min(n0 + j * 4u * LANES, p.N - 4u); }

  var acc: array<array<vec4<f32>, TN4>, TM>;
  for (var k = sl.k0; k < sl.k1; k++) {
    var bk: array<vec4<f32>, TN4>;
    for (var j = 0u; j < TN4; j++) { bk[j] = B4n[(baseB + k * p.ldb + cols4[j]) / 4u]; }
    var ak: array<f32, ROWS_PER_LANE>;
    for (var s = 0u; s < ROWS_PER_LANE; s++) { ak[s] = a_at(baseA, my_rows[s], k); }
    for (var i = 0u; i < TM; i++) {
      let a = subgroupShuffle(ak[i / LANES], i % LANES);
      for (var j = 0u; j < TN4; j++) { acc[i][j] = fma(vec4(a), bk[j], acc[i][j]); }
    }
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < TN4; j++) {
      let n = n0 + j * 4u * LANES;
      for (var c = 0u; c < 4u; c++) {
        if (n + c < p.N) { store(wid.z, m, n + c, acc[i][j][c]); }
      }
    }
  }
}

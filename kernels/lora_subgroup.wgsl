// LoRA's fused two-part matmul with subgroup shuffles (needs the `subgroups`
// feature, hence its own file). The math, operand layouts and dropout mask are
// in lora.wgsl's header; the tiling is matmul_subgroup.wgsl's regblock_sg: a
// workgroup is one subgroup of LANES invocations, lane l loads only the rows
// m0 + s * LANES + l of A1 / A2 and passes each value to the other lanes with
// subgroupShuffle. The sums run in the same order as lora.wgsl's, so the
// results are bit-identical. Needs subgroup size == LANES and TM a multiple
// of LANES (checked by src/ops/lora.ts).
enable subgroups;

// #include "lib/lora_common.wgsl"

const ROWS_PER_LANE: u32 = TM / LANES;

// The accumulators of the block at row m0, this lane's first column n0: the
// K2 part (A2 B2, masked when DROPOUT), then the K1 part (A1 B1). The two
// loops differ only in their operands (WGSL has no pointers to storage
// arrays as parameters, and a helper taking the accumulators by pointer kept
// them out of registers).
fn block_sg(m0: u32, n0: u32, lane: u32) -> array<array<f32, TN>, TM> {
  var my_rows: array<u32, ROWS_PER_LANE>;
  for (var s = 0u; s < ROWS_PER_LANE; s++) { my_rows[s] = min(m0 + s * LANES + lane, p.M - 1u); }
  var cols: array<u32, TN>;
  for (var j = 0u; j < TN; j++) { cols[j] = min(n0 + j * LANES, p.N - 1u); }
  var acc: array<array<f32, TN>, TM>;
  for (var k = 0u; k < p.K2; k++) {
    var bk: array<f32, TN>;
    for (var j = 0u; j < TN; j++) { bk[j] = b2_at(k, cols[j]); }
    var ak: array<f32, ROWS_PER_LANE>;
    for (var s = 0u; s < ROWS_PER_LANE; s++) { ak[s] = A2[my_rows[s] * p.K2 + k]; }
    for (var i = 0u; i < TM; i++) {
      let a = subgroupShuffle(ak[i / LANES], i % LANES);
      for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a, bk[j], acc[i][j]); }
    }
  }
  if (DROPOUT) { apply_mask(&acc, m0, n0); }
  for (var k = 0u; k < p.K1; k++) {
    var bk: array<f32, TN>;
    for (var j = 0u; j < TN; j++) { bk[j] = b1_at(k, cols[j]); }
    var ak: array<f32, ROWS_PER_LANE>;
    for (var s = 0u; s < ROWS_PER_LANE; s++) { ak[s] = A1[my_rows[s] * p.K1 + k]; }
    for (var i = 0u; i < TM; i++) {
      let a = subgroupShuffle(ak[i / LANES], i % LANES);
      for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a, bk[j], acc[i][j]); }
    }
  }
  return acc;
}

@compute @workgroup_size(LANES)
fn lora_fused_sg(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let m0 = wid.y * TM;
  let n0 = wid.x * LANES * TN + lane;
  store_block(block_sg(m0, n0, lane), m0, n0);
}

@compute @workgroup_size(LANES)
fn lora_fused_bias_sg(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let m0 = wid.y * TM;
  let n0 = wid.x * LANES * TN + lane;
  store_block_bias(block_sg(m0, n0, lane), m0, n0);
}

// The adapter's measured peaks, the yardsticks of the kernels table's "% peak":
//
//   fma   FP32 multiply-add throughput. Every invocation keeps CHAINS vec4
//         accumulators in registers and runs `iters` rounds of UNROLL updates
//         a_j = fma(a_j, x, y) of each (independent chains, so the pipeline is
//         never waiting on one result; the written-out unroll keeps the loop's
//         own compare and branch, which lavapipe runs per lane group, rare);
//         x, y come from a uniform so nothing folds, and the accumulators' sum
//         is stored once at the end.
//         flops = 2 (mul + add) * 4 (vec4) * CHAINS * UNROLL * iters * invocations,
//         over FMA_GROUPS workgroups of 64 (enough to fill a large GPU).
//         On lavapipe, of CHAINS 1-8 x UNROLL 1-32, 6 x 4 was the fastest and
//         the steadiest (~125-137 GFLOP/s on the 2-core machine; 2 x 4 ~100,
//         1 x 8 ~30, no unroll 20-40).
//         lavapipe has no fused multiply-add: LLVM lowers each fma to a mul and
//         an add (bench/NOTES.md), still counted as 2 flops.
//   copy  memory bandwidth: dst[i] = src[i] over vec4 elements of a buffer of
//         up to 256 MiB (beyond any cache), a grid-stride loop over COPY_GROUPS
//         workgroups of 256. GB/s counts the bytes read plus the bytes written.
// A peak is the fastest timed iteration (tinybench's minimum), not the mean:
// the highest rate the adapter showed.
//
// Both kernels are bench-only, so they go to the raw device (gpu.device), not
// through src/gpu's kernels/*.wgsl loader; each call is one submit, and the
// wait is gpu.sync() (quietWait), like every kernel case. `iters` is scaled so
// one fma call lasts about 20 ms on this adapter.
import type { Gpu } from '../src/gpu/gpu.ts';
import { timeBatched } from './timing.ts';

const CHAINS = 6;
const UNROLL = 4;
const FMA_GROUPS = 8192;
const FMA_LANES = 64;
const COPY_GROUPS = 4096;
const COPY_LANES = 256;
const COPY_MAX_BYTES = 256 * 2 ** 20;

const acc = Array.from({ length: CHAINS }, (_, j) => j);
const FMA_WGSL = /* wgsl */ `
struct Params { iters: u32, pad: u32, x: f32, y: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(${FMA_LANES})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let s = f32(gid.x) * 1e-6;
  let x = vec4<f32>(p.x);
  let y = vec4<f32>(p.y);
${acc.map((j) => `  var a${j} = vec4<f32>(s + ${4 * j}.0, s + ${4 * j + 1}.0, s + ${4 * j + 2}.0, s + ${4 * j + 3}.0);`).join('\n')}
  for (var k = 0u; k < p.iters; k++) {
${Array.from({ length: UNROLL }, () => acc.map((j) => `    a${j} = fma(a${j}, x, y);`).join('\n')).join('\n')}
  }
  out[gid.x] = ${acc.map((j) => `a${j}`).join(' + ')};
}
`;

const COPY_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(${COPY_LANES})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${COPY_LANES}u;
  for (var i = gid.x; i < arrayLength(&src); i += stride) {
    dst[i] = src[i];
  }
}
`;

export interface Peaks {
  /** FP32 multiply-add peak, GFLOP/s. */
  gflops: number;
  /** vec4 copy bandwidth, GB/s (read + write). */
  gbs: number;
  /** What was run, for the header. */
  fma: string;
  copy: string;
}

const STORAGE = 0x80;
const UNIFORM = 0x40;
const COPY_DST = 0x8;

function pipeline(device: GPUDevice, code: string, label: string): GPUComputePipeline {
  return device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code, label }), entryPoint: 'main' }, label });
}

/** One submit of one dispatch. */
function submitter(device: GPUDevice, pipe: GPUComputePipeline, group: GPUBindGroup, workgroups: number): () => void {
  return () => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(workgroups);
    pass.end();
    device.queue.submit([enc.finish()]);
  };
}

async function fmaPeak(gpu: Gpu, minMs: number): Promise<{ gflops: number; desc: string }> {
  const { device } = gpu;
  const params = device.createBuffer({ size: 16, usage: UNIFORM | COPY_DST, label: 'peak.fma.params' });
  const out = device.createBuffer({ size: FMA_GROUPS * FMA_LANES * 16, usage: STORAGE, label: 'peak.fma.out' });
  try {
    const pipe = pipeline(device, FMA_WGSL, 'peak.fma');
    const group = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: params } }, { binding: 1, resource: { buffer: out } }] });
    const run = submitter(device, pipe, group, FMA_GROUPS);
    const setIters = (iters: number) => {
      const u = new ArrayBuffer(16);
      new Uint32Array(u, 0, 2).set([iters, 0]);
      new Float32Array(u, 8, 2).set([0.999999, 1e-6]); // a -> a x + y stays bounded
      device.queue.writeBuffer(params, 0, u);
    };
    // Size one call to ~20 ms: time a short one (after a warm-up), scale.
    let iters = 64;
    setIters(iters);
    run();
    await gpu.sync();
    const t0 = performance.now();
    run();
    await gpu.sync();
    const once = Math.max(performance.now() - t0, 0.05);
    iters = Math.max(64, Math.min(1 << 20, Math.round((iters * 20) / once)));
    setIters(iters);
    const { min: ms } = await timeBatched(run, () => gpu.sync(), minMs);
    const flops = 2 * 4 * CHAINS * UNROLL * iters * FMA_GROUPS * FMA_LANES;
    return { gflops: flops / ms / 1e6, desc: `${FMA_GROUPS} x ${FMA_LANES} invocations, ${CHAINS} vec4 fma chains x ${UNROLL * iters} steps` };
  } finally {
    params.destroy();
    out.destroy();
  }
}

async function copyPeak(gpu: Gpu, minMs: number): Promise<{ gbs: number; desc: string }> {
  const { device } = gpu;
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize, COPY_MAX_BYTES);
  const bytes = Math.floor(limit / 16) * 16;
  const src = device.createBuffer({ size: bytes, usage: STORAGE | COPY_DST, label: 'peak.copy.src' });
  const dst = device.createBuffer({ size: bytes, usage: STORAGE, label: 'peak.copy.dst' });
  try {
    const pipe = pipeline(device, COPY_WGSL, 'peak.copy');
    const group = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: dst } }] });
    const workgroups = Math.min(COPY_GROUPS, Math.ceil(bytes / 16 / COPY_LANES));
    const { min: ms } = await timeBatched(submitter(device, pipe, group, workgroups), () => gpu.sync(), minMs);
    return { gbs: (2 * bytes) / ms / 1e6, desc: `vec4 copy of ${(bytes / 2 ** 20).toFixed(0)} MiB, ${workgroups} x ${COPY_LANES} invocations` };
  } finally {
    src.destroy();
    dst.destroy();
  }
}

/** Measures both peaks (each timed for at least minMs). */
export async function measurePeaks(gpu: Gpu, minMs: number): Promise<Peaks> {
  const f = await fmaPeak(gpu, minMs);
  const c = await copyPeak(gpu, minMs);
  return { gflops: f.gflops, gbs: c.gbs, fma: f.desc, copy: c.desc };
}

// lco doctor: is WebGPU usable here, and is every kernel right on this adapter?
// Prints the adapter, its features and limits, runs each kernel once against
// its float64 reference (pass/fail with the error as a fraction of the stated
// tolerance) and times one 1024^3 matmul. Exit code 0 when every check passes.
import { Gpu } from '../gpu/gpu.ts';
import { limitNames, WANTED_FEATURES } from '../gpu/device.ts';
import { matmul } from '../ops/matmul.ts';
import { runKernelChecks, type CheckResult } from '../doctor/checks.ts';

const HELP = `usage: lco doctor [--limits] [--no-bench]
  --limits    print every adapter limit (default: the ones kernels depend on)
  --no-bench  skip the matmul GFLOP/s measurement
`;

const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'minUniformBufferOffsetAlignment',
];

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write(HELP);
    return 0;
  }
  let gpu: Gpu;
  try {
    gpu = await Gpu.create();
  } catch (err) {
    process.stderr.write(`lco doctor: no usable WebGPU device.\n  ${(err as Error).message}\n`);
    return 2;
  }
  try {
    const out = (s = '') => process.stdout.write(`${s}\n`);
    out(`adapter   ${gpu.adapterName}${gpu.isCpuAdapter ? ' (CPU implementation)' : ''}`);
    out(`features  ${[...gpu.features].sort().join(', ')}`);
    const missing = WANTED_FEATURES.filter((f) => !gpu.hasFeature(f));
    if (missing.length > 0) out(`          (not available: ${missing.join(', ')})`);
    out('limits');
    const names = args.includes('--limits') ? limitNames(gpu.limits) : KEY_LIMITS;
    const limits = gpu.limits as unknown as Record<string, number>;
    for (const n of names) out(`  ${n.padEnd(36)} ${limits[n]}`);

    out('\nkernels vs float64 reference');
    const results = await runKernelChecks(gpu, (r: CheckResult) =>
      out(`  ${r.ok ? 'pass' : 'FAIL'}  ${`${r.family}.${r.op}`.padEnd(34)} ${r.detail} (${r.ms.toFixed(0)} ms)`),
    );
    const failed = results.filter((r) => !r.ok).length;
    out(`  ${results.length - failed} passed, ${failed} failed`);

    if (!args.includes('--no-bench')) {
      const n = 1024;
      const a = gpu.tensor(Float32Array.from({ length: n * n }, (_, i) => Math.sin(i) * 0.5), [n, n], 'f32', 'A');
      const b = gpu.tensor(Float32Array.from({ length: n * n }, (_, i) => Math.cos(i) * 0.5), [n, n], 'f32', 'B');
      const c = gpu.empty([n, n], 'f32', 'C');
      matmul(gpu, a, b, { out: c }); // compile and warm up
      await gpu.sync();
      const reps = 3;
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) matmul(gpu, a, b, { out: c });
      await gpu.sync();
      const ms = (performance.now() - t0) / reps;
      out(`\nmatmul ${n}x${n}x${n} f32: ${ms.toFixed(1)} ms, ${((2 * n ** 3) / ms / 1e6).toFixed(2)} GFLOP/s`);
      [a, b, c].forEach((t) => t.release());
    }
    return failed === 0 ? 0 : 1;
  } finally {
    gpu.destroy();
  }
}

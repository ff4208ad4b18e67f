// The kernel checks of `lco doctor`: every kernel family's main ops, forward
// and backward, run once on small seeded inputs of awkward sizes and compared
// with the float64 references in reference/. Outputs start as NaN so an
// element a kernel never writes fails the check. One check's exception (a
// refused input, a WebGPU validation error, a lost device) fails that check
// only. About 55 pipelines compile on the way (5 of them matmul): ~7.5 s on
// lavapipe with a cold Mesa shader cache (~3 s of it attention's four, which
// run with the planned tiles), under 0.5 s with a warm one.
import type { Gpu } from '../gpu/gpu.ts';
import { describeComparison } from './compare.ts';
import { Scope, type KernelCheck } from './scope.ts';
import { adamwChecks } from './families/adamw.ts';
import { attentionChecks } from './families/attention.ts';
import { contrastiveChecks } from './families/contrastive.ts';
import { crossEntropyChecks } from './families/cross_entropy.ts';
import { elementwiseChecks } from './families/elementwise.ts';
import { embeddingChecks } from './families/embedding.ts';
import { l2normChecks } from './families/l2norm.ts';
import { loraChecks } from './families/lora.ts';
import { matmulChecks } from './families/matmul.ts';
import { poolingChecks } from './families/pooling.ts';
import { rmsnormChecks } from './families/rmsnorm.ts';
import { ropeChecks } from './families/rope.ts';
import { softmaxChecks } from './families/softmax.ts';

export type { KernelCheck } from './scope.ts';
export { compare, describeComparison, worstOf, type Comparison, type Tolerance } from './compare.ts';

export interface CheckResult {
  /** Kernel family: "matmul", "softmax", ... */
  family: string;
  /** The op checked: "forward", "backward", "regblock4 (x W^T, transB)", ... */
  op: string;
  /** maxError <= 1 and no NaN where the reference has a number. */
  ok: boolean;
  /**
   * Worst |gpu - ref| / (atol + rtol * scale) over the op's outputs: 1 is the
   * edge of the tolerance. Infinity for NaN or Inf outputs, NaN when the check threw.
   */
  maxError: number;
  /** The rtol of the output with the worst error (0: must match exactly; NaN when the check threw). */
  tolerance: number;
  /** One line: "max err 0.03x tol (rtol 1e-5)", the failing element, or the exception. */
  detail: string;
  /** Wall time of the check, pipeline compiles included. */
  ms: number;
}

/** Every family's checks, in the order they run. */
export const KERNEL_CHECKS: readonly KernelCheck[] = [
  ...matmulChecks,
  ...elementwiseChecks,
  ...softmaxChecks,
  ...rmsnormChecks,
  ...ropeChecks,
  ...embeddingChecks,
  ...crossEntropyChecks,
  ...l2normChecks,
  ...poolingChecks,
  ...attentionChecks,
  ...loraChecks,
  ...contrastiveChecks,
  ...adamwChecks,
];

/** Runs the given checks one after another; `onResult` sees each result as it comes. */
export async function runChecks(gpu: Gpu, checks: readonly KernelCheck[], onResult?: (r: CheckResult) => void): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    const scope = new Scope(gpu);
    const t0 = performance.now();
    let result: CheckResult;
    try {
      const c = await check.run(scope);
      result = { family: check.family, op: check.op, ok: c.ok, maxError: c.ratio, tolerance: c.rtol, detail: describeComparison(c), ms: 0 };
    } catch (err) {
      // Submit what the failed check left recorded, so its WebGPU errors are
      // raised (and swallowed) here instead of failing the next check.
      await gpu.sync().catch(() => {});
      result = { family: check.family, op: check.op, ok: false, maxError: NaN, tolerance: NaN, detail: oneLine(err), ms: 0 };
    } finally {
      scope.release();
    }
    result.ms = performance.now() - t0;
    results.push(result);
    onResult?.(result);
  }
  return results;
}

/** Checks every kernel family on `gpu` against the float64 references. */
export async function runKernelChecks(gpu: Gpu, onResult?: (r: CheckResult) => void): Promise<CheckResult[]> {
  return runChecks(gpu, KERNEL_CHECKS, onResult);
}

/** An exception as one line (GpuError messages span several), kept to a readable length. */
function oneLine(err: unknown): string {
  const text = (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).replace(/\s*\n\s*/g, '; ');
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}

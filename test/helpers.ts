// Shared test helpers: one Gpu per test file, NaN-poisoned outputs, seeded
// random data that is never zero, and a comparison with a stated tolerance.
import { execFile } from 'node:child_process';
import { afterAll, expect } from 'vitest';
import { Gpu } from '../src/gpu/gpu.ts';
import type { DType, Tensor } from '../src/gpu/tensor.ts';

let shared: Promise<Gpu> | null = null;

/** The file's Gpu, created on first use and destroyed after the file's tests. */
export function useGpu(): () => Promise<Gpu> {
  afterAll(async () => {
    if (shared) (await shared).destroy();
    shared = null;
  });
  return () => (shared ??= Gpu.create());
}

// The seeded generators are the ones `lco doctor` ships with.
export { rng, randomData, randomInts } from '../src/doctor/compare.ts';
import { rng as rngFor } from '../src/doctor/compare.ts';

/** An output tensor whose every element is NaN, so a missed write shows up. */
export function poisoned<D extends DType = 'f32'>(gpu: Gpu, shape: readonly number[], dtype: D = 'f32' as D, label = 'poisoned'): Tensor<D> {
  const t = gpu.empty(shape, dtype, label);
  const n = t.size;
  if (dtype === 'f32') gpu.write(t, new Float32Array(n).fill(NaN));
  else gpu.write(t, new Uint32Array(n).fill(0x7fc00000)); // a NaN bit pattern in integer buffers too
  return t;
}

export interface Tolerance {
  /** Allowed |actual - expected| relative to `scale` (float32 relative error). */
  rtol: number;
  /** Absolute floor added to the allowed error (for outputs that are exactly zero). */
  atol?: number;
}

/**
 * Asserts |actual[i] - expected[i]| <= atol + rtol * scale[i] everywhere, where
 * scale is the magnitude the float32 error grows with (|expected| by default;
 * for a dot product, sum_k |a_k b_k|). NaN / Inf where the reference is finite
 * fail. Reports the worst element.
 */
export function expectClose(
  what: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  scale?: ArrayLike<number>,
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const atol = tol.atol ?? 0;
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Number.isFinite(e)) {
      if (!Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e))) {
        worst = i;
        worstRatio = Infinity;
        break;
      }
      continue;
    }
    const allowed = atol + tol.rtol * Math.abs(scale ? scale[i] : e);
    const err = Math.abs(a - e);
    const ratio = Number.isFinite(a) ? (allowed > 0 ? err / allowed : err > 0 ? Infinity : 0) : Infinity;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (worstRatio > 1) {
    const msg = `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (error ${worstRatio.toFixed(2)}x the tolerance rtol=${tol.rtol} atol=${atol})`;
    expect.fail(msg);
  }
}

/** Sizes that stress kernels: 1, primes, around and above a workgroup (256). */
export const AWKWARD_SIZES = [1, 2, 3, 7, 13, 31, 64, 97, 255, 256, 257, 1000, 4099];

/** Runs `lco ARGS` in a child process (bin/lco.mjs with this Node); never rejects. */
export function runLco(args: string[], timeout = 180_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const root = new URL('..', import.meta.url).pathname;
  return new Promise((resolve) => {
    execFile(process.execPath, [`${root}bin/lco.mjs`, ...args], { cwd: root, timeout }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** max |a[i]| (0 for an empty array). */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * Indices to check by central differences: every index of a tensor of up to
 * `fullUpTo` entries, else a seeded sample of `sample` that includes the
 * first and the last.
 */
export function sampleIndices(n: number, seed: number, fullUpTo = 100, sample = 40): number[] {
  if (n <= fullUpTo) return Array.from({ length: n }, (_, i) => i);
  const r = rngFor(seed);
  const set = new Set([0, n - 1]);
  while (set.size < sample) set.add(Math.floor(r() * n));
  return [...set].sort((a, b) => a - b);
}

/**
 * Compares grads to central differences of loss() in every tensor of `params`
 * (perturbed in place and restored), on sampleIndices of each tensor; an
 * entry passes when |grad - fd| <= rtol * max|grad of the tensor| + atol.
 * Every gradient must be nonzero (the tensor reaches the loss). Returns the
 * worst error / tolerance ratio.
 */
export function checkAgainstDifferences(
  params: Map<string, Float64Array>, grads: Map<string, Float64Array>, loss: () => number, seed: number,
  tol: { step: number; rtol: number; atol: number },
): number {
  let worst = 0;
  for (const [name, grad] of grads) {
    const p = params.get(name);
    if (!p) return expect.fail(`gradient ${name} has no parameter`);
    expect(grad.length, `${name}: gradient length`).toBe(p.length);
    const scale = maxAbs(grad);
    expect(scale, `${name}: the gradient is not zero (the tensor reaches the loss)`).toBeGreaterThan(1e-5);
    for (const i of sampleIndices(p.length, seed + name.length)) {
      const saved = p[i];
      p[i] = saved + tol.step;
      const up = loss();
      p[i] = saved - tol.step;
      const down = loss();
      p[i] = saved;
      const fd = (up - down) / (2 * tol.step);
      const ratio = Math.abs(grad[i] - fd) / (tol.rtol * scale + tol.atol);
      if (ratio > 1) expect.fail(`${name}[${i}]: backward ${grad[i]}, central difference ${fd} (max |grad| ${scale}; ${ratio.toFixed(1)}x the tolerance)`);
      worst = Math.max(worst, ratio);
    }
  }
  return worst;
}

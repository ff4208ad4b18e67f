import { describe, expect, it } from 'vitest';
import { KERNEL_CHECKS, compare, runChecks, runKernelChecks, worstOf, type CheckResult } from '../src/doctor/checks.ts';
import { useGpu } from './helpers.ts';

const gpu = useGpu();

const FAMILIES = ['matmul', 'elementwise', 'softmax', 'rmsnorm', 'rope', 'embedding', 'cross_entropy', 'l2norm', 'pooling', 'attention', 'lora',
  'contrastive', 'adamw'];

describe('lco doctor kernel checks', () => {
  it('every check of every kernel family passes, and each result is reported as it comes', async () => {
    const g = await gpu();
    const seen: CheckResult[] = [];
    const t0 = performance.now();
    const results = await runKernelChecks(g, (r) => seen.push(r));
    const wall = performance.now() - t0;
    console.log(results.map((r) => `${r.ok ? 'ok  ' : 'FAIL'} ${r.family} ${r.op}: ${r.detail} [${r.ms.toFixed(0)} ms]`).join('\n'));
    console.log(`${results.length} checks in ${(wall / 1000).toFixed(2)} s`);
    expect(seen).toEqual(results);
    expect(results).toHaveLength(KERNEL_CHECKS.length);
    for (const r of results) {
      expect(r.ok, `${r.family} ${r.op}: ${r.detail}`).toBe(true);
      expect(r.maxError).toBeLessThanOrEqual(1);
    }
    expect([...new Set(results.map((r) => r.family))].sort()).toEqual([...FAMILIES].sort());
    // The matmul family covers each version, a transposed case and the backward.
    const matmulOps = results.filter((r) => r.family === 'matmul').map((r) => r.op).join(' | ');
    for (const word of ['naive', 'regblock', 'regblock4', 'trans', 'backward']) expect(matmulOps).toContain(word);
    // Every family checks a backward (adamw's "backward" is its optimizer step).
    for (const f of FAMILIES.filter((f) => f !== 'adamw')) {
      expect(results.some((r) => r.family === f && /backward/.test(r.op)), `${f} has a backward check`).toBe(true);
    }
  });

  it('releases every tensor it makes: a second run leaves the pool\'s live bytes unchanged', async () => {
    const g = await gpu();
    await runKernelChecks(g); // the first run may leave caches an op keeps for the Gpu's life (rope's table)
    const live = g.pool.stats().liveBytes;
    await runKernelChecks(g);
    expect(g.pool.stats().liveBytes).toBe(live);
  });

  it('a wrong value, a NaN, an Inf or a wrong length fails the comparison', () => {
    const expected = [1, 2, 3, 4];
    const good = compare('y', Float32Array.from([1, 2, 3, 4.00001]), expected, { rtol: 1e-5 });
    expect(good.ok).toBe(true);
    expect(good.ratio).toBeLessThanOrEqual(1);

    const wrong = compare('y', [1, 2, 3.1, 4], expected, { rtol: 1e-5 });
    expect(wrong.ok).toBe(false);
    expect(wrong.index).toBe(2);
    expect(wrong.ratio).toBeGreaterThan(1000);

    const unwritten = compare('y', [1, NaN, 3, 4], expected, { rtol: 1e-5 });
    expect(unwritten.ok).toBe(false);
    expect(unwritten.nan).toBe(true);
    expect(unwritten.index).toBe(1);

    expect(compare('y', [1, 2, Infinity, 4], expected, { rtol: 1 }).ok).toBe(false);
    expect(compare('y', [1, 2, 3], expected, { rtol: 1 }).ok).toBe(false);
    // An exact check refuses the smallest difference; a scale widens the allowance.
    expect(compare('i', [0, 1], [0, 1.0000001], { rtol: 0 }).ok).toBe(false);
    expect(compare('y', [1.5], [1], { rtol: 1e-3 }, [1000]).ok).toBe(true);
    // One failing output fails the op.
    expect(worstOf(good, unwritten).ok).toBe(false);
    expect(worstOf(good, wrong).index).toBe(2);
  });

  it('a check that throws, or that finds a wrong result, fails alone without stopping the rest', async () => {
    const g = await gpu();
    const results = await runChecks(g, [
      { family: 'test', op: 'throws', run: async () => { throw new Error('kernel exploded'); } },
      { family: 'test', op: 'refused input', run: async (s) => { s.tensor([1, 2, 3], [2, 2]); throw new Error('unreachable'); } },
      { family: 'test', op: 'wrong', run: async (s) => compare('y', await s.poisoned([3]).read(), [1, 2, 3], { rtol: 1e-5 }) },
      KERNEL_CHECKS.find((c) => c.family === 'softmax')!,
    ]);
    expect(results.map((r) => r.ok)).toEqual([false, false, false, true]);
    expect(results[0].detail).toContain('kernel exploded');
    expect(results[1].detail).toMatch(/got 3 values, expected 4/);
    expect(results[2].detail).toMatch(/NaN/);
    expect(Number.isNaN(results[0].maxError)).toBe(true);
    expect(results[2].maxError).toBe(Infinity);
  });
});

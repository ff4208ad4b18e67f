// Gpu.profileBegin / profileEnd: per-kernel GPU time from timestamp queries.
import { describe, expect, it } from 'vitest';
import { axpby, scale } from '../src/ops/elementwise.ts';
import { useGpu } from './helpers.ts';

const gpu = useGpu();

describe('per-kernel profile', () => {
  it('counts every dispatch by entry point and by label, and leaves results intact', async () => {
    const g = await gpu();
    if (!g.hasFeature('timestamp-query')) {
      expect(() => g.profileBegin()).toThrow(/no timestamp-query/);
      return;
    }
    const x = g.tensor(Float32Array.from({ length: 1000 }, (_, i) => i), [1000]);
    g.profileBegin();
    const y = scale(g, 2, x);
    const z = axpby(g, 1, y, 1, x);
    const w = axpby(g, 1, z, -3, x);
    const byEntry = await g.profileEnd();
    expect(byEntry.map((r) => [r.name, r.count]).sort()).toEqual([['elementwise.axpby', 2], ['elementwise.scale', 1]]);
    for (const r of byEntry) expect(r.ms).toBeGreaterThanOrEqual(0);
    expect((await w.read())[999]).toBe(0); // 2x + x - 3x
    g.profileBegin(2); // capacity 2: the third dispatch runs unprofiled
    scale(g, 2, x);
    scale(g, 3, w);
    scale(g, 4, w);
    const byLabel = await g.profileEnd('label');
    expect(byLabel.reduce((n, r) => n + r.count, 0)).toBe(2);
    // Labels name the op and its operands (x is "tensor", w is axpby's output).
    expect(byLabel.map((r) => r.name).sort()).toEqual(['scale axpby f32[1000] (vec4)', 'scale tensor f32[1000] (vec4)']);
    await expect(g.profileEnd()).rejects.toThrow(/no profile is running/);
    expect(() => g.profileBegin(5000)).toThrow(/capacity 5000 must be 1\.\.2048/);
  });

  it('timeGpu times one pass around the recorded work (the same timestamp read-back)', async () => {
    const g = await gpu();
    const x = g.tensor(Float32Array.from({ length: 64 }, (_, i) => i), [64]);
    let y: ReturnType<typeof scale> | null = null;
    const ms = await g.timeGpu(() => { y = scale(g, 3, x); });
    if (g.hasFeature('timestamp-query')) {
      expect(ms).not.toBeNull();
      expect(ms!).toBeGreaterThanOrEqual(0);
    } else expect(ms).toBeNull();
    expect((await y!.read())[5]).toBe(15);
  });
});

// The runtime's promises: one submit per step, pooled buffers, writes that do
// not overtake recorded work, WebGPU errors as exceptions that name the
// dispatch, device loss as an error (not a hang), and a process that exits.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Gpu } from '../src/gpu/gpu.ts';
import { DeviceLostError, GpuError, OpInputError } from '../src/gpu/errors.ts';
import { params } from '../src/gpu/params.ts';
import { sizeClass } from '../src/gpu/pool.ts';
import { add, scale } from '../src/ops/elementwise.ts';
import { matmul } from '../src/ops/matmul.ts';
import { useGpu } from './helpers.ts';

const gpu = useGpu();

describe('gpu runtime', () => {
  it('records a multi-op step as one submit and reads back only on request', async () => {
    const g = await gpu();
    const a = g.tensor([1, 2, 3], [3]);
    const b = g.tensor([10, 20, 30], [3]);
    const before = g.submitCount;
    const c = add(g, a, b);
    const d = scale(g, 2, c);
    const e = add(g, d, a);
    expect(g.submitCount).toBe(before); // nothing submitted while recording
    expect(Array.from(await e.read())).toEqual([23, 46, 69]);
    expect(g.submitCount).toBe(before + 1);
    [a, b, c, d, e].forEach((t) => t.release());
  });

  it('reuses released buffers: a repeated step creates no new buffers', async () => {
    const g = await gpu();
    const step = () => {
      const x = g.zeros([1000, 7]);
      const y = scale(g, 3, x);
      x.release();
      y.release();
    };
    step();
    await g.sync();
    const created = g.pool.stats().created;
    for (let i = 0; i < 5; i++) step();
    await g.sync();
    expect(g.pool.stats().created).toBe(created);
    expect(sizeClass(1000)).toBe(1024);
    expect(sizeClass(1100)).toBe(1536);
    expect(sizeClass(1600)).toBe(2048);
  });

  it('a write does not overtake work recorded before it', async () => {
    const g = await gpu();
    const x = g.tensor([1, 2, 3, 4], [4]);
    const y = scale(g, 10, x); // recorded, reads x
    x.write([5, 6, 7, 8]); // must land after the scale
    const z = scale(g, 10, x);
    expect(Array.from(await y.read())).toEqual([10, 20, 30, 40]);
    expect(Array.from(await z.read())).toEqual([50, 60, 70, 80]);
    [x, y, z].forEach((t) => t.release());
  });

  it('turns a WebGPU validation error into a GpuError naming the dispatch', async () => {
    const g = await gpu();
    const x = g.zeros([8]);
    // An entry point that does not exist: pipeline creation fails validation.
    g.dispatch({ kernel: 'elementwise', entry: 'no_such_entry', params: params().u32(8).f32(1), inputs: [x], outputs: [g.empty([8])], workgroups: [1], label: 'bogus op x f32[8]' });
    await expect(g.sync()).rejects.toThrow(GpuError);
    // The error is reported once; the next step is clean.
    scale(g, 2, x);
    await expect(g.sync()).resolves.toBeUndefined();
    x.release();
  });

  it('refuses bad tensors before recording: released, aliased, too many workgroups', async () => {
    const g = await gpu();
    const x = g.zeros([4]);
    x.release();
    expect(() => scale(g, 2, x)).toThrow(/scale .* was released/);
    const y = g.zeros([4]);
    expect(() => scale(g, 2, y, y)).toThrow(/scale .*output .* is also bound as .*in place is not supported/);
    expect(() => scale(g, 2, y, y)).toThrow(OpInputError);
    expect(() => g.dispatch({ kernel: 'elementwise', entry: 'scale', params: params().u32(4).f32(1), inputs: [y], outputs: [g.empty([4])], workgroups: [70000], label: 'huge grid' }))
      .toThrow(/huge grid: grid \[70000, 1, 1\] exceeds maxComputeWorkgroupsPerDimension/);
    expect(() => g.tensor([1, 2], [3])).toThrow(/got 2 values, expected 3/);
    expect(() => g.empty([2, -1])).toThrow(/non-negative integers/);
    y.release();
  });

  it('reports device loss as DeviceLostError instead of hanging', async () => {
    const g = await Gpu.create();
    const x = g.tensor([1, 2, 3], [3]);
    const y = matmul(g, x.reshape([1, 3]), x.reshape([3, 1]));
    g.device.destroy(); // what a driver reset looks like from here
    await expect(y.read()).rejects.toThrow(DeviceLostError);
    expect(() => g.zeros([2])).toThrow(DeviceLostError);
    g.destroy();
  });

  it('lets the process exit by itself after destroy()', () => {
    const script = `
      import { Gpu } from ${JSON.stringify(fileURLToPath(new URL('../src/gpu/gpu.ts', import.meta.url)))};
      const g = await Gpu.create();
      const t = g.tensor([1, 2], [2]);
      console.log(Array.from(await t.read()).join(','));
      g.destroy();
    `;
    const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
    const r = spawnSync(tsx, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.error, 'the process did not exit within 60 s').toBeUndefined();
    expect(r.stdout.trim()).toBe('1,2');
    expect(r.status).toBe(0);
  });
});

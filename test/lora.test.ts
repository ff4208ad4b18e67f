import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ref from '../reference/lora.ts';
import { dropout, loraBackward, loraForward, loraScale, planLora, type LoraWeights } from '../src/ops/lora.ts';
import type { Gpu } from '../src/gpu/gpu.ts';
import { expectClose, poisoned, randomData, useGpu } from './helpers.ts';

const gpu = useGpu();
// Every output is a sum of products (y: in + r terms, after u's in terms;
// dA: N terms after du's out terms), summed in float32 in a fixed order. We
// allow 1e-4 relative to the sum of |terms| of the whole expression (the
// reference run on |inputs|, same mask), which covers the rounding of the
// intermediate u / du as well.
const TOL = { rtol: 1e-4 };
// The 16 x 8 tile takes ~10 s to compile cold on lavapipe; most tests force a
// small one (same code, other constants).
const SMALL = { TM: 4, TN: 2, subgroup: false };
// The subgroup kernel (lora_subgroup.wgsl) needs TM a multiple of its 8 lanes.
const SMALL_SG = { TM: 8, TN: 2, subgroup: true };
const hasSubgroupKernel = (g: Gpu) => g.isCpuAdapter && g.subgroupSize === 8;

const abs = (a: ArrayLike<number>) => Float64Array.from(a, Math.abs);

interface Case {
  lead: readonly number[];
  inF: number;
  outF: number;
  r: number;
  bias: boolean;
  p: number;
  rslora: boolean;
  seed: number;
}

function makeCase(g: Gpu, c: Case) {
  const N = c.lead.reduce((a, b) => a * b, 1);
  const x = randomData(N * c.inF, c.seed);
  const W = randomData(c.outF * c.inF, c.seed + 1);
  const b = c.bias ? randomData(c.outF, c.seed + 2) : null;
  const A = randomData(c.r * c.inF, c.seed + 3);
  const B = randomData(c.outF * c.r, c.seed + 4);
  const dy = randomData(N * c.outF, c.seed + 5);
  const scale = loraScale(16, c.r, c.rslora);
  const drop = { p: c.p, seed: (c.seed * 2654435761) >>> 0 };
  const dims = { N, inF: c.inF, outF: c.outF, r: c.r };
  const refW: ref.LoraWeights = { W, b, A, B, scale, dropout: drop };
  const absW: ref.LoraWeights = { W: abs(W), b: b && abs(b), A: abs(A), B: abs(B), scale: Math.abs(scale), dropout: drop };
  const t = {
    x: g.tensor(x, [...c.lead, c.inF], 'f32', 'x'),
    dy: g.tensor(dy, [...c.lead, c.outF], 'f32', 'dy'),
    w: {
      W: g.tensor(W, [c.outF, c.inF], 'f32', 'W'),
      b: b ? g.tensor(b, [c.outF], 'f32', 'b') : null,
      A: g.tensor(A, [c.r, c.inF], 'f32', 'A'),
      B: g.tensor(B, [c.outF, c.r], 'f32', 'B'),
      scale,
      dropout: drop,
    } satisfies LoraWeights,
  };
  const release = () => [t.x, t.dy, t.w.W, t.w.A, t.w.B, ...(t.w.b ? [t.w.b] : [])].forEach((v) => v.release());
  return { N, x, dy, dims, refW, absW, t, release };
}

describe('lora float64 reference', () => {
  it('backward agrees with central finite differences (p = 0 and a fixed dropout mask)', () => {
    const h = 1e-6;
    const dims = { N: 3, inF: 5, outF: 4, r: 2 };
    for (const p of [0, 0.4]) {
      const x = Array.from(randomData(15, 1)), W = randomData(20, 2), b = randomData(4, 3);
      const A = Array.from(randomData(10, 4)), B = Array.from(randomData(8, 5)), dy = randomData(12, 6);
      const drop = { p, seed: 77 };
      if (p > 0) {
        const kept = ref.dropoutMask(15, drop).filter((v) => v > 0).length;
        expect(kept, 'the mask drops some and keeps some').toBeGreaterThan(0);
        expect(kept).toBeLessThan(15);
      }
      const w = (aa: number[], bb: number[]): ref.LoraWeights => ({ W, b, A: aa, B: bb, scale: loraScale(3, 2, false), dropout: drop });
      const loss = (xx: number[], aa: number[], bb: number[]) => ref.loraForward(dims, xx, w(aa, bb)).y.reduce((s, v, i) => s + v * dy[i], 0);
      const g = ref.loraBackward(dims, x, w(A, B), dy);
      const fd = (arr: number[], f: (v: number[]) => number, grad: Float64Array, name: string) => {
        for (let i = 0; i < arr.length; i++) {
          const up = [...arr], dn = [...arr];
          up[i] += h;
          dn[i] -= h;
          expect(Math.abs((f(up) - f(dn)) / (2 * h) - grad[i]), `${name}[${i}] p=${p}`).toBeLessThan(1e-6);
        }
      };
      fd(x, (v) => loss(v, A, B), g.dx, 'dx');
      fd(A, (v) => loss(x, v, B), g.dA, 'dA');
      fd(B, (v) => loss(x, A, v), g.dB, 'dB');
    }
  });

  it('scale helper: alpha / r, rsLoRA alpha / sqrt(r); the tile plan', () => {
    expect(loraScale(16, 8)).toBe(2);
    expect(loraScale(16, 64, true)).toBe(2);
    // matmul's regblock choice: 16 x 8 at real shapes, shrunk to cover small ones; 64 lanes off CPU.
    const cpu = { cpu: true, subgroupSize: null }, cpuSg = { cpu: true, subgroupSize: 8 }, gpuDev = { cpu: false, subgroupSize: 32 };
    expect(planLora(2048, 576, cpu)).toEqual({ TM: 16, TN: 8, LANES: 8, subgroup: false });
    expect(planLora(3, 13, cpu)).toEqual({ TM: 4, TN: 2, LANES: 8, subgroup: false });
    // With 8-lane subgroups on a CPU adapter: the subgroup kernel, TM at least the 8 lanes.
    expect(planLora(2048, 576, cpuSg)).toEqual({ TM: 32, TN: 4, LANES: 8, subgroup: true });
    expect(planLora(3, 13, cpuSg)).toEqual({ TM: 8, TN: 2, LANES: 8, subgroup: true });
    expect(planLora(2048, 576, gpuDev)).toEqual({ TM: 16, TN: 8, LANES: 64, subgroup: false });
  });
});

describe('dropout (counter-based mask)', () => {
  it('matches the reference mask bit for bit; the same seed replays it, another seed does not', async () => {
    const g = await gpu();
    for (const n of [1, 257, 4099, 4100]) {
      const x = randomData(n, n);
      const tx = g.tensor(x, [n]);
      const spec = { p: 0.3, seed: 12345 };
      const y1 = await dropout(g, tx, spec, poisoned(g, [n])).read();
      const y2 = await dropout(g, tx, spec, poisoned(g, [n])).read();
      const y3 = await dropout(g, tx, { p: 0.3, seed: 12346 }, poisoned(g, [n])).read();
      const want = ref.dropout(x, spec);
      for (let i = 0; i < n; i++) expect(y1[i] === 0, `element ${i} of ${n}: dropped`).toBe(want[i] === 0);
      expectClose(`dropout n=${n}`, y1, want, { rtol: 1e-6 });
      expect(Array.from(y2)).toEqual(Array.from(y1));
      if (n > 100) expect(Array.from(y3)).not.toEqual(Array.from(y1));
      tx.release();
    }
  });

  it('keeps a fraction close to 1 - p of a large tensor; p = 0 is the identity', async () => {
    const g = await gpu();
    const n = 1 << 20;
    const tx = g.tensor(new Float32Array(n).fill(1), [n]);
    for (const p of [0.1, 0.5]) {
      const y = await dropout(g, tx, { p, seed: 9 }).read();
      let kept = 0;
      for (let i = 0; i < n; i++) if (y[i] !== 0) kept++;
      // Binomial standard deviation sqrt(p (1 - p) / n) <= 5e-4: allow 6 of them.
      expect(Math.abs(kept / n - (1 - p)), `p=${p}`).toBeLessThan(3e-3);
      expect(y.find((v) => v !== 0)).toBeCloseTo(1 / (1 - p), 6);
    }
    const y0 = await dropout(g, tx, { p: 0, seed: 9 }).read();
    expect(y0.every((v) => v === 1)).toBe(true);
    tx.release();
  });
});

const leadDims = fc.oneof(
  fc.constantFrom([1], [2], [7], [13], [67], [97], [2, 37], [3, 5]),
  fc.integer({ min: 1, max: 90 }).map((n) => [n]),
);
const feat = fc.oneof(fc.constantFrom(1, 5, 37, 100), fc.integer({ min: 2, max: 120 }));

describe('lora forward and backward vs float64 reference', () => {
  it('fused and unfused: y, su, dx, dA, dB at awkward shapes, bias, dropout, rsLoRA', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          lead: leadDims, inF: feat, outF: feat,
          r: fc.constantFrom(1, 4, 8, 16),
          bias: fc.boolean(),
          p: fc.constantFrom(0, 0.1),
          rslora: fc.boolean(),
          seed: fc.integer({ min: 1, max: 1 << 30 }),
        }),
        async (c) => {
          const k = makeCase(g, c);
          const want = ref.loraForward(k.dims, k.x, k.refW);
          const mag = ref.loraForward(k.dims, abs(k.x), k.absW);
          const wantG = ref.loraBackward(k.dims, k.x, k.refW, k.dy);
          const magG = ref.loraBackward(k.dims, abs(k.x), k.absW, abs(k.dy));
          const name = `lead ${k.t.x.shape} in ${c.inF} out ${c.outF} r ${c.r} bias ${c.bias} p ${c.p}`;
          const variants = [
            { isFused: true, tile: SMALL, label: 'fused' },
            ...(hasSubgroupKernel(g) ? [{ isFused: true, tile: SMALL_SG, label: 'fused subgroup' }] : []),
            { isFused: false, tile: SMALL, label: 'unfused' },
          ];
          let fusedY: Float32Array | null = null;
          for (const { isFused, tile, label } of variants) {
            const what = `${label} ${name}`;
            const out = poisoned(g, [...c.lead, c.outF]);
            const { y, saved } = loraForward(g, k.t.x, k.t.w, { out, fused: isFused, tile });
            expect(y.shape).toEqual([...c.lead, c.outF]);
            const yv = await y.read();
            expectClose(`y ${what}`, yv, want.y, TOL, mag.y);
            // Both fused kernels sum in the same order: bit-identical whatever the tile.
            if (label === 'fused') fusedY = yv as Float32Array;
            else if (label === 'fused subgroup') expect(Array.from(yv), `y ${what} vs fused`).toEqual(Array.from(fusedY!));
            const s = k.refW.scale;
            expectClose(`su ${what}`, await saved.su.read(), want.u.map((v) => v * s), TOL, mag.u.map((v) => v * Math.abs(s)));
            const r = loraBackward(g, saved, k.t.dy, {
              fused: isFused, tile,
              dx: poisoned(g, k.t.x.shape), dA: poisoned(g, [c.r, c.inF]), dB: poisoned(g, [c.outF, c.r]),
            });
            expectClose(`dx ${what}`, await r.dx.read(), wantG.dx, TOL, magG.dx);
            expectClose(`dA ${what}`, await r.dA.read(), wantG.dA, TOL, magG.dA);
            expectClose(`dB ${what}`, await r.dB.read(), wantG.dB, TOL, magG.dB);
            [y, r.dx, r.dA, r.dB].forEach((v) => v.release());
            saved.release();
          }
          k.release();
        },
      ),
      { numRuns: 12 },
    );
  });

  it('gradient accumulation adds into existing dA and dB', async () => {
    const g = await gpu();
    const c: Case = { lead: [2, 29], inF: 37, outF: 100, r: 4, bias: true, p: 0.1, rslora: false, seed: 41 };
    const k = makeCase(g, c);
    const dA0 = randomData(c.r * c.inF, 91), dB0 = randomData(c.outF * c.r, 92);
    const dA = g.tensor(dA0, [c.r, c.inF]), dB = g.tensor(dB0, [c.outF, c.r]);
    const { saved } = loraForward(g, k.t.x, k.t.w, { tile: SMALL });
    loraBackward(g, saved, k.t.dy, { accumulate: true, dA, dB, tile: SMALL });
    const wantG = ref.loraBackward(k.dims, k.x, k.refW, k.dy);
    const magG = ref.loraBackward(k.dims, abs(k.x), k.absW, abs(k.dy));
    expectClose('dA accumulated', await dA.read(), wantG.dA.map((v, i) => v + dA0[i]), TOL, magG.dA.map((v, i) => v + Math.abs(dA0[i])));
    expectClose('dB accumulated', await dB.read(), wantG.dB.map((v, i) => v + dB0[i]), TOL, magG.dB.map((v, i) => v + Math.abs(dB0[i])));
    saved.release();
    k.release();
  });

  it('the default (planned) tile and other tiles agree with the reference at the edges', async () => {
    const g = await gpu();
    // Planned: with 8-lane subgroups (lavapipe) 32 x 4 for y and 32 x 2 for dx (in = 13);
    // elsewhere 16 x 8 and 16 x 2. Each new tile is one cold compile (seconds).
    const c: Case = { lead: [67], inF: 13, outF: 150, r: 8, bias: true, p: 0.1, rslora: true, seed: 7 };
    const k = makeCase(g, c);
    const want = ref.loraForward(k.dims, k.x, k.refW);
    const mag = ref.loraForward(k.dims, abs(k.x), k.absW);
    const wantG = ref.loraBackward(k.dims, k.x, k.refW, k.dy);
    const magG = ref.loraBackward(k.dims, abs(k.x), k.absW, abs(k.dy));
    for (const tile of [{ TM: 1, TN: 1, subgroup: false }, undefined]) {
      const { y, saved } = loraForward(g, k.t.x, k.t.w, { out: poisoned(g, [67, 150]), tile });
      expectClose(`y tile ${JSON.stringify(tile)}`, await y.read(), want.y, TOL, mag.y);
      const r = loraBackward(g, saved, k.t.dy, { dx: poisoned(g, [67, 13]), tile });
      expectClose(`dx tile ${JSON.stringify(tile)}`, await r.dx.read(), wantG.dx, TOL, magG.dx);
      [y, r.dx, r.dA, r.dB].forEach((v) => v.release());
      saved.release();
    }
    k.release();
  });

  it('bad input names the op and the shapes', async () => {
    const g = await gpu();
    const x = g.empty([4, 10]);
    const W = g.empty([6, 10]);
    const A = g.empty([3, 10]);
    const B = g.empty([6, 3]);
    const w = { W, A, B, scale: 1 };
    expect(() => loraForward(g, x, { ...w, A: g.empty([3, 9], 'f32', 'A') }))
      .toThrow(/lora: A must be \[r, in\] = \[r, 10\] \(x tensor f32\[4, 10\], W tensor f32\[6, 10\], A A f32\[3, 9\], B tensor f32\[6, 3\]\)/);
    expect(() => loraForward(g, x, { ...w, B: g.empty([6, 4], 'f32', 'B') })).toThrow(/lora: B must be \[out, r\] = \[6, 3\] .*B f32\[6, 4\]/);
    expect(() => loraForward(g, x, { ...w, B: g.empty([5, 3], 'f32', 'B') })).toThrow(/lora: B must be \[out, r\] = \[6, 3\]/);
    expect(() => loraForward(g, g.empty([4, 11], 'f32', 'x'), w)).toThrow(/lora: x must be \[\.\.\., in\] with in = 10 from W \(x x f32\[4, 11\]/);
    expect(() => loraForward(g, x, { ...w, b: g.empty([5], 'f32', 'b') })).toThrow(/lora: b must be \[out\] = \[6\] .*b f32\[5\]/);
    expect(() => loraForward(g, x, { ...w, A: g.empty([3, 10], 'i32', 'A') })).toThrow(/lora: A i32\[3, 10\] must be f32/);
    expect(() => loraForward(g, x, { ...w, dropout: { p: 1, seed: 0 } })).toThrow(/lora: dropout p = 1 must be in \[0, 1\)/);
    const { saved } = loraForward(g, x, w);
    expect(() => loraBackward(g, saved, g.empty([4, 5], 'f32', 'dy'))).toThrow(/loraBackward: dy dy f32\[4, 5\] must be f32 \[\.\.\., 6\] with 4 rows/);
    expect(() => loraBackward(g, saved, g.empty([4, 6], 'f32', 'dy'), { accumulate: true })).toThrow(/loraBackward: accumulate needs existing dA and dB/);
    expect(() => dropout(g, x, { p: 0.5, seed: -1 })).toThrow(/dropout: dropout seed -1 must be a u32/);
    saved.release();
  });
});

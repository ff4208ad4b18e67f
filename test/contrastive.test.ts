import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ref from '../reference/contrastive.ts';
import * as ops from '../src/ops/contrastive.ts';
import type { Gpu } from '../src/gpu/gpu.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { expectClose, poisoned, randomData, useGpu } from './helpers.ts';
import { randomModalityLabels, unitRows } from '../src/doctor/compare.ts';

const gpu = useGpu();

// Tolerances (float32). Let mag[i, j] = sum_e |a_ie c_je| / t (<= 1/t for unit
// rows): the float32 dot product of length E <= 577 and the scaling by 1/t
// stay within RTOL * mag of S (about sqrt(E) eps typically). Then, per element:
//   S[i, j]     RTOL * mag[i, j]
//   lse, loss   RTOL * (1 + |value| + 2 max_j mag[line, j]): lse moves by at most
//               max dS; loss = lse - S[diag] by twice that; log and the
//               subtraction add eps * |value|
//   reduced     RTOL * the weighted mean of the lines' scales
//   dsim[i, j]  RTOL * sum over directions of |g| (p (1 + |S| + |lse| + 2 max mag) + [i == j]),
//               p = P[i, j] or Q[i, j]: exp(S - lse) with S and lse each off by
//               the above, and lse rounded to float32 (eps * |lse| relative)
//   dA[i, e]    RTOL * sum_j scale(dsim[i, j]) |c[j, e]|   (error of dsim carried
//   dC[j, e]    RTOL * sum_i scale(dsim[i, j]) |a[i, e]|    through the matmul, plus its rounding)
//   ATOL        exp(x) for x below about -87 may come back as 0 rather than a value
//               near float32's smallest normal, 1.2e-38 (seen on lavapipe), so a
//               gradient entry up to |g| * 1e-37 may read 0, and dA, dC sum up to M
//               of them: an absolute floor of 1e-33, far below any gradient checked.
const RTOL = 1e-5;
const ATOL = 1e-33;

interface Case {
  B: number;
  k: number;
  E: number;
  a: Float32Array;
  c: Float32Array;
  temperature: number;
  symmetric: boolean;
  labels: Uint32Array | null;
  gradScale: number;
}

async function checkCase(g: Gpu, x: Case): Promise<void> {
  const { B, k, E, a, c, temperature, symmetric, labels, gradScale } = x;
  const M = B * (1 + k);
  const dirs = symmetric ? 2 : 1;
  const ta = g.tensor(a, [B, E], 'f32', 'a'), tc = g.tensor(c, [M, E], 'f32', 'c');
  const tl = labels ? g.tensor(labels, [M], 'u32', 'labels') : undefined;
  const fw = ops.contrastiveLoss(g, ta, tc, {
    temperature, symmetric, labels: tl,
    out: { loss: poisoned(g, [1]), losses: poisoned(g, [dirs, B]), lse: poisoned(g, [dirs, B]), logits: poisoned(g, [B, M]) },
  });
  const dsim = poisoned(g, [B, M]);
  const bw = ops.contrastiveLossBackward(g, ta, tc, fw, { gradScale, dA: poisoned(g, [B, E]), dC: poisoned(g, [M, E]), dsim });

  const opts = { temperature, symmetric, labels };
  const want = ref.contrastive(a, c, B, M, E, opts);
  const wantBw = ref.contrastiveBackward(a, c, B, M, E, opts, gradScale);
  const sc = ref.contrastiveErrorScales(x, want);
  const what = `B=${B} k=${k} E=${E} t=${temperature}${symmetric ? ' symmetric' : ''}${labels ? ' masked' : ''}`;
  expectClose(`logits ${what}`, await fw.logits.read(), want.scores, { rtol: RTOL }, want.magnitude);
  expectClose(`lse ${what}`, await fw.lse.read(), [...want.lseF, ...want.lseR], { rtol: RTOL }, sc.lses);
  expectClose(`losses ${what}`, await fw.losses.read(), [...want.lossF, ...want.lossR], { rtol: RTOL }, sc.lines);
  expectClose(`loss ${what}`, await fw.loss.read(), [want.loss], { rtol: RTOL }, [sc.loss]);
  expectClose(`dsim ${what}`, await dsim.read(), wantBw.dsim, { rtol: RTOL, atol: ATOL }, sc.dsim);
  expectClose(`dA ${what}`, await bw.dA.read(), wantBw.dA, { rtol: RTOL, atol: ATOL }, sc.dA);
  expectClose(`dC ${what}`, await bw.dC.read(), wantBw.dC, { rtol: RTOL, atol: ATOL }, sc.dC);
  for (const t of [ta, tc, tl, fw.loss, fw.losses, fw.lse, fw.logits, dsim, bw.dA, bw.dC]) t?.release();
}

function randomCase(B: number, k: number, E: number, temperature: number, symmetric: boolean, masked: boolean,
  gradScale: number, seed: number): Case {
  const M = B * (1 + k);
  return {
    B, k, E, temperature, symmetric, gradScale,
    a: unitRows(B, E, seed), c: unitRows(M, E, seed + 1),
    labels: masked ? randomModalityLabels(M, seed + 2) : null,
  };
}

describe('contrastive loss vs float64 reference', () => {
  it('InfoNCE one-way and symmetric, with and without MAMCL, forward and backward', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 2, 5, 13, 37, 70), fc.integer({ min: 0, max: 3 }), fc.constantFrom(1, 3, 17, 65, 129, 577),
        fc.constantFrom(0.01, 0.03, 0.05, 1), fc.boolean(), fc.boolean(),
        fc.double({ min: 0.1, max: 4, noNaN: true }), fc.integer({ min: 1, max: 1 << 30 }),
        async (B, k, E, t, symmetric, masked, gradScale, seed) => {
          await checkCase(g, randomCase(B, k, E, t, symmetric, masked, Math.fround(gradScale), seed));
        }),
      { numRuns: 40 },
    );
  });

  it('B = 257 (over one workgroup, not a multiple of it), k = 1, E = 129, symmetric and masked', async () => {
    const g = await gpu();
    await checkCase(g, randomCase(257, 1, 129, 0.03, true, true, 1, 77));
    await checkCase(g, randomCase(257, 3, 65, 0.05, false, false, 0.5, 78));
  });

  it('duplicate rows at t = 0.01: equal logits of 100 give exactly log M (log B reverse), finite gradients', async () => {
    const g = await gpu();
    const B = 6, k = 2, E = 33, M = B * (1 + k);
    const u = unitRows(1, E, 5);
    const a = new Float32Array(B * E), c = new Float32Array(M * E);
    for (let r = 0; r < B; r++) a.set(u, r * E);
    for (let r = 0; r < M; r++) c.set(u, r * E);
    const ta = g.tensor(a, [B, E]), tc = g.tensor(c, [M, E]);
    const fw = ops.contrastiveLoss(g, ta, tc, { temperature: 0.01, symmetric: true });
    const losses = await fw.losses.read();
    // All logits are one float32 value s: lse = s + log(n) with m - s = 0 exactly.
    expectClose('forward lines', losses.subarray(0, B), new Array(B).fill(Math.log(M)), { rtol: 1e-6 });
    expectClose('reverse lines', losses.subarray(B), new Array(B).fill(Math.log(B)), { rtol: 1e-6 });
    const bw = ops.contrastiveLossBackward(g, ta, tc, fw);
    const [dA, dC] = [await bw.dA.read(), await bw.dC.read()];
    expect(dA.every(Number.isFinite) && dC.every(Number.isFinite)).toBe(true);
    for (const t of [ta, tc, fw.loss, fw.losses, fw.lse, fw.logits, bw.dA, bw.dC]) t.release();

    // Random rows with duplicates among anchors, among candidates, and an anchor equal to a negative.
    const x = randomCase(9, 2, 65, 0.01, true, false, 1, 9);
    const copy = (dst: Float32Array, i: number, src: Float32Array, j: number) => dst.set(src.subarray(j * 65, (j + 1) * 65), i * 65);
    copy(x.a, 1, x.a, 0);
    copy(x.a, 2, x.a, 0);
    copy(x.c, 4, x.c, 3);
    copy(x.c, 9 + 4, x.c, 3);
    copy(x.c, 18 + 5, x.a, 5);
    await checkCase(g, x);
    await checkCase(g, { ...x, symmetric: false, labels: randomModalityLabels(27, 10) });
  });

  it('MAMCL with every candidate but the positive of another modality: loss 0 and gradient 0 exactly', async () => {
    const g = await gpu();
    const B = 7, k = 3, E = 17, M = B * (1 + k);
    // Positive i has label 100 + i; every negative is label 1: each line keeps only its positive.
    const labels = Uint32Array.from({ length: M }, (_, j) => (j < B ? 100 + j : 1));
    for (const symmetric of [false, true]) {
      const x = randomCase(B, k, E, 0.01, symmetric, false, 1, 31);
      x.labels = labels;
      const want = ref.contrastive(x.a, x.c, B, M, E, x);
      expect(want.loss).toBe(0);
      const ta = g.tensor(x.a, [B, E]), tc = g.tensor(x.c, [M, E]);
      const fw = ops.contrastiveLoss(g, ta, tc, { temperature: 0.01, symmetric, labels, out: { loss: poisoned(g, [1]) } });
      expect(Array.from(await fw.losses.read()).every((v) => v === 0)).toBe(true);
      expect(Array.from(await fw.loss.read())).toEqual([0]);
      const bw = ops.contrastiveLossBackward(g, ta, tc, fw, { dA: poisoned(g, [B, E]), dC: poisoned(g, [M, E]) });
      expect((await bw.dA.read()).every((v) => v === 0)).toBe(true);
      expect((await bw.dC.read()).every((v) => v === 0)).toBe(true);
      await checkCase(g, x);
      for (const t of [ta, tc, fw.loss, fw.losses, fw.lse, fw.logits, fw.labels!, bw.dA, bw.dC]) t.release();
    }
  });

  it('the loss and gradients are identical run to run', async () => {
    const g = await gpu();
    const x = randomCase(100, 1, 129, 0.03, true, true, 1, 41);
    const M = 200;
    const ta = g.tensor(x.a, [100, 129]), tc = g.tensor(x.c, [M, 129]), tl = g.tensor(x.labels!, [M], 'u32');
    const run = async () => {
      const fw = ops.contrastiveLoss(g, ta, tc, { symmetric: true, labels: tl });
      const bw = ops.contrastiveLossBackward(g, ta, tc, fw);
      const out = [await fw.loss.read(), await bw.dA.read(), await bw.dC.read()];
      for (const t of [fw.loss, fw.losses, fw.lse, fw.logits, bw.dA, bw.dC]) t.release();
      return out;
    };
    const [r1, r2] = [await run(), await run()];
    for (let n = 0; n < 3; n++) expect(Buffer.from(r1[n].buffer).equals(Buffer.from(r2[n].buffer))).toBe(true);
    for (const t of [ta, tc, tl]) t.release();
  });

  it('refuses bad shapes, labels and options by name', async () => {
    const g = await gpu();
    const a = g.empty([4, 8]), c = g.empty([12, 8]);
    expect(() => ops.contrastiveLoss(g, a, g.empty([10, 8]))).toThrow(/contrastiveLoss: candidates .*\[10, 8\] must hold B \(1 \+ k\) rows for B = 4/);
    expect(() => ops.contrastiveLoss(g, a, g.empty([12, 7]))).toThrow(/contrastiveLoss: candidates .*\[12, 7\] must be \[M, 8\]/);
    expect(() => ops.contrastiveLoss(g, g.empty([4, 8], 'i32'), c)).toThrow(/contrastiveLoss: anchors .*i32\[4, 8\] and candidates .* must be f32/);
    expect(() => ops.contrastiveLoss(g, a, c, { temperature: 0 })).toThrow(/contrastiveLoss: temperature 0 must be finite and > 0/);
    expect(() => ops.contrastiveLoss(g, a, c, { labels: [1, 2, 3] })).toThrow(/contrastiveLoss: 3 labels given for 12 candidates/);
    expect(() => ops.contrastiveLoss(g, a, c, { labels: new Array(12).fill(-1) })).toThrow(/contrastiveLoss: label -1 of candidate 0 must be a u32/);
    expect(() => ops.contrastiveLoss(g, a, c, { labels: g.empty([12], 'i32') as unknown as Tensor<'u32'> })).toThrow(/contrastiveLoss: labels .*i32\[12\] must be u32\[12\]/);
    expect(() => ops.contrastiveLoss(g, a, c, { symmetric: true, out: { lse: g.empty([1, 4]) } })).toThrow(/contrastiveLoss: out.lse .*\[1, 4\] must be f32\[2, 4\]/);
    const fw = ops.contrastiveLoss(g, a, c);
    expect(() => ops.contrastiveLossBackward(g, g.empty([2, 8]), g.empty([6, 8]), fw)).toThrow(/contrastiveLossBackward: the forward saw B = 4, M = 12/);
    expect(() => ops.contrastiveLossBackward(g, a, c, fw, { gradScale: NaN })).toThrow(/gradScale NaN must be finite/);
    expect(() => ops.matryoshkaContrastiveLoss(g, a, c, { dims: [4, 4] })).toThrow(/matryoshkaContrastiveLoss: dims must increase: dims\[1\] = 4 after 4/);
    expect(() => ops.matryoshkaContrastiveLoss(g, a, c, { dims: [4, 9] })).toThrow(/matryoshkaContrastiveLoss: dims\[1\] = 9 must be an integer in \[1, 8\]/);
    expect(() => ops.matryoshkaContrastiveLoss(g, a, c, { dims: [4, 8], weights: [1] })).toThrow(/matryoshkaContrastiveLoss: 1 weights for 2 dims/);
    expect(() => ops.prefixColumns(g, a, 0)).toThrow(/prefixColumns: width 0 must be an integer in \[1, 8\]/);
    expect(() => ops.accumulatePrefix(g, a, g.empty([3, 2]))).toThrow(/accumulatePrefix: dy .*\[3, 2\] must have the 4 rows of dx/);
  });
});

describe('Matryoshka: prefix ops and the nested-prefix loss', () => {
  it('prefixColumns copies x[:, :d]; accumulatePrefix adds into the first d columns only', async () => {
    const g = await gpu();
    const N = 301, E = 7, d = 3;
    const x = randomData(N * E, 3), dy = randomData(N * d, 4), dx0 = randomData(N * E, 5);
    const y = await ops.prefixColumns(g, g.tensor(x, [N, E]), d, poisoned(g, [N, d])).read();
    expect(Array.from(y)).toEqual(Array.from(ref.prefix(x, N, E, d), Math.fround));
    const tdx = g.tensor(dx0, [N, E]);
    ops.accumulatePrefix(g, tdx, g.tensor(dy, [N, d]));
    const got = await tdx.read();
    const want = Float32Array.from(dx0);
    for (let r = 0; r < N; r++) for (let e = 0; e < d; e++) want[r * E + e] = Math.fround(dx0[r * E + e] + dy[r * d + e]);
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  // Tolerance: each prefix's loss is the tested contrastive loss of re-normalised
  // rows, so its value carries RTOL * (1 + L_n + 2/t) (mag <= 1/t) per weight. The
  // gradients go through l2normBackward (a division by the prefix norm) and the
  // sum over prefixes, which mixes the per-element scales above; they are held
  // per tensor to RTOL * max |want| (the plain loss's gradients stay within a few
  // percent of their per-element budget, so this leaves the normalisation room).
  it('forward and backward vs the reference (normalised and raw inputs, weights, symmetric, masked)', async () => {
    const g = await gpu();
    for (const [B, k, E, dims, weights, t, symmetric, masked, normalised, seed] of [
      [5, 1, 33, [4, 16, 33], [1, 1, 1], 0.05, false, false, true, 1],
      [13, 2, 65, [1, 8, 31, 64], [0.25, 0.5, 1, 2], 0.03, true, true, true, 2],
      [4, 0, 17, [3, 17], [1, 0.5], 0.1, true, false, false, 3],
    ] as const) {
      const M = B * (1 + k);
      const a = normalised ? unitRows(B, E, seed) : randomData(B * E, seed);
      const c = normalised ? unitRows(M, E, seed + 1) : randomData(M * E, seed + 1);
      const labels = masked ? randomModalityLabels(M, seed + 2) : null;
      const ta = g.tensor(a, [B, E]), tc = g.tensor(c, [M, E]);
      const fw = ops.matryoshkaContrastiveLoss(g, ta, tc, { dims, weights, temperature: t, symmetric, labels: labels ?? undefined });
      const bw = ops.matryoshkaContrastiveLossBackward(g, ta, tc, fw, { gradScale: 1.5, dA: poisoned(g, [B, E]), dC: poisoned(g, [M, E]) });
      const opts = { temperature: t, symmetric, labels };
      const want = ref.matryoshka(a, c, B, M, E, dims, weights, opts);
      const wantBw = ref.matryoshkaBackward(a, c, B, M, E, dims, weights, opts, 1.5);
      const what = `B=${B} k=${k} E=${E} dims=${dims}`;
      const lossScale = want.parts.reduce((s, l, n) => s + Math.abs(weights[n]) * (1 + l + 2 / t), 0);
      expectClose(`matryoshka loss ${what}`, await fw.loss.read(), [want.loss], { rtol: RTOL }, [lossScale]);
      const maxAbs = (v: Float64Array) => v.reduce((m, y) => Math.max(m, Math.abs(y)), 0);
      const tolA = { rtol: 0, atol: RTOL * maxAbs(wantBw.dA) };
      const tolC = { rtol: 0, atol: RTOL * maxAbs(wantBw.dC) };
      expectClose(`matryoshka dA ${what}`, await bw.dA.read(), wantBw.dA, tolA);
      expectClose(`matryoshka dC ${what}`, await bw.dC.read(), wantBw.dC, tolC);
      fw.release();
      for (const x of [ta, tc, bw.dA, bw.dC]) x.release();
    }
  });
});

describe('float64 reference backward vs central differences', () => {
  const fd = (f: (x: Float64Array) => number, x: Float64Array, grad: Float64Array, what: string) => {
    const h = 1e-6;
    for (let n = 0; n < x.length; n++) {
      const xp = x.slice(), xm = x.slice();
      xp[n] += h;
      xm[n] -= h;
      const num = (f(xp) - f(xm)) / (2 * h);
      expect(Math.abs(num - grad[n]), `${what} element ${n}: ${num} vs ${grad[n]}`).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(grad[n])));
    }
  };

  it('d(loss)/d(a) and d(loss)/d(c): one-way, symmetric, masked, k = 0..2', () => {
    for (const [B, k, E, t, symmetric, masked, seed] of [
      [3, 1, 4, 0.1, false, false, 1], [3, 2, 5, 0.05, true, false, 2], [4, 1, 3, 0.03, true, true, 3], [2, 0, 6, 1, false, true, 4],
    ] as const) {
      const M = B * (1 + k);
      const a = Float64Array.from(unitRows(B, E, seed)), c = Float64Array.from(unitRows(M, E, seed + 1));
      const opts = { temperature: t, symmetric, labels: masked ? randomModalityLabels(M, seed + 2) : null };
      const gs = 0.7;
      const { dA, dC } = ref.contrastiveBackward(a, c, B, M, E, opts, gs);
      fd((x) => gs * ref.contrastive(x, c, B, M, E, opts).loss, a, dA, `dA B=${B} k=${k}`);
      fd((x) => gs * ref.contrastive(a, x, B, M, E, opts).loss, c, dC, `dC B=${B} k=${k}`);
    }
  });

  it('Matryoshka d(loss)/d(a), d(loss)/d(c) through the re-normalised prefixes', () => {
    const B = 3, k = 1, E = 6, M = 6, dims = [2, 4, 6], weights = [1, 0.5, 2];
    const a = Float64Array.from(randomData(B * E, 11)), c = Float64Array.from(randomData(M * E, 12));
    for (const opts of [{ temperature: 0.1 }, { temperature: 0.05, symmetric: true, labels: [1, 2, 1, 2, 2, 1] }]) {
      const { dA, dC } = ref.matryoshkaBackward(a, c, B, M, E, dims, weights, opts, 1.3);
      fd((x) => 1.3 * ref.matryoshka(x, c, B, M, E, dims, weights, opts).loss, a, dA, 'matryoshka dA');
      fd((x) => 1.3 * ref.matryoshka(a, x, B, M, E, dims, weights, opts).loss, c, dC, 'matryoshka dC');
    }
  });
});

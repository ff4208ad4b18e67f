import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ref from '../reference/attention.ts';
import * as ops from '../src/ops/attention.ts';
import type { Gpu } from '../src/gpu/gpu.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { expectClose, poisoned, randomData, rng, useGpu } from './helpers.ts';

const gpu = useGpu();

// Tolerance: float32 error relative to the reference's per-element error
// scales (see reference/attention.ts): o against sum_s p |v| times the row's
// condition 1 + |lse| + max_s scale sum_d |q k| (rounding of a score moves p
// by that much), the gradients against the analogous sums of |terms|. Over
// random shapes up to T = 300, D = 80 the worst error seen was 1.2e-7 of that
// scale (lse; o 6e-8, dq 3e-8, dk 2e-8, dv 8e-8); rtol = 1e-5 leaves ~100x
// headroom. Empty rows (no allowed key) have scale 0: o = 0, lse = LSE_EMPTY
// and their gradients must be exact; atol only admits results below float32's
// normal range (exp underflow on the GPU).
const TOL = { rtol: 1e-5, atol: 1e-37 };

interface Case {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  D: number;
  causal: boolean;
  /** Left-padding counts per batch, or null for no mask. */
  pads: number[] | null;
  scale?: number;
  seed: number;
}

function maskData(c: Case): Int32Array | null {
  if (!c.pads) return null;
  const m = new Int32Array(c.B * c.T);
  for (let b = 0; b < c.B; b++) for (let t = c.pads[b]; t < c.T; t++) m[b * c.T + t] = 1;
  return m;
}

/** Random left-padding counts in [0, T]; with 3 batches the last is fully padded. */
function randomPads(B: number, T: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: B }, (_, b) => (B === 3 && b === 2 ? T : Math.floor(r() * (T + 1))));
}

interface Inputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dO: Float32Array;
  mask: Int32Array | null;
  tq: Tensor;
  tk: Tensor;
  tv: Tensor;
  tdo: Tensor;
  tm: Tensor | undefined;
  release(): void;
}

function inputs(g: Gpu, c: Case, range = 1): Inputs {
  const { B, T, H, Hkv, D } = c;
  const q = randomData(B * T * H * D, c.seed, 0.05, range);
  const k = randomData(B * T * Hkv * D, c.seed + 1, 0.05, range);
  const v = randomData(B * T * Hkv * D, c.seed + 2);
  const dO = randomData(B * T * H * D, c.seed + 3);
  const mask = maskData(c);
  const tq = g.tensor(q, [B, T, H, D], 'f32', 'q');
  const tk = g.tensor(k, [B, T, Hkv, D], 'f32', 'k');
  const tv = g.tensor(v, [B, T, Hkv, D], 'f32', 'v');
  const tdo = g.tensor(dO, [B, T, H, D], 'f32', 'dO');
  const tm = mask ? g.tensor(mask, [B, T], 'i32', 'mask') : undefined;
  return {
    q, k, v, dO, mask, tq, tk, tv, tdo, tm,
    release: () => [tq, tk, tv, tdo, ...(tm ? [tm] : [])].forEach((t) => t.release()),
  };
}

const describeCase = (c: Case) =>
  `B${c.B} T${c.T} H${c.H}/${c.Hkv} D${c.D} ${c.causal ? 'causal' : 'bidir'} pads ${c.pads ? `[${c.pads}]` : 'none'}${c.scale ? ` scale ${c.scale}` : ''}`;

/** Fused forward + backward on the GPU against the float64 reference. */
async function checkFused(g: Gpu, c: Case, opts: { backward: boolean; plan?: Partial<ops.AttentionPlan> } = { backward: true }): Promise<void> {
  const { B, T, H, Hkv, D } = c;
  const x = inputs(g, c);
  const o = { mask: x.tm, causal: c.causal, scale: c.scale, plan: opts.plan };
  const fwd = ops.attention(g, x.tq, x.tk, x.tv, { ...o, out: poisoned(g, [B, T, H, D]), lse: poisoned(g, [B, H, T]) });
  const want = ref.attention(x.q, x.k, x.v, x.mask, c);
  const what = describeCase(c);
  expectClose(`attention o ${what}`, await fwd.o.read(), want.o, TOL, want.oScale);
  expectClose(`attention lse ${what}`, await fwd.lse.read(), want.lse, TOL, want.lseScale);
  if (opts.backward) {
    const grads = ops.attentionBackward(g, x.tq, x.tk, x.tv, fwd.o, fwd.lse, x.tdo, {
      ...o,
      dq: poisoned(g, [B, T, H, D]),
      dk: poisoned(g, [B, T, Hkv, D]),
      dv: poisoned(g, [B, T, Hkv, D]),
    });
    const wb = ref.attentionBackward(x.q, x.k, x.v, x.mask, x.dO, c);
    expectClose(`attentionBackward dq ${what}`, await grads.dq.read(), wb.dq, TOL, wb.dqScale);
    expectClose(`attentionBackward dk ${what}`, await grads.dk.read(), wb.dk, TOL, wb.dkScale);
    expectClose(`attentionBackward dv ${what}`, await grads.dv.read(), wb.dv, TOL, wb.dvScale);
    for (const t of [grads.dq, grads.dk, grads.dv]) t.release();
  }
  fwd.o.release();
  fwd.lse.release();
  x.release();
}

const T_SIZES = [1, 2, 7, 31, 64, 65, 100];
const HEADS: [number, number][] = [[1, 1], [4, 2], [6, 2], [9, 3]];
const D_SIZES = [8, 16, 64, 80];

describe('fused attention vs float64 reference', () => {
  it('forward and backward: GQA heads, causal and bidirectional, left padding', async () => {
    const g = await gpu();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 2, 3), fc.constantFrom(...T_SIZES), fc.constantFrom(...HEADS), fc.constantFrom(...D_SIZES),
        fc.boolean(), fc.constantFrom('none', 'left'), fc.constantFrom(undefined, 0.3), fc.integer({ min: 1, max: 1 << 30 }),
        async (B, T, [H, Hkv], D, causal, masking, scale, seed) => {
          const pads = masking === 'left' ? randomPads(B, T, seed + 9) : null;
          await checkFused(g, { B, T, H, Hkv, D, causal, pads, scale, seed });
        }),
      { numRuns: 14 },
    );
  });

  it('sequences longer than one query / key block (T = 300)', async () => {
    const g = await gpu();
    for (const causal of [true, false]) {
      await checkFused(g, { B: 2, T: 300, H: 4, Hkv: 2, D: 16, causal, pads: [0, 37], seed: causal ? 21 : 22 });
    }
  });

  it('the GPU tile plan (64 lanes, one row per lane) gives the same results', async () => {
    const g = await gpu();
    const t = { LANES: 64, R: 1, TK: 8 };
    await checkFused(g, { B: 2, T: 100, H: 6, Hkv: 2, D: 64, causal: true, pads: [5, 0], seed: 31 }, { backward: true, plan: { forward: t, dq: t, dkdv: t } });
  });

  it('the CPU plan shrinks rows per lane for short sequences only', () => {
    const rows = (T?: number) => { const p = ops.planAttention(true, T); return [p.forward.R, p.dq.R, p.dkdv.R]; };
    expect(rows()).toEqual([16, 8, 8]);
    expect(rows(1024)).toEqual([16, 8, 8]);
    expect(rows(64)).toEqual([16, 8, 8]);
    expect(rows(48)).toEqual([8, 8, 8]);
    expect(rows(20)).toEqual([4, 4, 4]);
    expect(rows(3)).toEqual([1, 1, 1]);
    expect(ops.planAttention(false, 20).forward).toEqual({ LANES: 64, R: 1, TK: 8 });
  });

  it('the CPU plan with and without subgroup-shared loads: both right, and bit-identical', async () => {
    const g = await gpu();
    const c: Case = { B: 2, T: 77, H: 6, Hkv: 2, D: 16, causal: true, pads: [0, 9], seed: 41 };
    const outputs: Float32Array[][] = [];
    for (const subgroups of [false, true]) {
      if (subgroups && g.subgroupSize !== 8) continue; // the shared loads need 8-lane subgroups
      const base = ops.planAttention(true);
      const plan = { forward: { ...base.forward, subgroups }, dq: { ...base.dq, subgroups }, dkdv: { ...base.dkdv, subgroups } };
      await checkFused(g, c, { backward: true, plan });
      const x = inputs(g, c);
      const o = { mask: x.tm, causal: c.causal, plan };
      const fwd = ops.attention(g, x.tq, x.tk, x.tv, o);
      const gr = ops.attentionBackward(g, x.tq, x.tk, x.tv, fwd.o, fwd.lse, x.tdo, o);
      outputs.push(await Promise.all([fwd.o, fwd.lse, gr.dq, gr.dk, gr.dv].map((t) => t.read() as Promise<Float32Array>)));
      x.release();
    }
    if (outputs.length === 2) outputs[1].forEach((t, i) => expect(Array.from(t), `output ${i}`).toEqual(Array.from(outputs[0][i])));
  });

  it('hostile rows: huge scores, fully padded sequence, pad queries with no valid key', async () => {
    const g = await gpu();
    const c: Case = { B: 3, T: 20, H: 4, Hkv: 2, D: 16, causal: true, pads: [0, 7, 20], seed: 41 };
    const x = inputs(g, c, 30); // |q|, |k| up to 30: scores up to ~3600
    const { B, T, H, Hkv, D } = c;
    const fwd = ops.attention(g, x.tq, x.tk, x.tv, { mask: x.tm, out: poisoned(g, [B, T, H, D]), lse: poisoned(g, [B, H, T]) });
    const o = await fwd.o.read();
    const lse = await fwd.lse.read();
    expect(o.every(Number.isFinite)).toBe(true);
    expect(lse.every(Number.isFinite)).toBe(true);
    const want = ref.attention(x.q, x.k, x.v, x.mask, c);
    expectClose('hostile o', o, want.o, TOL, want.oScale);
    expectClose('hostile lse', lse, want.lse, TOL, want.lseScale);
    // Batch 2 is all padding; in batch 1 queries t < 7 see no valid key <= t.
    const empty = (b: number, t: number) => b === 2 || (b === 1 && t < 7);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < H; h++) {
          const row = o.subarray(((b * T + t) * H + h) * D, ((b * T + t) * H + h + 1) * D);
          if (empty(b, t)) {
            expect(row.every((y) => y === 0)).toBe(true);
            expect(lse[(b * H + h) * T + t]).toBe(ops.LSE_EMPTY);
          }
        }
      }
    }
    const grads = ops.attentionBackward(g, x.tq, x.tk, x.tv, fwd.o, fwd.lse, x.tdo, { mask: x.tm });
    const [dq, dk, dv] = [await grads.dq.read(), await grads.dk.read(), await grads.dv.read()];
    for (const a of [dq, dk, dv]) expect(a.every(Number.isFinite)).toBe(true);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        if (!empty(b, t)) continue;
        // Empty query rows get dq = 0; their keys are padding, so dk = dv = 0 too.
        expect(dq.subarray((b * T + t) * H * D, (b * T + t + 1) * H * D).every((y) => y === 0)).toBe(true);
        expect(dk.subarray((b * T + t) * Hkv * D, (b * T + t + 1) * Hkv * D).every((y) => y === 0)).toBe(true);
        expect(dv.subarray((b * T + t) * Hkv * D, (b * T + t + 1) * Hkv * D).every((y) => y === 0)).toBe(true);
      }
    }
    const wb = ref.attentionBackward(x.q, x.k, x.v, x.mask, x.dO, c);
    expectClose('hostile dq', dq, wb.dq, TOL, wb.dqScale);
    expectClose('hostile dk', dk, wb.dk, TOL, wb.dkScale);
    expectClose('hostile dv', dv, wb.dv, TOL, wb.dvScale);
    for (const t of [fwd.o, fwd.lse, grads.dq, grads.dk, grads.dv]) t.release();
    x.release();
  });

  it('is deterministic run to run', async () => {
    const g = await gpu();
    const c: Case = { B: 2, T: 65, H: 6, Hkv: 2, D: 64, causal: true, pads: [3, 0], seed: 51 };
    const x = inputs(g, c);
    const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));
    const run = async () => {
      const f = ops.attention(g, x.tq, x.tk, x.tv, { mask: x.tm });
      const gr = ops.attentionBackward(g, x.tq, x.tk, x.tv, f.o, f.lse, x.tdo, { mask: x.tm });
      return Promise.all([f.o.read(), f.lse.read(), gr.dq.read(), gr.dk.read(), gr.dv.read()]);
    };
    const a = await run(), b = await run();
    a.forEach((t, i) => expect(same(t, b[i])).toBe(true));
    x.release();
  });

  it('refuses bad shapes and dtypes by name', async () => {
    const g = await gpu();
    const q = g.empty([2, 5, 6, 8]), k = g.empty([2, 5, 4, 8]), v = g.empty([2, 5, 4, 8]);
    expect(() => ops.attention(g, q, k, v)).toThrow(/attention: H = 6 must be a multiple of Hkv = 4: q .*\[2, 5, 6, 8\], k .*\[2, 5, 4, 8\]/);
    const k2 = g.empty([2, 5, 2, 16]);
    expect(() => ops.attention(g, q, k2, k2)).toThrow(/attention: k must be \[B, T, Hkv, D\] = \[2, 5, Hkv, 8\].*k .*\[2, 5, 2, 16\]/);
    const k3 = g.empty([2, 5, 2, 8]);
    expect(() => ops.attention(g, q, k3, g.empty([2, 5, 3, 8]))).toThrow(/attention: v must have k's shape \[2, 5, 2, 8\]/);
    expect(() => ops.attention(g, q, k3, k3, { mask: g.empty([2, 4], 'i32') })).toThrow(/attention: mask .*i32\[2, 4\] must be i32 \[B, T\] = \[2, 5\]/);
    expect(() => ops.attention(g, q, k3, k3, { mask: g.empty([2, 5], 'f32') })).toThrow(/attention: mask .*f32\[2, 5\]/);
    expect(() => ops.attention(g, g.empty([2, 5, 6, 8], 'i32'), k3, k3)).toThrow(/attention: .*i32\[2, 5, 6, 8\].* must be f32/);
    expect(() => ops.attention(g, q, k3, k3, { lse: g.empty([2, 5, 6]) })).toThrow(/attention: lse .*\[2, 5, 6\] must be f32 \[2, 6, 5\]/);
    const o = g.empty([2, 5, 6, 8]);
    expect(() => ops.attentionBackward(g, q, k3, k3, o, g.empty([2, 6, 4]), o)).toThrow(/attentionBackward: lse .*\[2, 6, 4\] must be f32 \[B, H, T\] = \[2, 6, 5\]/);
    expect(() => ops.attentionBackward(g, q, k3, k3, o, g.empty([2, 6, 5]), g.empty([2, 5, 6, 4]))).toThrow(/attentionBackward: o .* and dO .*\[2, 5, 6, 4\] must be f32 \[2, 5, 6, 8\]/);
    expect(() => ops.attentionUnfusedBackward(g, q, k3, k3, g.empty([2, 6, 5, 4]), o)).toThrow(/attentionUnfusedBackward: probs .*\[2, 6, 5, 4\] must be f32 \[2, 6, 5, 5\]/);
  });
});

describe('unfused attention (matmul -> softmax -> matmul) vs float64 reference', () => {
  // Small shapes: the matmuls take the naive version, whose pipelines compile
  // in a fraction of a second (matmul's own tests cover the tiled versions).
  it('forward and backward, one batch and several batches with padding', async () => {
    const g = await gpu();
    for (const c of [
      { B: 1, T: 13, H: 6, Hkv: 2, D: 8, causal: true, pads: [4], seed: 61 },
      { B: 3, T: 7, H: 4, Hkv: 2, D: 8, causal: false, pads: [0, 3, 7], seed: 62 },
    ] satisfies Case[]) {
      const x = inputs(g, c);
      const { B, T, H, Hkv, D } = c;
      const u = ops.attentionUnfused(g, x.tq, x.tk, x.tv, { mask: x.tm, causal: c.causal, out: poisoned(g, [B, T, H, D]) });
      const want = ref.attention(x.q, x.k, x.v, x.mask, c);
      const what = describeCase(c);
      expectClose(`attentionUnfused o ${what}`, await u.o.read(), want.o, TOL, want.oScale);
      const grads = ops.attentionUnfusedBackward(g, x.tq, x.tk, x.tv, u.probs, x.tdo, {
        mask: x.tm, causal: c.causal,
        dq: poisoned(g, [B, T, H, D]), dk: poisoned(g, [B, T, Hkv, D]), dv: poisoned(g, [B, T, Hkv, D]),
      });
      const wb = ref.attentionBackward(x.q, x.k, x.v, x.mask, x.dO, c);
      expectClose(`attentionUnfusedBackward dq ${what}`, await grads.dq.read(), wb.dq, TOL, wb.dqScale);
      expectClose(`attentionUnfusedBackward dk ${what}`, await grads.dk.read(), wb.dk, TOL, wb.dkScale);
      expectClose(`attentionUnfusedBackward dv ${what}`, await grads.dv.read(), wb.dv, TOL, wb.dvScale);
      for (const t of [u.o, u.probs, grads.dq, grads.dk, grads.dv]) t.release();
      x.release();
    }
  });
});

describe('float64 reference backward vs central differences', () => {
  it('d/d(q, k, v) sum(w * attention(q, k, v)) matches attentionBackward(dO = w)', () => {
    for (const causal of [true, false]) {
      const c: Case = { B: 2, T: 4, H: 4, Hkv: 2, D: 3, causal, pads: [0, 2], seed: causal ? 71 : 72 };
      const { B, T, H, Hkv, D } = c;
      const q = Float64Array.from(randomData(B * T * H * D, c.seed, 0.05, 2));
      const k = Float64Array.from(randomData(B * T * Hkv * D, c.seed + 1, 0.05, 2));
      const v = Float64Array.from(randomData(B * T * Hkv * D, c.seed + 2));
      const w = randomData(B * T * H * D, c.seed + 3);
      const mask = maskData(c);
      const loss = (qq: Float64Array, kk: Float64Array, vv: Float64Array) =>
        ref.attention(qq, kk, vv, mask, c).o.reduce((acc, y, i) => acc + y * w[i], 0);
      const grads = ref.attentionBackward(q, k, v, mask, w, c);
      const h = 1e-6;
      const check = (x: Float64Array, grad: Float64Array, f: (x: Float64Array) => number) => {
        for (let i = 0; i < x.length; i++) {
          const xp = x.slice(), xm = x.slice();
          xp[i] += h;
          xm[i] -= h;
          const fd = (f(xp) - f(xm)) / (2 * h);
          expect(Math.abs(fd - grad[i])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(grad[i])));
        }
      };
      check(q, grads.dq, (x) => loss(x, k, v));
      check(k, grads.dk, (x) => loss(q, x, v));
      check(v, grads.dv, (x) => loss(q, k, x));
      // Causal with 2 pads: batch 1 queries 0, 1 have no valid key, so no gradient.
      if (causal) expect(grads.dq.subarray((1 * T + 0) * H * D, (1 * T + 2) * H * D).every((y) => y === 0)).toBe(true);
    }
  });
});

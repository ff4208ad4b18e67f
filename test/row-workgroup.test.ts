// The row-reduction kernels (one workgroup per row, a tree merge in workgroup
// memory) take their workgroup size WG from rowWorkgroupSize(gpu): 8 on CPU
// adapters, 256 on GPUs. The per-op tests run on whichever this machine is, so
// here gpu.tuning.rowWorkgroup forces each of 256 (the GPU layout), 64 and 8
// and every op that uses it is compared with its float64 reference on row
// lengths that are multiples of neither 8 nor 256 (1, 13, 300, 1037), with one
// row and with many. The tolerances are those of the per-op tests (see there
// for the derivations); a spy on gpu.dispatch checks that each of these
// entries really was dispatched with the forced WG.
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as refCe from '../reference/cross_entropy.ts';
import * as refCon from '../reference/contrastive.ts';
import * as refL2 from '../reference/l2norm.ts';
import * as refPool from '../reference/pooling.ts';
import * as refSm from '../reference/softmax.ts';
import { randomModalityLabels, unitRows } from '../src/doctor/compare.ts';
import { rowWorkgroupSize, type Gpu } from '../src/gpu/gpu.ts';
import { contrastiveLoss, contrastiveLossBackward } from '../src/ops/contrastive.ts';
import { crossEntropy, crossEntropyBackward } from '../src/ops/cross_entropy.ts';
import { l2norm, l2normBackward } from '../src/ops/l2norm.ts';
import { lastTokenPool } from '../src/ops/pooling.ts';
import { softmax, softmaxBackward } from '../src/ops/softmax.ts';
import { expectClose, poisoned, randomData, randomInts, rng, useGpu } from './helpers.ts';

const gpu = useGpu();
const RTOL = 1e-5;
const ATOL = 1e-37; // results below float32's normal range may be flushed to zero
const SIZES = [256, 64, 8];
/** [rows, row length]: one row and many; lengths that leave a partial last stride at every WG. */
const SHAPES = [[1, 1], [1, 300], [70, 13], [5, 1037]] as const;
/** Every kernel entry dispatched with constants.WG = rowWorkgroupSize(gpu). */
const ENTRIES = ['softmax.softmax', 'softmax.softmax_masked', 'softmax.softmax_backward', 'cross_entropy.ce_forward',
  'cross_entropy.ce_backward', 'l2norm.l2norm_forward', 'l2norm.l2norm_backward', 'pooling.last_token_forward', 'contrastive.con_lse'];

let restore: (() => void) | null = null;
afterEach(() => restore?.()); // also when a test fails

/** The file's Gpu with the override set to wg; records every dispatched WG under "kernel.entry" in `seen`. */
async function gpuAt(wg: number, seen: Map<string, Set<number>>): Promise<Gpu> {
  const g = await gpu();
  g.tuning.rowWorkgroup = wg;
  const spy = vi.spyOn(g, 'dispatch');
  restore = () => {
    for (const [d] of spy.mock.calls) {
      const size = d.constants?.WG;
      if (typeof size === 'number') seen.set(`${d.kernel}.${d.entry}`, (seen.get(`${d.kernel}.${d.entry}`) ?? new Set()).add(size));
    }
    spy.mockRestore();
    g.tuning.rowWorkgroup = undefined;
    restore = null;
  };
  expect(rowWorkgroupSize(g)).toBe(wg);
  return g;
}

describe('row reductions at every workgroup size (gpu.tuning.rowWorkgroup)', () => {
  it('the ops calling rowWorkgroupSize are the ones covered here', () => {
    const root = new URL('../src/ops/', import.meta.url);
    const users = readdirSync(root).filter((f) => readFileSync(new URL(f, root), 'utf8').includes('rowWorkgroupSize('));
    expect(users.sort()).toEqual(['contrastive.ts', 'cross_entropy.ts', 'l2norm.ts', 'pooling.ts', 'softmax.ts']);
  });

  for (const wg of SIZES) {
    const seen = new Map<string, Set<number>>();

    it(`WG ${wg}: softmax (plain, masked) and its backward`, async () => {
      const g = await gpuAt(wg, seen);
      for (const [rows, cols] of SHAPES) {
        const n = rows * cols, seed = wg + rows + cols;
        const x = randomData(n, seed, 0.05, 30);
        // A full mask with -3e38 and -inf entries, and a fully masked first row.
        const mask = randomData(n, seed + 1, 0.01, 2).map((v, i) => (i % 7 === 3 ? -3e38 : i % 11 === 5 ? -Infinity : v));
        if (rows > 1) mask.fill(-1e30, 0, cols);
        const tx = g.tensor(x, [rows, cols]), tk = g.tensor(mask, [rows, cols]);
        for (const k of [undefined, mask]) {
          const y = softmax(g, tx, { mask: k && tk, out: poisoned(g, [rows, cols]) });
          const want = refSm.softmax(x, rows, cols, k, rows);
          // Scale y[c] (1 + |v[c]| + max over the row's unmasked |v|), v = x + mask (test/softmax.test.ts).
          const v = (i: number) => Math.abs(x[i] + (k ? k[i] : 0));
          const scale = want.map((yc, i) => {
            let big = 0;
            for (let j = i - (i % cols); j < i - (i % cols) + cols; j++) if (want[j] > 0) big = Math.max(big, v(j));
            return yc * (1 + v(i) + big);
          });
          expectClose(`WG ${wg} softmax${k ? ' masked' : ''} [${rows}, ${cols}]`, await y.read(), want, { rtol: RTOL, atol: ATOL }, scale);
          y.release();
        }
        const y = Float32Array.from(refSm.softmax(x, rows, cols, mask, rows)), dy = randomData(n, seed + 2);
        const ty = g.tensor(y, [rows, cols]), tdy = g.tensor(dy, [rows, cols]);
        const dx = softmaxBackward(g, ty, tdy, poisoned(g, [rows, cols]));
        const scale = new Float64Array(n); // y (|dy| + sum |dy y| over the row)
        for (let r = 0; r < rows; r++) {
          let d = 0;
          for (let c = 0; c < cols; c++) d += Math.abs(dy[r * cols + c] * y[r * cols + c]);
          for (let c = 0; c < cols; c++) scale[r * cols + c] = y[r * cols + c] * (Math.abs(dy[r * cols + c]) + d);
        }
        expectClose(`WG ${wg} softmaxBackward [${rows}, ${cols}]`, await dx.read(), refSm.softmaxBackward(y, dy, rows, cols),
          { rtol: RTOL, atol: ATOL }, scale);
        for (const t of [tx, tk, ty, tdy, dx]) t.release();
      }
    });

    it(`WG ${wg}: cross-entropy forward and backward`, async () => {
      const g = await gpuAt(wg, seen);
      for (const [rows, vocab] of SHAPES) {
        const seed = wg + rows + vocab, gradScale = 1.5;
        const x = randomData(rows * vocab, seed, 0.05, 30);
        const targets = randomInts(rows, seed + 1, 0, vocab);
        if (rows > 1) targets[1] = -100; // an ignored row
        const tx = g.tensor(x, [rows, vocab]), tt = g.tensor(targets, [rows], 'i32');
        const fw = crossEntropy(g, tx, tt, { out: { losses: poisoned(g, [rows]), lse: poisoned(g, [rows]), loss: poisoned(g, [1]), count: poisoned(g, [1]) } });
        const dx = crossEntropyBackward(g, tx, fw, { gradScale, out: poisoned(g, [rows, vocab]) });
        const want = refCe.crossEntropy(x, targets, rows, vocab);
        // Scales of test/cross_entropy.test.ts: 1 + |lse|; 1 + |max - x[t]| + log(sum exp(x - max)); g p (1 + |x| + |lse|) + g [j == t].
        const lossScale = want.lse.map((lse, i) => {
          if (targets[i] === -100) return 0;
          let m = -Infinity;
          for (let j = 0; j < vocab; j++) m = Math.max(m, x[i * vocab + j]);
          return 1 + Math.abs(m - x[i * vocab + targets[i]]) + (lse - m);
        });
        const what = `WG ${wg} cross-entropy [${rows}, ${vocab}]`;
        expectClose(`${what} lse`, await fw.lse.read(), want.lse, { rtol: RTOL }, want.lse.map((v) => 1 + Math.abs(v)));
        expectClose(`${what} losses`, await fw.losses.read(), want.losses, { rtol: RTOL, atol: 0 }, lossScale);
        expect((await fw.count.read())[0], `${what} count`).toBe(want.count);
        expectClose(`${what} loss`, await fw.loss.read(), [want.loss], { rtol: RTOL }, [lossScale.reduce((a, b) => a + b, 0) / want.count]);
        const gEff = gradScale / want.count;
        const dxScale = x.map((xj, k) => {
          const i = Math.floor(k / vocab), lse = want.lse[i];
          return gEff * (Math.exp(xj - lse) * (1 + Math.abs(xj) + Math.abs(lse)) + (k % vocab === targets[i] ? 1 : 0));
        });
        expectClose(`${what} dlogits`, await dx.read(), refCe.crossEntropyBackward(x, targets, rows, vocab, -100, 'mean', gradScale),
          { rtol: RTOL, atol: ATOL }, dxScale);
        for (const t of [tx, tt, fw.losses, fw.lse, fw.loss, fw.count, dx]) t.release();
      }
    });

    it(`WG ${wg}: l2norm forward and backward`, async () => {
      const g = await gpuAt(wg, seen);
      const eps = 1e-12;
      for (const [rows, cols] of SHAPES) {
        const seed = wg + rows + cols;
        const x = randomData(rows * cols, seed), dy = randomData(rows * cols, seed + 1);
        const tx = g.tensor(x, [rows, cols]), tdy = g.tensor(dy, [rows, cols]);
        const { y, norm } = l2norm(g, tx, eps, { y: poisoned(g, [rows, cols]), norm: poisoned(g, [rows]) });
        const dx = l2normBackward(g, y, norm, tdy, eps, poisoned(g, [rows, cols]));
        const f = refL2.l2norm(x, rows, cols, eps);
        const what = `WG ${wg} l2norm [${rows}, ${cols}]`;
        expectClose(`${what} y`, await y.read(), f.y, { rtol: RTOL });
        expectClose(`${what} norm`, await norm.read(), f.norm, { rtol: RTOL });
        // Scale of dx (test/l2norm.test.ts): (|dy| + |y| sum |y dy|) / max(norm, eps).
        const scale = new Float64Array(rows * cols);
        for (let i = 0; i < rows; i++) {
          let dot = 0;
          for (let c = 0; c < cols; c++) dot += Math.abs(f.y[i * cols + c] * dy[i * cols + c]);
          for (let c = 0; c < cols; c++) scale[i * cols + c] = (Math.abs(dy[i * cols + c]) + Math.abs(f.y[i * cols + c]) * dot) / Math.max(f.norm[i], eps);
        }
        expectClose(`${what} dx`, await dx.read(), refL2.l2normBackward(x, dy, rows, cols, eps), { rtol: RTOL }, scale);
        for (const t of [tx, tdy, y, norm, dx]) t.release();
      }
    });

    it(`WG ${wg}: last-token pooling (the reduction runs over T)`, async () => {
      const g = await gpuAt(wg, seen);
      const C = 65;
      for (const [B, T] of SHAPES) {
        const seed = wg + B + T, r = rng(seed);
        const h = randomData(B * T * C, seed + 1);
        // Row 0 has no valid token (when B > 1), the last row ends at T - 1, the others anywhere; holes before it.
        const mask = new Int32Array(B * T);
        for (let b = 0; b < B; b++) {
          const last = b === 0 && B > 1 ? -1 : b === B - 1 ? T - 1 : Math.floor(r() * T);
          for (let t = 0; t <= last; t++) mask[b * T + t] = t === last ? 7 : r() < 0.5 ? 1 : 0;
        }
        const th = g.tensor(h, [B, T, C]), tm = g.tensor(mask, [B, T], 'i32');
        const { out, index } = lastTokenPool(g, th, tm, { out: poisoned(g, [B, C]), index: poisoned(g, [B], 'i32') });
        const want = refPool.lastTokenPool(h, mask, B, T, C);
        expect(Array.from(await index.read()), `WG ${wg} lastTokenPool.index [${B}, ${T}, ${C}]`).toEqual(Array.from(want.index));
        expectClose(`WG ${wg} lastTokenPool.out [${B}, ${T}, ${C}]`, await out.read(), want.out, { rtol: 0 });
        for (const t of [th, tm, out, index]) t.release();
      }
    });

    it(`WG ${wg}: contrastive loss (con_lse over M forward, over B reverse) and dsim`, async () => {
      const g = await gpuAt(wg, seen);
      // [B, k, symmetric, masked]: M = B (1 + k) is 1, 300, 13 and 1037.
      for (const [B, k, symmetric, masked] of [[1, 0, true, false], [1, 299, false, true], [13, 0, true, true], [61, 16, true, false]] as const) {
        const M = B * (1 + k), E = 17, temperature = 0.05, gradScale = 1, seed = wg + M;
        const x = { B, k, E, temperature, symmetric, gradScale, a: unitRows(B, E, seed), c: unitRows(M, E, seed + 1),
          labels: masked ? randomModalityLabels(M, seed + 2) : null };
        const dirs = symmetric ? 2 : 1;
        const ta = g.tensor(x.a, [B, E]), tc = g.tensor(x.c, [M, E]);
        const fw = contrastiveLoss(g, ta, tc, { temperature, symmetric, labels: x.labels ?? undefined,
          out: { loss: poisoned(g, [1]), losses: poisoned(g, [dirs, B]), lse: poisoned(g, [dirs, B]) } });
        const dsim = poisoned(g, [B, M]);
        const bw = contrastiveLossBackward(g, ta, tc, fw, { gradScale, dsim });
        const want = refCon.contrastive(x.a, x.c, B, M, E, x);
        const sc = refCon.contrastiveErrorScales(x, want);
        const what = `WG ${wg} contrastive B=${B} M=${M}${symmetric ? ' symmetric' : ''}${masked ? ' masked' : ''}`;
        expectClose(`${what} lse`, await fw.lse.read(), [...want.lseF, ...want.lseR], { rtol: RTOL }, sc.lses);
        expectClose(`${what} losses`, await fw.losses.read(), [...want.lossF, ...want.lossR], { rtol: RTOL }, sc.lines);
        expectClose(`${what} loss`, await fw.loss.read(), [want.loss], { rtol: RTOL }, [sc.loss]);
        expectClose(`${what} dsim`, await dsim.read(), refCon.contrastiveBackward(x.a, x.c, B, M, E, x, gradScale).dsim,
          { rtol: RTOL, atol: 1e-33 }, sc.dsim);
        fw.labels?.release();
        for (const t of [ta, tc, fw.loss, fw.losses, fw.lse, fw.logits, dsim, bw.dA, bw.dC]) t.release();
      }
    });

    it(`WG ${wg}: every row-reduction entry was dispatched with WG = ${wg}`, () => {
      expect([...seen.keys()].sort()).toEqual([...ENTRIES].sort());
      for (const [entry, sizes] of seen) expect([...sizes], entry).toEqual([wg]);
    });
  }
});

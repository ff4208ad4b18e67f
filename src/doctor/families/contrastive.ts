// contrastive: InfoNCE over unit rows a [B 7, E 23] and c [M 21, E] (the 7
// positives, then k = 2 blocks of 7 hard negatives), one-way and symmetric
// (UNITE stage 1) with the MAMCL modality mask, forward (logits, per-line
// lse and losses, the mean) and backward (dsim, dA, dC); and the Matryoshka
// sum over the re-normalised prefixes 4, 16, 23 of raw rows, forward and
// backward (prefix copy, l2norm, the loss, l2norm backward, prefix
// accumulate). The InfoNCE backward is given the reference logits and lse,
// so it is checked on its own. B M E <= 16^3 keeps the matmuls naive.
import * as ref from '../../../reference/contrastive.ts';
import * as ops from '../../ops/contrastive.ts';
import { compare, randomData, randomModalityLabels, unitRows, worstOf } from '../compare.ts';
import type { KernelCheck, Scope } from '../scope.ts';

// The tests' tolerances (test/contrastive.test.ts, whose header derives the
// scales computed in errorScales below): 1e-5 of each element's error scale;
// gradients also get an absolute floor of 1e-33 for exp() results below
// float32's normal range that come back as 0. The Matryoshka gradients mix
// the scales through l2normBackward and the sum over prefixes; the tests
// hold them per tensor to 1e-5 of the largest |gradient|.
const RTOL = 1e-5;
const ATOL = 1e-33;
const B = 7, k = 2, M = B * (1 + k), E = 23, temperature = 0.05;
const gradScale = 0.75;

interface Case {
  a: Float32Array;
  c: Float32Array;
  symmetric: boolean;
  labels: Uint32Array | null;
}

function makeCase(symmetric: boolean, masked: boolean, seed: number): Case {
  return { a: unitRows(B, E, seed), c: unitRows(M, E, seed + 1), symmetric, labels: masked ? randomModalityLabels(M, seed + 2) : null };
}

/** The tests' error scales (reference/contrastive.ts) for this case. */
function errorScales(x: Case, f: ref.ContrastiveRef) {
  const sc = ref.contrastiveErrorScales({ B, k, E, a: x.a, c: x.c, temperature, symmetric: x.symmetric, gradScale }, f);
  return { lse: sc.lses, losses: sc.lines, loss: sc.loss, dsim: sc.dsim, dA: sc.dA, dC: sc.dC };
}

async function forward(s: Scope, x: Case) {
  const dirs = x.symmetric ? 2 : 1;
  const fw = ops.contrastiveLoss(s.gpu, s.tensor(x.a, [B, E]), s.tensor(x.c, [M, E]), {
    temperature, symmetric: x.symmetric, labels: x.labels ? s.tensor(x.labels, [M], 'u32') : undefined,
    out: { loss: s.poisoned([1]), losses: s.poisoned([dirs, B]), lse: s.poisoned([dirs, B]), logits: s.poisoned([B, M]) },
  });
  const want = ref.contrastive(x.a, x.c, B, M, E, { temperature, symmetric: x.symmetric, labels: x.labels });
  const sc = errorScales(x, want);
  return worstOf(
    compare('logits', await fw.logits.read(), want.scores, { rtol: RTOL }, want.magnitude),
    compare('lse', await fw.lse.read(), [...want.lseF, ...want.lseR], { rtol: RTOL }, sc.lse),
    compare('losses', await fw.losses.read(), [...want.lossF, ...want.lossR], { rtol: RTOL }, sc.losses),
    compare('loss', await fw.loss.read(), [want.loss], { rtol: RTOL }, [sc.loss]),
  );
}

async function backward(s: Scope, x: Case) {
  const dirs = x.symmetric ? 2 : 1;
  const opts = { temperature, symmetric: x.symmetric, labels: x.labels };
  const f = ref.contrastive(x.a, x.c, B, M, E, opts);
  const ta = s.tensor(x.a, [B, E]), tc = s.tensor(x.c, [M, E]);
  // The forward's saved state, from the reference; the backward reads logits, lse and labels only.
  const saved: ops.ContrastiveForward = {
    loss: s.poisoned([1]), losses: s.poisoned([dirs, B]),
    lse: s.tensor(Float32Array.from([...f.lseF, ...f.lseR]), [dirs, B]),
    logits: s.tensor(Float32Array.from(f.scores), [B, M]),
    labels: x.labels ? s.tensor(x.labels, [M], 'u32') : null,
    batch: B, candidates: M, temperature, symmetric: x.symmetric,
  };
  const dsim = s.poisoned([B, M]);
  const g = ops.contrastiveLossBackward(s.gpu, ta, tc, saved, { gradScale, dA: s.poisoned([B, E]), dC: s.poisoned([M, E]), dsim });
  const want = ref.contrastiveBackward(x.a, x.c, B, M, E, opts, gradScale);
  const sc = errorScales(x, f);
  const tol = { rtol: RTOL, atol: ATOL };
  return worstOf(
    compare('dsim', await dsim.read(), want.dsim, tol, sc.dsim),
    compare('dA', await g.dA.read(), want.dA, tol, sc.dA),
    compare('dC', await g.dC.read(), want.dC, tol, sc.dC),
  );
}

export const contrastiveChecks: KernelCheck[] = [
  {
    family: 'contrastive', op: 'InfoNCE forward (one-way; symmetric + MAMCL)',
    run: async (s) => worstOf(await forward(s, makeCase(false, false, 1301)), await forward(s, makeCase(true, true, 1311))),
  },
  {
    family: 'contrastive', op: 'InfoNCE backward (one-way; symmetric + MAMCL)',
    run: async (s) => worstOf(await backward(s, makeCase(false, false, 1321)), await backward(s, makeCase(true, true, 1331))),
  },
  {
    family: 'contrastive', op: 'Matryoshka forward + backward (4, 16, 23)',
    run: async (s) => {
      const dims = [4, 16, E], weights = [1, 0.5, 2];
      const a = randomData(B * E, 1341), c = randomData(M * E, 1342), lab = randomModalityLabels(M, 1343); // raw rows: every prefix is re-normalised
      const ta = s.tensor(a, [B, E]), tc = s.tensor(c, [M, E]);
      const opts = { temperature, symmetric: true, labels: lab };
      const fw = ops.matryoshkaContrastiveLoss(s.gpu, ta, tc, { ...opts, dims, weights, labels: s.tensor(lab, [M], 'u32') });
      try {
        const g = ops.matryoshkaContrastiveLossBackward(s.gpu, ta, tc, fw, { gradScale, dA: s.poisoned([B, E]), dC: s.poisoned([M, E]) });
        const want = ref.matryoshka(a, c, B, M, E, dims, weights, opts);
        const wantG = ref.matryoshkaBackward(a, c, B, M, E, dims, weights, opts, gradScale);
        // Each prefix's loss carries RTOL (1 + L_n + 2 / t) (mag <= 1 / t for unit rows), weighted.
        const lossScale = want.parts.reduce((sum, l, n) => sum + Math.abs(weights[n]) * (1 + l + 2 / temperature), 0);
        // Every gradient element's scale is its tensor's largest |value|.
        const maxAbs = (v: Float64Array) => new Float64Array(v.length).fill(v.reduce((m, y) => Math.max(m, Math.abs(y)), 0));
        return worstOf(
          compare('loss', await fw.loss.read(), [want.loss], { rtol: RTOL }, [lossScale]),
          compare('dA', await g.dA.read(), wantG.dA, { rtol: RTOL }, maxAbs(wantG.dA)),
          compare('dC', await g.dC.read(), wantG.dC, { rtol: RTOL }, maxAbs(wantG.dC)),
        );
      } finally {
        fw.release();
      }
    },
  },
];

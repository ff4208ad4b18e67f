// InfoNCE (one-way, LCO-Emb's t = 0.03) forward + backward, one training
// step's loss: B anchors against M = 2B candidates (k = 1 hard negative per
// anchor), at E = 128 and at SmolLM2's hidden size 576. One call records the
// logits matmul, the per-row log-sum-exp, the mean, the scores' gradient and
// the two gradient matmuls. Outputs are preallocated so run() allocates nothing.
import type { BenchCase } from '../case.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { contrastiveLoss, contrastiveLossBackward } from '../../src/ops/contrastive.ts';

/** Rows of unit norm (the loss's inputs are L2-normalised). */
function unitRows(rows: number, E: number, seed: number): Float32Array {
  const x = Float32Array.from({ length: rows * E }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.9 + 0.05);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let e = 0; e < E; e++) ss += x[r * E + e] ** 2;
    const inv = 1 / Math.sqrt(ss);
    for (let e = 0; e < E; e++) x[r * E + e] *= inv;
  }
  return x;
}

function infoNce(B: number, E: number): BenchCase {
  const k = 1, M = B * (1 + k);
  return {
    name: `InfoNCE forward+backward B=${B} k=${k} E=${E}`,
    kernel: 'contrastive',
    // S = a c^T, dA = dsim c, dC = dsim^T a: three B x M x E matmuls.
    flops: 3 * 2 * B * M * E,
    setup(gpu: Gpu) {
      const a = gpu.tensor(unitRows(B, E, 1), [B, E], 'f32', 'anchors');
      const c = gpu.tensor(unitRows(M, E, 2), [M, E], 'f32', 'candidates');
      const fw = contrastiveLoss(gpu, a, c);
      const out = { loss: fw.loss, losses: fw.losses, lse: fw.lse, logits: fw.logits };
      const dsim = gpu.empty([B, M], 'f32', 'dsim');
      const { dA, dC } = contrastiveLossBackward(gpu, a, c, fw, { dsim });
      return {
        run: () => {
          const f = contrastiveLoss(gpu, a, c, { out });
          contrastiveLossBackward(gpu, a, c, f, { dA, dC, dsim });
        },
        dispose: () => [a, c, fw.loss, fw.losses, fw.lse, fw.logits, dsim, dA, dC].forEach((t) => t.release()),
      };
    },
  };
}

export const cases: BenchCase[] = [infoNce(256, 128), infoNce(256, 576), infoNce(1024, 128), infoNce(1024, 576)];

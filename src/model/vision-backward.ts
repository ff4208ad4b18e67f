// The vision encoder's and projector's explicit backward, in reverse (llm.c
// style), from the activations visionTrainForward kept. The maths is the
// float64 reference's visionBackward in reference/vision.ts.
//
// As in the decoder (backward.ts), one map decides what learns: a weight with
// an entry in `grads` gets its gradient ADDED to that entry; a weight without
// one is frozen and costs nothing. When no encoder weight is in the map (a
// frozen encoder: projector-only training) the backward stops at the
// projector's input. Images are data: there is no gradient for the pixels.
//
// Given dy = dloss/dy [B, P, Co] (from the decoder, at the image tokens):
//   dW2 += dy^T a,  db2 += sum_rows dy,  da = dy W2                  [N, Hp]
//   dz = silu'(z) da;  dW1 += dz^T final,  db1 += sum_rows dz
//   dfinal = dz W1;  dx = rmsnorm'(xLast; dfinal)  (+ dnorm)         [N, C]
//   per block, reversed, given dx2:
//     dact = dx2 Wd (+ dWd);  dgate, dup = swiglu'(gate, up, dact)
//     dh2 = dgate Wg + dup Wu (+ dWg, dWu);  dx1 = dx2 + rmsnorm'(x1; dh2) (+ dnorm2)
//     do = dx1 Wo (+ dWo);  dq, dk, dv = attention'(q, k, v, o, lse; do; bidirectional)
//     dh1 = dq Wq + dk Wk + dv Wv (+ dWq, dWk, dWv);  dx = dx1 + rmsnorm'(x; dh1) (+ dnorm1)
//   dpos += sum over images of dx;  dWpe += dx^T patches
import type { Gpu } from '../gpu/gpu.ts';
import { check } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { attentionBackward } from '../ops/attention.ts';
import { accumulate, biasGrad, siluBackward, swigluBackward } from '../ops/elementwise.ts';
import { matmul } from '../ops/matmul.ts';
import { normBackward, type GradMap } from './backward.ts';
import { releaseBlock, type VisionActivations } from './vision-forward.ts';
import { visionDims, visionWeightSpecs, type VisionModel } from './vision.ts';

/** dW += dy^T x and db += sum over rows of dy, for what trains (y = x W^T + b). */
function paramGrads(gpu: Gpu, W: Tensor, b: Tensor | null, x: Tensor, dy: Tensor, grads: GradMap): void {
  const dW = grads.get(W);
  if (dW) matmul(gpu, dy, x, { transA: true, beta: 1, out: dW });
  const db = b && grads.get(b);
  if (db) {
    const tmp = biasGrad(gpu, dy);
    accumulate(gpu, db, tmp);
    tmp.release();
  }
}

/**
 * dx [N, in] of y = x W^T given dy [N, out], adding dW += dy^T x when W
 * trains. With `dxInto` dx is added to it (and returned) instead of a new tensor.
 */
function linearBackward(gpu: Gpu, W: Tensor, x: Tensor, dy: Tensor, grads: GradMap, dxInto?: Tensor): Tensor {
  paramGrads(gpu, W, null, x, dy, grads);
  return matmul(gpu, dy, W, dxInto ? { beta: 1, out: dxInto } : {});
}

/**
 * Backward from dy = dloss/dy [B, P, Co] to every weight in `grads`. Frees the
 * activations, so `acts` is spent afterwards; dy is left to the caller.
 */
export function visionBackward(gpu: Gpu, model: VisionModel, acts: VisionActivations, dy: Tensor, grads: GradMap): void {
  const op = 'visionBackward';
  const { config: cfg, weights: w } = model;
  const { B } = acts;
  const { numPatches: P, headDim: D } = visionDims(cfg);
  const { hidden: C, heads: H, outHidden: Co } = cfg;
  const N = B * P;
  check(dy.dtype === 'f32' && dy.size === N * Co, op, () => `dy ${dy.describe()} must be f32 [B, P, Co] = [${B}, ${P}, ${Co}]`);
  check(!acts.z.released, op, () => 'the activations were already spent by an earlier backward');
  const encoderTrains = visionWeightSpecs(cfg).filter((s) => s.part === 'encoder' && grads.has(s.get(w)));
  check(encoderTrains.length === 0 || acts.encoder, op,
    () => `${encoderTrains[0].name} has a gradient entry but the forward ran with frozenEncoder (no encoder activations kept)`);

  // projector: dy [N, Co] -> da [N, Hp] -> dz -> dfinal [N, C]
  const dy2 = dy.reshape([N, Co]);
  paramGrads(gpu, w.fc2, w.fc2Bias, acts.a, dy2, grads);
  const fc1Trains = grads.has(w.fc1) || grads.has(w.fc1Bias);
  if (!fc1Trains && encoderTrains.length === 0) {
    acts.release();
    return;
  }
  const da = matmul(gpu, dy2, w.fc2); // [N, Hp]
  const dz = siluBackward(gpu, acts.z, da);
  da.release();
  paramGrads(gpu, w.fc1, w.fc1Bias, acts.final, dz, grads);
  if (encoderTrains.length === 0) {
    dz.release();
    acts.release();
    return;
  }
  const dfinal = matmul(gpu, dz, w.fc1); // [N, C]
  dz.release();

  // final norm: dx [B, P, C] = dloss/d(last block's output)
  let dx = normBackward(gpu, acts.xLast!, w.norm, acts.rstdFinal!, dfinal.reshape([B, P, C]), grads);
  dfinal.release();

  for (let l = cfg.layers - 1; l >= 0; l--) {
    const a = acts.blocks[l];
    const L = w.blocks[l];
    // MLP block: dx2 -> dact [N, F] -> dgate, dup -> dh2 [N, C] -> dx1 [B, P, C]
    const dact = linearBackward(gpu, L.down, a.act, dx.reshape([N, C]), grads);
    const { dg, du } = swigluBackward(gpu, a.gate, a.up, dact);
    dact.release();
    const dh2 = linearBackward(gpu, L.gate, a.h2, dg, grads);
    linearBackward(gpu, L.up, a.h2, du, grads, dh2);
    dg.release();
    du.release();
    const dx1 = normBackward(gpu, a.x1, L.norm2, a.rstd2, dh2.reshape([B, P, C]), grads);
    dh2.release();
    accumulate(gpu, dx1, dx); // the residual: x2 = x1 + mlp
    dx.release();

    // attention block: dx1 -> do [N, C] -> dq, dk, dv -> dh1 [N, C] -> dx [B, P, C]
    const dO = linearBackward(gpu, L.o, a.o.reshape([N, C]), dx1.reshape([N, C]), grads);
    const g = attentionBackward(gpu, a.q, a.k, a.v, a.o, a.lse, dO.reshape([B, P, H, D]), { causal: false });
    dO.release();
    const dh1 = linearBackward(gpu, L.q, a.h1, g.dq.reshape([N, C]), grads);
    linearBackward(gpu, L.k, a.h1, g.dk.reshape([N, C]), grads, dh1);
    linearBackward(gpu, L.v, a.h1, g.dv.reshape([N, C]), grads, dh1);
    for (const t of [g.dq, g.dk, g.dv]) t.release();
    dx = normBackward(gpu, a.x, L.norm1, a.rstd1, dh1.reshape([B, P, C]), grads);
    dh1.release();
    accumulate(gpu, dx, dx1); // the residual: x1 = x + attention
    dx1.release();
    releaseBlock(a);
  }
  acts.blocks = [];

  // positions: x0 = e + pos over B rows of width P * C, so dpos = column sums of dx
  const dPos = grads.get(w.posEmbed);
  if (dPos) {
    const tmp = biasGrad(gpu, dx.reshape([B, P * C]));
    accumulate(gpu, dPos.reshape([P * C]), tmp);
    tmp.release();
  }
  // patch embedding: e = patches Wpe^T
  const dWpe = grads.get(w.patchEmbed);
  if (dWpe) matmul(gpu, dx.reshape([N, C]), acts.patches!, { transA: true, beta: 1, out: dWpe });
  dx.release();
  acts.release();
}

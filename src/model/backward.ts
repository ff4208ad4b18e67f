// The decoder's explicit backward, layer by layer in reverse (llm.c style),
// from the activations decoderTrainForward kept. The maths is the float64
// reference's decoderBackward in reference/decoder.ts.
//
// Which weights learn is decided by one map, `grads`: a weight tensor with an
// entry there gets its gradient ADDED to that entry (so micro-batches
// accumulate; zero it before a step); a weight without one is frozen and
// costs nothing: no dW matmul, no buffer. Pretraining puts every weight in the
// map; LoRA training only the adapters' A and B, with the base frozen. Tied
// embeddings are one tensor, so the head's and the lookup's gradients land in
// the same entry.
//
// Per layer, given dx2 = dloss/dx2 [B, T, C]:
//   dact = dx2 Wd                 (+ dWd += dx2^T act)        [N, F]
//   dgate, dup = swiglu'(gate, up, dact)
//   dh2 = dgate Wg + dup Wu       (+ dWg, dWu)                 [N, C]
//   dx1 = dx2 + rmsnorm'(x1; dh2) (+ dpost_attention_layernorm)
//   do = dx1 Wo                   (+ dWo, dbo)                 [N, H*D]
//   dq, dk, dv = attention'(q, k, v, o, lse; do); dq, dk = rope^T(dq, dk)
//   dh1 = dq Wq + dk Wk + dv Wv   (+ dWq, dWk, dWv, biases)    [N, C]
//   dx = dx1 + rmsnorm'(x; dh1)   (+ dinput_layernorm)
// and finally dembed[ids] += dx.
import type { Gpu } from '../gpu/gpu.ts';
import { check } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { attentionBackward } from '../ops/attention.ts';
import { accumulate, biasGrad, swigluBackward } from '../ops/elementwise.ts';
import { embeddingBackward, groupIds } from '../ops/embedding.ts';
import { loraBackward } from '../ops/lora.ts';
import { matmul } from '../ops/matmul.ts';
import { rmsnormBackward, rmsnormBackwardDx } from '../ops/rmsnorm.ts';
import { ropeBackward } from '../ops/rope.ts';
import type { Decoder } from './decoder.ts';
import { releaseLayer, weightsOf, type LayerCtx, type LinearSaved, type TrainActivations } from './forward.ts';
import type { LoraTarget } from './lora.ts';

/** weight -> its gradient (added into). Weights absent from the map are frozen. */
export type GradMap = Map<Tensor, Tensor>;

/**
 * dx [N, in] of one linear given dy [N, out], adding dW, db (when trainable)
 * and dA, dB (when adapted) into `grads`. With `dxInto` the result is added
 * to it (and returned) instead of a new tensor.
 */
function linearBackward(c: LayerCtx, t: LoraTarget, s: LinearSaved | undefined, dy: Tensor, grads: GradMap, dxInto?: Tensor): Tensor {
  const { gpu } = c;
  check(s !== undefined, 'decoderBackward', () => `layer ${c.layer} ${t}: no saved activations (was the forward decoderTrainForward?)`);
  const { W, b } = weightsOf(c.L, t);
  const mod = c.mods[t];
  let dx: Tensor;
  if (mod && s.lora) {
    const dA = grads.get(mod.A);
    const dB = grads.get(mod.B);
    const r = loraBackward(gpu, s.lora, dy, dA && dB ? { accumulate: true, dA, dB } : {});
    s.lora.release();
    if (!(dA && dB)) {
      r.dA.release();
      r.dB.release();
    }
    if (dxInto) {
      accumulate(gpu, dxInto, r.dx);
      r.dx.release();
    }
    dx = dxInto ?? r.dx;
  } else {
    // dx = dy W  [N, in]
    dx = matmul(gpu, dy, W, dxInto ? { beta: 1, out: dxInto } : {});
  }
  // dW += dy^T x  [out, in];  db += sum over rows of dy  [out]
  const dW = grads.get(W);
  if (dW) matmul(gpu, dy, s.x, { transA: true, beta: 1, out: dW });
  const db = b && grads.get(b);
  if (db) {
    const tmp = biasGrad(gpu, dy);
    accumulate(gpu, db, tmp);
    tmp.release();
  }
  return dx;
}

/** rmsnorm's dx, adding dweight into grads when the weight is trainable. */
export function normBackward(gpu: Gpu, x: Tensor, w: Tensor, rstd: Tensor, dy: Tensor, grads: GradMap): Tensor {
  const dw = grads.get(w);
  if (!dw) return rmsnormBackwardDx(gpu, x, w, rstd, dy);
  const r = rmsnormBackward(gpu, x, w, rstd, dy);
  accumulate(gpu, dw, r.dweight);
  r.dweight.release();
  return r.dx;
}

/**
 * Backward from dFinal = dloss/dfinal [B, T, C] (the LM head's or the pooling's
 * gradient) to every weight in `grads`. Frees the activations as it goes, so
 * `acts` is spent afterwards; dFinal is left to the caller. With images in the
 * input, returns their embeddings' gradient dImages [nImages, P, C] (the
 * caller releases it); their rows add nothing to the embedding table.
 */
export function decoderBackward(gpu: Gpu, model: Decoder, acts: TrainActivations, dFinal: Tensor, grads: GradMap): { dImages: Tensor | null } {
  const { config: cfg, weights: w } = model;
  const { B, T } = acts.input;
  const N = B * T;
  const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, ropeTheta: theta } = cfg;
  check(dFinal.dtype === 'f32' && dFinal.size === N * C, 'decoderBackward', () => `dFinal ${dFinal.describe()} must be f32 [${B}, ${T}, ${C}]`);
  check(acts.layers.length === cfg.layers, 'decoderBackward', () => 'the activations were already spent by an earlier backward');
  const { mask, pos } = acts.input;

  // final norm: dx [B, T, C] = dloss/d(last layer's output)
  let dx = normBackward(gpu, acts.xLast, w.norm, acts.rstdFinal, dFinal.reshape([B, T, C]), grads);
  for (const t of [acts.xLast, acts.rstdFinal, acts.final]) t.release();

  for (let l = cfg.layers - 1; l >= 0; l--) {
    const a = acts.layers[l];
    const L = w.layers[l];
    const c: LayerCtx = { gpu, L, mods: acts.lora?.layers[l] ?? {}, lora: acts.lora, layer: l };

    // MLP block: dx2 -> dact [N, F] -> dgate, dup -> dh2 [N, C] -> dx1 [B, T, C]
    const dact = linearBackward(c, 'down_proj', a.lin.down_proj, dx.reshape([N, C]), grads);
    const { dg, du } = swigluBackward(gpu, a.gate, a.up, dact);
    dact.release();
    const dh2 = linearBackward(c, 'gate_proj', a.lin.gate_proj, dg, grads);
    linearBackward(c, 'up_proj', a.lin.up_proj, du, grads, dh2);
    dg.release();
    du.release();
    const dx1 = normBackward(gpu, a.x1, L.postNorm, a.rstd2, dh2.reshape([B, T, C]), grads);
    dh2.release();
    accumulate(gpu, dx1, dx); // the residual: x2 = x1 + mlp
    dx.release();

    // attention block: dx1 -> do [N, H*D] -> dq, dk, dv -> dh1 [N, C] -> dx [B, T, C]
    const dO = linearBackward(c, 'o_proj', a.lin.o_proj, dx1.reshape([N, C]), grads);
    const g = attentionBackward(gpu, a.q, a.k, a.v, a.o, a.lse, dO.reshape([B, T, H, D]), { mask, causal: true });
    dO.release();
    ropeBackward(gpu, g.dq, pos, { theta, out: g.dq });
    ropeBackward(gpu, g.dk, pos, { theta, out: g.dk });
    const dh1 = linearBackward(c, 'q_proj', a.lin.q_proj, g.dq.reshape([N, H * D]), grads);
    linearBackward(c, 'k_proj', a.lin.k_proj, g.dk.reshape([N, Hkv * D]), grads, dh1);
    linearBackward(c, 'v_proj', a.lin.v_proj, g.dv.reshape([N, Hkv * D]), grads, dh1);
    for (const t of [g.dq, g.dk, g.dv]) t.release();
    dx = normBackward(gpu, a.x, L.inputNorm, a.rstd1, dh1.reshape([B, T, C]), grads);
    dh1.release();
    accumulate(gpu, dx, dx1); // the residual: x1 = x + attention
    dx1.release();
    releaseLayer(a);
  }
  acts.layers = [];

  // image rows: their gradient goes to the image embeddings, then is cleared
  let dImages: Tensor | null = null;
  const im = acts.input.images;
  if (im) {
    const n = im.P * C;
    dImages = gpu.empty([im.at.length, im.P, C], 'f32', 'decoder.dImages');
    const zeros = gpu.zeros([n], 'f32', 'decoder.zeroRows');
    im.at.forEach((row, i) => {
      gpu.copy(dx, dImages!, n, row * C, i * n);
      gpu.copy(zeros, dx, n, 0, row * C);
    });
    zeros.release();
  }

  // embedding lookup: dembed[id] += dx[token]
  const dEmbed = grads.get(w.embed);
  if (dEmbed) {
    const groups = acts.input.idGroups ?? groupIds(gpu, acts.input.idsData, cfg.vocab, 'decoderBackward');
    embeddingBackward(gpu, dx.reshape([N, C]), groups, dEmbed, 'accumulate');
    if (groups !== acts.input.idGroups) groups.release();
  }
  dx.release();
  return { dImages };
}

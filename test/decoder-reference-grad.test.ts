// The float64 reference decoder's backward (reference/decoder.ts) against
// central differences of its own loss, on tiny random Llama and Qwen2 models:
// every base weight and bias (full fine-tuning) and every LoRA A / B (base
// frozen, some adapters with dropout). Also: left padding with ignored targets
// changes nothing, and tensors of the wrong size are named in the error.
//
// Tolerance: central differences in float64 with h = 1e-6 are off by
// ~h^2 |L'''| (truncation, ~1e-12) plus ~ulp(L) / h (rounding, ~1e-10), so an
// entry passes when |grad - fd| <= 1e-6 * max|grad of the tensor| + 1e-9.
// Any mistake in the chain rule shows up orders of magnitude above that.
import { describe, expect, it } from 'vitest';
import {
  DecoderReferenceError, LORA_TARGETS, decoderBackward, decoderForward, decoderLoss, modulePath,
  type DecoderInput, type LoraTarget, type ReferenceLora,
} from '../reference/decoder.ts';
import { crossEntropy } from '../reference/cross_entropy.ts';
import { dropoutMask, loraScale, type DropoutSpec } from '../reference/lora.ts';
import type { DecoderConfig } from '../src/model/config.ts';
import { weightSpecs } from '../src/model/decoder.ts';
import { B, LLAMA, PAD, QWEN2, T, lookup, makeBatch, makeLora, makeWeights } from './tiny-decoder.ts';
import { checkAgainstDifferences, maxAbs, randomData, rng } from './helpers.ts';

const STEP = 1e-6;
const RTOL = 1e-6;
const ATOL = 1e-9;



const dropSeed = (layer: number, target: LoraTarget) => (0x9e3779b9 * (layer + 1) + LORA_TARGETS.indexOf(target) * 7919) >>> 0;

const CASES = [
  {
    name: 'llama (separate head, q/k/v/o and MLP biases)',
    cfg: LLAMA,
    lora: [...LORA_TARGETS],
    dropped: new Set<LoraTarget>(['q_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj']),
  },
  {
    name: 'qwen2 (tied head, q/k/v biases, H*D != C)',
    cfg: QWEN2,
    lora: ['q_proj', 'k_proj', 'o_proj', 'gate_proj', 'down_proj'] as LoraTarget[],
    dropped: new Set<LoraTarget>(['k_proj', 'gate_proj']),
  },
];

describe('reference decoder backward vs central differences of its loss', () => {
  for (const [ci, c] of CASES.entries()) {
    it(`${c.name}: every base weight and bias`, () => {
      const W = makeWeights(c.cfg, 100 + ci);
      const { input, targets } = makeBatch(c.cfg, 7 + ci);
      const weight = lookup(W);
      const { loss, grads } = decoderBackward(c.cfg, weight, input, targets);

      expect(loss).toBe(decoderLoss(c.cfg, weight, input, targets));
      const counted = Array.from(targets).filter((t) => t !== -100).length;
      expect(loss).toBe(crossEntropy(decoderForward(c.cfg, weight, input).logits, targets, B * T, c.cfg.vocab).loss);
      expect(counted, 'some targets are ignored, some count').toBeLessThan(B * T);
      expect([...grads.keys()].sort(), 'one gradient per base tensor').toEqual(weightSpecs(c.cfg).map((s) => s.name).sort());

      const worst = checkAgainstDifferences(W, grads, () => decoderLoss(c.cfg, weight, input, targets), 1 + ci, { step: STEP, rtol: RTOL, atol: ATOL });
      expect(worst).toBeLessThanOrEqual(1);
    });

    it(`${c.name}: LoRA A and B on ${c.lora.join(', ')}, dropout 0.3 on ${[...c.dropped].join(', ')}`, () => {
      const W = makeWeights(c.cfg, 200 + ci);
      const { input, targets } = makeBatch(c.cfg, 9 + ci);
      const L = new Map<string, Float64Array>();
      makeLora(c.cfg, c.lora, 300 + ci, L);
      const spec = (l: number, t: LoraTarget): DropoutSpec | undefined => (c.dropped.has(t) ? { p: 0.3, seed: dropSeed(l, t) } : undefined);
      const lora: ReferenceLora = { scale: loraScale(4, 2), targets: c.lora, weight: lookup(L), dropout: spec };
      const weight = lookup(W);

      // The masks drop some inputs and keep others, and dropout changes the loss.
      for (const t of c.dropped) {
        const inF = t === 'o_proj' ? c.cfg.heads * c.cfg.headDim : t === 'down_proj' ? c.cfg.intermediate : c.cfg.hidden;
        const kept = dropoutMask(B * T * inF, spec(0, t)!).filter((v) => v > 0).length;
        expect(kept, `${t}: some kept`).toBeGreaterThan(0);
        expect(kept, `${t}: some dropped`).toBeLessThan(B * T * inF);
      }
      const lossNoDrop = decoderLoss(c.cfg, weight, input, targets, { ...lora, dropout: undefined });
      const { loss, grads } = decoderBackward(c.cfg, weight, input, targets, lora);
      expect(loss).toBe(decoderLoss(c.cfg, weight, input, targets, lora));
      expect(Math.abs(loss - lossNoDrop), 'dropout is applied').toBeGreaterThan(1e-6);
      expect(Math.abs(loss - decoderLoss(c.cfg, weight, input, targets)), 'the adapters are applied').toBeGreaterThan(1e-6);

      expect([...grads.keys()].sort(), 'A and B of every targeted module, nothing of the frozen base').toEqual([...L.keys()].sort());
      const worst = checkAgainstDifferences(L, grads, () => decoderLoss(c.cfg, weight, input, targets, lora), 11 + ci, { step: STEP, rtol: RTOL, atol: ATOL });
      expect(worst).toBeLessThanOrEqual(1);
    });
  }

  it('LoRA with B = 0 (PEFT init): the base forward exactly, dA = 0, dB nonzero', () => {
    const cfg = LLAMA;
    const W = makeWeights(cfg, 400);
    const { input, targets } = makeBatch(cfg, 3);
    const L = new Map<string, Float64Array>();
    makeLora(cfg, LORA_TARGETS, 500, L);
    for (const [name, t] of L) if (name.endsWith('lora_B.weight')) t.fill(0);
    const lora: ReferenceLora = { scale: 8, targets: LORA_TARGETS, weight: lookup(L), dropout: () => ({ p: 0.3, seed: 5 }) };
    expect(decoderForward(cfg, lookup(W), input, lora).logits).toEqual(decoderForward(cfg, lookup(W), input).logits);
    const { grads } = decoderBackward(cfg, lookup(W), input, targets, lora);
    for (const [name, g] of grads) {
      if (name.endsWith('lora_A.weight')) expect(maxAbs(g), name).toBe(0);
      else expect(maxAbs(g), name).toBeGreaterThan(1e-5);
    }
  });
});

describe('reference decoder: padding', () => {
  for (const [ci, c] of CASES.entries()) {
    it(`${c.name}: padding tokens with target -100 change nothing, and the padded row is the same sequence alone`, () => {
      const W = makeWeights(c.cfg, 600 + ci);
      const weight = lookup(W);
      const { input, targets } = makeBatch(c.cfg, 13 + ci);
      const base = decoderBackward(c.cfg, weight, input, targets);
      type Result = { loss: number; grads: Map<string, Float64Array> };
      /** other agrees with ref to rel of the loss and of each tensor's largest gradient. */
      const closeTo = (what: string, ref: Result, other: Result, rel: number) => {
        expect(Math.abs(other.loss - ref.loss), `${what}: loss`).toBeLessThanOrEqual(rel * Math.abs(ref.loss));
        expect([...other.grads.keys()]).toEqual([...ref.grads.keys()]);
        for (const [name, g] of ref.grads) {
          const o = other.grads.get(name)!;
          let d = 0;
          for (let i = 0; i < g.length; i++) d = Math.max(d, Math.abs(o[i] - g[i]));
          expect(d, `${what}: ${name}`).toBeLessThanOrEqual(rel * maxAbs(g));
        }
      };

      // Other ids and positions on the padding tokens: nothing moves.
      const ids = Int32Array.from(input.ids), pos = Int32Array.from(input.pos);
      for (let t = 0; t < PAD; t++) {
        ids[T + t] = 3 + t;
        pos[T + t] = 7 - t;
      }
      closeTo('other padding ids and positions', base, decoderBackward(c.cfg, weight, { ...input, ids, pos }, targets), 1e-15);
      // A target on a padding token would count (so the check above can fail).
      const padTarget = Int32Array.from(targets);
      padTarget[T + 1] = 4;
      expect(decoderLoss(c.cfg, weight, input, padTarget)).not.toBeCloseTo(base.loss, 6);

      // Row 1 alone, unpadded (T - PAD tokens, positions from 0), vs the batch with row 0's targets ignored.
      const only1 = Int32Array.from(targets).fill(-100, 0, T);
      const batched = decoderBackward(c.cfg, weight, input, only1);
      const n = T - PAD;
      const alone = decoderBackward(c.cfg, weight, {
        B: 1, T: n,
        ids: Int32Array.from(input.ids).slice(T + PAD, 2 * T),
        mask: new Int32Array(n).fill(1),
        pos: Int32Array.from({ length: n }, (_, t) => t),
      }, targets.slice(T + PAD, 2 * T));
      for (const [name, g] of batched.grads) expect(maxAbs(g), `row 1's ${name} gradient is not zero`).toBeGreaterThan(1e-5);
      closeTo('row 1 alone', batched, alone, 1e-13);
    });
  }
});

describe('reference decoder: errors', () => {
  it('names the tensor, input or target that does not fit', () => {
    const cfg = QWEN2;
    const W = makeWeights(cfg, 700);
    const { input, targets } = makeBatch(cfg, 17);
    const withW = (name: string, v: Float64Array) => lookup(new Map([...W, [name, v]]));
    expect(() => decoderLoss(cfg, withW('model.layers.1.self_attn.k_proj.weight', new Float64Array(40)), input, targets))
      .toThrow(/tensor "model.layers.1.self_attn.k_proj.weight" has 40 elements, expected 48 \(\[6, 8\]\)/);
    expect(() => decoderForward(cfg, withW('model.layers.0.self_attn.v_proj.bias', new Float64Array(5)), input))
      .toThrow(/tensor "model.layers.0.self_attn.v_proj.bias" has 5 elements, expected 6/);
    expect(() => decoderForward(cfg, withW('model.embed_tokens.weight', new Float64Array(80)), input)).toThrow(DecoderReferenceError);
    expect(() => decoderLoss(cfg, lookup(W), input, Int32Array.from(targets).fill(11, 3, 4)))
      .toThrow(/targets\[3\] is 11; expected -100 \(ignored\) or a token id in \[0, 11\)/);
    expect(() => decoderForward(cfg, lookup(W), { ...input, ids: Int32Array.from(input.ids).fill(-1, 6, 7) }))
      .toThrow(/input.ids\[6\] \(row 1, t 1\) is -1/);
    expect(() => decoderForward(cfg, lookup(W), { ...input, mask: new Int32Array(3) })).toThrow(/input.mask has 3 entries, expected B\*T = 10/);

    const L = new Map<string, Float64Array>();
    makeLora(cfg, ['o_proj'], 800, L);
    L.set('model.layers.1.self_attn.o_proj.lora_B.weight', new Float64Array(12));
    const lora: ReferenceLora = { scale: 2, targets: ['o_proj'], weight: lookup(L) };
    expect(() => decoderBackward(cfg, lookup(W), input, targets, lora))
      .toThrow(/tensor "model.layers.1.self_attn.o_proj.lora_B.weight" has 12 elements, expected 16 \(\[8, 2\]\) from the config and rank 2/);
    expect(() => decoderLoss(cfg, lookup(W), input, targets, { ...lora, targets: ['qkv' as LoraTarget] })).toThrow(/LoRA target "qkv" is not one of/);
  });
});

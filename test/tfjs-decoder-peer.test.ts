// The benchmark's whole-model peer (bench/peers/tfjs-decoder.ts: the decoder
// forward in tfjs-core ops on tfjs-backend-webgpu) computes our model: its
// final hidden states against the float64 reference decoder, beside our GPU
// decoderForward on the same weights and ids, for the tiny preset (llama,
// GQA 4/2, tied) and a qwen2 with nonzero q/k/v biases, GQA 6/2, H*D != C and
// an untied head. B 2, T 7: a multiple of no tile size. tfjs and our Gpu share
// one Dawn instance (navigator.gpu), as in the benchmark. Skipped, saying
// why, when tfjs cannot load.
import { afterAll, describe, expect, it } from 'vitest';
import { decoderForward as referenceForward } from '../reference/decoder.ts';
import {
  decoderPeerIds, decoderWeightsByName, loadTfjsDecoder, shareDawnOnNavigator, TfjsDecoderError,
} from '../bench/peers/tfjs-decoder.ts';
import type { DecoderConfig } from '../src/model/config.ts';
import { decoderForward, decoderFromData, releaseDecoder, weightSpecs } from '../src/model/decoder.ts';
import { presetConfig } from '../src/model/presets.ts';
import { rng, useGpu } from './helpers.ts';

// navigator.gpu first: Gpu.create (useGpu) and tfjs then both take it.
const unshare = await shareDawnOnNavigator();
const peer = await loadTfjsDecoder();
const gpu = useGpu();
afterAll(async () => {
  if (typeof peer !== 'string') {
    const tf = await import('@tensorflow/tfjs-core');
    tf.engine().reset(); // disposes every tfjs tensor and the webgpu backend
  }
  unshare();
});

const B = 2, T = 7;
const QWEN2 = presetConfig('tiny', {
  model_type: 'qwen2', hidden_size: 96, head_dim: 24, num_attention_heads: 6, num_key_value_heads: 2,
  intermediate_size: 160, num_hidden_layers: 2, vocab_size: 512, rope_theta: 1e6, rms_norm_eps: 1e-6, tie_word_embeddings: false,
});

/** Every weight by HF name: linears / embedding uniform in ±0.12 (attention far from uniform), norms 0.8..1.2, biases ±0.1. */
function weightsFor(cfg: DecoderConfig, seed: number): Map<string, Float32Array> {
  const u = rng(seed);
  return new Map(weightSpecs(cfg).map(({ name, shape, kind }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const draw = kind === 'norm' ? () => 0.8 + 0.4 * u() : kind === 'bias' ? () => 0.2 * (u() - 0.5) : () => 0.24 * (u() - 0.5);
    return [name, Float32Array.from({ length: n }, draw)];
  }));
}

/** Worst |a - b| over each row's largest |b| (float32 through a whole model). */
function worstRowError(a: ArrayLike<number>, b: ArrayLike<number>, width: number): number {
  let worst = 0;
  for (let r = 0; r < b.length / width; r++) {
    let scale = 0;
    for (let c = 0; c < width; c++) scale = Math.max(scale, Math.abs(b[r * width + c]));
    for (let c = 0; c < width; c++) worst = Math.max(worst, Math.abs(a[r * width + c] - b[r * width + c]) / scale);
  }
  return worst;
}

describe.skipIf(typeof peer === 'string')(`tfjs decoder peer${typeof peer === 'string' ? ` (skipped: ${peer})` : ''}`, () => {
  const cases: [string, DecoderConfig][] = [['tiny (llama, GQA 4/2, tied)', presetConfig('tiny')], ['qwen2 (q/k/v biases, GQA 6/2, H*D != C, untied)', QWEN2]];
  for (const [name, cfg] of cases) {
    it(`${name}: final hidden states match the float64 reference to 1e-4, as ours do`, async () => {
      if (typeof peer === 'string') return;
      const g = await gpu();
        const weights = weightsFor(cfg, 7);
      const model = await decoderFromData(g, cfg, async (s) => weights.get(s.name)!);
      try {
        // What the benchmark hands the peer: our model's weights read back by name.
        const byName = await decoderWeightsByName(g, model);
        expect([...byName.keys()]).toEqual([...weights.keys()]);
        for (const [k, v] of weights) expect(byName.get(k), k).toEqual(v);
        if (cfg.qkvBias) expect(byName.get('model.layers.1.self_attn.k_proj.bias')!.some((x) => x !== 0)).toBe(true);

        const ids = decoderPeerIds(cfg.vocab, B, T);
        const ones = new Int32Array(B * T).fill(1);
        const pos = Int32Array.from({ length: B * T }, (_, i) => i % T);
        const ref = referenceForward(cfg, (n) => {
          const w = byName.get(n);
          if (!w) throw new Error(`no weight ${n}`);
          return w;
        }, { B, T, ids, mask: ones, pos });
        const expected = ref.hidden[ref.hidden.length - 1]; // [B*T, C] after the final norm

        const tfjsFinal = await peer.finalHidden(cfg, byName, B, T);
        expect(tfjsFinal.length).toBe(B * T * cfg.hidden);
        expect(worstRowError(tfjsFinal, expected, cfg.hidden), 'tfjs vs reference').toBeLessThan(1e-4);

        const input = { B, T, ids: g.tensor(ids, [B, T], 'i32', 'ids'), mask: g.tensor(ones, [B, T], 'i32', 'mask'), pos: g.tensor(pos, [B, T], 'i32', 'pos') };
        const { last } = decoderForward(g, model, input);
        const ours = (await last.read()) as Float32Array;
        [last, input.ids, input.mask, input.pos].forEach((t) => t.release());
        expect(worstRowError(ours, expected, cfg.hidden), 'ours vs reference').toBeLessThan(1e-4);
        // So the peer and ours compute the same thing on the same ids.
        expect(worstRowError(tfjsFinal, ours, cfg.hidden)).toBeLessThan(2e-4);
      } finally {
        releaseDecoder(model);
      }
    });
  }

  it('run() records the forward without leaking tfjs tensors; a missing weight is named', async () => {
    if (typeof peer === 'string') return;
    const tf = await import('@tensorflow/tfjs-core');
    const cfg = presetConfig('tiny');
    const weights = weightsFor(cfg, 3);
    const before = tf.memory().numTensors;
    const h = peer.forward(cfg, weights, B, T).setup();
    const held = tf.memory().numTensors;
    h.run();
    h.run();
    await peer.sync();
    expect(tf.memory().numTensors, 'run() frees its intermediates').toBe(held);
    h.dispose();
    expect(tf.memory().numTensors, 'dispose() frees the weights').toBe(before);

    const missing = new Map(weights);
    missing.delete('model.layers.2.self_attn.q_proj.weight');
    expect(() => peer.forward(cfg, missing, B, T).setup()).toThrow(TfjsDecoderError);
    expect(() => peer.forward(cfg, missing, B, T).setup()).toThrow(/"model\.layers\.2\.self_attn\.q_proj\.weight" is missing; expected \[128, 128\]/);
    expect(tf.memory().numTensors, 'a failed setup frees what it uploaded').toBe(before);
  });
});

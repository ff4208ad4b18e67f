// The whole-model peer: the decoder's inference forward (src/model/forward.ts,
// decoderForward) written with tfjs-core ops on tfjs-backend-webgpu, on the
// same Dawn adapter, at the same config, weights, batch and length. Timed like
// ours: record the forward, submit, wait for the queue (no read-back).
//
// Shapes: B batch, T time, N = B*T, C hidden, H / Hkv heads (g = H / Hkv
// query heads per KV head), D head dim, F MLP width; weights come in HF
// layout (a linear's W is [out, in]), keyed by HF name (src/model/decoder.ts
// weightSpecs), and setup stores each linear's W^T [in, out] (see below).
//
//   x = embed[ids]                                               [N, C]
//   per layer:
//     h1 = rmsnorm(x) * w1      rmsnorm(x) = x / sqrt(mean_c x^2 + eps)
//     q = rope(h1 Wq^T (+bq)), k = rope(h1 Wk^T (+bk))         [B, T, H|Hkv, D]
//     v = h1 Wv^T (+bv)                                          [B, T, Hkv, D]
//     o = softmax(q k^T / sqrt(D) + causal) v                    [N, H*D]
//     x1 = x + o Wo^T (+bo)
//     h2 = rmsnorm(x1) * w2
//     x2 = x1 + (silu(h2 Wg^T) * h2 Wu^T) Wd^T                   (+ MLP biases when the config has them)
//   final = rmsnorm(x) * w                                       [B, T, C]
//
// RoPE is HF's rotate-half: y = x cos + [-x2, x1] sin with angle t * theta^(-2j/D)
// for channel j and j + D/2. The cos / sin tables [T, 1, D] and the causal
// mask are built once in setup (positions 0..T-1, no padding), as a model
// would cache them; our rope kernel computes the angles on the fly.
// GQA without copying K/V: the g query heads of a KV head are stacked along
// the rows, q [B*Hkv, g*T, D] against k [B*Hkv, T, D] (query head h uses KV
// head h / g, as repeat_kv does), so the mask is [g*T, T] with row r at time r % T.
import type { Gpu } from '../../src/gpu/gpu.ts';
import { rng } from '../../src/doctor/compare.ts';
import type { DecoderConfig } from '../../src/model/config.ts';
import { weightSpecs, type Decoder } from '../../src/model/decoder.ts';
import { tableTensors } from '../../src/model/weight-table.ts';
import { startTfjs, type PeerCase } from './tfjs.ts';
import type { Tensor as TfTensor, Tensor2D } from '@tensorflow/tfjs-core';

type Tf = typeof import('@tensorflow/tfjs-core');

export interface TfjsDecoderPeer {
  version: string;
  /** The inference forward on decoderPeerIds(config.vocab, B, T); run() records it and frees its intermediates. */
  forward(config: DecoderConfig, weights: Map<string, Float32Array>, B: number, T: number): PeerCase;
  /** The same forward once, read back: the final hidden states [B, T, C] (after the final norm). */
  finalHidden(config: DecoderConfig, weights: Map<string, Float32Array>, B: number, T: number): Promise<Float32Array>;
  /** Submits tfjs's recorded work and waits for the queue. */
  sync(): Promise<void>;
}

/** Weights that do not fit the config. */
export class TfjsDecoderError extends Error {
  override name = 'TfjsDecoderError';
}

const IDS_SEED = 1234;

/** The fixed random token ids [B*T] every forward here runs on (the same for our side of the comparison). */
export function decoderPeerIds(vocab: number, B: number, T: number): Int32Array {
  const u = rng(IDS_SEED);
  return Int32Array.from({ length: B * T }, () => Math.floor(u() * vocab));
}

/** Our GPU decoder's weights read back, by HF name (model.embed_tokens.weight, model.layers.0.self_attn.q_proj.weight, ...). */
export async function decoderWeightsByName(gpu: Gpu, model: Decoder): Promise<Map<string, Float32Array>> {
  const tensors = await tableTensors(gpu, weightSpecs(model.config), model.weights);
  return new Map(tensors.map((t) => [t.name, t.data as Float32Array]));
}

/**
 * Puts one Dawn instance on navigator.gpu (when there is none), so our Gpu
 * (Gpu.create reads navigator.gpu first) and tfjs run on the same adapter.
 * Call before Gpu.create and loadTfjsDecoder. Returns a function that takes
 * it off again (only when this call put it there), so the process can exit.
 */
export async function shareDawnOnNavigator(): Promise<() => void> {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator?.gpu) return () => {};
  const { create, globals } = (await import('webgpu')) as { create: (o: string[]) => GPU; globals: object };
  for (const [k, v] of Object.entries(globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const before = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', { value: { ...(g.navigator ?? {}), gpu: create([]) }, configurable: true });
  return () => {
    if (before) Object.defineProperty(globalThis, 'navigator', before);
    else delete (globalThis as { navigator?: unknown }).navigator;
  };
}

/** Loads tfjs on navigator.gpu; a string (the reason) when it cannot. */
export async function loadTfjsDecoder(): Promise<TfjsDecoderPeer | string> {
  if (!(globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu) {
    return 'navigator.gpu is not set: put Dawn there first (shareDawnOnNavigator) so tfjs and our Gpu share one adapter';
  }
  const started = await startTfjs();
  if (typeof started === 'string') return started;
  const { tf } = started;
  const build = (config: DecoderConfig, weights: Map<string, Float32Array>, B: number, T: number) => setupForward(tf, config, weights, B, T);
  return {
    version: tf.version_core,
    forward(config, weights, B, T) {
      return {
        name: `tfjs decoder forward ${config.modelType} C${config.hidden} L${config.layers} B${B} T${T}`,
        setup() {
          const f = build(config, weights, B, T);
          return {
            run: () => tf.tidy(() => { f.forward(); }),
            dispose: f.dispose,
          };
        },
      };
    },
    async finalHidden(config, weights, B, T) {
      const f = build(config, weights, B, T);
      try {
        const y = tf.tidy(() => f.forward());
        try {
          return (await y.data()) as Float32Array;
        } finally {
          y.dispose();
        }
      } finally {
        f.dispose();
      }
    },
    sync: started.sync,
  };
}

/** Uploads the weights, ids, rope tables and mask; forward() records the model on them. */
function setupForward(tf: Tf, cfg: DecoderConfig, weights: Map<string, Float32Array>, B: number, T: number): { forward(): TfTensor; dispose(): void } {
  if (!(Number.isInteger(B) && B >= 1 && Number.isInteger(T) && T >= 1)) throw new TfjsDecoderError(`tfjs decoder: B ${B} and T ${T} must be positive integers`);
  const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, rmsNormEps: eps, ropeTheta: theta } = cfg;
  const N = B * T, g = H / Hkv, half = D / 2;
  const held: TfTensor[] = [];
  const keep = <X extends TfTensor>(t: X): X => {
    held.push(t);
    return t;
  };
  const w = new Map<string, TfTensor>();
  // Every weight but lm_head (the forward stops at the final hidden states).
  for (const spec of weightSpecs(cfg).filter((s) => s.name !== 'lm_head.weight')) {
    const data = weights.get(spec.name);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (!data || data.length !== n) {
      held.forEach((t) => t.dispose());
      throw new TfjsDecoderError(`tfjs decoder: weight "${spec.name}" ${data ? `has ${data.length} values` : 'is missing'}; expected [${spec.shape.join(', ')}] from the config`);
    }
    // A linear's W [out, in] is stored transposed, [in, out] (tf.layers.dense's
    // kernel layout): tfjs's matmul with transposeB runs at about half the speed here.
    const t = tf.tensor(data, spec.shape);
    const linear = spec.kind === 'matrix' && spec.name !== 'model.embed_tokens.weight';
    w.set(spec.name, keep(linear ? tf.transpose(t) : t));
    if (linear) t.dispose();
  }
  const W = (name: string) => w.get(name)!;
  const has = (name: string) => w.get(name);

  const ids = keep(tf.tensor1d(decoderPeerIds(cfg.vocab, B, T), 'int32'));
  // cos / sin [T, 1, D]: channel j and j + D/2 share angle t * theta^(-2j/D).
  const cos = new Float32Array(T * D), sin = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < half; j++) {
      const angle = t * theta ** ((-2 * j) / D);
      cos[t * D + j] = cos[t * D + j + half] = Math.cos(angle);
      sin[t * D + j] = sin[t * D + j + half] = Math.sin(angle);
    }
  }
  const cosT = keep(tf.tensor(cos, [T, 1, D]));
  const sinT = keep(tf.tensor(sin, [T, 1, D]));
  // Causal mask [g*T, T]: row r is query time r % T; later keys get -1e9 (exp underflows to exactly 0).
  const mask = new Float32Array(g * T * T);
  for (let r = 0; r < g * T; r++) for (let s = (r % T) + 1; s < T; s++) mask[r * T + s] = -1e9;
  const maskT = keep(tf.tensor(mask, [g * T, T]));
  const scale = 1 / Math.sqrt(D);

  const rmsnorm = (x: TfTensor, weight: TfTensor) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), weight);
  // x [rows, in] W^T (+ b), with W^T stored [in, out]
  const linear = (x: TfTensor, path: string) => tf.fused.matMul({ a: x as Tensor2D, b: W(`${path}.weight`) as Tensor2D, bias: has(`${path}.bias`) });
  // x [B, T, heads, D] -> x cos + rotate_half(x) sin
  const rope = (x: TfTensor, heads: number) => {
    const x1 = tf.slice(x, [0, 0, 0, 0], [B, T, heads, half]);
    const x2 = tf.slice(x, [0, 0, 0, half], [B, T, heads, half]);
    return tf.add(tf.mul(x, cosT), tf.mul(tf.concat([tf.neg(x2), x1], -1), sinT));
  };

  const forward = (): TfTensor => {
    let x: TfTensor = tf.gather(W('model.embed_tokens.weight'), ids); // [N, C]
    for (let l = 0; l < cfg.layers; l++) {
      const p = `model.layers.${l}.`;
      const h1 = rmsnorm(x, W(`${p}input_layernorm.weight`));
      const q = rope(tf.reshape(linear(h1, `${p}self_attn.q_proj`), [B, T, H, D]), H);
      const k = rope(tf.reshape(linear(h1, `${p}self_attn.k_proj`), [B, T, Hkv, D]), Hkv);
      const v = tf.reshape(linear(h1, `${p}self_attn.v_proj`), [B, T, Hkv, D]);
      // q [B, T, Hkv, g, D] -> [B*Hkv, g*T, D]; k, v [B, T, Hkv, D] -> [B*Hkv, T, D]
      const qg = tf.reshape(tf.transpose(tf.reshape(q, [B, T, Hkv, g, D]), [0, 2, 3, 1, 4]), [B * Hkv, g * T, D]);
      const kg = tf.reshape(tf.transpose(k, [0, 2, 1, 3]), [B * Hkv, T, D]);
      const vg = tf.reshape(tf.transpose(v, [0, 2, 1, 3]), [B * Hkv, T, D]);
      const scores = tf.add(tf.mul(tf.matMul(qg, kg, false, true), scale), maskT); // [B*Hkv, g*T, T]
      const og = tf.matMul(tf.softmax(scores), vg); // [B*Hkv, g*T, D]
      const o = tf.reshape(tf.transpose(tf.reshape(og, [B, Hkv, g, T, D]), [0, 3, 1, 2, 4]), [N, H * D]);
      const x1 = tf.add(x, linear(o, `${p}self_attn.o_proj`));
      const h2 = rmsnorm(x1, W(`${p}post_attention_layernorm.weight`));
      const gate = linear(h2, `${p}mlp.gate_proj`);
      const act = tf.mul(tf.mul(gate, tf.sigmoid(gate)), linear(h2, `${p}mlp.up_proj`)); // [N, F]
      x = tf.add(x1, linear(act, `${p}mlp.down_proj`));
    }
    return tf.reshape(rmsnorm(x, W('model.norm.weight')), [B, T, C]);
  };
  return { forward, dispose: () => held.forEach((t) => t.dispose()) };
}

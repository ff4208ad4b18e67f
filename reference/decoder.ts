// Float64 reference of the Llama / Qwen2 decoder forward: the spec the GPU
// model is tested against, built from the per-kernel references. Plain code,
// no batching tricks. Shapes: B batch, T time, C hidden, H / Hkv heads, D head
// dim, F MLP width, V vocab. Activations are row-major [B*T, C].
//
//   x = embed[ids]
//   for each layer:
//     h = rmsnorm(x, input_layernorm)
//     q, k, v = h Wq^T (+bq), h Wk^T (+bk), h Wv^T (+bv)        [B, T, H|Hkv, D]
//     q, k = rope(q, pos), rope(k, pos)
//     x = x + attention(q, k, v; causal, key mask) Wo^T (+bo)
//     h = rmsnorm(x, post_attention_layernorm)
//     x = x + (silu(h Wg^T) * (h Wu^T)) Wd^T
//   x = rmsnorm(x, norm);  logits = x head^T (head = embed when tied)
//
// hidden[0] is the embedding output, hidden[i] the output of layer i, and the
// last entry is after the final norm (as transformers' output_hidden_states).
import type { DecoderConfig } from '../src/model/config.ts';
import { attention } from './attention.ts';
import { swiglu } from './elementwise.ts';
import { rmsnorm } from './rmsnorm.ts';
import { rope } from './rope.ts';

type Arr = ArrayLike<number>;

export interface DecoderInput {
  B: number;
  T: number;
  /** [B, T] token ids. */
  ids: Arr;
  /** [B, T], nonzero = a real token (left or right padding). */
  mask: Arr;
  /** [B, T] rotary positions. */
  pos: Arr;
}

/** y [rows, out] = x [rows, in] W^T (+ b), W [out, in]. */
export function linear(x: Arr, rows: number, inDim: number, W: Arr, outDim: number, b?: Arr): Float64Array {
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < inDim; i++) acc += x[r * inDim + i] * W[o * inDim + i];
      y[r * outDim + o] = acc;
    }
  }
  return y;
}

export function decoderForward(
  cfg: DecoderConfig,
  weight: (name: string) => Arr,
  input: DecoderInput,
): { hidden: Float64Array[]; logits: Float64Array } {
  const { B, T } = input;
  const N = B * T;
  const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, intermediate: F, vocab: V, rmsNormEps: eps } = cfg;
  const has = (name: string): Arr | undefined => {
    try {
      return weight(name);
    } catch {
      return undefined;
    }
  };

  const embed = weight('model.embed_tokens.weight');
  let x: Float64Array = new Float64Array(N * C);
  for (let t = 0; t < N; t++) for (let c = 0; c < C; c++) x[t * C + c] = embed[input.ids[t] * C + c];
  const hidden: Float64Array[] = [x];

  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.layers.${l}.`;
    const { y: h } = rmsnorm(x, weight(`${p}input_layernorm.weight`), N, C, eps);
    const proj = (name: string, out: number) => linear(h, N, C, weight(`${p}self_attn.${name}.weight`), out, has(`${p}self_attn.${name}.bias`));
    const ropeShape = { B, T, D, theta: cfg.ropeTheta };
    const q = rope(proj('q_proj', H * D), input.pos, { ...ropeShape, H });
    const k = rope(proj('k_proj', Hkv * D), input.pos, { ...ropeShape, H: Hkv });
    const v = proj('v_proj', Hkv * D);
    const { o } = attention(q, k, v, input.mask, { B, T, H, Hkv, D, causal: true });
    const attnOut = linear(o, N, H * D, weight(`${p}self_attn.o_proj.weight`), C, has(`${p}self_attn.o_proj.bias`));
    x = Float64Array.from(x, (xi, i) => xi + attnOut[i]);

    const { y: h2 } = rmsnorm(x, weight(`${p}post_attention_layernorm.weight`), N, C, eps);
    const gate = linear(h2, N, C, weight(`${p}mlp.gate_proj.weight`), F, has(`${p}mlp.gate_proj.bias`));
    const up = linear(h2, N, C, weight(`${p}mlp.up_proj.weight`), F, has(`${p}mlp.up_proj.bias`));
    const mlpOut = linear(swiglu(gate, up), N, F, weight(`${p}mlp.down_proj.weight`), C, has(`${p}mlp.down_proj.bias`));
    x = Float64Array.from(x, (xi, i) => xi + mlpOut[i]);
    hidden.push(x);
  }
  const { y: final } = rmsnorm(x, weight('model.norm.weight'), N, C, eps);
  hidden[hidden.length - 1] = final;
  const head = cfg.tiedEmbeddings ? embed : weight('lm_head.weight');
  return { hidden, logits: linear(final, N, C, head, V) };
}

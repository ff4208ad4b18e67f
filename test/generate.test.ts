// Generation: greedy tokens are the argmax of the float64 reference decoder's
// logits at each position; stop ids, maxNewTokens and max_position_embeddings
// end it; every tensor is released; `lco generate` runs end to end in a child
// process; streamed text never splits a UTF-8 character.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decoderForward as refForward } from '../reference/decoder.ts';
import { serializeSafetensors } from '../src/io/safetensors.ts';
import { readTokenizer, type Tokenizer } from '../src/io/tokenizer.ts';
import { toHfConfig, type DecoderConfig } from '../src/model/config.ts';
import { loadDecoder, releaseDecoder, type Decoder } from '../src/model/decoder.ts';
import { generate } from '../src/model/generate.ts';
import { StreamDecoder } from '../src/cli/generate.ts';
import { randomData, runLco, useGpu } from './helpers.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const gpu = useGpu();

const CFG: DecoderConfig = {
  modelType: 'llama', hidden: 16, intermediate: 32, layers: 2, heads: 2, kvHeads: 1, headDim: 8, vocab: 4096,
  rmsNormEps: 1e-6, ropeTheta: 10000, maxPositions: 64, tiedEmbeddings: false, qkvBias: false, oBias: false,
  mlpBias: false, bosTokenId: null, eosTokenIds: [2], padTokenId: null,
};

/** Random weights (never zero; norm weights in [0.5, 1.5]) keyed by HF name. */
function randomWeights(cfg: DecoderConfig): Map<string, { shape: number[]; data: Float32Array }> {
  const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, intermediate: F, vocab: V } = cfg;
  const w = new Map<string, { shape: number[]; data: Float32Array }>();
  let seed = 100;
  const add = (name: string, shape: number[], norm = false) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = norm ? Float32Array.from(randomData(n, seed++, 0, 0.5), (x) => 1 + x) : randomData(n, seed++, 0.05, 1);
    w.set(name, { shape, data });
  };
  add('model.embed_tokens.weight', [V, C]);
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.layers.${l}.`;
    add(`${p}input_layernorm.weight`, [C], true);
    add(`${p}self_attn.q_proj.weight`, [H * D, C]);
    add(`${p}self_attn.k_proj.weight`, [Hkv * D, C]);
    add(`${p}self_attn.v_proj.weight`, [Hkv * D, C]);
    add(`${p}self_attn.o_proj.weight`, [C, H * D]);
    add(`${p}post_attention_layernorm.weight`, [C], true);
    add(`${p}mlp.gate_proj.weight`, [F, C]);
    add(`${p}mlp.up_proj.weight`, [F, C]);
    add(`${p}mlp.down_proj.weight`, [C, F]);
  }
  add('model.norm.weight', [C], true);
  add('lm_head.weight', [V, C]);
  return w;
}

const weights = randomWeights(CFG);
let dir = '';
let tokenizer: Tokenizer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lco-gen-'));
  await writeFile(join(dir, 'config.json'), JSON.stringify(toHfConfig(CFG)));
  await writeFile(join(dir, 'model.safetensors'), serializeSafetensors([...weights].map(([name, t]) => ({ name, ...t }))));
  await copyFile(join(root, 'fixtures/wordnet/tokenizer.json'), join(dir, 'tokenizer.json'));
  tokenizer = await readTokenizer(join(dir, 'tokenizer.json'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Float64 reference logits [T, V] of a sequence (causal: row t sees tokens 0..t). */
function referenceLogits(seq: number[]): Float64Array {
  const T = seq.length;
  const weight = (name: string) => {
    const t = weights.get(name);
    if (!t) throw new Error(`no tensor ${name}`);
    return t.data;
  };
  return refForward(CFG, weight, { B: 1, T, ids: seq, mask: new Array(T).fill(1), pos: [...Array(T).keys()] }).logits;
}

/**
 * Checks that each new token is the argmax of the reference logits at the
 * position before it. Float32 on the GPU vs float64 can swap two logits only
 * when they are within ~1e-5 of each other; such a near-tie is accepted when
 * the chosen token's reference logit is within 1e-4 × the row's largest
 * magnitude of the maximum (a wrong token is typically ~0.1 below).
 */
function expectGreedy(prompt: number[], out: number[]): void {
  const seq = [...prompt, ...out];
  const logits = referenceLogits(seq);
  const V = CFG.vocab;
  out.forEach((id, i) => {
    const row = logits.subarray((prompt.length - 1 + i) * V, (prompt.length + i) * V);
    let best = 0;
    let scale = 0;
    for (let v = 0; v < V; v++) {
      if (row[v] > row[best]) best = v;
      scale = Math.max(scale, Math.abs(row[v]));
    }
    if (id !== best) expect(row[best] - row[id], `step ${i}: token ${id}, reference argmax ${best}`).toBeLessThanOrEqual(1e-4 * scale);
  });
}

const run = (args: string[]) => runLco(['generate', ...args], 120_000);

describe('generate on a random tiny llama (vocab 4096, hidden 16)', () => {
  let model: Decoder;
  let prompt: number[];
  let greedy: number[];
  beforeAll(async () => {
    model = await loadDecoder(await gpu(), dir);
    prompt = tokenizer.encode('the cat sat on');
  });
  afterAll(() => releaseDecoder(model));

  it('greedy: each token is the reference argmax at its position; nothing stays allocated', async () => {
    const g = await gpu();
    // One warm-up token: rope keeps its cos/sin table per Gpu on first use.
    await generate(g, model, prompt, { maxNewTokens: 1, temperature: 0, topP: 1, seed: 0 });
    const live = g.pool.stats().liveBytes;
    const seen: number[] = [];
    const res = await generate(g, model, prompt, { maxNewTokens: 8, temperature: 0, topP: 1, seed: 0, onToken: (id) => seen.push(id) });
    expect(res.reason).toBe('max-new-tokens');
    expect(res.ids).toHaveLength(8);
    expect(seen).toEqual(res.ids);
    expect(new Set(res.ids).size, 'a random model should not repeat one token throughout').toBeGreaterThan(1);
    expectGreedy(prompt, res.ids);
    expect(g.pool.stats().liveBytes, 'every tensor generate creates is released').toBe(live);
    greedy = res.ids;
  });

  it('stops at a stop id (kept as the last id) and at config eos', async () => {
    const g = await gpu();
    const k = greedy.findIndex((id, i) => i >= 2 && !greedy.slice(0, i).includes(id));
    expect(k, 'a token not seen before at index >= 2').toBeGreaterThanOrEqual(2);
    const res = await generate(g, model, prompt, { maxNewTokens: 8, temperature: 0, topP: 1, seed: 0, stopIds: [greedy[k]] });
    expect(res).toEqual({ ids: greedy.slice(0, k + 1), reason: 'stop-id' });
    const eos = { ...model, config: { ...model.config, eosTokenIds: [greedy[1]] } };
    expect(await generate(g, eos, prompt, { maxNewTokens: 8, temperature: 0, topP: 1, seed: 0 })).toEqual({ ids: greedy.slice(0, 2), reason: 'stop-id' });
  });

  it('stops before the sequence exceeds max_position_embeddings; refuses a longer prompt', async () => {
    const g = await gpu();
    const short = { ...model, config: { ...model.config, maxPositions: prompt.length + 3 } };
    expect(await generate(g, short, prompt, { maxNewTokens: 8, temperature: 0, topP: 1, seed: 0 })).toEqual({ ids: greedy.slice(0, 3), reason: 'max-positions' });
    const tiny = { ...model, config: { ...model.config, maxPositions: prompt.length - 1 } };
    await expect(generate(g, tiny, prompt, { maxNewTokens: 1, temperature: 0, topP: 1, seed: 0 })).rejects.toThrow(/prompt has \d+ tokens, more than max_position_embeddings/);
    await expect(generate(g, model, [5, 4096], { maxNewTokens: 1, temperature: 0, topP: 1, seed: 0 })).rejects.toThrow(/prompt token 1 is 4096, expected an id in \[0, 4096\)/);
    await expect(generate(g, model, [], { maxNewTokens: 1, temperature: 0, topP: 1, seed: 0 })).rejects.toThrow(/prompt is empty/);
    await expect(generate(g, model, prompt, { maxNewTokens: 1, temperature: 0, topP: 2, seed: 0 })).rejects.toThrow(/topP 2 must be in/);
  });

  it('sampling is reproducible per seed', async () => {
    const g = await gpu();
    const opts = { maxNewTokens: 5, temperature: 1.5, topP: 1, seed: 77 };
    const a = await generate(g, model, prompt, opts);
    expect((await generate(g, model, prompt, opts)).ids).toEqual(a.ids);
    expect(a.ids, 'at temperature 1.5 on a random model sampling departs from greedy').not.toEqual(greedy.slice(0, 5));
  });

  it('lco generate streams the greedy text and exits 0', async () => {
    const res = await run(['--model', dir, '--prompt', 'the cat sat on', '--max-new-tokens', '8', '--greedy']);
    expect(res.stderr).toMatch(/\d+ prompt \+ 8 new tokens in [\d.]+ s \([\d.]+ tok\/s\); stopped at --max-new-tokens/);
    expect(res.code).toBe(0);
    const eosAt = greedy.indexOf(2);
    const shown = eosAt < 0 ? greedy : greedy.slice(0, eosAt);
    expect(res.stdout).toBe(`${tokenizer.decode(shown)}\n`);
  });

  it('lco generate with no prompt starts from <|endoftext|> (config.json has no bos_token_id)', async () => {
    const g = await gpu();
    const start = tokenizer.tokenToId('<|endoftext|>')!;
    const expected = await generate(g, model, [start], { maxNewTokens: 3, temperature: 0, topP: 1, seed: 0 });
    const res = await run(['--model', dir, '--max-new-tokens', '3', '--temperature', '0']);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/ 1 prompt \+ \d new tokens/);
    const shown = expected.reason === 'stop-id' ? expected.ids.slice(0, -1) : expected.ids;
    expect(res.stdout).toBe(`${tokenizer.decode(shown)}\n`);
  });
});

describe('lco generate usage errors', () => {
  it('exits 2 on an unknown flag or a bad value, naming it', async () => {
    const bad = await run(['--model', dir, '--bogus', '1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown flag --bogus/);
    expect(bad.stderr).toMatch(/usage: lco generate/);
    const p = await run(['--model', dir, '--top-p', '1.5']);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/topP 1.5 must be in \(0, 1\]/);
  });

  it('exits 1 naming tokenizer.json when the folder has none', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'lco-gen-empty-'));
    try {
      const res = await run(['--model', empty, '--prompt', 'x']);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`${join(empty, 'tokenizer.json')} not found`);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('StreamDecoder', () => {
  it('prints multi-byte characters whole, and the chunks add up to the decoded text', () => {
    const text = 'café ☕ naïve — 日本語 🦊!';
    const ids = tokenizer.encode(text);
    expect(ids.some((id) => tokenizer.decode([id]).includes('\uFFFD')), 'some token holds part of a character').toBe(true);
    const s = new StreamDecoder(tokenizer);
    const chunks = ids.map((id) => s.push(id));
    chunks.push(s.finish());
    for (const c of chunks) expect(c).not.toContain('\uFFFD');
    expect(chunks.join('')).toBe(text);
    expect(chunks.filter((c) => c === '').length, 'some tokens had to wait for the rest of their character').toBeGreaterThan(0);
  });

  it('finish() prints a replacement character that nothing completed', () => {
    const ids = tokenizer.encode('日');
    expect(ids.length).toBeGreaterThan(1);
    const s = new StreamDecoder(tokenizer);
    const head = s.push(ids[0]);
    expect(head).toBe('');
    expect(s.finish()).toBe(tokenizer.decode([ids[0]]));
  });
});

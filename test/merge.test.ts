// lco merge: the fold W + s B A against hand computations; the TIES steps
// (selection, trim, sign election, disjoint mean) against a hand-worked
// example and a sort-based reference; whole merged folders against a float64
// reference built here from the files (independent loops); errors that name
// the tensor; atomic output; the merged model's forward equals base + adapter
// on the GPU; the CLI in a child process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bf16BitsToNumber, numberToBf16Bits } from '../src/io/dtypes.ts';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.ts';
import { takeAdapters } from '../src/cli/merge.ts';
import { UsageError } from '../src/cli/args.ts';
import { decoderForward, loadDecoder, randomDecoder, releaseDecoder, saveDecoder } from '../src/model/decoder.ts';
import { createLora, loadLoraAdapter, releaseLora, saveLoraAdapter, type LoraConfig } from '../src/model/lora.ts';
import {
  addLoraDelta, combineLinear, combineTies, keptCount, kthLargest, MergeError, mergeAdapters, resolveMergeOptions,
  trimToDensity, writeMergedModel, type WriteMergedOptions,
} from '../src/model/merge.ts';
import { presetConfig } from '../src/model/presets.ts';
import type { DecoderConfig } from '../src/model/config.ts';
import { expectClose, randomData, randomInts, runLco, useGpu } from './helpers.ts';

const gpu = useGpu();

const SMALL = { hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 64, max_position_embeddings: 32, tie_word_embeddings: false };
const CFG = presetConfig('tiny', SMALL);
const PEFT = 'base_model.model.';

let root = '';
const dirs = { base: '', a1: '', a2: '', a3: '', zero: '', wide: '', deep: '' };
const L1: LoraConfig = { r: 4, alpha: 8, dropout: 0, rslora: false, targets: ['q_proj', 'v_proj', 'down_proj'] };
const L2: LoraConfig = { r: 2, alpha: 3, dropout: 0, rslora: true, targets: ['q_proj', 'o_proj', 'up_proj'] };
const L3: LoraConfig = { r: 3, alpha: 6, dropout: 0, rslora: false, targets: ['q_proj', 'v_proj'] };

/** A saved adapter with every B set to seeded nonzero values (B = 0 would make every delta 0). */
async function makeAdapter(dir: string, cfg: DecoderConfig, lc: LoraConfig, seed: number, zeroB = false): Promise<void> {
  const g = await gpu();
  const lora = createLora(g, cfg, lc, seed);
  if (!zeroB) {
    lora.layers.forEach((mods, l) => Object.values(mods).forEach((m, i) => g.write(m.B, randomData(m.B.size, seed * 100 + l * 10 + i, 0.05, 0.5))));
  }
  await saveLoraAdapter(g, lora, dir, 'base');
  releaseLora(lora);
}

beforeAll(async () => {
  const g = await gpu();
  root = await mkdtemp(join(tmpdir(), 'lco-merge-'));
  for (const k of Object.keys(dirs) as (keyof typeof dirs)[]) dirs[k] = join(root, k);
  const model = await randomDecoder(g, CFG, 7, 0.1);
  await saveDecoder(g, model, dirs.base);
  releaseDecoder(model);
  await writeFile(join(dirs.base, 'tokenizer.json'), '{"model": {"type": "BPE"}}\n');
  await makeAdapter(dirs.a1, CFG, L1, 11);
  await makeAdapter(dirs.a2, CFG, L2, 12);
  await makeAdapter(dirs.a3, CFG, L3, 13);
  await makeAdapter(dirs.zero, CFG, L1, 14, true);
  await makeAdapter(dirs.wide, presetConfig('tiny', { ...SMALL, hidden_size: 24, num_attention_heads: 3 }), L1, 15);
  await makeAdapter(dirs.deep, presetConfig('tiny', { ...SMALL, num_hidden_layers: 3 }), L1, 16);
}, 60_000);
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

// ------------------------------------------------------------ reference (independent of merge.ts)

async function tensorsOf(path: string): Promise<Map<string, { dtype: string; shape: number[]; data: Float32Array }>> {
  const f = await SafetensorsFile.open(path);
  const out = new Map<string, { dtype: string; shape: number[]; data: Float32Array }>();
  for (const name of f.names()) {
    const e = f.entry(name);
    out.set(name, { dtype: e.dtype, shape: e.shape, data: Float32Array.from(await f.float32(name)) });
  }
  await f.close();
  return out;
}

/** s * B A for one adapted matrix, or null when the adapter does not target it (sum over k innermost). */
async function refDelta(dir: string, weightName: string): Promise<Float64Array | null> {
  const cfg = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
  const t = await tensorsOf(join(dir, 'adapter_model.safetensors'));
  const stem = PEFT + weightName.replace(/\.weight$/, '');
  const A = t.get(`${stem}.lora_A.weight`);
  const B = t.get(`${stem}.lora_B.weight`);
  if (!A || !B) return null;
  const s = cfg.use_rslora ? cfg.lora_alpha / Math.sqrt(cfg.r) : cfg.lora_alpha / cfg.r;
  const [r, inF] = A.shape;
  const outF = B.shape[0];
  const d = new Float64Array(outF * inF);
  for (let o = 0; o < outF; o++) {
    for (let i = 0; i < inF; i++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc += B.data[o * r + k] * A.data[k * inF + i];
      d[o * inF + i] = s * acc;
    }
  }
  return d;
}

/** TIES by the paper's steps, with a full sort for the trim. */
function refTies(deltas: (Float64Array | null)[], w: number[], density: number, n: number): Float64Array {
  const trimmed = deltas.map((d) => {
    if (!d) return new Float64Array(n);
    const k = Math.min(n, Math.max(1, Math.round(density * n)));
    const order = [...d.keys()].sort((a, b) => Math.abs(d[b]) - Math.abs(d[a]) || a - b);
    const t = new Float64Array(n);
    for (const j of order.slice(0, k)) t[j] = d[j];
    return t;
  });
  const total = w.reduce((a, b) => a + b, 0);
  return Float64Array.from({ length: n }, (_, j) => {
    const sign = Math.sign(trimmed.reduce((acc, t, i) => acc + w[i] * t[j], 0));
    const agree = trimmed.map((t, i) => ({ v: t[j], w: w[i] })).filter(({ v }) => v !== 0 && Math.sign(v) === sign);
    if (sign === 0 || agree.length === 0) return 0;
    return (total * agree.reduce((a, { v, w: wi }) => a + wi * v, 0)) / agree.reduce((a, { w: wi }) => a + wi, 0);
  });
}

/** Expected merged weights: W + combined delta, per the method, rounded to float32. */
async function expectedModel(adapters: string[], opts: { method: 'linear' | 'ties'; weights?: number[]; density?: number }) {
  const base = await tensorsOf(join(dirs.base, 'model.safetensors'));
  const w = opts.weights ?? adapters.map(() => 1 / adapters.length);
  const out = new Map<string, { adapted: boolean; data: Float32Array }>();
  for (const [name, t] of base) {
    const deltas = await Promise.all(adapters.map((a) => refDelta(a, name)));
    if (deltas.every((d) => d === null)) {
      out.set(name, { adapted: false, data: t.data });
      continue;
    }
    const n = t.data.length;
    const d = opts.method === 'ties'
      ? refTies(deltas, w, opts.density!, n)
      : Float64Array.from({ length: n }, (_, j) => deltas.reduce((acc, di, i) => acc + (di ? w[i] * di[j] : 0), 0));
    out.set(name, { adapted: true, data: Float32Array.from(t.data, (x, j) => x + d[j]) });
  }
  return out;
}

// The merged value is W + delta rounded once to float32; the reference sums in
// another order, so its float64 value may differ in the last bits and round to
// the neighbouring float32: allow one float32 unit, 2^-23 relative.
const F32_ULP = { rtol: 2 ** -23 };

async function checkAgainstReference(out: string, adapters: string[], opts: { method: 'linear' | 'ties'; weights?: number[]; density?: number }) {
  const got = await tensorsOf(join(out, 'model.safetensors'));
  const want = await expectedModel(adapters, opts);
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  let adapted = 0;
  for (const [name, e] of want) {
    const g = got.get(name)!;
    expect(g.dtype, name).toBe('F32');
    if (e.adapted) {
      adapted++;
      expectClose(name, g.data, e.data, F32_ULP);
    } else {
      expect(g.data, name).toEqual(e.data); // untouched tensors: bit for bit
    }
  }
  return adapted;
}

async function leftovers(): Promise<string[]> {
  return (await readdir(root)).filter((f) => f.includes('.tmp-'));
}

// ------------------------------------------------------------ the math

describe('fold and combine math', () => {
  it('addLoraDelta accumulates coeff * B A (hand computation)', () => {
    // A [2, 3] = [[1, 2, 3], [4, 5, 6]], B [2, 2] = [[1, 0], [0.5, -1]], coeff 0.5
    // B A = [[1, 2, 3], [0.5*[1,2,3] - [4,5,6]]] = [[1, 2, 3], [-3.5, -4, -4.5]]
    // 0.5 B A = [[0.5, 1, 1.5], [-1.75, -2, -2.25]]; added to ones:
    const out = new Float64Array(6).fill(1);
    addLoraDelta(out, [1, 2, 3, 4, 5, 6], [1, 0, 0.5, -1], 2, 2, 3, 0.5);
    expect([...out]).toEqual([1.5, 2, 2.5, -0.75, -1, -1.25]);
    expect(() => addLoraDelta(new Float64Array(6), [1, 2, 3], [1, 0, 0.5, -1], 2, 2, 3, 1)).toThrow(/A has 3 values \(expected r\*in = 6\)/);
  });

  it('combineLinear is the weighted sum; a missing adapter is a zero task vector', () => {
    // 0.5 [1, -2, 3] + 0.25 [3, 2, -1] + 0.25 * 0 = [1.25, -0.5, 1.25]
    const out = combineLinear([Float64Array.of(1, -2, 3), Float64Array.of(3, 2, -1), null], [0.5, 0.25, 0.25], 3);
    expect([...out]).toEqual([1.25, -0.5, 1.25]);
  });

  it('keptCount rounds density * n, keeps at least one', () => {
    expect([keptCount(10, 0.2), keptCount(10, 0.7), keptCount(3, 0.01), keptCount(5, 1), keptCount(8, 0.25)]).toEqual([2, 7, 1, 5, 2]);
  });

  it('kthLargest and trimToDensity agree with a full sort (duplicates, signs)', () => {
    const arr = fc.array(fc.integer({ min: -6, max: 6 }), { minLength: 1, maxLength: 60 });
    fc.assert(fc.property(arr, fc.double({ min: 0, max: 1, noNaN: true }), (xs, u) => {
      const k = 1 + Math.floor(u * (xs.length - 1));
      const sorted = [...xs].sort((a, b) => b - a);
      expect(kthLargest(Float64Array.from(xs), k)).toBe(sorted[k - 1]);
      const density = Math.max(u, 0.01);
      const got = Float64Array.from(xs);
      trimToDensity(got, density);
      const want = refTies([Float64Array.from(xs)], [1], density, xs.length); // one adapter, weight 1: the trim itself
      expect([...got].map((v) => v + 0)).toEqual([...want].map((v) => v + 0));
    }), { numRuns: 300 });
  });

  it('TIES on a hand-worked example', () => {
    // density 0.6 of 5 entries: k = 3 kept per task vector.
    //   d1 = [ 0.9, -0.1,  0.5, -0.4,  0.2]  -> tau1 = [0.9,  0,    0.5, -0.4, 0  ]
    //   d2 = [-0.3,  0.8, -0.6,  0.1,  0.7]  -> tau2 = [0,    0.8, -0.6,  0,   0.7]
    //   d3 = [ 0.5,  0.5, -0.2, -0.5,  0.1]  -> tau3 = [0.5,  0.5,  0,   -0.5, 0  ]
    //      (three entries tie at 0.5: indices 0, 1, 3 are kept, the lowest first)
    const d = () => [
      Float64Array.of(0.9, -0.1, 0.5, -0.4, 0.2),
      Float64Array.of(-0.3, 0.8, -0.6, 0.1, 0.7),
      Float64Array.of(0.5, 0.5, -0.2, -0.5, 0.1),
    ];
    // Equal weights 1/3 (sum 1): elected signs sgn(sum tau) = [+, +, -, -, +];
    //   j0: 0.9, 0.5 agree -> 0.7;  j1: 0.8, 0.5 -> 0.65;  j2: sum 0.5 - 0.6 < 0, only -0.6 agrees -> -0.6
    //   j3: -0.4, -0.5 -> -0.45;   j4: 0.7 alone -> 0.7
    // (the plain mean would give j2 = (0.5 - 0.6 - 0.2) / 3 = -0.1)
    const eq = combineTies(d(), [1 / 3, 1 / 3, 1 / 3], 0.6, 5);
    expectClose('ties equal weights', eq, [0.7, 0.65, -0.6, -0.45, 0.7], { rtol: 1e-14 });
    // Weights [2, 1, 1] (sum 4): j2's elected sign flips, 2 * 0.5 - 0.6 = 0.4 > 0, only tau1 agrees:
    //   j0: 4 (2*0.9 + 0.5) / 3 = 9.2/3;  j1: 4 (0.8 + 0.5) / 2 = 2.6;  j2: 4 * 0.5 = 2
    //   j3: 4 (2*-0.4 - 0.5) / 3 = -5.2/3;  j4: 4 * 0.7 = 2.8
    const wt = combineTies(d(), [2, 1, 1], 0.6, 5);
    expectClose('ties weights 2,1,1', wt, [9.2 / 3, 2.6, 2, -5.2 / 3, 2.8], { rtol: 1e-14 });
    // Opposite entries of equal size elect no sign: 0.
    expect([...combineTies([Float64Array.of(1, 2), Float64Array.of(-1, 2)], [0.5, 0.5], 1, 2)]).toEqual([0, 2]);
    // A missing adapter neither votes nor dilutes the disjoint mean: total 1 times d itself.
    expect([...combineTies([Float64Array.of(0.25, -0.5), null], [0.5, 0.5], 1, 2)]).toEqual([0.25, -0.5]);
  });

  it('resolveMergeOptions fills defaults and names what is wrong', () => {
    expect(resolveMergeOptions(4)).toEqual({ weights: [0.25, 0.25, 0.25, 0.25], method: 'linear', density: null });
    expect(resolveMergeOptions(2, { method: 'ties' })).toEqual({ weights: [0.5, 0.5], method: 'ties', density: 0.2 });
    expect(() => resolveMergeOptions(2, { weights: [1] })).toThrow(/1 weight given for 2 adapters/);
    expect(() => resolveMergeOptions(2, { method: 'ties', weights: [1, -1] })).toThrow(/weight 2 is -1; ties needs positive weights/);
    expect(() => resolveMergeOptions(1, { method: 'ties', density: 0 })).toThrow(/density 0 must be in \(0, 1\]/);
    expect(() => resolveMergeOptions(1, { density: 0.5 })).toThrow(/density applies to method ties only/);
    expect(() => resolveMergeOptions(1, { method: 'avg' as 'linear' })).toThrow(/method "avg" is not one of linear, ties/);
    expect(() => resolveMergeOptions(0)).toThrow(MergeError);
    expect(resolveMergeOptions(2, { weights: [1, -1] }).weights).toEqual([1, -1]); // linear may subtract
  });
});

// ------------------------------------------------------------ whole folders

describe('writeMergedModel', () => {
  it('linear: two adapters of different ranks and targets (one rsLoRA) match the reference', async () => {
    const out = join(root, 'out-linear');
    const s = await writeMergedModel(dirs.base, [dirs.a1, dirs.a2], out, { weights: [0.7, 0.3] });
    // q, v, down (a1) and q, o, up (a2): 5 targets x 2 layers
    expect(s.adapted).toBe(10);
    expect(await checkAgainstReference(out, [dirs.a1, dirs.a2], { method: 'linear', weights: [0.7, 0.3] })).toBe(10);
    expect(await readFile(join(out, 'config.json'), 'utf8')).toBe(await readFile(join(dirs.base, 'config.json'), 'utf8'));
    expect(await readFile(join(out, 'tokenizer.json'), 'utf8')).toBe('{"model": {"type": "BPE"}}\n');
    expect((await readdir(out)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    const file = await SafetensorsFile.open(join(out, 'model.safetensors'));
    await file.close();
    const meta = JSON.parse(file.header.metadata!.lco_merge);
    expect(meta.method).toBe('linear');
    expect(meta.adapters.map((a: { r: number }) => a.r)).toEqual([4, 2]);
  });

  it('one adapter with the default weight is the plain fold W + (alpha/r) B A', async () => {
    const out = join(root, 'out-fold');
    await writeMergedModel(dirs.base, [dirs.a1], out);
    expect(await checkAgainstReference(out, [dirs.a1], { method: 'linear', weights: [1] })).toBe(6);
  });

  it('ties: two adapters match the sort-based reference', async () => {
    const out = join(root, 'out-ties');
    const opts = { method: 'ties' as const, density: 0.3, weights: [0.6, 0.4] };
    await writeMergedModel(dirs.base, [dirs.a1, dirs.a3], out, opts);
    expect(await checkAgainstReference(out, [dirs.a1, dirs.a3], opts)).toBe(6);
  });

  it('mergeAdapters exposes the per-tensor deltas', async () => {
    const plan = await mergeAdapters(dirs.base, [dirs.a1, dirs.a2], { weights: [0.7, 0.3] });
    try {
      expect(plan.tensors.map((t) => t.name).slice(0, 5)).toEqual([
        'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.v_proj.weight', 'model.layers.0.self_attn.o_proj.weight',
        'model.layers.0.mlp.up_proj.weight', 'model.layers.0.mlp.down_proj.weight',
      ]);
      const name = 'model.layers.1.self_attn.q_proj.weight';
      const [d1, d2] = [await refDelta(dirs.a1, name), await refDelta(dirs.a2, name)];
      const want = d1!.map((v, j) => 0.7 * v + 0.3 * d2![j]);
      expectClose(name, await plan.delta(name), want, { rtol: 1e-13 });
      await expect(plan.delta('model.norm.weight')).rejects.toThrow(/no adapter adapts "model.norm.weight"/);
    } finally {
      await plan.close();
    }
  });

  it('--dtype BF16 rounds every tensor and updates torch_dtype; a zero adapter changes nothing', async () => {
    const out = join(root, 'out-bf16');
    await writeMergedModel(dirs.base, [dirs.a1], out, { dtype: 'BF16' });
    const got = await tensorsOf(join(out, 'model.safetensors'));
    const want = await expectedModel([dirs.a1], { method: 'linear', weights: [1] });
    const bf16 = (x: number) => bf16BitsToNumber(numberToBf16Bits(x));
    for (const [name, e] of want) {
      const g = got.get(name)!;
      expect(g.dtype, name).toBe('BF16');
      // the float32 value rounded to bfloat16; where the reference's float32 is one unit off
      // (see F32_ULP) the bf16 rounding may flip: one bf16 unit, 2^-7 relative
      if (e.adapted) expectClose(name, g.data, Float32Array.from(e.data, bf16), { rtol: 2 ** -7 });
      else expect(g.data, name).toEqual(Float32Array.from(e.data, bf16));
    }
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');

    const zero = join(root, 'out-zero');
    const s = await writeMergedModel(dirs.base, [dirs.zero], zero);
    expect(s.adapted).toBe(6);
    const base = await tensorsOf(join(dirs.base, 'model.safetensors'));
    const merged = await tensorsOf(join(zero, 'model.safetensors'));
    for (const [name, t] of base) expect(merged.get(name)!.data, name).toEqual(t.data);
  });

  it('names the tensor or target at fault and leaves no folder behind', async () => {
    const out = join(root, 'out-bad');
    const fails = async (adapters: string[], re: RegExp, opts: WriteMergedOptions = {}) => {
      await expect(writeMergedModel(dirs.base, adapters, out, opts)).rejects.toThrow(re);
      await expect(readdir(out)).rejects.toThrow(/ENOENT/);
      expect(await leftovers()).toEqual([]);
    };
    // an adapter for a model of width 24: A is [4, 24] where BASE needs [4, 16]
    await fails([dirs.a1, dirs.wide], /wide\/adapter_model.safetensors: tensor "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" has shape \[4, 24\], expected \[4, 16\]/);
    // an adapter for a 3-layer model: layer 2 exists in no layer of BASE
    await fails([dirs.deep], /tensor "base_model.model.model.layers.2.mlp.down_proj.lora_A.weight" matches no adapted linear of .* \(2 layers/);
    // an unknown target module
    const unknown = join(root, 'unknown');
    await mkdir(unknown);
    const cfg = JSON.parse(await readFile(join(dirs.a1, 'adapter_config.json'), 'utf8'));
    await writeFile(join(unknown, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['q_proj', 'lm_head'] }));
    await writeFile(join(unknown, 'adapter_model.safetensors'), await readFile(join(dirs.a1, 'adapter_model.safetensors')));
    await fails([unknown], /unknown\/adapter_config.json: unknown target module "lm_head"/);
    // a listed target without tensors
    await writeFile(join(unknown, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['q_proj', 'k_proj', 'v_proj', 'down_proj'] }));
    await fails([unknown], /tensor "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight" is missing/);
    // PEFT options whose fold is not W + s B A
    await writeFile(join(unknown, 'adapter_config.json'), JSON.stringify({ ...cfg, use_dora: true }));
    await fails([unknown], /use_dora = true is not supported/);
    // the same reader guards loading an adapter for inference or training
    await expect(loadLoraAdapter(await gpu(), CFG, unknown)).rejects.toThrow(/use_dora = true is not supported/);
    await fails([dirs.a1, dirs.a2], /2 weights given|1 weight given for 2 adapters/, { weights: [1] });
    await fails([dirs.a1], /dtype "F8" is not one of F32, BF16, F16/, { dtype: 'F8' as 'F32' });
  });

  it('is atomic: a failure while writing leaves nothing; an occupied --out is refused', async () => {
    // Adapter 1 with a NaN in layer 1's down_proj B: every check before writing
    // passes, and the NaN is met after earlier tensors were already streamed out.
    const nan = join(root, 'nan');
    await mkdir(nan);
    await writeFile(join(nan, 'adapter_config.json'), await readFile(join(dirs.a1, 'adapter_config.json')));
    const t = await tensorsOf(join(dirs.a1, 'adapter_model.safetensors'));
    const bad = `${PEFT}model.layers.1.mlp.down_proj.lora_B.weight`;
    t.get(bad)!.data[5] = NaN;
    await writeSafetensors(join(nan, 'adapter_model.safetensors'), [...t].map(([name, v]) => ({ name, shape: v.shape, data: v.data })));
    const out = join(root, 'out-nan');
    await expect(writeMergedModel(dirs.base, [nan], out)).rejects.toThrow(`tensor "${bad}" element 5 is NaN`);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
    expect(await leftovers()).toEqual([]);

    const busy = join(root, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'keep.txt'), 'mine');
    await expect(writeMergedModel(dirs.base, [dirs.a1], busy)).rejects.toThrow(/busy exists and is not empty; merge writes a new model folder/);
    expect(await readdir(busy)).toEqual(['keep.txt']);
    // an empty folder is fine (replaced by the finished one)
    const empty = join(root, 'empty');
    await mkdir(empty);
    await writeMergedModel(dirs.base, [dirs.a1], empty);
    expect((await readdir(empty)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
  });
});

// ------------------------------------------------------------ GPU: merged forward = base + adapter

describe('merged model on the GPU', () => {
  it('forward of the merged folder equals base + adapter (decoderForward with lora)', async () => {
    const g = await gpu();
    const out = join(root, 'out-gpu');
    await writeMergedModel(dirs.base, [dirs.a2], out);
    const base = await loadDecoder(g, dirs.base);
    const lora = await loadLoraAdapter(g, base.config, dirs.a2);
    const merged = await loadDecoder(g, out);
    const B = 2;
    const T = 6;
    const input = {
      B, T,
      ids: g.tensor(randomInts(B * T, 5, 0, CFG.vocab), [B, T], 'i32', 'ids'),
      mask: g.tensor(new Int32Array(B * T).fill(1), [B, T], 'i32', 'mask'),
      pos: g.tensor(Int32Array.from({ length: B * T }, (_, i) => i % T), [B, T], 'i32', 'pos'),
    };
    const run = async (model: typeof base, opts = {}) => {
      const { last } = decoderForward(g, model, input, opts);
      const v = Float32Array.from(await g.read(last));
      last.release();
      return v;
    };
    const withLora = await run(base, { lora });
    const folded = await run(merged);
    const plain = await run(base);
    // |folded - withLora| <= 1e-5 * max |withLora|: float32 rounding of x W'^T vs x W^T + s (x A^T) B^T
    const maxAbs = withLora.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expectClose('merged forward', folded, withLora, { rtol: 1e-5 }, new Float32Array(withLora.length).fill(maxAbs));
    // and the adapter matters: without it the output is far away
    const far = plain.reduce((m, v, i) => Math.max(m, Math.abs(v - withLora[i])), 0);
    expect(far).toBeGreaterThan(1e-2 * maxAbs);
    releaseLora(lora);
    releaseDecoder(base);
    releaseDecoder(merged);
    for (const t of [input.ids, input.mask, input.pos]) t.release();
  }, 60_000);
});

// ------------------------------------------------------------ the CLI

describe('lco merge (child process)', () => {
  it('takeAdapters collects every --adapter up to --', () => {
    expect(takeAdapters(['--adapter', 'a', '--model', 'm', '--adapter=b', '--', '--adapter', 'c'])).toEqual({
      adapters: ['a', 'b'], rest: ['--model', 'm', '--', '--adapter', 'c'],
    });
    expect(() => takeAdapters(['--adapter'])).toThrow(UsageError);
    expect(() => takeAdapters(['--adapter', '--out'])).toThrow(/--adapter needs a value/);
  });

  it('writes the same folder as the library; usage errors exit 2, failures 1', async () => {
    const out = join(root, 'cli-out');
    const args = ['--model', dirs.base, '--adapter', dirs.a1, `--adapter=${dirs.a3}`, '--method', 'ties', '--density', '0.3', '--weights', '0.6,0.4'];
    const [ok, badMethod, badWeights, missing] = await Promise.all([
      runLco(['merge', ...args, '--out', out]),
      runLco(['merge', '--model', dirs.base, '--adapter', dirs.a1, '--out', out, '--method', 'mean']),
      runLco(['merge', '--model', dirs.base, '--adapter', dirs.a1, '--adapter', dirs.a2, '--out', out, '--weights', '1']),
      runLco(['merge', '--model', dirs.base, '--adapter', join(root, 'nope'), '--out', join(root, 'cli-missing')]),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/2 adapters \(ties, density 0.3, weights 0.6,0.4\) into 6 of 21 tensors/);
    const lib = join(root, 'cli-lib');
    await writeMergedModel(dirs.base, [dirs.a1, dirs.a3], lib, { method: 'ties', density: 0.3, weights: [0.6, 0.4] });
    expect(Buffer.compare(await readFile(join(out, 'model.safetensors')), await readFile(join(lib, 'model.safetensors')))).toBe(0);

    expect(badMethod.code).toBe(2);
    expect(badMethod.stderr).toMatch(/--method must be one of linear, ties, got "mean"/);
    expect(badWeights.code).toBe(2);
    expect(badWeights.stderr).toMatch(/1 weight given for 2 adapters/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\/adapter_config.json: cannot read adapter config/);
    await expect(readdir(join(root, 'cli-missing'))).rejects.toThrow(/ENOENT/);

    const help = await runLco(['merge', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/writes a full model folder/i);
    expect(help.stdout).toMatch(/no adapter is written/);
  }, 120_000);
});

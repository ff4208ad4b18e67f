// lco embed: embeddings of a JSONL file with a decoder model folder (and an
// optional LoRA adapter). Input rows: {"text": "..."} or {"input_ids": [..]}
// (ids used as given: no prompt, no special tokens), or, with a multimodal
// model (vision_config.json in the folder), {"image": "path"} or
// {"image": "path", "text": "..."} (paths relative to the JSONL file). Output: one
// {"embedding": [..]} per input row, in input order, written atomically (a
// failed run leaves no partial file). A bad row (bad JSON, no text, empty
// text, ids out of the vocabulary) is reported with its line number; with
// --on-error stop (default) the run stops before writing anything, with skip
// the row's output is {"embedding": null, "error": "..."} so lines stay aligned.
import { readJsonl } from '../io/jsonl.ts';
import { writeFileAtomic } from '../io/safetensors.ts';
import { Embedder, type EmbedInput, type EmbedOptions, type Pooling } from '../embed/embedder.ts';
import { resolvePrompt, type ChatFormat } from '../embed/prompt.ts';
import { calibrateInt8, quantizeBinary, quantizeInt8 } from '../embed/quantize.ts';
import { formatHelp, oneOf, parseCommand, UsageError, type FlagSpecs } from './args.ts';
import { withModel } from './session.ts';
import { itemInput, parseItem } from '../data/pairs.ts';
import type { SequenceRow } from '../embed/image-rows.ts';

const FLAGS = {
  model: { type: 'string', required: true, value: 'DIR', help: 'HF model folder (config.json, model.safetensors, tokenizer.json)' },
  adapter: { type: 'string', value: 'DIR', help: 'PEFT LoRA adapter folder to apply' },
  input: { type: 'string', required: true, value: 'IN.jsonl', help: 'rows {"text": ...}, {"input_ids": [...]}, {"image": path} or {"image": path, "text": ...}' },
  output: { type: 'string', required: true, value: 'OUT.jsonl', help: 'rows {"embedding": [...]}, in input order' },
  prompt: { type: 'string', default: 'none', value: 'P', help: 'none, lco ("{text}\\nSummarize the above text in one word:") or a template with {text}' },
  chat: { type: 'string', default: 'none', value: 'FMT', help: 'none, or chatml to wrap the prompt in a user turn with the assistant turn opened' },
  pooling: { type: 'string', default: 'lasttoken', value: 'MODE', help: 'lasttoken or mean' },
  normalize: { type: 'boolean', help: 'L2-normalise (the default)' },
  'no-normalize': { type: 'boolean', help: 'keep the raw pooled vectors' },
  dimensions: { type: 'number', integer: true, value: 'N', help: 'keep the first N dimensions (Matryoshka; re-normalised)' },
  'batch-size': { type: 'number', integer: true, default: 32, value: 'N', help: 'items per forward' },
  'max-length': { type: 'number', integer: true, value: 'N', help: 'most tokens per item (default: the model\'s max_position_embeddings)' },
  quantize: { type: 'string', default: 'none', value: 'Q', help: 'none, int8 (ranges calibrated on this input) or binary (packed sign bits as bytes)' },
  'on-error': { type: 'string', default: 'stop', value: 'WHAT', help: 'stop (write nothing) or skip (a null embedding with the error)' },
} as const satisfies FlagSpecs;

const HELP = formatHelp(`usage: lco embed --model DIR --input IN.jsonl --output OUT.jsonl [options]

Embeds every row of IN.jsonl with the decoder in DIR (last-token pooling of the
final hidden state by default, L2-normalised) and writes OUT.jsonl.`, FLAGS);

export async function run(args: string[]): Promise<number> {
  const f = parseCommand('embed', FLAGS, HELP, args, (f) => {
    if (f.normalize && f['no-normalize']) throw new UsageError('--normalize and --no-normalize contradict each other');
    oneOf('pooling', f.pooling, ['lasttoken', 'mean']);
    oneOf('chat', f.chat, ['none', 'chatml']);
    oneOf('quantize', f.quantize, ['none', 'int8', 'binary']);
    oneOf('on-error', f['on-error'], ['stop', 'skip']);
    resolvePrompt(f.prompt);
  });
  if (typeof f === 'number') return f;
  const opts: EmbedOptions = {
    prompt: f.prompt, chat: f.chat as ChatFormat, pooling: f.pooling as Pooling, normalize: !f['no-normalize'],
    dimensions: f.dimensions, batchSize: f['batch-size'], maxLength: f['max-length'],
  };
  const rows = await readJsonl(f.input);
  return withModel(f.model, f.adapter, async ({ gpu, model, lora, vision, tokenizer }) => {
    const embedder = new Embedder(gpu, model, tokenizer, lora, vision);
    // Validate, read the images and tokenize every row first, so a bad row stops the run before any work.
    const errors: string[] = [];
    const good: { row: number; seq: SequenceRow }[] = [];
    for (const [k, r] of rows.entries()) {
      const where = `${f.input}:${r.line}`;
      try {
        if (r.error) throw new Error(r.error);
        const input: EmbedInput = itemInput(parseItem(r.value, 'row', model.config.vocab, f.input));
        good.push({ row: k, seq: await embedder.prepare(input, opts, where) });
      } catch (err) {
        const msg = (err as Error).message;
        errors[k] = msg.startsWith(where) ? msg : `${where}: ${msg}`;
      }
    }
    const bad = errors.filter(Boolean);
    for (const e of bad.slice(0, 20)) process.stderr.write(`lco embed: ${e}\n`);
    if (bad.length > 20) process.stderr.write(`lco embed: ... and ${bad.length - 20} more bad rows\n`);
    if (bad.length > 0 && f['on-error'] === 'stop') {
      process.stderr.write(`lco embed: ${bad.length} bad row(s); nothing written (--on-error skip writes the others)\n`);
      return 1;
    }
    const t0 = performance.now();
    const embs = await embedder.embedRows(good.map((g) => g.seq), opts);
    const seconds = (performance.now() - t0) / 1000;
    const calib = f.quantize === 'int8' && embs.length > 0 ? calibrateInt8(embs) : null;
    const encode = (e: Float32Array): number[] =>
      f.quantize === 'int8' ? Array.from(quantizeInt8(e, calib!)) : f.quantize === 'binary' ? Array.from(quantizeBinary(e)) : Array.from(e);
    const out: string[] = rows.map((_, k) => JSON.stringify({ embedding: null, error: errors[k] }));
    good.forEach((g, i) => (out[g.row] = JSON.stringify({ embedding: encode(embs[i]) })));
    await writeFileAtomic(f.output, new TextEncoder().encode(out.map((l) => `${l}\n`).join('')));
    process.stderr.write(`lco embed: ${good.length} rows in ${seconds.toFixed(2)} s (${(good.length / Math.max(seconds, 1e-9)).toFixed(1)} texts/s)` +
      `${bad.length ? `, ${bad.length} skipped` : ''}; wrote ${f.output}\n`);
    return 0;
  });
}

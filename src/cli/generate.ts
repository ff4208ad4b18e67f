// lco generate: continue a prompt with a model folder (config.json, weights,
// tokenizer.json). The new text streams to stdout as tokens arrive (the
// prompt is not echoed); a summary line goes to stderr. Exit codes: 0 done,
// 1 a missing file or a failure while running, 2 a usage error.
//
// Streaming: a token may end in the middle of a UTF-8 character (byte-level
// BPE), so each step decodes the whole new sequence and prints only the part
// after what was already printed, holding back trailing U+FFFD replacement
// characters until the bytes that complete them arrive (StreamDecoder).
import { join } from 'node:path';
import { Gpu } from '../gpu/gpu.ts';
import { readTokenizer, type Tokenizer } from '../io/tokenizer.ts';
import { loadDecoder, releaseDecoder, type Decoder } from '../model/decoder.ts';
import { loadLoraAdapter, releaseLora, type DecoderLora } from '../model/lora.ts';
import { generate } from '../model/generate.ts';
import { checkSamplingOptions, SamplingError } from '../model/sample.ts';
import { formatHelp, parseArgs, UsageError, type FlagSpecs } from './args.ts';

const FLAGS = {
  model: { type: 'string', required: true, value: 'DIR', help: 'model folder: config.json, model.safetensors, tokenizer.json' },
  prompt: { type: 'string', default: '', value: 'TEXT', help: 'text to continue; empty starts from BOS / <|endoftext|>' },
  'max-new-tokens': { type: 'number', integer: true, default: 64, value: 'N', help: 'most tokens to add' },
  temperature: { type: 'number', default: 0.8, value: 'T', help: 'softmax temperature; 0 is greedy' },
  'top-p': { type: 'number', default: 0.95, value: 'P', help: 'nucleus mass in (0, 1]' },
  'top-k': { type: 'number', integer: true, default: 0, value: 'K', help: 'keep the K most probable tokens; 0 keeps all' },
  seed: { type: 'number', integer: true, default: 0, value: 'S', help: 'seed of the sampling stream, in [0, 2^32)' },
  adapter: { type: 'string', value: 'DIR', help: 'a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) to apply' },
  greedy: { type: 'boolean', help: 'always take the most probable token (same as --temperature 0)' },
} as const satisfies FlagSpecs;

const HELP = formatHelp(
  `usage: lco generate --model DIR [--prompt TEXT] [options]

Continues TEXT with the model in DIR and streams the new text to stdout.
The whole sequence is recomputed for every token (no KV cache): meant for small models.`,
  FLAGS,
);

/** Turns a stream of token ids into text chunks that never split a UTF-8 character. */
export class StreamDecoder {
  #ids: number[] = [];
  #printed = '';

  constructor(private readonly tokenizer: Tokenizer) {}

  /** Adds one id; returns the text that is now final (possibly ''). */
  push(id: number): string {
    this.#ids.push(id);
    const text = this.tokenizer.decode(this.#ids);
    let end = text.length;
    while (end > 0 && text.charCodeAt(end - 1) === 0xfffd) end--;
    return this.#emit(text.slice(0, end));
  }

  /** The rest, including replacement characters that no later byte completed. */
  finish(): string {
    return this.#emit(this.tokenizer.decode(this.#ids));
  }

  #emit(stable: string): string {
    // Byte-level and space-joined decoding only ever extend the text apart
    // from the held-back tail. Should a tokenizer rewrite earlier text, what
    // follows the common prefix is printed again rather than lost.
    let common = 0;
    const printed = this.#printed;
    while (common < printed.length && common < stable.length && printed[common] === stable[common]) common++;
    this.#printed = stable;
    return stable.slice(common);
  }
}

export async function run(args: string[]): Promise<number> {
  const err = (s: string) => process.stderr.write(`${s}\n`);
  let parsed;
  try {
    parsed = parseArgs(FLAGS, args);
    if (parsed.positional.length > 0) throw new UsageError(`unexpected argument "${parsed.positional[0]}"`);
    if (parsed.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const f = parsed.flags;
    if (f['max-new-tokens'] < 0) throw new UsageError(`--max-new-tokens must be >= 0, got ${f['max-new-tokens']}`);
    if (f['top-k'] < 0) throw new UsageError(`--top-k must be >= 0 (0 keeps all), got ${f['top-k']}`);
    if (f.seed < 0 || f.seed > 0xffffffff) throw new UsageError(`--seed must be in [0, 2^32), got ${f.seed}`);
    checkSamplingOptions({ temperature: f.temperature, topP: f['top-p'] });
  } catch (e) {
    if (!(e instanceof UsageError || e instanceof SamplingError)) throw e;
    err(`lco generate: ${e.message.replace(/^sampling: /, '')}\n\n${HELP}`);
    return 2;
  }
  const f = parsed.flags;
  const dir = f.model;

  const tokPath = join(dir, 'tokenizer.json');
  let tokenizer: Tokenizer;
  try {
    tokenizer = await readTokenizer(tokPath);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    err(`lco generate: ${missing ? `${tokPath} not found; the model folder needs its tokenizer.json to encode the prompt and decode the output` : `${tokPath}: ${(e as Error).message}`}`);
    return 1;
  }

  let gpu: Gpu;
  try {
    gpu = await Gpu.create();
  } catch (e) {
    err(`lco generate: no usable WebGPU device.\n  ${(e as Error).message}`);
    return 1;
  }
  try {
    let model: Decoder | undefined;
    let lora: DecoderLora | undefined;
    try {
      model = await loadDecoder(gpu, dir);
      if (f.adapter) lora = await loadLoraAdapter(gpu, model.config, f.adapter);
    } catch (e) {
      if (model) releaseDecoder(model);
      err(`lco generate: ${(e as Error).message}`);
      return 1;
    }
    try {
      const cfg = model.config;
      let promptIds = tokenizer.encode(f.prompt);
      if (promptIds.length === 0) {
        const start = cfg.bosTokenId ?? tokenizer.tokenToId('<|endoftext|>');
        if (start === undefined) {
          err(`lco generate: the prompt is empty and neither ${join(dir, 'config.json')} (bos_token_id) nor the tokenizer (<|endoftext|>) gives a start token`);
          return 1;
        }
        promptIds = [start];
      }
      const stopIds = new Set(cfg.eosTokenIds);
      const stream = new StreamDecoder(tokenizer);
      const t0 = performance.now();
      const result = await generate(gpu, model, promptIds, {
        maxNewTokens: f['max-new-tokens'],
        temperature: f.greedy ? 0 : f.temperature,
        topP: f['top-p'],
        topK: f['top-k'] === 0 ? undefined : f['top-k'],
        seed: f.seed,
        lora,
        onToken: (id) => {
          if (!stopIds.has(id)) process.stdout.write(stream.push(id));
        },
      });
      const seconds = (performance.now() - t0) / 1000;
      const rest = stream.finish();
      process.stdout.write(`${rest}\n`);
      const n = result.ids.length;
      const why = { 'stop-id': 'a stop token', 'max-new-tokens': '--max-new-tokens', 'max-positions': `max_position_embeddings ${cfg.maxPositions}` }[result.reason];
      err(`lco generate: ${promptIds.length} prompt + ${n} new tokens in ${seconds.toFixed(2)} s (${(n / Math.max(seconds, 1e-9)).toFixed(1)} tok/s); stopped at ${why}`);
      return 0;
    } finally {
      if (lora) releaseLora(lora);
      releaseDecoder(model);
    }
  } finally {
    gpu.destroy();
  }
}

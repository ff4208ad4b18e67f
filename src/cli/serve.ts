// lco serve: an HTTP server speaking OpenAI's embeddings API
// (POST /v1/embeddings, GET /v1/models, GET /health) for a decoder model
// folder (and an optional LoRA adapter). The server listens first, so
// /health answers 503 while the model loads, then serves; concurrent
// requests' inputs share GPU batches (src/serve/batcher.ts).
//
// SIGTERM or SIGINT: new requests get 503, in-flight ones finish, the server
// closes, the model and the Gpu are released, and the process exits 0. A
// second signal exits at once (128 + signal number).
import { basename, resolve } from 'node:path';
import { Embedder, type Pooling } from '../embed/embedder.ts';
import { resolvePrompt, type ChatFormat } from '../embed/prompt.ts';
import { embedderBackend } from '../serve/backend.ts';
import { EmbeddingServer, SERVER_DEFAULTS } from '../serve/server.ts';
import { atLeast, formatHelp, oneOf, parseCommand, UsageError, type FlagSpecs } from './args.ts';
import { withModel } from './session.ts';

const FLAGS = {
  model: { type: 'string', required: true, value: 'DIR', help: 'HF model folder (config.json, model.safetensors, tokenizer.json)' },
  adapter: { type: 'string', value: 'DIR', help: 'PEFT LoRA adapter folder to apply' },
  'model-id': { type: 'string', value: 'NAME', help: 'the name requests must give as "model" (default: the model folder\'s name)' },
  host: { type: 'string', default: '127.0.0.1', value: 'HOST', help: 'address to listen on' },
  port: { type: 'number', integer: true, default: 8080, value: 'N', help: 'port to listen on (0: any free port; the URL is printed)' },
  prompt: { type: 'string', default: 'none', value: 'P', help: 'none, lco ("{text}\\nSummarize the above text in one word:") or a template with {text}; text inputs only' },
  chat: { type: 'string', default: 'none', value: 'FMT', help: 'none, or chatml to wrap the prompt in a user turn with the assistant turn opened' },
  pooling: { type: 'string', default: 'lasttoken', value: 'MODE', help: 'lasttoken or mean' },
  'batch-size': { type: 'number', integer: true, default: SERVER_DEFAULTS.batchSize, value: 'N', help: 'most inputs per GPU batch, across requests' },
  'batch-wait-ms': { type: 'number', default: SERVER_DEFAULTS.batchWaitMs, value: 'MS', help: 'longest wait for a batch to fill' },
  'max-inputs': { type: 'number', integer: true, default: SERVER_DEFAULTS.maxInputs, value: 'N', help: 'most inputs per request' },
  'max-tokens': { type: 'number', integer: true, value: 'N', help: 'most tokens per input, prompt included (default: the model\'s max_position_embeddings)' },
  'max-queue': { type: 'number', integer: true, default: SERVER_DEFAULTS.maxQueue, value: 'N', help: 'most inputs waiting; a request that does not fit gets 429' },
  'max-body-bytes': { type: 'number', integer: true, default: SERVER_DEFAULTS.maxBodyBytes, value: 'N', help: 'largest request body; a larger one gets 413' },
} as const satisfies FlagSpecs;

const HELP = formatHelp(`usage: lco serve --model DIR [options]

Serves the decoder in DIR as an embedding model over HTTP, speaking OpenAI's
embeddings API: POST /v1/embeddings, GET /v1/models, GET /health. Embeddings
are L2-normalised; "dimensions" keeps a re-normalised prefix (Matryoshka).
SIGTERM or Ctrl-C finishes the requests in flight and exits.`, FLAGS);

export async function run(args: string[]): Promise<number> {
  const f = parseCommand('serve', FLAGS, HELP, args, (f) => {
    oneOf('pooling', f.pooling, ['lasttoken', 'mean']);
    oneOf('chat', f.chat, ['none', 'chatml']);
    resolvePrompt(f.prompt);
    for (const k of ['batch-size', 'max-inputs', 'max-queue', 'max-body-bytes', 'max-tokens'] as const) atLeast(k, f[k], 1);
    atLeast('batch-wait-ms', f['batch-wait-ms'], 0);
    atLeast('port', f.port, 0);
    if (f['max-queue'] < f['max-inputs']) throw new UsageError(`--max-queue ${f['max-queue']} must be >= --max-inputs ${f['max-inputs']}`);
  });
  if (typeof f === 'number') return f;
  const log = (s: string) => process.stderr.write(`lco serve: ${s}\n`);
  const server = new EmbeddingServer({
    batchSize: f['batch-size'], batchWaitMs: f['batch-wait-ms'], maxInputs: f['max-inputs'],
    maxQueue: f['max-queue'], maxBodyBytes: f['max-body-bytes'],
  });
  const url = await server.listen(f.port, f.host);
  process.stdout.write(`lco serve: listening on ${url}\n`);

  // The first signal starts a graceful stop (also while loading); a second one quits at once.
  let stopping: Promise<void> | null = null;
  let onStopped: () => void = () => {};
  const stopped = new Promise<void>((r) => (onStopped = r));
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    log(`${signal}: finishing the requests in flight (again to quit now)`);
    stopping = server.close().then(onStopped);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const id = f['model-id'] ?? basename(resolve(f.model));
    const t0 = performance.now();
    return await withModel(f.model, f.adapter, async ({ gpu, model, lora, vision, tokenizer }) => {
      if (f['max-tokens'] !== undefined && f['max-tokens'] > model.config.maxPositions) {
        log(`--max-tokens ${f['max-tokens']} is over the model's max_position_embeddings ${model.config.maxPositions}`);
        await server.close();
        return 2;
      }
      const backend = embedderBackend(new Embedder(gpu, model, tokenizer, lora, vision), {
        id, prompt: f.prompt, chat: f.chat as ChatFormat, pooling: f.pooling as Pooling, maxTokens: f['max-tokens'],
      });
      server.attach(backend);
      if (!stopping) log(`serving "${id}" (${backend.hidden} dimensions, at most ${backend.maxTokens} tokens per input) loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      await stopped; // withModel releases the model and destroys the Gpu once every request is answered
      log('stopped');
      return 0;
    });
  } catch (err) {
    await server.close();
    throw err;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

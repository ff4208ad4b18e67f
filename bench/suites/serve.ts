// Suite "serve" (only with --suite serve): `lco serve` under load on loopback.
//
// The EmbeddingServer (src/serve/server.ts) runs in this process with the
// built-in tiny decoder (fixtures/tiny-decoder), prompt none, the server's
// default batching (SERVER_DEFAULTS).
// C clients (the `clients` column) each send one request after another for
// `seconds`: one short text per request (an array of 1-4 in the "mixed"
// case), drawn from 64 texts of 3-11 words of the tokenizer's vocabulary, with fetch on keep-alive connections. Every answer is checked:
// status 200, one unit vector of the model's width per input, and equal (to
// 1e-5) to the answer computed alone before the load started. A request
// counts as failed on any other outcome. Reported: requests and inputs per
// second, p50 / p99 latency of a request, the process's peak RSS during the
// run (sampled every 50 ms), and the embed calls the batcher made (inputs per
// call shows how much concurrent requests shared a GPU batch).
// --quick: 4 clients for 1 s.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Embedder } from '../../src/embed/embedder.ts';
import { readTokenizer } from '../../src/io/tokenizer.ts';
import { loadDecoder, releaseDecoder } from '../../src/model/decoder.ts';
import { embedderBackend } from '../../src/serve/backend.ts';
import { EmbeddingServer } from '../../src/serve/server.ts';
import { fmt, fmtBytes, type Suite, type SuiteContext, type SuiteEnv, type SuiteReport } from './suite.ts';

const MODEL = fileURLToPath(new URL('../../fixtures/tiny-decoder', import.meta.url));

interface LoadCase {
  name: string;
  clients: number;
  /** Inputs per request: 1, or 1-4 ("mixed"). */
  mixed: boolean;
}

const CASES: LoadCase[] = [
  { name: 'tiny, 1 client, 1 input per request', clients: 1, mixed: false },
  { name: 'tiny, 16 clients, 1 input per request', clients: 16, mixed: false },
  { name: 'tiny, 64 clients, 1-4 inputs per request', clients: 64, mixed: true },
];

/** 3-11-word texts made of the tiny tokenizer's whole-word vocabulary entries (deterministic). */
function texts(n: number): string[] {
  const words = Object.keys((JSON.parse(readFileSync(`${MODEL}/tokenizer.json`, 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab)
    .filter((w) => /^[a-z]{3,}$/.test(w));
  return Array.from({ length: n }, (_, i) => Array.from({ length: 3 + (i % 9) }, (_, j) => words[(i * 31 + j * 17) % words.length]).join(' '));
}

const QUICK_CASES: LoadCase[] = [{ name: 'tiny, 4 clients, 1 input per request', clients: 4, mixed: false }];

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

export function serveSuite(ctx: SuiteContext): Suite {
  const o = ctx.options;
  const seconds = o.quick ? 1 : Math.max(1, (o.time ?? 10_000) / 1000);
  return {
    name: 'serve',
    block: 'serve-bench',
    section: '## Serving under load\n\nSuite `serve` (bench/suites/serve.ts; only with `npm run bench -- --suite serve`): `lco serve` on loopback.',
    async prepare() {},
    async run(env: SuiteEnv): Promise<SuiteReport> {
      const model = await loadDecoder(env.gpu, MODEL);
      const embedder = new Embedder(env.gpu, model, await readTokenizer(`${MODEL}/tokenizer.json`));
      const server = new EmbeddingServer({ log: (line) => console.log(`server: ${line}`) });
      const url = await server.listen(0, '127.0.0.1');
      server.attach(embedderBackend(embedder, { id: 'tiny-decoder', prompt: 'none', chat: 'none', pooling: 'lasttoken' }));
      const pool = texts(64);
      const alone = await embedder.embed(pool); // the reference answers, one batch
      const rows: string[] = [];
      try {
        for (const c of (o.quick ? QUICK_CASES : CASES).filter((x) => o.filter.test(x.name))) {
          const latencies: number[] = [];
          let failed = 0;
          let inputs = 0;
          let peakRss = process.memoryUsage().rss;
          const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
          const calls0 = server.embedCalls;
          const end = performance.now() + seconds * 1000;
          const client = async (id: number) => {
            for (let n = 0; performance.now() < end; n++) {
              const k = c.mixed ? 1 + ((id + n) % 4) : 1;
              const pick = Array.from({ length: k }, (_, j) => (id * 7 + n * 3 + j) % pool.length);
              const t0 = performance.now();
              try {
                const res = await fetch(`${url}/v1/embeddings`, {
                  method: 'POST', headers: { 'Content-Type': 'application/json' },
                  body: JSON.stringify({ model: 'tiny-decoder', input: k === 1 ? pool[pick[0]] : pick.map((i) => pool[i]) }),
                });
                const body = (await res.json()) as { data?: { index: number; embedding: number[] }[] };
                const ok = res.status === 200 && body.data?.length === k && body.data.every((d, j) =>
                  d.index === j && d.embedding.length === alone[pick[j]].length && d.embedding.every((v, i) => Math.abs(v - alone[pick[j]][i]) <= 1e-5));
                if (!ok) failed++;
              } catch {
                failed++;
              }
              latencies.push(performance.now() - t0);
              inputs += k;
            }
          };
          const t0 = performance.now();
          await Promise.all(Array.from({ length: c.clients }, (_, i) => client(i)));
          const wall = (performance.now() - t0) / 1000;
          clearInterval(sampler);
          latencies.sort((a, b) => a - b);
          const calls = server.embedCalls - calls0;
          const row = { name: c.name, requests: latencies.length, failed, rps: latencies.length / wall, ips: inputs / wall, p50: pct(latencies, 0.5), p99: pct(latencies, 0.99), peakRss, perCall: inputs / Math.max(1, calls) };
          console.log(`${row.name}: ${fmt(row.rps, 1)} req/s, ${fmt(row.ips, 1)} inputs/s, p50 ${fmt(row.p50, 1)} ms, p99 ${fmt(row.p99, 1)} ms, ${row.failed} failed of ${row.requests}, peak RSS ${fmtBytes(row.peakRss)} bytes, ${fmt(row.perCall, 1)} inputs per embed call`);
          rows.push(`| ${row.name} | ${row.requests} | ${row.failed} | ${fmt(row.rps, 1)} | ${fmt(row.ips, 1)} | ${fmt(row.p50, 1)} | ${fmt(row.p99, 1)} | ${fmtBytes(row.peakRss)} | ${fmt(row.perCall, 1)} |`);
        }
      } finally {
        await server.close();
        releaseDecoder(model);
      }
      return {
        header: [
          `Server: src/serve/server.ts in this process, fixtures/tiny-decoder, prompt none, batch size ${server.opts.batchSize}, batch wait ${server.opts.batchWaitMs} ms; ${seconds} s per case; clients use fetch on keep-alive connections over loopback`,
          'A request fails unless it is a 200 with one vector per input equal (1e-5) to the answer computed alone; peak RSS is the whole process (Node, Dawn and the model)',
        ],
        table: rows.length === 0 ? [] : [
          '| case | requests | failed | requests/s | inputs/s | p50 ms | p99 ms | peak RSS bytes | inputs per embed call |',
          '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
          ...rows,
        ],
      };
    },
  };
}

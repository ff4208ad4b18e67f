// Suite "runtimes" (only with --suite runtimes): the built package in four
// runtimes on this machine, each running bench/runtimes/bench-probe.mjs
// unchanged (the workloads and their timing are in its header):
//   node      Node, Dawn through npm `webgpu`                  (lavapipe)
//   deno      deno run --unstable-webgpu --allow-read, wgpu     (lavapipe, no subgroups)
//   bun       Bun, Dawn through `bun-webgpu` (FFI)             (lavapipe)
//   chromium  Debian's Chromium headless via playwright-core   (SwiftShader), the
//             browser build (dist/browser/) through bench/runtimes/bench.html
// The CLI runtimes run bench/runtimes/bench-cli.mjs; Chromium gets the page
// from scripts/static-server.ts serving the repository root, as in
// test/cross-runtime.test.ts.
//
// Identical inputs: prepare() writes .tmp/bench-runtimes/config-PID.json (the
// embed suite's first 128 WordNet texts, the matmul sizes, repetitions) and
// every runtime reads that file (a path, or a URL in the page). A full run
// rebuilds the package first (scripts/build.ts, ~1 s) so dist/ is the
// current source; --quick uses dist/ as it is (built when missing).
//
// Per runtime, one at a time (a 2-core machine), in prepare(): the whole
// suite runs before bench/run.ts creates its own Dawn instance, which keeps
// lavapipe threads busy and would slow the child processes (bench/NOTES.md).
//   CLI runtimes  1. --startup-only with MESA_SHADER_CACHE_DISABLE=true (cold:
//                    every pipeline compiled by LLVM)
//                 2. the full run (matmul, embed)
//                 3. --startup-only again: Mesa's on-disk shader cache now holds
//                    every pipeline (warm)
//                 startup = the child's Date.now() at its first embedding minus
//                 the parent's just before spawning it: runtime boot, import,
//                 Gpu.create, Embedder.load, one text's forward
//   chromium      one browser launch (fresh profile: no GPU disk cache), the
//                 full page, then a --startup-only page in the same browser;
//                 startup = performance.now() at the first embedding (ms since
//                 navigation start). The first page is the "cold" figure, the
//                 second the "warm" one (SwiftShader has no Mesa cache to
//                 switch off).
// Timed calls: at least 3, then more until --time ms (default 2000) or 20 per
// case. --quick: matmul 512^3 and 16 texts in one batch of 16, one timed call,
// no separate startup runs (startup from the full run).
// --filter matches runtime names.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { readWordNet } from '../../src/data/wordnet.ts';
import { trainingTriplets } from '../../src/data/wordnet-tasks.ts';
import { startStaticServer } from '../../scripts/static-server.ts';
import { launchChromium, newLoggedPage } from '../../test/runtimes/chromium.ts';
import { fmt, type Suite, type SuiteContext, type SuiteReport } from './suite.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG_DIR = '.tmp/bench-runtimes';
/** Per process: a smoke test and a full run at the same time do not share it. */
const CONFIG = `${CONFIG_DIR}/config-${process.pid}.json`;
const MODEL = 'fixtures/tiny-decoder';
const CLI = 'bench/runtimes/bench-cli.mjs';
const bin = (name: string) => `${ROOT}node_modules/.bin/${name}`;

/** What bench-probe.mjs's runBench returns (see its header). */
interface BenchResult {
  runtime: string;
  build: string;
  adapter: string;
  features: string[];
  subgroupSize: number | null;
  importedAt: number | null;
  firstEmbeddingAt: number;
  firstEmbeddingSinceOrigin: number;
  phaseMs: { device: number; load: number; firstEmbed: number };
  matmul?: { n: number; kernel: string; firstMs: number; ms: number; gflops: number; reps: number }[];
  embed?: { texts: number; batch: number; warmupMs: number; ms: number; textsPerSecond: number; reps: number };
}

interface Measured {
  full: BenchResult;
  /** ms to the first embedding: cache warm / off (see the header); null when not run. */
  startupWarm: number;
  startupCold: number | null;
}

interface Config {
  texts: string[];
  batch: number;
  matmulSizes: number[];
  minReps: number;
  minMs: number;
  maxReps: number;
}

/** The last line of stdout that is a JSON object. */
function lastJson(stdout: string, what: string): BenchResult {
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${what}: no JSON line on stdout`);
  return JSON.parse(line) as BenchResult;
}

/** Runs bench-cli.mjs in one runtime; startup = its first embedding's Date.now() minus ours at spawn. */
function runCli(command: string, args: string[], startupOnly: boolean, cacheOff: boolean): Promise<{ result: BenchResult; startupMs: number }> {
  const argv = [...args, CLI, CONFIG, MODEL, ...(startupOnly ? ['--startup-only'] : [])];
  const env = { ...process.env, NO_COLOR: '1', ...(cacheOff ? { MESA_SHADER_CACHE_DISABLE: 'true' } : {}) };
  return new Promise((ok, fail) => {
    const spawnedAt = Date.now();
    execFile(command, argv, { cwd: ROOT, env, timeout: 240_000, maxBuffer: 16 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const what = `${command.split('/').pop()} ${argv.join(' ')}${cacheOff ? ' (MESA_SHADER_CACHE_DISABLE=true)' : ''}`;
      if (err) {
        fail(new Error(`${what}: ${err.message}\n${stderr.slice(-2000)}`));
        return;
      }
      try {
        const result = lastJson(stdout, what);
        ok({ result, startupMs: result.firstEmbeddingAt - spawnedAt });
      } catch (e) {
        fail(e as Error);
      }
    });
  });
}

function cliRuntime(command: string, args: string[], quick: boolean): () => Promise<Measured> {
  return async () => {
    const cold = quick ? null : await runCli(command, args, true, true);
    const full = await runCli(command, args, false, false);
    const warm = quick ? full : await runCli(command, args, true, false);
    return { full: full.result, startupWarm: warm.startupMs, startupCold: cold?.startupMs ?? null };
  };
}

async function chromiumRuntime(quick: boolean): Promise<Measured> {
  const server = await startStaticServer(ROOT);
  const browser = await launchChromium();
  try {
    const page = async (startupOnly: boolean): Promise<BenchResult> => {
      const { page, errors } = await newLoggedPage(browser);
      try {
        await page.goto(`${server.url}bench/runtimes/bench.html?config=/${CONFIG}${startupOnly ? '&startup-only' : ''}`);
        const r = (await page.evaluate(() => (window as unknown as { benchResult: Promise<unknown> }).benchResult)) as BenchResult & { error?: string };
        if (r.error) throw new Error(`bench page in Chromium: ${r.error}`);
        if (errors.length > 0) throw new Error(`Chromium console errors:\n${errors.join('\n')}`);
        return r;
      } finally {
        await page.close();
      }
    };
    const full = await page(false);
    full.runtime = `Chromium ${browser.version()} headless`; // the user agent hides all but the major version
    const warm = quick ? full : await page(true);
    return { full, startupWarm: warm.firstEmbeddingSinceOrigin, startupCold: quick ? null : full.firstEmbeddingSinceOrigin };
  } finally {
    await browser.close();
    await server.close();
  }
}

export function runtimesSuite(ctx: SuiteContext): Suite {
  const o = ctx.options;
  const quick = o.quick;
  const minMs = o.time ?? (quick ? 0 : 2000);
  const minReps = quick ? 1 : 3;
  const sizes = quick ? [512] : [512, 1024];
  const work = quick ? { texts: 16, batch: 16 } : { texts: 128, batch: 32 };
  const RUNTIMES: Record<string, { webgpu: string; run: () => Promise<Measured> }> = {
    node: { webgpu: 'Dawn (npm webgpu)', run: cliRuntime(process.execPath, [], quick) },
    deno: { webgpu: 'wgpu (--unstable-webgpu)', run: cliRuntime(bin('deno'), ['run', '--unstable-webgpu', '--allow-read', '--quiet'], quick) },
    bun: { webgpu: 'Dawn (bun-webgpu, FFI)', run: cliRuntime(bin('bun'), [], quick) },
    chromium: { webgpu: 'Dawn in Chromium', run: () => chromiumRuntime(quick) },
  };
  const measured: { name: string; webgpu: string; m: Measured | string }[] = [];
  let suiteSeconds = 0;

  /** Each runtime in turn (see the header); a failure is logged and reported, the others still run. */
  async function runAll(names: string[]): Promise<void> {
    for (const name of names) {
      const t = performance.now();
      try {
        const m = await RUNTIMES[name].run();
        measured.push({ name, webgpu: RUNTIMES[name].webgpu, m });
        const f = m.full;
        console.log(`${name} (${f.runtime}, ${f.adapter}, ${f.build}): ` +
          `${f.matmul!.map((x) => `matmul ${x.n}^3 ${fmt(x.ms, 1)} ms ${fmt(x.gflops)} GFLOP/s [${x.kernel}, first call ${fmt(x.firstMs, 0)} ms, ${x.reps} calls]`).join(', ')}, ` +
          `embed ${fmt(f.embed!.textsPerSecond, 1)} texts/s [${fmt(f.embed!.ms, 0)} ms/call, warm-up ${fmt(f.embed!.warmupMs, 0)} ms, ${f.embed!.reps} calls], ` +
          `startup ${fmt(m.startupWarm, 0)} ms warm, ${m.startupCold === null ? 'cold not run' : `${fmt(m.startupCold, 0)} ms cold`} ` +
          `(device ${fmt(f.phaseMs.device, 0)}, load ${fmt(f.phaseMs.load, 0)}, first embed ${fmt(f.phaseMs.firstEmbed, 0)} ms in the full run); ` +
          `${((performance.now() - t) / 1000).toFixed(1)} s`);
      } catch (err) {
        measured.push({ name, webgpu: RUNTIMES[name].webgpu, m: `failed (${(err as Error).message.split('\n')[0]})` });
        console.log(`${name}: FAILED ${(err as Error).message}`);
      }
    }
  }

  return {
    name: 'runtimes',
    block: 'runtimes-bench',
    section: '## Runtimes\n\nSuite `runtimes` (bench/suites/runtimes.ts; only with `npm run bench -- --suite runtimes`): the built package in Node, Deno, Bun and Chromium.',

    async prepare() {
      const names = Object.keys(RUNTIMES).filter((n) => o.filter.test(n));
      if (names.length === 0) return;
      const t0 = performance.now();
      // A full run measures the current source. --quick (the smoke test) uses
      // the dist/ the test suite's global setup built: rebuilding it here would
      // delete files that other test files are loading at the same time.
      if (!o.quick || !existsSync(`${ROOT}dist/index.js`)) {
        execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
      }
      const texts = trainingTriplets(await readWordNet(), { seed: 0 }).rows.slice(0, work.texts).map((t) => t.positive);
      const config: Config = { texts, batch: work.batch, matmulSizes: sizes, minReps, minMs, maxReps: 20 };
      await mkdir(`${ROOT}${CONFIG_DIR}`, { recursive: true });
      await writeFile(`${ROOT}${CONFIG}`, JSON.stringify(config));
      try {
        await runAll(names);
      } finally {
        await rm(`${ROOT}${CONFIG}`, { force: true });
      }
      suiteSeconds = (performance.now() - t0) / 1000;
    },

    async run(): Promise<SuiteReport> {
      const rows = measured.map(({ name, webgpu, m }) => {
        if (typeof m === 'string') return `| ${name} | ${webgpu} | ${m} |${' |'.repeat(sizes.length * 2 + 7)}`;
        const f = m.full;
        const mm = sizes.map((n) => f.matmul!.find((x) => x.n === n)!);
        return `| ${f.runtime} | ${webgpu} | ${f.adapter} | ${f.subgroupSize ?? 'none'} | ${f.features.join(', ')} | ` +
          `${mm.map((x) => `${fmt(x.ms, 1)} | ${fmt(x.gflops)}`).join(' | ')} | ${mm[0].kernel} | ` +
          `${fmt(f.embed!.textsPerSecond, 1)} | ${fmt(f.embed!.ms, 0)} | ${fmt(m.startupWarm, 0)} | ${m.startupCold === null ? 'not run' : fmt(m.startupCold, 0)} |`;
      });
      return {
        header: [
          `Runtimes: each runs bench/runtimes/bench-probe.mjs on the built package (dist/index.js; Chromium dist/browser/index.js), one at a time, before this process creates its own Dawn instance; the whole suite took ${suiteSeconds.toFixed(0)} s`,
          `Matmul: f32 n x n x n, matmul() + gpu.sync() (no read-back), median ms after one warm-up call; embed: fixtures/tiny-decoder, the embed suite's first ${work.texts} WordNet texts, prompt none, batches of ${work.batch}, vectors read back, median ms/call after one warm-up; timed calls per case: >= ${minReps}, then until ${minMs} ms or 20`,
          'Startup: ms to the first embedding of one text, including runtime boot, import, device, model load and pipeline compiles. CLI runtimes: from spawn; warm = Mesa shader cache filled by the run before, cold = MESA_SHADER_CACHE_DISABLE=true. Chromium: from navigation; cold = first page of a fresh browser (new profile), warm = a second page in the same browser',
        ],
        table: rows.length === 0 ? [] : [
          `| runtime | WebGPU | adapter | subgroup size | features | ${sizes.map((n) => `matmul ${n}³ ms | GFLOP/s`).join(' | ')} | matmul kernel | embed texts/s | embed ms/call | startup ms, warm cache | startup ms, cold cache |`,
          `|---|---|---|---:|---|${'---:|---:|'.repeat(sizes.length)}---|---:|---:|---:|---:|`,
          ...rows,
        ],
      };
    },
  };
}

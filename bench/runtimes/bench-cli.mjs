// The runtimes benchmark in a runtime with a file system; prints its result
// as one JSON line:
//   node|bun bench/runtimes/bench-cli.mjs CONFIG.json MODEL_DIR [--startup-only]
//   deno run --unstable-webgpu --allow-read bench/runtimes/bench-cli.mjs ...
// CONFIG.json is written by bench/suites/runtimes.ts (texts, sizes,
// repetitions), so every runtime gets identical inputs. Exits explicitly: a
// WebGPU instance can keep the event loop alive.
import { readFile } from 'node:fs/promises';
import { runBench } from './bench-probe.mjs';

const importedAt = performance.now(); // the package and this file are evaluated
const g = globalThis;
const args = g.Deno ? g.Deno.args : g.process.argv.slice(2);
const exit = (code) => (g.Deno ? g.Deno.exit(code) : g.process.exit(code));
/** Writes a line and waits until it is out: Node's stdout to a pipe is asynchronous, and exit() would cut it. */
const writeLine = (text) =>
  new Promise((resolve) => (g.Deno ? (console.log(text), resolve()) : g.process.stdout.write(`${text}\n`, () => resolve())));

try {
  if (args.length < 2) throw new Error('usage: bench-cli.mjs CONFIG.json MODEL_DIR [--startup-only]');
  const config = JSON.parse(await readFile(args[0], 'utf8'));
  const result = await runBench({ model: args[1], config, startupOnly: args.includes('--startup-only'), importedAt });
  await writeLine(JSON.stringify(result));
  exit(0);
} catch (err) {
  console.error(`bench failed: ${err?.stack ?? err}`);
  exit(1);
}

// The runtimes benchmark in a runtime with a file system; prints its result
// as one JSON line:
//   node|bun bench/runtimes/bench-cli.mjs CONFIG.json MODEL_DIR [--startup-only]
//   deno run --unstable-webgpu --allow-read bench/runtimes/bench-cli.mjs ...
// CONFIG.json is written by bench/suites/runtimes.ts (texts, sizes,
// repetitions), so every runtime gets identical inputs.
import { readFile } from 'node:fs/promises';
import { runAsCli } from '../../test/runtimes/runtime-io.mjs';
import { runBench } from './bench-probe.mjs';

const importedAt = performance.now(); // the package and this file are evaluated

await runAsCli('bench', async (args) => {
  if (args.length < 2) throw new Error('usage: bench-cli.mjs CONFIG.json MODEL_DIR [--startup-only]');
  const config = JSON.parse(await readFile(args[0], 'utf8'));
  return runBench({ model: args[1], config, startupOnly: args.includes('--startup-only'), importedAt });
});

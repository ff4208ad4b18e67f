// What the plain-ESM runners in every runtime share: the cross-runtime probe
// (test/runtimes/) and the runtimes benchmark (bench/runtimes/).
//
//   deviceSummary(gpu)   which build, adapter, features and subgroup size ran
//   runAsCli(what, main) Node / Deno / Bun: main(args) -> one JSON line on
//                        stdout, exit 0; a failure -> stderr, exit 1. Exits
//                        explicitly (a WebGPU instance can keep the event loop
//                        alive), after stdout is flushed: Node's stdout to a
//                        pipe is asynchronous, and exit() would cut a long line.
import { VERSION, WANTED_FEATURES } from '../../dist/index.js';

export function deviceSummary(gpu) {
  return {
    version: VERSION,
    // The module the package import resolved to: a page's import map sends it to the browser build.
    build: import.meta.resolve ? import.meta.resolve('../../dist/index.js').replace(/^.*\/dist\//, 'dist/') : 'dist/index.js',
    adapter: gpu.adapterName,
    features: [...gpu.features].filter((f) => WANTED_FEATURES.includes(f)).sort(),
    subgroupSize: gpu.subgroupSize,
  };
}

export async function runAsCli(what, main) {
  const g = globalThis;
  const args = g.Deno ? g.Deno.args : g.process.argv.slice(2);
  const exit = (code) => (g.Deno ? g.Deno.exit(code) : g.process.exit(code));
  const writeLine = (text) =>
    new Promise((resolve) => (g.Deno ? (console.log(text), resolve()) : g.process.stdout.write(`${text}\n`, () => resolve())));
  try {
    await writeLine(JSON.stringify(await main(args)));
    exit(0);
  } catch (err) {
    console.error(`${what} failed: ${err?.stack ?? err}`);
    exit(1);
  }
}

// Runs the probe in a runtime with a file system and prints its result as one
// JSON line: `node|bun probe-cli.mjs MODEL_DIR GOLDEN_DIR`, `deno run
// --unstable-webgpu --allow-read probe-cli.mjs MODEL_DIR GOLDEN_DIR`. Exits explicitly: a WebGPU instance can keep
// the event loop alive.
import { runProbe } from './probe.mjs';

const g = globalThis;
const args = g.Deno ? g.Deno.args : g.process.argv.slice(2);
const exit = (code) => (g.Deno ? g.Deno.exit(code) : g.process.exit(code));

/** Writes a line and waits until it is out: Node's stdout to a pipe is asynchronous, and exit() would cut it. */
const writeLine = (text) =>
  new Promise((resolve) => (g.Deno ? (console.log(text), resolve()) : g.process.stdout.write(`${text}\n`, () => resolve())));

try {
  const result = await runProbe({ model: args[0], golden: args[1] });
  await writeLine(JSON.stringify(result));
  exit(0);
} catch (err) {
  console.error(`probe failed: ${err?.stack ?? err}`);
  exit(1);
}

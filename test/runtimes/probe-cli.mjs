// Runs the probe in a runtime with a file system and prints its result as one
// JSON line: `node|bun probe-cli.mjs MODEL_DIR GOLDEN_DIR`, `deno run
// --unstable-webgpu --allow-read probe-cli.mjs MODEL_DIR GOLDEN_DIR`.
import { runProbe } from './probe.mjs';
import { runAsCli } from './runtime-io.mjs';

await runAsCli('probe', (args) => runProbe({ model: args[0], golden: args[1] }));

// npm run demo:web [-- --port N]: the browser demo (demo/) on this machine.
// Builds dist/ (scripts/build.ts, as a child process like the tests' global
// setup, so the page always runs the current source), serves the repository
// root on http://127.0.0.1:PORT/ (loopback is a secure context, which WebGPU
// needs), prints the demo's URL and serves until Ctrl-C.
//
// The page fetches ../dist/index.js, ../fixtures/tiny-decoder/* and
// data/glosses.json relative to itself, so the whole repository is served;
// the server answers GET/HEAD of files under it and nothing else.
import { execFileSync } from 'node:child_process';
import { formatHelp, parseArgs, UsageError, type FlagSpecs } from '../src/cli/args.ts';
import { startStaticServer } from './static-server.ts';

const FLAGS = {
  port: { type: 'number', integer: true, default: 8080, value: 'N', help: 'port on 127.0.0.1 (0: any free port)' },
} as const satisfies FlagSpecs;

const HELP = formatHelp(`usage: npm run demo:web [-- --port N]

Builds dist/ and serves the repository on 127.0.0.1 for the browser demo:
semantic search over WordNet glosses, embedded in the page with WebGPU.`, FLAGS);

const root = new URL('..', import.meta.url).pathname;

function portFromArgs(argv: string[]): number {
  const { flags, positional, help } = parseArgs(FLAGS, argv);
  if (help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  if (positional.length > 0) throw new UsageError(`unexpected argument "${positional[0]}"`);
  if (flags.port < 0 || flags.port > 65535) throw new UsageError(`--port ${flags.port}: expected 0..65535`);
  return flags.port;
}

async function main(): Promise<void> {
  let port: number;
  try {
    port = portFromArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`demo:web: ${err.message}\n\n${HELP}`);
    process.exit(2);
  }
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts'], { cwd: root, stdio: 'inherit' });
  let server;
  try {
    server = await startStaticServer(root, port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err;
    process.stderr.write(`demo:web: cannot listen on 127.0.0.1:${port} (${code}); pass another --port, e.g. npm run demo:web -- --port 8081\n`);
    process.exit(1);
  }
  console.log(`\nlco-webgpu browser demo: ${server.url}demo/`);
  console.log('open it in a browser with WebGPU (Chrome/Edge 113+, Safari 26+, Firefox 141+ on Windows); Ctrl-C stops the server');
  process.once('SIGINT', () => {
    void server.close().then(() => process.exit(0));
  });
}

await main();

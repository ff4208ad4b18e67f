// The lco command's entry (bin/lco.mjs imports it once tsx's loader is in).
//
// Dawn prints two native notices about clamped limits when it first looks for
// an adapter (src/gpu/driver-stderr.ts). Where stderr can be opened a second
// time as the same thing (a terminal, a pipe, a file opened to append), the
// command runs in this process and Gpu.create() keeps them off stderr itself.
// Where it cannot (a socket, which is what a Node parent's spawn() gives; a
// file opened without append, as `> log 2>&1`), the command runs as a child
// of this process with its stderr piped here, passed on as it comes minus the
// notices; stdin and stdout are the child's own, its exit status is ours, and
// signals sent to us reach it once. LCO_DRIVER_LOG=1 runs every command in
// this process with the driver's messages shown.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { NoticeFilter, driverLogWanted, stderrTarget } from '../gpu/driver-stderr.ts';

/** Set in the child's environment: its stderr is already filtered. */
const FILTERED_ENV = 'LCO_STDERR_FILTERED';
const BIN = new URL('../../bin/lco.mjs', import.meta.url).pathname;
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

function needsFilteringParent(argv: string[]): boolean {
  const [name] = argv;
  if (!name || ['help', '--help', '-h'].includes(name)) return false; // prints usage, no GPU
  if (process.platform !== 'linux' || driverLogWanted(process.env) || process.env[FILTERED_ENV]) return false;
  const target = stderrTarget(fs);
  return target === 'socket' || target === 'shared file';
}

/** Runs the command as a child whose stderr is filtered here; resolves to the exit status to take. */
function runFiltered(argv: string[]): Promise<number | NodeJS.Signals> {
  // A terminal delivers Ctrl-C (and hangups) to its whole foreground process
  // group. With no terminal on stdin or stdout the child gets a group of its
  // own and every signal reaches it once, through us; with one, it stays in
  // ours (so it may use the terminal) and the terminal's signals reach it
  // directly, so we forward only SIGTERM.
  const terminal = isatty(0) || isatty(1); // not process.stdin: that would open a stream on the child's stdin
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'));
  const child = spawn(process.execPath, [...execArgv, BIN, ...argv], {
    stdio: ['inherit', 'inherit', 'pipe'], env: { ...process.env, [FILTERED_ENV]: '1' }, detached: !terminal,
  });
  const filter = new NoticeFilter();
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    const out = filter.push(chunk);
    if (out) process.stderr.write(out);
  });
  const relay = (signal: NodeJS.Signals) => {
    if (terminal && signal !== 'SIGTERM') return; // the terminal sent it to the child too
    child.kill(signal);
  };
  for (const s of FORWARDED) process.on(s, relay);
  return new Promise((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`lco: could not start the command: ${err.message}\n`);
      resolve(1);
    });
    child.on('close', (code, signal) => {
      for (const s of FORWARDED) process.off(s, relay);
      const rest = filter.end();
      if (rest) process.stderr.write(rest);
      resolve(signal ?? code ?? 1);
    });
  });
}

const argv = process.argv.slice(2);
if (needsFilteringParent(argv)) {
  const status = await runFiltered(argv);
  if (typeof status === 'number') {
    process.exitCode = status; // exits once stderr has drained
  } else {
    process.kill(process.pid, status); // died of a signal: so do we (its handler is gone)
  }
} else {
  await import('./main.ts');
}

// Finding PyTorch and running the peer script (torch_decoder.py) for the model
// and embed suites. Optional: Debian's python3-torch; when no python3 can
// import torch, the suites print a notice and leave the peer columns empty.
//
// The peer must run before our side opens its Dawn instance: a live Dawn
// instance keeps lavapipe's threads busy and slowed the peer up to 7x
// (bench/NOTES.md). bench/run.ts therefore runs every suite's prepare() (which
// calls runTorchPeer) before it creates the Gpu.
import os from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toHfConfig, type DecoderConfig } from '../../src/model/config.ts';
import type { MatmulShape } from '../kernels/matmul.ts';

export interface Torch {
  python: string;
  version: string;
}

/** A python3 that can import torch: $LCO_PYTHON, then python3 on PATH, then Debian's /usr/bin/python3; or why none. */
export function findTorch(candidates = [process.env.LCO_PYTHON, 'python3', '/usr/bin/python3']): Torch | string {
  const tried: string[] = [];
  for (const python of [...new Set(candidates.filter((p): p is string => Boolean(p)))]) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python, version: r.stdout.trim() };
    tried.push(`${python}: ${r.error ? r.error.message : (r.stderr.trim().split('\n').at(-1) ?? `exit ${r.status}`)}`);
  }
  return `PyTorch not available (${tried.join('; ')})`;
}

export interface PeerRun {
  version: string;
  threads: number;
  blas: string;
  /** ms per step, by the peer's mode name. */
  ms: Record<string, number>;
}

/** Runs a Python script to completion, collecting its output. */
function runPython(python: string, argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(python, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('error', reject);
    p.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
  });
}

/** One line for the RESULTS header: which PyTorch, threads and BLAS. */
export function describePeer(p: PeerRun): string {
  return `PyTorch ${p.version} CPU (plain Llama decoder, float32, ${p.threads} threads, BLAS ${p.blas}), same machine, same run (before ours)`;
}

/**
 * Runs a peer script (in this folder) with `args`: `files` are written into a
 * temp dir first and `{name}` in args becomes that file's path. Returns the
 * JSON line it prints last, {version, threads, blas, results: {key: {ms}}},
 * with ms per key; rejects with the script's last stderr line on failure.
 */
async function runPeerScript(torch: Torch, script: string, args: string[], files: Record<string, string>): Promise<PeerRun> {
  const dir = await mkdtemp(join(os.tmpdir(), 'lco-bench-peer-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    const argv = [fileURLToPath(new URL(`./${script}`, import.meta.url)), ...args.map((a) => a.replace(/^\{(.+)\}$/, (_, name: string) => join(dir, name)))];
    const { code, stdout, stderr } = await runPython(torch.python, argv);
    const line = stdout.trim().split('\n').at(-1) ?? '';
    if (code !== 0 || !line.startsWith('{')) throw new Error(`${script} exited ${code}: ${(stderr.trim().split('\n').at(-1) ?? '') || 'no JSON line on stdout'}`);
    const j = JSON.parse(line) as { version: string; threads: number; blas: string; results: Record<string, { ms: number }> };
    return { version: j.version, threads: j.threads, blas: j.blas, ms: Object.fromEntries(Object.entries(j.results).map(([k, v]) => [k, v.ms])) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs torch_decoder.py on cfg for `modes`, with the extra arguments `args`
 * (shape, optimizer, --batch-file {name} ...) and their `files`.
 */
export async function runTorchPeer(
  torch: Torch, cfg: DecoderConfig, modes: string[], args: string[], minMs: number, files: Record<string, string> = {},
): Promise<PeerRun> {
  const run = await runPeerScript(torch, 'torch_decoder.py',
    ['--config', '{config.json}', '--time-ms', String(minMs), '--modes', modes.join(','), ...args],
    { ...files, 'config.json': JSON.stringify(toHfConfig(cfg)) });
  for (const m of modes) if (!(run.ms[m] > 0)) throw new Error(`torch_decoder.py: no result for mode ${m}`);
  return run;
}

/** Runs torch_matmul.py on `shapes`; ms per call by shape name. */
export function runTorchMatmul(torch: Torch, shapes: MatmulShape[], minMs: number): Promise<PeerRun> {
  return runPeerScript(torch, 'torch_matmul.py', ['--shapes', '{shapes.json}', '--time-ms', String(minMs)], { 'shapes.json': JSON.stringify(shapes) });
}

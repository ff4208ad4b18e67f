// Dawn's limit notices ("maxDynamic...BuffersPerPipelineLayout artificially
// reduced ...") are kept off stderr (src/gpu/driver-stderr.ts, src/cli/entry.ts):
// by Gpu.create() in a program whose stderr is a pipe, a terminal or a file
// opened to append, and by every lco command whatever its stderr is (a Node
// parent's socket, `> log 2>&1`); LCO_DRIVER_LOG=1 shows them; every other
// line native code prints is kept, in order; a file whose position is shared
// is never written at a second position; the refusals are named.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DAWN_LIMIT_NOTICE, NoticeFilter, swapRefusal, withoutDawnNotices, type DriverStderrEnv } from '../src/gpu/driver-stderr.ts';
import { runLco } from './helpers.ts';

const root = new URL('..', import.meta.url).pathname;
const NOTICE = /artificially reduced/;
const UNIFORM = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';
const STORAGE = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';
const PROBE = `"${process.execPath}" --import tsx test/driver-stderr-probe.ts`;
const lines = (text: string) => text.split(/\r?\n/).filter(Boolean);
const dir = mkdtempSync(join(tmpdir(), 'lco-driver-'));

/** `sh -c script` in the repository; a non-zero exit fails the test. */
function sh(script: string, env: Record<string, string> = {}) {
  const r = spawnSync('sh', ['-c', script], { cwd: root, encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
  expect(r.status, r.stderr).toBe(0);
  return r;
}

/** The probe with its stderr a real pipe (read back as `stderr`) and its stdout a file. */
function probeThroughPipe(mode: 'gpu' | 'native', env: Record<string, string> = {}) {
  const out = join(dir, `${mode}-${Math.random().toString(36).slice(2)}.out`);
  const r = sh(`${PROBE} ${mode} 2>&1 >"${out}" | cat`, env);
  return { stderr: r.stdout, stdout: readFileSync(out, 'utf8') };
}

/** Whether this machine's Dawn prints the notices at all (lavapipe does): seen with LCO_DRIVER_LOG=1. */
let printsCache: boolean | undefined;
function dawnPrints(): boolean {
  printsCache ??= NOTICE.test(probeThroughPipe('gpu', { LCO_DRIVER_LOG: '1' }).stderr);
  if (!printsCache) console.log('this adapter prints no limit notices: only that nothing else is lost is checked');
  return printsCache;
}

const AFTER = ['stderr after', 'console.error after'];

describe('the notice filter', () => {
  it('drops exactly the two notices, keeping every other line as it was', () => {
    expect(DAWN_LIMIT_NOTICE.test(UNIFORM) && DAWN_LIMIT_NOTICE.test(STORAGE)).toBe(true);
    expect(withoutDawnNotices(`a\n${UNIFORM}\n${STORAGE}\r\nWarning: other\nlast`)).toBe('a\nWarning: other\nlast');
    expect(withoutDawnNotices(`${UNIFORM} and more\n`)).toBe(`${UNIFORM} and more\n`);
    expect(withoutDawnNotices('')).toBe('');
  });

  it('on a stream cut anywhere, passes on what the whole text filtered gives, holding back only what could become a notice', () => {
    const pieces = ['step 1  loss 3.2\n', `${UNIFORM}\n`, `${STORAGE}\n`, 'Warning: maxDynamic is not all\n', `mid ${UNIFORM}\n`, 'no newline', '\n', 'W', 'x\n'];
    fc.assert(fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 8 }), (parts, cuts) => {
      const text = parts.join('');
      const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      const f = new NoticeFilter();
      let out = '';
      let prev = 0;
      for (const c of [...at, text.length]) {
        out += f.push(text.slice(prev, c));
        prev = c;
      }
      expect(out + f.end()).toBe(withoutDawnNotices(text));
    }), { numRuns: 500 });
    const f = new NoticeFilter();
    expect(f.push('loss 3.2 at step')).toBe('loss 3.2 at step'); // a line that cannot be a notice shows at once
    expect(f.push(' 7\nWarn')).toBe(' 7\n'); // the start of one that could is held
    expect(f.push('ing: something else\n')).toBe('Warning: something else\n');
  });

  it('names why it leaves stderr alone', () => {
    const fs = {
      fstatSync: () => ({ isFIFO: () => true, isCharacterDevice: () => false, isFile: () => false }),
      readFileSync: () => 'flags:\t0100001\n', constants: { O_APPEND: 0o2000 },
    } as unknown as DriverStderrEnv['fs'];
    const ok: DriverStderrEnv = { fs, tmpdir: '/tmp', isMainThread: true, platform: 'linux', env: {}, activeResources: () => ['TTYWrap', 'Timeout'], stderrQueued: () => 0 };
    expect(swapRefusal(ok)).toBeNull();
    expect(swapRefusal({ ...ok, env: { LCO_DRIVER_LOG: '1' } })).toMatch(/LCO_DRIVER_LOG is set/);
    expect(swapRefusal({ ...ok, platform: 'darwin' })).toMatch(/only done on Linux/);
    expect(swapRefusal({ ...ok, isMainThread: false })).toMatch(/main thread/);
    expect(swapRefusal({ ...ok, activeResources: () => ['FSReqPromise', 'Timeout', 'GetAddrInfoReqWrap'] })).toMatch(/in flight \(FSReqPromise, GetAddrInfoReqWrap\)/);
    expect(swapRefusal({ ...ok, stderrQueued: () => 12 })).toMatch(/queued writes/);
    const file = (flags: string) => ({ ...fs, fstatSync: () => ({ isFIFO: () => false, isCharacterDevice: () => false, isFile: () => true }), readFileSync: () => `pos:\t0\nflags:\t${flags}\n` });
    expect(swapRefusal({ ...ok, fs: file('02102001') as unknown as DriverStderrEnv['fs'] })).toBeNull(); // O_APPEND set
    expect(swapRefusal({ ...ok, fs: file('02100001') as unknown as DriverStderrEnv['fs'] })).toMatch(/not opened to append/);
    const socket = { ...fs, fstatSync: () => ({ isFIFO: () => false, isCharacterDevice: () => false, isFile: () => false }) };
    expect(swapRefusal({ ...ok, fs: socket as unknown as DriverStderrEnv['fs'] })).toMatch(/socket/);
  });

  it('around a call that writes to descriptor 2 itself: the notices go, every other line stays, in order; the value and a throw come through', () => {
    const r = probeThroughPipe('native');
    expect(r.stderr).toBe(['stderr before', 'loader: a line that is not a notice', 'Warning: something else Dawn says', 'no newline at the end' +
      'written before the throw', '', 'caught thrown inside', ...AFTER, ''].join('\n'));
    expect(r.stdout).toBe('value 42\nstdout after\n');
    const shown = probeThroughPipe('native', { LCO_DRIVER_LOG: '1' });
    expect(shown.stderr).toContain(UNIFORM);
    expect(shown.stderr).toContain('loader: a line that is not a notice');
  });
});

describe('Gpu.create() in a program', () => {
  it('stderr a pipe, a terminal, or a file opened to append: no notice, nothing else lost', () => {
    dawnPrints();
    const pipe = probeThroughPipe('gpu');
    expect(pipe.stderr).not.toMatch(NOTICE);
    expect(lines(pipe.stderr)).toEqual(['stderr before', ...AFTER]);

    const log = join(dir, 'append.log');
    sh(`${PROBE} gpu >> "${log}" 2>&1`);
    expect(lines(readFileSync(log, 'utf8'))).toEqual(['stderr before', ...AFTER, 'stdout after']);

    if (spawnSync('script', ['--version']).status === 0) {
      const tty = sh(`script -qc '${PROBE} gpu' /dev/null`);
      expect(tty.stdout).not.toMatch(NOTICE);
      expect(lines(tty.stdout)).toEqual(['stderr before', ...AFTER, 'stdout after']);
    }
  });

  it('`> log 2>&1` (a shared file position): left alone, so the notices stay, and nothing is overwritten', () => {
    const prints = dawnPrints();
    const shared = join(dir, 'shared.log');
    sh(`${PROBE} gpu > "${shared}" 2>&1`);
    const got = lines(readFileSync(shared, 'utf8'));
    expect(got.filter((l) => !NOTICE.test(l))).toEqual(['stderr before', ...AFTER, 'stdout after']);
    expect(got.filter((l) => NOTICE.test(l))).toHaveLength(prints ? 2 : 0);
  });
});

describe('lco commands', () => {
  it('print no notice under a Node parent (a socket) or into `> log 2>&1`; LCO_DRIVER_LOG=1 shows them; the exit status comes through', async () => {
    const prints = dawnPrints();
    const quiet = await runLco(['doctor', '--no-bench']);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout + quiet.stderr).not.toMatch(NOTICE);
    expect(quiet.stdout).toMatch(/^adapter /);
    expect(quiet.stdout).toMatch(/45 passed, 0 failed/);

    const log = join(dir, 'doctor.log');
    sh(`"${process.execPath}" bin/lco.mjs doctor --no-bench > "${log}" 2>&1`);
    expect(readFileSync(log, 'utf8')).not.toMatch(NOTICE);
    expect(readFileSync(log, 'utf8')).toMatch(/^adapter [^]*45 passed, 0 failed/);

    const bad = await runLco(['embed', '--model', join(dir, 'no-such-model'), '--input', log, '--output', join(dir, 'x.jsonl')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no-such-model/);

    if (prints) {
      const shown = spawnSync(process.execPath, ['bin/lco.mjs', 'doctor', '--no-bench'], { cwd: root, encoding: 'utf8', timeout: 180_000, env: { ...process.env, LCO_DRIVER_LOG: '1' } });
      expect(shown.stderr).toContain(UNIFORM);
    }
  });
});

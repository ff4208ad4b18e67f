// Dawn's adapter-discovery notices, kept off stderr (Node only).
//
// The first requestAdapter() of a Dawn instance (npm `webgpu`) on a Vulkan
// driver that reports huge dynamic-buffer limits (lavapipe's 1000000, most
// desktop drivers too) makes Dawn's native code print, straight to file
// descriptor 2 where no JavaScript stream sees it:
//   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
//   Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
// They concern nobody who runs the tool. Dawn writes them synchronously,
// before requestAdapter() returns its promise, so fd 2 is pointed at a
// temporary file for that one call and no JavaScript runs meanwhile; then fd
// 2 is put back, and whatever native code wrote is written to stderr again
// minus exactly those notices (nothing else is lost: a Vulkan loader error
// still shows). LCO_DRIVER_LOG=1 in the environment skips all of this.
// Only on Linux, where Dawn runs on Vulkan.
//
// Node has no dup2, but POSIX open() returns the lowest free descriptor, and
// opening /dev/fd/N gives a new descriptor of N's file, pipe or terminal:
//   keep = open(/dev/fd/2); capture = open(temp file), unlinked at once
//   close(2); open(/dev/fd/capture)      -> 2
//   call()
//   read 2; close(2); open(/dev/fd/keep) -> 2 again: stderr's own target (appending)
//   close(keep, capture); write what the call printed back to 2, filtered
// Between a close(2) and the open that refills it, another thread opening a
// file would get 2. So the swap is done only when no other open can happen:
// on the main thread, with no fs or DNS request in flight in libuv's pool and
// nothing queued on process.stderr (whose pipe watcher must not be active).
// And the new descriptor of stderr's target must behave as the old one: a
// pipe or a terminal has no position, but a regular file does, shared by
// every descriptor of one open (`> log 2>&1`, or the shell that redirected
// us): a second open would write at a position of its own and overwrite
// them. So a file is swapped only when it was opened to append (`2>> log`),
// read from /proc/self/fdinfo/2. Otherwise (a file opened without append, a
// socket, stderr closed, not Linux) the call simply runs and the notices show.

/** How both notices start: a stream filter holds back a partial line while it could still be one. */
const NOTICE_START = 'Warning: maxDynamic';
/** The two notices Dawn prints when it clamps a Vulkan adapter's dynamic-buffer limits. */
export const DAWN_LIMIT_NOTICE = new RegExp(`^${NOTICE_START}(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \\d+ to \\d+ to fit dynamic offset allocation limit\\.$`);

/** The environment variable that shows the driver's own messages. */
export const DRIVER_LOG_ENV = 'LCO_DRIVER_LOG';

type Fs = typeof import('node:fs');

/** libuv requests that may open a file descriptor from another thread. */
const OPENS_ELSEWHERE = /^(FSReq|GetAddrInfo|GetNameInfo)/;

export interface DriverStderrEnv {
  fs: Fs;
  tmpdir: string;
  isMainThread: boolean;
  platform: string;
  env: Record<string, string | undefined>;
  /** process.getActiveResourcesInfo(). */
  activeResources: () => string[];
  /** Bytes queued on process.stderr. */
  stderrQueued: () => number;
}

/** This Node process's environment for filterDriverStderr (node: modules imported here, on the Node path only). */
export async function nodeDriverStderrEnv(): Promise<DriverStderrEnv> {
  const [fs, os, workers] = await Promise.all([import('node:fs'), import('node:os'), import('node:worker_threads')]);
  return {
    fs, tmpdir: os.tmpdir(), isMainThread: workers.isMainThread, platform: process.platform, env: process.env,
    activeResources: () => process.getActiveResourcesInfo(), stderrQueued: () => process.stderr.writableLength,
  };
}

/**
 * What descriptor 2 is, for the swap: 'reopenable' (a pipe, a terminal,
 * /dev/null, or a file opened to append: a second open behaves as the first),
 * 'shared file' (a file opened without append: its position is shared),
 * 'socket' (or any other kind that cannot be opened again), or 'closed'.
 */
export function stderrTarget(fs: Fs): 'reopenable' | 'shared file' | 'socket' | 'closed' {
  let st: import('node:fs').Stats;
  try {
    st = fs.fstatSync(2);
  } catch {
    return 'closed';
  }
  if (st.isFIFO() || st.isCharacterDevice()) return 'reopenable';
  if (!st.isFile()) return 'socket';
  try {
    const flags = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync('/proc/self/fdinfo/2', 'utf8'))?.[1];
    if (flags !== undefined && (parseInt(flags, 8) & fs.constants.O_APPEND) !== 0) return 'reopenable';
  } catch {
    // no fdinfo: assume the position is shared
  }
  return 'shared file';
}

/** Whether LCO_DRIVER_LOG asks for the driver's own messages. */
export function driverLogWanted(env: Record<string, string | undefined>): boolean {
  return ['1', 'true', 'yes'].includes((env[DRIVER_LOG_ENV] ?? '').toLowerCase());
}

/** Whether the descriptor swap is safe (see the header); null when it is, else why not. */
export function swapRefusal(e: DriverStderrEnv): string | null {
  if (driverLogWanted(e.env)) return `${DRIVER_LOG_ENV} is set`;
  if (e.platform !== 'linux') return 'only done on Linux (/proc/self/fdinfo, and the Vulkan drivers that print)';
  if (!e.isMainThread) return 'not the main thread';
  const busy = e.activeResources().filter((r) => OPENS_ELSEWHERE.test(r));
  if (busy.length > 0) return `libuv requests in flight (${busy.join(', ')})`;
  if (e.stderrQueued() > 0) return 'stderr has queued writes';
  const target = stderrTarget(e.fs);
  if (target === 'reopenable') return null;
  return target === 'shared file' ? 'stderr is a file not opened to append (its position is shared)' : `stderr is ${target === 'closed' ? 'closed' : 'a socket or another kind of file'}`;
}

/** Drops Dawn's limit notices from what native code printed; every other line is kept as it was. */
export function withoutDawnNotices(text: string): string {
  return text.split(/(?<=\n)/).filter((line) => !DAWN_LIMIT_NOTICE.test(line.replace(/\r?\n$/, ''))).join('');
}

/**
 * Runs `call` (synchronously) with file descriptor 2 captured, then writes
 * what native code printed to stderr again without Dawn's limit notices.
 * Falls back to a plain call whenever the swap is not safe.
 */
export function filterDriverStderr<T>(e: DriverStderrEnv, call: () => T): T {
  if (swapRefusal(e) !== null) return call();
  const { fs } = e;
  const { O_WRONLY, O_APPEND, O_RDWR, O_CREAT, O_EXCL } = fs.constants;
  // Everything that can fail is opened before descriptor 2 is touched.
  let keep = -1;
  let capture = -1;
  try {
    keep = fs.openSync('/dev/fd/2', O_WRONLY | O_APPEND);
    const path = `${e.tmpdir}/lco-driver-${process.pid}-${Math.random().toString(36).slice(2)}.log`;
    capture = fs.openSync(path, O_RDWR | O_CREAT | O_EXCL, 0o600);
    fs.unlinkSync(path);
  } catch {
    for (const fd of [keep, capture]) if (fd >= 0) fs.closeSync(fd);
    return call(); // stderr closed or a socket, no /dev/fd, or no writable temp folder
  }
  // Re-opening /dev/fd/N gives a descriptor of N's file at the lowest free number: 2 right after close(2).
  const onto2 = (fd: number, flags: number): number => {
    try {
      return fs.openSync(`/dev/fd/${fd}`, flags);
    } catch {
      return -1;
    }
  };
  fs.closeSync(2);
  const capturing = onto2(capture, O_RDWR) === 2;
  let captured = '';
  try {
    return call();
  } finally {
    if (capturing) {
      const size = fs.fstatSync(2).size;
      const bytes = Buffer.alloc(size);
      if (size > 0) fs.readSync(2, bytes, 0, size, 0);
      captured = bytes.toString('utf8');
      fs.closeSync(2);
    }
    onto2(keep, O_WRONLY | O_APPEND); // stderr's own target back on 2, appending as a log file would
    fs.closeSync(keep);
    fs.closeSync(capture);
    const rest = withoutDawnNotices(captured);
    if (rest.length > 0) fs.writeSync(2, rest);
  }
}

/**
 * withoutDawnNotices for a stream (a child's stderr): push() returns what
 * can be passed on now (whole lines that are not notices, and a partial line
 * that cannot become one); end() returns the rest.
 */
export class NoticeFilter {
  /** The start of the current line, held back while it could still become a notice. */
  #held = '';
  /** Whether part of the current line was already passed on (then the rest of it is too). */
  #midLine = false;

  push(chunk: string): string {
    let out = '';
    let text = chunk;
    if (this.#midLine) {
      const nl = text.indexOf('\n');
      if (nl < 0) return text;
      out += text.slice(0, nl + 1);
      text = text.slice(nl + 1);
      this.#midLine = false;
    }
    text = this.#held + text;
    const cut = text.lastIndexOf('\n') + 1;
    out += withoutDawnNotices(text.slice(0, cut));
    this.#held = text.slice(cut);
    const couldBe = this.#held.length <= NOTICE_START.length ? NOTICE_START.startsWith(this.#held) : this.#held.startsWith(NOTICE_START);
    if (!couldBe) {
      out += this.#held;
      this.#held = '';
      this.#midLine = true;
    }
    return out;
  }

  end(): string {
    const rest = withoutDawnNotices(this.#held);
    this.#held = '';
    this.#midLine = false;
    return rest;
  }
}

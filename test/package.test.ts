// `npm pack` gives a package a user can install: the tarball holds the built
// module, its declarations, the CLI and the built-in model, and nothing of the
// tests or benchmarks; installed into a fresh project (`npm ci --offline`
// from a lockfile cut out of the repository's own, so it needs nothing but
// the tarballs the repository's `npm ci` left in npm's cache, even when that
// cache started empty: see consumer-lockfile.ts) it embeds with the built-in model from plain scripts in Node, Deno
// and Bun that import it by name, its `lco` command runs, a browser bundler
// gets a build with nothing of Node in it, and a strict TypeScript consumer
// type-checks against its declarations.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../src/index.ts';
import { consumerLockfile, type Lockfile } from './consumer-lockfile.ts';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; name: string; devDependencies: Record<string, string> };
let work: string;
let tarball: string;
let integrity: string;
let files: string[];

function npm(args: string[], cwd: string): string {
  // The global setup built dist/; --ignore-scripts keeps `prepack` from rebuilding it under the other test files.
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 240_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lco-pack-'));
  const out = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], root)) as { filename: string; integrity: string; files: { path: string }[] }[];
  tarball = join(work, out[0].filename);
  integrity = out[0].integrity;
  files = out[0].files.map((f) => f.path);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('the package version is the one the module reports', () => {
    expect(VERSION).toBe(pkg.version);
  });

  it('holds the built module, declarations, CLI and built-in model, and no tests or benchmarks', () => {
    for (const f of ['dist/index.js', 'dist/types/src/index.d.ts', 'bin/lco.mjs', 'src/cli/main.ts', 'kernels/matmul.wgsl',
      'fixtures/tiny-decoder/model.safetensors', 'fixtures/tiny-decoder/tokenizer.json', 'package.json', 'README.md']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => /^(test|bench|\.tmp|node_modules)\//.test(f))).toEqual([]);
    // every kernel is inside the module: nothing to fetch at run time
    const bundle = files.filter((f) => f.startsWith('dist/') && f.endsWith('.js')).map((f) => readFileSync(join(root, f), 'utf8')).join('\n');
    expect(bundle).toContain('BUNDLED_KERNELS');
    expect(bundle).toContain('fn regblock(@builtin(workgroup_id)');
    expect(files).toContain('dist/browser/index.js');
  });

  it('installs into a fresh project and embeds by package name in Node, Deno and Bun alike; the CLI runs; a browser bundle has nothing of Node; a strict TypeScript consumer type-checks', () => {
    const app = join(work, 'app');
    execFileSync('mkdir', ['-p', app]);
    // bun-webgpu is the optional peer Bun needs, at the version the repository pins.
    const repoLock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lockfile;
    const { dependencies, lock } = consumerLockfile(repoLock, 'app', { manifest: pkg, spec: `file:../${basename(tarball)}`, integrity },
      { 'bun-webgpu': pkg.devDependencies['bun-webgpu'] });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies }));
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(lock, null, 2));
    npm(['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], app);

    writeFileSync(join(app, 'main.mjs'), `
      import { Embedder, VERSION } from 'lco-webgpu';
      const model = new URL('./node_modules/lco-webgpu/fixtures/tiny-decoder/', import.meta.url);
      const e = await Embedder.load(model);
      const [a, b] = await e.embed(['a small dog', 'a puppy'], { prompt: 'lco', dimensions: 64 });
      console.log(JSON.stringify({ VERSION, adapter: e.gpu.adapterName, a: Array.from(a), b: Array.from(b) }));
      e.dispose();
      globalThis.Deno ? Deno.exit(0) : process.exit(0);
    `);
    type Run = { VERSION: string; adapter: string; a: number[]; b: number[] };
    const runIn = (command: string, args: string[]): Run => {
      const run = spawnSync(command, [...args, 'main.mjs'], { cwd: app, encoding: 'utf8', timeout: 180_000, env: { ...process.env, NO_COLOR: '1' } });
      expect(run.status, `${command}: ${run.stderr}`).toBe(0);
      return JSON.parse(run.stdout.trim().split('\n').pop()!) as Run;
    };
    const node = runIn(process.execPath, []);
    expect(node.VERSION).toBe(pkg.version);
    expect(node.a.length).toBe(64);
    expect(Math.hypot(...node.a)).toBeCloseTo(1, 5);
    expect(node.a).not.toEqual(node.b);
    for (const [name, other] of [
      ['deno', runIn(join(root, 'node_modules/.bin/deno'), ['run', '--unstable-webgpu', '--allow-read', '--quiet'])],
      ['bun', runIn(join(root, 'node_modules/.bin/bun'), [])],
    ] as const) {
      expect(other.adapter, name).not.toBe('');
      expect(other.a, name).toEqual(node.a); // bit-identical on lavapipe (see test/cross-runtime.test.ts)
      expect(other.b, name).toEqual(node.b);
    }

    const cli = spawnSync(join(app, 'node_modules/.bin/lco'), ['--help'], { cwd: app, encoding: 'utf8', timeout: 60_000 });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/\bserve\b/);

    // A web app's bundler picks the "browser" build: nothing of Node in it, the kernels inside.
    writeFileSync(join(app, 'web.mjs'), `import { Embedder } from 'lco-webgpu'; globalThis.load = (url) => Embedder.load(url);`);
    const web = esbuild.buildSync({ entryPoints: [join(app, 'web.mjs')], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' });
    const webJs = web.outputFiles.map((f) => f.text).join('\n');
    expect(webJs).toContain('BUNDLED_KERNELS');
    expect(webJs).not.toMatch(/from ["'](node:|webgpu|bun-webgpu|pngjs|jpeg-js)/);
    expect(webJs).not.toMatch(/import\(["'](node:|webgpu|bun-webgpu|pngjs|jpeg-js)/);

    writeFileSync(join(app, 'consumer.ts'), `
      import { Embedder, Gpu, matmul, type EmbedOptions, type FolderSource } from 'lco-webgpu';
      export async function nearest(source: FolderSource, query: string, docs: string[]): Promise<number> {
        const opts: EmbedOptions = { prompt: 'lco', batchSize: 8 };
        const e = await Embedder.load(source, { gpu: { powerPreference: 'low-power' } });
        try {
          const [q, ...d] = await e.embed([query, ...docs], opts);
          const scores = d.map((v) => v.reduce((s, x, i) => s + x * q[i], 0));
          return scores.indexOf(Math.max(...scores));
        } finally {
          e.dispose();
        }
      }
      export async function square(device: GPUDevice): Promise<Float32Array> {
        const gpu = await Gpu.fromDevice(device);
        const a = gpu.tensor([1, 2, 3, 4], [2, 2]);
        return (await gpu.read(matmul(gpu, a, a))) as Float32Array;
      }
    `);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: false, types: [] },
      files: ['consumer.ts'],
    }));
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, encoding: 'utf8', timeout: 120_000 });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });
});

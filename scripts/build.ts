// Builds the package's dist/ (npm run build):
//
//   dist/index.js (+ chunks)   one ESM module for every runtime, bundled by
//                              esbuild from src/index.ts, with every WGSL kernel
//                              inside it as text (src/gpu/kernel-bundle.ts is
//                              replaced by the kernels, their includes already
//                              substituted), so a browser fetches nothing.
//   dist/browser/index.js      the same for browser bundlers (package.json's
//                              "browser" condition): what only a server runtime
//                              has (Dawn, bun-webgpu, node:*, the PNG/JPEG
//                              decoders) is replaced by a module that throws
//                              a clear error if it is ever loaded, so Vite,
//                              webpack or esbuild bundle it without Node shims.
//   dist/types/                the .d.ts files from tsc (tsconfig.build.json),
//                              their relative imports pointed at .js.
//
// Kept outside the bundle and loaded only where used: `webgpu` (Dawn, Node),
// `bun-webgpu` (Dawn for Bun), node:* (file access), pngjs and jpeg-js (image file decoding). Code
// splitting puts image file decoding in its own chunk, so importing the
// package in a browser never touches them.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as esbuild from 'esbuild';
import { KERNEL_FILES, kernelSource } from '../src/gpu/kernel-source.ts';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');

async function bundledKernels(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of KERNEL_FILES) out[name] = await kernelSource(name);
  return out;
}

/** Replaces src/gpu/kernel-bundle.ts with the kernels' text. */
function kernelBundlePlugin(kernels: Record<string, string>): esbuild.Plugin {
  return {
    name: 'lco-kernel-bundle',
    setup(build) {
      build.onLoad({ filter: /[\\/]src[\\/]gpu[\\/]kernel-bundle\.ts$/ }, () => ({
        contents: `export const BUNDLED_KERNELS = Object.freeze(${JSON.stringify(kernels)});\n`,
        loader: 'js',
      }));
    },
  };
}

/** What only Node, Deno or Bun have; loaded only on their code paths. */
const SERVER_ONLY = ['node:*', 'webgpu', 'bun-webgpu', 'pngjs', 'jpeg-js'];
/** The same list as an import-path pattern (esbuild's `*` is any suffix; the names hold no other regex characters). */
const SERVER_ONLY_FILTER = new RegExp(`^(${SERVER_ONLY.map((p) => p.replace('*', '.*')).join('|')})$`);

/** For the browser build: each server-only import becomes a module that throws when loaded. */
function serverOnlyStubPlugin(): esbuild.Plugin {
  return {
    name: 'lco-server-only',
    setup(build) {
      build.onResolve({ filter: SERVER_ONLY_FILTER }, (args) => ({ path: args.path, namespace: 'server-only' }));
      build.onLoad({ filter: /.*/, namespace: 'server-only' }, (args) => ({
        contents: `throw new Error(${JSON.stringify(`"${args.path}" is not available in lco-webgpu's browser build: in a browser, load models from URLs or File/ArrayBuffer sources and pass images as decoded RGB pixels`)});\n`,
        loader: 'js',
      }));
    },
  };
}

/** tsc keeps `./x.ts` in declarations; published .d.ts files must name `./x.js`. */
function pointDeclarationsAtJs(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      n += pointDeclarationsAtJs(path);
    } else if (path.endsWith('.d.ts')) {
      const text = readFileSync(path, 'utf8');
      const fixed = text.replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]+)\.ts(['"])/g, '$1$2.js$3');
      if (fixed !== text) writeFileSync(path, fixed);
      n++;
    }
  }
  return n;
}

async function main(): Promise<void> {
  const started = Date.now();
  rmSync(dist, { recursive: true, force: true });
  const kernels = await bundledKernels();
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
  const common: esbuild.BuildOptions = {
    entryPoints: [join(root, 'src/index.ts')],
    bundle: true,
    splitting: true,
    format: 'esm',
    target: 'es2022',
    sourcemap: true,
    metafile: true,
    banner: { js: `// lco-webgpu ${version}: built by scripts/build.ts from src/ (MIT)` },
    logLevel: 'warning',
  };
  const universal = await esbuild.build({
    ...common,
    outdir: dist,
    platform: 'neutral',
    external: SERVER_ONLY,
    plugins: [kernelBundlePlugin(kernels)],
  });
  const browser = await esbuild.build({
    ...common,
    outdir: join(dist, 'browser'),
    platform: 'browser',
    plugins: [kernelBundlePlugin(kernels), serverOnlyStubPlugin()],
    // image.ts imports readFile and PNG by name from stubs that have no
    // exports; the stub throws when the chunk loads, so nothing reads them.
    logOverride: { 'import-is-undefined': 'silent' },
  });
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  const declarations = pointDeclarationsAtJs(join(dist, 'types'));
  for (const result of [universal, browser]) {
    const outputs = Object.entries(result.metafile!.outputs).filter(([f]) => f.endsWith('.js'));
    for (const [file, info] of outputs) console.log(`${relative(root, join(root, file)).padEnd(34)} ${(info.bytes / 1024).toFixed(0).padStart(6)} KiB`);
  }
  console.log(`${Object.keys(kernels).length} kernels bundled, ${declarations} declaration files, ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err) => {
  console.error(`build failed: ${(err as Error).message}`);
  process.exit(1);
});

// Builds the package's dist/ (npm run build):
//
//   dist/index.js (+ chunks)   one ESM module for every runtime, bundled by
//                              esbuild from src/index.ts, with every WGSL kernel
//                              inside it as text (src/gpu/kernel-bundle.ts is
//                              replaced by the kernels, their includes already
//                              substituted), so a browser fetches nothing.
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
  const result = await esbuild.build({
    entryPoints: [join(root, 'src/index.ts')],
    outdir: dist,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    sourcemap: true,
    metafile: true,
    external: ['node:*', 'webgpu', 'bun-webgpu', 'pngjs', 'jpeg-js'],
    banner: { js: `// lco-webgpu ${version}: built by scripts/build.ts from src/ (MIT)` },
    plugins: [kernelBundlePlugin(kernels)],
    logLevel: 'warning',
  });
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  const declarations = pointDeclarationsAtJs(join(dist, 'types'));
  const outputs = Object.entries(result.metafile.outputs).filter(([f]) => f.endsWith('.js'));
  for (const [file, info] of outputs) console.log(`${relative(root, join(root, file)).padEnd(28)} ${(info.bytes / 1024).toFixed(0).padStart(6)} KiB`);
  console.log(`${Object.keys(kernels).length} kernels bundled, ${declarations} declaration files, ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err) => {
  console.error(`build failed: ${(err as Error).message}`);
  process.exit(1);
});

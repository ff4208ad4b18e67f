// Loads the WGSL text of kernels/<name>.wgsl. The built package (dist/) has
// every kernel bundled as text (kernel-bundle.ts, filled by scripts/build.ts).
// From the source tree, Node, Deno and Bun read the file next to the package;
// a browser fetches it relative to this module (serve the package's kernels/
// folder beside src/).
//
// WGSL has no include, so the loader has one: a line
//   // #include "lib/online_lse.wgsl"
// is replaced by that file's text (relative to kernels/, one level, no nesting).
// Helpers that several kernel files share (the online log-sum-exp, the
// workgroup tree sum) live once in kernels/lib/.

import { hasFileSystem } from '../runtime.ts';
import { BUNDLED_KERNELS } from './kernel-bundle.ts';

const cache = new Map<string, Promise<string>>();

const INCLUDE = /^\/\/ #include "([\w/.-]+\.wgsl)"[ \t]*$/gm;

async function readText(path: string, what: string): Promise<string> {
  const url = new URL(`../../kernels/${path}`, import.meta.url);
  if (hasFileSystem()) {
    const { readFile } = await import('node:fs/promises');
    try {
      return await readFile(url, 'utf8');
    } catch (err) {
      throw new Error(`${what}: cannot read ${url.pathname}: ${(err as Error).message}`);
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${what}: fetching ${url} gave HTTP ${res.status}`);
  return res.text();
}

/** kernels/<name>.wgsl with its includes substituted. */
async function load(name: string): Promise<string> {
  const text = await readText(`${name}.wgsl`, `kernel "${name}"`);
  const parts = new Map<string, string>();
  for (const [, lib] of text.matchAll(INCLUDE)) {
    if (!parts.has(lib)) parts.set(lib, await readText(lib, `kernel "${name}", #include "${lib}"`));
  }
  return text.replace(INCLUDE, (_, lib: string) => parts.get(lib)!);
}

export function kernelSource(name: string): Promise<string> {
  if (BUNDLED_KERNELS) {
    const text = BUNDLED_KERNELS[name];
    return text === undefined ? Promise.reject(new Error(`kernel "${name}" is not in this build's bundle`)) : Promise.resolve(text);
  }
  let p = cache.get(name);
  if (!p) {
    p = load(name);
    cache.set(name, p);
    p.catch(() => cache.delete(name));
  }
  return p;
}

/** Every kernel file; Gpu.create() loads them all so dispatch can compile synchronously. */
export const KERNEL_FILES = [
  'matmul',
  'matmul_subgroup',
  'elementwise',
  'softmax',
  'rmsnorm',
  'rope',
  'embedding',
  'cross_entropy',
  'l2norm',
  'pooling',
  'adamw',
  'attention',
  'lora',
  'lora_subgroup',
  'contrastive',
] as const;

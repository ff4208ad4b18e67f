// Loads the WGSL text of kernels/<name>.wgsl. Node, Deno and Bun read the file
// next to the package; a browser fetches it relative to this module (serve the
// package's kernels/ folder beside src/).

const cache = new Map<string, Promise<string>>();

function isFileSystemRuntime(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown; Bun?: unknown };
  return Boolean(g.process?.versions?.node || g.Deno || g.Bun);
}

async function load(name: string): Promise<string> {
  const url = new URL(`../../kernels/${name}.wgsl`, import.meta.url);
  if (isFileSystemRuntime()) {
    const { readFile } = await import('node:fs/promises');
    try {
      return await readFile(url, 'utf8');
    } catch (err) {
      throw new Error(`kernel "${name}": cannot read ${url.pathname}: ${(err as Error).message}`);
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`kernel "${name}": fetching ${url} gave HTTP ${res.status}`);
  return res.text();
}

export function kernelSource(name: string): Promise<string> {
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
  'contrastive',
] as const;

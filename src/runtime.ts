// Which JavaScript runtime this is, for the few places that must know:
// device acquisition (Dawn in Node, bun-webgpu in Bun, navigator.gpu
// elsewhere), the GPU wait (Node's and Bun's WebGPU bindings poll from a
// setImmediate loop) and file access (node:fs in Node, Deno and Bun; fetch
// in a browser). Deno and Bun also define `process.versions.node` for npm
// compatibility, so "Node" means none of the others.

interface RuntimeGlobals {
  process?: { versions?: { node?: string } };
  Deno?: unknown;
  Bun?: unknown;
}

const g = globalThis as RuntimeGlobals;

export function isDeno(): boolean {
  return Boolean(g.Deno);
}

export function isBun(): boolean {
  return Boolean(g.Bun);
}

/** Node itself (not Deno's or Bun's Node compatibility). */
export function isNode(): boolean {
  return Boolean(g.process?.versions?.node) && !isDeno() && !isBun();
}

/** Runtimes with node:fs: Node, Deno, Bun. */
export function hasFileSystem(): boolean {
  return isNode() || isDeno() || isBun();
}

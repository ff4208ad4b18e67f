// The public API's loading paths: a model folder from disk, from a web server
// (URL) and from files in memory (Blob, File[], ArrayBuffer, a Uint8Array view)
// gives the same embeddings; Embedder.load on a caller's Gpu or GPUDevice
// leaves them alive on dispose(); bad sources fail naming the file; the static
// server never serves outside its root.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Embedder, FileSourceError, Gpu, SafetensorsError, openFolder, matmul } from '../src/index.ts';
import { fileUnder, startStaticServer, type StaticServer } from '../scripts/static-server.ts';

const root = new URL('..', import.meta.url).pathname;
const MODEL = `${root}fixtures/tiny-decoder`;
const NAMES = ['config.json', 'model.safetensors', 'tokenizer.json'];
const INPUTS = ['a small dog', 'the bank of a river'];

let gpu: Gpu;
let server: StaticServer;
let fromDisk: Float32Array[];

beforeAll(async () => {
  gpu = await Gpu.create();
  server = await startStaticServer(root);
  const e = await Embedder.load(MODEL, { gpu });
  fromDisk = await e.embed(INPUTS, { prompt: 'lco' });
  e.dispose();
});

afterAll(async () => {
  gpu?.destroy();
  await server?.close();
});

async function embedWith(source: Parameters<typeof Embedder.load>[0]): Promise<Float32Array[]> {
  const e = await Embedder.load(source, { gpu });
  try {
    return await e.embed(INPUTS, { prompt: 'lco' });
  } finally {
    e.dispose();
  }
}

const bytes = (name: string) => readFileSync(`${MODEL}/${name}`);

describe('Embedder.load sources', () => {
  it('a URL (fetch), a file: URL, Blobs, File[], ArrayBuffers and offset views all give the disk embeddings exactly', async () => {
    const offsetView = (b: Buffer) => {
      const padded = new Uint8Array(b.byteLength + 3);
      padded.set(b, 3);
      return padded.subarray(3);
    };
    const sources = {
      url: new URL('fixtures/tiny-decoder/', server.url),
      'url without trailing slash': `${server.url}fixtures/tiny-decoder`,
      'file: URL': new URL(`file://${MODEL}/`),
      blobs: Object.fromEntries(NAMES.map((n) => [n, new Blob([bytes(n)])])),
      files: NAMES.map((n) => new File([bytes(n)], n)),
      'array buffers': new Map(NAMES.map((n) => [n, new Uint8Array(bytes(n)).slice().buffer])),
      'offset views': Object.fromEntries(NAMES.map((n) => [n, offsetView(bytes(n))])),
    };
    for (const [what, source] of Object.entries(sources)) {
      const got = await embedWith(source);
      expect(got.map((v) => Array.from(v)), what).toEqual(fromDisk.map((v) => Array.from(v)));
    }
  });

  it('missing files are named: on disk, on the server, in memory', async () => {
    const live = gpu.pool.stats().liveBytes;
    await expect(Embedder.load(`${root}fixtures/nope`, { gpu })).rejects.toThrow(/fixtures\/nope\/tokenizer\.json: cannot read/);
    await expect(Embedder.load(new URL('fixtures/nope/', server.url), { gpu })).rejects.toThrow(/fixtures\/nope\/tokenizer\.json: HTTP 404/);
    const partial = { 'tokenizer.json': new Blob([bytes('tokenizer.json')]), 'config.json': new Blob([bytes('config.json')]) };
    await expect(Embedder.load(partial, { gpu })).rejects.toThrow(/model\.safetensors: not among the files given \(tokenizer\.json, config\.json\)/);
    // A missing weights file is a SafetensorsError naming it, for the decoder and for an adapter alike.
    await expect(Embedder.load(partial, { gpu })).rejects.toBeInstanceOf(SafetensorsError);
    const adapterConfig = new Blob([readFileSync(`${root}fixtures/golden/tiny-llama/lora-infonce/adapter_config.json`)]);
    const noWeights = await Embedder.load(MODEL, { gpu, adapter: { 'adapter_config.json': adapterConfig } }).catch((e: unknown) => e);
    expect(noWeights).toBeInstanceOf(SafetensorsError);
    expect((noWeights as Error).message).toBe('adapter_model.safetensors: not among the files given (adapter_config.json)');
    // nothing was left on the GPU by the failed loads
    expect(gpu.pool.stats().liveBytes).toBe(live);
  });

  it('a truncated safetensors in memory fails naming the file and the tensor, not a crash', async () => {
    const live = gpu.pool.stats().liveBytes;
    const cut = bytes('model.safetensors').subarray(0, 100_000);
    const files = { ...Object.fromEntries(NAMES.map((n) => [n, new Blob([bytes(n)])])), 'model.safetensors': new Blob([cut]) };
    await expect(Embedder.load(files, { gpu })).rejects.toThrow(/model\.safetensors \(in memory\): tensor "/);
    expect(gpu.pool.stats().liveBytes).toBe(live);
  });

  it('reads only what it needs from a Blob: the header, then one tensor at a time', async () => {
    const reads: number[] = [];
    const blob = new Blob([bytes('model.safetensors')]);
    const spy = new Proxy(blob, {
      get(target, prop) {
        if (prop === 'slice') return (a: number, b: number) => (reads.push(b - a), target.slice(a, b));
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    Object.setPrototypeOf(spy, Blob.prototype);
    const file = await openFolder({ 'model.safetensors': spy as Blob }).open('model.safetensors');
    expect(file.size).toBe(blob.size);
    const head = await file.read(0, 8);
    expect(reads).toEqual([8]);
    expect(head.byteLength).toBe(8);
    await expect(file.read(blob.size - 4, 8)).rejects.toThrow(FileSourceError);
  });
});

describe('whose GPU', () => {
  it('an Embedder on a caller\'s Gpu or GPUDevice leaves it working after dispose()', async () => {
    const e = await Embedder.load(MODEL, { gpu });
    e.dispose();
    e.dispose(); // twice is harmless
    const a = gpu.tensor([1, 2, 3, 4], [2, 2]);
    expect(Array.from(await gpu.read(matmul(gpu, a, a)))).toEqual([7, 10, 15, 22]);

    const onDevice = await Embedder.load(MODEL, { gpu: gpu.device });
    const got = await onDevice.embed(INPUTS, { prompt: 'lco' });
    expect(onDevice.gpu).not.toBe(gpu);
    expect(onDevice.gpu.ownsDevice).toBe(false);
    onDevice.dispose();
    expect(got.map((v) => Array.from(v))).toEqual(fromDisk.map((v) => Array.from(v)));
    // the device outlived the Gpu built on it
    expect(Array.from(await gpu.read(matmul(gpu, a, a)))).toEqual([7, 10, 15, 22]);
  });
});

describe('static server', () => {
  it('resolves inside its root only', () => {
    expect(fileUnder('/srv/www', '/demo/index.html')).toBe('/srv/www/demo/index.html');
    expect(fileUnder('/srv/www', '/a%20b.js?x=1')).toBe('/srv/www/a b.js');
    expect(fileUnder('/srv/www', '/../etc/passwd')).toBeNull();
    expect(fileUnder('/srv/www', '/%2e%2e/etc/passwd')).toBeNull();
    expect(fileUnder('/srv/www', '/x%00y')).toBeNull();
    expect(fileUnder('/srv/www', '/%E0%A4%A')).toBeNull();
  });

  it('serves files with their type and 404s the rest', async () => {
    const ok = await fetch(new URL('dist/index.js', server.url));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/text\/javascript/);
    await ok.arrayBuffer();
    expect((await fetch(new URL('nope.txt', server.url))).status).toBe(404);
    expect((await fetch(new URL('dist/index.js', server.url), { method: 'POST' })).status).toBe(405);
  });
});

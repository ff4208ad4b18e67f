// Where a model folder's files come from, in any runtime.
//
//   "path/to/dir"          a directory on disk (Node, Deno, Bun); in a browser a
//                          URL relative to the page
//   new URL("https://...") a folder on a web server (fetch); file: URLs read the disk
//   { "config.json": File | Blob | ArrayBuffer | Uint8Array, ... }
//   Map<string, ...> or File[] (an <input type=file multiple>'s files, by name)
//                          files already in memory or picked by the user
//   a ModelFolder          anything else that can list and read named files
//
// Loading needs two things of a file: its whole text (configs, tokenizer.json)
// or random access to its bytes (safetensors: the header first, then one
// tensor at a time, so a model on disk never sits in memory twice). A web
// server's file is fetched whole; a Blob is sliced; a disk file is read with
// positioned reads.

import { hasFileSystem } from '../runtime.ts';

export class FileSourceError extends Error {
  override name = 'FileSourceError';
}

/** Positioned reads of one file. `path` names it in messages. */
export interface RandomAccessFile {
  readonly path: string;
  readonly size: number;
  /** Exactly `length` bytes from `position` (a fresh buffer), or throws naming the file. */
  read(position: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A folder of named files (config.json, model.safetensors, tokenizer.json, ...). */
export interface ModelFolder {
  /** The folder, for messages: a path, a URL, or "(files in memory)". */
  readonly location: string;
  /** How a file of the folder is named in messages. */
  pathOf(name: string): string;
  exists(name: string): Promise<boolean>;
  readText(name: string): Promise<string>;
  open(name: string): Promise<RandomAccessFile>;
}

export type FileData = Blob | ArrayBuffer | ArrayBufferView;
export type FolderSource = string | URL | ModelFolder | readonly File[] | Map<string, FileData> | Record<string, FileData>;

export { hasFileSystem };

function isModelFolder(x: unknown): x is ModelFolder {
  return typeof x === 'object' && x !== null && typeof (x as ModelFolder).open === 'function' && typeof (x as ModelFolder).readText === 'function';
}

/** The ModelFolder a source names (see the header for the forms). */
export function openFolder(source: FolderSource): ModelFolder {
  if (isModelFolder(source)) return source;
  if (typeof source === 'string') {
    if (/^(https?|blob|data):/i.test(source)) return new UrlFolder(new URL(source));
    if (hasFileSystem()) return new DiskFolder(source);
    const page = (globalThis as { location?: { href: string } }).location?.href;
    if (!page) throw new FileSourceError(`"${source}": no file system in this runtime and no page URL to resolve it against; pass a URL or the files`);
    return new UrlFolder(new URL(source, page));
  }
  if (source instanceof URL) {
    if (source.protocol === 'file:') {
      if (!hasFileSystem()) throw new FileSourceError(`${source.href}: file: URLs need a runtime with a file system`);
      return new DiskFolder(decodeURIComponent(source.pathname));
    }
    return new UrlFolder(source);
  }
  if (Array.isArray(source)) return new MemoryFolder(new Map((source as readonly File[]).map((f) => [f.name, f])));
  if (source instanceof Map) return new MemoryFolder(source);
  return new MemoryFolder(new Map(Object.entries(source as Record<string, FileData>)));
}

// ------------------------------------------------------------------ disk

class DiskFolder implements ModelFolder {
  readonly location: string;
  constructor(dir: string) {
    this.location = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
  }
  pathOf(name: string): string {
    return `${this.location}/${name}`;
  }
  async exists(name: string): Promise<boolean> {
    const { stat } = await import('node:fs/promises');
    try {
      return (await stat(this.pathOf(name))).isFile();
    } catch {
      return false;
    }
  }
  async readText(name: string): Promise<string> {
    const { readFile } = await import('node:fs/promises');
    try {
      return await readFile(this.pathOf(name), 'utf8');
    } catch (err) {
      throw new FileSourceError(`${this.pathOf(name)}: cannot read (${(err as Error).message})`);
    }
  }
  open(name: string): Promise<RandomAccessFile> {
    return openDiskFile(this.pathOf(name));
  }
}

/** A file on disk for positioned reads. */
export async function openDiskFile(path: string): Promise<RandomAccessFile> {
  const { open } = await import('node:fs/promises');
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new FileSourceError(`${path}: cannot open (${(err as Error).message})`);
  }
  let size: number;
  try {
    size = (await handle.stat()).size;
  } catch (err) {
    await handle.close();
    throw new FileSourceError(`${path}: cannot stat (${(err as Error).message})`);
  }
  return {
    path,
    size,
    async read(position, length) {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, position + done);
        if (bytesRead === 0) throw new FileSourceError(`${path}: unexpected end of file after ${done} of ${length} bytes at offset ${position}`);
        done += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}

// ------------------------------------------------------------------ memory

function memoryFile(path: string, data: FileData): RandomAccessFile {
  const blob = typeof Blob !== 'undefined' && data instanceof Blob ? data : null;
  const bytes = blob ? null : data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array((data as ArrayBufferView).buffer, (data as ArrayBufferView).byteOffset, (data as ArrayBufferView).byteLength);
  const size = blob ? blob.size : bytes!.byteLength;
  return {
    path,
    size,
    async read(position, length) {
      if (position < 0 || position + length > size) {
        throw new FileSourceError(`${path}: unexpected end of file: ${length} bytes at offset ${position} of a ${size}-byte file`);
      }
      if (bytes) return bytes.slice(position, position + length);
      return new Uint8Array(await blob!.slice(position, position + length).arrayBuffer());
    },
    close: async () => {},
  };
}

class MemoryFolder implements ModelFolder {
  readonly location = '(files in memory)';
  constructor(private readonly files: Map<string, FileData>) {}
  pathOf(name: string): string {
    return `${name} (in memory)`;
  }
  async exists(name: string): Promise<boolean> {
    return this.files.has(name);
  }
  #get(name: string): FileData {
    const data = this.files.get(name);
    if (data === undefined) throw new FileSourceError(`${name}: not among the files given (${[...this.files.keys()].join(', ') || 'none'})`);
    return data;
  }
  async readText(name: string): Promise<string> {
    const f = memoryFile(this.pathOf(name), this.#get(name));
    return new TextDecoder().decode(await f.read(0, f.size));
  }
  async open(name: string): Promise<RandomAccessFile> {
    return memoryFile(this.pathOf(name), this.#get(name));
  }
}

// ------------------------------------------------------------------ web server

class UrlFolder implements ModelFolder {
  readonly location: string;
  readonly #base: URL;
  constructor(base: URL) {
    // A folder URL ends in "/", so a file name resolves inside it.
    this.#base = base.href.endsWith('/') ? base : new URL(`${base.href}/`);
    this.location = this.#base.href;
  }
  pathOf(name: string): string {
    return new URL(name, this.#base).href;
  }
  async #fetch(name: string, method: 'GET' | 'HEAD'): Promise<Response> {
    try {
      return await fetch(this.pathOf(name), { method });
    } catch (err) {
      throw new FileSourceError(`${this.pathOf(name)}: cannot fetch (${(err as Error).message})`);
    }
  }
  async #ok(name: string): Promise<Response> {
    const res = await this.#fetch(name, 'GET');
    if (!res.ok) throw new FileSourceError(`${this.pathOf(name)}: HTTP ${res.status} ${res.statusText}`.trimEnd());
    return res;
  }
  async exists(name: string): Promise<boolean> {
    return (await this.#fetch(name, 'HEAD')).ok;
  }
  async readText(name: string): Promise<string> {
    return (await this.#ok(name)).text();
  }
  async open(name: string): Promise<RandomAccessFile> {
    const bytes = new Uint8Array(await (await this.#ok(name)).arrayBuffer());
    return memoryFile(this.pathOf(name), bytes);
  }
}

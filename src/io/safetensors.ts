// safetensors: an 8-byte little-endian header length N, N bytes of JSON
//   { "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ...,
//     "__metadata__": { "<key>": "<string>" } }
// (padded with spaces), then the data buffer. Offsets are relative to the
// buffer. Every tensor's byte range must match its dtype and shape, lie inside
// the buffer, and the ranges must tile the buffer exactly: no overlap, no hole.
//
// Reading never holds a file twice: SafetensorsFile reads the header, then
// each tensor's own byte range on request. Writing is atomic: a temporary file
// in the same folder, fsync, then rename over the target.
import { DTYPE_BYTES, fromFloat32, isStorageDType, toFloat32, type StorageDType } from './dtypes.ts';
import { openDiskFile, type ModelFolder, type RandomAccessFile } from './files.ts';

/** The header may not exceed 100 MB (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export interface TensorEntry {
  name: string;
  dtype: StorageDType;
  shape: number[];
  /** Byte range within the data buffer (relative to its start). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string> | null;
  /** File offset of the data buffer: 8 + N. */
  dataOffset: number;
}

/** Reads the little-endian u64 header length, refusing values past 2^53 or the file. */
export function headerLength(first8: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8 || first8.byteLength < 8) {
    throw new SafetensorsError(`${source}: ${fileSize} bytes is too short: a safetensors file starts with an 8-byte header length`);
  }
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const n = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (n > MAX_HEADER_BYTES) {
    throw new SafetensorsError(`${source}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  }
  if (n < 2) throw new SafetensorsError(`${source}: header length ${n} is too small for a JSON object`);
  if (8 + n > fileSize) {
    throw new SafetensorsError(`${source}: header length ${n} runs past the end of the file (${fileSize} bytes): truncated?`);
  }
  return n;
}

/** Parses and validates the JSON header. `dataBytes` is the size of the data buffer. */
export function parseHeader(json: Uint8Array, dataBytes: number, source: string): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw new SafetensorsError(`${source}: the header is not valid UTF-8`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(`${source}: the header is not valid JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SafetensorsError(`${source}: the header must be a JSON object`);
  }
  let metadata: Record<string, string> | null = null;
  const tensors = new Map<string, TensorEntry>();
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(value, source);
      continue;
    }
    tensors.set(name, parseEntry(name, value, source));
  }
  checkLayout([...tensors.values()], dataBytes, source);
  return { tensors, metadata, dataOffset: 8 + json.byteLength };
}

function parseMetadata(value: unknown, source: string): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SafetensorsError(`${source}: __metadata__ must be an object of strings`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new SafetensorsError(`${source}: __metadata__["${k}"] must be a string, got ${JSON.stringify(v)}`);
  }
  return value as Record<string, string>;
}

function parseEntry(name: string, value: unknown, source: string): TensorEntry {
  const where = `${source}: tensor "${name}"`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SafetensorsError(`${where}: expected {dtype, shape, data_offsets}, got ${JSON.stringify(value)}`);
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (!isStorageDType(dtype)) {
    throw new SafetensorsError(`${where}: dtype ${JSON.stringify(dtype)} is not one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(`${where}: shape ${JSON.stringify(shape)} must be an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    throw new SafetensorsError(`${where}: data_offsets ${JSON.stringify(offsets)} must be [begin, end] with 0 <= begin <= end`);
  }
  const numel = shape.reduce((a: number, b: number) => a * b, 1);
  const need = numel * DTYPE_BYTES[dtype];
  const [begin, end] = offsets as [number, number];
  if (end - begin !== need) {
    throw new SafetensorsError(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} [${shape.join(', ')}] needs ${need}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** The byte ranges must tile [0, dataBytes) exactly. */
function checkLayout(entries: TensorEntry[], dataBytes: number, source: string): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let previous: TensorEntry | null = null;
  for (const e of sorted) {
    if (e.end > dataBytes) {
      throw new SafetensorsError(`${source}: tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] run past the data buffer (${dataBytes} bytes): truncated file?`);
    }
    if (e.begin < at) {
      throw new SafetensorsError(`${source}: tensor "${e.name}" [${e.begin}, ${e.end}] overlaps tensor "${previous!.name}" [${previous!.begin}, ${previous!.end}]`);
    }
    if (e.begin > at) {
      throw new SafetensorsError(`${source}: bytes [${at}, ${e.begin}) before tensor "${e.name}" belong to no tensor (a hole in the data buffer)`);
    }
    at = e.end;
    previous = e;
  }
  if (at !== dataBytes) {
    throw new SafetensorsError(`${source}: the data buffer has ${dataBytes} bytes but the tensors cover only ${at} (trailing bytes belong to no tensor)`);
  }
}

// ------------------------------------------------------------ in memory

/** A whole safetensors file in memory: tensors are zero-copy views into it. */
export class SafetensorsBuffer {
  readonly header: SafetensorsHeader;

  constructor(readonly bytes: Uint8Array, readonly source = 'safetensors buffer') {
    const n = headerLength(bytes.subarray(0, 8), bytes.byteLength, source);
    this.header = parseHeader(bytes.subarray(8, 8 + n), bytes.byteLength - 8 - n, source);
  }

  names(): string[] {
    return [...this.header.tensors.keys()];
  }

  entry(name: string): TensorEntry {
    const e = this.header.tensors.get(name);
    if (!e) throw new SafetensorsError(`${this.source}: no tensor named "${name}"`);
    return e;
  }

  /** The stored bytes of a tensor (a view, no copy). */
  bytesOf(name: string): Uint8Array {
    const e = this.entry(name);
    return this.bytes.subarray(this.header.dataOffset + e.begin, this.header.dataOffset + e.end);
  }

  float32(name: string): Float32Array {
    return toFloat32(this.entry(name).dtype, this.bytesOf(name));
  }
}

// ------------------------------------------------------------ on disk

/**
 * A safetensors file read by parts: the header once, each tensor on request.
 * On disk (a path) or from any RandomAccessFile (a Blob, fetched bytes; files.ts).
 */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    readonly header: SafetensorsHeader,
    private readonly file: RandomAccessFile,
  ) {}

  /** The safetensors file `name` of a model folder (io/files.ts); a missing or unreadable one is a SafetensorsError naming it. */
  static async openIn(folder: ModelFolder, name: string): Promise<SafetensorsFile> {
    let file: RandomAccessFile;
    try {
      file = await folder.open(name);
    } catch (err) {
      throw new SafetensorsError((err as Error).message);
    }
    return SafetensorsFile.open(file);
  }

  static async open(source: string | RandomAccessFile): Promise<SafetensorsFile> {
    let file: RandomAccessFile;
    try {
      file = typeof source === 'string' ? await openDiskFile(source) : source;
    } catch (err) {
      throw new SafetensorsError((err as Error).message);
    }
    const path = file.path;
    try {
      const first8 = await file.read(0, Math.min(8, file.size));
      const n = headerLength(first8, file.size, path);
      const json = await file.read(8, n);
      return new SafetensorsFile(path, parseHeader(json, file.size - 8 - n, path), file);
    } catch (err) {
      await file.close();
      throw err instanceof SafetensorsError ? err : new SafetensorsError((err as Error).message);
    }
  }

  names(): string[] {
    return [...this.header.tensors.keys()];
  }

  entry(name: string): TensorEntry {
    const e = this.header.tensors.get(name);
    if (!e) throw new SafetensorsError(`${this.path}: no tensor named "${name}"`);
    return e;
  }

  /** Reads one tensor's stored bytes (into a fresh, aligned buffer). */
  async bytesOf(name: string): Promise<Uint8Array> {
    const e = this.entry(name);
    try {
      return await this.file.read(this.header.dataOffset + e.begin, e.end - e.begin);
    } catch (err) {
      throw new SafetensorsError(`tensor "${name}": ${(err as Error).message}`);
    }
  }

  /** Reads one tensor as float32 (F32 is viewed in place; F16/BF16 are widened). */
  async float32(name: string): Promise<Float32Array> {
    const e = this.entry(name);
    const bytes = await this.bytesOf(name);
    if (e.dtype === 'F32' && littleEndianHost()) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    return toFloat32(e.dtype, bytes);
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

function littleEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

// ------------------------------------------------------------ writing

export interface TensorToWrite {
  name: string;
  shape: readonly number[];
  /** Float values to store in `dtype` (default F32), or raw little-endian bytes already in `dtype`. */
  data: ArrayLike<number> | Uint8Array;
  dtype?: StorageDType;
}

/**
 * Serialises tensors (sorted by name, so the bytes depend only on the content).
 * The header is padded with spaces to a multiple of 8 so the data is aligned.
 */
export function serializeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const seen = new Set<string>();
  for (const t of sorted) {
    if (t.name === '__metadata__' || seen.has(t.name)) throw new SafetensorsError(`cannot write tensor name "${t.name}" (reserved or duplicate)`);
    seen.add(t.name);
    const dtype = t.dtype ?? 'F32';
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const bytes = t.data instanceof Uint8Array ? t.data : fromFloat32(dtype, t.data);
    if (bytes.byteLength !== numel * DTYPE_BYTES[dtype]) {
      throw new SafetensorsError(`tensor "${t.name}": ${bytes.byteLength} bytes of data for ${dtype} [${t.shape.join(', ')}] (expected ${numel * DTYPE_BYTES[dtype]})`);
    }
    header[t.name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    blobs.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((new TextEncoder().encode(json).byteLength) % 8)) % 8);
  const jsonBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + jsonBytes.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, jsonBytes.byteLength, true);
  view.setUint32(4, 0, true);
  out.set(jsonBytes, 8);
  let at = 8 + jsonBytes.byteLength;
  for (const b of blobs) {
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}

/** Writes `bytes` to `path` atomically: temp file in the same folder, fsync, rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const { open, rename, rm } = await import('node:fs/promises');
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function writeSafetensors(path: string, tensors: TensorToWrite[], metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

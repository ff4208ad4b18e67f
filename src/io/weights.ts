// The weights of a Hugging Face model folder: `model.safetensors`, or shards
// listed by `model.safetensors.index.json` ({"weight_map": {name: file}}),
// read when there is no `model.safetensors`.
// Each shard is opened once; tensors are read one at a time on request.
import { openFolder, type FolderSource } from './files.ts';
import { SafetensorsError, SafetensorsFile, type TensorEntry } from './safetensors.ts';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export class WeightFolder {
  private constructor(
    /** The folder, for messages. */
    readonly dir: string,
    private readonly where: Map<string, SafetensorsFile>,
    private readonly files: SafetensorsFile[],
  ) {}

  /** Opens a model folder's weights: a path, a URL or files in memory (files.ts). */
  static async open(source: FolderSource): Promise<WeightFolder> {
    const folder = openFolder(source);
    const dir = folder.location;
    const open = (name: string) => SafetensorsFile.openIn(folder, name);
    // The single file first: a web server then sees no request for an index
    // that an unsharded folder does not have (a browser logs every 404).
    if ((await folder.exists(SINGLE_FILE)) || !(await folder.exists(INDEX_FILE))) {
      const file = await open(SINGLE_FILE);
      return new WeightFolder(dir, new Map(file.names().map((n) => [n, file])), [file]);
    }
    const indexPath = folder.pathOf(INDEX_FILE);
    const weightMap = parseIndex(await folder.readText(INDEX_FILE), indexPath);
    const shards = new Map<string, SafetensorsFile>();
    const where = new Map<string, SafetensorsFile>();
    try {
      for (const [name, shard] of Object.entries(weightMap)) {
        let file = shards.get(shard);
        if (!file) {
          file = await open(shard);
          shards.set(shard, file);
        }
        if (!file.header.tensors.has(name)) {
          throw new SafetensorsError(`${indexPath}: weight_map puts "${name}" in ${shard}, which has no such tensor`);
        }
        where.set(name, file);
      }
    } catch (err) {
      await Promise.all([...shards.values()].map((f) => f.close()));
      throw err;
    }
    return new WeightFolder(dir, where, [...shards.values()]);
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  entry(name: string): TensorEntry {
    return this.#file(name).entry(name);
  }

  float32(name: string): Promise<Float32Array> {
    return this.#file(name).float32(name);
  }

  #file(name: string): SafetensorsFile {
    const f = this.where.get(name);
    if (!f) throw new SafetensorsError(`${this.dir}: the model has no tensor named "${name}"`);
    return f;
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}

function parseIndex(text: string, source: string): Record<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(`${source}: not valid JSON (${(err as Error).message})`);
  }
  const map = (raw as { weight_map?: unknown } | null)?.weight_map;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    throw new SafetensorsError(`${source}: "weight_map" must be an object of tensor name -> shard file`);
  }
  for (const [name, file] of Object.entries(map)) {
    // A shard is a plain file name in the same folder: no paths out of it.
    if (typeof file !== 'string' || file.length === 0 || /[\\/]/.test(file) || file === '.' || file === '..') {
      throw new SafetensorsError(`${source}: weight_map["${name}"] = ${JSON.stringify(file)} must be a file name in the model folder`);
    }
  }
  return map as Record<string, string>;
}

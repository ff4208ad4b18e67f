// JSON Lines input: one JSON value per line, blank lines ignored. Every row
// keeps its 1-based line number so errors can name `file:line`.

export class JsonlError extends Error {
  override name = 'JsonlError';
}

export interface JsonlRow {
  /** 1-based line number in the file. */
  line: number;
  /** The parsed value, or undefined when the line is not valid JSON (see error). */
  value?: unknown;
  error?: string;
}

/** Parses JSONL text; bad lines come back with `error` set, never thrown. */
export function parseJsonl(text: string): JsonlRow[] {
  const rows: JsonlRow[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    try {
      rows.push({ line: i + 1, value: JSON.parse(line) });
    } catch (err) {
      rows.push({ line: i + 1, error: `not valid JSON (${(err as Error).message})` });
    }
  });
  return rows;
}

export async function readJsonl(path: string): Promise<JsonlRow[]> {
  let text: string;
  try {
    const { readFile } = await import('node:fs/promises');
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new JsonlError(`${path}: cannot read (${(err as Error).message})`);
  }
  return parseJsonl(text);
}

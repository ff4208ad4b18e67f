// GitHub-flavoured Markdown tables for the report.
//
//   | model | acc   |
//   | :---- | ----: |
//   | base  | 0.812 |
//
// Numbers are written with a fixed number of decimals (`digits`, 3 by
// default; one value for every column or one per column), NaN as "n/a",
// infinities as "inf" / "-inf", and never "-0.000". Cells are padded to
// their column's width so the raw text lines up too. A "|" inside a cell is escaped as "\|" and a
// line break becomes a space (either would otherwise end the cell or the
// row). Columns whose cells are all numbers are right-aligned unless `align`
// says otherwise.

export interface MarkdownTableOptions {
  /** 'l' or 'r' per column; default 'r' for all-number columns, else 'l'. */
  align?: ('l' | 'r')[];
  /** Decimals for numbers: one for all columns, or one per column. Default 3. */
  digits?: number | number[];
}

export function markdownTable(header: string[], rows: (string | number)[][], opts: MarkdownTableOptions = {}): string {
  const C = header.length;
  if (C === 0) throw new RangeError('markdownTable: the header has no columns');
  rows.forEach((row, r) => {
    if (!Array.isArray(row) || row.length !== C) {
      throw new RangeError(`markdownTable: row ${r} has ${Array.isArray(row) ? row.length : 'no'} cells, expected ${C} (one per header column)`);
    }
  });
  if (opts.align !== undefined) {
    if (opts.align.length !== C) throw new RangeError(`markdownTable: align has ${opts.align.length} entries, expected ${C}`);
    opts.align.forEach((a, c) => {
      if (a !== 'l' && a !== 'r') throw new RangeError(`markdownTable: align[${c}] is ${JSON.stringify(a)}, expected 'l' or 'r'`);
    });
  }
  const d = opts.digits ?? 3;
  const digits = Array.isArray(d) ? d : header.map(() => d);
  if (digits.length !== C) throw new RangeError(`markdownTable: digits has ${digits.length} entries, expected ${C}`);
  digits.forEach((d, c) => {
    if (!(Number.isInteger(d) && d >= 0 && d <= 20)) throw new RangeError(`markdownTable: digits[${c}] is ${d}, expected a whole number in 0..20`);
  });

  const cell = (v: string | number, c: number) =>
    (typeof v === 'number' ? formatNumber(v, digits[c]) : String(v)).replace(/\r\n|\r|\n/g, ' ').replace(/\|/g, '\\|');
  const head = header.map(cell);
  const body = rows.map((row) => row.map(cell));
  const align = opts.align ?? header.map((_, c) => (rows.length > 0 && rows.every((row) => typeof row[c] === 'number') ? 'r' : 'l'));
  // At least 3 wide so the separator (":--" / "--:") is valid Markdown.
  const width = head.map((h, c) => Math.max(3, h.length, ...body.map((row) => row[c].length)));
  const line = (cells: string[]) => `| ${cells.map((s, c) => (align[c] === 'r' ? s.padStart(width[c]) : s.padEnd(width[c]))).join(' | ')} |`;
  const rule = `| ${width.map((w, c) => (align[c] === 'r' ? `${'-'.repeat(w - 1)}:` : `:${'-'.repeat(w - 1)}`)).join(' | ')} |`;
  return `${[line(head), rule, ...body.map(line)].join('\n')}\n`;
}

function formatNumber(v: number, digits: number): string {
  if (Number.isNaN(v)) return 'n/a';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  const s = v.toFixed(digits);
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s; // -0.0001 -> "0.000", not "-0.000"
}

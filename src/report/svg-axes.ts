// The pieces every SVG chart of the project shares: "nice" axis ticks, the
// frame (title, grid, tick labels, axes box, axis labels), the legend, the
// palette and XML escaping. Used by the loss curves (src/train/loss-curve.ts)
// and the report charts (src/report/chart.ts).
//
// Linear ticks are multiples of 1, 2 or 5 × 10^k chosen for about 6 ticks; a
// free end of the domain is widened to the tick around the data, a fixed end
// (yMin / yMax of a chart) stays where it is and gets the ticks inside it. Log
// ticks are 1, 2, 5 × 10^k (1..9 × 10^k when the data spans less than that,
// powers of ten when it spans many decades). A constant series (or a single
// point) gets a domain widened around it by 10% of its value (1 at 0).
// Pixel mapping for the box [x0, x1] × [y0, y1] and a domain [lo, hi]
// (y grows downwards in SVG):
//   px = x0 + (x - lo) / (hi - lo) * (x1 - x0)
//   py = y1 - (f(y) - f(lo)) / (f(hi) - f(lo)) * (y1 - y0),  f = identity or log10

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
export const MARGIN = { left: 72, right: 20, top: 40, bottom: 52 };

/** A domain and the tick values in it (ascending). */
export interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  labels: string[];
}

/** The plot box in pixels: x0 < x1 left to right, y0 < y1 top to bottom. */
export interface Box {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

export interface LinearAxisOptions {
  /** Fixed ends of the domain (ticks stay inside them). */
  lo?: number;
  hi?: number;
  /** Ticks on whole numbers only (layer indices): the step is at least 1. */
  integer?: boolean;
}

/** Pixel coordinates in SVG: one decimal. */
export const fmt = (v: number) => v.toFixed(1);

export function colorOf(i: number): string {
  return PALETTE[i % PALETTE.length];
}

/** A step of 1, 2 or 5 × 10^k giving about `target` ticks over `span`. */
export function niceStep(span: number, target: number): number {
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const m = raw / mag;
  return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * mag;
}

/** Removes binary noise from i × step (0.30000000000000004 -> 0.3). */
const clean = (v: number) => Number(v.toPrecision(12));

export function linearAxis(values: number[], opts: LinearAxisOptions = {}): Axis {
  const fixedLo = opts.lo;
  const fixedHi = opts.hi;
  if (fixedLo !== undefined && fixedHi !== undefined && !(fixedLo < fixedHi)) {
    throw new RangeError(`linearAxis: fixed domain [${fixedLo}, ${fixedHi}] is empty (need lo < hi)`);
  }
  let [lo, hi] = values.length ? extent(values) : [0, 1];
  if (fixedLo !== undefined) lo = fixedLo;
  if (fixedHi !== undefined) hi = fixedHi;
  if (!(lo < hi)) {
    // Constant data (sits mid-height), or all data beyond a fixed end.
    if (fixedLo !== undefined) hi = lo + 2 * (Math.abs(lo) * 0.1 || 1);
    else if (fixedHi !== undefined) lo = hi - 2 * (Math.abs(hi) * 0.1 || 1);
    else {
      const pad = Math.abs(lo) * 0.1 || 1;
      lo -= pad;
      hi += pad;
    }
  }
  let step = niceStep(hi - lo, 6);
  if (opts.integer && step < 1) step = 1;
  const first = fixedLo !== undefined ? Math.ceil(lo / step - 1e-9) : Math.floor(lo / step);
  const last = fixedHi !== undefined ? Math.floor(hi / step + 1e-9) : Math.ceil(hi / step);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(clean(i * step));
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const big = Math.max(Math.abs(ticks[0]), Math.abs(ticks[ticks.length - 1])) >= 1e6 || step < 1e-4;
  const labels = ticks.map((t) => (t === 0 ? '0' : big ? trimExp(t.toExponential(2)) : t.toFixed(decimals)));
  return { lo: fixedLo ?? ticks[0], hi: fixedHi ?? ticks[ticks.length - 1], ticks, labels };
}

export function logAxis(values: number[]): Axis {
  let [lo, hi] = values.length ? extent(values) : [0.1, 10];
  if (hi === lo) {
    lo /= 1.5;
    hi *= 1.5;
  }
  const decades = Math.log10(hi) - Math.log10(lo);
  // Candidate mantissas: fewer as the span grows, so ticks stay readable.
  const mantissas = decades < 0.7 ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : decades < 4 ? [1, 2, 5] : [1];
  const stride = Math.max(1, Math.ceil(decades / 8)); // every stride-th decade when many
  const kLo = Math.floor(Math.log10(lo));
  const kHi = Math.ceil(Math.log10(hi));
  const all: number[] = [];
  for (let k = kLo - 1; k <= kHi + stride; k++) {
    if ((k - kLo) % stride !== 0) continue;
    for (const m of mantissas) all.push(clean(m * 10 ** k));
  }
  // The domain runs from the candidate at or below the data to the one at or above it.
  const below = all.filter((v) => v <= lo).pop() ?? all[0];
  const above = all.find((v) => v >= hi) ?? all[all.length - 1];
  const ticks = all.filter((v) => v >= below && v <= above);
  const labels = ticks.map((t) => (t >= 1e-3 && t < 1e6 ? String(t) : trimExp(t.toExponential(0))));
  return { lo: below, hi: above, ticks, labels };
}

/** [min, max] by a loop (spreading a long run's points into Math.min overflows the stack). */
export function extent(values: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** "3.00e-4" -> "3e-4", "1.50e+6" -> "1.5e6". */
export function trimExp(s: string): string {
  return s.replace(/\.?0+e/, 'e').replace('e+', 'e');
}

/**
 * Text and double-quoted attribute values for XML: & < > " as entities, and
 * the control characters XML 1.0 forbids (a parser rejects the file) dropped.
 */
export function escapeXml(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Linear (or log10) map from an axis domain to [p0, p1] pixels. */
export function scale(axis: Axis, p0: number, p1: number, log = false): (v: number) => number {
  const f = log ? Math.log10 : (v: number) => v;
  const a = f(axis.lo);
  const b = f(axis.hi);
  return (v) => p0 + ((f(v) - a) / (b - a)) * (p1 - p0);
}

// ---------------------------------------------------------------- frame

export interface Tick {
  /** Pixel position along the axis. */
  at: number;
  label: string;
}

export interface FrameOptions {
  width: number;
  height: number;
  box: Box;
  title: string;
  /** A second, smaller line under the title (e.g. correlations). */
  note?: string;
  xLabel?: string;
  yLabel: string;
  xTicks: Tick[];
  yTicks: Tick[];
  /** Vertical grid lines at the x ticks (not for categories). Default true. */
  xGrid?: boolean;
  /** Rotates x tick labels by -angle degrees, anchored at their end (long category names). */
  xTickAngle?: number;
}

/**
 * Opens the SVG and draws the white background, title, grid, tick labels,
 * axes box and axis labels into `out`; the caller draws the data and closes
 * it with `</svg>`.
 */
export function frameSvg(out: string[], o: FrameOptions): void {
  const { width: W, height: H } = o;
  const { x0, x1, y0, y1 } = o.box;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${fmt(W / 2)}" y="22" text-anchor="middle" font-size="15">${escapeXml(o.title)}</text>`);
  if (o.note) out.push(`<text class="note" x="${fmt(W / 2)}" y="40" text-anchor="middle" fill="#444">${escapeXml(o.note)}</text>`);

  out.push('<g class="grid" stroke="#e4e4e4" stroke-width="1">');
  if (o.xGrid ?? true) for (const t of o.xTicks) out.push(`<line x1="${fmt(t.at)}" y1="${y0}" x2="${fmt(t.at)}" y2="${y1}"/>`);
  for (const t of o.yTicks) out.push(`<line x1="${x0}" y1="${fmt(t.at)}" x2="${x1}" y2="${fmt(t.at)}"/>`);
  out.push('</g>');
  const angle = o.xTickAngle ?? 0;
  out.push(`<g class="x-ticks" text-anchor="${angle ? 'end' : 'middle'}">`);
  for (const t of o.xTicks) {
    const y = y1 + 18;
    const rot = angle ? ` transform="rotate(${-angle} ${fmt(t.at)} ${y})"` : '';
    out.push(`<text x="${fmt(t.at)}" y="${y}"${rot}>${escapeXml(t.label)}</text>`);
  }
  out.push('</g>');
  out.push('<g class="y-ticks" text-anchor="end">');
  for (const t of o.yTicks) out.push(`<text x="${x0 - 6}" y="${fmt(t.at + 4)}">${escapeXml(t.label)}</text>`);
  out.push('</g>');

  out.push(`<rect class="axes" x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}" fill="none" stroke="#333"/>`);
  if (o.xLabel) out.push(`<text x="${fmt((x0 + x1) / 2)}" y="${H - 12}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  const yMid = fmt((y0 + y1) / 2);
  out.push(`<text x="16" y="${yMid}" text-anchor="middle" transform="rotate(-90 16 ${yMid})">${escapeXml(o.yLabel)}</text>`);
}

// ---------------------------------------------------------------- legend

export type Swatch = 'line' | 'rect' | 'dot' | 'line+dot';

export interface LegendItem {
  label: string;
  color: string;
  /** Overrides the legend's swatch for this item (a fit line among dots). */
  swatch?: Swatch;
}

/** Rough width of `chars` characters at 12 px sans-serif (no font metrics here). */
export const textWidth = (chars: number) => chars * 7;

/** The legend box's size for these labels. */
export function legendSize(items: LegendItem[]): { width: number; height: number } {
  return { width: textWidth(Math.max(0, ...items.map((it) => it.label.length))) + 40, height: items.length * 18 + 8 };
}

/** A legend box with its top-left corner at (x, y): a swatch and a label per item. */
export function legendSvg(out: string[], items: LegendItem[], x: number, y: number, swatch: Swatch): void {
  const { width, height } = legendSize(items);
  out.push(`<g class="legend"><rect x="${x}" y="${y}" width="${width}" height="${height}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`);
  items.forEach((it, i) => {
    const ty = y + 16 + i * 18;
    const kind = it.swatch ?? swatch;
    if (kind === 'line' || kind === 'line+dot') {
      out.push(`<line x1="${x + 8}" y1="${ty - 4}" x2="${x + 28}" y2="${ty - 4}" stroke="${it.color}" stroke-width="2"/>`);
    }
    if (kind === 'dot' || kind === 'line+dot') out.push(`<circle cx="${x + 18}" cy="${ty - 4}" r="3.5" fill="${it.color}"/>`);
    if (kind === 'rect') out.push(`<rect x="${x + 12}" y="${ty - 10}" width="12" height="12" fill="${it.color}"/>`);
    out.push(`<text x="${x + 34}" y="${ty}">${escapeXml(it.label)}</text>`);
  });
  out.push('</g>');
}

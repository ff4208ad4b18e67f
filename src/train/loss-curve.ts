// Loss curves as a standalone SVG (no dependency, opens in any browser).
//
// Each series is a list of (step, value) points drawn as one polyline (a
// circle when it has a single point) in the plot box, with axes, grid lines at
// "nice" ticks and a legend. Mapping, for the box [x0, x1] × [y0, y1] in pixels
// and the domain [a, b] × [c, d] (y grows downwards in SVG):
//   px = x0 + (step - a) / (b - a) * (x1 - x0)
//   py = y1 - (f(value) - f(c)) / (f(d) - f(c)) * (y1 - y0),  f = identity or log10
// Linear ticks are multiples of 1, 2 or 5 × 10^k chosen for about 6 ticks,
// and the domain is widened to the ticks around the data; log ticks are
// 1, 2, 5 × 10^k (1..9 × 10^k when the data spans less than that, powers of
// ten when it spans many decades). Points whose step or value is not finite
// (NaN from a diverged step) are skipped, and so are values <= 0 on a log
// axis; the line joins the points on either side. A constant series or a
// single point gets a domain widened around it.
import { writeFileAtomic } from '../io/safetensors.ts';

export interface LossSeries {
  name: string;
  points: [step: number, value: number][];
}

export interface LossCurveOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Logarithmic value axis. */
  logY?: boolean;
  /** Pixels; defaults 720 × 440. */
  width?: number;
  height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const MARGIN = { left: 72, right: 20, top: 40, bottom: 52 };

/** A domain and the tick values in it (ascending; both ends included for linear axes). */
interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  labels: string[];
}

export function lossCurveSvg(series: LossSeries[], opts: LossCurveOptions): string {
  const W = opts.width ?? 720;
  const H = opts.height ?? 440;
  if (!(W >= 200 && H >= 150)) throw new RangeError(`lossCurveSvg: size ${W} × ${H} is too small (at least 200 × 150)`);
  const logY = opts.logY ?? false;
  const usable = (x: number, y: number) => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0);
  const kept = series.map((s, i) => {
    if (!Array.isArray(s.points)) throw new TypeError(`lossCurveSvg: series ${i} ("${s.name}") has no points array`);
    return s.points.filter(([x, y]) => usable(x, y)).sort((p, q) => p[0] - q[0]);
  });
  const xs = kept.flatMap((pts) => pts.map((p) => p[0]));
  const ys = kept.flatMap((pts) => pts.map((p) => p[1]));

  const xAxis = linearAxis(xs);
  const yAxis = logY ? logAxis(ys) : linearAxis(ys);
  const x0 = MARGIN.left;
  const x1 = W - MARGIN.right;
  const y0 = MARGIN.top;
  const y1 = H - MARGIN.bottom;
  const f = logY ? Math.log10 : (v: number) => v;
  const px = (x: number) => x0 + ((x - xAxis.lo) / (xAxis.hi - xAxis.lo)) * (x1 - x0);
  const py = (y: number) => y1 - ((f(y) - f(yAxis.lo)) / (f(yAxis.hi) - f(yAxis.lo))) * (y1 - y0);
  const n = (v: number) => v.toFixed(1);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${n(W / 2)}" y="22" text-anchor="middle" font-size="15">${esc(opts.title)}</text>`);

  // grid and tick labels
  out.push('<g class="grid" stroke="#e4e4e4" stroke-width="1">');
  for (const t of xAxis.ticks) out.push(`<line x1="${n(px(t))}" y1="${y0}" x2="${n(px(t))}" y2="${y1}"/>`);
  for (const t of yAxis.ticks) out.push(`<line x1="${x0}" y1="${n(py(t))}" x2="${x1}" y2="${n(py(t))}"/>`);
  out.push('</g>');
  out.push('<g class="x-ticks" text-anchor="middle">');
  xAxis.ticks.forEach((t, i) => out.push(`<text x="${n(px(t))}" y="${y1 + 18}">${esc(xAxis.labels[i])}</text>`));
  out.push('</g>');
  out.push('<g class="y-ticks" text-anchor="end">');
  yAxis.ticks.forEach((t, i) => out.push(`<text x="${x0 - 6}" y="${n(py(t) + 4)}">${esc(yAxis.labels[i])}</text>`));
  out.push('</g>');

  // axes and their labels
  out.push(`<rect class="axes" x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${n((x0 + x1) / 2)}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  const yMid = n((y0 + y1) / 2);
  out.push(`<text x="16" y="${yMid}" text-anchor="middle" transform="rotate(-90 16 ${yMid})">${esc(opts.yLabel)}</text>`);

  // one line per series
  kept.forEach((pts, i) => {
    const color = PALETTE[i % PALETTE.length];
    if (pts.length === 1) {
      out.push(`<circle class="series" cx="${n(px(pts[0][0]))}" cy="${n(py(pts[0][1]))}" r="3" fill="${color}"/>`);
    } else if (pts.length > 1) {
      const coords = pts.map(([x, y]) => `${n(px(x))},${n(py(y))}`).join(' ');
      out.push(`<polyline class="series" fill="none" stroke="${color}" stroke-width="1.5" points="${coords}"/>`);
    }
  });
  if (ys.length === 0) out.push(`<text x="${n((x0 + x1) / 2)}" y="${n((y0 + y1) / 2)}" text-anchor="middle" fill="#888">no data</text>`);

  // legend, top right inside the box
  if (series.length > 0) {
    const label = (i: number) => (kept[i].length === 0 ? `${series[i].name} (no data)` : series[i].name);
    const textW = Math.max(...series.map((_, i) => label(i).length)) * 7;
    const lw = textW + 40;
    const lx = x1 - lw - 8;
    const ly = y0 + 8;
    out.push(`<g class="legend"><rect x="${lx}" y="${ly}" width="${lw}" height="${series.length * 18 + 8}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`);
    series.forEach((_, i) => {
      const y = ly + 16 + i * 18;
      out.push(`<line x1="${lx + 8}" y1="${y - 4}" x2="${lx + 28}" y2="${y - 4}" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="2"/>`);
      out.push(`<text x="${lx + 34}" y="${y}">${esc(label(i))}</text>`);
    });
    out.push('</g>');
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Writes the SVG atomically (temp file, fsync, rename): a reader never sees half a plot. */
export async function writeLossCurve(path: string, series: LossSeries[], opts: LossCurveOptions): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(lossCurveSvg(series, opts)));
}

// ---------------------------------------------------------------- axes

/** A step of 1, 2 or 5 × 10^k giving about `target` ticks over `span`. */
function niceStep(span: number, target: number): number {
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const m = raw / mag;
  return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * mag;
}

/** Removes binary noise from i × step (0.30000000000000004 -> 0.3). */
const clean = (v: number) => Number(v.toPrecision(12));

function linearAxis(values: number[]): Axis {
  let [lo, hi] = values.length ? extent(values) : [0, 1];
  if (hi === lo) {
    const pad = Math.abs(lo) * 0.1 || 1; // a constant series sits mid-height
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, 6);
  const first = Math.floor(lo / step);
  const last = Math.ceil(hi / step);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(clean(i * step));
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const big = Math.max(Math.abs(ticks[0]), Math.abs(ticks[ticks.length - 1])) >= 1e6 || step < 1e-4;
  const labels = ticks.map((t) => (t === 0 ? '0' : big ? trimExp(t.toExponential(2)) : t.toFixed(decimals)));
  return { lo: ticks[0], hi: ticks[ticks.length - 1], ticks, labels };
}

function logAxis(values: number[]): Axis {
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
function extent(values: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** "3.00e-4" -> "3e-4", "1.50e+6" -> "1.5e6". */
function trimExp(s: string): string {
  return s.replace(/\.?0+e/, 'e').replace('e+', 'e');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

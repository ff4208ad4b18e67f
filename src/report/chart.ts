// Report charts as standalone SVG strings: grouped bars, lines with markers,
// and scatter plots with an optional least-squares line. Pure functions (no
// I/O); src/report/png.ts rasterises them for the report folder.
//
// All three share src/report/svg-axes.ts's frame: a white background, the
// title (and an optional note line under it), "nice" linear ticks with grid
// lines, the axes box and labels. The legend sits to the right of the box,
// outside it, so it never hides data. Values that are not finite (NaN from a
// metric that could not be computed) are skipped: no bar, no point, and a
// line joins the points on either side. Every text is XML-escaped.
//
// Bars: one slot per group (x category), 80% of it filled by one bar per
// series; a bar runs from 0 (or from the nearest end of the y domain when 0
// is outside it) to its value, and carries the value with 3 decimals beyond
// its end (above, below when negative; turned vertical when wider than the
// bar). The y domain covers 0 and the data plus room for those labels,
// widened to nice ticks; yMin / yMax fix an end, and a bar beyond a fixed end
// is cut at the box edge with its label (the true value) inside it in white.
// Category names too wide for their slot are turned by 30 degrees.
//
// Lines and scatter points get 5% of the data's span as margin at free
// ends, so no marker sits on the frame; lines with whole-number x (layer
// indices) get whole-number x ticks.
//
// Least-squares line through n points (x_i, y_i):
//   b = Σ (x_i - x̄)(y_i - ȳ) / Σ (x_i - x̄)²,  a = ȳ - b x̄,  y = a + b x
// drawn over the part of the x domain where it stays inside the y domain.
import {
  colorOf,
  escapeXml,
  extent,
  fmt,
  frameSvg,
  legendSize,
  legendSvg,
  linearAxis,
  MARGIN,
  scale,
  textWidth,
  type Axis,
  type Box,
  type LegendItem,
} from './svg-axes.ts';

export interface ChartSize {
  /** Pixels; defaults 720 × 440. */
  width?: number;
  height?: number;
}

export interface BarChartOptions extends ChartSize {
  title: string;
  yLabel: string;
  xLabel?: string;
  note?: string;
  /** The x categories, left to right. */
  groups: string[];
  /** One bar per series in every group: values[g] is the bar in groups[g]. */
  series: { name: string; values: number[] }[];
  yMin?: number;
  yMax?: number;
}

export interface LineChartOptions extends ChartSize {
  title: string;
  xLabel: string;
  yLabel: string;
  note?: string;
  series: { name: string; points: [x: number, y: number][] }[];
  yMin?: number;
  yMax?: number;
}

export interface ScatterPoint {
  x: number;
  y: number;
  /** Small text next to the point. */
  label?: string;
  /** Points of one series share a colour and a legend entry. */
  series?: string;
}

export interface ScatterChartOptions extends ChartSize {
  title: string;
  xLabel: string;
  yLabel: string;
  points: ScatterPoint[];
  /** Draws the least-squares line y = a + b x through the finite points. */
  fit?: boolean;
  /** A line under the title, e.g. "Pearson r = -0.83, Spearman ρ = -0.80". */
  note?: string;
}

const BAR_LABEL_DIGITS = 3;
const MAX_LABEL_CHARS = 40;
const MAX_CATEGORY_CHARS = 28;

/** The frame of a chart with numeric x and y axes (lines, scatter): title, note, labels, ticks and grid. */
function numericFrame(
  out: string[], W: number, H: number, box: Box, o: { title: string; note?: string; xLabel: string; yLabel: string },
  xAxis: Axis, yAxis: Axis, px: (v: number) => number, py: (v: number) => number,
): void {
  frameSvg(out, {
    width: W, height: H, box, title: o.title, note: o.note, xLabel: o.xLabel, yLabel: o.yLabel,
    xTicks: xAxis.ticks.map((t, i) => ({ at: px(t), label: xAxis.labels[i] })),
    yTicks: yAxis.ticks.map((t, i) => ({ at: py(t), label: yAxis.labels[i] })),
  });
}

export function barChart(o: BarChartOptions): string {
  const { W, H } = checkSize('barChart', o);
  const G = o.groups.length;
  o.series.forEach((s, i) => {
    if (!Array.isArray(s.values) || s.values.length !== G) {
      throw new RangeError(`barChart: series ${i} ("${s.name}") has ${Array.isArray(s.values) ? s.values.length : 'no'} values, expected one per group (${G})`);
    }
  });
  checkFixedDomain('barChart', o.yMin, o.yMax);
  const finite = o.series.flatMap((s) => s.values.filter(Number.isFinite));

  const groupLabels = o.groups.map((g) => shorten(g, MAX_CATEGORY_CHARS));
  const legend = o.series.map((s, i) => ({ label: shorten(s.name), color: colorOf(i) }));
  // Category names wider than their slot are turned by 30 degrees: they then
  // reach down by sin 30° and left by cos 30° of their length, so the bottom
  // margin grows, and the left one too when the first name would leave the image.
  const right = legendRight(legend);
  const slotGuess = (W - MARGIN.left - right) / Math.max(1, G);
  const longest = textWidth(Math.max(0, ...groupLabels.map((l) => l.length)));
  const turned = longest > slotGuess - 6;
  const left = turned ? Math.max(MARGIN.left, Math.ceil(longest * Math.cos(Math.PI / 6) - slotGuess / 2 + 8)) : MARGIN.left;
  const box = plotBox('barChart', W, H, { left, right, top: o.note ? 16 : 0, bottom: turned ? Math.ceil(longest * 0.5) : 0 });
  const slot = (box.x1 - box.x0) / Math.max(1, G);
  const barW = (slot * 0.8) / Math.max(1, o.series.length);
  // Value labels turn vertical when wider than a bar.
  const texts = finite.map((v) => v.toFixed(BAR_LABEL_DIGITS));
  const vertical = barW < Math.max(0, ...texts.map(valueTextWidth)) + 1;
  const reachOf = (text: string) => (vertical ? valueTextWidth(text) : 8) + 3; // pixels a label needs beyond its bar

  // The y domain: 0 and the data, plus headroom at a free end for the
  // longest bar's label (r value units take r / (span + r) of the box height).
  const [lo, hi] = extent([0, ...finite]);
  const boxH = box.y1 - box.y0;
  const reach = Math.min(boxH / 3, Math.max(0, ...texts.map(reachOf)));
  const room = ((hi - lo) * reach) / (boxH - reach);
  const yValues = o.yMin === undefined ? [0, ...finite] : [...finite];
  if (o.yMin === undefined && lo < 0) yValues.push(lo - room);
  if (o.yMax === undefined && hi > 0) yValues.push(hi + room);
  const yAxis = linearAxis(yValues, { lo: o.yMin, hi: o.yMax });
  const py = scale(yAxis, box.y1, box.y0);
  const clampY = (v: number) => Math.min(yAxis.hi, Math.max(yAxis.lo, v));
  const out: string[] = [];
  frameSvg(out, {
    width: W,
    height: H,
    box,
    title: o.title,
    note: o.note,
    xLabel: o.xLabel,
    yLabel: o.yLabel,
    xTicks: groupLabels.map((label, g) => ({ at: box.x0 + (g + 0.5) * slot, label })),
    yTicks: yAxis.ticks.map((t, i) => ({ at: py(t), label: yAxis.labels[i] })),
    xGrid: false,
    xTickAngle: turned ? 30 : 0,
  });

  // Value labels: above a bar (below a negative one), or inside its end in
  // white when that would leave the box (a bar cut at a fixed yMax / yMin).
  const base = py(clampY(0));
  const bars: string[] = [];
  const labels: string[] = [];
  o.series.forEach((s, i) => {
    s.values.forEach((v, g) => {
      if (!Number.isFinite(v)) return;
      const x = box.x0 + g * slot + slot * 0.1 + i * barW;
      const end = py(clampY(v));
      const gap = barW > 4 ? 0.5 : 0; // a hairline between neighbouring bars
      bars.push(`<rect x="${fmt(x + gap)}" y="${fmt(Math.min(end, base))}" width="${fmt(barW - 2 * gap)}" height="${fmt(Math.abs(base - end))}" fill="${colorOf(i)}"/>`);
      const text = v.toFixed(BAR_LABEL_DIGITS);
      const up = v >= clampY(0);
      const outside = up ? end - reachOf(text) >= box.y0 : end + reachOf(text) <= box.y1;
      const away = up === outside; // the label grows upwards from its anchor
      const fill = outside ? '' : ' fill="white"';
      const cx = x + barW / 2;
      if (vertical) {
        const y = away ? end - 3 : end + 3;
        const tx = fmt(cx + 3.5);
        labels.push(`<text x="${tx}" y="${fmt(y)}" text-anchor="${away ? 'start' : 'end'}" transform="rotate(-90 ${tx} ${fmt(y)})"${fill}>${text}</text>`);
      } else {
        labels.push(`<text x="${fmt(cx)}" y="${fmt(away ? end - 3 : end + 11)}" text-anchor="middle"${fill}>${text}</text>`);
      }
    });
  });
  out.push(`<g class="bars">`, ...bars, '</g>');
  out.push(`<g class="bar-values" font-size="10" fill="#222">`, ...labels, '</g>');
  if (finite.length === 0) noData(out, box);
  if (legend.length) legendSvg(out, legend, box.x1 + 10, box.y0, 'rect');
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export function lineChart(o: LineChartOptions): string {
  const { W, H } = checkSize('lineChart', o);
  checkFixedDomain('lineChart', o.yMin, o.yMax);
  const kept = o.series.map((s, i) => {
    if (!Array.isArray(s.points)) throw new TypeError(`lineChart: series ${i} ("${s.name}") has no points array`);
    return s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((p, q) => p[0] - q[0]);
  });
  const xs = kept.flatMap((pts) => pts.map((p) => p[0]));
  const ys = kept.flatMap((pts) => pts.map((p) => p[1]));
  // Whole-number x (layer indices) gets whole-number ticks.
  const xAxis = linearAxis(xs, { integer: xs.length > 0 && xs.every(Number.isInteger) });
  const yAxis = linearAxis(padded(ys, 0.05), { lo: o.yMin, hi: o.yMax });
  const legend = o.series.map((s, i) => ({ label: shorten(kept[i].length ? s.name : `${s.name} (no data)`), color: colorOf(i) }));
  const box = plotBox('lineChart', W, H, { right: legendRight(legend), top: o.note ? 16 : 0 });
  const px = scale(xAxis, box.x0, box.x1);
  const py = scale(yAxis, box.y1, box.y0);

  const out: string[] = [];
  numericFrame(out, W, H, box, o, xAxis, yAxis, px, py);
  // Fixed y ends can put points outside the box: clip the data to it, plus a
  // marker's radius so markers on the frame (first and last layer) stay whole.
  const r = 4;
  out.push(`<clipPath id="plot-area"><rect x="${box.x0 - r}" y="${box.y0 - r}" width="${box.x1 - box.x0 + 2 * r}" height="${box.y1 - box.y0 + 2 * r}"/></clipPath>`);
  out.push('<g clip-path="url(#plot-area)">');
  kept.forEach((pts, i) => {
    const color = colorOf(i);
    if (pts.length > 1) {
      const coords = pts.map(([x, y]) => `${fmt(px(x))},${fmt(py(y))}`).join(' ');
      out.push(`<polyline class="series" fill="none" stroke="${color}" stroke-width="1.5" points="${coords}"/>`);
    }
    for (const [x, y] of pts) out.push(`<circle class="marker" cx="${fmt(px(x))}" cy="${fmt(py(y))}" r="3" fill="${color}"/>`);
  });
  out.push('</g>');
  if (ys.length === 0) noData(out, box);
  if (legend.length) legendSvg(out, legend, box.x1 + 10, box.y0, 'line+dot');
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export function scatterChart(o: ScatterChartOptions): string {
  const { W, H } = checkSize('scatterChart', o);
  if (!Array.isArray(o.points)) throw new TypeError('scatterChart: points is not an array');
  const pts = o.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xAxis = linearAxis(padded(pts.map((p) => p.x), 0.05));
  const yAxis = linearAxis(padded(pts.map((p) => p.y), 0.05));
  // Series in order of first appearance; points without one share a grey.
  const names: string[] = [];
  for (const p of o.points) if (p.series !== undefined && !names.includes(p.series)) names.push(p.series);
  const colorFor = (p: ScatterPoint) => (p.series === undefined ? '#555' : colorOf(names.indexOf(p.series)));
  const line = o.fit ? linearFit(pts.map((p) => p.x), pts.map((p) => p.y)) : null;

  const legend: LegendItem[] = names.map((name) => ({
    label: shorten(pts.some((p) => p.series === name) ? name : `${name} (no data)`),
    color: colorOf(names.indexOf(name)),
  }));
  if (names.length && pts.some((p) => p.series === undefined)) legend.push({ label: '(no series)', color: '#555' });
  if (line) legend.push({ label: `fit: y = ${num(line.intercept)} ${line.slope < 0 ? '-' : '+'} ${num(Math.abs(line.slope))} x`, color: '#333', swatch: 'line' });
  const box = plotBox('scatterChart', W, H, { right: legendRight(legend), top: o.note ? 16 : 0 });
  const px = scale(xAxis, box.x0, box.x1);
  const py = scale(yAxis, box.y1, box.y0);

  const out: string[] = [];
  numericFrame(out, W, H, box, o, xAxis, yAxis, px, py);
  if (line) {
    const seg = clipLine(line, xAxis.lo, xAxis.hi, yAxis.lo, yAxis.hi);
    if (seg) {
      const [[xa, ya], [xb, yb]] = seg;
      out.push(`<line class="fit" x1="${fmt(px(xa))}" y1="${fmt(py(ya))}" x2="${fmt(px(xb))}" y2="${fmt(py(yb))}" stroke="#333" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    }
  }
  out.push('<g class="points">');
  for (const p of pts) out.push(`<circle cx="${fmt(px(p.x))}" cy="${fmt(py(p.y))}" r="4" fill="${colorFor(p)}" fill-opacity="0.85"/>`);
  out.push('</g>');
  const labelled = pts.filter((p) => p.label);
  if (labelled.length) {
    out.push('<g class="point-labels" font-size="9" fill="#444">');
    for (const p of labelled) out.push(`<text x="${fmt(px(p.x) + 5)}" y="${fmt(py(p.y) - 5)}">${escapeXml(shorten(p.label!))}</text>`);
    out.push('</g>');
  }
  if (pts.length === 0) noData(out, box);
  if (legend.length) legendSvg(out, legend, box.x1 + 10, box.y0, 'dot');
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Least squares y = intercept + slope · x; null with fewer than 2 points or all x equal. */
export function linearFit(xs: number[], ys: number[]): { slope: number; intercept: number } | null {
  if (xs.length !== ys.length) throw new RangeError(`linearFit: ${xs.length} x values but ${ys.length} y values`);
  const n = xs.length;
  if (n < 2) return null;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i];
    my += ys[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  if (!(sxx > 0)) return null;
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

// ---------------------------------------------------------------- helpers

function checkSize(who: string, o: ChartSize): { W: number; H: number } {
  const W = o.width ?? 720;
  const H = o.height ?? 440;
  if (!(W >= 200 && H >= 150)) throw new RangeError(`${who}: size ${W} × ${H} is too small (at least 200 × 150)`);
  return { W, H };
}

function checkFixedDomain(who: string, lo: number | undefined, hi: number | undefined): void {
  for (const [name, v] of [['yMin', lo], ['yMax', hi]] as const) {
    if (v !== undefined && !Number.isFinite(v)) throw new RangeError(`${who}: ${name} is ${v}, expected a finite number`);
  }
  if (lo !== undefined && hi !== undefined && !(lo < hi)) throw new RangeError(`${who}: yMin ${lo} must be below yMax ${hi}`);
}

/** The plot box: left and right margins as given (the right one holds the legend), top and bottom grown by `extra`. */
function plotBox(who: string, W: number, H: number, extra: { left?: number; right: number; top?: number; bottom?: number }): Box {
  const box = { x0: extra.left ?? MARGIN.left, x1: W - extra.right, y0: MARGIN.top + (extra.top ?? 0), y1: H - MARGIN.bottom - (extra.bottom ?? 0) };
  if (box.x1 - box.x0 < 80 || box.y1 - box.y0 < 60) {
    throw new RangeError(`${who}: ${W} × ${H} leaves a plot area of ${box.x1 - box.x0} × ${box.y1 - box.y0} px after the legend and labels; make the chart larger`);
  }
  return box;
}

/** The right margin: room for a legend box beside the plot. */
function legendRight(legend: LegendItem[]): number {
  return legend.length ? MARGIN.right + legendSize(legend).width + 10 : MARGIN.right;
}

function noData(out: string[], box: Box): void {
  out.push(`<text x="${fmt((box.x0 + box.x1) / 2)}" y="${fmt((box.y0 + box.y1) / 2)}" text-anchor="middle" fill="#888">no data</text>`);
}

/** Long names cut with an ellipsis, so a legend or axis labels cannot eat the plot. */
function shorten(s: string, max = MAX_LABEL_CHARS): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Width in pixels of a number at 10 px DejaVu Sans: digits 0.636 em, "." 0.318 em, "-" 0.361 em. */
function valueTextWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += ch === '.' ? 3.2 : ch === '-' ? 3.6 : 6.4;
  return w;
}

/** The values plus points `frac` of their span beyond each end: a margin so no point sits on the box. */
function padded(values: number[], frac: number): number[] {
  if (values.length === 0) return values;
  const [lo, hi] = extent(values);
  const pad = (hi - lo) * frac;
  return pad > 0 ? [...values, lo - pad, hi + pad] : values;
}

/** 3 significant digits without binary noise: 0.123, 12.3, 1.23e-5. */
function num(v: number): string {
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? String(Number(v.toPrecision(3))) : v === 0 ? '0' : v.toExponential(2);
}

/**
 * The part of y = a + b x with x in [xlo, xhi] whose y lies in [ylo, yhi], as
 * two (x, y) end points; null when the line misses the box.
 */
function clipLine(l: { slope: number; intercept: number }, xlo: number, xhi: number, ylo: number, yhi: number): [[number, number], [number, number]] | null {
  let a = xlo;
  let b = xhi;
  if (l.slope !== 0) {
    const xAtLo = (ylo - l.intercept) / l.slope;
    const xAtHi = (yhi - l.intercept) / l.slope;
    a = Math.max(a, Math.min(xAtLo, xAtHi));
    b = Math.min(b, Math.max(xAtLo, xAtHi));
  } else if (l.intercept < ylo || l.intercept > yhi) {
    return null;
  }
  if (!(a < b)) return null;
  return [
    [a, l.intercept + l.slope * a],
    [b, l.intercept + l.slope * b],
  ];
}

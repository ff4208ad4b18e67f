// Loss curves as a standalone SVG (no dependency, opens in any browser).
//
// Each series is a list of (step, value) points drawn as one polyline (a
// circle when it has a single point) in the plot box, with axes, grid lines at
// "nice" ticks and a legend inside the box, top right. The ticks, the pixel
// mapping and the frame are src/report/svg-axes.ts's (linear or log10 value
// axis, domain widened to the ticks around the data). Points whose step or
// value is not finite (NaN from a diverged step) are skipped, and so are
// values <= 0 on a log axis; the line joins the points on either side. A
// constant series or a single point gets a domain widened around it.
import { writeFileAtomic } from '../io/safetensors.ts';
import { colorOf, fmt, frameSvg, legendSize, legendSvg, linearAxis, logAxis, MARGIN, scale } from '../report/svg-axes.ts';

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
  const box = { x0: MARGIN.left, x1: W - MARGIN.right, y0: MARGIN.top, y1: H - MARGIN.bottom };
  const px = scale(xAxis, box.x0, box.x1);
  const py = scale(yAxis, box.y1, box.y0, logY);

  const out: string[] = [];
  frameSvg(out, {
    width: W,
    height: H,
    box,
    title: opts.title,
    xLabel: opts.xLabel,
    yLabel: opts.yLabel,
    xTicks: xAxis.ticks.map((t, i) => ({ at: px(t), label: xAxis.labels[i] })),
    yTicks: yAxis.ticks.map((t, i) => ({ at: py(t), label: yAxis.labels[i] })),
  });

  // one line per series
  kept.forEach((pts, i) => {
    const color = colorOf(i);
    if (pts.length === 1) {
      out.push(`<circle class="series" cx="${fmt(px(pts[0][0]))}" cy="${fmt(py(pts[0][1]))}" r="3" fill="${color}"/>`);
    } else if (pts.length > 1) {
      const coords = pts.map(([x, y]) => `${fmt(px(x))},${fmt(py(y))}`).join(' ');
      out.push(`<polyline class="series" fill="none" stroke="${color}" stroke-width="1.5" points="${coords}"/>`);
    }
  });
  if (ys.length === 0) out.push(`<text x="${fmt((box.x0 + box.x1) / 2)}" y="${fmt((box.y0 + box.y1) / 2)}" text-anchor="middle" fill="#888">no data</text>`);

  // legend, top right inside the box
  if (series.length > 0) {
    const items = series.map((s, i) => ({ label: kept[i].length === 0 ? `${s.name} (no data)` : s.name, color: colorOf(i) }));
    legendSvg(out, items, box.x1 - legendSize(items).width - 8, box.y0 + 8, 'line');
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Writes the SVG atomically (temp file, fsync, rename): a reader never sees half a plot. */
export async function writeLossCurve(path: string, series: LossSeries[], opts: LossCurveOptions): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(lossCurveSvg(series, opts)));
}

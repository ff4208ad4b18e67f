// The loss-curve SVG: well-formed, one line per series with every finite
// point inside the plot box in the right order, nice ticks that cover the
// data, log axes, single points, constant series, NaN, escaping, atomic write.
import { describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lossCurveSvg, writeLossCurve, type LossSeries } from '../src/train/loss-curve.ts';

const OPTS = { title: 'loss', xLabel: 'step', yLabel: 'cross-entropy' };
// default size 720 × 440, margins left 72, right 20, top 40, bottom 52
const BOX = { x0: 72, x1: 700, y0: 40, y1: 388 };

/** Tags balance and every attribute value is quoted: a minimal well-formedness check. */
function expectWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)((?:\s+[a-zA-Z][a-zA-Z0-9:-]*="[^"<]*")*)\s*(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    if (selfClose) continue;
    if (close) expect(stack.pop(), `closing </${name}>`).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
  const tags = svg.match(/<[^>]*>/g)!.length;
  const parsed = [...svg.matchAll(/<(\/?)([a-zA-Z]+)((?:\s+[a-zA-Z][a-zA-Z0-9:-]*="[^"<]*")*)\s*(\/?)>/g)].length;
  expect(parsed, 'every tag matched the attribute grammar').toBe(tags);
  expect(svg).not.toMatch(/NaN|Infinity|undefined/);
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
}

const polylines = (svg: string) =>
  [...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)].map((m) => m[1].split(' ').map((p) => p.split(',').map(Number) as [number, number]));

/** Tick labels and their pixel positions from the x-ticks / y-ticks groups. */
function ticks(svg: string, axis: 'x' | 'y'): { label: string; at: number }[] {
  const group = svg.match(new RegExp(`<g class="${axis}-ticks"[^>]*>([\\s\\S]*?)</g>`))![1];
  return [...group.matchAll(/<text x="([\d.-]+)" y="([\d.-]+)">([^<]*)<\/text>/g)].map((m) => ({
    label: m[3],
    at: Number(axis === 'x' ? m[1] : m[2]),
  }));
}

/** Checks linear tick labels: numbers, evenly spaced by 1, 2 or 5 × 10^k, covering [lo, hi]. */
function expectNiceTicks(labels: string[], lo: number, hi: number): void {
  const v = labels.map(Number);
  expect(v.every(Number.isFinite), labels.join(' ')).toBe(true);
  expect(v.length).toBeGreaterThanOrEqual(3);
  expect(v.length).toBeLessThanOrEqual(13);
  const step = v[1] - v[0];
  for (let i = 1; i < v.length; i++) expect(Math.abs(v[i] - v[i - 1] - step)).toBeLessThan(1e-9 * Math.max(1, Math.abs(step)));
  const m = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
  expect([1, 2, 5].some((n) => Math.abs(m - n) < 1e-9), `step ${step}`).toBe(true);
  expect(v[0]).toBeLessThanOrEqual(lo);
  expect(v[v.length - 1]).toBeGreaterThanOrEqual(hi);
}

describe('lossCurveSvg', () => {
  const train: LossSeries = { name: 'train', points: Array.from({ length: 50 }, (_, i) => [i * 40, 8 * Math.exp(-i / 12) + 2.1] as [number, number]) };
  const val: LossSeries = { name: 'val', points: [[0, 8.3], [500, 4.4], [1000, 3.1], [1960, 2.6]] };

  it('draws one polyline per series, every point inside the box, in order', () => {
    const svg = lossCurveSvg([train, val], OPTS);
    expectWellFormed(svg);
    const lines = polylines(svg);
    expect(lines.map((l) => l.length)).toEqual([50, 4]);
    for (const l of lines) {
      for (const [x, y] of l) {
        expect(x).toBeGreaterThanOrEqual(BOX.x0);
        expect(x).toBeLessThanOrEqual(BOX.x1);
        expect(y).toBeGreaterThanOrEqual(BOX.y0);
        expect(y).toBeLessThanOrEqual(BOX.y1);
      }
      // steps increase -> x increases; the loss falls -> y (downwards in SVG) increases
      for (let i = 1; i < l.length; i++) {
        expect(l[i][0]).toBeGreaterThan(l[i - 1][0]);
        expect(l[i][1]).toBeGreaterThan(l[i - 1][1]);
      }
    }
    expect(svg).toContain('>loss</text>');
    expect(svg).toContain('>step</text>');
    expect(svg).toContain('>cross-entropy</text>');
    expect(svg).toMatch(/<g class="legend">[\s\S]*>train<[\s\S]*>val</);
  });

  it('puts nice ticks around the data, and a point at the right place between them', () => {
    const svg = lossCurveSvg([train, val], OPTS);
    const xt = ticks(svg, 'x');
    const yt = ticks(svg, 'y');
    expectNiceTicks(xt.map((t) => t.label), 0, 1960);
    expectNiceTicks(yt.map((t) => t.label), 2.1 + 8 * Math.exp(-49 / 12), 10.1);
    // the val point (1000, 3.1): linear interpolation between the tick positions
    const at = (tk: { label: string; at: number }[], v: number) => {
      const a = tk[0];
      const b = tk[tk.length - 1];
      return a.at + ((v - Number(a.label)) / (Number(b.label) - Number(a.label))) * (b.at - a.at);
    };
    const [x, y] = polylines(svg)[1][2];
    expect(Math.abs(x - at(xt, 1000))).toBeLessThan(0.2);
    // y tick labels sit 4 px below their grid line
    expect(Math.abs(y - (at(yt, 3.1) - 4))).toBeLessThan(0.2);
  });

  it('logY: 1-2-5 ticks, equal distance per decade, values <= 0 skipped', () => {
    const s: LossSeries = { name: 'l', points: [[0, 20], [1, 5], [2, 0], [3, -1], [4, 0.6]] };
    const svg = lossCurveSvg([s], { ...OPTS, logY: true });
    expectWellFormed(svg);
    expect(polylines(svg)[0]).toHaveLength(3);
    const yt = ticks(svg, 'y');
    const labels = yt.map((t) => t.label);
    expect(labels).toEqual(['0.5', '1', '2', '5', '10', '20']);
    const pos = new Map(yt.map((t) => [t.label, t.at]));
    const decade = pos.get('1')! - pos.get('10')!;
    expect(decade).toBeGreaterThan(50);
    expect(Math.abs(pos.get('2')! - pos.get('20')! - decade)).toBeLessThan(0.2);
    expect(Math.abs(pos.get('0.5')! - pos.get('5')! - decade)).toBeLessThan(0.2);
  });

  it('logY over many decades labels powers of ten only', () => {
    const s: LossSeries = { name: 'l', points: [[0, 1e-6], [1, 1e3]] };
    const labels = ticks(lossCurveSvg([s], { ...OPTS, logY: true }), 'y').map((t) => t.label);
    expect(labels.length).toBeGreaterThanOrEqual(4);
    expect(labels.length).toBeLessThanOrEqual(11);
    for (const l of labels) expect(Math.log10(Number(l)) % 1, l).toBeCloseTo(0, 9);
    expect(Number(labels[0])).toBeLessThanOrEqual(1e-6);
    expect(Number(labels[labels.length - 1])).toBeGreaterThanOrEqual(1e3);
  });

  it('a single point is a circle; a constant series a flat line mid-height', () => {
    const one = lossCurveSvg([{ name: 'one', points: [[5, 3.25]] }], OPTS);
    expectWellFormed(one);
    expect(polylines(one)).toHaveLength(0);
    expect(one.match(/<circle class="series"/g)).toHaveLength(1);
    expectNiceTicks(ticks(one, 'y').map((t) => t.label), 3.25, 3.25);

    const flat = lossCurveSvg([{ name: 'flat', points: [[0, 2], [10, 2], [20, 2]] }], OPTS);
    expectWellFormed(flat);
    const [line] = polylines(flat);
    expect(new Set(line.map(([, y]) => y)).size).toBe(1);
    expect(Math.abs(line[0][1] - (BOX.y0 + BOX.y1) / 2)).toBeLessThan(1);
  });

  it('skips NaN and infinite points and joins the rest; all-NaN series say no data', () => {
    const s: LossSeries = { name: 'diverged', points: [[0, 5], [1, NaN], [2, 4], [NaN, 3], [4, Infinity], [5, 3.5]] };
    const svg = lossCurveSvg([s, { name: 'empty', points: [[0, NaN]] }], OPTS);
    expectWellFormed(svg);
    expect(polylines(svg).map((l) => l.length)).toEqual([3]);
    expect(svg).toContain('>empty (no data)</text>');
    const none = lossCurveSvg([], OPTS);
    expectWellFormed(none);
    expect(none).toContain('>no data</text>');
  });

  it('escapes names and labels', () => {
    const svg = lossCurveSvg([{ name: 'a<b & "c"', points: [[0, 1], [1, 2]] }], { ...OPTS, title: 'x > y' });
    expectWellFormed(svg);
    expect(svg).toContain('a&lt;b &amp; &quot;c&quot;');
    expect(svg).toContain('x &gt; y');
  });
});

describe('writeLossCurve', () => {
  it('writes the same SVG atomically, leaving no temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lco-curve-'));
    try {
      const series: LossSeries[] = [{ name: 'train', points: [[0, 3], [1, 2]] }];
      await writeLossCurve(join(dir, 'loss.svg'), series, OPTS);
      expect(await readFile(join(dir, 'loss.svg'), 'utf8')).toBe(lossCurveSvg(series, OPTS));
      expect(await readdir(dir)).toEqual(['loss.svg']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

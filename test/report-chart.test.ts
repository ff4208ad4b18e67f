// The report charts, rendered to PNG by resvg and measured in pixels: bar
// heights in proportion to their values, text actually drawn (DejaVu Sans),
// NaN skipped, XML special characters escaped, the least-squares line through
// collinear points; and markdownTable's exact output.
import { describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { barChart, lineChart, linearFit, scatterChart } from '../src/report/chart.ts';
import { chartFontFiles, svgToPng, writeChartPng } from '../src/report/png.ts';
import { markdownTable } from '../src/report/markdown.ts';
import { PALETTE } from '../src/report/svg-axes.ts';

interface Image {
  width: number;
  height: number;
  data: Buffer;
}

const decode = (bytes: Uint8Array): Image => PNG.sync.read(Buffer.from(bytes));

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/** Does the pixel at (x, y) have this colour (within `tol` per channel)? */
function is(img: Image, x: number, y: number, color: number[], tol = 3): boolean {
  const i = (y * img.width + x) * 4;
  return Math.abs(img.data[i] - color[0]) <= tol && Math.abs(img.data[i + 1] - color[1]) <= tol && Math.abs(img.data[i + 2] - color[2]) <= tol;
}

/** The most pixels of `color` in one column, over columns x0..x1 (a bar's height). */
function tallestColumn(img: Image, color: number[], x0 = 0, x1 = img.width - 1): number {
  let best = 0;
  for (let x = x0; x <= x1; x++) {
    let n = 0;
    for (let y = 0; y < img.height; y++) if (is(img, x, y, color)) n++;
    best = Math.max(best, n);
  }
  return best;
}

function count(img: Image, pred: (r: number, g: number, b: number) => boolean, x0: number, y0: number, x1: number, y1: number): number {
  let n = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const i = (y * img.width + x) * 4;
      if (pred(img.data[i], img.data[i + 1], img.data[i + 2])) n++;
    }
  }
  return n;
}

const dark = (r: number, g: number, b: number) => r < 100 && g < 100 && b < 100;
const BLUE = rgb(PALETTE[0]);
const RED = rgb(PALETTE[1]);
// default 720 × 440: plot box from y 40 to 388 (margins top 40, bottom 52)
const BOX_H = 388 - 40;

describe('barChart -> PNG', () => {
  it('has the SVG size, or the asked width with the aspect kept', () => {
    const svg = barChart({ title: 't', yLabel: 'y', groups: ['a'], series: [{ name: 's', values: [1] }] });
    const img = decode(svgToPng(svg));
    expect([img.width, img.height]).toEqual([720, 440]);
    const half = decode(svgToPng(svg, { width: 360 }));
    expect([half.width, half.height]).toEqual([360, 220]);
    expect(() => svgToPng(svg, { width: 0 })).toThrow(RangeError);
  });

  it('draws bars whose heights follow their values', () => {
    // fixed 0..1: the 1 bar fills the box height, the 0.5 bar half of it
    const fixed = decode(svgToPng(barChart({ title: 't', yLabel: 'y', groups: ['g'], series: [{ name: 'one', values: [1] }, { name: 'half', values: [0.5] }], yMin: 0, yMax: 1 })));
    const tall = tallestColumn(fixed, BLUE);
    const short = tallestColumn(fixed, RED);
    expect(Math.abs(tall - BOX_H)).toBeLessThanOrEqual(2);
    expect(Math.abs(short - BOX_H / 2)).toBeLessThanOrEqual(2);
    // a free domain (0 up to nice ticks above the labels): still 2 : 1, and shorter than the box
    const free = decode(svgToPng(barChart({ title: 't', yLabel: 'y', groups: ['a', 'b'], series: [{ name: 'one', values: [1, NaN] }, { name: 'half', values: [NaN, 0.5] }] })));
    const a = tallestColumn(free, BLUE);
    const b = tallestColumn(free, RED);
    expect(a).toBeLessThan(BOX_H - 10);
    expect(a).toBeGreaterThan(BOX_H / 2);
    expect(Math.abs(a - 2 * b)).toBeLessThanOrEqual(3);
  });

  it('renders text: the title, the value labels', () => {
    expect(chartFontFiles(), 'DejaVu Sans (fonts-dejavu-core, scripts/setup-webgpu.sh installs it)').toHaveLength(1);
    const withTitle = decode(svgToPng(barChart({ title: 'A chart title', yLabel: 'y', groups: ['g'], series: [{ name: 's', values: [0.25] }] })));
    const blank = decode(svgToPng(barChart({ title: '', yLabel: 'y', groups: ['g'], series: [{ name: 's', values: [0.25] }] })));
    // title region: centred at x 360, baseline y 22, 15 px
    expect(count(withTitle, dark, 250, 5, 470, 27)).toBeGreaterThan(80);
    expect(count(blank, dark, 250, 5, 470, 27)).toBe(0);
    const svg = barChart({ title: 't', yLabel: 'y', groups: ['g'], series: [{ name: 's', values: [0.25] }] });
    expect(svg).toContain('>0.250</text>');
  });

  it('skips NaN and infinite values: no bar, no label, nothing non-finite in the SVG', () => {
    const svg = barChart({ title: 't', yLabel: 'y', groups: ['a', 'b', 'c'], series: [{ name: 's', values: [1, NaN, Infinity] }] });
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
    const bars = svg.match(/<g class="bars">([\s\S]*?)<\/g>/)![1];
    expect(bars.match(/<rect/g)).toHaveLength(1);
    expect(svg.match(/<g class="bar-values"[^>]*>([\s\S]*?)<\/g>/)![1].match(/<text/g)).toHaveLength(1);
    const img = decode(svgToPng(svg));
    // slots: box x 72 .. (720 - legend) split in three; the middle and right slots hold no blue
    const x1 = Number(svg.match(/<rect class="axes" x="72" y="40" width="([\d.]+)"/)![1]) + 72;
    const slot = (x1 - 72) / 3;
    expect(tallestColumn(img, BLUE, 72, Math.floor(72 + slot))).toBeGreaterThan(100);
    expect(tallestColumn(img, BLUE, Math.ceil(72 + slot), Math.floor(x1))).toBe(0);
    // all NaN: a frame saying "no data"
    const none = barChart({ title: 't', yLabel: 'y', groups: ['a'], series: [{ name: 's', values: [NaN] }] });
    expect(none).toContain('>no data</text>');
    expect(decode(svgToPng(none)).width).toBe(720);
  });

  it('escapes XML special characters so resvg parses the SVG', () => {
    const nasty = `a < b & "c" > 'd' \u0001`;
    const svg = barChart({ title: nasty, yLabel: nasty, xLabel: nasty, note: nasty, groups: [nasty], series: [{ name: nasty, values: [0.5] }] });
    expect(svg).toContain('a &lt; b &amp; &quot;c&quot; &gt; \'d\' ');
    expect(svg).not.toContain('\u0001');
    const img = decode(svgToPng(svg));
    expect(count(img, dark, 200, 5, 520, 27)).toBeGreaterThan(50);
    expect(() => svgToPng('<svg xmlns="http://www.w3.org/2000/svg"><text>a < b</text></svg>')).toThrow(/could not parse/);
  });

  it('cuts bars at a fixed yMax and puts their label inside; rejects bad input', () => {
    const svg = barChart({ title: 't', yLabel: 'y', groups: ['g'], series: [{ name: 's', values: [3] }], yMin: 0, yMax: 1 });
    expect(svg).toMatch(/<text [^>]*fill="white">3.000<\/text>/);
    expect(Math.abs(tallestColumn(decode(svgToPng(svg)), BLUE) - BOX_H)).toBeLessThanOrEqual(2);
    expect(() => barChart({ title: 't', yLabel: 'y', groups: ['a', 'b'], series: [{ name: 'short', values: [1] }] })).toThrow(/series 0 \("short"\) has 1 values, expected one per group \(2\)/);
    expect(() => barChart({ title: 't', yLabel: 'y', groups: ['a'], series: [{ name: 's', values: [1] }], yMin: 1, yMax: 1 })).toThrow(RangeError);
  });
});

describe('lineChart', () => {
  it('draws a marker per finite point, joins them, and ticks whole layers', () => {
    const svg = lineChart({
      title: 'anisotropy',
      xLabel: 'layer',
      yLabel: 'mean cos',
      series: [
        { name: 'text', points: [[0, 0.2], [1, 0.3], [2, NaN], [3, 0.5]] },
        { name: 'image', points: [[0, 0.9], [1, 0.8], [2, 0.7], [3, 0.6]] },
      ],
    });
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
    const lines = [...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)].map((m) => m[1].split(' ').length);
    expect(lines).toEqual([3, 4]);
    expect(svg.match(/<circle class="marker"/g)).toHaveLength(7);
    const xTicks = [...svg.match(/<g class="x-ticks"[^>]*>([\s\S]*?)<\/g>/)![1].matchAll(/>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(xTicks).toEqual(['0', '1', '2', '3']);
    const img = decode(svgToPng(svg));
    expect(count(img, (r, g, b) => Math.abs(r - BLUE[0]) < 4 && Math.abs(g - BLUE[1]) < 4 && Math.abs(b - BLUE[2]) < 4, 72, 40, 700, 388)).toBeGreaterThan(100);
  });
});

describe('scatterChart', () => {
  const points = [
    { x: 0.1, y: 1.2, label: 'p1', series: 'a' },
    { x: 0.3, y: 1.6, series: 'a' },
    { x: 0.6, y: 2.2, label: 'p<3>', series: 'b' },
    { x: 0.9, y: 2.8, series: 'b' },
    { x: NaN, y: 5, series: 'a' },
  ];

  it('draws the least-squares line through collinear points when fit is on', () => {
    const svg = scatterChart({ title: 's', xLabel: 'x', yLabel: 'y', points, fit: true, note: 'Pearson r = 1.00, Spearman ρ = 1.00' });
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
    expect(svg.match(/<g class="points">([\s\S]*?)<\/g>/)![1].match(/<circle/g)).toHaveLength(4);
    expect(svg).toContain('>p&lt;3&gt;</text>');
    expect(svg).toContain('>Pearson r = 1.00, Spearman ρ = 1.00</text>');
    expect(svg).toContain('>fit: y = 1 + 2 x</text>');
    const [x1, y1, x2, y2] = svg.match(/<line class="fit" x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)"/)!.slice(1).map(Number);
    // every point centre lies on the fit segment (y = 1 + 2x exactly)
    for (const m of svg.match(/<g class="points">([\s\S]*?)<\/g>/)![1].matchAll(/cx="([\d.]+)" cy="([\d.]+)"/g)) {
      const [cx, cy] = [Number(m[1]), Number(m[2])];
      const cross = (x2 - x1) * (cy - y1) - (y2 - y1) * (cx - x1);
      expect(Math.abs(cross) / Math.hypot(x2 - x1, y2 - y1)).toBeLessThan(0.3);
    }
    // in pixels: the dark dashed line adds dark pixels inside the box
    const dim = (s: string) => count(decode(svgToPng(s)), dark, 75, 60, 500, 385);
    const withFit = dim(svg);
    const without = dim(scatterChart({ title: 's', xLabel: 'x', yLabel: 'y', points, note: 'Pearson r = 1.00, Spearman ρ = 1.00' }));
    expect(withFit - without).toBeGreaterThan(150);
  });

  it('colours points by series with a legend, and fits nothing through fewer than 2 distinct x', () => {
    const svg = scatterChart({ title: 's', xLabel: 'x', yLabel: 'y', points });
    expect(svg).toMatch(/<g class="legend">[\s\S]*>a<[\s\S]*>b</);
    expect(svg).not.toContain('class="fit"');
    const img = decode(svgToPng(svg));
    expect(tallestColumn(img, BLUE)).toBeGreaterThan(0);
    expect(tallestColumn(img, RED)).toBeGreaterThan(0);
    const flat = scatterChart({ title: 's', xLabel: 'x', yLabel: 'y', points: [{ x: 1, y: 1 }, { x: 1, y: 2 }], fit: true });
    expect(flat).not.toContain('class="fit"');
    expect(linearFit([1, 1], [1, 2])).toBeNull();
    const f = linearFit([0, 1, 2, 3], [1, 2.9, 5.1, 7])!;
    expect(f.slope).toBeCloseTo(2.02, 10);
    expect(f.intercept).toBeCloseTo(0.97, 10);
  });
});

describe('writeChartPng', () => {
  it('writes the PNG atomically, leaving no temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lco-chart-'));
    try {
      const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [[0, 1], [1, 2]] }] });
      await writeChartPng(join(dir, 'c.png'), svg);
      const bytes = await readFile(join(dir, 'c.png'));
      expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(decode(bytes).width).toBe(720);
      expect(await readdir(dir)).toEqual(['c.png']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('markdownTable', () => {
  it('pads, aligns numbers right, fixes decimals, escapes pipes', () => {
    const md = markdownTable(
      ['model', 'R@1', 'n', 'note'],
      [
        ['base', 0.51234, 100, 'a|b'],
        ['lco', NaN, 2000, 'two\nlines'],
        ['x', -0.00001, 3, ''],
      ],
      { digits: [3, 3, 0, 3] },
    );
    expect(md).toBe(
      [
        '| model |   R@1 |    n | note      |',
        '| :---- | ----: | ---: | :-------- |',
        '| base  | 0.512 |  100 | a\\|b      |',
        '| lco   |   n/a | 2000 | two lines |',
        '| x     | 0.000 |    3 |           |',
        '',
      ].join('\n'),
    );
    expect(markdownTable(['a', 'b'], [[1.5, 'x']], { align: ['l', 'r'], digits: 1 })).toBe('| a   |   b |\n| :-- | --: |\n| 1.5 |   x |\n');
    expect(() => markdownTable(['a', 'b'], [[1]])).toThrow(/row 0 has 1 cells, expected 2/);
  });
});

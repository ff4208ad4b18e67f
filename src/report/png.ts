// SVG -> PNG for the report folder, with resvg (@resvg/resvg-js: the Rust
// renderer, prebuilt per platform in the npm package; no browser, no Cairo).
//
// Fonts: resvg draws no text without a font, and its generic "sans-serif"
// maps to "Arial" by default. On a machine without Arial, loading the system
// fonts alone picks whatever family comes first (on Debian with only
// fonts-dejavu-core that is "DejaVu Math TeX Gyre"), so we name DejaVu Sans as
// both the default and the sans-serif family, and pass its file explicitly
// when it sits in one of the usual places (scripts/setup-webgpu.sh installs
// fonts-dejavu-core on Debian). Without any font the PNG is still written, with
// the shapes and no text.
import { existsSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import { writeFileAtomic } from '../io/safetensors.ts';

/** Where DejaVu Sans lives on Debian/Ubuntu, Fedora, Arch and Alpine. */
const DEJAVU_SANS = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
];

let fontFilesCache: string[] | undefined;

/** The DejaVu Sans files found (the first existing path), looked up once per process. */
export function chartFontFiles(): string[] {
  fontFilesCache ??= DEJAVU_SANS.filter((p) => existsSync(p)).slice(0, 1);
  return fontFilesCache;
}

export interface SvgToPngOptions {
  /** Output width in pixels (height follows the aspect ratio); default the SVG's own width. */
  width?: number;
}

/** Rasterises an SVG document to PNG bytes. Throws when the SVG does not parse. */
export function svgToPng(svg: string, opts: SvgToPngOptions = {}): Uint8Array {
  if (opts.width !== undefined && !(Number.isInteger(opts.width) && opts.width > 0 && opts.width <= 16384)) {
    throw new RangeError(`svgToPng: width ${opts.width} is not a whole number of pixels in 1..16384`);
  }
  let renderer: Resvg;
  try {
    renderer = new Resvg(svg, {
      fitTo: opts.width === undefined ? { mode: 'original' } : { mode: 'width', value: opts.width },
      font: {
        fontFiles: chartFontFiles(),
        loadSystemFonts: true,
        defaultFontFamily: 'DejaVu Sans',
        sansSerifFamily: 'DejaVu Sans',
      },
      logLevel: 'off',
    });
  } catch (err) {
    throw new Error(`svgToPng: resvg could not parse the SVG (${(err as Error).message})`, { cause: err });
  }
  return new Uint8Array(renderer.render().asPng());
}

/** Renders the SVG and writes the PNG atomically (temp file, fsync, rename). */
export async function writeChartPng(path: string, svg: string, opts: SvgToPngOptions = {}): Promise<void> {
  await writeFileAtomic(path, svgToPng(svg, opts));
}

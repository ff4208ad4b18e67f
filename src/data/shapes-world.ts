// A synthetic image-caption world for omnimodal embeddings (issue 5):
// rendered scenes of coloured shapes, several true captions per scene,
// composed queries (image + modifying text -> edited image) and
// train/validation/test splits by scene. Everything is made on the fly from
// a seed; nothing is downloaded.
//
// Scene. 1..4 objects on a black background, at most one per cell of a 3x3
// grid (rows top/middle/bottom, columns left/center/right). An object is
//   (shape, colour, size, row, col, dx, dy)
// shape in SHAPES, colour in COLOURS (PALETTE gives its RGB), size small or
// large. All coordinates are fractions of the canvas side, y down:
//   centre (cx, cy) = ((col + 1/2) / 3 + dx, (row + 1/2) / 3 + dy)
//   every shape lies in the box [cx - R, cx + R] x [cy - R, cy + R], R = RADIUS[size]
//   |dx|, |dy| <= 1/6 - R - MARGIN          (jitterBound)
// so the box stays MARGIN inside its cell: objects never overlap and never
// leave the canvas, by construction (validateScene checks it). Within a
// scene no two objects share (colour, shape), so "the red circle" always
// names one object and a composed edit is never ambiguous.
//
// Scene id = its content without jitter: one "<cell><shape><colour><size>"
// code per object in reading order (cell = 3 row + col), joined by ".":
//   "0Crl.5Sbs" = a large red circle top left, a small blue square middle right.
// A world holds no two scenes with one id. splitOf hashes the id, so scenes
// that look the same (or a composed query's target) can never fall in two
// splits: 80% train, 10% validation, 10% test.
//
// Captions (describeScene, five per scene, in this order; the lists follow
// reading order):
//   0 every object in full           "a large red circle and a small blue square"
//   1 count + colour and shape       "two shapes: a red circle and a blue square"
//   2 shapes counted                 "a circle and two squares"
//   3 a relation between two objects "a red circle to the left of a blue square"
//     (one object: "only a red circle")
//   4 one object and its cell        "a small blue square in the middle right"
// Lists (0, 1, 2 and "only") are exhaustive: they name every object. A
// relation holds between grid cells: a is left of b when col(a) < col(b),
// above when row(a) < row(b). captionIsTrue parses this grammar and checks a
// caption against a scene.
//
// Composed queries (composeQueries): a source scene and an edit text, whose
// target is applyEdit(source, text):
//   recolour "make the red circle blue"      resize  "make the circle large"
//   reshape  "turn the circle into a square" move    "move the circle to the bottom left"
//   remove   "remove the red circle"         add     "add a small white cross in the center"
// An object is named by its shape alone when the shape is unique in the
// scene, else by colour and shape. Moved and added objects sit at their cell's
// centre (dx = dy = 0); a resized object's offset is clamped to its new
// bound. A query keeps to its source's split: its target is drawn among
// edits whose target id hashes to the same split.
//
// Images (renderScene): RGB, [size, size, 3] row-major, default 48x48 (a
// 16x16 patch is one grid cell; the small shapes are ~8 px across, which
// is as small as a triangle and a cross stay told apart). Each pixel is
// point-sampled at samples x samples sub-pixel points (default 4x4) and
// blended by coverage:
//   pixel = round(background (1 - c) + colour c),  c = covered samples / samples^2
// Plain float64 arithmetic in a fixed order: the same scene gives the same
// bytes on every machine.
import { rng } from '../doctor/compare.ts';

export const SHAPES = ['circle', 'square', 'triangle', 'diamond', 'cross'] as const;
export type Shape = (typeof SHAPES)[number];
const SHAPE_PLURAL: Record<Shape, string> = {
  circle: 'circles', square: 'squares', triangle: 'triangles', diamond: 'diamonds', cross: 'crosses',
};
const SHAPE_CODE: Record<Shape, string> = { circle: 'C', square: 'S', triangle: 'T', diamond: 'D', cross: 'X' };

export const COLOURS = ['red', 'orange', 'yellow', 'green', 'cyan', 'blue', 'purple', 'white'] as const;
export type Colour = (typeof COLOURS)[number];
/** sRGB of each colour: far apart from each other and from the black background. */
export const PALETTE: Record<Colour, readonly [number, number, number]> = {
  red: [230, 40, 40], orange: [245, 140, 20], yellow: [240, 220, 30], green: [40, 180, 60],
  cyan: [40, 210, 220], blue: [40, 80, 230], purple: [150, 60, 200], white: [240, 240, 240],
};
const COLOUR_CODE: Record<Colour, string> = {
  red: 'r', orange: 'o', yellow: 'y', green: 'g', cyan: 'c', blue: 'b', purple: 'p', white: 'w',
};
export const BACKGROUND: readonly [number, number, number] = [0, 0, 0];

export const SIZES = ['small', 'large'] as const;
export type Size = (typeof SIZES)[number];
/** Half the side of an object's box, as a fraction of the canvas side (a cell is 1/3). */
export const RADIUS: Record<Size, number> = { small: 0.08, large: 0.14 };
const SIZE_CODE: Record<Size, string> = { small: 's', large: 'l' };
/** Least gap between an object's box and its cell's border (~1 px at 48). */
export const MARGIN = 0.02;

export const ROWS = ['top', 'middle', 'bottom'] as const;
export const COLUMNS = ['left', 'center', 'right'] as const;
export const COUNT_WORDS = ['zero', 'one', 'two', 'three', 'four'] as const;
export const MAX_OBJECTS = 4;
export const DEFAULT_IMAGE_SIZE = 48;
export const CAPTIONS_PER_SCENE = 5;

export type Split = 'train' | 'validation' | 'test';
export const SPLITS: readonly Split[] = ['train', 'validation', 'test'];

export interface ShapeObject {
  shape: Shape;
  colour: Colour;
  size: Size;
  /** Grid cell, 0..2 each. */
  row: number;
  col: number;
  /** Offset of the centre from the cell's centre, fractions of the canvas side. */
  dx: number;
  dy: number;
}

export interface Scene {
  /** The content key (see the header); objects are in reading order. */
  id: string;
  objects: ShapeObject[];
}

export class ShapesWorldError extends Error {
  override name = 'ShapesWorldError';
}
/** A caption outside the caption grammar. */
export class CaptionError extends ShapesWorldError {
  override name = 'CaptionError';
}
/** An edit text outside the edit grammar, or one that names no object, or makes an invalid scene. */
export class EditError extends ShapesWorldError {
  override name = 'EditError';
}

// ---------------------------------------------------------------- hashing

/** murmur3's 32-bit finaliser: a bijection that mixes every input bit into every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uint32 seed from a list of integers (world seed, scene index, purpose, ...). */
export function seedOf(...parts: number[]): number {
  let h = 0x2545f491;
  for (const p of parts) h = fmix32((Math.imul(h, 31) ^ (p >>> 0)) >>> 0);
  return h;
}

/** FNV-1a over UTF-16 code units, then fmix32 (FNV alone is weak in its high bits for short keys). */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return fmix32(h);
}

/** train / validation / test as 80 / 10 / 10 by a hash of the scene id. */
export function splitOf(sceneId: string): Split {
  const u = hashString(sceneId) / 2 ** 32;
  return u < 0.8 ? 'train' : u < 0.9 ? 'validation' : 'test';
}

// ---------------------------------------------------------------- scenes

/** Largest |dx| and |dy| that keep an object's box MARGIN inside its cell. */
export function jitterBound(size: Size): number {
  return 1 / 6 - RADIUS[size] - MARGIN;
}

function objectCode(o: ShapeObject): string {
  return `${3 * o.row + o.col}${SHAPE_CODE[o.shape]}${COLOUR_CODE[o.colour]}${SIZE_CODE[o.size]}`;
}

/** Objects sorted into reading order, with their content id. */
export function makeScene(objects: readonly ShapeObject[]): Scene {
  const sorted = objects.map((o) => ({ ...o })).sort((a, b) => 3 * a.row + a.col - (3 * b.row + b.col));
  const scene = { id: sorted.map(objectCode).join('.'), objects: sorted };
  validateScene(scene);
  return scene;
}

/** Throws ShapesWorldError naming the scene and object when an invariant of the header fails. */
export function validateScene(scene: Scene): void {
  const at = (i: number) => `scene ${scene.id}: object ${i}`;
  const n = scene.objects.length;
  if (n < 1 || n > MAX_OBJECTS) throw new ShapesWorldError(`scene ${scene.id}: ${n} objects, expected 1..${MAX_OBJECTS}`);
  scene.objects.forEach((o, i) => {
    if (!SHAPES.includes(o.shape)) throw new ShapesWorldError(`${at(i)}: shape ${JSON.stringify(o.shape)}, expected one of ${SHAPES.join(', ')}`);
    if (!COLOURS.includes(o.colour)) throw new ShapesWorldError(`${at(i)}: colour ${JSON.stringify(o.colour)}, expected one of ${COLOURS.join(', ')}`);
    if (!SIZES.includes(o.size)) throw new ShapesWorldError(`${at(i)}: size ${JSON.stringify(o.size)}, expected small or large`);
    for (const [k, v] of [['row', o.row], ['col', o.col]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 2) throw new ShapesWorldError(`${at(i)}: ${k} ${v}, expected 0, 1 or 2`);
    }
    const j = jitterBound(o.size) + 1e-12;
    if (!(Math.abs(o.dx) <= j && Math.abs(o.dy) <= j)) {
      throw new ShapesWorldError(`${at(i)}: offset (${o.dx}, ${o.dy}) leaves its cell; |dx|, |dy| must be <= ${jitterBound(o.size)} for a ${o.size} shape`);
    }
    for (let k = 0; k < i; k++) {
      const p = scene.objects[k];
      if (p.row === o.row && p.col === o.col) throw new ShapesWorldError(`${at(i)}: shares cell (${o.row}, ${o.col}) with object ${k}`);
      if (p.shape === o.shape && p.colour === o.colour) throw new ShapesWorldError(`${at(i)}: a second ${o.colour} ${o.shape} (object ${k})`);
    }
  });
}

/** The object codes of an id, back to objects at their cells' centres. */
export function parseSceneId(id: string): Scene {
  const shapeOf = Object.fromEntries(SHAPES.map((s) => [SHAPE_CODE[s], s])) as Record<string, Shape>;
  const colourOf = Object.fromEntries(COLOURS.map((c) => [COLOUR_CODE[c], c])) as Record<string, Colour>;
  const sizeOf = Object.fromEntries(SIZES.map((s) => [SIZE_CODE[s], s])) as Record<string, Size>;
  const objects = id.split('.').map((code, i) => {
    const m = /^([0-8])(.)(.)(.)$/.exec(code);
    if (!m || !shapeOf[m[2]] || !colourOf[m[3]] || !sizeOf[m[4]]) {
      throw new ShapesWorldError(`scene id ${JSON.stringify(id)}: object ${i} code ${JSON.stringify(code)}, expected <cell 0-8><shape CSTDX><colour roygcbpw><size sl>`);
    }
    const cell = Number(m[1]);
    return { shape: shapeOf[m[2]], colour: colourOf[m[3]], size: sizeOf[m[4]], row: Math.floor(cell / 3), col: cell % 3, dx: 0, dy: 0 };
  });
  const scene = makeScene(objects);
  if (scene.id !== id) throw new ShapesWorldError(`scene id ${JSON.stringify(id)}: objects out of reading order (expected ${scene.id})`);
  return scene;
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

/** A random scene: 1..4 objects (uniform), distinct cells, distinct (colour, shape), uniform size and jitter. */
export function randomScene(seed: number): Scene {
  const r = rng(seed);
  const n = 1 + Math.floor(r() * MAX_OBJECTS);
  const cells = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const objects: ShapeObject[] = [];
  for (let i = 0; i < n; i++) {
    const k = i + Math.floor(r() * (9 - i)); // partial Fisher-Yates: cells[i] is a fresh cell
    [cells[i], cells[k]] = [cells[k], cells[i]];
    let shape: Shape, colour: Colour;
    do {
      shape = pick(r, SHAPES);
      colour = pick(r, COLOURS);
    } while (objects.some((o) => o.shape === shape && o.colour === colour));
    const size = pick(r, SIZES);
    const j = jitterBound(size);
    objects.push({ shape, colour, size, row: Math.floor(cells[i] / 3), col: cells[i] % 3, dx: (2 * r() - 1) * j, dy: (2 * r() - 1) * j });
  }
  return makeScene(objects);
}

/** Centre of an object, fractions of the canvas side. */
export function centreOf(o: ShapeObject): [number, number] {
  return [(o.col + 0.5) / 3 + o.dx, (o.row + 0.5) / 3 + o.dy];
}

// ---------------------------------------------------------------- rendering

/** Whether (x, y), relative to the centre, is inside a shape of half-size r. */
export function insideShape(shape: Shape, x: number, y: number, r: number): boolean {
  switch (shape) {
    case 'circle': return x * x + y * y <= r * r;
    case 'square': return Math.abs(x) <= 0.8 * r && Math.abs(y) <= 0.8 * r;
    // Apex (0, -r), base from (-r, 0.8 r) to (r, 0.8 r): half-width (y + r) / 1.8.
    case 'triangle': return y >= -r && y <= 0.8 * r && Math.abs(x) <= (y + r) / 1.8;
    case 'diamond': return Math.abs(x) + Math.abs(y) <= r;
    // A plus sign, arms 0.8 r wide.
    case 'cross': {
      const ax = Math.abs(x), ay = Math.abs(y);
      return (ax <= 0.4 * r && ay <= r) || (ay <= 0.4 * r && ax <= r);
    }
  }
}

export interface RenderOptions {
  /** Sub-pixel samples per axis (1 = no anti-aliasing). Default 4. */
  samples?: number;
}

/** RGB bytes [size, size, 3], row-major; see the header for the sampling. */
export function renderScene(scene: Scene, size = DEFAULT_IMAGE_SIZE, opts: RenderOptions = {}): Uint8Array {
  const s = opts.samples ?? 4;
  if (!Number.isInteger(size) || size < 3) throw new ShapesWorldError(`renderScene ${scene.id}: size ${size}, expected an integer >= 3`);
  if (!Number.isInteger(s) || s < 1 || s > 16) throw new ShapesWorldError(`renderScene ${scene.id}: samples ${s}, expected an integer in 1..16`);
  const img = new Uint8Array(size * size * 3);
  for (let p = 0; p < size * size; p++) img.set(BACKGROUND, 3 * p);
  for (const o of scene.objects) {
    const [cx, cy] = centreOf(o);
    const r = RADIUS[o.size];
    const rgb = PALETTE[o.colour];
    const x0 = Math.max(0, Math.floor((cx - r) * size)), x1 = Math.min(size, Math.ceil((cx + r) * size));
    const y0 = Math.max(0, Math.floor((cy - r) * size)), y1 = Math.min(size, Math.ceil((cy + r) * size));
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) {
        let hits = 0;
        for (let j = 0; j < s; j++) {
          const y = (py + (j + 0.5) / s) / size - cy;
          for (let i = 0; i < s; i++) if (insideShape(o.shape, (px + (i + 0.5) / s) / size - cx, y, r)) hits++;
        }
        if (hits === 0) continue;
        const c = hits / (s * s);
        // Blend over what is there: boxes are disjoint, so that is the background.
        for (let k = 0; k < 3; k++) {
          const q = 3 * (py * size + px) + k;
          img[q] = Math.round(img[q] * (1 - c) + rgb[k] * c);
        }
      }
    }
  }
  return img;
}

/** A binary PPM (P6) file of RGB bytes [height, width, 3]. */
export function encodePpm(rgb: Uint8Array, width: number, height: number): Uint8Array {
  if (rgb.length !== width * height * 3) throw new ShapesWorldError(`encodePpm: ${rgb.length} bytes, expected ${width} x ${height} x 3 = ${width * height * 3}`);
  const header = new TextEncoder().encode(`P6\n${width} ${height}\n255\n`);
  const out = new Uint8Array(header.length + rgb.length);
  out.set(header);
  out.set(rgb, header.length);
  return out;
}

// ---------------------------------------------------------------- captions

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

function phrase(o: ShapeObject, withSize: boolean, withColour: boolean): string {
  const words = [...(withSize ? [o.size] : []), ...(withColour ? [o.colour] : []), o.shape];
  return `${article(words[0])} ${words.join(' ')}`;
}

function list(items: readonly string[]): string {
  return items.length === 1 ? items[0] : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function cellPhrase(row: number, col: number): string {
  return row === 1 && col === 1 ? 'center' : `${ROWS[row]} ${COLUMNS[col]}`;
}

/** The true relations "a <rel> b" between two objects of a scene (see the header). */
function relations(a: ShapeObject, b: ShapeObject): string[] {
  const out: string[] = [];
  if (a.col !== b.col) out.push(a.col < b.col ? 'to the left of' : 'to the right of');
  if (a.row !== b.row) out.push(a.row < b.row ? 'above' : 'below');
  return out;
}

/** The five captions of a scene, in the header's order; seed picks the pair, relation and object of 3 and 4. */
export function describeScene(scene: Scene, seed = 0): string[] {
  const r = rng(seed);
  const objs = scene.objects;
  const n = objs.length;
  const full = list(objs.map((o) => phrase(o, true, true)));
  const counted = `${COUNT_WORDS[n]} ${n === 1 ? 'shape' : 'shapes'}: ${list(objs.map((o) => phrase(o, false, true)))}`;
  const shapes = list(SHAPES.flatMap((s) => {
    const k = objs.filter((o) => o.shape === s).length;
    return k === 0 ? [] : [k === 1 ? `${article(s)} ${s}` : `${COUNT_WORDS[k]} ${SHAPE_PLURAL[s]}`];
  }));
  let relation: string;
  if (n === 1) relation = `only ${phrase(objs[0], false, true)}`;
  else {
    const i = Math.floor(r() * n);
    const j = (i + 1 + Math.floor(r() * (n - 1))) % n; // any other object
    relation = `${phrase(objs[i], false, true)} ${pick(r, relations(objs[i], objs[j]))} ${phrase(objs[j], false, true)}`;
  }
  const o = pick(r, objs);
  const position = `${phrase(o, true, true)} in the ${cellPhrase(o.row, o.col)}`;
  return [full, counted, shapes, relation, position];
}

/** Words and the punctuation ":" and "," of a caption or edit text. */
export function wordsOf(text: string): string[] {
  return text.replace(/([:,])/g, ' $1').split(' ').filter((w) => w.length > 0);
}

/** Every word and punctuation mark a caption or edit text can hold, sorted. */
export function vocabulary(): string[] {
  const words = new Set<string>([
    'a', 'an', 'and', ':', ',', 'only', 'in', 'the', 'to', 'of', 'left', 'right', 'above', 'below',
    'shape', 'shapes', 'make', 'turn', 'into', 'move', 'remove', 'add',
    ...SHAPES, ...SHAPES.map((s) => SHAPE_PLURAL[s]), ...COLOURS, ...SIZES, ...ROWS, ...COLUMNS, ...COUNT_WORDS.slice(1),
  ]);
  return [...words].sort();
}

/** A noun phrase's constraints: what an object must be to match it. */
interface Spec {
  shape: Shape;
  colour?: Colour;
  size?: Size;
}

function matches(o: ShapeObject, s: Spec): boolean {
  return o.shape === s.shape && (s.colour === undefined || o.colour === s.colour) && (s.size === undefined || o.size === s.size);
}

/** Whether the specs name the objects one to one (a perfect matching; n <= 4, so by search). */
function exhaustive(objs: readonly ShapeObject[], specs: readonly Spec[]): boolean {
  if (specs.length !== objs.length) return false;
  const used = new Array<boolean>(objs.length).fill(false);
  const go = (k: number): boolean => {
    if (k === specs.length) return true;
    for (let i = 0; i < objs.length; i++) {
      if (used[i] || !matches(objs[i], specs[k])) continue;
      used[i] = true;
      if (go(k + 1)) return true;
      used[i] = false;
    }
    return false;
  };
  return go(0);
}

/** A cursor over the words of a text, for the caption and edit grammars. */
class Words {
  private i = 0;
  private readonly w: string[];
  readonly text: string;
  private readonly fail: (msg: string) => Error;
  constructor(text: string, fail: (msg: string) => Error) {
    this.text = text;
    this.fail = fail;
    this.w = wordsOf(text);
  }
  peek(k = 0): string | undefined { return this.w[this.i + k]; }
  get done(): boolean { return this.i >= this.w.length; }
  next(what: string): string {
    const w = this.w[this.i];
    if (w === undefined) throw this.error(`expected ${what}, found the end`);
    this.i++;
    return w;
  }
  take(...expected: string[]): void {
    for (const e of expected) if (this.next(`"${e}"`) !== e) this.back(`expected "${e}"`);
  }
  one<T extends string>(xs: readonly T[], what: string): T {
    const w = this.next(what);
    if (!(xs as readonly string[]).includes(w)) this.back(`expected ${what}`);
    return w as T;
  }
  end(): void { if (!this.done) throw this.error('expected the end'); }
  back(msg: string): never {
    this.i--;
    throw this.error(msg);
  }
  error(msg: string): Error {
    const at = this.w[this.i] === undefined ? 'the end' : `word ${this.i + 1} ("${this.w[this.i]}")`;
    return this.fail(`${JSON.stringify(this.text)}: ${msg} at ${at}`);
  }
}

/** "a"/"an" [size] [colour] shape, the article agreeing with the next word. */
function nounPhrase(w: Words): Spec {
  const art = w.one(['a', 'an'], '"a" or "an"');
  const first = w.peek();
  if (first !== undefined && article(first) !== art) throw w.error(`"${art}" before "${first}"`);
  const spec: Spec = { shape: 'circle' };
  if ((SIZES as readonly string[]).includes(w.peek() ?? '')) spec.size = w.one(SIZES, 'a size');
  if ((COLOURS as readonly string[]).includes(w.peek() ?? '')) spec.colour = w.one(COLOURS, 'a colour');
  spec.shape = w.one(SHAPES, 'a shape');
  return spec;
}

/** A list item: a noun phrase, or "<two..four> <shapes>" (that many of the shape). */
function listItem(w: Words): Spec[] {
  const k = COUNT_WORDS.indexOf(w.peek() as (typeof COUNT_WORDS)[number]);
  if (k < 2) return [nounPhrase(w)];
  w.next('a count');
  const plural = w.one(SHAPES.map((s) => SHAPE_PLURAL[s]), 'a plural shape');
  const shape = SHAPES.find((s) => SHAPE_PLURAL[s] === plural)!;
  return new Array<Spec>(k).fill({ shape });
}

/** item ("," item)* "and" item, after a first item already read. */
function listRest(w: Words, first: Spec[]): Spec[] {
  const specs = [...first];
  while (w.peek() === ',') {
    w.next('","');
    specs.push(...listItem(w));
    if (w.peek() !== ',' && w.peek() !== 'and') throw w.error('expected "," or "and" in a list');
  }
  if (w.peek() === 'and') {
    w.next('"and"');
    specs.push(...listItem(w));
  }
  return specs;
}

function cell(w: Words): [number, number] {
  if (w.peek() === 'center') {
    w.next('a cell');
    return [1, 1];
  }
  const row = ROWS.indexOf(w.one(ROWS, 'top, middle or bottom'));
  const col = COLUMNS.indexOf(w.one(COLUMNS, 'left, center or right'));
  if (row === 1 && col === 1) w.back('"middle center" is written "center"');
  return [row, col];
}

/**
 * Whether a caption of the header's grammar is true of a scene. Throws
 * CaptionError (with the word at fault) for a text outside the grammar.
 */
export function captionIsTrue(scene: Scene, caption: string): boolean {
  const w = new Words(caption, (m) => new CaptionError(`caption ${m}`));
  const objs = scene.objects;
  const first = w.peek();
  if (first === 'only') {
    w.next('"only"');
    const spec = nounPhrase(w);
    w.end();
    return exhaustive(objs, [spec]);
  }
  const k = COUNT_WORDS.indexOf(first as (typeof COUNT_WORDS)[number]);
  if (k >= 1 && (w.peek(1) === 'shape' || w.peek(1) === 'shapes')) {
    w.next('a count');
    w.take(k === 1 ? 'shape' : 'shapes', ':');
    const specs = listRest(w, listItem(w));
    w.end();
    return objs.length === k && exhaustive(objs, specs);
  }
  const head = listItem(w);
  if (head.length === 1 && !w.done && w.peek() !== ',' && w.peek() !== 'and') {
    const a = head[0];
    if (w.peek() === 'in') {
      w.take('in', 'the');
      const [row, col] = cell(w);
      w.end();
      return objs.some((o) => matches(o, a) && o.row === row && o.col === col);
    }
    let rel: string;
    if (w.peek() === 'to') {
      w.take('to', 'the');
      rel = w.one(['left', 'right'], '"left" or "right"');
      w.take('of');
    } else rel = w.one(['above', 'below'], '"in", "to", "above", "below", "," or "and"');
    const b = nounPhrase(w);
    w.end();
    const holds = (p: ShapeObject, q: ShapeObject) =>
      rel === 'left' ? p.col < q.col : rel === 'right' ? p.col > q.col : rel === 'above' ? p.row < q.row : p.row > q.row;
    return objs.some((p) => matches(p, a) && objs.some((q) => q !== p && matches(q, b) && holds(p, q)));
  }
  const specs = listRest(w, head);
  w.end();
  return exhaustive(objs, specs);
}

// ---------------------------------------------------------------- composed queries

export type EditKind = 'recolour' | 'resize' | 'reshape' | 'move' | 'remove' | 'add';
export const EDIT_KINDS: readonly EditKind[] = ['recolour', 'resize', 'reshape', 'move', 'remove', 'add'];

/** An edit as data: `index` is the object edited (unused by add). */
type Edit =
  | { kind: 'recolour'; index: number; colour: Colour }
  | { kind: 'resize'; index: number; size: Size }
  | { kind: 'reshape'; index: number; shape: Shape }
  | { kind: 'move'; index: number; row: number; col: number }
  | { kind: 'remove'; index: number }
  | { kind: 'add'; object: ShapeObject };

/** The shortest name of an object: its shape if no other object has it, else colour and shape. */
function referenceOf(scene: Scene, o: ShapeObject): string {
  return scene.objects.filter((p) => p.shape === o.shape).length === 1 ? `the ${o.shape}` : `the ${o.colour} ${o.shape}`;
}

function editText(scene: Scene, e: Edit): string {
  if (e.kind === 'add') return `add ${phrase(e.object, true, true)} in the ${cellPhrase(e.object.row, e.object.col)}`;
  const ref = referenceOf(scene, scene.objects[e.index]);
  switch (e.kind) {
    case 'recolour': return `make ${ref} ${e.colour}`;
    case 'resize': return `make ${ref} ${e.size}`;
    case 'reshape': return `turn ${ref} into ${article(e.shape)} ${e.shape}`;
    case 'move': return `move ${ref} to the ${cellPhrase(e.row, e.col)}`;
    case 'remove': return `remove ${ref}`;
  }
}

/** The edited scene; throws EditError when the result breaks an invariant. */
function applyEditData(scene: Scene, e: Edit, text: string): Scene {
  const objs = scene.objects.map((o) => ({ ...o }));
  if (e.kind === 'add') objs.push({ ...e.object });
  else if (e.kind === 'remove') objs.splice(e.index, 1);
  else {
    const o = objs[e.index];
    if (e.kind === 'recolour') o.colour = e.colour;
    if (e.kind === 'reshape') o.shape = e.shape;
    if (e.kind === 'move') Object.assign(o, { row: e.row, col: e.col, dx: 0, dy: 0 });
    if (e.kind === 'resize') {
      const j = jitterBound(e.size);
      Object.assign(o, { size: e.size, dx: Math.max(-j, Math.min(j, o.dx)), dy: Math.max(-j, Math.min(j, o.dy)) });
    }
  }
  const same = (e.kind === 'recolour' && scene.objects[e.index].colour === e.colour)
    || (e.kind === 'resize' && scene.objects[e.index].size === e.size)
    || (e.kind === 'reshape' && scene.objects[e.index].shape === e.shape)
    || (e.kind === 'move' && scene.objects[e.index].row === e.row && scene.objects[e.index].col === e.col);
  if (same) throw new EditError(`edit ${JSON.stringify(text)} on scene ${scene.id}: changes nothing`);
  try {
    return makeScene(objs);
  } catch (err) {
    if (!(err instanceof ShapesWorldError)) throw err;
    throw new EditError(`edit ${JSON.stringify(text)} on scene ${scene.id}: ${err.message}`);
  }
}

/** Parses an edit text (grammar in the header) against a scene. */
function parseEdit(scene: Scene, text: string): Edit {
  const w = new Words(text, (m) => new EditError(`edit ${m} (scene ${scene.id})`));
  const ref = (): number => {
    w.take('the');
    const colour = (COLOURS as readonly string[]).includes(w.peek() ?? '') ? w.one(COLOURS, 'a colour') : undefined;
    const shape = w.one(SHAPES, 'a shape');
    const hits = scene.objects.flatMap((o, i) => (matches(o, { shape, colour }) ? [i] : []));
    if (hits.length !== 1) w.back(`"the ${colour ? `${colour} ` : ''}${shape}" names ${hits.length} objects, expected 1`);
    return hits[0];
  };
  const verb = w.one(['make', 'turn', 'move', 'remove', 'add'], 'make, turn, move, remove or add');
  let e: Edit;
  if (verb === 'make') {
    const index = ref();
    const x = w.one([...COLOURS, ...SIZES], 'a colour or a size');
    e = (SIZES as readonly string[]).includes(x) ? { kind: 'resize', index, size: x as Size } : { kind: 'recolour', index, colour: x as Colour };
  } else if (verb === 'turn') {
    const index = ref();
    w.take('into');
    const spec = nounPhrase(w);
    if (spec.size || spec.colour) throw w.error('"turn ... into" takes a bare shape');
    e = { kind: 'reshape', index, shape: spec.shape };
  } else if (verb === 'move') {
    const index = ref();
    w.take('to', 'the');
    const [row, col] = cell(w);
    e = { kind: 'move', index, row, col };
  } else if (verb === 'remove') e = { kind: 'remove', index: ref() };
  else {
    const spec = nounPhrase(w);
    if (!spec.size || !spec.colour) throw w.error('"add" needs a size, a colour and a shape');
    w.take('in', 'the');
    const [row, col] = cell(w);
    e = { kind: 'add', object: { shape: spec.shape, colour: spec.colour, size: spec.size, row, col, dx: 0, dy: 0 } };
  }
  w.end();
  return e;
}

/** The scene an edit text makes of a scene; throws EditError for a bad text or an invalid result. */
export function applyEdit(scene: Scene, text: string): Scene {
  return applyEditData(scene, parseEdit(scene, text), text);
}

/** The edits a scene admits (every kind, every object and value). */
function editsOf(scene: Scene): Edit[] {
  const objs = scene.objects;
  const taken = (shape: Shape, colour: Colour) => objs.some((o) => o.shape === shape && o.colour === colour);
  const free: [number, number][] = [];
  for (let c = 0; c < 9; c++) if (!objs.some((o) => 3 * o.row + o.col === c)) free.push([Math.floor(c / 3), c % 3]);
  const out: Edit[] = [];
  objs.forEach((o, index) => {
    for (const colour of COLOURS) if (!taken(o.shape, colour)) out.push({ kind: 'recolour', index, colour });
    out.push({ kind: 'resize', index, size: o.size === 'small' ? 'large' : 'small' });
    for (const shape of SHAPES) if (!taken(shape, o.colour)) out.push({ kind: 'reshape', index, shape });
    for (const [row, col] of free) out.push({ kind: 'move', index, row, col });
    if (objs.length > 1) out.push({ kind: 'remove', index });
  });
  if (objs.length < MAX_OBJECTS) {
    for (const [row, col] of free) for (const shape of SHAPES) for (const colour of COLOURS) {
      if (taken(shape, colour)) continue;
      for (const size of SIZES) out.push({ kind: 'add', object: { shape, colour, size, row, col, dx: 0, dy: 0 } });
    }
  }
  return out;
}

/** Every edit text a scene admits, in a fixed order. */
export function allEdits(scene: Scene): string[] {
  return editsOf(scene).map((e) => editText(scene, e));
}

export interface ComposedQuery {
  /** `<source id>/<k>`. */
  id: string;
  sourceId: string;
  kind: EditKind;
  text: string;
  /** applyEdit(source, text). */
  target: Scene;
  targetId: string;
  /** The source's split, which is also the target's. */
  split: Split;
}

/**
 * `count` distinct composed queries on a scene. The kind is uniform over the
 * kinds that have an edit whose target stays in the source's split, then the
 * edit uniform among those of its kind. Drawn lazily (a kind's edits in
 * random order until one stays in the split), so a train scene costs ~1
 * applyEdit per query and a test scene ~10.
 */
export function composeQueries(scene: Scene, count: number, seed: number): ComposedQuery[] {
  const r = rng(seed);
  const split = splitOf(scene.id);
  const pools = new Map<EditKind, Edit[]>();
  for (const e of editsOf(scene)) {
    if (!pools.has(e.kind)) pools.set(e.kind, []);
    pools.get(e.kind)!.push(e);
  }
  const out: ComposedQuery[] = [];
  while (out.length < count && pools.size > 0) {
    const kind = pick(r, EDIT_KINDS.filter((k) => pools.has(k)));
    const pool = pools.get(kind)!;
    let found: { edit: Edit; target: Scene } | undefined;
    while (!found && pool.length > 0) {
      // Swap-remove a random edit: drawn once, whether it stays in the split or not.
      const i = Math.floor(r() * pool.length);
      const edit = pool[i];
      pool[i] = pool[pool.length - 1];
      pool.pop();
      const target = applyEditData(scene, edit, kind);
      if (splitOf(target.id) === split) found = { edit, target };
    }
    if (pool.length === 0) pools.delete(kind);
    if (!found) continue;
    const { edit, target } = found;
    out.push({ id: `${scene.id}/${out.length}`, sourceId: scene.id, kind, text: editText(scene, edit), target, targetId: target.id, split });
  }
  if (out.length < count) throw new ShapesWorldError(`composeQueries: scene ${scene.id} admits ${out.length} edits within split ${split}, ${count} asked`);
  return out;
}

// ---------------------------------------------------------------- worlds

export interface WorldScene extends Scene {
  /** Position in the world: scene i depends only on the seed and scenes 0..i-1. */
  index: number;
  captions: string[];
  split: Split;
}

export interface World {
  seed: number;
  scenes: WorldScene[];
  queries: ComposedQuery[];
}

export interface WorldOptions {
  seed: number;
  scenes: number;
  /** Composed queries per scene. Default 1. */
  queriesPerScene?: number;
}

const SCENE_TAG = 1, CAPTION_TAG = 2, QUERY_TAG = 3;

/**
 * `scenes` distinct scenes with their captions, splits and composed
 * queries. Scene i is randomScene(seedOf(seed, SCENE, i, attempt)) for the
 * first attempt whose id is new, so a smaller world is a prefix of a larger one.
 */
export function makeWorld(opts: WorldOptions): World {
  const { seed, scenes: n, queriesPerScene = 1 } = opts;
  if (!Number.isInteger(seed)) throw new ShapesWorldError(`makeWorld: seed ${seed}, expected an integer`);
  if (!Number.isInteger(n) || n < 0) throw new ShapesWorldError(`makeWorld: scenes ${n}, expected an integer >= 0`);
  if (!Number.isInteger(queriesPerScene) || queriesPerScene < 0) throw new ShapesWorldError(`makeWorld: queriesPerScene ${queriesPerScene}, expected an integer >= 0`);
  const seen = new Set<string>();
  const scenes: WorldScene[] = [];
  const queries: ComposedQuery[] = [];
  for (let i = 0; i < n; i++) {
    let scene: Scene | undefined;
    for (let attempt = 0; attempt < 10_000 && !scene; attempt++) {
      const s = randomScene(seedOf(seed, SCENE_TAG, i, attempt));
      if (!seen.has(s.id)) scene = s;
    }
    if (!scene) throw new ShapesWorldError(`makeWorld: no new scene for index ${i} in 10000 draws`);
    seen.add(scene.id);
    scenes.push({ ...scene, index: i, captions: describeScene(scene, seedOf(seed, CAPTION_TAG, i)), split: splitOf(scene.id) });
    queries.push(...composeQueries(scene, queriesPerScene, seedOf(seed, QUERY_TAG, i)));
  }
  return { seed, scenes, queries };
}

export interface WorldStats {
  scenes: number;
  splits: Record<Split, number>;
  /** Scenes with 1, 2, 3, 4 objects. */
  objectCounts: number[];
  shapes: Record<Shape, number>;
  colours: Record<Colour, number>;
  sizes: Record<Size, number>;
  captions: number;
  distinctCaptions: number;
  meanCaptionWords: number;
  queries: number;
  queryKinds: Record<EditKind, number>;
  /** Targets whose id is also a scene of the world. */
  targetsInWorld: number;
}

export function worldStats(world: World): WorldStats {
  const tally = <K extends string>(keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
  const splits = tally(SPLITS), shapes = tally(SHAPES), colours = tally(COLOURS), sizes = tally(SIZES), queryKinds = tally(EDIT_KINDS);
  const objectCounts = [0, 0, 0, 0];
  let captions = 0, words = 0;
  const distinct = new Set<string>();
  for (const s of world.scenes) {
    splits[s.split]++;
    objectCounts[s.objects.length - 1]++;
    for (const o of s.objects) { shapes[o.shape]++; colours[o.colour]++; sizes[o.size]++; }
    for (const c of s.captions) { captions++; words += wordsOf(c).length; distinct.add(c); }
  }
  const ids = new Set(world.scenes.map((s) => s.id));
  for (const q of world.queries) queryKinds[q.kind]++;
  return {
    scenes: world.scenes.length, splits, objectCounts, shapes, colours, sizes, captions, distinctCaptions: distinct.size,
    meanCaptionWords: captions ? words / captions : 0, queries: world.queries.length, queryKinds,
    targetsInWorld: world.queries.filter((q) => ids.has(q.targetId)).length,
  };
}

// ---------------------------------------------------------------- sample files

/**
 * The files of fixtures/shapes/: scene-NNN.ppm and target-NNN.ppm (each
 * scene's first composed query), grid.ppm (the scenes, 4 per row, 2 px grey
 * gutters), captions.jsonl and queries.jsonl.
 */
export function sampleFiles(seed = 1, count = 12, size = DEFAULT_IMAGE_SIZE): { name: string; bytes: Uint8Array }[] {
  const world = makeWorld({ seed, scenes: count });
  const name = (prefix: string, i: number) => `${prefix}-${String(i).padStart(3, '0')}.ppm`;
  const files: { name: string; bytes: Uint8Array }[] = [];
  const perRow = 4, gap = 2, rowsN = Math.ceil(count / perRow);
  const gw = perRow * size + (perRow + 1) * gap, gh = rowsN * size + (rowsN + 1) * gap;
  const grid = new Uint8Array(gw * gh * 3).fill(96);
  const captions: string[] = [], queries: string[] = [];
  world.scenes.forEach((s, i) => {
    const img = renderScene(s, size);
    files.push({ name: name('scene', i), bytes: encodePpm(img, size, size) });
    const x0 = gap + (i % perRow) * (size + gap), y0 = gap + Math.floor(i / perRow) * (size + gap);
    for (let y = 0; y < size; y++) grid.set(img.subarray(3 * y * size, 3 * (y + 1) * size), 3 * ((y0 + y) * gw + x0));
    captions.push(JSON.stringify({ image: name('scene', i), id: s.id, captions: s.captions, split: s.split }));
    const q = world.queries[i];
    files.push({ name: name('target', i), bytes: encodePpm(renderScene(q.target, size), size, size) });
    queries.push(JSON.stringify({ source: name('scene', i), text: q.text, target: name('target', i), kind: q.kind,
      source_id: q.sourceId, target_id: q.targetId, target_captions: describeScene(q.target, 0), split: q.split }));
  });
  const text = (lines: string[]) => new TextEncoder().encode(`${lines.join('\n')}\n`);
  files.push({ name: 'grid.ppm', bytes: encodePpm(grid, gw, gh) });
  files.push({ name: 'captions.jsonl', bytes: text(captions) });
  files.push({ name: 'queries.jsonl', bytes: text(queries) });
  return files;
}

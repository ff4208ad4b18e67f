import { readdir, readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allEdits, applyEdit, BACKGROUND, captionIsTrue, CaptionError, centreOf, COLOURS, COLUMNS, composeQueries,
  COUNT_WORDS, DEFAULT_IMAGE_SIZE, describeScene, EDIT_KINDS, EditError, jitterBound, makeScene, makeWorld, MARGIN,
  PALETTE, parseSceneId, RADIUS, randomScene, renderScene, ROWS, sampleFiles, type Scene, SHAPES, type ShapeObject,
  ShapesWorldError, SIZES, splitOf, SPLITS, validateScene, vocabulary, wordsOf, worldStats,
} from '../src/data/shapes-world.ts';
import { Tokenizer } from '../src/io/tokenizer.ts';

// One 2000-scene world shared by the checks below (~0.2 s to make).
const WORLD = makeWorld({ seed: 7, scenes: 2000 });
const byId = new Map(WORLD.scenes.map((s) => [s.id, s]));

const PLURALS = ['circles', 'squares', 'triangles', 'diamonds', 'crosses'];
const shapeOfWord = (w: string) => SHAPES.find((s, i) => s === w || PLURALS[i] === w);
const same = (a: ShapeObject, b: ShapeObject) => JSON.stringify(a) === JSON.stringify(b);

describe('shapes world: scenes', () => {
  it('is deterministic by seed, and a smaller world is a prefix of a larger one', () => {
    const a = makeWorld({ seed: 7, scenes: 300 });
    expect(makeWorld({ seed: 7, scenes: 300 })).toEqual(a);
    expect(a.scenes).toEqual(WORLD.scenes.slice(0, 300));
    expect(a.queries).toEqual(WORLD.queries.slice(0, 300));
    const b = makeWorld({ seed: 8, scenes: 300 });
    expect(b.scenes.filter((s, i) => s.id === a.scenes[i].id).length).toBeLessThan(30);
    expect(renderScene(a.scenes[5])).toEqual(renderScene(makeWorld({ seed: 7, scenes: 6 }).scenes[5]));
  });

  it('has unique ids that round-trip, every object inside its cell and the canvas, no two overlapping', () => {
    expect(byId.size).toBe(WORLD.scenes.length);
    const cells = new Array<number>(9).fill(0);
    const counts = [0, 0, 0, 0, 0];
    for (const s of WORLD.scenes) {
      expect(parseSceneId(s.id).id).toBe(s.id);
      counts[s.objects.length]++;
      const boxes = s.objects.map((o) => {
        const [cx, cy] = centreOf(o);
        const r = RADIUS[o.size];
        cells[3 * o.row + o.col]++;
        // Inside the canvas, and MARGIN inside the cell (so inside the canvas too).
        expect(cx - r).toBeGreaterThanOrEqual(o.col / 3 + MARGIN - 1e-9);
        expect(cx + r).toBeLessThanOrEqual((o.col + 1) / 3 - MARGIN + 1e-9);
        expect(cy - r).toBeGreaterThanOrEqual(o.row / 3 + MARGIN - 1e-9);
        expect(cy + r).toBeLessThanOrEqual((o.row + 1) / 3 - MARGIN + 1e-9);
        return [cx - r, cy - r, cx + r, cy + r];
      });
      for (let i = 0; i < boxes.length; i++) for (let j = 0; j < i; j++) {
        const [a, b] = [boxes[i], boxes[j]];
        expect(a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1]).toBe(true);
      }
      const pairs = new Set(s.objects.map((o) => `${o.colour} ${o.shape}`));
      expect(pairs.size).toBe(s.objects.length);
    }
    // 1..4 objects and the 9 cells each about equally often (a biased generator fails these).
    // Drawn uniformly, but a repeated id is drawn again, and one-object scenes (720 ids) repeat
    // most: ~19% of 2000 rather than 25%.
    expect(counts[0]).toBe(0);
    for (const k of [1, 2, 3, 4]) expect(Math.abs(counts[k] / 2000 - 0.25), `${k} objects`).toBeLessThan(0.08);
    const mean = cells.reduce((x, y) => x + y) / 9;
    for (const c of cells) expect(Math.abs(c / mean - 1)).toBeLessThan(0.15);
    const st = worldStats(WORLD);
    expect(st.objectCounts).toEqual(counts.slice(1));
    expect(Object.values(st.shapes).reduce((x, y) => x + y)).toBe(counts.reduce((n, c, k) => n + c * k, 0));
  });

  it('refuses scenes that break an invariant, naming the object', () => {
    const o: ShapeObject = { shape: 'circle', colour: 'red', size: 'large', row: 0, col: 0, dx: 0, dy: 0 };
    expect(() => makeScene([o, { ...o, col: 1 }])).toThrow(/object 1: a second red circle/);
    expect(() => makeScene([o, { ...o, colour: 'blue' }])).toThrow(/shares cell \(0, 0\)/);
    expect(() => makeScene([{ ...o, dx: jitterBound('large') + 1e-3 }])).toThrow(/leaves its cell/);
    expect(() => makeScene([])).toThrow(/0 objects/);
    expect(() => validateScene({ id: 'x', objects: [{ ...o, row: 3 }] })).toThrow(ShapesWorldError);
    expect(() => parseSceneId('0Crl.0Sbs')).toThrow(/shares cell/);
    expect(() => parseSceneId('5Sbs.0Crl')).toThrow(/reading order/);
    expect(() => parseSceneId('0Qrl')).toThrow(/object 0 code "0Qrl"/);
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (seed) => {
      const s = randomScene(seed);
      validateScene(s);
      expect(randomScene(seed)).toEqual(s);
    }), { numRuns: 200 });
  });
});

describe('shapes world: rendering', () => {
  const size = DEFAULT_IMAGE_SIZE;
  const scenes = WORLD.scenes.slice(0, 150);
  const px = (img: Uint8Array, x: number, y: number) => [...img.subarray(3 * (y * size + x), 3 * (y * size + x) + 3)];

  it("has each object's colour at its centre and the background far from every object", () => {
    let far = 0, wrong = 0;
    const bg = BACKGROUND.join();
    for (const s of scenes) {
      const img = renderScene(s);
      expect(img.length).toBe(size * size * 3);
      for (const o of s.objects) {
        const [cx, cy] = centreOf(o);
        expect(px(img, Math.floor(cx * size), Math.floor(cy * size))).toEqual([...PALETTE[o.colour]]);
      }
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
        // Pixel centre more than R + 1.5 px (either axis) from every object's centre.
        const clear = s.objects.every((o) => {
          const [cx, cy] = centreOf(o);
          const d = Math.max(Math.abs((x + 0.5) / size - cx), Math.abs((y + 0.5) / size - cy));
          return d > RADIUS[o.size] + 1.5 / size;
        });
        if (clear) { far++; if (px(img, x, y).join() !== bg) wrong++; }
      }
    }
    expect(wrong).toBe(0);
    expect(far).toBeGreaterThan(scenes.length * size * size * 0.5);
  });

  it('covers the area of each shape (coverage summed over its box vs the closed form)', () => {
    // Areas in units of R^2: circle pi, square 1.6^2, triangle 2 x 1.8 / 2, diamond 2, cross 2 (0.8 x 2) - 0.8^2.
    const area = { circle: Math.PI, square: 2.56, triangle: 1.8, diamond: 2, cross: 2.56 };
    for (const shape of SHAPES) for (const sz of SIZES) {
      const o: ShapeObject = { shape, colour: 'white', size: sz, row: 1, col: 1, dx: 0.003, dy: -0.002 };
      const img = renderScene(makeScene([o]));
      let cover = 0;
      for (let p = 0; p < size * size; p++) cover += img[3 * p] / PALETTE.white[0];
      const expected = area[shape] * (RADIUS[sz] * size) ** 2;
      // 4x4 sampling: a boundary pixel's coverage is off by <= 1/16 or so; small shapes have relatively more boundary.
      expect(Math.abs(cover / expected - 1), `${sz} ${shape}: ${cover.toFixed(1)} px^2 vs ${expected.toFixed(1)}`).toBeLessThan(sz === 'large' ? 0.04 : 0.08);
    }
  });

  it('without anti-aliasing has only palette colours and the background; rejects bad sizes', () => {
    const s = scenes[3];
    const img = renderScene(s, 32, { samples: 1 });
    const allowed = new Set([BACKGROUND, ...s.objects.map((o) => PALETTE[o.colour])].map((c) => c.join()));
    for (let p = 0; p < 32 * 32; p++) expect(allowed.has([...img.subarray(3 * p, 3 * p + 3)].join())).toBe(true);
    expect(() => renderScene(s, 2.5)).toThrow(/size 2.5/);
    expect(() => renderScene(s, 48, { samples: 0 })).toThrow(/samples 0/);
  });
});

describe('shapes world: captions', () => {
  it('gives five captions per scene, each true of it and false after one word is changed', () => {
    for (const s of WORLD.scenes) {
      expect(s.captions).toHaveLength(5);
      // Captions 0-2 do not depend on the caption seed; 3 and 4 do, deterministically.
      expect(describeScene(s, 123).slice(0, 3)).toEqual(s.captions.slice(0, 3));
      for (const c of s.captions) expect(captionIsTrue(s, c), `${s.id}: ${c}`).toBe(true);
      const colours = new Set(s.objects.map((o) => o.colour));
      const [full, counted, , relation, position] = s.captions;
      // A colour that is not in the scene makes a caption false.
      const absent = COLOURS.find((c) => !colours.has(c))!;
      const c0 = s.objects[0].colour;
      for (const c of [full, counted, relation, position]) {
        if (!wordsOf(c).includes(c0)) continue;
        const changed = wordsOf(c).map((w) => (w === c0 ? absent : w)).join(' ').replace(/ ([:,])/g, '$1').replace(/\ba (?=[aeiou])/g, 'an ').replace(/\ban (?=[^aeiou])/g, 'a ');
        expect(captionIsTrue(s, changed), `${s.id}: ${changed}`).toBe(false);
      }
      // A wrong count, a flipped relation, another cell.
      const n = s.objects.length;
      expect(captionIsTrue(s, counted.replace(/^\w+ shapes?/, n === 2 ? 'three shapes' : 'two shapes'))).toBe(false);
      const flip: Record<string, string> = { left: 'right', right: 'left', above: 'below', below: 'above' };
      if (n > 1) expect(captionIsTrue(s, relation.replace(/\b(left|right|above|below)\b/, (w) => flip[w]))).toBe(false);
      const o = s.objects.find((p) => position.startsWith(`a ${p.size} ${p.colour} ${p.shape} in `))!;
      const other = o.row === 0 ? 'bottom right' : 'top left';
      expect(captionIsTrue(s, position.replace(/in the .*$/, `in the ${other}`))).toBe(false);
    }
  });

  it('mentions only the colours, shapes and sizes of the scene, and says every object in full', () => {
    for (const s of WORLD.scenes) {
      const colours = new Set<string>(s.objects.map((o) => o.colour));
      const shapes = new Set<string>(s.objects.map((o) => o.shape));
      const sizes = new Set<string>(s.objects.map((o) => o.size));
      for (const c of s.captions) for (const w of wordsOf(c)) {
        if ((COLOURS as readonly string[]).includes(w)) expect(colours.has(w), `${s.id}: ${c}`).toBe(true);
        if (shapeOfWord(w)) expect(shapes.has(shapeOfWord(w)!), `${s.id}: ${c}`).toBe(true);
        if ((SIZES as readonly string[]).includes(w)) expect(sizes.has(w), `${s.id}: ${c}`).toBe(true);
      }
      for (const o of s.objects) expect(s.captions[0]).toContain(`${o.size} ${o.colour} ${o.shape}`);
      expect(s.captions[1].startsWith(`${COUNT_WORDS[s.objects.length]} shape`)).toBe(true);
    }
  });

  it('rejects texts outside the grammar, naming the word', () => {
    const s = parseSceneId('0Crl.5Sos');
    expect(captionIsTrue(s, 'a large red circle and a small orange square')).toBe(true);
    expect(captionIsTrue(s, 'a large red circle, a small orange square and a circle')).toBe(false);
    expect(captionIsTrue(s, 'a circle and a square')).toBe(true);
    expect(captionIsTrue(s, 'two circles')).toBe(false);
    expect(captionIsTrue(s, 'an orange square to the right of a red circle')).toBe(true);
    expect(captionIsTrue(s, 'an orange square below a red circle')).toBe(true);
    expect(captionIsTrue(s, 'an orange square above a red circle')).toBe(false);
    expect(() => captionIsTrue(s, 'a orange square')).toThrow(CaptionError);
    expect(() => captionIsTrue(s, 'a orange square')).toThrow(/"a" before "orange" at word 2/);
    expect(() => captionIsTrue(s, 'two shape: a red circle')).toThrow(/expected "shapes"/);
    expect(() => captionIsTrue(s, 'a red circle in the middle center')).toThrow(/"middle center" is written "center"/);
    expect(() => captionIsTrue(s, 'a red circle near a square')).toThrow(/at word 4 \("near"\)/);
    expect(() => captionIsTrue(s, 'a red')).toThrow(/expected a shape, found the end/);
  });

  it('uses exactly the vocabulary, which the WordNet tokenizer encodes and decodes losslessly', async () => {
    const vocab = new Set(vocabulary());
    const used = new Set<string>();
    const texts = [...WORLD.scenes.flatMap((s) => s.captions), ...WORLD.queries.map((q) => q.text)];
    for (const t of texts) for (const w of wordsOf(t)) { expect(vocab.has(w), `${w} in ${t}`).toBe(true); used.add(w); }
    expect([...used].sort()).toEqual([...vocab]);
    const tok = new Tokenizer(await readFile(new URL('../fixtures/wordnet/tokenizer.json', import.meta.url), 'utf8'));
    let tokens = 0;
    const captions = WORLD.scenes.flatMap((s) => s.captions);
    for (const c of captions) {
      const ids = tok.encode(c);
      expect(ids.some((id) => tok.specialTokenIds.has(id))).toBe(false);
      expect(tok.decode(ids)).toBe(c);
      tokens += ids.length;
    }
    const perWord = [...vocab].map((w) => [w, tok.encode(/^[:,]$/.test(w) ? w : ` ${w}`).length] as const);
    const mean = tokens / captions.length;
    console.log(`WordNet tokenizer: ${mean.toFixed(2)} tokens per caption (${(tokens / captions.reduce((n, c) => n + wordsOf(c).length, 0)).toFixed(2)} per word); `
      + `multi-token words: ${perWord.filter(([, k]) => k > 1).map(([w, k]) => `${w} ${k}`).join(', ') || 'none'}`);
    expect(mean).toBeGreaterThan(5);
    expect(mean).toBeLessThan(30);
  });
});

describe('shapes world: splits', () => {
  it('splits 2000 scenes about 80/10/10 by id, stably, and keeps queries in their source split', () => {
    const st = worldStats(WORLD);
    expect(Math.abs(st.splits.train / 2000 - 0.8)).toBeLessThan(0.03);
    expect(Math.abs(st.splits.validation / 2000 - 0.1)).toBeLessThan(0.025);
    expect(Math.abs(st.splits.test / 2000 - 0.1)).toBeLessThan(0.025);
    const sets = SPLITS.map((sp) => new Set(WORLD.scenes.filter((s) => s.split === sp).map((s) => s.id)));
    expect(sets.reduce((n, x) => n + x.size, 0)).toBe(2000);
    for (const s of WORLD.scenes) expect(s.split).toBe(splitOf(s.id));
    // Pinned: the split of an id never changes (fixtures/shapes/ holds these three).
    expect([splitOf('4Dcl.8Drs'), splitOf('7Dcs'), splitOf('7Tbl')]).toEqual(['train', 'validation', 'test']);
    // Another seed puts a scene it shares with this world in the same split.
    const other = makeWorld({ seed: 99, scenes: 2000 });
    const shared = other.scenes.filter((s) => byId.has(s.id));
    expect(shared.length).toBeGreaterThan(10);
    for (const s of shared) expect(s.split).toBe(byId.get(s.id)!.split);
    for (const q of WORLD.queries) {
      expect(q.split).toBe(splitOf(q.sourceId));
      expect(splitOf(q.targetId)).toBe(q.split);
    }
  });
});

describe('shapes world: composed queries', () => {
  const colourWords = COLOURS as readonly string[];
  const cellOf = (phrase: string): [number, number] =>
    phrase === 'center' ? [1, 1] : [ROWS.indexOf(phrase.split(' ')[0] as never), COLUMNS.indexOf(phrase.split(' ')[1] as never)];
  /** The object a reference "the [colour] shape" names, checked to be the only match. */
  const named = (s: Scene, colour: string | undefined, shape: string) => {
    const hits = s.objects.filter((o) => o.shape === shape && (colour === undefined || o.colour === colour));
    expect(hits).toHaveLength(1);
    // The shortest name: colour only when the shape is shared.
    expect(colour !== undefined).toBe(s.objects.filter((o) => o.shape === shape).length > 1);
    return hits[0];
  };
  const rest = (objs: ShapeObject[], o: ShapeObject) => objs.filter((p) => !same(p, o));

  it('changes the source exactly as the text says, for every kind', () => {
    const kinds = Object.fromEntries(EDIT_KINDS.map((k) => [k, 0]));
    for (const q of WORLD.queries) {
      const s = byId.get(q.sourceId)!;
      const t = q.target;
      kinds[q.kind]++;
      expect(t.id).toBe(q.targetId);
      expect(t.id).not.toBe(s.id);
      expect(applyEdit(s, q.text)).toEqual(t);
      let m: RegExpExecArray | null;
      if ((m = /^make the (?:(\w+) )?(\w+) (\w+)$/.exec(q.text))) {
        const o = named(s, m[1], m[2]);
        const changed = t.objects.filter((p) => !s.objects.some((x) => same(x, p)));
        expect(changed).toHaveLength(1);
        const p = changed[0];
        expect(rest(s.objects, o)).toEqual(rest(t.objects, p));
        if (colourWords.includes(m[3])) {
          expect(q.kind).toBe('recolour');
          expect(p).toEqual({ ...o, colour: m[3] });
        } else {
          expect(q.kind).toBe('resize');
          const j = jitterBound(m[3] as 'small' | 'large');
          expect(p).toEqual({ ...o, size: m[3], dx: Math.max(-j, Math.min(j, o.dx)), dy: Math.max(-j, Math.min(j, o.dy)) });
        }
      } else if ((m = /^turn the (?:(\w+) )?(\w+) into an? (\w+)$/.exec(q.text))) {
        expect(q.kind).toBe('reshape');
        const o = named(s, m[1], m[2]);
        const p = t.objects.find((x) => x.row === o.row && x.col === o.col)!;
        expect(p).toEqual({ ...o, shape: m[3] });
        expect(rest(s.objects, o)).toEqual(rest(t.objects, p));
      } else if ((m = /^move the (?:(\w+) )?(\w+) to the (.+)$/.exec(q.text))) {
        expect(q.kind).toBe('move');
        const o = named(s, m[1], m[2]);
        const [row, col] = cellOf(m[3]);
        const p = t.objects.find((x) => x.row === row && x.col === col)!;
        expect(p).toEqual({ ...o, row, col, dx: 0, dy: 0 });
        expect(rest(s.objects, o)).toEqual(rest(t.objects, p));
      } else if ((m = /^remove the (?:(\w+) )?(\w+)$/.exec(q.text))) {
        expect(q.kind).toBe('remove');
        const o = named(s, m[1], m[2]);
        expect(t.objects).toEqual(rest(s.objects, o));
      } else if ((m = /^add an? (\w+) (\w+) (\w+) in the (.+)$/.exec(q.text))) {
        expect(q.kind).toBe('add');
        const [row, col] = cellOf(m[4]);
        const p: ShapeObject = { shape: m[3] as never, colour: m[2] as never, size: m[1] as never, row, col, dx: 0, dy: 0 };
        expect(s.objects.some((x) => x.row === row && x.col === col)).toBe(false);
        expect(rest(t.objects, p)).toEqual(s.objects);
        expect(t.objects).toHaveLength(s.objects.length + 1);
      } else throw new Error(`query ${q.id}: text ${JSON.stringify(q.text)} matches no edit form`);
    }
    // Every kind turns up, none dominates.
    for (const k of EDIT_KINDS) expect(kinds[k] / WORLD.queries.length, k).toBeGreaterThan(0.08);
    expect(worldStats(WORLD).queryKinds).toEqual(kinds);
  });

  it('applies every edit a scene admits, gives distinct queries, and refuses bad edits', () => {
    for (const s of WORLD.scenes.slice(0, 40)) {
      const texts = allEdits(s);
      const targets = new Set(texts.map((t) => applyEdit(s, t).id));
      expect(targets.size).toBe(texts.length);
      expect(targets.has(s.id)).toBe(false);
      const qs = composeQueries(s, 3, 5);
      expect(new Set(qs.map((q) => q.text)).size).toBe(3);
      for (const q of qs) expect(splitOf(q.targetId)).toBe(splitOf(s.id));
    }
    const s = parseSceneId('0Crl.1Cbs.5Sos');
    expect(applyEdit(s, 'make the square large').id).toBe('0Crl.1Cbs.5Sol');
    expect(() => applyEdit(s, 'remove the circle')).toThrow(/"the circle" names 2 objects, expected 1/);
    expect(() => applyEdit(s, 'remove the green square')).toThrow(/names 0 objects/);
    expect(() => applyEdit(s, 'move the square to the top left')).toThrow(/shares cell \(0, 0\)/);
    expect(() => applyEdit(s, 'make the square orange')).toThrow(/changes nothing/);
    expect(() => applyEdit(s, 'make the red circle blue')).toThrow(/a second blue circle/);
    expect(() => applyEdit(s, 'paint the square')).toThrow(EditError);
    expect(() => applyEdit(parseSceneId('0Crl.1Cbs.5Sos.8Dws'), 'add a small red cross in the center')).toThrow(/5 objects/);
  });
});

describe('fixtures/shapes', () => {
  it('is what fixtures/make-shapes-world.ts writes, under 300 KB', async () => {
    const dir = new URL('../fixtures/shapes/', import.meta.url);
    const files = sampleFiles();
    expect((await readdir(dir)).sort()).toEqual(files.map((f) => f.name).sort());
    for (const f of files) expect(Buffer.compare(await readFile(new URL(f.name, dir)), Buffer.from(f.bytes)), f.name).toBe(0);
    expect(files.reduce((n, f) => n + f.bytes.length, 0)).toBeLessThan(300 * 1024);
    const ppm = Buffer.from(files[0].bytes);
    expect(ppm.subarray(0, 13).toString()).toBe('P6\n48 48\n255\n');
    const rows = (await readFile(new URL('captions.jsonl', dir), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(12);
    expect(Object.keys(rows[0])).toEqual(['image', 'id', 'captions', 'split']);
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SafetensorsBuffer, SafetensorsError, SafetensorsFile, serializeSafetensors, writeFileAtomic, writeSafetensors, type TensorToWrite,
} from '../src/io/safetensors.ts';
import { WeightFolder } from '../src/io/weights.ts';
import { bf16BitsToNumber, f16BitsToNumber, fromFloat32, numberToBf16Bits, numberToF16Bits, toFloat32 } from '../src/io/dtypes.ts';
import { randomData } from './helpers.ts';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lco-st-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A file built by hand from the format description, independent of our writer. */
function handMade(header: object, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function sample(): TensorToWrite[] {
  return [
    { name: 'model.embed_tokens.weight', shape: [5, 3], data: randomData(15, 1) },
    { name: 'model.norm.weight', shape: [3], data: randomData(3, 2), dtype: 'BF16' },
    { name: 'half', shape: [2, 2], data: [1, -2, 0.5, 65504], dtype: 'F16' },
    { name: 'empty', shape: [0, 4], data: [] },
  ];
}

describe('safetensors', () => {
  it('reads a hand-made file (spec example) and finds each tensor by name', () => {
    // a: F32 [2] = [1, -2]; b: I32 [1] = [7]; little-endian bytes.
    const bytes = handMade(
      { __metadata__: { format: 'pt' }, a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'I32', shape: [1], data_offsets: [8, 12] } },
      [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 7, 0, 0, 0],
    );
    const st = new SafetensorsBuffer(bytes, 'hand.safetensors');
    expect(st.header.metadata).toEqual({ format: 'pt' });
    expect(Array.from(st.float32('a'))).toEqual([1, -2]);
    expect(Array.from(st.float32('b'))).toEqual([7]);
    expect(() => st.float32('c')).toThrow(/hand.safetensors: no tensor named "c"/);
  });

  it('round-trips F32, F16, BF16 through the writer, in memory and on disk', async () => {
    const tensors = sample();
    const bytes = serializeSafetensors(tensors, { format: 'pt' });
    expect((new DataView(bytes.buffer).getUint32(0, true) + 8) % 8).toBe(0); // data aligned
    const st = new SafetensorsBuffer(bytes);
    const path = join(await tmp(), 'model.safetensors');
    await writeSafetensors(path, tensors, { format: 'pt' });
    const file = await SafetensorsFile.open(path);
    for (const t of tensors) {
      const dtype = t.dtype ?? 'F32';
      const want = toFloat32(dtype, fromFloat32(dtype, t.data)); // the stored precision
      expect(Array.from(st.float32(t.name)), t.name).toEqual(Array.from(want));
      expect(Array.from(await file.float32(t.name)), t.name).toEqual(Array.from(want));
      expect(file.entry(t.name).shape).toEqual([...t.shape]);
    }
    await file.close();
    // Deterministic bytes: same content, same file.
    expect(serializeSafetensors([...tensors].reverse(), { format: 'pt' })).toEqual(bytes);
  });

  it('names the tensor and the rule for each kind of corruption', () => {
    const f32 = (name: string, begin: number, end: number, shape = [(end - begin) / 4]) => ({ [name]: { dtype: 'F32', shape, data_offsets: [begin, end] } });
    const cases: [string, Uint8Array, RegExp][] = [
      ['too short', new Uint8Array(5), /5 bytes is too short/],
      ['header past the end', handMade({}, []).subarray(0, 9), /runs past the end of the file/],
      ['not JSON', (() => { const b = handMade({ a: 1 }, []); b[9] = 0x7b; b[10] = 0x7b; return b; })(), /not valid JSON/],
      ['not an object', handMade([1, 2] as unknown as object, []), /must be a JSON object/],
      ['unknown dtype', handMade({ w: { dtype: 'F17', shape: [1], data_offsets: [0, 4] } }, [0, 0, 0, 0]), /tensor "w": dtype "F17" is not one of/],
      ['bad shape', handMade({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, [0, 0, 0, 0]), /tensor "w": shape \[-1\]/],
      ['size mismatch', handMade(f32('w', 0, 8, [3]), new Array(8).fill(0)), /tensor "w": data_offsets \[0, 8\] hold 8 bytes, but F32 \[3\] needs 12/],
      ['out of bounds', handMade(f32('w', 0, 8), [0, 0, 0, 0]), /tensor "w" data_offsets \[0, 8\] run past the data buffer \(4 bytes\)/],
      ['overlap', handMade({ ...f32('a', 0, 8), ...f32('b', 4, 12) }, new Array(12).fill(0)), /tensor "b" \[4, 12\] overlaps tensor "a" \[0, 8\]/],
      ['hole', handMade({ ...f32('a', 0, 4), ...f32('b', 8, 12) }, new Array(12).fill(0)), /bytes \[4, 8\) before tensor "b" belong to no tensor/],
      ['trailing bytes', handMade(f32('a', 0, 4), new Array(8).fill(0)), /cover only 4 \(trailing bytes/],
      ['metadata not strings', handMade({ __metadata__: { n: 1 } }, []), /__metadata__\["n"\] must be a string/],
      ['offsets reversed', handMade({ w: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, []), /data_offsets \[4,0\] must be \[begin, end\]/],
    ];
    for (const [what, bytes, message] of cases) {
      expect(() => new SafetensorsBuffer(bytes, 'bad.safetensors'), what).toThrow(SafetensorsError);
      expect(() => new SafetensorsBuffer(bytes, 'bad.safetensors'), what).toThrow(message);
    }
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setUint32(4, 1, true); // 2^32 bytes of header
    expect(() => new SafetensorsBuffer(huge)).toThrow(/exceeds the 100000000-byte limit/);
  });

  it('fuzz: any truncation or byte mutation either parses or is a SafetensorsError', () => {
    const valid = serializeSafetensors(sample(), { format: 'pt' });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.record({ kind: fc.constant('truncate' as const), at: fc.integer({ min: 0, max: valid.length - 1 }) }),
          fc.record({ kind: fc.constant('flip' as const), at: fc.integer({ min: 0, max: valid.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }),
          fc.record({ kind: fc.constant('json' as const), at: fc.integer({ min: 8, max: 8 + 200 }), value: fc.constantFrom(...'{}[]":,0123456789-eE. tnfa'.split('').map((c) => c.charCodeAt(0))) }),
        ),
        (m) => {
          const bytes = m.kind === 'truncate' ? valid.slice(0, m.at) : valid.slice();
          if (m.kind !== 'truncate') bytes[Math.min(m.at, bytes.length - 1)] = m.value;
          try {
            const st = new SafetensorsBuffer(bytes);
            for (const n of st.names()) st.float32(n); // whatever parses must also read
          } catch (err) {
            if (!(err instanceof SafetensorsError)) throw err;
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('fuzz: random headers (wrong types, missing fields) are refused with a SafetensorsError', () => {
    const value = fc.oneof(fc.integer({ min: -5, max: 40 }), fc.string({ maxLength: 5 }), fc.constant(null), fc.array(fc.integer({ min: -2, max: 20 }), { maxLength: 3 }));
    const entry = fc.record({ dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'I64', 'BOOL'), value), shape: fc.oneof(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }), value), data_offsets: fc.oneof(fc.tuple(fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 24 })), value) }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), entry, { maxKeys: 3 }), fc.integer({ min: 0, max: 24 }), (header, dataBytes) => {
        try {
          new SafetensorsBuffer(handMade(header, new Array(dataBytes).fill(1)));
        } catch (err) {
          if (!(err instanceof SafetensorsError)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a truncated file on disk names the tensor that cannot be read', async () => {
    const dir = await tmp();
    const bytes = serializeSafetensors(sample());
    await writeFile(join(dir, 'cut.safetensors'), bytes.subarray(0, bytes.length - 3));
    await expect(SafetensorsFile.open(join(dir, 'cut.safetensors'))).rejects.toThrow(/cut.safetensors: .*(run past the data buffer|cover only)/);
    await expect(SafetensorsFile.open(join(dir, 'missing.safetensors'))).rejects.toThrow(/missing.safetensors: cannot open/);
  });

  it('writes atomically: a failed write leaves the old file and no temporary file', async () => {
    const dir = await tmp();
    const path = join(dir, 'model.safetensors');
    await writeSafetensors(path, sample());
    const before = await readFile(path);
    await expect(writeSafetensors(path, [{ name: 'x', shape: [3], data: [1, 2] }])).rejects.toThrow(/tensor "x": 8 bytes of data for F32 \[3\]/);
    await expect(writeFileAtomic(join(dir, 'no-such-dir', 'f'), new Uint8Array(4))).rejects.toThrow();
    expect(await readFile(path)).toEqual(before);
    expect((await readdir(dir)).sort()).toEqual(['model.safetensors']);
  });

  it('reads a sharded model folder through model.safetensors.index.json', async () => {
    const dir = await tmp();
    const [a, b, c] = sample();
    await writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), [a, b]);
    await writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), [c]);
    const weight_map = { [a.name]: 'model-00001-of-00002.safetensors', [b.name]: 'model-00001-of-00002.safetensors', [c.name]: 'model-00002-of-00002.safetensors' };
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map }));
    const w = await WeightFolder.open(dir);
    expect(w.names().sort()).toEqual([a.name, b.name, c.name].sort());
    expect(Array.from(await w.float32(c.name))).toEqual(Array.from(toFloat32('F16', fromFloat32('F16', c.data))));
    expect(() => w.entry('lm_head.weight')).toThrow(/no tensor named "lm_head.weight"/);
    await w.close();

    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...weight_map, ghost: 'model-00002-of-00002.safetensors' } }));
    await expect(WeightFolder.open(dir)).rejects.toThrow(/weight_map puts "ghost" in model-00002-of-00002.safetensors, which has no such tensor/);
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { x: '../etc/passwd' } }));
    await expect(WeightFolder.open(dir)).rejects.toThrow(/weight_map\["x"\] = "..\/etc\/passwd" must be a file name/);
  });
});

describe('f16 and bf16 conversion', () => {
  it('every f16 and bf16 bit pattern survives decode then encode (NaN stays NaN)', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = f16BitsToNumber(h);
      const back = numberToF16Bits(x);
      if (Number.isNaN(x)) expect(Number.isNaN(f16BitsToNumber(back))).toBe(true);
      else if (back !== h) expect.fail(`f16 0x${h.toString(16)} -> ${x} -> 0x${back.toString(16)}`);
      const y = bf16BitsToNumber(h);
      const back2 = numberToBf16Bits(y);
      if (Number.isNaN(y)) expect(Number.isNaN(bf16BitsToNumber(back2))).toBe(true);
      else if (back2 !== h) expect.fail(`bf16 0x${h.toString(16)} -> ${y} -> 0x${back2.toString(16)}`);
    }
  });

  it('rounds to nearest, ties to even', () => {
    expect(f16BitsToNumber(0x3c00)).toBe(1);
    expect(f16BitsToNumber(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(numberToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even (down)
    expect(numberToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (up)
    expect(numberToF16Bits(65520)).toBe(0x7c00); // rounds past the largest half: inf
    expect(numberToF16Bits(2 ** -25)).toBe(0); // tie with zero -> even
    expect(numberToF16Bits(3 * 2 ** -26)).toBe(1);
    expect(numberToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(numberToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(bf16BitsToNumber(0x3f80)).toBe(1);
  });
});

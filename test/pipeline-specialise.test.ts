// src/gpu/pipelines.ts specialise(): the source rewrites behind a dispatch's
// compile-time constants (consts, type aliases, #if blocks), checked on text.
import { describe, expect, it } from 'vitest';
import { specialise } from '../src/gpu/pipelines.ts';

const SRC = [
  '// #if FAST',
  'enable subgroups;',
  '// #endif',
  'const TM: u32 = 16u;',
  'const FAST: bool = false;',
  'alias E = f32;',
  '// #if FAST',
  'fn load() -> E { return subgroupShuffle(x, 0u); }',
  '// #else',
  'fn load() -> E { return x; }',
  '// #endif',
].join('\n');

describe('specialise', () => {
  it('rewrites consts and aliases, and keeps the #if branch the bool selects', () => {
    const plain = specialise(SRC, [['TM', 32]]);
    expect(plain).toContain('const TM: u32 = 32u;');
    expect(plain).toContain('fn load() -> E { return x; }');
    expect(plain).not.toMatch(/subgroup|#if|#else|#endif/);
    const fast = specialise(SRC, [['FAST', true], ['E', 'vec4<f32>']]);
    expect(fast.startsWith('enable subgroups;\n')).toBe(true);
    expect(fast).toContain('alias E = vec4<f32>;');
    expect(fast).toContain('subgroupShuffle');
    expect(fast).not.toContain('return x;');
  });

  it('enables f16 when an alias names it', () => {
    expect(specialise('alias BT = f32;\nvar<storage> b: array<BT>;', [['BT', 'f16']])).toBe('enable f16;\nalias BT = f16;\nvar<storage> b: array<BT>;');
  });

  it('refuses unbalanced or nested blocks and a block without its const', () => {
    expect(() => specialise('const A: bool = true;\n// #if A\nx', [])).toThrow(/#if A has no #endif/);
    expect(() => specialise('const A: bool = true;\nconst B: bool = true;\n// #if A\n// #if B\n// #endif\n// #endif', [])).toThrow(/blocks do not nest/);
    expect(() => specialise('// #else\n', [])).toThrow(/#else without #if/);
    expect(() => specialise('// #if MISSING\n// #endif', [])).toThrow(/no module-scope const MISSING: bool/);
  });
});

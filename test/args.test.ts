// The shared CLI flag parser: forms, types, defaults, and the usage errors
// commands turn into exit code 2.
import { describe, expect, it } from 'vitest';
import { formatHelp, parseArgs, UsageError, type FlagSpecs } from '../src/cli/args.ts';

const SPECS = {
  model: { type: 'string', required: true, value: 'DIR', help: 'model folder' },
  prompt: { type: 'string', default: '', help: 'text' },
  steps: { type: 'number', integer: true, default: 64, value: 'N', help: 'steps' },
  lr: { type: 'number', help: 'learning rate' },
  greedy: { type: 'boolean', help: 'argmax' },
} as const satisfies FlagSpecs;

describe('parseArgs', () => {
  it('fills defaults and parses --name value, --name=value and booleans', () => {
    const a = parseArgs(SPECS, ['--model', 'm']);
    expect(a).toEqual({ flags: { model: 'm', prompt: '', steps: 64, lr: undefined, greedy: false }, positional: [], help: false });
    const b = parseArgs(SPECS, ['--model=x=y', '--steps', '3', '--lr=-1e-3', '--greedy', 'pos', '--prompt', '-dash', '--', '--not-a-flag']);
    expect(b.flags).toEqual({ model: 'x=y', prompt: '-dash', steps: 3, lr: -1e-3, greedy: true });
    expect(b.positional).toEqual(['pos', '--not-a-flag']);
    // types follow the spec: defaults and required flags are never undefined
    const steps: number = b.flags.steps;
    const model: string = b.flags.model;
    const lr: number | undefined = b.flags.lr;
    expect([steps, model, lr]).toEqual([3, 'x=y', -1e-3]);
  });

  it('keeps the last of a repeated flag; --help skips the required check', () => {
    expect(parseArgs(SPECS, ['--model', 'a', '--model', 'b']).flags.model).toBe('b');
    expect(parseArgs(SPECS, ['-h']).help).toBe(true);
    expect(parseArgs(SPECS, ['--help']).help).toBe(true);
  });

  it('throws a UsageError naming the flag for every malformed input', () => {
    const cases: [string[], RegExp][] = [
      [['--model', 'm', '--bogus'], /unknown flag --bogus/],
      [['--model', 'm', '-x'], /unknown option "-x"/],
      [['--model'], /--model needs a value \(DIR\)/],
      [['--model', '--greedy'], /--model needs a value/],
      [['--model', 'm', '--steps', 'ten'], /--steps must be a number, got "ten"/],
      [['--model', 'm', '--steps', ''], /--steps must be a number/],
      [['--model', 'm', '--steps', '2.5'], /--steps must be an integer, got "2.5"/],
      [['--model', 'm', '--greedy=yes'], /--greedy takes no value/],
      [['--steps', '3'], /--model is required/],
    ];
    for (const [argv, msg] of cases) {
      expect(() => parseArgs(SPECS, argv), argv.join(' ')).toThrow(UsageError);
      expect(() => parseArgs(SPECS, argv), argv.join(' ')).toThrow(msg);
    }
  });
});

describe('formatHelp', () => {
  it('lists every flag with its placeholder, default or required mark, aligned', () => {
    const help = formatHelp('usage: lco x --model DIR', SPECS);
    const lines = help.split('\n');
    expect(lines[0]).toBe('usage: lco x --model DIR');
    expect(help).toContain('--model DIR');
    expect(help).toMatch(/model folder \(required\)/);
    expect(help).toMatch(/--steps N +steps \(default 64\)/);
    expect(help).toMatch(/--lr NUMBER +learning rate\n/);
    expect(help).toMatch(/--prompt STRING +text\n/); // an empty default is not shown
    const flagLines = lines.filter((l) => l.startsWith('  --'));
    expect(flagLines).toHaveLength(6);
    const starts = flagLines.map((l) => l.indexOf(l.slice(2).split(/ {2,}/)[1], 4));
    expect(new Set(starts).size, 'descriptions start in one column').toBe(1);
  });
});

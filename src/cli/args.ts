// The flag parser shared by lco's subcommands. A command declares its flags
// once, with types, defaults and help; parseArgs returns them typed and
// formatHelp prints them.
//
//   const FLAGS = {
//     model: { type: 'string', required: true, value: 'DIR', help: 'model folder' },
//     'max-new-tokens': { type: 'number', integer: true, default: 64, value: 'N', help: 'tokens to add' },
//     greedy: { type: 'boolean', help: 'always take the most probable token' },
//   } as const satisfies FlagSpecs;
//   const { flags, positional, help } = parseArgs(FLAGS, args);
//   flags['max-new-tokens'] // number
//
// Accepted forms: `--name value`, `--name=value`, `--flag` for booleans,
// `--help` / `-h`, and `--` to end the flags. A value may not start with
// `--` unless given as `--name=--value`. A repeated flag keeps its last value.
// Anything else (an unknown flag, a missing or non-numeric value, a missing
// required flag) throws a UsageError; commands print it with the help text
// and exit with code 2 (parseCommand does both steps for a command).

export class UsageError extends Error {
  override name = 'UsageError';
}

interface Described {
  help: string;
  /** The value's placeholder in the help text, e.g. DIR or N. */
  value?: string;
}
export interface StringFlag extends Described {
  type: 'string';
  default?: string;
  required?: boolean;
}
export interface NumberFlag extends Described {
  type: 'number';
  default?: number;
  required?: boolean;
  /** Refuse values with a fractional part. */
  integer?: boolean;
}
export interface BooleanFlag {
  type: 'boolean';
  help: string;
}
export type FlagSpec = StringFlag | NumberFlag | BooleanFlag;
export type FlagSpecs = Record<string, FlagSpec>;

/** A flag's parsed type: defined when it has a default or is required. */
type ValueOf<F> = F extends BooleanFlag
  ? boolean
  : F extends NumberFlag
    ? F extends { default: number } | { required: true } ? number : number | undefined
    : F extends { default: string } | { required: true } ? string : string | undefined;

export type Flags<S extends FlagSpecs> = { -readonly [K in keyof S]: ValueOf<S[K]> };

export interface ParsedArgs<S extends FlagSpecs> {
  flags: Flags<S>;
  /** Arguments that are not flags, in order. */
  positional: string[];
  /** --help or -h was given (required flags are then not checked). */
  help: boolean;
}

export function parseArgs<const S extends FlagSpecs>(specs: S, argv: readonly string[]): ParsedArgs<S> {
  const flags: Record<string, string | number | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(specs)) flags[name] = spec.type === 'boolean' ? false : spec.default;
  const positional: string[] = [];
  const given = new Set<string>();
  let help = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg.length > 1 && Number.isNaN(Number(arg))) throw new UsageError(`unknown option "${arg}" (flags are spelled --name)`);
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) throw new UsageError(`unknown flag --${name}`);
    given.add(name);
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value (got "${arg.slice(eq + 1)}")`);
      flags[name] = true;
      continue;
    }
    let text: string;
    if (eq >= 0) {
      text = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value (${spec.value ?? spec.type})`);
      text = next;
      i++;
    }
    flags[name] = spec.type === 'string' ? text : parseNumber(name, text, spec);
  }

  if (!help) {
    for (const [name, spec] of Object.entries(specs)) {
      if (spec.type !== 'boolean' && spec.required && !given.has(name)) throw new UsageError(`--${name} is required`);
    }
  }
  return { flags: flags as Flags<S>, positional, help };
}

function parseNumber(name: string, text: string, spec: NumberFlag): number {
  const v = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got "${text}"`);
  if (spec.integer && !Number.isInteger(v)) throw new UsageError(`--${name} must be an integer, got "${text}"`);
  return v;
}

/** `head` (usage line and description), then one aligned line per flag with its default. */
export function formatHelp(head: string, specs: FlagSpecs): string {
  const rows: [string, string][] = Object.entries(specs).map(([name, spec]) => {
    const left = spec.type === 'boolean' ? `--${name}` : `--${name} ${spec.value ?? spec.type.toUpperCase()}`;
    let right = spec.help;
    if (spec.type !== 'boolean' && spec.required) right += ' (required)';
    else if (spec.type !== 'boolean' && spec.default !== undefined && spec.default !== '') right += ` (default ${spec.default})`;
    return [left, right];
  });
  rows.push(['--help', 'this text']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return `${head.trimEnd()}\n\n${rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`).join('\n')}\n`;
}

/** `value` if it is one of `allowed`; else a UsageError "--flag value: expected a, b or c". */
export function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw new UsageError(`--${flag} ${value}: expected ${listOr(allowed)}`);
  return value as T;
}

/** "a", "a or b", "a, b or c". */
function listOr(items: readonly string[]): string {
  return items.length <= 2 ? items.join(' or ') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

/** A UsageError "--flag v: must be >= min" when v is given and below min. */
export function atLeast(flag: string, v: number | undefined, min: number): void {
  if (v !== undefined && v < min) throw new UsageError(`--${flag} ${v}: must be >= ${min}`);
}

/**
 * A command's flags, or the exit code to return at once: with --help the
 * help goes to stdout (0); a UsageError or PromptError (a bad --prompt, by
 * name so that this file imports nothing) from parsing or from `validate`
 * prints "lco <command>: <message>", a blank line and the help to stderr (2).
 * Any other error propagates.
 */
export function parseCommand<const S extends FlagSpecs>(
  command: string, specs: S, help: string, argv: readonly string[], validate?: (flags: Flags<S>) => void,
): Flags<S> | number {
  try {
    const parsed = parseArgs(specs, argv);
    if (parsed.help) {
      process.stdout.write(help);
      return 0;
    }
    validate?.(parsed.flags);
    return parsed.flags;
  } catch (err) {
    if (err instanceof UsageError || (err instanceof Error && err.name === 'PromptError')) {
      process.stderr.write(`lco ${command}: ${err.message}\n\n${help}`);
      return 2;
    }
    throw err;
  }
}

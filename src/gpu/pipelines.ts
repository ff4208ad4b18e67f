// Pipeline cache: one compute pipeline per kernel + entry point + compile-time
// constants + binding signature, and one shader module per kernel + rewritten
// consts. Bind group layouts are explicit (uniform at 0, then read-only
// storage, then read-write storage), so a module may hold several entry
// points whose globals reuse binding numbers.
//
// Compile-time constants: a kernel's `override` declarations become pipeline
// constants; a module-scope `const NAME: T = ...;` is rewritten in the source
// instead (WGSL sizes function-scope arrays, such as register tiles, only by
// const); a string value rewrites a module-scope `alias NAME = ...;` (the
// element type of a kernel, e.g. f32, vec4<f32> or f16, which also enables
// the f16 extension). A boolean const NAME also selects between lines
//   // #if NAME   ...   // #else   ...   // #endif
// (not nested), after the rewrite: code that only compiles with a feature
// (subgroup builtins and `enable subgroups;`) sits in such a block.

/** The bindings of a dispatch: uniform at 0?, then `inputs` read-only, then `outputs` read-write. */
export interface BindingSignature {
  uniform: boolean;
  inputs: number;
  outputs: number;
}

export class PipelineCache {
  #pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  #layouts = new Map<string, GPUBindGroupLayout>();
  #modules = new Map<string, GPUShaderModule>();

  constructor(
    private readonly device: GPUDevice,
    private readonly sources: ReadonlyMap<string, string>,
  ) {}

  /**
   * The pipeline and its bind group layout. Creation errors (WGSL compile,
   * layout mismatch) are WebGPU validation errors: call this inside an error scope.
   */
  get(kernel: string, entry: string, constants: Record<string, number | boolean | string>, sig: BindingSignature): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    const constKey = Object.keys(constants)
      .sort()
      .map((k) => `${k}=${typeof constants[k] === 'string' ? constants[k] : Number(constants[k])}`)
      .join(',');
    const layoutKey = `${sig.uniform ? 'u' : ''}${'r'.repeat(sig.inputs)}${'w'.repeat(sig.outputs)}`;
    const key = `${kernel}:${entry}:${constKey}:${layoutKey}`;
    const cached = this.#pipelines.get(key);
    if (cached) return cached;

    const code = this.sources.get(kernel);
    if (code === undefined) throw new Error(`unknown kernel "${kernel}" (not in KERNEL_FILES)`);
    const overrides: Record<string, number> = {};
    const rewrites: [string, number | boolean | string][] = [];
    for (const [name, value] of Object.entries(constants)) {
      if (typeof value === 'string') {
        if (!new RegExp(`^alias\\s+${name}\\s*=`, 'm').test(code)) throw new Error(`kernel "${kernel}" has no module-scope alias named ${name}`);
        rewrites.push([name, value]);
      } else if (new RegExp(`\\boverride\\s+${name}\\b`).test(code)) overrides[name] = Number(value);
      else if (new RegExp(`^const\\s+${name}\\s*:`, 'm').test(code)) rewrites.push([name, value]);
      else throw new Error(`kernel "${kernel}" has no override or module-scope const named ${name}`);
    }
    const moduleKey = `${kernel}:${rewrites.map(([k, v]) => `${k}=${v}`).join(',')}`;
    let module = this.#modules.get(moduleKey);
    if (!module) {
      module = this.device.createShaderModule({ code: specialise(code, rewrites), label: moduleKey });
      this.#modules.set(moduleKey, module);
    }
    const layout = this.#layout(layoutKey, sig);
    const pipeline = this.device.createComputePipeline({
      label: `${kernel}.${entry}(${constKey})`,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: entry, constants: overrides },
    });
    const made = { pipeline, layout };
    this.#pipelines.set(key, made);
    return made;
  }

  #layout(key: string, sig: BindingSignature): GPUBindGroupLayout {
    let layout = this.#layouts.get(key);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      let binding = 0;
      const visibility = 0x4; // GPUShaderStage.COMPUTE
      if (sig.uniform) entries.push({ binding: binding++, visibility, buffer: { type: 'uniform' } });
      for (let i = 0; i < sig.inputs; i++) entries.push({ binding: binding++, visibility, buffer: { type: 'read-only-storage' } });
      for (let i = 0; i < sig.outputs; i++) entries.push({ binding: binding++, visibility, buffer: { type: 'storage' } });
      layout = this.device.createBindGroupLayout({ entries, label: `layout ${key}` });
      this.#layouts.set(key, layout);
    }
    return layout;
  }
}

/** Rewrites `const NAME: T = ...;` at module scope to the given values. */
export function specialise(code: string, rewrites: [string, number | boolean | string][]): string {
  for (const [name, value] of rewrites) {
    if (typeof value === 'string') {
      code = code.replace(new RegExp(`^alias\\s+${name}\\s*=[^;]*;`, 'm'), `alias ${name} = ${value};`);
      // A half-precision type needs the f16 extension enabled before any declaration.
      if (/\bf16\b/.test(value) && !/^enable\s+f16\s*;/m.test(code)) code = `enable f16;\n${code}`;
      continue;
    }
    code = code.replace(new RegExp(`^const\\s+${name}\\s*:\\s*(\\w+)\\s*=[^;]*;`, 'm'), (_m, type: string) => {
      const literal = type === 'bool' ? String(Boolean(value)) : type === 'u32' ? `${value}u` : type === 'i32' ? `${value}i` : `${Number(value)}`;
      return `const ${name}: ${type} = ${literal};`;
    });
  }
  return conditionals(code);
}

/** Keeps the `// #if NAME` / `// #else` branch that NAME's const value selects. */
function conditionals(code: string): string {
  if (!/^\s*\/\/ #(if|else|endif)\b/m.test(code)) return code;
  const value = (name: string): boolean => {
    const m = new RegExp(`^const\\s+${name}\\s*:\\s*bool\\s*=\\s*(true|false)\\s*;`, 'm').exec(code);
    if (!m) throw new Error(`#if ${name}: the kernel has no module-scope const ${name}: bool`);
    return m[1] === 'true';
  };
  const out: string[] = [];
  let keep: boolean | null = null; // null: outside a block
  let open = '';
  for (const line of code.split('\n')) {
    const t = line.trim();
    const m = /^\/\/ #if (\w+)$/.exec(t);
    if (m) {
      if (keep !== null) throw new Error(`#if ${m[1]} inside #if ${open}: blocks do not nest`);
      open = m[1];
      keep = value(open);
    } else if (t === '// #else') {
      if (keep === null) throw new Error('#else without #if');
      keep = !keep;
    } else if (t === '// #endif') {
      if (keep === null) throw new Error('#endif without #if');
      keep = null;
    } else if (keep !== false) {
      out.push(line);
    }
  }
  if (keep !== null) throw new Error(`#if ${open} has no #endif`);
  return out.join('\n');
}

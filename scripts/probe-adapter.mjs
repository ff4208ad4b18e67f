// Exit 0 when Dawn (npm `webgpu`) finds a WebGPU adapter, 1 otherwise.
// Used by setup-webgpu.sh to decide whether a Vulkan driver must be installed.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
let code = 1;
try {
  const gpu = create([]);
  const adapter = await gpu.requestAdapter();
  if (adapter) {
    const info = adapter.info ?? {};
    const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
    console.log(`setup-webgpu: adapter found: ${name || '(unnamed)'}; features: ${[...adapter.features].sort().join(', ')}`);
    code = 0;
  }
} catch (err) {
  console.error(`setup-webgpu: Dawn failed: ${err instanceof Error ? err.message : err}`);
}
// A process holding a create() result does not exit by itself.
process.exit(code);

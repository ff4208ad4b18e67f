// Run by driver-stderr.test.ts as a child process, with stderr pointed at a
// pipe, a file or a terminal:
//   gpu        Gpu.create() (Dawn's first adapter request), then lines on
//              stdout and stderr through every path a program writes by
//   native     filterDriverStderr around a call that writes to descriptor 2
//              directly, as native code does: Dawn's two notices between
//              other lines; the call's value; a call that throws
import { writeSync } from 'node:fs';
import { filterDriverStderr, nodeDriverStderrEnv } from '../src/gpu/driver-stderr.ts';
import { Gpu } from '../src/gpu/gpu.ts';

const mode = process.argv[2];
process.stderr.write('stderr before\n');
if (mode === 'gpu') {
  const gpu = await Gpu.create();
  gpu.destroy();
} else if (mode === 'native') {
  const env = await nodeDriverStderrEnv();
  const got = filterDriverStderr(env, () => {
    writeSync(2, 'loader: a line that is not a notice\n');
    writeSync(2, 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n');
    writeSync(2, 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 500000 to 16 to fit dynamic offset allocation limit.\r\n');
    writeSync(2, 'Warning: something else Dawn says\n');
    writeSync(2, 'no newline at the end');
    return 42;
  });
  process.stdout.write(`value ${got}\n`);
  try {
    filterDriverStderr(env, () => {
      writeSync(2, 'written before the throw\n');
      throw new Error('thrown inside');
    });
  } catch (err) {
    process.stderr.write(`\ncaught ${(err as Error).message}\n`);
  }
}
process.stderr.write('stderr after\n');
console.error('console.error after');
process.stdout.write('stdout after\n');

// Runs once before the test files: builds dist/ (scripts/build.ts, ~2 s), the
// package that the cross-runtime, browser-demo and packaging tests load, so
// they always test the current source.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  const root = new URL('..', import.meta.url).pathname;
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}

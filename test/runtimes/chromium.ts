// Debian's Chromium, driven by playwright-core (never a downloaded browser),
// headless with WebGPU on: its adapter is SwiftShader (CPU Vulkan; subgroups
// of 4, no shader-f16). scripts/setup-browser.sh installs it.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: run \`bash scripts/setup-browser.sh\` as root (Debian's chromium package) or set CHROMIUM_PATH`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // WebGPU is behind a flag on Linux; without a GPU Chromium gives SwiftShader.
    args: ['--enable-unsafe-webgpu', '--no-sandbox'],
  });
}

/** A page whose console errors and uncaught exceptions are collected (and printed to the test log). */
export async function newLoggedPage(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return { page, errors };
}

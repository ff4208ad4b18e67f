// The browser demo (demo/) end to end: its data file is what
// scripts/make-demo-data.ts writes, and in headless Chromium (SwiftShader
// WebGPU, from http://127.0.0.1 for a secure context) the page loads the
// built package (dist/, built by the global setup) and the tiny decoder from
// URLs, embeds every gloss, shows the adapter, and ranks glosses for a query.
//
// The real check: a query that is exactly one gloss's text must come back as
// that gloss, score 1 within 1e-4 (the same text embedded alone and inside a
// left-padded batch of 32 gives the same unit vector), with the runner-up
// clearly below 1 (distinct texts give distinct vectors) and 10 results in
// non-increasing score order.
//
// Screenshot: .tmp/browser/demo.png always; with UPDATE_SCREENSHOTS=1 also
// docs/images/demo.png (the README's picture).
//
// Chromium's CPU WebGPU is slow: embedding the 256 glosses takes ~8-15 s on
// 2 cores. A missing Chromium fails the test (launchChromium says how to get it).
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWordNet, splitOf } from '../src/data/wordnet.ts';
import { DEMO_DATA_FILE, DEMO_QUOTAS, demoGlosses, demoGlossesJson, type DemoGloss } from '../scripts/make-demo-data.ts';
import { startStaticServer, type StaticServer } from '../scripts/static-server.ts';
import { launchChromium, newLoggedPage } from './runtimes/chromium.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SCREENSHOT = `${ROOT}.tmp/browser/demo.png`;
const DOCS_SCREENSHOT = `${ROOT}docs/images/demo.png`;
const VIEWPORT = { width: 1000, height: 800 };

const glosses: DemoGloss[] = JSON.parse(await readFile(DEMO_DATA_FILE, 'utf8'));

describe('demo/data/glosses.json', () => {
  it('is what scripts/make-demo-data.ts writes: 256 distinct held-out WordNet glosses, under 100 KB', async () => {
    const committed = await readFile(DEMO_DATA_FILE, 'utf8');
    const synsets = await readWordNet();
    expect(demoGlossesJson(demoGlosses(synsets))).toBe(committed);
    expect(Buffer.byteLength(committed)).toBeLessThan(100 * 1024);
    expect(glosses).toHaveLength(256);
    for (const [pos, quota] of DEMO_QUOTAS) expect(glosses.filter((g) => g.pos === pos), pos).toHaveLength(quota);
    expect(new Set(glosses.map((g) => g.gloss)).size).toBe(glosses.length);
    const byId = new Map(synsets.map((s) => [s.id, s]));
    for (const g of glosses) {
      const s = byId.get(g.id);
      expect(s, g.id).toBeDefined();
      expect([s!.words[0], s!.definition, splitOf(s!)], g.id).toEqual([g.word, g.gloss, 'heldout']);
    }
  });
});

interface Result { id: string; word: string; pos: string; score: number; scoreText: string; text: string }

/** Runs `submit` (which searches for `query`) and returns the listed results once they are that query's. */
async function search(page: Page, query: string, submit: () => Promise<void>): Promise<Result[]> {
  await submit();
  await page.waitForFunction((q) => document.getElementById('results')?.dataset.query === q, query, { timeout: 30_000 });
  return page.$$eval('#results li', (items) => items.map((li) => ({
    id: li.dataset.id ?? '', word: li.dataset.word ?? '', pos: li.dataset.pos ?? '', score: Number(li.dataset.score),
    scoreText: li.querySelector('.score')?.textContent ?? '', text: li.textContent ?? '',
  })));
}

function expectRanked(results: Result[]): void {
  expect(results).toHaveLength(10);
  for (const r of results) {
    expect(Number.isFinite(r.score), r.id).toBe(true);
    expect(r.scoreText).toBe(r.score.toFixed(4));
  }
  for (let i = 1; i < results.length; i++) expect(results[i].score, `result ${i + 1}`).toBeLessThanOrEqual(results[i - 1].score);
}

interface Session {
  server: StaticServer;
  browser: Browser;
  page: Page;
  /** newLoggedPage's: console errors and uncaught exceptions, as text. */
  errors: string[];
  /** The same console errors with the URL each is about. */
  located: { text: string; url: string }[];
}

async function openSession(): Promise<Session> {
  const server = await startStaticServer(ROOT);
  let browser: Browser;
  try {
    browser = await launchChromium();
  } catch (err) {
    await server.close();
    throw err;
  }
  const { page, errors } = await newLoggedPage(browser);
  const located: Session['located'] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') located.push({ text: m.text(), url: m.location().url });
  });
  await page.setViewportSize(VIEWPORT);
  return { server, browser, page, errors, located };
}

describe('demo/ in Chromium', () => {
  // Each test awaits the session, so a missing Chromium fails every test with launchChromium's message.
  let session: Promise<Session>;
  beforeAll(() => {
    session = openSession();
    session.catch(() => {}); // reported by the tests that await it
  });

  afterAll(async () => {
    const s = await session.catch(() => undefined);
    await s?.browser.close();
    await s?.server.close();
  });

  it('loads the model from URLs, shows the adapter, and embeds every gloss', async () => {
    const { server, page } = await session;
    const t0 = performance.now();
    await page.goto(`${server.url}demo/`);
    await page.waitForFunction(() => document.body.dataset.state !== 'loading', undefined, { timeout: 120_000 });
    const state = await page.evaluate(() => document.body.dataset.state);
    expect(state, await page.textContent('#error') ?? '').toBe('ready');
    const seconds = (performance.now() - t0) / 1000;
    const embedSeconds = Number(await page.evaluate(() => document.body.dataset.embedSeconds));
    console.log(`demo ready in ${seconds.toFixed(1)} s; ${glosses.length} glosses embedded in ${embedSeconds.toFixed(1)} s`);
    // The adapter named on the page is the one the browser gives this page.
    const info = await page.evaluate(async () => {
      const a = await navigator.gpu.requestAdapter();
      return [a?.info.vendor ?? '', a?.info.architecture ?? ''];
    });
    const adapter = (await page.textContent('#adapter')) ?? '';
    expect(info.join('')).not.toBe('');
    for (const part of info) expect(adapter).toContain(part);
    expect(await page.textContent('#status')).toContain(`${glosses.length} glosses embedded`);
    expect(await page.isEnabled('#query')).toBe(true);
  });

  it('ranks a gloss first, score 1, for a query that is its exact text; 10 results by falling score', async () => {
    const { page } = await session;
    // A noun, a verb and the longest gloss (the most left padding in its batch).
    const longest = glosses.reduce((a, b) => (b.gloss.length > a.gloss.length ? b : a));
    const targets = [glosses[3], glosses.find((g) => g.pos === 'v')!, longest];
    for (const target of targets) {
      const results = await search(page, target.gloss, async () => {
        await page.fill('#query', target.gloss);
        await page.press('#query', 'Enter');
      });
      expectRanked(results);
      expect(results[0].id, target.gloss).toBe(target.id);
      expect([results[0].word, results[0].pos]).toEqual([target.word, target.pos]);
      expect(results[0].text).toContain(target.gloss);
      expect(Math.abs(results[0].score - 1), target.gloss).toBeLessThan(1e-4);
      expect(results[1].score, target.gloss).toBeLessThan(0.999);
    }
  });

  it('searches from an example button, with no console errors; takes the screenshot', async () => {
    const { page, errors, located } = await session;
    const chip = page.locator('#examples button').first();
    const query = (await chip.textContent()) ?? '';
    expect(query).not.toBe('');
    const results = await search(page, query, () => chip.click());
    expectRanked(results);
    expect(await page.inputValue('#query')).toBe(query);
    expect(await page.getAttribute('#results', 'data-query')).toBe(query);

    await mkdir(`${ROOT}.tmp/browser`, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    if (process.env.UPDATE_SCREENSHOTS === '1') {
      await mkdir(`${ROOT}docs/images`, { recursive: true });
      await copyFile(SCREENSHOT, DOCS_SCREENSHOT);
    }

    // None at all: an unsharded folder is read without asking for an index,
    // and the text-only demo does not look for a vision encoder.
    expect(located.map((e) => `${e.text} (${e.url})`)).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('says so on the page when the browser has no WebGPU, or the model does not load', async () => {
    const { server, browser } = await session;
    const noGpu = await browser.newPage();
    await noGpu.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
    await noGpu.goto(`${server.url}demo/`);
    await noGpu.waitForFunction(() => document.body.dataset.state === 'error', undefined, { timeout: 30_000 });
    expect(await noGpu.textContent('#error')).toMatch(/no WebGPU \(navigator\.gpu is undefined\)[\s\S]*--enable-unsafe-webgpu/);
    expect(await noGpu.isVisible('#error')).toBe(true);
    expect(await noGpu.isDisabled('#query')).toBe(true);
    await noGpu.close();

    const noModel = await browser.newPage();
    await noModel.route('**/fixtures/tiny-decoder/config.json', (route) => route.fulfill({ status: 404, body: 'not found' }));
    await noModel.goto(`${server.url}demo/`);
    await noModel.waitForFunction(() => document.body.dataset.state === 'error', undefined, { timeout: 60_000 });
    expect(await noModel.textContent('#error')).toMatch(/^Loading failed\.[\s\S]*config\.json/);
    await noModel.close();
  });
});

// quietWait swaps the global setImmediate for a throttled one only while a
// wait is in flight (Dawn's Node binding polls through it), and always puts
// the original back: after overlapping waits, and after a rejected one.
import { describe, expect, it } from 'vitest';
import { quietWait } from '../src/gpu/quiet-wait.ts';

const later = <T>(ms: number, value: T, fail = false) =>
  new Promise<T>((resolve, reject) => setTimeout(() => (fail ? reject(new Error(String(value))) : resolve(value)), ms));

describe('quietWait', () => {
  it('throttles setImmediate during the wait and restores it after', async () => {
    const original = globalThis.setImmediate;
    let during: typeof setImmediate | null = null;
    const p = later(5, 7).then((v) => ((during = globalThis.setImmediate), v));
    expect(await quietWait(p)).toBe(7);
    expect(during).not.toBe(original);
    expect(globalThis.setImmediate).toBe(original);
  });

  it('keeps the throttle until the last of overlapping waits ends, and restores after a rejection', async () => {
    const original = globalThis.setImmediate;
    const slow = quietWait(later(20, 'slow'));
    const failing = quietWait(later(5, 'boom', true));
    await expect(failing).rejects.toThrow('boom');
    expect(globalThis.setImmediate).not.toBe(original); // `slow` is still waiting
    expect(await slow).toBe('slow');
    expect(globalThis.setImmediate).toBe(original);
  });

  it('still runs setImmediate callbacks (in order) while throttled', async () => {
    const order: number[] = [];
    await quietWait(
      new Promise<void>((resolve) => {
        setTimeout(() => {
          setImmediate(() => order.push(1));
          setImmediate(() => {
            order.push(2);
            resolve();
          });
        }, 3);
      }),
    );
    expect(order).toEqual([1, 2]);
  });

  it('clearImmediate cancels a throttled callback (a timer underneath) without breaking later immediates', async () => {
    const ran: string[] = [];
    await quietWait(
      new Promise<void>((resolve) => {
        setTimeout(() => {
          const h = setImmediate(() => ran.push('cancelled'));
          clearImmediate(h);
          setImmediate(() => {
            ran.push('kept');
            resolve();
          });
        }, 3);
      }),
    );
    await new Promise((r) => setTimeout(r, 5));
    await new Promise<void>((r) => setImmediate(() => (ran.push('after'), r())));
    expect(ran).toEqual(['kept', 'after']);
  });
});

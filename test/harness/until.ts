/**
 * Wait for something a background process will make true: poll `fn` until it returns a
 * truthy value (and return it), failing with `what` after `ms`. Tests wait for outcomes this
 * way, never for a fixed time.
 */
export async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

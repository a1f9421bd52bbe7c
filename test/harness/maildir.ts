/** Reading what Dovecot delivered into a Maildir (tests look, never write). */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function maildirMessages(dir: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const sub of ['new', 'cur']) {
    let names: string[] = [];
    try {
      names = await readdir(join(dir, sub));
    } catch {
      continue;
    }
    for (const n of names.sort()) out.push(await readFile(join(dir, sub, n)));
  }
  return out;
}

/** Poll until `test` holds for the messages, or fail after `timeoutMs`. */
export async function waitForMaildir(dir: string, test: (msgs: Buffer[]) => boolean, timeoutMs = 30_000): Promise<Buffer[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const msgs = await maildirMessages(dir);
    if (test(msgs)) return msgs;
    if (Date.now() > deadline) throw new Error(`maildir ${dir}: condition not met within ${timeoutMs} ms (${msgs.length} messages)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

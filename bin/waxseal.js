#!/usr/bin/env -S node --max-semi-space-size=4
// The installed entry point runs the compiled CLI; `npm run build` (run by `npm install`) makes it.
// A young generation of 4 MB semi-spaces instead of V8's 16: the daemon's peak RSS on a
// 10,000-message mailbox is ~45 MB lower (bench/imap.ts), for ~15% on a 10,000-message STORE.
// `npm start`, the tray app (scripts/desktop.mjs) and the IMAP bench pass the same flag.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = new URL('../dist/src/cli/entry.js', import.meta.url);
if (!existsSync(fileURLToPath(compiled))) {
  process.stderr.write('waxseal: not built yet; run `npm install` (or `npm run build`) in the project directory first\n');
  process.exit(1);
}
await import(compiled.href);

#!/usr/bin/env node
// The installed entry point runs the compiled CLI; `npm run build` (run by `npm install`) makes it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = new URL('../dist/src/cli/entry.js', import.meta.url);
if (!existsSync(fileURLToPath(compiled))) {
  process.stderr.write('waxseal: not built yet; run `npm install` (or `npm run build`) in the project directory first\n');
  process.exit(1);
}
await import(compiled.href);

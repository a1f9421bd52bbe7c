#!/usr/bin/env node
// `npm run desktop`: build the core and the Electron shell, then start Electron. Electron is an
// optional dependency: where its binary could not be downloaded, say so instead of a stack.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let electron;
try {
  electron = require('electron'); // the package's main export is the binary's path
} catch {
  electron = undefined;
}
if (typeof electron !== 'string') {
  console.error(
    'waxseal desktop: Electron is not installed. It is an optional dependency whose install downloads\n' +
      'a binary from GitHub releases; run `npm install electron@41.7.1` with network access, then retry.\n' +
      'The daemon itself runs without it: `npm start`.',
  );
  process.exit(1);
}
const build = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'app/tsconfig.json'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
// The daemon runs in the main process: the same V8 young generation as `waxseal serve` (bin/waxseal.js).
const run = spawnSync(electron, ['--js-flags=--max-semi-space-size=4', 'dist/app/main/main.js', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(run.status ?? 1);

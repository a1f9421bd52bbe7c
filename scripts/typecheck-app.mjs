#!/usr/bin/env node
// Typecheck the Electron shell when Electron (an optional dependency) is installed; where its
// install could not fetch the binary, npm removed it with its typings, so say so and skip.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
try {
  require.resolve('electron/electron.d.ts');
} catch {
  console.log('typecheck: app/ skipped (Electron is not installed here)');
  process.exit(0);
}
const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'app/tsconfig.json', '--noEmit'], { stdio: 'inherit' });
process.exit(r.status ?? 1);

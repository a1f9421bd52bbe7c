#!/usr/bin/env node
// The executable: `bin/waxseal.js` runs the compiled copy; tests run this file through tsx.
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));

/**
 * The `waxseal` command. Commands live one per file in a typed map; option parsing is
 * strict, so a misspelt option is an error with the usage line, not a silent default.
 * Exit status: 0 success, 1 a failure explained on stderr, 2 wrong usage.
 */
import { parseArgs } from 'node:util';
import { WaxsealError } from '../util/errors.js';
import { VERSION } from '../daemon/daemon.js';
import type { Command } from './command.js';
import { account } from './account.js';
import { credentials } from './credentials.js';
import { init } from './init.js';
import { keys } from './keys.js';
import { offline } from './offline.js';
import { serve } from './serve.js';
import { status } from './status.js';
import { sync } from './sync.js';

const COMMANDS = { init, serve, status, credentials, keys, account, offline, sync } satisfies Record<string, Command>;
type Name = keyof typeof COMMANDS;

function overview(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return [
    `waxseal ${VERSION} — a local encrypting mail proxy`,
    '',
    'Usage: waxseal COMMAND [options]      (waxseal COMMAND --help for details)',
    '',
    ...rows,
    '',
    'Every command takes --data-dir DIR (default $XDG_DATA_HOME/waxseal).',
    'WAXSEAL_PASSPHRASE unlocks a passphrase-protected profile without a prompt.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(`${overview()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command: Command | undefined = Object.hasOwn(COMMANDS, name) ? COMMANDS[name as Name] : undefined;
  if (!command) {
    process.stderr.write(`waxseal: unknown command "${name}"\n\n${overview()}\n`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options, allowPositionals: Boolean(command.positionals), strict: true });
  } catch (err) {
    process.stderr.write(`waxseal ${name}: ${(err as Error).message}\nUsage: ${command.usage}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`Usage: ${command.usage}\n\n${command.help}\n`);
    return 0;
  }
  try {
    return await command.run(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
  } catch (err) {
    if (err instanceof WaxsealError) {
      process.stderr.write(`waxseal ${name}: ${err.message}\n`);
      return err.code === 'EUSAGE' ? 2 : 1;
    }
    process.stderr.write(`waxseal ${name}: internal error: ${(err as Error)?.message ?? String(err)}\n`);
    if (process.env.WAXSEAL_DEBUG) console.error(err);
    return 1;
  }
}


/** What every command shares: where the profile is and how secrets are reached. */
import { defaultDataDir } from '../config/paths.js';
import { createOsKeychain } from '../secrets/keychain.js';
import type { SecretAccess } from '../daemon/profile.js';
import { terminalAsk } from './prompt.js';
import { resolve } from 'node:path';

export function dataDirFrom(value: string | undefined): string {
  return value ? resolve(value) : defaultDataDir();
}

export function secretAccess(env: NodeJS.ProcessEnv = process.env): SecretAccess {
  const given = env.WAXSEAL_PASSPHRASE;
  return {
    keychain: createOsKeychain(),
    passphrase: { given: given === undefined || given === '' ? undefined : given, ask: terminalAsk() },
  };
}

export function out(json: boolean, data: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
}

/**
 * Where a profile lives. One directory holds everything of one profile: its settings, the
 * wrapped secret (passphrase mode), the store and the control-API files. XDG rules apply.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WAXSEAL_DATA_DIR) return resolve(env.WAXSEAL_DATA_DIR);
  const base = env.XDG_DATA_HOME && env.XDG_DATA_HOME.startsWith('/') ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share');
  return join(base, 'waxseal');
}

export interface ProfilePaths {
  dir: string;
  config: string;
  wrappedSecret: string;
  store: string;
  controlInfo: string;
  controlToken: string;
}

export function profilePaths(dir: string): ProfilePaths {
  return {
    dir,
    config: join(dir, 'config.json'),
    wrappedSecret: join(dir, 'secret.json'),
    store: join(dir, 'store'),
    controlInfo: join(dir, 'control.json'),
    controlToken: join(dir, 'control.token'),
  };
}

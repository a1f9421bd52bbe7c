import { readFileSync } from 'node:fs';
import { profilePaths } from '../config/paths.js';
import { readProfile } from '../config/profile.js';
import { callControl } from '../daemon/control.js';
import { keysAction, type KeysRequest, type KeysResponse } from '../daemon/keys.js';
import { openKeyring } from '../daemon/keyring.js';
import { unlockProfile } from '../daemon/profile.js';
import { decryptKey, type PrivateKey } from 'openpgp';
import { parseKeyBlock, type KeyInfo } from '../openpgp/keys.js';
import { terminalAsk } from './prompt.js';
import { Store } from '../store/store.js';
import { WaxsealError } from '../util/errors.js';
import { COMMON_OPTIONS, type Command } from './command.js';
import { dataDirFrom, out, secretAccess } from './context.js';

const USAGE = `waxseal keys list
       waxseal keys generate [--email ADDR] [--name NAME] [--expires DAYS]
       waxseal keys import FILE
       waxseal keys export [--secret] [FINGERPRINT]
       waxseal keys lookup ADDRESS [--local]
       waxseal keys extend FINGERPRINT --expires DAYS|YYYY-MM-DD|never
       waxseal keys revoke FINGERPRINT [--reason superseded|compromised|retired]
       waxseal keys verify ADDRESS FINGERPRINT
   (each also takes [--data-dir DIR] [--json])`;

function expiry(value: string | undefined, now = Date.now()): string | null {
  if (value === undefined) throw new WaxsealError('EUSAGE', '--expires DAYS|YYYY-MM-DD|never is required');
  if (value === 'never') return null;
  if (/^\d+$/.test(value)) return new Date(now + Number(value) * 86400_000).toISOString();
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new WaxsealError('EUSAGE', `--expires: "${value}" is not a number of days, a date or "never"`);
  return new Date(t).toISOString();
}

function request(sub: string | undefined, args: string[], v: Record<string, string | boolean | undefined>, me: () => { email: string; name: string }): KeysRequest {
  const need = (n: number, what: string) => {
    if (args.length !== n) throw new WaxsealError('EUSAGE', `keys ${sub} takes ${what}`);
  };
  switch (sub) {
    case 'list':
      need(0, 'no arguments');
      return { action: 'list' };
    case 'generate': {
      need(0, 'no arguments');
      const days = v.expires === undefined ? undefined : Number(v.expires);
      if (days !== undefined && !(Number.isInteger(days) && days > 0)) throw new WaxsealError('EUSAGE', '--expires takes a number of days');
      const profile = v.email === undefined ? me() : undefined;
      const name = typeof v.name === 'string' ? v.name : profile?.name;
      return { action: 'generate', email: (v.email as string | undefined) ?? profile!.email, ...(name ? { name } : {}), ...(days ? { expiresInDays: days } : {}) };
    }
    case 'import': {
      need(1, 'one FILE');
      let bytes: Buffer;
      try {
        bytes = readFileSync(args[0]!);
      } catch (err) {
        throw new WaxsealError('ENOENT', `Cannot read ${args[0]}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
      return { action: 'import', data: bytes.toString('base64'), encoding: 'base64' };
    }
    case 'export':
      if (args.length > 1) throw new WaxsealError('EUSAGE', 'keys export takes at most one FINGERPRINT');
      return { action: 'export', ...(args[0] ? { fingerprint: args[0] } : {}), secret: Boolean(v.secret) };
    case 'lookup':
      need(1, 'one ADDRESS');
      return { action: 'lookup', address: args[0]!, network: !v.local };
    case 'extend':
      need(1, 'one FINGERPRINT');
      return { action: 'extend', fingerprint: args[0]!, expires: expiry(v.expires as string | undefined) };
    case 'revoke': {
      need(1, 'one FINGERPRINT');
      const reason = (v.reason as string | undefined) ?? 'none';
      if (!['none', 'superseded', 'compromised', 'retired'].includes(reason)) throw new WaxsealError('EUSAGE', `--reason: "${reason}" is not superseded, compromised or retired`);
      return { action: 'revoke', fingerprint: args[0]!, reason: reason as 'none' };
    }
    case 'verify':
      need(2, 'ADDRESS FINGERPRINT');
      return { action: 'verify', address: args[0]!, fingerprint: args[1]! };
    default:
      throw new WaxsealError('EUSAGE', sub === undefined ? 'keys needs a subcommand' : `unknown keys subcommand "${sub}"`);
  }
}

/**
 * A secret key protected by a passphrase (as gpg exports it) is unlocked here, before it
 * goes anywhere: from WAXSEAL_KEY_PASSPHRASE, else asked on the terminal. What is stored is
 * the unlocked key inside a sealed document.
 */
async function unlockKeys(bytes: Buffer): Promise<Buffer> {
  const keys = await parseKeyBlock(new Uint8Array(bytes), 'file');
  if (!keys.some((k) => k.isPrivate() && !(k as PrivateKey).isDecrypted())) return bytes;
  const given = process.env.WAXSEAL_KEY_PASSPHRASE;
  const ask = terminalAsk();
  if (!given && !ask) {
    throw new WaxsealError('ELOCKEDKEY', 'The secret key is protected by a passphrase; set WAXSEAL_KEY_PASSPHRASE or run this on a terminal to be asked');
  }
  const passphrase = given || (await ask!('Passphrase of the key being imported: ', false));
  const out: Uint8Array[] = [];
  for (const key of keys) {
    if (key.isPrivate() && !(key as PrivateKey).isDecrypted()) {
      try {
        out.push((await decryptKey({ privateKey: key as PrivateKey, passphrase })).write());
      } catch {
        throw new WaxsealError('EBADPASS', `Wrong passphrase for key ${key.getFingerprint().toUpperCase()}; nothing was imported`);
      }
    } else out.push(key.write());
  }
  return Buffer.concat(out);
}

function showKey(k: KeyInfo): string {
  const state = k.revoked ? ' [revoked]' : k.unusable ? ' [expired or unusable]' : '';
  const fpr = k.fingerprint.replace(/(.{4})/g, '$1 ').trim();
  return [`${k.secret ? 'sec' : 'pub'}  ${k.algorithm}  v${k.version}  created ${k.created.slice(0, 10)}  ${k.expires ? `expires ${k.expires.slice(0, 10)}` : 'no expiry'}${state}`, `     ${fpr}`, ...k.userIds.map((u) => `     uid ${u}`)].join('\n');
}

function text(res: KeysResponse): string {
  switch (res.action) {
    case 'list': {
      const lines = ['Your keys:', ...(res.keys.own.length ? res.keys.own.map(showKey) : ['  (none; create one with `waxseal keys generate`)'])];
      if (res.keys.others.length) lines.push('', 'Correspondents:');
      for (const o of res.keys.others) {
        lines.push(`  ${o.address}: ${o.key ? `${o.key.fingerprint} (${o.source}${o.verified ? ', verified' : ''})` : 'no usable key'}`);
        for (const c of o.changes) lines.push(`    ! a different key ${c.fingerprint} was offered by ${c.source} on ${c.at.slice(0, 10)}; not used (the address is verified)`);
      }
      return lines.join('\n');
    }
    case 'generate':
    case 'extend':
    case 'revoke':
      return showKey(res.key);
    case 'import':
      return [`Imported ${res.imported.length} key(s):`, ...res.imported.map(showKey)].join('\n');
    case 'export':
      return res.armored.trimEnd();
    case 'lookup': {
      const l = res.lookup;
      const lines = [l.key ? `${l.address}: ${l.source}${l.verified ? ', verified' : ''}\n${showKey(l.key)}` : `${l.address}: no usable key found`];
      for (const c of l.changes) lines.push(`! a different key ${c.fingerprint} was offered by ${c.source} on ${c.at.slice(0, 10)}; not used (the address is verified)`);
      return lines.join('\n');
    }
    case 'verify':
      return `${res.address}: key ${res.fingerprint} marked verified; other keys for this address will be shown, never used`;
  }
}

export const keys: Command = {
  summary: 'your OpenPGP keys and your correspondents\' keys',
  usage: USAGE,
  help: `Your keys live sealed in the store, so every paired device has them; a secret key is
never written in the clear except by \`export --secret\`, to standard output.
import FILE reads an armored or binary key block (e.g. from \`gpg --export-secret-keys\`
or \`gpg --export\`): secret keys become yours, public keys go to your keyring.
lookup ADDRESS finds the key mail to ADDRESS would be encrypted to: your keyring,
Autocrypt, Gossip, attached keys, then WKD and keys.openpgp.org (--local: no network).
verify ADDRESS FINGERPRINT pins that key: a later different key is shown, never used.
When the daemon runs, the command is carried out by it.`,
  options: {
    ...COMMON_OPTIONS,
    json: { type: 'boolean' },
    secret: { type: 'boolean' },
    local: { type: 'boolean' },
    email: { type: 'string' },
    name: { type: 'string' },
    expires: { type: 'string' },
    reason: { type: 'string' },
  },
  positionals: true,
  async run(v, positionals) {
    const dataDir = dataDirFrom(v['data-dir'] as string | undefined);
    const paths = profilePaths(dataDir);
    const [sub, ...args] = positionals;
    let req = request(sub, args, v, () => readProfile(paths.config));
    if (req.action === 'import') req = { ...req, data: (await unlockKeys(Buffer.from(req.data, 'base64'))).toString('base64') };
    let res = (await callControl(paths, '/v1/keys', 60_000, req)) as KeysResponse | undefined;
    if (!res) {
      const unlocked = await unlockProfile({ dataDir, ...secretAccess() });
      const store = await Store.open({ dir: unlocked.paths.store, keys: unlocked.keys, device: unlocked.profile.device });
      try {
        res = await keysAction(openKeyring(store, unlocked.profile), req);
      } finally {
        await store.close();
      }
    }
    out(Boolean(v.json), res, () => text(res));
    return 0;
  },
};

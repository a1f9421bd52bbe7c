/**
 * `waxseal keys ...` as one request/response pair, so the same code runs inside a daemon
 * (the CLI asks it over the control API: the store is the daemon's while it runs) and in the
 * CLI itself when no daemon runs.
 */
import { WaxsealError } from '../util/errors.js';
import type { Keyring, Lookup } from '../mail/keyring.js';
import { describeKey, type KeyInfo, type RevocationReason } from '../openpgp/keys.js';

export type KeysRequest =
  | { action: 'list' }
  | { action: 'generate'; email: string; name?: string; expiresInDays?: number }
  | { action: 'import'; data: string; encoding: 'utf8' | 'base64' }
  | { action: 'export'; fingerprint?: string; secret?: boolean }
  | { action: 'lookup'; address: string; network?: boolean }
  | { action: 'extend'; fingerprint: string; expires: string | null }
  | { action: 'revoke'; fingerprint: string; reason?: RevocationReason }
  | { action: 'verify'; address: string; fingerprint: string };

export interface KeyListing {
  own: KeyInfo[];
  others: Array<{ address: string; key?: KeyInfo; source?: string; verified: boolean; changes: Lookup['changes'] }>;
}

export type KeysResponse =
  | { action: 'list'; keys: KeyListing }
  | { action: 'generate' | 'extend' | 'revoke'; key: KeyInfo }
  | { action: 'import'; imported: KeyInfo[] }
  | { action: 'export'; armored: string }
  | { action: 'lookup'; lookup: Omit<Lookup, 'key'> & { key?: KeyInfo } }
  | { action: 'verify'; address: string; fingerprint: string };

const ACTIONS = new Set(['list', 'generate', 'import', 'export', 'lookup', 'extend', 'revoke', 'verify']);

export function checkKeysRequest(body: unknown): KeysRequest {
  const b = body as { action?: unknown };
  if (typeof b !== 'object' || b === null || typeof b.action !== 'string' || !ACTIONS.has(b.action)) {
    throw new WaxsealError('EUSAGE', 'Unknown keys action');
  }
  return body as KeysRequest;
}

export async function keysAction(keyring: Keyring, req: KeysRequest): Promise<KeysResponse> {
  switch (req.action) {
    case 'list': {
      const own = await Promise.all((await keyring.ownKeys()).map((k) => describeKey(k)));
      const others: KeyListing['others'] = [];
      for (const p of await keyring.peers()) {
        const l = await keyring.lookup(p.address, { network: false });
        others.push({ address: p.address, ...(l.key ? { key: await describeKey(l.key) } : {}), ...(l.source ? { source: l.source } : {}), verified: l.verified, changes: l.changes });
      }
      return { action: 'list', keys: { own, others } };
    }
    case 'generate':
      return { action: 'generate', key: await keyring.generate({ email: req.email, ...(req.name ? { name: req.name } : {}), ...(req.expiresInDays ? { expiresIn: req.expiresInDays * 86400 } : {}) }) };
    case 'import': {
      const data = req.encoding === 'base64' ? new Uint8Array(Buffer.from(req.data, 'base64')) : req.data;
      return { action: 'import', imported: await keyring.import(data) };
    }
    case 'export':
      return { action: 'export', armored: await keyring.export({ ...(req.fingerprint ? { fingerprint: req.fingerprint } : {}), secret: Boolean(req.secret) }) };
    case 'lookup': {
      const { key, ...rest } = await keyring.lookup(req.address, { network: req.network !== false });
      return { action: 'lookup', lookup: { ...rest, ...(key ? { key: await describeKey(key) } : {}) } };
    }
    case 'extend':
      return { action: 'extend', key: await keyring.extend(req.fingerprint, req.expires === null ? null : new Date(req.expires)) };
    case 'revoke':
      return { action: 'revoke', key: await keyring.revoke(req.fingerprint, req.reason ?? 'none') };
    case 'verify':
      await keyring.verify(req.address, req.fingerprint);
      return { action: 'verify', address: req.address.toLowerCase(), fingerprint: req.fingerprint.replace(/\s+/g, '').toUpperCase() };
  }
}

/**
 * Autocrypt Level 1 (autocrypt.org/level1.html): the `Autocrypt:` and `Autocrypt-Gossip:`
 * headers, and the per-correspondent peer state they update. Pure functions; the keyring
 * persists the state.
 *
 *   autocrypt-header = "addr=" addr-spec ";" ["prefer-encrypt=mutual" ";"] "keydata=" base64
 *
 * Attributes whose names start with "_" are optional and ignored; any other unknown
 * attribute makes the whole header invalid (the spec's rule, so future critical
 * attributes are never half-understood).
 */
import type { Key } from 'openpgp';
import { MAX_KEY_BYTES } from './config.js';

export interface AutocryptHeader {
  addr: string;
  preferEncrypt: 'mutual' | 'nopreference';
  keydata: Uint8Array;
}

export function parseAutocryptHeader(value: string): AutocryptHeader | null {
  const attrs = new Map<string, string>();
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) {
      if (part.trim() === '') continue;
      return null;
    }
    const name = part.slice(0, eq).trim().toLowerCase();
    if (attrs.has(name)) return null;
    attrs.set(name, part.slice(eq + 1).trim());
  }
  for (const name of attrs.keys()) {
    if (!['addr', 'prefer-encrypt', 'keydata'].includes(name) && !name.startsWith('_')) return null;
  }
  const addr = attrs.get('addr');
  const keydata = attrs.get('keydata')?.replace(/\s+/g, '');
  if (!addr || !keydata || !/^[A-Za-z0-9+/]+={0,2}$/.test(keydata)) return null;
  if (keydata.length > (MAX_KEY_BYTES * 4) / 3) return null;
  const bytes = Buffer.from(keydata, 'base64');
  if (bytes.length === 0) return null;
  return {
    addr: addr.toLowerCase(),
    preferEncrypt: attrs.get('prefer-encrypt')?.toLowerCase() === 'mutual' ? 'mutual' : 'nopreference',
    keydata: new Uint8Array(bytes),
  };
}

/** The header value, folded at 76 columns as the spec's examples are. */
export function autocryptHeaderValue(addr: string, key: Key, preferEncrypt: 'mutual' | 'nopreference' = 'mutual'): string {
  const b64 = Buffer.from(key.write()).toString('base64');
  const lines = b64.match(/.{1,76}/g) ?? [];
  const pref = preferEncrypt === 'mutual' ? ' prefer-encrypt=mutual;' : '';
  return `addr=${addr};${pref} keydata=\r\n ${lines.join('\r\n ')}`;
}

export function gossipHeaderValue(addr: string, key: Key): string {
  const b64 = Buffer.from(key.write()).toString('base64');
  return `addr=${addr}; keydata=\r\n ${(b64.match(/.{1,76}/g) ?? []).join('\r\n ')}`;
}

/**
 * What we know of one correspondent's keys, from every source. Keys are kept as base64 of
 * their binary packets so the record is plain JSON.
 */
export interface PeerState {
  address: string;
  /** Autocrypt Level 1 state (times in ms since the epoch). */
  lastSeen?: number;
  autocryptTimestamp?: number;
  autocryptKey?: string;
  preferEncrypt?: 'mutual' | 'nopreference';
  gossipTimestamp?: number;
  gossipKey?: string;
  /** A public key the user imported (the local keyring). */
  imported?: string;
  /** A key found attached to a message (application/pgp-keys). */
  attachment?: { key: string; at: number };
  /** The last network lookup: the key found, or none (a negative answer is cached too). */
  network?: { key?: string; source: 'wkd' | 'vks'; fetchedAt: number };
  /** The fingerprint the user verified for this address. */
  verified?: string;
  /** Keys offered for a verified address that differ from the verified one: never applied silently. */
  changes?: Array<{ at: number; source: string; fingerprint: string }>;
}

/**
 * Level 1 "update peer state" for one message from `addr` dated `date` (clamped to now), with
 * or without a valid Autocrypt header. Returns the new state, or undefined when the message
 * is older than what we have seen (no change).
 */
export function applyAutocrypt(state: PeerState, date: number, header: AutocryptHeader | null, now = Date.now()): PeerState | undefined {
  const d = Math.min(date, now);
  if (state.autocryptTimestamp !== undefined && d <= state.autocryptTimestamp) return undefined;
  if (!header) {
    if (state.lastSeen !== undefined && d <= state.lastSeen) return undefined;
    return { ...state, lastSeen: d };
  }
  return {
    ...state,
    lastSeen: d,
    autocryptTimestamp: d,
    autocryptKey: Buffer.from(header.keydata).toString('base64'),
    preferEncrypt: header.preferEncrypt,
  };
}

/** Level 1 gossip update: newer gossip replaces older. */
export function applyGossip(state: PeerState, date: number, keydata: Uint8Array, now = Date.now()): PeerState | undefined {
  const d = Math.min(date, now);
  if (state.gossipTimestamp !== undefined && d <= state.gossipTimestamp) return undefined;
  return { ...state, gossipTimestamp: d, gossipKey: Buffer.from(keydata).toString('base64') };
}

/** Deterministic merge of two replicas of one peer record: newest of each source wins. */
export function mergePeers(a: PeerState, b: PeerState): PeerState {
  const newer = <T>(x: T | undefined, tx: number | undefined, y: T | undefined, ty: number | undefined): T | undefined =>
    (tx ?? -1) > (ty ?? -1) ? x : (ty ?? -1) > (tx ?? -1) ? y : JSON.stringify(x ?? null) >= JSON.stringify(y ?? null) ? x : y;
  const out: PeerState = { address: a.address };
  const ac = newer(a, a.autocryptTimestamp, b, b.autocryptTimestamp)!;
  if (ac.autocryptTimestamp !== undefined) {
    out.autocryptTimestamp = ac.autocryptTimestamp;
    if (ac.autocryptKey) out.autocryptKey = ac.autocryptKey;
    if (ac.preferEncrypt) out.preferEncrypt = ac.preferEncrypt;
  }
  const seen = Math.max(a.lastSeen ?? -1, b.lastSeen ?? -1);
  if (seen >= 0) out.lastSeen = seen;
  const g = newer(a, a.gossipTimestamp, b, b.gossipTimestamp)!;
  if (g.gossipTimestamp !== undefined) {
    out.gossipTimestamp = g.gossipTimestamp;
    if (g.gossipKey) out.gossipKey = g.gossipKey;
  }
  const imported = a.imported ?? b.imported;
  if (imported) out.imported = a.imported && b.imported ? (a.imported >= b.imported ? a.imported : b.imported) : imported;
  const att = newer(a.attachment, a.attachment?.at, b.attachment, b.attachment?.at);
  if (att) out.attachment = att;
  const net = newer(a.network, a.network?.fetchedAt, b.network, b.network?.fetchedAt);
  if (net) out.network = net;
  const verified = a.verified ?? b.verified;
  if (verified) out.verified = verified;
  const changes = [...(a.changes ?? []), ...(b.changes ?? [])];
  if (changes.length) {
    const seenKeys = new Set<string>();
    out.changes = changes
      .filter((c) => !seenKeys.has(`${c.at}|${c.fingerprint}|${c.source}`) && Boolean(seenKeys.add(`${c.at}|${c.fingerprint}|${c.source}`)))
      .sort((x, y) => x.at - y.at || (x.fingerprint < y.fingerprint ? -1 : 1));
  }
  return out;
}

/**
 * The keyring: the user's own OpenPGP keys and what we know of everyone else's, kept as
 * sealed records in the store (so every paired device has them), with the lookup order and
 * the rules that decide which key a message is encrypted to.
 *
 * Own keys are stored as unprotected secret-key packets inside a sealed record: the store's
 * sealing is their protection, and they are never written anywhere else in the clear.
 *
 * Lookup order for someone else's key, each source switchable in the profile: the local
 * keyring (keys the user imported) → Autocrypt → Autocrypt-Gossip → keys attached to mail →
 * Web Key Directory → keys.openpgp.org. A verified address keeps its verified key: a
 * different key offered from any source is recorded as a change and shown, never used.
 */
import { readKeys, type Key, type PrivateKey, type PublicKey } from 'openpgp';
import { WaxsealError } from '../util/errors.js';
import { applyAutocrypt, applyGossip, mergePeers, type PeerState } from '../openpgp/autocrypt.js';
import { FULL_CONFIG, MAX_KEY_BYTES, PGP_CONFIG } from '../openpgp/config.js';
import type { Learned } from '../openpgp/incoming.js';
import {
  addressesOf,
  canEncryptTo,
  describeKey,
  fingerprintOf,
  generateOwnKey,
  parseKeyBlock,
  revokeOwnKey,
  setExpiry,
  usablePrivateKey,
  type KeyInfo,
  type RevocationReason,
} from '../openpgp/keys.js';
import type { RecordRepo } from '../store/records.js';

export type KeySource = 'own' | 'keyring' | 'autocrypt' | 'gossip' | 'attachment' | 'wkd' | 'vks';

export interface KeySourceSettings {
  own?: boolean;
  keyring: boolean;
  autocrypt: boolean;
  gossip: boolean;
  attachment: boolean;
  wkd: boolean;
  vks: boolean;
}

export const DEFAULT_SOURCES: KeySourceSettings = { keyring: true, autocrypt: true, gossip: true, attachment: true, wkd: true, vks: true };

/** A network lookup (WKD or VKS): the keys found, or null for a definite "none". */
export type NetworkLookup = (address: string) => Promise<{ keys: PublicKey[]; source: 'wkd' | 'vks' } | null>;

export interface KeyringOptions {
  records: RecordRepo;
  sources?: Partial<KeySourceSettings>;
  /** WKD then VKS, as configured; absent = no network lookups (offline, or tests). */
  network?: NetworkLookup;
  /** How long a network answer (found or not) is trusted before asking again (default 7 days). */
  refreshMs?: number;
  now?: () => number;
}

interface OwnKeyRecord {
  /** Base64 of the binary secret key. */
  key: string;
  addedAt: number;
}

export interface Lookup {
  address: string;
  key?: PublicKey;
  source?: KeySource;
  verified: boolean;
  /** Different keys offered for a verified address (the user must look at these). */
  changes: Array<{ at: string; source: string; fingerprint: string }>;
  /** Autocrypt's prefer-encrypt of the peer, when known. */
  preferEncrypt?: 'mutual' | 'nopreference';
}

/** Creation times of every signature a key carries (self-certifications, revocations, bindings). */
function signatureTimes(key: Key): number[] {
  const sigs = [
    ...key.revocationSignatures,
    ...key.users.flatMap((u) => [...u.selfCertifications, ...u.revocationSignatures]),
    ...key.subkeys.flatMap((k) => [...k.bindingSignatures, ...k.revocationSignatures]),
  ];
  return sigs.map((s) => s.created?.getTime() ?? 0);
}

/** How long a lookup or signing-key answer is reused (see Keyring.#lookups). */
const CACHE_MS = 30_000;

const b64 = (key: Key): string => Buffer.from(key.write()).toString('base64');
const fromB64 = async (s: string): Promise<Key> => (await readKeys({ binaryKeys: new Uint8Array(Buffer.from(s, 'base64')), config: PGP_CONFIG }))[0]!;

export class Keyring {
  readonly #records: RecordRepo;
  readonly #sources: KeySourceSettings;
  readonly #network: NetworkLookup | undefined;
  readonly #refreshMs: number;
  readonly #now: () => number;
  #own: PrivateKey[] | undefined;
  /**
   * Answers reused for a short while: a burst of mail to one recipient would otherwise read
   * the peer record and check every self-signature per message. Any change made through
   * this keyring clears them; a change arriving by sync is seen within CACHE_MS.
   */
  readonly #lookups = new Map<string, { at: number; result: Lookup }>();
  readonly #signing = new Map<string, { at: number; key: PrivateKey }>();

  constructor(opts: KeyringOptions) {
    this.#records = opts.records;
    this.#sources = { ...DEFAULT_SOURCES, ...opts.sources };
    this.#network = opts.network;
    this.#refreshMs = opts.refreshMs ?? 7 * 24 * 3600_000;
    this.#now = opts.now ?? Date.now;
  }

  // ---- own keys ----

  /** Own keys changed underneath (replicated from another device): read them again when next needed. */
  reload(): void {
    this.#own = undefined;
    this.#forget();
  }

  async ownKeys(): Promise<PrivateKey[]> {
    if (!this.#own) {
      const recs = await this.#records.list<OwnKeyRecord>('ownkey');
      recs.sort((a, b) => a.value.addedAt - b.value.addedAt || (a.logical < b.logical ? -1 : 1));
      this.#own = (await Promise.all(recs.map((r) => fromB64(r.value.key)))) as PrivateKey[];
    }
    return this.#own;
  }

  /** The key that signs mail from `address`: the newest usable own key with that user ID. */
  async signingKey(address: string): Promise<PrivateKey> {
    const addr = address.toLowerCase();
    const cached = this.#signing.get(addr);
    if (cached && this.#now() - cached.at < CACHE_MS) return cached.key;
    const key = await this.#findSigningKey(address);
    this.#signing.set(addr, { at: this.#now(), key });
    return key;
  }

  async #findSigningKey(address: string): Promise<PrivateKey> {
    const addr = address.toLowerCase();
    const keys = (await this.ownKeys()).filter((k) => addressesOf(k).includes(addr)).reverse();
    for (const k of keys) {
      const info = await describeKey(k, new Date(this.#now()));
      if (!info.unusable) return k;
    }
    throw new WaxsealError('ENOKEY', `No usable OpenPGP key of yours for ${address}; create one with \`waxseal keys generate\``);
  }

  async #putOwn(key: PrivateKey): Promise<void> {
    const fpr = fingerprintOf(key);
    await this.#records.update<OwnKeyRecord>('ownkey', fpr, async (cur) => {
      if (!cur) return { key: b64(key), addedAt: this.#now() };
      // Same key again (re-import, or a new self-signature): merge packets, keep the date.
      const merged = await ((await fromB64(cur.key)) as PrivateKey).update(key, new Date(this.#now()), FULL_CONFIG);
      return { key: b64(merged), addedAt: cur.addedAt };
    });
    this.#own = undefined;
    this.#forget();
  }

  async generate(opts: { email: string; name?: string; expiresIn?: number }): Promise<KeyInfo> {
    const key = await generateOwnKey(opts);
    await this.#putOwn(key);
    return describeKey(key);
  }

  /**
   * Import an armored or binary block: secret keys become own keys, public keys go to the
   * local keyring under each of their addresses. Returns what was imported.
   */
  async import(input: string | Uint8Array): Promise<KeyInfo[]> {
    const keys = await parseKeyBlock(input, 'file');
    if (keys.length === 0) throw new WaxsealError('EBADKEY', 'The file holds no OpenPGP key');
    const out: KeyInfo[] = [];
    for (const key of keys) {
      if (key.isPrivate()) {
        await this.#putOwn(await usablePrivateKey(key));
      } else {
        const addrs = addressesOf(key);
        if (addrs.length === 0) throw new WaxsealError('EBADKEY', `Key ${fingerprintOf(key)} has no user ID with an e-mail address`);
        for (const addr of addrs) await this.#updatePeer(addr, (p) => ({ ...p, imported: b64(key) }));
      }
      out.push(await describeKey(key, new Date(this.#now())));
    }
    return out;
  }

  async #ownByFingerprint(fpr: string): Promise<PrivateKey> {
    const want = fpr.replace(/\s+/g, '').toUpperCase();
    const key = (await this.ownKeys()).find((k) => fingerprintOf(k) === want || fingerprintOf(k).endsWith(want));
    if (!key) throw new WaxsealError('ENOKEY', `None of your keys has fingerprint ${fpr}`);
    return key;
  }

  /** Armored export: public by default; the secret key only when asked. */
  async export(opts: { fingerprint?: string; secret?: boolean }): Promise<string> {
    const keys = opts.fingerprint ? [await this.#ownByFingerprint(opts.fingerprint)] : await this.ownKeys();
    if (keys.length === 0) throw new WaxsealError('ENOKEY', 'You have no OpenPGP key yet; create one with `waxseal keys generate`');
    return keys.map((k) => (opts.secret ? k.armor(FULL_CONFIG) : k.toPublic().armor(FULL_CONFIG))).join('');
  }

  async extend(fpr: string, expiresAt: Date | null): Promise<KeyInfo> {
    const key = await setExpiry(await this.#ownByFingerprint(fpr), expiresAt, new Date(this.#now()));
    await this.#putOwn(key);
    return describeKey(key, new Date(this.#now()));
  }

  async revoke(fpr: string, reason: RevocationReason = 'none'): Promise<KeyInfo> {
    const key = await revokeOwnKey(await this.#ownByFingerprint(fpr), reason);
    await this.#putOwn(key);
    return describeKey(key, new Date(this.#now()));
  }

  // ---- other people's keys ----

  #forget(): void {
    this.#lookups.clear();
    this.#signing.clear();
  }

  async #updatePeer(address: string, mutate: (p: PeerState) => PeerState | undefined): Promise<PeerState | undefined> {
    const addr = address.toLowerCase();
    this.#lookups.delete(`${addr}\0true`);
    this.#lookups.delete(`${addr}\0false`);
    return this.#records.update<PeerState>('peer', addr, (cur) => mutate(cur ?? { address: addr }));
  }

  async peer(address: string): Promise<PeerState | undefined> {
    return (await this.#records.get<PeerState>('peer', address.toLowerCase()))?.value;
  }

  async peers(): Promise<PeerState[]> {
    return (await this.#records.list<PeerState>('peer')).map((r) => r.value).sort((a, b) => (a.address < b.address ? -1 : 1));
  }

  /** Mark `fingerprint` as the verified key of `address` (it must be a key we hold for it). */
  async verify(address: string, fingerprint: string): Promise<void> {
    const addr = address.toLowerCase();
    const want = fingerprint.replace(/\s+/g, '').toUpperCase();
    const p = (await this.peer(addr)) ?? { address: addr };
    const candidates = await this.#candidates(p);
    const match = candidates.find((c) => fingerprintOf(c.key) === want);
    if (!match) throw new WaxsealError('ENOKEY', `No key with fingerprint ${fingerprint} is known for ${addr}; import it first`);
    await this.#updatePeer(addr, (cur) => ({ ...cur, verified: want, imported: b64(match.key), changes: [] }));
  }

  /** Every key we hold for a peer, in lookup order, sources switched off left out. */
  async #candidates(p: PeerState): Promise<Array<{ key: PublicKey; source: KeySource }>> {
    const out: Array<{ key: PublicKey; source: KeySource }> = [];
    const add = async (source: KeySource, data: string | undefined) => {
      if (!data || !this.#sources[source]) return;
      try {
        out.push({ key: ((await fromB64(data)) as Key).toPublic(), source });
      } catch {
        // A record we cannot read any more is skipped, not fatal.
      }
    };
    await add('keyring', p.imported);
    await add('autocrypt', p.autocryptKey);
    await add('gossip', p.gossipKey);
    await add('attachment', p.attachment?.key);
    if (p.network?.key) await add(p.network.source, p.network.key);
    return out;
  }

  /**
   * The key to encrypt to for `address`, or none. Network sources are asked only when no
   * local source has a usable key and the cached answer is older than the refresh time.
   */
  async lookup(address: string, opts: { network?: boolean } = {}): Promise<Lookup> {
    const cacheKey = `${address.toLowerCase()}\0${opts.network !== false}`;
    const hit = this.#lookups.get(cacheKey);
    if (hit && this.#now() - hit.at < CACHE_MS) return hit.result;
    const [result, reached] = await this.#lookup(address, opts);
    // An answer made without a network lookup that should have been made (offline, timeout)
    // is not remembered: the next lookup asks again.
    if (reached) this.#lookups.set(cacheKey, { at: this.#now(), result });
    return result;
  }

  /** The answer, and false when a network lookup was due but could not be made. */
  async #lookup(address: string, opts: { network?: boolean }): Promise<[Lookup, boolean]> {
    const addr = address.toLowerCase();
    // Mail to ourselves (or to another address of ours) is encrypted to our own key.
    const own = (await this.ownKeys()).filter((k) => addressesOf(k).includes(addr)).reverse();
    for (const k of own) {
      if (await canEncryptTo(k.toPublic(), addr, new Date(this.#now()))) return [{ address: addr, key: k.toPublic(), source: 'own', verified: true, changes: [] }, true];
    }
    let p = (await this.peer(addr)) ?? { address: addr };
    const now = new Date(this.#now());
    const pick = async (): Promise<{ key: PublicKey; source: KeySource } | undefined> => {
      for (const c of await this.#candidates(p)) {
        if (p.verified && fingerprintOf(c.key) !== p.verified) continue;
        if (await canEncryptTo(c.key, addr, now)) return c;
      }
      return undefined;
    };
    let found = await pick();
    const stale = !p.network || this.#now() - p.network.fetchedAt > this.#refreshMs;
    // Asked when nothing local is usable, or to refresh a network answer that has aged.
    const fromNetwork = found?.source === 'wkd' || found?.source === 'vks';
    if ((!found || fromNetwork) && opts.network !== false && this.#network && stale && (this.#sources.wkd || this.#sources.vks)) {
      // A lookup that could not be made (offline, timeout) leaves the cache alone.
      const res = await this.#network(addr).catch(() => undefined);
      if (res === undefined) return [this.#result(addr, p, found), false];
      const key = res?.keys[0];
      p = (await this.#offer(addr, key ? 'network' : undefined, (cur) => ({ ...cur, network: { ...(key ? { key: b64(key) } : {}), source: res?.source ?? 'wkd', fetchedAt: this.#now() } }), key)) ?? p;
      found = await pick();
    }
    return [this.#result(addr, p, found), true];
  }

  #result(addr: string, p: PeerState, found: { key: PublicKey; source: KeySource } | undefined): Lookup {
    return {
      address: addr,
      ...(found ? { key: found.key, source: found.source } : {}),
      verified: Boolean(p.verified && found && fingerprintOf(found.key) === p.verified),
      changes: (p.changes ?? []).map((c) => ({ at: new Date(c.at).toISOString(), source: c.source, fingerprint: c.fingerprint })),
      ...(p.preferEncrypt ? { preferEncrypt: p.preferEncrypt } : {}),
    };
  }

  /**
   * Apply a change to a peer record; when the address is verified and the change offers a
   * different key, the offer is recorded as a change instead (the verified key stays first,
   * because verify() put it in the local keyring).
   */
  async #offer(addr: string, source: string | undefined, mutate: (p: PeerState) => PeerState | undefined, key?: Key): Promise<PeerState | undefined> {
    return this.#updatePeer(addr, (cur) => {
      const next = mutate(cur);
      if (!next || !key || !cur.verified || !source) return next;
      const fpr = fingerprintOf(key);
      if (fpr === cur.verified) return next;
      const changes = [...(next.changes ?? [])];
      if (!changes.some((c) => c.fingerprint === fpr)) changes.push({ at: this.#now(), source, fingerprint: fpr });
      return { ...next, changes };
    });
  }

  /** What an incoming message taught us (Autocrypt, Gossip, attached keys). */
  async learn(from: string | undefined, date: number | undefined, learned: Learned, encrypted: boolean): Promise<void> {
    const when = Math.min(date ?? this.#now(), this.#now());
    if (from && this.#sources.autocrypt) {
      const header = learned.autocrypt;
      let key: Key | undefined;
      if (header) key = await this.#checkedKey(header.keydata, from);
      await this.#offer(from, 'autocrypt', (p) => applyAutocrypt(p, when, key ? header : null, this.#now()), key);
    }
    // Gossip only counts inside encryption (Level 1): a plaintext header could be anyone's.
    if (encrypted && this.#sources.gossip) {
      for (const g of learned.gossip) {
        if (g.addr === from) continue;
        const key = await this.#checkedKey(g.keydata, g.addr);
        if (key) await this.#offer(g.addr, 'gossip', (p) => applyGossip(p, when, g.keydata, this.#now()), key);
      }
    }
    if (this.#sources.attachment) {
      for (const block of learned.attachedKeys) {
        const keys = await parseKeyBlock(block, 'attached key', MAX_KEY_BYTES).catch(() => []);
        for (const key of keys.slice(0, 8)) {
          if (key.isPrivate()) continue;
          for (const addr of addressesOf(key)) {
            if (!(await canEncryptTo(key.toPublic(), addr))) continue;
            await this.#offer(addr, 'attachment', (p) => (p.attachment && p.attachment.at >= when ? undefined : { ...p, attachment: { key: b64(key), at: when } }), key);
          }
        }
      }
    }
  }

  /**
   * `learn` for senders whose mail taught nothing but that they wrote at `date` (most mail):
   * Autocrypt's last_seen for all of them in one read and one write of their records.
   */
  async seen(senders: Array<{ from: string; date: number | undefined }>): Promise<void> {
    if (!this.#sources.autocrypt || senders.length === 0) return;
    const now = this.#now();
    const when = new Map<string, number>();
    for (const s of senders) {
      const addr = s.from.toLowerCase();
      when.set(addr, Math.max(when.get(addr) ?? -Infinity, Math.min(s.date ?? now, now)));
    }
    for (const addr of when.keys()) {
      this.#lookups.delete(`${addr}\0true`);
      this.#lookups.delete(`${addr}\0false`);
    }
    await this.#records.updateMany<PeerState>('peer', [...when.keys()], (addr, cur) => applyAutocrypt(cur ?? { address: addr }, when.get(addr)!, null, now));
  }

  /** A key from a header, accepted only when it is readable, usable and has a user ID for `addr`. */
  async #checkedKey(data: Uint8Array, addr: string): Promise<Key | undefined> {
    try {
      const keys = await parseKeyBlock(data, 'Autocrypt key', MAX_KEY_BYTES);
      const key = keys[0];
      if (keys.length !== 1 || !key || key.isPrivate()) return undefined;
      return (await canEncryptTo(key.toPublic(), addr)) ? key : undefined;
    } catch {
      return undefined;
    }
  }

  /** Keys that may have signed mail from `from`: every key we hold for that address. */
  async verificationKeys(from: string | undefined): Promise<PublicKey[]> {
    if (!from) return [];
    const p = await this.peer(from);
    const own = (await this.ownKeys()).filter((k) => addressesOf(k).includes(from.toLowerCase())).map((k) => k.toPublic());
    return [...own, ...(p ? (await this.#candidates(p)).map((c) => c.key) : [])];
  }

  /** Merge of two replicas of a record, for the sync layer's conflict resolution. */
  /**
   * Two devices' versions of one own key (an expiry extended on one, a revocation made on the
   * other): every signature of both, the same result whichever device merges. The inputs are
   * put in a fixed order, and signatures are checked as of the newest one, since a new
   * self-signature may be dated a moment ahead (setExpiry) and checking "now" would drop it.
   */
  static async mergeOwn(a: OwnKeyRecord, b: OwnKeyRecord): Promise<OwnKeyRecord> {
    const [x, y] = [a, b].sort((p, q) => (p.key < q.key ? -1 : p.key > q.key ? 1 : 0));
    const kx = (await fromB64(x!.key)) as PrivateKey;
    const ky = (await fromB64(y!.key)) as PrivateKey;
    const newest = Math.max(Date.now(), ...[kx, ky].flatMap(signatureTimes));
    const merged = await kx.update(ky, new Date(newest), FULL_CONFIG);
    return { key: b64(merged), addedAt: Math.min(a.addedAt, b.addedAt) };
  }

  static mergePeer = mergePeers;
}

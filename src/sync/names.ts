/**
 * What the sync server gets to see of a user: database names and pairing-document ids, none
 * of which may tell it who the user is. Database names are a keyed hash (the id key, held by
 * every paired device and no one else), so two users on one server, or one user's address,
 * cannot be told from the names.
 */
import { createHash, createHmac } from 'node:crypto';

export type ReplicatedDb = 'content' | 'state' | 'keys';
export const REPLICATED: ReplicatedDb[] = ['keys', 'state', 'content'];

/** The shared database pairing documents pass through (ids are derived from one-time codes). */
export const PAIR_DB = 'waxseal-pair';

/** `w` + 24 hex digits of HMAC(idKey, "sync-db"), then the database's role. */
export function remoteDbName(idKey: Buffer, db: ReplicatedDb): string {
  const prefix = createHmac('sha256', idKey).update('waxseal/v1/sync-db').digest('hex').slice(0, 24);
  return `w${prefix}-${db}`;
}

/** The pairing document's id: a hash of the code, which has 133 bits of entropy. */
export function pairDocId(digits: string): string {
  return createHash('sha256').update(`waxseal/v1/pair-id\0${digits}`).digest('hex').slice(0, 32);
}

/**
 * VKS (keys.openpgp.org API) lookups against a real HTTP server on loopback, and the user-ID
 * checks that every lookup shares.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKey, type PrivateKey } from 'openpgp';
import { isWaxsealError } from '../../../src/util/errors.js';
import { lookupVks, vksUrl, type VksOptions } from '../../../src/openpgp/vks.js';
import { parseLookupAddress, readKeyData, usableKeys } from '../../../src/openpgp/fetch-key.js';
import { publicKeyFor, serve, type KeyServer } from './key-server.js';

const EMAIL = 'alice@example.org';
const PATH = '/vks/v1/by-email/alice%40example.org';

function on(srv: KeyServer, extra: Partial<VksOptions> = {}): Partial<VksOptions> {
  return { base: srv.base, ...extra };
}

function rejectsWith(code: string, host: string) {
  return (err: unknown) => {
    assert.ok(isWaxsealError(err, code), `expected ${code}, got ${String(err)}`);
    assert.ok(err.message.includes(host), `message names ${host}: ${err.message}`);
    return true;
  };
}

test('the by-email URL escapes the whole address as one path segment', () => {
  assert.equal(vksUrl('a+b@example.org'), 'https://keys.openpgp.org/vks/v1/by-email/a%2Bb%40example.org');
  assert.equal(vksUrl(EMAIL, { base: 'http://127.0.0.1:1/' }), `http://127.0.0.1:1${PATH}`);
  assert.throws(() => vksUrl(EMAIL, { server: 'x' } as Partial<VksOptions>), /unknown option "server"/);
});

test('found: the armored key comes back with source and URL', async (t) => {
  const key = await publicKeyFor(EMAIL);
  const srv = await serve({ [PATH]: key.armor() });
  t.after(() => srv.close());
  const found = await lookupVks(EMAIL, on(srv));
  assert.ok(found);
  assert.equal(found.source, 'vks');
  assert.equal(found.url, srv.base + PATH);
  assert.deepEqual(
    found.keys.map((k) => k.getFingerprint()),
    [key.getFingerprint()],
  );
});

test('a + address is percent-encoded on the wire', async (t) => {
  const key = await publicKeyFor('alice+lists@example.org');
  const srv = await serve({ '/vks/v1/by-email/alice%2Blists%40example.org': key.armor() });
  t.after(() => srv.close());
  const found = await lookupVks('alice+lists@example.org', on(srv));
  assert.equal(found?.keys[0]?.getFingerprint(), key.getFingerprint());
  assert.deepEqual(srv.requests, ['/vks/v1/by-email/alice%2Blists%40example.org']);
});

test('404 → null', async (t) => {
  const srv = await serve({});
  t.after(() => srv.close());
  assert.equal(await lookupVks(EMAIL, on(srv)), null);
});

test('500 → ELOOKUP naming the host', async (t) => {
  const srv = await serve({ [PATH]: (_req, res) => void res.writeHead(500).end('oops') });
  t.after(() => srv.close());
  await assert.rejects(lookupVks(EMAIL, on(srv)), rejectsWith('ELOOKUP', srv.host));
});

test('a key whose user IDs are for someone else → null', async (t) => {
  const srv = await serve({ [PATH]: (await publicKeyFor('mallory@example.org')).armor() });
  t.after(() => srv.close());
  assert.equal(await lookupVks(EMAIL, on(srv)), null);
});

test('never answers → ETIMEDOUT', async (t) => {
  const srv = await serve({ [PATH]: () => undefined });
  t.after(() => srv.close());
  await assert.rejects(lookupVks(EMAIL, on(srv, { timeoutMs: 300 })), rejectsWith('ETIMEDOUT', srv.host));
});

async function withRevokedUserID(v6: boolean): Promise<PrivateKey> {
  const { privateKey } = await generateKey({
    ...(v6 ? { type: 'curve25519' as const } : { type: 'ecc' as const, curve: 'curve25519Legacy' as const }),
    userIDs: [{ email: 'main@example.org' }, { email: EMAIL }],
    format: 'object',
    config: { v6Keys: v6 },
  });
  const i = privateKey.users.findIndex((u) => u.userID?.email === EMAIL);
  const user = privateKey.users[i];
  assert.ok(user && privateKey.keyPacket.isDecrypted());
  privateKey.users[i] = await user.revoke(privateKey.keyPacket as Parameters<typeof user.revoke>[0]);
  return privateKey;
}

test('a revoked user ID does not vouch for its address, on v4 and v6 keys', async () => {
  for (const v6 of [false, true]) {
    const keys = await readKeyData((await withRevokedUserID(v6)).toPublic().write());
    const opts = { maxKeys: 8 };
    assert.deepEqual(await usableKeys(keys, parseLookupAddress(EMAIL), opts), [], `v6=${v6}`);
    assert.equal((await usableKeys(keys, parseLookupAddress('main@example.org'), opts)).length, 1, `v6=${v6}`);
  }
});

test('an expired key was usable before it expired (the filter is about time, not shape)', async () => {
  const created = new Date(Date.now() - 24 * 3600 * 1000);
  const expired = await publicKeyFor(EMAIL, { date: created, keyExpirationTime: 3600 });
  const address = parseLookupAddress(EMAIL);
  assert.equal((await usableKeys([expired], address, { maxKeys: 8 }, new Date(created.getTime() + 60_000))).length, 1);
  assert.equal((await usableKeys([expired], address, { maxKeys: 8 })).length, 0);
});

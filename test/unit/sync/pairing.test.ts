/**
 * The pairing offer on a real CouchDB-protocol server: what the server holds says nothing,
 * an expired code is refused (the expiry is inside the authenticated wrap), a tampered offer
 * does not open, and an offer is used once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { newRootSecret } from '../../../src/secrets/root.js';
import { acceptPairing, codeDigits, offerPairing, withdrawPairing } from '../../../src/sync/pairing.js';
import { PAIR_DB } from '../../../src/sync/names.js';
import { isWaxsealError } from '../../../src/util/errors.js';
import { dumpAll, startCouchDB, type CouchDB } from '../../harness/couchdb.js';

let couch: CouchDB;
before(async () => {
  couch = await startCouchDB();
});
after(async () => {
  await couch.stop();
});

const payload = () => ({ root: newRootSecret(), email: 'pairing-me@example.org', name: 'Pairing Person' });
const cheap = { N: 2 ** 14, r: 8, p: 1 };

test('the offer on the server holds neither the secret, the address nor the code; the joiner gets all back once', async () => {
  const p = payload();
  const offer = await offerPairing({ server: { url: couch.url }, payload: p, scrypt: cheap });
  const dump = await dumpAll(couch.url);
  for (const needle of [p.email, 'Pairing Person', p.root.toString('base64'), p.root.toString('hex'), codeDigits(offer.code), offer.code]) {
    assert.equal(dump.includes(needle), false, `server holds ${needle.slice(0, 12)}…`);
  }
  const got = await acceptPairing({ server: { url: couch.url }, code: offer.code });
  assert.ok(got.root.equals(p.root));
  assert.equal(got.email, p.email);
  await assert.rejects(acceptPairing({ server: { url: couch.url }, code: offer.code }), (e) => isWaxsealError(e, 'ENOPAIRING'));
});

test('an expired code is refused clearly, and the offer is gone afterwards', async () => {
  const offer = await offerPairing({ server: { url: couch.url }, payload: payload(), scrypt: cheap, ttlMs: 60_000, now: Date.now() - 120_000 });
  await assert.rejects(acceptPairing({ server: { url: couch.url }, code: offer.code }), (e) => isWaxsealError(e, 'EEXPIRED') && /expired/.test(e.message));
  assert.equal(await withdrawPairing({ server: { url: couch.url }, id: offer.id }), false);
});

test('a server that changes the offer (to lengthen its life, say) makes it fail to open', async () => {
  const offer = await offerPairing({ server: { url: couch.url }, payload: payload(), scrypt: cheap });
  const url = `${couch.url}/${PAIR_DB}/${offer.id}`;
  const doc = (await (await fetch(url)).json()) as { ct: string };
  const ct = Buffer.from(doc.ct, 'base64');
  ct[10]! ^= 1;
  await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...doc, ct: ct.toString('base64') }) });
  await assert.rejects(acceptPairing({ server: { url: couch.url }, code: offer.code }), (e) => isWaxsealError(e, 'ETAMPERED'));
});

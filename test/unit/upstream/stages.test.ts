import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uidSet } from '../../../src/upstream/folders.js';
import { batches, keptFlags } from '../../../src/upstream/pipeline.js';
import { Progress } from '../../../src/upstream/progress.js';
import { parseProfile, newProfile } from '../../../src/config/profile.js';
import { parseAfterIngest } from '../../../src/cli/account.js';

test('uidSet compresses runs', () => {
  assert.equal(uidSet([1, 2, 3, 5, 7, 8]), '1:3,5,7:8');
  assert.equal(uidSet([42]), '42');
  assert.equal(uidSet([]), '');
});

test('batches are cut by count and by bytes, never empty, order kept', () => {
  const items = Array.from({ length: 10 }, (_, i) => ({ uid: i + 1, size: 100 }));
  assert.deepEqual(batches(items, { messages: 4, bytes: 1e9 }).map((b) => b.map((x) => x.uid)), [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]);
  assert.deepEqual(batches(items, { messages: 100, bytes: 250 }).map((b) => b.length), [2, 2, 2, 2, 2]);
  // One message larger than the byte limit is a batch of its own.
  assert.deepEqual(batches([{ uid: 1, size: 10 }, { uid: 2, size: 1000 }, { uid: 3, size: 10 }], { messages: 100, bytes: 100 }).map((b) => b.map((x) => x.uid)), [[1], [2], [3]]);
});

test('provider flags: \\Recent and \\Deleted stay behind, keywords come along', () => {
  assert.deepEqual(keptFlags(['\\Seen', '\\Recent', '\\Deleted', '\\Flagged', '$Label1', '\\Answered', '\\Draft']), ['\\Seen', '\\Flagged', '$Label1', '\\Answered', '\\Draft']);
});

test('progress: rate over recent work and the ETA it implies', () => {
  let now = 0;
  const p = new Progress(() => now);
  p.addTotal(1000);
  now = 1000;
  p.add(100, 1e6);
  now = 2000;
  p.add(100, 1e6);
  const s = p.snapshot();
  assert.equal(s.done, 200);
  assert.equal(s.rate, 100);
  assert.equal(s.etaSeconds, 8);
  assert.equal(s.bytes, 2e6);
  p.add(800, 0);
  assert.equal(p.snapshot().etaSeconds, 0);
});

test('profiles made before accounts existed read as having none; a bad account is named', () => {
  const old = { ...newProfile({ email: 'a@example.org', secretStore: 'passphrase' }) } as Record<string, unknown>;
  delete old.account;
  assert.equal(parseProfile(JSON.stringify(old), 'config.json').account, null);
  const bad = { ...old, account: { imap: { host: 'h', port: 143, tls: 'maybe' }, smtp: { host: 'h', port: 587, tls: 'none' }, user: 'u', afterIngest: { action: 'leave' }, pollSeconds: 60 } };
  assert.throws(() => parseProfile(JSON.stringify(bad), 'config.json'), /setting "account" is missing or has a wrong value/);
  const good = { ...bad, account: { ...bad.account, imap: { host: 'h', port: 993, tls: 'implicit' }, afterIngest: { action: 'move', folder: 'Fetched' } } };
  assert.deepEqual(parseProfile(JSON.stringify(good), 'config.json').account?.afterIngest, { action: 'move', folder: 'Fetched' });
});

test('--after-ingest choices', () => {
  assert.deepEqual(parseAfterIngest(undefined), { action: 'leave' });
  assert.deepEqual(parseAfterIngest('seen'), { action: 'seen' });
  assert.deepEqual(parseAfterIngest('move:Old/Fetched'), { action: 'move', folder: 'Old/Fetched' });
  assert.deepEqual(parseAfterIngest('delete:30'), { action: 'delete', days: 30 });
  assert.throws(() => parseAfterIngest('delete:soon'), /is not leave, seen, move:FOLDER or delete:DAYS/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { remoteDb } from '../../../src/sync/remote.js';

test('the server is asked for uncompressed responses (ciphertext does not compress), with the credentials', async () => {
  const seen: Array<{ encoding?: string; auth?: string }> = [];
  const server = createServer((req, res) => {
    seen.push({ encoding: req.headers['accept-encoding'], auth: req.headers.authorization });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ db_name: 'x', doc_count: 0, update_seq: 0 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const db = remoteDb({ url: `http://alice@127.0.0.1:${port}`, password: 'pw' }, 'x');
    await db.info();
    await db.close();
    assert.ok(seen.length > 0);
    for (const s of seen) {
      assert.equal(s.encoding, 'identity');
      assert.equal(s.auth, `Basic ${Buffer.from('alice:pw').toString('base64')}`);
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

/**
 * WKD lookups against a real HTTP server on loopback, with keys generated per run. The hash
 * vector is the one in draft-koch-openpgp-webkey-service (section 3.1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWaxsealError } from '../../../src/util/errors.js';
import { lookupWkd, wkdHash, wkdUrls, zbase32, type WkdOptions } from '../../../src/openpgp/wkd.js';
import { closedPort, concat, privateKeyFor, publicKeyFor, serve, type KeyServer } from './key-server.js';

const EMAIL = 'joe.doe@example.org';
const HASH = 'iy9q119eutrkn8s1mk4r39qejnbu3n5q';
const ADVANCED = `/.well-known/openpgpkey/example.org/hu/${HASH}?l=joe.doe`;
const DIRECT = `/.well-known/openpgpkey/hu/${HASH}?l=joe.doe`;

function on(srv: KeyServer, extra: Partial<WkdOptions> = {}): Partial<WkdOptions> {
  return {
    advanced: `${srv.base}/.well-known/openpgpkey/{domain}`,
    direct: `${srv.base}/.well-known/openpgpkey`,
    ...extra,
  };
}

function rejectsWith(code: string, host?: string) {
  return (err: unknown) => {
    assert.ok(isWaxsealError(err, code), `expected ${code}, got ${String(err)}`);
    if (host !== undefined) assert.ok(err.message.includes(host), `message names ${host}: ${err.message}`);
    assert.ok(!err.message.includes('\n'), 'one-line message');
    return true;
  };
}

test('the draft vector: hash of the lower-cased local part, the local part as given in ?l=', () => {
  assert.equal(wkdHash('Joe.Doe'), HASH);
  assert.equal(zbase32(new Uint8Array(0)), '');
  assert.deepEqual(wkdUrls('Joe.Doe@Example.ORG'), {
    advanced: `https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/${HASH}?l=Joe.Doe`,
    direct: `https://example.org/.well-known/openpgpkey/hu/${HASH}?l=Joe.Doe`,
  });
});

test('only ASCII is lower-cased for the hash; the local part is percent-encoded in ?l=', () => {
  assert.equal(wkdHash('ÄBC'), wkdHash('Äbc'));
  assert.notEqual(wkdHash('ÄBC'), wkdHash('äbc'));
  assert.ok(wkdUrls('jörg@Bücher.DE').advanced.startsWith('https://openpgpkey.xn--bcher-kva.de/.well-known/openpgpkey/xn--bcher-kva.de/hu/'));
  const { direct } = wkdUrls('a+b&c@example.org');
  assert.ok(direct.endsWith(`/hu/${wkdHash('a+b&c')}?l=a%2Bb%26c`), direct);
});

test('malformed addresses and unknown options are refused', async () => {
  for (const bad of ['nobody', '@example.org', 'a@', 'a@exa/mple.org', 'a b@example.org', 'a@host:1', 'a@evil.example\\x', 'a@ex%41mple.org', 'a\u0000@example.org']) {
    await assert.rejects(lookupWkd(bad), rejectsWith('EINVAL'), bad);
  }
  await assert.rejects(lookupWkd(EMAIL, { timeout: 5 } as Partial<WkdOptions>), rejectsWith('EOPTION'));
});

test('advanced method found: binary key, matched case-insensitively, direct not asked', async (t) => {
  const key = await publicKeyFor('Joe.Doe@Example.ORG');
  const srv = await serve({ [`/.well-known/openpgpkey/example.org/hu/${HASH}?l=Joe.Doe`]: key.write() });
  t.after(() => srv.close());
  const found = await lookupWkd('Joe.Doe@Example.ORG', on(srv));
  assert.ok(found);
  assert.equal(found.source, 'wkd');
  assert.equal(found.url, `${srv.base}/.well-known/openpgpkey/example.org/hu/${HASH}?l=Joe.Doe`);
  assert.deepEqual(
    found.keys.map((k) => k.getFingerprint()),
    [key.getFingerprint()],
  );
  assert.equal(srv.requests.length, 1);
});

test('advanced 404 → direct found (armored body)', async (t) => {
  const key = await publicKeyFor(EMAIL);
  const srv = await serve({ [DIRECT]: key.armor() });
  t.after(() => srv.close());
  const found = await lookupWkd(EMAIL, on(srv));
  assert.ok(found);
  assert.equal(found.url, srv.base + DIRECT);
  assert.equal(found.keys[0]?.getFingerprint(), key.getFingerprint());
  assert.deepEqual(srv.requests, [ADVANCED, DIRECT]);
});

test('advanced host refuses the connection → direct found', async (t) => {
  const key = await publicKeyFor(EMAIL);
  const srv = await serve({ [DIRECT]: key.write() });
  t.after(() => srv.close());
  const port = await closedPort();
  const found = await lookupWkd(EMAIL, on(srv, { advanced: `http://127.0.0.1:${port}/.well-known/openpgpkey/{domain}` }));
  assert.equal(found?.keys[0]?.getFingerprint(), key.getFingerprint());
  assert.deepEqual(srv.requests, [DIRECT]);
});

test('advanced host fails the TLS handshake (a wildcard name, say) → direct found', async (t) => {
  const key = await publicKeyFor(EMAIL);
  const srv = await serve({ [DIRECT]: key.write() });
  t.after(() => srv.close());
  const found = await lookupWkd(EMAIL, on(srv, { advanced: `https://${srv.host}/.well-known/openpgpkey/{domain}` }));
  assert.equal(found?.keys[0]?.getFingerprint(), key.getFingerprint());
});

test('both methods 404 → null', async (t) => {
  const srv = await serve({});
  t.after(() => srv.close());
  assert.equal(await lookupWkd(EMAIL, on(srv)), null);
  assert.deepEqual(srv.requests, [ADVANCED, DIRECT]);
});

test('a key for another address is filtered out → null', async (t) => {
  const srv = await serve({ [ADVANCED]: (await publicKeyFor('joe.doe@example.com')).write() });
  t.after(() => srv.close());
  assert.equal(await lookupWkd(EMAIL, on(srv)), null);
});

test('expired, revoked and secret keys are filtered out', async (t) => {
  const dayAgo = new Date(Date.now() - 24 * 3600 * 1000);
  const expired = await publicKeyFor(EMAIL, { date: dayAgo, keyExpirationTime: 3600 });
  const revoked = await publicKeyFor(EMAIL, { revoked: true });
  const srv = await serve({
    [ADVANCED]: expired.write(),
    [DIRECT]: revoked.armor(),
    [`/.well-known/openpgpkey/example.org/hu/${wkdHash('secret')}?l=secret`]: await privateKeyFor('secret@example.org'),
  });
  t.after(() => srv.close());
  assert.equal(await lookupWkd(EMAIL, on(srv)), null);
  assert.equal(await lookupWkd('secret@example.org', on(srv)), null);
  assert.equal(srv.requests.length, 4);
});

test('several concatenated keys: only the matching, usable one is returned', async (t) => {
  const other = await publicKeyFor('someone@example.org');
  const good = await publicKeyFor(EMAIL);
  const revoked = await publicKeyFor(EMAIL, { revoked: true });
  const srv = await serve({
    [ADVANCED]: concat(other.write(), revoked.write(), good.write()),
    [DIRECT]: `${other.armor()}\n${good.armor()}`,
  });
  t.after(() => srv.close());
  const binary = await lookupWkd(EMAIL, on(srv));
  assert.deepEqual(binary?.keys.map((k) => k.getFingerprint()), [good.getFingerprint()]);
  // Several armor blocks one after the other are all read.
  const armored = await lookupWkd(EMAIL, on(srv, { advanced: `${srv.base}/nowhere/{domain}` }));
  assert.deepEqual(armored?.keys.map((k) => k.getFingerprint()), [good.getFingerprint()]);
});

test('keys past maxKeys are not considered', async (t) => {
  const others = await Promise.all([1, 2, 3].map((i) => publicKeyFor(`other${i}@example.org`)));
  const good = await publicKeyFor(EMAIL);
  const srv = await serve({ [ADVANCED]: concat(...others.map((k) => k.write()), good.write()) });
  t.after(() => srv.close());
  assert.equal(await lookupWkd(EMAIL, on(srv, { maxKeys: 3 })), null);
  assert.equal((await lookupWkd(EMAIL, on(srv, { maxKeys: 4 })))?.keys.length, 1);
});

test('a body over the cap → ETOOBIG, without reading it all', async (t) => {
  const total = 64 * 1024 * 1024;
  let written = 0;
  let closed!: () => void;
  const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
  const chunk = Buffer.alloc(16 * 1024, 0x99);
  const srv = await serve({
    [ADVANCED]: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.on('close', closed);
      const pump = () => {
        while (written < total && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    },
  });
  t.after(() => srv.close());
  await assert.rejects(lookupWkd(EMAIL, on(srv, { maxBytes: 64 * 1024 })), rejectsWith('ETOOBIG', srv.host));
  await connectionClosed;
  assert.ok(written < total, `server wrote ${written} of ${total} bytes`);
  // The direct method is still asked, but its 404 does not hide the advanced host's failure.
  assert.deepEqual(srv.requests, [ADVANCED, DIRECT]);
});

test('a declared Content-Length over the cap is refused up front', async (t) => {
  const srv = await serve({
    [ADVANCED]: (_req, res) => {
      res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
      res.write(Buffer.alloc(1024));
    },
  });
  t.after(() => srv.close());
  await assert.rejects(lookupWkd(EMAIL, on(srv, { maxBytes: 4096 })), rejectsWith('ETOOBIG', srv.host));
});

test('a server that never answers → ETIMEDOUT naming the host', async (t) => {
  const srv = await serve({ [ADVANCED]: () => undefined, [DIRECT]: () => undefined });
  t.after(() => srv.close());
  await assert.rejects(lookupWkd(EMAIL, on(srv, { timeoutMs: 300 })), rejectsWith('ETIMEDOUT', srv.host));
});

test('a body that stalls after the headers → ETIMEDOUT', async (t) => {
  const srv = await serve({
    [DIRECT]: (_req, res) => {
      res.writeHead(200);
      res.write(Buffer.from([0x99, 0x00]));
    },
  });
  t.after(() => srv.close());
  await assert.rejects(lookupWkd(EMAIL, on(srv, { timeoutMs: 300 })), rejectsWith('ETIMEDOUT', srv.host));
});

test('garbage body → ELOOKUP; a failed advanced host is not hidden by a direct 404', async (t) => {
  const srv = await serve({ [DIRECT]: 'this is not a key\n' });
  t.after(() => srv.close());
  await assert.rejects(lookupWkd(EMAIL, on(srv)), rejectsWith('ELOOKUP', srv.host));

  const broken = await serve({
    [ADVANCED]: (_req, res) => void res.writeHead(500).end(),
  });
  t.after(() => broken.close());
  await assert.rejects(lookupWkd(EMAIL, on(broken)), rejectsWith('ELOOKUP', broken.host));
  assert.deepEqual(broken.requests, [ADVANCED, DIRECT]);
});

test('a failed advanced host still lets the direct method answer', async (t) => {
  const key = await publicKeyFor(EMAIL);
  const srv = await serve({
    [ADVANCED]: (_req, res) => void res.writeHead(503).end(),
    [DIRECT]: key.write(),
  });
  t.after(() => srv.close());
  assert.equal((await lookupWkd(EMAIL, on(srv)))?.url, srv.base + DIRECT);
});

test('redirects: up to three followed, a fourth or one to another scheme refused', async (t) => {
  const key = await publicKeyFor(EMAIL);
  const hop = (to: string) => (_req: unknown, res: import('node:http').ServerResponse) =>
    void res.writeHead(302, { location: to, 'set-cookie': 'track=1' }).end();
  const srv = await serve({
    [ADVANCED]: hop('/r1'),
    '/r1': hop('/r2'),
    '/r2': hop('/r3'),
    '/r3': key.write(),
    [DIRECT]: hop('/r0'),
    '/r0': hop('/r1'),
  });
  t.after(() => srv.close());
  const found = await lookupWkd(EMAIL, on(srv));
  assert.equal(found?.url, srv.base + ADVANCED, 'the URL asked, not where it ended');

  const far = await serve({ [DIRECT]: hop('/r0'), '/r0': hop('/r1'), '/r1': hop('/r2'), '/r2': hop('/r3'), '/r3': key.write() });
  t.after(() => far.close());
  await assert.rejects(lookupWkd(EMAIL, on(far)), rejectsWith('ELOOKUP', far.host));
  assert.ok(!far.requests.includes('/r3'));

  const scheme = await serve({ [DIRECT]: hop('file:///etc/passwd') });
  t.after(() => scheme.close());
  await assert.rejects(lookupWkd(EMAIL, on(scheme)), rejectsWith('ELOOKUP', scheme.host));
});

test('non-http(s) bases are refused', async () => {
  await assert.rejects(
    lookupWkd(EMAIL, { advanced: 'data:,x{domain}', direct: 'file:///tmp/{domain}' }),
    rejectsWith('ELOOKUP'),
  );
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { startImap, type ImapHarness } from '../harness/imap.js';
import { RawImap } from '../harness/raw-imap.js';

let h: ImapHarness;
let cert: string;
before(async () => {
  const selfsigned = createRequire(import.meta.url)('selfsigned') as { generate(a: unknown, o: unknown): Promise<{ private: string; cert: string }> };
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'test' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] }],
  });
  cert = pems.cert;
  h = await startImap({ tls: { key: pems.private, cert: pems.cert } });
});
after(() => h.stop());

test('STARTTLS: a command pipelined in the clear after it is discarded, not run inside TLS (RFC 3501 6.2.1)', async () => {
  const c = await RawImap.open(h.port);
  assert.match(await c.command('a0', 'CAPABILITY'), /STARTTLS/);
  c.buffer = '';
  // The injected LOGIN would authenticate the TLS session if the server kept the bytes.
  c.write(`a1 STARTTLS\r\nb1 LOGIN ${h.user} "${h.password}"\r\n`);
  await c.until(/^a1 OK/m);
  c.socket.removeAllListeners('data');
  const secure: TLSSocket = tlsConnect({ socket: c.socket, servername: 'localhost', ca: cert });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  let received = '';
  secure.on('data', (d) => (received += d.toString('latin1')));
  secure.write('c1 CAPABILITY\r\n');
  const deadline = Date.now() + 3000;
  while (!/^c1 OK/m.test(received) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.match(received, /^c1 OK/m);
  assert.doesNotMatch(received, /^b1 /m, 'the pipelined LOGIN was executed');
  assert.doesNotMatch(received, /STARTTLS/, 'STARTTLS is still offered inside TLS');
  assert.match(received, /AUTH=PLAIN/, 'the session is not logged in');
  secure.write('c2 STARTTLS\r\n');
  const until = Date.now() + 3000;
  while (!/^c2 /m.test(received) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.match(received, /^c2 (BAD|NO)/m);
  secure.destroy();
});

test('implicit TLS port serves the same session', async () => {
  const s: TLSSocket = tlsConnect({ port: h.server.tlsPort!, host: '127.0.0.1', servername: 'localhost', ca: cert });
  let received = '';
  s.on('data', (d) => (received += d.toString('latin1')));
  await new Promise<void>((resolve, reject) => {
    s.once('secureConnect', resolve);
    s.once('error', reject);
  });
  s.write(`l LOGIN ${h.user} "${h.password}"\r\n`);
  const deadline = Date.now() + 3000;
  while (!/^l (OK|NO|BAD)/m.test(received) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.match(received, /^l OK/m);
  s.destroy();
});

/**
 * The profile's TLS certificate for IMAP (and later SMTP) on loopback: an EC P-256
 * self-signed certificate for localhost, 127.0.0.1 and ::1, made locally on first use. Its
 * private key lives sealed in the device-local store; the certificate itself (public) is also
 * written to DIR/tls/waxseal.crt so a user can tell their mail client to trust it.
 */
import { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../store/store.js';

interface Pems {
  private: string;
  cert: string;
}

const require = createRequire(import.meta.url);
const selfsigned = require('selfsigned') as {
  generate(attrs: Array<{ name: string; value: string }>, opts: Record<string, unknown>): Promise<Pems>;
};

const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;
const VALID_DAYS = 825;

export interface ProfileCertificate {
  key: string;
  cert: string;
  /** SHA-256 fingerprint, for a user comparing what their client shows. */
  fingerprint: string;
  file: string;
}

export async function ensureCertificate(store: Store, dataDir: string): Promise<ProfileCertificate> {
  let pems = await store.getLocal<Pems>('tls');
  if (!pems || Date.parse(new X509Certificate(pems.cert).validTo) - Date.now() < RENEW_BEFORE_MS) {
    const now = new Date();
    pems = await selfsigned.generate([{ name: 'commonName', value: 'Waxseal on localhost' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: new Date(now.getTime() - 3600_000),
      notAfterDate: new Date(now.getTime() + VALID_DAYS * 24 * 3600_000),
      // No basicConstraints/keyUsage: a self-signed leaf whose keyUsage lacks keyCertSign
      // cannot be its own trust anchor in OpenSSL, so clients told to trust it still refused.
      extensions: [
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
      ],
    });
    await store.putLocal('tls', { private: pems.private, cert: pems.cert });
  }
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'waxseal.crt');
  writeFileSync(file, pems.cert, { mode: 0o644 });
  return { key: pems.private, cert: pems.cert, fingerprint: new X509Certificate(pems.cert).fingerprint256, file };
}

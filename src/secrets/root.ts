/**
 * The root secret and what is derived from it. One random 32-byte secret per profile; HKDF
 * gives each use its own key, so a key leaked from one use (say the local index) says
 * nothing about the others.
 */
import { hkdfSync, randomBytes } from 'node:crypto';

export const ROOT_SECRET_BYTES = 32;

export interface DerivedKeys {
  /** AES-256-GCM key for replicated documents. */
  seal: Buffer;
  /** HMAC key that turns logical ids and content into document ids. */
  id: Buffer;
  /** AES-256-GCM key for the device-local index (never replicated). */
  index: Buffer;
}

export function newRootSecret(): Buffer {
  return randomBytes(ROOT_SECRET_BYTES);
}

function derive(root: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), `waxseal/v1/${info}`, 32));
}

export function deriveKeys(root: Buffer): DerivedKeys {
  if (root.length !== ROOT_SECRET_BYTES) throw new Error(`root secret must be ${ROOT_SECRET_BYTES} bytes`);
  return { seal: derive(root, 'seal'), id: derive(root, 'id'), index: derive(root, 'index') };
}

/** Keys and messages shared by the OpenPGP security regressions (all made at test time). */
import type { PrivateKey } from 'openpgp';
import { generateOwnKey } from '../../src/openpgp/keys.js';
import { transformIncoming, type IncomingResult } from '../../src/openpgp/incoming.js';
import { transformOutgoing } from '../../src/openpgp/outgoing.js';
import { splitEntity } from '../../src/mime/pgpmime.js';

export interface Cast {
  alice: PrivateKey;
  bob: PrivateKey;
  mallory: PrivateKey;
}

export async function cast(): Promise<Cast> {
  const [alice, bob, mallory] = await Promise.all([
    generateOwnKey({ name: 'Alice', email: 'alice@example.org' }),
    generateOwnKey({ name: 'Bob', email: 'bob@example.net' }),
    generateOwnKey({ name: 'Mallory', email: 'mallory@example.com' }),
  ]);
  return { alice, bob, mallory };
}

export function mail(body: string, extra: string[] = []): Buffer {
  return Buffer.from(
    ['From: Alice <alice@example.org>', 'To: Bob <bob@example.net>', 'Subject: Secret plan', 'Date: Mon, 23 Nov 2026 10:00:00 +0000', 'Message-ID: <sec@example.org>', ...extra, 'Content-Type: text/plain; charset=utf-8', '', body, ''].join('\r\n'),
  );
}

/** Alice → Bob, signed and encrypted, as Waxseal sends it. */
export async function sealed(c: Cast, body = 'the secret is 42'): Promise<Buffer> {
  const out = await transformOutgoing({ raw: mail(body), sender: { address: 'alice@example.org', key: c.alice }, recipients: [{ address: 'bob@example.net', key: c.bob.toPublic() }], policy: 'always', autocrypt: false });
  return out.raw;
}

/** What Bob's Waxseal makes of `raw`, knowing Alice's key. */
export function receive(c: Cast, raw: Buffer, extra: Partial<Parameters<typeof transformIncoming>[0]> = {}): Promise<IncomingResult> {
  return transformIncoming({ raw, decryptionKeys: [c.bob], verificationKeys: async () => [c.alice.toPublic()], ...extra });
}

export function header(raw: Buffer, key: string): string[] {
  return splitEntity(raw).fields.filter((f) => f.key === key).map((f) => f.value);
}

/** The stored result still holds every byte that arrived (after the two labels). */
export function keptAsReceived(result: Buffer, received: Buffer): boolean {
  return result.subarray(result.length - received.length).equals(received);
}

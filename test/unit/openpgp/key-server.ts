/**
 * Test fixtures for key lookups: a real node:http server on an ephemeral loopback port that
 * serves fixed routes, and OpenPGP keys generated at test time.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKey, revokeKey, type PublicKey } from 'openpgp';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface KeyServer {
  /** `http://127.0.0.1:PORT` */
  base: string;
  host: string;
  /** Raw request targets, in arrival order. */
  requests: string[];
  close(): Promise<void>;
}

/** Routes match the raw request target (path and query); anything else is a 404. */
export async function serve(routes: Record<string, Handler | Uint8Array | string>): Promise<KeyServer> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const target = req.url ?? '';
    requests.push(target);
    const route = routes[target];
    if (route === undefined) {
      res.writeHead(404).end('not found');
    } else if (typeof route === 'function') {
      route(req, res);
    } else {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(route);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nobody listens on (it was free a moment ago): connecting is refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface TestKeyOptions {
  /** Back-date creation, e.g. to make a key that has already expired. */
  date?: Date;
  /** Seconds after creation; 0 = never. */
  keyExpirationTime?: number;
  revoked?: boolean;
}

export async function publicKeyFor(email: string, options: TestKeyOptions = {}): Promise<PublicKey> {
  const { privateKey, publicKey } = await generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'Test User', email }],
    format: 'object',
    ...(options.date ? { date: options.date } : {}),
    ...(options.keyExpirationTime ? { keyExpirationTime: options.keyExpirationTime } : {}),
  });
  if (!options.revoked) return publicKey;
  const revoked = await revokeKey({ key: privateKey, format: 'object' });
  return revoked.publicKey;
}

export async function privateKeyFor(email: string): Promise<string> {
  const { privateKey } = await generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ email }],
    format: 'armored',
  });
  return privateKey;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

/**
 * The control API the tray app and the CLI talk to: HTTP on loopback, every request carrying
 * a bearer token that lives in a 0600 file next to the profile. `control.json` tells clients
 * the port; it is removed on a clean stop, and a stale one is recognised by a refused
 * connection.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { ProfilePaths } from '../config/paths.js';
import { WaxsealError } from '../util/errors.js';

export type Handler = (req: IncomingMessage) => Promise<unknown>;

export interface ControlServer {
  port: number;
  close(): Promise<void>;
}

export async function startControl(paths: ProfilePaths, routes: Record<string, Handler>): Promise<ControlServer> {
  const token = randomBytes(32).toString('hex');
  writeAtomic(paths.controlToken, `${token}\n`);
  const expected = Buffer.from(`Bearer ${token}`);
  const server: Server = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = Buffer.from(req.headers.authorization ?? '');
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) return send(res, 401, { error: 'unauthorized' });
    const route = routes[`${req.method} ${new URL(req.url ?? '/', 'http://x').pathname}`];
    if (!route) return send(res, 404, { error: 'not found' });
    try {
      send(res, 200, await route(req));
    } catch (err) {
      const code = err instanceof WaxsealError ? err.code : 'EINTERNAL';
      send(res, 500, { error: code, message: err instanceof WaxsealError ? err.message : 'internal error' });
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  writeAtomic(paths.controlInfo, `${JSON.stringify({ port, pid: process.pid })}\n`);
  return {
    port,
    async close() {
      rmSync(paths.controlInfo, { force: true });
      rmSync(paths.controlToken, { force: true });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The JSON body of a control request, at most 1 MiB (a key file fits; nothing else needs more). */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1024 * 1024) throw new WaxsealError('ETOOBIG', 'The request is larger than 1 MiB');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new WaxsealError('EUSAGE', 'The request is not valid JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Ask a running daemon; undefined when none is running for this profile. */
export async function callControl(paths: ProfilePaths, route: string, timeoutMs = 3000, post?: unknown): Promise<unknown | undefined> {
  let info: { port: number };
  let token: string;
  try {
    info = JSON.parse(readFileSync(paths.controlInfo, 'utf8'));
    token = readFileSync(paths.controlToken, 'utf8').trim();
  } catch {
    return undefined;
  }
  try {
    const res = await fetch(`http://127.0.0.1:${info.port}${route}`, {
      headers: { authorization: `Bearer ${token}`, ...(post !== undefined ? { 'content-type': 'application/json' } : {}) },
      signal: AbortSignal.timeout(timeoutMs),
      ...(post !== undefined ? { method: 'POST', body: JSON.stringify(post) } : {}),
    });
    const body = (await res.json()) as { error?: string; message?: string };
    // The daemon's own errors keep their code and message, as if the CLI had done the work.
    if (!res.ok && res.status === 500 && body.error && body.error !== 'EINTERNAL' && body.message) throw new WaxsealError(body.error, body.message);
    if (!res.ok) throw new WaxsealError('ECONTROL', `The daemon answered ${res.status}: ${body.message ?? body.error}`);
    return body;
  } catch (err) {
    if (err instanceof WaxsealError) throw err;
    return undefined; // refused: a stale control.json from a daemon that did not stop cleanly
  }
}

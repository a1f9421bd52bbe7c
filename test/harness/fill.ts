/**
 * Filling a provider's mailbox fast: pipelined APPEND with LITERAL+ (RFC 7888) on one raw
 * connection, the way a migration tool would. LMTP delivery costs 30-50 ms a message;
 * this puts 2,000 messages into Dovecot in about a second.
 */
import { connect } from 'node:net';

export interface FillOptions {
  port: number;
  user: string;
  password: string;
  mailbox?: string;
  messages: Buffer[];
}

export async function appendMany(opts: FillOptions): Promise<void> {
  const socket = connect(opts.port, '127.0.0.1');
  let tail = '';
  let waiting: { re: RegExp; resolve: () => void; reject: (e: Error) => void } | undefined;
  let failed: string | undefined;
  socket.on('data', (d: Buffer) => {
    const prev = tail.slice(-200);
    tail = (tail + d.toString('latin1')).slice(-8192);
    failed ??= /\r\nA\d+ (?:NO|BAD)[^\r\n]*/.exec(prev + d.toString('latin1'))?.[0];
    if (waiting && waiting.re.test(tail)) {
      const w = waiting;
      waiting = undefined;
      w.resolve();
    }
  });
  socket.on('error', (err) => waiting?.reject(err));
  const until = (re: RegExp) => new Promise<void>((resolve, reject) => (re.test(tail) ? resolve() : (waiting = { re, resolve, reject })));
  try {
    await until(/^\* OK.*\r\n/m);
    tail = '';
    const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;
    socket.write(`L LOGIN ${quote(opts.user)} ${quote(opts.password)}\r\n`);
    await until(/(?:^|\r\n)L (OK|NO|BAD)[^\r\n]*\r\n$/);
    if (!/L OK/.test(tail)) throw new Error(`login failed: ${tail.trim()}`);
    const box = quote(opts.mailbox ?? 'INBOX');
    const parts: Buffer[] = [];
    opts.messages.forEach((m, i) => parts.push(Buffer.from(`A${i} APPEND ${box} {${m.length}+}\r\n`), m, Buffer.from('\r\n')));
    parts.push(Buffer.from('Z NOOP\r\n'));
    tail = '';
    socket.write(Buffer.concat(parts));
    await until(/(?:^|\r\n)Z (OK|NO|BAD)[^\r\n]*\r\n$/);
    if (failed) throw new Error(`APPEND failed: ${failed.trim()}`);
    socket.write('Q LOGOUT\r\n');
  } finally {
    socket.end();
  }
}

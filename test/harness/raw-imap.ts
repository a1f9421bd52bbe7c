/** A bare IMAP client over a socket: send exact bytes, read exact responses. */
import { connect, type Socket } from 'node:net';

export class RawImap {
  readonly socket: Socket;
  buffer = '';
  #waiters: Array<() => void> = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d) => {
      this.buffer += d.toString('latin1');
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  static async open(port: number): Promise<RawImap> {
    const socket = connect(port, '127.0.0.1');
    const c = new RawImap(socket);
    await c.until(/^\* OK .*\r\n/m);
    c.buffer = '';
    return c;
  }

  /** Wait until the buffer matches; returns the match. Rejects after `ms` or on close. */
  async until(re: RegExp, ms = 5000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.buffer.match(re);
      if (m) return m;
      if (this.closed) throw new Error(`connection closed before ${re}: ${JSON.stringify(this.buffer.slice(-300))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${re}: ${JSON.stringify(this.buffer.slice(-300))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Send a command line and return everything up to and including its tagged response. */
  async command(tag: string, text: string | Buffer, ms = 5000): Promise<string> {
    this.buffer = '';
    this.socket.write(typeof text === 'string' ? `${tag} ${text}\r\n` : Buffer.concat([Buffer.from(`${tag} `), text, Buffer.from('\r\n')]));
    await this.until(new RegExp(`^${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`, 'm'), ms);
    return this.buffer;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }
}

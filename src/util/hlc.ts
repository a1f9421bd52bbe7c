/**
 * Hybrid logical clock stamps, comparable as strings: `<ms:13>.<counter:4>.<device>`.
 * They order edits across devices whose wall clocks disagree a little, and the device id
 * breaks ties, so every device picks the same winner when merging the same edits.
 */
export type Stamp = string;

export class Hlc {
  #ms = 0;
  #counter = 0;
  readonly device: string;
  readonly #now: () => number;

  constructor(device: string, now: () => number = Date.now) {
    if (!/^[0-9a-z]{1,32}$/.test(device)) throw new Error('device id must be 1-32 chars of [0-9a-z]');
    this.device = device;
    this.#now = now;
  }

  now(): Stamp {
    const wall = this.#now();
    if (wall > this.#ms) {
      this.#ms = wall;
      this.#counter = 0;
    } else {
      this.#counter++;
    }
    return format(this.#ms, this.#counter, this.device);
  }

  /** Move past a stamp seen from another device, so our next edit sorts after it. */
  observe(stamp: Stamp): void {
    const parsed = parse(stamp);
    if (!parsed) return;
    if (parsed.ms > this.#ms || (parsed.ms === this.#ms && parsed.counter > this.#counter)) {
      this.#ms = parsed.ms;
      this.#counter = parsed.counter;
    }
  }
}

function format(ms: number, counter: number, device: string): Stamp {
  return `${String(ms).padStart(13, '0')}.${String(Math.min(counter, 9999)).padStart(4, '0')}.${device}`;
}

function parse(stamp: Stamp): { ms: number; counter: number } | undefined {
  const m = /^(\d{13})\.(\d{4})\./.exec(stamp);
  return m ? { ms: Number(m[1]), counter: Number(m[2]) } : undefined;
}

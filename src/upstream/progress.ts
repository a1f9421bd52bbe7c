/** Done/total with a rate over a sliding window of recent work, and the ETA it implies. */
import type { UpstreamProgress } from './port.js';

const WINDOW_MS = 10_000;

export class Progress {
  done = 0;
  total = 0;
  bytes = 0;
  readonly #samples: Array<{ at: number; done: number }> = [];
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  addTotal(n: number): void {
    // The first sample marks when the work began, so the first batch counts in the rate.
    if (this.#samples.length === 0 || this.done === this.total) this.#samples.splice(0, Infinity, { at: this.#now(), done: this.done });
    this.total += n;
  }

  add(messages: number, bytes: number): void {
    this.done += messages;
    this.bytes += bytes;
    const at = this.#now();
    this.#samples.push({ at, done: this.done });
    while (this.#samples.length > 2 && this.#samples[0]!.at < at - WINDOW_MS) this.#samples.shift();
  }

  /** Work left to do was dropped (a folder vanished, a message was expunged meanwhile). */
  drop(n: number): void {
    this.total = Math.max(this.done, this.total - n);
  }

  rate(): number {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (!first || !last || last.at === first.at) return 0;
    return ((last.done - first.done) * 1000) / (last.at - first.at);
  }

  snapshot(): UpstreamProgress {
    const rate = this.rate();
    const left = this.total - this.done;
    return {
      done: this.done,
      total: this.total,
      bytes: this.bytes,
      rate: Math.round(rate * 10) / 10,
      etaSeconds: left <= 0 ? 0 : rate > 0 ? Math.ceil(left / rate) : null,
    };
  }
}

/**
 * The composition root: one unlocked profile, its store, and the servers built on it. Later
 * issues add the IMAP and SMTP servers, the upstream fetcher, the outbox and sync here; the
 * status this reports is what `waxseal status` and the tray app show.
 */
import { EventEmitter } from 'node:events';
import type { Endpoint } from '../config/profile.js';
import { Store } from '../store/store.js';
import { startControl, type ControlServer } from './control.js';
import type { UnlockedProfile } from './profile.js';

export interface DaemonOptions {
  unlocked: UnlockedProfile;
  imap?: Endpoint;
  smtp?: Endpoint;
  offline?: boolean;
}

export interface DaemonStatus {
  version: string;
  pid: number;
  email: string;
  dataDir: string;
  secretStore: string;
  offline: boolean;
  startedAt: string;
  mailboxes: Array<{ name: string; specialUse: string | null; messages: number; unseen: number }>;
  services: Record<string, { state: 'running' | 'not-built' | 'stopped'; host?: string; port?: number }>;
}

export const VERSION = '0.1.0';

export class Daemon extends EventEmitter {
  readonly store: Store;
  readonly #opts: DaemonOptions;
  readonly #startedAt = new Date();
  #control: ControlServer | undefined;

  private constructor(store: Store, opts: DaemonOptions) {
    super();
    this.store = store;
    this.#opts = opts;
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { paths, keys, profile } = opts.unlocked;
    const store = await Store.open({ dir: paths.store, keys, device: profile.device });
    const daemon = new Daemon(store, opts);
    try {
      daemon.#control = await startControl(paths, {
        'GET /v1/status': async () => daemon.status(),
      });
    } catch (err) {
      await store.close();
      throw err;
    }
    return daemon;
  }

  get controlPort(): number | undefined {
    return this.#control?.port;
  }

  status(): DaemonStatus {
    const { profile, paths } = this.#opts.unlocked;
    return {
      version: VERSION,
      pid: process.pid,
      email: profile.email,
      dataDir: paths.dir,
      secretStore: profile.secretStore,
      offline: this.#opts.offline ?? profile.offline,
      startedAt: this.#startedAt.toISOString(),
      mailboxes: this.store.mailboxes().map((m) => {
        let unseen = 0;
        for (const e of m.entries.values()) if (!e.meta.flags['\\Seen']?.[0]) unseen++;
        return { name: m.meta.name[0], specialUse: m.meta.specialUse, messages: m.entries.size, unseen };
      }),
      services: {
        control: { state: 'running', host: '127.0.0.1', port: this.#control?.port ?? 0 },
        imap: { state: 'not-built' },
        smtp: { state: 'not-built' },
      },
    };
  }

  async stop(): Promise<void> {
    await this.#control?.close();
    this.#control = undefined;
    await this.store.close();
    this.emit('stopped');
  }
}

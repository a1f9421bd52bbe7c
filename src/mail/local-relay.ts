/**
 * The embedded default's relay, used when no provider is configured: mail to the profile's
 * own address is delivered locally through the same pipeline as mail from a provider (it
 * was sealed and encrypted to the recipient by the outbox's transform; it is decrypted,
 * verified and stored on arrival), and so is mail to another profile whose daemon runs on
 * this machine (handed to that daemon, which opens and stores it). Any other recipient is refused for good with an answer
 * that says how to configure a provider, so the sender gets a clear bounce.
 */
import type { Relay, RelayResult } from '../outbox/port.js';
import type { Store } from '../store/store.js';
import { ingest } from './ingest.js';
import type { Keyring } from './keyring.js';

export interface LocalRelayOptions {
  store: Store;
  keyring: Keyring;
  addresses: () => string[];
  /** Hand a message to another local profile's daemon; false when none serves `address`. */
  deliverElsewhere?: (address: string, raw: Buffer) => Promise<boolean>;
}

export function createLocalRelay(opts: LocalRelayOptions): Relay {
  return {
    async send(message): Promise<RelayResult> {
      const mine = new Set(opts.addresses().map((a) => a.toLowerCase()));
      const local = message.to.filter((t) => mine.has(t.toLowerCase()));
      const result: RelayResult = { accepted: [], rejected: [] };
      if (local.length > 0) {
        await ingest({ store: opts.store, keyring: opts.keyring }, [{ raw: message.raw }]);
        result.accepted.push(...local);
      }
      for (const t of message.to.filter((x) => !mine.has(x.toLowerCase()))) {
        const handed = await opts.deliverElsewhere?.(t, message.raw).catch(() => false);
        if (handed) {
          result.accepted.push(t);
          continue;
        }
        result.rejected.push({ address: t, response: '550 5.1.1 No mail provider is configured, so only mail to your own address is delivered (set one with `waxseal account set`)', temporary: false });
      }
      return result;
    },
  };
}

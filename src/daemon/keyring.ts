/** The keyring of a profile, wired to its settings (key sources, network lookups). */
import type { ProfileConfig } from '../config/profile.js';
import { Keyring, type NetworkLookup } from '../mail/keyring.js';
import type { Store } from '../store/store.js';

export function openKeyring(store: Store, profile: ProfileConfig, network?: NetworkLookup): Keyring {
  const o = profile.openpgp;
  return new Keyring({
    records: store.records,
    sources: o.sources,
    ...(network && !profile.offline ? { network } : {}),
    refreshMs: o.lookupRefreshHours * 3600_000,
  });
}

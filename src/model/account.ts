/**
 * The user's mail provider account: where Waxseal fetches mail (IMAP) and relays it (SMTP).
 * Kept in the profile's settings; the password never is (it lives in the OS keychain, or
 * sealed in the device-local store on profiles without one).
 */

export type TlsMode = 'starttls' | 'implicit' | 'none';

export interface ServerSettings {
  host: string;
  port: number;
  tls: TlsMode;
}

/** What happens at the provider once a message is safely stored here. */
export type AfterIngest =
  | { action: 'leave' }
  | { action: 'seen' }
  | { action: 'move'; folder: string }
  | { action: 'delete'; days: number };

/** The provider account, as the profile keeps it (the password is never part of it). */
export interface AccountSettings {
  imap: ServerSettings;
  smtp: ServerSettings;
  user: string;
  afterIngest: AfterIngest;
  /** How often folders other than INBOX (which is pushed by IDLE) are checked. */
  pollSeconds: number;
}

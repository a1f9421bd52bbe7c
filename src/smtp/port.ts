/**
 * What the submission server needs from the rest of Waxseal. The SMTP layer knows SMTP; who
 * may log in, which From addresses are ours and where an accepted message goes are the
 * backend's (src/mail/submission.ts).
 */

export interface SubmissionEnvelope {
  /** MAIL FROM, lower-cased (empty for a null sender, which we refuse). */
  from: string;
  /** RCPT TO addresses, in order, lower-cased. */
  to: string[];
}

/** A refusal with its SMTP reply: `new SmtpError(550, '5.7.1', 'text')`. */
export class SmtpError extends Error {
  readonly responseCode: number;
  constructor(code: number, enhanced: string, text: string) {
    super(`${enhanced} ${text}`);
    this.name = 'SmtpError';
    this.responseCode = code;
  }
}

export interface SubmissionBackend {
  /** True when user and password are the profile's local login (the same as IMAP's). */
  login(user: string, password: string): boolean;
  /** Null when the profile may send as `address`, else why not. */
  checkSender(address: string): string | null;
  /** The largest message we accept, in bytes (SIZE). */
  maxMessageBytes(): number;
  /**
   * Take the message: resolves only once it is durably in the outbox. A rejection with an
   * SmtpError becomes that reply; anything else a temporary failure.
   */
  accept(envelope: SubmissionEnvelope, raw: Buffer): Promise<void>;
}

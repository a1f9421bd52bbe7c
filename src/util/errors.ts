/**
 * The one error type the core throws on purpose. `code` is stable and machine-readable
 * (the CLI maps it to an exit status and the IMAP/SMTP layers map it to responses);
 * `message` is written for the person reading it and never carries secrets or mail content.
 */
export class WaxsealError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WaxsealError';
    this.code = code;
  }
}

export function isWaxsealError(err: unknown, code?: string): err is WaxsealError {
  return err instanceof WaxsealError && (code === undefined || err.code === code);
}

/** Wrap `err` with context unless it is already one of ours. */
export function wrapError(code: string, message: string, err: unknown): WaxsealError {
  if (err instanceof WaxsealError) return err;
  return new WaxsealError(code, message, { cause: err });
}

/** The message of any thrown value, for logs that must not dump stacks at users. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

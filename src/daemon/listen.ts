/** Starting a listener, with the errors a user can act on said plainly. */
import type { Endpoint } from '../config/profile.js';
import { WaxsealError } from '../util/errors.js';

export async function listenOrExplain<T>(what: string, at: Endpoint, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new WaxsealError('EADDRINUSE', `${what} port ${at.host}:${at.port} is already in use (another Waxseal, or another program); choose another with --${what.toLowerCase()} HOST:PORT (port 0 picks a free one)`);
    }
    if (code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      throw new WaxsealError(code, `${what} cannot listen on ${at.host}:${at.port} (${code})`);
    }
    throw err;
  }
}

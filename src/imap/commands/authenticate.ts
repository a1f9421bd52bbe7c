import { command, NOT_AUTHENTICATED } from '../command.js';
import { ImapError } from '../types.js';

// authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")] *(CRLF base64)   (RFC 4959 SASL-IR)
// Only PLAIN (RFC 4616): authzid NUL authcid NUL passwd. Without an initial response the client
// is prompted with "+ " and answers on the next line.
export const authenticate = command({
  name: 'AUTHENTICATE',
  states: NOT_AUTHENTICATED,
  parse(s) {
    s.sp();
    const mechanism = s.atomUpper();
    let initial: string | undefined;
    if (s.tryChar(' ')) initial = s.atom();
    s.end();
    return { mechanism, initial };
  },
  async run(ctx, { mechanism, initial }) {
    if (mechanism !== 'PLAIN') throw new ImapError('NO', `Unsupported authentication mechanism ${mechanism}`, 'CANNOT');
    let response = initial;
    if (response === undefined) response = (await ctx.session.continuation('')).toString('latin1').trim();
    if (response === '*') throw new ImapError('BAD', 'Authentication cancelled');
    const decoded = response === '=' ? '' : Buffer.from(response, 'base64').toString('utf8');
    const parts = decoded.split('\0');
    if (parts.length !== 3 || !/^[A-Za-z0-9+/]*={0,2}$/.test(response === '=' ? '' : response)) {
      throw new ImapError('BAD', 'Malformed PLAIN response');
    }
    const [authz, user, password] = parts as [string, string, string];
    if (authz !== '' && authz.toLowerCase() !== user.toLowerCase()) throw new ImapError('NO', 'Cannot act as another user', 'AUTHORIZATIONFAILED');
    await ctx.session.login(user, password);
    return { code: `CAPABILITY ${ctx.session.capabilities().join(' ')}`, text: 'Authenticated' };
  },
});

/** Content-Transfer-Encoding decoders (RFC 2045 §6), lenient as mail readers must be. */

export function decodeBase64(body: Buffer): Buffer {
  return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
}

/** Quoted-printable: soft line breaks removed, =XX decoded, a stray "=" kept as is. */
export function decodeQuotedPrintable(body: Buffer): Buffer {
  const out = Buffer.alloc(body.length);
  let n = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== 0x3d) {
      out[n++] = c;
      continue;
    }
    if (body[i + 1] === 0x0d && body[i + 2] === 0x0a) {
      i += 2;
      continue;
    }
    if (body[i + 1] === 0x0a) {
      i += 1;
      continue;
    }
    const hex = body.toString('latin1', i + 1, i + 3);
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      out[n++] = parseInt(hex, 16);
      i += 2;
    } else out[n++] = c;
  }
  return out.subarray(0, n);
}

export function decodeBody(body: Buffer, encoding: string): Buffer {
  switch (encoding.toLowerCase()) {
    case 'base64':
      return decodeBase64(body);
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    default:
      return body;
  }
}

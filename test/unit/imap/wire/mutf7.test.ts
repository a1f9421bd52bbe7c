import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMailboxName, encodeMailboxName } from '../../../../src/imap/wire/mutf7.js';
import { ParseError } from '../../../../src/imap/types.js';

test('RFC 3501 §5.1.3 example round-trips', () => {
  const wire = '~peter/mail/&U,BTFw-/&ZeVnLIqe-';
  const name = '~peter/mail/台北/日本語';
  assert.equal(decodeMailboxName(wire), name);
  assert.equal(encodeMailboxName(name), wire);
});

test('"&" is written "&-" and printable ASCII stands for itself', () => {
  assert.equal(encodeMailboxName('Tom & Jerry'), 'Tom &- Jerry');
  assert.equal(decodeMailboxName('Tom &- Jerry'), 'Tom & Jerry');
  assert.equal(encodeMailboxName('Sent Items/2024'), 'Sent Items/2024');
  assert.equal(decodeMailboxName(''), '');
});

test('non-ASCII, controls and astral characters are base64 runs', () => {
  assert.equal(encodeMailboxName('Entwürfe'), 'Entw&APw-rfe');
  assert.equal(decodeMailboxName('Entw&APw-rfe'), 'Entwürfe');
  assert.equal(encodeMailboxName('a\tb'), 'a&AAk-b');
  const emoji = 'mail 📬 box';
  assert.equal(decodeMailboxName(encodeMailboxName(emoji)), emoji);
  assert.equal(encodeMailboxName('\u263a'), '&Jjo-');
});

test('lone surrogates are encoded as U+FFFD', () => {
  assert.equal(decodeMailboxName(encodeMailboxName('x\ud800y')), 'x\ufffdy');
});

test('non-canonical or broken encodings are ParseErrors', () => {
  for (const bad of [
    '&', // unterminated
    'abc&U,BT', // unterminated run
    '&U,B!-', // not modified base64
    '&AGE-', // printable ASCII "a" must not be encoded
    '&Jjo-&Jjo-', // adjacent runs must be merged
    '&Jjp-', // non-zero padding bits
    '&AA-', // not a whole UTF-16 unit
    '&2D0-', // lone high surrogate
    '&AAA-', // NUL
    'caf\u00e9', // 8-bit is not modified UTF-7
    'a\tb', // raw control character
    '&U/BTFw-', // "/" instead of ","
  ]) {
    assert.throws(() => decodeMailboxName(bad), ParseError, JSON.stringify(bad));
  }
});

test('random names round-trip', () => {
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const alphabet = ['a', 'Z', '&', '-', ' ', '/', '%', 'é', '台', '\u0001', '😀', ',', '+', '~'];
  for (let i = 0; i < 2000; i++) {
    let name = '';
    for (let j = rnd(12); j > 0; j--) name += alphabet[rnd(alphabet.length)];
    const wire = encodeMailboxName(name);
    assert.match(wire, /^[\x20-\x7e]*$/);
    if (/[\x00-\x1f]/.test(name)) assert.throws(() => decodeMailboxName(wire), ParseError);
    else assert.equal(decodeMailboxName(wire), name);
  }
});

/**
 * Python's imaplib against the Waxseal IMAP server: CREATE a mailbox, APPEND 547 corpus
 * messages (SpamAssassin spam-1, 8-bit bodies included, and CPython's email test messages, one
 * without a final line end) with synchronizing literals, then SELECT, FETCH 1:* (BODY.PEEK[])
 * and UID FETCH 1:* (RFC822.SIZE FLAGS INTERNALDATE). Every message must come back byte-exact,
 * in order, with the UID APPENDUID gave it and the size, flags and date it was appended with.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startImap, type ImapHarness } from '../harness/imap.js';
import { cpythonEmail, spamAssassin, type CorpusMessage } from '../harness/corpus.js';
import { makeTempDir, outputOf, run, type TempDir } from '../harness/tmp.js';

const SCRIPT = String.raw`
import imaplib, json, os, re, sys
from datetime import datetime, timezone

indir, outdir, box = sys.argv[1:4]
M = imaplib.IMAP4('127.0.0.1', int(os.environ['WX_IMAP_PORT']), timeout=30)

def ok(what, res):
    typ, data = res
    if typ != 'OK':
        sys.exit(f'{what} failed: {typ} {data!r}')
    return data

ok('LOGIN', M.login(os.environ['WX_IMAP_USER'], os.environ['WX_IMAP_PASS']))
quoted = '"' + box + '"'  # imaplib sends mailbox names as given
ok('CREATE', M.create(quoted))
date = imaplib.Time2Internaldate(datetime(2024, 2, 29, 23, 59, 58, tzinfo=timezone.utc))
appended = []
for i, name in enumerate(sorted(os.listdir(indir))):
    with open(os.path.join(indir, name), 'rb') as f:
        data = f.read()
    flags = r'(\Seen $Label1)' if i % 2 else None
    resp = ok('APPEND ' + name, M.append(quoted, flags, date, data))
    m = re.search(rb'\[APPENDUID (\d+) (\d+)\]', resp[0])
    appended.append(int(m.group(2)) if m else None)

exists = int(ok('SELECT', M.select(quoted))[0])
order = []
for item in ok('FETCH', M.fetch('1:*', '(BODY.PEEK[])')):
    if not isinstance(item, tuple):
        continue  # the closing ")" of each response
    m = re.match(rb'(\d+) \(BODY\[\] \{(\d+)\}$', item[0])
    if not m or int(m.group(2)) != len(item[1]):
        sys.exit(f'unexpected FETCH response {item[0]!r}')
    order.append(int(m.group(1)))
    with open(os.path.join(outdir, '%05d.eml' % int(m.group(1))), 'wb') as f:
        f.write(item[1])

attrs = []
for line in ok('UID FETCH', M.uid('FETCH', '1:*', '(RFC822.SIZE FLAGS INTERNALDATE)')):
    text = line.decode('ascii')
    attrs.append({
        'seq': int(text.split(' ', 1)[0]),
        'uid': int(re.search(r'\bUID (\d+)', text).group(1)),
        'size': int(re.search(r'\bRFC822\.SIZE (\d+)', text).group(1)),
        'flags': sorted(re.search(r'\bFLAGS \(([^)]*)\)', text).group(1).split()),
        'date': re.search(r'\bINTERNALDATE ("[^"]*")', text).group(1),
    })
M.close()
M.logout()
json.dump({'appended': appended, 'exists': exists, 'order': order, 'attrs': attrs, 'date': date}, sys.stdout)
`;

/** What imaplib puts on the wire for a message: it rewrites every line end to CRLF. */
const asImaplibSends = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/\r\n|\r(?!\n)|\n/g, '\r\n'), 'latin1');

let h: ImapHarness;
let tmp: TempDir;
let corpus: CorpusMessage[];

before(async () => {
  h = await startImap();
  tmp = await makeTempDir('waxseal-imaplib-');
  corpus = [...spamAssassin('spam-1', 500), ...cpythonEmail()];
  await mkdir(join(tmp.path, 'in'));
  await mkdir(join(tmp.path, 'out'));
  await Promise.all(corpus.map((m, i) => writeFile(join(tmp.path, 'in', `${String(i + 1).padStart(5, '0')}.eml`), m.raw)));
  await writeFile(join(tmp.path, 'roundtrip.py'), SCRIPT);
});

after(async () => {
  try {
    await h?.stop();
  } finally {
    await tmp?.cleanup();
  }
});

interface Result {
  appended: Array<number | null>;
  exists: number;
  order: number[];
  attrs: Array<{ seq: number; uid: number; size: number; flags: string[]; date: string }>;
  date: string;
}

test('imaplib APPENDs 547 messages and FETCHes every one back byte-exact, in order', async (t) => {
  const started = Date.now();
  let out: string;
  try {
    const r = await run('python3', [join(tmp.path, 'roundtrip.py'), join(tmp.path, 'in'), join(tmp.path, 'out'), 'Imaplib Corpus'], {
      timeout: 180_000,
      killSignal: 'SIGKILL',
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, WX_IMAP_PORT: String(h.port), WX_IMAP_USER: h.user, WX_IMAP_PASS: h.password, PYTHONDONTWRITEBYTECODE: '1' },
    });
    out = r.stdout;
  } catch (err) {
    throw new Error(`python3 failed: ${(err as Error).message}\n${outputOf(err).slice(-4000)}`);
  }
  t.diagnostic(`imaplib round trip of ${corpus.length} messages: ${Date.now() - started} ms`);
  const r = JSON.parse(out) as Result;
  const n = corpus.length;
  const sent = corpus.map((m) => asImaplibSends(m.raw));
  assert.ok(corpus.some((m) => !m.raw.subarray(-2).equals(Buffer.from('\r\n'))), 'corpus includes a message without a final CRLF');
  assert.ok(corpus.some((m) => /[\x80-\xff]/.test(m.raw.toString('latin1'))), 'corpus includes 8-bit messages');

  assert.equal(r.exists, n);
  assert.deepEqual(r.order, Array.from({ length: n }, (_, i) => i + 1), 'FETCH 1:* answers in sequence order, once each');
  for (let i = 0; i < n; i++) {
    const got = await readFile(join(tmp.path, 'out', `${String(i + 1).padStart(5, '0')}.eml`));
    assert.ok(got.equals(sent[i]!), `message ${i + 1} (${corpus[i]!.name}) differs: ${got.length} bytes back, ${sent[i]!.length} sent`);
  }

  assert.equal(r.attrs.length, n);
  assert.ok(r.appended.every((u) => u !== null), 'every APPEND answered APPENDUID');
  r.attrs.forEach((a, i) => {
    assert.equal(a.seq, i + 1);
    assert.equal(a.uid, r.appended[i], `UID of message ${i + 1} is the one APPENDUID gave`);
    assert.equal(a.size, sent[i]!.length, `RFC822.SIZE of message ${i + 1}`);
    assert.deepEqual(a.flags, i % 2 ? ['$Label1', '\\Seen'] : [], `FLAGS of message ${i + 1}`);
    assert.equal(a.date, r.date, `INTERNALDATE of message ${i + 1}`);
  });
  assert.deepEqual([...r.attrs.map((a) => a.uid)].sort((a, b) => a - b), r.attrs.map((a) => a.uid), 'UIDs ascend');
});

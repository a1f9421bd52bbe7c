/**
 * mutt against the Waxseal IMAP server, driven through tmux like a person at a terminal:
 * read the index, read a message, delete and sync, save to another folder, see new mail arrive,
 * quit. Every step waits for the screen (with a deadline) and checks the server over imapflow.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startImap, type ImapHarness } from '../harness/imap.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';
import { startTmux, type TmuxPane } from '../harness/tmux.js';

const message = (n: number, subject: string) =>
  Buffer.from(
    `From: Sender ${n} <sender${n}@example.org>\r\nTo: alice@example.org\r\nSubject: ${subject}\r\n` +
      `Date: Mon, 0${n} Jan 2024 10:00:00 +0000\r\nMessage-ID: <mutt-${n}@example.org>\r\n\r\nBody line of ${subject}.\r\n`,
  );
const ALPHA = message(1, 'Alpha apples');
const BRAVO = message(2, 'Bravo bananas');
const CHARLIE = message(3, 'Charlie cherries');

let h: ImapHarness;
let tmp: TempDir;
let mutt: TmuxPane;

before(async () => {
  h = await startImap();
  tmp = await makeTempDir('waxseal-mutt-');
  await h.store.import(h.store.mailboxByName('INBOX')!.logical, [ALPHA, BRAVO, CHARLIE].map((raw) => ({ raw })));
  const muttrc = join(tmp.path, 'muttrc');
  // The user name holds an '@', so it goes in imap_user, not in the URL.
  await writeFile(
    muttrc,
    `set imap_user="${h.user}"
set imap_pass="${h.password}"
set folder="imap://127.0.0.1:${h.port}/"
set spoolfile="+INBOX"
set record=""
set postponed="+Drafts"
set ssl_starttls=no
set ssl_force_tls=no
set header_cache=""
set message_cachedir=""
set mailcap_path="/dev/null"
set sleep_time=0
set mail_check=1
set timeout=1
set move=no
set confirmappend=no
set confirmcreate=no
set delete=yes
set wait_key=no
set beep=no
set sort=date
set arrow_cursor=yes
`,
  );
  // -n: no system Muttrc; HOME in the temp dir so nothing of the user's is read or written.
  mutt = await startTmux({ dir: tmp.path, argv: ['mutt', '-n', '-F', muttrc], env: { HOME: tmp.path } });
});

after(async () => {
  try {
    await mutt?.stop();
    await h?.stop();
  } finally {
    await tmp?.cleanup();
  }
});

/** Subject → { flags, source } of every message in a mailbox, read over imapflow. */
async function mailbox(path: string): Promise<Map<string, { flags: string[]; source: Buffer }>> {
  const c = await h.client();
  const lock = await c.getMailboxLock(path);
  const out = new Map<string, { flags: string[]; source: Buffer }>();
  try {
    if ((c.mailbox as { exists: number }).exists > 0) {
      for await (const m of c.fetch('1:*', { envelope: true, flags: true, source: true })) {
        out.set(m.envelope!.subject!, { flags: [...m.flags!].sort(), source: m.source! });
      }
    }
  } finally {
    lock.release();
    await c.logout();
  }
  return out;
}

/** Put the cursor on the message with this subject, using mutt's search. */
async function select(subject: string): Promise<void> {
  await mutt.keys('/');
  await mutt.waitFor(/^Search for:/m); // capture-pane drops trailing blanks
  await mutt.keys('C-u'); // mutt offers the previous pattern
  await mutt.type(`~s "${subject}"`);
  await mutt.keys('Enter');
  // arrow_cursor: the selected row starts with "->" (capture-pane shows no reverse video).
  await mutt.waitFor(new RegExp(`^-> +\\d+ .*${subject}$`, 'm'));
}

/** An index row: the cursor column, the number, then flags, date, sender, size, subject. */
const row = (flags: string, subject: string) => new RegExp(`^(?:->| ) +\\d+ ${flags} .*${subject}$`, 'm');

test('the index lists the three messages', async () => {
  const screen = await mutt.waitFor(/Mutt: =INBOX \[Msgs:3/);
  for (const s of ['Alpha apples', 'Bravo bananas', 'Charlie cherries']) assert.match(screen, row('N ', s));
});

test('opening a message shows its body; q goes back to the index', async () => {
  await select('Alpha apples');
  await mutt.keys('Enter');
  await mutt.waitFor(/^Body line of Alpha apples\.$/m);
  await mutt.keys('q');
  await mutt.waitFor(/Mutt: =INBOX \[Msgs:3/);
});

test('d and $ expunge the message on the server; reading it set \\Seen', async () => {
  await select('Bravo bananas');
  await mutt.keys('d');
  await mutt.waitFor(row('\\S*D\\S*', 'Bravo bananas'));
  await mutt.keys('$');
  await mutt.waitFor(/Mutt: =INBOX \[Msgs:2[ \]]/);
  const inbox = await mailbox('INBOX');
  assert.deepEqual([...inbox.keys()].sort(), ['Alpha apples', 'Charlie cherries']);
  assert.deepEqual(inbox.get('Alpha apples')!.flags, ['\\Seen']);
  assert.deepEqual(inbox.get('Charlie cherries')!.flags, []);
});

test('s =Archive and $ move the message to Archive byte-exact', async () => {
  await select('Charlie cherries');
  await mutt.keys('s');
  await mutt.waitFor(/^Save to mailbox.*:/m);
  await mutt.keys('C-u'); // mutt proposes a folder named after the sender
  await mutt.type('=Archive');
  await mutt.keys('Enter');
  await mutt.waitFor(row('\\S*D\\S*', 'Charlie cherries')); // delete=yes: saved means deleted here
  await mutt.keys('$');
  await mutt.waitFor(/Mutt: =INBOX \[Msgs:1[ \]]/);
  const archive = await mailbox('Archive');
  assert.deepEqual([...archive.keys()], ['Charlie cherries']);
  assert.ok(archive.get('Charlie cherries')!.source.equals(CHARLIE), 'saved copy differs from the original');
  assert.deepEqual([...(await mailbox('INBOX')).keys()], ['Alpha apples']);
});

test('a message appended by another client shows up in the open index', async () => {
  const c = await h.client();
  await c.append('INBOX', Buffer.from('From: Other <other@example.org>\r\nSubject: Delta dates\r\n\r\nArrived later.\r\n'));
  await c.logout();
  const screen = await mutt.waitFor(row('N ', 'Delta dates'), 15_000);
  assert.match(screen, /Mutt: =INBOX \[Msgs:2 New:1/);
});

test('q quits mutt with status 0', async () => {
  await mutt.keys('q');
  const deadline = Date.now() + 10_000;
  let status: number | undefined;
  while ((status = await mutt.exitStatus()) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(status, 0, `mutt did not exit cleanly: ${await mutt.screen()}`);
});

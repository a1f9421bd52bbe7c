/**
 * A mail client that saves its own copy of what it sends to Sent (Thunderbird by default,
 * mutt with `record`) and Waxseal, which keeps a Sent copy after relaying, end with one
 * message in Sent, whichever copy arrives first. Other APPENDs are left alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import { startDaemon } from '../harness/daemon.js';

const raw = (id: string, subject: string) =>
  Buffer.from(`From: me@example.org\r\nTo: me@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${id}@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n${subject}, as the client saved it.\r\n`);

test("a client's own Sent copy and Waxseal's are one message, in either order", async () => {
  const h = await startDaemon();
  const { user, password } = h.credentials;
  const smtp = createTransport({ host: '127.0.0.1', port: h.credentials.smtp.port, secure: false, ignoreTLS: true, auth: { user, pass: password } });
  const imap = new ImapFlow({ host: '127.0.0.1', port: h.credentials.imap.port, secure: false, doSTARTTLS: false, auth: { user, pass: password }, logger: false } as never);
  await imap.connect();
  const count = async (box: string) => {
    const st = await imap.status(box, { messages: true });
    return st ? (st.messages ?? -1) : -1;
  };
  const sentCount = () => count('Sent');
  const drained = async () => {
    const deadline = Date.now() + 30_000;
    while ((await h.daemon.outboxStatus())?.queued !== 0) {
      if (Date.now() > deadline) throw new Error('the outbox did not drain');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    // The client's copy first (as Thunderbird does: submit, then APPEND at once).
    await smtp.sendMail({ envelope: { from: user, to: [user] }, raw: raw('first', 'First') });
    const first = await imap.append('Sent', raw('first', 'First'), ['\\Seen']);
    await drained();
    assert.equal(await sentCount(), 1, 'one copy of the first message');

    // Waxseal's copy first, then the client's: the APPEND answers with the copy already there.
    await smtp.sendMail({ envelope: { from: user, to: [user] }, raw: raw('second', 'Second') });
    await drained();
    assert.equal(await sentCount(), 2);
    const second = await imap.append('Sent', raw('second', 'Second'), ['\\Seen']);
    assert.equal(await sentCount(), 2, 'one copy of the second message');

    const lock = await imap.getMailboxLock('Sent');
    try {
      const uids: number[] = [];
      for await (const m of imap.fetch('1:*', { uid: true, envelope: true })) uids.push(m.uid);
      const appended = [first, second].map((a) => (a ? Number(a.uid) : NaN));
      assert.deepEqual(uids.sort((a, b) => a - b), appended.sort((a, b) => a - b), 'APPENDUID names the message that is in Sent');
    } finally {
      lock.release();
    }

    // Anything else is stored as it comes: an unrelated message, and a sent one saved elsewhere.
    await imap.append('Sent', raw('never-sent', 'Never sent'), ['\\Seen']);
    await imap.append('Drafts', raw('first', 'First'), []);
    assert.equal(await sentCount(), 3);
    assert.equal(await count('Drafts'), 1);
  } finally {
    smtp.close();
    await imap.logout();
    await h.stop();
  }
});

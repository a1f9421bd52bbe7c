/**
 * A bounce for mail we could not deliver, in RFC 3464 form (multipart/report with a
 * human-readable part, message/delivery-status and the original's header), so mail clients
 * show it as a delivery failure and the user sees which recipients failed and what the
 * provider answered.
 */
import { randomBytes } from 'node:crypto';
import { parseHeaderBlock } from '../mime/header.js';

export interface BounceInput {
  to: string;
  original: Buffer;
  failures: Array<{ address: string; response: string }>;
  messageId: string;
  date?: Date;
}

const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ').trim();

export function buildBounce(b: BounceInput): Buffer {
  const boundary = `waxseal-report-${randomBytes(8).toString('hex')}`;
  const date = (b.date ?? new Date()).toUTCString().replace('GMT', '+0000');
  const header = b.original.subarray(0, parseHeaderBlock(b.original).fieldsEnd).toString('latin1');
  const human = [
    'Waxseal could not deliver your message to these recipients:',
    '',
    ...b.failures.map((f) => `  ${f.address}\r\n    ${oneLine(f.response)}`),
    '',
    `The message was ${b.messageId}. Its header is attached below; the message itself is in`,
    'your Sent mailbox only if it reached at least one recipient.',
  ].join('\r\n');
  const status = [
    'Reporting-MTA: dns; waxseal.localhost',
    `Arrival-Date: ${date}`,
    ...b.failures.flatMap((f) => ['', `Final-Recipient: rfc822; ${f.address}`, 'Action: failed', `Status: ${/\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(f.response)?.[1]?.replace(/^[24]/, '5') ?? '5.0.0'}`, `Diagnostic-Code: smtp; ${oneLine(f.response)}`]),
  ].join('\r\n');
  return Buffer.from(
    [
      'From: Mail Delivery System <mailer-daemon@waxseal.localhost>',
      `To: ${b.to}`,
      `Subject: Undelivered Mail Returned to Sender`,
      `Date: ${date}`,
      `Message-ID: <bounce-${randomBytes(8).toString('hex')}@waxseal.localhost>`,
      'Auto-Submitted: auto-replied',
      'MIME-Version: 1.0',
      `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
      '',
      `--${boundary}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      human,
      '',
      `--${boundary}`,
      'Content-Type: message/delivery-status',
      '',
      status,
      '',
      `--${boundary}`,
      'Content-Type: text/rfc822-headers',
      '',
      header.replace(/\r?\n$/, ''),
      '',
      `--${boundary}--`,
      '',
    ].join('\r\n'),
    'utf8',
  );
}

import { profilePaths } from '../config/paths.js';
import { readProfile } from '../config/profile.js';
import { callControl } from '../daemon/control.js';
import type { DaemonStatus } from '../daemon/daemon.js';
import { COMMON_OPTIONS, type Command } from './command.js';
import { dataDirFrom, out } from './context.js';

export const status: Command = {
  summary: 'show the profile and what the running daemon is doing',
  usage: 'waxseal status [--data-dir DIR] [--json]',
  help: 'Reads the profile settings and asks the running daemon (if any) over its control API.\nNeeds no passphrase.',
  options: { ...COMMON_OPTIONS, json: { type: 'boolean' } },
  async run(v) {
    const dataDir = dataDirFrom(v['data-dir'] as string | undefined);
    const paths = profilePaths(dataDir);
    const profile = readProfile(paths.config);
    const live = (await callControl(paths, '/v1/status')) as DaemonStatus | undefined;
    const data = { email: profile.email, dataDir, secretStore: profile.secretStore, running: live !== undefined, daemon: live ?? null };
    out(Boolean(v.json), data, () => {
      const lines = [`Profile ${profile.email} (${dataDir})`, `  secret: ${profile.secretStore}`];
      if (!live) return [...lines, `  sync: ${profile.sync.couchdb ?? 'off'}`, '  daemon: not running (start it with `waxseal serve`)'].join('\n');
      lines.push(`  daemon: running, pid ${live.pid}, since ${live.startedAt}${live.offline ? ', offline' : ''}`);
      for (const [name, s] of Object.entries(live.services)) {
        lines.push(`  ${name}: ${s.state}${s.port ? ` on ${s.host}:${s.port}` : ''}${s.note ? ` (${s.note})` : ''}`);
      }
      if (live.outbox) {
        const o = live.outbox;
        lines.push(`  outbox: ${o.queued} waiting${o.sending ? `, ${o.sending} sending` : ''}${o.offline ? ' (offline)' : ''}${o.relay === 'local' ? ' — no provider configured: local delivery only' : ''}`);
        if (o.lastError) lines.push(`    last error: ${o.lastError}${o.nextAttemptAt ? `; next try ${o.nextAttemptAt}` : ''}`);
      }
      if (live.account) lines.push(`  account: ${live.account.user} at ${live.account.imap}; after fetching: ${live.account.afterIngest}`);
      if (live.upstream) lines.push(`  fetching: ${upstreamLine(live.upstream)}`);
      lines.push(`  sync: ${syncLine(live.sync)}`);
      for (const m of live.mailboxes) lines.push(`  ${m.name.padEnd(12)} ${String(m.messages).padStart(6)} messages, ${m.unseen} unseen`);
      return lines.join('\n');
    });
    return 0;
  },
};

function upstreamLine(u: NonNullable<DaemonStatus['upstream']>): string {
  const p = u.progress;
  const parts: string[] = [u.state];
  if (p.total > 0 && (u.firstSync || p.done < p.total)) {
    const pct = Math.floor((p.done * 100) / p.total);
    parts.push(`${u.firstSync ? 'first sync ' : ''}${p.done}/${p.total} (${pct}%)`);
    if (p.rate > 0) parts.push(`${p.rate} msg/s`);
    if (p.etaSeconds !== null && p.done < p.total) parts.push(`about ${p.etaSeconds} s left`);
  } else if (!u.firstSync) parts.push('up to date');
  parts.push(`${u.counters.fetched} fetched`);
  if (u.counters.undecryptable > 0) parts.push(`${u.counters.undecryptable} could not be decrypted (kept as received)`);
  if (u.lastError) parts.push(`last error: ${u.lastError}`);
  if (u.retryAt) parts.push(`retrying at ${u.retryAt}`);
  return parts.join(', ');
}

function syncLine(s: DaemonStatus['sync']): string {
  if (s.state === 'off') return 'off (`waxseal sync set --couchdb URL`)';
  if (s.state === 'offline') return `offline (paused), server ${s.server}`;
  const parts = [`${s.state}, server ${s.server}`];
  if (s.pending > 0) parts.push(`${s.pending} change(s) pending`);
  if (s.firstReplication) parts.push(`first sync ${s.firstReplication.done} of ${s.firstReplication.total} documents`);
  if (s.waitingForContent > 0) parts.push(`${s.waitingForContent} message(s) still arriving`);
  if (s.error) parts.push(`error: ${s.error}`);
  if (s.refusedTotal > 0) parts.push(`${s.refusedTotal} document(s) from the server refused as damaged or tampered with`);
  return parts.join('; ');
}

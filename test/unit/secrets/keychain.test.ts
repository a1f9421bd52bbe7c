import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryKeychain, createOsKeychain } from '../../../src/secrets/keychain.js';
import type { Keychain } from '../../../src/secrets/keychain.js';
import { isWaxsealError } from '../../../src/util/errors.js';
import { startKeyring, startLockedKeyring } from '../../harness/keyring.js';
import type { KeyringHarness } from '../../harness/keyring.js';

function secretTool(env: Record<string, string>, args: string[], input?: string) {
  return new Promise<{ code: number; stdout: string }>((resolve) => {
    const child = execFile('secret-tool', args, { env: { ...process.env, ...env }, timeout: 5000 }, (err, stdout) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout }),
    );
    child.stdin?.end(input ?? '');
  });
}

/** Keychain helper processes that are children of this test process (Linux /proc). */
function liveHelpers(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (ppid === process.pid && cmdline.includes('@napi-rs/keyring')) pids.push(Number(name));
    } catch {
      // the process went away while we looked
    }
  }
  return pids;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(isWaxsealError(err, code), `expected ${code}, got ${String(err)}`);
    assert.doesNotMatch(err.message, /\n\s+at /, 'message must not carry a stack trace');
    return err;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

describe('OS keychain against a real gnome-keyring', () => {
  let h: KeyringHarness;
  let kc: Keychain;
  before(async () => {
    h = await startKeyring();
    kc = createOsKeychain({ env: { ...process.env, ...h.env } });
  });
  after(async () => {
    await h?.stop();
  });

  it('probes as available', async () => {
    assert.deepEqual(await kc.probe(), { available: true });
  });

  it('round-trips 32 random bytes through the real keyring, stored as base64', async () => {
    const secret = randomBytes(32);
    await kc.set('root', secret);
    const got = await kc.get('root');
    assert.ok(got && got.equals(secret));

    // Another client of the same keyring sees the entry: it really went to gnome-keyring.
    // @napi-rs/keyring names the attribute "username", not "account".
    const seen = await secretTool(h.env, ['lookup', 'service', 'waxseal', 'username', 'root']);
    assert.equal(seen.code, 0);
    assert.equal(seen.stdout.trim(), secret.toString('base64'));

    assert.equal(await kc.delete('root'), true);
    assert.equal(await kc.get('root'), null);
    assert.equal(await kc.delete('root'), false);
    assert.notEqual((await secretTool(h.env, ['lookup', 'service', 'waxseal', 'username', 'root'])).code, 0);
  });

  it('returns null for an account that was never set', async () => {
    assert.equal(await kc.get('never-set'), null);
  });

  it('keeps accounts and services apart, and overwrites on set', async () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    await kc.set('alice', a);
    await kc.set('bob', b);
    assert.ok((await kc.get('alice'))?.equals(a));
    assert.ok((await kc.get('bob'))?.equals(b));

    const other = createOsKeychain({ service: 'waxseal-other', env: { ...process.env, ...h.env } });
    assert.equal(await other.get('alice'), null);

    const a2 = randomBytes(32);
    await kc.set('alice', a2);
    assert.ok((await kc.get('alice'))?.equals(a2));
    assert.equal(await kc.delete('alice'), true);
    assert.ok((await kc.get('bob'))?.equals(b), 'deleting one account must not touch another');
    await kc.delete('bob');
  });

  it('refuses an entry that Waxseal did not write', async () => {
    const stored = await secretTool(
      h.env,
      ['store', '--label=foreign', 'service', 'waxseal', 'username', 'foreign'],
      'not base64!',
    );
    assert.equal(stored.code, 0);
    const err = await rejectsWith(kc.get('foreign'), 'EKEYCHAIN');
    assert.match(err.message, /not written by Waxseal/);
    await kc.delete('foreign');
  });

  it('leaves no helper process behind', () => {
    assert.deepEqual(liveHelpers(), []);
  });
});

describe('OS keychain without a D-Bus session', () => {
  let dir: string;
  let kc: Keychain;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'waxseal-nobus-'));
    kc = createOsKeychain({
      env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(dir, 'no-such-socket')}` },
    });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('probe reports why, without throwing', async () => {
    const p = await kc.probe();
    assert.equal(p.available, false);
    assert.match(p.available ? '' : p.reason, /No OS keychain is available.*no-such-socket/s);
  });

  it('get, set and delete fail fast with EKEYCHAIN_UNAVAILABLE', async () => {
    const started = Date.now();
    const err = await rejectsWith(kc.get('root'), 'EKEYCHAIN_UNAVAILABLE');
    assert.ok(Date.now() - started < 2000, 'must not hang');
    assert.match(err.message, /^No OS keychain is available \(/);
    await rejectsWith(kc.set('root', randomBytes(32)), 'EKEYCHAIN_UNAVAILABLE');
    await rejectsWith(kc.delete('root'), 'EKEYCHAIN_UNAVAILABLE');
  });
});

describe('OS keychain with a locked keyring', () => {
  const env = (h: KeyringHarness) => ({ ...process.env, ...h.env });
  let hanging: KeyringHarness;
  let noPrompter: KeyringHarness;
  const secret = randomBytes(32);
  before(async () => {
    hanging = await startLockedKeyring({ seed: (e) => createOsKeychain({ env: { ...process.env, ...e } }).set('root', secret) });
    noPrompter = await startKeyring({ prompter: 'absent' });
    await createOsKeychain({ env: env(noPrompter) }).set('root', secret);
    assert.deepEqual(await noPrompter.restartDaemon('wrong password'), { locked: true });
  });
  after(async () => {
    await hanging?.stop();
    await noPrompter?.stop();
  });

  it('times out with ETIMEOUT when the unlock prompt is never answered, and kills the helper', async () => {
    const kc = createOsKeychain({ env: env(hanging), timeoutMs: 1500 });
    const started = Date.now();
    const pending = kc.get('root');
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(liveHelpers().length, 1, 'the helper should be waiting on the keyring');
    const err = await rejectsWith(pending, 'ETIMEOUT');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1500 && elapsed < 3000, `took ${elapsed} ms`);
    assert.match(err.message, /did not answer within 1500 ms.*locked/s);
    assert.deepEqual(liveHelpers(), [], 'the helper must be gone once the call has failed');

    await rejectsWith(kc.set('root', randomBytes(32)), 'ETIMEOUT');
    assert.deepEqual(liveHelpers(), []);
  });

  it('fails with EKEYCHAIN, not a hang, when no prompter can be shown', async () => {
    const kc = createOsKeychain({ env: env(noPrompter), timeoutMs: 5000 });
    const started = Date.now();
    const err = await rejectsWith(kc.get('root'), 'EKEYCHAIN');
    assert.ok(Date.now() - started < 3000);
    assert.match(err.message, /locked/);
  });

  it('gives the secret back once unlocked with the right password', async () => {
    assert.deepEqual(await noPrompter.restartDaemon('waxseal-test-keyring'), { locked: false });
    const got = await createOsKeychain({ env: env(noPrompter) }).get('root');
    assert.ok(got?.equals(secret));
  });
});

describe('memory keychain', () => {
  it('round-trips and hands out copies', async () => {
    const kc = createMemoryKeychain();
    const secret = randomBytes(32);
    await kc.set('root', secret);
    secret.fill(0);
    const got = await kc.get('root');
    assert.ok(got && !got.equals(Buffer.alloc(32)), 'stored value must not alias the caller buffer');
    got.fill(0);
    assert.ok(!(await kc.get('root'))?.equals(Buffer.alloc(32)), 'returned value must not alias the store');
    assert.equal(await kc.get('other'), null);
    assert.equal(await kc.delete('root'), true);
    assert.equal(await kc.delete('root'), false);
    assert.deepEqual(await kc.probe(), { available: true });
  });

  it('can stand in for a machine without a keychain', async () => {
    const kc = createMemoryKeychain({ unavailable: 'no Secret Service' });
    assert.deepEqual(await kc.probe(), { available: false, reason: 'no Secret Service' });
    await rejectsWith(kc.get('root'), 'EKEYCHAIN_UNAVAILABLE');
  });
});

describe('createOsKeychain options', () => {
  it('rejects unknown and invalid options', () => {
    assert.throws(() => createOsKeychain({ timeout: 5 } as never), (e) => isWaxsealError(e, 'EOPTION'));
    assert.throws(() => createOsKeychain({ timeoutMs: 0 }), (e) => isWaxsealError(e, 'EOPTION'));
    assert.throws(() => createOsKeychain({ service: '' }), (e) => isWaxsealError(e, 'EOPTION'));
  });
});

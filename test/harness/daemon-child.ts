/** Child process for startDaemonProcess: one daemon, "READY {credentials}" on stdout, SIGTERM stops it. */
import { Daemon } from '../../src/daemon/daemon.js';
import { unlockProfile } from '../../src/daemon/profile.js';
import { createMemoryKeychain } from '../../src/secrets/keychain.js';

const cfg = JSON.parse(process.env.WAXSEAL_TEST_CHILD ?? '{}');
const stopRequested = new Promise<void>((resolve) => process.once('SIGTERM', resolve));
const unlocked = await unlockProfile({ dataDir: cfg.dataDir, keychain: createMemoryKeychain({ unavailable: 'test' }), passphrase: { given: cfg.passphrase }, scrypt: { N: 1024, r: 8, p: 1 } });
const port0 = { host: '127.0.0.1', port: 0 };
const daemon = await Daemon.start({
  unlocked,
  imap: port0,
  imaps: port0,
  smtp: port0,
  smtps: port0,
  registryDir: `${cfg.dataDir}/run`,
  ...(cfg.upstreamSmtp ? { upstreamSmtp: { ...cfg.upstreamSmtp, password: () => cfg.upstreamSmtp.password } } : {}),
  ...(cfg.outbox ? { outbox: cfg.outbox } : {}),
});
process.stdout.write(`READY ${JSON.stringify(daemon.credentials())}\n`);
await stopRequested;
await daemon.stop();
process.exit(0);

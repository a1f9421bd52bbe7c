/**
 * `npm run bench -- NAME...`: runs the named benchmarks (all when none are named). Each
 * benchmark measures Waxseal beside a reference in the same run and prints the ratio.
 */
const BENCHES: Record<string, () => Promise<{ main(args: string[]): Promise<void> }>> = {
  store: () => import('./store.js'),
  imap: () => import('./imap.js'),
  openpgp: () => import('./openpgp.js'),
  smtp: () => import('./smtp.js'),
  ingest: () => import('./ingest.js'),
  sync: () => import('./sync.js'),
};

const args = process.argv.slice(2);
const names = args.filter((a) => !a.startsWith('-'));
const unknown = names.filter((n) => !(n in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(', ')} (known: ${Object.keys(BENCHES).join(', ')})`);
  process.exit(2);
}
for (const name of names.length > 0 ? names : Object.keys(BENCHES)) {
  const bench = await BENCHES[name]!();
  await bench.main(args.filter((a) => a.startsWith('-')));
}

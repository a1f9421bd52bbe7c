/**
 * Asking for a passphrase on the terminal without echoing it. Only offered when stdin and
 * stderr are terminals; otherwise callers get no `ask` and must say what to set instead.
 */
import { createInterface } from 'node:readline';
import { WaxsealError } from '../util/errors.js';

function askHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WriteStream };
    let prompted = false;
    out._writeToOutput = (s: string) => {
      if (!prompted) {
        process.stderr.write(s);
        prompted = true;
      }
    };
    rl.question(question, (answer) => {
      process.stderr.write('\n');
      rl.close();
      resolve(answer);
    });
    rl.on('SIGINT', () => {
      rl.close();
      reject(new WaxsealError('ECANCELLED', 'Cancelled'));
    });
  });
}

export function terminalAsk(): ((question: string, confirm: boolean) => Promise<string>) | undefined {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  return async (question, confirm) => {
    for (;;) {
      const first = await askHidden(question);
      if (first.length === 0) {
        process.stderr.write('The passphrase must not be empty.\n');
        continue;
      }
      if (!confirm) return first;
      if (first.length < 8) {
        process.stderr.write('Use at least 8 characters.\n');
        continue;
      }
      if ((await askHidden('Repeat it: ')) === first) return first;
      process.stderr.write('The two did not match; try again.\n');
    }
  };
}

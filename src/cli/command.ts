/** The shape of one CLI command; main.ts holds the typed map of them. */
import type { ParseArgsConfig } from 'node:util';

export interface Command {
  summary: string;
  usage: string;
  /** Longer help, shown by `waxseal COMMAND --help`. */
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  positionals?: boolean;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

export const COMMON_OPTIONS = {
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

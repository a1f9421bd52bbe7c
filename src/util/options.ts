import { WaxsealError } from './errors.js';

/**
 * Merge `given` over `defaults`, refusing keys the defaults do not know: a misspelt option
 * is a bug the caller wants to hear about, not a setting silently ignored.
 */
export function withDefaults<T extends object>(
  what: string,
  defaults: T,
  given: Partial<T> | undefined,
): T {
  if (given === undefined) return { ...defaults };
  for (const key of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(defaults, key)) {
      throw new WaxsealError('EOPTION', `${what}: unknown option "${key}"`);
    }
  }
  const out = { ...defaults } as Record<string, unknown>;
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined) out[key] = value;
  }
  return out as T;
}

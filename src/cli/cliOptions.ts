/**
 * Option parsers and output helpers shared by the `apical` commands. Parsers throw commander's
 * InvalidArgumentError, which main() turns into one `apical: …` line and exit code 2.
 */
import { InvalidArgumentError } from 'commander';

/** A non-negative decimal integer (digits only: Number() would also accept '', ' ', '0x10' and '1e3'). */
export function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${v}" is not a non-negative integer`);
  return n;
}

/** A decimal integer ≥ 1. */
export function positiveInt(v: string): number {
  const n = nonNegativeInt(v);
  if (n < 1) throw new InvalidArgumentError(`"${v}" must be at least 1`);
  return n;
}

/** Prints the JSON object (pretty, one document) or the human text. */
export function print(json: boolean, obj: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(obj, null, 2)}\n` : `${text()}\n`);
}

/**
 * Activation lookup tables (docs/chip.md §5). A table has LUT_SEGMENTS + 1 knots v[0..N] at inputs
 * xMin + k·2^s. For an input x (STATE):
 *   d = x − xMin;  d ≤ 0 → v[0];  k = ⌊d / 2^s⌋ ≥ N → v[N];
 *   otherwise f = d − k·2^s and φ(x) = v[k] + round((v[k+1] − v[k]) · f / 2^s)   (round half up; s = 0 → v[k]).
 * Exact: |v[k+1] − v[k]| < 2^32 and f < 2^20 keep the product below 2^52.
 */
import { LUT_SEGMENTS } from './constants.js';
import type { Lut } from './program.js';

export function lutEval(values: Int32Array, xMin: number, stepShift: number, x: number): number {
  const d = x - xMin;
  if (d <= 0) return values[0];
  const step = 2 ** stepShift;
  const k = Math.floor(d / step);
  if (k >= LUT_SEGMENTS) return values[LUT_SEGMENTS];
  const f = d - k * step;
  const v0 = values[k];
  if (f === 0) return v0;
  return v0 + Math.floor(((values[k + 1] - v0) * f) / step + 0.5);
}

/** Builds a table from a real function: knots at xMin + k·2^s, values round(fn(x)·2^16). */
export function lutFromFunction(name: string, fn: (x: number) => number, xMinReal: number, stepShift: number): Lut {
  const values = new Int32Array(LUT_SEGMENTS + 1);
  const xMin = Math.round(xMinReal * 65536);
  for (let k = 0; k <= LUT_SEGMENTS; k++) {
    const x = (xMin + k * 2 ** stepShift) / 65536;
    const y = Math.round(fn(x) * 65536);
    values[k] = Math.max(-2147483648, Math.min(2147483647, y));
  }
  return { name, xMin, stepShift, values };
}

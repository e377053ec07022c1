/**
 * State digests (docs/chip.md §13): word-wise FNV-1a over 32-bit words,
 *   h₀ = 0x811c9dc5;  h ← (h XOR word) · 0x01000193  (mod 2^32).
 * Each core keeps one digest per state variable (DIGEST_VARIABLES); the core digest is the FNV-1a of those.
 */
import { FNV_OFFSET, FNV_PRIME } from './constants.js';

export const DIGEST_VARIABLES = [
  'soma',
  'prosp',
  'basal',
  'apical',
  'noise',
  'refractory',
  'rate',
  'x1',
  'x2',
  'hp',
  'output',
  'weight',
  'tag',
  'lowpass',
] as const;
export type DigestVariable = (typeof DIGEST_VARIABLES)[number];

export function fnvWords(h: number, words: ArrayLike<number>, start: number, end: number): number {
  for (let i = start; i < end; i++) h = Math.imul(h ^ words[i], FNV_PRIME);
  return h >>> 0;
}

export function fnvStrided(h: number, words: ArrayLike<number>, start: number, count: number, stride: number): number {
  for (let i = 0, k = start; i < count; i++, k += stride) h = Math.imul(h ^ words[k], FNV_PRIME);
  return h >>> 0;
}

export function combineDigests(perVariable: ArrayLike<number>): number {
  return fnvWords(FNV_OFFSET, perVariable, 0, perVariable.length);
}

export { FNV_OFFSET };

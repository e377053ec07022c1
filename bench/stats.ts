/** Small statistics of the bench (medians over repeats). */

/** Median of a non-empty list (mean of the two middle values for an even count). */
export function median(a: readonly number[]): number {
  if (a.length === 0) throw new Error('median of an empty list');
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

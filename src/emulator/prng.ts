/**
 * The chip PRNG (docs/chip.md §8): a counter-based generator. Every random number is a pure function of
 * (program seed, stream, object id, tick, index), so results do not depend on placement, evaluation order,
 * the number of threads or the backend. Each core has one hash unit; a draw costs CYCLES.prngDraw.
 *
 *   mix32(x)      = lowbias32: x ^= x>>>16; x *= 0x7feb352d; x ^= x>>>15; x *= 0x846ca68b; x ^= x>>>16  (mod 2^32)
 *   key(s, k, id) = mix32(mix32(seed ^ 0x9e3779b9) ^ ((k << 24) | id))          once at load
 *   tickKey(t)    = mix32((key + t) mod 2^32)                                    once per tick
 *   draw(t, i)    = mix32(tickKey(t) ^ i)                                        uint32
 */

export const enum Stream {
  Noise = 1,
  Spike = 2,
  Round = 3,
}

export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

export function streamKey(seed: number, stream: Stream, id: number): number {
  return mix32((mix32((seed ^ 0x9e3779b9) >>> 0) ^ ((stream << 24) | (id & 0xffffff))) >>> 0);
}

export function tickKey(key: number, tick: number): number {
  return mix32((key + tick) >>> 0);
}

export function draw(tk: number, index: number): number {
  return mix32((tk ^ index) >>> 0);
}

/**
 * Centred Irwin–Hall sample from two draws: the four 16-bit halves summed, minus 131070.
 * Range [−131070, 131070], mean 0, standard deviation GAUSS_STD ≈ 37837.2.
 */
export function gauss(d0: number, d1: number): number {
  return (d0 & 0xffff) + (d0 >>> 16) + (d1 & 0xffff) + (d1 >>> 16) - 131070;
}

/**
 * Integer arithmetic of the chip (docs/chip.md §2). Every function here is exact: JavaScript numbers are used
 * only as integers below 2^53 in magnitude, where double arithmetic is exact. The C firmware implements the
 * same functions with int32_t / int64_t.
 *
 * Rounding rule (one for the whole chip): **round half up**, i.e. `round(x / 2^s) = ⌊(x + 2^(s−1)) / 2^s⌋`.
 * Saturation: results are clamped to the destination width; there is no wrap-around anywhere in the chip.
 */

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;

/** Clamp an integer to the signed 32-bit range. */
export function sat32(x: number): number {
  return x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : x | 0;
}

/** Clamp an integer to a signed range of `bits` bits. */
export function satBits(x: number, bits: number): number {
  const hi = 2 ** (bits - 1) - 1;
  const lo = -(2 ** (bits - 1));
  return x > hi ? hi : x < lo ? lo : x;
}

/** Powers of two and their inverses, so hot code multiplies instead of dividing (exact for powers of two). */
export const POW2: Float64Array = new Float64Array(64);
export const INV_POW2: Float64Array = new Float64Array(64);
for (let s = 0; s < 64; s++) {
  POW2[s] = 2 ** s;
  INV_POW2[s] = 2 ** -s;
}

/**
 * round(x / 2^s), half up, for an integer |x| < 2^53 and 0 ≤ s ≤ 62; s < 0 shifts left (exact, caller bounds it).
 * Not saturated.
 */
export function roundShift(x: number, s: number): number {
  if (s <= 0) return s === 0 ? x : x * POW2[-s];
  const q = Math.floor(x * INV_POW2[s]);
  const r = x - q * POW2[s];
  return r >= POW2[s - 1] ? q + 1 : q;
}

/** ⌊x / 2^s⌋ for an integer |x| < 2^53 (arithmetic shift right). */
export function floorShift(x: number, s: number): number {
  return s <= 0 ? x * POW2[-s] : Math.floor(x * INV_POW2[s]);
}

/**
 * sat32(round(a · b / 2^s)) for int32 a, b and 0 ≤ s ≤ 62, exactly as int64 arithmetic would give it:
 * p = (int64)a · b; r = (p + (s ? 2^(s−1) : 0)) >> s; saturate to int32.
 * Used by the plasticity microcode (MUL, MULC). Exact in JS by splitting b when |a·b| ≥ 2^53.
 */
export function mulShiftRound(a: number, b: number, s: number): number {
  const p = a * b;
  if (p < 9007199254740992 && p > -9007199254740992) {
    if (s === 0) return sat32(p);
    const q = Math.floor(p * INV_POW2[s]);
    const r = p - q * POW2[s];
    return sat32(r >= POW2[s - 1] ? q + 1 : q);
  }
  // |a·b| ≥ 2^53: the result can only fit 32 bits when s ≥ 22.
  if (s < 22) return p > 0 ? INT32_MAX : INT32_MIN;
  const bL = b & 0xffff;
  const bH = (b - bL) / 65536; // exact, signed
  const hi = a * bH; // |hi| < 2^47
  const lo = a * bL; // |lo| < 2^47
  const loq = Math.floor(lo / 65536); // a·b = m·2^16 + lor with lor = lo − loq·2^16 ∈ [0, 2^16)
  const m = hi + loq; // |m| < 2^48
  const s2 = s - 16;
  const q = Math.floor(m * INV_POW2[s2]);
  const r = m - q * POW2[s2];
  // (r·2^16 + lor) ≥ 2^(s−1)  ⟺  r ≥ 2^(s−17), because 2^(s−1) is a multiple of 2^16 and lor < 2^16.
  return sat32(r >= POW2[s - 17] ? q + 1 : q);
}

/** BigInt reference of mulShiftRound, for tests. */
export function mulShiftRoundRef(a: number, b: number, s: number): number {
  let p = BigInt(a) * BigInt(b);
  if (s > 0) p = (p + (1n << BigInt(s - 1))) >> BigInt(s);
  if (p > 2147483647n) return INT32_MAX;
  if (p < -2147483648n) return INT32_MIN;
  return Number(p);
}

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { floorShift, mulShiftRound, mulShiftRoundRef, roundShift, sat32, satBits } from '../src/emulator/fixedPoint.js';
import { lutEval, lutFromFunction } from '../src/emulator/lut.js';
import { draw, gauss, mix32, streamKey, tickKey, Stream } from '../src/emulator/prng.js';
import { fnvWords } from '../src/emulator/digest.js';

const int32 = fc.integer({ min: -2147483648, max: 2147483647 });

describe('rounding and saturation (docs/chip.md §2)', () => {
  it('rounds half up on hand-computed values', () => {
    expect(roundShift(5, 1)).toBe(3); // 2.5 → 3
    expect(roundShift(-5, 1)).toBe(-2); // −2.5 → −2 (half up, towards +∞)
    expect(roundShift(7, 2)).toBe(2); // 1.75 → 2
    expect(roundShift(-7, 2)).toBe(-2); // −1.75 → −2
    expect(roundShift(6, 2)).toBe(2); // 1.5 → 2
    expect(roundShift(-6, 2)).toBe(-1); // −1.5 → −1
    expect(roundShift(3, -4)).toBe(48); // left shift
    expect(roundShift(12345, 0)).toBe(12345);
    expect(floorShift(-1, 4)).toBe(-1);
  });

  it('saturates instead of wrapping', () => {
    expect(sat32(2 ** 31)).toBe(2147483647);
    expect(sat32(-(2 ** 31) - 1)).toBe(-2147483648);
    expect(satBits(200, 8)).toBe(127);
    expect(satBits(-200, 8)).toBe(-128);
    expect(satBits(-40000, 16)).toBe(-32768);
  });

  it('roundShift equals the BigInt definition for every |x| < 2^53 (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 52), max: 2 ** 52 }), fc.integer({ min: 1, max: 40 }), (x, s) => {
        const ref = Number((BigInt(x) + (1n << BigInt(s - 1))) >> BigInt(s));
        expect(roundShift(x, s)).toBe(ref);
      }),
      { numRuns: 2000 },
    );
  });

  it('saturation is idempotent and monotone (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e12, max: 1e12, noNaN: true }).map(Math.round), fc.double({ min: -1e12, max: 1e12, noNaN: true }).map(Math.round), (a, b) => {
        expect(sat32(sat32(a))).toBe(sat32(a));
        if (a <= b) expect(sat32(a)).toBeLessThanOrEqual(sat32(b));
      }),
    );
  });
});

describe('mulShiftRound (microcode MUL/MULC)', () => {
  it('matches hand-computed values', () => {
    // 1.5 × 2.0 in Q7.24 = 3.0
    expect(mulShiftRound(3 << 23, 2 << 24, 24)).toBe(3 << 24);
    // (−3) × 3 / 2 = −4.5 → −4 (half up)
    expect(mulShiftRound(-3, 3, 1)).toBe(-4);
    // overflow saturates
    expect(mulShiftRound(2147483647, 2147483647, 0)).toBe(2147483647);
    expect(mulShiftRound(-2147483648, 2147483647, 24)).toBe(-2147483648);
  });

  it('is exact for all int32 pairs and shifts 0..62, including products beyond 2^53 (property)', () => {
    fc.assert(
      fc.property(int32, int32, fc.integer({ min: 0, max: 62 }), (a, b, s) => {
        expect(mulShiftRound(a, b, s)).toBe(mulShiftRoundRef(a, b, s));
      }),
      { numRuns: 20000 },
    );
  });

  it('is exact near the rounding boundary for large products (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2 ** 26, max: 2 ** 31 - 1 }), fc.integer({ min: 2 ** 26, max: 2 ** 31 - 1 }), fc.integer({ min: 22, max: 40 }), fc.boolean(), (a, b, s, neg) => {
        const x = neg ? -a : a;
        expect(mulShiftRound(x, b, s)).toBe(mulShiftRoundRef(x, b, s));
      }),
      { numRuns: 20000 },
    );
  });
});

describe('activation lookup (docs/chip.md §5.6)', () => {
  const values = new Int32Array(257);
  for (let k = 0; k <= 256; k++) values[k] = k * 1000;
  it('interpolates between knots with round half up', () => {
    // xMin 0, step 2^4: x = 24 → k = 1, f = 8 → 1000 + round(1000·8 / 16) = 1500
    expect(lutEval(values, 0, 4, 24)).toBe(1500);
    // f = 1 → 1000 + round(1000/16 = 62.5) = 1063
    expect(lutEval(values, 0, 4, 17)).toBe(1063);
    expect(lutEval(values, 0, 4, 16)).toBe(1000);
  });
  it('clamps outside the table', () => {
    expect(lutEval(values, 0, 4, -5)).toBe(0);
    expect(lutEval(values, 0, 4, 256 * 16 + 100)).toBe(256000);
  });
  it('a sigmoid table is within 2^-13 of the logistic function on its range', () => {
    const lut = lutFromFunction('sigmoid', (x) => 1 / (1 + Math.exp(-x)), -8, 12);
    let worst = 0;
    for (let x = -8; x < 8; x += 0.0137) {
      const y = lutEval(lut.values, lut.xMin, lut.stepShift, Math.round(x * 65536)) / 65536;
      worst = Math.max(worst, Math.abs(y - 1 / (1 + Math.exp(-x))));
    }
    expect(worst).toBeLessThan(2 ** -13);
  });
});

describe('PRNG (docs/chip.md §8)', () => {
  it('mix32 matches hand-computed lowbias32 values', () => {
    expect(mix32(0)).toBe(0);
    // x = 1: 1 ^ 0 = 1; ·0x7feb352d = 0x7feb352d; ^>>>15 → 0x7feb352d ^ 0xffd6 = 0x7febcafb; ·0x846ca68b mod 2^32; ^>>>16
    const a = Math.imul(0x7febcafb, 0x846ca68b) >>> 0;
    expect(mix32(1)).toBe((a ^ (a >>> 16)) >>> 0);
  });
  it('draws are uniform enough: mean and low-bit balance over 1e5 draws', () => {
    const tk = tickKey(streamKey(42, Stream.Noise, 3), 17);
    let sum = 0;
    let ones = 0;
    for (let i = 0; i < 100000; i++) {
      const d = draw(tk, i);
      sum += d / 2 ** 32;
      ones += d & 1;
    }
    expect(Math.abs(sum / 1e5 - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(ones / 1e5 - 0.5)).toBeLessThan(0.005);
  });
  it('Irwin–Hall samples have mean 0 and the documented standard deviation', () => {
    const tk = tickKey(streamKey(1, Stream.Noise, 0), 0);
    let s = 0;
    let s2 = 0;
    const n = 200000;
    for (let j = 0; j < n; j++) {
      const g = gauss(draw(tk, 2 * j), draw(tk, 2 * j + 1));
      s += g;
      s2 += g * g;
    }
    expect(Math.abs(s / n)).toBeLessThan(300);
    expect(Math.abs(Math.sqrt(s2 / n) / 37837.22786 - 1)).toBeLessThan(0.01);
  });
  it('different seeds give different streams', () => {
    expect(streamKey(1, Stream.Noise, 0)).not.toBe(streamKey(2, Stream.Noise, 0));
    expect(streamKey(1, Stream.Noise, 0)).not.toBe(streamKey(1, Stream.Spike, 0));
  });
});

describe('digest (docs/chip.md §13)', () => {
  it('is word-wise FNV-1a', () => {
    // h = (0x811c9dc5 ^ 1) · 0x01000193 mod 2^32
    expect(fnvWords(0x811c9dc5, [1], 0, 1)).toBe(Number((BigInt(0x811c9dc5 ^ 1) * 0x01000193n) & 0xffffffffn));
    expect(fnvWords(0x811c9dc5, [-1], 0, 1)).toBe(Number((BigInt((0x811c9dc5 ^ -1) >>> 0) * 0x01000193n) & 0xffffffffn));
  });
});

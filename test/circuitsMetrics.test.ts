/**
 * Fidelity metrics of the learning circuits (src/models/circuits/metrics.ts, circuits.md §7).
 */
import { describe, expect, it } from 'vitest';
import {
  add,
  diagScale,
  fromRows,
  frobeniusAngle,
  frobeniusCosine,
  frobeniusInner,
  frobeniusNorm,
  matrix,
  rms,
  scale,
  sigmoidDerivative,
  sub,
  toRows,
  transpose,
  vectorNorm,
} from '../src/models/circuits/metrics.js';
import { SeededRandom } from '../src/models/seededRandom.js';

describe('matrices', () => {
  it('transposes a 2×3 matrix row-major', () => {
    const m = fromRows([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const t = transpose(m);
    expect([t.rows, t.cols]).toEqual([3, 2]);
    expect(toRows(t)).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    expect(toRows(transpose(t))).toEqual(toRows(m));
  });

  it('rejects data of the wrong length, ragged rows and mismatched shapes', () => {
    expect(() => matrix(2, 2, [1, 2, 3])).toThrow(/needs 4 values/);
    expect(() => fromRows([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => frobeniusInner(matrix(2, 3), matrix(3, 2))).toThrow(/shapes differ/);
  });

  it('scales rows and columns with diag(left)·M·diag(right)', () => {
    const m = fromRows([
      [1, 1],
      [1, 1],
    ]);
    expect(toRows(diagScale([2, 3], m, [5, 7]))).toEqual([
      [10, 14],
      [15, 21],
    ]);
    expect(toRows(diagScale(null, m, [5, 7]))).toEqual([
      [5, 7],
      [5, 7],
    ]);
    expect(toRows(add(m, scale(m, 2)))).toEqual([
      [3, 3],
      [3, 3],
    ]);
    expect(toRows(sub(m, m))).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });
});

describe('norms and angles', () => {
  it('computes the Frobenius norm, the vector norm and the RMS', () => {
    expect(frobeniusNorm(fromRows([[3], [4]]))).toBe(5);
    expect(vectorNorm([3, 4])).toBe(5);
    expect(rms([3, 4])).toBeCloseTo(5 / Math.SQRT2, 15);
    expect(rms([])).toBe(0);
  });

  it('gives 0° for parallel, 90° for orthogonal and 180° for opposite matrices, independent of scale', () => {
    const a = fromRows([
      [1, 2],
      [3, 4],
    ]);
    expect(frobeniusAngle(a, scale(a, 7.5))).toBeCloseTo(0, 5);
    expect(frobeniusAngle(a, scale(a, -0.1))).toBeCloseTo(180, 5);
    const b = fromRows([
      [2, -1],
      [0, 0],
    ]);
    expect(frobeniusAngle(a, b)).toBeCloseTo(90, 12);
    expect(frobeniusCosine(a, b)).toBe(0);
  });

  it('is the angle of the flattened matrices: tr(AᵀB)/(‖A‖‖B‖)', () => {
    const a = fromRows([
      [1, 0],
      [0, 1],
    ]);
    const b = fromRows([
      [1, 1],
      [0, 0],
    ]);
    // cos = 1/(√2·√2) = 1/2 → 60°.
    expect(frobeniusAngle(a, b)).toBeCloseTo(60, 12);
  });

  it('returns NaN against a zero matrix', () => {
    expect(frobeniusAngle(matrix(2, 2), fromRows([[1, 0], [0, 1]]))).toBeNaN();
  });

  it('puts independent random 20×10 matrices near 90° and B = Wᵀ + small noise near 0°', () => {
    const rng = new SeededRandom(5);
    const rand = (r: number, c: number, s = 1) => matrix(r, c, Array.from({ length: r * c }, () => rng.uniform(-s, s)));
    const W = rand(10, 20);
    const B = rand(20, 10);
    expect(Math.abs(frobeniusAngle(B, transpose(W)) - 90)).toBeLessThan(20);
    expect(frobeniusAngle(add(transpose(W), rand(20, 10, 0.01)), transpose(W))).toBeLessThan(1);
  });

  it('has the logistic derivative φ(1 − φ), 1/4 at 0', () => {
    expect(sigmoidDerivative(0)).toBe(0.25);
    const x = 1.3;
    const s = 1 / (1 + Math.exp(-x));
    expect(sigmoidDerivative(x)).toBeCloseTo(s * (1 - s), 15);
    expect(sigmoidDerivative(-x)).toBeCloseTo(sigmoidDerivative(x), 15);
  });
});

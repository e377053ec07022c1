/**
 * Fidelity metrics of the learning circuits (../shared/design/circuits.md §7), on small dense matrices.
 *
 * A Matrix is row-major: element (r, c) is data[r·cols + c]. A projection's weights read back from a device are
 * post-major (W[j][i], v = W·r), i.e. a Matrix with rows = post size and cols = pre size.
 *
 *   cos(A, B)   = tr(AᵀB) / (‖A‖_F ‖B‖_F)        (the Frobenius cosine of the flattened matrices)
 *   ∠(A, B)     = arccos(cos(A, B)) · 180/π       degrees; 90° for unrelated random matrices
 */

export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function matrix(rows: number, cols: number, data?: ArrayLike<number>): Matrix {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) throw new RangeError(`bad matrix shape ${rows}×${cols}`);
  if (data && data.length !== rows * cols) throw new RangeError(`matrix ${rows}×${cols} needs ${rows * cols} values, got ${data.length}`);
  return { rows, cols, data: data ? Float64Array.from(data) : new Float64Array(rows * cols) };
}

/** A matrix from rows (number[post][pre]). */
export function fromRows(rows: number[][]): Matrix {
  const r = rows.length;
  const c = r ? rows[0].length : 0;
  if (rows.some((x) => x.length !== c)) throw new RangeError('ragged rows');
  return matrix(r, c, rows.flat());
}

export function toRows(m: Matrix): number[][] {
  return Array.from({ length: m.rows }, (_, r) => Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols)));
}

export function transpose(m: Matrix): Matrix {
  const out = matrix(m.cols, m.rows);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) out.data[c * m.rows + r] = m.data[r * m.cols + c];
  return out;
}

export function scale(m: Matrix, s: number): Matrix {
  return matrix(m.rows, m.cols, m.data.map((x) => x * s));
}

export function add(a: Matrix, b: Matrix): Matrix {
  sameShape(a, b);
  return matrix(a.rows, a.cols, a.data.map((x, k) => x + b.data[k]));
}

export function sub(a: Matrix, b: Matrix): Matrix {
  sameShape(a, b);
  return matrix(a.rows, a.cols, a.data.map((x, k) => x - b.data[k]));
}

/** diag(left) · M · diag(right): scales row r by left[r] and column c by right[c]. */
export function diagScale(left: ArrayLike<number> | null, m: Matrix, right: ArrayLike<number> | null): Matrix {
  if (left && left.length !== m.rows) throw new RangeError(`left diagonal has ${left.length} entries, matrix ${m.rows} rows`);
  if (right && right.length !== m.cols) throw new RangeError(`right diagonal has ${right.length} entries, matrix ${m.cols} columns`);
  const out = matrix(m.rows, m.cols);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) out.data[r * m.cols + c] = (left ? left[r] : 1) * m.data[r * m.cols + c] * (right ? right[c] : 1);
  }
  return out;
}

function sameShape(a: Matrix, b: Matrix): void {
  if (a.rows !== b.rows || a.cols !== b.cols) throw new RangeError(`shapes differ: ${a.rows}×${a.cols} vs ${b.rows}×${b.cols}`);
}

/** tr(AᵀB) = Σ a_k b_k. */
export function frobeniusInner(a: Matrix, b: Matrix): number {
  sameShape(a, b);
  let s = 0;
  for (let k = 0; k < a.data.length; k++) s += a.data[k] * b.data[k];
  return s;
}

/** ‖A‖_F. */
export function frobeniusNorm(a: Matrix): number {
  return vectorNorm(a.data);
}

/** Frobenius cosine tr(AᵀB)/(‖A‖‖B‖); NaN when either matrix is zero. */
export function frobeniusCosine(a: Matrix, b: Matrix): number {
  const na = frobeniusNorm(a);
  const nb = frobeniusNorm(b);
  if (na === 0 || nb === 0) return NaN;
  return Math.max(-1, Math.min(1, frobeniusInner(a, b) / (na * nb)));
}

/** ∠(A, B) in degrees (0 = parallel, 90 = orthogonal, 180 = opposite); NaN when either is zero. */
export function frobeniusAngle(a: Matrix, b: Matrix): number {
  return (Math.acos(frobeniusCosine(a, b)) * 180) / Math.PI;
}

/** Euclidean norm of a vector. */
export function vectorNorm(v: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < v.length; k++) s += v[k] * v[k];
  return Math.sqrt(s);
}

/** Root mean square of a vector (the norm divided by √n), so layers of different sizes compare. */
export function rms(v: ArrayLike<number>): number {
  return v.length ? vectorNorm(v) / Math.sqrt(v.length) : 0;
}

/** Logistic derivative φ'(x) = φ(x)(1 − φ(x)). */
export function sigmoidDerivative(x: number): number {
  const s = 1 / (1 + Math.exp(-x));
  return s * (1 - s);
}

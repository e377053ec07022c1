/**
 * Fidelity metrics between two models of the same circuit (chip vs float twin, twin vs backprop), after
 * ../shared/design/circuits.md §7: every angle is the Frobenius angle between flattened matrices,
 *
 *   cos(A, B) = tr(AᵀB) / (‖A‖_F ‖B‖_F),   ∠(A, B) = arccos(cos) · 180/π   (degrees),
 *
 * so a dense post-major weight array (W[j·nPre + i]) is used as is. A zero matrix has no direction: its cosine
 * and angle are NaN.
 */

export type Matrix = ArrayLike<number>;

function checkSameLength(a: Matrix, b: Matrix): void {
  if (a.length !== b.length) throw new RangeError(`matrices differ in size: ${a.length} vs ${b.length}`);
}

/** tr(AᵀB) = Σ a_k b_k. */
export function frobeniusInner(a: Matrix, b: Matrix): number {
  checkSameLength(a, b);
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * b[k];
  return s;
}

export function frobeniusNorm(a: Matrix): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * a[k];
  return Math.sqrt(s);
}

/** Frobenius cosine in [−1, 1]; NaN if either matrix is zero. */
export function frobeniusCosine(a: Matrix, b: Matrix): number {
  const na = frobeniusNorm(a);
  const nb = frobeniusNorm(b);
  if (na === 0 || nb === 0) return NaN;
  return Math.max(-1, Math.min(1, frobeniusInner(a, b) / (na * nb)));
}

/** Frobenius angle in degrees, in [0, 180]; NaN if either matrix is zero. */
export function angleDegrees(a: Matrix, b: Matrix): number {
  return (Math.acos(frobeniusCosine(a, b)) * 180) / Math.PI;
}

/** A − B, elementwise. */
export function difference(a: Matrix, b: Matrix): Float64Array {
  checkSameLength(a, b);
  const d = new Float64Array(a.length);
  for (let k = 0; k < a.length; k++) d[k] = a[k] - b[k];
  return d;
}

/** ‖x − ref‖_F / ‖ref‖_F (0 when both are zero, Infinity when only ref is). */
export function relativeErrorNorm(reference: Matrix, x: Matrix): number {
  const e = frobeniusNorm(difference(x, reference));
  const r = frobeniusNorm(reference);
  if (r === 0) return e === 0 ? 0 : Infinity;
  return e / r;
}

/** max_k |a_k − b_k|. */
export function maxAbsDiff(a: Matrix, b: Matrix): number {
  checkSameLength(a, b);
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k] - b[k]));
  return m;
}

/** √(mean (a_k − b_k)²). */
export function rmsDiff(a: Matrix, b: Matrix): number {
  checkSameLength(a, b);
  if (a.length === 0) return 0;
  let s = 0;
  for (let k = 0; k < a.length; k++) s += (a[k] - b[k]) ** 2;
  return Math.sqrt(s / a.length);
}

/** Comparison of two update matrices ΔA (reference, e.g. the chip's) and ΔB (e.g. the twin's). */
export interface UpdateComparison {
  /** Frobenius cosine and angle (degrees) between ΔA and ΔB; NaN if either is zero. */
  cosine: number;
  angleDeg: number;
  /** ‖ΔB − ΔA‖_F / ‖ΔA‖_F. */
  relError: number;
  /** ‖ΔB‖_F / ‖ΔA‖_F: how much larger B's step is. */
  normRatio: number;
  normA: number;
  normB: number;
}

export function compareUpdates(deltaA: Matrix, deltaB: Matrix): UpdateComparison {
  const normA = frobeniusNorm(deltaA);
  const normB = frobeniusNorm(deltaB);
  return {
    cosine: frobeniusCosine(deltaA, deltaB),
    angleDeg: angleDegrees(deltaA, deltaB),
    relError: relativeErrorNorm(deltaA, deltaB),
    normRatio: normA === 0 ? (normB === 0 ? 1 : Infinity) : normB / normA,
    normA,
    normB,
  };
}

/** One window of an update-alignment series: the updates between two consecutive snapshots. */
export interface WindowAlignment extends UpdateComparison {
  /** Labels (e.g. ticks) of the snapshots that open and close the window. */
  start: number;
  end: number;
}

/**
 * Update alignment over windows: snapshots W_A[0..n], W_B[0..n] of the same layer taken at the same moments
 * (labels[q], default q); window q compares ΔA = W_A[q+1] − W_A[q] with ΔB = W_B[q+1] − W_B[q].
 */
export function windowedUpdateAlignment(snapsA: Matrix[], snapsB: Matrix[], labels?: number[]): WindowAlignment[] {
  if (snapsA.length !== snapsB.length) throw new RangeError(`snapshot counts differ: ${snapsA.length} vs ${snapsB.length}`);
  const out: WindowAlignment[] = [];
  for (let q = 0; q + 1 < snapsA.length; q++) {
    const c = compareUpdates(difference(snapsA[q + 1], snapsA[q]), difference(snapsB[q + 1], snapsB[q]));
    out.push({ ...c, start: labels ? labels[q] : q, end: labels ? labels[q + 1] : q + 1 });
  }
  return out;
}

export interface LayerAlignmentSummary {
  layer: string;
  windows: WindowAlignment[];
  /** Mean and largest window angle (NaN windows, where a model did not learn, are skipped). */
  meanAngleDeg: number;
  maxAngleDeg: number;
  /** Alignment of the total update over all windows. */
  total: UpdateComparison;
}

/**
 * Per-layer update alignment ∠(ΔW_A, ΔW_B) over windows of ticks. Call `record(label, readA, readB)` at every
 * window boundary (including the start) with readers of both models' weights per layer; `summary()` gives the
 * windowed and total alignment per layer.
 */
export class UpdateAlignmentRecorder {
  private readonly labels: number[] = [];
  private readonly snaps = new Map<string, { a: Float64Array[]; b: Float64Array[] }>();

  constructor(readonly layers: readonly string[]) {
    for (const l of layers) this.snaps.set(l, { a: [], b: [] });
  }

  record(label: number, readA: (layer: string) => Matrix, readB: (layer: string) => Matrix): void {
    this.labels.push(label);
    for (const l of this.layers) {
      const s = this.snaps.get(l)!;
      s.a.push(Float64Array.from(readA(l)));
      s.b.push(Float64Array.from(readB(l)));
    }
  }

  summary(): LayerAlignmentSummary[] {
    return this.layers.map((layer) => {
      const s = this.snaps.get(layer)!;
      const windows = windowedUpdateAlignment(s.a, s.b, this.labels);
      const angles = windows.map((w) => w.angleDeg).filter((x) => !Number.isNaN(x));
      const n = s.a.length;
      const total =
        n >= 2 ? compareUpdates(difference(s.a[n - 1], s.a[0]), difference(s.b[n - 1], s.b[0])) : compareUpdates([], []);
      return {
        layer,
        windows,
        meanAngleDeg: angles.length ? angles.reduce((x, y) => x + y, 0) / angles.length : NaN,
        maxAngleDeg: angles.length ? Math.max(...angles) : NaN,
        total,
      };
    });
  }
}

/** Distance between two state trajectories, in units of `lsb` (e.g. 2^-16 for STATE). */
export interface TrajectoryDistance {
  /** Largest |a − b| over all samples, in LSB. */
  maxLsb: number;
  /** RMS of a − b over all samples, in LSB. */
  rmsLsb: number;
  /** RMS(a − b) / RMS(a): the difference relative to the reference signal. */
  relRms: number;
}

export function trajectoryDistance(a: Matrix[], b: Matrix[], lsb = 2 ** -16): TrajectoryDistance {
  if (a.length !== b.length) throw new RangeError(`trajectory lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  let se = 0;
  let ss = 0;
  let n = 0;
  for (let t = 0; t < a.length; t++) {
    checkSameLength(a[t], b[t]);
    for (let k = 0; k < a[t].length; k++) {
      const d = a[t][k] - b[t][k];
      max = Math.max(max, Math.abs(d));
      se += d * d;
      ss += a[t][k] * a[t][k];
      n++;
    }
  }
  return { maxLsb: max / lsb, rmsLsb: n ? Math.sqrt(se / n) / lsb : 0, relRms: ss === 0 ? (se === 0 ? 0 : Infinity) : Math.sqrt(se / ss) };
}

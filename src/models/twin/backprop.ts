/**
 * A plain float64 backpropagation reference for a feed-forward stack of dense layers: the BP side of the
 * update-alignment metric (../shared/design/circuits.md §7.4) and a trainer for small tasks.
 *
 *   layer ℓ (1..L):  z_ℓ = W_ℓ a_{ℓ−1} + b_ℓ,   a_ℓ = φ_ℓ(z_ℓ),   a_0 = x
 *   loss per sample: L = ½ Σ_k (a_L,k − t_k)²      (squared error; a batch loss is the mean over samples)
 *   δ_L = φ'_L(z_L) ⊙ (a_L − t),   δ_ℓ = φ'_ℓ(z_ℓ) ⊙ W_{ℓ+1}ᵀ δ_{ℓ+1}
 *   ∂L/∂W_ℓ = δ_ℓ a_{ℓ−1}ᵀ,   ∂L/∂b_ℓ = δ_ℓ,      the BP update ΔW_ℓ = −η ∂L/∂W_ℓ
 *
 * Weights are post-major like the Network's dense weights: W[j·nIn + i] connects input i to output j, so a
 * layer's W can be passed to `Network.project` as is and ΔW compared with a projection's weight change.
 */
import { SeededRandom } from '../seededRandom.js';

export type BpActivation = 'sigmoid' | 'relu' | 'linear' | 'tanh';

export interface DenseLayer {
  nIn: number;
  nOut: number;
  /** Post-major nOut × nIn. */
  W: Float64Array;
  /** Biases (nOut), or null for a layer without bias (as on the chip). */
  b: Float64Array | null;
  activation: BpActivation;
}

/** φ and φ' (given z and a = φ(z)). */
const ACT: Record<BpActivation, { f: (z: number) => number; df: (z: number, a: number) => number }> = {
  sigmoid: { f: (z) => 1 / (1 + Math.exp(-z)), df: (_z, a) => a * (1 - a) },
  tanh: { f: Math.tanh, df: (_z, a) => 1 - a * a },
  relu: { f: (z) => (z > 0 ? z : 0), df: (z) => (z > 0 ? 1 : 0) },
  linear: { f: (z) => z, df: () => 1 },
};

export interface LayerInit {
  seed?: number;
  /** Uniform(−s, s) with s = gain·√(6 / (nIn + nOut)) (Glorot), or an explicit half-width. Default gain 1. */
  gain?: number;
  halfWidth?: number;
  bias?: boolean;
}

/** Layers for sizes [n0, n1, …, nL] with one activation for all layers or one per layer. */
export function createLayers(sizes: number[], activation: BpActivation | BpActivation[], init: LayerInit = {}): DenseLayer[] {
  if (sizes.length < 2) throw new RangeError('need at least an input and an output size');
  const rng = new SeededRandom(init.seed ?? 1);
  const layers: DenseLayer[] = [];
  for (let l = 1; l < sizes.length; l++) {
    const nIn = sizes[l - 1];
    const nOut = sizes[l];
    const s = init.halfWidth ?? (init.gain ?? 1) * Math.sqrt(6 / (nIn + nOut));
    const W = Float64Array.from({ length: nIn * nOut }, () => rng.uniform(-s, s));
    const act = Array.isArray(activation) ? activation[l - 1] : activation;
    if (!ACT[act]) throw new RangeError(`unknown activation "${act}"`);
    layers.push({ nIn, nOut, W, b: init.bias === false ? null : new Float64Array(nOut), activation: act });
  }
  return layers;
}

export function cloneLayers(layers: DenseLayer[]): DenseLayer[] {
  return layers.map((l) => ({ ...l, W: l.W.slice(), b: l.b ? l.b.slice() : null }));
}

export interface ForwardPass {
  /** a_0 = x, a_1 … a_L. */
  activations: Float64Array[];
  /** z_1 … z_L (pre-activations). */
  preActivations: Float64Array[];
}

export function forward(layers: DenseLayer[], x: ArrayLike<number>): ForwardPass {
  if (x.length !== layers[0].nIn) throw new RangeError(`input has ${x.length} values, the first layer takes ${layers[0].nIn}`);
  const activations = [Float64Array.from(x)];
  const preActivations: Float64Array[] = [];
  let a = activations[0];
  for (const L of layers) {
    const z = new Float64Array(L.nOut);
    const f = ACT[L.activation].f;
    const out = new Float64Array(L.nOut);
    for (let j = 0; j < L.nOut; j++) {
      let s = L.b ? L.b[j] : 0;
      const row = j * L.nIn;
      for (let i = 0; i < L.nIn; i++) s += L.W[row + i] * a[i];
      z[j] = s;
      out[j] = f(s);
    }
    preActivations.push(z);
    activations.push(out);
    a = out;
  }
  return { activations, preActivations };
}

/** L = ½ Σ (y − t)². */
export function squaredErrorLoss(y: ArrayLike<number>, t: ArrayLike<number>): number {
  if (y.length !== t.length) throw new RangeError(`output has ${y.length} values, target ${t.length}`);
  let s = 0;
  for (let k = 0; k < y.length; k++) s += (y[k] - t[k]) ** 2;
  return 0.5 * s;
}

export interface Gradients {
  loss: number;
  /** ∂L/∂W_ℓ per layer (post-major), ∂L/∂b_ℓ (null without bias). */
  dW: Float64Array[];
  db: (Float64Array | null)[];
  /** δ_ℓ per layer (∂L/∂z_ℓ). */
  deltas: Float64Array[];
  pass: ForwardPass;
}

/** Gradients of the per-sample loss for one sample. */
export function backprop(layers: DenseLayer[], x: ArrayLike<number>, target: ArrayLike<number>): Gradients {
  const pass = forward(layers, x);
  const { activations: A, preActivations: Z } = pass;
  const nL = layers.length;
  const y = A[nL];
  const loss = squaredErrorLoss(y, target);
  const deltas: Float64Array[] = new Array(nL);
  const dW: Float64Array[] = new Array(nL);
  const db: (Float64Array | null)[] = new Array(nL);
  let delta = new Float64Array(y.length);
  const dfL = ACT[layers[nL - 1].activation].df;
  for (let k = 0; k < y.length; k++) delta[k] = dfL(Z[nL - 1][k], y[k]) * (y[k] - target[k]);
  for (let l = nL - 1; l >= 0; l--) {
    const L = layers[l];
    deltas[l] = delta;
    const a = A[l];
    const g = new Float64Array(L.nIn * L.nOut);
    for (let j = 0; j < L.nOut; j++) {
      const dj = delta[j];
      const row = j * L.nIn;
      for (let i = 0; i < L.nIn; i++) g[row + i] = dj * a[i];
    }
    dW[l] = g;
    db[l] = L.b ? delta.slice() : null;
    if (l > 0) {
      const prev = new Float64Array(L.nIn);
      for (let j = 0; j < L.nOut; j++) {
        const dj = delta[j];
        const row = j * L.nIn;
        for (let i = 0; i < L.nIn; i++) prev[i] += L.W[row + i] * dj;
      }
      const df = ACT[layers[l - 1].activation].df;
      for (let i = 0; i < L.nIn; i++) prev[i] *= df(Z[l - 1][i], A[l][i]);
      delta = prev;
    }
  }
  return { loss, dW, db, deltas, pass };
}

/** The BP weight update for one sample: ΔW_ℓ = −η ∂L/∂W_ℓ per layer (post-major). */
export function bpUpdate(layers: DenseLayer[], x: ArrayLike<number>, target: ArrayLike<number>, eta: number): Float64Array[] {
  return backprop(layers, x, target).dW.map((g) => g.map((v) => -eta * v));
}

/** Mean per-sample loss over a batch. */
export function batchLoss(layers: DenseLayer[], xs: ArrayLike<number>[], ts: ArrayLike<number>[]): number {
  let s = 0;
  for (let n = 0; n < xs.length; n++) s += squaredErrorLoss(forward(layers, xs[n]).activations[layers.length], ts[n]);
  return s / xs.length;
}

/**
 * One gradient-descent step on the mean loss of a batch (in place): W ← W − η · mean_n ∂L_n/∂W.
 * Returns the batch's mean loss before the step.
 */
export function trainStep(layers: DenseLayer[], xs: ArrayLike<number>[], ts: ArrayLike<number>[], eta: number): number {
  if (xs.length === 0) return 0;
  if (xs.length !== ts.length) throw new RangeError(`${xs.length} inputs, ${ts.length} targets`);
  const gW = layers.map((L) => new Float64Array(L.W.length));
  const gb = layers.map((L) => (L.b ? new Float64Array(L.nOut) : null));
  let loss = 0;
  for (let n = 0; n < xs.length; n++) {
    const g = backprop(layers, xs[n], ts[n]);
    loss += g.loss;
    for (let l = 0; l < layers.length; l++) {
      const a = gW[l];
      const d = g.dW[l];
      for (let k = 0; k < a.length; k++) a[k] += d[k];
      const bb = gb[l];
      if (bb) for (let k = 0; k < bb.length; k++) bb[k] += g.db[l]![k];
    }
  }
  const scale = eta / xs.length;
  layers.forEach((L, l) => {
    for (let k = 0; k < L.W.length; k++) L.W[k] -= scale * gW[l][k];
    if (L.b) for (let k = 0; k < L.nOut; k++) L.b[k] -= scale * gb[l]![k];
  });
  return loss / xs.length;
}

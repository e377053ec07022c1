/**
 * The Network IR and its builder: populations, projections and learning rules in real-valued units.
 * `compileNetwork` (compiler.ts) places, quantises and checks it, producing a Program for the chip.
 *
 * Units: every per-tick coefficient is a real number per tick (Euler form, e.g. k = Δt/τ); voltages, rates
 * and weights are real numbers that the compiler quantises to the chip formats of docs/chip.md §2.
 */
import { ApicalError } from '../emulator/errors.js';

export type OutputKind = 'none' | 'binary' | 'stochastic' | 'graded';
export type CompartmentName = 'basal' | 'apical' | 'soma';

/** A named activation or a custom one: φ sampled on [xMin, xMin + 256·step) with step = 2^stepShift / 65536. */
export type Activation =
  | 'sigmoid'
  | 'relu'
  | 'softplus'
  | 'linear'
  | 'tanh'
  | { name: string; fn: (x: number) => number; xMin: number; stepLog2: number };

export interface PopulationOptions {
  output?: OutputKind;
  activation?: Activation;
  /** Dendritic compartments and their per-tick decay (1 = no memory: v = this tick's input). */
  basal?: { decay?: number } | boolean;
  apical?: { decay?: number } | boolean;
  /** Soma coupling per tick: D = kBasal·v_B + kApical·v_A + kNudge·u_N − kTotal·u. */
  soma?: { kBasal?: number; kApical?: number; kNudge?: number; kTotal?: number };
  /** Prospective gain τ/Δt (ŭ = u + (τ/Δt)·Δu); 0 = off. */
  prospective?: number;
  /** Basal prediction gain: v̂_B = gain·v_B (post.basal_rate = φ(v̂_B)). */
  basalPrediction?: number;
  threshold?: number;
  reset?: number;
  refractory?: number;
  /** Payload shift s: graded payloads carry 16 − s fractional bits (range ±2^(s−1)). Default 4. */
  payloadShift?: number;
  /** OU noise: ξ ← ξ − ξ/τ + s·N with s = σ·√(2/τ − 1/τ²), so that σ is the stationary standard deviation; injected into `target`. */
  noise?: { target: CompartmentName; tau: number; sigma: number };
  /** Traces with per-tick time constants (ticks) and spike impulses. */
  traces?: { x1?: { tau: number; impulse?: number }; x2?: { tau: number; impulse?: number }; hp?: { tau: number } };
  nudge?: { teacher: string; prospective?: boolean } | { target: true };
  /** Initial soma potentials. */
  init?: ArrayLike<number>;
  /** Pin to a core (no splitting); default: automatic placement. */
  core?: number;
  /** Real value of 1.0 in this group's state (metadata, e.g. 'mV'). */
  valueScale?: number;
}

export interface PlasticityOptions {
  rule: string;
  /** Extra fractional bits below the weight LSB (default: enough to keep 24 bits of update precision). */
  fracBits?: number;
  /** How updates finer than the accumulator are rounded (default stochastic; docs/chip.md §11.4). */
  rounding?: 'nearest' | 'stochastic';
  /** Low-pass time constant of weight updates in ticks (τ_LO); omitted = off. */
  lowpassTau?: number;
  /**
   * The weight statements' Δ reaches the accumulator scaled by 2^−updateShift (default 0; docs/chip.md §11.4):
   * write the rule 2^u times larger so that small updates keep their precision in the rule registers and the
   * low-pass state; the applied update is the intended one.
   */
  updateShift?: number;
}

export interface SparseWeights {
  /** Presynaptic index per synapse. */
  pre: ArrayLike<number>;
  post: ArrayLike<number>;
  values: ArrayLike<number>;
}

export interface ProjectionOptions {
  kind?: 'dense' | 'sparse' | 'oneToOne';
  /** dense: W with v = W·r, post-major flat (length post·pre, W[j·pre + i]) or number[post][pre]; oneToOne: per neuron; sparse: SparseWeights. */
  weights: ArrayLike<number> | number[][] | SparseWeights;
  target?: CompartmentName;
  weightBits?: 8 | 16;
  /** Largest |w| the weights must represent (sets the exponent); default: max |w| of the initial weights, at least 2^-8. */
  weightRange?: number;
  delay?: number;
  plasticity?: PlasticityOptions;
}

export interface ProbeOptions {
  variable: 'spikes' | 'soma' | 'prospective' | 'rate' | 'basal' | 'apical' | 'noise' | 'payload' | 'weights';
  every?: number;
}

export interface PopulationSpec extends PopulationOptions {
  name: string;
  size: number;
  isInput: boolean;
}
export interface ProjectionSpec extends ProjectionOptions {
  name: string;
  pre: string;
  post: string;
}
export interface ProbeSpec extends ProbeOptions {
  name: string;
  of: string;
}

/** A network definition error (bad size, unknown name, duplicate...). */
export class NetworkError extends ApicalError {
  override name = 'NetworkError';
}

export class Network {
  readonly populations: PopulationSpec[] = [];
  readonly projections: ProjectionSpec[] = [];
  readonly probes: ProbeSpec[] = [];
  readonly metadata: Record<string, string> = {};

  constructor(
    readonly name: string,
    readonly options: { seed?: number; tickSeconds?: number } = {},
  ) {}

  private checkName(name: string) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) throw new NetworkError(`invalid name "${name}"`, 'use letters, digits, _ . -');
    if (this.populations.some((p) => p.name === name) || this.projections.some((p) => p.name === name)) {
      throw new NetworkError(`duplicate name "${name}"`);
    }
  }

  private checkSize(name: string, size: number) {
    if (!Number.isInteger(size) || size < 1) throw new NetworkError(`population "${name}": size ${size} must be a positive integer`);
  }

  /** A host-driven input population: graded rates (default) or binary spikes. */
  input(name: string, size: number, opts: { coding?: 'graded' | 'spikes'; payloadShift?: number; traces?: PopulationOptions['traces']; core?: number } = {}): string {
    this.checkName(name);
    this.checkSize(name, size);
    this.populations.push({
      name,
      size,
      isInput: true,
      output: opts.coding === 'spikes' ? 'binary' : 'graded',
      payloadShift: opts.payloadShift,
      traces: opts.traces,
      core: opts.core,
    });
    return name;
  }

  population(name: string, size: number, opts: PopulationOptions = {}): string {
    this.checkName(name);
    this.checkSize(name, size);
    this.populations.push({ ...opts, name, size, isInput: false });
    return name;
  }

  project(name: string, pre: string, post: string, opts: ProjectionOptions): string {
    this.checkName(name);
    for (const g of [pre, post]) if (!this.populations.some((p) => p.name === g)) throw new NetworkError(`projection "${name}": unknown population "${g}"`);
    this.projections.push({ ...opts, name, pre, post });
    return name;
  }

  probe(name: string, of: string, opts: ProbeOptions): string {
    this.probes.push({ ...opts, name, of });
    return name;
  }
}

/**
 * The Program: the in-memory form of an `.apx` file (proto/program.proto, docs/program-format.md).
 * All numbers are the chip's integers; real-valued scales are metadata only and never affect a run.
 * Formats (docs/chip.md §2): STATE = Q15.16 int32; COEF = Q0.20 in [0, 2^20]; PROSP = Q.8; rule values Q7.24.
 */

export enum GroupKind {
  /** Neurons with compartments, driven by projections. */
  Neuron = 0,
  /** Host-driven sources: their rate (graded) or spikes (binary) come from an input port every tick. */
  Input = 1,
}

export enum OutputMode {
  None = 0,
  /** Spike when u ≥ threshold; u := reset; refractory for `refractory` ticks. Payload 1.0. */
  Binary = 1,
  /** Spike with probability φ(ŭ) (LUT output in [0, 1], Q16) from the chip PRNG; absolute refractoriness. */
  Stochastic = 2,
  /** Every tick: payload = round(φ(ŭ) / 2^payloadShift), 16-bit; sent when non-zero. */
  Graded = 3,
}

export enum Compartment {
  Basal = 0,
  Apical = 1,
  Soma = 2,
}

export enum NudgeSource {
  None = 0,
  /** One-to-one from neuron i of the teacher group (its u, or ŭ if teacherProspective). */
  Teacher = 1,
  /** From a target input port; absent while the port holds no target. */
  Target = 2,
}

export enum NoiseTarget {
  None = 0,
  Basal = 1,
  Apical = 2,
  Soma = 3,
}

export enum ProjectionKind {
  Dense = 0,
  Sparse = 1,
  OneToOne = 2,
}

export enum Rounding {
  Nearest = 0,
  Stochastic = 1,
}

export enum Trigger {
  /** Every tick. */
  Tick = 0,
  /** At the end of every epoch of 2^epochShift ticks: ticks t with (t + 1) mod 2^k = 0. */
  Epoch = 1,
  /** For the synapses of each presynaptic neuron that emitted an event this tick. */
  Pre = 2,
  /** For the synapses of each postsynaptic neuron that emitted an event this tick. */
  Post = 3,
}

export enum RuleTarget {
  Weight = 0,
  Tag = 1,
}

export enum PortKind {
  /** Q16 rates for an input group (graded), held until changed. */
  Rate = 0,
  /** 0/1 spikes for an input group (binary), for the next tick only. */
  Spikes = 1,
  /** Q16 nudging targets for a group with NudgeSource.Target, held until changed or cleared. */
  Target = 2,
  /** The global third factor (Q16), held until changed. */
  Reward = 3,
}

export enum ProbeVariable {
  Spikes = 0,
  Soma = 1,
  Prospective = 2,
  Rate = 3,
  Basal = 4,
  Apical = 5,
  Noise = 6,
  Payload = 7,
  /** Weights of a projection (the probe's `projection`), sampled every `every` ticks. */
  Weights = 8,
}

export const TRACE_X1 = 1;
export const TRACE_X2 = 2;
export const TRACE_HP = 4;

export interface Slice {
  core: number;
  start: number;
  count: number;
}

export interface Group {
  name: string;
  size: number;
  kind: GroupKind;
  output: OutputMode;
  /** Placement: contiguous neuron ranges, each on one core, covering 0..size−1 in order. */
  slices: Slice[];
  hasBasal: boolean;
  hasApical: boolean;
  /** Dendritic decay per tick (COEF): v ← v − round(k·v) + input. 2^20 = no memory (v = input). */
  basalDecay: number;
  apicalDecay: number;
  /** Soma coupling coefficients (COEF, already multiplied by Δt): D = kB·v_B + kA·v_A + kN·u_N − kT·u. */
  kBasal: number;
  kApical: number;
  kNudge: number;
  /** Total coefficient without nudging; kNudge is added to it while a nudge is present. */
  kTotal: number;
  nudge: NudgeSource;
  /** Teacher group index (NudgeSource.Teacher), else −1. */
  teacher: number;
  teacherProspective: boolean;
  /** Prospective gain τ/Δt in Q.8; 0 = ŭ is u. */
  prospectiveGain: number;
  /** Basal prediction gain (COEF): v̂_B = round(g·v_B); post.basal_rate = φ(v̂_B). */
  basalPredGain: number;
  /** Activation LUT index, or −1 (then rate = spike ? 1.0 : 0). */
  lut: number;
  threshold: number;
  reset: number;
  refractory: number;
  payloadShift: number;
  noiseTarget: NoiseTarget;
  /** OU decay per tick (COEF) and gain (Q.24 per Irwin–Hall unit). */
  noiseDecay: number;
  noiseGain: number;
  /** Bitmask of TRACE_X1 | TRACE_X2 | TRACE_HP. */
  traces: number;
  x1Decay: number;
  x1Impulse: number;
  x2Decay: number;
  x2Impulse: number;
  hpDecay: number;
  /** Initial soma potentials (STATE), empty = all zero. */
  initSoma: Int32Array;
  /** Metadata: real value represented by STATE_ONE in this group (e.g. mV). */
  valueScale: number;
}

export interface Statement {
  trigger: Trigger;
  epochShift: number;
  target: RuleTarget;
  /** Microcode words (src/emulator/microcode.ts). */
  code: Int32Array;
}

export interface Plasticity {
  /** The rule's source text (models/ruleLanguage.ts syntax). */
  source: string;
  statements: Statement[];
  /** Extra fractional bits kept below the weight LSB in the per-synapse accumulator. */
  fracBits: number;
  rounding: Rounding;
  /** Low-pass coefficient of weight updates (COEF); 0 = off. */
  lowpass: number;
  /** Δ of weight statements reaches the accumulator scaled by 2^−updateShift (0..MAX_UPDATE_SHIFT; §11.4). */
  updateShift: number;
  /** The rule uses the per-synapse tag (syn.tag / dtag). */
  tag: boolean;
}

export interface Projection {
  name: string;
  pre: number;
  post: number;
  kind: ProjectionKind;
  target: Compartment;
  weightBits: number;
  /** Real weight = w · 2^-weightShift. */
  weightShift: number;
  delay: number;
  /** Dense: post-major [post][pre] (synapse j·nPre + i); sparse: CSR order by presynaptic neuron; one-to-one: per neuron. */
  weights: Int8Array | Int16Array;
  /** Sparse only: row pointers (pre + 1 entries) and postsynaptic indices (16-bit local indices, docs/chip.md §3). */
  rowPtr: Uint32Array | null;
  cols: Uint16Array | null;
  plasticity: Plasticity | null;
}

export interface Lut {
  name: string;
  /** Input of knot 0 (STATE). */
  xMin: number;
  /** Knot spacing 2^stepShift (STATE units). */
  stepShift: number;
  /** LUT_SEGMENTS + 1 knot values (STATE). */
  values: Int32Array;
}

export interface InputPort {
  name: string;
  kind: PortKind;
  /** Group index; −1 for the reward port. */
  group: number;
}

export interface Probe {
  name: string;
  variable: ProbeVariable;
  /** Group index (neuron variables) or −1. */
  group: number;
  /** Projection index (ProbeVariable.Weights) or −1. */
  projection: number;
  /** Sample every `every` ticks (≥ 1), after the tick with (t + 1) mod every = 0. */
  every: number;
}

export interface ProgramBody {
  name: string;
  /** Metadata: simulated seconds per tick (for the real-time factor). */
  tickSeconds: number;
  luts: Lut[];
  groups: Group[];
  projections: Projection[];
  inputs: InputPort[];
  probes: Probe[];
  metadata: Record<string, string>;
}

export interface Program {
  formatVersion: number;
  chipRevision: number;
  seed: number;
  /** SHA-256 (hex) over the header fields and the encoded body (docs/program-format.md). */
  hash: string;
  body: ProgramBody;
}

/**
 * The float twin: a float64 model of the chip's discrete-time equations (docs/chip.md), driven from the same
 * Network description. Same phases in the same order, same Euler coefficients, same delays, same rule
 * statements in the same order — but real numbers instead of integers. Each fixed-point effect of the chip can
 * be switched on separately (all off by default):
 *
 *   weightQuantisation  weights on the chip's B-bit grid (compiler's weightShift), forward weight = accumulator
 *                       rounded to the grid after every update; accumulator on its 2^-(shift+f) grid with the
 *                       projection's nearest/stochastic rounding of each update
 *   rounding            every intermediate the chip rounds: state 2^-16, coefficients 2^-20, prospective gain
 *                       2^-8, the soma drive 2^-24, payloads 2^-(16−s), rule registers 2^-24, MULC constants to
 *                       their 23-bit mantissas, rule constants 2^-24, the noise gain to its Q.24 integer
 *   saturation          clamps where the chip saturates: state ±32768, drive and rule registers ±128, payloads
 *                       ±2^(s−1), the weight accumulator to the B-bit range, initial weights beyond weightRange
 *   lut                 φ through the chip's 257-knot interpolated table (range ends hold) instead of the function
 *   prngNoise           noise, stochastic spikes and stochastic rounding from the chip's PRNG draws (same seed,
 *                       stream keys and indices; Irwin–Hall(4) noise) instead of a true Gaussian / uniforms from
 *                       the twin's own seeded counter-based generator
 *
 * With every effect on the twin rounds and clamps the same quantities at the same places as the chip, so it
 * agrees with it up to float64 sums whose exact value needs more than 53 bits (tests: bit-exact on the
 * reference circuits and on random circuits; docs/fidelity.md). With every effect off it is the ideal
 * float model of the same discrete equations. Switching effects one at a time attributes the chip's deviation
 * from the ideal model to its sources (attribution.ts).
 *
 * The learning phase runs each rule's statements as JavaScript kernels generated at construction with the
 * effect switches resolved (ruleFloatKernel.ts; same arithmetic as the reference closures of ruleFloat.ts).
 *
 * Units: every value is real (STATE integers / 65536, weights w·2^-shift, rule values Q7.24 / 2^24).
 * Effects that need the chip's integers (coefficients, weight shifts, tables, noise gain, fracBits) read them
 * from the compiled Program: the one passed in `options.program` or one compiled from the Network.
 */
import { GAUSS_STD, LUT_SEGMENTS, RULE_FRAC_BITS } from '../../emulator/constants.js';
import { ProgramFitError, UsageError } from '../../emulator/errors.js';
import { lutFromFunction } from '../../emulator/lut.js';
import { TERMS } from '../../emulator/microcode.js';
import { draw, gauss, Stream, streamKey, tickKey } from '../../emulator/prng.js';
import { ProbeVariable, Trigger, type Group, type Lut, type Program, type Projection } from '../../emulator/program.js';
import type { StimulusEvent } from '../../devices/device.js';
import { ACTIVATIONS, compileNetwork } from '../compiler.js';
import type { Activation, Network, PopulationSpec, ProjectionSpec, SparseWeights } from '../network.js';
import { compileRule, type CompiledRule } from '../ruleLanguage.js';
import { compileFloatKernel, statementRuns, type FloatKernelStatement, type FloatLearnKernel } from './ruleFloatKernel.js';

// ------------------------------------------------------------------------------------------------ effects

export type TwinEffect = 'weightQuantisation' | 'rounding' | 'saturation' | 'lut' | 'prngNoise';

/** Every effect, in the order reports list them. */
export const ALL_EFFECTS: readonly TwinEffect[] = ['weightQuantisation', 'rounding', 'saturation', 'lut', 'prngNoise'];

export interface FloatTwinOptions {
  /** Fixed-point effects to emulate: a list, 'all' or 'none' (default). */
  effects?: Iterable<TwinEffect> | 'all' | 'none';
  /** The compiled Program of the same Network (its integers are used when an effect needs them). */
  program?: Program;
  /** Seed of the twin's own generators (Gaussian noise, uniforms); default the Network's seed. */
  seed?: number;
}

/** Neuron variables the twin exposes (names as in probes, plus traces and internals). */
export type TwinVariable =
  | 'spikes'
  | 'soma'
  | 'prospective'
  | 'rate'
  | 'basal'
  | 'apical'
  | 'noise'
  | 'payload'
  | 'x1'
  | 'x2'
  | 'hp'
  | 'basalRate'
  | 'refractory';

// ------------------------------------------------------------------------------------------------ constants

const S16 = 65536;
const INV16 = 1 / 65536;
const INV24 = 2 ** -24;
/** STATE range in real units. */
const STATE_MAX = 2147483647 / 65536;
const STATE_MIN = -32768;
/** DRIVE (Q7.24) range. */
const DRIVE_MAX = 2147483647 / 2 ** 24;
const DRIVE_MIN = -128;

function activationSpec(a: Activation): { name: string; fn: (x: number) => number; xMin: number; stepLog2: number } {
  if (typeof a !== 'string') return a;
  const s = ACTIVATIONS[a];
  if (!s) throw new UsageError(`unknown activation "${a}"`, `use ${Object.keys(ACTIVATIONS).join(', ')} or a custom table`);
  return { name: a, ...s };
}

/** Round half up to the grid 2^-bits (docs/chip.md §2 rounding rule, in real units). */
function rh(x: number, bits: number): number {
  return Math.floor(x * 2 ** bits + 0.5) * 2 ** -bits;
}

/** rh(x, 16) with the powers of two as literals (the tick loop's STATE rounding). */
function rh16(x: number): number {
  return Math.floor(x * 65536 + 0.5) * INV16;
}

/** rh(x, 24). */
function rh24(x: number): number {
  return Math.floor(x * 16777216 + 0.5) * INV24;
}

/** The twin's own streams (ids outside the chip's 1..3, so its draws are independent of the chip's). */
const TWIN_NOISE = 0x21 as Stream;
const TWIN_SPIKE = 0x22 as Stream;
const TWIN_ROUND = 0x23 as Stream;
const TWO32 = 4294967296;

/** Standard normal from two independent uint32 (Box–Muller). */
function boxMuller(a: number, b: number): number {
  const u1 = (a + 0.5) / TWO32;
  const u2 = b / TWO32;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

// ------------------------------------------------------------------------------------------------ state

type Phi = (x: number) => number;

interface TGroup {
  spec: PopulationSpec;
  index: number;
  n: number;
  isInput: boolean;
  output: 'none' | 'binary' | 'stochastic' | 'graded';
  spiking: boolean;
  hasBasal: boolean;
  hasApical: boolean;
  // effective parameters (rounded when `rounding` is on)
  decayB: number;
  decayA: number;
  kB: number;
  kA: number;
  kN: number;
  kT: number;
  prospGain: number;
  basalPred: number;
  threshold: number;
  reset: number;
  refractory: number;
  payloadShift: number;
  /** 2^(16 − payloadShift) and its inverse: the payload grid. */
  payloadScale: number;
  payloadInv: number;
  payloadMax: number;
  payloadMin: number;
  nudge: 'none' | 'teacher' | 'target';
  teacher: number;
  teacherProspective: boolean;
  noiseTarget: 'none' | 'basal' | 'apical' | 'soma';
  noiseDecay: number;
  /** Increment standard deviation (real) and the chip's Q.24 gain per Irwin–Hall unit. */
  noiseS: number;
  noiseGainQ: number;
  x1: { k: number; A: number } | null;
  x2: { k: number; A: number } | null;
  hpK: number;
  phi: Phi | null;
  basalRateUsed: boolean;
  // state
  u: Float64Array;
  prosp: Float64Array;
  vB: Float64Array | null;
  vA: Float64Array | null;
  xi: Float64Array | null;
  ref: Int32Array;
  rate: Float64Array;
  ratePrev: Float64Array | null;
  tx1: Float64Array | null;
  tx2: Float64Array | null;
  hp: Float64Array | null;
  basalRate: Float64Array | null;
  spike: Uint8Array;
  payload: Float64Array;
  evIdx: Int32Array;
  evCount: number;
  inRate: Float64Array | null;
  inSpike: Uint8Array | null;
  target: Float64Array | null;
  targetValid: boolean;
  nudgeBuf: Float64Array | null;
  incoming: TProjection[];
  chipNoiseKey: number;
  chipSpikeKey: number;
  twinNoiseKey: number;
  twinSpikeKey: number;
}

interface TProjection {
  spec: ProjectionSpec;
  index: number;
  pre: TGroup;
  post: TGroup;
  kind: 'dense' | 'sparse' | 'oneToOne';
  target: 'basal' | 'apical' | 'soma';
  delay: number;
  nPre: number;
  nPost: number;
  ring: Float64Array;
  rowPtr: Uint32Array | null;
  cols: Uint32Array | null;
  /** Post-major index for post-triggered statements on sparse projections. */
  colPtr: Uint32Array | null;
  colSyn: Uint32Array | null;
  colRow: Uint32Array | null;
  /** Forward weights (what routing uses) and the plastic accumulator (real weight units). */
  w: Float64Array;
  acc: Float64Array | null;
  tag: Float64Array | null;
  lo: Float64Array | null;
  bits: number;
  shift: number;
  fracBits: number;
  stochastic: boolean;
  lowpass: number;
  accMax: number;
  accMin: number;
  /** 2^shift, 2^(shift + f) and sa = 24 − shift − f (docs/chip.md §11.4). */
  wScale: number;
  accScale: number;
  sa: number;
  /** 2^−updateShift: the weight statements' Δ is applied scaled by this (§11.4). */
  updateScale: number;
  /** The rule's statements compiled into kernels (ruleFloatKernel.ts), one per run of same-trigger statements. */
  kernels: FloatLearnKernel[];
}

// ------------------------------------------------------------------------------------------------ the twin

export class FloatTwin {
  readonly network: Network;
  /** The Program whose integers the effects use (null only for an ideal twin of a network the chip cannot hold). */
  readonly program: Program | null;
  readonly effects: ReadonlySet<TwinEffect>;
  readonly seed: number;
  /** Ticks completed. */
  tick = 0;
  /** Global third factor (real). */
  reward = 0;

  private readonly fx: { wq: boolean; rnd: boolean; sat: boolean; lut: boolean; prng: boolean };
  private readonly groups: TGroup[];
  private readonly projections: TProjection[];
  private readonly groupByName = new Map<string, TGroup>();
  private readonly projectionByName = new Map<string, TProjection>();
  private readonly ports = new Map<string, { kind: 'rate' | 'spikes' | 'target' | 'reward'; group: TGroup | null }>();

  constructor(network: Network, options: FloatTwinOptions = {}) {
    this.network = network;
    const eff = options.effects ?? 'none';
    const set = new Set<TwinEffect>(eff === 'all' ? ALL_EFFECTS : eff === 'none' ? [] : eff);
    for (const e of set) if (!ALL_EFFECTS.includes(e)) throw new UsageError(`unknown twin effect "${e}"`, `effects: ${ALL_EFFECTS.join(', ')}`);
    this.effects = set;
    this.fx = { wq: set.has('weightQuantisation'), rnd: set.has('rounding'), sat: set.has('saturation'), lut: set.has('lut'), prng: set.has('prngNoise') };
    this.program = options.program ?? compileOrNull(network, set.size > 0);
    if (this.program) checkProgramMatches(network, this.program);
    this.seed = (options.seed ?? this.program?.seed ?? network.options.seed ?? 1) >>> 0;
    const chipSeed = (this.program?.seed ?? network.options.seed ?? 1) >>> 0;

    // Which groups must compute post.basal_rate, and the compiled rules.
    const rules: (CompiledRule | null)[] = network.projections.map((p) => (p.plasticity ? compileRule(p.plasticity.rule) : null));
    const basalRateUsed = network.populations.map(() => false);
    network.projections.forEach((p, pi) => {
      if (rules[pi]?.termsUsed.has(TERMS['post.basal_rate'])) basalRateUsed[network.populations.findIndex((g) => g.name === p.post)] = true;
    });

    this.groups = network.populations.map((spec, index) => this.buildGroup(spec, index, basalRateUsed[index], chipSeed));
    for (const g of this.groups) this.groupByName.set(g.spec.name, g);
    this.projections = network.projections.map((spec, index) => this.buildProjection(spec, index, rules[index], chipSeed));
    for (const p of this.projections) {
      this.projectionByName.set(p.spec.name, p);
      p.post.incoming.push(p);
    }
    for (const g of this.groups) {
      if (g.isInput) this.ports.set(g.spec.name, { kind: g.output === 'graded' ? 'rate' : 'spikes', group: g });
      if (g.nudge === 'target') this.ports.set(`${g.spec.name}.target`, { kind: 'target', group: g });
    }
    this.ports.set('reward', { kind: 'reward', group: null });
  }

  // ---------------------------------------------------------------------------------------------- build

  private st(x: number): number {
    return this.fx.rnd ? rh16(x) : x;
  }

  private buildGroup(spec: PopulationSpec, index: number, basalRateUsed: boolean, chipSeed: number): TGroup {
    const fx = this.fx;
    const pg: Group | null = this.program ? this.program.body.groups[index] : null;
    const n = spec.size;
    const isInput = spec.isInput;
    const output = spec.output ?? 'graded';
    const spiking = output === 'binary' || output === 'stochastic';
    const hasBasal = !isInput && spec.basal !== false && spec.basal !== undefined;
    const hasApical = !isInput && spec.apical !== false && spec.apical !== undefined;
    const decayOf = (c: PopulationSpec['basal']) => (typeof c === 'object' && c.decay !== undefined ? c.decay : 1);
    /** A per-tick coefficient: the real value, or the chip's COEF integer / 2^20 when rounding. */
    const coef = (real: number, q: number | undefined) => (fx.rnd ? (q !== undefined ? q * 2 ** -20 : rh(real, 20)) : real);
    const state = (real: number, q: number | undefined) => (fx.rnd ? (q !== undefined ? q * INV16 : rh(real, 16)) : real);
    const soma = spec.soma ?? {};
    const payloadShift = spec.payloadShift ?? 4;
    let phi: Phi | null = null;
    if (spec.activation !== undefined) {
      const a = activationSpec(spec.activation);
      if (fx.lut) {
        const table: Lut = pg && pg.lut >= 0 ? this.program!.body.luts[pg.lut] : lutFromFunction(a.name, a.fn, a.xMin, a.stepLog2);
        phi = lutPhi(table, fx.rnd);
      } else {
        const fn = a.fn;
        phi = fx.rnd ? (x) => rh16(fn(x)) : fn;
      }
    } else if (!isInput && (output === 'graded' || output === 'stochastic')) {
      throw new UsageError(`population "${spec.name}": ${output} output needs an activation`);
    }
    let nudge: TGroup['nudge'] = 'none';
    let teacher = -1;
    let teacherProspective = false;
    if (spec.nudge && 'teacher' in spec.nudge) {
      nudge = 'teacher';
      teacher = this.network.populations.findIndex((p) => p.name === (spec.nudge as { teacher: string }).teacher);
      if (teacher < 0) throw new UsageError(`population "${spec.name}": unknown teacher`);
      teacherProspective = !!spec.nudge.prospective;
    } else if (spec.nudge && 'target' in spec.nudge) nudge = 'target';
    let noiseS = 0;
    let noiseDecay = 0;
    let noiseGainQ = 0;
    const noiseTarget = spec.noise && !isInput ? spec.noise.target : 'none';
    if (spec.noise && !isInput) {
      const tau = spec.noise.tau;
      noiseS = spec.noise.sigma * Math.sqrt(2 / tau - 1 / (tau * tau));
      noiseDecay = coef(1 / tau, pg?.noiseDecay);
      noiseGainQ = pg ? pg.noiseGain : Math.round((noiseS * 65536 * 2 ** 24) / GAUSS_STD);
    }
    const tr = spec.traces;
    const kTotal = coef(soma.kTotal ?? 0, pg?.kTotal);
    const kNudge = coef(soma.kNudge ?? 0, pg?.kNudge);
    const i32 = () => new Int32Array(n);
    const f64 = () => new Float64Array(n);
    const u = f64();
    if (spec.init) for (let j = 0; j < n; j++) u[j] = state(spec.init[j], pg?.initSoma[j]);
    const payloadFrac = 16 - payloadShift;
    return {
      spec,
      index,
      n,
      isInput,
      output,
      spiking,
      hasBasal,
      hasApical,
      decayB: hasBasal ? coef(decayOf(spec.basal), pg?.basalDecay) : 0,
      decayA: hasApical ? coef(decayOf(spec.apical), pg?.apicalDecay) : 0,
      kB: coef(soma.kBasal ?? 0, pg?.kBasal),
      kA: coef(soma.kApical ?? 0, pg?.kApical),
      kN: kNudge,
      kT: kTotal,
      prospGain: fx.rnd ? (pg ? pg.prospectiveGain : Math.round((spec.prospective ?? 0) * 256)) / 256 : (spec.prospective ?? 0),
      basalPred: coef(spec.basalPrediction ?? 0, pg?.basalPredGain),
      threshold: state(spec.threshold ?? 1, pg?.threshold),
      reset: state(spec.reset ?? 0, pg?.reset),
      refractory: spec.refractory ?? 0,
      payloadShift,
      payloadScale: 2 ** payloadFrac,
      payloadInv: 2 ** -payloadFrac,
      payloadMax: 32767 * 2 ** -payloadFrac,
      payloadMin: -32768 * 2 ** -payloadFrac,
      nudge,
      teacher,
      teacherProspective,
      noiseTarget,
      noiseDecay,
      noiseS,
      noiseGainQ,
      x1: tr?.x1 ? { k: coef(1 / tr.x1.tau, pg?.x1Decay), A: state(tr.x1.impulse ?? 1, pg?.x1Impulse) } : null,
      x2: tr?.x2 ? { k: coef(1 / tr.x2.tau, pg?.x2Decay), A: state(tr.x2.impulse ?? 1, pg?.x2Impulse) } : null,
      hpK: tr?.hp ? coef(1 / tr.hp.tau, pg?.hpDecay) : 0,
      phi,
      basalRateUsed,
      u,
      prosp: Float64Array.from(u),
      vB: hasBasal ? f64() : null,
      vA: hasApical ? f64() : null,
      xi: noiseTarget !== 'none' ? f64() : null,
      ref: i32(),
      rate: f64(),
      ratePrev: tr?.hp ? f64() : null,
      tx1: tr?.x1 ? f64() : null,
      tx2: tr?.x2 ? f64() : null,
      hp: tr?.hp ? f64() : null,
      basalRate: basalRateUsed ? f64() : null,
      spike: new Uint8Array(n),
      payload: f64(),
      evIdx: i32(),
      evCount: 0,
      inRate: isInput ? f64() : null,
      inSpike: isInput ? new Uint8Array(n) : null,
      target: nudge === 'target' ? f64() : null,
      targetValid: false,
      nudgeBuf: nudge === 'teacher' ? f64() : null,
      incoming: [],
      chipNoiseKey: streamKey(chipSeed, Stream.Noise, index),
      chipSpikeKey: streamKey(chipSeed, Stream.Spike, index),
      twinNoiseKey: streamKey(this.seed, TWIN_NOISE, index),
      twinSpikeKey: streamKey(this.seed, TWIN_SPIKE, index),
    };
  }

  private buildProjection(spec: ProjectionSpec, index: number, rule: CompiledRule | null, chipSeed: number): TProjection {
    const fx = this.fx;
    const pp: Projection | null = this.program ? this.program.body.projections[index] : null;
    const pre = this.groupByName.get(spec.pre)!;
    const post = this.groupByName.get(spec.post)!;
    const nPre = pre.n;
    const nPost = post.n;
    const kind = spec.kind ?? 'dense';
    const bits = spec.weightBits ?? 16;
    // Real weights in the chip's storage order (dense post-major, sparse CSR by pre, one-to-one per neuron).
    let values: Float64Array;
    let rowPtr: Uint32Array | null = null;
    let cols: Uint32Array | null = null;
    if (kind === 'dense') values = denseWeights(spec.weights, nPre, nPost, spec.name);
    else if (kind === 'oneToOne') values = Float64Array.from(spec.weights as ArrayLike<number>);
    else {
      const sw = spec.weights as SparseWeights;
      const m = sw.values.length;
      const order = Array.from({ length: m }, (_, k) => k).sort((a, b) => sw.pre[a] - sw.pre[b] || a - b);
      rowPtr = new Uint32Array(nPre + 1);
      cols = new Uint32Array(m);
      values = new Float64Array(m);
      order.forEach((k, q) => {
        rowPtr![sw.pre[k] + 1]++;
        cols![q] = sw.post[k];
        values[q] = sw.values[k];
      });
      for (let i = 0; i < nPre; i++) rowPtr[i + 1] += rowPtr[i];
    }
    const nSyn = values.length;
    // The weight grid: the compiler's exponent (needed by weightQuantisation and saturation).
    const shift = pp ? pp.weightShift : NaN;
    const top = 2 ** (bits - 1);
    const w = new Float64Array(nSyn);
    for (let k = 0; k < nSyn; k++) {
      let x = values[k];
      if (fx.wq) x = fx.sat ? pp!.weights[k] * 2 ** -shift : Math.round(x * 2 ** shift) * 2 ** -shift; // the compiler clips only what saturates
      else if (fx.sat) x = Math.max(-top * 2 ** -shift, Math.min((top - 1) * 2 ** -shift, x));
      w[k] = x;
    }
    const pl = spec.plasticity;
    const fracBits = pp?.plasticity ? pp.plasticity.fracBits : 0;
    const p: TProjection = {
      spec,
      index,
      pre,
      post,
      kind,
      target: spec.target ?? 'basal',
      delay: spec.delay ?? 1,
      nPre,
      nPost,
      ring: new Float64Array((spec.delay ?? 1) * nPost),
      rowPtr,
      cols,
      colPtr: null,
      colSyn: null,
      colRow: null,
      w,
      acc: pl ? Float64Array.from(w) : null,
      tag: rule?.usesTag ? new Float64Array(nSyn) : null,
      lo: pl?.lowpassTau !== undefined ? new Float64Array(nSyn) : null,
      bits,
      shift,
      fracBits,
      stochastic: (pl?.rounding ?? 'stochastic') === 'stochastic',
      lowpass: pl?.lowpassTau !== undefined ? (fx.rnd ? (pp ? pp.plasticity!.lowpass * 2 ** -20 : rh(1 / pl.lowpassTau, 20)) : 1 / pl.lowpassTau) : 0,
      accMax: (top - 1) * 2 ** -shift,
      accMin: -top * 2 ** -shift,
      wScale: 2 ** shift,
      accScale: 2 ** (shift + fracBits),
      sa: RULE_FRAC_BITS - shift - fracBits + (pl?.updateShift ?? 0),
      updateScale: 2 ** -(pl?.updateShift ?? 0),
      kernels: [],
    };
    if (kind === 'sparse' && rule?.statements.some((s) => s.trigger === Trigger.Post)) {
      const colCount = new Uint32Array(nPost);
      for (let k = 0; k < nSyn; k++) colCount[cols![k]]++;
      const colPtr = new Uint32Array(nPost + 1);
      for (let j = 0; j < nPost; j++) colPtr[j + 1] = colPtr[j] + colCount[j];
      const colSyn = new Uint32Array(nSyn);
      const colRow = new Uint32Array(nSyn);
      const fill = colPtr.slice(0, nPost);
      for (let i = 0; i < nPre; i++) {
        for (let k = rowPtr![i]; k < rowPtr![i + 1]; k++) {
          const q = fill[cols![k]]++;
          colSyn[q] = k;
          colRow[q] = i;
        }
      }
      p.colPtr = colPtr;
      p.colSyn = colSyn;
      p.colRow = colRow;
    }
    if (rule) {
      const statements: FloatKernelStatement[] = rule.ast.statements.map((s, si) => ({
        trigger: s.trigger,
        epochShift: s.epochShift,
        target: s.target,
        expr: s.expr,
        chipRoundKey: streamKey(chipSeed, Stream.Round, (index << 3) | si),
        twinRoundKey: streamKey(this.seed, TWIN_ROUND, (index << 3) | si),
      }));
      const effects = { weightQuantisation: fx.wq, rounding: fx.rnd, saturation: fx.sat, prngNoise: fx.prng };
      const constants = { ...p, lowpass: p.lo ? p.lowpass : null };
      p.kernels = statementRuns(statements).map(([a, b]) => compileFloatKernel(statements.slice(a, b), constants, effects, p));
    }
    return p;
  }

  // ---------------------------------------------------------------------------------------------- host I/O

  private port(name: string) {
    const p = this.ports.get(name);
    if (!p) throw new UsageError(`unknown input port "${name}"`, `ports: ${[...this.ports.keys()].join(', ')}`);
    return p;
  }

  /**
   * Writes an input port in real units (rates, targets, reward; spikes as 0/1), from the next tick. With
   * `rounding` on, values are put on the STATE grid as the host's conversion to the chip would.
   */
  setInput(name: string, values: ArrayLike<number>): void {
    this.writeInput(name, values, 1);
  }

  /** setInput of `values` × `scale` (not applied to spikes; x · 1 is x exactly). */
  private writeInput(name: string, values: ArrayLike<number>, scale: number): void {
    const port = this.port(name);
    if (port.kind === 'reward') {
      this.reward = this.inputValue(values[0] * scale);
      return;
    }
    const g = port.group!;
    if (values.length !== g.n) throw new UsageError(`input port "${name}" takes ${g.n} values, got ${values.length}`);
    if (port.kind === 'rate') for (let j = 0; j < g.n; j++) g.inRate![j] = this.inputValue(values[j] * scale);
    else if (port.kind === 'spikes') for (let j = 0; j < g.n; j++) g.inSpike![j] = values[j] ? 1 : 0;
    else {
      for (let j = 0; j < g.n; j++) g.target![j] = this.inputValue(values[j] * scale);
      g.targetValid = true;
    }
  }

  /** A host value as the chip receives it: on the STATE grid with `rounding`, clamped with `saturation`. */
  private inputValue(x: number): number {
    let v = this.st(x);
    if (this.fx.sat) v = Math.max(STATE_MIN, Math.min(STATE_MAX, v));
    return v;
  }

  /** Removes the nudging target of a target port (the group runs free). */
  clearTarget(name: string): void {
    const port = this.port(name);
    if (port.kind !== 'target') throw new UsageError(`port "${name}" is not a target port`);
    port.group!.targetValid = false;
  }

  /** Applies one host write given as for a Device (STATE integers, converted by /65536; spikes 0/1; null clears). */
  applyStimulus(ev: StimulusEvent): void {
    if (ev.values === null) return this.clearTarget(ev.port);
    this.writeInput(ev.port, ev.values, INV16);
  }

  // ---------------------------------------------------------------------------------------------- tick

  /** Runs one tick: latch, integrate, fire, traces, route, learn (docs/chip.md §4). */
  step(): void {
    const t = this.tick;
    for (const g of this.groups) {
      if (g.nudgeBuf) {
        const teacher = this.groups[g.teacher];
        g.nudgeBuf.set(g.teacherProspective ? teacher.prosp : teacher.u);
      }
    }
    for (const g of this.groups) {
      if (g.isInput) this.inputGroup(g);
      else this.neuronGroup(g, t);
      this.traces(g);
    }
    for (const p of this.projections) this.route(p, t);
    for (const p of this.projections) for (const kernel of p.kernels) kernel(p, t, this.reward);
    this.tick = t + 1;
  }

  /** Runs n ticks; `stimulus` events (ticks relative to the start of this run) are applied before their tick. */
  run(n: number, stimulus: StimulusEvent[] = []): void {
    const stim = [...stimulus].sort((a, b) => a.tick - b.tick);
    let si = 0;
    for (let k = 0; k < n; k++) {
      while (si < stim.length && stim[si].tick <= k) this.applyStimulus(stim[si++]);
      this.step();
    }
  }

  private satS(x: number): number {
    return this.fx.sat ? (x > STATE_MAX ? STATE_MAX : x < STATE_MIN ? STATE_MIN : x) : x;
  }

  private payloadOf(g: TGroup, r: number): number {
    let p = this.fx.rnd ? Math.floor(r * g.payloadScale + 0.5) * g.payloadInv : r;
    if (this.fx.sat) p = p > g.payloadMax ? g.payloadMax : p < g.payloadMin ? g.payloadMin : p;
    return p;
  }

  private inputGroup(g: TGroup): void {
    let ne = 0;
    for (let j = 0; j < g.n; j++) {
      if (g.spiking) {
        const s = g.inSpike![j];
        g.inSpike![j] = 0;
        g.spike[j] = s;
        g.rate[j] = s ? 1 : 0;
        g.payload[j] = s;
        if (s) g.evIdx[ne++] = j;
      } else {
        const r = g.inRate![j];
        g.rate[j] = r;
        const p = this.payloadOf(g, r);
        g.payload[j] = p;
        const s = p !== 0 ? 1 : 0;
        g.spike[j] = s;
        if (s) g.evIdx[ne++] = j;
      }
    }
    g.evCount = ne;
  }

  private neuronGroup(g: TGroup, t: number): void {
    const fx = this.fx;
    const n = g.n;
    const inc = g.incoming;
    const tkN = g.xi ? tickKey(fx.prng ? g.chipNoiseKey : g.twinNoiseKey, t) : 0;
    const tkS = g.output === 'stochastic' ? tickKey(fx.prng ? g.chipSpikeKey : g.twinSpikeKey, t) : 0;
    const phi = g.phi;
    let ne = 0;
    for (let j = 0; j < n; j++) {
      // §5.1 inputs of this tick, per compartment.
      let iB = 0;
      let iA = 0;
      let iS = 0;
      for (let q = 0; q < inc.length; q++) {
        const p = inc[q];
        const slot = (t % p.delay) * n + j;
        const x = p.ring[slot];
        if (x === 0) continue;
        p.ring[slot] = 0;
        const i = this.st(x);
        if (p.target === 'basal') iB += i;
        else if (p.target === 'apical') iA += i;
        else iS += i;
      }
      iB = this.satS(iB);
      iA = this.satS(iA);
      iS = this.satS(iS);
      // §5.2 dendrites.
      let xB = 0;
      let xA = 0;
      if (g.vB) {
        let v = g.vB[j];
        v = this.satS(v - this.st(g.decayB * v) + iB);
        g.vB[j] = v;
        xB = v;
      }
      if (g.vA) {
        let v = g.vA[j];
        v = this.satS(v - this.st(g.decayA * v) + iA);
        g.vA[j] = v;
        xA = v;
      }
      // §8.3 / §5.3 noise.
      if (g.xi) {
        let incr: number;
        if (fx.prng) {
          const N = gauss(draw(tkN, 2 * j), draw(tkN, 2 * j + 1));
          incr = fx.rnd ? rh16(g.noiseGainQ * N * 2 ** -40) : (g.noiseS * N) / GAUSS_STD;
        } else {
          const N = boxMuller(draw(tkN, 2 * j), draw(tkN, 2 * j + 1));
          incr = fx.rnd ? rh16(g.noiseGainQ * GAUSS_STD * 2 ** -40 * N) : g.noiseS * N;
        }
        let xi = g.xi[j];
        xi = this.satS(xi - this.st(g.noiseDecay * xi) + incr);
        g.xi[j] = xi;
        if (g.noiseTarget === 'basal') xB = this.satS(xB + xi);
        else if (g.noiseTarget === 'apical') xA = this.satS(xA + xi);
        else iS += xi;
      }
      // §5.4 soma (binary neurons in refractoriness hold u and ŭ).
      const uj = g.u[j];
      let s = 0;
      const refractoryHold = g.output === 'binary' && g.ref[j] > 0;
      if (refractoryHold) g.ref[j]--;
      else {
        let S = g.kB * xB + g.kA * xA;
        let kT = g.kT;
        if (g.nudge === 'teacher') {
          S += g.kN * g.nudgeBuf![j];
          kT += g.kN;
        } else if (g.nudge === 'target' && g.targetValid) {
          S += g.kN * g.target![j];
          kT += g.kN;
        }
        S -= kT * uj;
        let D = (fx.rnd ? rh24(S) : S) + iS;
        if (fx.sat) D = D > DRIVE_MAX ? DRIVE_MAX : D < DRIVE_MIN ? DRIVE_MIN : D;
        const un = this.satS(uj + this.st(D));
        g.u[j] = un;
        g.prosp[j] = g.prospGain > 0 ? this.satS(uj + this.st(g.prospGain * D)) : un;
      }
      // §5.5 basal prediction.
      if (g.basalRate) g.basalRate[j] = phi ? phi(g.vB ? this.st(g.basalPred * g.vB[j]) : 0) : 0;
      // §6 fire.
      let r: number;
      switch (g.output) {
        case 'binary': {
          if (phi) g.rate[j] = phi(g.prosp[j]);
          if (!refractoryHold && g.u[j] >= g.threshold) {
            s = 1;
            g.u[j] = g.reset;
            g.prosp[j] = g.reset;
            g.ref[j] = g.refractory;
            g.evIdx[ne++] = j;
          }
          if (!phi) g.rate[j] = s ? 1 : 0;
          g.spike[j] = s;
          g.payload[j] = s;
          r = g.rate[j];
          break;
        }
        case 'stochastic': {
          r = phi!(g.prosp[j]);
          g.rate[j] = r;
          if (g.ref[j] > 0) g.ref[j]--;
          else {
            const d = draw(tkS, j);
            const q = fx.prng ? (d >>> 16) * INV16 : d / TWO32;
            if (q < r) {
              s = 1;
              g.ref[j] = g.refractory;
              g.evIdx[ne++] = j;
            }
          }
          g.spike[j] = s;
          g.payload[j] = s;
          break;
        }
        case 'graded': {
          r = phi!(g.prosp[j]);
          g.rate[j] = r;
          const p = this.payloadOf(g, r);
          g.payload[j] = p;
          s = p !== 0 ? 1 : 0;
          g.spike[j] = s;
          if (s) g.evIdx[ne++] = j;
          break;
        }
        default:
          r = phi ? phi(g.prosp[j]) : 0;
          g.rate[j] = r;
          g.spike[j] = 0;
          g.payload[j] = 0;
      }
    }
    g.evCount = ne;
  }

  /** §9 traces, after fire. */
  private traces(g: TGroup): void {
    if (g.tx1) this.trace(g, g.tx1, g.x1!.k, g.x1!.A);
    if (g.tx2) this.trace(g, g.tx2, g.x2!.k, g.x2!.A);
    if (g.hp) {
      const hp = g.hp;
      const ratePrev = g.ratePrev!;
      for (let j = 0; j < g.n; j++) {
        const r = g.rate[j];
        const h = hp[j];
        hp[j] = this.satS(h + (r - ratePrev[j]) - this.st(g.hpK * h));
        ratePrev[j] = r;
      }
    }
  }

  /** One x trace of a group: spike-driven (impulse A) for spiking groups, else a low-pass of the rate. */
  private trace(g: TGroup, arr: Float64Array, k: number, A: number): void {
    for (let j = 0; j < g.n; j++) {
      const x = arr[j];
      arr[j] = g.spiking ? this.satS(x - this.st(k * x) + (g.spike[j] ? A : 0)) : this.satS(x + this.st(k * this.satS(g.rate[j] - x)));
    }
  }

  /** §7: each event of tick t adds w·payload into the slot of tick t + delay. */
  private route(p: TProjection, t: number): void {
    const pre = p.pre;
    const ne = pre.evCount;
    if (ne === 0) return;
    const M = p.nPost;
    const N = p.nPre;
    const base = ((t + p.delay) % p.delay) * M;
    const ring = p.ring;
    const w = p.w;
    for (let e = 0; e < ne; e++) {
      const i = pre.evIdx[e];
      const x = pre.payload[i];
      if (p.kind === 'dense') for (let j = 0, k = i; j < M; j++, k += N) ring[base + j] += w[k] * x;
      else if (p.kind === 'sparse') for (let k = p.rowPtr![i]; k < p.rowPtr![i + 1]; k++) ring[base + p.cols![k]] += w[k] * x;
      else ring[base + i] += w[i] * x;
    }
  }

  // ---------------------------------------------------------------------------------------------- reads

  private group(name: string): TGroup {
    const g = this.groupByName.get(name);
    if (!g) throw new UsageError(`unknown group "${name}"`, `groups: ${[...this.groupByName.keys()].join(', ')}`);
    return g;
  }

  private projection(name: string): TProjection {
    const p = this.projectionByName.get(name);
    if (!p) throw new UsageError(`unknown projection "${name}"`, `projections: ${[...this.projectionByName.keys()].join(', ')}`);
    return p;
  }

  /** Copy of a neuron variable in real units (zeros where the group lacks it, as the chip's read does). */
  read(groupName: string, variable: TwinVariable | ProbeVariable): Float64Array {
    const g = this.group(groupName);
    const name: TwinVariable = typeof variable === 'number' ? probeName(variable) : variable;
    let src: ArrayLike<number> | null;
    switch (name) {
      case 'spikes':
        src = g.spike;
        break;
      case 'soma':
        src = g.isInput ? null : g.u;
        break;
      case 'prospective':
        src = g.isInput ? null : g.prosp;
        break;
      case 'rate':
        src = g.rate;
        break;
      case 'basal':
        src = g.vB;
        break;
      case 'apical':
        src = g.vA;
        break;
      case 'noise':
        src = g.xi;
        break;
      case 'payload':
        src = g.payload;
        break;
      case 'x1':
        src = g.tx1;
        break;
      case 'x2':
        src = g.tx2;
        break;
      case 'hp':
        src = g.hp;
        break;
      case 'basalRate':
        src = g.basalRate;
        break;
      case 'refractory':
        src = g.ref;
        break;
      default:
        throw new UsageError(`unknown variable "${String(variable)}"`);
    }
    return src ? Float64Array.from(src) : new Float64Array(g.n);
  }

  /**
   * Overwrites a projection's weights (real, storage order) and its accumulator: a host weight write, which the
   * chip's Device interface does not have (the backprop reference keeps B = Wᵀ with it on the twin).
   */
  setWeights(projection: string, values: ArrayLike<number>): void {
    const p = this.projection(projection);
    if (values.length !== p.w.length) throw new UsageError(`${projection}: ${values.length} weights given, the projection has ${p.w.length}`);
    p.w.set(values);
    p.acc?.set(values);
  }

  /** [postsynaptic size, presynaptic size] of a projection. */
  shape(projection: string): [rows: number, cols: number] {
    const p = this.projection(projection);
    return [p.nPost, p.nPre];
  }

  /** Forward weights in real units, in the chip's storage order (dense post-major W[j·nPre + i]). */
  weights(projection: string): Float64Array {
    return this.projection(projection).w.slice();
  }

  /** The plastic accumulator in real weight units (the weight before rounding to B bits); null if static. */
  accumulators(projection: string): Float64Array | null {
    return this.projection(projection).acc?.slice() ?? null;
  }

  /** Per-synapse tags (real, Q7.24 units / 2^24); null if the rule has none. */
  tags(projection: string): Float64Array | null {
    return this.projection(projection).tag?.slice() ?? null;
  }

  /** Per-synapse low-pass state of the weight updates; null without a low-pass. */
  lowpassState(projection: string): Float64Array | null {
    return this.projection(projection).lo?.slice() ?? null;
  }

  /** Events emitted by a group in the last tick (indices; a copy). */
  events(groupName: string): Int32Array {
    const g = this.group(groupName);
    return g.evIdx.slice(0, g.evCount);
  }

  /** Number of events a group emitted in the last tick (events(group).length without the copy). */
  eventCount(groupName: string): number {
    return this.group(groupName).evCount;
  }

  /** Weight exponent of a projection (NaN when the twin runs without a Program). */
  weightShift(projection: string): number {
    return this.projection(projection).shift;
  }
}

// ------------------------------------------------------------------------------------------------ helpers

function probeName(v: ProbeVariable): TwinVariable {
  switch (v) {
    case ProbeVariable.Spikes:
      return 'spikes';
    case ProbeVariable.Soma:
      return 'soma';
    case ProbeVariable.Prospective:
      return 'prospective';
    case ProbeVariable.Rate:
      return 'rate';
    case ProbeVariable.Basal:
      return 'basal';
    case ProbeVariable.Apical:
      return 'apical';
    case ProbeVariable.Noise:
      return 'noise';
    case ProbeVariable.Payload:
      return 'payload';
    default:
      throw new UsageError(`probe variable ${v} is not a neuron variable`, 'use weights(projection)');
  }
}

/** φ through a chip table (docs/chip.md §5.6) at a real input; the interpolation term rounded when `round`. */
function lutPhi(table: Lut, round: boolean): Phi {
  const v = table.values;
  const xMin = table.xMin;
  const step = 2 ** table.stepShift;
  const inv = 1 / step;
  return (x: number) => {
    const d = x * S16 - xMin;
    if (d <= 0) return v[0] * INV16;
    const k = Math.floor(d * inv);
    if (k >= LUT_SEGMENTS) return v[LUT_SEGMENTS] * INV16;
    const f = d - k * step;
    const v0 = v[k];
    if (f === 0) return v0 * INV16;
    const slope = (v[k + 1] - v0) * f * inv;
    return (v0 + (round ? Math.floor(slope + 0.5) : slope)) * INV16;
  };
}

function denseWeights(w: ProjectionSpec['weights'], nPre: number, nPost: number, name: string): Float64Array {
  if (Array.isArray(w) && Array.isArray(w[0])) {
    const rows = w as number[][];
    const out = new Float64Array(nPre * nPost);
    rows.forEach((r, j) => out.set(r, j * nPre));
    return out;
  }
  const flat = w as ArrayLike<number>;
  if (flat.length !== nPre * nPost) throw new UsageError(`projection "${name}": ${flat.length} weights, expected ${nPre * nPost} (post × pre)`);
  return Float64Array.from(flat);
}

function checkProgramMatches(net: Network, program: Program): void {
  const b = program.body;
  const ok =
    b.groups.length === net.populations.length &&
    b.projections.length === net.projections.length &&
    b.groups.every((g, i) => g.name === net.populations[i].name && g.size === net.populations[i].size) &&
    b.projections.every((p, i) => p.name === net.projections[i].name);
  if (!ok) throw new UsageError('the Program was not compiled from this Network', 'pass compileNetwork(network).program');
}

/**
 * The Network compiled (so the twin sees the same validation as the chip), or null for an ideal twin of a
 * network too large for the chip — effects need the chip's integers, so they rethrow.
 */
function compileOrNull(net: Network, needed: boolean): Program | null {
  try {
    return compileNetwork(net).program;
  } catch (e) {
    if (!needed && e instanceof ProgramFitError) return null;
    throw e;
  }
}

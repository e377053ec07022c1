/**
 * Network → Program: quantise real parameters to the chip formats, compile rules to microcode, place
 * populations on cores, check that everything fits, and seal the Program with its hash.
 *
 * Quantisation (docs/chip.md §2): state values x → round(x·2^16); per-tick coefficients k → round(k·2^20)
 * (0 ≤ k ≤ 1); prospective gain m → round(m·2^8); weights → round(w·2^shift) with the largest shift such that
 * the weight range fits B bits. Every rounding is to nearest; out-of-range values are errors, not clamps,
 * except weights beyond `weightRange`, which saturate and are reported as clipped.
 */
import {
  CHIP_CORES,
  CHIP_REVISION,
  APX_FORMAT_VERSION,
  COEF_MAX,
  CORE_MAX_NEURONS,
  CORE_RING_WORDS,
  CORE_SYNAPSE_BYTES,
  GAUSS_STD,
  PROSP_MAX,
  MAX_UPDATE_SHIFT,
  RULE_FRAC_BITS,
  WEIGHT_SHIFT_MAX,
} from '../emulator/constants.js';
import { bytesPerSynapse, checkFit, type CoreUsage } from '../emulator/capacity.js';
import { ProgramFitError } from '../emulator/errors.js';
import { lutFromFunction } from '../emulator/lut.js';
import { TERMS } from '../emulator/microcode.js';
import {
  Compartment,
  GroupKind,
  NoiseTarget,
  NudgeSource,
  OutputMode,
  PortKind,
  ProbeVariable,
  ProjectionKind,
  Rounding,
  TRACE_HP,
  TRACE_X1,
  TRACE_X2,
  type Group,
  type InputPort,
  type Lut,
  type Probe,
  type Program,
  type Projection,
  type Slice,
} from '../emulator/program.js';
import { finalizeProgram } from '../emulator/programCodec.js';
import { compileRule } from './ruleLanguage.js';
import { NetworkError, type Activation, type Network, type PopulationSpec, type ProjectionSpec, type SparseWeights } from './network.js';

export interface QuantisationReport {
  projection: string;
  weightBits: number;
  weightShift: number;
  /** Real value of one weight LSB. */
  scale: number;
  clipFraction: number;
  /** Signal-to-quantisation-noise ratio of the weights in dB. */
  sqnrDb: number;
}

export interface CompileResult {
  program: Program;
  quantisation: QuantisationReport[];
  usage: CoreUsage[];
}

/** A real value in the STATE format; values outside its range (±32768) are errors, never clamps. */
function toState(x: number, what = 'value'): number {
  const q = Math.round(x * 65536);
  if (!Number.isFinite(x) || q > 2147483647 || q < -2147483648) throw new NetworkError(`${what} = ${x} outside the state range ±32768`);
  return q;
}

function intIn(x: number, lo: number, hi: number, what: string): number {
  if (!Number.isInteger(x) || x < lo || x > hi) throw new NetworkError(`${what} = ${x} must be an integer in ${lo}..${hi}`);
  return x;
}

function toCoef(k: number, what: string): number {
  if (!Number.isFinite(k) || k < 0 || k > COEF_MAX / 2 ** 20) throw new NetworkError(`${what} = ${k} outside [0, 1] per tick`);
  return Math.round(k * 2 ** 20);
}

/** Named activations: φ and the range of its 257-knot table (knot spacing 2^stepLog2 STATE units). */
export const ACTIVATIONS: Record<string, { fn: (x: number) => number; xMin: number; stepLog2: number }> = {
  sigmoid: { fn: (x) => 1 / (1 + Math.exp(-x)), xMin: -8, stepLog2: 12 },
  tanh: { fn: Math.tanh, xMin: -4, stepLog2: 11 },
  softplus: { fn: (x) => (x > 30 ? x : Math.log1p(Math.exp(x))), xMin: -8, stepLog2: 12 },
  relu: { fn: (x) => Math.max(0, x), xMin: -2, stepLog2: 12 },
  linear: { fn: (x) => x, xMin: -8, stepLog2: 12 },
};

function buildLut(a: Activation): Lut {
  const spec = typeof a === 'string' ? { name: a, ...ACTIVATIONS[a] } : a;
  if (!spec.fn) throw new NetworkError(`unknown activation "${String(a)}"`, `use ${Object.keys(ACTIVATIONS).join(', ')} or a custom table`);
  return lutFromFunction(spec.name, spec.fn, spec.xMin, spec.stepLog2);
}

/** Dense weights as a post-major Float64Array: W[j][i], j postsynaptic (v_B = W·r). */
function denseWeights(w: ProjectionSpec['weights'], nPre: number, nPost: number, name: string): Float64Array {
  if (Array.isArray(w) && Array.isArray(w[0])) {
    const rows = w as number[][];
    if (rows.length !== nPost || rows.some((r) => r.length !== nPre)) throw new NetworkError(`projection "${name}": weights must be ${nPost}×${nPre} (post × pre)`);
    const out = new Float64Array(nPre * nPost);
    rows.forEach((r, j) => out.set(r, j * nPre));
    return out;
  }
  const flat = w as ArrayLike<number>;
  if (flat.length !== nPre * nPost) throw new NetworkError(`projection "${name}": ${flat.length} weights, expected ${nPre * nPost} (post × pre)`);
  return Float64Array.from(flat);
}

export interface QuantisedWeights {
  ints: Int8Array | Int16Array;
  shift: number;
  report: QuantisationReport;
}

/** Quantises real weights to B bits with the largest exponent that represents `range`. */
export function quantiseWeights(name: string, values: ArrayLike<number>, bits: 8 | 16, range?: number): QuantisedWeights {
  let maxAbs = 0;
  for (let k = 0; k < values.length; k++) maxAbs = Math.max(maxAbs, Math.abs(values[k]));
  const r = range ?? Math.max(maxAbs, 2 ** -8);
  if (!(r > 0) || !Number.isFinite(r)) throw new NetworkError(`projection "${name}": weight range ${r} must be positive`);
  const top = 2 ** (bits - 1) - 1;
  let shift = Math.floor(Math.log2(top / r));
  shift = Math.max(0, Math.min(WEIGHT_SHIFT_MAX, shift));
  const ints = bits === 8 ? new Int8Array(values.length) : new Int16Array(values.length);
  let clipped = 0;
  let sig = 0;
  let err = 0;
  const scale = 2 ** shift;
  for (let k = 0; k < values.length; k++) {
    let q = Math.round(values[k] * scale);
    if (q > top || q < -top - 1) {
      clipped++;
      q = Math.max(-top - 1, Math.min(top, q));
    }
    ints[k] = q;
    sig += values[k] * values[k];
    const e = q / scale - values[k];
    err += e * e;
  }
  const sqnrDb = err === 0 ? Infinity : 10 * Math.log10(sig / err);
  return {
    ints,
    shift,
    report: { projection: name, weightBits: bits, weightShift: shift, scale: 2 ** -shift, clipFraction: values.length ? clipped / values.length : 0, sqnrDb },
  };
}

const COMPARTMENTS: Record<string, Compartment> = { basal: Compartment.Basal, apical: Compartment.Apical, soma: Compartment.Soma };
const OUTPUTS: Record<string, OutputMode> = { none: OutputMode.None, binary: OutputMode.Binary, stochastic: OutputMode.Stochastic, graded: OutputMode.Graded };
const NOISE_TARGETS: Record<string, NoiseTarget> = { basal: NoiseTarget.Basal, apical: NoiseTarget.Apical, soma: NoiseTarget.Soma };
const PROBE_VARS: Record<string, ProbeVariable> = {
  spikes: ProbeVariable.Spikes,
  soma: ProbeVariable.Soma,
  prospective: ProbeVariable.Prospective,
  rate: ProbeVariable.Rate,
  basal: ProbeVariable.Basal,
  apical: ProbeVariable.Apical,
  noise: ProbeVariable.Noise,
  payload: ProbeVariable.Payload,
  weights: ProbeVariable.Weights,
};

export function compileNetwork(net: Network): CompileResult {
  const popIndex = new Map(net.populations.map((p, i) => [p.name, i]));
  const luts: Lut[] = [];
  const lutKey = new Map<string, number>();
  const lutFor = (a: Activation | undefined): number => {
    if (a === undefined) return -1;
    const key = typeof a === 'string' ? a : `${a.name}:${a.xMin}:${a.stepLog2}`;
    if (!lutKey.has(key)) {
      lutKey.set(key, luts.length);
      luts.push(buildLut(a));
    }
    return lutKey.get(key)!;
  };

  const sizes = net.populations.map((p) => p.size);
  const groups: Group[] = net.populations.map((p) => buildGroup(p, popIndex, sizes, lutFor));
  // Projections.
  const quantisation: QuantisationReport[] = [];
  const projections: Projection[] = net.projections.map((s) => {
    const { projection, report } = buildProjection(s, net, popIndex, groups);
    quantisation.push(report);
    return projection;
  });
  // Groups whose rules read post.basal_rate need a LUT; graded/stochastic groups need one too.
  for (const g of groups) {
    if ((g.output === OutputMode.Graded || g.output === OutputMode.Stochastic) && g.kind === GroupKind.Neuron && g.lut < 0) {
      throw new NetworkError(`population "${g.name}": ${OutputMode[g.output].toLowerCase()} output needs an activation`, 'set activation: "sigmoid" (or relu, softplus, linear, tanh)');
    }
  }
  // Ports.
  const inputs: InputPort[] = [];
  groups.forEach((g, i) => {
    if (g.kind === GroupKind.Input) inputs.push({ name: g.name, kind: g.output === OutputMode.Graded ? PortKind.Rate : PortKind.Spikes, group: i });
    if (g.nudge === NudgeSource.Target) inputs.push({ name: `${g.name}.target`, kind: PortKind.Target, group: i });
  });
  const usesReward = projections.some((p) => p.plasticity?.statements.some((s) => Array.from(s.code).some((w) => (w & 0xff) === 1 && w >> 8 === TERMS.reward)));
  if (usesReward) inputs.push({ name: 'reward', kind: PortKind.Reward, group: -1 });
  // Probes.
  const probeNames = new Set<string>();
  const probes: Probe[] = net.probes.map((pr) => {
    if (probeNames.has(pr.name)) throw new NetworkError(`duplicate probe name "${pr.name}"`);
    probeNames.add(pr.name);
    intIn(pr.every ?? 1, 1, 2 ** 31 - 1, `probe "${pr.name}": every`);
    const variable = PROBE_VARS[pr.variable];
    if (variable === undefined) throw new NetworkError(`probe "${pr.name}": unknown variable "${pr.variable}"`);
    if (variable === ProbeVariable.Weights) {
      const pi = net.projections.findIndex((p) => p.name === pr.of);
      if (pi < 0) throw new NetworkError(`probe "${pr.name}": unknown projection "${pr.of}"`);
      return { name: pr.name, variable, group: -1, projection: pi, every: pr.every ?? 1 };
    }
    const gi = popIndex.get(pr.of);
    if (gi === undefined) throw new NetworkError(`probe "${pr.name}": unknown population "${pr.of}"`);
    return { name: pr.name, variable, group: gi, projection: -1, every: pr.every ?? 1 };
  });

  place(net, groups, projections);
  const program: Program = finalizeProgram({
    formatVersion: APX_FORMAT_VERSION,
    chipRevision: CHIP_REVISION,
    seed: (net.options.seed ?? 1) >>> 0,
    hash: '',
    body: {
      name: net.name,
      tickSeconds: net.options.tickSeconds ?? 1e-3,
      luts,
      groups,
      projections,
      inputs,
      probes,
      metadata: { ...net.metadata },
    },
  });
  const usage = checkFit(program);
  return { program, quantisation, usage };
}

function buildGroup(p: PopulationSpec, popIndex: Map<string, number>, teacherSizes: number[], lutFor: (a: Activation | undefined) => number): Group {
  const name = `population "${p.name}"`;
  const output = OUTPUTS[p.output ?? 'graded'];
  if (output === undefined) throw new NetworkError(`${name}: unknown output "${p.output}"`, 'use none, binary, stochastic or graded');
  const hasBasal = !p.isInput && p.basal !== false && p.basal !== undefined;
  const hasApical = !p.isInput && p.apical !== false && p.apical !== undefined;
  const decayOf = (c: PopulationSpec['basal']) => (typeof c === 'object' && c.decay !== undefined ? c.decay : 1);
  const soma = p.soma ?? {};
  let traces = 0;
  if (p.traces?.x1) traces |= TRACE_X1;
  if (p.traces?.x2) traces |= TRACE_X2;
  if (p.traces?.hp) traces |= TRACE_HP;
  const tauCoef = (tau: number | undefined, what: string) => {
    if (tau === undefined) return 0;
    if (!(tau >= 0.5)) throw new NetworkError(`${name}: ${what} time constant ${tau} must be ≥ 0.5 ticks`);
    return toCoef(1 / tau, `${name}: ${what} decay`);
  };
  let nudge = NudgeSource.None;
  let teacher = -1;
  let teacherProspective = false;
  if (p.nudge && 'teacher' in p.nudge) {
    nudge = NudgeSource.Teacher;
    const t = popIndex.get(p.nudge.teacher);
    if (t === undefined) throw new NetworkError(`${name}: unknown teacher population "${p.nudge.teacher}"`);
    teacher = t;
    teacherProspective = !!p.nudge.prospective;
    if (teacherSizes[t] !== p.size) throw new NetworkError(`${name}: teacher "${p.nudge.teacher}" has ${teacherSizes[t]} neurons, this population ${p.size} (one-to-one)`);
  } else if (p.nudge && 'target' in p.nudge) nudge = NudgeSource.Target;
  let noiseTarget = NoiseTarget.None;
  let noiseDecay = 0;
  let noiseGain = 0;
  if (p.noise) {
    noiseTarget = NOISE_TARGETS[p.noise.target];
    if (noiseTarget === undefined) throw new NetworkError(`${name}: unknown noise target "${p.noise.target}"`);
    const tau = p.noise.tau;
    if (!(tau >= 1)) throw new NetworkError(`${name}: noise time constant ${tau} must be ≥ 1 tick`);
    noiseDecay = toCoef(1 / tau, `${name}: noise decay`);
    // AR(1) ξ ← (1 − 1/τ)ξ + s·N has stationary variance s² / (2/τ − 1/τ²).
    const sReal = p.noise.sigma * Math.sqrt(2 / tau - 1 / (tau * tau));
    noiseGain = Math.round((sReal * 65536 * 2 ** 24) / GAUSS_STD);
    if (noiseGain > 2147483647) throw new NetworkError(`${name}: noise sigma ${p.noise.sigma} too large`);
  }
  const init = p.init ? Int32Array.from(Array.from(p.init, (x) => toState(x, `${name}: init`))) : new Int32Array(0);
  if (init.length && init.length !== p.size) throw new NetworkError(`${name}: init has ${init.length} values, expected ${p.size}`);
  const prospective = p.prospective ?? 0;
  if (!(prospective >= 0) || Math.round(prospective * 256) > PROSP_MAX) throw new NetworkError(`${name}: prospective gain ${prospective} outside [0, 4096]`);
  const kTotal = toCoef(soma.kTotal ?? 0, `${name}: soma.kTotal`);
  const kNudge = toCoef(soma.kNudge ?? 0, `${name}: soma.kNudge`);
  if (kTotal + kNudge > COEF_MAX) throw new NetworkError(`${name}: soma.kTotal + soma.kNudge exceeds 1 per tick`);
  return {
    name: p.name,
    size: p.size,
    kind: p.isInput ? GroupKind.Input : GroupKind.Neuron,
    output,
    slices: [],
    hasBasal,
    hasApical,
    basalDecay: hasBasal ? toCoef(decayOf(p.basal), `${name}: basal decay`) : 0,
    apicalDecay: hasApical ? toCoef(decayOf(p.apical), `${name}: apical decay`) : 0,
    kBasal: toCoef(soma.kBasal ?? 0, `${name}: soma.kBasal`),
    kApical: toCoef(soma.kApical ?? 0, `${name}: soma.kApical`),
    kNudge,
    kTotal,
    nudge,
    teacher,
    teacherProspective,
    prospectiveGain: Math.round(prospective * 256),
    basalPredGain: toCoef(p.basalPrediction ?? 0, `${name}: basalPrediction`),
    lut: lutFor(p.activation),
    threshold: toState(p.threshold ?? 1, `${name}: threshold`),
    reset: toState(p.reset ?? 0, `${name}: reset`),
    refractory: intIn(p.refractory ?? 0, 0, 65535, `${name}: refractory`),
    payloadShift: intIn(p.payloadShift ?? 4, 0, 16, `${name}: payloadShift`),
    noiseTarget,
    noiseDecay,
    noiseGain,
    traces,
    x1Decay: tauCoef(p.traces?.x1?.tau, 'x1'),
    x1Impulse: toState(p.traces?.x1?.impulse ?? 1, `${name}: x1 impulse`),
    x2Decay: tauCoef(p.traces?.x2?.tau, 'x2'),
    x2Impulse: toState(p.traces?.x2?.impulse ?? 1, `${name}: x2 impulse`),
    hpDecay: tauCoef(p.traces?.hp?.tau, 'hp'),
    initSoma: init,
    valueScale: p.valueScale ?? 1,
  };
}

function buildProjection(s: ProjectionSpec, net: Network, popIndex: Map<string, number>, groups: Group[]): { projection: Projection; report: QuantisationReport } {
  const name = `projection "${s.name}"`;
  const pre = popIndex.get(s.pre)!;
  const post = popIndex.get(s.post)!;
  const nPre = groups[pre].size;
  const nPost = groups[post].size;
  if (groups[post].kind === GroupKind.Input) throw new NetworkError(`${name}: cannot target input population "${s.post}"`);
  const target = COMPARTMENTS[s.target ?? 'basal'];
  if (target === undefined) throw new NetworkError(`${name}: unknown target compartment "${s.target}"`);
  if (target === Compartment.Basal && !groups[post].hasBasal) throw new NetworkError(`${name}: population "${s.post}" has no basal compartment`, 'add basal: true to the population');
  if (target === Compartment.Apical && !groups[post].hasApical) throw new NetworkError(`${name}: population "${s.post}" has no apical compartment`, 'add apical: true to the population');
  const bits = s.weightBits ?? 16;
  if (bits !== 8 && bits !== 16) throw new NetworkError(`${name}: weightBits ${bits} must be 8 or 16`);
  const kindName = s.kind ?? 'dense';
  let kind: ProjectionKind;
  let values: Float64Array;
  let rowPtr: Uint32Array | null = null;
  let cols: Uint16Array | null = null;
  if (kindName === 'dense') {
    kind = ProjectionKind.Dense;
    values = denseWeights(s.weights, nPre, nPost, s.name);
  } else if (kindName === 'oneToOne') {
    kind = ProjectionKind.OneToOne;
    if (nPre !== nPost) throw new NetworkError(`${name}: one-to-one needs equal sizes (${nPre} vs ${nPost})`);
    values = Float64Array.from(s.weights as ArrayLike<number>);
    if (values.length !== nPre) throw new NetworkError(`${name}: ${values.length} weights, expected ${nPre}`);
  } else if (kindName === 'sparse') {
    kind = ProjectionKind.Sparse;
    const sw = s.weights as SparseWeights;
    const n = sw.values.length;
    if (sw.pre.length !== n || sw.post.length !== n) throw new NetworkError(`${name}: sparse pre/post/values lengths differ`);
    // CSR by presynaptic neuron, stable within a row.
    const order = Array.from({ length: n }, (_, k) => k);
    for (let k = 0; k < n; k++) {
      if (!(sw.pre[k] >= 0 && sw.pre[k] < nPre) || !(sw.post[k] >= 0 && sw.post[k] < nPost)) throw new NetworkError(`${name}: synapse ${k} index out of range`);
    }
    order.sort((a, b) => sw.pre[a] - sw.pre[b] || a - b);
    rowPtr = new Uint32Array(nPre + 1);
    cols = new Uint16Array(n);
    values = new Float64Array(n);
    order.forEach((k, q) => {
      rowPtr![sw.pre[k] + 1]++;
      cols![q] = sw.post[k];
      values[q] = sw.values[k];
    });
    for (let i = 0; i < nPre; i++) rowPtr[i + 1] += rowPtr[i];
  } else throw new NetworkError(`${name}: unknown kind "${kindName}"`, 'use dense, sparse or oneToOne');
  const q = quantiseWeights(s.name, values, bits, s.weightRange);
  const delay = s.delay ?? 1;
  if (!Number.isInteger(delay) || delay < 1 || delay > 64) throw new NetworkError(`${name}: delay ${delay} outside 1..64 ticks`);
  let plasticity: Projection['plasticity'] = null;
  if (s.plasticity) {
    let compiled;
    try {
      compiled = compileRule(s.plasticity.rule);
    } catch (e) {
      if (e instanceof Error) e.message = `${name}: ${e.message}`;
      throw e;
    }
    const fracBits = s.plasticity.fracBits ?? Math.max(0, Math.min(31 - bits, RULE_FRAC_BITS - q.shift));
    if (fracBits < 0 || fracBits + bits > 31) throw new NetworkError(`${name}: fracBits ${fracBits} outside 0..${31 - bits}`);
    const tau = s.plasticity.lowpassTau;
    if (tau !== undefined && !(tau >= 1)) throw new NetworkError(`${name}: lowpassTau ${tau} must be ≥ 1 tick`);
    const updateShift = s.plasticity.updateShift ?? 0;
    if (!Number.isInteger(updateShift) || updateShift < 0 || updateShift > MAX_UPDATE_SHIFT) {
      throw new NetworkError(`${name}: updateShift ${updateShift} outside 0..${MAX_UPDATE_SHIFT}`);
    }
    if (RULE_FRAC_BITS - q.shift - fracBits + updateShift > 31) {
      throw new NetworkError(`${name}: updateShift ${updateShift} with weightShift ${q.shift} and fracBits ${fracBits} shifts updates by more than 31 bits`, 'raise fracBits or lower updateShift');
    }
    plasticity = {
      source: s.plasticity.rule,
      statements: compiled.statements,
      fracBits,
      rounding: (s.plasticity.rounding ?? 'stochastic') === 'stochastic' ? Rounding.Stochastic : Rounding.Nearest,
      lowpass: tau === undefined ? 0 : toCoef(1 / tau, `${name}: low-pass`),
      tag: compiled.usesTag,
      updateShift,
    };
  }
  void net;
  return {
    projection: { name: s.name, pre, post, kind, target, weightBits: bits, weightShift: q.shift, delay, weights: q.ints, rowPtr, cols, plasticity },
    report: q.report,
  };
}

/**
 * Placement: pinned populations first, whole, on their core; then the others in definition order, filling
 * cores in order and splitting a population into contiguous slices where a core runs out of neurons,
 * synapse memory or ring words. Synapses live on the core of their postsynaptic neuron.
 */
function place(net: Network, groups: Group[], projections: Projection[]): void {
  const used = Array.from({ length: CHIP_CORES }, () => ({ neurons: 0, bytes: 0, ring: 0 }));
  // Cost of each neuron of each group: incoming synapse bytes and ring words.
  const cost = groups.map((g) => ({ bytes: new Float64Array(g.size), ring: 0 }));
  for (const p of projections) {
    const c = cost[p.post];
    const bps = bytesPerSynapse(p);
    if (p.kind === ProjectionKind.Dense) for (let j = 0; j < c.bytes.length; j++) c.bytes[j] += groups[p.pre].size * bps;
    else if (p.kind === ProjectionKind.OneToOne) for (let j = 0; j < c.bytes.length; j++) c.bytes[j] += bps;
    else for (const j of p.cols!) c.bytes[j] += bps;
    c.ring += p.delay;
  }
  const pinned = net.populations.map((p) => p.core);
  groups.forEach((g, gi) => {
    const core = pinned[gi];
    if (core === undefined) return;
    if (!Number.isInteger(core) || core < 0 || core >= CHIP_CORES) throw new NetworkError(`population "${g.name}": core ${core} outside 0..${CHIP_CORES - 1}`);
    g.slices = [{ core, start: 0, count: g.size }];
    used[core].neurons += g.size;
    for (let j = 0; j < g.size; j++) used[core].bytes += cost[gi].bytes[j];
    used[core].ring += g.size * cost[gi].ring;
  });
  let cur = 0;
  groups.forEach((g, gi) => {
    if (pinned[gi] !== undefined) return;
    const slices: Slice[] = [];
    let j = 0;
    while (j < g.size) {
      if (cur >= CHIP_CORES) {
        const needBytes = cost.reduce((a, c) => a + c.bytes.reduce((x, y) => x + y, 0), 0);
        const neurons = groups.reduce((a, x) => a + x.size, 0);
        throw new ProgramFitError(
          `network does not fit on ${CHIP_CORES} cores: ${neurons} neurons (capacity ${CHIP_CORES * CORE_MAX_NEURONS}), ${(needBytes / 2 ** 20).toFixed(1)} MiB of synapses (capacity ${(CHIP_CORES * CORE_SYNAPSE_BYTES) / 2 ** 20} MiB); population "${g.name}" is the first that does not fit`,
          'use 8-bit or sparse weights, or a smaller network',
        );
      }
      const u = used[cur];
      const start = j;
      while (
        j < g.size &&
        u.neurons < CORE_MAX_NEURONS &&
        u.bytes + cost[gi].bytes[j] <= CORE_SYNAPSE_BYTES &&
        u.ring + cost[gi].ring <= CORE_RING_WORDS
      ) {
        u.neurons++;
        u.bytes += cost[gi].bytes[j];
        u.ring += cost[gi].ring;
        j++;
      }
      if (j > start) slices.push({ core: cur, start, count: j - start });
      if (j < g.size) {
        if (u.neurons === 0) {
          throw new ProgramFitError(
            `population "${g.name}" neuron ${j} needs ${(cost[gi].bytes[j] / 2 ** 20).toFixed(2)} MiB of synapse memory, more than one core (${CORE_SYNAPSE_BYTES / 2 ** 20} MiB)`,
            'use 8-bit or sparse weights',
          );
        }
        cur++;
      }
    }
    g.slices = slices;
  });
}

/**
 * Spike-based Alignment Learning (SAL) of the feedback weights of a layered network of stochastic spiking
 * neurons, on the chip (../shared/design/circuits.md §5; docs/circuits.md "SAL microcircuit" gives the mapping
 * and the measurements). The alignment task of the PAL experiments (§4.4 Fig3abc bw_only): layers 5-20-10-20-5,
 * forward weights frozen, only the feedback weights learn; the metric is ∠(B_k, W_{k+1}ᵀ) per hidden layer (§7.1).
 *
 *   in (graded, x ∈ U[0,1]^5 held for a presentation) ──W_1──▶ pyr1.soma         (a constant current W_1·x)
 *   pyr_{k−1} ──W_k (basal, static)──▶ pyr_k                                     k = 2..N
 *   pyr_{k+1} ──B_k (apical, SAL)──▶ pyr_k                                       k = 1..N−1
 *
 * Neurons (every layer 1..N):  u = v_B + v_A + I_S                   (soma kBasal = kApical = kTotal = 1: λ_api = 1)
 *                              p = σ(u + b − ln τ_ref) per tick       (LUT; spike iff 16-bit draw < p, chip §6.2)
 *                              absolute refractoriness τ_ref ticks    (stochastic output: GLM neuron, no reset)
 * PSP κ (rectangular, the reference's kernel, default): a non-leaky dendrite (decay 0) fed by the weight w and
 * by a copy of weight −w delayed by τ_syn more ticks, so a spike adds w for exactly τ_syn = τ_ref ticks
 * (sal.ts). 'exponential': leaky dendrite, decay 1/τ_syn.
 * Traces x1: τ = τ_ref, impulse 1. SAL on B_k (pre = j ∈ layer k+1, post = i ∈ layer k):
 *   on post: dw = −η·[reward]·pre.x1        on pre: dw = +η·[reward]·post.x1
 * The factor `reward` (the chip's global third factor, held by the host) appears only with the
 * 'symmetrisation' schedule: the host sets it to 1 in the dedicated symmetrisation patterns (the last 5 of
 * every 20) and to 0 otherwise, which switches SAL on and off per pattern (§5.3).
 */
import type { Device, StimulusEvent } from '../../devices/device.js';
import { UsageError } from '../../emulator/errors.js';
import type { Program } from '../../emulator/program.js';
import { compileNetwork } from '../compiler.js';
import { NetworkError, Network, type Activation } from '../network.js';
import { SeededRandom } from '../seededRandom.js';
import { FloatTwin } from '../twin/floatTwin.js';
import { alignmentDataset, epochOrder, readMatrix, type AlignmentRecord } from './alignment.js';
import { frobeniusAngle, frobeniusNorm, matrix, transpose, type Matrix } from './metrics.js';
import { ruleConstant } from './microcircuit.js';

const ONE = 65536;

export type SalSchedule = 'always' | 'symmetrisation';

export interface SalMicrocircuitConfig {
  /** Layer sizes, input first. Default [5, 20, 10, 20, 5]. */
  layers?: number[];
  /** Range of the frozen forward weights W_k (uniform). Default [−1, 1]. */
  forwardRange?: [number, number];
  /** Range of the initial feedback weights B_k (uniform). Default [−1, 1]. */
  feedbackRange?: [number, number];
  /** Explicit initial weights (override the random draws): forward W_1..W_N (N_k × N_{k−1}), backward B_1..B_{N−1}. */
  weights?: { forward?: Matrix[]; backward?: Matrix[] };
  /** Common bias b of every neuron (folded into the LUT: p = σ(u + b − ln τ_ref)). Default 0. */
  bias?: number;
  /** Absolute refractory period in ticks (= trace τ = PSP length τ_syn). Default 10 (the reference microcircuit). */
  tauRef?: number;
  /** 'rectangular' (default, the reference kernel) or 'exponential' (leaky dendrite; B = Wᵀ only locally stable, sal.ts). */
  psp?: 'rectangular' | 'exponential';
  /** SAL learning rate per pair event. Default 3e-3 (the measured figures in docs/circuits.md; 6e-3 with the schedule). */
  eta?: number;
  /** 'always' (default): SAL always on; 'symmetrisation': SAL gated by the reward port (the host's schedule). */
  schedule?: SalSchedule;
  /** Largest |w| every projection must represent (16-bit weights). Default 4. */
  weightRange?: number;
  /** Ticks per presentation (input pattern). Default 200 (20 τ_ref). */
  ticksPerPresentation?: number;
  /** Seconds per tick (metadata; 1 ms by default, so τ_ref = 10 ms). */
  tickSeconds?: number;
  /** Seed of the host RNG drawing the initial weights. Default 1. */
  weightSeed?: number;
  /** Program seed (chip PRNG: spike draws, stochastic rounding). Default 1. */
  chipSeed?: number;
}

export interface SalMicrocircuitLayout {
  sizes: number[];
  /** The graded input port. */
  input: string;
  /** Neuron populations of layers 1..N (the last is the output). */
  pyramids: string[];
  /** Projection names W_1..W_N and B_1..B_{N−1} (the rectangular PSP's −w copies are `${name}_off`). */
  forward: string[];
  backward: string[];
  psp: 'rectangular' | 'exponential';
  schedule: SalSchedule;
  tauRef: number;
  eta: number;
  bias: number;
  ticksPerPresentation: number;
  tickSeconds: number;
  /** Initial real-valued weights as given to the builder. */
  initial: { forward: Matrix[]; backward: Matrix[] };
  /** Rule text per plastic projection. */
  rules: Record<string, string>;
}

/** φ(x) = σ(x + b − ln τ_ref) on [−8, 8) (knots every 2^-4). */
export function salNetworkActivation(tauRef: number, bias: number): Activation {
  const shift = Math.log(tauRef) - bias;
  return { name: `sal-logistic-ref${tauRef}-b${bias}`, fn: (x: number) => 1 / (1 + Math.exp(-(x - shift))), xMin: -8, stepLog2: 12 };
}

/** The SAL rule text; `gated` multiplies both statements by the reward port (the symmetrisation schedule). */
export function salGatedRule(eta: number, sign: 1 | -1, gated: boolean): string {
  const c = ruleConstant(eta);
  const g = gated ? ' * reward' : '';
  const [a, b] = sign === 1 ? ['-', ''] : ['', '-'];
  return `on post: dw = ${a}${c}${g} * pre.x1\non pre: dw = ${b}${c}${g} * post.x1`;
}

function uniformMatrix(rng: SeededRandom, rows: number, cols: number, [lo, hi]: [number, number]): Matrix {
  const m = matrix(rows, cols);
  for (let k = 0; k < m.data.length; k++) m.data[k] = rng.uniform(lo, hi);
  return m;
}

export function buildSalMicrocircuit(config: SalMicrocircuitConfig = {}): { network: Network; layout: SalMicrocircuitLayout } {
  const sizes = config.layers ?? [5, 20, 10, 20, 5];
  if (sizes.length < 3 || sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new NetworkError(`layers ${JSON.stringify(sizes)}: need ≥ 3 positive integer sizes`);
  const N = sizes.length - 1;
  const tauRef = config.tauRef ?? 10;
  if (!Number.isInteger(tauRef) || tauRef < 1 || tauRef > 63) throw new NetworkError(`tauRef ${tauRef} must be an integer in 1..63 (ticks)`);
  const psp = config.psp ?? 'rectangular';
  if (psp !== 'rectangular' && psp !== 'exponential') throw new NetworkError(`unknown psp "${String(psp)}"`, 'use rectangular or exponential');
  const schedule = config.schedule ?? 'always';
  if (schedule !== 'always' && schedule !== 'symmetrisation') throw new NetworkError(`unknown schedule "${String(schedule)}"`, 'use always or symmetrisation');
  const eta = config.eta ?? 3e-3;
  if (!(eta >= 0)) throw new NetworkError(`eta ${eta} must be ≥ 0`);
  const bias = config.bias ?? 0;
  const range = config.weightRange ?? 4;
  const T = config.ticksPerPresentation ?? 200;
  if (!Number.isInteger(T) || T < 1) throw new NetworkError(`ticksPerPresentation ${T} must be a positive integer`);
  const tickSeconds = config.tickSeconds ?? 1e-3;

  const rng = new SeededRandom(config.weightSeed ?? 1);
  const forward = Array.from({ length: N }, (_, k) => config.weights?.forward?.[k] ?? uniformMatrix(rng, sizes[k + 1], sizes[k], config.forwardRange ?? [-1, 1]));
  const backward = Array.from({ length: N - 1 }, (_, k) => config.weights?.backward?.[k] ?? uniformMatrix(rng, sizes[k + 1], sizes[k + 2], config.feedbackRange ?? [-1, 1]));
  forward.forEach((m, k) => {
    if (m.rows !== sizes[k + 1] || m.cols !== sizes[k]) throw new NetworkError(`W_${k + 1}: expected ${sizes[k + 1]}×${sizes[k]}, got ${m.rows}×${m.cols}`);
  });
  backward.forEach((m, k) => {
    if (m.rows !== sizes[k + 1] || m.cols !== sizes[k + 2]) throw new NetworkError(`B_${k + 1}: expected ${sizes[k + 1]}×${sizes[k + 2]}, got ${m.rows}×${m.cols}`);
  });

  const net = new Network(`sal-microcircuit-${sizes.join('-')}`, { seed: config.chipSeed ?? 1, tickSeconds });
  net.metadata.circuit = 'SAL alignment microcircuit (circuits.md §5)';
  const activation = salNetworkActivation(tauRef, bias);
  const decay = psp === 'exponential' ? 1 / tauRef : 0;
  const input = net.input('in', sizes[0], { payloadShift: 2 });
  const pyramids: string[] = [];
  for (let k = 1; k <= N; k++) {
    pyramids.push(
      net.population(k < N ? `pyr${k}` : 'out', sizes[k], {
        output: 'stochastic',
        activation,
        basal: k > 1 ? { decay } : false,
        apical: k < N ? { decay } : false,
        soma: { kBasal: k > 1 ? 1 : 0, kApical: k < N ? 1 : 0, kTotal: 1 },
        refractory: tauRef,
        traces: { x1: { tau: tauRef, impulse: 1 } },
      }),
    );
  }
  const rules: Record<string, string> = {};
  const rounding = psp === 'rectangular' ? ('nearest' as const) : ('stochastic' as const);
  const gated = schedule === 'symmetrisation';
  const spiking = (name: string, pre: string, post: string, target: 'basal' | 'apical', w: Matrix, plastic: boolean) => {
    const plasticity = (n: string, sign: 1 | -1) => {
      if (!plastic) return undefined;
      rules[n] = salGatedRule(eta, sign, gated);
      return { rule: rules[n], rounding };
    };
    net.project(name, pre, post, { target, weights: w.data, weightBits: 16, weightRange: range, plasticity: plasticity(name, 1) });
    if (psp === 'rectangular') {
      const neg = Array.from(w.data, (x) => -x);
      net.project(`${name}_off`, pre, post, { target, weights: neg, weightBits: 16, weightRange: range, delay: 1 + tauRef, plasticity: plasticity(`${name}_off`, -1) });
    }
    return name;
  };
  const forwardNames: string[] = [net.project('W1', input, pyramids[0], { target: 'soma', weights: forward[0].data, weightBits: 16, weightRange: range })];
  for (let k = 2; k <= N; k++) forwardNames.push(spiking(`W${k}`, pyramids[k - 2], pyramids[k - 1], 'basal', forward[k - 1], false));
  const backwardNames: string[] = [];
  for (let k = 1; k < N; k++) backwardNames.push(spiking(`B${k}`, pyramids[k], pyramids[k - 1], 'apical', backward[k - 1], true));
  return {
    network: net,
    layout: {
      sizes,
      input,
      pyramids,
      forward: forwardNames,
      backward: backwardNames,
      psp,
      schedule,
      tauRef,
      eta,
      bias,
      ticksPerPresentation: T,
      tickSeconds,
      initial: { forward, backward },
      rules,
    },
  };
}

// ------------------------------------------------------------------------------------------------ driver

/** One record: the AlignmentRecord fields that apply to SAL (no apical/lateral metrics), plus firing rates. */
export interface SalAlignmentRecord extends Pick<AlignmentRecord, 'presentations' | 'ticks' | 'seconds' | 'angles' | 'backwardNorms'> {
  /** Mean spikes per neuron per tick of each layer 1..N over the chunk (null for the record before the first chunk). */
  rates: number[] | null;
}

export interface SalAlignmentOptions {
  /** Builder configuration (layers, PSP, η, schedule, seeds…). */
  config?: SalMicrocircuitConfig;
  /** Total number of presentations. */
  presentations: number;
  /** Record every this many presentations (and once before the first). */
  every: number;
  /** Dataset size (default 100). */
  samples?: number;
  /** Seed of the dataset and its per-epoch shuffles (default 7). */
  dataSeed?: number;
  /** Also run the float twin (effects 'none') on the same Network and stimulus. Default true. */
  twin?: boolean;
  /** Symmetrisation schedule: SAL on in the last `symmetrisationPatterns` of every `cyclePatterns`. Default 5 of 20. */
  cyclePatterns?: number;
  symmetrisationPatterns?: number;
  onRecord?: (r: SalAlignmentRecord, source: 'chip' | 'twin') => void;
}

export interface SalAlignmentResult {
  program: Program;
  layout: SalMicrocircuitLayout;
  records: SalAlignmentRecord[];
  /** The float twin's records at the same points (null without `twin`). */
  twinRecords: SalAlignmentRecord[] | null;
  /** First simulated time (s) at which each layer's angle was below 30° (null: never), chip and twin. */
  timeBelow30: (number | null)[];
  twinTimeBelow30: (number | null)[] | null;
  /** Emulator speed (ticks per wall-clock second) and wall times of the chip and twin runs. */
  ticksPerSecond: number;
  wallSeconds: number;
  twinWallSeconds: number | null;
}

/** The host's stimulus for presentations [from, from + n): input writes, and reward writes under the schedule. */
function stimulusPlan(opts: SalAlignmentOptions, layout: SalMicrocircuitLayout, hasReward: boolean) {
  const samples = opts.samples ?? 100;
  const seed = opts.dataSeed ?? 7;
  const data = alignmentDataset(layout.sizes[0], samples, seed);
  const rates = data.map((x) => x.map((v) => Math.round(v * ONE)));
  const cycle = opts.cyclePatterns ?? 20;
  const sym = opts.symmetrisationPatterns ?? 5;
  if (!Number.isInteger(cycle) || !Number.isInteger(sym) || sym < 0 || sym > cycle) throw new UsageError(`symmetrisation schedule ${sym} of ${cycle} patterns is invalid`, "use integers with 0 ≤ symmetrisationPatterns ≤ cyclePatterns");
  const orderOf = epochOrder(samples, seed);
  const T = layout.ticksPerPresentation;
  return (from: number, n: number): StimulusEvent[] => {
    const stimulus: StimulusEvent[] = [];
    for (let q = 0; q < n; q++) {
      const p = from + q;
      stimulus.push({ tick: q * T, port: layout.input, values: rates[orderOf(p)] });
      if (hasReward) stimulus.push({ tick: q * T, port: 'reward', values: [p % cycle >= cycle - sym ? ONE : 0] });
    }
    return stimulus;
  };
}

function anglesOf(forward: Matrix[], backward: Matrix[]) {
  return {
    angles: backward.map((B, k) => frobeniusAngle(B, transpose(forward[k + 1]))),
    backwardNorms: backward.map((B) => frobeniusNorm(B)),
  };
}

function firstBelow(records: SalAlignmentRecord[], layers: number, limit: number): (number | null)[] {
  return Array.from({ length: layers }, (_, k) => records.find((r) => r.angles[k] < limit)?.seconds ?? null);
}

/**
 * Builds the SAL microcircuit, loads it on the device and presents `presentations` input patterns, recording
 * ∠(B_k, W_{k+1}ᵀ) every `every` presentations; then runs the float twin (effects 'none': float64, its own
 * random draws) through the same presentations. Each chunk of `every` presentations is one Device run.
 */
export async function runSalAlignment(device: Device, opts: SalAlignmentOptions): Promise<SalAlignmentResult> {
  const { network, layout } = buildSalMicrocircuit(opts.config);
  const { program } = compileNetwork(network);
  for (const [name, v] of [['presentations', opts.presentations], ['every', opts.every]] as const) {
    if (!Number.isInteger(v) || v < (name === 'every' ? 1 : 0)) throw new UsageError(`${name} must be a ${name === 'every' ? 'positive' : 'non-negative'} integer, got ${v}`);
  }
  // The compiler creates the reward port only when a rule reads it (not for η = 0, whose rule folds to 0).
  const hasReward = layout.schedule === 'symmetrisation' && program.body.inputs.some((p) => p.name === 'reward');
  await device.load(program);
  const T = layout.ticksPerPresentation;
  const groups = program.body.groups;
  const sizeOf = (name: string) => groups.find((g) => g.name === name)!.size;

  const records: SalAlignmentRecord[] = [];
  const push = (list: SalAlignmentRecord[], r: SalAlignmentRecord, source: 'chip' | 'twin') => {
    list.push(r);
    opts.onRecord?.(r, source);
  };
  const measureChip = async () => {
    const forward: Matrix[] = [];
    for (const name of layout.forward) forward.push(await readMatrix(device, program, name));
    const backward: Matrix[] = [];
    for (const name of layout.backward) backward.push(await readMatrix(device, program, name));
    return anglesOf(forward, backward);
  };

  let plan = stimulusPlan(opts, layout, hasReward);
  push(records, { presentations: 0, ticks: 0, seconds: 0, rates: null, ...(await measureChip()) }, 'chip');
  const wall0 = performance.now();
  let done = 0;
  while (done < opts.presentations) {
    const n = Math.min(opts.every, opts.presentations - done);
    const rec = await device.run({ ticks: n * T, stimulus: plan(done, n), digests: false, spikes: true, probes: false });
    done += n;
    const rates = layout.pyramids.map((g) => (rec.spikes.find((s) => s.group === g)?.ticks.length ?? 0) / (sizeOf(g) * n * T));
    push(records, { presentations: done, ticks: done * T, seconds: done * T * layout.tickSeconds, rates, ...(await measureChip()) }, 'chip');
  }
  const wallSeconds = (performance.now() - wall0) / 1000;
  const ticksPerSecond = (done * T) / Math.max(wallSeconds, 1e-9);

  let twinRecords: SalAlignmentRecord[] | null = null;
  let twinWallSeconds: number | null = null;
  if (opts.twin ?? true) {
    twinRecords = [];
    const twin = new FloatTwin(network, { effects: 'none' });
    const measureTwin = () => {
      const read = (name: string) => {
        const p = network.projections.find((x) => x.name === name)!;
        return matrix(sizeOf(p.post), sizeOf(p.pre), twin.weights(name));
      };
      return anglesOf(layout.forward.map(read), layout.backward.map(read));
    };
    plan = stimulusPlan(opts, layout, hasReward);
    push(twinRecords, { presentations: 0, ticks: 0, seconds: 0, rates: null, ...measureTwin() }, 'twin');
    const t0 = performance.now();
    const counts = new Float64Array(layout.pyramids.length);
    done = 0;
    while (done < opts.presentations) {
      const n = Math.min(opts.every, opts.presentations - done);
      const stim = plan(done, n);
      counts.fill(0);
      let si = 0;
      for (let k = 0; k < n * T; k++) {
        while (si < stim.length && stim[si].tick <= k) twin.applyStimulus(stim[si++]);
        twin.step();
        for (let g = 0; g < layout.pyramids.length; g++) counts[g] += twin.eventCount(layout.pyramids[g]);
      }
      done += n;
      const rates = layout.pyramids.map((g, q) => counts[q] / (sizeOf(g) * n * T));
      push(twinRecords, { presentations: done, ticks: done * T, seconds: done * T * layout.tickSeconds, rates, ...measureTwin() }, 'twin');
    }
    twinWallSeconds = (performance.now() - t0) / 1000;
  }
  const L = layout.backward.length;
  return {
    program,
    layout,
    records,
    twinRecords,
    timeBelow30: firstBelow(records, L, 30),
    twinTimeBelow30: twinRecords ? firstBelow(twinRecords, L, 30) : null,
    ticksPerSecond,
    wallSeconds,
    twinWallSeconds,
  };
}

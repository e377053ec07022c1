/**
 * Golden vectors: small Programs with a fixed stimulus whose per-tick, per-core state digests (docs/chip.md §13)
 * are stored under test/vectors/<name>/ and checked by test/goldenVectors.test.ts (and, later, by the C
 * firmware). The stored files change only through `npm run vectors:accept` (test-support/acceptVectors.ts),
 * which prints what changed.
 *
 * Each definition builds its Program with the Network builder and compileNetwork (fixed host seeds for weights,
 * connectivity and initial potentials; a fixed chip seed). Some definitions then spread a population over
 * several cores (`reslice`) so that multi-slice placement, cross-core routing and per-core digests are
 * covered; the Program is re-finalized (validated, re-hashed) after that.
 *
 * This module also holds what the accept command and the test share: running a vector on a fresh Chip and
 * turning the run into the stored `expected.json` record, reading stored vectors, and locating divergences.
 *
 * Stored files per vector:
 *   program.apx    the Program (docs/program-format.md)
 *   stimulus.json  the host writes: [{ tick, port, values | null }] (values are STATE integers or 0/1 spikes;
 *                  null clears a target port), applied before tick `tick`, exactly as runOnChip applies them
 *   expected.json  VectorExpected (below)
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StimulusEvent } from '../src/devices/device.js';
import { Chip } from '../src/emulator/chip.js';
import { CHIP_CORES } from '../src/emulator/constants.js';
import { DIGEST_VARIABLES, FNV_OFFSET, fnvWords } from '../src/emulator/digest.js';
import type { Program, Slice } from '../src/emulator/program.js';
import { decodeProgram, finalizeProgram } from '../src/emulator/programCodec.js';
import { compileNetwork } from '../src/models/compiler.js';
import { Network } from '../src/models/network.js';
import { SeededRandom } from '../src/models/seededRandom.js';

export type { StimulusEvent };

/** Sources of chip randomness (docs/chip.md §8) a vector depends on. */
export type Randomness = 'noise' | 'stochastic-spikes' | 'stochastic-rounding';

export interface VectorDefinition {
  name: string;
  description: string;
  /**
   * Builds the finalized Program. `seed` replaces the chip seed (Program header, docs/chip.md §8.1); the network
   * itself (weights, connectivity, initial potentials) is the same for every seed.
   */
  build(seed?: number): Program;
  stimulus: StimulusEvent[];
  ticks: number;
  /** The chip randomness the run depends on; empty: the digests do not depend on the seed. */
  randomness: Randomness[];
}

/** What `expected.json` holds. */
export interface VectorExpected {
  name: string;
  description: string;
  /** SHA-256 of program.apx's Program (its header hash, lowercase hex). */
  programHash: string;
  ticks: number;
  cores: number;
  /** Per tick: the 16 per-core digests, 8 lowercase hex digits each, joined by single spaces. */
  digests: string[];
  /**
   * Per tick, a fingerprint of the per-variable digests for naming the variable that diverges first: for each of
   * the 14 DIGEST_VARIABLES in order, the low 16 bits of FNV-1a over that variable's digest on cores 0..15, as 4
   * hex digits (56 hex digits per tick). Diagnostic only; `digests` is the normative check.
   */
  variableTrace: string[];
  /** Per-variable digests after the last tick, for every core holding neurons: core → variable → 8 hex digits. */
  variableDigests: Record<string, Record<string, string>>;
  /** Per tick: spikes emitted by binary, stochastic and spiking-input groups (graded events are not counted). */
  spikeCounts: number[];
  /** Chip digest after the last tick (8 hex digits). */
  finalChipDigest: string;
  /** Final integer weights of every plastic projection. */
  finalWeights: Record<string, number[]>;
  /** Cycles per core summed over the run (docs/chip.md §12). */
  cyclesPerCore: number[];
  /** Σ over ticks of the slowest core's cycles. */
  criticalPath: number;
}

// ---------------------------------------------------------------------------------------------- helpers

/** Real value → STATE integer (Q15.16). */
const S = (x: number): number => Math.round(x * 65536);
const hex8 = (x: number): string => (x >>> 0).toString(16).padStart(8, '0');

/**
 * Spreads populations over cores: `slices[name]` lists [core, count] pairs covering the population in order.
 * Returns a new, re-finalized Program (the compiler places small networks on one core; the chip's results must
 * not depend on placement, only its cycle counts and which core's digest covers which state).
 */
export function reslice(program: Program, slices: Record<string, [core: number, count: number][]>): Program {
  for (const [name, parts] of Object.entries(slices)) {
    const g = program.body.groups.find((x) => x.name === name);
    if (!g) throw new Error(`reslice: unknown group "${name}"`);
    let start = 0;
    const out: Slice[] = parts.map(([core, count]) => {
      const s = { core, start, count };
      start += count;
      return s;
    });
    if (start !== g.size) throw new Error(`reslice: slices of "${name}" cover ${start} neurons, size is ${g.size}`);
    g.slices = out;
  }
  return finalizeProgram(program);
}

/** Sparse random connectivity: each (pre, post) pair with probability p, weight from `w()`. */
function sparse(rng: SeededRandom, nPre: number, nPost: number, p: number, w: () => number, noSelf = false) {
  const pre: number[] = [];
  const post: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < nPre; i++) {
    for (let j = 0; j < nPost; j++) {
      if (noSelf && i === j) continue;
      if (rng.next() < p) {
        pre.push(i);
        post.push(j);
        values.push(w());
      }
    }
  }
  return { pre, post, values };
}

const dense = (rng: SeededRandom, nPre: number, nPost: number, lo: number, hi: number): Float64Array =>
  Float64Array.from({ length: nPre * nPost }, () => rng.uniform(lo, hi));

/** Rates (STATE) for `n` neurons uniform in [lo, hi). */
const rates = (rng: SeededRandom, n: number, lo: number, hi: number): number[] => Array.from({ length: n }, () => S(rng.uniform(lo, hi)));

// ---------------------------------------------------------------------------------------------- vectors

/**
 * CUBA-style LIF network (after Brette et al. 2007): 160 excitatory + 40 inhibitory binary neurons whose basal
 * (excitatory, τe 5 ms) and apical (inhibitory, τi 10 ms) dendrites are leaky synaptic currents; τm 20 ms at
 * 0.5 ms ticks, refractory 5 ms, rest above threshold (self-sustained), sparse 8-bit recurrent projections with
 * delays 2 and 3, and a graded drive modulating the activity. E is split over cores 0 and 1, I sits on core 5,
 * the drive on core 10.
 */
function lifCubaSmall(): VectorDefinition {
  const nE = 160;
  const nI = 40;
  const nD = 20;
  const ticks = 1000;
  const build = (seed = 101): Program => {
    const rng = new SeededRandom(1001);
    const dt = 0.5;
    const net = new Network('lif-cuba-small', { seed, tickSeconds: 5e-4 });
    net.input('drive', nD, { payloadShift: 4, core: 10 });
    const lif = (size: number, core: number) => ({
      output: 'binary' as const,
      basal: { decay: dt / 5 },
      apical: { decay: dt / 10 },
      soma: { kBasal: dt / 20, kApical: dt / 20, kTotal: dt / 20 },
      threshold: -1,
      reset: -11,
      refractory: 10,
      init: Array.from({ length: size }, () => rng.uniform(-11, -1)),
      core,
    });
    net.population('E', nE, lif(nE, 0));
    net.population('I', nI, lif(nI, 5));
    const we = () => rng.uniform(0.8, 1.62);
    const wi = () => rng.uniform(-9, -4.5);
    net.project('EE', 'E', 'E', { kind: 'sparse', weights: sparse(rng, nE, nE, 0.08, we, true), weightBits: 8, target: 'basal', delay: 3 });
    net.project('EI', 'E', 'I', { kind: 'sparse', weights: sparse(rng, nE, nI, 0.08, we), weightBits: 8, target: 'basal', delay: 3 });
    net.project('IE', 'I', 'E', { kind: 'sparse', weights: sparse(rng, nI, nE, 0.1, wi), weightBits: 8, target: 'apical', delay: 2 });
    net.project('II', 'I', 'I', { kind: 'sparse', weights: sparse(rng, nI, nI, 0.1, wi, true), weightBits: 8, target: 'apical', delay: 2 });
    net.project('DE', 'drive', 'E', { kind: 'sparse', weights: sparse(rng, nD, nE, 0.25, () => rng.uniform(-0.3, 0.3)), weightBits: 8, target: 'basal' });
    net.project('DI', 'drive', 'I', { kind: 'sparse', weights: sparse(rng, nD, nI, 0.25, () => rng.uniform(-0.3, 0.3)), weightBits: 8, target: 'basal' });
    net.probe('E-spikes', 'E', { variable: 'spikes' });
    return reslice(compileNetwork(net).program, { E: [[0, 100], [1, 60]] });
  };
  const rng = new SeededRandom(1002);
  const stimulus: StimulusEvent[] = [
    { tick: 0, port: 'drive', values: rates(rng, nD, 0, 1) },
    { tick: 300, port: 'drive', values: rates(rng, nD, 0, 2) },
    { tick: 600, port: 'drive', values: rates(rng, nD, -1, 1) },
    { tick: 850, port: 'drive', values: new Array<number>(nD).fill(0) },
  ];
  return {
    name: 'lif-cuba-small',
    description: '200 LIF neurons (160 E on cores 0-1, 40 I on core 5): binary spikes, leaky basal/apical dendrites as CUBA currents, sparse 8-bit recurrent projections with delays 2-3, refractory 10 ticks, graded drive on core 10',
    build,
    stimulus,
    ticks,
    randomness: [],
  };
}

/**
 * A dendritic microcircuit in graded rates: inputs → dense 16-bit → pyramidal neurons (sigmoid, prospective
 * gain, basal + leaky apical compartments) → output neurons nudged by a target port, interneurons nudged one-to-one
 * by the output neurons (teacher, prospective), top-down and plastic interneuron feedback into the apical
 * dendrites, an Urbanczik–Senn rule on pyr → out that reads the basal prediction, and an output-less monitor
 * population (custom table) nudged by the pyramidal somata. The target is set, changed, cleared and set again.
 * The pyramidal population is split over cores 0 and 6; the monitor sits on core 3.
 */
function gradedDense(): VectorDefinition {
  const nIn = 24;
  const nPyr = 16;
  const nOut = 8;
  const ticks = 800;
  const build = (seed = 202): Program => {
    const rng = new SeededRandom(2001);
    const net = new Network('graded-dense', { seed, tickSeconds: 1e-3 });
    net.input('in', nIn, { payloadShift: 2 });
    net.population('pyr', nPyr, {
      output: 'graded',
      activation: 'sigmoid',
      basal: true,
      apical: { decay: 0.5 },
      soma: { kBasal: 0.1, kApical: 0.05, kTotal: 0.2 },
      prospective: 5,
      payloadShift: 2,
      init: Array.from({ length: nPyr }, () => rng.uniform(-0.5, 0.5)),
    });
    net.population('out', nOut, {
      output: 'graded',
      activation: 'sigmoid',
      basal: true,
      soma: { kBasal: 0.1, kNudge: 0.1, kTotal: 0.1 },
      prospective: 3,
      basalPrediction: 0.5,
      nudge: { target: true },
      payloadShift: 2,
    });
    net.population('intn', nOut, {
      output: 'graded',
      activation: 'linear',
      basal: true,
      soma: { kBasal: 0.1, kNudge: 0.2, kTotal: 0.1 },
      nudge: { teacher: 'out', prospective: true },
      payloadShift: 4,
    });
    net.project('fc1', 'in', 'pyr', { weights: dense(rng, nIn, nPyr, -1, 1), weightBits: 16, weightRange: 2 });
    net.project('fc2', 'pyr', 'out', {
      weights: dense(rng, nPyr, nOut, -1, 1),
      weightBits: 16,
      weightRange: 4,
      plasticity: { rule: 'dw = 0.02 * (post.rate - post.basal_rate) * pre.rate', rounding: 'nearest' },
    });
    // A passive monitor (output none, custom table) nudged by the pyramidal somata (teacher, not prospective).
    net.population('mon', nPyr, {
      output: 'none',
      activation: { name: 'softsign', fn: (x) => x / (1 + Math.abs(x)), xMin: -5, stepLog2: 12 },
      basal: true,
      soma: { kBasal: 0.1, kNudge: 0.1, kTotal: 0.1 },
      nudge: { teacher: 'pyr' },
    });
    net.project('pi', 'pyr', 'intn', {
      weights: dense(rng, nPyr, nOut, -1, 1),
      weightBits: 16,
      weightRange: 2,
      plasticity: { rule: 'dw = 0.002 * (post.prosp - post.basal) * pre.rate + 0.001 * (post.soma - post.prosp) * pre.rate', rounding: 'nearest' },
    });
    net.project('td', 'out', 'pyr', { weights: dense(rng, nOut, nPyr, -1, 1), weightBits: 16, weightRange: 2, target: 'apical', delay: 2 });
    net.project('ip', 'intn', 'pyr', {
      weights: dense(rng, nOut, nPyr, -1, 0),
      weightBits: 16,
      weightRange: 2,
      target: 'apical',
      plasticity: { rule: 'dw = -0.002 * post.apical * pre.rate', rounding: 'nearest', fracBits: 6 },
    });
    net.project('in-mon', 'in', 'mon', { weights: dense(rng, nIn, nPyr, -1, 1), weightBits: 8, delay: 3 });
    net.probe('out-rate', 'out', { variable: 'rate', every: 10 });
    net.probe('fc2-w', 'fc2', { variable: 'weights', every: 100 });
    return reslice(compileNetwork(net).program, { pyr: [[0, 10], [6, 6]], mon: [[3, 16]] });
  };
  const rng = new SeededRandom(2002);
  const stimulus: StimulusEvent[] = [];
  for (let t = 0; t < ticks; t += 100) stimulus.push({ tick: t, port: 'in', values: rates(rng, nIn, -1, 1) });
  stimulus.push({ tick: 100, port: 'out.target', values: rates(rng, nOut, 0.1, 0.9) });
  stimulus.push({ tick: 250, port: 'out.target', values: rates(rng, nOut, 0.1, 0.9) });
  stimulus.push({ tick: 450, port: 'out.target', values: null });
  stimulus.push({ tick: 620, port: 'out.target', values: rates(rng, nOut, 0.1, 0.9) });
  stimulus.sort((a, b) => a.tick - b.tick);
  return {
    name: 'graded-dense',
    description: 'graded inputs -> dense 16-bit -> sigmoid pyramidal neurons (prospective gain, basal + leaky apical; cores 0 and 6) -> target-nudged outputs with basal prediction and an Urbanczik-Senn rule; linear interneurons nudged one-to-one by the outputs (prospective teacher), learning from post.prosp/basal/soma; top-down and plastic interneuron feedback (apical silencing, nearest rounding with 4 dropped bits) into the apical dendrites; an output-less monitor (custom softsign table, dense 8-bit, delay 3, core 3) nudged by the pyramidal somata; target set, changed, cleared and set again',
    build,
    stimulus,
    ticks,
    randomness: [],
  };
}

/**
 * Urbanczik–Senn learning onto target-nudged softplus neurons: a dense 16-bit projection with the update
 * low-passed (τ_LO 8 ticks) and rounded to nearest, and a sparse 8-bit projection with 3 accumulator bits and
 * stochastic rounding (the PRNG Round stream). Five input/target patterns, the last one without a target.
 */
function plasticityUs(): VectorDefinition {
  const nIn = 32;
  const nOut = 12;
  const ticks = 1000;
  const build = (seed = 303): Program => {
    const rng = new SeededRandom(3001);
    const net = new Network('plasticity-us', { seed, tickSeconds: 1e-3 });
    net.input('in', nIn, { payloadShift: 2 });
    net.population('out', nOut, {
      output: 'graded',
      activation: 'softplus',
      basal: true,
      soma: { kBasal: 0.1, kNudge: 0.1, kTotal: 0.15 },
      basalPrediction: 2 / 3,
      nudge: { target: true },
      payloadShift: 4,
    });
    const rule = 'dw = 0.004 * (post.rate - post.basal_rate) * pre.rate';
    net.project('w-lp', 'in', 'out', {
      weights: dense(rng, nIn, nOut, -0.3, 0.3),
      weightBits: 16,
      weightRange: 2,
      plasticity: { rule, lowpassTau: 8, rounding: 'nearest' },
    });
    net.project('w-sr', 'in', 'out', {
      kind: 'sparse',
      weights: sparse(rng, nIn, nOut, 0.3, () => rng.uniform(-0.5, 0.5)),
      weightBits: 8,
      weightRange: 1,
      delay: 2,
      plasticity: { rule: 'dw = 0.01 * (post.rate - post.basal_rate) * pre.rate', rounding: 'stochastic', fracBits: 3 },
    });
    return compileNetwork(net).program;
  };
  const rng = new SeededRandom(3002);
  const stimulus: StimulusEvent[] = [];
  for (let p = 0; p < 5; p++) {
    stimulus.push({ tick: p * 200, port: 'in', values: rates(rng, nIn, 0, 1) });
    stimulus.push({ tick: p * 200, port: 'out.target', values: p < 4 ? rates(rng, nOut, 0.3, 1.5) : null });
  }
  return {
    name: 'plasticity-us',
    description: 'Urbanczik-Senn rule dw = eta*(post.rate - post.basal_rate)*pre.rate (basal prediction 2/3) onto 12 target-nudged softplus neurons: dense 16-bit with low-pass (tau_LO 8) and nearest rounding; sparse 8-bit with fracBits 3 and stochastic rounding; 5 patterns, the last without a target',
    build,
    stimulus,
    ticks,
    randomness: ['stochastic-rounding'],
  };
}

/**
 * The update shift (docs/chip.md §11.4): a slow Urbanczik–Senn rule written 2^8 larger than its effect, low-passed
 * (τ_LO 64 ticks) in that scale and applied with updateShift 8 through stochastic rounding (dense 16-bit), next to
 * a sparse 8-bit projection with nearest rounding and updateShift 3. Four patterns, the last without a target.
 */
function plasticityUpdateShift(): VectorDefinition {
  const nIn = 24;
  const nOut = 10;
  const ticks = 900;
  const build = (seed = 707): Program => {
    const rng = new SeededRandom(7001);
    const net = new Network('plasticity-update-shift', { seed, tickSeconds: 1e-3 });
    net.input('in', nIn, { payloadShift: 2 });
    net.population('out', nOut, {
      output: 'graded',
      activation: 'sigmoid',
      basal: true,
      soma: { kBasal: 0.1, kNudge: 0.1, kTotal: 0.15 },
      basalPrediction: 2 / 3,
      nudge: { target: true },
      payloadShift: 2,
    });
    net.project('w-gain', 'in', 'out', {
      weights: dense(rng, nIn, nOut, -0.5, 0.5),
      weightBits: 16,
      weightRange: 4,
      plasticity: { rule: 'dw = 0.256 * (post.rate - post.basal_rate) * pre.rate', lowpassTau: 64, rounding: 'stochastic', fracBits: 3, updateShift: 8 },
    });
    net.project('w-sparse', 'in', 'out', {
      kind: 'sparse',
      weights: sparse(rng, nIn, nOut, 0.4, () => rng.uniform(-0.5, 0.5)),
      weightBits: 8,
      weightRange: 1,
      plasticity: { rule: 'dw = 0.08 * (post.rate - post.basal_rate) * pre.rate', rounding: 'nearest', fracBits: 6, updateShift: 3 },
    });
    return compileNetwork(net).program;
  };
  const rng = new SeededRandom(7002);
  const stimulus: StimulusEvent[] = [];
  for (let p = 0; p < 4; p++) {
    stimulus.push({ tick: p * 225, port: 'in', values: rates(rng, nIn, 0, 1) });
    stimulus.push({ tick: p * 225, port: 'out.target', values: p < 3 ? rates(rng, nOut, -1.5, 1.5) : null });
  }
  return {
    name: 'plasticity-update-shift',
    description: 'update shift: dense 16-bit U-S rule written 2^8 larger, low-passed (tau_LO 64) and applied with updateShift 8 and stochastic rounding; sparse 8-bit with updateShift 3 and nearest rounding; 4 patterns, the last without a target',
    build,
    stimulus,
    ticks,
    randomness: ['stochastic-rounding'],
  };
}

/**
 * Phaseless alignment learning: OU noise (τ 5 ticks, σ 0.3) in the apical compartment of the pyramidal
 * neurons, a tanh top layer with a high-pass trace (τ_HP 10) and a graded low-pass trace x1, and the feedback
 * weights top → pyr.apical learning `dw = η(post.noise·pre.hp − α·syn.w)` with tiny constants.
 */
function palNoise(): VectorDefinition {
  const nIn = 16;
  const nPyr = 12;
  const nTop = 8;
  const ticks = 800;
  const build = (seed = 404): Program => {
    const rng = new SeededRandom(4001);
    const net = new Network('pal-noise', { seed, tickSeconds: 1e-3 });
    net.input('in', nIn, { payloadShift: 2 });
    net.population('pyr', nPyr, {
      output: 'graded',
      activation: 'sigmoid',
      basal: true,
      apical: { decay: 0.3 },
      soma: { kBasal: 0.1, kApical: 0.05, kTotal: 0.15 },
      noise: { target: 'apical', tau: 5, sigma: 0.3 },
      payloadShift: 2,
    });
    net.population('top', nTop, {
      output: 'graded',
      activation: 'tanh',
      basal: true,
      soma: { kBasal: 0.2, kTotal: 0.2 },
      traces: { x1: { tau: 20 }, hp: { tau: 10 } },
      payloadShift: 2,
    });
    net.project('fwd1', 'in', 'pyr', { weights: dense(rng, nIn, nPyr, -1, 1), weightBits: 16, weightRange: 2 });
    net.project('fwd2', 'pyr', 'top', { weights: dense(rng, nPyr, nTop, -1, 1), weightBits: 16, weightRange: 2, delay: 2 });
    net.project('B', 'top', 'pyr', {
      weights: dense(rng, nTop, nPyr, -0.5, 0.5),
      weightBits: 16,
      weightRange: 1,
      target: 'apical',
      // fracBits 12 with weightShift 14: Δ is shifted left (sa = 24 − 14 − 12 = −2, docs/chip.md §11.4).
      plasticity: { rule: 'dw = 2e-4 * (post.noise * pre.hp - 0.05 * syn.w)', fracBits: 12 },
    });
    net.probe('pyr-noise', 'pyr', { variable: 'noise', every: 50 });
    return compileNetwork(net).program;
  };
  const rng = new SeededRandom(4002);
  const stimulus: StimulusEvent[] = [];
  for (let t = 0; t < ticks; t += 25) stimulus.push({ tick: t, port: 'in', values: rates(rng, nIn, 0, 1) });
  return {
    name: 'pal-noise',
    description: 'PAL: OU noise (tau 5, sigma 0.3) into the apical compartment, tanh top layer with high-pass (tau 10) and low-pass x1 traces, feedback top -> pyr.apical learning dw = 2e-4*(post.noise*pre.hp - 0.05*syn.w) with 26 accumulator fraction bits (update shifted left); inputs change every 25 ticks',
    build,
    stimulus,
    ticks,
    randomness: ['noise'],
  };
}

/**
 * Sampling-based alignment learning: stochastic (GLM) sigmoid neurons with absolute refractoriness on both
 * sides of a sparse 16-bit projection learning with reversed-sign pair STDP on x1 traces
 * (`on post: dw = −η·pre.x1; on pre: dw = η·post.x1`); the postsynaptic neurons get OU noise in the soma.
 */
function salStdp(): VectorDefinition {
  const nIn = 16;
  const nPost = 12;
  const ticks = 1000;
  const build = (seed = 505): Program => {
    const rng = new SeededRandom(5001);
    const net = new Network('sal-stdp', { seed, tickSeconds: 1e-3 });
    net.input('in', nIn, { payloadShift: 4 });
    net.input('bias', 1, { payloadShift: 4 });
    net.population('pre', nIn, {
      output: 'stochastic',
      activation: 'sigmoid',
      basal: true,
      soma: { kBasal: 0.2, kTotal: 0.2 },
      refractory: 3,
      traces: { x1: { tau: 10 } },
    });
    net.population('post', nPost, {
      output: 'stochastic',
      activation: 'sigmoid',
      basal: { decay: 0.5 },
      soma: { kBasal: 0.1, kTotal: 0.1 },
      refractory: 4,
      noise: { target: 'soma', tau: 3, sigma: 0.2 },
      traces: { x1: { tau: 10 } },
    });
    net.project('in-pre', 'in', 'pre', { kind: 'oneToOne', weights: new Array<number>(nIn).fill(4), weightBits: 16, weightRange: 8 });
    net.project('bias-post', 'bias', 'post', { weights: new Array<number>(nPost).fill(-1.5), weightBits: 16, weightRange: 2 });
    net.project('syn', 'pre', 'post', {
      kind: 'sparse',
      weights: sparse(rng, nIn, nPost, 0.5, () => rng.uniform(0, 1)),
      weightBits: 16,
      weightRange: 2,
      plasticity: { rule: 'on post: dw = -0.01 * pre.x1\non pre: dw = 0.01 * post.x1', rounding: 'nearest' },
    });
    return compileNetwork(net).program;
  };
  const rng = new SeededRandom(5002);
  const stimulus: StimulusEvent[] = [{ tick: 0, port: 'bias', values: [S(1)] }];
  for (let t = 0; t < ticks; t += 250) stimulus.push({ tick: t, port: 'in', values: rates(rng, nIn, -1, -0.25) });
  stimulus.sort((a, b) => a.tick - b.tick);
  return {
    name: 'sal-stdp',
    description: 'SAL: stochastic sigmoid neurons with absolute refractoriness (3 and 4 ticks), x1 traces, sparse 16-bit projection with on post: dw = -0.01*pre.x1; on pre: dw = 0.01*post.x1; OU noise into the postsynaptic soma',
    build,
    stimulus,
    ticks,
    randomness: ['stochastic-spikes', 'noise'],
  };
}

/**
 * Reward-modulated STDP: LIF sources (x1 and x2 traces) → dense 16-bit → LIF targets with a relu table,
 * prospective gain and OU noise in the basal current. Pair STDP accumulates in per-synapse tags that decay
 * every tick; every 8 ticks (`on epoch(3)`) the weights move by η·reward·tag, with stochastic rounding. The
 * reward port is driven by the stimulus (positive, negative, zero).
 */
function rstdpTag(): VectorDefinition {
  const nIn = 20;
  const nDst = 10;
  const ticks = 1200;
  const build = (seed = 606): Program => {
    const rng = new SeededRandom(6001);
    const net = new Network('rstdp-tag', { seed, tickSeconds: 1e-3 });
    net.input('in', nIn, { payloadShift: 2 });
    net.population('src', nIn, {
      output: 'binary',
      basal: true,
      soma: { kBasal: 0.05, kTotal: 0.05 },
      threshold: 0.5,
      reset: 0,
      refractory: 5,
      traces: { x1: { tau: 20 }, x2: { tau: 50, impulse: 0.5 } },
    });
    net.population('dst', nDst, {
      output: 'binary',
      activation: 'relu',
      basal: { decay: 0.2 },
      soma: { kBasal: 0.05, kTotal: 0.05 },
      prospective: 2,
      threshold: 1,
      reset: 0,
      refractory: 3,
      noise: { target: 'basal', tau: 10, sigma: 0.05 },
      traces: { x1: { tau: 20 } },
    });
    net.project('in-src', 'in', 'src', { kind: 'oneToOne', weights: new Array<number>(nIn).fill(1.2), weightBits: 16, weightRange: 2 });
    net.project('w', 'src', 'dst', {
      weights: dense(rng, nIn, nDst, 0.2, 1),
      weightBits: 16,
      weightRange: 2,
      delay: 2,
      plasticity: {
        rule: [
          'on pre: dtag = -0.3 * post.x1',
          'on post: dtag = 0.4 * pre.x1 + 0.2 * pre.x2',
          'on tick: dtag = -2^-4 * syn.tag',
          'on epoch(3): dw = 0.05 * reward * syn.tag',
        ].join('\n'),
        rounding: 'stochastic',
        fracBits: 4,
      },
    });
    net.probe('dst-spikes', 'dst', { variable: 'spikes' });
    return compileNetwork(net).program;
  };
  const rng = new SeededRandom(6002);
  const stimulus: StimulusEvent[] = [
    { tick: 0, port: 'in', values: rates(rng, nIn, 0, 1) },
    { tick: 0, port: 'reward', values: [0] },
    { tick: 100, port: 'reward', values: [S(0.5)] },
    { tick: 350, port: 'reward', values: [S(-0.5)] },
    { tick: 600, port: 'in', values: rates(rng, nIn, 0, 1) },
    { tick: 600, port: 'reward', values: [0] },
    { tick: 700, port: 'reward', values: [S(1)] },
    { tick: 1000, port: 'reward', values: [S(-0.25)] },
  ];
  return {
    name: 'rstdp-tag',
    description: 'R-STDP: LIF sources (x1, x2 traces) -> dense 16-bit (delay 2) -> LIF targets (relu table, prospective gain, basal OU noise); tags from pair STDP decaying each tick, on epoch(3): dw = 0.05*reward*syn.tag with stochastic rounding; reward port driven by the stimulus',
    build,
    stimulus,
    ticks,
    randomness: ['noise', 'stochastic-rounding'],
  };
}

/**
 * Spikes from the host into the soma: a spiking input port (24 neurons on core 15, x1 trace) → one-to-one 8-bit
 * soma projection (delay 2) → soma-only LIF neurons split over cores 0 and 12, with an event-driven rule
 * (`on post: dw = η·pre.x1`, `on pre` reading pre.spike, `on tick` reading post.spike with a constant drift) and
 * stochastic rounding.
 */
function oneToOneSoma(): VectorDefinition {
  const n = 24;
  const ticks = 500;
  const build = (seed = 707): Program => {
    const rng = new SeededRandom(7001);
    const net = new Network('one-to-one-soma', { seed, tickSeconds: 1e-3 });
    net.input('spk', n, { coding: 'spikes', traces: { x1: { tau: 8 } }, core: 15 });
    net.population('lif', n, {
      output: 'binary',
      soma: { kTotal: 0.05 },
      threshold: 1,
      reset: -0.2,
      refractory: 2,
      init: Array.from({ length: n }, () => rng.uniform(-0.2, 0.8)),
      core: 0,
    });
    net.project('o2o', 'spk', 'lif', {
      kind: 'oneToOne',
      weights: Array.from({ length: n }, () => rng.uniform(0.2, 0.6)),
      weightBits: 8,
      weightRange: 1,
      target: 'soma',
      delay: 2,
      plasticity: {
        rule: 'on post: dw = 0.02 * pre.x1\non pre: dw = -0.004 * pre.spike\non tick: dw = 0.002 * post.spike * pre.x1 - 2^-12',
        rounding: 'stochastic',
        fracBits: 2,
      },
    });
    return reslice(compileNetwork(net).program, { lif: [[0, 12], [12, 12]] });
  };
  const rng = new SeededRandom(7002);
  const stimulus: StimulusEvent[] = [];
  for (let t = 0; t < ticks; t++) {
    if (rng.next() >= 0.3) continue;
    const values = Array.from({ length: n }, () => (rng.next() < 0.25 ? 1 : 0));
    if (values.some((v) => v)) stimulus.push({ tick: t, port: 'spk', values });
  }
  return {
    name: 'one-to-one-soma',
    description: 'spiking input port (24 neurons, core 15, x1 trace) -> one-to-one 8-bit soma projection (delay 2) -> soma-only LIF neurons on cores 0 and 12; on post: dw = 0.02*pre.x1, on pre: dw = -0.004*pre.spike, on tick: dw = 0.002*post.spike*pre.x1 - 2^-12, stochastic rounding',
    build,
    stimulus,
    ticks,
    randomness: ['stochastic-rounding'],
  };
}

export const VECTOR_DEFINITIONS: readonly VectorDefinition[] = [lifCubaSmall(), gradedDense(), plasticityUs(), plasticityUpdateShift(), palNoise(), salStdp(), rstdpTag(), oneToOneSoma()];

export function vectorDefinition(name: string): VectorDefinition {
  const d = VECTOR_DEFINITIONS.find((v) => v.name === name);
  if (!d) throw new Error(`unknown vector "${name}" (vectors: ${VECTOR_DEFINITIONS.map((v) => v.name).join(', ')})`);
  return d;
}

// ---------------------------------------------------------------------------------------------- running

/** Applies stimulus events to a chip exactly as runOnChip does: every event with tick ≤ k before tick k. */
export class StimulusPlayer {
  private readonly events: StimulusEvent[];
  private next = 0;
  constructor(
    private readonly chip: Chip,
    events: readonly StimulusEvent[],
  ) {
    this.events = [...events].sort((a, b) => a.tick - b.tick);
  }
  /** Applies the events due before tick `k` (ticks counted from the start of the run). */
  apply(k: number): void {
    while (this.next < this.events.length && this.events[this.next].tick <= k) {
      const ev = this.events[this.next++];
      if (ev.values === null) this.chip.clearTarget(ev.port);
      else this.chip.setInput(ev.port, ev.values);
    }
  }
}

/** The per-tick line of `digests`. */
export function coreDigestLine(chip: Chip): string {
  return Array.from(chip.coreDigests, hex8).join(' ');
}

/** The per-tick line of `variableTrace` (see VectorExpected.variableTrace). */
export function variableTraceLine(chip: Chip): string {
  const V = DIGEST_VARIABLES.length;
  const col = new Uint32Array(CHIP_CORES);
  let s = '';
  for (let v = 0; v < V; v++) {
    for (let c = 0; c < CHIP_CORES; c++) col[c] = chip.variableDigests[c * V + v];
    s += (fnvWords(FNV_OFFSET, col, 0, CHIP_CORES) & 0xffff).toString(16).padStart(4, '0');
  }
  return s;
}

/** Names of the variables whose fingerprints differ between two `variableTrace` lines. */
export function traceVariablesDiffering(a: string, b: string): string[] {
  return DIGEST_VARIABLES.filter((_, v) => a.slice(4 * v, 4 * v + 4) !== b.slice(4 * v, 4 * v + 4));
}

/** Variable digests of one core: variable → 8 hex digits. */
export function coreVariableDigests(chip: Chip, core: number): Record<string, string> {
  const V = DIGEST_VARIABLES.length;
  const out: Record<string, string> = {};
  DIGEST_VARIABLES.forEach((name, v) => (out[name] = hex8(chip.variableDigests[core * V + v])));
  return out;
}

/** Runs `ticks` ticks of a Program with a stimulus on a fresh Chip (digests on) and returns the expected record. */
export function runVector(program: Program, stimulus: readonly StimulusEvent[], ticks: number, meta: { name: string; description: string }): VectorExpected {
  const chip = new Chip(program, { digests: true });
  const player = new StimulusPlayer(chip, stimulus);
  const digests: string[] = [];
  const variableTrace: string[] = [];
  const spikeCounts: number[] = [];
  for (let k = 0; k < ticks; k++) {
    player.apply(k);
    chip.step();
    digests.push(coreDigestLine(chip));
    variableTrace.push(variableTraceLine(chip));
    spikeCounts.push(chip.spikesLastTick());
  }
  const variableDigests: Record<string, Record<string, string>> = {};
  for (let c = 0; c < CHIP_CORES; c++) if (chip.usedCores[c]) variableDigests[String(c)] = coreVariableDigests(chip, c);
  const finalWeights: Record<string, number[]> = {};
  for (const p of chip.projections) if (p.wacc) finalWeights[p.def.name] = Array.from(p.w);
  return {
    name: meta.name,
    description: meta.description,
    programHash: program.hash,
    ticks,
    cores: CHIP_CORES,
    digests,
    variableTrace,
    variableDigests,
    spikeCounts,
    finalChipDigest: hex8(chip.chipDigest()),
    finalWeights,
    cyclesPerCore: Array.from(chip.cyclesTotal),
    criticalPath: chip.criticalPathTotal,
  };
}

/** Where two digest streams first differ: tick, the cores that differ there, and how many ticks differ. */
export interface DigestDivergence {
  tick: number;
  cores: number[];
  ticksDiffering: number;
}

export function compareDigestStreams(a: readonly string[], b: readonly string[]): DigestDivergence | null {
  let first = -1;
  let differing = 0;
  const n = Math.max(a.length, b.length);
  for (let t = 0; t < n; t++) {
    if (a[t] === b[t]) continue;
    differing++;
    if (first < 0) first = t;
  }
  if (first < 0) return null;
  const ca = a[first]?.split(' ') ?? [];
  const cb = b[first]?.split(' ') ?? [];
  const cores: number[] = [];
  for (let c = 0; c < Math.max(ca.length, cb.length); c++) if (ca[c] !== cb[c]) cores.push(c);
  return { tick: first, cores, ticksDiffering: differing };
}

/** First divergence of two runs side by side on fresh Chips: tick, and per differing core the variables. */
export interface SideBySideDivergence {
  tick: number;
  cores: { core: number; variables: string[] }[];
}

export function sideBySide(
  a: { program: Program; stimulus: readonly StimulusEvent[] },
  b: { program: Program; stimulus: readonly StimulusEvent[] },
  ticks: number,
): SideBySideDivergence | null {
  const ca = new Chip(a.program, { digests: true });
  const cb = new Chip(b.program, { digests: true });
  const pa = new StimulusPlayer(ca, a.stimulus);
  const pb = new StimulusPlayer(cb, b.stimulus);
  const V = DIGEST_VARIABLES.length;
  for (let k = 0; k < ticks; k++) {
    pa.apply(k);
    pb.apply(k);
    ca.step();
    cb.step();
    const cores: { core: number; variables: string[] }[] = [];
    for (let c = 0; c < CHIP_CORES; c++) {
      if (ca.coreDigests[c] === cb.coreDigests[c]) continue;
      const variables = DIGEST_VARIABLES.filter((_, v) => ca.variableDigests[c * V + v] !== cb.variableDigests[c * V + v]);
      cores.push({ core: c, variables: variables.length ? [...variables] : ['(core has neurons in one program only)'] });
    }
    if (cores.length) return { tick: k, cores };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------- storage

/** The project root: the nearest folder above this module that holds package.json (not the cwd). */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const vectorsDir = (): string => join(projectRoot(), 'test', 'vectors');
export const vectorDir = (name: string): string => join(vectorsDir(), name);

export const VECTOR_FILES = { program: 'program.apx', stimulus: 'stimulus.json', expected: 'expected.json' } as const;
/** Plain-text forms of stimulus.json and expected.json for the C firmware's test runner, derived from them. */
export const VECTOR_TEXT_FILES = { stimulus: 'stimulus.txt', expected: 'expected.txt' } as const;

/** stimulus.txt: one event per line, `<tick> <port> set <count> <values...>` or `<tick> <port> clear`. */
export function formatStimulusText(events: readonly StimulusEvent[]): string {
  return events
    .map((e) => (e.values === null ? `${e.tick} ${e.port} clear\n` : `${e.tick} ${e.port} set ${e.values.length} ${e.values.join(' ')}\n`))
    .join('');
}

/**
 * expected.txt: `tick <t> <spikeCount> <16 per-core digests>` per tick, then `weights <projection> <count> <values...>`
 * per plastic projection, `cycles <16 per-core totals>` and `critical <criticalPath>`.
 */
export function formatExpectedText(e: VectorExpected): string {
  const lines = e.digests.map((d, t) => `tick ${t} ${e.spikeCounts[t]} ${d}`);
  for (const [name, w] of Object.entries(e.finalWeights)) lines.push(`weights ${name} ${w.length} ${w.join(' ')}`);
  lines.push(`cycles ${e.cyclesPerCore.join(' ')}`, `critical ${e.criticalPath}`);
  return `${lines.join('\n')}\n`;
}

export interface StoredVector {
  programBytes: Uint8Array | null;
  stimulus: StimulusEvent[] | null;
  expected: VectorExpected | null;
  /** Files that are missing. */
  missing: string[];
}

/** Reads what is stored for a vector (missing files are null and listed). */
export function readStoredVector(name: string): StoredVector {
  const dir = vectorDir(name);
  const missing: string[] = [];
  const read = (file: string): Buffer | null => {
    const p = join(dir, file);
    if (!existsSync(p)) {
      missing.push(file);
      return null;
    }
    return readFileSync(p);
  };
  const programBytes = read(VECTOR_FILES.program);
  const stim = read(VECTOR_FILES.stimulus);
  const exp = read(VECTOR_FILES.expected);
  return {
    programBytes: programBytes ? new Uint8Array(programBytes) : null,
    stimulus: stim ? (JSON.parse(stim.toString('utf8')) as StimulusEvent[]) : null,
    expected: exp ? (JSON.parse(exp.toString('utf8')) as VectorExpected) : null,
    missing,
  };
}

/** Decodes stored program bytes (throws ProgramFormatError / ProgramInvalidError on a bad file). */
export function decodeStoredProgram(bytes: Uint8Array): Program {
  return decodeProgram(bytes);
}

/** stimulus.json text: one event per line. */
export function formatStimulus(events: readonly StimulusEvent[]): string {
  return `[\n${events.map((e) => `  ${JSON.stringify({ tick: e.tick, port: e.port, values: e.values })}`).join(',\n')}\n]\n`;
}

/** expected.json text: two-space indentation, number arrays on one line, one tick per line in the per-tick arrays. */
export function formatExpected(e: VectorExpected): string {
  const json = JSON.stringify(e, null, 2);
  // Collapse arrays of numbers onto one line.
  return `${json.replace(/\[\s*(-?[\d.e+-]+(?:\s*,\s*-?[\d.e+-]+)*)\s*\]/g, (_, body: string) => `[${body.split(/\s*,\s*/).join(',')}]`)}\n`;
}

/** Network size of a Program, for reports. */
export function programSize(p: Program): { neurons: number; synapses: number; groups: number; projections: number; cores: number[] } {
  const neurons = p.body.groups.reduce((a, g) => a + g.size, 0);
  const synapses = p.body.projections.reduce((a, pr) => a + pr.weights.length, 0);
  const cores = [...new Set(p.body.groups.flatMap((g) => g.slices.map((s) => s.core)))].sort((a, b) => a - b);
  return { neurons, synapses, groups: p.body.groups.length, projections: p.body.projections.length, cores };
}

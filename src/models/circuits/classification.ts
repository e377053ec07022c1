/**
 * Classification with the dendritic microcircuit (fw_bw): the training driver for a labelled dataset (the 8×8
 * digits), on the chip through a Device or on the float twin, with the fidelity measurements taken on the way.
 *
 * Stimulus: every epoch the training set is shuffled (SeededRandom(seed + epoch)); each sample x ∈ [0, 1]^n is
 * held on the input port for one presentation (T ticks) and the output's target port holds the target
 * potentials u_tgt,c = logit(r_on) for the label, logit(r_off) for the other classes (circuits.md §4.4, GeNN
 * targets 1.0 / 0.1 as rates; logit because the output is nudged in potential and reads out φ(u)).
 *
 * Evaluation (test accuracy): the trained circuit without a target, plasticity off: the learned weights (read
 * back) are loaded into the same microcircuit with every learning rate 0 and no noise, each test sample is held
 * for T ticks and the output rate sampled on the last tick of its presentation (a probe); the prediction is the
 * argmax. On the chip this runs on a separate emulated chip, so the training device keeps its state.
 *
 * Fidelity per window (one window = `windowSamples` presentations, at the start of every epoch):
 *   ΔW_chip      forward weights after the window − before, on the engine that trains
 *   ΔW_twin      the float twin started from the engine's weights at the window start (forward, backward and
 *                lateral; neuron state settles within a presentation) at the engine's tick, run on the same
 *                window with the chip's noise draws (effect prngNoise only: the same PRNG draws at the same
 *                ticks, so the angle measures the fixed-point arithmetic, not two noise realisations); and
 *   ΔW_twin,ind  the same twin with its own Gaussian noise (every effect off): the angle then also contains the
 *                difference between two noise realisations
 *   ΔW_bp        the updates backprop makes on the equivalent feed-forward network at the window-start weights:
 *                steady state v̂_k = c_k·W_k r_{k−1}, r_k = φ(v̂_k) (c = g_B/(g_l+g_B+g_A) hidden,
 *                g_B/(g_l+g_B) output), output error e = φ(u_nudged) − φ(v̂_N) with
 *                u_nudged = (g_B v_B + g_ntgt u_tgt)/(g_l + g_B + g_ntgt) — the error the circuit's output
 *                computes —, δ_N = e, δ_k = φ'(v̂_k) ⊙ c_{k+1} W_{k+1}ᵀ δ_{k+1}, ΔW_k ∝ Σ δ_k r_{k−1}ᵀ
 * and the angles ∠(ΔW_chip, ΔW_twin), ∠(ΔW_chip, ΔW_bp) per layer (Frobenius, degrees).
 */
import type { Device, StimulusEvent } from '../../devices/device.js';
import { ProbeVariable, type Program } from '../../emulator/program.js';
import { compileNetwork } from '../compiler.js';
import { SeededRandom } from '../seededRandom.js';
import { FloatTwin } from '../twin/floatTwin.js';
import { frobeniusAngle, matrix, sigmoidDerivative, sub, transpose, type Matrix } from './metrics.js';
import { buildMicrocircuit, steadyStateGains, steadyStatePass, type MicrocircuitConfig, type MicrocircuitLayout } from './microcircuit.js';
import { PAL_FIG3ABC_BW_ONLY } from './parameters.js';
import { readMatrix } from './alignment.js';
import { EmulatorDevice } from '../../devices/emulatorDevice.js';

const ONE = 65536;

export interface LabelledSet {
  x: ArrayLike<number>[];
  y: number[];
}

/** What trains: a Device running the circuit's Program, or the float twin of the same Network. */
export interface LearningEngine {
  readonly kind: 'chip' | 'twin';
  run(ticks: number, stimulus: { tick: number; port: string; values: number[] | null }[]): Promise<void>;
  /** A projection's weights as a real post-major matrix. */
  matrix(projection: string): Promise<Matrix>;
  /** The apical potentials of a group (real units). */
  apical(group: string): Promise<Float64Array>;
}

export class ChipEngine implements LearningEngine {
  readonly kind = 'chip';
  constructor(
    readonly device: Device,
    readonly program: Program,
  ) {}
  async run(ticks: number, stimulus: { tick: number; port: string; values: number[] | null }[]): Promise<void> {
    await this.device.run({ ticks, stimulus, digests: false, spikes: false, probes: false });
  }
  matrix(projection: string): Promise<Matrix> {
    return readMatrix(this.device, this.program, projection);
  }
  async apical(group: string): Promise<Float64Array> {
    return Float64Array.from(await this.device.readState(group, ProbeVariable.Apical), (v) => v / ONE);
  }
}

export class TwinEngine implements LearningEngine {
  readonly kind = 'twin';
  constructor(readonly twin: FloatTwin) {}
  async run(ticks: number, stimulus: { tick: number; port: string; values: number[] | null }[]): Promise<void> {
    this.twin.run(ticks, stimulus);
  }
  async matrix(projection: string): Promise<Matrix> {
    const [rows, cols] = this.twin.shape(projection);
    return matrix(rows, cols, this.twin.weights(projection));
  }
  async apical(group: string): Promise<Float64Array> {
    return this.twin.read(group, 'apical');
  }
}

export interface ClassificationOptions {
  epochs: number;
  /** Seed of the per-epoch shuffles. */
  seed?: number;
  /** Target rates of the label's output and of the others (default 0.9 / 0.1). */
  targetOn?: number;
  targetOff?: number;
  /** Presentations per fidelity window (default 100); 0 = no fidelity measurements. */
  windowSamples?: number;
  /** Also evaluate before the first epoch (record epoch 0). */
  evaluateInitial?: boolean;
  /** Evaluate the test accuracy after every epoch (default true; the last epoch is always evaluated). */
  evaluateEveryEpoch?: boolean;
  /** Samples presented per Device run (default 250). */
  chunk?: number;
  /**
   * Learning-rate factor per epoch (1-based), written to the circuit's `reward` input at the start of every chunk;
   * only for circuits built with `forwardRateInput` (their forward updates are multiplied by it).
   */
  rateSchedule?: (epoch: number, epochs: number) => number;
  /** Called before every chunk of training presentations (the backprop reference's weight copy). */
  beforeChunk?: () => Promise<void>;
  onEpoch?: (r: EpochRecord) => void;
  /** Called after every chunk with the presentations done and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface EpochRecord {
  epoch: number;
  ticks: number;
  /** Test accuracy after this epoch (null when not evaluated). */
  testAccuracy: number | null;
  /** ∠(B_k, W_{k+1}ᵀ) per hidden layer (degrees). */
  angles: number[];
  /** ‖v_A,k‖ per hidden layer at the end of the epoch. */
  apicalNorms: number[];
  /** Per forward layer W_1..W_N for the window at the start of this epoch (null without windows). */
  angleDwTwin: number[] | null;
  /** The same against the twin with its own noise (effects off). */
  angleDwTwinIndependent: number[] | null;
  angleDwBackprop: number[] | null;
}

export interface ClassificationResult {
  records: EpochRecord[];
  testAccuracy: number;
  ticks: number;
  wallSeconds: number;
  ticksPerSecond: number;
  /** Final forward weights W_1..W_N (real). */
  forward: Matrix[];
}

const logit = (p: number) => Math.log(p / (1 - p));

/** Target potentials (STATE integers) of every class: one-hot in rate, logit to potential. */
export function classTargets(classes: number, on: number, off: number): number[][] {
  return Array.from({ length: classes }, (_, c) => Array.from({ length: classes }, (_, j) => Math.round(logit(j === c ? on : off) * ONE)));
}

function toState(x: ArrayLike<number>): number[] {
  return Array.from(x, (v) => Math.round(v * ONE));
}

/**
 * The host writes of a run of training presentations: the forward-rate factor on the `reward` input at tick 0
 * (unless `rate` is null: circuits without forwardRateInput), then for presentation q (sample order[q]) at tick
 * q·T the input rates and the target potentials of its label (`targets` from classTargets).
 */
export function presentationStimulus(layout: MicrocircuitLayout, data: LabelledSet, order: readonly number[], targets: number[][], rate: number | null): StimulusEvent[] {
  const T = layout.ticksPerPresentation;
  const stim: StimulusEvent[] = rate === null ? [] : [{ tick: 0, port: 'reward', values: [Math.round(rate * ONE)] }];
  order.forEach((s, q) => {
    stim.push({ tick: q * T, port: layout.input, values: toState(data.x[s]) });
    stim.push({ tick: q * T, port: layout.targetPort, values: targets[data.y[s]] });
  });
  return stim;
}

/** Weights of every projection of the circuit (real matrices), read from an engine. */
async function readCircuit(engine: LearningEngine, layout: MicrocircuitLayout) {
  const all = async (names: string[]) => Promise.all(names.map((n) => engine.matrix(n)));
  return { forward: await all(layout.forward), backward: await all(layout.backward), lateralIP: await all(layout.lateralIP), lateralPI: await all(layout.lateralPI) };
}

/**
 * Test accuracy of the circuit with the given weights, plasticity off, no target (see the header). `onChip`:
 * on an emulated chip (the Program the weights quantise to), else on the float twin.
 */
export async function evaluateClassifier(
  config: MicrocircuitConfig,
  weights: Awaited<ReturnType<typeof readCircuit>>,
  data: LabelledSet,
  onChip: boolean,
): Promise<number> {
  const { network, layout } = frozenCircuit(config, weights);
  const T = layout.ticksPerPresentation;
  const out = layout.pyramids[layout.pyramids.length - 1];
  const classes = layout.sizes[layout.sizes.length - 1];
  const stimulus = data.x.map((x, s) => ({ tick: s * T, port: layout.input, values: toState(x) }));
  const ticks = data.x.length * T;
  let rates: (s: number) => ArrayLike<number>;
  if (onChip) {
    network.probe('eval', out, { variable: 'rate', every: T });
    const { program } = compileNetwork(network);
    const dev = new EmulatorDevice();
    await dev.open();
    await dev.load(program);
    const rec = await dev.run({ ticks, stimulus, digests: false, spikes: false, probes: true });
    await dev.close();
    const pr = rec.probes.find((p) => p.name === 'eval')!;
    rates = (s) => pr.data.subarray(s * classes, (s + 1) * classes);
  } else {
    const twin = new FloatTwin(network);
    const samples: Float64Array[] = [];
    for (let s = 0; s < data.x.length; s++) {
      twin.run(T, [stimulus[s]].map((e) => ({ ...e, tick: 0 })));
      samples.push(twin.read(out, 'rate'));
    }
    rates = (s) => samples[s];
  }
  let correct = 0;
  for (let s = 0; s < data.x.length; s++) {
    const r = rates(s);
    let best = 0;
    for (let j = 1; j < classes; j++) if (r[j] > r[best]) best = j;
    if (best === data.y[s]) correct++;
  }
  return correct / data.x.length;
}

/** The same circuit with every rate 0, no noise, and the given weights. */
function frozenCircuit(config: MicrocircuitConfig, weights: Awaited<ReturnType<typeof readCircuit>>) {
  const { rule: _rule, base, weightSeed: _w, weights: _ws, noise: _n, apicalProbeEvery: _a, startInSps, initLateral, weightRange, forwardGainLog2, chipSeed, placement, ...overrides } = config;
  const p = { ...(base ?? PAL_FIG3ABC_BW_ONLY), ...overrides };
  // task 'bw_only': the output runs free, so its look-ahead gain is that of the free regime (exact steady state).
  return buildMicrocircuit({
    base: { ...p, etaFw: p.etaFw.map(() => 0), etaBw: 0, etaIP: 0, etaPI: 0, sigma: 0, task: 'bw_only' },
    rule: 'fa',
    noise: false,
    weights,
    startInSps,
    initLateral,
    weightRange,
    forwardGainLog2,
    chipSeed,
    placement,
  });
}

/**
 * The backprop updates of the equivalent feed-forward network over the samples (header), per forward layer,
 * with the circuit's output error. `targets` are potentials (real).
 */
export function backpropUpdates(layout: MicrocircuitLayout, forward: Matrix[], xs: ArrayLike<number>[], targets: number[][]): Matrix[] {
  const { gl, gB, gNtgt } = layout.params.conductances;
  const N = forward.length;
  const c = steadyStateGains(layout.params, N);
  const dW = forward.map((W) => matrix(W.rows, W.cols));
  const phi = (v: number) => 1 / (1 + Math.exp(-v));
  for (let s = 0; s < xs.length; s++) {
    const { v, r } = steadyStatePass(layout.params, forward, xs[s]);
    // Output error as the circuit computes it (nudged minus predicted rate).
    const vOut = v[N - 1];
    let delta = vOut.map((vh, j) => {
      const vB = vh / c[N - 1];
      const u = (gB * vB + gNtgt * targets[s][j]) / (gl + gB + gNtgt);
      return phi(u) - phi(vh);
    });
    for (let k = N - 1; k >= 0; k--) {
      const W = forward[k];
      const D = dW[k];
      for (let j = 0; j < W.rows; j++) for (let i = 0; i < W.cols; i++) D.data[j * W.cols + i] += delta[j] * r[k][i];
      if (k > 0) {
        const next = new Array<number>(W.cols).fill(0);
        for (let j = 0; j < W.rows; j++) for (let i = 0; i < W.cols; i++) next[i] += W.data[j * W.cols + i] * delta[j];
        delta = next.map((e, i) => c[k] * e * sigmoidDerivative(v[k - 1][i]));
      }
    }
  }
  return dW;
}

/** The circuit's twin with the engine's current weights at the engine's tick (for a fidelity window). */
function twinFrom(config: MicrocircuitConfig, weights: Awaited<ReturnType<typeof readCircuit>>, tick: number, chipNoise: boolean): FloatTwin {
  const { network } = buildMicrocircuit({ ...config, weights });
  const twin = new FloatTwin(network, { effects: chipNoise ? ['prngNoise'] : 'none', seed: (config.chipSeed ?? 1) + 7919 });
  twin.tick = tick;
  return twin;
}

/**
 * Trains the circuit on `train` for `epochs` epochs on the engine (whose Program/Network was built from
 * `config`), evaluating on `test`. The engine must hold the circuit (ChipEngine: Program loaded).
 */
export async function trainClassifier(
  engine: LearningEngine,
  config: MicrocircuitConfig,
  layout: MicrocircuitLayout,
  train: LabelledSet,
  test: LabelledSet,
  opts: ClassificationOptions,
): Promise<ClassificationResult> {
  const T = layout.ticksPerPresentation;
  const classes = layout.sizes[layout.sizes.length - 1];
  const targets = classTargets(classes, opts.targetOn ?? 0.9, opts.targetOff ?? 0.1);
  const chunk = opts.chunk ?? 250;
  const window = opts.windowSamples ?? 100;
  const records: EpochRecord[] = [];
  const total = opts.epochs * train.x.length;
  let done = 0;
  let ticks = 0;
  const wall0 = performance.now();
  let rate = 1;
  const stimulusFor = (order: number[], from: number, n: number) =>
    presentationStimulus(layout, train, order.slice(from, from + n), targets, opts.rateSchedule ? rate : null);
  if (opts.evaluateInitial) {
    const w = await readCircuit(engine, layout);
    const rec: EpochRecord = {
      epoch: 0,
      ticks: 0,
      testAccuracy: await evaluateClassifier(config, w, test, engine.kind === 'chip'),
      angles: layout.backward.map((_, k) => frobeniusAngle(w.backward[k], transpose(w.forward[k + 1]))),
      apicalNorms: [],
      angleDwTwin: null,
      angleDwTwinIndependent: null,
      angleDwBackprop: null,
    };
    records.push(rec);
    opts.onEpoch?.(rec);
  }
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    rate = opts.rateSchedule ? opts.rateSchedule(epoch, opts.epochs) : 1;
    const order = new SeededRandom((opts.seed ?? 1) * 1000 + epoch).shuffle(Array.from({ length: train.x.length }, (_, i) => i));
    let pos = 0;
    let angleDwTwin: number[] | null = null;
    let angleDwTwinIndependent: number[] | null = null;
    let angleDwBackprop: number[] | null = null;
    if (window > 0) {
      const n = Math.min(window, order.length);
      const before = await readCircuit(engine, layout);
      const stim = stimulusFor(order, 0, n);
      await engine.run(n * T, stim);
      const after = (await readCircuit(engine, layout)).forward;
      const startTick = ticks;
      const dTwinOf = (chipNoise: boolean) => {
        const twin = twinFrom(config, before, startTick, chipNoise);
        twin.run(n * T, stim);
        return layout.forward.map((name, k) => sub(matrix(after[k].rows, after[k].cols, twin.weights(name)), before.forward[k]));
      };
      const dChip = after.map((W, k) => sub(W, before.forward[k]));
      const dTwin = dTwinOf(true);
      const dTwinInd = dTwinOf(false);
      const xs = order.slice(0, n).map((s) => train.x[s]);
      const ts = order.slice(0, n).map((s) => targets[train.y[s]].map((v) => v / ONE));
      const dBp = backpropUpdates(layout, before.forward, xs, ts);
      angleDwTwin = dChip.map((d, k) => frobeniusAngle(d, dTwin[k]));
      angleDwTwinIndependent = dChip.map((d, k) => frobeniusAngle(d, dTwinInd[k]));
      angleDwBackprop = dChip.map((d, k) => frobeniusAngle(d, dBp[k]));
      pos = n;
      ticks += n * T;
      done += n;
      opts.onProgress?.(done, total);
    }
    while (pos < order.length) {
      const n = Math.min(chunk, order.length - pos);
      await opts.beforeChunk?.();
      await engine.run(n * T, stimulusFor(order, pos, n));
      pos += n;
      ticks += n * T;
      done += n;
      opts.onProgress?.(done, total);
    }
    const w = await readCircuit(engine, layout);
    const angles = layout.backward.map((_, k) => frobeniusAngle(w.backward[k], transpose(w.forward[k + 1])));
    const apicalNorms: number[] = [];
    for (let k = 0; k < layout.backward.length; k++) {
      const a = await engine.apical(layout.pyramids[k]);
      apicalNorms.push(Math.hypot(...a));
    }
    const evaluate = (opts.evaluateEveryEpoch ?? true) || epoch === opts.epochs;
    const testAccuracy = evaluate ? await evaluateClassifier(config, w, test, engine.kind === 'chip') : null;
    const rec: EpochRecord = { epoch, ticks, testAccuracy, angles, apicalNorms, angleDwTwin, angleDwTwinIndependent, angleDwBackprop };
    records.push(rec);
    opts.onEpoch?.(rec);
  }
  const wallSeconds = (performance.now() - wall0) / 1000;
  const final = await readCircuit(engine, layout);
  return {
    records,
    testAccuracy: records[records.length - 1].testAccuracy!,
    ticks,
    wallSeconds,
    ticksPerSecond: ticks / Math.max(wallSeconds, 1e-9),
    forward: final.forward,
  };
}

/** Builds the circuit (Network, Program, layout) for a config: the engines' common starting point. */
export function buildClassifierCircuit(config: MicrocircuitConfig) {
  const { network, layout } = buildMicrocircuit(config);
  const { program } = compileNetwork(network);
  return { network, layout, program };
}

/**
 * `apical fidelity` (and the demo): how far the fixed-point chip is from the float model and from backprop, per
 * layer and over training, for the digits microcircuit (PAL or FA).
 *
 *   chip      the circuit trained on the bit-exact emulator; per epoch: test accuracy, ∠(B_k, W_{k+1}ᵀ),
 *             ‖v_A,k‖, and over a window of presentations at the start of each epoch ∠(ΔW_chip, ΔW_twin)
 *             and ∠(ΔW_chip, ΔW_bp) per forward layer (classification.ts explains the window)
 *   twin      the same circuit trained on the float twin (effects off) from the same initial weights: its test
 *             accuracy per epoch
 *   backprop  the equivalent feed-forward network (steady state v̂_k = c_k·W_k r_{k−1}, logistic, no biases)
 *             from the same initial weights, trained with per-sample backprop on ½‖φ(v̂_N) − r_tgt‖²
 *             (targets 0.9/0.1), η = 2 annealed with the circuit's schedule: its test accuracy per epoch
 *   attribution  the twin rerun over one window from the initial state with one fixed-point effect at a time
 *             (weightQuantisation, rounding, saturation, lut, prngNoise; twin/attribution.ts): the distance is
 *             ‖W_twin − W_chip‖ / ‖ΔW_chip‖ over all forward weights after the window
 *
 * Per layer k (1 = first hidden, N = output) the report gives ∠(B_k, W_{k+1}ᵀ) at the end (hidden layers),
 * and the mean over windows of ∠(ΔW_k,chip, ΔW_k,twin) and ∠(ΔW_k,chip, ΔW_k,bp).
 */
import { EmulatorDevice } from '../devices/emulatorDevice.js';
import { attributeError } from './twin/attribution.js';
import { ALL_EFFECTS, FloatTwin } from './twin/floatTwin.js';
import { forward as bpForward, trainStep, type DenseLayer } from './twin/backprop.js';
import { buildClassifierCircuit, ChipEngine, trainClassifier, TwinEngine, classTargets, presentationStimulus, type ClassificationResult } from './circuits/classification.js';
import { digitsConfig } from './training.js';
import { steadyStateGains } from './circuits/microcircuit.js';
import { DIGITS_RATE_SCHEDULE } from './circuits/parameters.js';
import { digitsSplit } from './data/digits.js';
import { derivativeWeightedTargets } from './circuits/alignment.js';
import { frobeniusAngle } from './circuits/metrics.js';
import { SeededRandom } from './seededRandom.js';
import type { FidelityLayer, FidelityReportData } from './report/fidelityReport.js';

export interface FidelityOptions {
  rule?: 'pal' | 'fa';
  epochs?: number;
  /** Epochs of the twin's own training run (default: epochs; 0 = skip). */
  twinEpochs?: number;
  seed?: number;
  /** Presentations per fidelity window (default 100). */
  windowSamples?: number;
  /** Presentations of the attribution window (default 50; 0 = skip the attribution). */
  attributionSamples?: number;
  command?: string;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface FidelitySummary {
  rule: 'pal' | 'fa';
  epochs: number;
  chip: ClassificationResult;
  twinAccuracy: number[] | null;
  backpropAccuracy: number[];
  layers: FidelityLayer[];
  /** Final ‖v_A,k‖ per hidden layer. */
  apicalNorm: number[];
  attribution: { effect: string; value: number; unit: string; note?: string }[] | null;
  data: FidelityReportData;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** Per-sample backprop of the equivalent feed-forward network; test accuracy after every epoch. */
export function trainBackpropReference(init: { rows: number; cols: number; data: Float64Array }[], gains: number[], epochs: number, seed: number, eta = 2): number[] {
  const split = digitsSplit();
  const layers: DenseLayer[] = init.map((W, k) => ({ nIn: W.cols, nOut: W.rows, W: W.data.map((v) => v * gains[k]), b: null, activation: 'sigmoid' }));
  const targets = classTargets(10, 0.9, 0.1).map((t, c) => t.map((_, j) => (j === c ? 0.9 : 0.1)));
  const acc: number[] = [];
  for (let e = 1; e <= epochs; e++) {
    const order = new SeededRandom(seed * 1000 + e).shuffle(Array.from({ length: split.train.x.length }, (_, i) => i));
    const rate = eta * DIGITS_RATE_SCHEDULE(e, epochs);
    for (const s of order) trainStep(layers, [split.train.x[s]], [targets[split.train.y[s]]], rate);
    let correct = 0;
    for (let s = 0; s < split.test.x.length; s++) {
      const out = bpForward(layers, split.test.x[s]).activations[layers.length];
      let best = 0;
      for (let j = 1; j < out.length; j++) if (out[j] > out[best]) best = j;
      if (best === split.test.y[s]) correct++;
    }
    acc.push(correct / split.test.x.length);
  }
  return acc;
}

export async function runFidelity(opts: FidelityOptions = {}): Promise<FidelitySummary> {
  const rule = opts.rule ?? 'pal';
  const seed = opts.seed ?? 1;
  const epochs = opts.epochs ?? 5;
  const twinEpochs = opts.twinEpochs ?? epochs;
  const config = digitsConfig(rule, seed);
  const split = digitsSplit();
  const { network, layout, program } = buildClassifierCircuit(config);
  const T = layout.ticksPerPresentation;
  const total = split.train.x.length;

  // Chip.
  const device = new EmulatorDevice();
  await device.open();
  await device.load(program);
  const chip = await trainClassifier(new ChipEngine(device, program), config, layout, split.train, split.test, {
    epochs,
    seed,
    windowSamples: opts.windowSamples ?? 100,
    rateSchedule: DIGITS_RATE_SCHEDULE,
    onProgress: (d) => opts.onProgress?.('chip', d, epochs * total),
  });

  // Attribution over one window from the initial state (fresh chip, same stimulus).
  let attribution: FidelitySummary['attribution'] = null;
  const nAttr = opts.attributionSamples ?? 50;
  if (nAttr > 0) {
    const order = new SeededRandom(seed * 1000 + 1).shuffle(Array.from({ length: total }, (_, i) => i)).slice(0, nAttr);
    const targets = classTargets(10, 0.9, 0.1);
    const stim = presentationStimulus(layout, split.train, order, targets, DIGITS_RATE_SCHEDULE(1, epochs));
    const dev = new EmulatorDevice();
    await dev.open();
    await dev.load(program);
    const engine = new ChipEngine(dev, program);
    const before = await Promise.all(layout.forward.map((n) => engine.matrix(n)));
    await engine.run(nAttr * T, stim);
    const after = await Promise.all(layout.forward.map((n) => engine.matrix(n)));
    await dev.close();
    let dNorm = 0;
    after.forEach((W, k) => W.data.forEach((v, q) => (dNorm += (v - before[k].data[q]) ** 2)));
    dNorm = Math.sqrt(dNorm);
    let runs = 0;
    const report = attributeError({
      network,
      program,
      seed: seed + 7919,
      shapley: false,
      distance: (twin: FloatTwin) => {
        twin.run(nAttr * T, stim);
        let s = 0;
        layout.forward.forEach((n, k) => {
          const w = twin.weights(n);
          for (let q = 0; q < w.length; q++) s += (w[q] - after[k].data[q]) ** 2;
        });
        opts.onProgress?.('attribution', ++runs, 2 * ALL_EFFECTS.length + 2);
        return Math.sqrt(s) / dNorm;
      },
    });
    attribution = [
      { effect: 'all effects off (ideal float)', value: report.allOff, unit: '‖W_twin − W_chip‖/‖ΔW_chip‖' },
      ...report.effects.map((e) => ({ effect: `${e} alone`, value: report.oneOn[e], unit: '‖W_twin − W_chip‖/‖ΔW_chip‖', note: `all but ${e}: ${report.leaveOneOut[e].toPrecision(3)}` })),
      { effect: 'all effects on', value: report.allOn, unit: '‖W_twin − W_chip‖/‖ΔW_chip‖' },
    ];
  }

  // Twin.
  let twinAccuracy: number[] | null = null;
  if (twinEpochs > 0) {
    const twin = await trainClassifier(new TwinEngine(new FloatTwin(network, { effects: 'none', seed })), config, layout, split.train, split.test, {
      epochs: twinEpochs,
      seed,
      windowSamples: 0,
      rateSchedule: DIGITS_RATE_SCHEDULE,
      onProgress: (d) => opts.onProgress?.('twin', d, twinEpochs * total),
    });
    twinAccuracy = twin.records.map((r) => r.testAccuracy ?? NaN);
  }

  // Backprop reference from the same initial weights.
  const gains = steadyStateGains(layout.params, layout.forward.length);
  const backpropAccuracy = trainBackpropReference(layout.initial.forward, gains, epochs, seed);

  const hidden = layout.backward.length;
  const windowsTwin = (k: number) => chip.records.map((r) => r.angleDwTwin?.[k] ?? NaN).filter(Number.isFinite);
  const windowsTwinInd = (k: number) => chip.records.map((r) => r.angleDwTwinIndependent?.[k] ?? NaN).filter(Number.isFinite);
  const windowsBp = (k: number) => chip.records.map((r) => r.angleDwBackprop?.[k] ?? NaN).filter(Number.isFinite);
  const last = chip.records[chip.records.length - 1];
  // ∠(B_k, ⟨φ'_k W_{k+1}ᵀ φ'_{k+1}⟩) over the test inputs, with the final weights (PAL's fixed point, §4.1).
  const finalB = await Promise.all(layout.backward.map((n) => new ChipEngine(device, program).matrix(n)));
  const phiTargets = derivativeWeightedTargets(layout, chip.forward, split.test.x.map((x) => Array.from(x)));
  await device.close();
  const layers: FidelityLayer[] = layout.forward.map((name, k) => ({
    name: k < hidden ? `hidden ${k + 1} (${name}, ${layout.backward[k]})` : `output (${name})`,
    angleBWt: k < hidden ? last.angles[k] : null,
    angleDerivative: k < hidden ? frobeniusAngle(finalB[k], phiTargets[k]) : null,
    angleDwTwin: mean(windowsTwin(k)),
    angleDwTwinIndependent: mean(windowsTwinInd(k)),
    angleDwBackprop: mean(windowsBp(k)),
  }));
  const time = chip.records.map((r) => r.epoch);
  const perLayer = (f: (r: (typeof chip.records)[number]) => number[] | null, names: string[]) =>
    Object.fromEntries(names.map((n, k) => [n, chip.records.map((r) => f(r)?.[k] ?? NaN)]));
  const pad = (xs: number[] | null) => time.map((_, i) => (xs && i < xs.length ? xs[i] : NaN));
  const pct = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? null : Number((100 * x).toFixed(2)));
  const data: FidelityReportData = {
    title: `Fidelity: ${rule.toUpperCase()} microcircuit ${layout.sizes.join('-')} on the 8×8 digits`,
    command: opts.command ?? `apical fidelity --rule ${rule} --epochs ${epochs} --seed ${seed}`,
    circuit: 'microcircuit',
    rule,
    task: 'digits',
    summary: [
      { label: 'test accuracy', chip: pct(chip.testAccuracy), twin: pct(twinAccuracy?.[twinAccuracy.length - 1]), backprop: pct(backpropAccuracy[backpropAccuracy.length - 1]), unit: '%' },
      { label: 'epochs', chip: epochs, twin: twinEpochs || null, backprop: epochs },
      { label: 'ticks per second (training)', chip: Math.round(chip.ticksPerSecond), twin: null, backprop: null },
    ],
    layers,
    timeUnit: 'epoch',
    series: {
      time,
      angleBWt: perLayer((r) => r.angles, layout.backward),
      angleDwTwin: perLayer((r) => r.angleDwTwin, layout.forward),
      angleDwBackprop: perLayer((r) => r.angleDwBackprop, layout.forward),
      apicalNorm: perLayer((r) => r.apicalNorms, layout.pyramids.slice(0, hidden)),
      accuracy: { chip: chip.records.map((r) => r.testAccuracy ?? NaN), twin: pad(twinAccuracy), backprop: pad(backpropAccuracy) },
    },
    accuracyGoal: 0.93,
    attribution: attribution ?? undefined,
    notes: [
      `∠(ΔW_chip, ΔW_twin) and ∠(ΔW_chip, ΔW_bp): over the first ${opts.windowSamples ?? 100} presentations of every epoch, the twin and backprop started from the chip's weights at the window start; the twin draws the chip's noise (effect prngNoise), the "own noise" column uses a twin with its own Gaussian noise`,
      'backprop: the equivalent feed-forward network (steady state of the circuit, logistic, no biases), per-sample SGD η = 2 on ½‖r − r_tgt‖² from the same initial weights, annealed with the same schedule as the circuit',
      `the digits split: data/digits.csv.gz, SeededRandom(0), 1437 train / 360 test`,
    ],
  };
  return { rule, epochs, chip, twinAccuracy, backpropAccuracy, layers, apicalNorm: last.apicalNorms, attribution, data };
}

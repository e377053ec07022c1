/**
 * `apical train`: one entry point for the learning circuits' tasks on either engine.
 *
 *   circuit  microcircuit (the dendritic cortical microcircuit, circuits/microcircuit.ts; SAL: its spiking
 *            variant, circuits/salMicrocircuit.ts)
 *   rule     pal (learned feedback, PAL), sal (spike-based alignment), fa (fixed random feedback), bp (feedback
 *            kept equal to Wᵀ: on the twin by a host copy before every presentation; on the chip, which has no
 *            weight copy between projections, by reloading the circuit with B = Wᵀ, W_PI = −B at every chunk of
 *            presentations — the closest the Device interface allows, documented as such in the report)
 *   task     alignment (5-20-10-20-5, forward weights frozen, no teacher: ∠(B, Wᵀ) over simulated time),
 *            teacher (1-1-1 teacher–student, teacher W = 2: final |W − 2| and the loss),
 *            digits (64-40-10 classifier on the 8×8 digits: test accuracy)
 *   engine   chip (the bit-exact emulator, through a Device) or twin (the float64 twin, effects off)
 *
 * Every run returns one TrainReport; the CLI prints it (text or JSON) and the fidelity command and the demo
 * build on the same functions.
 */
import type { Device } from '../devices/device.js';
import { EmulatorDevice } from '../devices/emulatorDevice.js';
import { ApicalError } from '../emulator/errors.js';
import { buildClassifierCircuit, ChipEngine, trainClassifier, TwinEngine, type ClassificationResult, type EpochRecord } from './circuits/classification.js';
import { alignmentDataset, epochOrder, runAlignment, type AlignmentRecord } from './circuits/alignment.js';
import { runSalAlignment } from './circuits/salMicrocircuit.js';
import { runTeacherStudent, runTeacherStudentTwin, type TeacherStudentRecord } from './circuits/teacherStudent.js';
import { frobeniusAngle, transpose, type Matrix } from './circuits/metrics.js';
import { buildMicrocircuit, type MicrocircuitConfig, type MicrocircuitWeights } from './circuits/microcircuit.js';
import { DIGITS_RATE_SCHEDULE, PAL_DIGITS, PAL_FIG3ABC_BW_ONLY, type MicrocircuitParameters } from './circuits/parameters.js';
import { compileNetwork } from './compiler.js';
import { digitsSplit } from './data/digits.js';
import { FloatTwin } from './twin/floatTwin.js';

export const TRAIN_CIRCUITS = ['microcircuit'] as const;
export const TRAIN_RULES = ['pal', 'sal', 'fa', 'bp'] as const;
export const TRAIN_TASKS = ['alignment', 'teacher', 'digits'] as const;
export const TRAIN_ENGINES = ['chip', 'twin'] as const;
export type TrainRule = (typeof TRAIN_RULES)[number];
export type TrainTask = (typeof TRAIN_TASKS)[number];
export type TrainEngineName = (typeof TRAIN_ENGINES)[number];

/** A train request that cannot run (unknown choice, bad size, unreadable init model…): CLI exit code 2. */
export class TrainError extends ApicalError {
  override name = 'TrainError';
}

export interface TrainSpec {
  circuit: string;
  rule: string;
  task: string;
  engine: string;
  /** Epochs (digits: passes over the training set; alignment: seconds of simulated time ÷ 1 s; teacher: ÷ 1 s). */
  epochs?: number;
  seed?: number;
  /** Hidden layer sizes (digits; default 40). */
  hidden?: number[];
  /** Forward weights from an ONNX model (digits): see onnxInit. */
  init?: MicrocircuitWeights['forward'];
  /** Accuracy of the imported model (reported next to the fine-tuned one). */
  initAccuracy?: number;
  /** Digits task: the data file (CSV or .csv.gz, 65 integers per line: 64 pixels 0..16 and the label; default data/digits.csv.gz), split as documented. */
  data?: string;
  /** Device for engine 'chip' (default: a fresh EmulatorDevice). */
  device?: Device;
  onProgress?: (done: number, total: number) => void;
  onRecord?: (r: TrainRecord) => void;
}

/** One point of a training curve. */
export interface TrainRecord {
  /** Epoch (digits) or simulated seconds (alignment, teacher). */
  time: number;
  /** ∠(B_k, W_{k+1}ᵀ) per hidden layer. */
  angles: number[];
  apicalNorms: number[];
  testAccuracy?: number | null;
  loss?: number | null;
  angleDwTwin?: number[] | null;
  angleDwBackprop?: number[] | null;
  /** ∠(B, ⟨φ'Wᵀφ'⟩) per hidden layer (alignment). */
  derivativeAngles?: number[] | null;
}

export interface TrainReport {
  circuit: string;
  rule: TrainRule;
  task: TrainTask;
  engine: TrainEngineName;
  epochs: number;
  seed: number;
  layers: number[];
  ticks: number;
  /** Simulated seconds (ticks · Δt). */
  simulatedSeconds: number;
  wallSeconds: number;
  ticksPerSecond: number;
  /** Classification tasks. */
  testAccuracy?: number;
  /** Regression tasks (teacher): mean squared error of the output potential vs the teacher's. */
  finalLoss?: number;
  /** ∠(B_k, W_{k+1}ᵀ) per hidden layer at the end (degrees). */
  angles: number[];
  /** Names of the feedback projections the angles belong to. */
  angleLayers: string[];
  /** Teacher task: final forward weights. */
  weights?: number[];
  /** Accuracy of the imported model the run started from (--init): the ONNX model in float, and the circuit
   * seeded with its weights on the engine before any training. */
  initAccuracy?: number;
  initEngineAccuracy?: number;
  records: TrainRecord[];
  notes: string[];
}

function pick<T extends string>(value: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new TrainError(`unknown ${what} "${value}"`, `use one of ${allowed.join(', ')}`);
  return value as T;
}

/** Validates the choices and runs the task. */
export async function train(spec: TrainSpec): Promise<TrainReport> {
  pick(spec.circuit, TRAIN_CIRCUITS, 'circuit');
  const rule = pick(spec.rule, TRAIN_RULES, 'rule');
  const task = pick(spec.task, TRAIN_TASKS, 'task');
  const engine = pick(spec.engine, TRAIN_ENGINES, 'engine');
  if (spec.epochs !== undefined && !(Number.isInteger(spec.epochs) && spec.epochs >= 1)) throw new TrainError(`epochs must be an integer ≥ 1, got ${spec.epochs}`);
  for (const h of spec.hidden ?? []) if (!(Number.isInteger(h) && h >= 1)) throw new TrainError(`a layer size must be an integer ≥ 1, got ${h}`, 'give --hidden as positive integers, e.g. 40 or 30,20');
  if (spec.init && task !== 'digits') throw new TrainError('--init seeds the digits classifier only', 'use --task digits with --init');
  if (spec.data && task !== 'digits') throw new TrainError('--data is the digits task\'s data file', 'use --task digits with --data');
  if (task === 'digits') return trainDigits(spec, rule, engine);
  if (task === 'alignment') return trainAlignment(spec, rule, engine);
  return trainTeacher(spec, rule, engine);
}

// ------------------------------------------------------------------------------------------------ digits

/** Forward learning rates are scaled by this when fine-tuning imported weights (--init). */
export const FINE_TUNE_RATE = 0.1;

/**
 * The digits microcircuit configuration (PAL_DIGITS with the rule and seeds). With imported forward weights
 * (`init`, fine-tuning) the feedback starts aligned, B_k = W_{k+1}ᵀ (and W_PI = −B, W_IP in the SPS), so the
 * hidden layers receive the backprop error direction from the first tick and PAL keeps B near Wᵀ; the forward
 * rates are FINE_TUNE_RATE of the from-scratch ones.
 */
export function digitsConfig(rule: 'pal' | 'fa', seed: number, hidden?: number[], init?: Matrix[]): MicrocircuitConfig {
  const layers = [64, ...(hidden ?? [PAL_DIGITS.layers[1]]), 10];
  const scale = init ? FINE_TUNE_RATE : 1;
  const base: MicrocircuitParameters = {
    ...PAL_DIGITS,
    layers,
    etaFw: layers.slice(1).map((_, k, a) => scale * (k === a.length - 1 ? PAL_DIGITS.etaFw[1] : PAL_DIGITS.etaFw[0])),
  };
  const weights: MicrocircuitWeights | undefined = init ? { forward: init, backward: init.slice(1).map((W) => transpose(W)) } : undefined;
  return { base, rule, weightSeed: seed, chipSeed: seed, weights, forwardLowpass: 'engine', forwardRateInput: true };
}

async function trainDigits(spec: TrainSpec, rule: TrainRule, engineName: TrainEngineName): Promise<TrainReport> {
  if (rule === 'sal') throw new TrainError('rule "sal" has no digits task', 'SAL runs the alignment task (--task alignment); use pal, fa or bp for digits');
  const seed = spec.seed ?? 1;
  const epochs = spec.epochs ?? PAL_DIGITS.epochs;
  const config = digitsConfig(rule === 'pal' ? 'pal' : 'fa', seed, spec.hidden, spec.init);
  if (spec.init) {
    const sizes = [64, ...(spec.hidden ?? [PAL_DIGITS.layers[1]]), 10];
    spec.init.forEach((W, k) => {
      if (W.rows !== sizes[k + 1] || W.cols !== sizes[k]) {
        throw new TrainError(`the imported layer ${k + 1} is ${W.rows}×${W.cols}, the circuit needs ${sizes[k + 1]}×${sizes[k]}`, 'give --hidden matching the model');
      }
    });
  }
  const split = digitsSplit({ path: spec.data });
  const built = buildClassifierCircuit(config);
  const { layout, network } = built;
  let program = built.program;
  const notes: string[] = [];
  let engine;
  let device: Device | null = null;
  if (engineName === 'chip') {
    device = spec.device ?? new EmulatorDevice();
    await device.open();
    await device.reset();
    await device.load(program);
    engine = new ChipEngine(device, program);
  } else {
    engine = new TwinEngine(new FloatTwin(network, { effects: 'none', seed }));
  }
  let beforeChunk: (() => Promise<void>) | undefined;
  if (rule === 'bp') {
    if (engineName === 'twin') {
      const twin = (engine as TwinEngine).twin;
      beforeChunk = async () => copyTransposes(twin, layout);
      notes.push('bp: B = Wᵀ and W_PI = −B copied into the twin before every presentation');
    } else {
      notes.push('bp on the chip: the circuit is reloaded with B = Wᵀ and W_PI = −B (read back) before every chunk of 50 presentations; the chip has no weight copy between projections, and a reload resets neuron state, low-pass and tags');
      beforeChunk = async () => {
        const chip = engine as ChipEngine;
        const forward = await Promise.all(layout.forward.map((n) => chip.matrix(n)));
        const lateralIP = await Promise.all(layout.lateralIP.map((n) => chip.matrix(n)));
        const backward = layout.backward.map((_, k) => transpose(forward[k + 1]));
        const lateralPI = backward.map((B) => ({ ...B, data: B.data.map((v) => -v) }));
        const { network: net } = buildMicrocircuit({ ...config, weights: { forward, backward, lateralIP, lateralPI } });
        program = compileNetwork(net).program;
        await device!.load(program);
        (engine as { program: typeof program }).program = program;
      };
    }
  }
  const result: ClassificationResult = await trainClassifier(engine, config, layout, split.train, split.test, {
    epochs,
    seed,
    onProgress: spec.onProgress,
    beforeChunk,
    rateSchedule: DIGITS_RATE_SCHEDULE,
    evaluateInitial: !!spec.init,
    chunk: rule === 'bp' ? (engineName === 'twin' ? 1 : 50) : undefined,
    onEpoch: (r: EpochRecord) =>
      spec.onRecord?.({
        time: r.epoch,
        angles: r.angles,
        apicalNorms: r.apicalNorms,
        testAccuracy: r.testAccuracy,
        angleDwTwin: r.angleDwTwin,
        angleDwBackprop: r.angleDwBackprop,
      }),
  });
  if (device && !spec.device) await device.close();
  const last = result.records[result.records.length - 1];
  return {
    circuit: 'microcircuit',
    rule,
    task: 'digits',
    engine: engineName,
    epochs,
    seed,
    layers: layout.sizes,
    ticks: result.ticks,
    simulatedSeconds: result.ticks * layout.params.dt * 1e-3,
    wallSeconds: result.wallSeconds,
    ticksPerSecond: result.ticksPerSecond,
    testAccuracy: result.testAccuracy,
    angles: last.angles,
    angleLayers: layout.backward,
    initAccuracy: spec.initAccuracy,
    initEngineAccuracy: spec.init ? (result.records[0].testAccuracy ?? undefined) : undefined,
    records: result.records.map((r) => ({
      time: r.epoch,
      angles: r.angles,
      apicalNorms: r.apicalNorms,
      testAccuracy: r.testAccuracy,
      angleDwTwin: r.angleDwTwin,
      angleDwBackprop: r.angleDwBackprop,
    })),
    notes,
  };
}

/** B_k = W_{k+1}ᵀ and W_PI,k = −B_k in the twin (the backprop reference's exact feedback). */
function copyTransposes(twin: FloatTwin, layout: { forward: string[]; backward: string[]; lateralPI: string[] }): void {
  layout.backward.forEach((b, k) => {
    const [rows, cols] = twin.shape(layout.forward[k + 1]);
    const W = twin.weights(layout.forward[k + 1]);
    const Bt = new Float64Array(rows * cols);
    // B_k is cols × rows (N_k × N_{k+1}), post-major: B[i·rows + j] = W[j·cols + i].
    for (let j = 0; j < rows; j++) for (let i = 0; i < cols; i++) Bt[i * rows + j] = W[j * cols + i];
    twin.setWeights(b, Bt);
    twin.setWeights(layout.lateralPI[k], Bt.map((v) => -v));
  });
}

// ------------------------------------------------------------------------------------------------ alignment

async function trainAlignment(spec: TrainSpec, rule: TrainRule, engineName: TrainEngineName): Promise<TrainReport> {
  const seed = spec.seed ?? 1;
  if (rule === 'sal') return trainSalAlignment(spec, engineName, seed, spec.epochs ?? 20);
  const seconds = spec.epochs ?? 10;
  if (rule === 'bp') throw new TrainError('rule "bp" has no alignment task', 'bp keeps B = Wᵀ by construction (angle 0); use pal, sal or fa');
  const config: MicrocircuitConfig = { base: PAL_FIG3ABC_BW_ONLY, rule, weightSeed: seed, chipSeed: seed };
  const { network, layout } = buildMicrocircuit(config);
  const presentations = Math.round((seconds * 1000) / layout.params.tPres);
  const every = 100;
  const records: TrainRecord[] = [];
  const toRecord = (r: AlignmentRecord): TrainRecord => ({ time: r.seconds, angles: r.angles, apicalNorms: r.apicalNorms, derivativeAngles: r.derivativeAngles });
  let ticks = 0;
  let wallSeconds = 0;
  if (engineName === 'chip') {
    const { program } = compileNetwork(network);
    const device = spec.device ?? new EmulatorDevice();
    await device.open();
    await device.reset();
    const series = await runAlignment(device, { program, layout }, {
      presentations,
      every,
      dataSeed: seed + 6,
      onRecord: (r) => {
        const rec = toRecord(r);
        records.push(rec);
        spec.onRecord?.(rec);
        spec.onProgress?.(r.presentations, presentations);
      },
    });
    if (!spec.device) await device.close();
    ticks = series.records[series.records.length - 1].ticks;
    wallSeconds = series.wallSeconds;
  } else {
    const twin = new FloatTwin(network, { effects: 'none', seed });
    const t0 = performance.now();
    const data = alignmentDataset(layout.sizes[0], layout.params.samples, seed + 6);
    const orderOf = epochOrder(data.length, seed + 6);
    const T = layout.ticksPerPresentation;
    const measure = (p: number) => {
      const angles = layout.backward.map((b, k) => {
        const [r, c] = twin.shape(b);
        const [fr, fc] = twin.shape(layout.forward[k + 1]);
        return frobeniusAngle({ rows: r, cols: c, data: twin.weights(b) }, transpose({ rows: fr, cols: fc, data: twin.weights(layout.forward[k + 1]) }));
      });
      const apicalNorms = layout.pyramids.slice(0, -1).map((g) => Math.hypot(...twin.read(g, 'apical')));
      const rec: TrainRecord = { time: (p * T * layout.params.dt) / 1000, angles, apicalNorms };
      records.push(rec);
      spec.onRecord?.(rec);
      spec.onProgress?.(p, presentations);
    };
    measure(0);
    for (let p = 0; p < presentations; p++) {
      twin.run(T, [{ tick: 0, port: layout.input, values: data[orderOf(p)].map((v) => Math.round(v * 65536)) }]);
      if ((p + 1) % every === 0) measure(p + 1);
    }
    ticks = presentations * T;
    wallSeconds = (performance.now() - t0) / 1000;
  }
  const last = records[records.length - 1];
  return {
    circuit: 'microcircuit',
    rule,
    task: 'alignment',
    engine: engineName,
    epochs: seconds,
    seed,
    layers: layout.sizes,
    ticks,
    simulatedSeconds: ticks * layout.params.dt * 1e-3,
    wallSeconds,
    ticksPerSecond: ticks / Math.max(wallSeconds, 1e-9),
    angles: last.angles,
    angleLayers: layout.backward,
    records,
    notes: [`alignment: ${PAL_FIG3ABC_BW_ONLY.source}; --epochs counts simulated seconds`],
  };
}

/**
 * SAL on the 5-20-10-20-5 alignment task (circuits/salMicrocircuit.ts): `epochs` passes over the 100-sample
 * dataset (200 ticks per presentation, 1 ms ticks). The twin engine runs the chip too (runSalAlignment drives
 * both on the same stimulus) and reports the twin's records.
 */
async function trainSalAlignment(spec: TrainSpec, engineName: TrainEngineName, seed: number, epochs: number): Promise<TrainReport> {
  const samples = 100;
  const every = 50;
  const presentations = epochs * samples;
  const device = spec.device ?? new EmulatorDevice();
  await device.open();
  await device.reset();
  const records: TrainRecord[] = [];
  const result = await runSalAlignment(device, {
    config: { weightSeed: seed, chipSeed: seed },
    presentations,
    every,
    samples,
    dataSeed: seed + 6,
    twin: engineName === 'twin',
    onRecord: (r, source) => {
      if (source !== engineName) return;
      const rec: TrainRecord = { time: r.seconds, angles: r.angles, apicalNorms: [] };
      records.push(rec);
      spec.onRecord?.(rec);
      spec.onProgress?.(r.presentations, presentations);
    },
  });
  if (!spec.device) await device.close();
  const ticks = presentations * result.layout.ticksPerPresentation;
  const wallSeconds = engineName === 'twin' ? result.twinWallSeconds ?? result.wallSeconds : result.wallSeconds;
  return {
    circuit: 'microcircuit',
    rule: 'sal',
    task: 'alignment',
    engine: engineName,
    epochs,
    seed,
    layers: result.layout.sizes,
    ticks,
    simulatedSeconds: ticks * result.layout.tickSeconds,
    wallSeconds,
    ticksPerSecond: ticks / Math.max(wallSeconds, 1e-9),
    angles: records[records.length - 1].angles,
    angleLayers: result.layout.backward,
    records,
    notes: [
      `SAL microcircuit (stochastic spiking neurons, τ_ref ${result.layout.tauRef} ticks, ${result.layout.psp} PSP, always-on SAL η ${result.layout.eta}); --epochs counts passes over the ${samples}-sample dataset (${samples * result.layout.ticksPerPresentation} ticks each)`,
      ...(engineName === 'twin' ? ['the twin engine runs the chip on the same stimulus too (runSalAlignment drives both)'] : []),
    ],
  };
}

// ------------------------------------------------------------------------------------------------ teacher

/**
 * The 1-1-1 teacher–student task (circuits/teacherStudent.ts): `epochs` simulated seconds (1000 presentations
 * of 1 ms each). finalLoss = the mean squared output-potential error against the teacher over the dataset (the
 * square of the driver's RMS, steady state without noise); weights = [W₁, W₂, B].
 */
async function trainTeacher(spec: TrainSpec, rule: TrainRule, engineName: TrainEngineName): Promise<TrainReport> {
  if (rule !== 'pal' && rule !== 'fa') throw new TrainError(`rule "${rule}" has no teacher task`, 'use pal or fa');
  const seed = spec.seed ?? 1;
  const seconds = spec.epochs ?? 60;
  const records: TrainRecord[] = [];
  const opts = {
    rule,
    seconds,
    weightSeed: seed,
    chipSeed: seed,
    onRecord: (r: TeacherStudentRecord) => {
      const rec: TrainRecord = { time: r.seconds, angles: [], apicalNorms: [], loss: r.outputRms ** 2 };
      records.push(rec);
      spec.onRecord?.(rec);
      spec.onProgress?.(r.presentations, seconds * 1000);
    },
  };
  let result;
  if (engineName === 'chip') {
    const device = spec.device ?? new EmulatorDevice();
    await device.open();
    await device.reset();
    result = await runTeacherStudent(device, opts);
    if (!spec.device) await device.close();
  } else {
    result = runTeacherStudentTwin({ ...opts, effects: 'none' });
  }
  const f = result.final;
  const ticks = Math.round(f.presentations * result.layout.ticksPerPresentation);
  return {
    circuit: 'microcircuit',
    rule,
    task: 'teacher',
    engine: engineName,
    epochs: seconds,
    seed,
    layers: result.layout.sizes,
    ticks,
    simulatedSeconds: ticks * result.layout.params.dt * 1e-3,
    wallSeconds: result.wallSeconds,
    ticksPerSecond: result.ticksPerSecond,
    finalLoss: f.outputRms ** 2,
    angles: [f.b === 0 || f.w2 === 0 ? 90 : Math.sign(f.b) === Math.sign(f.w2) ? 0 : 180],
    angleLayers: result.layout.backward,
    weights: [f.w1, f.w2, f.b],
    records,
    notes: [
      `teacher W = ${result.teacherWeight}; final |W₁ − W| = ${result.figures.w1Error.toFixed(3)}, |W₂ − W| = ${result.figures.w2Error.toFixed(3)}, sign(B) = ${result.figures.bSign}; --epochs counts simulated seconds`,
    ],
  };
}

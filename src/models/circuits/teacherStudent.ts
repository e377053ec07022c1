/**
 * The teacher–student experiment of PAL's Fig. 4a,b (../shared/design/circuits.md §4.4 rows "Fig4ab fw_bw (PAL)"
 * and "Fig4ab FA", §4.5): a 1-1-1 dendritic microcircuit (microcircuit.ts) learns to reproduce a teacher
 * microcircuit whose forward weights are all W* = 2, from student weights W_1, W_2, B ∈ U[−1, 0] (B has the
 * wrong sign). With PAL, B learns from the noise correlation and turns positive, after which the hidden layer
 * receives the right error and W_1, W_2 → 2. With feedback alignment (B fixed, negative) the hidden layer is
 * pushed the wrong way for ever: W_1 runs away to large negative values while W_2 compensates.
 *
 * Stimulus (§4.3): `samples` inputs x ∈ U[0,1]^n (alignmentDataset), reshuffled every epoch, each held for one
 * presentation T_pres. The target is the teacher's output potential for that input, u_tgt = ŭ_N of the teacher
 * running free in the self-predicting state without noise (microcircuitSteadyOutput: u_N = g_B/(g_l+g_B)·W*·r_{N−1},
 * r_k = φ(g_B/(g_l+g_B+g_A)·W*·r_{k−1})), i.e. exactly the reference's target (the teacher's output ŭ time series),
 * in the units the output's nudging g_ntgt·(u_tgt − u) expects. The teacher network responds to an input switch
 * N ticks late (one routing delay per weight layer), so the target is written N ticks after the input, as the
 * teacher's own output would change.
 *
 * FA follows the reference's FA model: B fixed, η_PI = 0 (FA_FIG4AB_FW_BW) and no noise (the reference's FA
 * is its noiseless base model). The τ_LO low-pass of the forward updates is kept in both (the reference's FA
 * applies ΔW unfiltered; the low-pass only smooths it over 100 ms and does not change the mean drift).
 *
 * The same experiment runs on a Device (the chip) and on the float twin of the same Network
 * (runTeacherStudentTwin; effects 'none' = the ideal float64 model of the chip's discrete equations), with the
 * same dataset, order and target timing; only the noise realisations differ unless the twin uses prngNoise.
 */
import type { Device, StimulusEvent } from '../../devices/device.js';
import type { Program } from '../../emulator/program.js';
import { compileNetwork } from '../compiler.js';
import { FloatTwin, type TwinEffect } from '../twin/floatTwin.js';
import { alignmentDataset, epochOrder, readMatrix } from './alignment.js';
import { matrix, type Matrix } from './metrics.js';
import { buildMicrocircuit, microcircuitSteadyOutput, type MicrocircuitConfig, type MicrocircuitLayout } from './microcircuit.js';
import { FA_FIG4AB_FW_BW, PAL_FIG4AB_FW_BW, type MicrocircuitParameters } from './parameters.js';

const ONE = 65536;

export interface TeacherStudentOptions {
  rule: 'pal' | 'fa';
  /** Training length in simulated seconds (the reference: 5000 epochs × 100 samples × 1 ms = 500 s). */
  seconds?: number;
  /** Training length in presentations (overrides `seconds`). */
  presentations?: number;
  /** Record every this many presentations (default 1000 = 1 s), and once before the first. */
  every?: number;
  /** Student's initial weights (U[−1, 0] per the parameter set). Default 1. */
  weightSeed?: number;
  /** Chip PRNG seed (noise; twin: with prngNoise). Default 1. */
  chipSeed?: number;
  /** Dataset and per-epoch shuffle seed. Default 7. */
  dataSeed?: number;
  /** Extra builder options (explicit initial weights, noise, …); `base` defaults to the rule's Fig4ab set. */
  config?: Partial<MicrocircuitConfig>;
  onRecord?: (r: TeacherStudentRecord) => void;
}

export interface TeacherStudentRecord {
  presentations: number;
  /** Simulated time (s). */
  seconds: number;
  /** Forward weights W_1 (input → hidden), W_2 (hidden → output) and the feedback weight B (output → hidden apical). */
  w1: number;
  w2: number;
  b: number;
  /** W_IP (hidden → interneuron) and W_PI (interneuron → hidden apical). */
  wip: number;
  wpi: number;
  /** RMS over the dataset of u_N(student) − u_N(teacher), both in the steady state without noise (host-side). */
  outputRms: number;
}

export interface TeacherStudentFigures {
  /** |W_1 − W*|, |W_2 − W*| and the sign of B at the end of the run. */
  w1Error: number;
  w2Error: number;
  bSign: -1 | 0 | 1;
  /** The same over the last fifth of the records (mean of the weights, then the distance). */
  w1ErrorLate: number;
  w2ErrorLate: number;
  bLate: number;
}

export interface TeacherStudentResult {
  rule: 'pal' | 'fa';
  teacherWeight: number;
  records: TeacherStudentRecord[];
  final: TeacherStudentRecord;
  figures: TeacherStudentFigures;
  layout: MicrocircuitLayout;
  /** Ticks per wall-clock second of the training loop (chip or twin). */
  ticksPerSecond: number;
  wallSeconds: number;
}

/** Builds the 1-1-1 student of the Fig4ab experiment for a rule (the parameter set and FA's noiseless model). */
export function teacherStudentCircuit(opts: TeacherStudentOptions) {
  const base: MicrocircuitParameters = opts.config?.base ?? (opts.rule === 'pal' ? PAL_FIG4AB_FW_BW : FA_FIG4AB_FW_BW);
  return buildMicrocircuit({
    rule: opts.rule,
    weightSeed: opts.weightSeed ?? 1,
    chipSeed: opts.chipSeed ?? 1,
    noise: opts.rule === 'pal',
    ...opts.config,
    base,
  });
}

/** The teacher's output potentials for input x (all teacher forward weights = W*). */
export function teacherTarget(layout: MicrocircuitLayout, teacherWeight: number): (x: number[]) => number[] {
  const sizes = layout.sizes;
  const forward = sizes.slice(1).map((n, k) => matrix(n, sizes[k], new Array<number>(n * sizes[k]).fill(teacherWeight)));
  return (x) => microcircuitSteadyOutput(layout.params, forward, x);
}

/** The host-written schedule: per presentation, the input at its first tick and the teacher's target N ticks later. */
class Schedule {
  readonly data: number[][];
  private readonly rates: number[][];
  private readonly targets: number[][];
  private readonly orderOf: (p: number) => number;
  private readonly lag: number;

  constructor(
    private readonly layout: MicrocircuitLayout,
    teacherWeight: number,
    dataSeed: number,
  ) {
    const samples = layout.params.samples;
    this.data = alignmentDataset(layout.sizes[0], samples, dataSeed);
    this.orderOf = epochOrder(samples, dataSeed);
    const target = teacherTarget(layout, teacherWeight);
    this.rates = this.data.map((x) => x.map((v) => Math.round(v * ONE)));
    this.targets = this.data.map((x) => target(x).map((v) => Math.round(v * ONE)));
    this.lag = layout.forward.length;
  }

  /** Stimulus for presentations [from, from + n), ticks relative to the start of the chunk. */
  chunk(from: number, n: number): StimulusEvent[] {
    const T = this.layout.ticksPerPresentation;
    const out: StimulusEvent[] = [];
    for (let q = 0; q < n; q++) {
      const p = from + q;
      const s = this.orderOf(p);
      out.push({ tick: q * T, port: this.layout.input, values: this.rates[s] });
      out.push({ tick: q * T + this.lag, port: this.layout.targetPort, values: this.targets[s] });
    }
    return out;
  }
}

function presentationsOf(opts: TeacherStudentOptions, layout: MicrocircuitLayout): number {
  if (opts.presentations !== undefined) return opts.presentations;
  const seconds = opts.seconds ?? layout.params.epochs * layout.params.samples * layout.params.tPres * 1e-3;
  return Math.round((seconds * 1000) / layout.params.tPres);
}

function record(layout: MicrocircuitLayout, teacher: (x: number[]) => number[], data: number[][], presentations: number, w: Record<'w1' | 'w2' | 'b' | 'wip' | 'wpi', number>): TeacherStudentRecord {
  const forward: Matrix[] = [matrix(1, 1, [w.w1]), matrix(1, 1, [w.w2])];
  let s = 0;
  for (const x of data) {
    const d = microcircuitSteadyOutput(layout.params, forward, x)[0] - teacher(x)[0];
    s += d * d;
  }
  return { presentations, seconds: presentations * layout.params.tPres * 1e-3, ...w, outputRms: Math.sqrt(s / data.length) };
}

function figures(records: TeacherStudentRecord[], teacherWeight: number): TeacherStudentFigures {
  const last = records[records.length - 1];
  const late = records.slice(Math.max(1, Math.floor(records.length * 0.8)));
  const mean = (f: (r: TeacherStudentRecord) => number) => late.reduce((a, r) => a + f(r), 0) / late.length;
  return {
    w1Error: Math.abs(last.w1 - teacherWeight),
    w2Error: Math.abs(last.w2 - teacherWeight),
    bSign: Math.sign(last.b) as -1 | 0 | 1,
    w1ErrorLate: Math.abs(mean((r) => r.w1) - teacherWeight),
    w2ErrorLate: Math.abs(mean((r) => r.w2) - teacherWeight),
    bLate: mean((r) => r.b),
  };
}

function checkOneOneOne(layout: MicrocircuitLayout): void {
  if (layout.sizes.join('-') !== '1-1-1') throw new RangeError(`the teacher–student driver runs the 1-1-1 circuit, got ${layout.sizes.join('-')}`);
}

/**
 * Trains the 1-1-1 student on a Device (loads its Program; a Program already loaded continues from the device's
 * state) and reads W_1, W_2, B, W_IP, W_PI back every `every` presentations.
 */
export async function runTeacherStudent(device: Device, opts: TeacherStudentOptions): Promise<TeacherStudentResult & { program: Program }> {
  const { network, layout } = teacherStudentCircuit(opts);
  checkOneOneOne(layout);
  const { program } = compileNetwork(network);
  await device.load(program);
  const teacherWeight = layout.params.teacherWeight ?? 2;
  const teacher = teacherTarget(layout, teacherWeight);
  const schedule = new Schedule(layout, teacherWeight, opts.dataSeed ?? 7);
  const total = presentationsOf(opts, layout);
  const every = opts.every ?? 1000;
  const T = layout.ticksPerPresentation;
  const read = async (name: string) => (await readMatrix(device, program, name)).data[0];
  const snap = async (p: number) => {
    const r = record(layout, teacher, schedule.data, p, {
      w1: await read(layout.forward[0]),
      w2: await read(layout.forward[1]),
      b: await read(layout.backward[0]),
      wip: await read(layout.lateralIP[0]),
      wpi: await read(layout.lateralPI[0]),
    });
    opts.onRecord?.(r);
    return r;
  };
  const records = [await snap(0)];
  const wall0 = performance.now();
  for (let done = 0; done < total; ) {
    const n = Math.min(every, total - done);
    await device.run({ ticks: n * T, stimulus: schedule.chunk(done, n), digests: false, spikes: false, probes: false });
    done += n;
    records.push(await snap(done));
  }
  const wallSeconds = (performance.now() - wall0) / 1000;
  const final = records[records.length - 1];
  return {
    rule: opts.rule,
    teacherWeight,
    records,
    final,
    figures: figures(records, teacherWeight),
    layout,
    program,
    ticksPerSecond: (total * T) / Math.max(wallSeconds, 1e-9),
    wallSeconds,
  };
}

/**
 * The same experiment on the float twin of the same Network: effects 'none' (default) is the ideal float64
 * model of the chip's discrete equations; 'all' reproduces the chip's arithmetic (with prngNoise, its noise too).
 */
export function runTeacherStudentTwin(opts: TeacherStudentOptions & { effects?: Iterable<TwinEffect> | 'all' | 'none' }): TeacherStudentResult {
  const { network, layout } = teacherStudentCircuit(opts);
  checkOneOneOne(layout);
  const effects = opts.effects ?? 'none';
  const twin = new FloatTwin(network, { effects });
  const teacherWeight = layout.params.teacherWeight ?? 2;
  const teacher = teacherTarget(layout, teacherWeight);
  const schedule = new Schedule(layout, teacherWeight, opts.dataSeed ?? 7);
  const total = presentationsOf(opts, layout);
  const every = opts.every ?? 1000;
  const T = layout.ticksPerPresentation;
  const read = (name: string) => twin.weights(name)[0];
  const snap = (p: number) => {
    const r = record(layout, teacher, schedule.data, p, {
      w1: read(layout.forward[0]),
      w2: read(layout.forward[1]),
      b: read(layout.backward[0]),
      wip: read(layout.lateralIP[0]),
      wpi: read(layout.lateralPI[0]),
    });
    opts.onRecord?.(r);
    return r;
  };
  const records = [snap(0)];
  const wall0 = performance.now();
  for (let done = 0; done < total; ) {
    const n = Math.min(every, total - done);
    twin.run(n * T, schedule.chunk(done, n));
    done += n;
    records.push(snap(done));
  }
  const wallSeconds = (performance.now() - wall0) / 1000;
  return {
    rule: opts.rule,
    teacherWeight,
    records,
    final: records[records.length - 1],
    figures: figures(records, teacherWeight),
    layout,
    ticksPerSecond: (total * T) / Math.max(wallSeconds, 1e-9),
    wallSeconds,
  };
}

/**
 * A one-layer dendritic-prediction learner (Urbanczik & Senn 2014; the output layer of Sacramento et al. 2018):
 * graded inputs drive the basal dendrite of output neurons whose soma is nudged towards a teacher's potential.
 *
 *   soma:      Δu = Δt·(g_B·v_B + g_N·u_tgt − (g_L + g_B [+ g_N])·u)        (nudging only while a target is present)
 *   predicted: v̂_B = g_B/(g_L + g_B) · v_B
 *   rule:      dw = η·(φ(u) − φ(v̂_B))·r_pre      →  written  dw = η * (post.rate - post.basal_rate) * pre.rate
 *
 * Learning drives v̂_B towards the nudged potential, so the free-running soma reproduces the teacher.
 * Used by `apical demo`; it talks to a Device only.
 */
import { ProbeVariable } from '../emulator/program.js';
import type { Device } from '../devices/device.js';
import { compileNetwork, type CompileResult } from './compiler.js';
import { Network } from './network.js';
import { SeededRandom } from './seededRandom.js';

export interface RegressionConfig {
  inputs: number;
  outputs: number;
  patterns: number;
  epochs: number;
  ticksPerPattern: number;
  eta: number;
  seed: number;
}

export const DEFAULT_REGRESSION: RegressionConfig = { inputs: 8, outputs: 4, patterns: 16, epochs: 100, ticksPerPattern: 40, eta: 0.02, seed: 3 };

const G_L = 0.1;
const G_B = 1.0;
const G_N = 0.8;
const DT = 0.1;
const ONE = 65536;

export interface RegressionTask {
  compiled: CompileResult;
  teacher: Float64Array;
  patterns: number[][];
  targets: number[][];
  config: RegressionConfig;
}

export function buildRegression(config: RegressionConfig = DEFAULT_REGRESSION): RegressionTask {
  const rng = new SeededRandom(config.seed);
  const { inputs: nIn, outputs: nOut } = config;
  // Teacher and student weights are post-major: W[j·nIn + i].
  const teacher = Float64Array.from({ length: nIn * nOut }, () => rng.uniform(-1, 1));
  const patterns = Array.from({ length: config.patterns }, () => Array.from({ length: nIn }, () => rng.uniform(0, 1)));
  const atten = G_B / (G_L + G_B);
  const targets = patterns.map((r) =>
    Array.from({ length: nOut }, (_, j) => {
      let v = 0;
      for (let i = 0; i < nIn; i++) v += teacher[j * nIn + i] * r[i];
      return atten * v;
    }),
  );
  const net = new Network('urbanczik-senn-regression', { seed: config.seed, tickSeconds: DT * 1e-3 });
  net.input('in', nIn, { payloadShift: 2 });
  net.population('out', nOut, {
    output: 'graded',
    activation: 'sigmoid',
    basal: true,
    soma: { kBasal: DT * G_B, kNudge: DT * G_N, kTotal: DT * (G_L + G_B) },
    basalPrediction: atten,
    nudge: { target: true },
  });
  const w0 = Float64Array.from({ length: nIn * nOut }, () => rng.uniform(-0.1, 0.1));
  net.project('w', 'in', 'out', {
    weights: w0,
    weightBits: 16,
    weightRange: 4,
    plasticity: { rule: `dw = ${config.eta} * (post.rate - post.basal_rate) * pre.rate`, rounding: 'nearest' },
  });
  return { compiled: compileNetwork(net), teacher, patterns, targets, config };
}

export interface RegressionResult {
  rmseBefore: number;
  rmseAfter: number;
  /** Angle between learned and teacher weights (degrees). */
  angleBefore: number;
  angleAfter: number;
  ticks: number;
  cyclesCriticalPath: number;
  realTimeFactor: number;
  finalDigest: number;
  spikes: number;
}

function angle(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let k = 0; k < a.length; k++) {
    ab += a[k] * b[k];
    aa += a[k] * a[k];
    bb += b[k] * b[k];
  }
  return (Math.acos(Math.max(-1, Math.min(1, ab / Math.sqrt(aa * bb)))) * 180) / Math.PI;
}

/** Trains on a loaded device; returns errors of the free-running soma before and after, and costs. */
export async function trainRegression(task: RegressionTask, device: Device, onEpoch?: (epoch: number) => void): Promise<RegressionResult> {
  const { patterns, targets, config } = task;
  const shift = task.compiled.program.body.projections[0].weightShift;
  const rates = patterns.map((r) => r.map((x) => Math.round(x * ONE)));
  let ticks = 0;
  let crit = 0;
  let rtfWeighted = 0;
  let digest = 0;
  let spikes = 0;
  const evaluate = async () => {
    let se = 0;
    for (let p = 0; p < patterns.length; p++) {
      const rec = await device.run({ ticks: config.ticksPerPattern, stimulus: [{ tick: 0, port: 'in', values: rates[p] }, { tick: 0, port: 'out.target', values: null }], probes: false });
      ticks += rec.ticks;
      crit += rec.cycles.criticalPath;
      const u = await device.readState('out', ProbeVariable.Soma);
      for (let j = 0; j < u.length; j++) se += (u[j] / ONE - targets[p][j]) ** 2;
    }
    return Math.sqrt(se / (patterns.length * targets[0].length));
  };
  const weights = async () => Array.from(await device.readWeights('w'), (x) => x * 2 ** -shift);
  const angleBefore = angle(await weights(), task.teacher);
  const rmseBefore = await evaluate();
  for (let e = 0; e < config.epochs; e++) {
    for (let p = 0; p < patterns.length; p++) {
      const target = targets[p].map((x) => Math.round(x * ONE));
      const rec = await device.run({ ticks: config.ticksPerPattern, stimulus: [{ tick: 0, port: 'in', values: rates[p] }, { tick: 0, port: 'out.target', values: target }], probes: false });
      ticks += rec.ticks;
      crit += rec.cycles.criticalPath;
      rtfWeighted += rec.cycles.realTimeFactor * rec.ticks;
      digest = rec.finalDigest;
      spikes += rec.spikeCount;
    }
    onEpoch?.(e);
  }
  const rmseAfter = await evaluate();
  const angleAfter = angle(await weights(), task.teacher);
  return {
    rmseBefore,
    rmseAfter,
    angleBefore,
    angleAfter,
    ticks,
    cyclesCriticalPath: crit,
    realTimeFactor: rtfWeighted / Math.max(1, config.epochs * patterns.length * config.ticksPerPattern),
    finalDigest: digest,
    spikes,
  };
}

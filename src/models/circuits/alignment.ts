/**
 * Training driver for the microcircuit over a Device: presents inputs, reads weights and apical potentials back
 * and records the alignment of the feedback weights (../shared/design/circuits.md §4.3, §7).
 *
 * Stimulus (§4.3): a fixed seeded dataset of `samples` input vectors x ∈ U[0,1]^n, reshuffled every epoch, each
 * held on the input port for one presentation (T_pres/Δt ticks). bw_only runs have no target; fw_bw runs pass
 * a `target` function whose output potentials are held on the output's target port during the presentation.
 *
 * Every `every` presentations the driver reads B_k, W_{k+1}, W_PI,k back (readWeights · 2^-weightShift) and the
 * apical potentials (readState Apical) and records per hidden layer k:
 *   angle        ∠(B_k, W_{k+1}ᵀ)                   Frobenius angle, degrees (§7.1)
 *   apicalNorm   ‖v_A,k‖ at the end of the chunk     (Euclidean, real units; §7.6)
 *   apicalRms    RMS of v_A,k over the chunk          (only if the Program has apical probes)
 *   lateral      ‖W_PI,k + B_k‖_F / ‖B_k‖_F           (distance from the SPS, §7.6)
 *   derivativeAngle  ∠(B_k, ⟨diag(φ'_k) W_{k+1}ᵀ diag(φ'_{k+1})⟩)   the PAL fixed point (§4.1, §7.2): φ' at the
 *                basal predictions v̂_B of a host-side steady-state forward pass (no apical input, no noise) with
 *                the forward weights read back, averaged over the dataset
 *
 * A Program that is already loaded on the device is not reloaded (Device.load is a no-op for the same hash):
 * training continues from the device's state; call device.reset() first to start over.
 */
import type { Device } from '../../devices/device.js';
import { ProbeVariable, type Program } from '../../emulator/program.js';
import { compileNetwork } from '../compiler.js';
import { SeededRandom } from '../seededRandom.js';
import { add, diagScale, frobeniusAngle, frobeniusNorm, matrix, sigmoidDerivative, transpose, vectorNorm, type Matrix } from './metrics.js';
import { buildMicrocircuit, steadyStatePass, type MicrocircuitConfig, type MicrocircuitLayout } from './microcircuit.js';
import { PAL_FIG3ABC_BW_ONLY } from './parameters.js';

const ONE = 65536;

export interface Circuit {
  program: Program;
  layout: MicrocircuitLayout;
}

export interface AlignmentOptions {
  /** Total number of presentations. */
  presentations: number;
  /** Record every this many presentations (and once before the first). */
  every: number;
  /** Dataset size (default: the parameter set's `samples`, 100). */
  samples?: number;
  /** Seed of the dataset and its per-epoch shuffles. */
  dataSeed?: number;
  /** fw_bw: the output target potentials for an input (held during its presentation); omitted = no target. */
  target?: (x: number[]) => number[];
  onRecord?: (r: AlignmentRecord) => void;
}

export interface AlignmentRecord {
  presentations: number;
  ticks: number;
  /** Simulated time (s): ticks · Δt. */
  seconds: number;
  /** ∠(B_k, W_{k+1}ᵀ) per hidden layer k = 1..N−1 (degrees). */
  angles: number[];
  /** ‖v_A,k‖ per hidden layer at the end of the chunk (real units). */
  apicalNorms: number[];
  /** RMS over the chunk's probe samples of v_A,k (per neuron), when the Program probes the apical potentials. */
  apicalRms: number[] | null;
  /** ‖W_PI,k + B_k‖ / ‖B_k‖ per hidden layer. */
  lateral: number[];
  /** ‖B_k‖_F per hidden layer. */
  backwardNorms: number[];
  /** ∠(B_k, ⟨diag(φ'_k) W_{k+1}ᵀ diag(φ'_{k+1})⟩) per hidden layer (degrees; null without a dataset). */
  derivativeAngles: number[] | null;
}

export interface AlignmentSeries {
  records: AlignmentRecord[];
  /** Emulator speed over the run (ticks per wall-clock second). */
  ticksPerSecond: number;
  wallSeconds: number;
}

/** Reads a projection's weights as a real post-major matrix. */
export async function readMatrix(device: Device, program: Program, projection: string): Promise<Matrix> {
  const p = program.body.projections.find((x) => x.name === projection);
  if (!p) throw new Error(`no projection "${projection}" in the program`);
  const w = await device.readWeights(projection);
  const rows = program.body.groups[p.post].size;
  const cols = program.body.groups[p.pre].size;
  const s = 2 ** -p.weightShift;
  return matrix(rows, cols, Array.from(w, (x) => x * s));
}

/** The fixed dataset of §4.3: `samples` vectors U[0,1]^n from a seeded generator. */
export function alignmentDataset(n: number, samples: number, seed: number): number[][] {
  const rng = new SeededRandom(seed);
  return Array.from({ length: samples }, () => Array.from({ length: n }, () => rng.next()));
}

/**
 * The §4.3 presentation order over a dataset of `samples`: presentation p shows sample order(p), the dataset
 * reshuffled with SeededRandom(seed ^ 0x51a7) at the start of every epoch. Presentations must be asked for in
 * increasing order (each epoch's shuffle draws from the same generator).
 */
export function epochOrder(samples: number, seed: number): (p: number) => number {
  const rng = new SeededRandom(seed ^ 0x51a7);
  let order: number[] = [];
  return (p) => {
    if (p % samples === 0) order = rng.shuffle(Array.from({ length: samples }, (_, i) => i));
    return order[p % samples];
  };
}

/**
 * ⟨diag(φ'(v̂_k)) W_{k+1}ᵀ diag(φ'(v̂_{k+1}))⟩ over the inputs, for every hidden layer k (circuits.md §7.2), with
 * v̂_k = g_B/(g_l+g_B+g_A)·W_k r_{k−1} (hidden) or g_B/(g_l+g_B)·W_N r_{N−1} (output) and r_k = φ(v̂_k):
 * the steady state in the SPS without noise. `forward` = W_1..W_N.
 */
export function derivativeWeightedTargets(layout: MicrocircuitLayout, forward: Matrix[], inputs: number[][]): Matrix[] {
  const N = forward.length;
  const acc = forward.slice(1).map((W) => matrix(W.cols, W.rows));
  for (const x of inputs) {
    const dphi = steadyStatePass(layout.params, forward, x).v.map((v) => v.map(sigmoidDerivative));
    for (let k = 1; k < N; k++) {
      const t = diagScale(dphi[k - 1], transpose(forward[k]), dphi[k]);
      for (let q = 0; q < t.data.length; q++) acc[k - 1].data[q] += t.data[q] / inputs.length;
    }
  }
  return acc;
}

/** Angles, norms and lateral mismatch of the circuit as it stands on the device (`inputs`: for derivativeAngles). */
export async function measureCircuit(
  device: Device,
  circuit: Circuit,
  inputs?: number[][],
): Promise<Omit<AlignmentRecord, 'presentations' | 'ticks' | 'seconds' | 'apicalRms'>> {
  const { program, layout } = circuit;
  const angles: number[] = [];
  const apicalNorms: number[] = [];
  const lateral: number[] = [];
  const backwardNorms: number[] = [];
  const forward: Matrix[] = [];
  for (const name of layout.forward) forward.push(await readMatrix(device, program, name));
  const backward: Matrix[] = [];
  for (let k = 0; k < layout.backward.length; k++) {
    const B = await readMatrix(device, program, layout.backward[k]);
    const PI = await readMatrix(device, program, layout.lateralPI[k]);
    backward.push(B);
    angles.push(frobeniusAngle(B, transpose(forward[k + 1])));
    backwardNorms.push(frobeniusNorm(B));
    lateral.push(frobeniusNorm(add(PI, B)) / frobeniusNorm(B));
    const vA = await device.readState(layout.pyramids[k], ProbeVariable.Apical);
    apicalNorms.push(vectorNorm(Array.from(vA, (x) => x / ONE)));
  }
  const derivativeAngles = inputs ? derivativeWeightedTargets(layout, forward, inputs).map((T, k) => frobeniusAngle(backward[k], T)) : null;
  return { angles, apicalNorms, lateral, backwardNorms, derivativeAngles };
}

/**
 * Loads the circuit's Program and trains it, recording the alignment every `every` presentations.
 * Each chunk of `every` presentations is one Device run (the stimulus lists one input write per presentation).
 */
export async function runAlignment(device: Device, circuit: Circuit, opts: AlignmentOptions): Promise<AlignmentSeries> {
  const { program, layout } = circuit;
  await device.load(program);
  const T = layout.ticksPerPresentation;
  const samples = opts.samples ?? layout.params.samples;
  const data = alignmentDataset(layout.sizes[0], samples, opts.dataSeed ?? 7);
  const orderOf = epochOrder(samples, opts.dataSeed ?? 7);
  const rates = data.map((x) => x.map((v) => Math.round(v * ONE)));
  const targets = opts.target ? data.map((x) => opts.target!(x).map((v) => Math.round(v * ONE))) : null;
  const records: AlignmentRecord[] = [];
  let ticks = 0;
  const record = async (presentations: number, apicalRms: number[] | null) => {
    const r: AlignmentRecord = { presentations, ticks, seconds: ticks * layout.params.dt * 1e-3, apicalRms, ...(await measureCircuit(device, circuit, data)) };
    records.push(r);
    opts.onRecord?.(r);
  };
  await record(0, null);
  const wall0 = performance.now();
  let done = 0;
  while (done < opts.presentations) {
    const n = Math.min(opts.every, opts.presentations - done);
    const stimulus = [];
    for (let q = 0; q < n; q++) {
      const p = done + q;
      const s = orderOf(p);
      stimulus.push({ tick: q * T, port: layout.input, values: rates[s] });
      if (targets) stimulus.push({ tick: q * T, port: layout.targetPort, values: targets[s] });
    }
    const rec = await device.run({ ticks: n * T, stimulus, digests: false, spikes: false, probes: layout.apicalProbes.length > 0 });
    ticks += n * T;
    done += n;
    let apicalRms: number[] | null = null;
    if (layout.apicalProbes.length) {
      apicalRms = layout.apicalProbes.map((name) => {
        const pr = rec.probes.find((x) => x.name === name)!;
        let s = 0;
        for (let k = 0; k < pr.data.length; k++) s += (pr.data[k] / ONE) ** 2;
        return pr.data.length ? Math.sqrt(s / pr.data.length) : 0;
      });
    }
    await record(done, apicalRms);
  }
  const wallSeconds = (performance.now() - wall0) / 1000;
  return { records, ticksPerSecond: ticks / Math.max(wallSeconds, 1e-9), wallSeconds };
}

export interface PalReferenceOptions {
  /** Simulated seconds to train (the reference trains 10 s: 100 epochs × 100 samples × 1 ms). */
  seconds: number;
  /** Record every this many presentations (default 100 = 0.1 s). */
  every?: number;
  rule?: 'pal' | 'fa';
  weightSeed?: number;
  chipSeed?: number;
  dataSeed?: number;
  /** Extra builder options (e.g. apicalProbeEvery). */
  config?: Partial<MicrocircuitConfig>;
  onRecord?: (r: AlignmentRecord) => void;
}

export interface PalReferenceResult extends AlignmentSeries {
  layout: MicrocircuitLayout;
  /** First simulated time (s) at which each layer's angle was below 45° and below 30° (null: never). */
  timeBelow45: (number | null)[];
  timeBelow30: (number | null)[];
}

/**
 * The full reference of circuits.md §4.4/§4.5 ("Fig3abc bw_only", 5-20-10-20-5, start in the SPS, forward
 * weights frozen): PAL should bring ∠(Wᵀ, B) below 30° within ~4 s simulated in all three layers and to
 * 10–21° at 10 s. Slow (≈ 7 s of wall time per simulated second on the emulator); not part of the test suite.
 */
export async function runPalAlignmentReference(device: Device, opts: PalReferenceOptions): Promise<PalReferenceResult> {
  const { network, layout } = buildMicrocircuit({
    base: PAL_FIG3ABC_BW_ONLY,
    rule: opts.rule ?? 'pal',
    weightSeed: opts.weightSeed ?? 1,
    chipSeed: opts.chipSeed ?? 1,
    ...opts.config,
  });
  const { program } = compileNetwork(network);
  const presentations = Math.round((opts.seconds * 1000) / layout.params.tPres);
  const series = await runAlignment(device, { program, layout }, { presentations, every: opts.every ?? 100, dataSeed: opts.dataSeed, onRecord: opts.onRecord });
  const firstBelow = (limit: number) =>
    layout.backward.map((_, k) => series.records.find((r) => r.angles[k] < limit)?.seconds ?? null);
  return { ...series, layout, timeBelow45: firstBelow(45), timeBelow30: firstBelow(30) };
}

/**
 * Benchmark runner. For each workload: compile once, then `repeats` times build a fresh chip, apply the
 * workload's stimulus, run its ticks and time the run (medians reported). The same Program and stimulus run
 * on the C chip core (bench/nativeCore.ts) in the same bench, and CUBA also in Brian2 (bench/brian2.ts).
 *
 * Emulator timings, per repeat:
 *   wallSeconds          digests off (the emulator's fast mode): the headline throughput figures
 *   digestsOnWallSeconds digests every tick — the work the C core always does (apx_step computes them)
 * Ratios (speed = ticks per wall second on the same Program and stimulus):
 *   nativeRatio           emulator speed ÷ C core speed, both in fast mode (per-tick digests off; the final digest
 *                         computed once and compared)
 *   nativeRatioDigestsOn  the same with both computing the §13 digests every tick
 *   brian2Ratio           Brian2 wall time (network run, compile excluded) ÷ emulator wall time (digests off)
 * A native figure counts only when the C core ends in the emulator's final chip digest; otherwise the ratio
 * is null and nativeReason says the figure is invalid.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { Chip } from '../src/emulator/chip.js';
import type { StimulusEvent } from '../src/devices/device.js';
import { compileNetwork } from '../src/models/compiler.js';
import { runBrian2Cuba, type Brian2Run } from './brian2.js';
import { buildNativeBench, prepareNative, projectRoot, type NativeBinary, type NativeRun } from './nativeCore.js';
import { median } from './stats.js';
import { measureSynapseStorage, storageMatrix, type StorageCase, type SynapseStorage } from './synapseStorage.js';
import { benchUpload, type UploadResult } from './upload.js';
import { cuba, denseGraded, microcircuitTraining, type Workload } from './workloads.js';

export interface NativeResult {
  /** Median run time with per-tick digests (the default of the C core). */
  wallSeconds: number;
  /** Median run time in fast mode (--no-digests). */
  wallSecondsFast?: number;
  wallSecondsAll: number[];
  loadSeconds: number;
  digest: string;
  digestsEqual: boolean;
  spikes: number;
  arenaUsedBytes: number;
  /** The C core's whole arena (Program, neuron and synapse state) per synapse: an upper bound of its synapse cost. */
  arenaBytesPerSynapse: number;
  maxRssBytes: number;
}

export interface Brian2Result extends Omit<Brian2Run, 'runSeconds'> {
  /** Median of Brian2's own network-run timing (compile excluded). */
  wallSeconds: number;
  wallSecondsAll: number[];
}

export interface WorkloadResult {
  name: string;
  description: string;
  ticks: number;
  repeats: number;
  synapses: number;
  wallSeconds: number;
  wallSecondsAll: number[];
  digestsOnWallSeconds: number;
  digestsOnWallSecondsAll: number[];
  ticksPerSec: number;
  synapticEventsPerSec: number;
  compartmentUpdatesPerSec: number;
  synapticEventsPerTick: number;
  simulatedSeconds: number;
  realTimeRatio: number;
  /** Spiking workloads: mean firing rate of the spiking groups (Hz), from the C run (null without it). */
  firingRateHz: number | null;
  /** Final chip digest of the emulator (8 hex digits). */
  digest: string;
  /** Emulator storage of this workload's synapses (bench/synapseStorage.ts). */
  bytesPerSynapse: number;
  storage: SynapseStorage;
  native: NativeResult | null;
  nativeRatio: number | null;
  nativeRatioDigestsOn: number | null;
  nativeReason?: string;
  brian2?: Brian2Result | null;
  brian2Ratio?: number | null;
  brian2Reason?: string;
}

export interface BenchReport {
  machine: { cpus: string; cores: number; node: string; gcc: string; platform: string; totalMemoryBytes: number };
  command: string;
  date: string;
  /** git commit of the measured tree and whether it had uncommitted changes (null outside a git checkout). */
  source: { commit: string; dirty: boolean } | null;
  quick: boolean;
  /** 1-minute load averages at the start and the end, and whether timings were taken under load. */
  load: { start: number; end: number; underLoad: boolean; note: string };
  /** Peak resident set size of the bench process (process.resourceUsage().maxRSS). */
  peakRssBytes: number;
  /** Why the C core figures are missing (no compiler...), or null. */
  nativeReason: string | null;
  workloads: WorkloadResult[];
  upload: UploadResult | { name: 'program-upload'; skipped: string };
  /** Bytes per synapse by projection kind, weight width and plasticity; target: sparse 8-bit ≤ 4 bytes. */
  storage: { targetBytesPerSynapse: number; cases: StorageCase[] };
  notes: string[];
}

export interface BenchOptions {
  repeats?: number;
  quick?: boolean;
  command?: string;
  /** Run the Brian2 comparison (default: on, off with quick). */
  brian2?: boolean;
  /** Free text recorded in notes (e.g. "quiet machine"). */
  note?: string;
  /** Progress lines (workload names as they start). */
  onProgress?: (line: string) => void;
}

/** Applies every event with tick <= t not yet applied (events sorted by tick); returns the next index. */
function applyStimulus(chip: Chip, events: StimulusEvent[], next: number, t: number): number {
  while (next < events.length && events[next].tick <= t) {
    const e = events[next++];
    if (e.values === null) chip.clearTarget(e.port);
    else chip.setInput(e.port, e.values);
  }
  return next;
}

/** Runs `ticks` ticks with the stimulus (as EmulatorDevice and apx_run apply it); returns the wall time (s). */
function timedRun(chip: Chip, events: StimulusEvent[], ticks: number): number {
  const t0 = process.hrtime.bigint();
  let next = 0;
  let t = 0;
  while (t < ticks) {
    next = applyStimulus(chip, events, next, t);
    const until = next < events.length ? Math.min(ticks, Math.max(t + 1, events[next].tick)) : ticks;
    chip.run(until - t);
    t = until;
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const hex = (d: number): string => (d >>> 0).toString(16).padStart(8, '0');

function spikingNeurons(chip: Chip): number {
  let n = 0;
  for (const g of chip.groups) if (g.ref) n += g.n;
  return n;
}

export function runWorkload(w: Workload, repeats: number, native: NativeBinary, brian2: boolean): WorkloadResult {
  const { program } = compileNetwork(w.net);
  const events = [...w.stimulus].sort((a, b) => a.tick - b.tick);
  const walls: number[] = [];
  const wallsOn: number[] = [];
  const cRuns: NativeRun[] = [];
  const cRunsFast: NativeRun[] = [];
  let nativeReason: string | undefined = native.path === null ? native.reason : undefined;
  const job = native.path !== null ? prepareNative(native.path, program, events) : null;
  let events0 = 0;
  let compartments = 0;
  let digest = '';
  let storage: SynapseStorage | null = null;
  let spiking = 0;
  try {
    // Emulator (digests off, digests on) and C core interleaved per repeat, so that a change of machine load
    // hits all three alike.
    for (let r = 0; r < repeats; r++) {
      const chip = new Chip(program, { digests: false });
      walls.push(timedRun(chip, events, w.ticks));
      chip.computeDigests();
      const d = hex(chip.chipDigest());
      if (digest && d !== digest) throw new Error(`${w.name}: emulator repeats ended in different states (${digest}, ${d})`);
      digest = d;
      events0 = chip.synapticEventsTotal;
      compartments = chip.compartmentsPerTick * w.ticks;
      storage ??= measureSynapseStorage(chip);
      spiking = spikingNeurons(chip);
      const on = new Chip(program, { digests: true });
      wallsOn.push(timedRun(on, events, w.ticks));
      const dOn = hex(on.chipDigest());
      if (dOn !== digest) throw new Error(`${w.name}: emulator digest with per-tick digests ${dOn} differs from ${digest}`);
      if (job && nativeReason === undefined) {
        try {
          cRuns.push(job.run(w.ticks, 1));
          cRunsFast.push(job.run(w.ticks, 1, false));
        } catch (e) {
          nativeReason = `C core run failed: ${(e as Error).message}`;
        }
      }
    }
  } finally {
    job?.dispose();
  }
  const wall = median(walls);
  const wallOn = median(wallsOn);
  const simulated = w.ticks * program.body.tickSeconds;
  const result: WorkloadResult = {
    name: w.name,
    description: w.description,
    ticks: w.ticks,
    repeats,
    synapses: storage!.synapses,
    wallSeconds: wall,
    wallSecondsAll: walls,
    digestsOnWallSeconds: wallOn,
    digestsOnWallSecondsAll: wallsOn,
    ticksPerSec: w.ticks / wall,
    synapticEventsPerSec: events0 / wall,
    compartmentUpdatesPerSec: compartments / wall,
    synapticEventsPerTick: events0 / w.ticks,
    simulatedSeconds: simulated,
    realTimeRatio: simulated / wall,
    firingRateHz: null,
    digest,
    bytesPerSynapse: storage!.bytesPerSynapse,
    storage: storage!,
    native: null,
    nativeRatio: null,
    nativeRatioDigestsOn: null,
  };
  if (nativeReason === undefined && cRuns.length === repeats) {
    const runSeconds = cRuns.map((c) => c.runSeconds[0]);
    const cWall = median(runSeconds);
    const cDigests = new Set(cRuns.map((c) => c.digest));
    const cDigest = cRuns[0].digest;
    const equal = cDigests.size === 1 && cDigest === digest;
    result.native = {
      wallSeconds: cWall,
      wallSecondsAll: runSeconds,
      loadSeconds: median(cRuns.map((c) => c.loadSeconds[0])),
      digest: cDigest,
      digestsEqual: equal,
      spikes: cRuns[0].spikes,
      arenaUsedBytes: cRuns[0].arenaUsed,
      arenaBytesPerSynapse: cRuns[0].synapses ? cRuns[0].arenaUsed / cRuns[0].synapses : 0,
      maxRssBytes: Math.max(...cRuns.map((c) => c.maxRssBytes)),
    };
    if (spiking > 0 && simulated > 0) result.firingRateHz = cRuns[0].spikes / (spiking * simulated);
    const cWallFast = median(cRunsFast.map((c) => c.runSeconds[0]));
    const equalFast = cRunsFast.length === repeats && cRunsFast.every((c) => c.digest === digest);
    result.native.wallSecondsFast = cWallFast;
    if (equal && equalFast) {
      result.nativeRatio = cWallFast / wall;
      result.nativeRatioDigestsOn = cWall / wallOn;
    } else {
      nativeReason = `INVALID: C core final digest ${[...cDigests].join('/')} differs from the emulator's ${digest} (not the same run)`;
    }
  }
  if (nativeReason !== undefined) result.nativeReason = nativeReason;
  if (w.cuba) {
    if (!brian2) {
      result.brian2 = null;
      result.brian2Ratio = null;
      result.brian2Reason = 'Brian2 comparison skipped (--quick; pass --brian2 to run it)';
    } else {
      const b = runBrian2Cuba(w.cuba, repeats);
      if (b.available) {
        const { runSeconds, ...rest } = b;
        const bWall = median(runSeconds);
        result.brian2 = { ...rest, wallSeconds: bWall, wallSecondsAll: runSeconds };
        result.brian2Ratio = bWall / wall;
      } else {
        result.brian2 = null;
        result.brian2Ratio = null;
        result.brian2Reason = b.reason;
      }
    }
  }
  return result;
}

/** The git commit of the working tree and whether it has local changes (read-only; no index refresh). */
function sourceState(): { commit: string; dirty: boolean } | null {
  try {
    const cwd = projectRoot();
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['--no-optional-locks', 'status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().length > 0;
    return { commit, dirty };
  } catch {
    return null;
  }
}

function gccVersion(): string {
  try {
    return execFileSync('cc', ['--version'], { encoding: 'utf8' }).split('\n')[0].trim();
  } catch {
    return 'not found';
  }
}

export async function runBenchmarks(opts: BenchOptions = {}): Promise<BenchReport> {
  const repeats = opts.repeats ?? 5;
  const quick = !!opts.quick;
  const brian2 = opts.brian2 ?? !quick;
  const progress = opts.onProgress ?? (() => undefined);
  const load0 = os.loadavg()[0];
  const native = buildNativeBench();
  const workloads = quick
    ? [denseGraded(false, 128, 5), denseGraded(true, 128, 3), cuba(0.01, 1000), microcircuitTraining(1, [100, 30, 10], 10)]
    : [denseGraded(false, 1024, 200), denseGraded(true, 1024, 200), cuba(10), microcircuitTraining(10)];
  const results: WorkloadResult[] = [];
  for (const w of workloads) {
    progress(`${w.name}: ${w.description}`);
    results.push(runWorkload(w, repeats, native, brian2));
  }
  progress('program-upload');
  let upload: BenchReport['upload'];
  try {
    upload = await benchUpload(quick ? 128 : 1024, repeats, native);
  } catch (e) {
    upload = { name: 'program-upload', skipped: `upload bench failed: ${(e as Error).message}` };
  }
  progress('synapse storage matrix');
  const cases = storageMatrix(quick ? 100 : 1000, 0.1);
  const load1 = os.loadavg()[0];
  const cores = os.cpus().length;
  const underLoad = Math.max(load0, load1) > 0.25 * cores;
  const notes = [
    'Speeds are ticks per wall second of the same Program and stimulus; medians over repeats; one core each.',
    'nativeRatio compares the emulator and the C core (firmware-bridge/build/apx_bench, -O2) both in fast mode (per-tick digests off, final digest computed once and compared); nativeRatioDigestsOn both computing the per-core digests every tick.',
    'brian2Ratio = Brian2 C++ standalone network-run time (device._last_run_time, compile excluded) / emulator wall time (digests off); Brian2 integrates in float64 with its default flags (compilerFlags).',
    'upload.nativeRatio = SerialDevice.load bytes/s (encode + wire protocol over a pty + the board apx_load) / the C core apx_load bytes/s in-process.',
    'bytesPerSynapse counts every typed array the emulator Chip holds for its projections (the weight array of the Program counted once: static projections read it, plastic ones learn into a copy), divided by the synapse count; storage.cases breaks it down by kind and width.',
  ];
  if (underLoad) notes.push(`Timings taken under load (1-min load average ${load0.toFixed(2)} → ${load1.toFixed(2)} on ${cores} cores, other processes running): re-run on a quiet machine for final figures.`);
  if (opts.note) notes.push(opts.note);
  return {
    machine: {
      cpus: os.cpus()[0]?.model ?? 'unknown',
      cores,
      node: process.version,
      gcc: gccVersion(),
      platform: `${os.platform()} ${os.arch()}`,
      totalMemoryBytes: os.totalmem(),
    },
    command: opts.command ?? 'apical bench',
    date: new Date().toISOString(),
    source: sourceState(),
    quick,
    load: { start: load0, end: load1, underLoad, note: underLoad ? 'timings taken under load from other processes' : 'machine quiet at start and end' },
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    nativeReason: native.path !== null ? null : native.reason,
    workloads: results,
    upload,
    storage: { targetBytesPerSynapse: 4, cases },
    notes,
  };
}

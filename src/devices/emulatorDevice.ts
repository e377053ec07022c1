/**
 * EmulatorDevice: the Device interface on the in-process bit-exact emulator.
 */
import { Chip, neuronVariable } from '../emulator/chip.js';
import { CHIP_CORES, CHIP_REVISION } from '../emulator/constants.js';
import { ChipRevisionError, UsageError } from '../emulator/errors.js';
import { ProbeVariable, type Program } from '../emulator/program.js';
import type { Device, DeviceInfo, RunRequest, StimulusEvent } from './device.js';
import { RUN_RECORD_SCHEMA, type ProbeRecord, type RunRecord } from './runRecord.js';

export const EMULATOR_VERSION = '0.1.0';

export class EmulatorDevice implements Device {
  private chip: Chip | null = null;
  private program: Program | null = null;

  constructor(private readonly options: { clockHz?: number; digests?: boolean } = {}) {}

  async open(): Promise<DeviceInfo> {
    return { kind: 'emulator', firmwareVersion: `emulator ${EMULATOR_VERSION}`, protocolVersion: 0, chipRevision: CHIP_REVISION, cores: CHIP_CORES };
  }

  async load(program: Program): Promise<{ alreadyLoaded: boolean }> {
    if (program.chipRevision !== CHIP_REVISION) {
      throw new ChipRevisionError(`program is for chip revision ${program.chipRevision}, this chip is revision ${CHIP_REVISION}`, 'recompile the network for this chip');
    }
    if (this.program && this.program.hash === program.hash) return { alreadyLoaded: true };
    this.chip = new Chip(program, this.options);
    this.program = program;
    return { alreadyLoaded: false };
  }

  /** The loaded emulator (for in-process users that want direct access). */
  get loaded(): Chip {
    if (!this.chip) throw new UsageError('no program loaded', 'call load(program) first');
    return this.chip;
  }

  async run(req: RunRequest): Promise<RunRecord> {
    return runOnChip(this.loaded, req, 'emulator');
  }

  async readWeights(projection: string): Promise<Int8Array | Int16Array> {
    return this.loaded.readWeights(projection);
  }

  async readState(group: string, variable: number): Promise<Int32Array> {
    return this.loaded.read(group, variable as ProbeVariable);
  }

  async reset(): Promise<void> {
    if (this.program) this.chip = new Chip(this.program, this.options);
  }

  async close(): Promise<void> {
    this.chip = null;
    this.program = null;
  }
}

/** Runs a request on a chip and builds the run record. Shared by every in-process runner. */
export function runOnChip(chip: Chip, req: RunRequest, deviceName: string): RunRecord {
  const ticks = req.ticks;
  if (!Number.isInteger(ticks) || ticks < 0) throw new UsageError(`ticks must be a non-negative integer, got ${ticks}`);
  const stim: StimulusEvent[] = [...(req.stimulus ?? [])].sort((a, b) => a.tick - b.tick);
  const wantDigests = (req.digests ?? true) && chip.digestsEnabled;
  const wantProbes = req.probes ?? true;
  const wantSpikes = req.spikes ?? true;
  const start = chip.tick;
  const body = chip.program.body;
  const cyclesBefore = Float64Array.from(chip.cyclesTotal);
  const critBefore = chip.criticalPathTotal;
  // Pre-allocate probe buffers for the whole run.
  const probes: ProbeRecord[] = [];
  const probeWriters: { rec: ProbeRecord; src: () => ArrayLike<number>; n: number }[] = [];
  if (wantProbes) {
    for (const pr of body.probes) {
      const every = pr.every;
      const samples = Math.floor((start + ticks) / every) - Math.floor(start / every);
      let src: () => ArrayLike<number>;
      let width: number;
      if (pr.variable === ProbeVariable.Weights) {
        const p = chip.projections[pr.projection];
        src = () => p.w;
        width = p.w.length;
      } else {
        const g = chip.groups[pr.group];
        const a = neuronVariable(g, pr.variable) ?? new Int32Array(g.n);
        src = () => a;
        width = g.n;
      }
      const rec: ProbeRecord = { name: pr.name, variable: ProbeVariable[pr.variable].toLowerCase(), every, width, data: new Int32Array(samples * width) };
      probes.push(rec);
      probeWriters.push({ rec, src, n: 0 });
    }
  }
  const digests = new Uint32Array(wantDigests ? ticks * CHIP_CORES : 0);
  if (wantSpikes) chip.startSpikeLog();
  const loop = () => {
    let si = 0;
    for (let k = 0; k < ticks; k++) {
      while (si < stim.length && stim[si].tick <= k) {
        const ev = stim[si++];
        if (ev.values === null) chip.clearTarget(ev.port);
        else chip.setInput(ev.port, ev.values);
      }
      chip.step();
      if (wantDigests) digests.set(chip.coreDigests, k * CHIP_CORES);
      for (const pw of probeWriters) {
        if (chip.tick % pw.rec.every === 0) {
          pw.rec.data.set(pw.src() as Int32Array, pw.n * pw.rec.width);
          pw.n++;
        }
      }
    }
  };
  // A run that records no digests does not compute them after every tick (they are a function of the state).
  if (wantDigests) loop();
  else chip.withoutTickDigests(loop);
  const logs = wantSpikes ? chip.stopSpikeLog() : [];
  const spikes = logs
    .map((l, gi) => ({ group: chip.groups[gi].def.name, ticks: l.ticks, neurons: l.neurons }))
    .filter((s) => s.ticks.length > 0);
  const perCore = Array.from(chip.cyclesTotal, (c, i) => c - cyclesBefore[i]);
  const criticalPath = chip.criticalPathTotal - critBefore;
  return {
    schema: RUN_RECORD_SCHEMA,
    programHash: chip.program.hash,
    device: deviceName,
    startTick: start,
    ticks,
    spikes,
    spikeCount: spikes.reduce((a, s) => a + s.ticks.length, 0),
    probes,
    cycles: {
      perCore,
      criticalPath,
      clockHz: chip.clockHz,
      realTimeFactor: ticks && criticalPath ? (body.tickSeconds * ticks) / (criticalPath / chip.clockHz) : Infinity,
    },
    digests,
    cores: CHIP_CORES,
    finalDigest: wantDigests ? chip.chipDigest() : 0,
    weights: chip.projections.filter((p) => p.wacc).map((p) => ({ projection: p.def.name, weightShift: p.def.weightShift, values: p.w.slice() })),
  };
}

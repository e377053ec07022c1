/**
 * Benchmark runner: for each workload, compile once, then `repeats` times build a fresh chip (digests off),
 * run the workload's ticks and time it. Reports medians: synaptic events/s and compartment updates/s.
 */
import os from 'node:os';
import { Chip } from '../src/emulator/chip.js';
import { compileNetwork } from '../src/models/compiler.js';
import { cuba, denseGraded, type Workload } from './workloads.js';

export interface WorkloadResult {
  name: string;
  description: string;
  ticks: number;
  repeats: number;
  wallSeconds: number;
  wallSecondsAll: number[];
  synapticEventsPerSec: number;
  compartmentUpdatesPerSec: number;
  synapticEventsPerTick: number;
  simulatedSeconds: number;
  realTimeRatio: number;
}

export interface BenchReport {
  machine: { cpus: string; cores: number; node: string; platform: string };
  command: string;
  date: string;
  workloads: WorkloadResult[];
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export function runWorkload(w: Workload, repeats: number): WorkloadResult {
  const { program } = compileNetwork(w.net);
  const walls: number[] = [];
  let events = 0;
  let compartments = 0;
  for (let r = 0; r < repeats; r++) {
    const chip = new Chip(program, { digests: false });
    for (const [port, values] of Object.entries(w.inputs)) chip.setInput(port, values);
    const t0 = process.hrtime.bigint();
    chip.run(w.ticks);
    const t1 = process.hrtime.bigint();
    walls.push(Number(t1 - t0) / 1e9);
    events = chip.synapticEventsTotal;
    compartments = chip.compartmentsPerTick * w.ticks;
  }
  const wall = median(walls);
  const simulated = w.ticks * program.body.tickSeconds;
  return {
    name: w.name,
    description: w.description,
    ticks: w.ticks,
    repeats,
    wallSeconds: wall,
    wallSecondsAll: walls,
    synapticEventsPerSec: events / wall,
    compartmentUpdatesPerSec: compartments / wall,
    synapticEventsPerTick: events / w.ticks,
    simulatedSeconds: simulated,
    realTimeRatio: simulated / wall,
  };
}

export function runBenchmarks(opts: { repeats?: number; quick?: boolean; command?: string } = {}): BenchReport {
  const repeats = opts.repeats ?? 5;
  const workloads = opts.quick ? [denseGraded(false, 256, 10), denseGraded(true, 256, 5), cuba(0.05, 1000)] : [denseGraded(false), denseGraded(true, 1024, 10), cuba(1)];
  return {
    machine: { cpus: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.arch()}` },
    command: opts.command ?? 'apical bench',
    date: new Date().toISOString(),
    workloads: workloads.map((w) => runWorkload(w, repeats)),
  };
}

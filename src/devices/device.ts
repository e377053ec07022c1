/**
 * The Device interface: the seam between what runs a Program and everything above it
 * (docs/architecture: open → load → run → read → close). The emulator implements it in-process
 * (EmulatorDevice); a board implements it over a serial link. Same calls, same results, bit for bit.
 */
import type { Program } from '../emulator/program.js';
import type { RunRecord } from './runRecord.js';

export interface DeviceInfo {
  kind: 'emulator' | 'serial';
  firmwareVersion: string;
  protocolVersion: number;
  chipRevision: number;
  cores: number;
}

/** One host write, applied before tick `tick` (ticks counted from the start of the run). */
export interface StimulusEvent {
  tick: number;
  port: string;
  /** STATE integers (rates, targets, reward) or 0/1 spikes; null clears a target port. */
  values: number[] | null;
}

export interface RunRequest {
  ticks: number;
  stimulus?: StimulusEvent[];
  /** What to record (all default true except spikes on graded groups, which are never logged). */
  digests?: boolean;
  spikes?: boolean;
  probes?: boolean;
}

export interface Device {
  open(): Promise<DeviceInfo>;
  /** Loads a Program; loading the Program that is already loaded is a no-op (`alreadyLoaded: true`). */
  load(program: Program): Promise<{ alreadyLoaded: boolean }>;
  run(request: RunRequest): Promise<RunRecord>;
  readWeights(projection: string): Promise<Int8Array | Int16Array>;
  readState(group: string, variable: number): Promise<Int32Array>;
  /** Back to the state right after load. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

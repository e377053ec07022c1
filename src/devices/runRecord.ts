/**
 * Run records (schema RUN_RECORD_SCHEMA): what a run produced, stored as MessagePack (msgpackr) with typed
 * arrays kept as binary. A record from the emulator and one from a board are comparable field by field.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Packr } from 'msgpackr';
import { ApicalError } from '../emulator/errors.js';

export const RUN_RECORD_SCHEMA = 1;

export interface SpikeRecord {
  group: string;
  ticks: Int32Array;
  neurons: Int32Array;
}

export interface ProbeRecord {
  name: string;
  variable: string;
  every: number;
  /** Neurons (or synapses) per sample. */
  width: number;
  /** Samples, row-major: samples × width integers. */
  data: Int32Array;
}

export interface CycleRecord {
  /** Cycles per core over the run. */
  perCore: number[];
  /** Σ over ticks of the slowest core. */
  criticalPath: number;
  clockHz: number;
  realTimeFactor: number;
}

export interface RunRecord {
  schema: number;
  programHash: string;
  device: string;
  startTick: number;
  ticks: number;
  spikes: SpikeRecord[];
  spikeCount: number;
  probes: ProbeRecord[];
  cycles: CycleRecord;
  /** Per tick, per core: digests[t * cores + c] (empty when digests were off). */
  digests: Uint32Array;
  cores: number;
  /** Chip digest after the last tick (0 when digests were off). */
  finalDigest: number;
  /** Final weights of plastic projections. */
  weights: { projection: string; weightShift: number; values: Int16Array | Int8Array }[];
}

const packr = new Packr({ moreTypes: true, useRecords: false });

export function encodeRunRecord(r: RunRecord): Uint8Array {
  return packr.pack(r);
}

export class RunRecordError extends ApicalError {
  override name = 'RunRecordError';
}

export function decodeRunRecord(bytes: Uint8Array): RunRecord {
  let r: RunRecord;
  try {
    r = packr.unpack(bytes) as RunRecord;
  } catch (e) {
    throw new RunRecordError(`not a run record: ${(e as Error).message}`);
  }
  if (!r || typeof r !== 'object' || r.schema !== RUN_RECORD_SCHEMA) {
    throw new RunRecordError(`run record schema ${r?.schema ?? 'missing'} not supported`, `this apical reads schema ${RUN_RECORD_SCHEMA}`);
  }
  return r;
}

export function writeRunRecord(path: string, r: RunRecord): void {
  writeFileSync(path, encodeRunRecord(r));
}

export function readRunRecord(path: string): RunRecord {
  return decodeRunRecord(readFileSync(path));
}

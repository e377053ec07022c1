/**
 * The C chip core side of the bench: builds firmware-bridge/build/apx_bench (`make -C firmware-bridge bench`,
 * -O2) when needed, writes a Program and its stimulus (apx_host.h stimulus.txt format) to a temporary
 * directory, runs apx_bench and parses its timings and final chip digest (firmware-bridge/host/apx_bench.c).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StimulusEvent } from '../src/devices/device.js';
import { encodeProgram } from '../src/emulator/programCodec.js';
import type { Program } from '../src/emulator/program.js';

export interface NativeRun {
  programBytes: number;
  /** apx_load of the whole file, per repeat (s). */
  loadSeconds: number[];
  /** The tick loop, per repeat (s). */
  runSeconds: number[];
  /** apx_chip_digest after the last tick, 8 hex digits. */
  digest: string;
  spikes: number;
  synapses: number;
  arenaUsed: number;
  maxRssBytes: number;
}

/** Either the binary, or why there is none. */
export type NativeBinary = { path: string } | { path: null; reason: string };

/** The project root (holds package.json and firmware-bridge/), from bench/ or dist/bench/. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'firmware-bridge'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the apical project root (firmware-bridge/)');
    dir = up;
  }
}

/** Runs `make -C firmware-bridge bench` (incremental: also rebuilds when the chip core changed). */
export function buildNativeBench(): NativeBinary {
  const fw = join(projectRoot(), 'firmware-bridge');
  const bin = join(fw, 'build', 'apx_bench');
  const r = spawnSync('make', ['-s', '-C', fw, 'bench'], { encoding: 'utf8' });
  if (r.error) return { path: null, reason: `cannot run make (${r.error.message}): the C core bench needs a C compiler and make` };
  if (r.status !== 0 || !existsSync(bin)) {
    return { path: null, reason: `make -C firmware-bridge bench failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}` };
  }
  return { path: bin };
}

/** The stimulus.txt text of a Device stimulus (firmware-bridge/host/apx_host.h). */
export function stimulusText(events: StimulusEvent[]): string {
  return events.map((e) => (e.values === null ? `${e.tick} ${e.port} clear` : `${e.tick} ${e.port} set ${e.values.length} ${e.values.join(' ')}`)).join('\n') + '\n';
}

function parseOutput(out: string): NativeRun {
  const kv = new Map<string, string[]>();
  for (const line of out.trim().split('\n')) {
    const [k, ...v] = line.trim().split(/\s+/);
    kv.set(k, v);
  }
  const one = (k: string): string => {
    const v = kv.get(k);
    if (!v || v.length === 0) throw new Error(`apx_bench printed no ${k} line`);
    return v[0];
  };
  return {
    programBytes: Number(one('program_bytes')),
    loadSeconds: (kv.get('load_seconds') ?? []).map(Number),
    runSeconds: (kv.get('run_seconds') ?? []).map(Number),
    digest: one('digest'),
    spikes: Number(one('spikes')),
    synapses: Number(one('synapses')),
    arenaUsed: Number(one('arena_used')),
    maxRssBytes: Number(one('max_rss_kib')) * 1024,
  };
}

/** A Program and its stimulus written to a temporary directory, ready for apx_bench runs. */
export interface NativeJob {
  /** Runs apx_bench once with `repeats` repeats (per-tick digests on unless `digests` is false); throws with apx_bench's message on failure. */
  run(ticks: number, repeats: number, digests?: boolean): NativeRun;
  dispose(): void;
}

export function prepareNative(bin: string, program: Program, stimulus: StimulusEvent[]): NativeJob {
  const dir = mkdtempSync(join(tmpdir(), 'apical-bench-'));
  const apx = join(dir, 'program.apx');
  const stim = join(dir, 'stimulus.txt');
  writeFileSync(apx, encodeProgram(program, { validate: false }));
  writeFileSync(stim, stimulusText(stimulus));
  return {
    run(ticks: number, repeats: number, digests = true): NativeRun {
      const r = spawnSync(bin, [apx, String(ticks), String(repeats), stim, ...(digests ? [] : ['--no-digests'])], { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (r.error) throw new Error(`cannot run ${bin}: ${r.error.message}`);
      if (r.status !== 0) throw new Error(`apx_bench failed (status ${r.status}): ${r.stderr.trim()}`);
      return parseOutput(r.stdout);
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs the Program `repeats` times for `ticks` ticks on the C core (one apx_bench process). */
export function runNative(bin: string, program: Program, stimulus: StimulusEvent[], ticks: number, repeats: number): NativeRun {
  const job = prepareNative(bin, program, stimulus);
  try {
    return job.run(ticks, repeats);
  } finally {
    job.dispose();
  }
}

/**
 * The Brian2 side of the CUBA workload: runs bench/cuba_brian2.py (Brian2 C++ standalone mode) under
 * /usr/bin/python3 (APICAL_BENCH_PYTHON overrides) with the workload's network statistics and parses its JSON.
 * Never throws: when Python or Brian2 is missing, or the script fails, the result says why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from './nativeCore.js';
import type { CubaStatistics } from './workloads.js';

export interface Brian2Run {
  available: true;
  brian2Version: string;
  python: string;
  neurons: number;
  synapses: number;
  seconds: number;
  dtMs: number;
  /** One-off code generation + C++ compilation of the standalone project (s). */
  compileSeconds: number;
  /** Brian2's own timing of the network run (device._last_run_time), per repeat (s). */
  runSeconds: number[];
  /** Wall time of the whole compiled binary (start-up, run, writing results), per repeat (s). */
  binarySeconds: number[];
  spikes: number;
  rateHz: number;
  compilerFlags: string[];
}

export type Brian2Result = Brian2Run | { available: false; reason: string };

/** The interpreter the bench uses for Brian2. */
export function brian2Python(): string {
  return process.env.APICAL_BENCH_PYTHON ?? '/usr/bin/python3';
}

export function runBrian2Cuba(stats: CubaStatistics, repeats: number, seed = 11): Brian2Result {
  const python = brian2Python();
  if (!existsSync(python)) return { available: false, reason: `${python} not found (Brian2 needs Python 3: apt-get install -y python3-brian)` };
  const script = join(projectRoot(), 'bench', 'cuba_brian2.py');
  const dir = mkdtempSync(join(tmpdir(), 'apical-brian2-'));
  try {
    const args = [
      script,
      ...['--neurons', String(stats.neurons), '--exc-fraction', String(stats.excitatoryFraction), '--connectivity', String(stats.connectivity)],
      ...['--seconds', String(stats.seconds), '--dt-ms', String(stats.dtMs), '--we', String(stats.weightExcitatoryMv), '--wi', String(stats.weightInhibitoryMv)],
      ...['--repeats', String(repeats), '--seed', String(seed), '--dir', join(dir, 'project')],
    ];
    const r = spawnSync(python, args, { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 15 * 60_000, env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
    if (r.error) return { available: false, reason: `cannot run ${python}: ${r.error.message}` };
    if (r.status !== 0) return { available: false, reason: `cuba_brian2.py failed (status ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` };
    const line = r.stdout.trim().split('\n').pop() ?? '';
    let parsed: Brian2Result;
    try {
      parsed = JSON.parse(line) as Brian2Result;
    } catch {
      return { available: false, reason: `cuba_brian2.py printed no JSON: ${line.slice(0, 200)}` };
    }
    if (!parsed.available) {
      return { available: false, reason: `${parsed.reason} (install it with: apt-get install -y python3-brian)` };
    }
    return parsed;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

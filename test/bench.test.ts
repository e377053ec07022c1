/**
 * The bench report (bench/run.ts) in --quick mode: its format, the C core comparison on the same run (final
 * digests equal), the storage figures, and the visible "not run" paths (Brian2 missing, C digest mismatch).
 * Timings themselves are not asserted here (they live in bench/results/).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBrian2Cuba } from '../bench/brian2.js';
import { runBenchmarks, runWorkload, type BenchReport } from '../bench/run.js';
import { stimulusText } from '../bench/nativeCore.js';
import { cuba, denseGraded } from '../bench/workloads.js';
import { storageMatrix } from '../bench/synapseStorage.js';
import { Chip } from '../src/emulator/chip.js';
import type { Program } from '../src/emulator/program.js';
import { decodeProgram, encodeProgram } from '../src/emulator/programCodec.js';
import { compileNetwork } from '../src/models/compiler.js';
import { Network } from '../src/models/network.js';
import { SeededRandom } from '../src/models/seededRandom.js';

const hasCompiler = spawnSync('cc', ['--version']).status === 0 && spawnSync('make', ['--version']).status === 0;
const tmp = mkdtempSync(join(tmpdir(), 'apical-bench-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('apical bench --quick report', () => {
  let report: BenchReport;

  it('runs every workload side by side with the C core, with equal final digests', async () => {
    report = await runBenchmarks({ quick: true, repeats: 1, command: 'test' });
    expect(report.workloads.map((w) => w.name)).toEqual(['dense-graded-static', 'dense-graded-plastic', 'cuba', 'microcircuit-training']);
    expect(report.machine.gcc.length).toBeGreaterThan(0);
    expect(report.peakRssBytes).toBeGreaterThan(0);
    for (const w of report.workloads) {
      expect(w.digest, w.name).toMatch(/^[0-9a-f]{8}$/);
      expect(w.wallSeconds, w.name).toBeGreaterThan(0);
      expect(w.digestsOnWallSeconds, w.name).toBeGreaterThan(0);
      expect(w.synapses, w.name).toBeGreaterThan(0);
      expect(w.bytesPerSynapse, w.name).toBeGreaterThan(0);
      if (hasCompiler) {
        expect(w.nativeReason, w.name).toBeUndefined();
        expect(w.native!.digest, w.name).toBe(w.digest);
        expect(w.native!.digestsEqual, w.name).toBe(true);
        expect(w.native!.arenaBytesPerSynapse, w.name).toBeGreaterThan(0);
        expect(w.nativeRatio, w.name).toBeGreaterThan(0);
        expect(w.nativeRatioDigestsOn, w.name).toBeGreaterThan(0);
      } else {
        expect(w.nativeRatio, w.name).toBeNull();
        expect(w.nativeReason, w.name).toMatch(/\S/);
      }
    }
    // The network statistics are what Brian2 rebuilds; quick mode skips Brian2 visibly.
    const c = report.workloads.find((w) => w.name === 'cuba')!;
    expect(c.brian2Ratio).toBeNull();
    expect(c.brian2Reason).toMatch(/skipped/);
    if (hasCompiler) expect(c.firingRateHz).toBeGreaterThan(0);
  }, 60_000);

  it('measures the storage per synapse from the emulator arrays (at least the weights themselves)', () => {
    const cases = report.storage.cases;
    expect(cases).toHaveLength(8);
    for (const s of cases) {
      expect(s.bytesPerSynapse, s.description).toBeGreaterThanOrEqual(s.weightBits / 8);
      expect(s.perSynapse.weights, s.description).toBe(s.weightBits / 8);
      expect(s.perSynapse.accumulators > 0, s.description).toBe(s.plastic);
      expect(s.perSynapse.indices > 0, s.description).toBe(s.kind === 'sparse');
    }
    const dense8 = report.workloads.find((w) => w.name === 'dense-graded-static')!;
    expect(dense8.storage.perSynapse.weights).toBe(2); // 16-bit weights
  });

  it('reports the Program upload through the virtual board against the C load speed', () => {
    const u = report.upload;
    if ('skipped' in u) {
      expect(hasCompiler).toBe(false);
      return;
    }
    expect(u.programBytes).toBeGreaterThan(128 * 128 * 2);
    expect(u.uploadBytesPerSec).toBeGreaterThan(0);
    expect(u.retransmissions).toBe(0);
    expect(u.wireBytesPerProgramByte).toBeGreaterThanOrEqual(1);
    expect(u.nativeRatio).toBeGreaterThan(0);
  });
});

/**
 * Static and plastic (pre- and post-triggered) sparse and dense projections between two graded groups; the
 * connectivity is fixed, the weight values depend on `weightSeed` (same shape, other weights).
 */
function mixedProgram(weightSeed: number): Program {
  const n = 24;
  const structure = new SeededRandom(7);
  const rng = new SeededRandom(weightSeed);
  const net = new Network('storage-mixed', { seed: 5, tickSeconds: 1e-4 });
  net.input('in', n, { payloadShift: 2 });
  net.population('out', n, { output: 'graded', activation: 'sigmoid', basal: true, soma: { kBasal: 0.5, kTotal: 0.5 }, payloadShift: 2 });
  const sparse = () => {
    const pre: number[] = [];
    const post: number[] = [];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (structure.next() < 0.3) (pre.push(i), post.push(j));
    return { pre, post, values: pre.map(() => rng.uniform(-0.5, 0.5)) };
  };
  const dense = () => Array.from({ length: n * n }, () => rng.uniform(-0.5, 0.5));
  const learn = (rule: string) => ({ rule, rounding: 'nearest' as const });
  net.project('sStatic', 'in', 'out', { kind: 'sparse', weights: sparse(), weightBits: 8, weightRange: 1 });
  net.project('sPre', 'in', 'out', { kind: 'sparse', weights: sparse(), weightBits: 8, weightRange: 1, plasticity: learn('dw = 2^-3 * post.rate * pre.rate') });
  net.project('sPost', 'in', 'out', { kind: 'sparse', weights: sparse(), weightBits: 16, weightRange: 1, plasticity: learn('on post: dw = -2^-3 * pre.rate') });
  net.project('dStatic', 'in', 'out', { weights: dense(), weightBits: 16, weightRange: 1 });
  net.project('dPlastic', 'in', 'out', { weights: dense(), weightBits: 8, weightRange: 1, plasticity: learn('dw = 2^-3 * post.rate * pre.rate') });
  return compileNetwork(net).program;
}

const synapseArrays = (p: Program) => p.body.projections.map((x) => ({ name: x.name, weights: Array.from(x.weights), rowPtr: x.rowPtr && Array.from(x.rowPtr), cols: x.cols && Array.from(x.cols) }));

describe('synapse storage (bench/synapseStorage.ts)', () => {
  it('a static sparse 8-bit projection costs at most 4 bytes per synapse: 16-bit indices and the Program\'s weights, not a copy', () => {
    const cases = storageMatrix(1000, 0.1);
    const static8 = cases.find((c) => c.kind === 'sparse' && c.weightBits === 8 && !c.plastic)!;
    expect(static8.bytesPerSynapse).toBeLessThanOrEqual(4);
    for (const c of cases.filter((x) => x.kind === 'sparse')) {
      // Weights counted once when static; plastic projections learn into a copy of the Program's weights.
      expect(c.perSynapse.programWeights, c.description).toBe(c.plastic ? c.weightBits / 8 : 0);
      // cols 2 bytes per synapse, plus rowPtr (n + 1 Uint32 over the synapses); no transposed index (pre rule).
      expect(c.perSynapse.indices, c.description).toBeCloseTo(2 + (4 * 1001) / c.synapses, 12);
    }
  });

  it('a Chip reads a static projection\'s weights and every sparse index from its Program, and never modifies the Program', () => {
    const program = mixedProgram(1);
    const bytes = encodeProgram(program);
    const chip = new Chip(program, { backend: 'js' });
    for (const [k, p] of chip.projections.entries()) {
      const def = program.body.projections[k];
      expect(p.w === def.weights, def.name).toBe(def.plasticity === null);
      if (def.cols) expect(def.cols, def.name).toBeInstanceOf(Uint16Array);
    }
    const rng = new SeededRandom(3);
    for (let t = 0; t < 40; t++) {
      chip.setInput('in', Array.from({ length: 24 }, () => Math.floor(rng.uniform(0, 2 ** 16))));
      chip.step();
    }
    const fresh = decodeProgram(bytes);
    // The plastic projections did learn (this run could show a write into the Program) ...
    for (const name of ['sPre', 'sPost', 'dPlastic']) {
      const initial = fresh.body.projections.find((x) => x.name === name)!.weights;
      expect(Array.from(chip.readWeights(name)), name).not.toEqual(Array.from(initial));
    }
    // ... and the Program is still the file it was encoded to.
    expect(synapseArrays(program)).toEqual(synapseArrays(fresh));
    expect(encodeProgram(program)).toEqual(bytes);

    // A snapshot restored into a Chip of another Program of the same shape leaves that Program's static weights alone.
    const other = mixedProgram(2);
    const otherBytes = encodeProgram(other);
    const chip2 = new Chip(other, { backend: 'js' });
    chip2.restore(chip.snapshot());
    chip2.run(5);
    expect(synapseArrays(other)).toEqual(synapseArrays(decodeProgram(otherBytes)));
    expect(Array.from(chip2.readWeights('sStatic'))).toEqual(Array.from(other.body.projections[0].weights));
  });
});

describe('bench failure paths are visible, not crashes', () => {
  it('Brian2 without a Python interpreter: available false with a reason', () => {
    const before = process.env.APICAL_BENCH_PYTHON;
    process.env.APICAL_BENCH_PYTHON = join(tmp, 'no-such-python');
    try {
      const r = runBrian2Cuba(cuba(0.001, 100).cuba!, 1);
      expect(r.available).toBe(false);
      if (!r.available) expect(r.reason).toContain('not found');
    } finally {
      if (before === undefined) delete process.env.APICAL_BENCH_PYTHON;
      else process.env.APICAL_BENCH_PYTHON = before;
    }
  });

  it('a C core that ends in another digest makes the ratio null and says the figure is invalid', () => {
    const fake = join(tmp, 'fake_apx_bench');
    const lines = ['program_bytes 1', 'load_seconds 0.001', 'run_seconds 0.001', 'digest 00000000', 'spikes 0', 'synapses 1', 'arena_used 1', 'max_rss_kib 1'];
    writeFileSync(fake, `#!/bin/sh\nprintf '${lines.join('\\n')}\\n'\n`);
    chmodSync(fake, 0o755);
    const w = runWorkload(denseGraded(false, 16, 2), 1, { path: fake }, false);
    expect(w.digest).not.toBe('00000000');
    expect(w.native!.digestsEqual).toBe(false);
    expect(w.nativeRatio).toBeNull();
    expect(w.nativeRatioDigestsOn).toBeNull();
    expect(w.nativeReason).toMatch(/INVALID/);
  });

  it('writes the stimulus in the apx_host.h text format', () => {
    expect(stimulusText([{ tick: 0, port: 'in', values: [1, -2] }, { tick: 5, port: 'out.target', values: null }])).toBe('0 in set 2 1 -2\n5 out.target clear\n');
  });
});

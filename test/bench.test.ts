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

/**
 * `apical bench`: the benchmark workloads of bench/ (medians over repeats, one core), each side by side with
 * the C chip core on the same Program and stimulus, CUBA also with Brian2 (C++ standalone), the Program upload
 * to the virtual board and the emulator's bytes per synapse (bench/run.ts says what every figure means).
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { positiveInt, print } from './cliOptions.js';

interface BenchCliOptions {
  json?: boolean;
  repeats: number;
  quick?: boolean;
  out?: string;
  brian2?: boolean;
  note?: string;
}

const fmt = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined ? '—' : x.toFixed(digits));

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('run the benchmark workloads against the C core (and Brian2 for CUBA): medians over repeats, one core')
    .option('--json', 'machine-readable output')
    .option('--repeats <n>', 'repeats per workload', positiveInt, 5)
    .option('--quick', 'small workloads (smoke test); skips Brian2 unless --brian2')
    .option('--brian2', 'run the Brian2 CUBA comparison (default without --quick)')
    .option('--no-brian2', 'skip the Brian2 CUBA comparison')
    .option('--note <text>', 'free text recorded in the report notes')
    .option('--out <file>', 'also write the JSON report to this file')
    .action(async (o: BenchCliOptions) => {
      const { runBenchmarks } = await import('../../bench/run.js');
      const command = ['apical', ...process.argv.slice(2)].join(' ');
      const report = await runBenchmarks({
        repeats: o.repeats,
        quick: o.quick,
        brian2: o.brian2,
        note: o.note,
        command,
        onProgress: o.json ? undefined : (line) => process.stderr.write(`bench: ${line}\n`),
      });
      if (o.out) writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
      print(!!o.json, report, () => {
        const lines: string[] = [];
        lines.push(
          `${'workload'.padEnd(24)} ${'ticks/s'.padStart(10)} ${'M syn.ev/s'.padStart(10)} ${'C ticks/s'.padStart(10)} ${'native'.padStart(7)} ${'dig.on'.padStart(7)} ${'B/syn'.padStart(6)}  (medians of ${o.repeats})`,
        );
        for (const w of report.workloads) {
          const c = w.native ? w.ticks / (w.native.wallSecondsFast ?? w.native.wallSeconds) : null;
          lines.push(
            `${w.name.padEnd(24)} ${fmt(w.ticksPerSec, 0).padStart(10)} ${fmt(w.synapticEventsPerSec / 1e6, 1).padStart(10)} ${fmt(c, 0).padStart(10)} ${fmt(w.nativeRatio, 3).padStart(7)} ${fmt(w.nativeRatioDigestsOn, 3).padStart(7)} ${fmt(w.bytesPerSynapse, 1).padStart(6)}`,
          );
          if (w.nativeReason) lines.push(`  C core: ${w.nativeReason}`);
          if (w.brian2Ratio !== undefined) {
            lines.push(
              w.brian2 && w.brian2Ratio !== null
                ? `  Brian2 ${w.brian2.brian2Version}: ${fmt(w.brian2.wallSeconds, 3)} s run (compile ${fmt(w.brian2.compileSeconds, 1)} s, ${fmt(w.brian2.rateHz, 2)} Hz) vs emulator ${fmt(w.wallSeconds, 3)} s (${fmt(w.firingRateHz, 2)} Hz): brian2Ratio ${fmt(w.brian2Ratio, 3)}`
                : `  Brian2: not run: ${w.brian2Reason}`,
            );
          }
        }
        const u = report.upload;
        if ('skipped' in u) lines.push(`program upload: ${u.skipped}`);
        else
          lines.push(
            `program upload: ${u.programBytes} bytes at ${fmt(u.uploadBytesPerSec / 1e6, 2)} MB/s through SerialDevice → apx_board; C apx_load ${fmt(u.nativeLoadBytesPerSec === null ? null : u.nativeLoadBytesPerSec / 1e6, 1)} MB/s; ratio ${fmt(u.nativeRatio, 4)}${u.nativeReason ? ` (${u.nativeReason})` : ''}`,
          );
        lines.push(`bytes per synapse (emulator storage; target ≤ ${report.storage.targetBytesPerSynapse} for sparse 8-bit):`);
        for (const s of report.storage.cases) lines.push(`  ${fmt(s.bytesPerSynapse, 2).padStart(6)}  ${s.description}`);
        lines.push(`peak RSS ${fmt(report.peakRssBytes / 2 ** 20, 0)} MiB; ${report.machine.cpus}, ${report.machine.cores} cores, node ${report.machine.node}, ${report.machine.gcc}`);
        if (report.load.underLoad) lines.push(`note: ${report.load.note} (load average ${fmt(report.load.start)} → ${fmt(report.load.end)})`);
        return lines.join('\n');
      });
    });
}

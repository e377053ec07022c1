/**
 * `apical bench`: the benchmark workloads of bench/ (medians over repeats, one core).
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { positiveInt, print } from './cliOptions.js';

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('run the benchmark workloads (medians over repeats, one core)')
    .option('--json', 'machine-readable output')
    .option('--repeats <n>', 'repeats per workload', positiveInt, 5)
    .option('--quick', 'small workloads (smoke test)')
    .option('--out <file>', 'also write the JSON report to this file')
    .action(async (o: { json?: boolean; repeats: number; quick?: boolean; out?: string }) => {
      const { runBenchmarks } = await import('../../bench/run.js');
      const report = runBenchmarks({ repeats: o.repeats, quick: o.quick, command: `apical bench${o.quick ? ' --quick' : ''} --repeats ${o.repeats}` });
      if (o.out) writeFileSync(o.out, JSON.stringify(report, null, 2));
      print(!!o.json, report, () =>
        report.workloads
          .map(
            (w) =>
              `${w.name.padEnd(22)} ${(w.synapticEventsPerSec / 1e6).toFixed(1).padStart(8)} M syn.events/s ${(w.compartmentUpdatesPerSec / 1e6).toFixed(1).padStart(8)} M comp.updates/s  ${w.ticks} ticks in ${w.wallSeconds.toFixed(3)} s (median of ${w.repeats})`,
          )
          .join('\n'),
      );
    });
}

/**
 * `apical fidelity [--rule pal|fa] [--epochs N] [--twin-epochs N] [--seed S] [--out DIR] [--json]`: trains the
 * digits microcircuit on the chip, its float twin and the backprop reference (models/fidelity.ts), and writes
 * fidelity.json, SVG plots and report.md into DIR.
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { runFidelity } from '../models/fidelity.js';
import { writeFidelityReport } from '../models/report/fidelityReport.js';
import { TrainError } from '../models/training.js';
import { nonNegativeInt, positiveInt, print } from './cliOptions.js';
import { progressBar } from './trainCommand.js';

export function registerFidelityCommand(program: Command): void {
  program
    .command('fidelity')
    .description('chip vs float twin vs backprop, per layer and over training (digits microcircuit); writes a report')
    .option('--rule <name>', 'feedback rule: pal or fa', 'pal')
    .option('--epochs <n>', 'training epochs', positiveInt, 5)
    .option('--twin-epochs <n>', 'epochs of the float twin run (0 = skip; default: --epochs)', nonNegativeInt)
    .option('--seed <n>', 'seed of weights, chip PRNG and shuffles', nonNegativeInt, 1)
    .option('--out <dir>', 'report directory', 'fidelity-report')
    .option('--json', 'machine-readable output')
    .action(async (o: { rule: string; epochs: number; twinEpochs?: number; seed: number; out: string; json?: boolean }) => {
      if (o.rule !== 'pal' && o.rule !== 'fa') throw new TrainError(`unknown rule "${o.rule}" for fidelity`, 'use pal or fa');
      const bar = progressBar('fidelity');
      const command = `apical fidelity --rule ${o.rule} --epochs ${o.epochs}${o.twinEpochs !== undefined ? ` --twin-epochs ${o.twinEpochs}` : ''} --seed ${o.seed}`;
      let summary;
      try {
        summary = await runFidelity({
          rule: o.rule,
          epochs: o.epochs,
          twinEpochs: o.twinEpochs,
          seed: o.seed,
          command,
          onProgress: (s, d, t) => bar.update(d, t, s),
        });
      } finally {
        bar.stop();
      }
      const files = writeFidelityReport(resolve(o.out), summary.data);
      const json = {
        rule: summary.rule,
        epochs: summary.epochs,
        testAccuracy: { chip: summary.chip.testAccuracy, twin: summary.twinAccuracy?.at(-1) ?? null, backprop: summary.backpropAccuracy.at(-1) ?? null },
        layers: summary.layers,
        apicalNorm: summary.apicalNorm,
        attribution: summary.attribution,
        files,
      };
      print(!!o.json, json, () =>
        [
          `test accuracy: chip ${(100 * summary.chip.testAccuracy).toFixed(2)} %, twin ${summary.twinAccuracy ? `${(100 * summary.twinAccuracy.at(-1)!).toFixed(2)} %` : '—'}, backprop ${(100 * summary.backpropAccuracy.at(-1)!).toFixed(2)} %`,
          ...summary.layers.map(
            (l) =>
              `${l.name}: ∠(B, Wᵀ) ${l.angleBWt === null ? '—' : `${l.angleBWt.toFixed(1)}°`}, ∠(ΔW_chip, ΔW_twin) ${l.angleDwTwin?.toFixed(1)}°, ∠(ΔW_chip, ΔW_bp) ${l.angleDwBackprop?.toFixed(1)}°`,
          ),
          `apical norm ${summary.apicalNorm.map((v) => v.toFixed(3)).join(', ')}`,
          `report: ${files.report}`,
        ].join('\n'),
      );
    });
}

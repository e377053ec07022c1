/**
 * `apical train --circuit microcircuit --rule pal|sal|fa|bp --task alignment|teacher|digits --engine chip|twin
 *  [--epochs N] [--seed S] [--hidden 40] [--init model.onnx] [--json]`: runs models/training.ts and prints its
 * report; a progress bar on stderr when stderr is a terminal.
 */
import { readFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { train, TrainError, type TrainRecord, type TrainReport } from '../models/training.js';
import { nonNegativeInt, positiveInt, print } from './cliOptions.js';
import { onnxInitWeights } from '../models/onnxSeed.js';

function layerSizes(v: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  const sizes = parts.map((s) => Number(s));
  if (parts.some((s) => !/^\d+$/.test(s)) || sizes.some((n) => n < 1)) throw new InvalidArgumentError(`"${v}" is not a list of layer sizes ≥ 1 (e.g. 40 or 30,20)`);
  return sizes;
}

/** A progress bar on a terminal, nothing otherwise; a new `stage` restarts it (chip, twin, attribution…). */
export function progressBar(label: string): { update(done: number, total: number, stage?: string): void; stop(): void } {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `{label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let current: string | undefined;
  return {
    update(done, total, stage) {
      if (started && stage !== current) {
        bar.stop();
        started = false;
      }
      if (!started) {
        bar.start(total, 0, { label: stage ? `${label} ${stage}` : label });
        started = true;
        current = stage;
      }
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}

export function formatTrainReport(r: TrainReport): string {
  const lines = [`${r.circuit} · rule ${r.rule} · task ${r.task} · engine ${r.engine} · layers ${r.layers.join('-')} · seed ${r.seed}`];
  if (r.initAccuracy !== undefined) {
    lines.push(`imported model: ${(100 * r.initAccuracy).toFixed(2)} % in float, ${r.initEngineAccuracy === undefined ? '—' : `${(100 * r.initEngineAccuracy).toFixed(2)} %`} as the circuit on the ${r.engine} before fine-tuning`);
  }
  if (r.testAccuracy !== undefined) lines.push(`test accuracy ${(100 * r.testAccuracy).toFixed(2)} % after ${r.epochs} epochs`);
  if (r.finalLoss !== undefined) lines.push(`final loss ${r.finalLoss.toPrecision(4)}`);
  if (r.weights) lines.push(`weights ${r.weights.map((w) => w.toFixed(3)).join(', ')}`);
  if (r.angles.length) lines.push(`∠(B, Wᵀ): ${r.angles.map((a, k) => `${r.angleLayers[k]} ${a.toFixed(1)}°`).join(', ')}`);
  lines.push(`${r.ticks} ticks (${r.simulatedSeconds.toFixed(2)} s simulated) in ${r.wallSeconds.toFixed(1)} s wall, ${Math.round(r.ticksPerSecond)} ticks/s`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('train a learning circuit on a task, on the chip emulator or the float twin')
    .option('--circuit <name>', 'circuit: microcircuit', 'microcircuit')
    .option('--rule <name>', 'feedback rule: pal, sal, fa or bp', 'pal')
    .option('--task <name>', 'task: alignment, teacher or digits', 'digits')
    .option('--engine <name>', 'engine: chip (bit-exact emulator) or twin (float64)', 'chip')
    .option('--epochs <n>', 'epochs (digits) or simulated seconds (alignment, teacher)', positiveInt)
    .option('--seed <n>', 'seed of weights, chip PRNG and shuffles', nonNegativeInt)
    .option('--hidden <sizes>', 'hidden layer sizes for digits (default 100), e.g. 40 or 30,20', layerSizes)
    .option('--init <model.onnx>', 'digits: start from the forward weights of an ONNX MLP (fine-tuning)')
    .option('--data <file>', 'digits: the data file (CSV or .csv.gz, 65 integers per line: 64 pixels 0..16, label)')
    .option('--json', 'machine-readable output')
    .action(async (o: { circuit: string; rule: string; task: string; engine: string; epochs?: number; seed?: number; hidden?: number[]; init?: string; data?: string; json?: boolean }) => {
      let init;
      if (o.init) {
        let bytes: Uint8Array;
        try {
          bytes = readFileSync(o.init);
        } catch (e) {
          throw new TrainError(`cannot read ${o.init}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'give the path of an ONNX model');
        }
        init = await onnxInitWeights(bytes, o.init);
      }
      const bar = progressBar(`train ${o.rule} ${o.task}`);
      const records: TrainRecord[] = [];
      let report: TrainReport;
      try {
        report = await train({
          circuit: o.circuit,
          rule: o.rule,
          task: o.task,
          engine: o.engine,
          epochs: o.epochs,
          seed: o.seed,
          hidden: init ? init.hidden : o.hidden,
          init: init?.forward,
          data: o.data,
          initAccuracy: init?.accuracy,
          onProgress: (d, t) => bar.update(d, t),
          onRecord: (r) => records.push(r),
        });
      } finally {
        bar.stop();
      }
      print(!!o.json, report, () => formatTrainReport(report));
    });
}

/**
 * The `apical` command. Thin: parses arguments, calls the library, prints. A user's mistake (an ApicalError,
 * a bad option) prints one line `apical: <problem> (<what to do>)` and exits with code 2.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { nonNegativeInt, positiveInt, print } from './cliOptions.js';
import { registerBenchCommand } from './benchCommand.js';
import { progressBar, registerTrainCommand } from './trainCommand.js';
import { registerFidelityCommand } from './fidelityCommand.js';
import { ApicalError } from '../emulator/errors.js';
import { registerBoardCommands } from './boardCommands.js';
import { registerImportCommand } from './importCommand.js';
import { inspectProgram } from './inspect.js';
import { runDemo } from './demo.js';
import { readProgramFile, checkChipRevision, writeProgramFile } from '../emulator/programCodec.js';
import { EmulatorDevice } from '../devices/emulatorDevice.js';
import type { StimulusEvent } from '../devices/device.js';
import { writeRunRecord } from '../devices/runRecord.js';
import { compileNetwork } from '../models/compiler.js';
import { readNetworkFile } from '../models/networkFile.js';
import { RuleSyntaxError } from '../models/ruleLanguage.js';
import { CHIP_CORES, CORE_MAX_NEURONS, CORE_RING_WORDS, CORE_SYNAPSE_BYTES } from '../emulator/constants.js';


class CliInputError extends ApicalError {
  override name = 'CliInputError';
}

function readStimulus(path: string): StimulusEvent[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CliInputError(`cannot read stimulus ${path}: ${(e as Error).message.split('\n')[0]}`, 'give a JSON array of {tick, port, values}');
  }
  if (!Array.isArray(data) || !data.every((e) => e && Number.isInteger(e.tick) && typeof e.port === 'string' && (e.values === null || Array.isArray(e.values)))) {
    throw new CliInputError(`stimulus ${path} is not a JSON array of {tick, port, values}`, 'see "Stimulus files" in docs/program-format.md');
  }
  return data as StimulusEvent[];
}

export function buildCli(): Command {
  const program = new Command();
  program.name('apical').description('Backend and bit-exact emulator for a fixed-point spiking chip that learns on-chip').version('0.1.0');
  program.exitOverride();
  program.configureOutput({
    writeErr: (s) => process.stderr.write(s),
    // Commander's own errors (unknown option, bad option value...) follow the one-line `apical: ...` policy.
    outputError: (s, write) => {
      const msg = s.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim();
      write(`apical: ${msg}${/\(Did you mean .*\)$/.test(msg) ? '' : ' (see apical --help)'}\n`);
    },
  });

  program
    .command('compile')
    .description('compile a JSON network description (docs/network-format.md) to a Program (.apx)')
    .argument('<network>', 'network description (.json)')
    .option('-o, --out <file>', 'where to write the Program (default: the network file with .apx)')
    .option('--json', 'machine-readable output')
    .action((file: string, o: { out?: string; json?: boolean }) => {
      const net = readNetworkFile(file);
      const { program: p, quantisation, usage } = compileNetwork(net);
      const out = o.out ?? `${file.replace(/\.json$/i, '')}.apx`;
      writeProgramFile(out, p);
      const cores = usage
        .filter((u) => u.neurons > 0)
        .map((u) => ({
          core: u.core,
          neurons: u.neurons,
          neuronPercent: (100 * u.neurons) / CORE_MAX_NEURONS,
          synapses: u.synapses,
          synapseBytes: u.synapseBytes,
          synapseMemoryPercent: (100 * u.synapseBytes) / CORE_SYNAPSE_BYTES,
          ringWords: u.ringWords,
          ringPercent: (100 * u.ringWords) / CORE_RING_WORDS,
        }));
      // sqnrDb is Infinity when the weights are exact; JSON has no Infinity, so it is null there.
      const quant = quantisation.map((q) => ({ ...q, sqnrDb: Number.isFinite(q.sqnrDb) ? q.sqnrDb : null }));
      const json = { programHash: p.hash, name: p.body.name, output: out, cores, quantisation: quant };
      print(!!o.json, json, () =>
        [
          `compiled ${p.body.name} (${file}) → ${out}`,
          `program hash ${p.hash}`,
          `cores used ${cores.length} of ${CHIP_CORES}:`,
          ...cores.map(
            (c) =>
              `  core ${String(c.core).padStart(2)}: ${c.neurons} neurons (${c.neuronPercent.toFixed(0)} %), ${c.synapses} synapses, ${(c.synapseBytes / 1024).toFixed(1)} KiB (${c.synapseMemoryPercent.toFixed(0)} %), ${c.ringWords} ring words (${c.ringPercent.toFixed(0)} %)`,
          ),
          quant.length ? 'quantisation:' : 'quantisation: no projections',
          ...quant.map(
            (q) =>
              `  ${q.projection}: ${q.weightBits}-bit, LSB 2^-${q.weightShift} = ${q.scale.toPrecision(3)}, clipped ${(100 * q.clipFraction).toFixed(2)} %, SQNR ${q.sqnrDb === null ? 'exact' : `${q.sqnrDb.toFixed(1)} dB`}`,
          ),
        ].join('\n'),
      );
    });

  program
    .command('inspect')
    .description('show what a Program (.apx) contains: hash, revision, cores, capacities, cycles, rules')
    .argument('<file>', '.apx Program')
    .option('--json', 'machine-readable output')
    .option('--spike-activity <p>', 'assumed spikes per neuron per tick for the cycle estimate', '0.02')
    .action((file: string, o: { json?: boolean; spikeActivity: string }) => {
      const p = readProgramFile(file);
      const report = inspectProgram(p, Number(o.spikeActivity));
      print(!!o.json, report.json, () => report.text);
    });

  program
    .command('run')
    .description('run a Program on the emulator')
    .argument('<file>', '.apx Program')
    .requiredOption('--ticks <n>', 'ticks to run', nonNegativeInt)
    .option('--stimulus <file>', 'JSON array of {tick, port, values} host writes')
    .option('--record <file>', 'write the run record (msgpack)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, o: { ticks: number; stimulus?: string; record?: string; json?: boolean }) => {
      const p = readProgramFile(file);
      checkChipRevision(p);
      const stimulus = o.stimulus ? readStimulus(o.stimulus) : [];
      const dev = new EmulatorDevice();
      await dev.open();
      await dev.load(p);
      const t0 = performance.now();
      // Per-tick digests only go into a record; without one, only the final digest is computed (same value).
      const rec = await dev.run({ ticks: o.ticks, stimulus, digests: !!o.record });
      const wall = (performance.now() - t0) / 1000;
      if (o.record) writeRunRecord(o.record, rec);
      const finalDigest = o.record ? rec.finalDigest : dev.loaded.chipDigest();
      const out = {
        programHash: rec.programHash,
        ticks: rec.ticks,
        spikes: rec.spikeCount,
        digest: finalDigest.toString(16).padStart(8, '0'),
        cycles: { perCore: rec.cycles.perCore, criticalPath: rec.cycles.criticalPath, clockHz: rec.cycles.clockHz, realTimeFactor: rec.cycles.realTimeFactor },
        wallSeconds: wall,
        record: o.record ?? null,
      };
      print(!!o.json, out, () =>
        [
          `ran ${rec.ticks} ticks of ${p.body.name} (${p.hash.slice(0, 12)}) in ${wall.toFixed(3)} s`,
          `spikes ${rec.spikeCount}, final digest ${out.digest}`,
          `cycles: critical path ${rec.cycles.criticalPath} (${(rec.cycles.criticalPath / Math.max(1, rec.ticks)).toFixed(0)} per tick), real-time factor ${rec.cycles.realTimeFactor.toFixed(2)} at ${rec.cycles.clockHz / 1e6} MHz`,
          o.record ? `record written to ${o.record}` : '',
        ]
          .filter(Boolean)
          .join('\n'),
      );
    });

  registerBenchCommand(program);

  program
    .command('demo')
    .description('train a PAL microcircuit on-chip on the 8×8 digits; compare with the float twin and backprop; write the report')
    .option('--json', 'machine-readable output')
    .option('--out <file>', 'where to write the demo Program', 'demo.apx')
    .option('--report <dir>', 'where to write the fidelity report', 'apical-report')
    .option('--epochs <n>', 'training epochs on the chip', positiveInt, 6)
    .option('--twin-epochs <n>', 'training epochs of the float twin (0 = skip; default: --epochs)', nonNegativeInt)
    .action(async (o: { json?: boolean; out: string; report: string; epochs: number; twinEpochs?: number }) => {
      const bar = progressBar('demo');
      let result;
      try {
        result = await runDemo({
          out: o.out,
          reportDir: o.report,
          epochs: o.epochs,
          twinEpochs: o.twinEpochs,
          onProgress: (s, d, t) => bar.update(d, t, s),
        });
      } finally {
        bar.stop();
      }
      print(!!o.json, result.json, () => result.text);
    });

  registerImportCommand(program);
  registerBoardCommands(program);
  registerTrainCommand(program);
  registerFidelityCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const cli = buildCli();
  try {
    await cli.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') process.exit(0);
      // Help shown because no command was given is a usage error (help went to stderr): exit 2, as other usage errors.
      if (e.code === 'commander.help') process.exit(e.exitCode === 0 ? 0 : 2);
      // Commander has already printed its one-line message.
      process.exit(2);
    }
    if (e instanceof ApicalError) {
      process.stderr.write(`apical: ${e.message}${e.hint ? ` (${e.hint})` : ''}\n`);
      // On a terminal, show where in the rule text the mistake is; pipes and logs get exactly one line.
      if (e instanceof RuleSyntaxError && process.stderr.isTTY) process.stderr.write(`${e.pointer}\n`);
      process.exit(2);
    }
    throw e;
  }
}

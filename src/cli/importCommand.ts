/**
 * `apical import <model.onnx>`: ONNX → chip Program (docs/onnx.md §"Export and conversion to the chip").
 *
 * Parses the model, lists its operator types, calibrates on the bundled digits training split or on a CSV
 * file of input rows, converts (convertOnnxToChip: dense and conv layers, BatchNormalization folded; graded
 * spikes, or rate-coded binary spikes with `--spikes binary --ticks N`), writes the Program and, when labels
 * are available, reports the float accuracy (apical's float64 reference) and the chip accuracy (emulator) —
 * on the digits test split, or on the rows of the calibration file. Accuracies are fractions in [0, 1].
 *
 * Every user mistake is an ApicalError (one line, exit 2 via main.ts): not an ONNX file, an unsupported
 * operator, an input shape that cannot be resolved to one sample, a calibration file that does not parse,
 * an input width that does not match the model.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { ApicalError } from '../emulator/errors.js';
import { writeProgramFile } from '../emulator/programCodec.js';
import { digitsSplit } from '../models/data/digits.js';
import { argmax, convertOnnxToChip, loadConvertedChip, parseChipChain, runConvertedChip, type SpikeCoding } from '../models/onnx/convert.js';
import { runOnnxFloat } from '../models/onnx/floatReference.js';
import { checkOnnxSupported } from '../models/onnx/floatReference.js';
import { loadOnnx } from '../models/onnx/onnxModel.js';

/** A problem with the import command's inputs that is not about the ONNX model itself. */
export class ImportInputError extends ApicalError {
  override name = 'ImportInputError';
}

/** Calibration / evaluation samples, with labels when the source has them. */
export interface ImportSamples {
  calibration: Float64Array[];
  /** Samples the accuracies are measured on (digits: the test split; a file: its rows), or null without labels. */
  evaluation: { x: Float64Array[]; y: number[] } | null;
  /** Human-readable description of the source. */
  source: string;
}

const CSV_HELP = `
Calibration (--calibrate):
  digits   the training split of the bundled 8x8 digits data (1437 samples of 64 pixels in [0, 1]);
           accuracies are measured on its 360-sample test split.
  FILE     a CSV text file of input rows: one sample per line, the model's input values separated by
           commas (decimal numbers, e.g. 0,0.25,1e-3,...). An optional extra last column holds an integer
           class label (0-based index of the model output): with labels on every row, accuracies are
           measured on the file's rows. Blank lines and lines starting with # are skipped; every row must
           have the same number of fields (the model's input width, or that plus one). Write ./digits for a
           file named "digits".

Accuracies are fractions in [0, 1]: floatAccuracy from apical's float64 reference of the ONNX model,
chipAccuracy from the emulator running the written Program (argmax of the output vs the label); null
without labels.`;

function parseWeightBits(v: string): 8 | 16 {
  if (v.trim() === '8') return 8;
  if (v.trim() === '16') return 16;
  throw new InvalidArgumentError(`"${v}" is not 8 or 16`);
}

function parsePercentile(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || !(n > 0 && n <= 100)) throw new InvalidArgumentError(`"${v}" is not a number in (0, 100]`);
  return n;
}

/**
 * Parses a calibration CSV: rows of `width` numbers, optionally with one more integer label column. Labels
 * must be integers in 0..classes−1. Throws ImportInputError naming the line for anything else.
 */
export function parseCalibrationCsv(text: string, width: number, classes: number, what: string): { x: Float64Array[]; y: number[] | null } {
  const x: Float64Array[] = [];
  const y: number[] = [];
  let fields = -1;
  const lines = text.split(/\r?\n/);
  const hint = `give one sample per line: ${width} comma-separated numbers, optionally followed by an integer label`;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(',').map((s) => s.trim());
    if (fields < 0) {
      fields = f.length;
      if (fields !== width && fields !== width + 1) {
        throw new ImportInputError(`${what} line ${n + 1} has ${fields} values, but the model takes ${width} inputs (input width mismatch)`, hint);
      }
    } else if (f.length !== fields) {
      throw new ImportInputError(`${what} line ${n + 1} has ${f.length} fields, earlier lines have ${fields}`, hint);
    }
    const row = new Float64Array(width);
    for (let i = 0; i < width; i++) {
      const v = Number(f[i]);
      if (f[i] === '' || !Number.isFinite(v)) {
        throw new ImportInputError(`${what} line ${n + 1}, field ${i + 1}: ${JSON.stringify(f[i].slice(0, 20))} is not a number`, hint);
      }
      row[i] = v;
    }
    if (fields === width + 1) {
      const s = f[width];
      const v = Number(s);
      if (!/^\d+$/.test(s) || v >= classes) {
        throw new ImportInputError(`${what} line ${n + 1}: label ${JSON.stringify(s.slice(0, 20))} is not an integer in 0..${classes - 1}`, `the model has ${classes} outputs`);
      }
      y.push(v);
    }
    x.push(row);
  }
  if (x.length === 0) throw new ImportInputError(`${what} has no samples`, hint);
  return { x, y: fields === width + 1 ? y : null };
}

/** The samples for `--calibrate`: `digits` or a CSV file (see the command help). */
export function loadImportSamples(spec: string, width: number, classes: number): ImportSamples {
  if (spec === 'digits') {
    if (width !== 64) {
      throw new ImportInputError(`the digits data has 64 inputs per sample, but the model takes ${width} (input width mismatch)`, 'give --calibrate FILE with rows of the model\'s input width');
    }
    const { train, test } = digitsSplit();
    const maxLabel = Math.max(...test.y);
    return {
      calibration: train.x,
      evaluation: maxLabel < classes ? test : null,
      source: `digits training split (${train.x.length} samples), accuracy on the test split (${test.x.length})`,
    };
  }
  let text: string;
  try {
    text = readFileSync(spec, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImportInputError(`cannot read calibration file ${JSON.stringify(spec)}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? 'error')}`, 'give digits or a CSV file of input rows');
  }
  if (text.includes('\0')) throw new ImportInputError(`calibration file ${JSON.stringify(spec)} is not a text file`, 'give a CSV file of input rows');
  const { x, y } = parseCalibrationCsv(text, width, classes, `calibration file ${JSON.stringify(spec)}`);
  return { calibration: x, evaluation: y ? { x, y } : null, source: `${spec} (${x.length} rows${y ? ', labelled' : ''})` };
}

function parseSpikes(v: string): SpikeCoding {
  if (v === 'graded' || v === 'binary') return v;
  throw new InvalidArgumentError(`"${v}" is not graded or binary`);
}

function parseTicks(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !(n >= 1 && n <= 1_000_000)) throw new InvalidArgumentError(`"${v}" is not an integer in 1..1000000`);
  return n;
}

export interface ImportReport {
  ops: string[];
  layers: { name: string; scale: number; clipFraction: number; sqnrDb: number | null }[];
  floatAccuracy: number | null;
  chipAccuracy: number | null;
  /** graded or binary (rate-coded) spikes. */
  spikes: SpikeCoding;
  /** Binary spikes: the output averaging window in ticks; graded: null. */
  ticks: number | null;
  programHash: string;
  output: string;
  ticksToOutput: number;
}

export interface ImportOptions {
  out: string;
  calibrate: string;
  weightBits: 8 | 16;
  percentile: number;
  spikes: SpikeCoding;
  /** Binary spikes: the output averaging window in ticks. */
  ticks: number;
}

/** The whole import; returns the JSON report and the text lines. */
export function runImport(file: string, o: ImportOptions): { json: ImportReport; text: string } {
  const t0 = performance.now();
  const model = loadOnnx(file);
  const ops: string[] = [];
  for (const n of model.graph.nodes) {
    const op = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    if (!ops.includes(op)) ops.push(op);
  }
  // Reject unsupported graphs (and find the input width) before reading any calibration data.
  checkOnnxSupported(model);
  const chain = parseChipChain(model);
  const width = chain.inputSize;
  const classes = chain.outputSize;
  const dims = chain.inputDims;
  const samples = loadImportSamples(o.calibrate, width, classes);
  const t1 = performance.now();
  const conv = convertOnnxToChip(model, { calibration: samples.calibration, percentile: o.percentile, weightBits: o.weightBits, spikes: o.spikes, ticks: o.ticks });
  writeProgramFile(o.out, conv.program);
  const t2 = performance.now();

  let floatAccuracy: number | null = null;
  let chipAccuracy: number | null = null;
  let agree = 0;
  if (samples.evaluation) {
    const { x, y } = samples.evaluation;
    const outName = model.graph.outputs[0].name;
    const chip = loadConvertedChip(conv);
    let fOk = 0;
    let cOk = 0;
    x.forEach((s, n) => {
      const f = argmax(runOnnxFloat(model, { [conv.graphInput]: { dims, data: s } })[outName].data);
      const c = argmax(runConvertedChip(conv, chip, s));
      if (f === y[n]) fOk++;
      if (c === y[n]) cOk++;
      if (f === c) agree++;
    });
    floatAccuracy = fOk / x.length;
    chipAccuracy = cOk / x.length;
  }
  const t3 = performance.now();

  const json: ImportReport = {
    ops,
    layers: conv.layers.map((L) => ({ name: L.name, scale: L.scale, clipFraction: L.clipFraction, sqnrDb: Number.isFinite(L.sqnrDb) ? L.sqnrDb : null })),
    floatAccuracy,
    chipAccuracy,
    spikes: conv.spikes,
    ticks: conv.spikes === 'binary' ? conv.ticks : null,
    programHash: conv.program.hash,
    output: o.out,
    ticksToOutput: conv.ticksToOutput,
  };
  const pct = (v: number) => `${(100 * v).toFixed(2)} %`;
  const nEval = samples.evaluation?.x.length ?? 0;
  const text = [
    `imported ${file} → ${o.out}`,
    `operators: ${ops.join(', ')}${conv.softmaxDropped ? ' (final Softmax dropped: same argmax)' : ''}`,
    `calibration: ${samples.source}, percentile ${o.percentile}, ${o.weightBits}-bit weights`,
    conv.spikes === 'binary'
      ? `spikes: binary (rate-coded; output averaged over ${conv.ticks} ticks${conv.input.signed ? ', signed input encoder' : ''})`
      : 'spikes: graded',
    `program hash ${conv.program.hash}`,
    `ticks to output ${conv.ticksToOutput} (input ${width} values, output ${classes})`,
    'layers:',
    ...conv.layers.map(
      (L) =>
        `  ${L.name} (${L.kind} ${L.node}${L.folded.length ? ` + ${L.folded.join(', ')} folded` : ''}, ${L.nIn}→${L.nOut} ${L.activation}, ${L.projection} ${L.synapses} synapses): scale ${L.scale.toPrecision(4)}, clipped ${(100 * L.clipFraction).toFixed(3)} %, weight SQNR ${Number.isFinite(L.sqnrDb) ? `${L.sqnrDb.toFixed(1)} dB` : 'exact'}`,
    ),
    floatAccuracy === null || chipAccuracy === null
      ? 'accuracy: no labels (give --calibrate digits or a FILE with a label column)'
      : `accuracy on ${nEval} samples: float ${pct(floatAccuracy)}, chip ${pct(chipAccuracy)} (${conv.spikes} spikes; argmax agreement ${agree}/${nEval})`,
    `time: load + calibration data ${((t1 - t0) / 1000).toFixed(2)} s, convert + write ${((t2 - t1) / 1000).toFixed(2)} s, evaluate ${((t3 - t2) / 1000).toFixed(2)} s`,
  ].join('\n');
  return { json, text };
}

/** Adds `apical import` to the program. */
export function registerImportCommand(program: Command): void {
  program
    .command('import')
    .description('convert an ONNX model (a chain of dense and conv layers) to a Program (.apx), calibrated on data')
    .argument('<model>', 'ONNX model (.onnx)')
    .option('-o, --out <file>', 'where to write the Program (default: the model file with .apx)')
    .option('--calibrate <data>', 'calibration data: digits, or a CSV FILE of input rows (see below)', 'digits')
    .option('--weight-bits <bits>', 'weight bits of the layer projections: 8 or 16', parseWeightBits, 8 as 8 | 16)
    .option('--percentile <p>', 'percentile of each layer\'s calibration activations mapped to the top of the range, in (0, 100]', parsePercentile, 99.9)
    .option('--spikes <coding>', 'graded (payloads) or binary (rate-coded spikes)', parseSpikes, 'graded' as SpikeCoding)
    .option('--ticks <n>', 'binary spikes: ticks over which the output is averaged', parseTicks, 64)
    .option('--json', 'machine-readable output: ops, layers [{name, scale, clipFraction, sqnrDb}], floatAccuracy, chipAccuracy, spikes, ticks, programHash, output, ticksToOutput')
    .addHelpText('after', CSV_HELP)
    .action((file: string, o: { out?: string; calibrate: string; weightBits: 8 | 16; percentile: number; spikes: SpikeCoding; ticks: number; json?: boolean }) => {
      const out = o.out ?? `${file.replace(/\.onnx$/i, '')}.apx`;
      const r = runImport(file, { out, calibrate: o.calibrate, weightBits: o.weightBits, percentile: o.percentile, spikes: o.spikes, ticks: o.ticks });
      process.stdout.write(o.json ? `${JSON.stringify(r.json, null, 2)}\n` : `${r.text}\n`);
    });
}

/**
 * The fidelity report of a learning run (`apical fidelity`, `apical demo`): the data as JSON, one SVG line chart
 * per figure, and a markdown page that links them with relative paths and tabulates the numbers.
 *
 * Files written into `dir` (created if missing; existing files of the same names are overwritten):
 *   fidelity.json          the data exactly as given (JSON turns NaN and ±Infinity into null)
 *   angle-b-wt.svg         ∠(B, Wᵀ) per layer over time, with the 30° reference line
 *   angle-b-derivative.svg ∠(B, φ′Wᵀφ′) per layer              (only if series.angleDerivative)
 *   angle-dw.svg           ∠(ΔW_chip, ΔW_twin) solid and ∠(ΔW_chip, ΔW_bp) dashed, one colour per layer
 *                                                               (only if either series is present)
 *   apical-norm.svg        apical norm per layer, log y when every value is positive (only if series.apicalNorm)
 *   accuracy.svg           accuracy per model (chip, twin, backprop…)   (only if series.accuracy)
 *   loss.svg               loss per model                                (only if series.loss)
 *   report.md              title, command, summary table, per-layer table, figures, attribution, notes
 *
 * Every series array is indexed like `series.time`; a length mismatch is a programming error (RangeError), since
 * a misaligned plot would silently lie. NaN/null values are gaps in the lines and "—" in the tables.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatNumber, lineChart, type LineSeries, type ReferenceLine } from './svgChart.js';

/** Final per-layer angles, in degrees; null when not measured (or undefined, e.g. a zero matrix). */
export interface FidelityLayer {
  name: string;
  angleBWt: number | null;
  angleDerivative: number | null;
  angleDwTwin: number | null;
  /** ∠(ΔW_chip, ΔW_twin) against a twin with its own noise realisation (when measured). */
  angleDwTwinIndependent?: number | null;
  angleDwBackprop: number | null;
}

export interface FidelityReportData {
  title: string;
  /** The CLI command that produced the run. */
  command: string;
  circuit: string;
  rule: string;
  task: string;
  /** One row per quantity (test accuracy, final loss, apical norm…), one column per model. */
  summary: { label: string; chip: number | string | null; twin: number | string | null; backprop: number | string | null; unit?: string }[];
  /** Final values per layer. */
  layers: FidelityLayer[];
  /** Unit of `series.time`, e.g. 's simulated' or 'epoch'. */
  timeUnit: string;
  series: {
    time: number[];
    /** Per layer name, ∠(B, Wᵀ) in degrees. */
    angleBWt: Record<string, number[]>;
    /** Per layer name, ∠(B, φ′Wᵀφ′) in degrees. */
    angleDerivative?: Record<string, number[]>;
    /** Per layer name, ∠(ΔW_chip, ΔW_twin) per window, in degrees. */
    angleDwTwin?: Record<string, number[]>;
    /** Per layer name, ∠(ΔW_chip, ΔW_bp) per window, in degrees. */
    angleDwBackprop?: Record<string, number[]>;
    /** Per layer name. */
    apicalNorm?: Record<string, number[]>;
    /** Per model ({ chip, twin, backprop }): a fraction in [0, 1] or a percentage (told apart by the values). */
    accuracy?: Record<string, number[]>;
    /** Per model. */
    loss?: Record<string, number[]>;
  };
  /** Optional accuracy goal drawn as a reference line, in the unit of `series.accuracy`. */
  accuracyGoal?: number;
  attribution?: { effect: string; value: number; unit: string; note?: string }[];
  notes?: string[];
}

/** The feedback-alignment target: ∠(B, Wᵀ) below this is considered aligned. */
export const ALIGNMENT_TARGET_DEGREES = 30;

export const FIDELITY_JSON = 'fidelity.json';
export const FIDELITY_REPORT = 'report.md';

interface Figure {
  file: string;
  heading: string;
  caption: string;
  svg: string;
}

type SeriesName = keyof FidelityReportData['series'];

function checkedSeries(data: FidelityReportData, key: SeriesName, entry: string, values: readonly number[]): readonly number[] {
  const n = data.series.time.length;
  if (values.length !== n) {
    throw new RangeError(`fidelity report: series.${key}["${entry}"] has ${values.length} values but series.time has ${n}`);
  }
  return values;
}

function linesOf(
  data: FidelityReportData,
  key: Exclude<SeriesName, 'time'>,
  values: Record<string, number[]>,
  label: (entry: string) => string,
): LineSeries[] {
  const time = data.series.time;
  return Object.entries(values).map(([entry, ys]) => {
    const checked = checkedSeries(data, key, entry, ys);
    return { name: label(entry), points: time.map((t, i): [number, number] => [t, checked[i]]) };
  });
}

/** Every finite value of every entry. */
function finiteValues(values: Record<string, number[]>): number[] {
  return Object.values(values).flatMap((ys) => ys.filter((v) => Number.isFinite(v)));
}

function figures(data: FidelityReportData): Figure[] {
  const s = data.series;
  const xLabel = `time (${data.timeUnit})`;
  const out: Figure[] = [];
  const angleChart = (title: string, series: LineSeries[], references: ReferenceLine[] = []): string =>
    lineChart({ title, xLabel, yLabel: 'angle (degrees)', series, references, includeZero: true });

  out.push({
    file: 'angle-b-wt.svg',
    heading: 'Feedback alignment ∠(B, Wᵀ)',
    caption:
      "Angle between each layer's feedback weights B and its transposed forward weights Wᵀ; lower is better, " +
      `the dashed line is the ${ALIGNMENT_TARGET_DEGREES}° target.`,
    svg: angleChart('∠(B, Wᵀ) per layer', linesOf(data, 'angleBWt', s.angleBWt, (l) => l), [
      { y: ALIGNMENT_TARGET_DEGREES, label: `${ALIGNMENT_TARGET_DEGREES}° target` },
    ]),
  });

  if (s.angleDerivative !== undefined) {
    out.push({
      file: 'angle-b-derivative.svg',
      heading: "Alignment with the derivative-weighted transpose ∠(B, φ′Wᵀφ′)",
      caption: "Angle between B and the transpose weighted by the neurons' derivatives, the matrix backprop would use.",
      svg: angleChart("∠(B, φ′Wᵀφ′) per layer", linesOf(data, 'angleDerivative', s.angleDerivative, (l) => l)),
    });
  }

  if (s.angleDwTwin !== undefined || s.angleDwBackprop !== undefined) {
    // One colour per layer; chip vs twin solid, chip vs backprop dashed.
    const layerNames = [...new Set([...Object.keys(s.angleDwTwin ?? {}), ...Object.keys(s.angleDwBackprop ?? {})])];
    const colorOf = (layer: string): number => layerNames.indexOf(layer);
    const series: LineSeries[] = [];
    if (s.angleDwTwin !== undefined) {
      for (const [i, line] of linesOf(data, 'angleDwTwin', s.angleDwTwin, (l) => `${l} vs twin`).entries()) {
        series.push({ ...line, colorIndex: colorOf(Object.keys(s.angleDwTwin)[i]) });
      }
    }
    if (s.angleDwBackprop !== undefined) {
      for (const [i, line] of linesOf(data, 'angleDwBackprop', s.angleDwBackprop, (l) => `${l} vs backprop`).entries()) {
        series.push({ ...line, colorIndex: colorOf(Object.keys(s.angleDwBackprop)[i]), dashed: true });
      }
    }
    out.push({
      file: 'angle-dw.svg',
      heading: 'Weight-update agreement ∠(ΔW_chip, ΔW_twin), ∠(ΔW_chip, ΔW_bp)',
      caption: "Angle between the chip's weight change over each window and the float twin's (solid) or backprop's (dashed); 0° means the same direction.",
      svg: angleChart('∠(ΔW_chip, ΔW_twin) and ∠(ΔW_chip, ΔW_bp) per window', series),
    });
  }

  if (s.apicalNorm !== undefined) {
    const values = finiteValues(s.apicalNorm);
    const logY = values.length > 0 && values.every((v) => v > 0);
    out.push({
      file: 'apical-norm.svg',
      heading: 'Apical norm',
      caption: `Norm of the apical (error) signal per layer${logY ? ', log scale' : ''}; it should shrink as the network learns.`,
      svg: lineChart({
        title: 'Apical norm per layer',
        xLabel,
        yLabel: logY ? 'apical norm (log scale)' : 'apical norm',
        series: linesOf(data, 'apicalNorm', s.apicalNorm, (l) => l),
        logY,
      }),
    });
  }

  if (s.accuracy !== undefined) {
    const values = finiteValues(s.accuracy);
    const percent = values.some((v) => v > 1);
    const references: ReferenceLine[] =
      data.accuracyGoal === undefined ? [] : [{ y: data.accuracyGoal, label: `goal ${formatNumber(data.accuracyGoal)}${percent ? ' %' : ''}` }];
    out.push({
      file: 'accuracy.svg',
      heading: 'Accuracy',
      caption: `Accuracy of each model over the run${references.length > 0 ? '; the dashed line is the goal' : ''}.`,
      svg: lineChart({
        title: 'Accuracy',
        xLabel,
        yLabel: percent ? 'accuracy (%)' : 'accuracy (fraction)',
        series: linesOf(data, 'accuracy', s.accuracy, (m) => m),
        references,
      }),
    });
  }

  if (s.loss !== undefined) {
    out.push({
      file: 'loss.svg',
      heading: 'Loss',
      caption: 'Loss of each model over the run.',
      svg: lineChart({ title: 'Loss', xLabel, yLabel: 'loss', series: linesOf(data, 'loss', s.loss, (m) => m) }),
    });
  }
  return out;
}

/** A table cell: pipes escaped, newlines flattened, numbers to 4 significant digits, missing as "—". */
function cell(value: number | string | null | undefined, suffix = ''): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'number') return Number.isFinite(value) ? `${formatNumber(value)}${suffix}` : '—';
  return prose(value);
}

function table(header: string[], alignRight: boolean[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(alignRight.map((r) => (r ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

/** Inline code that survives backticks inside the text (CommonMark: a longer fence). */
function inlineCode(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text.replace(/\r?\n/g, ' ')}${pad}${fence}`;
}

/** Text for markdown prose: characters that would start markup are backslash-escaped. */
function prose(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/([\\`*_[\]<>#|])/g, '\\$1');
}

function markdown(data: FidelityReportData, figs: Figure[]): string {
  const parts: string[] = [];
  parts.push(`# ${prose(data.title)}`);
  parts.push(
    [
      `Command: ${inlineCode(data.command)}`,
      `Circuit: ${prose(data.circuit)} · rule: ${prose(data.rule)} · task: ${prose(data.task)}`,
      `Data: [${FIDELITY_JSON}](${FIDELITY_JSON})`,
    ].join('  \n'),
  );

  parts.push('## Summary');
  parts.push(
    data.summary.length === 0
      ? '_No summary values._'
      : table(
          ['', 'chip', 'twin', 'backprop'],
          [false, true, true, true],
          data.summary.map((row) => [
            cell(row.unit === undefined || row.unit === '' ? row.label : `${row.label} (${row.unit})`),
            cell(row.chip),
            cell(row.twin),
            cell(row.backprop),
          ]),
        ),
  );

  parts.push('## Layers (final values, degrees)');
  parts.push(
    data.layers.length === 0
      ? '_No layers._'
      : table(
          ['layer', '∠(B, Wᵀ)', '∠(B, φ′Wᵀφ′)', '∠(ΔW_chip, ΔW_twin)', '∠(ΔW_chip, ΔW_twin), own noise', '∠(ΔW_chip, ΔW_bp)'],
          [false, true, true, true, true, true],
          data.layers.map((l) => [
            cell(l.name),
            cell(l.angleBWt, '°'),
            cell(l.angleDerivative, '°'),
            cell(l.angleDwTwin, '°'),
            cell(l.angleDwTwinIndependent ?? null, '°'),
            cell(l.angleDwBackprop, '°'),
          ]),
        ),
  );

  parts.push('## Figures');
  for (const f of figs) {
    parts.push(`### ${prose(f.heading)}`);
    parts.push(`![${prose(f.heading)}](${f.file})\n\n${prose(f.caption)}`);
  }

  if (data.attribution !== undefined && data.attribution.length > 0) {
    parts.push('## Attribution');
    parts.push(
      table(
        ['effect', 'value', 'unit', 'note'],
        [false, true, false, false],
        data.attribution.map((a) => [cell(a.effect), cell(a.value), cell(a.unit), cell(a.note ?? '')]),
      ),
    );
  }

  if (data.notes !== undefined && data.notes.length > 0) {
    parts.push('## Notes');
    parts.push(data.notes.map((n) => `- ${prose(n)}`).join('\n'));
  }
  return parts.join('\n\n') + '\n';
}

/**
 * Writes the report into `dir` (see the module comment for the files) and returns the paths written:
 * `json` and `report` as join(dir, name), `plots` in the order the report shows them.
 */
export function writeFidelityReport(dir: string, data: FidelityReportData): { json: string; report: string; plots: string[] } {
  const figs = figures(data); // builds (and checks) everything before writing anything
  const report = markdown(data, figs);
  mkdirSync(dir, { recursive: true });
  const json = join(dir, FIDELITY_JSON);
  writeFileSync(json, JSON.stringify(data, null, 2) + '\n');
  const plots = figs.map((f) => {
    const path = join(dir, f.file);
    writeFileSync(path, f.svg);
    return path;
  });
  const reportPath = join(dir, FIDELITY_REPORT);
  writeFileSync(reportPath, report);
  return { json, report: reportPath, plots };
}

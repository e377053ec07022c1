/**
 * Line charts as standalone SVG documents, for the fidelity report (angles over time, accuracy curves).
 *
 * Hand-written on purpose: the chart libraries (d3, Vega, Chart.js, Plotly) render through a DOM (a browser or
 * jsdom) or a canvas, which a Node CLI writing a few static files should not pull in. What a chart needs here
 * is small: linear or log scales, "nice" ticks, a legend outside the plot, and polylines with gaps.
 *
 * Contract of `lineChart`:
 * - One `<path class="series">` per series, in the order given, even when it has nothing to draw (empty `d`).
 *   A point whose x or y is NaN, ±Infinity or null (or ≤ 0 on a log axis) is a gap: the line stops there and
 *   starts again with a new `M` at the next drawable point. A lone drawable point is drawn as a dot (one `M`).
 * - Segments are clipped to the plot rectangle (Liang–Barsky), so every coordinate lies inside the viewBox
 *   even when `yRange` cuts the data.
 * - The legend (`<g class="legend-entry">`, one per series, text = series name) sits right of the plot, or
 *   below it when the names are long or many; it never overlaps the plot area. The document grows to fit it.
 * - Colours: Okabe–Ito (colour-blind safe); series 8..15 reuse the colours dashed, 16..23 dotted, and so on.
 * - Tick values are k·step with step ∈ {1, 2, 5}·10ⁿ (linear) or 1, 2, 5 · 10ⁿ / decades (log).
 * - All text is XML-escaped; numbers are printed without binary noise (0.3, not 0.30000000000000004).
 */

/** One line. `points` are [x, y] in data units; see the gap rule above. */
export interface LineSeries {
  name: string;
  points: readonly (readonly [number, number | null])[];
  /** Draw dashed even if the palette position would be solid. */
  dashed?: boolean;
  /** Palette position to use instead of the series index (to give related series one colour). */
  colorIndex?: number;
}

/** A labelled horizontal line across the plot (a target or a goal), drawn grey and dashed. */
export interface ReferenceLine {
  y: number;
  label: string;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  /** Fixed y domain [min, max]; default: a nice rounded range around the data and the reference lines. */
  yRange?: readonly [number, number];
  /** Default y domain includes 0: true forces it, false never; default only when the data sit near 0. */
  includeZero?: boolean;
  references?: readonly ReferenceLine[];
  logX?: boolean;
  logY?: boolean;
  /** Minimum size in px (default 720 × 400); a legend below the plot makes the document taller. */
  width?: number;
  height?: number;
}

/** Okabe & Ito (2008) colour-blind-safe palette, ordered for contrast on white (yellow last). */
export const OKABE_ITO = [
  '#0072B2', // blue
  '#D55E00', // vermillion
  '#009E73', // bluish green
  '#CC79A7', // reddish purple
  '#E69F00', // orange
  '#56B4E9', // sky blue
  '#000000', // black
  '#F0E442', // yellow
] as const;

/** stroke-dasharray per palette cycle (paths have round caps, so "1 5" draws dots). */
export const DASH_PATTERNS = ['', '7 5', '1 5', '10 4 1 4'] as const;

const FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
const FONT_SIZE = 12;
const TITLE_SIZE = 14;
/** Average advance of a sans-serif glyph, as a fraction of the font size (to size the layout). */
const CHAR_WIDTH = 0.6;
const LEGEND_ROW = 18;
const LEGEND_SWATCH = 24;
const TARGET_TICKS = 6;
/** A legend below the plot takes height from it down to this; beyond, the document grows. */
const MIN_PLOT_HEIGHT = 240;
/** Radius of the dot that draws a lone point (a point between two gaps). */
const DOT_RADIUS = 1.5;

/** &, <, >, " and ' as entities; also drops characters XML 1.0 forbids (C0 controls but tab/newline/CR). */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/**
 * A number for people: at most `significant` significant digits, no trailing zeros, no binary noise;
 * exponent form (2.5e-5, 1e6) below 1e-4 or from 1e6 in magnitude. NaN/±Infinity print as such.
 */
export function formatNumber(value: number, significant = 4): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude < 1e-4 || magnitude >= 1e6) {
    const [mantissa, exponent] = value.toExponential(significant - 1).split('e');
    return `${String(Number(mantissa))}e${String(Number(exponent))}`;
  }
  return String(Number(value.toPrecision(significant)));
}

/** The 1-2-5 step closest above span / targetCount. */
export function niceStep(span: number, targetCount = TARGET_TICKS): number {
  if (!(span > 0) || !Number.isFinite(span)) throw new RangeError(`tick span must be positive and finite, got ${span}`);
  const raw = span / Math.max(1, targetCount);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  const factor = residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10;
  return roundToStep(factor * magnitude, magnitude);
}

/** Rounds k·step to the decimals of `step` so that 3 × 0.1 is 0.3. */
function roundToStep(value: number, step: number): number {
  const decimals = Math.max(0, Math.min(100, -Math.floor(Math.log10(step)) + 1));
  return Number(value.toFixed(decimals));
}

/** Multiples of `step` inside [lo, hi] (inclusive, with a little float slack). */
function multiplesWithin(lo: number, hi: number, step: number): number[] {
  const slack = step * 1e-9;
  const first = Math.ceil((lo - slack) / step);
  const last = Math.floor((hi + slack) / step);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(roundToStep(k * step, step) + 0); // + 0 turns −0 into 0
  return ticks;
}

/** Linear ticks: multiples of a 1-2-5 step inside [lo, hi], about `targetCount` of them. */
export function niceTicks(lo: number, hi: number, targetCount = TARGET_TICKS): { step: number; ticks: number[] } {
  const step = niceStep(hi - lo, targetCount);
  return { step, ticks: multiplesWithin(lo, hi, step) };
}

/** Widens [lo, hi] outwards to multiples of its nice step; the ticks are all those multiples. */
export function niceDomain(lo: number, hi: number, targetCount = TARGET_TICKS): { domain: [number, number]; step: number; ticks: number[] } {
  const step = niceStep(hi - lo, targetCount);
  // floor/ceil of the quotient can land one step inside when lo/step rounds (or underflows): step back out.
  let kLo = Math.floor(lo / step);
  if (roundToStep(kLo * step, step) > lo) kLo -= 1;
  let kHi = Math.ceil(hi / step);
  if (roundToStep(kHi * step, step) < hi) kHi += 1;
  const domain: [number, number] = [roundToStep(kLo * step, step) + 0, roundToStep(kHi * step, step) + 0];
  return { domain, step, ticks: multiplesWithin(domain[0], domain[1], step) };
}

/**
 * Log ticks inside [lo, hi] (both > 0): the decades, plus 2·10ⁿ and 5·10ⁿ when the range spans at most two
 * decades or no decade falls inside; thinned to every k-th decade beyond ~8 decades.
 */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0) || !(hi > lo)) throw new RangeError(`log ticks need 0 < lo < hi, got [${lo}, ${hi}]`);
  const firstDecade = Math.floor(Math.log10(lo));
  const lastDecade = Math.ceil(Math.log10(hi));
  const inside = (v: number): boolean => v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12);
  const decade = (n: number): number => Number(`1e${n}`);
  const decades: number[] = [];
  for (let n = firstDecade; n <= lastDecade; n++) if (inside(decade(n))) decades.push(n);
  if (decades.length >= 3) {
    const every = Math.ceil(decades.length / 8);
    return decades.filter((n) => (n - decades[0]) % every === 0).map(decade);
  }
  const ticks: number[] = [];
  for (let n = firstDecade; n <= lastDecade; n++) {
    for (const m of [1, 2, 5]) {
      const v = Number(`${m}e${n}`);
      if (inside(v)) ticks.push(v);
    }
  }
  return ticks;
}

/** Whether a coordinate can be drawn on an axis. */
function drawable(v: number | null, log: boolean): v is number {
  return v !== null && Number.isFinite(v) && (!log || v > 0);
}

interface Axis {
  lo: number;
  hi: number;
  log: boolean;
  ticks: number[];
}

function axisFraction(axis: Axis, v: number): number {
  if (axis.log) return (Math.log10(v) - Math.log10(axis.lo)) / (Math.log10(axis.hi) - Math.log10(axis.lo));
  return (v - axis.lo) / (axis.hi - axis.lo);
}

/** x axis: the data extent (no padding: time axes start and end with the run), ticks inside it. */
function xAxis(spec: LineChartSpec): Axis {
  const log = spec.logX === true;
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of spec.series) {
    for (const point of s.points) {
      const x = point[0];
      if (!drawable(x, log)) continue;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  }
  if (lo > hi) [lo, hi] = log ? [1, 10] : [0, 1];
  if (lo === hi) [lo, hi] = log ? [lo / 10, hi * 10] : [lo - (Math.abs(lo) || 1) / 2, hi + (Math.abs(hi) || 1) / 2];
  const ticks = log ? logTicks(lo, hi) : niceTicks(lo, hi).ticks;
  return { lo, hi, log, ticks };
}

/** y axis: `yRange` as given, or the data and references widened to nice values (decades on a log axis). */
function yAxis(spec: LineChartSpec): Axis {
  const log = spec.logY === true;
  if (spec.yRange !== undefined) {
    const [lo, hi] = spec.yRange;
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi) || (log && !(lo > 0))) {
      throw new RangeError(`yRange must be finite with min < max${log ? ' and min > 0 on a log axis' : ''}, got [${lo}, ${hi}]`);
    }
    return { lo, hi, log, ticks: log ? logTicks(lo, hi) : niceTicks(lo, hi).ticks };
  }
  let lo = Infinity;
  let hi = -Infinity;
  const see = (v: number | null): void => {
    if (!drawable(v, log)) return;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  };
  for (const s of spec.series) for (const point of s.points) if (drawable(point[0], spec.logX === true)) see(point[1]);
  for (const r of spec.references ?? []) see(r.y);
  if (log) {
    if (lo > hi) [lo, hi] = [1, 10];
    lo = Number(`1e${Math.floor(Math.log10(lo))}`);
    hi = Number(`1e${Math.ceil(Math.log10(hi))}`);
    if (lo === hi) hi *= 10;
    return { lo, hi, log, ticks: logTicks(lo, hi) };
  }
  if (lo > hi) [lo, hi] = [0, 1];
  const zero = spec.includeZero ?? ((lo > 0 && lo <= hi / 2) || (hi < 0 && hi >= lo / 2));
  if (zero) [lo, hi] = [Math.min(lo, 0), Math.max(hi, 0)];
  if (lo === hi) [lo, hi] = [lo - (Math.abs(lo) || 1) / 10, hi + (Math.abs(hi) || 1) / 10];
  const nice = niceDomain(lo, hi);
  return { lo: nice.domain[0], hi: nice.domain[1], log, ticks: nice.ticks };
}

/** Pixel coordinates printed to 0.01 px (integer / 100 prints without binary noise). */
function px(v: number): string {
  return String(Math.round(v * 100) / 100 + 0);
}

function textWidth(text: string, size = FONT_SIZE): number {
  return [...text].length * size * CHAR_WIDTH;
}

interface Rect {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/**
 * Liang–Barsky: the part of segment (x0,y0)→(x1,y1) inside `r`, as parameters [t0, t1] ⊆ [0, 1], or null when
 * the segment misses the rectangle.
 */
function clipSegment(x0: number, y0: number, x1: number, y1: number, r: Rect): [number, number] | null {
  const dx = x1 - x0;
  const dy = y1 - y0;
  let t0 = 0;
  let t1 = 1;
  const edges: [number, number][] = [
    [-dx, x0 - r.left],
    [dx, r.right - x0],
    [-dy, y0 - r.top],
    [dy, r.bottom - y0],
  ];
  for (const [p, q] of edges) {
    if (p === 0) {
      if (q < 0) return null;
      continue;
    }
    const t = q / p;
    if (p < 0) {
      if (t > t1) return null;
      if (t > t0) t0 = t;
    } else {
      if (t < t0) return null;
      if (t < t1) t1 = t;
    }
  }
  return [t0, t1];
}

/**
 * The series in pixels, as x,y pairs; a gap (undrawable point) is a NaN pair. Computed once, used for the path
 * and for placing reference labels away from the data.
 */
function pixelPoints(points: LineSeries['points'], toX: (v: number) => number, toY: (v: number) => number, logX: boolean, logY: boolean): Float64Array {
  const out = new Float64Array(2 * points.length);
  for (let i = 0; i < points.length; i++) {
    const x = points[i][0];
    const y = points[i][1];
    const ok = drawable(x, logX) && drawable(y, logY);
    out[2 * i] = ok ? clampPixel(toX(x)) : NaN;
    out[2 * i + 1] = ok ? clampPixel(toY(y as number)) : NaN;
  }
  return out;
}

/**
 * Far-off data (1e300 on a 0..1 axis) would make the clipping arithmetic cancel catastrophically: pixels are
 * clamped to ±1e9, which moves where such a segment crosses the plot edge by under 0.001 px.
 */
function clampPixel(v: number): number {
  return Math.max(-1e9, Math.min(1e9, v));
}

/**
 * M4 decimation: of consecutive drawable points falling in one pixel column, keeps the first, the lowest, the
 * highest and the last (in their order). The polyline then covers the same pixels as the full one, while a
 * 100 000-point series costs 4 points per column instead of 100 000. Gaps (NaN pairs) are kept.
 */
function decimateColumns(xy: Float64Array): Float64Array {
  const n = xy.length / 2;
  const out = new Float64Array(xy.length);
  let m = 0;
  const keep = (i: number): void => {
    if (m > 0 && out[2 * m - 2] === xy[2 * i] && out[2 * m - 1] === xy[2 * i + 1] && !Number.isNaN(xy[2 * i])) return;
    out[2 * m] = xy[2 * i];
    out[2 * m + 1] = xy[2 * i + 1];
    m++;
  };
  let i = 0;
  while (i < n) {
    if (Number.isNaN(xy[2 * i])) {
      keep(i++);
      continue;
    }
    const column = Math.floor(xy[2 * i]);
    let j = i;
    let low = i;
    let high = i;
    while (j + 1 < n && !Number.isNaN(xy[2 * j + 2]) && Math.floor(xy[2 * j + 2]) === column) {
      j++;
      if (xy[2 * j + 1] < xy[2 * low + 1]) low = j;
      if (xy[2 * j + 1] > xy[2 * high + 1]) high = j;
    }
    for (const k of [i, Math.min(low, high), Math.max(low, high), j]) keep(k);
    i = j + 1;
  }
  return out.slice(0, 2 * m);
}

function insideRect(x: number, y: number, r: Rect): boolean {
  return x >= r.left && x <= r.right && y >= r.top && y <= r.bottom;
}

/** A lone point as a closed circle subpath (one `M`), stroked into a dot of diameter 2·(DOT_RADIUS + 1). */
function dot(x: number, y: number): string {
  const r = px(DOT_RADIUS);
  const d = px(2 * DOT_RADIUS);
  return `M${px(x - DOT_RADIUS)} ${px(y)}a${r} ${r} 0 1 0 ${d} 0a${r} ${r} 0 1 0 -${d} 0`;
}

/** The `d` of one series: subpaths split at gaps and at the plot edges; lone points as dots. */
function seriesPath(xy: Float64Array, r: Rect): string {
  const parts: string[] = [];
  let penX = NaN; // end of the current subpath, NaN when the pen is up
  let penY = NaN;
  let prevX = NaN; // previous drawable point, NaN after a gap
  let prevY = NaN;
  let prevIsolated = false; // previous point started a run and has not been joined yet
  const n = xy.length / 2;
  for (let i = 0; i <= n; i++) {
    const x = i < n ? xy[2 * i] : NaN;
    const y = i < n ? xy[2 * i + 1] : NaN;
    if (Number.isNaN(x)) {
      if (prevIsolated && insideRect(prevX, prevY, r)) parts.push(dot(prevX, prevY));
      prevX = prevY = penX = penY = NaN;
      prevIsolated = false;
      continue;
    }
    if (Number.isNaN(prevX)) {
      prevX = x;
      prevY = y;
      prevIsolated = true;
      continue;
    }
    prevIsolated = false;
    const clipped = clipSegment(prevX, prevY, x, y, r);
    if (clipped !== null) {
      const [t0, t1] = clipped;
      // Interpolated ends can miss the edge by an ulp: clamp them onto the rectangle.
      const ax = Math.max(r.left, Math.min(r.right, prevX + t0 * (x - prevX)));
      const ay = Math.max(r.top, Math.min(r.bottom, prevY + t0 * (y - prevY)));
      const bx = Math.max(r.left, Math.min(r.right, prevX + t1 * (x - prevX)));
      const by = Math.max(r.top, Math.min(r.bottom, prevY + t1 * (y - prevY)));
      if (t0 > 0 || Number.isNaN(penX) || px(ax) !== px(penX) || px(ay) !== px(penY)) parts.push(`M${px(ax)} ${px(ay)}`);
      parts.push(`L${px(bx)} ${px(by)}`);
      if (t1 < 1) penX = penY = NaN;
      else [penX, penY] = [bx, by];
    } else {
      penX = penY = NaN;
    }
    prevX = x;
    prevY = y;
  }
  return parts.join('');
}

/** How many segments (or lone points) of the series cross the box. */
function crossings(series: readonly Float64Array[], box: Rect): number {
  let count = 0;
  for (const xy of series) {
    const n = xy.length / 2;
    for (let i = 0; i < n; i++) {
      const x = xy[2 * i];
      if (Number.isNaN(x)) continue;
      const y = xy[2 * i + 1];
      const nextX = i + 1 < n ? xy[2 * i + 2] : NaN;
      const prevX = i > 0 ? xy[2 * i - 2] : NaN;
      if (!Number.isNaN(nextX)) {
        if (clipSegment(x, y, nextX, xy[2 * i + 3], box) !== null) count++;
      } else if (Number.isNaN(prevX) && insideRect(x, y, box)) {
        count++;
      }
    }
  }
  return count;
}

/**
 * Where a reference line's label goes: at the right or left end of the line, above or below it, whichever
 * candidate box (inside the plot) is crossed by the fewest data segments; ties keep the first (right, above).
 */
function referenceLabelPlace(ry: number, label: string, plot: Rect, series: readonly Float64Array[]): { x: number; baseline: number; anchor: 'start' | 'end' } {
  const w = textWidth(label) + 4;
  const candidates: { x: number; baseline: number; anchor: 'start' | 'end'; box: Rect }[] = [];
  for (const anchor of ['end', 'start'] as const) {
    const x = anchor === 'end' ? plot.right - 4 : plot.left + 4;
    const [bl, br] = anchor === 'end' ? [x - w, x + 2] : [x - 2, x + w];
    for (const above of [true, false]) {
      const baseline = above ? ry - 4 : ry + 4 + FONT_SIZE;
      const box = { left: bl, right: br, top: baseline - FONT_SIZE, bottom: baseline + 3 };
      if (box.top >= plot.top && box.bottom <= plot.bottom) candidates.push({ x, baseline, anchor, box });
    }
  }
  if (candidates.length === 0) return { x: plot.right - 4, baseline: Math.max(plot.top + FONT_SIZE, ry - 4), anchor: 'end' };
  let best = candidates[0];
  let bestScore = crossings(series, best.box);
  for (const c of candidates.slice(1)) {
    const score = crossings(series, c.box);
    if (score < bestScore) [best, bestScore] = [c, score];
  }
  return best;
}

function seriesStyle(series: LineSeries, index: number): { color: string; dash: string } {
  const position = series.colorIndex ?? index;
  const color = OKABE_ITO[position % OKABE_ITO.length];
  let dash: string = DASH_PATTERNS[Math.floor(position / OKABE_ITO.length) % DASH_PATTERNS.length];
  if (series.dashed === true && dash === '') dash = DASH_PATTERNS[1];
  return { color, dash };
}

function textElement(x: number, y: number, text: string, attributes = ''): string {
  return `<text x="${px(x)}" y="${px(y)}"${attributes}>${escapeXml(text)}</text>`;
}

/** A standalone SVG document (XML declaration, xmlns, viewBox) of the chart; see the module comment. */
export function lineChart(spec: LineChartSpec): string {
  const minWidth = spec.width ?? 720;
  const minHeight = spec.height ?? 400;
  if (!(minWidth >= 200 && minHeight >= 150)) throw new RangeError(`chart size must be at least 200 × 150, got ${minWidth} × ${minHeight}`);
  const x = xAxis(spec);
  const y = yAxis(spec);
  // Ticks are already rounded to their step: print them in full (15 digits drop only binary noise).
  const yLabels = y.ticks.map((v) => formatNumber(v, 15));
  const xLabels = x.ticks.map((v) => formatNumber(v, 15));

  // Layout: title on top, y label and tick labels left, x tick labels and x label below, legend right or below.
  const top = 36;
  const left = 12 + FONT_SIZE + 10 + Math.max(0, ...yLabels.map((l) => textWidth(l))) + 8;
  const bottom = 8 + FONT_SIZE + 10 + FONT_SIZE + 12;
  const names = spec.series.map((s) => s.name);
  const legendItemWidth = LEGEND_SWATCH + 8 + Math.max(0, ...names.map((n) => textWidth(n))) + 16;
  let width = minWidth;
  let height = minHeight;
  let plotHeight = height - top - bottom;
  const legendRight =
    names.length > 0 && legendItemWidth <= 0.3 * width && names.length * LEGEND_ROW <= plotHeight;
  let right = 16;
  let legendColumns = 1;
  let legendRows = names.length;
  if (legendRight) {
    right = 16 + legendItemWidth;
  } else if (names.length > 0) {
    width = Math.max(width, left + legendItemWidth + right);
    legendColumns = Math.max(1, Math.floor((width - left - right) / legendItemWidth));
    legendRows = Math.ceil(names.length / legendColumns);
    const legendHeight = 8 + legendRows * LEGEND_ROW;
    plotHeight = Math.max(plotHeight - legendHeight, Math.min(plotHeight, MIN_PLOT_HEIGHT));
    height = top + plotHeight + bottom + legendHeight;
  }
  const plot: Rect = { left, top, right: width - right, bottom: top + plotHeight };
  const plotWidth = plot.right - plot.left;
  const toX = (v: number): number => plot.left + axisFraction(x, v) * plotWidth;
  const toY = (v: number): number => plot.bottom - axisFraction(y, v) * plotHeight;

  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${px(width)}" height="${px(height)}" viewBox="0 0 ${px(width)} ${px(height)}" role="img" font-family="${escapeXml(FONT)}" font-size="${FONT_SIZE}">`,
  );
  out.push(`<title>${escapeXml(spec.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${px(width)}" height="${px(height)}" fill="#ffffff"/>`);
  out.push(textElement(width / 2, 22, spec.title, ` text-anchor="middle" font-size="${TITLE_SIZE}" font-weight="600" fill="#222222"`));

  // Grid and tick labels.
  out.push('<g class="grid" stroke="#e6e6e6" stroke-width="1">');
  for (const v of y.ticks) out.push(`<line x1="${px(plot.left)}" y1="${px(toY(v))}" x2="${px(plot.right)}" y2="${px(toY(v))}"/>`);
  for (const v of x.ticks) out.push(`<line x1="${px(toX(v))}" y1="${px(plot.top)}" x2="${px(toX(v))}" y2="${px(plot.bottom)}"/>`);
  out.push('</g>');
  out.push('<g class="y-ticks" fill="#333333" text-anchor="end">');
  y.ticks.forEach((v, i) => out.push(textElement(plot.left - 6, toY(v) + FONT_SIZE * 0.35, yLabels[i])));
  out.push('</g>');
  out.push('<g class="x-ticks" fill="#333333" text-anchor="middle">');
  x.ticks.forEach((v, i) => out.push(textElement(toX(v), plot.bottom + 6 + FONT_SIZE, xLabels[i])));
  out.push('</g>');
  out.push(
    `<path class="axes" d="M${px(plot.left)} ${px(plot.top)}V${px(plot.bottom)}H${px(plot.right)}" fill="none" stroke="#333333" stroke-width="1"/>`,
  );
  out.push(textElement(plot.left + plotWidth / 2, plot.bottom + 6 + FONT_SIZE + 10 + FONT_SIZE, spec.xLabel, ' text-anchor="middle" fill="#222222"'));
  out.push(
    `<text transform="translate(${px(12 + FONT_SIZE * 0.8)} ${px(plot.top + plotHeight / 2)}) rotate(-90)" text-anchor="middle" fill="#222222">${escapeXml(spec.yLabel)}</text>`,
  );

  // Reference lines under the data; their labels over it (white halo), where the data cross them least.
  const pixels = spec.series.map((s) => decimateColumns(pixelPoints(s.points, toX, toY, x.log, y.log)));
  const references = (spec.references ?? []).filter((ref) => drawable(ref.y, y.log) && ref.y >= y.lo && ref.y <= y.hi);
  for (const ref of references) {
    const ry = toY(ref.y);
    out.push(
      `<line class="reference" x1="${px(plot.left)}" y1="${px(ry)}" x2="${px(plot.right)}" y2="${px(ry)}" stroke="#666666" stroke-width="1.25" stroke-dasharray="4 4"/>`,
    );
  }

  // Data.
  let anyDrawn = false;
  spec.series.forEach((s, i) => {
    const { color, dash } = seriesStyle(s, i);
    const d = seriesPath(pixels[i], plot);
    if (d !== '') anyDrawn = true;
    out.push(
      `<path class="series" d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"${dash === '' ? '' : ` stroke-dasharray="${dash}"`}><title>${escapeXml(s.name)}</title></path>`,
    );
  });
  if (!anyDrawn) out.push(textElement(plot.left + plotWidth / 2, plot.top + plotHeight / 2, 'no data', ' text-anchor="middle" fill="#888888"'));

  for (const ref of references) {
    const place = referenceLabelPlace(toY(ref.y), ref.label, plot, pixels);
    out.push(
      textElement(place.x, place.baseline, ref.label, ` class="reference-label" text-anchor="${place.anchor}" fill="#444444" stroke="#ffffff" stroke-width="3" paint-order="stroke"`),
    );
  }

  // Legend, outside the plot.
  out.push('<g class="legend">');
  spec.series.forEach((s, i) => {
    const { color, dash } = seriesStyle(s, i);
    const column = legendRight ? 0 : i % legendColumns;
    const row = legendRight ? i : Math.floor(i / legendColumns);
    const lx = legendRight ? plot.right + 16 : plot.left + column * legendItemWidth;
    const ly = legendRight ? plot.top + 8 + row * LEGEND_ROW : plot.bottom + bottom + 8 + row * LEGEND_ROW + LEGEND_ROW / 2;
    out.push(
      `<g class="legend-entry"><line x1="${px(lx)}" y1="${px(ly)}" x2="${px(lx + LEGEND_SWATCH)}" y2="${px(ly)}" stroke="${color}" stroke-width="2" stroke-linecap="round"${dash === '' ? '' : ` stroke-dasharray="${dash}"`}/>` +
        textElement(lx + LEGEND_SWATCH + 8, ly + FONT_SIZE * 0.35, s.name, ' fill="#222222"') +
        '</g>',
    );
  });
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}

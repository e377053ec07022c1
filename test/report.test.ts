/**
 * SVG line charts and the fidelity report (src/models/report/). The SVGs are checked by parsing them with a
 * minimal XML tokenizer written here (no XML parser is installed, and a DOM would be a heavy dev dependency).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFidelityReport, type FidelityReportData } from '../src/models/report/fidelityReport.js';
import {
  DASH_PATTERNS,
  escapeXml,
  formatNumber,
  lineChart,
  logTicks,
  niceDomain,
  niceTicks,
  OKABE_ITO,
  type LineChartSpec,
  type LineSeries,
} from '../src/models/report/svgChart.js';

// ---------------------------------------------------------------------------------------------------------------
// A minimal XML parser: enough to prove well-formedness (balanced tags, quoted attributes, legal entities, one
// root) and to query the tree.

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string; // decoded text directly inside this element
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string, where: string): string {
  if (/[<]/.test(raw)) throw new Error(`raw '<' in ${where}`);
  return raw.replace(/&([^;]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(';')) throw new Error(`bare '&' in ${where}`);
    if (name in ENTITIES) return ENTITIES[name];
    const numeric = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(name);
    if (numeric === null) throw new Error(`unknown entity &${name}; in ${where}`);
    return String.fromCodePoint(numeric[1].startsWith('x') ? parseInt(numeric[1].slice(1), 16) : Number(numeric[1]));
  });
}

function parseXml(doc: string): XmlElement {
  let rest = doc.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const nameRe = /^[A-Za-z_][\w.:-]*/;
  while (rest.length > 0) {
    if (rest.startsWith('<!--')) {
      const end = rest.indexOf('-->');
      if (end < 0) throw new Error('unterminated comment');
      rest = rest.slice(end + 3);
    } else if (rest.startsWith('</')) {
      const m = /^<\/([A-Za-z_][\w.:-]*)\s*>/.exec(rest);
      if (m === null) throw new Error(`bad end tag near ${rest.slice(0, 30)}`);
      const open = stack.pop();
      if (open === undefined || open.name !== m[1]) throw new Error(`</${m[1]}> closes <${open?.name ?? 'nothing'}>`);
      rest = rest.slice(m[0].length);
    } else if (rest.startsWith('<')) {
      const nm = nameRe.exec(rest.slice(1));
      if (nm === null) throw new Error(`bad tag near ${rest.slice(0, 30)}`);
      const el: XmlElement = { name: nm[0], attrs: {}, children: [], text: '' };
      rest = rest.slice(1 + nm[0].length);
      for (;;) {
        const ws = /^\s*/.exec(rest)![0];
        rest = rest.slice(ws.length);
        if (rest.startsWith('/>') || rest.startsWith('>')) break;
        if (ws.length === 0) throw new Error(`attributes of <${el.name}> not separated`);
        const a = /^([A-Za-z_][\w.:-]*)\s*=\s*("([^"]*)"|'([^']*)')/.exec(rest);
        if (a === null) throw new Error(`bad attribute in <${el.name}> near ${rest.slice(0, 30)}`);
        if (a[1] in el.attrs) throw new Error(`duplicate attribute ${a[1]} in <${el.name}>`);
        el.attrs[a[1]] = decode(a[3] ?? a[4], `attribute ${a[1]}`);
        rest = rest.slice(a[0].length);
      }
      if (stack.length > 0) stack[stack.length - 1].children.push(el);
      else if (root === null) root = el;
      else throw new Error('more than one root element');
      if (rest.startsWith('/>')) rest = rest.slice(2);
      else {
        rest = rest.slice(1);
        stack.push(el);
      }
    } else {
      const end = rest.indexOf('<');
      const raw = end < 0 ? rest : rest.slice(0, end);
      if (stack.length === 0) {
        if (raw.trim() !== '') throw new Error('text outside the root element');
      } else stack[stack.length - 1].text += decode(raw, `text of <${stack[stack.length - 1].name}>`);
      rest = end < 0 ? '' : rest.slice(end);
    }
  }
  if (stack.length > 0) throw new Error(`<${stack[stack.length - 1].name}> not closed`);
  if (root === null) throw new Error('no root element');
  return root;
}

function all(el: XmlElement, pred: (e: XmlElement) => boolean, out: XmlElement[] = []): XmlElement[] {
  if (pred(el)) out.push(el);
  for (const c of el.children) all(c, pred, out);
  return out;
}

const byClass = (root: XmlElement, cls: string): XmlElement[] => all(root, (e) => (e.attrs.class ?? '').split(' ').includes(cls));
const textOf = (el: XmlElement): string => el.text + el.children.map(textOf).join('');

/** Subpaths of a path `d` (M/L absolute, a relative arc: the commands the chart writes), as point lists. */
function subpaths(d: string): [number, number][][] {
  const tokens = d.match(/[MLaVH]|-?\d+(\.\d+)?(e-?\d+)?/g) ?? [];
  const out: [number, number][][] = [];
  let i = 0;
  let cx = 0;
  let cy = 0;
  let cmd = '';
  while (i < tokens.length) {
    if (/[MLaVH]/.test(tokens[i])) cmd = tokens[i++];
    const num = (): number => Number(tokens[i++]);
    if (cmd === 'M') {
      cx = num();
      cy = num();
      out.push([[cx, cy]]);
    } else if (cmd === 'L') {
      cx = num();
      cy = num();
      out[out.length - 1].push([cx, cy]);
    } else if (cmd === 'a') {
      i += 5;
      cx += num();
      cy += num();
      out[out.length - 1].push([cx, cy]);
    } else if (cmd === 'V') {
      cy = num();
      out[out.length - 1].push([cx, cy]);
    } else if (cmd === 'H') {
      cx = num();
      out[out.length - 1].push([cx, cy]);
    } else throw new Error(`unexpected path token ${tokens[i]}`);
  }
  return out;
}

interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** The plot rectangle, from the axes path "M left top V bottom H right". */
function plotBox(root: XmlElement): Box {
  const [pts] = subpaths(byClass(root, 'axes')[0].attrs.d);
  return { left: pts[0][0], top: pts[0][1], bottom: pts[1][1], right: pts[2][0] };
}

function viewBox(root: XmlElement): Box {
  const [x, y, w, h] = root.attrs.viewBox.split(' ').map(Number);
  return { left: x, top: y, right: x + w, bottom: y + h };
}

const within = (b: Box, [x, y]: [number, number], slack = 0.011): boolean =>
  x >= b.left - slack && x <= b.right + slack && y >= b.top - slack && y <= b.bottom + slack;

function chart(spec: Partial<LineChartSpec> & { series: LineSeries[] }): XmlElement {
  return parseXml(lineChart({ title: 'T', xLabel: 'x', yLabel: 'y', ...spec }));
}

const ramp = (n: number, f: (i: number) => number | null): [number, number | null][] =>
  Array.from({ length: n }, (_, i): [number, number | null] => [i, f(i)]);

// ---------------------------------------------------------------------------------------------------------------

describe('lineChart', () => {
  it('is a well-formed standalone SVG document with a viewBox and the default 720×400 size', () => {
    const svg = lineChart({ title: 'A', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: ramp(10, (i) => i * i) }] });
    expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    const root = parseXml(svg);
    expect(root.name).toBe('svg');
    expect(root.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(root.attrs.viewBox).toBe('0 0 720 400');
    expect([root.attrs.width, root.attrs.height]).toEqual(['720', '400']);
  });

  it('the test parser rejects unbalanced tags, bare ampersands and raw < in text', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow();
    expect(() => parseXml('<svg><text>a & b</text></svg>')).toThrow();
    expect(() => parseXml('<svg><text>a < b</text></svg>')).toThrow();
    expect(() => parseXml('<svg a="1" a="2"/>')).toThrow();
  });

  it('draws one path per series, in order, titled with the series name', () => {
    const names = ['chip', 'twin', 'backprop'];
    const root = chart({ series: names.map((name, k) => ({ name, points: ramp(20, (i) => i + k) })) });
    const paths = byClass(root, 'series');
    expect(paths.length).toBe(3);
    expect(paths.map((p) => p.name)).toEqual(['path', 'path', 'path']);
    expect(paths.map(textOf)).toEqual(names);
  });

  it('maps data to pixels linearly: (xmin, ymin) at the bottom-left corner, (xmax, ymax) at the top-right', () => {
    const root = chart({ series: [{ name: 's', points: [[0, 0], [5, 50], [10, 100]] }], yRange: [0, 100] });
    const box = plotBox(root);
    const [line] = subpaths(byClass(root, 'series')[0].attrs.d);
    expect(line[0][0]).toBeCloseTo(box.left, 2);
    expect(line[0][1]).toBeCloseTo(box.bottom, 2);
    expect(line[1][0]).toBeCloseTo((box.left + box.right) / 2, 1);
    expect(line[1][1]).toBeCloseTo((box.top + box.bottom) / 2, 1);
    expect(line[2][0]).toBeCloseTo(box.right, 2);
    expect(line[2][1]).toBeCloseTo(box.top, 2);
  });

  it('keeps every series point inside the plot and the viewBox, clipping data that yRange cuts', () => {
    const series: LineSeries[] = [
      { name: 'wild', points: ramp(50, (i) => Math.sin(i) * 3) },
      { name: 'huge', points: [[0, 0.5], [1, 1e300], [2, 0.5], [3, -1e300], [4, 0.5]] },
    ];
    const root = chart({ series, yRange: [-1, 1] });
    const box = plotBox(root);
    const vb = viewBox(root);
    for (const p of byClass(root, 'series')) {
      for (const sub of subpaths(p.attrs.d)) {
        for (const pt of sub) {
          expect(within(box, pt)).toBe(true);
          expect(within(vb, pt)).toBe(true);
        }
      }
    }
    // The spikes leave and re-enter the plot: each excursion splits the line.
    expect(subpaths(byClass(root, 'series')[1].attrs.d).length).toBe(3);
  });

  it('splits a line at NaN, null and ±Infinity gaps, one subpath per run of drawable points', () => {
    const ys = [1, 2, NaN, 3, 4, null, 5, 6, Infinity, 7, 8, -Infinity, 9, 10];
    const root = chart({ series: [{ name: 's', points: ys.map((y, i): [number, number | null] => [i, y]) }] });
    const subs = subpaths(byClass(root, 'series')[0].attrs.d);
    expect(subs.length).toBe(5);
    expect(subs.every((s) => s.length === 2)).toBe(true);
  });

  it('draws a lone point between two gaps as a dot (its own subpath)', () => {
    const root = chart({ series: [{ name: 's', points: [[0, 1], [1, 2], [2, NaN], [3, 3], [4, NaN], [5, 4], [6, 5]] }] });
    const d = byClass(root, 'series')[0].attrs.d;
    expect(subpaths(d).length).toBe(3);
    expect(d).toMatch(/a[\d.]+ [\d.]+ 0 1 0/);
  });

  it('thins a dense series to at most four points per pixel column, keeping its extremes', () => {
    // A 1-in-997 spike must survive the thinning.
    const points = ramp(100_000, (i) => (i % 997 === 0 ? 10 : Math.sin(i / 50)));
    const root = chart({ series: [{ name: 'dense', points }], yRange: [-1, 10] });
    const box = plotBox(root);
    const drawn = subpaths(byClass(root, 'series')[0].attrs.d).flat();
    expect(drawn.length).toBeLessThanOrEqual(4 * Math.ceil(box.right - box.left + 1));
    const ys = drawn.map(([, y]) => y);
    expect(Math.min(...ys)).toBeCloseTo(box.top, 2); // the spikes at 10
    expect(Math.max(...ys)).toBeCloseTo(box.bottom, 1); // the troughs of the sine at −1
  });

  it('treats non-positive values as gaps on log axes', () => {
    const root = chart({ series: [{ name: 's', points: [[1, 1], [2, 10], [3, 0], [4, 100], [5, 1000], [6, -1], [7, 10]] }], logY: true });
    expect(subpaths(byClass(root, 'series')[0].attrs.d).length).toBe(3);
    const rootX = chart({ series: [{ name: 's', points: [[0, 1], [1, 2], [10, 3], [100, 4]] }], logX: true });
    expect(subpaths(byClass(rootX, 'series')[0].attrs.d)).toHaveLength(1);
    expect(subpaths(byClass(rootX, 'series')[0].attrs.d)[0]).toHaveLength(3);
  });

  it('lists exactly the series names in the legend, in order', () => {
    const names = ['L1', 'L2 <in>', 'L3 & co'];
    const root = chart({ series: names.map((name) => ({ name, points: ramp(5, (i) => i) })) });
    expect(byClass(root, 'legend-entry').map(textOf)).toEqual(names);
  });

  it('places the legend outside the plot: right for a few short names, below for many or long ones', () => {
    const short = chart({ series: ['a', 'b'].map((name) => ({ name, points: ramp(30, (i) => i) })) });
    const longNames = Array.from({ length: 11 }, (_, k) => `layer ${k} with a rather long descriptive name`);
    const many = chart({ series: longNames.map((name, k) => ({ name, points: ramp(30, (i) => i * k) })) });
    for (const [root, where] of [
      [short, 'right'],
      [many, 'below'],
    ] as const) {
      const box = plotBox(root);
      const vb = viewBox(root);
      for (const entry of byClass(root, 'legend-entry')) {
        const line = entry.children.find((c) => c.name === 'line')!;
        const text = entry.children.find((c) => c.name === 'text')!;
        const x1 = Number(line.attrs.x1);
        const y1 = Number(line.attrs.y1);
        if (where === 'right') expect(x1).toBeGreaterThan(box.right);
        else expect(y1).toBeGreaterThan(box.bottom + 20); // below the x tick labels too
        expect(within(vb, [x1, y1])).toBe(true);
        expect(within(vb, [Number(text.attrs.x), Number(text.attrs.y)])).toBe(true);
      }
    }
    // The document grew to hold the legend below, the plot kept a readable height.
    expect(Number(viewBox(many).bottom)).toBeGreaterThan(400);
    expect(plotBox(many).bottom - plotBox(many).top).toBeGreaterThanOrEqual(240);
  });

  it('uses the Okabe–Ito colours, then repeats them dashed beyond eight series; dashed: true forces a dash', () => {
    const series = Array.from({ length: 10 }, (_, k): LineSeries => ({ name: `s${k}`, points: ramp(5, (i) => i + k), dashed: k === 1 }));
    const paths = byClass(chart({ series }), 'series');
    expect(paths.slice(0, 8).map((p) => p.attrs.stroke)).toEqual([...OKABE_ITO]);
    expect(paths[0].attrs['stroke-dasharray']).toBeUndefined();
    expect(paths[1].attrs['stroke-dasharray']).toBe(DASH_PATTERNS[1]);
    expect(paths[8].attrs.stroke).toBe(OKABE_ITO[0]);
    expect(paths[8].attrs['stroke-dasharray']).toBe(DASH_PATTERNS[1]);
    expect(paths[9].attrs.stroke).toBe(OKABE_ITO[1]);
  });

  it('escapes the title, labels, series names and reference labels as XML entities', () => {
    const evil = `<b>&"it's"</b>`;
    const svg = lineChart({
      title: evil,
      xLabel: `x ${evil}`,
      yLabel: `y ${evil}`,
      series: [{ name: `s ${evil}`, points: ramp(5, (i) => i) }],
      references: [{ y: 2, label: `r ${evil}` }],
    });
    expect(svg).not.toContain('<b>');
    expect(svg).toContain('&lt;b&gt;&amp;&quot;it&apos;s&quot;&lt;/b&gt;');
    const root = parseXml(svg);
    const texts = all(root, (e) => e.name === 'text').map(textOf);
    for (const t of [evil, `x ${evil}`, `y ${evil}`, `s ${evil}`, `r ${evil}`]) expect(texts).toContain(t);
    expect(escapeXml('a\u0001b')).toBe('ab');
  });

  it('draws a reference line at its y, labelled, with the default range stretched to include it', () => {
    const root = chart({ series: [{ name: 's', points: ramp(10, (i) => 40 + 2 * i) }], references: [{ y: 30, label: '30° target' }] });
    const ticks = byClass(root, 'y-ticks')[0].children.map((t) => Number(textOf(t)));
    expect(Math.min(...ticks)).toBeLessThanOrEqual(30);
    const line = byClass(root, 'reference')[0];
    const box = plotBox(root);
    expect(Number(line.attrs.x1)).toBeCloseTo(box.left, 2);
    expect(Number(line.attrs.x2)).toBeCloseTo(box.right, 2);
    expect(byClass(root, 'reference-label').map(textOf)).toEqual(['30° target']);
  });

  it('puts the reference label where the data do not run through it', () => {
    // Data zigzag across the reference line on the right half only: the label must move to the left end.
    const points = ramp(21, (i) => (i < 10 ? 20 + i : i % 2 === 0 ? 88 : 98));
    const root = chart({ series: [{ name: 's', points }], yRange: [0, 100], references: [{ y: 93, label: 'goal' }] });
    const label = byClass(root, 'reference-label')[0];
    expect(label.attrs['text-anchor']).toBe('start');
  });

  it('includes 0 in the default y range when the data sit near it, not when they are far from it', () => {
    const yTicks = (root: XmlElement): number[] => byClass(root, 'y-ticks')[0].children.map((t) => Number(textOf(t)));
    expect(Math.min(...yTicks(chart({ series: [{ name: 's', points: ramp(10, (i) => 10 + 5 * i) }] })))).toBe(0);
    expect(Math.min(...yTicks(chart({ series: [{ name: 's', points: ramp(10, (i) => 90 + i) }] })))).toBeGreaterThan(0);
    expect(Math.min(...yTicks(chart({ series: [{ name: 's', points: ramp(10, (i) => 90 + i) }], includeZero: true })))).toBe(0);
  });

  it('prints tick labels without binary noise', () => {
    const root = chart({ series: [{ name: 's', points: ramp(11, (i) => i * 0.03) }], yRange: [0, 0.3] });
    const labels = byClass(root, 'y-ticks')[0].children.map(textOf);
    expect(labels).toContain('0.3');
    for (const l of labels) expect(l).toMatch(/^-?\d+(\.\d{1,3})?$/);
  });

  it('labels a log y axis at the decades, every other one beyond eight', () => {
    const root = chart({ series: [{ name: 's', points: ramp(10, (i) => 10 ** -i) }], logY: true });
    // Ten decades: thinned to every second one so the labels stay apart.
    expect(byClass(root, 'y-ticks')[0].children.map(textOf)).toEqual(['1e-9', '1e-7', '1e-5', '0.001', '0.1']);
  });

  it('writes "no data" and an empty path when nothing is drawable', () => {
    const root = chart({ series: [{ name: 'empty', points: [] }, { name: 'gaps', points: [[0, NaN], [1, null]] }] });
    expect(byClass(root, 'series').map((p) => p.attrs.d)).toEqual(['', '']);
    expect(all(root, (e) => e.name === 'text').map(textOf)).toContain('no data');
  });

  it('rejects an empty or inverted yRange and a tiny size', () => {
    const series = [{ name: 's', points: ramp(3, (i) => i) }];
    expect(() => lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series, yRange: [1, 1] })).toThrow(RangeError);
    expect(() => lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series, yRange: [2, 1] })).toThrow(RangeError);
    expect(() => lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series, yRange: [0, 1], logY: true })).toThrow(RangeError);
    expect(() => lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series, width: 10 })).toThrow(RangeError);
  });
});

describe('ticks and numbers', () => {
  const isNiceStep = (step: number): boolean => {
    const exponent = Math.floor(Math.log10(step) + 1e-9);
    const mantissa = step / 10 ** exponent;
    return [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-9);
  };

  it('linear ticks are multiples of a 1-2-5 step, inside the range, two to seven of them', () => {
    fc.assert(
      // Offsets up to 1e4 spans: beyond, t/step exceeds what a double resolves to 1e-6.
      fc.property(fc.double({ min: -1e4, max: 1e4, noNaN: true }), fc.double({ min: 1e-6, max: 1e6, noNaN: true }), (offset, span) => {
        const lo = offset * span;
        const hi = lo + span;
        fc.pre(hi > lo);
        const { step, ticks } = niceTicks(lo, hi);
        expect(isNiceStep(step)).toBe(true);
        expect(ticks.length).toBeGreaterThanOrEqual(2);
        expect(ticks.length).toBeLessThanOrEqual(7);
        for (const t of ticks) {
          expect(t).toBeGreaterThanOrEqual(lo - step * 1e-6);
          expect(t).toBeLessThanOrEqual(hi + step * 1e-6);
          expect(Math.abs(t / step - Math.round(t / step))).toBeLessThan(1e-6);
        }
      }),
    );
  });

  it('a nice domain covers the data and starts and ends on ticks', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e4, max: 1e4, noNaN: true }), fc.double({ min: 1e-3, max: 1e4, noNaN: true }), (lo, span) => {
        const hi = lo + span;
        fc.pre(hi > lo);
        const { domain, step, ticks } = niceDomain(lo, hi);
        expect(domain[0]).toBeLessThanOrEqual(lo);
        expect(domain[1]).toBeGreaterThanOrEqual(hi);
        expect(isNiceStep(step)).toBe(true);
        expect(ticks[0]).toBe(domain[0]);
        expect(ticks[ticks.length - 1]).toBe(domain[1]);
      }),
    );
  });

  it('gives the expected ticks for familiar ranges', () => {
    expect(niceTicks(0, 1).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 90).ticks).toEqual([0, 20, 40, 60, 80]);
    expect(niceTicks(-0.3, 0.3).ticks).toEqual([-0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.3]);
    expect(niceDomain(3, 61).domain).toEqual([0, 70]);
    expect(logTicks(1, 1000)).toEqual([1, 10, 100, 1000]);
    expect(logTicks(20, 80)).toEqual([20, 50]);
    expect(logTicks(0.5, 30)).toEqual([0.5, 1, 2, 5, 10, 20]);
  });

  it('formats numbers for people', () => {
    expect(formatNumber(0.1 + 0.2)).toBe('0.3');
    expect(formatNumber(91.23456)).toBe('91.23');
    expect(formatNumber(1234567)).toBe('1.235e6');
    expect(formatNumber(0.00001234)).toBe('1.234e-5');
    expect(formatNumber(-0)).toBe('0');
    expect(formatNumber(NaN)).toBe('NaN');
    expect(formatNumber(1e-5, 15)).toBe('1e-5');
  });
});

// ---------------------------------------------------------------------------------------------------------------

function sampleData(): FidelityReportData {
  const time = [0, 1, 2, 3, 4, 5];
  const decay = (a: number, b: number): number[] => time.map((t) => b + (a - b) * Math.exp(-t / 2));
  return {
    title: 'PAL on digits | run <1>',
    command: 'apical fidelity --circuit pal --task digits',
    circuit: 'pal',
    rule: 'sal',
    task: 'digits',
    summary: [
      { label: 'test accuracy', chip: 91.2, twin: 92.04, backprop: 95.3, unit: '%' },
      { label: 'final loss', chip: 0.1 + 0.2, twin: 'n/a | skipped', backprop: null },
    ],
    layers: [
      { name: 'hidden1', angleBWt: 18.25, angleDerivative: 22.1, angleDwTwin: 3.4, angleDwBackprop: 41.7 },
      { name: 'hidden2', angleBWt: 25, angleDerivative: null, angleDwTwin: 5, angleDwBackprop: 50 },
    ],
    timeUnit: 's simulated',
    series: {
      time,
      angleBWt: { hidden1: decay(90, 18), hidden2: decay(90, 25) },
      angleDerivative: { hidden1: decay(88, 22), hidden2: decay(89, 30) },
      angleDwTwin: { hidden1: decay(10, 3), hidden2: decay(14, 5) },
      angleDwBackprop: { hidden1: decay(80, 42), hidden2: decay(85, 50) },
      apicalNorm: { hidden1: decay(1, 0.001), hidden2: decay(0.5, 0.002) },
      accuracy: { chip: decay(0.1, 0.91), twin: decay(0.1, 0.92), backprop: decay(0.1, 0.95) },
      loss: { chip: decay(2.3, 0.3), twin: decay(2.3, 0.28), backprop: decay(2.3, 0.15) },
    },
    accuracyGoal: 0.93,
    attribution: [{ effect: 'weight quantisation', value: 1.2, unit: 'pp', note: '8-bit' }],
    notes: ['timings measured under load'],
  };
}

describe('writeFidelityReport', () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'apical-report-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('writes the JSON as given, one well-formed SVG per figure, and a report whose image links all exist', () => {
    const dir = join(tempDir(), 'nested', 'out');
    const data = sampleData();
    const out = writeFidelityReport(dir, data);
    expect(JSON.parse(readFileSync(out.json, 'utf8'))).toEqual(data);
    expect(out.plots.map((p) => basename(p))).toEqual(['angle-b-wt.svg', 'angle-b-derivative.svg', 'angle-dw.svg', 'apical-norm.svg', 'accuracy.svg', 'loss.svg']);
    for (const p of out.plots) {
      expect(parseXml(readFileSync(p, 'utf8')).name).toBe('svg');
    }
    const md = readFileSync(out.report, 'utf8');
    const links = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]);
    expect(links).toEqual(out.plots.map((p) => basename(p)));
    for (const l of links) expect(existsSync(join(dir, l))).toBe(true);
    expect(md).toContain('[fidelity.json](fidelity.json)');
  });

  it('writes the title, command, summary, per-layer, attribution and notes into the markdown', () => {
    const dir = tempDir();
    const md = readFileSync(writeFidelityReport(dir, sampleData()).report, 'utf8');
    expect(md.split('\n')[0]).toBe('# PAL on digits \\| run \\<1\\>');
    expect(md).toContain('`apical fidelity --circuit pal --task digits`');
    expect(md).toContain('| test accuracy (%) | 91.2 | 92.04 | 95.3 |');
    expect(md).toContain('| final loss | 0.3 | n/a \\| skipped | — |');
    expect(md).toContain('| hidden1 | 18.25° | 22.1° | 3.4° | — | 41.7° |');
    expect(md).toContain('| hidden2 | 25° | — | 5° | — | 50° |');
    expect(md).toContain('| weight quantisation | 1.2 | pp | 8-bit |');
    expect(md).toContain('- timings measured under load');
    // Every table row has as many cells as its header.
    for (const block of md.split('\n\n').filter((b) => b.startsWith('|'))) {
      const counts = block.split('\n').map((row) => row.replace(/\\\|/g, '').split('|').length);
      expect(new Set(counts).size).toBe(1);
    }
  });

  it('draws the 30° target on the ∠(B, Wᵀ) chart, one line per layer', () => {
    const dir = tempDir();
    const out = writeFidelityReport(dir, sampleData());
    const root = parseXml(readFileSync(join(dir, 'angle-b-wt.svg'), 'utf8'));
    expect(byClass(root, 'legend-entry').map(textOf)).toEqual(['hidden1', 'hidden2']);
    expect(byClass(root, 'reference-label').map(textOf)).toEqual(['30° target']);
    expect(out.plots).toContain(join(dir, 'angle-b-wt.svg'));
  });

  it('gives a layer one colour across its ΔW-vs-twin (solid) and ΔW-vs-backprop (dashed) lines', () => {
    const dir = tempDir();
    writeFidelityReport(dir, sampleData());
    const paths = byClass(parseXml(readFileSync(join(dir, 'angle-dw.svg'), 'utf8')), 'series');
    expect(paths.map(textOf)).toEqual(['hidden1 vs twin', 'hidden2 vs twin', 'hidden1 vs backprop', 'hidden2 vs backprop']);
    expect(paths[0].attrs.stroke).toBe(paths[2].attrs.stroke);
    expect(paths[1].attrs.stroke).toBe(paths[3].attrs.stroke);
    expect(paths[0].attrs.stroke).not.toBe(paths[1].attrs.stroke);
    expect(paths[0].attrs['stroke-dasharray']).toBeUndefined();
    expect(paths[2].attrs['stroke-dasharray']).toBeDefined();
  });

  it('plots a positive apical norm on a log axis and says whether accuracy is a fraction or a percentage', () => {
    const dir = tempDir();
    const data = sampleData();
    writeFidelityReport(dir, data);
    const norm = parseXml(readFileSync(join(dir, 'apical-norm.svg'), 'utf8'));
    for (const t of byClass(norm, 'y-ticks')[0].children.map((c) => Number(textOf(c)))) {
      expect(Math.log10(t)).toBeCloseTo(Math.round(Math.log10(t)), 9);
    }
    expect(readFileSync(join(dir, 'accuracy.svg'), 'utf8')).toContain('accuracy (fraction)');
    data.series.accuracy = { chip: data.series.accuracy!.chip.map((v) => v * 100) };
    writeFidelityReport(dir, data);
    expect(readFileSync(join(dir, 'accuracy.svg'), 'utf8')).toContain('accuracy (%)');
  });

  it('skips the figures whose series are absent', () => {
    const data = sampleData();
    const { time, angleBWt } = data.series;
    data.series = { time, angleBWt };
    delete data.attribution;
    const dir = tempDir();
    const out = writeFidelityReport(dir, data);
    expect(out.plots.map((p) => basename(p))).toEqual(['angle-b-wt.svg']);
    const md = readFileSync(out.report, 'utf8');
    expect(md).not.toContain('accuracy.svg');
    expect(md).not.toContain('## Attribution');
  });

  it('refuses a series whose length differs from series.time, before writing anything', () => {
    const data = sampleData();
    data.series.loss = { chip: [1, 2, 3] };
    const dir = join(tempDir(), 'never');
    expect(() => writeFidelityReport(dir, data)).toThrow(/series\.loss\["chip"\] has 3 values but series\.time has 6/);
    expect(existsSync(dir)).toBe(false);
  });
});

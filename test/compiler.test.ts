/**
 * The compiler: placement, fit errors, quantisation, network errors.
 */
import { describe, expect, it } from 'vitest';
import { Chip } from '../src/emulator/chip.js';
import { checkFit, coreUsage } from '../src/emulator/capacity.js';
import { ProgramFitError } from '../src/emulator/errors.js';
import { compileNetwork, quantiseWeights } from '../src/models/compiler.js';
import { Network, NetworkError } from '../src/models/network.js';
import { RuleSyntaxError } from '../src/models/ruleLanguage.js';
import { decodeProgram, encodeProgram } from '../src/emulator/programCodec.js';
import { ProjectionKind } from '../src/emulator/program.js';
import { group, inputGroup, program as buildProgram, projection } from './helpers/programBuilder.js';

const graded = { output: 'graded' as const, activation: 'sigmoid' as const, basal: true, soma: { kBasal: 0.1, kTotal: 0.1 } };

describe('placement', () => {
  it('splits a population that exceeds one core into contiguous slices', () => {
    const net = new Network('big');
    net.population('p', 5000, { output: 'none', basal: true });
    const { program } = compileNetwork(net);
    expect(program.body.groups[0].slices).toEqual([
      { core: 0, start: 0, count: 4096 },
      { core: 1, start: 4096, count: 904 },
    ]);
  });

  it('moves to the next core when synapse memory runs out, and places synapses with their post neuron', () => {
    const net = new Network('mem');
    net.input('in', 1024);
    net.population('out', 3000, graded);
    net.project('fc', 'in', 'out', { weights: new Float64Array(1024 * 3000), weightBits: 16 });
    const { program, usage } = compileNetwork(net);
    // 2 KiB of synapses per post neuron; a core holds 4 MiB = 2048 neurons' worth (the 1024 inputs sit on core 0).
    const slices = program.body.groups[1].slices;
    expect(slices[0]).toEqual({ core: 0, start: 0, count: 2048 });
    expect(slices[1]).toEqual({ core: 1, start: 2048, count: 952 });
    expect(usage[0].synapseBytes).toBe(2048 * 2048);
    expect(usage[1].synapseBytes).toBe(952 * 2048);
  });

  it('names the core, the resource, the percentage and the projection when a pinned population does not fit', () => {
    const net = new Network('pinned');
    net.input('in', 2048);
    net.population('out', 1342, { ...graded, core: 3 });
    net.project('fc2', 'in', 'out', { weights: new Float64Array(2048 * 1342), weightBits: 16 });
    expect(() => compileNetwork(net)).toThrow(ProgramFitError);
    expect(() => compileNetwork(net)).toThrow('core 3 synapse memory 131 %: projection fc2');
  });

  it('says how much is needed when the network does not fit the chip at all', () => {
    const net = new Network('huge');
    for (let k = 0; k < 17; k++) net.population(`p${k}`, 4096, { output: 'none' });
    expect(() => compileNetwork(net)).toThrow(/network does not fit on 16 cores: 69632 neurons \(capacity 65536\)/);
  });

  it('rejects at load a Program whose placement overfills a core', () => {
    const net = new Network('ok');
    net.population('p', 100, { output: 'none' });
    const { program } = compileNetwork(net);
    program.body.groups[0].slices = [{ core: 2, start: 0, count: 100 }];
    program.body.groups[0].size = 5000;
    program.body.groups[0].slices = [{ core: 2, start: 0, count: 5000 }];
    program.body.groups[0].initSoma = new Int32Array(0);
    expect(() => checkFit(program)).toThrow('core 2 neurons 122 %');
    expect(() => new Chip(program)).toThrow(ProgramFitError);
  });
});

describe('quantisation', () => {
  it('picks the largest exponent that represents the range and reports clipping and SQNR', () => {
    const q = quantiseWeights('w', [0.5, -0.25, 0.1], 8);
    // 127 / 0.5 = 254 → shift 7 (128): 0.5 → 64, −0.25 → −32, 0.1 → 13 (12.8)
    expect(q.shift).toBe(7);
    expect(Array.from(q.ints)).toEqual([64, -32, 13]);
    expect(q.report.clipFraction).toBe(0);
    expect(q.report.sqnrDb).toBeGreaterThan(30);
    const clipped = quantiseWeights('w', [2, 0.1], 8, 1);
    expect(clipped.report.clipFraction).toBe(0.5);
    expect(clipped.ints[0]).toBe(127);
  });

  it('a compiled program survives encode/decode unchanged', () => {
    const net = new Network('rt', { seed: 9 });
    net.input('in', 3);
    net.population('out', 2, { ...graded, basalPrediction: 0.9, nudge: { target: true }, soma: { kBasal: 0.1, kNudge: 0.08, kTotal: 0.11 } });
    net.project('w', 'in', 'out', { weights: [[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3]], plasticity: { rule: 'dw = 0.01 * (post.rate - post.basal_rate) * pre.rate', lowpassTau: 10 } });
    const { program } = compileNetwork(net);
    const back = decodeProgram(encodeProgram(program));
    expect(back.hash).toBe(program.hash);
    expect(Array.from(back.body.projections[0].weights)).toEqual(Array.from(program.body.projections[0].weights));
    expect(back.body.inputs.map((i) => i.name)).toEqual(['in', 'out.target']);
  });
});

describe('network errors', () => {
  it('a population of size 0 is a NetworkError naming it', () => {
    const net = new Network('bad');
    expect(() => net.population('h', 0)).toThrow(NetworkError);
    expect(() => net.population('h', 0)).toThrow('population "h": size 0 must be a positive integer');
  });

  it('a rule with a syntax error names the projection, line and column', () => {
    const net = new Network('bad-rule');
    net.input('in', 2);
    net.population('out', 2, graded);
    net.project('fc', 'in', 'out', { weights: new Float64Array(4), plasticity: { rule: 'dw = 0.1 * (post.rate - pre.rat)' } });
    let err: unknown;
    try {
      compileNetwork(net);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuleSyntaxError);
    expect((err as RuleSyntaxError).message).toMatch(/^projection "fc": rule syntax error at line 1, column 25: unknown term "pre.rat"/);
    expect((err as RuleSyntaxError).column).toBe(25);
  });

  it('coefficients outside [0, 1] per tick and unknown names are clear errors', () => {
    const net = new Network('bad-coef');
    net.population('p', 2, { output: 'none', soma: { kTotal: 1.5 } });
    expect(() => compileNetwork(net)).toThrow('population "p": soma.kTotal = 1.5 outside [0, 1] per tick');
    const n2 = new Network('bad-name');
    n2.population('a', 1, { output: 'none' });
    expect(() => n2.project('x', 'a', 'nope', { weights: [1] })).toThrow('projection "x": unknown population "nope"');
  });

  it('graded output without an activation is refused', () => {
    const net = new Network('no-act');
    net.population('p', 2, { output: 'graded', basal: true });
    expect(() => compileNetwork(net)).toThrow(/graded output needs an activation/);
  });
});

describe('memory model (docs/chip.md §3), hand-checked', () => {
  // Bytes per synapse from §3: B/8 for the weight, +2 sparse (16-bit local index), +4 plastic (accumulator),
  // +4 tag, +4 low-pass. Ring words: delay per postsynaptic neuron per projection on each core.
  it('sparse, plastic, tag and low-pass bytes and ring words per core, as the compiler reports them', () => {
    const net = new Network('mem-model');
    net.input('in', 30, { core: 0 });
    net.population('a', 20, { ...graded, core: 1 });
    net.population('b', 10, { ...graded, core: 2 });
    const sparse = (n: number, pre: (k: number) => number, post: (k: number) => number) => ({
      pre: Array.from({ length: n }, (_, k) => pre(k)),
      post: Array.from({ length: n }, (_, k) => post(k)),
      values: new Array(n).fill(0.1),
    });
    // sp: sparse, 8-bit, static, 45 distinct (pre, post) pairs, delay 3
    net.project('sp', 'in', 'a', { kind: 'sparse', weights: sparse(45, (k) => k % 30, (k) => (7 * k) % 20), weightBits: 8, delay: 3 });
    // pl: dense 30 × 20, 16-bit, plastic without tag or low-pass, delay 1
    net.project('pl', 'in', 'a', { weights: new Float64Array(600).fill(0.1), weightBits: 16, plasticity: { rule: 'dw = 0.01 * pre.rate' } });
    // tg: dense 20 × 10, 8-bit, plastic with a tag, delay 2
    net.project('tg', 'a', 'b', { weights: new Float64Array(200).fill(0.1), weightBits: 8, delay: 2, plasticity: { rule: 'dtag = pre.rate\ndw = 0.01 * syn.tag' } });
    // lp: sparse, 16-bit, plastic with a tag and a low-pass, 25 synapses, delay 4
    net.project('lp', 'a', 'b', {
      kind: 'sparse',
      weights: sparse(25, (k) => k % 20, (k) => (k + Math.floor(k / 20)) % 10),
      weightBits: 16,
      delay: 4,
      plasticity: { rule: 'dtag = pre.rate\ndw = 0.01 * syn.tag', lowpassTau: 10 },
    });
    // lw: dense 30 × 10, 16-bit, plastic with a low-pass only, delay 5
    net.project('lw', 'in', 'b', { weights: new Float64Array(300).fill(0.1), weightBits: 16, delay: 5, plasticity: { rule: 'dw = 0.01 * pre.rate', lowpassTau: 10 } });
    const { program, usage } = compileNetwork(net);
    // The compiler kept the features the hand count assumes.
    const pr = Object.fromEntries(program.body.projections.map((p) => [p.name, p]));
    expect(pr.sp.kind).toBe(ProjectionKind.Sparse);
    expect([pr.tg.plasticity!.tag, pr.tg.plasticity!.lowpass > 0]).toEqual([true, false]);
    expect([pr.lp.plasticity!.tag, pr.lp.plasticity!.lowpass > 0]).toEqual([true, true]);
    expect([pr.lw.plasticity!.tag, pr.lw.plasticity!.lowpass > 0]).toEqual([false, true]);
    // core 1: sp 45 · (1 + 2) = 135; pl 600 · (2 + 4) = 3600 → 3735 B; ring 20·3 + 20·1 = 80
    // core 2: tg 200 · (1 + 4 + 4) = 1800; lp 25 · (2 + 2 + 4 + 4 + 4) = 400; lw 300 · (2 + 4 + 4) = 3000 → 5200 B;
    //         ring 10·2 + 10·4 + 10·5 = 110
    const summary = (u: (typeof usage)[number]) => ({ synapses: u.synapses, synapseBytes: u.synapseBytes, ringWords: u.ringWords, byProjection: Object.fromEntries(u.byProjection) });
    const expected = [
      { synapses: 0, synapseBytes: 0, ringWords: 0, byProjection: {} },
      { synapses: 645, synapseBytes: 3735, ringWords: 80, byProjection: { sp: 135, pl: 3600 } },
      { synapses: 525, synapseBytes: 5200, ringWords: 110, byProjection: { tg: 1800, lp: 400, lw: 3000 } },
    ];
    expect(usage.slice(0, 3).map(summary)).toEqual(expected);
    expect(coreUsage(program).slice(0, 3).map(summary)).toEqual(expected);
    expect(usage.slice(3).every((u) => u.synapseBytes === 0 && u.ringWords === 0)).toBe(true);
  });

  it('a group on two cores: each core pays for its own post neurons; ring words = Σ count · delay up to CORE_RING_WORDS', () => {
    // p: 4096 neurons, 1000 on core 0 and 3096 on core 2; in: 4096 inputs on core 1.
    const post = () => group('p', 4096, { hasBasal: true, slices: [{ core: 0, start: 0, count: 1000 }, { core: 2, start: 1000, count: 3096 }] });
    const input = () => inputGroup('in', 4096, { slices: [{ core: 1, start: 0, count: 4096 }] });
    const rowPtr = new Uint32Array(4097).fill(5);
    rowPtr[0] = 0; // all five synapses in row 0
    const split = buildProgram(
      [input(), post()],
      [
        projection('o', 0, 1, new Array(4096).fill(1), { kind: ProjectionKind.OneToOne, delay: 3 }),
        projection('s', 0, 1, [1, 2, 3, 4, 5], { kind: ProjectionKind.Sparse, weightBits: 8, delay: 7, rowPtr, cols: Uint16Array.from([0, 999, 1000, 4095, 5]) }),
      ],
    );
    const u = checkFit(split);
    // core 0: o 1000 · 2 B + s (posts 0, 999, 5) 3 · (1 + 2) = 2009 B; ring 1000 · 3 + 1000 · 7 = 10000
    // core 2: o 3096 · 2 B + s (posts 1000, 4095) 2 · 3 = 6198 B; ring 3096 · (3 + 7) = 30960; core 1 (inputs): none
    expect([u[0].synapseBytes, u[0].ringWords]).toEqual([2009, 10000]);
    expect([u[2].synapseBytes, u[2].ringWords]).toEqual([6198, 30960]);
    expect([u[1].synapseBytes, u[1].ringWords, u[1].neurons]).toEqual([0, 0, 4096]);
    // 4096 post neurons on one core with delay-64 projections: 4096 · 64 = 2^18 words each. Four fill the
    // 2^20 words exactly; a fifth makes 5 · 2^18 = 125 % of CORE_RING_WORDS.
    const full = (n: number) =>
      buildProgram(
        [input(), group('p', 4096, { hasBasal: true })],
        Array.from({ length: n }, (_, k) => projection(`d${k}`, 0, 1, new Array(4096).fill(1), { kind: ProjectionKind.OneToOne, delay: 64 })),
      );
    expect(checkFit(full(4))[0].ringWords).toBe(1048576);
    expect(() => checkFit(full(5))).toThrow('core 0 delay-ring memory 125 %');
    expect(coreUsage(full(5))[0].ringWords).toBe(1310720);
  });
});

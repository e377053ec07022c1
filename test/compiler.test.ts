/**
 * The compiler: placement, fit errors, quantisation, network errors.
 */
import { describe, expect, it } from 'vitest';
import { Chip } from '../src/emulator/chip.js';
import { checkFit } from '../src/emulator/capacity.js';
import { ProgramFitError } from '../src/emulator/errors.js';
import { compileNetwork, quantiseWeights } from '../src/models/compiler.js';
import { Network, NetworkError } from '../src/models/network.js';
import { RuleSyntaxError } from '../src/models/ruleLanguage.js';
import { decodeProgram, encodeProgram } from '../src/emulator/programCodec.js';

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

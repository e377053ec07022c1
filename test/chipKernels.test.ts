/**
 * The compiled kernels against the reference definitions: learning kernels vs the microcode interpreter on
 * random rules, one OU noise step and one stochastic spike decision recomputed from the PRNG by hand, graded
 * traces, rounded input conversion, and run-until.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Chip } from '../src/emulator/chip.js';
import { evalMicrocode, TERMS } from '../src/emulator/microcode.js';
import { draw, gauss, mix32, streamKey, Stream, tickKey } from '../src/emulator/prng.js';
import { NoiseTarget, OutputMode, PortKind, ProbeVariable, ProjectionKind } from '../src/emulator/program.js';
import { lutEval } from '../src/emulator/lut.js';
import { compileRule } from '../src/models/ruleLanguage.js';
import { COEF_ONE, group, inputGroup, ONE, plastic, program, projection, sigmoidLut } from './helpers/programBuilder.js';

const termNames = ['pre.rate', 'post.soma', 'post.basal', 'syn.w', 'reward'] as const;

const exprArb: fc.Arbitrary<string> = fc.letrec((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...termNames),
    fc.constantFrom('0.5', '2^-5', '3', '1e-3', '0.37'),
    fc.tuple(tie('e'), fc.constantFrom('+', '-', '*'), tie('e')).map(([a, op, b]) => `(${a} ${op} ${b})`),
    tie('e').map((a) => `-(${a})`),
  ),
})).e as fc.Arbitrary<string>;

describe('learning kernels equal the microcode interpreter', () => {
  it('for random rules on random state (property)', () => {
    let checked = 0;
    fc.assert(
      fc.property(
        exprArb,
        fc.integer({ min: -8 * ONE, max: 8 * ONE }),
        fc.integer({ min: -8 * ONE, max: 8 * ONE }),
        fc.integer({ min: -8 * ONE, max: 8 * ONE }),
        fc.integer({ min: -30000, max: 30000 }),
        fc.integer({ min: -4 * ONE, max: 4 * ONE }),
        (expr, rate, soma, basal, w, reward) => {
          let compiled;
          try {
            compiled = compileRule(`dtag = ${expr}`);
          } catch {
            return; // e.g. "expression too deep": not a kernel question
          }
          const prog = program(
            [inputGroup('in', 1, { payloadShift: 4 }), group('n', 1, { hasBasal: true, basalDecay: 0, initSoma: Int32Array.from([soma]) })],
            [
              projection('fwd', 0, 1, [0], { kind: ProjectionKind.OneToOne }),
              projection('w', 0, 1, [w], { weightShift: 12, plasticity: plastic(compiled.statements, { tag: true, fracBits: 9 }) }),
            ],
            {
              inputs: [
                { name: 'in', kind: PortKind.Rate, group: 0 },
                { name: 'reward', kind: PortKind.Reward, group: -1 },
              ],
            },
          );
          const chip = new Chip(prog);
          chip.setInput('in', [rate]);
          chip.setInput('reward', [reward]);
          chip.group('n').vB!.fill(basal); // no decay, zero input: v_B stays
          chip.step();
          const g = chip.group('n');
          const q = (x: number) => Math.max(-2147483648, Math.min(2147483647, x * 256));
          const terms = new Int32Array(64);
          terms[TERMS['pre.rate']] = q(chip.group('in').rate[0]);
          terms[TERMS['post.soma']] = q(g.u[0]);
          terms[TERMS['post.basal']] = q(g.vB![0]);
          expect(g.vB![0]).toBe(basal);
          expect(g.u[0]).toBe(soma);
          terms[TERMS['syn.w']] = Math.round((w * 2 ** 9) * 2 ** (24 - 12 - 9));
          terms[TERMS['reward']] = q(reward);
          const expected = evalMicrocode(compiled.statements[0].code, terms, new Int32Array(8));
          expect(chip.projection('w').tag![0]).toBe(expected | 0);
          checked++;
        },
      ),
      { numRuns: 300 },
    );
    expect(checked).toBeGreaterThan(250);
  });
});

describe('random numbers in neurons, recomputed by hand', () => {
  it('one OU step: ξ = round(gain · N / 2^24) with N from draws 2j, 2j+1 of the Noise stream', () => {
    const gain = 123457;
    const seed = 77;
    const prog = program([group('n', 3, { hasApical: true, noiseTarget: NoiseTarget.Apical, noiseDecay: COEF_ONE / 10, noiseGain: gain })], [], {}, seed);
    const chip = new Chip(prog);
    chip.step();
    const tk = tickKey(streamKey(seed, Stream.Noise, 0), 0);
    for (let j = 0; j < 3; j++) {
      const n = gauss(draw(tk, 2 * j), draw(tk, 2 * j + 1));
      const expected = Number((BigInt(gain) * BigInt(n) + (1n << 23n)) >> 24n);
      expect(chip.group('n').xi![j]).toBe(expected);
    }
  });

  it('stochastic spikes: spike iff (draw(t, j) >>> 16) < φ(ŭ)', () => {
    const lut = sigmoidLut();
    const seed = 5;
    const init = Int32Array.from([-2 * ONE, 0, ONE, 3 * ONE, -ONE, 2 * ONE]);
    const prog = program([group('n', 6, { output: OutputMode.Stochastic, lut: 0, initSoma: init })], [], { luts: [lut] }, seed);
    const chip = new Chip(prog);
    for (let t = 0; t < 5; t++) {
      chip.step();
      const tk = tickKey(streamKey(seed, Stream.Spike, 0), t);
      for (let j = 0; j < 6; j++) {
        const p = lutEval(lut.values, lut.xMin, lut.stepShift, init[j]);
        expect(chip.group('n').spike[j]).toBe((mix32((tk ^ j) >>> 0) >>> 16) < p ? 1 : 0);
      }
    }
  });
});

describe('traces and conversions', () => {
  it('a graded trace low-passes the rate: x ← x + r20(k·(r − x))', () => {
    const prog = program([inputGroup('in', 1, { traces: 1, x1Decay: COEF_ONE / 4 })], []);
    const chip = new Chip(prog);
    chip.setInput('in', [ONE]);
    chip.step();
    expect(chip.group('in').x1![0]).toBe(16384);
    chip.step();
    expect(chip.group('in').x1![0]).toBe(16384 + 12288); // + r20(262144 · 49152)
  });

  it('input conversion rounds half up when the projection shift is positive', () => {
    // payload 3 (Q3.12 from rate 3/4096), weight 1 with shift 17: Σ = 3, shift = 17 + 12 − 16 = 13 → round(3/8192) = 0;
    // weight 5461: Σ = 16383 → round(16383 / 8192 = 1.9999) = 2
    const prog = program(
      [inputGroup('in', 1, { payloadShift: 4 }), group('n', 2, { hasBasal: true })],
      [projection('w', 0, 1, [1, 5461], { weightShift: 17 })],
    );
    const chip = new Chip(prog);
    chip.setInput('in', [3 * 16]);
    chip.run(2);
    expect(Array.from(chip.read('n', ProbeVariable.Basal))).toEqual([0, 2]);
  });
});

describe('run until', () => {
  it('stops after the first spike in a group and says so', () => {
    const prog = program(
      [inputGroup('in', 1, { payloadShift: 2 }), group('n', 1, { hasBasal: true, output: OutputMode.Binary, kBasal: COEF_ONE / 10, kTotal: COEF_ONE / 10, threshold: ONE / 2 })],
      [projection('w', 0, 1, [4096], { kind: ProjectionKind.OneToOne })],
    );
    const chip = new Chip(prog);
    chip.setInput('in', [ONE]);
    const r = chip.runUntil({ maxTicks: 1000, untilSpikeIn: 'n' });
    expect(r.reason).toBe('spike');
    // u_t = 1 − 0.9^(t−1) (from tick 1) crosses 0.5 after 7 updates: ticks 1..7 → stop after tick 7 (8 ticks run)
    expect(r.ticks).toBe(8);
    expect(chip.runUntil({ maxTicks: 3, until: (c) => c.tick === 20 })).toEqual({ reason: 'ticks', ticks: 3 });
    expect(chip.runUntil({ maxTicks: 100, until: (c) => c.tick === 15 })).toEqual({ reason: 'condition', ticks: 4 });
  });
});

/**
 * The WebAssembly backend (src/emulator/wasm/) against the JavaScript reference: every golden vector with
 * backend 'wasm' reproduces its stored per-tick per-core digests, and random dense programs (route and
 * plasticity, 8/16-bit weights, every rounding mode, low-pass, tags, update shifts, sizes not multiples of 4 or
 * 8, rows longer than one accumulation block) leave exactly the same state as backend 'js' after every tick,
 * including the saturation corners (extreme weights × extreme payloads).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Chip, type ChipBackend } from '../src/emulator/chip.js';
import { DENSE_WASM_MIN_SYNAPSES } from '../src/emulator/wasm/denseProjectionWasm.js';
import { OutputMode, PortKind, ProjectionKind, Rounding, type Program } from '../src/emulator/program.js';
import { encodeProgram } from '../src/emulator/programCodec.js';
import { compileRule } from '../src/models/ruleLanguage.js';
import {
  StimulusPlayer,
  VECTOR_DEFINITIONS,
  coreDigestLine,
  decodeStoredProgram,
  readStoredVector,
  traceVariablesDiffering,
  variableTraceLine,
} from '../test-support/vectorDefinitions.js';
import { COEF_ONE, group, inputGroup, ONE, plastic, program, projection, sigmoidLut } from './helpers/programBuilder.js';

describe.each(VECTOR_DEFINITIONS.map((d) => [d.name, d] as const))('golden vector %s on backend wasm', (name, def) => {
  it('reproduces every per-tick per-core digest, the spike counts and the final weights', () => {
    const s = readStoredVector(def.name);
    if (s.missing.length) throw new Error(`vector ${name} missing: run npm run vectors:accept (missing ${s.missing.join(', ')})`);
    const program = decodeStoredProgram(s.programBytes!);
    const expected = s.expected!;
    const chip = new Chip(program, { backend: 'wasm' });
    expect(chip.backend).toBe('wasm');
    const player = new StimulusPlayer(chip, s.stimulus!);
    const spikes: number[] = [];
    for (let k = 0; k < expected.ticks; k++) {
      player.apply(k);
      chip.step();
      spikes.push(chip.spikesLastTick());
      const line = coreDigestLine(chip);
      if (line !== expected.digests[k]) {
        const vars = traceVariablesDiffering(expected.variableTrace[k] ?? '', variableTraceLine(chip));
        expect(line, `${name} (wasm): first diverging tick ${k}, variables ${vars.join(', ')}`).toBe(expected.digests[k]);
      }
    }
    expect(spikes).toEqual(expected.spikeCounts);
    const weights = Object.fromEntries(chip.projections.filter((p) => p.wacc).map((p) => [p.def.name, Array.from(p.w)]));
    expect(weights).toEqual(expected.finalWeights);
    expect(Array.from(chip.cyclesTotal)).toEqual(expected.cyclesPerCore);
  });
});

/** Every state array of a chip (neurons, synapses, rings), for exact comparison. */
function state(chip: Chip): number[][] {
  return chip.snapshot().arrays.map((a) => Array.from(a as ArrayLike<number>));
}

/** Runs the same program on both backends with the same inputs; compares the state after every tick. */
function compareBackends(prog: Program, ticks: number, drive: (chip: Chip, t: number) => void): Chip[] {
  const chips = (['js', 'wasm'] as ChipBackend[]).map((backend) => new Chip(prog, { backend }));
  for (let t = 0; t < ticks; t++) {
    for (const c of chips) {
      drive(c, t);
      c.step();
    }
    const [a, b] = chips.map(state);
    for (let q = 0; q < a.length; q++) {
      if (a[q].length !== b[q].length || a[q].some((x, i) => x !== b[q][i])) {
        const i = a[q].findIndex((x, i) => x !== b[q][i]);
        expect(b[q][i], `tick ${t}: state array ${q}, element ${i} (js ${a[q][i]}, wasm ${b[q][i]})`).toBe(a[q][i]);
      }
    }
    expect(coreDigestLine(chips[1]), `digests after tick ${t}`).toBe(coreDigestLine(chips[0]));
  }
  expect(chips[1].synapticEventsTotal).toBe(chips[0].synapticEventsTotal);
  expect(Array.from(chips[1].cyclesTotal)).toEqual(Array.from(chips[0].cyclesTotal));
  return chips;
}

/** A rate that drives the graded input group's payload to p exactly (payload = sat16(round(r, s))). */
const rateFor = (p: number, shift: number) => p * 2 ** shift;

const RULES = [
  'dw = 2^-10 * (post.rate - post.basal_rate) * pre.rate',
  'dw = 0.37 * pre.rate - syn.w * 2^-3',
  'on post: dw = -(pre.rate * post.soma) + 3',
  'on epoch(1): dw = (reward - post.basal) * pre.x1 * 4',
  'on pre: dw = 2^-6 * post.rate',
  'dtag = pre.rate * post.rate - syn.tag * 0.5\non tick: dw = syn.tag * reward',
  'dw = pre.spike * 100 - post.spike * pre.rate * pre.rate',
  'dw = 1e-3 * (post.prosp - pre.hp) * (pre.rate + post.x1)',
] as const;

const ruleArb = fc.constantFrom(...RULES);

interface DenseCase {
  nPre: number;
  nPost: number;
  bits: 8 | 16;
  weightShift: number;
  payloadShift: number;
  weights: number[];
  rates: number[];
  rule: string | null;
  fracBits: number;
  rounding: Rounding;
  lowpass: number;
  updateShift: number;
  delay: number;
  reward: number;
}

/** A DenseCase with nearest rounding, no low-pass, no update shift, delay 1 and no reward unless given. */
function denseCase(c: Omit<DenseCase, 'rounding' | 'lowpass' | 'updateShift' | 'delay' | 'reward'> & Partial<DenseCase>): DenseCase {
  return { rounding: Rounding.Nearest, lowpass: 0, updateShift: 0, delay: 1, reward: 0, ...c };
}

function denseProgram(c: DenseCase): Program {
  const lut = sigmoidLut();
  let pl = null;
  if (c.rule) {
    const compiled = compileRule(c.rule);
    pl = plastic(compiled.statements, { fracBits: c.fracBits, rounding: c.rounding, lowpass: c.lowpass, tag: compiled.usesTag, updateShift: c.updateShift });
  }
  return program(
    [
      inputGroup('in', c.nPre, { payloadShift: c.payloadShift, traces: 5, x1Decay: COEF_ONE / 8, hpDecay: COEF_ONE / 16 }),
      group('out', c.nPost, {
        hasBasal: true,
        basalDecay: COEF_ONE / 2,
        kBasal: COEF_ONE / 8,
        kTotal: COEF_ONE / 8,
        basalPredGain: COEF_ONE / 2,
        prospectiveGain: 3 << 8,
        output: OutputMode.Graded,
        payloadShift: 2,
        lut: 0,
        traces: 1,
        x1Decay: COEF_ONE / 4,
      }),
    ],
    [
      projection('fc', 0, 1, c.weights, { kind: ProjectionKind.Dense, weightBits: c.bits, weightShift: c.weightShift, delay: c.delay, plasticity: pl }),
      // A second dense projection back onto the input-driven post group, static, so rings of two projections mix.
      projection('fb', 1, 1, Array.from({ length: c.nPost * c.nPost }, (_, k) => ((k * 7919) % 255) - 127), { weightBits: 8, weightShift: 10 }),
    ],
    { luts: [lut], inputs: [{ name: 'in', kind: PortKind.Rate, group: 0 }, { name: 'reward', kind: PortKind.Reward, group: -1 }] },
  );
}

const denseCaseArb: fc.Arbitrary<DenseCase> = fc
  .record({
    nPre: fc.integer({ min: 1, max: 37 }),
    nPost: fc.integer({ min: 1, max: 9 }),
    bits: fc.constantFrom(8 as const, 16 as const),
    weightShift: fc.integer({ min: 4, max: 15 }),
    payloadShift: fc.integer({ min: 1, max: 6 }),
    extreme: fc.boolean(),
    rule: fc.option(ruleArb, { nil: null }),
    fracBits: fc.integer({ min: 0, max: 15 }),
    rounding: fc.constantFrom(Rounding.Nearest, Rounding.Stochastic),
    lowpass: fc.constantFrom(0, 1, COEF_ONE / 16, COEF_ONE),
    updateShift: fc.integer({ min: 0, max: 6 }),
    delay: fc.integer({ min: 1, max: 3 }),
    reward: fc.integer({ min: -4 * ONE, max: 4 * ONE }),
    seed: fc.integer(),
  })
  .map((r) => {
    let s = r.seed >>> 0;
    const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const wMax = 2 ** (r.bits - 1);
    const pick = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    const weights = Array.from({ length: r.nPre * r.nPost }, () => (r.extreme ? (rnd() < 0.5 ? -wMax : wMax - 1) : pick(-wMax, wMax - 1)));
    // Rates: payloads near the int16 limits when extreme (saturating), else anything in ±4.0; some zero.
    const rates = Array.from({ length: r.nPre }, () =>
      r.extreme ? rateFor(rnd() < 0.5 ? -32768 : 32767, r.payloadShift) + pick(-3, 3) * 2 ** 20 : rnd() < 0.2 ? 0 : pick(-4 * ONE, 4 * ONE),
    );
    const fracBits = Math.min(r.fracBits, 31 - r.bits);
    // Keep sa = 24 − weightShift − fracBits + updateShift ≤ 31 (the codec's limit).
    return { ...r, weights, rates, fracBits, updateShift: Math.min(r.updateShift, 31 - (24 - r.weightShift - fracBits)) };
  });

describe('backend wasm equals backend js on random dense programs', () => {
  it('route and plasticity, state compared after every tick (property)', () => {
    // Every learning-kernel variant must have run: saturating, unsaturated and narrow (denseProjectionWasm.ts).
    const calls = { saturating: 0, unsaturated: 0, narrow: 0 };
    fc.assert(
      fc.property(denseCaseArb, (c) => {
        const prog = denseProgram(c);
        encodeProgram(prog); // the case is a valid Program
        const chips = compareBackends(prog, 6, (chip, t) => {
          if (t === 0 || t === 3) chip.setInput('in', t === 0 ? c.rates : c.rates.map((x, i) => (i % 3 === 0 ? 0 : -x)));
          chip.setInput('reward', [t % 2 ? c.reward : -c.reward]);
        });
        const counts = chips[1].projection('fc').denseWasm?.learnCalls;
        if (counts) for (const k of Object.keys(calls) as (keyof typeof calls)[]) calls[k] += counts[k];
      }),
      { numRuns: 150 },
    );
    expect(calls.saturating).toBeGreaterThan(0);
    expect(calls.unsaturated).toBeGreaterThan(0);
    expect(calls.narrow).toBeGreaterThan(0);
  }, 120_000);

  it('narrow products: rows whose row value fits the 32-bit product take it, the others the 64-bit one; both equal js', () => {
    // a = post.soma·2^8 (row), c = pre.rate·2^8: rows with |u| ≤ ⌊(2^31 − 1) / max|rate|⌋ multiply in 32 bits.
    // Rates up to 2^16 give a limit of 32767: the post somas below straddle it (drive sets them through inputs).
    for (const rule of ['dw = -(pre.rate * post.soma) + 3', 'dw = 2^-10 * (post.rate - post.basal_rate) * pre.rate', 'dw = pre.rate * (post.soma - 7)']) {
      const nPre = 13;
      const nPost = 6;
      const c = denseCase({
        nPre,
        nPost,
        bits: 16,
        weightShift: 14,
        payloadShift: 2,
        weights: Array.from({ length: nPre * nPost }, (_, k) => ((k * 7919) % 60001) - 30000),
        rates: Array.from({ length: nPre }, (_, i) => [ONE, -ONE, ONE - 1, 12345, -1, 0, 2 ** 15][i % 7]),
        rule,
        fracBits: 10,
      });
      const chips = compareBackends(denseProgram(c), 12, (chip, t) => {
        if (t % 4 === 0) chip.setInput('in', c.rates.map((x, i) => (t % 8 ? x : -x >> (i % 3))));
      });
      expect(chips[1].projection('fc').denseWasm!.learnCalls.narrow, rule).toBeGreaterThan(0);
    }
  });

  it('narrow products at the row limit: (p + 2^7) >> 8 never overflows', () => {
    // 2^31 − 2 = 42966 · 49981: with pre.rate = 42966 the limit is ⌊(2^31 − 1 − 2^7) / 42966⌋ = 49980, so the row
    // of u = 49980 multiplies in 32 bits (p = 2^31 − 2 − 42966) and the row of u = 49981 (p = 2^31 − 2, where
    // p + 2^7 would wrap) in 64 bits. The somas stay put (all soma coefficients 0).
    const nPre = 5;
    const c = denseCase({
      nPre,
      nPost: 3,
      bits: 16,
      weightShift: 14,
      payloadShift: 2,
      weights: new Array(nPre * 3).fill(0),
      rates: new Array(nPre).fill(42966),
      rule: 'dw = pre.rate * post.soma',
      fracBits: 10, // sa = 0
    });
    const prog = denseProgram(c);
    const out = prog.body.groups[1];
    Object.assign(out, { kBasal: 0, kTotal: 0, prospectiveGain: 0, initSoma: Int32Array.from([49980, 49981, -49981]) });
    const chips = compareBackends(prog, 3, (chip, t) => {
      if (t === 0) chip.setInput('in', c.rates);
    });
    expect(Array.from(chips[1].group('out').u)).toEqual([49980, 49981, -49981]);
    expect(chips[1].projection('fc').denseWasm!.learnCalls.narrow).toBeGreaterThan(0);
  });

  it('a neuron term saturated at 2^31 − 1 (not a multiple of 2^8) keeps the 64-bit products', () => {
    // post.soma = sat32(u·2^8) = 2^31 − 1 for u ≥ 2^23. With pre rates ≤ 256 the row limit ⌊(2^31 − 1)/256⌋ would
    // admit the row, and for rate 256 (c = 2^16) round(a·c, 24) = 8388608 while the narrow product gives
    // round(⌊a/2^8⌋·2^8, 8) = 8388607: with sa = 0 the accumulators would differ. The kernel must not narrow.
    const nPre = 9;
    const nPost = 4;
    const c = denseCase({
      nPre,
      nPost,
      bits: 16,
      weightShift: 14,
      payloadShift: 0,
      weights: new Array(nPre * nPost).fill(0),
      rates: Array.from({ length: nPre }, (_, i) => (i % 2 ? 256 : 100 + 17 * i)),
      rule: 'dw = pre.rate * post.soma',
      fracBits: 10, // sa = 24 − 14 − 10 = 0: Δ reaches the accumulator unrounded
    });
    const prog = denseProgram(c);
    prog.body.groups[1].initSoma = Int32Array.from({ length: nPost }, (_, j) => 2 ** 30 + 12345 * j);
    const chips = compareBackends(prog, 3, (chip, t) => {
      if (t === 0) chip.setInput('in', c.rates);
    });
    expect(chips[1].group('out').u[0]).toBeGreaterThan(2 ** 23);
  });

  it('saturation corner: max weights × max payloads over a long row (sums beyond 2^31, several accumulation blocks)', () => {
    for (const bits of [16, 8] as const) {
      for (const [w, p] of [
        [-(2 ** (bits - 1)), -32768],
        [2 ** (bits - 1) - 1, 32767],
        [-(2 ** (bits - 1)), 32767],
      ]) {
        const n = 3001; // 16-bit blocks hold 127·8 = 1016 synapses; 3001 is not a multiple of 8
        const c = denseCase({
          nPre: n,
          nPost: 3,
          bits,
          weightShift: 0,
          payloadShift: 0,
          weights: new Array(n * 3).fill(w),
          rates: new Array(n).fill(rateFor(p, 0)),
          rule: 'dw = pre.rate * post.rate',
          fracBits: 0,
        });
        const prog = denseProgram(c);
        const js = new Chip(prog, { backend: 'js' });
        js.setInput('in', c.rates);
        js.step();
        js.step();
        // The sum saturates the input conversion: v_B is ±2^31 − 1 … a sign check that the case is extreme.
        expect(Math.abs(js.group('out').vB![0])).toBeGreaterThan(2 ** 30);
        compareBackends(prog, 4, (chip, t) => {
          if (t === 0) chip.setInput('in', c.rates);
        });
      }
    }
  });

  it('updates |Δ·2^−sa| > 2^30 into a 31-bit accumulator (sa = 0), where the bounded kernel may not be used', () => {
    for (const rule of ['dw = pre.rate * 12', 'dw = -(pre.rate * 12)', 'dw = pre.rate * 6 - post.rate']) {
      const n = 7;
      const c = denseCase({
        nPre: n,
        nPost: 3,
        bits: 8,
        weightShift: 1,
        payloadShift: 4,
        weights: Array.from({ length: n * 3 }, (_, k) => [-128, 127, 0, -1, 1][k % 5]),
        rates: Array.from({ length: n }, (_, i) => (i % 2 ? 8 : -8) * ONE),
        rule,
        fracBits: 23, // 8 + 23 = 31 bits: the clamp bounds are ±2^30
        updateShift: 0, // sa = 24 − 1 − 23 + 0 = 0
      });
      compareBackends(denseProgram(c), 4, (chip, t) => {
        if (t === 0) chip.setInput('in', c.rates);
        if (t === 2) chip.setInput('in', c.rates.map((x) => -x));
      });
    }
  });

  it('a row of exactly one accumulation block, and one synapse more', () => {
    for (const [bits, n] of [
      [16, 1016],
      [16, 1017],
      [8, 2040],
      [8, 2041],
    ] as const) {
      const w = 2 ** (bits - 1);
      const c = denseCase({
        nPre: n,
        nPost: 2,
        bits,
        weightShift: 8,
        payloadShift: 0,
        weights: Array.from({ length: n * 2 }, (_, k) => (k % 5 === 0 ? -w : w - 1)),
        rates: Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 32767 : -32768)),
        rule: null,
        fracBits: 0,
        delay: 2,
      });
      compareBackends(denseProgram(c), 3, (chip, t) => {
        if (t === 0) chip.setInput('in', c.rates);
      });
    }
  });

  it("backend 'auto' (the default) gives large dense projections WebAssembly kernels and small ones JavaScript", () => {
    const make = (nPre: number, nPost: number) =>
      denseProgram({
        nPre,
        nPost,
        bits: 16,
        weightShift: 12,
        payloadShift: 2,
        weights: new Array(nPre * nPost).fill(100),
        rates: new Array(nPre).fill(ONE),
        rule: RULES[0],
        fracBits: 8,
        rounding: Rounding.Nearest,
        lowpass: 0,
        updateShift: 0,
        delay: 1,
        reward: 0,
      });
    const big = make(DENSE_WASM_MIN_SYNAPSES / 4, 4);
    const small = make(DENSE_WASM_MIN_SYNAPSES / 4 - 1, 4);
    expect(new Chip(big).backend).toBe('auto');
    expect(new Chip(big).projection('fc').kernelBackend).toBe('wasm');
    expect(new Chip(small).projection('fc').kernelBackend).toBe('js');
    expect(new Chip(small, { backend: 'wasm' }).projection('fc').kernelBackend).toBe('wasm');
    expect(new Chip(big, { backend: 'js' }).projection('fc').kernelBackend).toBe('js');
    // The state of a WebAssembly-backed projection is a view on its (64 KiB-paged) memory.
    const chip = new Chip(small, { backend: 'wasm' });
    expect(chip.projection('fc').w.buffer.byteLength % 65536).toBe(0);
  });
});

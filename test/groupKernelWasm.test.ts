/**
 * The WebAssembly group kernel (src/emulator/wasm/groupKernelWasm.ts) against the JavaScript reference: random
 * spiking LIF programs (sizes not multiples of 4, so the JavaScript tail runs too; basal/apical/soma inputs from
 * sparse, one-to-one and recurrent projections with any delay, from spiking and graded sources (payloads up to
 * ±2^15), one plastic projection driving its weights to their limits; every coefficient range; refractoriness;
 * prospective voltage; x1/x2 traces; states and inputs at the int32 limits, so every saturation is exercised)
 * leave exactly the same state on backend 'wasm' as on 'js' after every tick. (The golden vectors run on
 * 'wasm' in test/chipWasm.test.ts.)
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Chip, type ChipBackend } from '../src/emulator/chip.js';
import { Compartment, GroupKind, OutputMode, PortKind, ProjectionKind, type Program, type Projection } from '../src/emulator/program.js';
import { DENSE_WASM_MIN_SYNAPSES } from '../src/emulator/wasm/denseProjectionWasm.js';
import { coreDigestLine } from '../test-support/vectorDefinitions.js';
import { compileRule } from '../src/models/ruleLanguage.js';
import { COEF_ONE, group, inputGroup, ONE, plastic, program, projection, sigmoidLut } from './helpers/programBuilder.js';

const MAX = 2147483647;
const MIN = -2147483648;

/** Every state array of a chip (neurons, synapses, rings), for exact comparison. */
function state(chip: Chip): number[][] {
  return chip.snapshot().arrays.map((a) => Array.from(a as ArrayLike<number>));
}

/**
 * Runs a program on backend 'js' and on `other`, both driven with the values `inputs(t)` (port → values) before
 * tick t; compares the state after every tick.
 */
function compareBackends(prog: Program, ticks: number, other: ChipBackend, inputs: (t: number) => Record<string, number[]>): Chip {
  const chips = (['js', other] as ChipBackend[]).map((backend) => new Chip(prog, { backend }));
  for (let t = 0; t < ticks; t++) {
    const input = Object.entries(inputs(t));
    for (const c of chips) {
      for (const [port, values] of input) c.setInput(port, values);
      c.step();
    }
    const [a, b] = chips.map(state);
    for (let q = 0; q < a.length; q++) {
      if (a[q].length !== b[q].length || a[q].some((x, i) => x !== b[q][i])) {
        const i = a[q].findIndex((x, i) => x !== b[q][i]);
        expect(b[q][i], `tick ${t}: state array ${q}, element ${i} (js ${a[q][i]}, ${other} ${b[q][i]})`).toBe(a[q][i]);
      }
    }
    expect(coreDigestLine(chips[1]), `digests after tick ${t}`).toBe(coreDigestLine(chips[0]));
  }
  expect(chips[1].synapticEventsTotal).toBe(chips[0].synapticEventsTotal);
  expect(Array.from(chips[1].cyclesTotal)).toEqual(Array.from(chips[0].cyclesTotal));
  return chips[1];
}

interface LifCase {
  nIn: number;
  n: number;
  hasBasal: boolean;
  hasApical: boolean;
  basalDecay: number;
  apicalDecay: number;
  kBasal: number;
  kApical: number;
  kTotal: number;
  prospectiveGain: number;
  threshold: number;
  reset: number;
  refractory: number;
  traces: number;
  x1Decay: number;
  x1Impulse: number;
  x2Decay: number;
  x2Impulse: number;
  extreme: boolean;
  /** Graded source: payload shift (0 saturates the payload at ±2^15 with extreme rates). */
  gradedShift: number;
  seed: number;
  ticks: number;
}

const coef = fc.oneof(fc.constantFrom(0, 1, COEF_ONE - 1, COEF_ONE), fc.integer({ min: 0, max: COEF_ONE }));
/** Sizes, compartments and soma coefficients: shared by the binary and the graded group cases. */
const groupFields = {
  nIn: fc.integer({ min: 1, max: 19 }),
  n: fc.integer({ min: 4, max: 23 }),
  hasBasal: fc.boolean(),
  hasApical: fc.boolean(),
  basalDecay: coef,
  apicalDecay: coef,
  kBasal: coef,
  kApical: coef,
  kTotal: coef,
  prospectiveGain: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1 << 20 })),
};
const lifArb: fc.Arbitrary<LifCase> = fc.record({
  ...groupFields,
  threshold: fc.oneof(fc.integer({ min: -4 * ONE, max: 4 * ONE }), fc.constantFrom(MIN, MAX)),
  reset: fc.oneof(fc.integer({ min: -4 * ONE, max: 4 * ONE }), fc.constantFrom(MIN, MAX)),
  refractory: fc.integer({ min: 0, max: 5 }),
  traces: fc.integer({ min: 0, max: 3 }),
  x1Decay: coef,
  x1Impulse: fc.oneof(fc.integer({ min: -ONE, max: ONE }), fc.constantFrom(MIN, MAX)),
  x2Decay: coef,
  x2Impulse: fc.oneof(fc.integer({ min: -ONE, max: ONE }), fc.constantFrom(MIN, MAX)),
  extreme: fc.boolean(),
  gradedShift: fc.integer({ min: 0, max: 6 }),
  seed: fc.integer(),
  ticks: fc.integer({ min: 1, max: 12 }),
});

function rng(seed: number): (lo: number, hi: number) => number {
  let s = seed >>> 0;
  return (lo, hi) => lo + Math.floor(((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * (hi - lo + 1));
}

/** A sparse projection with random connections (probability 1/2) and weights. */
function sparse(name: string, pre: number, post: number, nPre: number, nPost: number, pick: (lo: number, hi: number) => number, p: Partial<Projection>): Projection {
  const rowPtr = new Uint32Array(nPre + 1);
  const cols: number[] = [];
  const w: number[] = [];
  const bits = p.weightBits ?? 8;
  const wMax = 2 ** (bits - 1);
  for (let i = 0; i < nPre; i++) {
    for (let j = 0; j < nPost; j++) {
      if (pick(0, 1)) {
        cols.push(j);
        w.push(pick(-wMax, wMax - 1));
      }
    }
    rowPtr[i + 1] = cols.length;
  }
  return projection(name, pre, post, w, { kind: ProjectionKind.Sparse, weightBits: bits, rowPtr, cols: Uint16Array.from(cols), ...p });
}

function lifProgram(c: LifCase): Program {
  const pick = rng(c.seed);
  const init = Int32Array.from({ length: c.n }, () => (c.extreme ? [MIN, MAX, pick(MIN, MAX)][pick(0, 2)] : pick(-4 * ONE, 4 * ONE)));
  const targets = [Compartment.Soma, ...(c.hasBasal ? [Compartment.Basal] : []), ...(c.hasApical ? [Compartment.Apical] : [])];
  const target = () => targets[pick(0, targets.length - 1)];
  // Extreme: large weights and weightShift 0 (conversion shift −16: inputs shifted left, beyond int32).
  const shift = () => (c.extreme ? pick(0, 3) : pick(4, 20));
  const lif = group('lif', c.n, {
    output: OutputMode.Binary,
    hasBasal: c.hasBasal,
    hasApical: c.hasApical,
    basalDecay: c.basalDecay,
    apicalDecay: c.apicalDecay,
    kBasal: c.kBasal,
    kApical: c.kApical,
    kTotal: c.kTotal,
    prospectiveGain: c.prospectiveGain,
    threshold: c.threshold,
    reset: c.reset,
    refractory: c.refractory,
    traces: c.traces,
    x1Decay: c.x1Decay,
    x1Impulse: c.x1Impulse,
    x2Decay: c.x2Decay,
    x2Impulse: c.x2Impulse,
    initSoma: init,
  });
  // A plastic projection whose rule drives its weights to the limits of their width (the ring bound must hold).
  const grow = compileRule(c.extreme ? 'dw = 2^3 * pre.rate' : 'dw = -2^-3 * pre.rate');
  const projections: Projection[] = [
    sparse('in_lif', 0, 1, c.nIn, c.n, pick, { target: target(), weightBits: 16, weightShift: shift(), delay: pick(1, 3) }),
    sparse('in_lif2', 0, 1, c.nIn, c.n, pick, { target: target(), weightShift: shift(), delay: pick(1, 2), plasticity: plastic(grow.statements) }),
    sparse('rec', 1, 1, c.n, c.n, pick, { target: target(), weightShift: shift(), delay: pick(1, 4) }),
    // Graded payloads up to ±2^15 (GroupWasmRing.bound's payload factor).
    sparse('graded_lif', 2, 1, c.nIn, c.n, pick, { target: target(), weightBits: 16, weightShift: shift(), delay: pick(1, 2) }),
  ];
  if (c.nIn === c.n) {
    projections.push(projection('one', 0, 1, Array.from({ length: c.n }, () => pick(-128, 127)), { kind: ProjectionKind.OneToOne, weightBits: 8, target: target(), weightShift: shift() }));
  }
  return program([inputGroup('in', c.nIn, { output: OutputMode.Binary }), lif, inputGroup('graded', c.nIn, { payloadShift: c.gradedShift })], projections);
}

/** Spikes on 'in' and rates on 'graded' (at the int32 limits when extreme) for one tick. */
function lifInputs(c: LifCase, pick: (lo: number, hi: number) => number): Record<string, number[]> {
  return {
    in: Array.from({ length: c.nIn }, () => pick(0, 1)),
    graded: Array.from({ length: c.nIn }, () => (c.extreme ? [MIN, MAX, 0][pick(0, 2)] : pick(-4 * ONE, 4 * ONE))),
  };
}

describe('backend wasm runs spiking groups in WebAssembly, equal to backend js', () => {
  it('random LIF programs, state compared after every tick (property)', () => {
    fc.assert(
      fc.property(lifArb, (c) => {
        const prog = lifProgram(c);
        const pick = rng(c.seed ^ 0x5bd1e995);
        const chip = compareBackends(prog, c.ticks, 'wasm', () => lifInputs(c, pick));
        expect(chip.groups[1].wasm, 'the LIF group runs on WebAssembly').not.toBeNull();
      }),
      { numRuns: 150, seed: 20261123 },
    );
  });

  it('a long run of a recurrent network with many spikes and refractory periods', () => {
    const c: LifCase = {
      nIn: 50,
      n: 203,
      hasBasal: true,
      hasApical: true,
      basalDecay: COEF_ONE / 50,
      apicalDecay: COEF_ONE / 100,
      kBasal: COEF_ONE / 200,
      kApical: COEF_ONE / 200,
      kTotal: COEF_ONE / 200,
      prospectiveGain: 5 << 8,
      threshold: ONE,
      reset: -ONE,
      refractory: 7,
      traces: 3,
      x1Decay: COEF_ONE / 20,
      x1Impulse: ONE,
      x2Decay: COEF_ONE / 60,
      x2Impulse: ONE / 2,
      extreme: false,
      gradedShift: 4,
      seed: 7,
      ticks: 400,
    };
    const pick = rng(99);
    const chip = compareBackends(lifProgram(c), c.ticks, 'wasm', () => ({
      in: Array.from({ length: c.nIn }, () => (pick(0, 9) === 0 ? 1 : 0)),
      graded: Array.from({ length: c.nIn }, () => pick(0, ONE)),
    }));
    expect(chip.groups[1].wasm).not.toBeNull();
    expect(chip.synapticEventsTotal, 'the network fires').toBeGreaterThan(10000);
  });

  it('random graded groups with lookup tables (basal prediction read by a rule, dense and sparse inputs), after every tick (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          ...groupFields,
          basalPredGain: coef,
          payloadShift: fc.integer({ min: 0, max: 8 }),
          inShift: fc.integer({ min: 0, max: 6 }),
          extreme: fc.boolean(),
          seed: fc.integer(),
          ticks: fc.integer({ min: 1, max: 10 }),
        }),
        (c) => {
          const pick = rng(c.seed);
          const init = Int32Array.from({ length: c.n }, () => (c.extreme ? [MIN, MAX, pick(MIN, MAX)][pick(0, 2)] : pick(-8 * ONE, 8 * ONE)));
          const targets = [Compartment.Soma, ...(c.hasBasal ? [Compartment.Basal] : []), ...(c.hasApical ? [Compartment.Apical] : [])];
          const target = () => targets[pick(0, targets.length - 1)];
          const shift = () => (c.extreme ? pick(0, 3) : pick(6, 20));
          const out = group('out', c.n, {
            output: OutputMode.Graded,
            lut: 0,
            hasBasal: c.hasBasal,
            hasApical: c.hasApical,
            basalDecay: c.basalDecay,
            apicalDecay: c.apicalDecay,
            kBasal: c.kBasal,
            kApical: c.kApical,
            kTotal: c.kTotal,
            basalPredGain: c.basalPredGain,
            prospectiveGain: c.prospectiveGain,
            payloadShift: c.payloadShift,
            initSoma: init,
          });
          const us = compileRule('dw = 2^-6 * (post.rate - post.basal_rate) * pre.rate');
          const wMax = 2 ** 15;
          const prog = program(
            [inputGroup('graded', c.nIn, { payloadShift: c.inShift }), out],
            [
              // Dense: on WebAssembly under 'wasm' (the group mirrors its ring), plastic, reading post.basal_rate.
              projection('fc', 0, 1, Array.from({ length: c.nIn * c.n }, () => (c.extreme ? [-wMax, wMax - 1][pick(0, 1)] : pick(-wMax, wMax - 1))), {
                target: target(),
                weightShift: shift(),
                delay: pick(1, 3),
                plasticity: plastic(us.statements, { fracBits: 4 }),
              }),
              sparse('sp', 0, 1, c.nIn, c.n, pick, { target: target(), weightBits: 16, weightShift: shift(), delay: pick(1, 2) }),
              sparse('rec', 1, 1, c.n, c.n, pick, { target: target(), weightShift: shift() }),
            ],
            { luts: [sigmoidLut()] },
          );
          const chip = compareBackends(prog, c.ticks, 'wasm', () => ({
            graded: Array.from({ length: c.nIn }, () => (c.extreme ? [MIN, MAX, 0][pick(0, 2)] : pick(-4 * ONE, 4 * ONE))),
          }));
          expect(chip.groups[1].wasm, 'the graded group runs on WebAssembly').not.toBeNull();
          expect(chip.groups[1].basalRate, 'a rule reads post.basal_rate').not.toBeNull();
        },
      ),
      { numRuns: 100, seed: 20261124 },
    );
  });

  it("backend 'auto': covered groups run on WebAssembly behind JavaScript and WebAssembly dense projections alike", () => {
    const pick = rng(3);
    const lif = (name: string, n: number) =>
      group(name, n, {
        output: OutputMode.Binary,
        hasBasal: true,
        basalDecay: COEF_ONE / 10,
        kBasal: COEF_ONE / 16,
        kTotal: COEF_ONE / 16,
        threshold: ONE / 4,
        reset: 0,
        refractory: 2,
      });
    const nIn = 4;
    const n = 13; // 4 × 13 < DENSE_WASM_MIN_SYNAPSES: 'fc' routes in JavaScript into the group's ring
    const m = DENSE_WASM_MIN_SYNAPSES / nIn; // 'fc2' has exactly DENSE_WASM_MIN_SYNAPSES: WebAssembly
    const prog = program(
      [inputGroup('in', nIn, { output: OutputMode.Binary }), lif('lif', n), lif('big', m)],
      [
        projection('fc', 0, 1, Array.from({ length: nIn * n }, () => pick(0, 127)), { weightBits: 8, weightShift: 6 }),
        sparse('rec', 1, 1, n, n, pick, { weightShift: 10, target: Compartment.Soma }),
        projection('fc2', 0, 2, Array.from({ length: nIn * m }, () => pick(0, 127)), { weightBits: 8, weightShift: 6 }),
      ],
    );
    const chip = compareBackends(prog, 60, 'auto', () => ({ in: Array.from({ length: nIn }, () => pick(0, 1)) }));
    expect(chip.groups[0].def.kind).toBe(GroupKind.Input);
    expect(chip.projections[0].kernelBackend).toBe('js');
    expect(chip.groups[1].wasm, 'fed by a JavaScript dense projection').not.toBeNull();
    expect(chip.projections[2].kernelBackend).toBe('wasm');
    expect(chip.groups[2].wasm, 'fed by a WebAssembly dense projection (its ring mirrored from that module)').not.toBeNull();
    expect(new Chip(prog, { backend: 'js' }).groups[1].wasm, "backend 'js' never").toBeNull();
  });

  it('restore refuses a snapshot whose delay rings exceed the bound of this Program (and one of another shape), writing nothing', () => {
    // Two programs of the same shape: 8 spiking sources onto 8 LIF neurons, weights 1 or 100. The wasm kernel of
    // the first leaves saturations out by the bound 8 · 1 of its rings; a snapshot of the second holds ring sums
    // up to 800 and must not be restored into it.
    const make = (w: number) =>
      program(
        [inputGroup('src', 8, { output: OutputMode.Binary }), group('lif', 8, { output: OutputMode.Binary, hasBasal: true, basalDecay: COEF_ONE / 4, kBasal: COEF_ONE / 8, kTotal: COEF_ONE / 8, threshold: 64 * ONE, reset: 0, refractory: 2 })],
        [projection('in', 0, 1, new Array(64).fill(w), { kind: ProjectionKind.Dense, weightBits: 8, weightShift: 0, delay: 2 })],
        { inputs: [{ name: 'src', kind: PortKind.Spikes, group: 0 }] },
      );
    const small = new Chip(make(1), { backend: 'wasm' });
    const large = new Chip(make(100), { backend: 'wasm' });
    expect(small.groups[1].wasm, 'the LIF group runs on WebAssembly').not.toBeNull();
    for (const c of [small, large]) {
      c.setInput('src', new Array(8).fill(1));
      c.step();
    }
    const before = small.snapshot();
    expect(() => small.restore(large.snapshot())).toThrow(/exceeds its bound/);
    expect(small.snapshot()).toEqual(before);
    const other = new Chip(program([inputGroup('src', 8, { output: OutputMode.Binary }), group('lif', 9, { output: OutputMode.Binary, hasBasal: true })], []), { backend: 'wasm' });
    expect(() => small.restore(other.snapshot())).toThrow(/does not belong to this program/);
    expect(small.snapshot()).toEqual(before);
    // Its own snapshots, and those of a chip of the same Program, restore.
    small.step();
    small.restore(before);
    expect(small.snapshot()).toEqual(before);
  });
});


/**
 * Cycle counts equal the documented model (docs/chip.md §12) on hand-checked cases.
 */
import { describe, expect, it } from 'vitest';
import { Chip } from '../src/emulator/chip.js';
import { CYCLES } from '../src/emulator/constants.js';
import { hops } from '../src/emulator/cycleModel.js';
import { encodeWord, Op, TERMS } from '../src/emulator/microcode.js';
import {
  Compartment,
  OutputMode,
  PortKind,
  ProbeVariable,
  ProjectionKind,
  Rounding,
  RuleTarget,
  TRACE_HP,
  TRACE_X1,
  TRACE_X2,
  Trigger,
  type Statement,
} from '../src/emulator/program.js';
import { inspectProgram } from '../src/cli/inspect.js';
import { compileRule } from '../src/models/ruleLanguage.js';
import { group, inputGroup, ONE, plastic, program, projection, sigmoidLut } from './helpers/programBuilder.js';

function twoGroups(postCore: number, withRule = false) {
  const c = compileRule('dw = 0.5 * pre.rate');
  return new Chip(
    program(
      [inputGroup('in', 1, { payloadShift: 2 }), group('n', 1, { hasBasal: true, slices: [{ core: postCore, start: 0, count: 1 }] })],
      [projection('w', 0, 1, [2048], { kind: ProjectionKind.OneToOne, plasticity: withRule ? plastic(c.statements, { fracBits: 4 }) : null })],
      { inputs: [{ name: 'in', kind: PortKind.Rate, group: 0 }] },
    ),
  );
}

describe('cycle model', () => {
  it('mesh hops are Manhattan distances on the 4 × 4 mesh', () => {
    expect(hops(0, 0)).toBe(0);
    expect(hops(0, 5)).toBe(2);
    expect(hops(3, 12)).toBe(6);
    expect(hops(15, 0)).toBe(6);
  });

  it('one core: barrier + input neuron + soma/dendrite/input conversion + one routed event', () => {
    const chip = twoGroups(0);
    chip.step(); // no input yet: no event
    // 16 barrier + 1 input latch + (4 soma + 2 dendrite + 1 conversion) = 24
    expect(chip.cyclesLastTick[0]).toBe(CYCLES.barrier + 1 + CYCLES.soma + CYCLES.dendrite + CYCLES.inputConvert);
    expect(chip.cyclesLastTick[0]).toBe(24);
    chip.setInput('in', [ONE / 2]);
    chip.step(); // one event: axon 2 + 0 hops + 1 synapse
    expect(chip.cyclesLastTick[0]).toBe(27);
    expect(Array.from(chip.cyclesLastTick).filter((c, i) => i !== 0 && c !== 0)).toEqual([]);
  });

  it('two cores: routing is charged to the source core with its hops, the synapse to the target core', () => {
    const chip = twoGroups(5);
    chip.setInput('in', [ONE / 2]);
    chip.step();
    // core 0: 16 + 1 + (2 + 1·2 hops) = 21; core 5: 16 + 7 + 1 synapse = 24
    expect(chip.cyclesLastTick[0]).toBe(21);
    expect(chip.cyclesLastTick[5]).toBe(24);
    expect(chip.criticalPathTotal).toBe(24);
  });

  it('learning: 3 + 1 per microcode op per synapse visited, on the post core', () => {
    const chip = twoGroups(0, true);
    chip.setInput('in', [ONE / 2]);
    chip.step();
    // 'dw = 0.5 * pre.rate' = TERM, MULC: 2 ops → 3 + 2 = 5 per synapse, 1 synapse
    expect(chip.cyclesLastTick[0]).toBe(27 + 5);
  });

  it('real-time factor = tickSeconds / (critical path / clock)', () => {
    const chip = twoGroups(5);
    chip.setInput('in', [ONE / 2]);
    chip.run(10);
    // 24 cycles per tick at 100 MHz = 0.24 µs per 100 µs tick → 416.67
    expect(chip.realTimeFactor()).toBeCloseTo(1e-4 / (24 / 1e8), 6);
    expect(chip.cyclesTotal[5]).toBe(240);
  });

  it('the static estimate equals the counted cycles for an always-active graded network', () => {
    const chip = twoGroups(5);
    chip.setInput('in', [ONE / 2]);
    chip.step();
    const est = chip.estimateCyclesPerTick();
    expect(est[0]).toBe(chip.cyclesLastTick[0]);
    expect(est[5]).toBe(chip.cyclesLastTick[5]);
  });

  it('neuron features add their documented costs', () => {
    const chip = new Chip(program([group('n', 10, { hasBasal: true, hasApical: true, traces: 7, noiseTarget: 2, noiseDecay: 1000, noiseGain: 1000 })], []));
    chip.step();
    // per neuron: soma 4 + dendrites 2·2 + noise (2 + 2 draws·2) + 3 traces = 17; ×10 + barrier 16
    expect(chip.cyclesLastTick[0]).toBe(10 * 17 + 16);
  });
});

// ------------------------------------------------------------------------------------------------------------------
// Hand-computed cases (docs/chip.md §12, §11.5). Every expected count below is added up from the cost table of
// §12 (barrier 16, soma 4, dendrite 2, input conversion 1, lookup 3, draw 2, noise 2, trace 1, input neuron 1,
// axon 2, hop 1, synapse 1, learning 3 + 1 per microcode instruction), written out as literals, not taken from
// the cycle-model helpers.

/** The PRNG of docs/chip.md §8.1, written out here from the text (not imported from the emulator). */
function mix32Spec(x: number): number {
  x >>>= 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}
function drawSpec(seed: number, stream: number, id: number, t: number, i: number): number {
  const key = mix32Spec(mix32Spec(seed ^ 0x9e3779b9) ^ ((stream << 24) | id));
  const tickKey = mix32Spec((key + t) >>> 0);
  return mix32Spec(tickKey ^ i);
}

const term = (name: keyof typeof TERMS) => encodeWord(Op.Term, TERMS[name]);
const stmt = (code: number[], p: Partial<Statement> = {}): Statement => ({ trigger: Trigger.Tick, epochShift: 0, target: RuleTarget.Weight, code: Int32Array.from(code), ...p });

describe('cycle model: hand-computed cases', () => {
  it('a graded group with a table: 3 per lookup, events only where the payload is non-zero', () => {
    const lut = sigmoidLut();
    // Knots at −8 + k·2^−4 (s = 12): v[128] = round(0.5·2^16) = 32768, v[0] = round(2^16 / (1 + e^8)) = 22.
    expect(lut.values[128]).toBe(32768);
    expect(lut.values[0]).toBe(22);
    // u stays at its initial value (no coupling): neuron 1 sits at −8 → r = v[0] = 22 → payload round(22, 8) = 0
    // (no event); neurons 0 and 2 at 0 → r = 32768 → payload round(32768, 8) = 128 (event).
    const chip = new Chip(
      program(
        [
          group('n', 3, { output: OutputMode.Graded, lut: 0, payloadShift: 8, initSoma: Int32Array.from([0, -8 * ONE, 0]) }),
          group('m', 2, { hasBasal: true, slices: [{ core: 1, start: 0, count: 2 }] }),
        ],
        [projection('w', 0, 1, [1, 1, 1, 1, 1, 1])],
        { luts: [lut] },
      ),
    );
    chip.step();
    expect(Array.from(chip.read('n', ProbeVariable.Rate))).toEqual([32768, 22, 32768]);
    expect(Array.from(chip.read('n', ProbeVariable.Payload))).toEqual([128, 0, 128]);
    // core 0: 16 + 3 neurons · (soma 4 + lookup 3) + 2 events · (axon 2 + 1 hop to core 1) = 16 + 21 + 6 = 43
    expect(chip.cyclesLastTick[0]).toBe(43);
    // core 1: 16 + 2 · (soma 4 + dendrite 2 + conversion 1) + 2 events · 2 synapses = 16 + 14 + 4 = 34
    expect(chip.cyclesLastTick[1]).toBe(34);
  });

  it('a rule reading post.basal_rate adds one lookup (+3) per postsynaptic neuron', () => {
    const build = (t: keyof typeof TERMS) =>
      new Chip(
        program(
          [inputGroup('in', 1), group('m', 2, { hasBasal: true, lut: 0 })],
          [projection('w', 0, 1, [100, 200], { plasticity: plastic([stmt([term(t)])]) })],
          { luts: [sigmoidLut()] },
        ),
      );
    const withBasalRate = build('post.basal_rate');
    const withRate = build('post.rate');
    withBasalRate.step();
    withRate.step();
    // No input set: no event. 16 + input neuron 1 + 2 · (soma 4 + dendrite 2 + conversion 1 + lookups) + learning
    // 2 synapses · (3 + 1 instruction) = 8.
    // post.rate: 1 lookup per neuron → 16 + 1 + 2·10 + 8 = 45; post.basal_rate: 2 lookups → 16 + 1 + 2·13 + 8 = 51.
    expect(withRate.cyclesLastTick[0]).toBe(45);
    expect(withBasalRate.cyclesLastTick[0]).toBe(51);
  });

  it('stochastic firing: one draw per neuron, and the spikes it decides are routed', () => {
    const seed = 7;
    const chip = new Chip(
      program(
        [group('s', 6, { output: OutputMode.Stochastic, lut: 0 }), group('m', 1, { hasBasal: true, slices: [{ core: 2, start: 0, count: 1 }] })],
        [projection('w', 0, 1, [1, 1, 1, 1, 1, 1])],
        { luts: [sigmoidLut()] },
        seed,
      ),
    );
    const counts: number[] = [];
    for (let t = 0; t < 8; t++) {
      chip.step();
      // §6.2: u = 0 → r = φ(0) = 32768; spike iff (draw(Spike stream = 2, id = group 0, t, j) >>> 16) < 32768
      // (refractory 0, so ref never holds a neuron back).
      let spikes = 0;
      for (let j = 0; j < 6; j++) if (drawSpec(seed, 2, 0, t, j) >>> 16 < 32768) spikes++;
      expect(chip.group('s').evCount[0]).toBe(spikes);
      counts.push(spikes);
      // core 0: 16 + 6 · (soma 4 + lookup 3 + draw 2) + spikes · (axon 2 + 2 hops to core 2)
      expect(chip.cyclesLastTick[0]).toBe(16 + 54 + 4 * spikes);
      // core 2: 16 + (4 + 2 + 1) + spikes · 1 synapse
      expect(chip.cyclesLastTick[2]).toBe(23 + spikes);
    }
    expect(new Set(counts).size).toBeGreaterThan(1); // the spike count varies, so the routing term is exercised
  });

  it('learning: 3 + 1 per instruction (not per word), +2 only for a dw statement with stochastic rounding and sa > 0', () => {
    // in (graded input, 1 neuron) → n (1 neuron, basal), one-to-one, 16-bit, weightShift 12; no input: no event.
    // Without learning: 16 + 1 + (4 + 2 + 1) = 24.
    const run = (code: number[], p: { rounding: Rounding; fracBits: number; updateShift?: number; tag?: boolean }, target = RuleTarget.Weight) => {
      const chip = new Chip(
        program(
          [inputGroup('in', 1), group('n', 1, { hasBasal: true })],
          [projection('w', 0, 1, [2048], { kind: ProjectionKind.OneToOne, plasticity: plastic([stmt(code, { target })], p) })],
        ),
      );
      chip.step();
      return chip.cyclesLastTick[0];
    };
    const mulc = [term('pre.rate'), encodeWord(Op.MulC, 24), 1 << 23]; // 3 words, 2 instructions
    const constMul = [encodeWord(Op.Const), 1 << 22, term('pre.rate'), encodeWord(Op.Mul)]; // 4 words, 3 instructions
    // sa = 24 − weightShift − fracBits + updateShift
    expect(run(mulc, { rounding: Rounding.Nearest, fracBits: 0 })).toBe(24 + 3 + 2); // sa 12, nearest
    expect(run(constMul, { rounding: Rounding.Nearest, fracBits: 0 })).toBe(24 + 3 + 3);
    expect(run(mulc, { rounding: Rounding.Stochastic, fracBits: 0 })).toBe(24 + 3 + 2 + 2); // sa 12 > 0: one draw
    expect(run(mulc, { rounding: Rounding.Stochastic, fracBits: 12 })).toBe(24 + 3 + 2); // sa 0: exact, no draw
    expect(run(mulc, { rounding: Rounding.Stochastic, fracBits: 12, updateShift: 1 })).toBe(24 + 3 + 2 + 2); // sa 1
    // A dtag statement never rounds into the accumulator: no draw.
    expect(run(mulc, { rounding: Rounding.Stochastic, fracBits: 0, tag: true }, RuleTarget.Tag)).toBe(24 + 3 + 2);
  });

  it('input groups: 1 per neuron + 1 per trace', () => {
    const chip = new Chip(
      program([inputGroup('sp', 3, { output: OutputMode.Binary, traces: TRACE_X1 | TRACE_X2 | TRACE_HP }), inputGroup('gr', 2, { traces: TRACE_X1 })], []),
    );
    chip.setInput('sp', [1, 0, 1]);
    chip.setInput('gr', [ONE, ONE]);
    chip.step();
    // 16 + 3 · (1 + 3 traces) + 2 · (1 + 1 trace) = 16 + 12 + 4 = 32 (no projection: events cost nothing)
    expect(chip.cyclesLastTick[0]).toBe(32);
  });

  it('one event reaching two destination cores pays the axon and the hops once per destination core', () => {
    const post = () => group('p', 4, { hasBasal: true, slices: [{ core: 1, start: 0, count: 2 }, { core: 5, start: 2, count: 2 }] });
    // Dense: the event of src 0 reaches p on cores 1 (1 hop) and 5 (2 hops).
    const dense = new Chip(program([inputGroup('src', 1, { output: OutputMode.Binary }), post()], [projection('w', 0, 1, [1, 1, 1, 1])]));
    dense.setInput('src', [1]);
    dense.step();
    // core 0: 16 + 1 + (2 + 1) + (2 + 2) = 24; cores 1 and 5: 16 + 2 · (4 + 2 + 1) + 2 synapses = 32
    expect([dense.cyclesLastTick[0], dense.cyclesLastTick[1], dense.cyclesLastTick[5]]).toEqual([24, 32, 32]);
    dense.step(); // no spike: 17, 30, 30
    expect([dense.cyclesLastTick[0], dense.cyclesLastTick[1], dense.cyclesLastTick[5]]).toEqual([17, 30, 30]);
    // Sparse: row 0 → p0 (core 1), p3 (core 5); row 1 → p1 (core 1): only the cores a row reaches are paid.
    const sparse = new Chip(
      program(
        [inputGroup('src', 2, { output: OutputMode.Binary }), post()],
        [projection('w', 0, 1, [1, 1, 1], { kind: ProjectionKind.Sparse, rowPtr: Uint32Array.from([0, 2, 3]), cols: Uint16Array.from([0, 3, 1]) })],
      ),
    );
    sparse.setInput('src', [1, 1]);
    sparse.step();
    // core 0: 16 + 2 + row 0 (3 + 4) + row 1 (3) = 28; core 1: 30 + 2 synapses; core 5: 30 + 1 synapse
    expect([sparse.cyclesLastTick[0], sparse.cyclesLastTick[1], sparse.cyclesLastTick[5]]).toEqual([28, 32, 31]);
    sparse.setInput('src', [0, 1]);
    sparse.step();
    // core 0: 18 + 3 = 21; core 1: 30 + 1; core 5: 30
    expect([sparse.cyclesLastTick[0], sparse.cyclesLastTick[1], sparse.cyclesLastTick[5]]).toEqual([21, 31, 30]);
  });

  it('the inspect estimate: spiking sources at the assumed activity, graded every tick, epoch(k) at 2^−k', () => {
    // sp: spiking input, 10 neurons, x1 trace (core 0); gr: graded input, 4 neurons (core 0);
    // h: binary, basal, 8 neurons: 5 on core 1, 3 on core 2, 2 incoming projections.
    // ex: sp → h dense plastic (80 synapses: 50 on core 1, 30 on core 2) with
    //   on pre: [TERM] (4 per synapse), on post: [TERM] (4), on epoch(3): [TERM, MULC] (5);
    // gi: gr → h.soma dense static (32 synapses: 20 on core 1, 12 on core 2).
    const p = program(
      [
        inputGroup('sp', 10, { output: OutputMode.Binary, traces: TRACE_X1 }),
        inputGroup('gr', 4),
        group('h', 8, { output: OutputMode.Binary, hasBasal: true, slices: [{ core: 1, start: 0, count: 5 }, { core: 2, start: 5, count: 3 }] }),
      ],
      [
        projection('ex', 0, 2, new Array(80).fill(1), {
          plasticity: plastic([
            stmt([term('pre.x1')], { trigger: Trigger.Pre }),
            stmt([term('pre.rate')], { trigger: Trigger.Post }),
            stmt([term('pre.rate'), encodeWord(Op.MulC, 24), 1 << 23], { trigger: Trigger.Epoch, epochShift: 3 }),
          ]),
        }),
        projection('gi', 1, 2, new Array(32).fill(1), { target: Compartment.Soma }),
      ],
    );
    // Static: core 0: 16 + 10 · (1 + 1) + 4 · 1 = 40; core 1: 16 + 5 · (4 + 2 + 2) = 56; core 2: 16 + 3 · 8 = 40.
    // Per tick at activity α (sp and h fire with probability α; gr sends every tick):
    //   core 0: routing ex: 10·α·((2 + 1 hop) + (2 + 2 hops)) = 70α; gi: 4 · 7 = 28          → 68 + 70α
    //   core 1: synapses 50α + 20; learning pre 50·4·α + post 50·4·α + epoch 50·5/8          → 107.25 + 450α
    //   core 2: synapses 30α + 12; learning pre 30·4·α + post 30·4·α + epoch 30·5/8          → 70.75 + 270α
    const expected = (a: number) => [68 + 70 * a, 107.25 + 450 * a, 70.75 + 270 * a];
    const chip = new Chip(p);
    for (const a of [0.02, 0.1]) {
      const est = chip.estimateCyclesPerTick(a);
      expected(a).forEach((v, c) => expect(est[c]).toBeCloseTo(v, 9));
      expect(Array.from(est.subarray(3))).toEqual(new Array(13).fill(0));
    }
    // The default activity is 0.02.
    expect(Array.from(chip.estimateCyclesPerTick())).toEqual(Array.from(chip.estimateCyclesPerTick(0.02)));
    // `apical inspect` reports the estimate rounded per core, and its largest value as the critical path.
    const report = inspectProgram(p, 0.1).json as { spikeActivityAssumed: number; criticalPathCyclesPerTick: number; cores: { core: number; cyclesPerTick: number }[] };
    expect(report.spikeActivityAssumed).toBe(0.1);
    expect(report.cores.map((c) => [c.core, c.cyclesPerTick])).toEqual([
      [0, 75], // 68 + 7
      [1, 152], // 107.25 + 45
      [2, 98], // 70.75 + 27 = 97.75
    ]);
    expect(report.criticalPathCyclesPerTick).toBe(152);
  });
});

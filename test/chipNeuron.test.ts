/**
 * Each integer operation of the neuron pipeline (docs/chip.md §5–§9) against values computed by hand.
 */
import { describe, expect, it } from 'vitest';
import { Chip } from '../src/emulator/chip.js';
import { Compartment, NoiseTarget, NudgeSource, OutputMode, ProjectionKind, TRACE_HP, TRACE_X1, ProbeVariable } from '../src/emulator/program.js';
import { COEF_ONE, group, inputGroup, ONE, program, projection, sigmoidLut } from './helpers/programBuilder.js';

/** in (1 graded input, payload shift 2) → one-to-one w → n (basal, instantaneous). */
function oneNeuron(p: Parameters<typeof group>[2] = {}, w = 2048) {
  const prog = program(
    [inputGroup('in', 1, { payloadShift: 2 }), group('n', 1, { hasBasal: true, kBasal: 104858, kTotal: 115343, ...p })],
    [projection('w', 0, 1, [w], { kind: ProjectionKind.OneToOne, weightShift: 12 })],
  );
  return new Chip(prog);
}

describe('soma update (§5.4)', () => {
  it('relaxes towards the basal input with kB = 0.1, kT = 0.11 per tick', () => {
    const chip = oneNeuron();
    chip.setInput('in', [ONE / 2]); // rate 0.5 → payload round(32768 / 4) = 8192 (Q1.14)
    chip.step(); // tick 0: the event is routed; it arrives at tick 1 (delay 1)
    expect(chip.read('n', ProbeVariable.Basal)[0]).toBe(0);
    expect(chip.read('n', ProbeVariable.Soma)[0]).toBe(0);
    chip.step(); // tick 1
    // ring = 2048 · 8192 = 16777216; shift = 12 + 14 − 16 = 10 → v_B = 16384 (0.25)
    expect(chip.read('n', ProbeVariable.Basal)[0]).toBe(16384);
    // D = r12(104858 · 16384) − r12(115343 · 0) = 1717993472 / 4096 = 419432 ; u = r8(419432) = 1638.40625 → 1638
    expect(chip.read('n', ProbeVariable.Soma)[0]).toBe(1638);
    chip.step(); // tick 2
    // D = 419432 − r12(115343 · 1638 = 188931834 → 46125.94 → 46126) = 373306 ; u = 1638 + r8(373306 = 1458.23 → 1458) = 3096
    expect(chip.read('n', ProbeVariable.Soma)[0]).toBe(3096);
  });

  it('prospective voltage ŭ = u + (τ/Δt)·D uses the unrounded increment', () => {
    const chip = oneNeuron({ prospectiveGain: 5 * 256 });
    chip.setInput('in', [ONE / 2]);
    chip.run(2);
    // ŭ = 0 + r16(1280 · 419432 = 536872960 → 8192.02) = 8192 (0.125 = 5 · 0.025)
    expect(chip.read('n', ProbeVariable.Prospective)[0]).toBe(8192);
    expect(chip.read('n', ProbeVariable.Soma)[0]).toBe(1638);
  });

  it('nudging from a target port adds kN·u_N and kN to the total only while a target is held', () => {
    const prog = program([group('n', 1, { kTotal: 0, kNudge: COEF_ONE / 2, nudge: NudgeSource.Target })], []);
    const chip = new Chip(prog);
    chip.step();
    expect(chip.read('n', ProbeVariable.Soma)[0]).toBe(0);
    chip.setInput('n.target', [ONE]);
    chip.step();
    // D = r12(524288 · 65536) − r12(524288 · 0) = 8388608 ; u = r8 = 32768
    expect(chip.read('n', ProbeVariable.Soma)[0]).toBe(32768);
    chip.step();
    // D = 8388608 − r12(524288 · 32768 = 4194304) = 4194304 ; u = 32768 + 16384 = 49152
    expect(chip.read('n', ProbeVariable.Soma)[0]).toBe(49152);
    chip.clearTarget('n.target');
    chip.step(); // kT = 0 without the nudge: u holds
    expect(chip.read('n', ProbeVariable.Soma)[0]).toBe(49152);
  });

  it('a teacher nudge reads the teacher soma latched at the end of the previous tick', () => {
    const prog = program(
      [group('s', 1, { kTotal: 0, kNudge: COEF_ONE, nudge: NudgeSource.Teacher, teacher: 1 }), group('t', 1, { initSoma: Int32Array.from([ONE]) })],
      [],
    );
    const chip = new Chip(prog);
    chip.step();
    // kT = kN = 1.0: u = u + (u_N − u) = teacher's 1.0
    expect(chip.read('s', ProbeVariable.Soma)[0]).toBe(ONE);
  });
});

describe('dendrites (§5.2)', () => {
  it('a leaky dendrite decays by r20(k·v) and adds the new input', () => {
    const chip = oneNeuron({ basalDecay: COEF_ONE / 4 });
    chip.setInput('in', [ONE / 2]);
    chip.run(2);
    expect(chip.read('n', ProbeVariable.Basal)[0]).toBe(16384);
    chip.setInput('in', [0]);
    chip.step(); // tick 2: the tick-1 event of 0.5 still arrives (delay 1)
    // v = 16384 − r20(262144 · 16384 = 4096) + 16384 = 28672
    expect(chip.read('n', ProbeVariable.Basal)[0]).toBe(28672);
    chip.step(); // no input: v = 28672 − 7168 = 21504
    expect(chip.read('n', ProbeVariable.Basal)[0]).toBe(21504);
  });

  it('a 3-tick delay delivers at t + 3', () => {
    const prog = program(
      [inputGroup('in', 1, { payloadShift: 2 }), group('n', 1, { hasBasal: true })],
      [projection('w', 0, 1, [4096], { kind: ProjectionKind.OneToOne, delay: 3 })],
    );
    const chip = new Chip(prog);
    chip.setInput('in', [ONE]);
    chip.step();
    chip.setInput('in', [0]);
    const seen: number[] = [];
    for (let t = 1; t < 6; t++) {
      chip.step();
      seen.push(chip.read('n', ProbeVariable.Basal)[0]);
    }
    // 1.0 · 1.0 arrives at tick 3 only
    expect(seen).toEqual([0, 0, ONE, 0, 0]);
  });

  it('weights × payloads from several projections sum exactly before one rounding each', () => {
    const prog = program(
      [inputGroup('a', 2, { payloadShift: 4 }), group('n', 1, { hasBasal: true, hasApical: true })],
      [
        projection('w1', 0, 1, [3, 5], { weightShift: 3, target: Compartment.Basal }),
        projection('w2', 0, 1, [-7, 1], { weightShift: 1, target: Compartment.Apical, weightBits: 8 }),
      ],
    );
    const chip = new Chip(prog);
    chip.setInput('a', [ONE / 3 | 0, ONE * 2]); // payloads round(21845/16 = 1365.3) = 1365, 8192 (Q3.12)
    chip.run(2);
    // basal: (3·1365 + 5·8192) = 45055; shift 3 + 12 − 16 = −1 → ×2 = 90110
    expect(chip.read('n', ProbeVariable.Basal)[0]).toBe(90110);
    // apical: (−7·1365 + 8192) = −1363; shift 1 + 12 − 16 = −3 → ×8 = −10904
    expect(chip.read('n', ProbeVariable.Apical)[0]).toBe(-10904);
  });
});

describe('outputs (§6)', () => {
  it('binary: spike at threshold, reset, hold for the refractory ticks', () => {
    const prog = program(
      [group('n', 1, { output: OutputMode.Binary, kTotal: 0, threshold: ONE, reset: -ONE, refractory: 2, initSoma: Int32Array.from([ONE]) })],
      [],
    );
    const chip = new Chip(prog);
    chip.step();
    expect(chip.group('n').spike[0]).toBe(1);
    expect(chip.read('n', ProbeVariable.Soma)[0]).toBe(-ONE);
    chip.step();
    chip.step();
    expect(chip.group('n').ref![0]).toBe(0);
  });

  it('stochastic: probability from the table, never two spikes within the refractory period', () => {
    const lut = sigmoidLut();
    const prog = program([group('n', 200, { output: OutputMode.Stochastic, lut: 0, refractory: 3, initSoma: new Int32Array(200).fill(0) })], [], { luts: [lut] });
    const chip = new Chip(prog);
    const last = new Int32Array(200).fill(-100);
    let spikes = 0;
    for (let t = 0; t < 400; t++) {
      chip.step();
      const g = chip.group('n');
      for (let j = 0; j < 200; j++) {
        if (g.spike[j]) {
          expect(t - last[j]).toBeGreaterThan(3);
          last[j] = t;
          spikes++;
        }
      }
    }
    // p = φ(0) = 0.5 per free tick; with 3 dead ticks after each spike the rate is 1 / (2 + 3) = 0.2
    expect(spikes / (200 * 400)).toBeGreaterThan(0.18);
    expect(spikes / (200 * 400)).toBeLessThan(0.22);
  });

  it('graded: payload = round(φ(ŭ) / 2^s)', () => {
    const lut = sigmoidLut();
    const prog = program([group('n', 1, { output: OutputMode.Graded, lut: 0, payloadShift: 4, initSoma: Int32Array.from([0]) })], [], { luts: [lut] });
    const chip = new Chip(prog);
    chip.step();
    expect(chip.read('n', ProbeVariable.Rate)[0]).toBe(32768); // φ(0) knot = round(0.5·65536)
    expect(chip.read('n', ProbeVariable.Payload)[0]).toBe(2048); // 32768 / 16
  });
});

describe('noise and traces (§8.3, §9)', () => {
  it('OU noise has the requested stationary standard deviation and is injected only into its target', () => {
    const tau = 10;
    const sigma = 0.05;
    const s = sigma * Math.sqrt(2 / tau - 1 / tau ** 2);
    const gain = Math.round((s * 65536 * 2 ** 24) / 37837.22786);
    const prog = program([group('n', 500, { hasApical: true, noiseTarget: NoiseTarget.Apical, noiseDecay: COEF_ONE / tau, noiseGain: gain })], []);
    const chip = new Chip(prog);
    chip.run(50);
    let s2 = 0;
    let count = 0;
    for (let t = 0; t < 200; t++) {
      chip.step();
      const xi = chip.group('n').xi!;
      for (let j = 0; j < 500; j++) s2 += (xi[j] / ONE) ** 2;
      count += 500;
    }
    expect(Math.sqrt(s2 / count)).toBeGreaterThan(sigma * 0.93);
    expect(Math.sqrt(s2 / count)).toBeLessThan(sigma * 1.07);
    expect(chip.read('n', ProbeVariable.Apical).every((v) => v === 0)).toBe(true);
  });

  it('spike trace decays by r20(k·x) and jumps by the impulse; the high-pass rate follows Δr', () => {
    const prog = program(
      [inputGroup('in', 1, { output: OutputMode.Binary, traces: TRACE_X1 | TRACE_HP, x1Decay: COEF_ONE / 8, x1Impulse: ONE, hpDecay: COEF_ONE / 4 })],
      [],
    );
    const chip = new Chip(prog);
    chip.setInput('in', [1]);
    chip.step();
    const g = chip.group('in');
    expect(g.x1![0]).toBe(ONE); // 0 − 0 + 1.0
    expect(g.hp![0]).toBe(ONE); // Δr = 1.0
    chip.step(); // no spike
    expect(g.x1![0]).toBe(ONE - ONE / 8); // 57344
    expect(g.hp![0]).toBe(ONE - ONE - ONE / 4); // hp + (0 − 1) − hp/4 = −16384
  });
});

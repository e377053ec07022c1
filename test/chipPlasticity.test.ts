/**
 * The plasticity engine (docs/chip.md §11) against hand-computed values.
 */
import { describe, expect, it } from 'vitest';
import { Chip } from '../src/emulator/chip.js';
import { lutEval } from '../src/emulator/lut.js';
import { OutputMode, PortKind, ProjectionKind, Rounding } from '../src/emulator/program.js';
import { compileRule } from '../src/models/ruleLanguage.js';
import { COEF_ONE, group, inputGroup, ONE, plastic, program, projection, sigmoidLut } from './helpers/programBuilder.js';


/** in (1 graded) → n (1 neuron, basal) with one plastic dense synapse. */
function single(src: string, p: { weight?: number; weightShift?: number; fracBits?: number; rounding?: Rounding; lowpass?: number; weightBits?: number; updateShift?: number } = {}) {
  const c = compileRule(src);
  const prog = program(
    [inputGroup('in', 1, { payloadShift: 2 }), group('n', 1, { hasBasal: true })],
    [
      projection('w', 0, 1, [p.weight ?? 100], {
        weightShift: p.weightShift ?? 12,
        weightBits: p.weightBits ?? 16,
        plasticity: plastic(c.statements, { fracBits: p.fracBits ?? 4, rounding: p.rounding, lowpass: p.lowpass, tag: c.usesTag, source: src, updateShift: p.updateShift }),
      }),
    ],
    {
      inputs: [
        { name: 'in', kind: PortKind.Rate, group: 0 },
        { name: 'reward', kind: PortKind.Reward, group: -1 },
      ],
    },
  );
  return new Chip(prog);
}

describe('weight updates through the accumulator (§11.4)', () => {
  it('dw = 0.5 * pre.rate: Δ = 0.25 (Q24 4194304), sa = 24 − 12 − 4 = 8 → δ = 16384, w = round(acc / 16)', () => {
    const chip = single('dw = 0.5 * pre.rate');
    chip.setInput('in', [ONE / 2]);
    chip.step();
    const p = chip.projection('w');
    expect(p.wacc![0]).toBe(100 * 16 + 16384); // 17984
    expect(p.w[0]).toBe(1124); // round(17984 / 16) = 1124 = 0.2744 · 4096
  });

  it('updateShift 8 applies Δ/256: dw = 0.5 * pre.rate → sa = 24 − 12 − 4 + 8 = 16 → δ = 64', () => {
    const chip = single('dw = 0.5 * pre.rate', { updateShift: 8 });
    chip.setInput('in', [ONE / 2]);
    chip.step();
    const p = chip.projection('w');
    expect(p.wacc![0]).toBe(100 * 16 + 64); // 0.25/256 real = 64 units of 2^-16
    expect(p.w[0]).toBe(104); // round(1664 / 16)
  });

  it('updateShift with the low-pass: the low-pass state keeps the scaled Δ, the weight moves by lo/2^u', () => {
    // k_LO = 2^20/4 (τ 4 ticks): lo = Δ/4 after one tick. Δ = 2^-4 real (Q24 2^20), u = 6, fracBits 4:
    // lo = 2^18 (Q24), sa = 24 − 12 − 4 + 6 = 14 → δ = round(2^18 / 2^14) = 16 accumulator units = 1 LSB.
    const chip = single('dw = 2^-4', { updateShift: 6, lowpass: 2 ** 18, weight: 0 });
    chip.step();
    const p = chip.projection('w');
    expect(p.lo![0]).toBe(2 ** 18);
    expect(p.wacc![0]).toBe(16);
    expect(p.w[0]).toBe(1);
  });

  it('saturates the accumulator at the weight range instead of wrapping', () => {
    const chip = single('dw = 100', { weight: 32000 });
    chip.run(3);
    const p = chip.projection('w');
    expect(p.w[0]).toBe(32767);
    expect(p.wacc![0]).toBe(32767 * 16);
    const down = single('dw = -100', { weight: -32000, weightBits: 16 });
    down.run(3);
    expect(down.projection('w').w[0]).toBe(-32768);
  });

  it('8-bit weights saturate at 127', () => {
    const chip = single('dw = 100', { weight: 120, weightBits: 8, weightShift: 4, fracBits: 8 });
    chip.run(2);
    expect(chip.projection('w').w[0]).toBe(127);
  });

  it('updates far below one LSB accumulate exactly with enough fracBits', () => {
    // 16-bit weight, shift 12, fracBits 15: sa = −3, so Δ·8 is added exactly. Δ = 2^-20 (Q24 16) per tick.
    const chip = single('dw = 2^-20', { weight: 0, fracBits: 15 });
    chip.run(4096);
    const p = chip.projection('w');
    expect(p.wacc![0]).toBe(4096 * 16 * 8); // 2^19
    expect(p.w[0]).toBe(16); // 4096 · 2^-20 = 2^-8 real = 16 LSB of 2^-12
  });

  it('stochastic rounding is unbiased: Δ = 1/4 LSB per tick moves w by ≈ ticks/4', () => {
    // weightShift 4, fracBits 0: sa = 20; Δ = 2^-6 real = 2^18 Q24 = 0.25 · 2^20.
    const n = 64;
    const c = compileRule('dw = 2^-6');
    const prog = program(
      [inputGroup('in', 8), group('n', 8, { hasBasal: true })],
      [projection('w', 0, 1, new Array(n).fill(0), { weightShift: 4, plasticity: plastic(c.statements, { fracBits: 0, rounding: Rounding.Stochastic }) })],
    );
    const chip = new Chip(prog);
    chip.run(4000);
    const w = Array.from(chip.projection('w').w);
    const mean = w.reduce((a, b) => a + b, 0) / n;
    // Binomial(4000, 1/4): mean 1000, σ ≈ 27.4; mean of 64 has σ ≈ 3.4.
    expect(mean).toBeGreaterThan(985);
    expect(mean).toBeLessThan(1015);
    for (const x of w) expect(Math.abs(x - 1000)).toBeLessThan(6 * 27.4);
    expect(new Set(w).size).toBeGreaterThan(10); // synapses draw independently
  });

  it('the low-pass filter lo ← lo + r20(k·(Δ − lo)) feeds the weight', () => {
    // k = 0.5; Δ = 2^16 (Q24, 1/256); fracBits 15 → sa = −3.
    const chip = single('dw = 2^-8', { weight: 0, fracBits: 15, lowpass: COEF_ONE / 2 });
    chip.step();
    const p = chip.projection('w');
    expect(p.lo![0]).toBe(32768);
    expect(p.wacc![0]).toBe(32768 * 8);
    expect(p.w[0]).toBe(8); // round(262144 / 32768)
    chip.step();
    expect(p.lo![0]).toBe(49152); // 32768 + r20(524288 · 32768) = 32768 + 16384
    expect(p.w[0]).toBe(20); // (262144 + 393216) / 32768 = 20
  });

  it('tag + reward + epoch(2): dtag accumulates every tick, dw = reward·tag at the end of each epoch', () => {
    const chip = single('dtag = pre.rate\non epoch(2): dw = reward * syn.tag', { weight: 0, fracBits: 12 });
    chip.setInput('in', [ONE / 2]);
    chip.setInput('reward', [ONE / 4]);
    chip.run(3);
    const p = chip.projection('w');
    expect(p.tag![0]).toBe(3 * 8388608);
    expect(p.w[0]).toBe(0); // ticks 0, 1, 2: (t + 1) mod 4 ≠ 0
    chip.step(); // tick 3: tag = 2.0, dw = 0.25 · 2.0 = 0.5 → sa = 0 → wacc += 8388608, w = round(/4096) = 2048
    expect(p.tag![0]).toBe(4 * 8388608);
    expect(p.w[0]).toBe(2048);
  });

  it('post.basal_rate is φ(r20(basalPredGain · v_B))', () => {
    const lut = sigmoidLut();
    const c = compileRule('dtag = post.basal_rate');
    const prog = program(
      [inputGroup('in', 1, { payloadShift: 2 }), group('n', 1, { hasBasal: true, lut: 0, basalPredGain: COEF_ONE / 2 })],
      [
        projection('fwd', 0, 1, [2048], { kind: ProjectionKind.OneToOne }),
        projection('w', 0, 1, [0], { plasticity: plastic(c.statements, { tag: true }) }),
      ],
      { luts: [lut] },
    );
    const chip = new Chip(prog);
    chip.setInput('in', [ONE / 2]);
    chip.run(2); // v_B = 16384 from tick 1
    const phi0 = lutEval(lut.values, lut.xMin, lut.stepShift, 0);
    const phi = lutEval(lut.values, lut.xMin, lut.stepShift, 8192); // r20(524288 · 16384) = 8192
    expect(chip.projection('w').tag![0]).toBe(256 * (phi0 + phi));
  });
});

describe('event triggers (§11.1)', () => {
  /** pre: 2 spiking inputs; post: 2 binary neurons, neuron 0 spikes at tick 0 (u starts at threshold). */
  function triggered(kind: ProjectionKind) {
    const c = compileRule('on pre: dw = 2^-4\non post: dw = -2^-3');
    const pl = plastic(c.statements, { fracBits: 12 });
    const proj =
      kind === ProjectionKind.Sparse
        ? projection('w', 0, 1, [0, 0, 0], { kind, rowPtr: Uint32Array.from([0, 2, 3]), cols: Uint16Array.from([0, 1, 1]), plasticity: pl })
        : projection('w', 0, 1, [0, 0, 0, 0], { kind, plasticity: pl });
    const prog = program(
      [
        inputGroup('in', 2, { output: OutputMode.Binary }),
        group('n', 2, { hasBasal: true, output: OutputMode.Binary, threshold: ONE, refractory: 100, initSoma: Int32Array.from([ONE, 0]) }),
      ],
      [proj],
    );
    const chip = new Chip(prog);
    chip.setInput('in', [1, 0]);
    chip.step(); // pre 0 and post 0 spike
    chip.setInput('in', [0, 1]);
    chip.step(); // pre 1 spikes
    return Array.from(chip.projection('w').w);
  }

  it('sparse: on pre visits the row, on post the column', () => {
    // synapses (0→0), (0→1), (1→1): +1/16 at (0→0), (0→1) then −1/8 at (0→0); +1/16 at (1→1). 1/16 = 256.
    expect(triggered(ProjectionKind.Sparse)).toEqual([-256, 256, 256]);
  });

  it('dense (post-major k = j·N + i): the same rule on all four synapses', () => {
    // k0 = (0→0): +256 − 512; k1 = (1→0): −512 + 256; k2 = (0→1): +256; k3 = (1→1): +256
    expect(triggered(ProjectionKind.Dense)).toEqual([-256, -256, 256, 256]);
  });

});

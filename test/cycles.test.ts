/**
 * Cycle counts equal the documented model (docs/chip.md §12) on hand-checked cases.
 */
import { describe, expect, it } from 'vitest';
import { Chip } from '../src/emulator/chip.js';
import { CYCLES } from '../src/emulator/constants.js';
import { hops } from '../src/emulator/cycleModel.js';
import { PortKind, ProjectionKind } from '../src/emulator/program.js';
import { compileRule } from '../src/models/ruleLanguage.js';
import { group, inputGroup, ONE, plastic, program, projection } from './helpers/programBuilder.js';

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

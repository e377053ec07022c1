/**
 * Spike-based Alignment Learning on two reciprocally coupled stochastic neurons (src/models/circuits/sal.ts,
 * docs/circuits.md "SAL"), on the bit-exact emulator with the default exponential PSP, τ_ref = 25 and the
 * per-event η = lr/(2τ_ref) = 0.03/50 = 6e-4.
 *
 * Every run is deterministic (chip seed), so the trajectories quoted in the comments are what these runs
 * produce today. The tick counts were chosen from measured trajectories of seeds 1 and 2 (docs/circuits.md).
 */
import { describe, expect, it } from 'vitest';
import { Chip } from '../src/emulator/chip.js';
import { buildSalPair, salWeight, type SalPairConfig } from '../src/models/circuits/sal.js';
import { compileNetwork } from '../src/models/compiler.js';

function run(config: SalPairConfig, ticks: number, every: number): { w: number[]; b: number[]; chip: Chip } {
  const { network } = buildSalPair(config);
  const chip = new Chip(compileNetwork(network).program, { digests: false });
  chip.setInput('bias', [1]);
  const w: number[] = [salWeight(chip, 'W')];
  const b: number[] = [salWeight(chip, 'B')];
  for (let t = 0; t < ticks; t += every) {
    chip.run(every);
    w.push(salWeight(chip, 'W'));
    b.push(salWeight(chip, 'B'));
  }
  return { w, b, chip };
}

const W = 1.5;
const B0 = -1.0;

describe('SAL pair (exponential PSP, τ_ref = 25, η = 6e-4 per event)', () => {
  it('builds two stochastic neurons with refractoriness 25, SAL on B only, W fixed', () => {
    const { network, layout } = buildSalPair({});
    const { program } = compileNetwork(network);
    expect(program.body.projections.map((p) => `${p.name}${p.plasticity ? '*' : ''}`)).toEqual(['bias_i', 'bias_j', 'W', 'B*']);
    expect(layout.rules.B).toBe('on post: dw = -0.0006 * pre.x1\non pre: dw = 0.0006 * post.x1');
    for (const g of program.body.groups.filter((x) => x.name === 'i' || x.name === 'j')) expect(g.refractory).toBe(25);
  });

  // Measured B every 500k ticks (seed: trajectory):
  //   1: −1.00, 0.32, 0.98, 1.28, 1.38, 1.35, 1.42
  //   2: −1.00, 0.36, 1.00, 1.26, 1.34, 1.43, 1.45
  //   3: −1.00, 0.30, 0.87, 1.21, 1.27, 1.44, 1.39   (seed 3 was not used to choose the 3M ticks)
  // The restoring drift around B = W is weak with the chip's exponential PSP and B > ≈ 1.9 runs away
  // (docs/circuits.md "SAL"), so these runs are a measurement of this configuration, not a margin-rich bound.
  it.each([1, 2, 3])('one-sided (seed %i): B goes from −1 to within 10 percent of W = 1.5 in 3M ticks', (seed) => {
    const { b, w } = run({ w: W, b: B0, chipSeed: seed }, 3_000_000, 500_000);
    console.log(`SAL one-sided seed ${seed}: B = ${b.map((x) => x.toFixed(3)).join(', ')}`);
    expect(w.every((x) => x === W)).toBe(true);
    expect(Math.abs(b.at(-1)! - W)).toBeLessThan(0.1 * W);
  }, 60_000);

  it('control: with η = 0 B stays at −1', () => {
    const { b } = run({ w: W, b: B0, eta: 0, chipSeed: 1 }, 500_000, 500_000);
    expect(b).toEqual([B0, B0]);
  }, 60_000);

  // Measured every 250k ticks (seed 1): W = 1.50, 0.92, 0.58, 0.39, 0.33, 0.31, 0.27, 0.26, 0.22;
  //                                     B = −1.00, −0.42, −0.08, 0.11, 0.17, 0.19, 0.23, 0.24, 0.28.
  it('two-sided: W and B (1.5 and −1) approach each other, their sum is conserved', () => {
    const { b, w } = run({ w: W, b: B0, sides: 'two', chipSeed: 1 }, 2_000_000, 250_000);
    console.log(`SAL two-sided seed 1: W = ${w.map((x) => x.toFixed(3)).join(', ')}; B = ${b.map((x) => x.toFixed(3)).join(', ')}`);
    expect(Math.abs(w.at(-1)! - b.at(-1)!)).toBeLessThan(0.1 * (W - B0));
    for (let k = 0; k < w.length; k++) expect(Math.abs(w[k] + b[k] - (W + B0))).toBeLessThan(0.01);
  }, 60_000);
});

// The chip's exponential PSP versus the reference's rectangular one (built from a non-leaky dendrite and a
// −w copy delayed by τ_syn). Measured drift of B per tick per unit η (W = 1.5, B fixed, 2M ticks):
//   exponential: B = 1.25: +5.0e-4, 1.5: −0.3e-4, 1.75: −1.6e-4, 2.0: +1.3e-4, 2.25: +6.8e-4, 2.5: +15.4e-4 (±1.5e-4)
//   rectangular: B = 1.25: +8.3e-4, 1.5: −1.2e-4, 1.75: −12.7e-4, 2.0: −24.0e-4, 3: −43e-4, 6: −55e-4 (±2e-4, 1M ticks)
describe('SAL pair: exponential versus rectangular PSP above B = W', () => {
  // Measured B every 250k ticks: 2.50, 2.75, 3.15, 3.76, 4.46 (exponential, seed 1).
  it('exponential PSP: from B = 2.5 (> the unstable fixed point ≈ 1.9) B runs away from W', () => {
    const { b } = run({ w: W, b: 2.5, chipSeed: 1 }, 1_000_000, 250_000);
    for (let k = 1; k < b.length; k++) expect(b[k]).toBeGreaterThan(b[k - 1]);
    expect(b.at(-1)!).toBeGreaterThan(4);
  }, 60_000);

  // Measured B every 250k ticks: 3.00, 2.42, 1.95, 1.72, 1.59, 1.57, 1.52 (rectangular, seed 1).
  it('rectangular PSP (reference kernel): from B = 3 B returns to within 10 percent of W, the −B copy stays −B', () => {
    const { b, chip } = run({ w: W, b: 3, psp: 'rectangular', chipSeed: 1 }, 1_500_000, 250_000);
    expect(Math.abs(b.at(-1)! - W)).toBeLessThan(0.1 * W);
    // Accumulators are exact negatives (Δ is added unrounded); the 16-bit weights may differ by a rounding tie.
    expect(Math.abs(b.at(-1)! + salWeight(chip, 'B_off'))).toBeLessThanOrEqual(2 ** -chip.projection('B').def.weightShift);
  }, 60_000);
});

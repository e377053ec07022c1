/**
 * The generic STDP and reward-modulated STDP rules (src/models/circuits/stdp.ts) on the chip: the sign of the
 * weight change follows the spike order, and R-STDP changes weights only under a reward, with its sign.
 */
import { describe, expect, it } from 'vitest';
import { Chip } from '../src/emulator/chip.js';
import { compileNetwork } from '../src/models/compiler.js';
import { Network, NetworkError } from '../src/models/network.js';
import { rewardStdpRule, stdpRule } from '../src/models/circuits/stdp.js';

const ONE = 65536;

/**
 * pre (spiking input) → post (one LIF neuron) through the plastic weight `w` (too weak to make it fire), and a
 * `kick` input whose one-to-one weight makes post fire in the tick after a kick spike. Returns w (real) after
 * the pairing: a pre spike at tick `preAt`, a kick at tick `kickAt`, then `after` quiet ticks.
 */
function pairing(rule: string, preAt: number, kickAt: number, opts: { reward?: number; after?: number } = {}): { w0: number; w: number } {
  const net = new Network('stdp-pair', { seed: 3 });
  net.input('pre', 1, { coding: 'spikes', traces: { x1: { tau: 10 } } });
  net.input('kick', 1, { coding: 'spikes' });
  net.population('post', 1, { output: 'binary', basal: true, soma: { kBasal: 1, kTotal: 1 }, threshold: 0.5, reset: 0, refractory: 0, traces: { x1: { tau: 10 } } });
  net.project('w', 'pre', 'post', { weights: [0.1], weightBits: 16, weightRange: 2, plasticity: { rule, rounding: 'nearest' } });
  net.project('k', 'kick', 'post', { kind: 'oneToOne', weights: [1], weightBits: 16, weightRange: 2 });
  const { program } = compileNetwork(net);
  const chip = new Chip(program);
  const shift = program.body.projections.find((p) => p.name === 'w')!.weightShift;
  const w0 = chip.projection('w').w[0] * 2 ** -shift;
  if (opts.reward !== undefined) chip.setInput('reward', [Math.round(opts.reward * ONE)]);
  const end = Math.max(preAt, kickAt) + (opts.after ?? 30);
  for (let t = 0; t < end; t++) {
    chip.setInput('pre', [t === preAt ? 1 : 0]);
    chip.setInput('kick', [t === kickAt ? 1 : 0]);
    chip.step();
  }
  return { w0, w: chip.projection('w').w[0] * 2 ** -shift };
}

describe('pair STDP', () => {
  const rule = stdpRule({ aPlus: 0.01, aMinus: 0.012 });

  it('pre before post potentiates, post before pre depresses, and closer pairs change more', () => {
    const ltp = pairing(rule, 5, 8);
    const ltpFar = pairing(rule, 5, 20);
    const ltd = pairing(rule, 12, 5);
    console.log('STDP Δw: pre→post +3 ticks', ltp.w - ltp.w0, '+15 ticks', ltpFar.w - ltpFar.w0, 'post→pre', ltd.w - ltd.w0);
    expect(ltp.w).toBeGreaterThan(ltp.w0);
    expect(ltd.w).toBeLessThan(ltd.w0);
    expect(ltp.w - ltp.w0).toBeGreaterThan(ltpFar.w - ltpFar.w0);
    expect(ltpFar.w).toBeGreaterThan(ltpFar.w0);
  });

  it('rejects negative amplitudes', () => {
    expect(() => stdpRule({ aPlus: -1, aMinus: 0 })).toThrow(NetworkError);
  });
});

describe('reward-modulated STDP', () => {
  const rule = rewardStdpRule({ aPlus: 0.05, aMinus: 0.05, tauEligibility: 20, eta: 0.05 });

  it('without reward the weight does not move; with reward it follows reward × the pairing sign', () => {
    const none = pairing(rule, 5, 8, { reward: 0 });
    expect(none.w).toBe(none.w0);
    const plus = pairing(rule, 5, 8, { reward: 1 });
    const minus = pairing(rule, 5, 8, { reward: -1 });
    const anti = pairing(rule, 12, 5, { reward: 1 });
    expect(plus.w).toBeGreaterThan(plus.w0);
    expect(minus.w).toBeLessThan(minus.w0);
    expect(anti.w).toBeLessThan(anti.w0);
  });
});

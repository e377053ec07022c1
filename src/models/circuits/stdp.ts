/**
 * Generic spike-timing rules for the chip's plasticity engine (docs/chip.md §11), as rule-language text: the
 * baselines next to the learning circuits.
 *
 * Pair-based STDP with exponential traces (all-to-all pairing; the pre trace x1 of the presynaptic group and the
 * post trace x1 of the postsynaptic group, each +1 per spike and decaying with its own τ, set on the groups with
 * `traces: { x1: { tau } }`):
 *
 *   on post: dw = +A₊ · pre.x1          a presynaptic spike before the postsynaptic one potentiates
 *   on pre:  dw = −A₋ · post.x1         a postsynaptic spike before the presynaptic one depresses
 *
 * Reward-modulated STDP (eligibility trace in the synapse's tag, the reward a global host input):
 *
 *   on post: dtag = +A₊ · pre.x1
 *   on pre:  dtag = −A₋ · post.x1
 *   on tick: dtag = −(1/τ_e) · syn.tag          the eligibility decays with τ_e ticks
 *   on tick: dw   = η · reward · syn.tag        weights move only while the reward input is non-zero
 */
import { NetworkError } from '../network.js';
import { ruleConstant } from './microcircuit.js';

export interface StdpParameters {
  /** Potentiation per pre-before-post pair at zero delay (weight units). */
  aPlus: number;
  /** Depression per post-before-pre pair at zero delay (weight units, ≥ 0). */
  aMinus: number;
}

export interface RewardStdpParameters extends StdpParameters {
  /** Eligibility decay time constant (ticks, ≥ 1). */
  tauEligibility: number;
  /** Learning rate applied to reward · eligibility every tick. */
  eta: number;
}

function check(p: StdpParameters): void {
  if (!(Number.isFinite(p.aPlus) && p.aPlus >= 0 && Number.isFinite(p.aMinus) && p.aMinus >= 0)) {
    throw new NetworkError(`STDP amplitudes must be finite and ≥ 0, got A+ ${p.aPlus}, A- ${p.aMinus}`);
  }
}

/** Pair-based STDP (header). */
export function stdpRule(p: StdpParameters): string {
  check(p);
  return [`on post: dw = ${ruleConstant(p.aPlus)} * pre.x1`, `on pre: dw = ${ruleConstant(-p.aMinus)} * post.x1`].join('\n');
}

/** Reward-modulated STDP with an eligibility tag (header). */
export function rewardStdpRule(p: RewardStdpParameters): string {
  check(p);
  if (!(p.tauEligibility >= 1)) throw new NetworkError(`the eligibility time constant must be ≥ 1 tick, got ${p.tauEligibility}`);
  if (!Number.isFinite(p.eta)) throw new NetworkError(`the learning rate must be finite, got ${p.eta}`);
  return [
    `on post: dtag = ${ruleConstant(p.aPlus)} * pre.x1`,
    `on pre: dtag = ${ruleConstant(-p.aMinus)} * post.x1`,
    `on tick: dtag = ${ruleConstant(-1 / p.tauEligibility)} * syn.tag`,
    `on tick: dw = ${ruleConstant(p.eta)} * reward * syn.tag`,
  ].join('\n');
}

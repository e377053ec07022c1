/**
 * Spike-based Alignment Learning (SAL) on two reciprocally coupled stochastic neurons, as a chip Network
 * (../shared/design/circuits.md §5; docs/circuits.md "SAL" explains the mapping and the measurements).
 *
 *   bias (graded input held at 1.0) ──b_i──▶ i.soma,  ──b_j──▶ j.soma
 *   i ──W (basal, fixed or SAL)──▶ j          j ──B (basal, SAL)──▶ i
 *
 * Neurons (both):  v_B ← v_B − v_B/τ_syn + Σ w·spike        (exponential PSP, height w, one-tick delay)
 *                  u   = v_B + b                            (soma: kBasal = kTotal = 1, bias soma-targeted)
 *                  p   = σ(u − ln τ_ref)                    (custom LUT), spike iff 16-bit draw < p,
 *                  absolute refractoriness of τ_ref ticks   (stochastic output, docs/chip.md §6.2)
 * Traces x1 with τ = τ_ref, impulse 1 (docs/chip.md §9).
 * SAL on a synapse pre → post (B: pre = j, post = i; W in the two-sided variant: pre = i, post = j):
 *   on post: dw = −η · pre.x1       (causal pairs, A_c = −1)
 *   on pre:  dw = +η · post.x1      (anti-causal pairs, A_ac = +1)
 * Coincident spikes cancel (both traces already contain this tick's spike when the rule runs), as in SALNet.
 */
import { NetworkError, Network, type Activation } from '../network.js';
import { ruleConstant } from './microcircuit.js';

export interface SalPairConfig {
  /** Forward weight W (i → j). Default 1.5. */
  w?: number;
  /** Initial feedback weight B (j → i). Default −1.0. */
  b?: number;
  /** Biases of i and j (soma input from the constant 1.0 input). Default [0, 0]. */
  bias?: [number, number];
  /** Absolute refractory period in ticks; also the trace time constant and ln τ_ref in φ. Default 25. */
  tauRef?: number;
  /** PSP (basal dendrite) time constant in ticks: decay 1/τ_syn per tick, or the rectangle's length. Default τ_ref. */
  tauSyn?: number;
  /**
   * 'exponential' (default): leaky basal dendrite, PSP w·(1 − 1/τ_syn)^k. 'rectangular' (the reference kernel):
   * a non-leaky basal dendrite fed by the weight and by a copy of it with the opposite sign delayed by τ_syn
   * ticks, so a spike adds w for exactly τ_syn ticks. The copy learns with the negated rule and nearest rounding,
   * so it stays exactly −w (both see the same spikes and traces).
   */
  psp?: 'exponential' | 'rectangular';
  /**
   * Learning rate per spike event (the chip's η). Default: lr / (2 τ_ref) with lr = 0.03 (circuits.md §5.2:
   * SALNet divides the accumulated kernel sum by the kernel length 2τ_ref before multiplying by the lr).
   */
  eta?: number;
  /** 'one': only B learns (B → W); 'two': both W and B learn with SAL (→ their common mean). Default 'one'. */
  sides?: 'one' | 'two';
  /** Largest |w| the 16-bit weights must represent. Default 4 (the compiler picks weightShift 12: ±8, LSB 2^-12). */
  weightRange?: number;
  /** Program seed (chip PRNG: spike draws, stochastic rounding). Default 1. */
  chipSeed?: number;
}

export interface SalPairLayout {
  /** The constant input port (hold it at 1.0). */
  input: string;
  neurons: { i: string; j: string };
  psp: 'exponential' | 'rectangular';
  /** Projection names: forward W (i → j), feedback B (j → i). */
  forward: string;
  feedback: string;
  eta: number;
  tauRef: number;
  tauSyn: number;
  rules: Record<string, string>;
}

export const SAL_DEFAULT_LR = 0.03;

/** φ(x) = σ(x − ln τ_ref) on [−8, 8) (knots every 2^-4). */
export function salActivation(tauRef: number): Activation {
  const shift = Math.log(tauRef);
  return { name: `sal-logistic-ref${tauRef}`, fn: (x: number) => 1 / (1 + Math.exp(-(x - shift))), xMin: -8, stepLog2: 12 };
}

export function salRule(eta: number, sign: 1 | -1 = 1): string {
  const c = ruleConstant(eta);
  const [a, b] = sign === 1 ? ['-', ''] : ['', '-'];
  return `on post: dw = ${a}${c} * pre.x1\non pre: dw = ${b}${c} * post.x1`;
}

export function buildSalPair(config: SalPairConfig = {}): { network: Network; layout: SalPairLayout } {
  const tauRef = config.tauRef ?? 25;
  const tauSyn = config.tauSyn ?? tauRef;
  if (!Number.isInteger(tauRef) || tauRef < 1) throw new NetworkError(`tauRef ${tauRef} must be a positive integer (ticks)`);
  if (!(tauSyn >= 1)) throw new NetworkError(`tauSyn ${tauSyn} must be ≥ 1 tick`);
  const eta = config.eta ?? SAL_DEFAULT_LR / (2 * tauRef);
  if (!(eta >= 0)) throw new NetworkError(`eta ${eta} must be ≥ 0`);
  const w = config.w ?? 1.5;
  const b = config.b ?? -1.0;
  const [bi, bj] = config.bias ?? [0, 0];
  const sides = config.sides ?? 'one';
  const range = config.weightRange ?? 4;
  const psp = config.psp ?? 'exponential';
  if (psp !== 'exponential' && psp !== 'rectangular') throw new NetworkError(`unknown psp "${String(psp)}"`, 'use exponential or rectangular');
  if (psp === 'rectangular' && (!Number.isInteger(tauSyn) || tauSyn > 63)) throw new NetworkError(`rectangular PSP: tauSyn ${tauSyn} must be an integer ≤ 63 (the −w copy's delay is 1 + τ_syn ≤ 64)`);

  const net = new Network(`sal-pair-${sides}`, { seed: config.chipSeed ?? 1 });
  net.metadata.circuit = 'SAL pair (circuits.md §5)';
  const activation = salActivation(tauRef);
  const input = net.input('bias', 1, { payloadShift: 4 });
  const neuron = (name: string) =>
    net.population(name, 1, {
      output: 'stochastic',
      activation,
      basal: { decay: psp === 'exponential' ? 1 / tauSyn : 0 },
      soma: { kBasal: 1, kTotal: 1 },
      refractory: tauRef,
      traces: { x1: { tau: tauRef, impulse: 1 } },
    });
  const i = neuron('i');
  const j = neuron('j');
  net.project('bias_i', input, i, { target: 'soma', weights: [bi], weightBits: 16, weightRange: range });
  net.project('bias_j', input, j, { target: 'soma', weights: [bj], weightBits: 16, weightRange: range });
  const rules: Record<string, string> = {};
  // η = 0 keeps the rule (it compiles to Δ = 0), so the control runs the same Program structure.
  // Rectangular PSPs need the −w copy to track w exactly: nearest rounding on both (no per-synapse draws).
  const rounding = psp === 'rectangular' ? ('nearest' as const) : ('stochastic' as const);
  const plastic = (name: string, sign: 1 | -1 = 1) => {
    rules[name] = salRule(eta, sign);
    return { rule: rules[name], rounding };
  };
  const pair = (name: string, pre: string, post: string, w0: number, learns: boolean) => {
    net.project(name, pre, post, { target: 'basal', weights: [w0], weightBits: 16, weightRange: range, plasticity: learns ? plastic(name) : undefined });
    if (psp === 'rectangular') {
      net.project(`${name}_off`, pre, post, { target: 'basal', weights: [-w0], weightBits: 16, weightRange: range, delay: 1 + tauSyn, plasticity: learns ? plastic(`${name}_off`, -1) : undefined });
    }
  };
  pair('W', i, j, w, sides === 'two');
  pair('B', j, i, b, true);
  return { network: net, layout: { input, neurons: { i, j }, psp, forward: 'W', feedback: 'B', eta, tauRef, tauSyn, rules } };
}

/** The real-valued weight of a 1×1 projection on a chip (stored weight · 2^-weightShift). */
export function salWeight(chip: { projection(name: string): { w: ArrayLike<number>; def: { weightShift: number } } }, name: string): number {
  const p = chip.projection(name);
  return p.w[0] / 2 ** p.def.weightShift;
}

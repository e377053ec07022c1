/**
 * Error attribution with the float twin: which fixed-point effect explains how much of the chip's deviation
 * from the ideal float model (docs/fidelity.md).
 *
 * The caller supplies a distance: a function that drives a fresh twin (same stimulus as the chip run) and
 * returns how far it ends up from the recorded chip run (state LSB, weight LSB, an update angle…). The twin is
 * run with effect subsets:
 *
 *   all off            the ideal float model — its distance is the total error to explain
 *   one on             each effect alone: the effect whose switch moves the twin closest to the chip explains
 *                      most of the error (clear when one effect dominates)
 *   leave one out      all but one: the marginal cost of ignoring that effect when the others are modelled
 *                      (clear when the remaining errors are small)
 *   Shapley            every subset (2^n runs; n = 5 gives 32): the average reduction of the distance when the
 *                      effect is switched on, over all orders of switching — shares that add up exactly to
 *                      d(all off) − d(all on) even when the effects interact or cancel
 */
import type { Program } from '../../emulator/program.js';
import { compileNetwork } from '../compiler.js';
import type { Network } from '../network.js';
import { ALL_EFFECTS, FloatTwin, type TwinEffect } from './floatTwin.js';

export interface AttributionOptions {
  network: Network;
  program?: Program;
  /** Effects to attribute among (default all five); the others stay off. */
  effects?: readonly TwinEffect[];
  /** Seed of the twin's own generators. */
  seed?: number;
  /** Drives a fresh twin and returns its distance to the chip run (≥ 0, smaller = closer). */
  distance: (twin: FloatTwin) => number;
  /** Compute Shapley shares over every subset (default: when there are at most 6 effects). */
  shapley?: boolean;
}

export interface AttributionReport {
  effects: TwinEffect[];
  allOff: number;
  allOn: number;
  oneOn: Record<string, number>;
  leaveOneOut: Record<string, number>;
  /** Shapley share of each effect in d(all off) − d(all on); null when not computed. */
  shapley: Record<string, number> | null;
  /** Effects by decreasing share (Shapley if computed, else the one-on reduction). */
  ranking: TwinEffect[];
}

export function attributeError(opts: AttributionOptions): AttributionReport {
  const effects = [...(opts.effects ?? ALL_EFFECTS)];
  const n = effects.length;
  const program = opts.program ?? compileNetwork(opts.network).program;
  const cache = new Map<number, number>();
  const d = (mask: number): number => {
    let v = cache.get(mask);
    if (v === undefined) {
      const on = effects.filter((_, i) => mask & (1 << i));
      const twin = new FloatTwin(opts.network, { program, effects: on, seed: opts.seed });
      v = opts.distance(twin);
      cache.set(mask, v);
    }
    return v;
  };
  const full = (1 << n) - 1;
  const oneOn: Record<string, number> = {};
  const leaveOneOut: Record<string, number> = {};
  effects.forEach((e, i) => {
    oneOn[e] = d(1 << i);
    leaveOneOut[e] = d(full & ~(1 << i));
  });
  let shapley: Record<string, number> | null = null;
  if (opts.shapley ?? n <= 6) {
    shapley = {};
    const fact = (k: number): number => (k <= 1 ? 1 : k * fact(k - 1));
    effects.forEach((e, i) => {
      let s = 0;
      for (let mask = 0; mask <= full; mask++) {
        if (mask & (1 << i)) continue;
        const k = popcount(mask);
        s += ((fact(k) * fact(n - k - 1)) / fact(n)) * (d(mask) - d(mask | (1 << i)));
      }
      shapley![e] = s;
    });
  }
  const score = (e: TwinEffect) => (shapley ? shapley[e] : d(0) - oneOn[e]);
  const ranking = [...effects].sort((a, b) => score(b) - score(a));
  return { effects, allOff: d(0), allOn: d(full), oneOn, leaveOneOut, shapley, ranking };
}

function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}

/** A plain-text table of a report (one line per effect). */
export function formatAttribution(r: AttributionReport, unit = ''): string {
  const f = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));
  const lines = [`all off ${f(r.allOff)}${unit}, all on ${f(r.allOn)}${unit}`, 'effect              one on   leave out   Shapley share'];
  for (const e of r.ranking) {
    const sh = r.shapley ? `${f(r.shapley[e])}${unit} (${((100 * r.shapley[e]) / (r.allOff - r.allOn || 1)).toFixed(0)} %)` : '—';
    lines.push(`${e.padEnd(18)} ${f(r.oneOn[e]).padStart(8)} ${f(r.leaveOneOut[e]).padStart(11)}   ${sh}`);
  }
  return lines.join('\n');
}

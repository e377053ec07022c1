/**
 * The cycle model (docs/chip.md §12): what each operation costs in chip clock cycles. The emulator counts the
 * operations it performs on each core and charges these costs; the firmware counts the same operations.
 */
import { CYCLES, MESH_WIDTH } from './constants.js';
import { GroupKind, NoiseTarget, OutputMode, TRACE_HP, TRACE_X1, TRACE_X2, type Group } from './program.js';

/** Manhattan distance between two cores on the mesh (router hops). */
export function hops(a: number, b: number): number {
  return Math.abs((a % MESH_WIDTH) - (b % MESH_WIDTH)) + Math.abs(Math.floor(a / MESH_WIDTH) - Math.floor(b / MESH_WIDTH));
}

/** Route cost of one event from core `src` to a destination core `dst` (charged to the source core). */
export function routeCycles(src: number, dst: number): number {
  return CYCLES.axon + CYCLES.hop * hops(src, dst);
}

/**
 * Cycles per neuron per tick for the neuron-level work of a group, excluding synaptic and learning work:
 *   input group: 1 (latch)
 *   neuron group: soma + dendrite·(#dendrites) + inputConvert·(#incoming projections) + lut·(#lookups)
 *                 + noise (noise + 2 draws) + stochastic draw + trace·(#traces)
 * #lookups = 1 if the group has a LUT, +1 if a rule reads post.basal_rate.
 */
export function neuronCycles(g: Group, incomingProjections: number, basalRateLookup: boolean): number {
  const traces = ((g.traces & TRACE_X1) ? 1 : 0) + ((g.traces & TRACE_X2) ? 1 : 0) + ((g.traces & TRACE_HP) ? 1 : 0);
  if (g.kind === GroupKind.Input) return 1 + CYCLES.trace * traces;
  let c = CYCLES.soma;
  c += CYCLES.dendrite * ((g.hasBasal ? 1 : 0) + (g.hasApical ? 1 : 0));
  c += CYCLES.inputConvert * incomingProjections;
  c += CYCLES.lut * ((g.lut >= 0 ? 1 : 0) + (basalRateLookup ? 1 : 0));
  if (g.noiseTarget !== NoiseTarget.None) c += CYCLES.noise + 2 * CYCLES.prngDraw;
  if (g.output === OutputMode.Stochastic) c += CYCLES.prngDraw;
  c += CYCLES.trace * traces;
  return c;
}

/** Real-time factor: simulated seconds per tick over wall seconds per tick on the chip (critical path / clock). */
export function realTimeFactor(tickSeconds: number, criticalPathCycles: number, clockHz: number): number {
  if (criticalPathCycles <= 0) return Infinity;
  return tickSeconds / (criticalPathCycles / clockHz);
}

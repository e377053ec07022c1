/**
 * Splits a chip's groups across worker threads. A thread executes whole groups: their neuron kernels and the
 * route and learn phases of the projections onto them (a synapse lives with its postsynaptic neuron, docs/chip.md
 * §1), so a group placed on several cores still runs on one thread. Threads are balanced by an estimate of each
 * group's work per tick, from the cycle model (§12): neuron work, plus synaptic and learning work of its incoming
 * projections at an assumed activity (graded sources every tick, spiking sources `SPIKE_ACTIVITY`).
 * Greedy longest-processing-time assignment; ties go to the lower thread and group index, so the partition is a
 * pure function of the Program.
 */
import type { Chip } from '../chip.js';
import { CHIP_CORES, CYCLES } from '../constants.js';
import { OutputMode, Trigger } from '../program.js';

const SPIKE_ACTIVITY = 0.02;

/** Estimated cycles per tick of each group's partition (neuron work + work of projections onto it). */
export function groupWork(chip: Chip): number[] {
  const work = chip.groups.map((g) => g.n * g.neuronCost);
  for (const p of chip.projections) {
    const o = p.pre.def.output;
    const a = o === OutputMode.Graded ? 1 : o === OutputMode.None ? 0 : SPIKE_ACTIVITY;
    let synapses = 0;
    for (let c = 0; c < CHIP_CORES; c++) synapses += p.synOnCore[c];
    let w = a * synapses * CYCLES.synapse;
    (p.def.plasticity?.statements ?? []).forEach((st, si) => {
      const rate = st.trigger === Trigger.Tick ? 1 : st.trigger === Trigger.Epoch ? 2 ** -st.epochShift : SPIKE_ACTIVITY;
      w += rate * synapses * p.learnOps[si];
    });
    work[p.post.index] += w;
  }
  return work;
}

/** Group indices per thread (at most min(threads, groups) non-empty lists, each in program order). */
export function partitionGroups(work: readonly number[], threads: number): number[][] {
  const T = Math.max(1, Math.min(threads, work.length));
  const order = work.map((w, g) => ({ w, g })).sort((a, b) => b.w - a.w || a.g - b.g);
  const load = new Array<number>(T).fill(0);
  const parts: number[][] = Array.from({ length: T }, () => []);
  for (const { w, g } of order) {
    let best = 0;
    for (let t = 1; t < T; t++) if (load[t] < load[best]) best = t;
    load[best] += w;
    parts[best].push(g);
  }
  for (const p of parts) p.sort((a, b) => a - b);
  return parts;
}

/**
 * Core capacities and the memory model (docs/chip.md §3). A Program fits when, on every core, the neurons
 * placed there, the synapse memory of the synapses whose postsynaptic neuron is there, and the delay-ring
 * words of the projections arriving there stay within the core's capacity.
 *
 * Synapse memory per synapse (bytes): weightBits/8, + 2 (sparse: 16-bit local index), + 4 (plastic:
 * accumulator), + 4 (tag), + 4 (low-pass state). Ring words: delay × (post neurons on the core) per projection.
 */
import { CHIP_CORES, CORE_MAX_NEURONS, CORE_RING_WORDS, CORE_SYNAPSE_BYTES } from './constants.js';
import { ProgramFitError } from './errors.js';
import { ProjectionKind, type Program, type Projection } from './program.js';

export function bytesPerSynapse(p: Pick<Projection, 'weightBits' | 'kind' | 'plasticity'>): number {
  let b = p.weightBits / 8;
  if (p.kind === ProjectionKind.Sparse) b += 2;
  if (p.plasticity) {
    b += 4;
    if (p.plasticity.tag) b += 4;
    if (p.plasticity.lowpass > 0) b += 4;
  }
  return b;
}

export interface CoreUsage {
  core: number;
  neurons: number;
  synapses: number;
  synapseBytes: number;
  ringWords: number;
  /** Synapse bytes per projection name on this core. */
  byProjection: Map<string, number>;
}

/** Per-core usage of a placed Program. */
export function coreUsage(program: Program): CoreUsage[] {
  const body = program.body;
  const usage: CoreUsage[] = Array.from({ length: CHIP_CORES }, (_, core) => ({
    core,
    neurons: 0,
    synapses: 0,
    synapseBytes: 0,
    ringWords: 0,
    byProjection: new Map(),
  }));
  const coreOf = body.groups.map((g) => {
    const a = new Uint8Array(g.size);
    for (const s of g.slices) if (s.core < CHIP_CORES) a.fill(s.core, s.start, s.start + s.count);
    return a;
  });
  for (const g of body.groups) for (const s of g.slices) if (s.core < CHIP_CORES) usage[s.core].neurons += s.count;
  for (const p of body.projections) {
    const post = body.groups[p.post];
    const pre = body.groups[p.pre];
    const bps = bytesPerSynapse(p);
    const perCore = new Float64Array(CHIP_CORES);
    if (p.kind === ProjectionKind.Dense) {
      for (const s of post.slices) perCore[s.core] += s.count * pre.size;
    } else if (p.kind === ProjectionKind.OneToOne) {
      for (const s of post.slices) perCore[s.core] += s.count;
    } else {
      const cols = p.cols!;
      const co = coreOf[p.post];
      for (let k = 0; k < cols.length; k++) perCore[co[cols[k]]]++;
    }
    for (let c = 0; c < CHIP_CORES; c++) {
      if (!perCore[c]) continue;
      usage[c].synapses += perCore[c];
      usage[c].synapseBytes += perCore[c] * bps;
      usage[c].byProjection.set(p.name, (usage[c].byProjection.get(p.name) ?? 0) + perCore[c] * bps);
    }
    for (const s of post.slices) usage[s.core].ringWords += s.count * p.delay;
  }
  return usage;
}

const pct = (x: number, cap: number) => `${Math.round((100 * x) / cap)} %`;

/** Throws ProgramFitError naming the first core and resource over capacity, and its largest contributor. */
export function checkFit(program: Program): CoreUsage[] {
  const usage = coreUsage(program);
  for (const u of usage) {
    if (u.neurons > CORE_MAX_NEURONS) {
      const names = program.body.groups.filter((g) => g.slices.some((s) => s.core === u.core)).map((g) => g.name);
      throw new ProgramFitError(
        `core ${u.core} neurons ${pct(u.neurons, CORE_MAX_NEURONS)}: ${u.neurons} of ${CORE_MAX_NEURONS} (${names.join(', ')})`,
        'split the population or let the compiler place it',
      );
    }
    if (u.synapseBytes > CORE_SYNAPSE_BYTES) {
      const [worst] = [...u.byProjection.entries()].sort((a, b) => b[1] - a[1]);
      throw new ProgramFitError(
        `core ${u.core} synapse memory ${pct(u.synapseBytes, CORE_SYNAPSE_BYTES)}: projection ${worst[0]}`,
        'use 8-bit or sparse weights, or spread the postsynaptic population over more cores',
      );
    }
    if (u.ringWords > CORE_RING_WORDS) {
      throw new ProgramFitError(`core ${u.core} delay-ring memory ${pct(u.ringWords, CORE_RING_WORDS)}`, 'shorten delays or spread the population over more cores');
    }
  }
  return usage;
}

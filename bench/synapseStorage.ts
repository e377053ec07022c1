/**
 * Bytes per synapse as the emulator actually stores them: the byteLength of every typed array a loaded Chip
 * holds for its projections (src/emulator/chip.ts ProjectionState, and the Program it keeps a reference to),
 * divided by the number of synapses. Nothing is estimated: the arrays are measured as allocated.
 *
 * Components (bytes per synapse, summed over all projections of the Chip):
 *   weights        the chip's working weights w (Int8/Int16): a static projection's w is the Program's own array
 *   programWeights the Program's initial weights when w is a separate array (plastic projections learn into a
 *                  copy; the WebAssembly backend keeps dense weights in its module memory); the Chip keeps the
 *                  Program alive, so they count. 0 when w is the Program's array (counted once, under weights).
 *   accumulators   plastic only: wacc (Int32), eligibility tag, low-pass lo
 *   indices        sparse CSR rowPtr (Uint32) and cols (Uint16 local indices, docs/chip.md §3), both the Program's,
 *                  and the transposed colPtr/colSyn/colRow of post-triggered rules
 *   accounting     cycle-model tables: colCount, rowCoreStart/rowCore/rowCoreCount, destCount/synOnCore/routeCost
 *   ring           the delay ring (depth × post neurons, Float64)
 */
import { Chip, type ProjectionState } from '../src/emulator/chip.js';
import { compileNetwork } from '../src/models/compiler.js';
import { Network } from '../src/models/network.js';
import { SeededRandom } from '../src/models/seededRandom.js';

export interface StorageBreakdown {
  weights: number;
  programWeights: number;
  accumulators: number;
  indices: number;
  accounting: number;
  ring: number;
}

export interface SynapseStorage {
  synapses: number;
  /** Total bytes of all components over all projections. */
  bytes: number;
  bytesPerSynapse: number;
  /** Bytes per synapse by component. */
  perSynapse: StorageBreakdown;
}

type Sized = { byteLength: number } | null | undefined;
const size = (...arrays: Sized[]): number => arrays.reduce((a, x) => a + (x ? x.byteLength : 0), 0);

function projectionBytes(p: ProjectionState): StorageBreakdown {
  return {
    weights: size(p.w),
    programWeights: p.def.weights === p.w ? 0 : size(p.def.weights),
    accumulators: size(p.wacc, p.tag, p.lo),
    indices: size(p.def.rowPtr, p.def.cols, p.colPtr, p.colSyn, p.colRow),
    accounting: size(p.colCount, p.rowCoreStart, p.rowCore, p.rowCoreCount, p.destCount, p.synOnCore, p.routeCost),
    ring: size(p.ring),
  };
}

/** Measures the synapse storage of a loaded Chip (all projections). */
export function measureSynapseStorage(chip: Chip): SynapseStorage {
  const total: StorageBreakdown = { weights: 0, programWeights: 0, accumulators: 0, indices: 0, accounting: 0, ring: 0 };
  let synapses = 0;
  for (const p of chip.projections) {
    synapses += p.w.length;
    const b = projectionBytes(p);
    for (const k of Object.keys(total) as (keyof StorageBreakdown)[]) total[k] += b[k];
  }
  const bytes = Object.values(total).reduce((a, x) => a + x, 0);
  const perSynapse = { ...total };
  for (const k of Object.keys(perSynapse) as (keyof StorageBreakdown)[]) perSynapse[k] = synapses ? total[k] / synapses : 0;
  return { synapses, bytes, bytesPerSynapse: synapses ? bytes / synapses : 0, perSynapse };
}

export interface StorageCase extends SynapseStorage {
  kind: 'dense' | 'sparse';
  weightBits: 8 | 16;
  plastic: boolean;
  description: string;
}

/**
 * The storage matrix of the report: one graded projection n×n (dense, or sparse with connection probability
 * `p`), 8- and 16-bit weights, plasticity off and on (a pre-triggered rule: no transposed index).
 */
export function storageMatrix(n = 1000, p = 0.1): StorageCase[] {
  const out: StorageCase[] = [];
  for (const kind of ['sparse', 'dense'] as const) {
    for (const weightBits of [8, 16] as const) {
      for (const plastic of [false, true]) {
        const rng = new SeededRandom(17);
        const net = new Network(`storage-${kind}-${weightBits}-${plastic ? 'plastic' : 'static'}`, { seed: 17, tickSeconds: 1e-4 });
        net.input('in', n, { payloadShift: 2 });
        net.population('out', n, { output: 'graded', activation: 'sigmoid', basal: true, soma: { kBasal: 0.1, kTotal: 0.1 }, payloadShift: 2 });
        const plasticity = plastic ? { rule: 'dw = 2^-10 * post.rate * pre.rate', rounding: 'nearest' as const } : undefined;
        if (kind === 'dense') {
          const w = new Float64Array(n * n);
          for (let k = 0; k < w.length; k++) w[k] = rng.uniform(-0.1, 0.1);
          net.project('w', 'in', 'out', { weights: w, weightBits, weightRange: 1, plasticity });
        } else {
          const pre: number[] = [];
          const post: number[] = [];
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < n; j++) {
              if (rng.next() < p) {
                pre.push(i);
                post.push(j);
              }
            }
          }
          const values = pre.map(() => rng.uniform(-0.1, 0.1));
          net.project('w', 'in', 'out', { kind: 'sparse', weights: { pre, post, values }, weightBits, weightRange: 1, plasticity });
        }
        const chip = new Chip(compileNetwork(net).program, { digests: false });
        out.push({
          kind,
          weightBits,
          plastic,
          description: `${n}x${n} ${kind}${kind === 'sparse' ? ` p=${p} (fan-out ${Math.round(n * p)})` : ''}, ${weightBits}-bit, plasticity ${plastic ? 'on' : 'off'}`,
          ...measureSynapseStorage(chip),
        });
      }
    }
  }
  return out;
}

/**
 * State digests (docs/chip.md §13), recomputed by hand: the per-variable digests, the core digests and the chip
 * digest are rebuilt in this file from the Chip's state arrays, following the text of §13 word by word (which
 * variables each group and projection contributes, and in which order), with a local FNV-1a written from its
 * definition, and compared with what the emulator reports.
 */
import { describe, expect, it } from 'vitest';
import { Chip, type GroupState, type ProjectionState } from '../src/emulator/chip.js';
import { encodeWord, Op, TERMS } from '../src/emulator/microcode.js';
import {
  GroupKind,
  NoiseTarget,
  OutputMode,
  ProjectionKind,
  Rounding,
  RuleTarget,
  TRACE_HP,
  TRACE_X1,
  TRACE_X2,
  Trigger,
  type Program,
  type Slice,
  type Statement,
} from '../src/emulator/program.js';
import { validateProgram } from '../src/emulator/programCodec.js';
import { group, inputGroup, ONE, plastic, program, projection, sigmoidLut } from './helpers/programBuilder.js';

// ---------------------------------------------------------------------------------------------- §13 by hand

/** fnv(h, word) = ((h ⊕ word) · 0x01000193) mod 2^32 over the 32-bit two's-complement word (BigInt: no Math.imul). */
function fnv(h: number, word: number): number {
  return Number(((BigInt(h >>> 0) ^ BigInt(word >>> 0)) * 0x01000193n) & 0xffffffffn);
}
const OFFSET = 0x811c9dc5;
const CORES = 16;
const VARIABLES = ['soma', 'prosp', 'basal', 'apical', 'noise', 'refractory', 'rate', 'x1', 'x2', 'hp', 'output', 'weight', 'tag', 'lowpass'] as const;
type Variable = (typeof VARIABLES)[number];

/**
 * The words a group contributes to a variable for neuron j, or null if it does not contribute (§13): every group
 * soma, prosp, rate, output (input groups: u and ŭ are zero words; ŭ = u without a prospective gain); basal /
 * apical with the compartment; noise with noise; refractory for binary or stochastic output; x1 / x2 / hp with
 * the trace; output = payload (graded) or spike flag.
 */
function neuronWords(g: GroupState, v: Variable): ((j: number) => number) | null {
  const d = g.def;
  const input = d.kind === GroupKind.Input;
  const spiking = d.output === OutputMode.Binary || d.output === OutputMode.Stochastic;
  const of = (a: Int32Array | null) => (a ? (j: number) => a[j] : null);
  switch (v) {
    case 'soma':
      return input ? () => 0 : of(g.u);
    case 'prosp':
      return input ? () => 0 : d.prospectiveGain > 0 ? of(g.prosp) : of(g.u);
    case 'basal':
      return !input && d.hasBasal ? of(g.vB) : null;
    case 'apical':
      return !input && d.hasApical ? of(g.vA) : null;
    case 'noise':
      return !input && d.noiseTarget !== NoiseTarget.None ? of(g.xi) : null;
    case 'refractory':
      return spiking ? of(g.ref) : null;
    case 'rate':
      return of(g.rate);
    case 'x1':
      return d.traces & TRACE_X1 ? of(g.x1) : null;
    case 'x2':
      return d.traces & TRACE_X2 ? of(g.x2) : null;
    case 'hp':
      return d.traces & TRACE_HP ? of(g.hp) : null;
    case 'output':
      return spiking ? of(g.spike) : of(g.payload);
    default:
      return null;
  }
}

/** Storage indices of a projection's synapses whose postsynaptic neuron is in slice s, in storage order (§13). */
function synapsesOfSlice(p: ProjectionState, s: Slice): number[] {
  const out: number[] = [];
  const inSlice = (j: number) => j >= s.start && j < s.start + s.count;
  if (p.def.kind === ProjectionKind.Dense) {
    // post-major: synapse j·N_pre + i; the rows of the slice's postsynaptic neurons
    for (let j = s.start; j < s.start + s.count; j++) for (let i = 0; i < p.pre.n; i++) out.push(j * p.pre.n + i);
  } else if (p.def.kind === ProjectionKind.OneToOne) {
    for (let j = s.start; j < s.start + s.count; j++) out.push(j);
  } else {
    // CSR order restricted to the slice
    const cols = p.def.cols!;
    for (let k = 0; k < cols.length; k++) if (inSlice(cols[k])) out.push(k);
  }
  return out;
}

function synapseArray(p: ProjectionState, v: Variable): Int32Array | null {
  const pl = p.def.plasticity;
  if (!pl) return null; // static weights: covered by the Program hash
  if (v === 'weight') return p.wacc;
  if (v === 'tag') return pl.tag ? p.tag : null;
  if (v === 'lowpass') return pl.lowpass > 0 ? p.lo : null;
  return null;
}

/** The 14 variable digests of a core. */
function variableDigestsByHand(chip: Chip, core: number): number[] {
  return VARIABLES.map((v) => {
    let h = OFFSET;
    for (const g of chip.groups) {
      const words = neuronWords(g, v);
      if (!words) continue;
      for (const s of g.def.slices) if (s.core === core) for (let j = s.start; j < s.start + s.count; j++) h = fnv(h, words(j));
    }
    for (const p of chip.projections) {
      const a = synapseArray(p, v);
      if (!a) continue;
      for (const s of p.post.def.slices) if (s.core === core) for (const k of synapsesOfSlice(p, s)) h = fnv(h, a[k]);
    }
    return h;
  });
}

function coreDigestsByHand(chip: Chip): number[] {
  return Array.from({ length: CORES }, (_, c) => {
    const hasNeurons = chip.program.body.groups.some((g) => g.slices.some((s) => s.core === c && s.count > 0));
    return hasNeurons ? variableDigestsByHand(chip, c).reduce(fnv, OFFSET) : 0;
  });
}

// ---------------------------------------------------------------------------------------------- the Program

const term = (name: keyof typeof TERMS) => encodeWord(Op.Term, TERMS[name]);
const stmt = (code: number[], p: Partial<Statement> = {}): Statement => ({ trigger: Trigger.Tick, epochShift: 0, target: RuleTarget.Weight, code: Int32Array.from(code), ...p });

/**
 * in (graded input, x1 + hp traces) and sp (spiking input) drive h (binary, basal, OU noise, prospective gain,
 * x1 trace, refractory 2) and g (graded, sigmoid). Plastic: ff in→h dense with tag and low-pass; sx sp→h sparse
 * (pre-triggered); hg h→g one-to-one with stochastic rounding. gb in→g is static. No group has an apical
 * compartment or an x2 trace: those variables stay at the offset.
 */
function digestProgram(hSlices: Slice[], gCore: number): Program {
  const p = program(
    [
      inputGroup('in', 3, { traces: TRACE_X1 | TRACE_HP, x1Decay: 1 << 18, hpDecay: 1 << 17 }),
      inputGroup('sp', 2, { output: OutputMode.Binary }),
      group('h', 5, {
        output: OutputMode.Binary,
        hasBasal: true,
        basalDecay: 1 << 19,
        kBasal: 1 << 19,
        kTotal: 1 << 18,
        threshold: ONE / 4,
        refractory: 2,
        noiseTarget: NoiseTarget.Basal,
        noiseDecay: 1 << 16,
        noiseGain: 1 << 20,
        prospectiveGain: 1 << 9,
        traces: TRACE_X1,
        x1Decay: 1 << 18,
        x1Impulse: ONE,
        slices: hSlices,
      }),
      group('g', 5, { output: OutputMode.Graded, lut: 0, hasBasal: true, kBasal: 1 << 19, kTotal: 1 << 19, slices: [{ core: gCore, start: 0, count: 5 }] }),
    ],
    [
      projection('ff', 0, 2, [2048, -1024, 512, 300, -700, 1500, 100, 0, -2000, 900, 50, -60, 70, -80, 90], {
        plasticity: plastic([stmt([term('pre.rate')], { target: RuleTarget.Tag }), stmt([term('syn.tag'), encodeWord(Op.MulC, 4), 1])], { fracBits: 4, lowpass: 1 << 18, tag: true }),
      }),
      projection('sx', 1, 2, [40, 50, 60, 70, 80, 90], {
        kind: ProjectionKind.Sparse,
        weightBits: 8,
        weightShift: 6,
        rowPtr: Uint32Array.from([0, 3, 6]),
        cols: Uint16Array.from([4, 0, 2, 1, 3, 0]),
        plasticity: plastic([stmt([term('post.rate'), encodeWord(Op.MulC, 3), 1], { trigger: Trigger.Pre })], { fracBits: 8 }),
      }),
      projection('hg', 2, 3, [1000, -1000, 2000, -2000, 3000], {
        kind: ProjectionKind.OneToOne,
        weightShift: 10,
        plasticity: plastic([stmt([term('pre.x1'), encodeWord(Op.MulC, 6), 1])], { fracBits: 2, rounding: Rounding.Stochastic }),
      }),
      projection('gb', 0, 3, new Array(15).fill(0).map((_, k) => (k * 37) % 101 - 50)),
    ],
    { luts: [sigmoidLut()] },
    11,
  );
  validateProgram(p);
  return p;
}

function runAndCompare(chip: Chip, ticks: number): void {
  const V = VARIABLES.length;
  for (let t = 0; t < ticks; t++) {
    chip.setInput('in', [ONE / 2, ONE, -ONE / 4 - 3]);
    chip.setInput('sp', [t % 2, t % 3 === 0 ? 1 : 0]);
    chip.step();
    const cores = coreDigestsByHand(chip);
    for (let c = 0; c < CORES; c++) {
      if (cores[c] !== 0) expect(Array.from(chip.variableDigests.subarray(c * V, (c + 1) * V)), `tick ${t} core ${c}`).toEqual(variableDigestsByHand(chip, c));
    }
    expect(Array.from(chip.coreDigests), `tick ${t}`).toEqual(cores);
    expect(chip.chipDigest()).toBe(cores.reduce(fnv, OFFSET));
  }
}

describe('digests (docs/chip.md §13) recomputed by hand', () => {
  it('FNV-1a word-wise: the local implementation matches the definition on known values', () => {
    // fnv(0x811c9dc5, 0) = 0x811c9dc5 · 0x01000193 mod 2^32 = 0x050c5d1f; fnv(0x811c9dc5, −1): −1 is the word
    // 0xffffffff, 0x811c9dc5 ⊕ 0xffffffff = 0x7ee3623a, · 0x01000193 mod 2^32 = 0xf9f3a14e (both worked out with
    // Python's exact integers).
    expect(fnv(OFFSET, 0)).toBe(0x050c5d1f);
    expect(fnv(OFFSET, -1)).toBe(0xf9f3a14e);
  });

  it('one core: every variable digest, the core digest and the chip digest after each tick', () => {
    // h in two slices on the same core: the sparse sx synapses are hashed slice by slice (k = 1, 3, 5, then 0, 2, 4),
    // not in plain CSR order.
    const chip = new Chip(
      digestProgram(
        [
          { core: 0, start: 0, count: 2 },
          { core: 0, start: 2, count: 3 },
        ],
        0,
      ),
    );
    const h = chip.group('h');
    let spikes = 0;
    let refractory = 0;
    let noise = 0;
    const iOf = (v: Variable) => VARIABLES.indexOf(v);
    for (let t = 0; t < 6; t++) {
      runAndCompare(chip, 1);
      spikes += h.evCount[0];
      refractory += h.ref!.some((r) => r > 0) ? 1 : 0;
      noise += h.xi!.some((x) => x !== 0) ? 1 : 0;
      // Variables no group or projection contributes stay at the offset; the 15 empty cores have digest 0.
      expect(chip.variableDigests[iOf('apical')]).toBe(0x811c9dc5);
      expect(chip.variableDigests[iOf('x2')]).toBe(0x811c9dc5);
      expect(Array.from(chip.coreDigests.subarray(1))).toEqual(new Array(15).fill(0));
    }
    // The run exercised the state the digests cover.
    expect(spikes).toBeGreaterThan(0);
    expect(refractory).toBeGreaterThan(0);
    expect(noise).toBeGreaterThan(0);
    const ff = chip.projection('ff');
    expect(ff.tag!.some((x) => x !== 0) && ff.lo!.some((x) => x !== 0)).toBe(true);
    const sx = chip.projection('sx');
    expect(Array.from(sx.wacc!)).not.toEqual(Array.from(sx.def.weights, (w) => w * 2 ** 8));
  });

  it('two cores: each core covers its slices and the synapses onto them; cores between them have digest 0', () => {
    const chip = new Chip(
      digestProgram(
        [
          { core: 0, start: 0, count: 2 },
          { core: 3, start: 2, count: 3 },
        ],
        3,
      ),
    );
    runAndCompare(chip, 5);
    expect(chip.coreDigests[0]).not.toBe(0);
    expect(chip.coreDigests[3]).not.toBe(0);
    expect([chip.coreDigests[1], chip.coreDigests[2]]).toEqual([0, 0]);
  });
});

/**
 * Golden vectors (test/vectors/<name>/, defined in test-support/vectorDefinitions.ts): the stored program.apx
 * run with the stored stimulus on a fresh Chip must reproduce every per-tick per-core digest, the spike counts,
 * the final weights, the cycle totals and the critical path. Tests never write vectors: a missing or outdated
 * vector is accepted with `npm run vectors:accept` (which prints the diff; `npm run vectors:check` only prints it).
 *
 * Also: determinism (the same Program twice; another chip seed changes exactly the vectors that use chip
 * randomness), snapshot/restore mid-run, and runs split into several calls.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runOnChip } from '../src/devices/emulatorDevice.js';
import { Chip } from '../src/emulator/chip.js';
import { CHIP_CORES } from '../src/emulator/constants.js';
import type { Program } from '../src/emulator/program.js';
import { encodeProgram } from '../src/emulator/programCodec.js';
import {
  StimulusPlayer,
  VECTOR_DEFINITIONS,
  compareDigestStreams,
  coreDigestLine,
  coreVariableDigests,
  decodeStoredProgram,
  readStoredVector,
  runVector,
  sideBySide,
  traceVariablesDiffering,
  variableTraceLine,
  type Randomness,
  type StimulusEvent,
  type VectorDefinition,
  type VectorExpected,
} from '../test-support/vectorDefinitions.js';

interface Loaded {
  program: Program;
  programBytes: Uint8Array;
  stimulus: StimulusEvent[];
  expected: VectorExpected;
}

const cache = new Map<string, Loaded>();

/** The stored vector, decoded; fails (never writes) when something is missing. */
function stored(def: VectorDefinition): Loaded {
  const hit = cache.get(def.name);
  if (hit) return hit;
  const s = readStoredVector(def.name);
  if (s.missing.length) throw new Error(`vector ${def.name} missing: run npm run vectors:accept (missing ${s.missing.join(', ')} in test/vectors/${def.name}/)`);
  const loaded = { program: decodeStoredProgram(s.programBytes!), programBytes: s.programBytes!, stimulus: s.stimulus!, expected: s.expected! };
  cache.set(def.name, loaded);
  return loaded;
}

const references = new Map<string, VectorExpected>();

/**
 * A fresh one-go run of the stored program on this emulator: the reference for the determinism tests, so that
 * they fail only for what they test (the golden comparison is the first test of each vector).
 */
function reference(def: VectorDefinition): VectorExpected {
  let r = references.get(def.name);
  if (!r) {
    const { program, stimulus, expected } = stored(def);
    r = runVector(program, stimulus, expected.ticks, def);
    references.set(def.name, r);
  }
  return r;
}

/** First index where two arrays differ, or −1. */
function firstDifference(a: ArrayLike<unknown>, b: ArrayLike<unknown>): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Spikes per tick from a run record's spike log. */
function spikesPerTick(spikes: { ticks: Int32Array }[], ticks: number, start = 0): number[] {
  const out = new Array<number>(ticks).fill(0);
  for (const s of spikes) for (const t of s.ticks) out[t - start]++;
  return out;
}

/** Stimulus events of [from, to), re-based to start at `from` (for a run that starts at tick `from`). */
function window(stimulus: readonly StimulusEvent[], from: number, to: number): StimulusEvent[] {
  return stimulus.filter((e) => e.tick >= from && e.tick < to).map((e) => ({ ...e, tick: e.tick - from }));
}

/** Events before `from` belong to the first chunk (runOnChip applies events with tick ≤ k before tick k). */
function chunkStimulus(stimulus: readonly StimulusEvent[], from: number, to: number): StimulusEvent[] {
  return from === 0 ? stimulus.filter((e) => e.tick < to) : window(stimulus, from, to);
}

const hex8 = (x: number) => (x >>> 0).toString(16).padStart(8, '0');

describe.each(VECTOR_DEFINITIONS.map((d) => [d.name, d] as const))('golden vector %s', (name, def) => {
  it('is stored, and its program.apx reproduces every per-tick per-core digest', () => {
    const { program, stimulus, expected } = stored(def);
    expect(program.hash, `${name}: program.apx hash vs expected.json programHash`).toBe(expected.programHash);
    expect(expected.cores).toBe(CHIP_CORES);
    expect(expected.digests.length, `${name}: stored digests for every tick`).toBe(expected.ticks);
    const chip = new Chip(program, { digests: true });
    const player = new StimulusPlayer(chip, stimulus);
    const spikeCounts: number[] = [];
    for (let k = 0; k < expected.ticks; k++) {
      player.apply(k);
      chip.step();
      spikeCounts.push(chip.spikesLastTick());
      const line = coreDigestLine(chip);
      if (line !== expected.digests[k]) {
        const want = expected.digests[k].split(' ');
        const cores = Array.from(chip.coreDigests, hex8)
          .map((h, c) => (h !== want[c] ? c : -1))
          .filter((c) => c >= 0);
        const vars = traceVariablesDiffering(expected.variableTrace[k] ?? '', variableTraceLine(chip));
        const msg = `${name}: first diverging tick ${k}, core${cores.length > 1 ? 's' : ''} ${cores.join(' ')}, variable${vars.length > 1 ? 's' : ''} ${vars.join(', ') || '(fingerprints equal)'}`;
        expect(line, msg).toBe(expected.digests[k]);
      }
    }
    const sd = firstDifference(spikeCounts, expected.spikeCounts);
    expect(spikeCounts, `${name}: spike counts, first difference at tick ${sd}`).toEqual(expected.spikeCounts);
    for (const [core, vars] of Object.entries(expected.variableDigests)) {
      expect(coreVariableDigests(chip, Number(core)), `${name}: variable digests of core ${core} after the last tick`).toEqual(vars);
    }
    expect(Object.keys(expected.variableDigests).map(Number), `${name}: cores holding neurons`).toEqual(
      Array.from(chip.usedCores, (u, c) => (u ? c : -1)).filter((c) => c >= 0),
    );
    expect(hex8(chip.chipDigest()), `${name}: final chip digest`).toBe(expected.finalChipDigest);
    const weights = Object.fromEntries(chip.projections.filter((p) => p.wacc).map((p) => [p.def.name, Array.from(p.w)]));
    expect(weights, `${name}: final weights of the plastic projections`).toEqual(expected.finalWeights);
    expect(Array.from(chip.cyclesTotal), `${name}: cycles per core`).toEqual(expected.cyclesPerCore);
    expect(chip.criticalPathTotal, `${name}: critical path`).toBe(expected.criticalPath);
  });

  it('runOnChip (the Device path) gives the same digests, spikes, weights and cycles', () => {
    const { program, stimulus, expected } = stored(def);
    const rec = runOnChip(new Chip(program), { ticks: expected.ticks, stimulus }, 'emulator');
    const lines = Array.from({ length: rec.ticks }, (_, k) => Array.from(rec.digests.subarray(k * CHIP_CORES, (k + 1) * CHIP_CORES), hex8).join(' '));
    const d = compareDigestStreams(expected.digests, lines);
    expect(d, `${name}: runOnChip digests${d ? `, first diverging tick ${d.tick} cores ${d.cores.join(' ')}` : ''}`).toBeNull();
    expect(spikesPerTick(rec.spikes, rec.ticks)).toEqual(expected.spikeCounts);
    expect(rec.cycles.perCore).toEqual(expected.cyclesPerCore);
    expect(rec.cycles.criticalPath).toBe(expected.criticalPath);
    expect(hex8(rec.finalDigest)).toBe(expected.finalChipDigest);
    expect(Object.fromEntries(rec.weights.map((w) => [w.projection, Array.from(w.values)]))).toEqual(expected.finalWeights);
  });

  it('a run without per-tick digests (Chip.withoutTickDigests) ends in the same state and final digests', () => {
    const { program, stimulus, expected } = stored(def);
    const chip = new Chip(program);
    const half = Math.floor(expected.ticks / 2);
    const rec = runOnChip(chip, { ticks: half, stimulus, digests: false }, 'emulator');
    expect(rec.digests.length).toBe(0);
    // coreDigests were computed once at the end of the run: they are those of tick half − 1.
    expect(Array.from(chip.coreDigests, hex8).join(' ')).toBe(expected.digests[half - 1]);
    const rest = stimulus.filter((e) => e.tick >= half).map((e) => ({ ...e, tick: e.tick - half }));
    const rec2 = runOnChip(chip, { ticks: expected.ticks - half, stimulus: rest }, 'emulator');
    expect(hex8(rec2.finalDigest)).toBe(expected.finalChipDigest);
    expect(Object.fromEntries(rec2.weights.map((w) => [w.projection, Array.from(w.values)]))).toEqual(expected.finalWeights);
  });

  it('definition still builds the stored program and stimulus (else review npm run vectors:check, then accept)', () => {
    const { programBytes, stimulus, expected } = stored(def);
    const program = def.build();
    expect(program.hash, `${name}: the definition compiles to a different program than test/vectors/${name}/program.apx`).toBe(expected.programHash);
    expect(Buffer.from(encodeProgram(program)).equals(Buffer.from(programBytes))).toBe(true);
    expect(JSON.parse(JSON.stringify(def.stimulus)), `${name}: stimulus`).toEqual(stimulus);
    expect(def.ticks).toBe(expected.ticks);
    expect(def.description).toBe(expected.description);
  });
});

describe('determinism', () => {
  it.each(VECTOR_DEFINITIONS.map((d) => [d.name, d] as const))('%s: the same Program run twice gives identical records', (name, def) => {
    const { program, stimulus, expected } = stored(def);
    const a = runVector(program, stimulus, expected.ticks, def);
    const b = runVector(program, stimulus, expected.ticks, def);
    expect(compareDigestStreams(a.digests, b.digests), `${name}: second run`).toBeNull();
    expect(b).toEqual(a);
  });

  /** The variables a source of randomness perturbs first. */
  const FIRST_VARIABLES: Record<Randomness, string[]> = {
    noise: ['noise'],
    'stochastic-spikes': ['output', 'refractory'],
    'stochastic-rounding': ['weight'],
  };

  it.each(VECTOR_DEFINITIONS.map((d) => [d.name, d] as const))('%s: another chip seed changes the digests exactly when the vector uses randomness', (name, def) => {
    const a = def.build();
    const b = def.build(a.seed ^ 0x5eed);
    expect(b.hash).not.toBe(a.hash);
    const ra = runVector(a, def.stimulus, def.ticks, def);
    const rb = runVector(b, def.stimulus, def.ticks, def);
    const d = compareDigestStreams(ra.digests, rb.digests);
    if (def.randomness.length === 0) {
      expect(d, `${name} uses no chip randomness: its digests must not depend on the seed`).toBeNull();
      return;
    }
    expect(d, `${name} uses ${def.randomness.join(', ')}: another seed must change its digests`).not.toBeNull();
    const sb = sideBySide({ program: a, stimulus: def.stimulus }, { program: b, stimulus: def.stimulus }, def.ticks)!;
    expect(sb.tick).toBe(d!.tick);
    const vars = new Set(sb.cores.flatMap((c) => c.variables));
    const allowed = def.randomness.flatMap((r) => FIRST_VARIABLES[r]);
    expect(
      allowed.some((v) => vars.has(v)),
      `${name}: first divergence at tick ${sb.tick} in ${[...vars].join(', ')}, expected one of ${allowed.join(', ')}`,
    ).toBe(true);
  });

  it.each(VECTOR_DEFINITIONS.map((d) => [d.name, d] as const))('%s: a snapshot taken mid-run and restored reproduces the remaining digests', (name, def) => {
    const { program, stimulus } = stored(def);
    const expected = reference(def);
    const ticks = expected.ticks;
    const mid = Math.floor(ticks / 2) + 3;
    const chip = new Chip(program);
    const player = new StimulusPlayer(chip, stimulus);
    for (let k = 0; k < mid; k++) {
      player.apply(k);
      chip.step();
    }
    const snap = chip.snapshot();
    const rest = (c: Chip): string[] => {
      const p = new StimulusPlayer(c, window(stimulus, mid, ticks));
      const out: string[] = [];
      for (let k = mid; k < ticks; k++) {
        p.apply(k - mid);
        c.step();
        out.push(coreDigestLine(c));
      }
      return out;
    };
    const want = expected.digests.slice(mid);
    expect(rest(chip), `${name}: uninterrupted run`).toEqual(want);
    const finalWeights = chip.projections.map((p) => Array.from(p.w));
    // Restore into the same chip (which has run on) and into a fresh one.
    for (const [label, c] of [['same chip', chip], ['fresh chip', new Chip(program)]] as const) {
      c.restore(snap);
      expect(c.tick).toBe(mid);
      expect(coreDigestLine(c), `${name} (${label}): digests right after restore = tick ${mid - 1}`).toBe(expected.digests[mid - 1]);
      const got = rest(c);
      const d = compareDigestStreams(want, got);
      expect(d, `${name} (${label}): after restore${d ? `, first diverging tick ${mid + d.tick} cores ${d.cores.join(' ')}` : ''}`).toBeNull();
      expect(c.projections.map((p) => Array.from(p.w))).toEqual(finalWeights);
      expect(Array.from(c.cyclesTotal)).toEqual(expected.cyclesPerCore);
    }
  });

  it.each(VECTOR_DEFINITIONS.map((d) => [d.name, d] as const))('%s: runs split into several runOnChip calls equal one long run', (name, def) => {
    const { program, stimulus } = stored(def);
    const expected = reference(def);
    const ticks = expected.ticks;
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: ticks - 1 }), { maxLength: 6 }), (cuts) => {
        const bounds = [0, ...[...cuts].sort((a, b) => a - b), ticks];
        const chip = new Chip(program);
        const lines: string[] = [];
        const spikes: number[] = [];
        const cycles = new Array<number>(CHIP_CORES).fill(0);
        let crit = 0;
        for (let i = 0; i + 1 < bounds.length; i++) {
          const [from, to] = [bounds[i], bounds[i + 1]];
          const rec = runOnChip(chip, { ticks: to - from, stimulus: chunkStimulus(stimulus, from, to) }, 'emulator');
          expect(rec.startTick).toBe(from);
          for (let k = 0; k < rec.ticks; k++) lines.push(Array.from(rec.digests.subarray(k * CHIP_CORES, (k + 1) * CHIP_CORES), hex8).join(' '));
          spikes.push(...spikesPerTick(rec.spikes, rec.ticks, from));
          rec.cycles.perCore.forEach((c, j) => (cycles[j] += c));
          crit += rec.cycles.criticalPath;
        }
        const d = compareDigestStreams(expected.digests, lines);
        expect(d, `${name} split at ${cuts.join(', ')}${d ? `: first diverging tick ${d.tick}` : ''}`).toBeNull();
        expect(spikes).toEqual(expected.spikeCounts);
        expect(cycles).toEqual(expected.cyclesPerCore);
        expect(crit).toBe(expected.criticalPath);
      }),
      { numRuns: 3, seed: 20240611, examples: [[[1]], [[ticks - 1]]] },
    );
  });

  it.each(VECTOR_DEFINITIONS.map((d) => [d.name, d] as const))('%s: chip.run() in chunks between host writes equals stepping tick by tick', (name, def) => {
    const { program, stimulus } = stored(def);
    const expected = reference(def);
    const ticks = expected.ticks;
    // Chunks end at every stimulus tick (writes happen between run() calls) and at a few extra points.
    const cuts = new Set<number>([...stimulus.map((e) => e.tick), 7, Math.floor(ticks / 3), ticks - 1].filter((t) => t > 0 && t < ticks));
    const bounds = [0, ...[...cuts].sort((a, b) => a - b), ticks];
    const chip = new Chip(program);
    const player = new StimulusPlayer(chip, stimulus);
    for (let i = 0; i + 1 < bounds.length; i++) {
      player.apply(bounds[i]);
      const r = chip.run(bounds[i + 1] - bounds[i]);
      expect(r).toEqual({ reason: 'ticks', ticks: bounds[i + 1] - bounds[i] });
      expect(coreDigestLine(chip), `${name}: digests after run() ending at tick ${bounds[i + 1] - 1}`).toBe(expected.digests[bounds[i + 1] - 1]);
    }
    expect(chip.tick).toBe(ticks);
    expect(Array.from(chip.cyclesTotal)).toEqual(expected.cyclesPerCore);
    expect(chip.criticalPathTotal).toBe(expected.criticalPath);
  });
});

/**
 * The multi-threaded emulator (src/emulator/parallel/) against the single-threaded golden model: every golden
 * vector on ParallelChip with 2 worker threads (and 3 where it has ≥ 3 groups) reproduces its stored per-tick
 * per-core digests, spike counts, final weights, cycles per core and critical path; random multi-group programs
 * (every neuron feature, teachers and targets across threads, dense/sparse/one-to-one, plastic rules of every
 * trigger, groups split over cores) leave exactly the state, digests and cycle counts of `new Chip(program)` after
 * every tick on 1 and 2 threads; a PAL microcircuit agrees over runs between host writes; snapshots move between
 * Chip and ParallelChip; a single-group program runs on one thread; close() ends every worker.
 *
 * Workers run the compiled dist/ (npm test builds it first; run `npx tsc -p tsconfig.json` before running this
 * file alone).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Chip } from '../src/emulator/chip.js';
import { CHIP_CORES } from '../src/emulator/constants.js';
import { DIGEST_VARIABLES } from '../src/emulator/digest.js';
import { UsageError } from '../src/emulator/errors.js';
import { ParallelChip, WorkerFailedError } from '../src/emulator/parallel/parallelChip.js';
import {
  Compartment,
  GroupKind,
  NoiseTarget,
  NudgeSource,
  OutputMode,
  PortKind,
  ProbeVariable,
  ProjectionKind,
  Rounding,
  type Group,
  type Program,
  type Projection,
} from '../src/emulator/program.js';
import { validateProgram } from '../src/emulator/programCodec.js';
import { compileNetwork } from '../src/models/compiler.js';
import { buildMicrocircuit } from '../src/models/circuits/microcircuit.js';
import { PAL_FIG4AB_FW_BW } from '../src/models/circuits/parameters.js';
import { compileRule } from '../src/models/ruleLanguage.js';
import { VECTOR_DEFINITIONS, decodeStoredProgram, readStoredVector, type StimulusEvent } from '../test-support/vectorDefinitions.js';
import { COEF_ONE, group, inputGroup, ONE, plastic, program, projection, sigmoidLut } from './helpers/programBuilder.js';

const hex8 = (x: number) => (x >>> 0).toString(16).padStart(8, '0');
const digestLine = (d: Uint32Array) => Array.from(d, hex8).join(' ');

/** Every ParallelChip a test creates, closed at the end even if the test fails. */
const open: ParallelChip[] = [];
async function parallel(prog: Program, threads: number): Promise<ParallelChip> {
  const c = await ParallelChip.create(prog, { threads });
  open.push(c);
  return c;
}
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
});

/** Applies stimulus events with tick ≤ k before tick k (as StimulusPlayer / runOnChip do). */
function player(chip: { setInput(p: string, v: ArrayLike<number>): void; clearTarget(p: string): void }, events: readonly StimulusEvent[]) {
  const evs = [...events].sort((a, b) => a.tick - b.tick);
  let next = 0;
  return (k: number) => {
    while (next < evs.length && evs[next].tick <= k) {
      const ev = evs[next++];
      if (ev.values === null) chip.clearTarget(ev.port);
      else chip.setInput(ev.port, ev.values);
    }
  };
}

describe.each(VECTOR_DEFINITIONS.map((d) => [d.name, d] as const))('golden vector %s on ParallelChip', (name, def) => {
  const s = readStoredVector(def.name);
  const prog = s.missing.length ? null : decodeStoredProgram(s.programBytes!);
  const threadCounts = prog && prog.body.groups.length >= 3 ? [2, 3] : [2];
  it.each(threadCounts)('%i threads: every per-tick per-core digest, spikes, weights, cycles, critical path', async (threads) => {
    if (!prog) throw new Error(`vector ${name} missing: run npm run vectors:accept (missing ${s.missing.join(', ')})`);
    const expected = s.expected!;
    const chip = await parallel(prog, threads);
    expect(chip.threads).toBe(Math.min(threads, prog.body.groups.length));
    const apply = player(chip, s.stimulus!);
    const spikes: number[] = [];
    for (let k = 0; k < expected.ticks; k++) {
      apply(k);
      chip.step();
      spikes.push(chip.spikesLastTick());
      const line = digestLine(chip.coreDigests);
      if (line !== expected.digests[k]) expect(line, `${name} (${threads} threads): first diverging tick ${k}`).toBe(expected.digests[k]);
    }
    expect(spikes).toEqual(expected.spikeCounts);
    const V = DIGEST_VARIABLES.length;
    for (const [core, vars] of Object.entries(expected.variableDigests)) {
      const got = Object.fromEntries(DIGEST_VARIABLES.map((v, i) => [v, hex8(chip.variableDigests[Number(core) * V + i])]));
      expect(got, `${name}: variable digests of core ${core}`).toEqual(vars);
    }
    expect(hex8(chip.chipDigest())).toBe(expected.finalChipDigest);
    const weights = Object.fromEntries(prog.body.projections.filter((p) => p.plasticity).map((p) => [p.name, Array.from(chip.readWeights(p.name))]));
    expect(weights).toEqual(expected.finalWeights);
    expect(Array.from(chip.cyclesTotal), `${name}: cycles per core`).toEqual(expected.cyclesPerCore);
    expect(chip.criticalPathTotal, `${name}: critical path`).toBe(expected.criticalPath);
    await chip.close();
  });
});

// ---------------------------------------------------------------------------------------------- random programs

const RULES = [
  'dw = 2^-10 * (post.rate - post.basal_rate) * pre.rate',
  'on post: dw = -(pre.rate * post.soma) + 3',
  'on epoch(1): dw = (reward - post.basal) * pre.x1 * 4',
  'on pre: dw = 2^-6 * post.rate - syn.w * 2^-4',
  'dtag = pre.rate * post.rate - syn.tag * 0.5\non tick: dw = syn.tag * reward',
  'dw = pre.spike * 100 - post.spike * pre.x2',
  'dw = 1e-3 * (post.noise - pre.hp) * (pre.rate + post.x1)',
] as const;

/**
 * A random valid Program of 3–6 groups (1–2 input groups) and 2–8 projections, from a seed: neuron groups with
 * random compartments, outputs, noise, traces, prospective gain, teacher or target nudging; groups split into
 * slices over random cores; projections of every kind, delays 1–3, ~40 % plastic.
 */
function randomProgram(seed: number): Program {
  let st = seed >>> 0 || 1;
  const rnd = () => ((st = (Math.imul(st, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)];
  const chance = (p: number) => rnd() < p;
  const nGroups = int(3, 6);
  const nInputs = int(1, 2);
  const groups: Group[] = [];
  const slices = (size: number) => {
    if (size < 2 || chance(0.5)) return [{ core: int(0, 15), start: 0, count: size }];
    const a = int(1, size - 1);
    return [
      { core: int(0, 15), start: 0, count: a },
      { core: int(0, 15), start: a, count: size - a },
    ];
  };
  const traces = () => ({ traces: int(0, 7), x1Decay: int(1, COEF_ONE), x1Impulse: int(0, ONE), x2Decay: int(1, COEF_ONE), x2Impulse: int(0, ONE), hpDecay: int(1, COEF_ONE) });
  for (let gi = 0; gi < nGroups; gi++) {
    const size = pick([3, 4, 4, 5]);
    const name = `g${gi}`;
    if (gi < nInputs) {
      const spiking = chance(0.4);
      groups.push(inputGroup(name, size, { output: spiking ? OutputMode.Binary : OutputMode.Graded, payloadShift: int(1, 5), slices: slices(size), ...traces() }));
      continue;
    }
    const output = pick([OutputMode.Binary, OutputMode.Binary, OutputMode.Stochastic, OutputMode.Graded, OutputMode.None]);
    const teachers = groups.map((g, i) => ({ g, i })).filter(({ g }) => g.kind === GroupKind.Neuron && g.size === size);
    const nudge = chance(0.3) && teachers.length ? NudgeSource.Teacher : chance(0.2) ? NudgeSource.Target : NudgeSource.None;
    groups.push(
      group(name, size, {
        output,
        lut: output === OutputMode.Binary && chance(0.5) ? -1 : output === OutputMode.Binary || output === OutputMode.None ? (chance(0.5) ? 0 : -1) : 0,
        slices: slices(size),
        hasBasal: chance(0.7),
        hasApical: chance(0.5),
        basalDecay: int(1, COEF_ONE),
        apicalDecay: int(1, COEF_ONE),
        kBasal: int(0, COEF_ONE / 4),
        kApical: int(0, COEF_ONE / 4),
        kTotal: int(1, COEF_ONE / 4),
        kNudge: nudge !== NudgeSource.None ? int(1, COEF_ONE / 4) : 0,
        nudge,
        teacher: nudge === NudgeSource.Teacher ? pick(teachers).i : -1,
        teacherProspective: chance(0.5),
        prospectiveGain: chance(0.4) ? int(1, 8 << 8) : 0,
        basalPredGain: int(0, COEF_ONE),
        threshold: int(ONE / 8, ONE),
        reset: -int(0, ONE / 4),
        refractory: int(0, 3),
        payloadShift: int(1, 5),
        noiseTarget: pick([NoiseTarget.None, NoiseTarget.None, NoiseTarget.Basal, NoiseTarget.Apical, NoiseTarget.Soma]),
        noiseDecay: int(1, COEF_ONE / 8),
        noiseGain: int(0, 2 ** 26),
        initSoma: chance(0.5) ? Int32Array.from({ length: size }, () => int(-ONE, ONE)) : new Int32Array(0),
        ...traces(),
      }),
    );
  }
  const projections: Projection[] = [];
  const nProj = int(2, 8);
  const sources = groups.map((g, i) => ({ g, i })).filter(({ g }) => g.output !== OutputMode.None);
  const targets = groups.map((g, i) => ({ g, i })).filter(({ g }) => g.kind === GroupKind.Neuron);
  for (let k = 0; k < nProj; k++) {
    const { g: pre, i: preI } = pick(sources);
    const { g: post, i: postI } = pick(targets);
    const compartments = [Compartment.Soma, ...(post.hasBasal ? [Compartment.Basal] : []), ...(post.hasApical ? [Compartment.Apical] : [])];
    const kind = pre.size === post.size && chance(0.3) ? ProjectionKind.OneToOne : chance(0.5) ? ProjectionKind.Sparse : ProjectionKind.Dense;
    const bits = pick([8, 16] as const);
    const wRand = () => int(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1);
    let weights: number[];
    let rowPtr: Uint32Array | null = null;
    let cols: Uint16Array | null = null;
    if (kind === ProjectionKind.Sparse) {
      const rp = [0];
      const cs: number[] = [];
      for (let i = 0; i < pre.size; i++) {
        for (let j = 0; j < post.size; j++) if (chance(0.5)) cs.push(j);
        rp.push(cs.length);
      }
      rowPtr = Uint32Array.from(rp);
      cols = Uint16Array.from(cs);
      weights = cs.map(wRand);
    } else weights = Array.from({ length: kind === ProjectionKind.Dense ? pre.size * post.size : pre.size }, wRand);
    let pl = null;
    const weightShift = int(6, 13);
    if (chance(0.4)) {
      const compiled = compileRule(pick(RULES));
      // Rules read traces of both sides.
      pre.traces = 7;
      post.traces = 7;
      const fracBits = int(0, 31 - bits);
      pl = plastic(compiled.statements, {
        fracBits,
        rounding: pick([Rounding.Nearest, Rounding.Stochastic]),
        lowpass: pick([0, COEF_ONE / 16, COEF_ONE]),
        tag: compiled.usesTag,
        updateShift: Math.min(int(0, 4), 31 - (24 - weightShift - fracBits)),
      });
    }
    projections.push(
      projection(`p${k}`, preI, postI, weights, { kind, weightBits: bits, weightShift, delay: int(1, 3), target: pick(compartments), rowPtr, cols, plasticity: pl }),
    );
  }
  const inputs = [
    ...groups.flatMap((g, i) => (g.kind === GroupKind.Input ? [{ name: g.name, kind: g.output === OutputMode.Graded ? PortKind.Rate : PortKind.Spikes, group: i }] : [])),
    ...groups.flatMap((g, i) => (g.nudge === NudgeSource.Target ? [{ name: `${g.name}.target`, kind: PortKind.Target, group: i }] : [])),
    { name: 'reward', kind: PortKind.Reward, group: -1 },
  ];
  const prog = program(groups, projections, { luts: [sigmoidLut()], inputs }, (seed * 2654435761) >>> 0);
  validateProgram(prog);
  return prog;
}

/** Host writes before tick t: rates/spikes on inputs, targets set and cleared, reward. */
function drive(prog: Program, seed: number) {
  return (chip: { setInput(p: string, v: ArrayLike<number>): void; clearTarget(p: string): void }, t: number) => {
    let st = (seed ^ (t * 0x9e3779b9)) >>> 0 || 1;
    const rnd = () => ((st = (Math.imul(st, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (const port of prog.body.inputs) {
      if (port.kind === PortKind.Reward) chip.setInput(port.name, [Math.floor((rnd() - 0.5) * 4 * ONE)]);
      else {
        const n = prog.body.groups[port.group].size;
        if (port.kind === PortKind.Rate) chip.setInput(port.name, Array.from({ length: n }, () => Math.floor((rnd() - 0.3) * 2 * ONE)));
        else if (port.kind === PortKind.Spikes) chip.setInput(port.name, Array.from({ length: n }, () => (rnd() < 0.4 ? 1 : 0)));
        else if (rnd() < 0.25) chip.clearTarget(port.name);
        else chip.setInput(port.name, Array.from({ length: n }, () => Math.floor((rnd() - 0.5) * 2 * ONE)));
      }
    }
  };
}

/**
 * Every state array, element by element, and every counter: a ParallelChip against a Chip. The cycles of the
 * last tick are not state (a snapshot does not hold them): `lastTick` false skips them right after a restore.
 */
function expectSameState(a: Chip, b: ParallelChip, what: string, lastTick = true): void {
  const sa = a.snapshot();
  const sb = b.snapshot();
  expect(sb.arrays.length).toBe(sa.arrays.length);
  for (let q = 0; q < sa.arrays.length; q++) {
    const x = sa.arrays[q];
    const y = sb.arrays[q];
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) expect(y[i], `${what}: state array ${q}, element ${i}`).toBe(x[i]);
  }
  expect(digestLine(b.coreDigests), `${what}: digests`).toBe(digestLine(a.coreDigests));
  expect(Array.from(b.variableDigests)).toEqual(Array.from(a.variableDigests));
  if (lastTick) expect(Array.from(b.cyclesLastTick), `${what}: cycles of the last tick`).toEqual(Array.from(a.cyclesLastTick));
  expect(sb.criticalPathTotal, `${what}: critical path`).toBe(sa.criticalPathTotal);
  expect(sb.synapticEventsTotal, `${what}: synaptic events`).toBe(sa.synapticEventsTotal);
  expect(b.tick).toBe(a.tick);
}

describe('random multi-group programs: ParallelChip on 1 and 2 threads equals Chip after every tick', () => {
  it('state, digests, cycles, critical path and synaptic events (property)', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (seed) => {
        const prog = randomProgram(seed);
        const ref = new Chip(prog, { backend: 'js' });
        const chips = [await parallel(prog, 1), await parallel(prog, 2)];
        expect(chips[1].threads).toBe(2);
        const hostWrites = drive(prog, seed);
        for (let t = 0; t < 12; t++) {
          hostWrites(ref, t);
          ref.step();
          for (const c of chips) {
            hostWrites(c, t);
            c.step();
            expectSameState(ref, c, `seed ${seed}, ${c.threads} thread(s), tick ${t}`);
          }
        }
        // A multi-tick run between host writes.
        ref.run(9);
        for (const c of chips) {
          c.run(9);
          expectSameState(ref, c, `seed ${seed}, ${c.threads} thread(s), after run(9)`);
        }
        await Promise.all(chips.map((c) => c.close()));
        runs++;
      }),
      { numRuns: 12, seed: 424242 },
    );
    expect(runs).toBe(12);
  }, 60_000);
});

describe('ParallelChip host interface', () => {
  it('a PAL microcircuit (teachers, noise, targets, plastic every tick) agrees over runs between host writes, on 3 threads', async () => {
    const { network, layout } = buildMicrocircuit({ rule: 'pal', base: PAL_FIG4AB_FW_BW, layers: [12, 7, 4], weightSeed: 3, chipSeed: 5 });
    const prog = compileNetwork(network).program;
    const ref = new Chip(prog, { backend: 'js' });
    const chip = await parallel(prog, 3);
    expect(chip.threads).toBe(3);
    let st = 99;
    const rnd = () => ((st = (Math.imul(st, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let q = 0; q < 4; q++) {
      const input = Array.from({ length: 12 }, () => Math.round(rnd() * ONE));
      const target = Array.from({ length: 4 }, () => Math.round(rnd() * ONE));
      for (const c of [ref, chip]) {
        c.setInput(layout.input, input);
        if (q === 2) c.clearTarget(layout.targetPort);
        else c.setInput(layout.targetPort, target);
      }
      ref.run(25);
      chip.run(25);
      ref.computeDigests();
      expectSameState(ref, chip, `presentation ${q}`);
      for (const p of layout.forward) expect(Array.from(chip.readWeights(p))).toEqual(Array.from(ref.readWeights(p)));
      for (const g of layout.pyramids) expect(Array.from(chip.read(g, ProbeVariable.Soma))).toEqual(Array.from(ref.read(g, ProbeVariable.Soma)));
    }
  }, 30_000);

  it('snapshots move between Chip and ParallelChip and continue identically', async () => {
    const prog = randomProgram(77);
    const hostWrites = drive(prog, 77);
    const ref = new Chip(prog, { backend: 'js' });
    const chip = await parallel(prog, 2);
    for (let t = 0; t < 8; t++) {
      hostWrites(ref, t);
      hostWrites(chip, t);
      ref.step();
      chip.step();
    }
    const fromParallel = chip.snapshot();
    const fromChip = ref.snapshot();
    // Run on, then rewind the ParallelChip with the Chip's snapshot and a fresh Chip with the ParallelChip's.
    chip.run(5);
    chip.restore(fromChip);
    expectSameState(ref, chip, 'ParallelChip restored from a Chip snapshot', false);
    const fresh = new Chip(prog, { backend: 'js' });
    fresh.restore(fromParallel);
    expectSameState(fresh, chip, 'Chip restored from a ParallelChip snapshot', false);
    for (let t = 8; t < 16; t++) {
      for (const c of [ref, chip]) {
        hostWrites(c, t);
        c.step();
      }
      expectSameState(ref, chip, `tick ${t} after restore`);
    }
  });

  it('a program with a single group runs on one thread however many are asked for', async () => {
    const prog = program([group('solo', 6, { output: OutputMode.Binary, kTotal: COEF_ONE / 8, threshold: -ONE, reset: -4 * ONE, refractory: 2, initSoma: Int32Array.from([0, 1, 2, 3, 4, 5].map((x) => x * -ONE)) })], []);
    const ref = new Chip(prog, { backend: 'js' });
    const chip = await parallel(prog, 4);
    expect(chip.threads).toBe(1);
    let spikes = 0;
    for (let t = 0; t < 20; t++) {
      ref.step();
      chip.step();
      expectSameState(ref, chip, `tick ${t}`);
      spikes += chip.spikesLastTick();
    }
    expect(spikes, 'the program spikes (the comparison covers events)').toBeGreaterThan(0);
    // runUntil stops after the same tick for the same reason.
    for (const c of [ref, chip]) c.restore(new Chip(prog).snapshot());
    const want = ref.runUntil({ maxTicks: 50, untilSpikeIn: 'solo' });
    expect(want.reason).toBe('spike');
    expect(chip.runUntil({ maxTicks: 50, untilSpikeIn: 'solo' })).toEqual(want);
    expect(chip.runUntil({ maxTicks: 50, until: (c) => c.tick === 7 })).toEqual({ reason: 'condition', ticks: 7 - want.ticks });
    chip.reward(-3 * ONE);
    expect(chip.snapshot().reward).toBe(-3 * ONE);
  });

  it('close() ends every worker; a closed chip refuses commands with a UsageError', async () => {
    const chip = await ParallelChip.create(randomProgram(5), { threads: 2 });
    expect(chip.workersAlive).toBe(2);
    chip.run(3);
    await chip.close();
    expect(chip.workersAlive).toBe(0);
    expect(() => chip.run(1)).toThrow(UsageError);
    await chip.close(); // idempotent
  });

  it.each([0, 100])('a worker failing mid-run (spin %i) ends the run with WorkerFailedError instead of a hang', async (spin) => {
    // The worker's test hook (chipWorker.ts): the last worker throws in tick 3 right after the first barrier, while
    // the other one routes 1000 graded events through 2M synapses: its abort must also reach a thread that only
    // starts waiting at the second barrier afterwards.
    const lif = { output: OutputMode.Binary, hasBasal: true, basalDecay: COEF_ONE / 10, kBasal: COEF_ONE / 20, kTotal: COEF_ONE / 20 };
    const prog = program(
      [inputGroup('in', 1000, { slices: [{ core: 1, start: 0, count: 1000 }] }), group('big', 2000, lif), group('small', 4, { ...lif, slices: [{ core: 2, start: 0, count: 4 }] })],
      [projection('fc', 0, 1, new Array<number>(1000 * 2000).fill(1), { weightBits: 8, weightShift: 20 })],
    );
    process.env.APICAL_TEST_WORKER_FAIL_AT_TICK = '3';
    let chip: ParallelChip;
    try {
      chip = await ParallelChip.create(prog, { threads: 2, spin });
    } finally {
      delete process.env.APICAL_TEST_WORKER_FAIL_AT_TICK;
    }
    expect(chip.threads).toBe(2);
    expect(chip.partition).toEqual([[1], [0, 2]]);
    chip.setInput('in', new Array<number>(1000).fill(ONE));
    chip.run(3);
    expect(() => chip.run(5)).toThrow(/injected failure at tick 3/);
    expect(() => chip.run(1)).toThrow(WorkerFailedError);
    await chip.close();
    expect(chip.workersAlive).toBe(0);
  });

  it('rejects a bad thread count and a bad tick count with UsageError', async () => {
    await expect(ParallelChip.create(randomProgram(6), { threads: 0 })).rejects.toThrow(UsageError);
    const chip = await parallel(randomProgram(6), 2);
    expect(() => chip.run(-1)).toThrow(UsageError);
    expect(chip.tick).toBe(0);
    expect(CHIP_CORES).toBe(chip.cyclesTotal.length);
  });
});

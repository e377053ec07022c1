/**
 * Fault injection on the real stack: SerialDevice ── pty ── FaultRelay (corrupt / drop byte / drop frame /
 * duplicate / delay / cut mid-load) ── pty ── apx_board. Every load + run of a golden vector must end either
 * bit-exact with EmulatorDevice or with a typed error — never with wrong numbers; a line cut mid-load must leave
 * the board with no program. Needs gcc and make (like serialDevice.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoardCrcError, BoardDisconnectedError, BoardError, BoardTimeoutError } from '../src/devices/boardErrors.js';
import type { StimulusEvent } from '../src/devices/device.js';
import { EmulatorDevice } from '../src/devices/emulatorDevice.js';
import { ensurePtyBridge, FAULT_KINDS, startFaultRelay, totalFaults, type FaultCounts, type FaultRelay } from '../src/devices/faultRelay.js';
import { buildHostBoard, startHostBoard, type HostBoard } from '../src/devices/hostBoard.js';
import { ERR, MSG } from '../src/devices/protocolConstants.js';
import type { RunRecord } from '../src/devices/runRecord.js';
import { SerialDevice } from '../src/devices/serialDevice.js';
import type { Program } from '../src/emulator/program.js';
import { readProgramFile } from '../src/emulator/programCodec.js';

const ROOT = join(import.meta.dirname, '..');
// consecutive loads in a lane always differ (round-robin), so every load uploads; the first two have ≥ 2 chunks
const NAMES = ['lif-cuba-small', 'graded-dense', 'rstdp-tag', 'plasticity-us', 'one-to-one-soma'];
const CUT_NAMES = new Set(['lif-cuba-small', 'graded-dense']);
const LANES = 4;
const BUDGET_MS = 30_000;
const MIN_FAULTS = 1000;
const RATES = { corrupt: 0.05, dropByte: 0.04, dropFrame: 0.05, duplicate: 0.05, delay: 0.04 };

interface Vector {
  name: string;
  program: Program;
  stimulus: StimulusEvent[];
  ticks: number;
  ref: RunRecord;
}

const isTyped = (e: unknown): boolean => e instanceof BoardTimeoutError || e instanceof BoardCrcError || e instanceof BoardDisconnectedError || e instanceof BoardError;

function sameAsEmulator(rec: RunRecord, ref: RunRecord): string | null {
  if (rec.ticks !== ref.ticks) return `ticks ${rec.ticks} ≠ ${ref.ticks}`;
  if (rec.startTick !== 0) return `startTick ${rec.startTick}`;
  if (rec.digests.length !== ref.digests.length) return 'digest length';
  for (let i = 0; i < ref.digests.length; i++) if (rec.digests[i] !== ref.digests[i]) return `digest tick ${Math.floor(i / 16)} core ${i % 16}`;
  if (rec.spikeCount !== ref.spikeCount) return 'spikeCount';
  if (rec.finalDigest !== ref.finalDigest) return 'finalDigest';
  if (JSON.stringify(rec.cycles.perCore) !== JSON.stringify(ref.cycles.perCore) || rec.cycles.criticalPath !== ref.cycles.criticalPath) return 'cycles';
  const w = (r: RunRecord): string => JSON.stringify(r.weights.map((x) => [x.projection, x.weightShift, Array.from(x.values)]));
  if (w(rec) !== w(ref)) return 'final weights';
  return null;
}

describe('serial link under injected faults (FaultRelay between SerialDevice and apx_board)', () => {
  const vectors: Vector[] = [];
  const boards: HostBoard[] = [];
  beforeAll(async () => {
    buildHostBoard();
    ensurePtyBridge();
    for (const name of NAMES) {
      const dir = join(ROOT, 'test', 'vectors', name);
      const program = readProgramFile(join(dir, 'program.apx'));
      const stimulus = JSON.parse(readFileSync(join(dir, 'stimulus.json'), 'utf8')) as StimulusEvent[];
      const ticks = Math.min(400, (JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { ticks: number }).ticks);
      const emu = new EmulatorDevice();
      await emu.open();
      await emu.load(program);
      vectors.push({ name, program, stimulus, ticks, ref: await emu.run({ ticks, stimulus }) });
    }
    for (let i = 0; i < LANES; i++) boards.push(await startHostBoard());
  }, 60_000);
  afterAll(async () => {
    for (const b of boards) await b.stop();
  });

  it(`≥ ${MIN_FAULTS} faults of every kind: every run is bit-exact or a typed error; a cut mid-load leaves no program`, async () => {
    const counts: FaultCounts = { corrupt: 0, dropByte: 0, dropFrame: 0, duplicate: 0, delay: 0, cut: 0 };
    const outcomes: Record<string, number> = {};
    const silent: string[] = [];
    const untyped: string[] = [];
    const cutProblems: string[] = [];
    const t0 = Date.now();
    const note = (k: string): void => void (outcomes[k] = (outcomes[k] ?? 0) + 1);
    const add = (c: FaultCounts): void => {
      for (const k of FAULT_KINDS) counts[k] += c[k];
    };

    /** After a cut: a clean link to the same board must say "no program", and RUN must be refused by the board. */
    async function checkNothingLoaded(board: HostBoard, tag: string): Promise<void> {
      const relay = await startFaultRelay(board.path, { seed: 0 });
      const dev = new SerialDevice(relay.path);
      try {
        await dev.open();
        if (dev.hello!.loaded) cutProblems.push(`${tag}: board reports a program after a cut mid-load`);
        const request = (dev as unknown as { request: (t: number, p: Uint8Array, e: number) => Promise<Uint8Array> }).request.bind(dev);
        const err = await request(MSG.run, Uint8Array.from([1, 0, 0, 0, 1]), MSG.run).then(
          () => null,
          (e: unknown) => e,
        );
        if (!(err instanceof BoardError) || err.code !== ERR.noProgram) cutProblems.push(`${tag}: RUN after a cut mid-load was not refused with noProgram: ${String(err)}`);
      } finally {
        await dev.close();
        await relay.close();
      }
    }

    async function lane(li: number): Promise<void> {
      const board = boards[li];
      for (let it = 0; Date.now() - t0 < BUDGET_MS && (totalFaults(counts) < MIN_FAULTS * 1.3 || it < 4); it++) {
        const v = vectors[(li + it) % vectors.length];
        const seed = 1000 * li + it + 1;
        const cutHere = CUT_NAMES.has(v.name) && it % 3 === 2;
        const tag = `lane ${li} iteration ${it} ${v.name} seed ${seed}${cutHere ? ' (cut)' : ''}`;
        let relay: FaultRelay | null = null;
        const dev = () => new SerialDevice(relay!.path, { retransmitMs: 30, maxRetries: 40 });
        relay = await startFaultRelay(board.path, { seed, rates: RATES, delayMaxMs: 40, cutAfterLoadChunks: cutHere ? 1 + (it % 2) : undefined });
        const d = dev();
        try {
          await d.open();
          const { alreadyLoaded } = await d.load(v.program);
          if (alreadyLoaded) await d.reset();
          const rec = await d.run({ ticks: v.ticks, stimulus: v.stimulus });
          const diff = sameAsEmulator(rec, v.ref);
          if (diff) silent.push(`${tag}: ${diff}`);
          else note('exact');
          if (cutHere) cutProblems.push(`${tag}: the cut did not happen (no chunk?)`);
        } catch (e) {
          if (isTyped(e)) note((e as Error).name);
          else untyped.push(`${tag}: ${String(e)}`);
        } finally {
          await d.close();
          await relay.close();
          add(relay.counts);
        }
        if (cutHere) await checkNothingLoaded(board, tag);
      }
    }
    await Promise.all(Array.from({ length: LANES }, (_, i) => lane(i)));
    console.log(`faults injected: ${JSON.stringify(counts)} = ${totalFaults(counts)} in ${Date.now() - t0} ms; outcomes ${JSON.stringify(outcomes)}`);
    expect(silent, 'silent corruptions').toEqual([]);
    expect(untyped, 'untyped errors').toEqual([]);
    expect(cutProblems).toEqual([]);
    expect(totalFaults(counts)).toBeGreaterThanOrEqual(MIN_FAULTS);
    for (const k of FAULT_KINDS) expect(counts[k], k).toBeGreaterThan(0);
    expect(outcomes.exact ?? 0).toBeGreaterThan(0);
  }, 60_000);

  it('a link that corrupts every frame from the board ends in BoardCrcError; one that drops every frame to it in BoardTimeoutError', async () => {
    for (const [opts, type] of [
      [{ rates: { corrupt: 1 }, directions: { toBoard: false, toHost: true } }, BoardCrcError],
      [{ rates: { dropFrame: 1 }, directions: { toBoard: true, toHost: false } }, BoardTimeoutError],
    ] as const) {
      const relay = await startFaultRelay(boards[0].path, { seed: 7, ...opts });
      const dev = new SerialDevice(relay.path, { retransmitMs: 30, maxRetries: 4 });
      try {
        const err = await dev.open().then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(type);
        expect(totalFaults(relay.counts)).toBeGreaterThan(0);
      } finally {
        await dev.close();
        await relay.close();
      }
    }
  }, 20_000);
});

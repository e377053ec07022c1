/**
 * Large uploads to the virtual board (firmware-bridge/build/apx_board over a pseudo terminal) through the real
 * serial stack: each load queues more than the tty buffer holds, so the port's writes meet EAGAIN.
 *
 * Regression: with @serialport/bindings-cpp's own EAGAIN path (a "writable" poll that the read side's re-arming
 * cancels, see src/devices/pacedWriteBinding.ts) about one 2 MB load in eight stalled for good and ended in
 * BoardTimeoutError; twenty in a row then failed in about nine runs of ten. With pacedWriteBinding every load
 * completes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatorDevice } from '../src/devices/emulatorDevice.js';
import { FRAME } from '../src/devices/protocolConstants.js';
import type { SerialDevice } from '../src/devices/serialDevice.js';
import { encodeProgram } from '../src/emulator/programCodec.js';
import type { Program } from '../src/emulator/program.js';
import { compileNetwork } from '../src/models/compiler.js';
import { Network } from '../src/models/network.js';
import { SeededRandom } from '../src/models/seededRandom.js';
import { openVirtualBoard, type OpenBoard } from './helpers/virtualBoard.js';

/** A 1024 × 1024 dense 16-bit projection: a Program of about 2 MB. */
function bigProgram(seed: number): Program {
  const rng = new SeededRandom(seed);
  const n = 1024;
  const net = new Network(`upload-${seed}`, { seed, tickSeconds: 1e-4 });
  net.input('in', n, { payloadShift: 2 });
  net.population('out', n, { output: 'graded', activation: 'sigmoid', basal: true, soma: { kBasal: 0.1, kTotal: 0.1 }, payloadShift: 2 });
  net.project('fc', 'in', 'out', { weights: Float64Array.from({ length: n * n }, () => rng.uniform(-0.1, 0.1)), weightBits: 16, weightRange: 1 });
  return compileNetwork(net).program;
}

describe('program upload to the virtual board', () => {
  let vb: OpenBoard;
  let dev: SerialDevice;
  beforeAll(async () => {
    vb = await openVirtualBoard(); // the board runs the current C sources
    dev = vb.dev;
  }, 60_000);
  afterAll(async () => {
    await vb?.close();
  });

  it('20 loads of a 2 MB Program in a row all complete (writes beyond the tty buffer resume)', async () => {
    // Two Programs alternate, so that every load is a real transfer (the board skips the one it holds).
    const programs = [11, 12].map(bigProgram);
    expect(encodeProgram(programs[0], { validate: false }).length).toBeGreaterThan(2_000_000);
    for (let r = 0; r < 20; r++) {
      expect(await dev.load(programs[r % 2]), `load ${r}`).toEqual({ alreadyLoaded: false });
    }
    // The board holds the last one and runs it.
    const rec = await dev.run({ ticks: 2 });
    expect(rec.ticks).toBe(2);
  }, 120_000);

  it('stimulus events larger than one frame (1024 values) span several STIMULUS frames; the run equals the emulator', async () => {
    const program = bigProgram(13);
    const rng = new SeededRandom(14);
    const stimulus = [0, 1, 3].map((tick) => ({ tick, port: 'in', values: Array.from({ length: 1024 }, () => Math.round(rng.uniform(0, 65536))) }));
    // Each event is 11 + 4·1024 bytes, more than one frame's payload.
    expect(11 + 4 * 1024).toBeGreaterThan(FRAME.maxPayload);
    const emu = new EmulatorDevice();
    await emu.open();
    await emu.load(program);
    const ref = await emu.run({ ticks: 5, stimulus });
    await dev.load(program);
    const rec = await dev.run({ ticks: 5, stimulus });
    expect(Buffer.from(rec.digests.buffer).equals(Buffer.from(ref.digests.buffer)), 'per-tick digests').toBe(true);
    expect(rec.finalDigest).toBe(ref.finalDigest);
    // The stimulus mattered: without it the run ends elsewhere.
    await emu.load(program);
    expect((await emu.run({ ticks: 5 })).finalDigest).not.toBe(ref.finalDigest);
  }, 60_000);
});

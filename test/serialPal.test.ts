/**
 * A PAL microcircuit learning on the virtual board (C firmware on a pty, through serialport) learns exactly what
 * the emulator learns: same per-tick digests, same weights read back for every plastic projection.
 */
import { describe, expect, it } from 'vitest';
import { EmulatorDevice } from '../src/devices/emulatorDevice.js';
import { startHostBoard } from '../src/devices/hostBoard.js';
import { SerialDevice } from '../src/devices/serialDevice.js';
import type { StimulusEvent } from '../src/devices/device.js';
import { alignmentDataset } from '../src/models/circuits/alignment.js';
import { buildMicrocircuit } from '../src/models/circuits/microcircuit.js';
import { compileNetwork } from '../src/models/compiler.js';

describe('PAL microcircuit on the virtual board', () => {
  it('5-20-10-20-5 PAL, 3000 ticks of always-on learning: board weights and digests equal the emulator', async () => {
    const { network, layout } = buildMicrocircuit({ rule: 'pal' });
    const { program } = compileNetwork(network);
    const data = alignmentDataset(layout.sizes[0], 30, 1);
    const stimulus: StimulusEvent[] = data.map((x, k) => ({ tick: k * layout.ticksPerPresentation, port: layout.input, values: x.map((v) => Math.round(v * 65536)) }));
    const ticks = 30 * layout.ticksPerPresentation;
    const plastic = program.body.projections.filter((p) => p.plasticity).map((p) => p.name);
    expect(plastic.length).toBeGreaterThanOrEqual(6);

    const emu = new EmulatorDevice();
    await emu.open();
    await emu.load(program);
    const expected = await emu.run({ ticks, stimulus });
    const expectedWeights = await Promise.all(plastic.map((name) => emu.readWeights(name)));

    const board = await startHostBoard();
    const dev = new SerialDevice(board.path);
    try {
      await dev.open();
      expect((await dev.load(program)).alreadyLoaded).toBe(false);
      const got = await dev.run({ ticks, stimulus });
      expect(got.ticks).toBe(ticks);
      expect(Buffer.from(got.digests.buffer).equals(Buffer.from(expected.digests.buffer))).toBe(true);
      expect(got.finalDigest).toBe(expected.finalDigest);
      for (let k = 0; k < plastic.length; k++) {
        const w = await dev.readWeights(plastic[k]);
        expect(Array.from(w), plastic[k]).toEqual(Array.from(expectedWeights[k]));
      }
      // Learning happened: the feedback weights moved away from their initial values.
      const b0 = program.body.projections.find((p) => p.name === layout.backward[0])!.weights;
      const b1 = expectedWeights[plastic.indexOf(layout.backward[0])];
      expect(Array.from(b1).some((x, i) => x !== b0[i])).toBe(true);
    } finally {
      await dev.close();
      await board.stop();
    }
  }, 60_000);
});

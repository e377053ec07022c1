/**
 * SerialDevice over the real `serialport` stack on a real pseudo terminal to the real virtual board
 * (firmware-bridge/build/apx_board, the C chip core behind docs/protocol.md). No mocks. Needs gcc and make:
 * without them the suite fails with a message saying so (it never skips).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmulatorDevice } from '../src/devices/emulatorDevice.js';
import { buildHostBoard, startHostBoard, type HostBoard } from '../src/devices/hostBoard.js';
import { MSG } from '../src/devices/protocolConstants.js';
import { BoardDisconnectedError, BoardVersionError, SerialDevice } from '../src/devices/serialDevice.js';
import { decodeFrame, encodeFrame } from '../src/devices/session.js';
import { SlipDecoderStream, SlipEncoderStream, slipEncode } from '../src/devices/slipFraming.js';
import { crc32 } from '../src/devices/crc32.js';
import { ChipRevisionError } from '../src/emulator/errors.js';
import type { Program } from '../src/emulator/program.js';
import { readProgramFile } from '../src/emulator/programCodec.js';
import type { StimulusEvent } from '../src/devices/device.js';

const ROOT = join(import.meta.dirname, '..');
interface Expected {
  ticks: number;
  digests: string[];
  spikeCounts: number[];
  finalWeights: Record<string, number[]>;
  cyclesPerCore: number[];
  criticalPath: number;
  finalChipDigest: string;
}
function vector(name: string): { program: Program; stimulus: StimulusEvent[]; expected: Expected } {
  const dir = join(ROOT, 'test', 'vectors', name);
  return {
    program: readProgramFile(join(dir, 'program.apx')),
    stimulus: JSON.parse(readFileSync(join(dir, 'stimulus.json'), 'utf8')) as StimulusEvent[],
    expected: JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected,
  };
}
const hex = (d: Uint32Array, t: number): string => Array.from(d.subarray(t * 16, t * 16 + 16), (x) => x.toString(16).padStart(8, '0')).join(' ');

describe('SLIP framing and CRC-32', () => {
  it('round-trips frames with END/ESC bytes through the Transform streams, split at every byte', async () => {
    const frames = [Uint8Array.from([0xc0, 0xdb, 0xdc, 0xdd, 1, 2, 0xc0]), Uint8Array.from([0xdb]), encodeFrame(MSG.hello, 1, 7, 9, Uint8Array.from([0xc0, 0, 0xdb]))];
    const enc = new SlipEncoderStream();
    const mid = new PassThrough();
    const dec = new SlipDecoderStream();
    const got: Uint8Array[] = [];
    dec.on('data', (f: Buffer) => got.push(new Uint8Array(f)));
    enc.on('data', (b: Buffer) => {
      for (const byte of b) mid.write(Buffer.from([byte]));
    });
    mid.pipe(dec);
    for (const f of frames) enc.write(f);
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(frames);
    expect(slipEncode(Uint8Array.from([0xc0, 0xdb]))).toEqual(Buffer.from([0xc0, 0xdb, 0xdc, 0xdb, 0xdd, 0xc0]));
  });

  it('CRC-32 is IEEE (check value) and a corrupted frame is rejected', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const f = encodeFrame(MSG.loadChunk, 0, 3, 4, Uint8Array.from([1, 2, 3, 4, 5]));
    expect(decodeFrame(f)).toMatchObject({ type: MSG.loadChunk, seq: 3, ack: 4 });
    for (let i = 0; i < f.length; i++) {
      const bad = f.slice();
      bad[i] ^= 0x10;
      expect(decodeFrame(bad)).toBeNull();
    }
  });

  it('drops frames with an invalid escape or over the maximum length', async () => {
    const dec = new SlipDecoderStream(4);
    const got: Buffer[] = [];
    dec.on('data', (f: Buffer) => got.push(f));
    dec.write(Buffer.from([0xc0, 1, 0xdb, 0x05, 2, 0xc0, 1, 2, 3, 4, 5, 0xc0, 9, 0xc0]));
    await new Promise((r) => setTimeout(r, 5));
    expect(got.map((b) => [...b])).toEqual([[9]]);
    expect(dec.dropped).toBe(2);
  });
});

describe('SerialDevice on the virtual board (apx_board on a pty)', () => {
  let board: HostBoard;
  let dev: SerialDevice;
  beforeAll(async () => {
    buildHostBoard(); // make -C firmware-bridge host; throws HostBoardError "install gcc and make" without a toolchain
    board = await startHostBoard();
    dev = new SerialDevice(board.path);
  }, 60_000);
  afterAll(async () => {
    await dev?.close();
    await board?.stop();
  });

  it('open() does HELLO: protocol version, chip revision, capacities, nothing loaded', async () => {
    const info = await dev.open();
    expect(info).toMatchObject({ kind: 'serial', protocolVersion: 1, chipRevision: 1, cores: 16 });
    expect(dev.hello).toMatchObject({ loaded: false, loadedHash: null, maxPayload: 4096 });
    expect(dev.hello!.arenaBytes).toBeGreaterThan(0);
  });

  for (const name of ['lif-cuba-small', 'graded-dense', 'rstdp-tag']) {
    it(`${name}: per-tick digests, spike counts, cycles and final weights equal the emulator and expected.json`, async () => {
      const { program, stimulus, expected } = vector(name);
      const before = { ...dev.stats! };
      const t0 = performance.now();
      expect(await dev.load(program)).toEqual({ alreadyLoaded: false });
      const loadMs = performance.now() - t0;
      const payload = dev.stats!.payloadBytesOut - before.payloadBytesOut;
      const wire = dev.stats!.wireBytesOut - before.wireBytesOut;
      console.log(`${name}: upload ${payload} payload bytes, ${wire} wire bytes out (${((100 * payload) / wire).toFixed(1)} %), ${loadMs.toFixed(1)} ms, ${((payload / loadMs) * 1000).toFixed(0)} B/s`);
      const t1 = performance.now();
      const rec = await dev.run({ ticks: expected.ticks, stimulus });
      console.log(`${name}: run of ${expected.ticks} ticks over the link ${(performance.now() - t1).toFixed(1)} ms`);

      const emu = new EmulatorDevice();
      await emu.open();
      await emu.load(program);
      const ref = await emu.run({ ticks: expected.ticks, stimulus });
      expect(rec.digests).toEqual(ref.digests);
      expect(rec.spikeCount).toBe(ref.spikeCount);
      expect(rec.cycles.perCore).toEqual(ref.cycles.perCore);
      expect(rec.cycles.criticalPath).toBe(ref.cycles.criticalPath);
      expect(rec.finalDigest).toBe(ref.finalDigest);
      expect(rec.programHash).toBe(ref.programHash);
      expect(rec.weights.map((w) => [w.projection, w.weightShift, w.values])).toEqual(ref.weights.map((w) => [w.projection, w.weightShift, w.values]));

      for (let t = 0; t < expected.ticks; t++) expect(hex(rec.digests, t), `tick ${t}`).toBe(expected.digests[t]);
      expect(rec.cycles.perCore).toEqual(expected.cyclesPerCore);
      expect(rec.cycles.criticalPath).toBe(expected.criticalPath);
      expect(rec.finalDigest.toString(16).padStart(8, '0')).toBe(expected.finalChipDigest);
      for (const [proj, values] of Object.entries(expected.finalWeights)) expect(Array.from(await dev.readWeights(proj)), proj).toEqual(values);
      for (const p of program.body.projections) expect(await dev.readWeights(p.name), p.name).toEqual(await emu.readWeights(p.name));
      for (const g of program.body.groups) for (const v of [1, 2, 3]) expect(await dev.readState(g.name, v), `${g.name} ${v}`).toEqual(await emu.readState(g.name, v));

      // reset returns to the state right after load: the same run again gives the same digests
      await dev.reset();
      const again = await dev.run({ ticks: 50, stimulus });
      expect(again.digests).toEqual(ref.digests.subarray(0, 50 * 16));
      expect(again.startTick).toBe(0);
      const more = await dev.run({ ticks: 10, digests: false });
      expect(more).toMatchObject({ startTick: 50, ticks: 10, finalDigest: 0 });
      expect(more.digests.length).toBe(0);
    }, 20_000);
  }

  it('loading the loaded program again answers alreadyLoaded without an upload', async () => {
    const { program } = vector('lif-cuba-small');
    expect(await dev.load(program)).toEqual({ alreadyLoaded: false });
    const before = dev.stats!.payloadBytesOut;
    expect(await dev.load(program)).toEqual({ alreadyLoaded: true });
    expect(dev.stats!.payloadBytesOut - before).toBeLessThan(100);
  });

  it('a program for another chip revision is refused before anything is sent', async () => {
    const { program } = vector('one-to-one-soma');
    const before = dev.stats!.framesOut;
    await expect(dev.load({ ...program, chipRevision: 2 })).rejects.toBeInstanceOf(ChipRevisionError);
    expect(dev.stats!.framesOut).toBe(before);
    expect(await dev.load(vector('lif-cuba-small').program)).toEqual({ alreadyLoaded: true }); // still loaded
  });
});

describe('a board killed mid-load', () => {
  it('gives BoardDisconnectedError, and a restarted board has no program', async () => {
    const board = await startHostBoard();
    const dev = new SerialDevice(board.path);
    try {
      await dev.open();
      const { program } = vector('lif-cuba-small');
      // Fault injection on the real stack: SIGKILL the board process right after the second LOAD_CHUNK is written.
      const session = (dev as unknown as { session: { send: (t: number, p: Uint8Array) => Promise<void> } }).session;
      const send = session.send.bind(session);
      let chunks = 0;
      session.send = (type, payload) => {
        const r = send(type, payload);
        if (type === MSG.loadChunk && ++chunks === 2) board.process.kill('SIGKILL');
        return r;
      };
      await expect(dev.load(program)).rejects.toBeInstanceOf(BoardDisconnectedError);
      await expect(dev.run({ ticks: 1 })).rejects.toThrow(/no program loaded|closed|serial line/);
    } finally {
      await dev.close();
      await board.kill();
    }
    const fresh = await startHostBoard();
    const dev2 = new SerialDevice(fresh.path);
    try {
      await dev2.open();
      expect(dev2.hello).toMatchObject({ loaded: false, loadedHash: null });
      await dev2.shutdown();
      await fresh.stop();
      expect(fresh.process.exitCode).toBe(0);
    } finally {
      await dev2.close();
      await fresh.kill();
    }
  }, 20_000);
});

describe('version checks and partial loads', () => {
  for (const [flag, re] of [
    ['--advertise-protocol', /protocol 2/],
    ['--advertise-revision', /chip revision 2/],
  ] as const) {
    it(`open() refuses a board with ${flag} 2 before anything is loaded (BoardVersionError)`, async () => {
      const board = await startHostBoard({ args: [flag, '2'] });
      const dev = new SerialDevice(board.path);
      try {
        const err = await dev.open().catch((e: Error) => e);
        expect(err).toBeInstanceOf(BoardVersionError);
        expect((err as Error).message).toMatch(re);
        await expect(dev.load(vector('lif-cuba-small').program)).rejects.toThrow(/not open/);
      } finally {
        await dev.close();
        await board.stop();
      }
    });
  }

  it('a load abandoned by the host (line closed mid-upload) leaves no program: the old one is gone too', async () => {
    const board = await startHostBoard();
    try {
      const a = new SerialDevice(board.path);
      await a.open();
      expect(await a.load(vector('rstdp-tag').program)).toEqual({ alreadyLoaded: false });
      const session = (a as unknown as { session: { send: (t: number, p: Uint8Array) => Promise<void> } }).session;
      const send = session.send.bind(session);
      session.send = (type, payload) => (type === MSG.loadChunk ? new Promise<void>(() => {}) : send(type, payload)); // the host stops mid-upload
      void a.load(vector('lif-cuba-small').program).catch(() => {}); // never settles: its chunks are never sent
      await new Promise((r) => setTimeout(r, 100));
      await a.close();
      const b = new SerialDevice(board.path);
      await b.open();
      expect(b.hello).toMatchObject({ loaded: false, loadedHash: null });
      expect(await b.load(vector('rstdp-tag').program)).toEqual({ alreadyLoaded: false });
      await b.close();
    } finally {
      await board.stop();
    }
  });
});

/**
 * SerialDevice: the Device interface on a board behind a serial line (docs/protocol.md), through the
 * `serialport` package. Bit-exact with EmulatorDevice: the same per-tick per-core digests, spike counts, cycle
 * totals and final weights. Spikes are streamed as counts per tick only, so RunRecord.spikes is empty (the
 * spikeCount is the exact total); probes are not streamed by protocol 1 (RunRecord.probes is empty).
 */
import { SerialPort } from 'serialport';
import { pacedPortOptions } from './pacedWriteBinding.js';
import { CHIP_CORES, CHIP_REVISION, DEFAULT_CLOCK_HZ } from '../emulator/constants.js';
import { ChipRevisionError, ProgramFitError, UsageError } from '../emulator/errors.js';
import type { Program } from '../emulator/program.js';
import { encodeProgram } from '../emulator/programCodec.js';
import { BoardDisconnectedError, BoardError, BoardTimeoutError, BoardVersionError } from './boardErrors.js';
import type { Device, DeviceInfo, RunRequest, StimulusEvent } from './device.js';
import { ERR, FRAME, LOAD_STATUS, MSG, PROTOCOL_VERSION, RUN_FLAG, SESSION, STIM_OP, TICK_RECORD_BYTES } from './protocolConstants.js';
import { RUN_RECORD_SCHEMA, type RunRecord } from './runRecord.js';
import { Session, type SessionStats } from './session.js';

export { BoardCrcError, BoardDisconnectedError, BoardError, BoardTimeoutError, BoardVersionError } from './boardErrors.js';

export interface BoardHello {
  protocolVersion: number;
  chipRevision: number;
  cores: number;
  arenaBytes: number;
  programMaxBytes: number;
  maxPayload: number;
  window: number;
  loaded: boolean;
  loadedHash: string | null;
  firmwareVersion: string;
}

export interface SerialDeviceOptions {
  baudRate?: number;
  /** Timeout for one response (ms); a stream of tick records restarts it with every batch. */
  responseTimeoutMs?: number;
  retransmitMs?: number;
  maxRetries?: number;
  clockHz?: number;
}

interface Waiter {
  expect: number;
  resolve: (p: Uint8Array) => void;
  reject: (e: Error) => void;
  onTicks?: (p: Uint8Array) => void;
  timer: NodeJS.Timeout;
  arm: () => void;
}

const u8 = (n: number): number[] => [n & 0xff];
function le(n: number, bytes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  return out;
}

export class SerialDevice implements Device {
  private port: SerialPort | null = null;
  private session: Session | null = null;
  private waiter: Waiter | null = null;
  private unsolicited: Error | null = null;
  private program: Program | null = null;
  hello: BoardHello | null = null;

  constructor(
    readonly path: string,
    private readonly options: SerialDeviceOptions = {},
  ) {}

  /** Counters of the session (frames, payload and wire bytes, retransmissions, CRC errors). */
  get stats(): SessionStats | null {
    return this.session?.stats ?? null;
  }

  async open(): Promise<DeviceInfo> {
    const port = new SerialPort(pacedPortOptions(this.path, this.options.baudRate ?? 115200));
    await new Promise<void>((resolve, reject) =>
      port.open((e) => (e ? reject(new BoardDisconnectedError(`cannot open ${this.path}: ${e.message}`, 'is the board connected?')) : resolve())),
    );
    this.port = port;
    const s = new Session(port, { retransmitMs: this.options.retransmitMs, maxRetries: this.options.maxRetries });
    this.session = s;
    s.onFrame = (type, payload) => this.onFrame(type, payload);
    s.onFail = (e) => {
      this.waiter?.reject(e);
      this.waiter = null;
    };
    const p = await this.request(MSG.hello, new Uint8Array([...le(PROTOCOL_VERSION, 4), ...le(SESSION.hostWindow, 2)]), MSG.hello);
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const fwLen = p[57];
    const hello: BoardHello = {
      protocolVersion: v.getUint32(0, true),
      chipRevision: v.getUint32(4, true),
      cores: v.getUint32(8, true),
      arenaBytes: v.getUint32(12, true),
      programMaxBytes: v.getUint32(16, true),
      maxPayload: v.getUint16(20, true),
      window: v.getUint16(22, true),
      loaded: p[24] === 1,
      loadedHash: p[24] === 1 ? Buffer.from(p.subarray(25, 57)).toString('hex') : null,
      firmwareVersion: Buffer.from(p.subarray(58, 58 + fwLen)).toString('latin1'),
    };
    this.hello = hello;
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      await this.close();
      throw new BoardVersionError(`board speaks protocol ${hello.protocolVersion}, this apical speaks ${PROTOCOL_VERSION}`, 'update the board firmware or apical');
    }
    if (hello.chipRevision !== CHIP_REVISION) {
      await this.close();
      throw new BoardVersionError(`board is chip revision ${hello.chipRevision}, this apical targets revision ${CHIP_REVISION}`, 'use an apical release for that chip revision');
    }
    s.window = Math.max(1, Math.min(hello.window, 64));
    return { kind: 'serial', firmwareVersion: hello.firmwareVersion, protocolVersion: hello.protocolVersion, chipRevision: hello.chipRevision, cores: hello.cores };
  }

  async load(program: Program): Promise<{ alreadyLoaded: boolean }> {
    const hello = this.requireOpen();
    if (program.chipRevision !== hello.chipRevision) {
      throw new ChipRevisionError(`program is for chip revision ${program.chipRevision}, the board is revision ${hello.chipRevision}`, 'recompile the network for this chip');
    }
    const bytes = encodeProgram(program, { validate: false });
    if (bytes.length > hello.programMaxBytes) {
      throw new ProgramFitError(`program of ${bytes.length} bytes exceeds the board's program buffer of ${hello.programMaxBytes} bytes`);
    }
    const hash = Buffer.from(program.hash, 'hex');
    this.unsolicited = null;
    const begin = await this.request(MSG.loadBegin, new Uint8Array([...le(bytes.length, 4), ...le(program.chipRevision, 4), ...hash]), MSG.loadBegin);
    if (begin[0] === LOAD_STATUS.alreadyLoaded) {
      this.program = program;
      return { alreadyLoaded: true };
    }
    this.program = null;
    const chunk = hello.maxPayload - 4;
    const sends: Promise<void>[] = [];
    for (let off = 0; off < bytes.length; off += chunk) {
      const part = bytes.subarray(off, Math.min(bytes.length, off + chunk));
      const payload = new Uint8Array(4 + part.length);
      payload.set(le(off, 4), 0);
      payload.set(part, 4);
      sends.push(this.session!.send(MSG.loadChunk, payload));
    }
    await Promise.all(sends);
    try {
      await this.request(MSG.loadEnd, new Uint8Array(0), MSG.loadEnd);
    } catch (e) {
      throw this.unsolicited ?? e;
    }
    this.program = program;
    return { alreadyLoaded: false };
  }

  async run(req: RunRequest): Promise<RunRecord> {
    const program = this.requireProgram();
    const ticks = req.ticks;
    if (!Number.isInteger(ticks) || ticks < 0 || ticks > 0xffffffff) throw new UsageError(`ticks must be a non-negative integer, got ${ticks}`);
    const wantDigests = req.digests ?? true;
    const stim: StimulusEvent[] = [...(req.stimulus ?? [])].sort((a, b) => a.tick - b.tick);
    const inputs = program.body.inputs;
    // Stimulus events: one byte stream (docs/protocol.md §4.3), cut into STIMULUS frames of at most maxPayload bytes
    // (the board concatenates their payloads, so an event may span frames).
    const stream: number[] = [];
    for (const ev of stim) {
      const port = inputs.findIndex((p) => p.name === ev.port);
      if (port < 0) throw new UsageError(`no input port "${ev.port}"`);
      const values = ev.values ?? [];
      stream.push(...le(Math.max(0, ev.tick), 4), ...le(port, 2), ...u8(ev.values === null ? STIM_OP.clear : STIM_OP.set), ...le(values.length, 4));
      for (const x of values) stream.push(...le(x >>> 0, 4));
    }
    const sends: Promise<void>[] = [];
    const maxPayload = Math.min(this.hello!.maxPayload, FRAME.maxPayload);
    for (let off = 0; off < stream.length; off += maxPayload) {
      sends.push(this.session!.send(MSG.stimulus, Uint8Array.from(stream.slice(off, off + maxPayload))));
    }
    await Promise.all(sends);
    const digests = new Uint32Array(wantDigests ? ticks * CHIP_CORES : 0);
    let spikeCount = 0;
    let seen = 0;
    const onTicks = (p: Uint8Array): void => {
      const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
      const first = v.getUint32(0, true);
      const count = v.getUint16(4, true);
      for (let i = 0; i < count; i++) {
        const o = 6 + i * TICK_RECORD_BYTES;
        spikeCount += v.getUint32(o, true);
        if (wantDigests) for (let c = 0; c < CHIP_CORES; c++) digests[(first + i) * CHIP_CORES + c] = v.getUint32(o + 4 + 4 * c, true);
      }
      seen += count;
    };
    // Tick records are always streamed (they carry the spike counts); digests:false only drops them here.
    const done = await this.request(MSG.run, new Uint8Array([...le(ticks, 4), RUN_FLAG.digests]), MSG.run, onTicks);
    if (seen !== ticks) throw new BoardError(`board streamed ${seen} tick records for ${ticks} ticks`, ERR.badPayload);
    const v = new DataView(done.buffer, done.byteOffset, done.byteLength);
    const startTick = Number(v.getBigUint64(4, true));
    const perCore: number[] = [];
    for (let c = 0; c < CHIP_CORES; c++) perCore.push(Number(v.getBigUint64(12 + 8 * c, true)));
    const criticalPath = Number(v.getBigUint64(12 + 8 * CHIP_CORES, true));
    const finalDigest = v.getUint32(20 + 8 * CHIP_CORES, true);
    const clockHz = this.options.clockHz ?? DEFAULT_CLOCK_HZ;
    const weights: RunRecord['weights'] = [];
    for (const p of program.body.projections) {
      if (p.plasticity) weights.push({ projection: p.name, weightShift: p.weightShift, values: await this.readWeights(p.name) });
    }
    return {
      schema: RUN_RECORD_SCHEMA,
      programHash: program.hash,
      device: `serial:${this.path}`,
      startTick,
      ticks,
      spikes: [],
      spikeCount,
      probes: [],
      cycles: {
        perCore,
        criticalPath,
        clockHz,
        realTimeFactor: ticks && criticalPath ? (program.body.tickSeconds * ticks) / (criticalPath / clockHz) : Infinity,
      },
      digests,
      cores: CHIP_CORES,
      finalDigest: wantDigests ? finalDigest : 0,
      weights,
    };
  }

  async readWeights(projection: string): Promise<Int8Array | Int16Array> {
    const program = this.requireProgram();
    const index = program.body.projections.findIndex((p) => p.name === projection);
    if (index < 0) throw new UsageError(`no projection "${projection}"`);
    let out: Int8Array | Int16Array | null = null;
    let first = 0;
    for (;;) {
      const p = await this.request(MSG.readWeights, new Uint8Array([...le(index, 2), ...le(first, 4), ...le(0xffffffff, 4)]), MSG.readWeights);
      const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
      const bits = p[0];
      const total = v.getUint32(2, true);
      const count = v.getUint32(10, true);
      out ??= bits === 8 ? new Int8Array(total) : new Int16Array(total);
      for (let k = 0; k < count; k++) out[first + k] = bits === 8 ? v.getInt8(14 + k) : v.getInt16(14 + 2 * k, true);
      first += count;
      if (first >= total || count === 0) return out;
    }
  }

  async readState(group: string, variable: number): Promise<Int32Array> {
    const program = this.requireProgram();
    const index = program.body.groups.findIndex((g) => g.name === group);
    if (index < 0) throw new UsageError(`no group "${group}"`);
    let out: Int32Array | null = null;
    let first = 0;
    for (;;) {
      const p = await this.request(MSG.readState, new Uint8Array([...le(index, 2), variable & 0xff, ...le(first, 4), ...le(0xffffffff, 4)]), MSG.readState);
      const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
      const total = v.getUint32(0, true);
      const count = v.getUint32(8, true);
      out ??= new Int32Array(total);
      for (let k = 0; k < count; k++) out[first + k] = v.getInt32(12 + 4 * k, true);
      first += count;
      if (first >= total || count === 0) return out;
    }
  }

  async reset(): Promise<void> {
    this.requireProgram();
    await this.request(MSG.reset, new Uint8Array(0), MSG.reset);
  }

  /** Asks the board process to exit (virtual boards); the line closes afterwards. */
  async shutdown(): Promise<void> {
    this.requireOpen();
    await this.request(MSG.shutdown, new Uint8Array(0), MSG.shutdown);
    await this.close();
  }

  async close(): Promise<void> {
    this.waiter?.reject(new BoardDisconnectedError('device closed'));
    this.waiter = null;
    this.session?.close();
    this.session = null;
    const port = this.port;
    this.port = null;
    this.program = null;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private requireOpen(): BoardHello {
    if (!this.session || !this.hello) throw new UsageError('serial device is not open', 'call open() first');
    if (this.session.failed) throw this.session.failed;
    return this.hello;
  }

  private requireProgram(): Program {
    this.requireOpen();
    if (!this.program) throw new UsageError('no program loaded', 'call load(program) first');
    return this.program;
  }

  private onFrame(type: number, payload: Uint8Array): void {
    const w = this.waiter;
    if (type === MSG.error) {
      const e = boardError(payload);
      if (w) {
        this.waiter = null;
        clearTimeout(w.timer);
        w.reject(e);
      } else this.unsolicited ??= e;
      return;
    }
    if (!w) return;
    if (type === MSG.ticks && w.onTicks) {
      w.arm();
      w.onTicks(payload);
      return;
    }
    if (type === (w.expect | MSG.response)) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.resolve(payload);
    }
  }

  /** Sends a command and waits for its response (ERROR → typed error). */
  private request(type: number, payload: Uint8Array, expect: number, onTicks?: (p: Uint8Array) => void): Promise<Uint8Array> {
    const s = this.session;
    if (!s) return Promise.reject(new UsageError('serial device is not open', 'call open() first'));
    if (s.failed) return Promise.reject(s.failed);
    if (this.waiter) return Promise.reject(new UsageError('one command at a time on a serial device'));
    if (type === MSG.hello) s.restart();
    const timeoutMs = this.options.responseTimeoutMs ?? 10_000;
    return new Promise<Uint8Array>((resolve, reject) => {
      const w: Waiter = {
        expect,
        resolve,
        reject,
        onTicks,
        timer: setTimeout(() => {}, 0),
        arm: () => {
          clearTimeout(w.timer);
          w.timer = setTimeout(() => {
            if (this.waiter === w) this.waiter = null;
            reject(new BoardTimeoutError(`no response to command 0x${type.toString(16)} within ${timeoutMs} ms`));
          }, timeoutMs);
        },
      };
      w.arm();
      this.waiter = w;
      s.send(type, payload).catch((e: Error) => {
        if (this.waiter === w) this.waiter = null;
        clearTimeout(w.timer);
        reject(e);
      });
    });
  }
}

/** An ERROR frame's payload (command u8, code u16, length u16, message) → a typed error. */
export function boardError(p: Uint8Array): Error {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const cmd = p[0];
  const code = p.length >= 3 ? v.getUint16(1, true) : 0;
  const len = p.length >= 5 ? v.getUint16(3, true) : 0;
  const msg = Buffer.from(p.subarray(5, 5 + len)).toString('utf8');
  const text = `board: ${msg} (command 0x${cmd.toString(16)}, error ${code})`;
  if (code === ERR.fit || code === ERR.arena || code === ERR.tooLarge) return new ProgramFitError(text, 'make the network smaller or use a board with more memory');
  if (code === ERR.revision) return new ChipRevisionError(text, 'recompile the network for this chip');
  return new BoardError(text, code);
}

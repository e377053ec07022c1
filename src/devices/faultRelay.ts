/**
 * A fault-injecting relay between a host (SerialDevice) and a board (apx_board, or any serial device path).
 *
 *   host ──pty── pty_bridge (C, firmware-bridge/fuzz/pty_bridge.c) ──stdio── FaultRelay ──serialport── board
 *
 * Node has no pty API, so a tiny C helper opens the host-side pseudo terminal and shuttles its bytes over
 * stdin/stdout; the fault logic lives here. Each direction's byte stream is cut into SLIP frames (at END bytes)
 * and every frame draws one decision from a seeded PRNG (mulberry32, one stream per direction): pass, or one
 * fault — corrupt a byte, drop a byte, drop the frame, duplicate the frame, or delay (hold this direction's
 * bytes for a few ms, order preserved). `cutAfterLoadChunks: k` closes the host side after the k-th LOAD_CHUNK
 * frame went to the board (a line cut mid-load). Decisions are a deterministic function of the seed and of the
 * sequence of frames; which frames the endpoints send (retransmissions) still depends on timing.
 * docs/protocol.md, "Faults and fuzzing".
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SerialPort } from 'serialport';
import { pacedPortOptions } from './pacedWriteBinding.js';
import { HostBoardError } from './hostBoard.js';
import { MSG, SLIP } from './protocolConstants.js';

export type FaultKind = 'corrupt' | 'dropByte' | 'dropFrame' | 'duplicate' | 'delay' | 'cut';
export const FAULT_KINDS: readonly FaultKind[] = ['corrupt', 'dropByte', 'dropFrame', 'duplicate', 'delay', 'cut'];

/** Probability per frame of each fault (at most one fault per frame; the sum must be ≤ 1). */
export interface FaultRates {
  corrupt: number;
  dropByte: number;
  dropFrame: number;
  duplicate: number;
  delay: number;
}

export interface FaultRelayOptions {
  seed: number;
  rates?: Partial<FaultRates>;
  /** Which directions get faults (default both). */
  directions?: { toBoard?: boolean; toHost?: boolean };
  /** Longest hold of a delay fault, ms (uniform 1..delayMaxMs; default 60). */
  delayMaxMs?: number;
  /** Close the host side right after the k-th LOAD_CHUNK frame (1-based) has been forwarded to the board. */
  cutAfterLoadChunks?: number;
  baudRate?: number;
}

export type FaultCounts = Record<FaultKind, number>;

export interface FaultRelay {
  /** Pseudo terminal for the host (open it with SerialDevice). */
  path: string;
  /** Faults injected so far, by kind. */
  readonly counts: FaultCounts;
  /** Frames seen per direction. */
  readonly frames: { toBoard: number; toHost: number };
  /** Resolves when the host side was cut (cutAfterLoadChunks). */
  readonly cutDone: Promise<void>;
  /** Cuts the host side now (the host sees the line close). */
  cut(): Promise<void>;
  /** Stops relaying and closes both sides. */
  close(): Promise<void>;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'firmware-bridge'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new HostBoardError('cannot find the apical project root (firmware-bridge/)');
    dir = up;
  }
}

/** Path of firmware-bridge/build/fuzz/pty_bridge, compiled with cc when missing or older than its source. */
export function ensurePtyBridge(): string {
  const fw = join(projectRoot(), 'firmware-bridge');
  const src = join(fw, 'fuzz', 'pty_bridge.c');
  const bin = join(fw, 'build', 'fuzz', 'pty_bridge');
  const header = join(fw, 'host', 'apx_pty.h');
  if (existsSync(bin) && statSync(bin).mtimeMs >= Math.max(statSync(src).mtimeMs, statSync(header).mtimeMs)) return bin;
  mkdirSync(dirname(bin), { recursive: true });
  const r = spawnSync(process.env.CC ?? 'cc', ['-std=c99', '-Wall', '-Wextra', '-Wpedantic', '-Werror', '-O2', src, '-o', bin], { encoding: 'utf8' });
  if (r.error || r.status !== 0 || !existsSync(bin)) {
    throw new HostBoardError(`cannot compile ${src}: ${r.error?.message ?? (r.stderr || r.stdout).trim()}`, 'install gcc (apt-get install -y build-essential)');
  }
  return bin;
}

/** Splits a byte stream into SLIP frames: each emitted chunk ends with the END that closes a non-empty frame. */
class FrameSplitter {
  private parts: Buffer[] = [];
  private content = 0;
  constructor(private readonly emit: (frame: Buffer, type: number) => void) {}
  push(data: Buffer): void {
    let start = 0;
    for (let i = 0; i < data.length; i++) {
      if (data[i] !== SLIP.end) {
        this.content++;
        continue;
      }
      if (this.content === 0) continue;
      this.parts.push(data.subarray(start, i + 1));
      const frame = Buffer.concat(this.parts);
      this.parts = [];
      this.content = 0;
      start = i + 1;
      let k = 0;
      while (k < frame.length && frame[k] === SLIP.end) k++;
      this.emit(frame, frame[k]);
    }
    if (start < data.length) this.parts.push(Buffer.from(data.subarray(start)));
  }
}

/** One direction: fault decisions and an order-preserving hold queue. */
class Lane {
  private queue: Buffer[] = [];
  private holdUntil = 0;
  private timer: NodeJS.Timeout | null = null;
  stopped = false;
  constructor(
    private readonly rng: () => number,
    private readonly rates: FaultRates,
    private readonly faulty: boolean,
    private readonly delayMaxMs: number,
    private readonly counts: FaultCounts,
    private readonly out: (b: Buffer) => void,
  ) {}

  frame(f: Buffer): void {
    if (this.stopped) return;
    if (!this.faulty) return this.forward(f);
    const r = this.rng();
    const { corrupt, dropByte, dropFrame, duplicate, delay } = this.rates;
    // positions exclude the closing END so one fault stays one fault in one frame
    const pos = (): number => Math.floor(this.rng() * (f.length - 1));
    if (r < corrupt) {
      const g = Buffer.from(f);
      const i = pos();
      g[i] ^= 1 + Math.floor(this.rng() * 255);
      this.counts.corrupt++;
      this.forward(g);
    } else if (r < corrupt + dropByte) {
      const i = pos();
      this.counts.dropByte++;
      this.forward(Buffer.concat([f.subarray(0, i), f.subarray(i + 1)]));
    } else if (r < corrupt + dropByte + dropFrame) {
      this.counts.dropFrame++;
    } else if (r < corrupt + dropByte + dropFrame + duplicate) {
      this.counts.duplicate++;
      this.forward(f);
      this.forward(f);
    } else if (r < corrupt + dropByte + dropFrame + duplicate + delay) {
      this.counts.delay++;
      this.holdUntil = Math.max(this.holdUntil, Date.now() + 1 + Math.floor(this.rng() * this.delayMaxMs));
      this.forward(f);
    } else this.forward(f);
  }

  private forward(b: Buffer): void {
    if (this.queue.length === 0 && Date.now() >= this.holdUntil) {
      this.out(b);
      return;
    }
    this.queue.push(b);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        if (this.stopped) return;
        if (Date.now() < this.holdUntil) return this.schedule();
        const q = this.queue;
        this.queue = [];
        for (const b of q) this.out(b);
      },
      Math.max(0, this.holdUntil - Date.now()),
    );
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
  }
}

/** Starts a relay: a new pty for the host, relayed to `boardPath` with faults. */
export async function startFaultRelay(boardPath: string, options: FaultRelayOptions): Promise<FaultRelay> {
  const bin = ensurePtyBridge();
  const rates: FaultRates = { corrupt: 0, dropByte: 0, dropFrame: 0, duplicate: 0, delay: 0, ...options.rates };
  const sum = rates.corrupt + rates.dropByte + rates.dropFrame + rates.duplicate + rates.delay;
  if (sum > 1 || Object.values(rates).some((x) => x < 0)) throw new RangeError(`fault rates must be ≥ 0 with a sum ≤ 1, got ${sum}`);
  const counts: FaultCounts = { corrupt: 0, dropByte: 0, dropFrame: 0, duplicate: 0, delay: 0, cut: 0 };
  const frames = { toBoard: 0, toHost: 0 };

  const board = new SerialPort(pacedPortOptions(boardPath, options.baudRate ?? 115200));
  await new Promise<void>((resolve, reject) => board.open((e) => (e ? reject(new HostBoardError(`fault relay: cannot open ${boardPath}: ${e.message}`)) : resolve())));

  board.on('error', () => {}); // the board went away: the host sees it as timeouts (the relay is not the host)

  const child: ChildProcess = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin!.on('error', () => {}); // EPIPE after a cut
  const path = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new HostBoardError('pty_bridge printed no pty path within 5000 ms')), 5000);
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      const rest = Buffer.from(buf.slice(nl + 1), 'latin1');
      if (rest.length) child.stdout!.unshift(rest);
      resolve(buf.slice(0, nl).trim());
    };
    child.stdout!.on('data', onData);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new HostBoardError(`cannot start ${bin}: ${e.message}`));
    });
  }).catch(async (e: Error) => {
    board.close();
    throw e;
  });

  const faulty = { toBoard: options.directions?.toBoard ?? true, toHost: options.directions?.toHost ?? true };
  const delayMaxMs = options.delayMaxMs ?? 60;
  const toBoard = new Lane(mulberry32(options.seed), rates, faulty.toBoard, delayMaxMs, counts, (b) => {
    if (board.isOpen) board.write(b, () => {});
  });
  const toHost = new Lane(mulberry32((options.seed ^ 0x9e3779b9) >>> 0), rates, faulty.toHost, delayMaxMs, counts, (b) => {
    if (child.stdin!.writable) child.stdin!.write(b);
  });

  let cutResolve: () => void = () => {};
  const cutDone = new Promise<void>((r) => (cutResolve = r));
  let isCut = false;
  const cut = async (): Promise<void> => {
    if (!isCut) {
      isCut = true;
      counts.cut++;
      toBoard.stop();
      toHost.stop();
      child.stdin!.end(); // pty_bridge exits and closes the master: the host's line is gone
      cutResolve();
    }
    await exited;
  };

  let chunks = 0;
  const hostSplitter = new FrameSplitter((f, type) => {
    frames.toBoard++;
    toBoard.frame(f);
    if (type === MSG.loadChunk && options.cutAfterLoadChunks !== undefined && ++chunks === options.cutAfterLoadChunks) void cut();
  });
  const boardSplitter = new FrameSplitter((f) => {
    frames.toHost++;
    toHost.frame(f);
  });
  child.stdout!.on('data', (d: Buffer) => hostSplitter.push(d));
  const onBoard = (d: Buffer): void => boardSplitter.push(d);
  board.on('data', onBoard);

  const close = async (): Promise<void> => {
    toBoard.stop();
    toHost.stop();
    board.off('data', onBoard);
    if (child.exitCode === null && child.signalCode === null) child.stdin!.end();
    const t = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(t);
    if (board.isOpen) await new Promise<void>((resolve) => board.close(() => resolve()));
  };
  return { path, counts, frames, cutDone, cut, close };
}

export function totalFaults(c: FaultCounts): number {
  return FAULT_KINDS.reduce((s, k) => s + c[k], 0);
}

/**
 * The session layer of docs/protocol.md §3 over any Duplex byte stream: SLIP frames with a CRC-32 trailer,
 * sequence numbers, cumulative acks, go-back-N retransmission on timeout and a send window.
 *
 * Frame: type u8 | flags u8 | seq u32 | ack u32 | payload | crc32 u32 (little-endian; the CRC covers all
 * bytes before it). ACK frames (type 0) carry only `ack` and are never acknowledged themselves.
 */
import type { Duplex } from 'node:stream';
import { BoardCrcError, BoardDisconnectedError, BoardTimeoutError } from './boardErrors.js';
import { crc32 } from './crc32.js';
import { FLAG, FRAME, MSG, SESSION } from './protocolConstants.js';
import { SlipDecoderStream, slipEncode } from './slipFraming.js';

export interface SessionStats {
  framesOut: number;
  payloadBytesOut: number;
  wireBytesOut: number;
  framesIn: number;
  payloadBytesIn: number;
  wireBytesIn: number;
  retransmissions: number;
  crcErrors: number;
}

/** Builds a frame (without SLIP). */
export function encodeFrame(type: number, flags: number, seq: number, ack: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(FRAME.headerBytes + payload.length + FRAME.crcBytes);
  const v = new DataView(f.buffer);
  f[0] = type;
  f[1] = flags;
  v.setUint32(2, seq >>> 0, true);
  v.setUint32(6, ack >>> 0, true);
  f.set(payload, FRAME.headerBytes);
  v.setUint32(f.length - 4, crc32(f, 0, f.length - 4), true);
  return f;
}

export interface DecodedFrame {
  type: number;
  flags: number;
  seq: number;
  ack: number;
  payload: Uint8Array;
}

/** Parses a frame; null when it is too short or its CRC-32 does not match. */
export function decodeFrame(f: Uint8Array): DecodedFrame | null {
  if (f.length < FRAME.headerBytes + FRAME.crcBytes) return null;
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  if (crc32(f, 0, f.length - 4) !== v.getUint32(f.length - 4, true)) return null;
  return { type: f[0], flags: f[1], seq: v.getUint32(2, true), ack: v.getUint32(6, true), payload: f.subarray(FRAME.headerBytes, f.length - 4) };
}

interface Outgoing {
  type: number;
  payload: Uint8Array;
  seq: number;
  bytes: Buffer | null;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class Session {
  /** In-order data frames from the peer. */
  onFrame: (type: number, payload: Uint8Array) => void = () => {};
  /** The session failed for good (disconnect, timeout, CRC); every pending send was rejected with it. */
  onFail: (e: Error) => void = () => {};
  readonly stats: SessionStats = { framesOut: 0, payloadBytesOut: 0, wireBytesOut: 0, framesIn: 0, payloadBytesIn: 0, wireBytesIn: 0, retransmissions: 0, crcErrors: 0 };
  window = 1;
  failed: Error | null = null;

  private nextSeq = 0;
  private rxExpected = 0;
  private syn = true;
  private unacked: Outgoing[] = [];
  private waiting: Outgoing[] = [];
  private lastProgress = Date.now();
  private retries = 0;
  private crcSinceGood = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly decoder: SlipDecoderStream;

  constructor(
    private readonly port: Duplex,
    private readonly opts: { retransmitMs?: number; maxRetries?: number } = {},
  ) {
    this.decoder = new SlipDecoderStream(FRAME.headerBytes + FRAME.maxPayload + FRAME.crcBytes);
    port.pipe(this.decoder);
    this.decoder.on('data', (f: Buffer) => this.receive(f));
    port.on('close', () => this.fail(new BoardDisconnectedError('the board closed the serial line', 'check that the board is connected and powered')));
    port.on('error', (e: Error) => this.fail(new BoardDisconnectedError(`serial line error: ${e.message}`)));
    const rto = opts.retransmitMs ?? SESSION.retransmitMs;
    this.timer = setInterval(() => this.tick(), Math.max(10, rto / 4));
  }

  /** The next frame starts a new session (flag SYN, seq 0): the peer resets its sequence state. */
  restart(): void {
    this.nextSeq = 0;
    this.rxExpected = 0;
    this.syn = true;
  }

  /** Sends a data frame; resolves when the peer acknowledged it. */
  send(type: number, payload: Uint8Array): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (payload.length > FRAME.maxPayload) return Promise.reject(new RangeError(`payload of ${payload.length} bytes exceeds ${FRAME.maxPayload}`));
    return new Promise((resolve, reject) => {
      this.waiting.push({ type, payload, seq: -1, bytes: null, resolve, reject });
      this.pumpWindow();
    });
  }

  close(): void {
    clearInterval(this.timer);
    this.port.unpipe(this.decoder);
    this.decoder.removeAllListeners('data');
  }

  private pumpWindow(): void {
    while (this.waiting.length && this.unacked.length < this.window && !this.failed) {
      const o = this.waiting.shift()!;
      o.seq = this.nextSeq++ >>> 0;
      const flags = this.syn ? FLAG.syn : 0;
      this.syn = false;
      o.bytes = slipEncode(encodeFrame(o.type, flags, o.seq, this.rxExpected, o.payload));
      if (this.unacked.length === 0) {
        this.lastProgress = Date.now();
        this.retries = 0;
      }
      this.unacked.push(o);
      this.write(o.bytes, o.payload.length);
    }
  }

  private write(bytes: Buffer, payloadBytes: number): void {
    this.stats.framesOut++;
    this.stats.payloadBytesOut += payloadBytes;
    this.stats.wireBytesOut += bytes.length;
    this.port.write(bytes);
  }

  private sendAck(): void {
    this.write(slipEncode(encodeFrame(MSG.ack, 0, 0, this.rxExpected, new Uint8Array(0))), 0);
  }

  private receive(raw: Buffer): void {
    if (this.failed) return;
    this.stats.wireBytesIn += raw.length + 2;
    const f = decodeFrame(raw);
    if (!f) {
      this.stats.crcErrors++;
      this.crcSinceGood++;
      return;
    }
    this.crcSinceGood = 0;
    this.handleAck(f.ack);
    if (f.type === MSG.ack) return;
    if (f.seq !== this.rxExpected) {
      this.sendAck();
      return;
    }
    this.rxExpected = (this.rxExpected + 1) >>> 0;
    this.stats.framesIn++;
    this.stats.payloadBytesIn += f.payload.length;
    this.sendAck();
    this.onFrame(f.type, f.payload);
  }

  private handleAck(ack: number): void {
    let progressed = false;
    while (this.unacked.length && ((ack - this.unacked[0].seq) | 0) > 0) {
      this.unacked.shift()!.resolve();
      progressed = true;
    }
    if (progressed) {
      this.lastProgress = Date.now();
      this.retries = 0;
      this.pumpWindow();
    }
  }

  private tick(): void {
    if (this.failed || this.unacked.length === 0) return;
    const rto = this.opts.retransmitMs ?? SESSION.retransmitMs;
    if (Date.now() - this.lastProgress < rto) return;
    if (++this.retries > (this.opts.maxRetries ?? SESSION.maxRetries)) {
      this.fail(
        this.crcSinceGood > 0
          ? new BoardCrcError(`frames from the board failed their CRC-32 ${this.crcSinceGood} times in a row`, 'check the cable, the baud rate and the line settings')
          : new BoardTimeoutError(`no acknowledgement from the board after ${this.retries - 1} retransmissions`, 'is the board running and on this port?'),
      );
      return;
    }
    for (const o of this.unacked) {
      this.stats.retransmissions++;
      this.write(o.bytes!, o.payload.length);
    }
    this.lastProgress = Date.now();
  }

  /** Fails the session: every pending send is rejected with e. */
  fail(e: Error): void {
    if (this.failed) return;
    this.failed = e;
    clearInterval(this.timer);
    for (const o of [...this.unacked, ...this.waiting]) o.reject(e);
    this.unacked = [];
    this.waiting = [];
    this.onFail(e);
  }
}

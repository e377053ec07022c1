/**
 * SLIP framing (RFC 1055) as Transform streams, usable on any Duplex (a SerialPort, a socket, a PassThrough).
 * Every frame is sent as END payload END; END and ESC inside are escaped.
 *
 * Not @serialport/parser-slip-encoder's SlipDecoder: it grows its buffer with one Buffer.concat per byte
 * (quadratic in the frame length), has no bound on the frame length (line noise without an END grows it
 * without limit) and emits empty frames between back-to-back ENDs. This decoder is linear, drops frames longer
 * than maxFrame and frames with an invalid escape, and never emits an empty frame.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { SLIP } from './protocolConstants.js';

export function slipEncode(frame: Uint8Array): Buffer {
  let extra = 0;
  for (const b of frame) if (b === SLIP.end || b === SLIP.esc) extra++;
  const out = Buffer.allocUnsafe(frame.length + extra + 2);
  let o = 0;
  out[o++] = SLIP.end;
  for (const b of frame) {
    if (b === SLIP.end) {
      out[o++] = SLIP.esc;
      out[o++] = SLIP.escEnd;
    } else if (b === SLIP.esc) {
      out[o++] = SLIP.esc;
      out[o++] = SLIP.escEsc;
    } else out[o++] = b;
  }
  out[o++] = SLIP.end;
  return out;
}

/** Writable side takes frames (one chunk = one frame), readable side gives SLIP bytes. */
export class SlipEncoderStream extends Transform {
  constructor() {
    super({ writableObjectMode: true });
  }
  override _transform(chunk: Uint8Array, _enc: BufferEncoding, cb: TransformCallback): void {
    cb(null, slipEncode(chunk));
  }
}

/** Writable side takes bytes, readable side gives decoded frames (one chunk per frame). */
export class SlipDecoderStream extends Transform {
  private buf: Buffer;
  private len = 0;
  private esc = false;
  private bad = false;
  /** Frames dropped for length or a bad escape. */
  dropped = 0;

  constructor(private readonly maxFrame = 65536) {
    super({ readableObjectMode: true });
    this.buf = Buffer.allocUnsafe(maxFrame);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    for (let i = 0; i < chunk.length; i++) {
      let b = chunk[i];
      if (b === SLIP.end) {
        if (this.len > 0) {
          if (this.bad) this.dropped++;
          else this.push(Buffer.from(this.buf.subarray(0, this.len)));
        }
        this.len = 0;
        this.esc = false;
        this.bad = false;
        continue;
      }
      if (this.esc) {
        this.esc = false;
        if (b === SLIP.escEnd) b = SLIP.end;
        else if (b === SLIP.escEsc) b = SLIP.esc;
        else {
          this.bad = true;
          continue;
        }
      } else if (b === SLIP.esc) {
        this.esc = true;
        continue;
      }
      if (this.len >= this.maxFrame) {
        this.bad = true;
        continue;
      }
      this.buf[this.len++] = b;
    }
    cb();
  }
}

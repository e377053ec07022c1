/**
 * Shared chip state for multi-threaded execution: StateAllocators (ChipOptions.allocator) that put every state
 * array of a Chip in its own SharedArrayBuffer. The host thread builds its Chip with a RecordingAllocator, which
 * creates the buffers and records them in allocation order; each worker builds a Chip from the same Program with
 * a ReplayingAllocator over that record, so the worker's arrays are views of the same memory. A Chip allocates
 * in a fixed order (groups, then projections, in program order), so equal Programs give equal records; the
 * replaying allocator checks every array's type and length, so a worker running other code (a stale dist/)
 * fails at load instead of sharing the wrong memory.
 *
 * The constructor of every Chip writes the initial values (docs/chip.md §10) into the arrays. Workers are
 * built only inside ParallelChip.create, before it returns and so before any tick, and write the same values.
 */
import type { StateAllocator } from '../chip.js';
import { ApicalError } from '../errors.js';

export type SharedArrayKind = 'i8' | 'i16' | 'i32' | 'u8' | 'f64';

/** One allocated array: its element type, length and buffer. */
export interface SharedArrayRecord {
  kind: SharedArrayKind;
  length: number;
  buffer: SharedArrayBuffer;
}

const BYTES: Record<SharedArrayKind, number> = { i8: 1, i16: 2, i32: 4, u8: 1, f64: 8 };

type SharedView = Int8Array | Int16Array | Int32Array | Uint8Array | Float64Array;

function view(r: SharedArrayRecord): SharedView {
  switch (r.kind) {
    case 'i8':
      return new Int8Array(r.buffer, 0, r.length);
    case 'i16':
      return new Int16Array(r.buffer, 0, r.length);
    case 'i32':
      return new Int32Array(r.buffer, 0, r.length);
    case 'u8':
      return new Uint8Array(r.buffer, 0, r.length);
    case 'f64':
      return new Float64Array(r.buffer, 0, r.length);
  }
}

/** A StateAllocator over shared buffers: each typed request goes to `array` (record or replay). */
abstract class SharedAllocator implements StateAllocator {
  protected abstract array(kind: SharedArrayKind, length: number): SharedView;

  i8(n: number): Int8Array {
    return this.array('i8', n) as Int8Array;
  }
  i16(n: number): Int16Array {
    return this.array('i16', n) as Int16Array;
  }
  i32(n: number): Int32Array {
    return this.array('i32', n) as Int32Array;
  }
  u8(n: number): Uint8Array {
    return this.array('u8', n) as Uint8Array;
  }
  f64(n: number): Float64Array {
    return this.array('f64', n) as Float64Array;
  }
}

/** A worker's Chip allocated differently from the host's: the worker runs other code than the host. */
export class SharedLayoutError extends ApicalError {
  override name = 'SharedLayoutError';
}

/** Creates a zeroed SharedArrayBuffer per array and records it (the host's Chip). */
export class RecordingAllocator extends SharedAllocator {
  readonly records: SharedArrayRecord[] = [];
  /** Total bytes allocated. */
  bytes = 0;

  protected array(kind: SharedArrayKind, length: number): SharedView {
    const r = { kind, length, buffer: new SharedArrayBuffer(length * BYTES[kind]) };
    this.records.push(r);
    this.bytes += r.buffer.byteLength;
    return view(r);
  }
}

/** Hands out views of recorded buffers in record order (a worker's Chip); checks type and length of each. */
export class ReplayingAllocator extends SharedAllocator {
  private next = 0;

  constructor(private readonly records: readonly SharedArrayRecord[]) {
    super();
  }

  protected array(kind: SharedArrayKind, length: number): SharedView {
    const r = this.records[this.next];
    if (!r || r.kind !== kind || r.length !== length) {
      throw new SharedLayoutError(
        `worker chip state array ${this.next} is ${kind}[${length}], the host's is ${r ? `${r.kind}[${r.length}]` : 'absent'}`,
        'the worker runs compiled code (dist/) that differs from the host: rebuild with npm run build',
      );
    }
    this.next++;
    return view(r);
  }

  /** Throws unless every recorded array was handed out. */
  finish(): void {
    if (this.next !== this.records.length) {
      throw new SharedLayoutError(
        `worker chip allocated ${this.next} state arrays, the host ${this.records.length}`,
        'the worker runs compiled code (dist/) that differs from the host: rebuild with npm run build',
      );
    }
  }
}

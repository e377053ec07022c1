/**
 * The shared control block of a ParallelChip: commands from the host thread to the workers, the tick barrier,
 * host state the workers apply at the start of a command, and the cycle counters.
 *
 * Int32 words (`control`):
 *   SEQ        command sequence number; the host increments it to issue a command, workers wait on it
 *   COMMAND    RUN or EXIT
 *   TICKS      ticks to run; START_TICK the chip's tick counter at the start
 *   DONE       workers finished with the current command (the host waits on it)
 *   BAR_COUNT, BAR_GEN   the barrier (arrivals in this generation, generation number)
 *   ABORT      set by a worker that failed; every waiting thread gives up
 *   ERROR_LEN  bytes of the failing worker's message in `errorText`
 *   TARGET_VALID + g     1 if group g holds a target (GroupState.targetValid, host-side)
 *
 * Float64 words (`counters`), exact integers: per thread th at th·THREAD_STRIDE its cycles per core since load
 * (CHIP_CORES words) and its synaptic events since load; then the chip's critical path since load, the chip's
 * cycles per core in the last tick, and per tick parity and thread the thread's cycles per core of that tick.
 */
import { CHIP_CORES } from '../constants.js';

export const SEQ = 0;
export const COMMAND = 1;
export const TICKS = 2;
export const START_TICK = 3;
export const DONE = 4;
export const BAR_COUNT = 5;
export const BAR_GEN = 6;
export const ABORT = 7;
export const ERROR_LEN = 8;
export const TARGET_VALID = 16;

export const RUN = 1;
export const EXIT = 2;

export const ERROR_BYTES = 4096;

/** Counter layout for `threads` threads. */
export class CounterLayout {
  static readonly THREAD_STRIDE = CHIP_CORES + 1;
  readonly critical: number;
  readonly lastTick: number;
  private readonly tickCycles: number;

  constructor(readonly threads: number) {
    this.critical = threads * CounterLayout.THREAD_STRIDE;
    this.lastTick = this.critical + 1;
    this.tickCycles = this.lastTick + CHIP_CORES;
  }

  get words(): number {
    return this.tickCycles + 2 * this.threads * CHIP_CORES;
  }

  cyclesTotal(thread: number): number {
    return thread * CounterLayout.THREAD_STRIDE;
  }

  synapticEvents(thread: number): number {
    return thread * CounterLayout.THREAD_STRIDE + CHIP_CORES;
  }

  /** Offset of a thread's per-core cycles of a tick (double-buffered by tick parity). */
  tickCyclesOf(tick: number, thread: number): number {
    return this.tickCycles + ((tick & 1) * this.threads + thread) * CHIP_CORES;
  }
}

/** Thrown in a thread waiting at the barrier when another thread has failed. */
export class BarrierAborted extends Error {
  override name = 'BarrierAborted';
}

/**
 * A reusable barrier for `parties` threads on the shared control block: the last arrival resets the count and
 * advances the generation; the others spin for `spin` polls (cheap when every thread has a core) and then sleep
 * in Atomics.wait. Atomics give the happens-before edges: every write a thread made before arriving is visible
 * to every thread after it leaves.
 */
export function barrierWait(control: Int32Array, parties: number, spin: number): void {
  const gen = Atomics.load(control, BAR_GEN);
  if (Atomics.add(control, BAR_COUNT, 1) === parties - 1) {
    Atomics.store(control, BAR_COUNT, 0);
    Atomics.add(control, BAR_GEN, 1);
    Atomics.notify(control, BAR_GEN);
    return;
  }
  // ABORT is checked before every poll or sleep, and a failing thread advances the generation after setting it
  // (abortBarrier), so a thread can neither pass nor sleep through an abort.
  for (let i = 0; ; i++) {
    if (Atomics.load(control, ABORT) !== 0) throw new BarrierAborted('another thread failed');
    if (Atomics.load(control, BAR_GEN) !== gen) return;
    if (i >= spin) Atomics.wait(control, BAR_GEN, gen);
  }
}

/**
 * Called by a thread that failed, after it set ABORT: advances the barrier generation and wakes every thread
 * sleeping at the barrier, which then throws BarrierAborted (a thread about to sleep sees the new generation).
 */
export function abortBarrier(control: Int32Array): void {
  Atomics.add(control, BAR_GEN, 1);
  Atomics.notify(control, BAR_GEN);
}

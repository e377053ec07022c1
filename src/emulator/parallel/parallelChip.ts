/**
 * Multi-threaded execution of a Program, bit-exact with `new Chip(program)` (docs/chip.md §16): the same state
 * after every tick (so the same per-core digests), the same outputs, cycle counts, critical path and synaptic
 * event counts.
 *
 * The chip's groups are split across `threads` worker threads (partition.ts: whole groups, balanced by their
 * estimated work; a group placed on several cores runs on one thread). Every state array lives in a
 * SharedArrayBuffer (sharedState.ts): each worker builds a Chip that executes its groups and the projections onto
 * them, and the host thread keeps a Chip over the same memory that executes nothing and serves the host
 * interface (inputs, reads, digests, snapshots). A tick is two phases separated by barriers (chipWorker.ts):
 * neurons (each thread its groups), then synapses (each thread routes and learns the projections onto its
 * groups, reading the events of every group from shared memory): the spikes are exchanged through shared
 * memory once per tick. The order over groups and projections within a phase does not change results (§4), and
 * cycle counts are exact integer sums, so per-core cycles are the sums over threads and the critical path is
 * the maximum of those per tick.
 *
 * Every projection runs the JavaScript kernels (backend 'js'): the 'wasm' backend keeps state in WebAssembly
 * memories the threads would not share. The host thread blocks in Atomics.wait while the workers run a
 * command, so run() and step() are synchronous. Workers run the compiled JavaScript of dist/: from the
 * TypeScript sources (vitest) the worker is dist/src/emulator/parallel/chipWorker.js, and must be built.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Chip, type RunResult, type Snapshot } from '../chip.js';
import { CHIP_CORES } from '../constants.js';
import { ApicalError, UsageError } from '../errors.js';
import type { Program, ProbeVariable } from '../program.js';
import type { ChipWorkerData } from './chipWorker.js';
import { groupWork, partitionGroups } from './partition.js';
import { RecordingAllocator } from './sharedState.js';
import { COMMAND, CounterLayout, DONE, ERROR_BYTES, ERROR_LEN, EXIT, RUN, SEQ, START_TICK, TARGET_VALID, TICKS, ABORT } from './threadControl.js';

export interface ParallelChipOptions {
  /** Worker threads (default 2); at most one per group is used. */
  threads?: number;
  /** Compute per-core digests after every step() and run() (default true). */
  digests?: boolean;
  /** Clock for real-time-factor estimates. */
  clockHz?: number;
  /**
   * Barrier polls before a waiting thread sleeps in Atomics.wait (default 100). Polling saves the wake-up latency
   * when every thread has an idle core, and wastes the core when they do not: on a loaded 2-vCPU machine 4000 polls
   * made a 2-thread tick ~8x slower than 0.
   */
  spin?: number;
}

/** The compiled worker script is missing (running from TypeScript sources without a build). */
export class WorkerScriptMissingError extends ApicalError {
  override name = 'WorkerScriptMissingError';
}

/** A worker failed while loading or running the Program. */
export class WorkerFailedError extends ApicalError {
  override name = 'WorkerFailedError';
}

/**
 * URL of the worker entry: next to this module when it runs compiled, else (TypeScript sources, e.g. under
 * vitest) the compiled file in dist/, which must exist and be built from the current sources of src/emulator
 * (every .ts there no newer than its .js), so the workers never run other code than the host.
 */
export function chipWorkerUrl(): URL {
  const here = new URL(import.meta.url);
  if (!here.pathname.endsWith('.ts')) return new URL('./chipWorker.js', here);
  const url = new URL('../../../dist/src/emulator/parallel/chipWorker.js', here);
  const hint = 'build it with npm run build (workers run the compiled JavaScript)';
  if (!existsSync(fileURLToPath(url))) throw new WorkerScriptMissingError(`the compiled chip worker ${fileURLToPath(url)} does not exist`, hint);
  const stale = staleCompiled(fileURLToPath(new URL('..', here)), fileURLToPath(new URL('../../../dist/src/emulator', here)));
  if (stale !== null) throw new WorkerScriptMissingError(`the compiled chip worker is older than its source ${stale}`, hint);
  return url;
}

/** The first .ts file under `srcDir` whose compiled .js under `distDir` is missing or older, or null. */
function staleCompiled(srcDir: string, distDir: string): string | null {
  for (const entry of readdirSync(srcDir, { withFileTypes: true })) {
    const src = join(srcDir, entry.name);
    if (entry.isDirectory()) {
      const inner = staleCompiled(src, join(distDir, entry.name));
      if (inner !== null) return inner;
    } else if (entry.name.endsWith('.ts')) {
      const js = join(distDir, entry.name.replace(/\.ts$/, '.js'));
      if (!existsSync(js) || statSync(js).mtimeMs < statSync(src).mtimeMs) return src;
    }
  }
  return null;
}

export class ParallelChip {
  /** Worker threads in use (min(threads, groups)). */
  readonly threads: number;
  /** Group indices executed by each worker thread. */
  readonly partition: readonly (readonly number[])[];
  readonly digestsEnabled: boolean;
  /** Bytes of shared chip state. */
  readonly sharedBytes: number;
  private readonly control: Int32Array;
  private readonly counters: Float64Array;
  private readonly errorText: Uint8Array;
  private readonly layout: CounterLayout;
  private closed = false;
  private failed: string | null = null;
  private alive: number;
  private readonly exits: Promise<void>[];

  private constructor(
    /** The host's view of the shared state: it executes nothing itself. */
    private readonly view: Chip,
    private readonly workers: Worker[],
    shared: { control: Int32Array; counters: Float64Array; errorText: Uint8Array; partition: number[][]; bytes: number },
    digests: boolean,
  ) {
    this.threads = workers.length;
    this.partition = shared.partition;
    this.control = shared.control;
    this.counters = shared.counters;
    this.errorText = shared.errorText;
    this.layout = new CounterLayout(workers.length);
    this.sharedBytes = shared.bytes;
    this.digestsEnabled = digests;
    this.alive = workers.length;
    this.exits = workers.map((w) => new Promise<void>((resolve) => w.once('exit', () => (this.alive--, resolve()))));
    if (digests) view.computeDigests();
  }

  /**
   * Loads a Program on `threads` worker threads. Checks that it fits the chip (ProgramFitError), builds the shared
   * state and waits until every worker has built its partition. Throws WorkerScriptMissingError when the worker
   * script is not built, WorkerFailedError when a worker cannot load the Program.
   */
  static async create(program: Program, options: ParallelChipOptions = {}): Promise<ParallelChip> {
    const threadsWanted = options.threads ?? 2;
    if (!Number.isInteger(threadsWanted) || threadsWanted < 1) throw new UsageError(`threads must be a positive integer, got ${threadsWanted}`);
    const url = chipWorkerUrl();
    const allocator = new RecordingAllocator();
    const view = new Chip(program, { allocator, backend: 'js', digests: false, clockHz: options.clockHz });
    const partition = partitionGroups(groupWork(view), threadsWanted);
    const T = partition.length;
    const layout = new CounterLayout(T);
    const controlBuffer = new SharedArrayBuffer(4 * (TARGET_VALID + program.body.groups.length));
    const countersBuffer = new SharedArrayBuffer(8 * layout.words);
    const errorBuffer = new SharedArrayBuffer(ERROR_BYTES);
    const workers = partition.map((groups, thread) => {
      const data: ChipWorkerData = {
        program,
        records: allocator.records,
        control: controlBuffer,
        counters: countersBuffer,
        errorText: errorBuffer,
        thread,
        threads: T,
        groups,
        spin: options.spin ?? 100,
      };
      return new Worker(url, { workerData: data });
    });
    const ready = workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          const onExit = (code: number) => reject(new WorkerFailedError(`chip worker exited with code ${code} while loading`));
          w.once('error', (e: Error) => reject(new WorkerFailedError(`chip worker failed while loading: ${e.message}`)));
          w.once('exit', onExit);
          w.once('message', (m: { type: string; message?: string; hint?: string }) => {
            w.off('exit', onExit);
            if (m.type === 'ready') resolve();
            else reject(new WorkerFailedError(`chip worker failed while loading: ${m.message}`, m.hint ?? ''));
          });
        }),
    );
    try {
      await Promise.all(ready);
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    // A worker waiting for commands must not keep the process alive if close() is never called.
    for (const w of workers) w.unref();
    const chip = new ParallelChip(
      view,
      workers,
      {
        control: new Int32Array(controlBuffer),
        counters: new Float64Array(countersBuffer),
        errorText: new Uint8Array(errorBuffer),
        partition,
        bytes: allocator.bytes,
      },
      options.digests ?? true,
    );
    return chip;
  }

  // ------------------------------------------------------------------------------------------------ commands

  /** Runs `ticks` ticks on the workers; blocks until they are done. Digests (if enabled) are of the last tick. */
  run(ticks: number): RunResult {
    if (!Number.isInteger(ticks) || ticks < 0) throw new UsageError(`ticks must be a non-negative integer, got ${ticks}`);
    this.command(ticks);
    return { reason: 'ticks', ticks };
  }

  /** Runs one tick (and computes its digests if enabled). */
  step(): void {
    this.command(1);
  }

  /**
   * Runs until a group emits an event in a tick, a condition holds after a tick, or maxTicks (tick by tick, so
   * at the cost of a command per tick).
   */
  runUntil(opts: { maxTicks: number; untilSpikeIn?: string; until?: (chip: ParallelChip) => boolean }): RunResult {
    const g = opts.untilSpikeIn !== undefined ? this.view.group(opts.untilSpikeIn) : null;
    for (let i = 0; i < opts.maxTicks; i++) {
      this.command(1);
      if (g && g.evCount[0] > 0) return { reason: 'spike', ticks: i + 1 };
      if (opts.until && opts.until(this)) return { reason: 'condition', ticks: i + 1 };
    }
    return { reason: 'ticks', ticks: opts.maxTicks };
  }

  private command(ticks: number): void {
    this.usable();
    if (ticks === 0) return;
    const c = this.control;
    const view = this.view;
    for (const g of view.groups) c[TARGET_VALID + g.index] = g.targetValid ? 1 : 0;
    // Latch for the first tick here (workers latch for each following tick after their synapse phase).
    view.latchTeachers();
    c[START_TICK] = view.tick;
    c[TICKS] = ticks;
    c[COMMAND] = RUN;
    Atomics.store(c, DONE, 0);
    Atomics.add(c, SEQ, 1);
    Atomics.notify(c, SEQ);
    for (let d = Atomics.load(c, DONE); d < this.threads; d = Atomics.load(c, DONE)) Atomics.wait(c, DONE, d);
    if (Atomics.load(c, ABORT) !== 0) {
      this.failed = new TextDecoder().decode(this.errorText.subarray(0, c[ERROR_LEN]));
      this.usable();
    }
    view.tick += ticks;
    if (this.digestsEnabled) view.computeDigests();
  }

  private usable(): void {
    if (this.closed) throw new UsageError('this ParallelChip is closed', 'create a new one');
    if (this.failed !== null) throw new WorkerFailedError(`a chip worker failed: ${this.failed}`, 'the chip state is undefined; close() it');
  }

  /** Stops the workers (they leave their command loop and exit); resolves when every worker has exited. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Keep the process alive until the workers have exited (they were unref'd while idle).
    for (const w of this.workers) w.ref();
    const c = this.control;
    c[COMMAND] = EXIT;
    Atomics.add(c, SEQ, 1);
    Atomics.notify(c, SEQ);
    if (this.failed !== null) await Promise.all(this.workers.map((w) => w.terminate()));
    await Promise.all(this.exits);
  }

  /** Worker threads that have not exited yet. */
  get workersAlive(): number {
    return this.alive;
  }

  // ------------------------------------------------------------------------------------------------ host I/O

  /** Writes an input port (Chip.setInput): takes effect from the next tick. */
  setInput(name: string | number, values: ArrayLike<number>): void {
    this.usable();
    this.view.setInput(name, values);
  }

  /** Removes the nudging target of a Target port (Chip.clearTarget). */
  clearTarget(name: string | number): void {
    this.usable();
    this.view.clearTarget(name);
  }

  /** Sets the reward port's value (STATE), held until changed. */
  reward(value: number): void {
    this.usable();
    this.view.reward[0] = value | 0;
  }

  /** Copy of a neuron variable of a group (Chip.read). */
  read(group: string, variable: ProbeVariable): Int32Array {
    return this.view.read(group, variable);
  }

  /** Copy of a projection's weights (Chip.readWeights). */
  readWeights(projection: string): Int8Array | Int16Array {
    return this.view.readWeights(projection);
  }

  /** Events of spiking groups in the last tick (Chip.spikesLastTick). */
  spikesLastTick(): number {
    return this.view.spikesLastTick();
  }

  /** Ticks completed. */
  get tick(): number {
    return this.view.tick;
  }

  get program(): Program {
    return this.view.program;
  }

  // ------------------------------------------------------------------------------------------------ digests

  /** Recomputes the per-core digests of the current state (docs/chip.md §13); done after every command when digests are on. */
  computeDigests(): void {
    this.view.computeDigests();
  }

  /** Per-core digests after the last tick. */
  get coreDigests(): Uint32Array {
    return this.view.coreDigests;
  }

  /** Per-core, per-variable digests: [core · variables + variable]. */
  get variableDigests(): Uint32Array {
    return this.view.variableDigests;
  }

  /** Cores holding at least one neuron. */
  get usedCores(): Uint8Array {
    return this.view.usedCores;
  }

  chipDigest(): number {
    return this.view.chipDigest();
  }

  // ------------------------------------------------------------------------------------------------ counters

  /** Cycles per core since load (Σ over threads). */
  get cyclesTotal(): Float64Array {
    const out = new Float64Array(CHIP_CORES);
    for (let q = 0; q < this.threads; q++) {
      const b = this.layout.cyclesTotal(q);
      for (let c = 0; c < CHIP_CORES; c++) out[c] += this.counters[b + c];
    }
    return out;
  }

  /** Cycles per core in the last tick. */
  get cyclesLastTick(): Float64Array {
    return this.counters.slice(this.layout.lastTick, this.layout.lastTick + CHIP_CORES);
  }

  /** Σ over ticks of the slowest core's cycles. */
  get criticalPathTotal(): number {
    return this.counters[this.layout.critical];
  }

  /** Synaptic operations since load. */
  get synapticEventsTotal(): number {
    let s = 0;
    for (let q = 0; q < this.threads; q++) s += this.counters[this.layout.synapticEvents(q)];
    return s;
  }

  // ------------------------------------------------------------------------------------------------ snapshot

  /** Full copy of the chip state, in the format of Chip.snapshot (either can restore the other's). */
  snapshot(): Snapshot {
    this.usable();
    const s = this.view.snapshot();
    s.arrays[s.arrays.length - 1] = this.cyclesTotal;
    s.criticalPathTotal = this.criticalPathTotal;
    s.synapticEventsTotal = this.synapticEventsTotal;
    return s;
  }

  restore(s: Snapshot): void {
    this.usable();
    this.view.restore(s);
    const cycles = s.arrays[s.arrays.length - 1] as Float64Array;
    for (let q = 0; q < this.threads; q++) {
      this.counters.fill(0, this.layout.cyclesTotal(q), this.layout.cyclesTotal(q) + CHIP_CORES + 1);
    }
    this.counters.set(cycles, this.layout.cyclesTotal(0));
    this.counters[this.layout.synapticEvents(0)] = s.synapticEventsTotal;
    this.counters[this.layout.critical] = s.criticalPathTotal;
    this.counters.fill(0, this.layout.lastTick, this.layout.lastTick + CHIP_CORES);
    if (this.digestsEnabled) this.view.computeDigests();
  }
}

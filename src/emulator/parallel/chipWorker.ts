/**
 * Worker thread of a ParallelChip (parallelChip.ts). Builds a partitioned Chip over the shared state, reports
 * `ready`, then serves commands from the control block until EXIT. A RUN command of N ticks runs, per tick:
 *
 *   stepNeurons (integrate, fire, traces of the owned groups)          — barrier —
 *   stepSynapses (route, learn of the projections onto owned groups), latchTeachers for the next tick,
 *   publish this tick's per-core cycles, finishTick                    — barrier —
 *   thread 0 only: the chip's cycles of the tick = Σ over threads, critical path += their maximum
 *
 * Between the barriers no thread writes neuron variables or event lists (route and learn write only rings and
 * synapses of their own post groups), so every thread reads the events and variables of every group as the
 * single-threaded Chip would; teachers are latched in that window, when u and ŭ are final for the tick.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Chip } from '../chip.js';
import { ApicalError } from '../errors.js';
import type { Program } from '../program.js';
import { ReplayingAllocator, type SharedArrayRecord } from './sharedState.js';
import {
  ABORT,
  COMMAND,
  CounterLayout,
  DONE,
  ERROR_BYTES,
  ERROR_LEN,
  EXIT,
  SEQ,
  START_TICK,
  TARGET_VALID,
  TICKS,
  abortBarrier,
  barrierWait,
} from './threadControl.js';
import { CHIP_CORES } from '../constants.js';

/** What the host passes to each worker (workerData). */
export interface ChipWorkerData {
  program: Program;
  records: SharedArrayRecord[];
  control: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  errorText: SharedArrayBuffer;
  thread: number;
  threads: number;
  groups: number[];
  spin: number;
}

/**
 * Test hook: with this environment variable set to a tick number when the ParallelChip is created, its last worker
 * throws at that tick, between the two barriers (test/chipParallel.test.ts exercises the abort path with it).
 */
const FAIL_AT_TICK_ENV = 'APICAL_TEST_WORKER_FAIL_AT_TICK';

function serve(d: ChipWorkerData): void {
  const failAtTick = process.env[FAIL_AT_TICK_ENV] === undefined ? -1 : Number(process.env[FAIL_AT_TICK_ENV]);
  const allocator = new ReplayingAllocator(d.records);
  const chip = new Chip(d.program, { allocator, partition: d.groups, backend: 'js', digests: false });
  allocator.finish();
  const control = new Int32Array(d.control);
  const counters = new Float64Array(d.counters);
  const layout = new CounterLayout(d.threads);
  const T = d.threads;
  const th = d.thread;
  const targetGroups = d.groups.map((gi) => chip.groups[gi]).filter((g) => g.target !== null);
  const cycBase = layout.cyclesTotal(th);
  const synBase = layout.synapticEvents(th);
  parentPort!.postMessage({ type: 'ready' });

  let seq = 0;
  for (;;) {
    Atomics.wait(control, SEQ, seq);
    seq = Atomics.load(control, SEQ);
    if (control[COMMAND] === EXIT) return;
    try {
      // Host state of this command: tick counter, held targets, counters (restore may have changed them).
      chip.tick = control[START_TICK];
      for (const g of targetGroups) g.targetValid = control[TARGET_VALID + g.index] === 1;
      chip.cyclesTotal.set(counters.subarray(cycBase, cycBase + CHIP_CORES));
      chip.synapticEventsTotal = counters[synBase];
      const ticks = control[TICKS];
      for (let k = 0; k < ticks; k++) {
        const t = chip.tick;
        chip.stepNeurons();
        barrierWait(control, T, d.spin);
        if (t === failAtTick && th === d.threads - 1) throw new Error(`injected failure at tick ${t} (${FAIL_AT_TICK_ENV})`);
        chip.stepSynapses();
        chip.latchTeachers();
        counters.set(chip.cyclesLastTick, layout.tickCyclesOf(t, th));
        chip.finishTick();
        barrierWait(control, T, d.spin);
        if (th === 0) chipCycles(counters, layout, t);
      }
      counters.set(chip.cyclesTotal, cycBase);
      counters[synBase] = chip.synapticEventsTotal;
    } catch (e) {
      if (Atomics.compareExchange(control, ABORT, 0, 1) === 0) {
        const text = new TextEncoder().encode(e instanceof ApicalError ? `${e.message} (${e.hint})` : String((e as Error)?.stack ?? e));
        const n = Math.min(text.length, ERROR_BYTES);
        new Uint8Array(d.errorText).set(text.subarray(0, n));
        control[ERROR_LEN] = n;
      }
      abortBarrier(control);
    }
    Atomics.add(control, DONE, 1);
    Atomics.notify(control, DONE);
  }
}

/** The chip's per-core cycles of tick t (Σ over threads, exact integers) and its critical path. */
function chipCycles(counters: Float64Array, layout: CounterLayout, t: number): void {
  let crit = 0;
  for (let c = 0; c < CHIP_CORES; c++) {
    let s = 0;
    for (let q = 0; q < layout.threads; q++) s += counters[layout.tickCyclesOf(t, q) + c];
    counters[layout.lastTick + c] = s;
    if (s > crit) crit = s;
  }
  counters[layout.critical] += crit;
}

try {
  serve(workerData as ChipWorkerData);
} catch (e) {
  parentPort!.postMessage({
    type: 'error',
    name: (e as Error)?.name ?? 'Error',
    message: (e as Error)?.message ?? String(e),
    hint: e instanceof ApicalError ? e.hint : '',
  });
}

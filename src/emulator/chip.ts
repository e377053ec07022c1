/**
 * The bit-exact golden model of apical chip architecture v1 (docs/chip.md). State lives in struct-of-arrays
 * typed arrays allocated at load; a tick allocates nothing. Each tick runs the phases of §4 in order:
 *
 *   1 integrate  — every neuron group, in program order: inputs arriving this tick, dendrites, noise, soma, ŭ
 *   2 fire       — activation, spikes / graded payloads, event lists
 *   3 traces     — x1, x2, high-pass rate
 *   4 route      — every projection: this tick's events into the delay ring (arrival at t + delay)
 *   5 learn      — every plastic projection, statements in source order, when their trigger fires
 *   6 host       — probes, per-core cycle counts and digests
 */
import {
  CHIP_CORES,
  CYCLES,
  DEFAULT_CLOCK_HZ,
  FNV_OFFSET,
  PAYLOAD_BITS,
  RULE_FRAC_BITS,
} from './constants.js';
import { checkFit } from './capacity.js';
import { neuronCycles, realTimeFactor, routeCycles } from './cycleModel.js';
import { DIGEST_VARIABLES, type DigestVariable, combineDigests, fnvStrided, fnvWords } from './digest.js';
import { UsageError } from './errors.js';
import { compileGroupKernel, type GroupKernel } from './groupKernel.js';
import { compileLearnKernel, type LearnContext, type LearnKernel, type NeuronView } from './learningKernel.js';
import { compileRouteKernel, type RouteKernel } from './routeKernel.js';
import { DenseProjectionWasm, denseUsesWasm } from './wasm/denseProjectionWasm.js';
import { GroupKernelWasm, groupWasmCovers, type GroupWasmRing } from './wasm/groupKernelWasm.js';
import { wasmSimdSupported } from './wasm/wasmAssembler.js';
import { microcodeOps, termsUsed, TERMS } from './microcode.js';
import { Stream, streamKey } from './prng.js';
import {
  GroupKind,
  NoiseTarget,
  NudgeSource,
  OutputMode,
  PortKind,
  ProbeVariable,
  ProjectionKind,
  Rounding,
  RuleTarget,
  TRACE_HP,
  TRACE_X1,
  TRACE_X2,
  Trigger,
  type Group,
  type Program,
  type Projection,
} from './program.js';

const TERM_BASAL_RATE = TERMS['post.basal_rate'];

/** Per-group state (docs/chip.md §5–§10). */
export interface GroupState {
  readonly def: Group;
  readonly index: number;
  readonly n: number;
  readonly u: Int32Array;
  readonly prosp: Int32Array;
  readonly vB: Int32Array | null;
  readonly vA: Int32Array | null;
  readonly xi: Int32Array | null;
  readonly ref: Int32Array | null;
  readonly rate: Int32Array;
  readonly ratePrev: Int32Array | null;
  readonly x1: Int32Array | null;
  readonly x2: Int32Array | null;
  readonly hp: Int32Array | null;
  readonly basalRate: Int32Array | null;
  /** Event flags of this tick (0/1); for spiking groups also the payload array. */
  readonly spike: Int32Array;
  readonly payload: Int32Array;
  readonly evIdx: Int32Array;
  /** evCount[0]: events this tick (array so compiled kernels see it live). */
  readonly evCount: Int32Array;
  readonly inRate: Int32Array | null;
  readonly inSpike: Uint8Array | null;
  readonly target: Int32Array | null;
  targetValid: boolean;
  readonly nudgeBuf: Int32Array | null;
  readonly coreOf: Uint8Array;
  /** Fractional bits of this group's payload: graded 16 − payloadShift, spikes 0 (payload 1). */
  readonly payloadFrac: number;
  readonly spikePayload: number;
  noiseKey: number;
  spikeKey: number;
  /** Cycles per neuron per tick of neuron-level work (cycleModel.neuronCycles). */
  neuronCost: number;
  /** Projections that target this group, in program order. */
  readonly incoming: ProjectionState[];
  /** Compiled integrate + fire + traces kernel and the rings it reads (set after projections are built). */
  kernel: GroupKernel;
  rings: Float64Array[];
  /** The WebAssembly group backend holding this group's arrays and incoming rings, or null (ChipOptions.backend). */
  readonly wasm: GroupKernelWasm | null;
}

/** Per-projection state. */
export interface ProjectionState {
  readonly def: Projection;
  readonly index: number;
  readonly pre: GroupState;
  readonly post: GroupState;
  /** Working weights: the Program's own array if static (never written), a copy if plastic, or a WebAssembly view. */
  readonly w: Int8Array | Int16Array;
  readonly wacc: Int32Array | null;
  readonly tag: Int32Array | null;
  readonly lo: Int32Array | null;
  readonly ring: Float64Array;
  readonly depth: number;
  /** Conversion shift from Σ w·payload to STATE: weightShift + payloadFrac(pre) − 16. */
  readonly shift: number;
  readonly colPtr: Uint32Array | null;
  readonly colSyn: Uint32Array | null;
  readonly colRow: Uint32Array | null;
  /** Cycle accounting: per source core, cost of routing one event to all destination cores. */
  readonly routeCost: Float64Array;
  /** Sparse: per pre row, synapses per destination core (CSR over rows: rowCoreStart/rowCore/rowCoreCount). */
  readonly rowCoreStart: Uint32Array | null;
  readonly rowCore: Uint8Array | null;
  readonly rowCoreCount: Uint32Array | null;
  /** Dense / one-to-one: synapses of one event per destination core. */
  readonly destCount: Float64Array;
  readonly routeKernel: RouteKernel;
  /** Where this projection's state and dense kernels live (ChipOptions.backend). */
  readonly kernelBackend: 'wasm' | 'js';
  /** The WebAssembly backend of a dense projection (its memory, kernels and their call counts), or null. */
  readonly denseWasm: DenseProjectionWasm | null;
  readonly kernels: LearnKernel[];
  readonly ctx: LearnContext | null;
  readonly learnOps: number[];
  /** Synapses on each core (for tick/epoch-triggered learning costs). */
  readonly synOnCore: Float64Array;
  /** Post-triggered costs: synapses per post neuron. */
  readonly colCount: Uint32Array | null;
}

export type StopReason = 'ticks' | 'spike' | 'condition';

export interface RunUntilOptions {
  /** Stop after this many ticks at most. */
  maxTicks: number;
  /** Stop after a tick in which this group emitted a spike/event. */
  untilSpikeIn?: string;
  /** Stop after a tick for which this returns true. */
  until?: (chip: Chip) => boolean;
}

export interface RunResult {
  reason: StopReason;
  ticks: number;
}

export interface ChipOptions {
  /** Compute per-tick per-core digests (needed for lockstep and golden vectors). Default true. */
  digests?: boolean;
  /** Clock for real-time-factor estimates. */
  clockHz?: number;
  /**
   * Kernel backend (results are identical, docs/chip.md §16): 'wasm' runs every dense projection's routing and
   * plasticity in WebAssembly SIMD kernels (src/emulator/wasm/), everything else in JavaScript; 'js' runs every
   * kernel in JavaScript; 'auto' (default) uses WebAssembly for dense projections large enough to repay
   * compiling their kernels (denseUsesWasm), where the engine has WebAssembly SIMD.
   */
  backend?: ChipBackend;
  /**
   * Where the state arrays that kernels read or write live (neuron variables, event lists, held inputs, rings,
   * synaptic state, reward). Default: ordinary typed arrays. Chips built from the same Program with allocators
   * that hand out the same buffers in the same order share their state (src/emulator/parallel). Every array is
   * still filled with its initial value (§10) by the constructor. Needs backend 'js' (the 'wasm' backend keeps
   * dense projections' state in its own WebAssembly memory).
   */
  allocator?: StateAllocator;
  /**
   * Partitioned execution (src/emulator/parallel): the indices of the groups this instance executes. Its
   * `stepNeurons` runs only these groups' kernels, `stepSynapses` only the projections onto them (so it writes
   * only their rings and synapses), `latchTeachers` only their nudge buffers, and its cycle counts hold only the
   * work of its partition (neuron work of its groups, routing and synaptic work of its projections, and the
   * barrier of each core on which it owns the first group with a slice there). Default: every group.
   */
  partition?: readonly number[];
}

export type ChipBackend = 'auto' | 'wasm' | 'js';

/** Allocates typed arrays for a Chip's state (ChipOptions.allocator); each returned array is zero-filled. */
export interface StateAllocator {
  i8(n: number): Int8Array;
  i16(n: number): Int16Array;
  i32(n: number): Int32Array;
  u8(n: number): Uint8Array;
  f64(n: number): Float64Array;
}

/** The default allocator: ordinary (unshared) typed arrays. */
export const HEAP_ALLOCATOR: StateAllocator = {
  i8: (n) => new Int8Array(n),
  i16: (n) => new Int16Array(n),
  i32: (n) => new Int32Array(n),
  u8: (n) => new Uint8Array(n),
  f64: (n) => new Float64Array(n),
};

export interface Snapshot {
  tick: number;
  /** Counters: critical path and synaptic events since load (cycles per core are among `arrays`). */
  criticalPathTotal: number;
  synapticEventsTotal: number;
  arrays: (Int32Array | Uint8Array | Float64Array | Int8Array | Int16Array)[];
  targetValid: boolean[];
  reward: number;
}

/** A recorded spike: tick and neuron index, per group. */
export interface SpikeLog {
  ticks: Int32Array;
  neurons: Int32Array;
  count: number;
}

export class Chip {
  readonly program: Program;
  readonly groups: GroupState[];
  readonly projections: ProjectionState[];
  readonly groupByName: Map<string, GroupState>;
  readonly projectionByName: Map<string, ProjectionState>;
  /** Ticks completed. */
  tick = 0;
  /** Global third factor (STATE), one element so kernels read it live. */
  readonly reward: Int32Array;
  /** Cycles per core in the last tick, and totals since load. */
  readonly cyclesLastTick = new Float64Array(CHIP_CORES);
  readonly cyclesTotal = new Float64Array(CHIP_CORES);
  /** Σ over ticks of the slowest core's cycles (the critical path). */
  criticalPathTotal = 0;
  /** Synaptic operations (weight × payload accumulations) since load. */
  synapticEventsTotal = 0;
  /** Compartment updates per tick (neurons × (soma + dendrites); input neurons count one). */
  readonly compartmentsPerTick: number;
  /** Per-core digests of the state after the last tick (0 when digests are off). */
  readonly coreDigests = new Uint32Array(CHIP_CORES);
  /** Per-core, per-variable digests after the last tick: [core * VARS + variable]. */
  readonly variableDigests = new Uint32Array(CHIP_CORES * DIGEST_VARIABLES.length);
  readonly digestsEnabled: boolean;
  readonly clockHz: number;
  readonly backend: ChipBackend;
  /** Cores holding at least one neuron. */
  readonly usedCores: Uint8Array = new Uint8Array(CHIP_CORES);
  private readonly staticCycles = new Float64Array(CHIP_CORES);
  private readonly spikeLogs: SpikeLog[];
  private logSpikes = false;
  /** Set by withoutTickDigests. */
  private tickDigestsPaused = false;
  /** ChipOptions.allocator (state arrays) and the groups / projections this instance executes (ChipOptions.partition). */
  private readonly alloc: StateAllocator;
  private readonly ownedGroups: GroupState[];
  private readonly ownedProjections: ProjectionState[];
  private readonly ownedPlastic: ProjectionState[];

  /**
   * Loads a Program: checks that it fits the chip's capacities (ProgramFitError otherwise), allocates all state
   * and compiles the kernels. The Program is assumed valid (decodeProgram / finalizeProgram validate it), and it
   * must not be modified while the Chip is in use: static projections work on its arrays, and kernels compiled
   * at load rely on its weights (e.g. the input bounds of the WebAssembly group kernels).
   */
  constructor(program: Program, options: ChipOptions = {}) {
    checkFit(program);
    this.program = program;
    this.digestsEnabled = options.digests ?? true;
    this.clockHz = options.clockHz ?? DEFAULT_CLOCK_HZ;
    this.backend = options.backend ?? 'auto';
    if (this.backend === 'wasm' && !wasmSimdSupported()) throw new UsageError('backend "wasm" needs WebAssembly SIMD, which this engine lacks', 'use backend "js"');
    this.alloc = options.allocator ?? HEAP_ALLOCATOR;
    if (options.allocator && this.backend !== 'js') throw new UsageError('a state allocator needs backend "js"', 'pass backend: "js" with allocator');
    this.reward = this.alloc.i32(1);
    const body = program.body;
    const usesBasalRate = new Array<boolean>(body.groups.length).fill(false);
    const incoming = new Array<number>(body.groups.length).fill(0);
    for (const p of body.projections) {
      incoming[p.post]++;
      for (const s of p.plasticity?.statements ?? []) if (termsUsed(s.code).has(TERM_BASAL_RATE)) usesBasalRate[p.post] = true;
    }
    this.groups = body.groups.map((g, index) => this.buildGroup(g, index, usesBasalRate[index], incoming[index]));
    this.groupByName = new Map(this.groups.map((g) => [g.def.name, g]));
    this.projections = body.projections.map((p, index) => this.buildProjection(p, index));
    this.projectionByName = new Map(this.projections.map((p) => [p.def.name, p]));
    for (const p of this.projections) p.post.incoming.push(p);
    for (const g of this.groups) {
      g.rings = g.incoming.map((p) => p.ring);
      g.kernel = (g.wasm ? g.wasm.kernel.bind(g.wasm) : compileGroupKernel)({
        group: g.def,
        lut: g.def.lut >= 0 ? body.luts[g.def.lut] : null,
        incoming: g.incoming.map((p) => ({ target: p.def.target, depth: p.depth, shift: p.shift })),
        basalRateUsed: usesBasalRate[g.index],
      });
    }
    this.spikeLogs = this.groups.map(() => ({ ticks: new Int32Array(1024), neurons: new Int32Array(1024), count: 0 }));
    const owned = new Uint8Array(this.groups.length).fill(options.partition ? 0 : 1);
    for (const gi of options.partition ?? []) owned[gi] = 1;
    this.ownedGroups = this.groups.filter((g) => owned[g.index]);
    this.ownedProjections = this.projections.filter((p) => owned[p.post.index]);
    this.ownedPlastic = this.ownedProjections.filter((p) => p.kernels.length > 0);
    // Static cycles: neuron work, barrier, tick/epoch learning is added per tick (it depends on the epoch). A
    // core's barrier is charged with its first group (one partition owns it).
    const barrierGroup = new Int32Array(CHIP_CORES).fill(-1);
    for (const g of this.groups) {
      for (const s of g.def.slices) {
        if (owned[g.index]) this.staticCycles[s.core] += s.count * g.neuronCost;
        this.usedCores[s.core] = 1;
        if (barrierGroup[s.core] < 0) barrierGroup[s.core] = g.index;
      }
    }
    for (let c = 0; c < CHIP_CORES; c++) if (this.usedCores[c] && owned[barrierGroup[c]]) this.staticCycles[c] += CYCLES.barrier;
    this.compartmentsPerTick = this.groups.reduce((a, g) => a + g.n * (1 + (g.vB ? 1 : 0) + (g.vA ? 1 : 0)), 0);
  }

  // ------------------------------------------------------------------------------------------------ build

  private buildGroup(g: Group, index: number, basalRateUsed: boolean, incoming: number): GroupState {
    const n = g.size;
    const i32 = () => this.alloc.i32(n);
    const wg = this.groupWasmFor(g, index, basalRateUsed);
    const neuron = g.kind === GroupKind.Neuron;
    const spiking = g.output === OutputMode.Binary || g.output === OutputMode.Stochastic;
    const coreOf = new Uint8Array(n);
    for (const s of g.slices) coreOf.fill(s.core, s.start, s.start + s.count);
    const payloadFrac = spiking ? 0 : PAYLOAD_BITS - g.payloadShift;
    const u = wg ? wg.u : i32();
    if (g.initSoma.length === n) u.set(g.initSoma);
    const spike = wg ? wg.spike : i32();
    const st: GroupState = {
      def: g,
      index,
      n,
      u,
      // Without a prospective gain ŭ ≡ u (docs/chip.md §5.4): one array serves both.
      prosp: g.prospectiveGain > 0 && neuron ? copyInto(wg ? wg.prosp : i32(), u) : u,
      vB: neuron && g.hasBasal ? (wg ? wg.vB : i32()) : null,
      vA: neuron && g.hasApical ? (wg ? wg.vA : i32()) : null,
      xi: neuron && g.noiseTarget !== NoiseTarget.None ? i32() : null,
      ref: spiking ? (wg ? wg.ref! : i32()) : null,
      rate: wg ? wg.rate : i32(),
      ratePrev: g.traces & TRACE_HP ? i32() : null,
      x1: g.traces & TRACE_X1 ? (wg ? wg.x1 : i32()) : null,
      x2: g.traces & TRACE_X2 ? (wg ? wg.x2 : i32()) : null,
      hp: g.traces & TRACE_HP ? i32() : null,
      basalRate: basalRateUsed ? (wg ? wg.basalRate : i32()) : null,
      spike,
      // A spike's payload is 1 (docs/chip.md §6.1): spiking groups send their spike flags.
      payload: spiking ? spike : wg ? wg.payload! : i32(),
      evIdx: wg ? wg.evIdx : i32(),
      evCount: this.alloc.i32(1),
      inRate: g.kind === GroupKind.Input ? i32() : null,
      inSpike: g.kind === GroupKind.Input ? this.alloc.u8(n) : null,
      target: g.nudge === NudgeSource.Target ? i32() : null,
      targetValid: false,
      nudgeBuf: g.nudge === NudgeSource.Teacher ? i32() : null,
      coreOf,
      payloadFrac,
      spikePayload: 1,
      noiseKey: streamKey(this.program.seed, Stream.Noise, index),
      spikeKey: streamKey(this.program.seed, Stream.Spike, index),
      neuronCost: neuronCycles(g, incoming, basalRateUsed),
      incoming: [],
      kernel: () => undefined,
      rings: [],
      wasm: wg,
    };
    return st;
  }

  /**
   * The WebAssembly backend of a group (src/emulator/wasm/groupKernelWasm.ts), or null: backend 'wasm' gives it to
   * every covered group, and so does 'auto' (it is faster from the smallest covered size: LIF groups of 8 neurons
   * run 3.5M ticks/s against 1.1M on JavaScript, measured with bench/workloads.ts cuba(0.1, 10)). The ring of a
   * dense projection on WebAssembly lives in that projection's memory: the group kernel mirrors its slot (external).
   */
  private groupWasmFor(g: Group, index: number, basalRateUsed: boolean): GroupKernelWasm | null {
    const body = this.program.body;
    if (this.backend === 'js' || !wasmSimdSupported() || !groupWasmCovers(g, g.lut >= 0)) return null;
    const rings: GroupWasmRing[] = [];
    for (let pi = 0; pi < body.projections.length; pi++) {
      const p = body.projections[pi];
      if (p.post !== index) continue;
      const pre = body.groups[p.pre];
      const external = p.kind === ProjectionKind.Dense && denseUsesWasm(this.backend, pre.size, g.size);
      const preSpiking = pre.output === OutputMode.Binary || pre.output === OutputMode.Stochastic;
      const payloadFrac = preSpiking ? 0 : PAYLOAD_BITS - pre.payloadShift;
      const bound = maxAbsInputSum(p, pre.size, g.size) * (preSpiking ? 1 : 32768);
      rings.push({ projection: pi, target: p.target, depth: p.delay, shift: p.weightShift + payloadFrac - 16, bound, external });
    }
    return new GroupKernelWasm(g, rings, basalRateUsed, g.lut >= 0 ? body.luts[g.lut] : null);
  }

  private buildProjection(p: Projection, index: number): ProjectionState {
    const pre = this.groups[p.pre];
    const post = this.groups[p.post];
    const nPre = pre.n;
    const nPost = post.n;
    const plastic = p.plasticity;
    const learnParams = (plastic?.statements ?? []).map((s, si) => ({
      kind: p.kind,
      statement: s,
      weightBits: p.weightBits,
      weightShift: p.weightShift,
      fracBits: plastic!.fracBits,
      rounding: plastic!.rounding,
      lowpass: plastic!.lowpass,
      updateShift: plastic!.updateShift,
      roundKey: streamKey(this.program.seed, Stream.Round, (index << 3) | si),
    }));
    // WebAssembly backend: the dense projection's state lives in its module's memory (same values, same views).
    const wasm =
      p.kind === ProjectionKind.Dense && denseUsesWasm(this.backend, nPre, nPost)
        ? new DenseProjectionWasm({
            nPre,
            nPost,
            weightBits: p.weightBits,
            depth: p.delay,
            initialWeights: p.weights,
            plasticity: plastic ? { tag: plastic.tag, lowpass: plastic.lowpass > 0, statements: learnParams } : null,
          })
        : null;
    // Only learning kernels write w: a static projection reads the Program's own array (no copy); a plastic one
    // learns into a copy, so the Program stays as loaded.
    const w = wasm ? wasm.w : plastic ? this.allocWeights(p.weights) : p.weights;
    const nSyn = w.length;
    let wacc: Int32Array | null = null;
    if (plastic) {
      wacc = wasm ? wasm.wacc! : this.alloc.i32(nSyn);
      const scale = 2 ** plastic.fracBits;
      for (let k = 0; k < nSyn; k++) wacc[k] = w[k] * scale;
    }
    const tag = plastic?.tag ? (wasm ? wasm.tag! : this.alloc.i32(nSyn)) : null;
    const lo = plastic && plastic.lowpass > 0 ? (wasm ? wasm.lo! : this.alloc.i32(nSyn)) : null;
    // Transposed index for post-triggered statements on sparse projections.
    let colPtr: Uint32Array | null = null;
    let colSyn: Uint32Array | null = null;
    let colRow: Uint32Array | null = null;
    let colCount: Uint32Array | null = null;
    if (p.kind === ProjectionKind.Sparse) {
      const rowPtr = p.rowPtr!;
      const cols = p.cols!;
      colCount = new Uint32Array(nPost);
      for (let k = 0; k < nSyn; k++) colCount[cols[k]]++;
      if (plastic?.statements.some((s) => s.trigger === Trigger.Post)) {
        colPtr = new Uint32Array(nPost + 1);
        for (let j = 0; j < nPost; j++) colPtr[j + 1] = colPtr[j] + colCount[j];
        colSyn = new Uint32Array(nSyn);
        colRow = new Uint32Array(nSyn);
        const fill = colPtr.slice(0, nPost);
        for (let i = 0; i < nPre; i++) {
          for (let k = rowPtr[i]; k < rowPtr[i + 1]; k++) {
            const q = fill[cols[k]]++;
            colSyn[q] = k;
            colRow[q] = i;
          }
        }
      }
    } else if (p.kind === ProjectionKind.Dense) {
      colCount = new Uint32Array(nPost).fill(nPre);
    } else {
      colCount = new Uint32Array(nPost).fill(1);
    }
    // Cycle-accounting tables.
    const destCount = new Float64Array(CHIP_CORES);
    const synOnCore = new Float64Array(CHIP_CORES);
    const routeCost = new Float64Array(CHIP_CORES);
    let rowCoreStart: Uint32Array | null = null;
    let rowCore: Uint8Array | null = null;
    let rowCoreCount: Uint32Array | null = null;
    for (let j = 0; j < nPost; j++) synOnCore[post.coreOf[j]] += colCount[j];
    if (p.kind === ProjectionKind.Sparse) {
      const rowPtr = p.rowPtr!;
      const cols = p.cols!;
      const starts: number[] = [0];
      const coresList: number[] = [];
      const counts: number[] = [];
      const tmp = new Uint32Array(CHIP_CORES);
      for (let i = 0; i < nPre; i++) {
        tmp.fill(0);
        for (let k = rowPtr[i]; k < rowPtr[i + 1]; k++) tmp[post.coreOf[cols[k]]]++;
        for (let c = 0; c < CHIP_CORES; c++) {
          if (tmp[c]) {
            coresList.push(c);
            counts.push(tmp[c]);
          }
        }
        starts.push(coresList.length);
      }
      rowCoreStart = Uint32Array.from(starts);
      rowCore = Uint8Array.from(coresList);
      rowCoreCount = Uint32Array.from(counts);
    } else if (p.kind === ProjectionKind.Dense) {
      for (const s of post.def.slices) destCount[s.core] += s.count;
      for (let src = 0; src < CHIP_CORES; src++) {
        for (let c = 0; c < CHIP_CORES; c++) if (destCount[c]) routeCost[src] += routeCycles(src, c);
      }
    }
    const depth = p.delay;
    const shift = p.weightShift + pre.payloadFrac - 16;
    const kernels: LearnKernel[] = [];
    const learnOps: number[] = [];
    let ctx: LearnContext | null = null;
    if (plastic) {
      const view = (g: GroupState): NeuronView => ({
        spike: g.spike,
        rate: g.rate,
        x1: g.x1,
        x2: g.x2,
        hp: g.hp,
        basalRate: g.basalRate,
        basal: g.vB,
        apical: g.vA,
        soma: g.u,
        prosp: g.prosp,
        noise: g.xi,
      });
      ctx = {
        w,
        wacc: wacc!,
        tag,
        lo,
        nPre,
        nPost,
        rowPtr: p.rowPtr,
        cols: p.cols,
        colPtr,
        colSyn,
        colRow,
        pre: view(pre),
        post: view(post),
        reward: this.reward,
        preEv: pre.evIdx,
        postEv: post.evIdx,
        preEvCount: pre.evCount,
        postEvCount: post.evCount,
      };
      plastic.statements.forEach((s, si) => {
        const js = compileLearnKernel(learnParams[si]);
        kernels.push(wasm?.learnKernel(si, learnParams[si], js) ?? js);
        const stochastic = s.target === RuleTarget.Weight && plastic.rounding === Rounding.Stochastic && RULE_FRAC_BITS - p.weightShift - plastic.fracBits + plastic.updateShift > 0;
        learnOps.push(CYCLES.learnSynapse + CYCLES.learnOp * microcodeOps(s.code) + (stochastic ? CYCLES.prngDraw : 0));
      });
    }
    return {
      def: p,
      index,
      pre,
      post,
      w,
      wacc,
      tag,
      lo,
      ring: wasm ? wasm.ring : (post.wasm?.rings.get(index) ?? this.alloc.f64(depth * nPost)),
      kernelBackend: wasm ? 'wasm' : 'js',
      denseWasm: wasm,
      depth,
      shift,
      colPtr,
      colSyn,
      colRow,
      routeCost,
      rowCoreStart,
      rowCore,
      rowCoreCount,
      destCount,
      routeKernel: wasm ? wasm.routeKernel(compileRouteKernel(p.kind, nPre, nPost)) : compileRouteKernel(p.kind, nPre, nPost),
      kernels,
      ctx,
      learnOps,
      synOnCore,
      colCount,
    };
  }

  /** A copy of a plastic projection's initial weights, from the state allocator. */
  private allocWeights(weights: Int8Array | Int16Array): Int8Array | Int16Array {
    return weights instanceof Int8Array ? copyInto(this.alloc.i8(weights.length), weights) : copyInto(this.alloc.i16(weights.length), weights);
  }

  // ------------------------------------------------------------------------------------------------ host I/O

  private port(name: string | number) {
    const ports = this.program.body.inputs;
    const idx = typeof name === 'number' ? name : ports.findIndex((p) => p.name === name);
    if (idx < 0 || idx >= ports.length) throw new UsageError(`unknown input port "${name}"`, `ports: ${ports.map((p) => p.name).join(', ') || 'none'}`);
    return ports[idx];
  }

  /**
   * Writes an input port; takes effect from the next tick. Rate and target values are STATE integers and are
   * held until changed; spikes (0/1) apply to the next tick only; reward takes values[0].
   */
  setInput(name: string | number, values: ArrayLike<number>): void {
    const port = this.port(name);
    if (port.kind === PortKind.Reward) {
      this.reward[0] = values[0] | 0;
      return;
    }
    const g = this.groups[port.group];
    if (values.length !== g.n) throw new UsageError(`input port "${port.name}" takes ${g.n} values, got ${values.length}`);
    if (port.kind === PortKind.Rate) g.inRate!.set(values);
    else if (port.kind === PortKind.Spikes) for (let i = 0; i < g.n; i++) g.inSpike![i] = values[i] ? 1 : 0;
    else {
      g.target!.set(values);
      g.targetValid = true;
    }
  }

  /** Removes the nudging target of a Target port (the group runs free). */
  clearTarget(name: string | number): void {
    const port = this.port(name);
    if (port.kind !== PortKind.Target) throw new UsageError(`port "${port.name}" is not a target port`);
    this.groups[port.group].targetValid = false;
  }

  // ------------------------------------------------------------------------------------------------ tick

  /** Runs one tick (all phases). */
  step(): void {
    this.latchTeachers();
    this.stepNeurons();
    this.stepSynapses();
    this.finishTick();
  }

  /**
   * Latch phase of the next tick (§4.1): each owned teacher-nudged group copies its teacher's u (or ŭ) into its
   * nudge buffer. Teacher values are latched before any group integrates, so group order does not matter.
   * Partitioned execution (src/emulator/parallel) latches after its stepSynapses of the previous tick, when no
   * partition writes u or ŭ (and the host latches before the first tick of a run).
   */
  latchTeachers(): void {
    for (const g of this.ownedGroups) {
      if (g.nudgeBuf) {
        const teacher = this.groups[g.def.teacher];
        g.nudgeBuf.set(g.def.teacherProspective ? teacher.prosp : teacher.u);
      }
    }
  }

  /** Integrate, fire and traces phases of tick `tick` for the owned groups; starts the tick's cycle counts. */
  stepNeurons(): void {
    this.cyclesLastTick.set(this.staticCycles);
    const t = this.tick;
    for (const g of this.ownedGroups) g.kernel(g, g.rings, t);
  }

  /**
   * Route and learn phases of tick `tick` for the projections onto owned groups (they write only those groups'
   * rings and synapses); adds their cycles to cyclesLastTick. Reads the event lists and variables of every
   * presynaptic group, so in partitioned execution every partition must have finished stepNeurons.
   */
  stepSynapses(): void {
    const t = this.tick;
    const cyc = this.cyclesLastTick;
    for (const p of this.ownedProjections) this.route(p, t, cyc);
    for (const p of this.ownedPlastic) this.learn(p, t, cyc);
  }

  /**
   * Host phase: adds cyclesLastTick to the totals and its slowest core to the critical path (in a partitioned
   * Chip both cover its partition only), logs spikes, computes digests if enabled, and advances the tick.
   */
  finishTick(): void {
    const cyc = this.cyclesLastTick;
    let crit = 0;
    for (let c = 0; c < CHIP_CORES; c++) {
      this.cyclesTotal[c] += cyc[c];
      if (cyc[c] > crit) crit = cyc[c];
    }
    this.criticalPathTotal += crit;
    if (this.logSpikes) this.recordSpikes(this.tick);
    if (this.digestsEnabled && !this.tickDigestsPaused) this.computeDigests();
    this.tick++;
  }

  private route(p: ProjectionState, t: number, cyc: Float64Array): void {
    const pre = p.pre;
    const ne = pre.evCount[0];
    if (ne === 0) return;
    const ev = pre.evIdx;
    const M = p.post.n;
    const base = ((t + p.def.delay) % p.depth) * M;
    p.routeKernel(pre.payload, ev, ne, p.w, p.ring, base, p.def.rowPtr, p.def.cols);
    // Cycle accounting (docs/chip.md §12).
    const coreOf = pre.coreOf;
    switch (p.def.kind) {
      case ProjectionKind.Dense: {
        // Sums of integers below 2^53 are exact in any order: a group on one core adds ne·cost at once.
        const slices = pre.def.slices;
        if (slices.length === 1) cyc[slices[0].core] += ne * p.routeCost[slices[0].core];
        else for (let e = 0; e < ne; e++) cyc[coreOf[ev[e]]] += p.routeCost[coreOf[ev[e]]];
        const dc = p.destCount;
        for (let c = 0; c < CHIP_CORES; c++) if (dc[c]) cyc[c] += ne * dc[c] * CYCLES.synapse;
        this.synapticEventsTotal += ne * M;
        break;
      }
      case ProjectionKind.Sparse: {
        const rowPtr = p.def.rowPtr!;
        const rcs = p.rowCoreStart!;
        const rc = p.rowCore!;
        const rcc = p.rowCoreCount!;
        for (let e = 0; e < ne; e++) {
          const i = ev[e];
          this.synapticEventsTotal += rowPtr[i + 1] - rowPtr[i];
          const src = coreOf[i];
          for (let q = rcs[i]; q < rcs[i + 1]; q++) {
            cyc[rc[q]] += rcc[q] * CYCLES.synapse;
            cyc[src] += routeCycles(src, rc[q]);
          }
        }
        break;
      }
      default: {
        const postCore = p.post.coreOf;
        this.synapticEventsTotal += ne;
        for (let e = 0; e < ne; e++) {
          const i = ev[e];
          cyc[postCore[i]] += CYCLES.synapse;
          cyc[coreOf[i]] += routeCycles(coreOf[i], postCore[i]);
        }
      }
    }
  }

  private learn(p: ProjectionState, t: number, cyc: Float64Array): void {
    const stmts = p.def.plasticity!.statements;
    for (let s = 0; s < stmts.length; s++) {
      const st = stmts[s];
      const ops = p.learnOps[s];
      switch (st.trigger) {
        case Trigger.Tick:
          break;
        case Trigger.Epoch:
          if (((t + 1) & ((1 << st.epochShift) - 1)) !== 0) continue;
          break;
        case Trigger.Pre:
          if (p.pre.evCount[0] === 0) continue;
          break;
        case Trigger.Post:
          if (p.post.evCount[0] === 0) continue;
          break;
      }
      p.kernels[s](p.ctx!, t);
      // Cycle accounting: synapses visited, charged to the post neuron's core.
      if (st.trigger === Trigger.Tick || st.trigger === Trigger.Epoch) {
        for (let c = 0; c < CHIP_CORES; c++) if (p.synOnCore[c]) cyc[c] += p.synOnCore[c] * ops;
      } else if (st.trigger === Trigger.Pre) {
        const ev = p.pre.evIdx;
        const ne = p.pre.evCount[0];
        if (p.def.kind === ProjectionKind.Dense) {
          for (let c = 0; c < CHIP_CORES; c++) if (p.destCount[c]) cyc[c] += ne * p.destCount[c] * ops;
        } else if (p.def.kind === ProjectionKind.Sparse) {
          for (let e = 0; e < ne; e++) {
            const i = ev[e];
            for (let q = p.rowCoreStart![i]; q < p.rowCoreStart![i + 1]; q++) cyc[p.rowCore![q]] += p.rowCoreCount![q] * ops;
          }
        } else {
          for (let e = 0; e < ne; e++) cyc[p.post.coreOf[ev[e]]] += ops;
        }
      } else {
        const ev = p.post.evIdx;
        const ne = p.post.evCount[0];
        const cc = p.colCount!;
        for (let e = 0; e < ne; e++) cyc[p.post.coreOf[ev[e]]] += cc[ev[e]] * ops;
      }
    }
  }

  // ------------------------------------------------------------------------------------------------ digests

  /**
   * Per-core digests (docs/chip.md §13). For each core, for each variable in DIGEST_VARIABLES order, FNV-1a over
   * the words of that variable for the core's neurons (groups in program order, slices in order, neurons
   * ascending) and synapses (projections in program order, synapses whose post neuron is on the core, in
   * storage order). Absent variables contribute no words.
   */
  computeDigests(): void {
    const V = DIGEST_VARIABLES.length;
    const vd = this.variableDigests;
    vd.fill(FNV_OFFSET);
    const idx = (name: DigestVariable) => DIGEST_VARIABLES.indexOf(name);
    const iSoma = idx('soma');
    for (const g of this.groups) {
      const vars: (Int32Array | null)[] = [g.u, g.prosp, g.vB, g.vA, g.xi, g.ref, g.rate, g.x1, g.x2, g.hp, g.payload];
      for (const s of g.def.slices) {
        const o = s.core * V;
        for (let v = 0; v < vars.length; v++) {
          const a = vars[v];
          if (a) vd[o + iSoma + v] = fnvWords(vd[o + iSoma + v], a, s.start, s.start + s.count);
        }
      }
    }
    const iW = idx('weight');
    for (const p of this.projections) {
      if (!p.wacc) continue;
      const arrays: [Int32Array | null, number][] = [
        [p.wacc, iW],
        [p.tag, iW + 1],
        [p.lo, iW + 2],
      ];
      for (const s of p.post.def.slices) {
        const o = s.core * V;
        for (const [a, vi] of arrays) {
          if (!a) continue;
          let h = vd[o + vi];
          if (p.def.kind === ProjectionKind.Dense) {
            const N = p.pre.n;
            h = fnvWords(h, a, s.start * N, (s.start + s.count) * N);
          } else if (p.def.kind === ProjectionKind.OneToOne) {
            h = fnvWords(h, a, s.start, s.start + s.count);
          } else {
            const cols = p.def.cols!;
            const lo = s.start;
            const hi = s.start + s.count;
            for (let k = 0; k < a.length; k++) if (cols[k] >= lo && cols[k] < hi) h = fnvStrided(h, a, k, 1, 1);
          }
          vd[o + vi] = h;
        }
      }
    }
    for (let c = 0; c < CHIP_CORES; c++) {
      this.coreDigests[c] = this.usedCores[c] ? combineDigests(vd.subarray(c * V, (c + 1) * V)) : 0;
    }
  }

  /**
   * Runs `f` (ticks whose per-tick digests nobody reads, e.g. a training run) without computing the digests
   * after every tick, then computes them once, so coreDigests describe the state when it returns. Digests are a
   * function of the state: nothing else changes.
   */
  withoutTickDigests<T>(f: () => T): T {
    if (!this.digestsEnabled || this.tickDigestsPaused) return f();
    this.tickDigestsPaused = true;
    try {
      return f();
    } finally {
      this.tickDigestsPaused = false;
      this.computeDigests();
    }
  }

  /** Digest of the whole chip: FNV-1a over the per-core digests. */
  chipDigest(): number {
    return fnvWords(FNV_OFFSET, this.coreDigests, 0, CHIP_CORES);
  }

  // ------------------------------------------------------------------------------------------------ runs

  /** Runs `ticks` ticks. */
  run(ticks: number): RunResult {
    for (let i = 0; i < ticks; i++) this.step();
    return { reason: 'ticks', ticks };
  }

  /** Runs until a condition holds after a tick, or maxTicks; says why it stopped. */
  runUntil(opts: RunUntilOptions): RunResult {
    const g = opts.untilSpikeIn !== undefined ? this.group(opts.untilSpikeIn) : null;
    for (let i = 0; i < opts.maxTicks; i++) {
      this.step();
      if (g && g.evCount[0] > 0) return { reason: 'spike', ticks: i + 1 };
      if (opts.until && opts.until(this)) return { reason: 'condition', ticks: i + 1 };
    }
    return { reason: 'ticks', ticks: opts.maxTicks };
  }

  group(name: string): GroupState {
    const g = this.groupByName.get(name);
    if (!g) throw new UsageError(`unknown group "${name}"`, `groups: ${[...this.groupByName.keys()].join(', ')}`);
    return g;
  }

  projection(name: string): ProjectionState {
    const p = this.projectionByName.get(name);
    if (!p) throw new UsageError(`unknown projection "${name}"`, `projections: ${[...this.projectionByName.keys()].join(', ')}`);
    return p;
  }

  /** Copy of a neuron variable of a group. */
  read(groupName: string, variable: ProbeVariable): Int32Array {
    const g = this.group(groupName);
    const src = neuronVariable(g, variable);
    return src ? Int32Array.from(src) : new Int32Array(g.n);
  }

  /** Copy of a projection's weights (integers; real weight = w · 2^-weightShift). */
  readWeights(name: string): Int8Array | Int16Array {
    return this.projection(name).w.slice();
  }

  // ------------------------------------------------------------------------------------------------ spikes log

  /** Starts logging spikes (events of spiking groups; every event for graded groups is not logged). */
  startSpikeLog(): void {
    this.logSpikes = true;
    for (const l of this.spikeLogs) l.count = 0;
  }

  stopSpikeLog(): SpikeLog[] {
    this.logSpikes = false;
    return this.spikeLogs.map((l) => ({ ticks: l.ticks.slice(0, l.count), neurons: l.neurons.slice(0, l.count), count: l.count }));
  }

  private recordSpikes(t: number): void {
    for (let gi = 0; gi < this.groups.length; gi++) {
      const g = this.groups[gi];
      const o = g.def.output;
      if (o !== OutputMode.Binary && o !== OutputMode.Stochastic) continue;
      const ne = g.evCount[0];
      if (!ne) continue;
      let log = this.spikeLogs[gi];
      if (log.count + ne > log.ticks.length) {
        // Amortised growth: rare, and only while a spike log is recording.
        const cap = Math.max(log.ticks.length * 2, log.count + ne);
        const ticks = new Int32Array(cap);
        ticks.set(log.ticks.subarray(0, log.count));
        const neurons = new Int32Array(cap);
        neurons.set(log.neurons.subarray(0, log.count));
        log = this.spikeLogs[gi] = { ticks, neurons, count: log.count };
      }
      for (let e = 0; e < ne; e++) {
        log.ticks[log.count] = t;
        log.neurons[log.count++] = g.evIdx[e];
      }
    }
  }

  /** Spikes emitted in the last tick, summed over all groups. */
  spikesLastTick(): number {
    let s = 0;
    for (const g of this.groups) {
      const o = g.def.output;
      if (o === OutputMode.Binary || o === OutputMode.Stochastic) s += g.evCount[0];
    }
    return s;
  }

  // ------------------------------------------------------------------------------------------------ snapshot

  private stateArrays(): (Int32Array | Uint8Array | Float64Array | Int8Array | Int16Array)[] {
    const out: (Int32Array | Uint8Array | Float64Array | Int8Array | Int16Array)[] = [];
    for (const g of this.groups) {
      for (const a of [g.u, g.prosp, g.vB, g.vA, g.xi, g.ref, g.rate, g.ratePrev, g.x1, g.x2, g.hp, g.basalRate, g.spike, g.payload, g.evIdx, g.evCount, g.inRate, g.inSpike, g.target]) {
        if (a) out.push(a);
      }
    }
    // A static projection's weights are the Program's (never written), not state: restore must not write them.
    for (const p of this.projections) for (const a of [p.def.plasticity ? p.w : null, p.wacc, p.tag, p.lo, p.ring]) if (a) out.push(a);
    out.push(this.cyclesTotal);
    return out;
  }

  /** Full copy of the chip state (tick, every state array, delay rings, held inputs; static weights are the Program's). */
  snapshot(): Snapshot {
    return {
      tick: this.tick,
      criticalPathTotal: this.criticalPathTotal,
      synapticEventsTotal: this.synapticEventsTotal,
      arrays: this.stateArrays().map((a) => a.slice()),
      targetValid: this.groups.map((g) => g.targetValid),
      reward: this.reward[0],
    };
  }

  /**
   * Restores a snapshot of this program (taken from a Chip or ParallelChip of the same Program). Checked before
   * anything is written, so a rejected snapshot leaves the chip as it was: every array's type and length, and
   * every delay ring a WebAssembly group kernel reads within the bound its omitted saturations rely on
   * (GroupWasmRing.bound, from this Program's weights).
   */
  restore(s: Snapshot): void {
    const live = this.stateArrays();
    const foreign = (why: string) => new UsageError(`snapshot does not belong to this program (${why})`, 'restore a snapshot taken from a chip of the same Program');
    if (live.length !== s.arrays.length) throw foreign(`${s.arrays.length} state arrays, this program has ${live.length}`);
    live.forEach((a, i) => {
      const b = s.arrays[i];
      if (b.constructor !== a.constructor || b.length !== a.length) throw foreign(`state array ${i} differs in type or length`);
    });
    for (const g of this.groups) {
      for (const r of g.wasm?.incoming ?? []) {
        const ring = s.arrays[live.indexOf(this.projections[r.projection].ring)] as Float64Array;
        for (let k = 0; k < ring.length; k++) if (!(Math.abs(ring[k]) <= r.bound)) throw foreign(`delay ring of projection "${this.projections[r.projection].def.name}" exceeds its bound`);
      }
    }
    live.forEach((a, i) => (a as Int32Array).set(s.arrays[i] as Int32Array));
    this.groups.forEach((g, i) => (g.targetValid = s.targetValid[i]));
    this.reward[0] = s.reward;
    this.tick = s.tick;
    this.criticalPathTotal = s.criticalPathTotal;
    this.synapticEventsTotal = s.synapticEventsTotal;
    if (this.digestsEnabled) this.computeDigests();
  }

  // ------------------------------------------------------------------------------------------------ reports

  /**
   * Static estimate of cycles per tick per core, from the same tables the tick loop charges: neuron work,
   * barrier, routing and synaptic work assuming graded sources send every tick and spiking sources fire with
   * probability `spikeActivity` per tick, and learning with pre/post triggers at the same activity.
   */
  estimateCyclesPerTick(spikeActivity = 0.02): Float64Array {
    const est = Float64Array.from(this.staticCycles);
    const act = (g: GroupState) => (g.def.output === OutputMode.Graded ? 1 : g.def.output === OutputMode.None ? 0 : spikeActivity);
    for (const p of this.projections) {
      const a = act(p.pre);
      const perSyn = CYCLES.synapse;
      for (let c = 0; c < CHIP_CORES; c++) if (p.synOnCore[c]) est[c] += a * p.synOnCore[c] * perSyn;
      // Routing: every presynaptic neuron's event to each destination core its synapses reach.
      const dest = new Set<number>();
      for (let c = 0; c < CHIP_CORES; c++) if (p.synOnCore[c]) dest.add(c);
      for (const s of p.pre.def.slices) for (const c of dest) est[s.core] += a * s.count * routeCycles(s.core, c);
      const stmts = p.def.plasticity?.statements ?? [];
      stmts.forEach((st, si) => {
        const rate =
          st.trigger === Trigger.Tick ? 1 : st.trigger === Trigger.Epoch ? 2 ** -st.epochShift : st.trigger === Trigger.Pre ? a : act(p.post);
        for (let c = 0; c < CHIP_CORES; c++) if (p.synOnCore[c]) est[c] += rate * p.synOnCore[c] * p.learnOps[si];
      });
    }
    return est;
  }

  /** Real-time factor so far: simulated time over chip time on the critical path. */
  realTimeFactor(): number {
    if (this.tick === 0) return Infinity;
    return realTimeFactor(this.program.body.tickSeconds, this.criticalPathTotal / this.tick, this.clockHz);
  }
}

/**
 * A bound on Σ_i |w_ij| over the synapses onto one postsynaptic neuron j of a projection, for every weight it can
 * hold: a static projection keeps its Program weights for the life of the Chip (snapshots exclude them), so its
 * largest column sum; a plastic one fan-in × 2^(bits−1), the largest magnitude of its weight width.
 */
function maxAbsInputSum(p: Projection, nPre: number, nPost: number): number {
  const w = p.weights;
  if (p.plasticity !== null) {
    const fanIn = p.kind === ProjectionKind.Dense ? nPre : p.kind === ProjectionKind.OneToOne ? 1 : maxColumnCount(p.cols!, nPost);
    return fanIn * 2 ** (p.weightBits - 1);
  }
  const sum = new Float64Array(nPost);
  if (p.kind === ProjectionKind.Dense) for (let j = 0; j < nPost; j++) for (let i = 0; i < nPre; i++) sum[j] += Math.abs(w[j * nPre + i]);
  else if (p.kind === ProjectionKind.OneToOne) for (let j = 0; j < nPost; j++) sum[j] = Math.abs(w[j]);
  else for (let k = 0; k < w.length; k++) sum[p.cols![k]] += Math.abs(w[k]);
  let max = 0;
  for (let j = 0; j < nPost; j++) if (sum[j] > max) max = sum[j];
  return max;
}

/** The largest number of synapses onto one postsynaptic neuron of a sparse projection. */
function maxColumnCount(cols: ArrayLike<number>, nPost: number): number {
  const count = new Uint32Array(nPost);
  let max = 0;
  for (let k = 0; k < cols.length; k++) if (++count[cols[k]] > max) max = count[cols[k]];
  return max;
}

/** Copies `src` into `dst` and returns `dst`. */
function copyInto<T extends Int32Array | Int16Array | Int8Array>(dst: T, src: ArrayLike<number>): T {
  dst.set(src);
  return dst;
}

export function neuronVariable(g: GroupState, v: ProbeVariable): Int32Array | Uint8Array | null {
  switch (v) {
    case ProbeVariable.Spikes:
      return g.spike;
    case ProbeVariable.Soma:
      return g.u;
    case ProbeVariable.Prospective:
      return g.prosp;
    case ProbeVariable.Rate:
      return g.rate;
    case ProbeVariable.Basal:
      return g.vB;
    case ProbeVariable.Apical:
      return g.vA;
    case ProbeVariable.Noise:
      return g.xi;
    case ProbeVariable.Payload:
      return g.payload;
    default:
      return null;
  }
}


/**
 * The WebAssembly backend of one dense projection: its synaptic state (weights, accumulators, tags, low-pass
 * states) and its delay ring live in one fixed-size WebAssembly memory (never grown, so the typed-array views
 * the chip holds stay valid; snapshot/restore and the JavaScript kernels use the same views), and a module
 * specialised at load holds its route kernel (denseRouteCodegen.ts) and one kernel per plasticity statement
 * with a contiguous inner loop (denseLearnCodegen.ts). Results are bit-identical to the JavaScript kernels.
 *
 * Per tick, O(N + M) work stays in JavaScript: splitting the payloads for the route kernel and converting the
 * neuron terms a statement reads to Q7.24 arrays. Nothing is allocated per tick.
 */
import { RULE_FRAC_BITS } from '../constants.js';
import { TERM_NAMES, TERMS, termsUsed } from '../microcode.js';
import { mix32 } from '../prng.js';
import { Trigger, type Statement } from '../program.js';
import { NEURON_TERM_FIELD, type LearnContext, type LearnKernel, type NeuronView, type KernelParams } from '../learningKernel.js';
import type { RouteKernel } from '../routeKernel.js';
import { emitDenseLearn, emitSat64, denseLearnCovers, type DenseLearnLayout } from './denseLearnCodegen.js';
import { emitDenseRoute } from './denseRouteCodegen.js';
import { microcodeSaturationFree, narrowProducts, resultBounds, type NarrowProducts, type TermBounds } from './microcodeBounds.js';
import { encodeModule, fixedMemory, instantiate, MemoryLayout, wasmSimdSupported, type FunctionBuilder, type WasmMemory } from './wasmAssembler.js';

const MAX = 2147483647;
const MIN = -2147483648;
const PAGE = 65536;
/** Calls of every kernel on scratch memory at load (engine tier-up; see wasmAssembler.instantiate). */
const WARM_UP_CALLS = 2;

export interface DenseWasmParams {
  nPre: number;
  nPost: number;
  weightBits: number;
  /** Ring slots (the projection's delay). */
  depth: number;
  initialWeights: Int8Array | Int16Array;
  plasticity: {
    tag: boolean;
    lowpass: boolean;
    statements: KernelParams[];
  } | null;
}

/**
 * Synapses from which backend 'auto' gives a dense projection WebAssembly kernels: compiling them costs a few
 * milliseconds at load and each call a fixed overhead, repaid per tick only by large enough matrices. Measured
 * (bench/workloads.ts denseGraded(true, n): one plastic U–S projection n × n and its graded group, ticks/s after
 * 500 ticks, js / wasm): 16 synapses 394k / 239k, 64: 332k / 465k, 100: 251k / 358k, 256: 128k / 480k, 1024:
 * 36k / 156k; load 1.5–4 ms per projection on wasm against ≈ 1 ms on js.
 */
export const DENSE_WASM_MIN_SYNAPSES = 64;

/** Whether a dense projection of nPre × nPost runs on WebAssembly under a Chip backend option. */
export function denseUsesWasm(backend: 'auto' | 'wasm' | 'js', nPre: number, nPost: number): boolean {
  return backend === 'wasm' || (backend === 'auto' && nPre * nPost >= DENSE_WASM_MIN_SYNAPSES && wasmSimdSupported());
}

/** One neuron term as the Q7.24 array a kernel reads (docs/chip.md §11.2). */
interface TermFill {
  id: number;
  side: 'pre' | 'post';
  field: keyof NeuronView;
  spike: boolean;
  out: Int32Array;
}

type LearnFn = (reward: number, tk: number, nev: number) => void;

export class DenseProjectionWasm {
  readonly memory: WasmMemory;
  readonly w: Int8Array | Int16Array;
  readonly wacc: Int32Array | null;
  readonly tag: Int32Array | null;
  readonly lo: Int32Array | null;
  readonly ring: Float64Array;
  private readonly nPre: number;
  private readonly payHigh: Int16Array;
  private readonly payLow: Int16Array | null;
  private readonly events: Int32Array;
  private readonly preMask: Int32Array;
  private readonly routeFn: (base: number) => void;
  /**
   * Per statement: the saturating kernel, the one without microcode saturation and the one that also takes the
   * narrow products in 32-bit lanes (null without narrow products), or null if not covered.
   */
  private readonly learnFns: ([LearnFn, LearnFn, LearnFn | null] | null)[];
  /** Per statement: its narrow products (microcodeBounds.narrowProducts), or null when it has none. */
  private readonly narrow: (NarrowProducts | null)[];
  /** The narrow products' row limits (int32 per product, rewritten before each narrow call). */
  private readonly narrowLimits: Int32Array;
  /** Calls of the learning kernels by variant: saturating, unsaturated, narrow (tests read it). */
  readonly learnCalls = { saturating: 0, unsaturated: 0, narrow: 0 };
  /** Term bounds of the current call (neuron terms from the filled arrays; syn.* and reward set per call). */
  private readonly bounds: TermBounds = { lo: new Float64Array(64), hi: new Float64Array(64) };
  private readonly learnFills: TermFill[][];

  constructor(p: DenseWasmParams) {
    const { nPre: N, nPost: M, weightBits } = p;
    this.nPre = N;
    const nSyn = N * M;
    const L = new MemoryLayout();
    const steps = Math.ceil(N / 8);
    const oW = L.alloc((nSyn * weightBits) / 8);
    const oRing = L.alloc(p.depth * M * 8);
    const oPH = L.alloc(steps * 16);
    const oPL = weightBits === 16 ? L.alloc(steps * 16) : -1;
    const pl = p.plasticity;
    const oAcc = pl ? L.alloc(nSyn * 4) : -1;
    const oTag = pl?.tag ? L.alloc(nSyn * 4) : -1;
    const oLo = pl?.lowpass ? L.alloc(nSyn * 4) : -1;
    const oEv = pl ? L.alloc(M * 4) : -1;
    const anyPre = pl?.statements.some((s) => s.statement.trigger === Trigger.Pre) ?? false;
    const oPreMask = anyPre ? L.alloc((N + 8) * 4) : -1;
    // Neuron-term arrays, shared by the statements that read the same term.
    const termOffsets = new Map<number, number>();
    const covered = pl ? pl.statements.map((s) => denseLearnCovers(s.statement)) : [];
    pl?.statements.forEach((s, si) => {
      if (!covered[si]) return;
      for (const id of neuronTerms(s.statement)) {
        if (!termOffsets.has(id)) termOffsets.set(id, L.alloc((TERM_NAMES[id].startsWith('pre.') ? N + 4 : M) * 4));
      }
    });
    this.narrow = (pl?.statements ?? []).map((s, si) => {
      const n = covered[si] ? narrowProducts(s.statement.code) : null;
      return n && n.count > 0 ? n : null;
    });
    const narrowCount = Math.max(0, ...this.narrow.map((n) => n?.count ?? 0));
    const oNarrow = narrowCount > 0 ? L.alloc(narrowCount * 4) : -1;
    const pages = Math.max(1, Math.ceil(L.size / PAGE));
    this.memory = fixedMemory(pages);
    const buf = this.memory.buffer;
    this.w = weightBits === 16 ? new Int16Array(buf, oW, nSyn) : new Int8Array(buf, oW, nSyn);
    this.w.set(p.initialWeights);
    this.ring = new Float64Array(buf, oRing, p.depth * M);
    this.payHigh = new Int16Array(buf, oPH, steps * 8);
    this.payLow = oPL >= 0 ? new Int16Array(buf, oPL, steps * 8) : null;
    this.wacc = oAcc >= 0 ? new Int32Array(buf, oAcc, nSyn) : null;
    this.tag = oTag >= 0 ? new Int32Array(buf, oTag, nSyn) : null;
    this.lo = oLo >= 0 ? new Int32Array(buf, oLo, nSyn) : null;
    this.events = new Int32Array(buf, Math.max(oEv, 0), oEv >= 0 ? M : 0);
    this.preMask = new Int32Array(buf, Math.max(oPreMask, 0), oPreMask >= 0 ? N : 0);
    this.narrowLimits = new Int32Array(buf, Math.max(oNarrow, 0), narrowCount);

    const functions: { name: string | null; fn: FunctionBuilder }[] = [{ name: null, fn: emitSat64() }];
    functions.push({ name: 'route', fn: emitDenseRoute(N, M, weightBits, { weights: oW, payloadHigh: oPH, payloadLow: oPL, ring: oRing }) });
    const layout: DenseLearnLayout = { weights: oW, acc: oAcc, tag: oTag, lo: oLo, events: oEv, preMask: oPreMask, terms: termOffsets, narrowLimits: oNarrow };
    pl?.statements.forEach((s, si) => {
      if (!covered[si]) return;
      const params = {
        statement: s.statement,
        nPre: N,
        nPost: M,
        weightBits,
        weightShift: s.weightShift,
        fracBits: s.fracBits,
        rounding: s.rounding,
        lowpass: s.lowpass,
        updateShift: s.updateShift,
      };
      functions.push({ name: `learn${si}`, fn: emitDenseLearn(params, layout, true) });
      functions.push({ name: `learn${si}_unsaturated`, fn: emitDenseLearn(params, layout, false) });
      const narrow = this.narrow[si];
      if (narrow) functions.push({ name: `learn${si}_narrow`, fn: emitDenseLearn(params, layout, false, narrow) });
    });
    if (pl) {
      // syn.w = round(acc, e) (e > 0: |syn.w| ≤ 2^(31−e)) or sat32(acc·2^−e); syn.tag: any int32.
      const s0 = pl.statements[0];
      const e = s0.weightShift + s0.fracBits - RULE_FRAC_BITS;
      this.bounds.lo[TERMS['syn.w']] = e > 0 ? -(2 ** (31 - e)) : MIN;
      this.bounds.hi[TERMS['syn.w']] = e > 0 ? 2 ** (31 - e) : MAX;
      this.bounds.lo[TERMS['syn.tag']] = MIN;
      this.bounds.hi[TERMS['syn.tag']] = MAX;
    }
    const learnNames = functions.slice(2).map((f) => f.name!);
    const exports = instantiate(encodeModule(pages, functions), this.memory, pages, (scratch) => {
      for (let r = 0; r < WARM_UP_CALLS; r++) {
        scratch.route(0);
        for (const name of learnNames) scratch[name](0, 0, M);
      }
    });
    this.routeFn = exports.route;
    this.learnFns = covered.map((c, si) => (c ? [exports[`learn${si}`], exports[`learn${si}_unsaturated`], this.narrow[si] ? exports[`learn${si}_narrow`] : null] : null));
    this.learnFills = (pl?.statements ?? []).map((s, si) =>
      covered[si]
        ? [...neuronTerms(s.statement)].map((id) => {
            const [side, field] = TERM_NAMES[id].split('.') as ['pre' | 'post', string];
            const n = side === 'pre' ? N : M;
            return { id, side, field: NEURON_TERM_FIELD[field] ?? 'spike', spike: field === 'spike', out: new Int32Array(buf, termOffsets.get(id)!, n) };
          })
        : [],
    );
  }

  /**
   * A RouteKernel with the JavaScript kernel's contract: the SIMD dot products when the JavaScript kernel
   * would take its dense loop (ne·8 ≥ N), else the JavaScript event fan-out on the same weights and ring.
   */
  routeKernel(js: RouteKernel): RouteKernel {
    const N = this.nPre;
    const high = this.payHigh;
    const low = this.payLow;
    const route = this.routeFn;
    return (pay, ev, ne, w, ring, base, rowPtr, cols) => {
      if (ne * 8 < N) {
        js(pay, ev, ne, w, ring, base, rowPtr, cols);
        return;
      }
      if (low) {
        for (let i = 0; i < N; i++) {
          const x = pay[i];
          high[i] = x >> 8;
          low[i] = x & 255;
        }
      } else for (let i = 0; i < N; i++) high[i] = pay[i];
      route(base);
    };
  }

  /**
   * The WebAssembly kernel of statement `si` as a LearnKernel, or null when its trigger is not covered. A `pre`
   * statement visits every synapse under an event mask, so with few presynaptic events (ne·8 < N) it calls
   * `js`, the JavaScript kernel of the same statement, which visits only the events' synapses.
   */
  learnKernel(si: number, params: KernelParams, js: LearnKernel): LearnKernel | null {
    const fns = this.learnFns[si];
    if (!fns) return null;
    const [saturating, unsaturated, narrowFn] = fns;
    const narrow = this.narrow[si];
    const limits = this.narrowLimits;
    const calls = this.learnCalls;
    const fills = this.learnFills[si];
    const bounds = this.bounds;
    const code = params.statement.code;
    // Neuron and reward terms of the statement: the narrow products need each of them below 2^31 − 1.
    const stateTerms = Int32Array.from([...termsUsed(code)].filter((id) => !TERM_NAMES[id].startsWith('syn.')));
    const REWARD = TERMS.reward;
    // The bounded variant also needs |Δ·2^−sa| ≤ 2^30 when Δ reaches the accumulator unfiltered and sa ≤ 0.
    const sa = RULE_FRAC_BITS - params.weightShift - params.fracBits + params.updateShift;
    const deltaLimit = params.lowpass > 0 || sa > 0 ? Infinity : 2 ** (30 + sa);
    const events = this.events;
    const key = params.roundKey >>> 0;
    const post = params.statement.trigger === Trigger.Post;
    const pre = params.statement.trigger === Trigger.Pre;
    const N = this.nPre;
    const preMask = this.preMask;
    return (C: LearnContext, t: number) => {
      if (pre) {
        if (C.preEvCount[0] * 8 < N) {
          js(C, t);
          return;
        }
        const spike = C.pre.spike;
        for (let i = 0; i < N; i++) preMask[i] = spike[i] ? -1 : 0;
      }
      for (let q = 0; q < fills.length; q++) fillTerm(fills[q], fills[q].side === 'pre' ? C.pre : C.post, bounds);
      const reward = q24(C.reward[0]);
      bounds.lo[REWARD] = bounds.hi[REWARD] = reward;
      const bounded = microcodeSaturationFree(code, bounds, narrow) && -resultBounds[0] <= deltaLimit && resultBounds[1] <= deltaLimit;
      let fn = saturating;
      if (bounded) {
        fn = unsaturated;
        if (narrowFn !== null && narrowTermsExact(stateTerms, bounds)) {
          // Rows with |a/2^8| ≤ ⌊(2^31 − 1 − 2^7) / ⌊cmax/2^8⌋⌋ have |(a/2^8)·(c/2^8)| ≤ 2^31 − 1 − 2^7 (emitDenseLearn).
          for (let m = 0; m < narrow!.count; m++) limits[m] = Math.floor((MAX - 128) / Math.max(1, Math.floor(narrow!.vectorMax[m] / 256)));
          fn = narrowFn;
          calls.narrow++;
        } else calls.unsaturated++;
      } else calls.saturating++;
      let nev = 0;
      if (post) {
        nev = C.postEvCount[0];
        const ev = C.postEv;
        for (let e = 0; e < nev; e++) events[e] = ev[e];
      }
      fn(reward, mix32((key + t) >>> 0) | 0, nev);
    };
  }
}

/** Whether no term in `ids` reaches 2^31 − 1 this call: then all are multiples of 2^8 (narrowProducts). */
function narrowTermsExact(ids: Int32Array, bounds: TermBounds): boolean {
  for (let q = 0; q < ids.length; q++) if (bounds.hi[ids[q]] >= MAX) return false;
  return true;
}

/** STATE → Q7.24 (×2^8, saturated). */
function q24(x: number): number {
  const y = x * 256;
  return y > MAX ? MAX : y < MIN ? MIN : y;
}

/** Fills a term's Q7.24 array and records its bounds. */
function fillTerm(f: TermFill, v: NeuronView, bounds: TermBounds): void {
  const out = f.out;
  const n = out.length;
  let lo = MAX;
  let hi = MIN;
  if (f.spike) {
    const s = v.spike;
    for (let i = 0; i < n; i++) out[i] = s[i] ? 16777216 : 0;
    lo = 0;
    hi = 16777216;
  } else {
    const src = v[f.field] as Int32Array;
    for (let i = 0; i < n; i++) {
      const y = src[i] * 256;
      const q = y > MAX ? MAX : y < MIN ? MIN : y;
      out[i] = q;
      if (q < lo) lo = q;
      if (q > hi) hi = q;
    }
  }
  bounds.lo[f.id] = lo;
  bounds.hi[f.id] = hi;
}

/** Pre and post neuron terms a statement reads (reward and syn.* are handled in the kernel). */
function neuronTerms(s: Statement): Set<number> {
  return new Set([...termsUsed(s.code)].filter((id) => TERM_NAMES[id].startsWith('pre.') || TERM_NAMES[id].startsWith('post.')));
}

/**
 * The WebAssembly backend of one neuron group: its integrate, fire and trace phases (docs/chip.md §5, §6.1, §6.3,
 * §9) as WebAssembly SIMD bytecode emitted at load, four neurons per iteration, over state arrays and the
 * delay rings of its incoming projections that live in one fixed-size WebAssembly memory (never grown; the chip
 * holds views on it, so snapshot/restore, probes, digests, routing and the JavaScript kernels use the same arrays).
 *
 * Exactness. The kernel performs the very IEEE double operations of the JavaScript kernel (groupKernel.ts), in
 * the same order, on f64x2 lanes: decays `v − ⌊v·k2^−20 + ½⌋`, ring conversions, saturations (as f64x2.pmax/pmin
 * against ±2^31 bounds: no NaN can occur; an input or dendrite saturation is left out where the rings' bounds
 * prove it a no-op, GroupWasmRing.bound), the soma sum with the same grouping of equal coefficients
 * (somaTerms), `⌊D·2^−8 + ½⌋`, and the traces. Identical operations on identical doubles give identical doubles,
 * so the results are bit-identical, including any step the JavaScript kernel does not take exactly. One step
 * is written differently: r12(S), round half up of S·2^−12, where the JavaScript kernel switches between RH and
 * the integer path RS at |S| = 2^52, is always ⌊y + ½⌋ with y = S·2^−12, folded into the coefficients (a
 * power-of-two scaling commutes with every rounded product and sum). In a covered group S = Σ k·x over u, v_B,
 * v_A (int32) with the three coefficients ≤ 2^20, so |S| ≤ 3·2^51 < 2^53 is an exact integer, y a multiple of
 * 2^−12 below 2^41, y + ½ exact, and ⌊y + ½⌋ the exact round half up both JavaScript paths compute.
 * Integer results (within int32 after saturation) are converted back exactly by adding 1.5·2^52 and taking the
 * low word of each double.
 * Refractoriness, the threshold test, reset and the spike, rate and event outputs are i32x4 lane masks; events
 * are appended in ascending neuron order from the lane bitmask, as the JavaScript kernel appends them.
 *
 * Coverage (groupWasmCovers): neuron groups without noise, nudging or high-pass trace, binary without a lookup
 * table or graded with one and no traces (emitGradedOutputs: table lookups, payloads and events in a scalar
 * pass). The last size mod 4 neurons run the JavaScript kernel of the same group (GroupKernelParams.from), which
 * continues the event list.
 */
import { LUT_SEGMENTS, STATE_ONE } from '../constants.js';
import { compileGroupKernel, somaTerms, type GroupKernel, type GroupKernelParams } from '../groupKernel.js';
import { Compartment, GroupKind, NoiseTarget, NudgeSource, OutputMode, TRACE_HP, TRACE_X1, TRACE_X2, type Group, type Lut } from '../program.js';
import { BLOCK_VOID, encodeModule, fixedMemory, FunctionBuilder, instantiate, MemoryLayout, Op, Simd, ValType, type WasmMemory } from './wasmAssembler.js';

const PAGE = 65536;
const MAX = 2147483647;
const MIN = -2147483648;
/** Calls of the kernel on scratch memory at load (engine tier-up; see wasmAssembler.instantiate). */
const WARM_UP_CALLS = 2;
/** 1.5·2^52: x + INT_MAGIC holds the int32 x in its low word (see join in emitGroupStep). */
const INT_MAGIC = 6755399441055744;

/** Whether the WebAssembly group kernel covers a group (see the file comment). */
export function groupWasmCovers(g: Group, hasLut: boolean): boolean {
  return (
    g.kind === GroupKind.Neuron &&
    ((g.output === OutputMode.Binary && !hasLut) || (g.output === OutputMode.Graded && hasLut && g.traces === 0)) &&
    g.noiseTarget === NoiseTarget.None &&
    g.nudge === NudgeSource.None &&
    (g.traces & TRACE_HP) === 0 &&
    g.size >= 4
  );
}

/** One incoming projection's delay ring, in program order of the group's incoming projections. */
export interface GroupWasmRing {
  projection: number;
  target: Compartment;
  depth: number;
  /** Conversion shift weightShift + payloadFrac(pre) − 16 (docs/chip.md §5.1). */
  shift: number;
  /**
   * A bound on |Σ w·payload| in one ring slot: a bound on Σ|w| onto one neuron (static projections: the largest
   * column sum of their weights; plastic ones: fan-in × the largest |weight| of the weight width) × the largest
   * |payload| of the presynaptic group (1 for spikes, 2^15 graded). A slot holds the events of one tick, so the
   * bound holds at every tick. Saturations it proves to be no-ops are omitted (input and dendrite clamps).
   */
  bound: number;
  /**
   * The ring lives elsewhere (a dense projection on WebAssembly keeps it in its own module memory): the kernel
   * reads a one-slot mirror in its memory, which the call fills from the ring's current slot (neurons below
   * ⌊size/4⌋·4; the JavaScript tail reads the rest there) and zeroes there, as reading a slot clears it.
   */
  external?: boolean;
}

interface Offsets {
  u: number;
  payload: number;
  lut: number;
  prosp: number;
  vB: number;
  vA: number;
  ref: number;
  rate: number;
  spike: number;
  ev: number;
  x1: number;
  x2: number;
  basalRate: number;
  slots: number;
  rings: number[];
}

export class GroupKernelWasm {
  readonly memory: WasmMemory;
  readonly u: Int32Array;
  /** ŭ: its own array with a prospective gain, else the same array as u. */
  readonly prosp: Int32Array;
  readonly vB: Int32Array | null;
  readonly vA: Int32Array | null;
  /** Refractory counters (binary groups), or null. */
  readonly ref: Int32Array | null;
  /** Graded payloads, or null (a binary group's payloads are its spike flags). */
  readonly payload: Int32Array | null;
  readonly rate: Int32Array;
  /** Spike flags, which are also the payloads. */
  readonly spike: Int32Array;
  readonly evIdx: Int32Array;
  readonly x1: Int32Array | null;
  readonly x2: Int32Array | null;
  readonly basalRate: Int32Array | null;
  /** The delay ring of each incoming projection (by projection index): depth × size doubles (not external ones). */
  readonly rings = new Map<number, Float64Array>();
  /**
   * External rings (incoming index k, delay) and their one-slot mirrors (the first ⌊size/4⌋·4 neurons), with
   * views on each slot of the external ring `src`, made on the first call (no allocation per tick).
   */
  private readonly mirrors: { k: number; depth: number; view: Float64Array; src: Float64Array | null; slots: Float64Array[] }[] = [];
  private readonly slots: Int32Array;
  private readonly depths: Int32Array;
  private readonly step: () => number;
  private readonly n: number;

  constructor(
    readonly group: Group,
    readonly incoming: GroupWasmRing[],
    basalRateUsed: boolean,
    /** The group's activation table (graded groups). */
    lut: Lut | null,
  ) {
    const g = group;
    const n = g.size;
    this.n = n;
    const L = new MemoryLayout();
    const arr = (on: boolean) => (on ? L.alloc(n * 4) : -1);
    const graded = g.output === OutputMode.Graded;
    const o: Offsets = {
      u: arr(true),
      payload: arr(graded),
      lut: graded ? L.alloc((LUT_SEGMENTS + 1) * 4) : -1,
      prosp: arr(g.prospectiveGain > 0),
      vB: arr(g.hasBasal),
      vA: arr(g.hasApical),
      ref: arr(!graded),
      rate: arr(true),
      spike: arr(true),
      ev: arr(true),
      x1: arr((g.traces & TRACE_X1) !== 0),
      x2: arr((g.traces & TRACE_X2) !== 0),
      basalRate: arr(basalRateUsed),
      slots: L.alloc(Math.max(1, incoming.length) * 4),
      rings: incoming.map((r) => L.alloc((r.external ? 1 : r.depth) * n * 8)),
    };
    const pages = Math.max(1, Math.ceil(L.size / PAGE));
    this.memory = fixedMemory(pages);
    const buf = this.memory.buffer;
    const view = (off: number) => (off >= 0 ? new Int32Array(buf, off, n) : null);
    this.u = view(o.u)!;
    this.prosp = view(o.prosp) ?? this.u;
    this.vB = view(o.vB);
    this.vA = view(o.vA);
    this.ref = view(o.ref);
    this.payload = view(o.payload);
    if (lut) new Int32Array(buf, o.lut, LUT_SEGMENTS + 1).set(lut.values);
    this.rate = view(o.rate)!;
    this.spike = view(o.spike)!;
    this.evIdx = view(o.ev)!;
    this.x1 = view(o.x1);
    this.x2 = view(o.x2);
    this.basalRate = view(o.basalRate);
    this.slots = new Int32Array(buf, o.slots, Math.max(1, incoming.length));
    incoming.forEach((r, k) => {
      if (r.external) this.mirrors.push({ k, depth: r.depth, view: new Float64Array(buf, o.rings[k], n & ~3), src: null, slots: [] });
      else this.rings.set(r.projection, new Float64Array(buf, o.rings[k], r.depth * n));
    });
    // An external ring's mirror is one slot: its slot offset stays 0.
    this.depths = Int32Array.from(incoming, (r) => (r.external ? 1 : r.depth));
    const bytes = encodeModule(pages, [{ name: 'step', fn: emitGroupStep(g, incoming, o, lut) }]);
    const exports = instantiate(bytes, this.memory, pages, (scratch) => {
      for (let r = 0; r < WARM_UP_CALLS; r++) scratch.step();
    });
    this.step = exports.step as unknown as () => number;
  }

  /**
   * The group's kernel with the JavaScript kernel's contract (GroupKernel): the SIMD loop over the first
   * ⌊size/4⌋·4 neurons, then the JavaScript kernel compiled from `params` over the rest.
   */
  kernel(params: GroupKernelParams): GroupKernel {
    const n = this.n;
    const n4 = n & ~3;
    const tail = n4 < n ? compileGroupKernel({ ...params, from: n4 }) : null;
    const slots = this.slots;
    const depths = this.depths;
    const R = depths.length;
    const slotBytes = n * 8;
    const step = this.step;
    const mirrors = this.mirrors;
    return (G, rings, t) => {
      for (let k = 0; k < R; k++) slots[k] = (t % depths[k]) * slotBytes;
      for (let q = 0; q < mirrors.length; q++) {
        const m = mirrors[q];
        const ring = rings[m.k];
        if (m.src !== ring) {
          m.src = ring;
          m.slots = Array.from({ length: m.depth }, (_, d) => ring.subarray(d * n, d * n + n4));
        }
        const d = t % m.depth;
        m.view.set(m.slots[d]);
        ring.fill(0, d * n, d * n + n4);
      }
      G.evCount[0] = step();
      if (tail !== null) tail(G, rings, t);
    };
  }
}

/** step(): the SIMD loop over neurons 0 .. ⌊n/4⌋·4 − 1; returns the number of events. */
function emitGroupStep(g: Group, incoming: GroupWasmRing[], o: Offsets, lut: Lut | null): FunctionBuilder {
  const f = new FunctionBuilder([], [ValType.I32]);
  const n4 = g.size & ~3;
  const V = () => f.local(ValType.V128);
  const pos = f.local(ValType.I32); // byte offset of the block in int32 arrays (4·j)
  const pos2 = f.local(ValType.I32); // byte offset in f64 arrays (8·j)
  const ne = f.local(ValType.I32);
  const mask = f.local(ValType.I32);
  const ra = f.local(ValType.I32);
  const ringBase = incoming.map(() => f.local(ValType.I32));
  const xB = [V(), V()];
  const xA = [V(), V()];
  const iS = [V(), V()];
  const uj = [V(), V()];
  const un = [V(), V()];
  const up = [V(), V()];
  const tmp = V();
  const u4 = V();
  const un4 = V();
  const up4 = V();
  const ref4 = V();
  const mR = V();
  const fire = V();
  const prospective = g.prospectiveGain > 0;

  const clamp = () => f.f64x2(MIN).simd(Simd.F64x2Pmax).f64x2(MAX).simd(Simd.F64x2Pmin);
  /** ⌊x·c + ½⌋ of the f64x2 on the stack. */
  const roundMul = (c: number) => f.f64x2(c).simd(Simd.F64x2Mul).f64x2(0.5).simd(Simd.F64x2Add).simd(Simd.F64x2Floor);
  /** Lanes 2h, 2h + 1 of an int32 array as f64x2. */
  const loadPair = (off: number, h: number) => f.get(pos).simdMem(Simd.V128Load64Zero, off + 8 * h).simd(Simd.F64x2ConvertLowI32x4S);
  /**
   * The i32x4 of two f64x2 locals holding integers within int32 (lanes lo0, lo1, hi0, hi1): adding 1.5·2^52 is
   * exact for an integer |x| < 2^51 and leaves x mod 2^32 in the low word of the double.
   */
  const join = (pair: number[]) => {
    f.get(pair[0]).f64x2(INT_MAGIC).simd(Simd.F64x2Add).get(pair[1]).f64x2(INT_MAGIC).simd(Simd.F64x2Add);
    f.shuffle([0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]);
  };
  /** Stores a pair of f64x2 locals (integers within int32) to lanes 0..3 of the block in an int32 array. */
  const storeBlock = (off: number, pair: number[]) => {
    f.get(pos);
    join(pair);
    f.simdMem(Simd.V128Store, off);
  };
  /** Bound on |input| of ring k after conversion (round half up adds at most ½). */
  const inputBound = (k: number) => incoming[k].bound * 2 ** -incoming[k].shift + 1;
  const ringsTo = (c: Compartment) => incoming.map((_, k) => k).filter((k) => incoming[k].target === c);
  /** Bound on |Σ sat32(input)| over compartment c's rings, before the saturation of the sum. */
  const inputSumBound = (c: Compartment) => ringsTo(c).reduce((a, k) => a + Math.min(inputBound(k), 2 ** 31), 0);
  /** Whether the sum of compartment c's inputs is saturated (several rings whose bound exceeds int32). */
  const sumSaturates = (c: Compartment) => ringsTo(c).length > 1 && inputSumBound(c) > MAX;
  /** Bound on |Σ sat32(input)| of compartment c after its saturation, or 0 without inputs. */
  const compartmentInputBound = (c: Compartment) => (sumSaturates(c) ? 2 ** 31 : inputSumBound(c));
  /** The locals holding the current slot of ring k, lanes 2h, 2h + 1 (loaded by loadInputs). */
  const ringVal = incoming.map(() => [V(), V()]);
  /**
   * Loads the current slot of compartment c's rings (both pairs of the block) into ringVal and clears it there.
   * (Skipping all-zero slots behind a branch measured no faster on CUBA: the branch mispredicts.)
   */
  const loadInputs = (c: Compartment) => {
    for (const k of ringsTo(c)) {
      f.get(ringBase[k]).get(pos2).op(Op.I32Add).tee(ra).simdMem(Simd.V128Load, 0).set(ringVal[k][0]);
      f.get(ra).simdMem(Simd.V128Load, 16).set(ringVal[k][1]);
      f.get(ra).f64x2(0).simdMem(Simd.V128Store, 0).get(ra).f64x2(0).simdMem(Simd.V128Store, 16);
    }
  };
  /** Σ of the saturated inputs to compartment c for lanes 2h, 2h + 1 (docs/chip.md §5.1), after loadInputs. */
  const inputsTo = (c: Compartment, h: number) => {
    const ks = ringsTo(c);
    ks.forEach((k, q) => {
      f.get(ringVal[k][h]);
      const s = incoming[k].shift;
      if (s < 0) f.f64x2(2 ** -s).simd(Simd.F64x2Mul);
      else if (s > 0) roundMul(2 ** -s);
      if (inputBound(k) > MAX) clamp();
      if (q > 0) f.simd(Simd.F64x2Add);
    });
    if (sumSaturates(c)) clamp();
  };
  /**
   * x ← sat32(v − r20(k·v) + Σ inputs) for both pairs of the block. The saturation is left out where it is a
   * no-op: for int32 v and 0 ≤ c = k·2^−20 ≤ 1, d = v − ⌊v·c + ½⌋ lies in [v(1 − c) − ½, v(1 − c) + ½] and
   * between 0 and v, so with |Σ inputs| ≤ B the sum stays within int32 when B + ½ ≤ (2^31 − 1)·c.
   */
  const dendrite = (off: number, decay: number, c: Compartment, x: number[]) => {
    for (let h = 0; h < 2; h++) {
      loadPair(off, h).tee(x[h]).get(x[h]);
      roundMul(decay * 2 ** -20).simd(Simd.F64x2Sub).set(x[h]);
    }
    if (ringsTo(c).length > 0) {
      loadInputs(c);
      for (let h = 0; h < 2; h++) {
        f.get(x[h]);
        inputsTo(c, h);
        f.simd(Simd.F64x2Add).set(x[h]);
      }
    }
    if (compartmentInputBound(c) + 0.5 > MAX * decay * 2 ** -20) {
      for (let h = 0; h < 2; h++) {
        f.get(x[h]);
        clamp().set(x[h]);
      }
    }
  };

  for (let k = 0; k < incoming.length; k++) {
    f.i32(0).mem(Op.I32Load, 2, o.slots + 4 * k).i32(o.rings[k]).op(Op.I32Add).set(ringBase[k]);
  }
  f.i32(0).set(pos);
  f.i32(0).set(ne);
  f.op(Op.Loop, BLOCK_VOID);
  f.get(pos).i32(1).op(Op.I32Shl).set(pos2);
  if (g.hasBasal) dendrite(o.vB, g.basalDecay, Compartment.Basal, xB);
  if (g.hasApical) dendrite(o.vA, g.apicalDecay, Compartment.Apical, xA);
  const somaInput = ringsTo(Compartment.Soma).length > 0;
  if (somaInput) {
    loadInputs(Compartment.Soma);
    for (let h = 0; h < 2; h++) {
      inputsTo(Compartment.Soma, h);
      f.set(iS[h]);
    }
  }
  for (let h = 0; h < 2; h++) {
    loadPair(o.u, h).set(uj[h]);
    // y = S·2^−12 with S = Σ_k (Σ x)·k, as the JavaScript kernel groups and orders it. Scaling by a power of two
    // commutes with every rounded product and sum (no overflow or underflow here), so multiplying each part by
    // k·2^−12 gives the very double S·2^−12.
    const parts = somaTerms(g);
    parts.forEach(([k, names], q) => {
      names.forEach((name, i) => {
        const neg = name.startsWith('-');
        const x = name.replace('-', '');
        const push = () => {
          if (x === 'xB') return g.hasBasal ? f.get(xB[h]) : f.f64x2(0);
          if (x === 'xA') return g.hasApical ? f.get(xA[h]) : f.f64x2(0);
          if (x === 'uj') return f.get(uj[h]);
          throw new Error(`soma term ${name} is not covered`);
        };
        if (i === 0 && neg) {
          f.f64x2(0);
          push().simd(Simd.F64x2Sub);
        } else push();
        if (i > 0) f.simd(neg ? Simd.F64x2Sub : Simd.F64x2Add);
      });
      f.f64x2(k * 2 ** -12).simd(Simd.F64x2Mul);
      if (q > 0) f.simd(Simd.F64x2Add);
    });
    if (parts.length === 0) f.f64x2(0);
    // r12(S) = ⌊y + ½⌋, exact: see the file comment. Then D = sat32(r12(S) + I_S·2^8).
    f.f64x2(0.5).simd(Simd.F64x2Add).simd(Simd.F64x2Floor);
    if (somaInput) f.get(iS[h]).f64x2(256).simd(Simd.F64x2Mul).simd(Simd.F64x2Add);
    clamp().set(tmp);
    // u_new = sat32(u + r8(D)); ŭ = sat32(u + round(D·g·2^−16)).
    f.get(uj[h]).get(tmp);
    roundMul(2 ** -8).simd(Simd.F64x2Add);
    clamp().set(un[h]);
    if (prospective) {
      f.get(uj[h]).get(tmp);
      roundMul(g.prospectiveGain * 2 ** -16).simd(Simd.F64x2Add);
      clamp().set(up[h]);
    }
  }
  if (g.hasBasal) storeBlock(o.vB, xB);
  if (g.hasApical) storeBlock(o.vA, xA);
  join(un);
  f.set(un4);
  if (prospective) {
    join(up);
    f.set(up4);
  }
  if (lut) {
    // Graded (§6.3): u and ŭ take the new values; rates, payloads and events follow in the scalar pass below.
    f.get(pos).get(un4).simdMem(Simd.V128Store, o.u);
    if (prospective) f.get(pos).get(up4).simdMem(Simd.V128Store, o.prosp);
  } else {
    // Refractory neurons (ref > 0) keep u and ŭ and count down; the others take the new values and fire at threshold.
    f.get(pos).simdMem(Simd.V128Load, o.ref).tee(ref4).i32x4(0).simd(Simd.I32x4GtS).set(mR);
    // u ≥ θ as u > θ − 1 (one compare on x86; V8 lowers ≥ to min + equal), except for θ = −2^31 (always true).
    if (g.threshold > MIN) f.get(un4).i32x4(g.threshold - 1).simd(Simd.I32x4GtS);
    else f.i32x4(-1);
    f.get(mR).simd(Simd.V128Andnot).set(fire);
    f.get(pos).simdMem(Simd.V128Load, o.u).set(u4);
    f.get(pos).i32x4(g.reset).get(u4).get(un4).get(mR).simd(Simd.V128Bitselect).get(fire).simd(Simd.V128Bitselect).simdMem(Simd.V128Store, o.u);
    if (prospective) {
      f.get(pos).i32x4(g.reset).get(pos).simdMem(Simd.V128Load, o.prosp).get(up4).get(mR).simd(Simd.V128Bitselect);
      f.get(fire).simd(Simd.V128Bitselect).simdMem(Simd.V128Store, o.prosp);
    }
    f.get(pos).i32x4(g.refractory).get(ref4).get(mR).simd(Simd.I32x4Add).get(fire).simd(Simd.V128Bitselect).simdMem(Simd.V128Store, o.ref);
    f.get(pos).get(fire).i32(31).simd(Simd.I32x4ShrU).simdMem(Simd.V128Store, o.spike);
    f.get(pos).get(fire).i32x4(STATE_ONE).simd(Simd.V128And).simdMem(Simd.V128Store, o.rate);
    if (o.basalRate >= 0) f.get(pos).i32x4(0).simdMem(Simd.V128Store, o.basalRate);
    // Events: ev[ne++] = j + lane, lanes ascending.
    f.get(fire).simd(Simd.I32x4Bitmask).tee(mask).op(Op.If, BLOCK_VOID);
    f.op(Op.Loop, BLOCK_VOID);
    f.get(ne).i32(2).op(Op.I32Shl);
    f.get(pos).i32(2).op(Op.I32ShrU).get(mask).op(Op.I32Ctz).op(Op.I32Add);
    f.mem(Op.I32Store, 2, o.ev);
    f.get(ne).i32(1).op(Op.I32Add).set(ne);
    f.get(mask).get(mask).i32(1).op(Op.I32Sub).op(Op.I32And).tee(mask).br(Op.BrIf, 0);
    f.op(Op.End);
    f.op(Op.End);
    // Traces (docs/chip.md §9), spiking form: x ← sat32(x − r20(k·x) + (spike ? A : 0)).
    const trace = (off: number, decay: number, impulse: number) => {
      for (let h = 0; h < 2; h++) {
        loadPair(off, h).tee(xB[h]).get(xB[h]);
        roundMul(decay * 2 ** -20).simd(Simd.F64x2Sub);
        f.get(fire).simd(h === 0 ? Simd.I64x2ExtendLowI32x4S : Simd.I64x2ExtendHighI32x4S).f64x2(impulse).simd(Simd.V128And).simd(Simd.F64x2Add);
        clamp().set(xB[h]);
      }
      storeBlock(off, xB);
    };
    if (o.x1 >= 0) trace(o.x1, g.x1Decay, g.x1Impulse);
    if (o.x2 >= 0) trace(o.x2, g.x2Decay, g.x2Impulse);
  }
  f.get(pos).i32(16).op(Op.I32Add).tee(pos).i32(n4 * 4).op(Op.I32LtU).br(Op.BrIf, 0);
  f.op(Op.End);
  if (lut) emitGradedOutputs(f, g, o, lut, n4, pos, ne);
  f.get(ne);
  return f;
}

/**
 * The graded outputs of neurons 0 .. n4 − 1 (docs/chip.md §5.5, §5.6, §6.3), one neuron at a time in scalar code,
 * with the JavaScript kernel's double operations: the basal prediction bR = φ(round(v_B·g_B, 20)) if a rule reads
 * it, r = φ(ŭ), payload p = sat16(round(r·2^−payloadShift)), an event where p ≠ 0.
 */
function emitGradedOutputs(f: FunctionBuilder, g: Group, o: Offsets, lut: Lut, n4: number, pos: number, ne: number): void {
  const x = f.local(ValType.F64);
  const d = f.local(ValType.F64);
  const k = f.local(ValType.F64);
  const fr = f.local(ValType.F64);
  const v0 = f.local(ValType.F64);
  const p = f.local(ValType.I32);
  const ki = f.local(ValType.I32);
  const step = 2 ** lut.stepShift;
  const inv = 2 ** -lut.stepShift;
  const knot = (addr: () => void, extra: number) => {
    addr();
    f.mem(Op.I32Load, 2, o.lut + 4 * extra).op(Op.F64ConvertI32S);
  };
  /** φ(x) of the f64 in local x, left on the stack (groupKernel.ts LUT, operation by operation). */
  const phi = () => {
    f.get(x).f64(lut.xMin).op(Op.F64Sub).tee(d).f64(0).op(Op.F64Le).op(Op.If, ValType.F64);
    knot(() => f.i32(0), 0);
    f.op(Op.Else);
    f.get(d).f64(inv).op(Op.F64Mul).op(Op.F64Floor).tee(k).f64(LUT_SEGMENTS).op(Op.F64Ge).op(Op.If, ValType.F64);
    knot(() => f.i32(0), LUT_SEGMENTS);
    f.op(Op.Else);
    f.get(k).op(Op.I32TruncF64S).i32(2).op(Op.I32Shl).set(ki);
    knot(() => f.get(ki), 0);
    f.set(v0);
    f.get(d).get(k).f64(step).op(Op.F64Mul).op(Op.F64Sub).tee(fr).f64(0).op(Op.F64Eq).op(Op.If, ValType.F64);
    f.get(v0);
    f.op(Op.Else);
    f.get(v0);
    knot(() => f.get(ki), 1);
    f.get(v0).op(Op.F64Sub).get(fr).op(Op.F64Mul).f64(inv).op(Op.F64Mul).f64(0.5).op(Op.F64Add).op(Op.F64Floor).op(Op.F64Add);
    f.op(Op.End).op(Op.End).op(Op.End);
  };
  f.i32(0).set(pos);
  f.op(Op.Loop, BLOCK_VOID);
  if (o.basalRate >= 0) {
    if (g.hasBasal) {
      f.get(pos).mem(Op.I32Load, 2, o.vB).op(Op.F64ConvertI32S).f64(g.basalPredGain * 2 ** -20).op(Op.F64Mul).f64(0.5).op(Op.F64Add).op(Op.F64Floor).set(x);
    } else f.f64(0).set(x);
    f.get(pos);
    phi();
    f.op(Op.I32TruncF64S).mem(Op.I32Store, 2, o.basalRate);
  }
  f.get(pos).mem(Op.I32Load, 2, o.prosp >= 0 ? o.prosp : o.u).op(Op.F64ConvertI32S).set(x);
  phi();
  f.set(x); // r
  f.get(pos).get(x).op(Op.I32TruncF64S).mem(Op.I32Store, 2, o.rate);
  // p = sat16(⌊r·2^−s + ½⌋): clamped in f64 (r is an int32, the product exact), then converted.
  f.get(x).f64(2 ** -g.payloadShift).op(Op.F64Mul).f64(0.5).op(Op.F64Add).op(Op.F64Floor).f64(-32768).op(Op.F64Max).f64(32767).op(Op.F64Min);
  f.op(Op.I32TruncF64S).set(p);
  f.get(pos).get(p).mem(Op.I32Store, 2, o.payload);
  f.get(pos).get(p).i32(0).op(Op.I32Ne).mem(Op.I32Store, 2, o.spike);
  f.get(p).op(Op.If, BLOCK_VOID);
  f.get(ne).i32(2).op(Op.I32Shl).get(pos).i32(2).op(Op.I32ShrU).mem(Op.I32Store, 2, o.ev);
  f.get(ne).i32(1).op(Op.I32Add).set(ne);
  f.op(Op.End);
  f.get(pos).i32(4).op(Op.I32Add).tee(pos).i32(n4 * 4).op(Op.I32LtU).br(Op.BrIf, 0);
  f.op(Op.End);
}

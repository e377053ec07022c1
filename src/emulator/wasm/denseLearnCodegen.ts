/**
 * WebAssembly SIMD kernel of one plasticity statement on a dense projection (docs/chip.md §11), with the
 * inner loop over contiguous synapses of a row: `tick`, `epoch(k)` (every row j), `post` (the rows of this
 * tick's postsynaptic events) and `pre` (every row, writing only the synapses of presynaptic events, selected
 * per lane by an event mask; worth it when many presynaptic neurons have events, as graded groups do).
 * Synapses k = j·N + i (post-major) are updated 4 at a time in i32x4 lanes; the arithmetic is that of
 * learningKernel.ts / microcode.ts, step by step:
 *
 * - Values that do not depend on i (post terms, reward, constants and any operation on those only) are
 *   computed once per row in scalar i64 arithmetic and splatted; the same operations in the same order, so
 *   hoisting changes nothing.
 * - ADD / SUB: wrapping i32 lane sum, overflow detected from the signs ((a⊕s)∧(b⊕s) < 0 for a + b,
 *   (a⊕b)∧(a⊕s) < 0 for a − b) and replaced by MIN/MAX by the sign of a: = sat32 of the exact sum.
 * - MUL / MULC s: exact 64-bit lane products (i64x2.extmul), q = a·b + 2^(s−1) (|a·b| ≤ 2^62, no overflow),
 *   result ⌊q / 2^s⌋ clamped to int32 (details at vMulShift). MULC by m = 2^p (p ≤ s) is round(a, s − p).
 * - round(x, s) for s ≥ 1 in i32 lanes: (x >> s) + ((x >> (s − 1)) & 1) = ⌊(x + 2^(s−1)) / 2^s⌋ without the
 *   overflow of the addition.
 * - sa = 24 − weightShift − fracBits + updateShift (≤ 31).
 * - Stochastic rounding: ⌊(Δ + r) / 2^sa⌋ = (Δ >> sa) + (((Δ & (2^sa − 1)) + r) >>> sa), r = draw >>> (32 − sa),
 *   the draw mix32(tk ⊕ k) computed in lanes (i32x4.mul is the low 32 bits of the product, as Math.imul).
 * - Accumulator: when |δ| ≤ 2^30 (always for sa ≥ 1; for sa ≤ 0 in the bounded variant, whose caller checks
 *   it), clamp(acc + δ, amin, amax) = clamp(acc, amin − δ, amax − δ) + δ with every term within int32 (the
 *   bounds lie within ±2^30), for any int32 acc. Otherwise (sa ≤ 0) δ = Δ·2^−sa is saturated to int32 and
 *   added with saturation: as |amin|, |amax| ≤ 2^30, clamp(acc + δ) = clamp(sat32(acc + sat32(δ))).
 *   Then w = round(acc, f) = (acc + 2^(f−1)) >> f (no overflow: |acc| ≤ 2^30).
 *
 * Rows run 8 synapses per iteration (two steps of 4 lanes sharing the weight store). A row whose length N is
 * not a multiple of 4 ends with one masked step: lanes ≥ N read the next row's state (or the padding after the
 * arrays) and store back what they read.
 */
import { RULE_FRAC_BITS } from '../constants.js';
import { Op as MOp, TERM_NAMES, wordOp, wordOperand } from '../microcode.js';
import { RuleTarget, Rounding, Trigger, type Statement } from '../program.js';
import type { NarrowProducts } from './microcodeBounds.js';
import { Fragment, FunctionBuilder, Op, Simd, ValType } from './wasmAssembler.js';

const MAX = 2147483647;
const MIN = -2147483648;

export interface DenseLearnLayout {
  weights: number;
  acc: number;
  /** −1 when absent. */
  tag: number;
  lo: number;
  /** Postsynaptic event list (int32), for `post` statements. */
  events: number;
  /** Presynaptic event mask (int32 −1 / 0 per pre neuron, N + 8 entries), for `pre` statements. */
  preMask: number;
  /** Term id → byte offset of its per-neuron Q7.24 array (N + 4 pre values / M post values). */
  terms: Map<number, number>;
  /** Byte offset of the row limits of the narrow products (int32 per product; narrow variant), or −1. */
  narrowLimits: number;
}

export interface DenseLearnParams {
  statement: Statement;
  nPre: number;
  nPost: number;
  weightBits: number;
  weightShift: number;
  fracBits: number;
  rounding: Rounding;
  lowpass: number;
  /** Weight Δ reaches the accumulator scaled by 2^−updateShift (§11.4). */
  updateShift: number;
}

/** Whether a statement runs in this kernel (otherwise the chip keeps the JavaScript kernel). */
export function denseLearnCovers(s: Statement): boolean {
  return s.trigger === Trigger.Tick || s.trigger === Trigger.Epoch || s.trigger === Trigger.Post || s.trigger === Trigger.Pre;
}

/** A microcode value: a scalar local computed once per row, or a v128 local computed per step. */
interface Value {
  row: boolean;
  local: number;
  /** A bound on |value| in every lane, where one is proven (narrow steps), else undefined. */
  bound?: number;
}

/** The module's helper sat(i64) → i32 clamps to int32 (function index SAT_FN). */
export const SAT_FN = 0;

export function emitSat64(): FunctionBuilder {
  const f = new FunctionBuilder([ValType.I64], [ValType.I32]);
  f.get(0).i64(BigInt(MAX)).op(Op.I64GtS).op(Op.If, ValType.I32).i32(MAX);
  f.op(Op.Else).get(0).i64(BigInt(MIN)).op(Op.I64LtS).op(Op.If, ValType.I32).i32(MIN);
  f.op(Op.Else).get(0).op(Op.I32WrapI64).op(Op.End).op(Op.End);
  return f;
}

/**
 * learn(reward, tk, nev): reward = Q7.24 reward term, tk = the statement's PRNG tick key (stochastic
 * rounding), nev = number of postsynaptic events in the event list (post trigger).
 *
 * With `microcodeSaturates` false (the bounded variant) the per-synapse microcode operations (ADD, SUB, NEG,
 * MUL, MULC in lanes) omit their saturation: the caller selects that variant only for a call in which interval
 * bounds of every operand prove no operation can leave int32 and, without low-pass, |Δ·2^−sa| ≤ 2^30
 * (microcodeBounds.ts), where both variants give the same values. Row values always saturate.
 *
 * With `narrow` (only with `microcodeSaturates` false) each narrow product (microcodeBounds.narrowProducts) of
 * a row value a by a per-synapse value c, both multiples of 2^8, runs in 32-bit lanes in the rows where
 * |a / 2^8| ≤ limit (the product's int32 at L.narrowLimits, which the caller sets to
 * ⌊(2^31 − 1 − 2^7) / ⌊cmax / 2^8⌋⌋ from the bound cmax of |c|): round(a·c, 24) = round((a/2^8)·(c/2^8)·2^16, 24)
 * = round(p, 8) = (p + 2^7) >> 8 with the exact int32 product p = (a/2^8)·(c/2^8), |p| ≤ 2^31 − 1 − 2^7; the
 * result's bound (2^23) lets later roundings of it add before shifting too (vRound). Other rows run the
 * unsaturated steps.
 */
export function emitDenseLearn(p: DenseLearnParams, L: DenseLearnLayout, microcodeSaturates = true, narrow: NarrowProducts | null = null): FunctionBuilder {
  const f = new FunctionBuilder([ValType.I32, ValType.I32, ValType.I32], []);
  const P_REWARD = 0;
  const P_TK = 1;
  const P_NEV = 2;
  const N = p.nPre;
  const j = f.local(ValType.I32);
  const e = f.local(ValType.I32);
  /** Byte offsets of synapse k in the 32-bit arrays (4k), in the pre-term arrays (4i), in the weights. */
  const k4 = f.local(ValType.I32);
  const i4 = f.local(ValType.I32);
  const kw = f.local(ValType.I32);
  const wBytes = p.weightBits / 8;
  const tkv = f.local(ValType.V128);
  const entry = new Fragment();
  const prologue = new Fragment();
  const stochastic = p.rounding === Rounding.Stochastic;
  const sa = RULE_FRAC_BITS - p.weightShift - p.fracBits + p.updateShift;
  /** The caller guarantees |Δ·2^−sa| ≤ 2^30 (bounded variant without low-pass: Δ is the microcode result). */
  const boundedDelta = !microcodeSaturates && p.lowpass === 0;
  /** `pre` statements run over every row and write only the lanes of presynaptic events (L.preMask). */
  const preTriggered = p.statement.trigger === Trigger.Pre;
  if (stochastic && sa > 0) entry.get(P_TK).simd(Simd.I32x4Splat).set(tkv);
  const v128 = () => f.local(ValType.V128);
  const i32 = () => f.local(ValType.I32);

  // ---- row-level (scalar) values, computed in the prologue
  const splats = new Map<number, number>();
  const toVec = (v: Value): number => {
    if (!v.row) return v.local;
    let s = splats.get(v.local);
    if (s === undefined) {
      s = v128();
      prologue.get(v.local).simd(Simd.I32x4Splat).set(s);
      splats.set(v.local, s);
    }
    return s;
  };
  const scalarMulShift = (a: number, bPush: () => void, s: number): Value => {
    const r = i32();
    prologue.get(a).op(Op.I64ExtendI32S);
    bPush();
    prologue.op(Op.I64Mul);
    if (s > 0) prologue.i64(1n << BigInt(s - 1)).op(Op.I64Add).i64(BigInt(s)).op(Op.I64ShrS);
    prologue.call(SAT_FN).set(r);
    return { row: true, local: r };
  };

  /** Per narrow product: the prologue local holding its row operand / 2^8 (filled by the narrow steps). */
  const narrowRow: number[] = [];
  /**
   * The body of one 4-synapse step (`validLanes` < 4 for the masked last step of a row; `half` 1 for the
   * second step of an 8-synapse iteration). Vector values are step-local; scalar values come from the
   * prologue. Returns the new weights (−1 for a tag statement) and the lane selection (−1: all lanes).
   */
  const emitStep = (b: Fragment, validLanes: number, half = 0, narrowStep = false): { wv: number; sel: number } => {
    const masked = validLanes < 4;
    const o = 16 * half; // byte offset of this step's lanes in the 32-bit arrays (two steps per iteration)
    let accOld = -1;
    let tagOld = -1;
    const loadAcc = () => {
      if (accOld < 0) {
        accOld = v128();
        b.get(k4).simdMem(Simd.V128Load, L.acc + o).set(accOld);
      }
      return accOld;
    };
    const loadTag = () => {
      if (tagOld < 0) {
        tagOld = v128();
        b.get(k4).simdMem(Simd.V128Load, L.tag + o).set(tagOld);
      }
      return tagOld;
    };
    const preTerms = new Map<number, number>();
    // Vector helpers: each returns a new local.
    const vAddSat = (a: number, c: number, sub: boolean): number => {
      const s = v128();
      const r = v128();
      b.get(a).get(c).simd(sub ? Simd.I32x4Sub : Simd.I32x4Add).set(s);
      b.get(a).i32(31).simd(Simd.I32x4ShrS).i32x4(MAX).simd(Simd.V128Xor); // MIN if a < 0 else MAX
      b.get(s);
      if (sub) b.get(a).get(c).simd(Simd.V128Xor).get(a).get(s).simd(Simd.V128Xor).simd(Simd.V128And);
      else b.get(a).get(s).simd(Simd.V128Xor).get(c).get(s).simd(Simd.V128Xor).simd(Simd.V128And);
      b.i32(31).simd(Simd.I32x4ShrS).simd(Simd.V128Bitselect).set(r);
      return r;
    };
    /**
     * sat32(round(a·c, s)) per lane (c a vector local); `saturate` false when the result provably fits.
     * q = a·c + 2^(s−1) is exact in i64 (|a·c| ≤ 2^62). For s ≤ 32 the low 32 bits of q >> s are bits
     * s..s+31 of q, the same for a logical shift (native on every target, unlike the 64-bit arithmetic
     * shift); saturation is decided on q before shifting: result > MAX ⟺ q ≥ 2^(31+s), < MIN ⟺ q < −2^(31+s)
     * (only possible for s ≤ 31). For s > 32, q >> s = (high word of q) >> (s − 32), and |result| ≤ 2^30.
     */
    const vMulShift = (a: number, c: number, s: number, saturate = true): number => {
      const halves = [v128(), v128()];
      const over = [v128(), v128()];
      const under = [v128(), v128()];
      const clamp = saturate && s <= 31;
      [Simd.I64x2ExtmulLowI32x4S, Simd.I64x2ExtmulHighI32x4S].forEach((op, h) => {
        const t = halves[h];
        b.get(a).get(c).simd(op);
        if (s > 0) b.i64x2(1n << BigInt(s - 1)).simd(Simd.I64x2Add);
        b.set(t);
        if (clamp) {
          b.get(t).i64x2((1n << BigInt(31 + s)) - 1n).simd(Simd.I64x2GtS).set(over[h]);
          b.get(t).i64x2(-(1n << BigInt(31 + s))).simd(Simd.I64x2LtS).set(under[h]);
        }
        if (s > 0 && s <= 32) b.get(t).i32(s).simd(Simd.I64x2ShrU).set(t);
      });
      const LOW = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
      const HIGH = LOW.map((x) => x + 4);
      const r = v128();
      b.get(halves[0]).get(halves[1]).shuffle(s > 32 ? HIGH : LOW);
      if (s > 32) b.i32(s - 32).simd(Simd.I32x4ShrS);
      b.set(r);
      if (clamp) {
        b.i32x4(MAX).get(r).get(over[0]).get(over[1]).shuffle(LOW).simd(Simd.V128Bitselect).set(r);
        b.i32x4(MIN).get(r).get(under[0]).get(under[1]).shuffle(LOW).simd(Simd.V128Bitselect).set(r);
      }
      return r;
    };
    /**
     * round(x, s), s ≥ 1, half up, per lane: (x + 2^(s−1)) >> s where a bound on |x| proves the sum fits int32
     * (one shift), else (x >> s) + ((x >> (s − 1)) & 1).
     */
    const vRound = (x: number, s: number, bound?: number): number => {
      const r = v128();
      if (bound !== undefined && bound + 2 ** (s - 1) <= MAX) b.get(x).i32x4(2 ** (s - 1)).simd(Simd.I32x4Add).i32(s).simd(Simd.I32x4ShrS).set(r);
      else b.get(x).i32(s).simd(Simd.I32x4ShrS).get(x).i32(s - 1).simd(Simd.I32x4ShrS).i32x4(1).simd(Simd.V128And).simd(Simd.I32x4Add).set(r);
      return r;
    };
    /** The bound of round(x, s) from a bound on |x|. */
    const roundBound = (bound: number | undefined, s: number) => (bound === undefined ? undefined : Math.floor(bound / 2 ** s) + 1);
    /** sat32(x·2^s), 1 ≤ s ≤ 31, per lane. */
    const vShlSat = (x: number, s: number): number => {
      const r = v128();
      b.get(x).i32(s).simd(Simd.I32x4Shl).set(r);
      b.i32x4(MAX).get(r).get(x).i32x4(MAX >> s).simd(Simd.I32x4GtS).simd(Simd.V128Bitselect).set(r);
      b.i32x4(MIN).get(r).get(x).i32x4(MIN >> s).simd(Simd.I32x4LtS).simd(Simd.V128Bitselect).set(r);
      return r;
    };
    const termValue = (id: number): Value => {
      const name = TERM_NAMES[id];
      if (name === 'reward') return { row: true, local: P_REWARD };
      if (name.startsWith('post.')) throw new Error('post terms are row values'); // handled by rowTerm
      if (name === 'syn.tag') return { row: false, local: loadTag() };
      if (name === 'syn.w') {
        const ex = p.weightShift + p.fracBits - RULE_FRAC_BITS; // syn.w = round(acc·2^−ex) or sat(acc·2^−ex)
        const a = loadAcc();
        if (ex > 0) return { row: false, local: vRound(a, ex) };
        if (ex === 0) return { row: false, local: a };
        return { row: false, local: vShlSat(a, -ex) };
      }
      let v = preTerms.get(id);
      if (v === undefined) {
        v = v128();
        b.get(i4).simdMem(Simd.V128Load, L.terms.get(id)! + o).set(v);
        preTerms.set(id, v);
      }
      return { row: false, local: v };
    };

    // ---- the microcode, value by value
    const code = p.statement.code;
    const stack: Value[] = [];
    for (let pc = 0; pc < code.length; pc++) {
      const op = wordOp(code[pc]);
      const arg = wordOperand(code[pc]);
      const at = pc;
      // Row values are computed once per row (the full and the masked step share them).
      const once = (make: () => Value): Value => {
        let v = rowAt.get(at);
        if (v === undefined) rowAt.set(at, (v = make()));
        return v;
      };
      switch (op) {
        case MOp.Term:
          stack.push(TERM_NAMES[arg].startsWith('post.') ? rowTerm(arg) : termValue(arg));
          break;
        case MOp.Const:
          stack.push(once(() => rowConst(code[at + 1])));
          pc++;
          break;
        case MOp.Add:
        case MOp.Sub: {
          const c = stack.pop()!;
          const a = stack.pop()!;
          if (!microcodeSaturates && !(a.row && c.row)) {
            const r = v128();
            b.get(toVec(a)).get(toVec(c)).simd(op === MOp.Add ? Simd.I32x4Add : Simd.I32x4Sub).set(r);
            stack.push({ row: false, local: r, bound: a.bound !== undefined && c.bound !== undefined ? a.bound + c.bound : undefined });
            break;
          }
          if (a.row && c.row) {
            stack.push(
              once(() => {
                const r = i32();
                prologue.get(a.local).op(Op.I64ExtendI32S).get(c.local).op(Op.I64ExtendI32S).op(op === MOp.Add ? Op.I64Add : Op.I64Sub);
                prologue.call(SAT_FN).set(r);
                return { row: true, local: r };
              }),
            );
          } else stack.push({ row: false, local: vAddSat(toVec(a), toVec(c), op === MOp.Sub) });
          break;
        }
        case MOp.Mul: {
          const c = stack.pop()!;
          const a = stack.pop()!;
          const m = narrowStep && narrow !== null ? narrow.index[at] : -1;
          if (a.row && c.row) stack.push(once(() => scalarMulShift(a.local, () => prologue.get(c.local).op(Op.I64ExtendI32S), RULE_FRAC_BITS)));
          else if (m >= 0) {
            // Narrow product: round((a/2^8)·(c/2^8), 8) with the exact int32 product (see emitDenseLearn).
            const [rowV, vecV] = narrow!.vectorOnTop[at] ? [a, c] : [c, a];
            if (narrowRow[m] === undefined) {
              narrowRow[m] = i32();
              prologue.get(rowV.local).i32(8).op(Op.I32ShrS).set(narrowRow[m]);
            }
            const prod = v128();
            b.get(toVec({ row: true, local: narrowRow[m] })).get(vecV.local).i32(8).simd(Simd.I32x4ShrS).simd(Simd.I32x4Mul).set(prod);
            // |prod| ≤ 2^31 − 1 − 2^7 (the row limit), so the rounding adds 2^7 without overflow; |result| ≤ 2^23.
            stack.push({ row: false, local: vRound(prod, 8, MAX - 128), bound: 2 ** 23 });
          } else stack.push({ row: false, local: vMulShift(toVec(a), toVec(c), RULE_FRAC_BITS, microcodeSaturates) });
          break;
        }
        case MOp.Neg: {
          const a = stack.pop()!;
          if (a.row) {
            stack.push(
              once(() => {
                const r = i32();
                prologue.i64(0n).get(a.local).op(Op.I64ExtendI32S).op(Op.I64Sub).call(SAT_FN).set(r);
                return { row: true, local: r };
              }),
            );
          } else {
            const r = v128();
            if (microcodeSaturates) b.i32x4(MAX);
            b.i32x4(0).get(a.local).simd(Simd.I32x4Sub);
            if (microcodeSaturates) b.get(a.local).i32x4(MIN).simd(Simd.I32x4Eq).simd(Simd.V128Bitselect);
            b.set(r);
            stack.push({ row: false, local: r });
          }
          break;
        }
        case MOp.MulC: {
          const a = stack.pop()!;
          const m = code[++pc];
          if (a.row) stack.push(once(() => scalarMulShift(a.local, () => prologue.i64(BigInt(m)), arg)));
          else if (m > 0 && (m & (m - 1)) === 0 && Math.log2(m) <= arg && arg - Math.log2(m) <= 31) {
            // m = 2^q, q ≤ s: round(a·2^q, s) = round(a, s − q), which always fits int32.
            const q = Math.log2(m);
            stack.push(arg === q ? a : { row: false, local: vRound(a.local, arg - q, a.bound), bound: roundBound(a.bound, arg - q) });
          } else {
            const mv = v128();
            b.i32x4(m).set(mv);
            stack.push({ row: false, local: vMulShift(a.local, mv, arg, microcodeSaturates) });
          }
          break;
        }
        default:
          throw new Error(`unknown opcode ${op}`);
      }
    }
    const top = stack.pop()!;
    const deltaBound = top.row ? undefined : top.bound;
    let D = toVec(top);

    // ---- apply Δ (docs/chip.md §11.4)
    // Lanes written: all, or those of the row (masked tail) whose presynaptic neuron had an event (pre).
    let sel = -1;
    if (preTriggered || masked) {
      sel = v128();
      if (preTriggered) {
        b.get(i4).simdMem(Simd.V128Load, L.preMask + o);
        if (masked) b.i32x4(...laneMask32(validLanes)).simd(Simd.V128And);
      } else b.i32x4(...laneMask32(validLanes));
      b.set(sel);
    }
    const storeI32 = (offset: number, value: number, old: number) => {
      b.get(k4).get(value);
      if (sel >= 0) b.get(old).get(sel).simd(Simd.V128Bitselect);
      b.simdMem(Simd.V128Store, offset);
    };
    if (p.statement.target === RuleTarget.Tag) {
      const old = loadTag();
      storeI32(L.tag + o, vAddSat(old, D, false), old);
      return { wv: -1, sel };
    }
    if (p.lowpass > 0) {
      const lo = v128();
      b.get(k4).simdMem(Simd.V128Load, L.lo + o).set(lo);
      const dd = vAddSat(D, lo, true);
      const kv = v128();
      b.i32x4(p.lowpass).set(kv);
      // |round(k·dd, 20)| ≤ |dd| for k ≤ 2^20, so it fits int32 without clamping.
      const step = vMulShift(dd, kv, 20, false);
      const l = vAddSat(lo, step, false);
      storeI32(L.lo + o, l, lo);
      D = l;
    }
    let d: number;
    if (sa > 0 && stochastic) {
      const x = v128();
      b.get(k4).i32(2).op(Op.I32ShrU).simd(Simd.I32x4Splat).i32x4(4 * half, 4 * half + 1, 4 * half + 2, 4 * half + 3).simd(Simd.I32x4Add).get(tkv).simd(Simd.V128Xor).set(x);
      const xorShr = (s: number) => b.get(x).get(x).i32(s).simd(Simd.I32x4ShrU).simd(Simd.V128Xor).set(x);
      xorShr(16);
      b.get(x).i32x4(0x7feb352d).simd(Simd.I32x4Mul).set(x);
      xorShr(15);
      b.get(x).i32x4(0x846ca68b | 0).simd(Simd.I32x4Mul).set(x);
      xorShr(16);
      d = v128();
      b.get(D).i32(sa).simd(Simd.I32x4ShrS);
      // (Δ & (2^sa − 1)) + r < 2^(sa+1) ≤ 2^32: exact as an unsigned lane, hence the logical shift.
      b.get(D).i32x4(2 ** sa - 1).simd(Simd.V128And).get(x).i32(32 - sa).simd(Simd.I32x4ShrU).simd(Simd.I32x4Add).i32(sa).simd(Simd.I32x4ShrU);
      b.simd(Simd.I32x4Add).set(d);
    } else if (sa > 0) d = vRound(D, sa, p.lowpass > 0 ? undefined : deltaBound);
    else if (sa === 0) d = D;
    else if (boundedDelta) {
      d = v128();
      b.get(D).i32(-sa).simd(Simd.I32x4Shl).set(d);
    } else d = vShlSat(D, -sa);
    const old = loadAcc();
    const f0 = p.fracBits;
    const amax = (2 ** (p.weightBits - 1) - 1) * 2 ** f0;
    const amin = -(2 ** (p.weightBits - 1)) * 2 ** f0;
    const a = v128();
    if (sa > 0 || boundedDelta) {
      // |δ| ≤ 2^30: clamp(acc + δ, amin, amax) = clamp(acc, amin − δ, amax − δ) + δ, every term within int32.
      b.get(old).i32x4(amax).get(d).simd(Simd.I32x4Sub).simd(Simd.I32x4MinS).i32x4(amin).get(d).simd(Simd.I32x4Sub).simd(Simd.I32x4MaxS);
      b.get(d).simd(Simd.I32x4Add).set(a);
    } else {
      b.get(vAddSat(old, d, false)).i32x4(amin).simd(Simd.I32x4MaxS).i32x4(amax).simd(Simd.I32x4MinS).set(a);
    }
    storeI32(L.acc + o, a, old);
    // w = round(acc, f); |acc| ≤ 2^30 after the clamp, so acc + 2^(f−1) cannot overflow.
    let wv = a;
    if (f0 > 0) {
      wv = v128();
      b.get(a).i32x4(2 ** (f0 - 1)).simd(Simd.I32x4Add).i32(f0).simd(Simd.I32x4ShrS).set(wv);
    }
    return { wv, sel };
  };

  /**
   * w ← round(acc, f) for one step (4 lanes, masked to `validLanes`) or two steps (8 lanes): the values lie
   * within the weight width, so the saturating narrows are exact.
   */
  const storeWeights = (b: Fragment, steps: { wv: number; sel: number }[]): void => {
    if (steps[0].wv < 0) return; // tag statement
    const pair = steps.length === 2;
    const [s0, s1] = [steps[0], steps[steps.length - 1]];
    const selective = s0.sel >= 0 || s1.sel >= 0;
    // The lane selections narrowed like the values (−1/0 lanes narrow to −1/0).
    const pushSel16 = () => {
      if (s0.sel >= 0) b.get(s0.sel);
      else b.i32x4(-1);
      if (s1.sel >= 0) b.get(s1.sel);
      else b.i32x4(-1);
      b.simd(Simd.I16x8NarrowI32x4S);
    };
    b.get(kw);
    b.get(s0.wv).get(s1.wv).simd(Simd.I16x8NarrowI32x4S);
    if (p.weightBits === 16) {
      if (selective) {
        b.get(kw).simdMem(pair ? Simd.V128Load : Simd.V128Load64Zero, L.weights);
        pushSel16();
        b.simd(Simd.V128Bitselect);
      }
      if (pair) b.simdMem(Simd.V128Store, L.weights);
      else b.simdLaneMem(Simd.V128Store64Lane, L.weights, 0);
    } else {
      const t = v128();
      b.tee(t).get(t).simd(Simd.I8x16NarrowI16x8S);
      if (selective) {
        b.get(kw).simdMem(pair ? Simd.V128Load64Zero : Simd.V128Load32Zero, L.weights);
        pushSel16();
        b.tee(t).get(t).simd(Simd.I8x16NarrowI16x8S);
        b.simd(Simd.V128Bitselect);
      }
      if (pair) b.simdLaneMem(Simd.V128Store64Lane, L.weights, 0);
      else b.simdLaneMem(Simd.V128Store32Lane, L.weights, 0);
    }
  };

  const rowAt = new Map<number, Value>();
  const rowTermCache = new Map<number, number>();
  function rowTerm(id: number): Value {
    let r = rowTermCache.get(id);
    if (r === undefined) {
      r = i32();
      prologue.get(j).i32(2).op(Op.I32Shl).mem(Op.I32Load, 2, L.terms.get(id)!).set(r);
      rowTermCache.set(id, r);
    }
    return { row: true, local: r };
  }
  function rowConst(x: number): Value {
    const r = i32();
    prologue.i32(x).set(r);
    return { row: true, local: r };
  }

  // Per row: iterations of 8 synapses (two steps), then one step of 4 if N mod 8 ≥ 4, then a masked step.
  const N8 = N & ~7;
  const has4 = (N & 4) !== 0;
  const rem = N & 3;
  const rowSteps = (narrowStep: boolean) => {
    const pair = new Fragment();
    const single = new Fragment();
    const tail = new Fragment();
    if (N8 > 0) storeWeights(pair, [emitStep(pair, 4, 0, narrowStep), emitStep(pair, 4, 1, narrowStep)]);
    if (has4) storeWeights(single, [emitStep(single, 4, 0, narrowStep)]);
    if (rem > 0) storeWeights(tail, [emitStep(tail, rem, 0, narrowStep)]);
    return { pair, single, tail };
  };
  const plain = rowSteps(false);
  const narrowed = narrow !== null && narrow.count > 0 && !microcodeSaturates ? rowSteps(true) : null;
  const advance = (fr: Fragment, lanes: number) => {
    fr.get(k4).i32(4 * lanes).op(Op.I32Add).set(k4);
    fr.get(kw).i32(lanes * wBytes).op(Op.I32Add).set(kw);
    fr.get(i4).i32(4 * lanes).op(Op.I32Add).set(i4);
  };
  const rowLoops = (steps: { pair: Fragment; single: Fragment; tail: Fragment }) => {
    if (N8 > 0) {
      f.op(Op.Loop, 0x40);
      f.append(steps.pair);
      advance(f, 8);
      f.get(i4).i32(N8 * 4).op(Op.I32LtU).br(Op.BrIf, 0);
      f.op(Op.End);
    }
    if (has4) {
      f.append(steps.single);
      advance(f, 4);
    }
    if (rem > 0) f.append(steps.tail);
  };
  // The row takes the narrow steps when |a/2^8| ≤ limit for every narrow product (limits loaded once per call).
  const rowNarrow = narrowed ? i32() : -1;
  if (narrowed) {
    prologue.i32(1).set(rowNarrow);
    narrowRow.forEach((x, m) => {
      const limit = i32();
      entry.i32(0).mem(Op.I32Load, 2, L.narrowLimits + 4 * m).set(limit);
      prologue.get(x).i32(0).get(limit).op(Op.I32Sub).op(Op.I32GeS).get(x).get(limit).op(Op.I32LeS).op(Op.I32And);
      prologue.get(rowNarrow).op(Op.I32And).set(rowNarrow);
    });
  }

  // ---- assemble: entry; for each row: prologue, full steps, masked tail
  f.append(entry);
  const post = p.statement.trigger === Trigger.Post;
  if (post) {
    f.get(P_NEV).op(Op.I32Eqz).op(Op.If, 0x40).op(0x0f /* return */).op(Op.End);
    f.i32(0).set(e);
  } else f.i32(0).set(j);
  f.op(Op.Loop, 0x40);
  if (post) f.get(e).i32(2).op(Op.I32Shl).mem(Op.I32Load, 2, L.events).set(j);
  f.append(prologue);
  f.get(j).i32(N * 4).op(Op.I32Mul).set(k4);
  f.get(j).i32(N * wBytes).op(Op.I32Mul).set(kw);
  f.i32(0).set(i4);
  if (narrowed) {
    f.get(rowNarrow).op(Op.If, 0x40);
    rowLoops(narrowed);
    f.op(Op.Else);
    rowLoops(plain);
    f.op(Op.End);
  } else rowLoops(plain);
  if (post) f.get(e).i32(1).op(Op.I32Add).tee(e).get(P_NEV).op(Op.I32LtU).br(Op.BrIf, 0);
  else f.get(j).i32(1).op(Op.I32Add).tee(j).i32(p.nPost).op(Op.I32LtU).br(Op.BrIf, 0);
  f.op(Op.End);
  return f;
}

function laneMask32(valid: number): [number, number, number, number] {
  return [0, 1, 2, 3].map((l) => (l < valid ? -1 : 0)) as [number, number, number, number];
}

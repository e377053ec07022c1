/**
 * Interval bounds of a plasticity statement's microcode (docs/chip.md §11.3), to prove that no operation
 * saturates in a given call: given [lo, hi] of every term this tick, each operation's result interval is
 * derived (sums and differences exactly, products from the corner products), and the statement is
 * saturation-free when every interval lies inside int32 with a margin. Then the kernel without saturation
 * (denseLearnCodegen.ts, microcodeSaturates = false) computes the same values as the saturating one.
 *
 * Doubles represent the bounds: sums of integers below 2^34 are exact; products up to 2^62 carry a relative
 * error ≤ 2^−53, i.e. less than 1 unit once scaled into the int32 range, covered by the margin and by widening
 * each product interval by one unit. Allocation-free (called per statement per tick).
 */
import { RULE_STACK_DEPTH } from '../constants.js';
import { Op, TERM_NAMES, wordOp, wordOperand } from '../microcode.js';

const MAX = 2147483647;
const MIN = -2147483648;
/** Intervals within [MIN + MARGIN, MAX − MARGIN] cannot saturate. */
const MARGIN = 4;

const sLo = new Float64Array(RULE_STACK_DEPTH + 1);
const sHi = new Float64Array(RULE_STACK_DEPTH + 1);

/** Per term id (0..63): the term's bounds this call, in Q7.24 (set by the caller). */
export interface TermBounds {
  lo: Float64Array;
  hi: Float64Array;
}

/** Interval of round(x·m / 2^s) over x ∈ [lo, hi], pushed at depth d; whether it may leave int32. */
function product(d: number, aLo: number, aHi: number, bLo: number, bHi: number, s: number): boolean {
  const k = 2 ** -s;
  const p1 = aLo * bLo * k;
  const p2 = aLo * bHi * k;
  const p3 = aHi * bLo * k;
  const p4 = aHi * bHi * k;
  const lo = Math.floor(Math.min(p1, p2, p3, p4) + 0.5) - 1;
  const hi = Math.floor(Math.max(p1, p2, p3, p4) + 0.5) + 1;
  sLo[d] = lo;
  sHi[d] = hi;
  return lo < MIN + MARGIN || hi > MAX - MARGIN;
}

/** After a saturation-free evaluation: the interval of the statement's result Δ ([lo, hi]). */
export const resultBounds = new Float64Array(2);

/**
 * The narrow products of a statement (denseLearnCodegen, narrow variant): MULs of a row value (post terms,
 * reward, constants and operations on those only) by a per-synapse value (pre and syn terms and operations on
 * them) whose two operands are multiples of 2^8 in every saturation-free evaluation in which no neuron or reward
 * term equals 2^31 − 1. Such terms are value·2^8 (spikes 0 or 2^24) or saturated; a saturated −2^31 is a
 * multiple of 2^8 too, 2^31 − 1 is not; exact sums, differences and negations of multiples of 2^8 are multiples
 * of 2^8; products are not counted as such.
 */
export interface NarrowProducts {
  /** Per pc: the index of the narrow product at that MUL, or −1. */
  index: Int32Array;
  /** Per pc: 1 when the per-synapse operand of the narrow product is the top of the stack (the second operand). */
  vectorOnTop: Uint8Array;
  count: number;
  /**
   * Set by microcodeSaturationFree (given these products) when it returns true: per narrow product, the largest
   * |value| of its per-synapse operand (from the operand's interval).
   */
  vectorMax: Float64Array;
}

export function narrowProducts(code: Int32Array): NarrowProducts {
  const index = new Int32Array(code.length).fill(-1);
  const vectorOnTop = new Uint8Array(code.length);
  const row: boolean[] = [];
  const tz8: boolean[] = [];
  let count = 0;
  for (let pc = 0; pc < code.length; pc++) {
    const op = wordOp(code[pc]);
    const arg = wordOperand(code[pc]);
    switch (op) {
      case Op.Term: {
        const name = TERM_NAMES[arg];
        row.push(name.startsWith('post.') || name === 'reward');
        tz8.push(!name.startsWith('syn.'));
        break;
      }
      case Op.Const:
        row.push(true);
        tz8.push(code[++pc] % 256 === 0);
        break;
      case Op.Add:
      case Op.Sub: {
        const cr = row.pop()!;
        const ct = tz8.pop()!;
        row.push(row.pop()! && cr);
        tz8.push(tz8.pop()! && ct);
        break;
      }
      case Op.Neg:
        break;
      case Op.Mul: {
        const cr = row.pop()!;
        const ct = tz8.pop()!;
        const ar = row.pop()!;
        const at = tz8.pop()!;
        if (ar !== cr && at && ct) {
          index[pc] = count++;
          vectorOnTop[pc] = ar ? 1 : 0;
        }
        row.push(ar && cr);
        tz8.push(false);
        break;
      }
      case Op.MulC:
        pc++;
        tz8[tz8.length - 1] = false;
        break;
      default:
        return { index: index.fill(-1), vectorOnTop, count: 0, vectorMax: new Float64Array(0) };
    }
  }
  return { index, vectorOnTop, count, vectorMax: new Float64Array(count) };
}

/**
 * True when, for term values within `bounds`, no microcode operation of `code` can saturate; then
 * `resultBounds` holds the interval of Δ.
 */
export function microcodeSaturationFree(code: Int32Array, bounds: TermBounds, narrow: NarrowProducts | null = null): boolean {
  let d = 0;
  for (let pc = 0; pc < code.length; pc++) {
    const op = wordOp(code[pc]);
    const arg = wordOperand(code[pc]);
    switch (op) {
      case Op.Term:
        sLo[d] = bounds.lo[arg];
        sHi[d] = bounds.hi[arg];
        d++;
        break;
      case Op.Const:
        sLo[d] = sHi[d] = code[++pc];
        d++;
        break;
      case Op.Add:
      case Op.Sub: {
        d--;
        const lo = op === Op.Add ? sLo[d - 1] + sLo[d] : sLo[d - 1] - sHi[d];
        const hi = op === Op.Add ? sHi[d - 1] + sHi[d] : sHi[d - 1] - sLo[d];
        if (lo < MIN + MARGIN || hi > MAX - MARGIN) return false;
        sLo[d - 1] = lo;
        sHi[d - 1] = hi;
        break;
      }
      case Op.Neg: {
        const lo = -sHi[d - 1];
        const hi = -sLo[d - 1];
        if (lo < MIN + MARGIN || hi > MAX - MARGIN) return false;
        sLo[d - 1] = lo;
        sHi[d - 1] = hi;
        break;
      }
      case Op.Mul:
        d--;
        if (narrow !== null && narrow.index[pc] >= 0) {
          const v = narrow.vectorOnTop[pc] ? d : d - 1;
          narrow.vectorMax[narrow.index[pc]] = Math.max(-sLo[v], sHi[v]);
        }
        if (product(d - 1, sLo[d - 1], sHi[d - 1], sLo[d], sHi[d], 24)) return false;
        break;
      case Op.MulC: {
        const m = code[++pc];
        if (product(d - 1, sLo[d - 1], sHi[d - 1], m, m, arg)) return false;
        break;
      }
      default:
        return false;
    }
  }
  resultBounds[0] = sLo[0];
  resultBounds[1] = sHi[0];
  return true;
}

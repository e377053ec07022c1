/**
 * A rule statement evaluated in float64 with the structure the rule compiler gives it on the chip
 * (src/models/ruleLanguage.ts, docs/rules.md), so that the float twin can switch the chip's register
 * arithmetic on and off operation by operation:
 *
 *   - constant subexpressions are folded in float64;
 *   - a product chain becomes (non-constant factors, multiplied deepest-first, stable) × c, with c applied last;
 *   - a standalone constant is a CONST.
 *
 * In exact real arithmetic this structure changes nothing (products commute), so with every effect off the
 * value equals `evalRuleFloat` of the same statement up to float64 reassociation. With `rounding` on, every MUL
 * result is rounded to the Q7.24 grid (2^-24, half up), every MULC uses the 23-bit mantissa m/2^s of its
 * constant and rounds, and every CONST is round(c·2^24)/2^24; with `saturation` on, every register result is
 * clamped to the Q7.24 range [−128, 128 − 2^-24].
 *
 * This closure form is the reference semantics: the twin runs the same arithmetic as generated straight-line
 * code (ruleFloatKernel.ts), which test/twinFloat.test.ts checks against `compileRuleFloat` bit for bit.
 */
import { RULE_FRAC_BITS } from '../../emulator/constants.js';
import { mulShiftRound } from '../../emulator/fixedPoint.js';
import type { TermName } from '../../emulator/microcode.js';
import { constQ24, constValue, mulcConstant, type Expr } from '../ruleLanguage.js';

/** Largest Q7.24 register value in real units. */
export const RULE_MAX = 2147483647 / 2 ** RULE_FRAC_BITS;
export const RULE_MIN = -128;

const Q24 = 2 ** RULE_FRAC_BITS;
const INV_Q24 = 2 ** -RULE_FRAC_BITS;
const EXACT = 2 ** 53;

export interface RuleArithmetic {
  rounding: boolean;
  saturation: boolean;
}

/** A compiled node: `need` is the stack depth the chip compiler assigns it (for factor ordering). */
interface Node {
  need: number;
  ev: () => number;
}

/** Reads a term for the synapse currently being evaluated (the caller keeps the synapse context). */
export type TermReader = (name: TermName) => () => number;


/**
 * Compiles one statement expression into a closure returning Δ in real units. Terms are read through
 * `term` (which applies the term conversion, e.g. saturation at ±128); `fx` selects the register arithmetic.
 */
export function compileRuleFloat(expr: Expr, term: TermReader, fx: RuleArithmetic): () => number {
  const sat = fx.saturation ? (x: number) => (x > RULE_MAX ? RULE_MAX : x < RULE_MIN ? RULE_MIN : x) : (x: number) => x;
  const r24 = (x: number) => Math.floor(x * Q24 + 0.5) * INV_Q24;
  /** round(a·b, 24) of two Q7.24 values; exact (64-bit product) where the double product would not be. */
  const mul = (a: number, b: number): number => {
    if (!fx.rounding) return sat(a * b);
    const A = a * Q24;
    const B = b * Q24;
    const p = A * B;
    if (fx.saturation && (p >= EXACT || p <= -EXACT) && Number.isInteger(A) && Number.isInteger(B)) return mulShiftRound(A, B, RULE_FRAC_BITS) * INV_Q24;
    return sat(r24(a * b));
  };

  const compile = (e: Expr): Node => {
    const c = constValue(e);
    if (c !== null) {
      const v = fx.rounding ? (constQ24(c) ?? 0) * INV_Q24 : c;
      return { need: 1, ev: () => v };
    }
    switch (e.kind) {
      case 'term': {
        const read = term(e.name);
        return { need: 1, ev: read };
      }
      case 'neg':
        return product(e);
      case 'bin':
        return e.op === '*' ? product(e) : sum(e);
      default:
        throw new Error('unreachable');
    }
  };

  const sum = (e: Expr & { kind: 'bin' }): Node => {
    let a = compile(e.left);
    let b = compile(e.right);
    if (e.op === '+' && b.need > a.need) [a, b] = [b, a];
    const need = Math.max(a.need, b.need + 1);
    const fa = a.ev;
    const fb = b.ev;
    return e.op === '+' ? { need, ev: () => sat(fa() + fb()) } : { need, ev: () => sat(fa() - fb()) };
  };

  const product = (e: Expr): Node => {
    let c = 1;
    const factors: Expr[] = [];
    const walk = (x: Expr): void => {
      const v = constValue(x);
      if (v !== null) c *= v;
      else if (x.kind === 'neg') {
        c = -c;
        walk(x.arg);
      } else if (x.kind === 'bin' && x.op === '*') {
        walk(x.left);
        walk(x.right);
      } else factors.push(x);
    };
    walk(e);
    if (c === 0) return { need: 1, ev: () => 0 };
    const parts = factors.map(compile).sort((x, y) => y.need - x.need);
    let need = parts[0].need;
    let f = parts[0].ev;
    for (let i = 1; i < parts.length; i++) {
      const a = f;
      const b = parts[i].ev;
      f = () => mul(a(), b());
      need = Math.max(need, parts[i].need + 1);
    }
    if (c === -1) {
      const a = f;
      return { need, ev: () => sat(-a()) };
    }
    if (c === 1) return { need, ev: f };
    const a = f;
    if (!fx.rounding) return { need, ev: () => sat(a() * c) };
    const k = mulcConstant(c);
    if (typeof k === 'string') throw new Error(`rule constant ${c} is ${k}`); // the compiler refuses these rules
    const m = k.mantissa;
    const s = k.shift;
    const cq = m * 2 ** -s;
    return {
      need,
      ev: () => {
        const x = a();
        const X = x * Q24;
        const p = X * m;
        if (fx.saturation && (p >= EXACT || p <= -EXACT) && Number.isInteger(X)) return mulShiftRound(X, m, s) * INV_Q24;
        return sat(r24(x * cq));
      },
    };
  };

  return compile(expr).ev;
}

/**
 * Plasticity microcode (docs/chip.md §11). A statement is a short stack program over 32-bit registers in the
 * rule format Q7.24 (RULE_FRAC_BITS). Word layout: bits 0..7 opcode, bits 8..31 operand (signed 24-bit).
 *
 *   TERM k      push term k, converted to Q7.24 (table TERMS)
 *   CONST       push the next word (Q7.24)
 *   ADD / SUB   pop b, a; push sat32(a ± b)
 *   MUL         pop b, a; push sat32(round(a·b / 2^24))
 *   NEG         pop a; push sat32(−a)
 *   MULC s      pop a; m = next word; push sat32(round(a·m / 2^s)), 0 ≤ s ≤ 62
 *
 * Exactly one value is left on the stack: the statement's Δ (Q7.24). The stack never exceeds RULE_STACK_DEPTH.
 */
import { MAX_MICROCODE_WORDS, RULE_FRAC_BITS, RULE_STACK_DEPTH } from './constants.js';
import { mulShiftRound, sat32 } from './fixedPoint.js';

export const enum Op {
  Term = 1,
  Const = 2,
  Add = 3,
  Sub = 4,
  Mul = 5,
  Neg = 6,
  MulC = 7,
}

export const OP_NAMES: Record<number, string> = { 1: 'TERM', 2: 'CONST', 3: 'ADD', 4: 'SUB', 5: 'MUL', 6: 'NEG', 7: 'MULC' };

/** Rule terms: name in the rule language → term id. Values are read after the fire and trace phases. */
export const TERMS = {
  'pre.spike': 0,
  'pre.rate': 1,
  'pre.x1': 2,
  'pre.x2': 3,
  'pre.hp': 4,
  'post.spike': 16,
  'post.rate': 17,
  'post.x1': 18,
  'post.x2': 19,
  'post.hp': 20,
  'post.basal_rate': 21,
  'post.basal': 22,
  'post.apical': 23,
  'post.soma': 24,
  'post.prosp': 25,
  'post.noise': 26,
  'syn.w': 32,
  'syn.tag': 33,
  reward: 40,
} as const;

export type TermName = keyof typeof TERMS;
export const TERM_NAMES: Record<number, TermName> = Object.fromEntries(
  Object.entries(TERMS).map(([k, v]) => [v, k as TermName]),
) as Record<number, TermName>;

export function encodeWord(op: Op, operand = 0): number {
  return ((operand << 8) | op) | 0;
}
export function wordOp(word: number): number {
  return word & 0xff;
}
export function wordOperand(word: number): number {
  return word >> 8;
}

export class MicrocodeError extends Error {
  override name = 'MicrocodeError';
}

/** Checks opcodes, operands, trailing words and stack discipline; returns the maximum stack depth. */
export function validateMicrocode(code: ArrayLike<number>): number {
  if (code.length === 0) throw new MicrocodeError('empty microcode');
  if (code.length > MAX_MICROCODE_WORDS) throw new MicrocodeError(`microcode has ${code.length} words, limit ${MAX_MICROCODE_WORDS}`);
  let depth = 0;
  let max = 0;
  for (let pc = 0; pc < code.length; pc++) {
    const op = wordOp(code[pc]);
    const arg = wordOperand(code[pc]);
    switch (op) {
      case Op.Term:
        if (TERM_NAMES[arg] === undefined) throw new MicrocodeError(`word ${pc}: unknown term ${arg}`);
        depth++;
        break;
      case Op.Const:
        if (pc + 1 >= code.length) throw new MicrocodeError(`word ${pc}: CONST without its value word`);
        pc++;
        depth++;
        break;
      case Op.Add:
      case Op.Sub:
      case Op.Mul:
        if (depth < 2) throw new MicrocodeError(`word ${pc}: ${OP_NAMES[op]} needs two operands`);
        depth--;
        break;
      case Op.Neg:
        if (depth < 1) throw new MicrocodeError(`word ${pc}: NEG needs an operand`);
        break;
      case Op.MulC:
        if (depth < 1) throw new MicrocodeError(`word ${pc}: MULC needs an operand`);
        if (arg < 0 || arg > 62) throw new MicrocodeError(`word ${pc}: MULC shift ${arg} outside 0..62`);
        if (pc + 1 >= code.length) throw new MicrocodeError(`word ${pc}: MULC without its mantissa word`);
        pc++;
        break;
      default:
        throw new MicrocodeError(`word ${pc}: unknown opcode ${op}`);
    }
    if (depth > RULE_STACK_DEPTH) throw new MicrocodeError(`word ${pc}: stack depth ${depth} exceeds ${RULE_STACK_DEPTH}`);
    if (depth > max) max = depth;
  }
  if (depth !== 1) throw new MicrocodeError(`microcode leaves ${depth} values on the stack, expected 1`);
  return max;
}

/** Which terms a statement reads (so the compiler only materialises what is needed). */
export function termsUsed(code: ArrayLike<number>): Set<number> {
  const used = new Set<number>();
  for (let pc = 0; pc < code.length; pc++) {
    const op = wordOp(code[pc]);
    if (op === Op.Term) used.add(wordOperand(code[pc]));
    else if (op === Op.Const || op === Op.MulC) pc++;
  }
  return used;
}

/** Number of microcode instructions executed per evaluation (the cycle model charges one cycle each; CONST and MULC
 * are one instruction of two words). */
export function microcodeOps(code: ArrayLike<number>): number {
  let n = 0;
  for (let pc = 0; pc < code.length; pc++) {
    const op = wordOp(code[pc]);
    if (op === Op.Const || op === Op.MulC) pc++;
    n++;
  }
  return n;
}

/**
 * Reference interpreter: evaluates validated microcode with term values supplied (already in Q7.24).
 * `stack` is caller-owned scratch of RULE_STACK_DEPTH entries (no allocation per call).
 */
export function evalMicrocode(code: Int32Array, terms: Int32Array, stack: Int32Array): number {
  let sp = 0;
  for (let pc = 0; pc < code.length; pc++) {
    const w = code[pc];
    switch (w & 0xff) {
      case Op.Term:
        stack[sp++] = terms[w >> 8];
        break;
      case Op.Const:
        stack[sp++] = code[++pc];
        break;
      case Op.Add:
        sp--;
        stack[sp - 1] = sat32(stack[sp - 1] + stack[sp]);
        break;
      case Op.Sub:
        sp--;
        stack[sp - 1] = sat32(stack[sp - 1] - stack[sp]);
        break;
      case Op.Mul:
        sp--;
        stack[sp - 1] = mulShiftRound(stack[sp - 1], stack[sp], RULE_FRAC_BITS);
        break;
      case Op.Neg:
        stack[sp - 1] = sat32(-stack[sp - 1]);
        break;
      case Op.MulC:
        stack[sp - 1] = mulShiftRound(stack[sp - 1], code[pc + 1], w >> 8);
        pc++;
        break;
    }
  }
  return stack[0];
}

/** Human-readable listing, one instruction per line (for `apical inspect`). */
export function disassemble(code: ArrayLike<number>): string[] {
  const out: string[] = [];
  for (let pc = 0; pc < code.length; pc++) {
    const op = wordOp(code[pc]);
    const arg = wordOperand(code[pc]);
    if (op === Op.Term) out.push(`TERM ${TERM_NAMES[arg] ?? arg}`);
    else if (op === Op.Const) out.push(`CONST ${code[++pc] / 2 ** RULE_FRAC_BITS}`);
    else if (op === Op.MulC) out.push(`MULC ${code[++pc]} >> ${arg}`);
    else out.push(OP_NAMES[op] ?? `?${op}`);
  }
  return out;
}

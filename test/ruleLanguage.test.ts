import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RULE_STACK_DEPTH } from '../src/emulator/constants.js';
import { ApicalError } from '../src/emulator/errors.js';
import { INT32_MAX, mulShiftRound, sat32 } from '../src/emulator/fixedPoint.js';
import { disassemble, evalMicrocode, Op, TERMS, type TermName, wordOp, wordOperand } from '../src/emulator/microcode.js';
import { RuleTarget, Trigger } from '../src/emulator/program.js';
import {
  compileRule,
  constQ24,
  evalRuleFloat,
  mulcConstant,
  parseRule,
  RuleSyntaxError,
  type TermValues,
} from '../src/models/ruleLanguage.js';

const Q24 = 2 ** 24;

/** Term register file indexed by term id, from Q7.24 integers. */
function termFile(values: Partial<Record<TermName, number>>): Int32Array {
  const t = new Int32Array(64);
  for (const [k, v] of Object.entries(values)) t[TERMS[k as TermName]] = v;
  return t;
}

function run(code: Int32Array, q: Partial<Record<TermName, number>>): number {
  return evalMicrocode(code, termFile(q), new Int32Array(RULE_STACK_DEPTH));
}

function realTerms(q: Partial<Record<TermName, number>>): TermValues {
  const r: TermValues = {};
  for (const [k, v] of Object.entries(q)) r[k as TermName] = v / Q24;
  return r;
}

/** Catches the RuleSyntaxError a compile throws. */
function syntaxError(src: string): RuleSyntaxError {
  try {
    compileRule(src);
  } catch (e) {
    if (e instanceof RuleSyntaxError) return e;
    throw e;
  }
  throw new Error(`expected a RuleSyntaxError for ${JSON.stringify(src)}`);
}

describe('compileRule: microcode and arithmetic', () => {
  it('Urbanczik–Senn rule: hand-computed Q7.24 result', () => {
    const rule = compileRule('dw = 2^-6 * (post.rate - post.basal_rate) * pre.rate');
    expect(rule.statements).toHaveLength(1);
    const s = rule.statements[0];
    expect(s.trigger).toBe(Trigger.Tick);
    expect(s.target).toBe(RuleTarget.Weight);
    // The non-constant factors are multiplied first, the constant 2^-6 is applied last as MULC 28, 2^22.
    expect(disassemble(s.code)).toEqual(['TERM post.rate', 'TERM post.basal_rate', 'SUB', 'TERM pre.rate', 'MUL', 'MULC 4194304 >> 28']);
    expect(rule.termsUsed).toEqual(new Set([TERMS['post.rate'], TERMS['post.basal_rate'], TERMS['pre.rate']]));
    expect(rule.usesTag).toBe(false);

    const postRate = 12582912; // 0.75 · 2^24
    const basalRate = 5033165; // round(0.3 · 2^24)
    const preRate = 6710886; // round(0.4 · 2^24)
    // Round half up: round(x / 2^s) = ⌊(x + 2^(s−1)) / 2^s⌋, in exact BigInt arithmetic.
    const diff = BigInt(postRate - basalRate); // SUB: 7549747
    const prod = (diff * BigInt(preRate) + 2n ** 23n) >> 24n; // MUL: round(diff · preRate / 2^24) = 3019899
    const expected = (prod * 2n ** 22n + 2n ** 27n) >> 28n; // MULC 28, 2^22: round(prod · 2^22 / 2^28) = 47186
    expect(Number(expected)).toBe(47186);
    expect(run(s.code, { 'post.rate': postRate, 'post.basal_rate': basalRate, 'pre.rate': preRate })).toBe(Number(expected));
    // The float evaluation of the same expression: 0.45 · 0.4 / 64 · 2^24 ≈ 47185.92.
    const [f] = evalRuleFloat(rule, realTerms({ 'post.rate': postRate, 'post.basal_rate': basalRate, 'pre.rate': preRate }));
    expect(Math.abs(f * Q24 - 47186)).toBeLessThan(0.6);
  });

  it('statements keep their triggers, targets and order', () => {
    const r = compileRule('on pre: dw = 0.01 * post.x1; on post: dw = -0.01 * pre.x1');
    expect(r.statements.map((s) => [s.trigger, s.epochShift, s.target])).toEqual([
      [Trigger.Pre, 0, RuleTarget.Weight],
      [Trigger.Post, 0, RuleTarget.Weight],
    ]);
    expect(disassemble(r.statements[0].code)[0]).toBe('TERM post.x1');
    expect(disassemble(r.statements[1].code)[0]).toBe('TERM pre.x1');
    // −0.01 folds into a negative mantissa (no NEG instruction).
    const m = r.statements[1].code[2];
    expect(m).toBeLessThan(0);
    expect(disassemble(r.statements[1].code)).toHaveLength(2);
    expect(r.usesTag).toBe(false);

    const t = compileRule('on epoch(3): dtag = 0.5 * post.rate * pre.rate\ndw = 0.001 * reward * syn.tag');
    expect(t.statements[0]).toMatchObject({ trigger: Trigger.Epoch, epochShift: 3, target: RuleTarget.Tag });
    expect(t.statements[1]).toMatchObject({ trigger: Trigger.Tick, epochShift: 0, target: RuleTarget.Weight });
    expect(t.usesTag).toBe(true);
    expect(compileRule('dw = syn.tag').usesTag).toBe(true);
    expect(compileRule('on epoch(0): dtag = pre.rate').usesTag).toBe(true);
    expect(compileRule('on tick: dw = pre.rate').statements[0].trigger).toBe(Trigger.Tick);
  });

  it('comments, blank lines, empty statements and continuation lines', () => {
    const src = [
      '# pair STDP',
      '',
      'on pre:  dw = -0.002 * post.x1   # depression',
      'on post: dw =  0.003 *',
      '               pre.x1;;',
      'dw = 0.0001 * (post.rate',
      '               - 0.5) * pre.rate',
      '',
    ].join('\n');
    const r = compileRule(src);
    expect(r.statements.map((s) => s.trigger)).toEqual([Trigger.Pre, Trigger.Post, Trigger.Tick]);
    expect(r.ast.statements.map((s) => s.text)).toEqual([
      'on pre:  dw = -0.002 * post.x1',
      'on post: dw =  0.003 *\n               pre.x1',
      'dw = 0.0001 * (post.rate\n               - 0.5) * pre.rate',
    ]);
    expect(r.ast.statements[2].pos).toMatchObject({ line: 6, column: 1 });
  });

  it('constants: folding, CONST, MULC mantissas, zero products, drift', () => {
    // 3 * 2^-4 is ordinary multiplication folded at compile time.
    expect(disassemble(compileRule('dw = 3*2^-4 * pre.rate').statements[0].code)).toEqual(['TERM pre.rate', `MULC ${3 * 2 ** 21} >> 25`]);
    // A standalone constant is CONST round(c·2^24).
    const c = compileRule('dw = post.rate - 0.5').statements[0].code;
    expect(Array.from(c)).toEqual([Op.Term | (TERMS['post.rate'] << 8), Op.Const, 0.5 * Q24, Op.Sub]);
    // Constant drift is legal.
    const d = compileRule('dw = 0.001');
    expect(run(d.statements[0].code, {})).toBe(Math.round(0.001 * Q24));
    expect(d.termsUsed.size).toBe(0);
    // A zero constant factor folds the whole product to 0.
    const z = compileRule('dw = (0.5 - 0.5) * pre.rate * post.rate + syn.w');
    expect(disassemble(z.statements[0].code)).toEqual(['CONST 0', 'TERM syn.w', 'ADD']);
    expect(z.termsUsed).toEqual(new Set([TERMS['syn.w']]));
    // c = ±1 needs no MULC; negation of a product becomes NEG.
    expect(disassemble(compileRule('dw = 1 * pre.rate').statements[0].code)).toEqual(['TERM pre.rate']);
    expect(disassemble(compileRule('dw = -pre.rate * post.rate').statements[0].code)).toEqual(['TERM pre.rate', 'TERM post.rate', 'MUL', 'NEG']);
    expect(disassemble(compileRule('dw = -(pre.rate - post.rate)').statements[0].code)).toEqual(['TERM pre.rate', 'TERM post.rate', 'SUB', 'NEG']);
    // Signs spread over a product fold into the mantissa.
    expect(disassemble(compileRule('dw = -pre.rate * -0.25').statements[0].code)).toEqual(['TERM pre.rate', `MULC ${2 ** 22} >> 24`]);
    // 2^k with signed exponents, unary minus binds to the power: -2^-6 = −1/64.
    expect(evalRuleFloat('dw = -2^-6 + 2^+1', {})).toEqual([-1 / 64 + 2]);
  });

  it('MULC keeps 23 significant bits', () => {
    for (const c of [5e-6, -5e-6, 0.001, 0.013, 1 / 3, 1, 100, 12345.678, 3e-12, -7.5e-9]) {
      const k = mulcConstant(c);
      if (typeof k === 'string') throw new Error(`${c}: ${k}`);
      expect(Math.abs(k.mantissa)).toBeLessThan(2 ** 23);
      expect(Math.abs(k.mantissa)).toBeGreaterThanOrEqual(2 ** 22);
      expect(Math.abs(k.mantissa / 2 ** k.shift - c)).toBeLessThanOrEqual(2 ** -(k.shift + 1));
    }
    expect(mulcConstant(5e-6)).toEqual({ shift: 40, mantissa: Math.round(5e-6 * 2 ** 40) });
    expect(mulcConstant(1e-13)).toBe('too small');
    expect(mulcConstant(1e7)).toBe('too large');
    expect(constQ24(-1.5)).toBe(-1.5 * Q24);
    expect(constQ24(128)).toBeNull();
  });

  it('a tiny learning rate keeps precision: 5e-6 * post.noise * pre.hp within 1 LSB of float', () => {
    const code = compileRule('dw = 5e-6 * post.noise * pre.hp').statements[0].code;
    // MULC is applied after the term product, so its 0.5-LSB rounding is not amplified by pre.hp.
    expect(disassemble(code)).toEqual(['TERM post.noise', 'TERM pre.hp', 'MUL', `MULC ${Math.round(5e-6 * 2 ** 40)} >> 40`]);
    const range = fc.integer({ min: -8 * Q24, max: 8 * Q24 }); // |noise·hp| ≤ 64 < 128: no saturation
    fc.assert(
      fc.property(range, range, (noise, hp) => {
        const chip = run(code, { 'post.noise': noise, 'pre.hp': hp });
        const [f] = evalRuleFloat('dw = 5e-6 * post.noise * pre.hp', { 'post.noise': noise / Q24, 'pre.hp': hp / Q24 });
        expect(Math.abs(chip - f * Q24)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 1000 },
    );
  });

  it('saturates: dw = 100 * post.soma with post.soma = 100.0 gives INT32_MAX', () => {
    const code = compileRule('dw = 100 * post.soma').statements[0].code;
    expect(run(code, { 'post.soma': 100 * Q24 })).toBe(INT32_MAX);
    expect(run(code, { 'post.soma': -100 * Q24 })).toBe(-INT32_MAX - 1);
    expect(run(code, { 'post.soma': Q24 })).toBe(100 * Q24);
  });
});

// ------------------------------------------------------------------------------------------------ random expressions

type Node =
  | { k: 't'; name: TermName }
  | { k: 'c'; v: number; text: string }
  | { k: 'neg'; a: Node }
  | { k: 'bin'; op: '+' | '-' | '*'; a: Node; b: Node };

const TERM_POOL: TermName[] = ['pre.rate', 'pre.x1', 'post.rate', 'post.x1', 'post.apical', 'syn.w', 'reward'];
// Constants with 1/16 ≤ |c| ≤ 1.5: a depth-3 tree has at most 8 leaves, so every folded multiplier stays far
// above the MULC floor (2^-40) and every folded constant inside ±128. 0.3, 0.7 and 1.37 are not dyadic, so
// their CONST / MULC encodings are inexact.
const CONSTS: [number, string][] = [
  [0.5, '0.5'],
  [0.25, '.25'],
  [1.5, '1.5'],
  [1, '1'],
  [0.0625, '2^-4'],
  [0.75, '3*2^-2'],
  [0.3, '0.3'],
  [0.7, '7e-1'],
  [1.37, '1.37'],
];

const leafArb: fc.Arbitrary<Node> = fc.oneof(
  fc.constantFrom(...TERM_POOL).map((name): Node => ({ k: 't', name })),
  fc.constantFrom(...CONSTS).map(([v, text]): Node => ({ k: 'c', v, text })),
);

function exprArb(depth: number): fc.Arbitrary<Node> {
  if (depth === 0) return leafArb;
  const sub = exprArb(depth - 1);
  return fc.oneof(
    { arbitrary: leafArb, weight: 1 },
    { arbitrary: sub.map((a): Node => ({ k: 'neg', a })), weight: 1 },
    { arbitrary: fc.tuple(fc.constantFrom('+' as const, '-' as const, '*' as const), sub, sub).map(([op, a, b]): Node => ({ k: 'bin', op, a, b })), weight: 4 },
  );
}

function render(n: Node): string {
  switch (n.k) {
    case 't':
      return n.name;
    case 'c':
      return n.text;
    case 'neg':
      return `-(${render(n.a)})`;
    case 'bin':
      return `(${render(n.a)} ${n.op} ${render(n.b)})`;
  }
}

function evalNode(n: Node, t: TermValues): number {
  switch (n.k) {
    case 't':
      return t[n.name]!;
    case 'c':
      return n.v;
    case 'neg':
      return -evalNode(n.a, t);
    case 'bin': {
      const a = evalNode(n.a, t);
      const b = evalNode(n.b, t);
      return n.op === '+' ? a + b : n.op === '-' ? a - b : a * b;
    }
  }
}

/**
 * Error bound of compiled microcode against the exact real-valued expression, in LSB (2^-24), computed
 * alongside the chip values q (terms are exact: the float evaluation reads the same Q7.24 values):
 *
 *   TERM            E = 0
 *   CONST w         E = 0.5                       (w = round(c·2^24))
 *   ADD, SUB        E = Ea + Eb                   (no saturation: checked below)
 *   NEG             E = Ea
 *   MUL             E = (|qa|·Eb + |qb|·Ea + Ea·Eb) / 2^24 + 0.5
 *                       (|xa·xb − qa·qb| ≤ |qa|·|xb−qb| + |qb|·|xa−qa| + |xa−qa|·|xb−qb|; then one rounding)
 *   MULC s, m       E = (|q| + Ea) / 2^(s+1) + |m|/2^s · Ea + 0.5
 *                       (|x·c − q·m/2^s| ≤ |x|·|c − m/2^s| + |m/2^s|·|x − q| with |c − m/2^s| ≤ 2^-(s+1),
 *                        |x| ≤ |q| + Ea, in LSB units; then one rounding)
 *
 * Returns null when an intermediate exceeds ±64 (the sample could come near saturation; it is skipped).
 */
function microcodeBound(code: Int32Array, terms: Int32Array): { q: number; e: number } | null {
  const q: number[] = [];
  const e: number[] = [];
  for (let pc = 0; pc < code.length; pc++) {
    const op = wordOp(code[pc]);
    if (op === Op.Term) {
      q.push(terms[wordOperand(code[pc])]);
      e.push(0);
    } else if (op === Op.Const) {
      q.push(code[++pc]);
      e.push(0.5);
    } else if (op === Op.Neg) {
      q.push(sat32(-q.pop()!));
    } else if (op === Op.MulC) {
      const s = wordOperand(code[pc]);
      const m = code[++pc];
      const a = q.pop()!;
      const ea = e.pop()!;
      q.push(mulShiftRound(a, m, s));
      e.push((Math.abs(a) + ea) / 2 ** (s + 1) + (Math.abs(m) / 2 ** s) * ea + 0.5);
    } else {
      const b = q.pop()!;
      const a = q.pop()!;
      const eb = e.pop()!;
      const ea = e.pop()!;
      if (op === Op.Add) {
        q.push(sat32(a + b));
        e.push(ea + eb);
      } else if (op === Op.Sub) {
        q.push(sat32(a - b));
        e.push(ea + eb);
      } else {
        q.push(mulShiftRound(a, b, 24));
        e.push((Math.abs(a) * eb + Math.abs(b) * ea + ea * eb) / Q24 + 0.5);
      }
    }
    if (Math.abs(q[q.length - 1]) > 64 * Q24) return null;
  }
  return { q: q[0], e: e[0] };
}

describe('compileRule: random expressions agree with the float evaluation', () => {
  it('microcode result is within the propagated rounding bound of evalRuleFloat', () => {
    const termArb = fc.record(
      Object.fromEntries(TERM_POOL.map((n) => [n, fc.integer({ min: -Q24, max: Q24 })])) as Record<TermName, fc.Arbitrary<number>>,
    );
    let checked = 0;
    let worstRatio = 0;
    fc.assert(
      fc.property(exprArb(3), termArb, (tree, tq) => {
        const src = `dw = ${render(tree)}`;
        const rule = compileRule(src);
        const code = rule.statements[0].code;
        const terms = termFile(tq);
        const real = realTerms(tq);
        const [f] = evalRuleFloat(rule, real);
        // The parser keeps the expression's structure: the float evaluator computes the same float64 ops.
        expect(f).toBe(evalNode(tree, real));
        const b = microcodeBound(code, terms);
        if (b === null) return; // near saturation: outside the property's domain
        const chip = evalMicrocode(code, terms, new Int32Array(RULE_STACK_DEPTH));
        expect(chip).toBe(b.q);
        // Float64 evaluation of ≤ 15 ops on magnitudes < 2^10 is off by < 2^-43 (< 1e-4 LSB) each: slack 1e-3.
        const err = Math.abs(chip - f * Q24);
        expect(err).toBeLessThanOrEqual(b.e + 1e-3);
        expect(b.e).toBeLessThan(100); // the bound is not vacuous for these magnitudes
        checked++;
        worstRatio = Math.max(worstRatio, err / (b.e + 1e-3));
      }),
      { numRuns: 2000 },
    );
    expect(checked).toBeGreaterThan(1000);
    expect(worstRatio).toBeLessThanOrEqual(1);
  });
});

// ------------------------------------------------------------------------------------------------ errors

describe('RuleSyntaxError: line and column', () => {
  const cases: [string, number, number, string][] = [
    ['dw = post.rat * pre.rate', 1, 6, 'unknown term "post.rat" (did you mean post.rate?)'],
    ['dw = (post.rate - 0.5 * pre.rate', 1, 33, "expected ')' but found end of rule"],
    ['dw = (post.rate - 0.5; dw = 1', 1, 22, "expected ')' but found ';'"],
    ['on tick: dx = pre.rate', 1, 10, 'unknown target "dx" (use dw or dtag)'],
    ['on spike: dw = pre.rate', 1, 4, 'unknown trigger "spike" (use tick, pre, post or epoch(k))'],
    ['on epoch(17): dw = pre.rate', 1, 10, 'epoch shift 17 out of range 0..16'],
    ['on epoch: dw = pre.rate', 1, 9, "expected '(' after epoch (epoch(k) runs every 2^k ticks) but found ':'"],
    ['on pre dw = pre.rate', 1, 8, "expected ':' after the trigger but found \"dw\""],
    ['dw = pre.rate / 2', 1, 15, 'division is not supported; multiply by a constant instead'],
    ['dw = pre.rate $ 2', 1, 15, "unexpected character '$'"],
    ['', 1, 1, 'empty rule (expected a statement such as dw = ...)'],
    ['\n   # nothing here\n;\n', 1, 1, 'empty rule (expected a statement such as dw = ...)'],
    ['dw = pre.rate + 200', 1, 17, 'constant out of range ±128: 200'],
    ['dw = pre.rate - (100 + 100)', 1, 18, 'constant out of range ±128: 200'],
    ['dw = 1e-9 + pre.rate', 1, 6, 'constant 1e-9 rounds to 0 in Q7.24 (resolution 2^-24)'],
    ['dw = 1e-13 * pre.rate', 1, 6, 'constant too small: 1e-13 (a multiplier needs |c| ≥ 2^-40)'],
    ['on pre: dw = 0.01 * post.x1\non post: dw = -0.01 * pre.xl', 2, 23, 'unknown term "pre.xl" (did you mean pre.x1 or pre.x2?)'],
    ['dw = pre.rate post.rate', 1, 15, "expected an operator, ';' or end of line but found \"post.rate\""],
    ['dw = pre.rate^2', 1, 14, "'^' is only supported in powers of two (2^k)"],
    ['dw = (pre.rate + 1)^2', 1, 20, "'^' is only supported in powers of two (2^k)"],
    ['dw = 2^2^2', 1, 9, "'^' is only supported in powers of two (2^k)"],
    ['dw = 3^2 * pre.rate', 1, 6, "only powers of two can be written with '^' (2^k), not 3^..."],
    ['dw = 2^0.5 * pre.rate', 1, 8, "expected an integer exponent after '^' but found number 0.5"],
    ['dw = pre.rate *', 1, 16, "expected a term, number or '(' but found end of rule"],
    ['dw pre.rate', 1, 4, "expected '=' after dw but found \"pre.rate\""],
    ['0.5 * pre.rate', 1, 1, 'expected a target (dw or dtag) but found number 0.5'],
    ['dw = eta * pre.rate', 1, 6, 'unknown term "eta" (terms are pre.*, post.*, syn.w, syn.tag and reward; write constants as numbers)'],
    ['dw = rate', 1, 6, 'unknown term "rate" (did you mean pre.rate or post.rate?)'],
    ['dw = dw + 1', 1, 6, 'unknown term "dw" (a target cannot be read; use syn.w or syn.tag)'],
    ['dw = toString', 1, 6, 'unknown term "toString" (terms are pre.*, post.*, syn.w, syn.tag and reward; write constants as numbers)'],
    ['\tdw = pre.rate\n\tdw = pre.rate ++ €', 2, 19, 'unexpected character U+20AC'],
  ];
  for (const [src, line, column, detail] of cases) {
    it(`${JSON.stringify(src)} → ${line}:${column} ${detail}`, () => {
      const e = syntaxError(src);
      expect(e).toBeInstanceOf(ApicalError);
      expect(e.name).toBe('RuleSyntaxError');
      expect({ line: e.line, column: e.column, detail: e.detail }).toEqual({ line, column, detail });
      expect(e.message).toBe(`rule syntax error at line ${line}, column ${column}: ${detail}`);
      expect(e.message).not.toContain('\n');
      const [text, caret] = e.pointer.split('\n');
      expect(text).toBe(src.split('\n')[line - 1]);
      expect(caret.length).toBe(column);
      expect(caret.endsWith('^')).toBe(true);
    });
  }

  it('pointer shows the source line and a caret under the column', () => {
    expect(syntaxError('dw = post.rat * pre.rate').pointer).toBe('dw = post.rat * pre.rate\n     ^');
    expect(syntaxError('dw = pre.rate\n\tdw = pre.rate / 2').pointer).toBe('\tdw = pre.rate / 2\n\t              ^');
  });

  it('too deep and too many statements', () => {
    // a - (a - (a - ...)): each right-nested SUB needs one more stack entry.
    let e = 'pre.rate';
    for (let i = 0; i < 8; i++) e = `pre.rate - (${e})`;
    const deep = syntaxError(`dw = ${e}`);
    expect(deep.detail).toBe('expression too deep (needs 9 stack entries, the chip has 8)');
    expect([deep.line, deep.column]).toEqual([1, 6]);
    // Commutative ADD/MUL are reordered deepest-first, so the same shape with '+' fits.
    expect(compileRule(`dw = ${e.replaceAll('-', '+')}`).statements).toHaveLength(1);
    const many = syntaxError(Array.from({ length: 9 }, () => 'dw = pre.rate').join('\n'));
    expect([many.line, many.column, many.detail]).toEqual([9, 1, 'too many statements (the chip runs at most 8 per projection)']);
    const long = syntaxError(`dw = ${Array.from({ length: 33 }, () => 'pre.rate').join(' + ')}`);
    expect(long.detail).toBe('statement too long (65 microcode words, the chip allows 64)');
  });

  it('parseRule reports syntax without compiling constants', () => {
    const ast = parseRule('on epoch(2): dtag = pre.rate + 200');
    expect(ast.statements[0]).toMatchObject({ trigger: Trigger.Epoch, epochShift: 2, target: RuleTarget.Tag });
    expect(ast.statements[0].expr).toMatchObject({ kind: 'bin', op: '+', opPos: { line: 1, column: 30 } });
  });
});

describe('evalRuleFloat', () => {
  it('evaluates every statement in float64', () => {
    const src = 'on pre: dw = 0.01 * post.x1; on post: dw = -0.01 * pre.x1\ndtag = reward - 2^-1';
    const terms: TermValues = { 'post.x1': 0.25, 'pre.x1': 0.5, reward: 2 };
    expect(evalRuleFloat(src, terms)).toEqual([0.01 * 0.25, -0.01 * 0.5, 1.5]);
    expect(evalRuleFloat(compileRule(src), terms)).toEqual(evalRuleFloat(parseRule(src), terms));
    expect(() => evalRuleFloat('dw = syn.w', {})).toThrow(/no value for term syn.w/);
  });
});

describe('folded constants', () => {
  it('a constant expression that is zero up to float64 residue compiles to 0; a vanishing literal is an error', () => {
    const c = compileRule('dw = -((0.3 - (1 - 7e-1)))');
    expect(Array.from(c.statements[0].code)).toEqual([2, 0]); // CONST 0
    expect(() => compileRule('dw = 1e-9 + post.rate')).toThrow(/rounds to 0/);
  });
});

/**
 * The plasticity rule language: rule text → chip microcode (src/emulator/microcode.ts), with errors that
 * point at the line and column. Reference: docs/rules.md.
 *
 * Grammar
 *
 *   rule      := statement { (';' | newline) statement }     blank lines, empty statements and '#' comments allowed
 *   statement := [ 'on' trigger ':' ] target '=' expr
 *   trigger   := 'tick' | 'pre' | 'post' | 'epoch' '(' INT ')'      default tick; epoch(k): every 2^k ticks, k in 0..16
 *   target    := 'dw' | 'dtag'
 *   expr      := sum
 *   sum       := product { ('+' | '-') product }
 *   product   := unary { '*' unary }
 *   unary     := ('-' | '+') unary | primary
 *   primary   := number | '2' '^' ['-' | '+'] INT | term | '(' expr ')'
 *   number    := decimal literal: 1, 0.5, 1e-3, .25
 *   term      := a key of TERMS (pre.rate, post.x1, syn.w, reward, ...)
 *
 * A statement continues on the next line inside parentheses and after an operator or '='. Unary minus binds
 * tighter than '*' (which changes nothing arithmetically). There is no division: multiply by a constant.
 *
 * Compilation (the semantics the chip and the float twin must agree on)
 *
 *   - Constant subexpressions are folded in float64 at compile time.
 *   - A product chain (nested '*' and unary '-') is flattened into one constant factor c (the float64 product
 *     of its constant factors and signs) and its non-constant factors e1..en. The non-constant factors are
 *     multiplied first with MUL (each rounds to Q7.24), deepest first so the stack stays shallow (stable, so
 *     terms keep source order), and c is applied LAST:
 *       c = 0  → the whole product is CONST 0;   c = 1 → nothing;   c = −1 → NEG;
 *       else   → MULC s, m with m = round(c·2^s), s in 0..62 the largest shift with |m| < 2^23
 *                (23 significant bits for any |c| ≥ 2^-40; smaller |c| is the error "constant too small").
 *     Applying c last keeps tiny learning rates precise: 5e-6·a·b loses ≤ 0.5 LSB + 5e-6·0.5 LSB.
 *   - A standalone constant (added or subtracted, or the whole expression) is CONST round(c·2^24); it must be
 *     inside ±128 (Q7.24) and must not round to 0 unless it is 0.
 *   - a + b → ADD (operands swapped when b needs a deeper stack; ADD and MUL are exactly commutative on the
 *     chip), a − b → SUB, unary minus of a non-constant that is not part of a product → NEG.
 *   - A statement may use at most RULE_STACK_DEPTH (8) stack entries and MAX_MICROCODE_WORDS (64) words; a
 *     rule at most MAX_RULE_STATEMENTS (8) statements. The chip evaluates them in source order.
 *
 * Every user error is a RuleSyntaxError (line, column 1-based; `pointer` = source line + caret line).
 */
import { MAX_MICROCODE_WORDS, MAX_RULE_STATEMENTS, RULE_FRAC_BITS, RULE_STACK_DEPTH } from '../emulator/constants.js';
import { ApicalError, UsageError } from '../emulator/errors.js';
import { INT32_MAX, INT32_MIN } from '../emulator/fixedPoint.js';
import { encodeWord, Op, TERMS, type TermName, termsUsed as microcodeTermsUsed, validateMicrocode } from '../emulator/microcode.js';
import { RuleTarget, Trigger, type Statement } from '../emulator/program.js';

/** Largest k of `on epoch(k)`: the statement runs every 2^k ticks. */
export const EPOCH_SHIFT_MAX = 16;
/** A MULC mantissa is kept below this magnitude (23 significant bits). */
export const MULC_MANTISSA_LIMIT = 2 ** 23;
/** Largest MULC shift the chip accepts. */
export const MULC_SHIFT_MAX = 62;
/** Standalone constants must satisfy |c| < CONST_LIMIT (the Q7.24 range). */
export const CONST_LIMIT = 2 ** (31 - RULE_FRAC_BITS);

// ------------------------------------------------------------------------------------------------ errors

/** A position in the rule source: 1-based line and column, 0-based character offset. */
export interface SourcePos {
  line: number;
  column: number;
  offset: number;
}

/**
 * A mistake in a rule's text. The message is one line, `rule syntax error at line L, column C: <detail>`;
 * `pointer` is two lines, the offending source line and a caret under the column.
 */
export class RuleSyntaxError extends ApicalError {
  override name = 'RuleSyntaxError';
  constructor(
    /** What is wrong, without the position prefix. */
    readonly detail: string,
    readonly line: number,
    readonly column: number,
    /** The source line, a newline, and a caret line pointing at the column. */
    readonly pointer: string,
    hint = 'see docs/rules.md for the rule language',
  ) {
    super(`rule syntax error at line ${line}, column ${column}: ${detail}`, hint);
  }
}

function pointerAt(source: string, line: number, column: number): string {
  const text = (source.split('\n')[line - 1] ?? '').replace(/\r$/, '');
  let caret = '';
  for (let i = 0; i < column - 1; i++) caret += text[i] === '\t' ? '\t' : ' ';
  return `${text}\n${caret}^`;
}

function fail(source: string, pos: SourcePos, detail: string): never {
  throw new RuleSyntaxError(detail, pos.line, pos.column, pointerAt(source, pos.line, pos.column));
}

// ------------------------------------------------------------------------------------------------ AST

export type Expr =
  | { kind: 'num'; value: number; text: string; pos: SourcePos }
  | { kind: 'term'; name: TermName; pos: SourcePos }
  | { kind: 'neg'; arg: Expr; pos: SourcePos }
  | { kind: 'bin'; op: '+' | '-' | '*'; left: Expr; right: Expr; pos: SourcePos; opPos: SourcePos };

export interface StatementAst {
  trigger: Trigger;
  /** k of epoch(k), else 0. */
  epochShift: number;
  target: RuleTarget;
  expr: Expr;
  /** Start of the statement (its 'on' or its target). */
  pos: SourcePos;
  /** The statement's source text, trimmed. */
  text: string;
}

export interface RuleAst {
  source: string;
  statements: StatementAst[];
}

export interface CompiledRule {
  source: string;
  /** One chip statement per source statement, in source order (the order the chip evaluates them). */
  statements: Statement[];
  /** The rule has a dtag statement or reads syn.tag: the projection needs per-synapse tags. */
  usesTag: boolean;
  /** Term ids (TERMS values) read by the microcode (terms folded away, e.g. `0 * pre.rate`, are not listed). */
  termsUsed: Set<number>;
  /** The parsed rule (for evalRuleFloat and for tools). */
  ast: RuleAst;
}

// ------------------------------------------------------------------------------------------------ lexer

type TokKind = 'num' | 'name' | 'punct' | 'nl' | 'semi' | 'eof';

interface Token {
  kind: TokKind;
  text: string;
  value: number;
  pos: SourcePos;
  end: SourcePos;
}

const NAME_RE = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/y;
const NUM_RE = /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const PUNCT = '+-*()=:^';

/** A lazy lexer, so errors come in source order. */
class Lexer {
  private i = 0;
  private line = 1;
  private col = 1;
  private lastEnd: SourcePos = { line: 1, column: 1, offset: 0 };

  constructor(private readonly src: string) {}

  private here(): SourcePos {
    return { line: this.line, column: this.col, offset: this.i };
  }

  private advance(n: number): void {
    this.i += n;
    this.col += n;
  }

  next(): Token {
    const s = this.src;
    for (;;) {
      if (this.i >= s.length) {
        const p = this.lastEnd;
        return { kind: 'eof', text: '', value: 0, pos: p, end: p };
      }
      const c = s[this.i];
      if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v' || c === '\u00a0') {
        this.advance(1);
      } else if (c === '#') {
        while (this.i < s.length && s[this.i] !== '\n') this.advance(1);
      } else if (c === '\n') {
        const pos = this.here();
        this.i++;
        this.line++;
        this.col = 1;
        return { kind: 'nl', text: '\n', value: 0, pos, end: pos };
      } else break;
    }
    const pos = this.here();
    const c = s[this.i];
    let kind: TokKind;
    let text: string;
    let value = 0;
    if (c === ';') {
      kind = 'semi';
      text = c;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[this.i + 1] ?? ''))) {
      NUM_RE.lastIndex = this.i;
      text = NUM_RE.exec(s)![0];
      kind = 'num';
      value = Number(text);
      if (!Number.isFinite(value)) fail(s, pos, `number ${text} is out of range`);
    } else if (/[A-Za-z_]/.test(c)) {
      NAME_RE.lastIndex = this.i;
      text = NAME_RE.exec(s)![0];
      kind = 'name';
    } else if (PUNCT.includes(c)) {
      kind = 'punct';
      text = c;
    } else if (c === '/') {
      fail(s, pos, 'division is not supported; multiply by a constant instead');
    } else {
      const cp = s.codePointAt(this.i)!;
      const shown = cp >= 0x20 && cp < 0x7f ? `'${c}'` : `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
      fail(s, pos, `unexpected character ${shown}`);
    }
    this.advance(text.length);
    const end = this.here();
    this.lastEnd = end;
    return { kind, text, value, pos, end };
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'end of rule';
    case 'nl':
      return 'end of line';
    case 'semi':
      return "';'";
    case 'num':
      return `number ${t.text}`;
    case 'name':
      return `"${t.text}"`;
    default:
      return `'${t.text}'`;
  }
}

// ------------------------------------------------------------------------------------------------ parser

const TERM_LIST = Object.keys(TERMS) as TermName[];

function editDistance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

function unknownTermHint(name: string): string {
  if (name === 'dw' || name === 'dtag') return 'a target cannot be read; use syn.w or syn.tag';
  const prefixed = ['pre', 'post', 'syn'].map((p) => `${p}.${name}`).filter((n) => Object.hasOwn(TERMS, n));
  if (prefixed.length) return `did you mean ${prefixed.join(' or ')}?`;
  let best: string[] = [];
  let bestD = Infinity;
  for (const t of TERM_LIST) {
    const dd = editDistance(name, t);
    if (dd < bestD) {
      bestD = dd;
      best = [t];
    } else if (dd === bestD) best.push(t);
  }
  if (bestD <= Math.max(2, Math.floor(name.length / 4))) return `did you mean ${best.join(' or ')}?`;
  return 'terms are pre.*, post.*, syn.w, syn.tag and reward; write constants as numbers';
}

class Parser {
  private readonly lex: Lexer;
  private tok: Token;
  private depth = 0; // parenthesis depth: newlines inside parentheses are whitespace
  private prevEnd = 0; // offset just after the last consumed token

  constructor(private readonly src: string) {
    this.lex = new Lexer(src);
    this.tok = this.lex.next();
  }

  /** Consumes the current token. */
  private bump(): Token {
    const t = this.tok;
    this.prevEnd = t.end.offset;
    this.tok = this.lex.next();
    if (this.depth > 0) this.skipNewlines();
    return t;
  }

  private skipNewlines(): void {
    while (this.tok.kind === 'nl') this.tok = this.lex.next();
  }

  private isPunct(p: string): boolean {
    return this.tok.kind === 'punct' && this.tok.text === p;
  }

  private expectPunct(p: string, context = ''): Token {
    if (!this.isPunct(p)) fail(this.src, this.tok.pos, `expected '${p}'${context} but found ${describe(this.tok)}`);
    return this.bump();
  }

  parseRule(): RuleAst {
    const statements: StatementAst[] = [];
    for (;;) {
      while (this.tok.kind === 'nl' || this.tok.kind === 'semi') this.bump();
      if (this.tok.kind === 'eof') break;
      if (statements.length === MAX_RULE_STATEMENTS) {
        fail(this.src, this.tok.pos, `too many statements (the chip runs at most ${MAX_RULE_STATEMENTS} per projection)`);
      }
      statements.push(this.parseStatement());
      const t = this.tok;
      if (t.kind !== 'nl' && t.kind !== 'semi' && t.kind !== 'eof') {
        fail(this.src, t.pos, `expected an operator, ';' or end of line but found ${describe(t)}`);
      }
    }
    if (statements.length === 0) fail(this.src, { line: 1, column: 1, offset: 0 }, 'empty rule (expected a statement such as dw = ...)');
    return { source: this.src, statements };
  }

  private parseStatement(): StatementAst {
    const start = this.tok.pos;
    let trigger = Trigger.Tick;
    let epochShift = 0;
    if (this.tok.kind === 'name' && this.tok.text === 'on') {
      this.bump();
      const t = this.tok;
      if (t.kind !== 'name') fail(this.src, t.pos, `expected a trigger (tick, pre, post or epoch(k)) but found ${describe(t)}`);
      switch (t.text) {
        case 'tick':
          trigger = Trigger.Tick;
          this.bump();
          break;
        case 'pre':
          trigger = Trigger.Pre;
          this.bump();
          break;
        case 'post':
          trigger = Trigger.Post;
          this.bump();
          break;
        case 'epoch': {
          trigger = Trigger.Epoch;
          this.bump();
          this.expectPunct('(', ' after epoch (epoch(k) runs every 2^k ticks)');
          const k = this.tok;
          if (k.kind !== 'num' || !/^\d+$/.test(k.text)) {
            fail(this.src, k.pos, `expected an integer k in 0..${EPOCH_SHIFT_MAX} in epoch(k) but found ${describe(k)}`);
          }
          if (k.value > EPOCH_SHIFT_MAX) fail(this.src, k.pos, `epoch shift ${k.text} out of range 0..${EPOCH_SHIFT_MAX}`);
          epochShift = k.value;
          this.bump();
          this.expectPunct(')');
          break;
        }
        default:
          fail(this.src, t.pos, `unknown trigger "${t.text}" (use tick, pre, post or epoch(k))`);
      }
      this.expectPunct(':', ' after the trigger');
    }
    const tt = this.tok;
    if (tt.kind !== 'name') fail(this.src, tt.pos, `expected a target (dw or dtag) but found ${describe(tt)}`);
    let target: RuleTarget;
    if (tt.text === 'dw') target = RuleTarget.Weight;
    else if (tt.text === 'dtag') target = RuleTarget.Tag;
    else fail(this.src, tt.pos, `unknown target "${tt.text}" (use dw or dtag)`);
    this.bump();
    this.expectPunct('=', ` after ${tt.text}`);
    const expr = this.parseSum();
    const text = this.src.slice(start.offset, this.prevEnd).trim();
    return { trigger, epochShift, target, expr, pos: start, text };
  }

  private parseSum(): Expr {
    let left = this.parseProduct();
    while (this.isPunct('+') || this.isPunct('-')) {
      const opTok = this.bump();
      this.skipNewlines();
      const right = this.parseProduct();
      left = { kind: 'bin', op: opTok.text as '+' | '-', left, right, pos: left.pos, opPos: opTok.pos };
    }
    return left;
  }

  private parseProduct(): Expr {
    let left = this.parseUnary();
    while (this.isPunct('*')) {
      const opTok = this.bump();
      this.skipNewlines();
      const right = this.parseUnary();
      left = { kind: 'bin', op: '*', left, right, pos: left.pos, opPos: opTok.pos };
    }
    return left;
  }

  private parseUnary(): Expr {
    this.skipNewlines();
    if (this.isPunct('-')) {
      const t = this.bump();
      const arg = this.parseUnary();
      return { kind: 'neg', arg, pos: t.pos };
    }
    if (this.isPunct('+')) {
      this.bump();
      return this.parseUnary();
    }
    const e = this.parsePrimary();
    if (this.isPunct('^')) fail(this.src, this.tok.pos, "'^' is only supported in powers of two (2^k)");
    return e;
  }

  private parsePrimary(): Expr {
    const t = this.tok;
    if (t.kind === 'num') {
      this.bump();
      if (!this.isPunct('^')) return { kind: 'num', value: t.value, text: t.text, pos: t.pos };
      if (t.value !== 2) fail(this.src, t.pos, `only powers of two can be written with '^' (2^k), not ${t.text}^...`);
      this.bump();
      let sign = 1;
      let signText = '';
      if (this.isPunct('-') || this.isPunct('+')) {
        signText = this.tok.text;
        if (signText === '-') sign = -1;
        this.bump();
      }
      const e = this.tok;
      if (e.kind !== 'num' || !/^\d+$/.test(e.text)) fail(this.src, e.pos, `expected an integer exponent after '^' but found ${describe(e)}`);
      const k = sign * e.value;
      if (Math.abs(k) > 126) fail(this.src, e.pos, `exponent ${signText}${e.text} out of range -126..126`);
      this.bump();
      return { kind: 'num', value: 2 ** k, text: `2^${signText}${e.text}`, pos: t.pos };
    }
    if (t.kind === 'name') {
      if (!Object.hasOwn(TERMS, t.text)) fail(this.src, t.pos, `unknown term "${t.text}" (${unknownTermHint(t.text)})`);
      this.bump();
      return { kind: 'term', name: t.text as TermName, pos: t.pos };
    }
    if (this.isPunct('(')) {
      this.depth++;
      this.bump();
      this.skipNewlines();
      const e = this.parseSum();
      this.depth--;
      if (!this.isPunct(')')) fail(this.src, this.tok.pos, `expected ')' but found ${describe(this.tok)}`);
      this.bump();
      return e;
    }
    fail(this.src, t.pos, `expected a term, number or '(' but found ${describe(t)}`);
  }
}

/** Parses rule text into an AST (syntax and names only; constant ranges are checked by compileRule). */
export function parseRule(source: string): RuleAst {
  return new Parser(source).parseRule();
}

// ------------------------------------------------------------------------------------------------ float evaluation

/** Real-valued term values (not Q7.24 integers). Only the terms an expression reads are required. */
export type TermValues = Partial<Record<TermName, number>>;

/** Evaluates an expression in float64 (no rounding to the chip formats, no saturation). */
export function evalExprFloat(e: Expr, terms: TermValues): number {
  switch (e.kind) {
    case 'num':
      return e.value;
    case 'term': {
      const v = terms[e.name];
      if (v === undefined) throw new UsageError(`evalRuleFloat: no value for term ${e.name}`);
      return v;
    }
    case 'neg':
      return -evalExprFloat(e.arg, terms);
    case 'bin': {
      const a = evalExprFloat(e.left, terms);
      const b = evalExprFloat(e.right, terms);
      return e.op === '+' ? a + b : e.op === '-' ? a - b : a * b;
    }
  }
}

/**
 * Evaluates every statement of a rule in float64 (the float twin's arithmetic): one Δ per statement, in
 * source order, in real units (the chip's Δ is this value × 2^24, rounded as described in the module doc).
 */
export function evalRuleFloat(rule: string | RuleAst | CompiledRule, terms: TermValues): number[] {
  const ast = typeof rule === 'string' ? parseRule(rule) : 'ast' in rule ? rule.ast : rule;
  return ast.statements.map((s) => evalExprFloat(s.expr, terms));
}

// ------------------------------------------------------------------------------------------------ compiler

/** Value of a constant subexpression (float64), or null if the expression reads a term. */
/** The value of a constant subexpression (folded in float64), or null if it reads a term. */
export function constValue(e: Expr): number | null {
  switch (e.kind) {
    case 'num':
      return e.value;
    case 'term':
      return null;
    case 'neg': {
      const a = constValue(e.arg);
      return a === null ? null : -a;
    }
    case 'bin': {
      const a = constValue(e.left);
      if (a === null) return null;
      const b = constValue(e.right);
      if (b === null) return null;
      return e.op === '+' ? a + b : e.op === '-' ? a - b : a * b;
    }
  }
}

/**
 * MULC encoding of a multiplier c ≠ 0: the largest shift s ≤ 62 with |m| = |round(c·2^s)| < 2^23 (rounded half
 * away from zero; |m/2^s − c| ≤ 2^-(s+1)). 'too large' when |c| ≥ 2^23 − 0.5; 'too small' when c would need
 * s > 62 for 23 significant bits (|round(c·2^63)| < 2^23, about |c| < 2^-40).
 */
export function mulcConstant(c: number): { shift: number; mantissa: number } | 'too large' | 'too small' {
  if (Math.round(Math.abs(c) * 2 ** 63) < MULC_MANTISSA_LIMIT) return 'too small';
  if (Math.round(Math.abs(c)) >= MULC_MANTISSA_LIMIT) return 'too large';
  // Start near the answer and adjust; |round(c·2^s)| is non-decreasing in s.
  let s = Math.min(MULC_SHIFT_MAX, Math.max(0, 22 - Math.floor(Math.log2(Math.abs(c)))));
  while (s < MULC_SHIFT_MAX && Math.round(Math.abs(c) * 2 ** (s + 1)) < MULC_MANTISSA_LIMIT) s++;
  while (s > 0 && Math.round(Math.abs(c) * 2 ** s) >= MULC_MANTISSA_LIMIT) s--;
  const m = Math.sign(c) * Math.round(Math.abs(c) * 2 ** s);
  return { shift: s, mantissa: m };
}

/** CONST word of a standalone constant: round(c·2^24) (half away from zero), or null if outside Q7.24. */
export function constQ24(c: number): number | null {
  const q = Math.sign(c) * Math.round(Math.abs(c) * 2 ** RULE_FRAC_BITS);
  if (!(Math.abs(c) < CONST_LIMIT) || q > INT32_MAX || q < INT32_MIN) return null;
  return q + 0; // no −0
}

/** Compiled form of a subexpression: its words and the stack depth it needs. */
interface Code {
  words: number[];
  need: number;
}

function fmt(c: number): string {
  return String(Number(c.toPrecision(12)));
}

class Compiler {
  constructor(private readonly src: string) {}

  /**
   * A standalone constant. A literal the user wrote that vanishes in Q7.24 is an error (it was meant to
   * matter); a folded constant expression that is zero up to float64 residue (0.3 − (1 − 0.7)) becomes 0.
   */
  compileConst(c: number, pos: SourcePos, literal = true): Code {
    const q = constQ24(c);
    if (q === null) fail(this.src, pos, `constant out of range ±${CONST_LIMIT}: ${fmt(c)}`);
    if (q === 0 && c !== 0 && literal) fail(this.src, pos, `constant ${fmt(c)} rounds to 0 in Q7.24 (resolution 2^-24)`);
    return { words: [encodeWord(Op.Const), q], need: 1 };
  }

  compile(e: Expr): Code {
    const c = constValue(e);
    if (c !== null) return this.compileConst(c, e.pos, e.kind === 'num' || (e.kind === 'neg' && e.arg.kind === 'num'));
    switch (e.kind) {
      case 'term':
        return { words: [encodeWord(Op.Term, TERMS[e.name])], need: 1 };
      case 'neg':
        return this.compileProduct(e);
      case 'bin':
        if (e.op === '*') return this.compileProduct(e);
        return this.compileSum(e);
      default:
        throw new Error('unreachable');
    }
  }

  private compileSum(e: Expr & { kind: 'bin' }): Code {
    let a = this.compile(e.left);
    let b = this.compile(e.right);
    if (e.op === '+' && b.need > a.need) [a, b] = [b, a];
    return { words: [...a.words, ...b.words, encodeWord(e.op === '+' ? Op.Add : Op.Sub)], need: Math.max(a.need, b.need + 1) };
  }

  private compileProduct(e: Expr): Code {
    let c = 1;
    let cPos: SourcePos | null = null;
    const factors: Expr[] = [];
    const walk = (x: Expr): void => {
      const v = constValue(x);
      if (v !== null) {
        c *= v;
        cPos ??= x.pos;
      } else if (x.kind === 'neg') {
        c = -c;
        walk(x.arg);
      } else if (x.kind === 'bin' && x.op === '*') {
        walk(x.left);
        walk(x.right);
      } else factors.push(x);
    };
    walk(e);
    if (c === 0) return this.compileConst(0, e.pos);
    // Deepest factor first (stable: equal needs keep source order) minimises the stack.
    const parts = factors.map((f) => this.compile(f)).sort((x, y) => y.need - x.need);
    const words: number[] = [...parts[0].words];
    let need = parts[0].need;
    for (let i = 1; i < parts.length; i++) {
      words.push(...parts[i].words, encodeWord(Op.Mul));
      need = Math.max(need, parts[i].need + 1);
    }
    if (c === -1) words.push(encodeWord(Op.Neg));
    else if (c !== 1) {
      const k = mulcConstant(c);
      const pos = cPos ?? e.pos;
      if (k === 'too small') fail(this.src, pos, `constant too small: ${fmt(c)} (a multiplier needs |c| ≥ 2^-40)`);
      if (k === 'too large') fail(this.src, pos, `constant too large: ${fmt(c)} (a multiplier needs |c| < 2^23)`);
      words.push(encodeWord(Op.MulC, k.shift), k.mantissa);
    }
    return { words, need };
  }
}

/**
 * Compiles rule text to chip statements. Throws RuleSyntaxError (with line and column) for every mistake in
 * the text, including constants out of range and statements too deep or too long for the chip.
 */
export function compileRule(source: string): CompiledRule {
  const ast = parseRule(source);
  const compiler = new Compiler(source);
  const statements: Statement[] = [];
  const used = new Set<number>();
  let usesTag = false;
  for (const s of ast.statements) {
    const code = compiler.compile(s.expr);
    if (code.need > RULE_STACK_DEPTH) {
      fail(source, s.expr.pos, `expression too deep (needs ${code.need} stack entries, the chip has ${RULE_STACK_DEPTH})`);
    }
    if (code.words.length > MAX_MICROCODE_WORDS) {
      fail(source, s.expr.pos, `statement too long (${code.words.length} microcode words, the chip allows ${MAX_MICROCODE_WORDS})`);
    }
    const words = Int32Array.from(code.words);
    const depth = validateMicrocode(words); // throws MicrocodeError only on a compiler bug
    if (depth !== code.need) throw new Error(`ruleLanguage: stack depth ${depth} ≠ computed ${code.need} (compiler bug)`);
    for (const t of microcodeTermsUsed(words)) used.add(t);
    if (s.target === RuleTarget.Tag) usesTag = true;
    statements.push({ trigger: s.trigger, epochShift: s.epochShift, target: s.target, code: words });
  }
  if (used.has(TERMS['syn.tag'])) usesTag = true;
  return { source, statements, usesTag, termsUsed: used, ast };
}

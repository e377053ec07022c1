/**
 * Compiles the float twin's plasticity statements into specialised JavaScript kernels at twin construction
 * (as src/emulator/learningKernel.ts does for the chip), so the tick loop runs straight-line float64 code over
 * the twin's typed arrays: no closure per operation, no allocation per synapse, and the effect switches
 * (rounding, saturation, weight quantisation, PRNG draws) resolved when the source is generated.
 *
 * The arithmetic is exactly that of the reference closures in ruleFloat.ts (`compileRuleFloat`) and of the
 * twin's term conversion and Δ application, operation by operation and in the same order, so results are
 * bit-identical to them (test/twinFloat.test.ts checks the expression code against `compileRuleFloat`):
 *
 *   terms      pre.*, post.* read at i / j, clamped to [RULE_MIN, RULE_MAX] with `saturation`; spikes 0/1;
 *              syn.w = acc[k] (rounded to 2^-24 with `rounding` when the accumulator grid is finer), clamped;
 *              syn.tag = tag[k]; reward clamped; an array the group lacks reads 0
 *   Δ          the statement's structure as on the chip (ruleFloat.ts): constants folded, product chains
 *              deepest-first with the constant last, sums swapped when the right operand is deeper
 *   dtag       tag ← sat(tag + Δ)
 *   dw         [low-pass]  lo ← sat(lo + rnd(k_LO · sat(Δ − lo)));  Δ ← lo
 *              d = Δ · 2^−updateShift; with weightQuantisation and sa > 0: d = ⌊d·2^(shift+f) + u⌋ / 2^(shift+f),
 *              u = ½ (nearest) or a uniform draw (stochastic; the chip's top sa bits with prngNoise)
 *              acc ← sat(acc + d);  w ← round(acc · 2^shift) / 2^shift with weightQuantisation, else acc
 *
 * Consecutive statements with the same trigger share one loop over the synapses: a statement reads and writes
 * only its own synapse's tag, low-pass and accumulator (plus neuron variables the learning phase does not
 * change), so running statement 2 right after statement 1 on each synapse gives the same values as running
 * statement 1 on all synapses first. Neuron-level term reads are hoisted to the loop that fixes i or j.
 */
import { RULE_FRAC_BITS } from '../../emulator/constants.js';
import { INT32_MAX, INT32_MIN, INV_POW2, POW2 } from '../../emulator/fixedPoint.js';
import type { TermName } from '../../emulator/microcode.js';
import { draw, tickKey } from '../../emulator/prng.js';
import { RuleTarget, Trigger } from '../../emulator/program.js';
import { constQ24, constValue, mulcConstant, type Expr, type TermValues } from '../ruleLanguage.js';
import { RULE_MAX, RULE_MIN, type RuleArithmetic } from './ruleFloat.js';

const Q24 = 2 ** RULE_FRAC_BITS;
const INV_Q24 = 2 ** -RULE_FRAC_BITS;
const EXACT = 2 ** 53;

/** Neuron state a kernel reads (the twin's group arrays; null where the group lacks the variable). */
export interface FloatNeuronView {
  spike: Uint8Array;
  rate: Float64Array;
  tx1: Float64Array | null;
  tx2: Float64Array | null;
  hp: Float64Array | null;
  basalRate: Float64Array | null;
  vB: Float64Array | null;
  vA: Float64Array | null;
  u: Float64Array;
  prosp: Float64Array;
  xi: Float64Array | null;
  /** Events of this tick: indices evIdx[0 .. evCount). */
  evIdx: Int32Array;
  evCount: number;
}

/** Everything a kernel reads or writes: the projection's live arrays (no copies). */
export interface FloatLearnContext {
  w: Float64Array;
  acc: Float64Array | null;
  tag: Float64Array | null;
  lo: Float64Array | null;
  nPre: number;
  nPost: number;
  rowPtr: Uint32Array | null;
  cols: Uint32Array | null;
  colPtr: Uint32Array | null;
  colSyn: Uint32Array | null;
  colRow: Uint32Array | null;
  pre: FloatNeuronView;
  post: FloatNeuronView;
}

/** The effect switches a kernel resolves at generation time. */
export interface FloatKernelEffects {
  weightQuantisation: boolean;
  rounding: boolean;
  saturation: boolean;
  prngNoise: boolean;
}

/** One statement of the rule with what its Δ application needs. */
export interface FloatKernelStatement {
  trigger: Trigger;
  epochShift: number;
  target: RuleTarget;
  expr: Expr;
  /** PRNG stream keys of the statement's stochastic rounding (chip's with prngNoise, else the twin's). */
  chipRoundKey: number;
  twinRoundKey: number;
}

/** The projection's constants (real units; see the module doc). */
export interface FloatKernelProjection {
  kind: 'dense' | 'sparse' | 'oneToOne';
  /** Weight exponent (NaN without a Program) and accumulator fraction bits. */
  shift: number;
  fracBits: number;
  /** Low-pass coefficient k_LO, or null without a low-pass. */
  lowpass: number | null;
  updateScale: number;
  sa: number;
  stochastic: boolean;
  accScale: number;
  wScale: number;
  accMax: number;
  accMin: number;
}

/** Runs the statements of one group (same trigger) for tick t; `reward` is the twin's global third factor. */
export type FloatLearnKernel = (C: FloatLearnContext, t: number, reward: number) => void;

// ------------------------------------------------------------------------------------------------ literals

/** A float64 as JavaScript source that evaluates to exactly that value (sign of zero included). */
function lit(x: number): string {
  if (Object.is(x, -0)) return '(-0)';
  return x < 0 ? `(${String(x)})` : String(x);
}

const MAX = lit(RULE_MAX);
const MIN = lit(RULE_MIN);
const Q24S = lit(Q24);
const INVS = lit(INV_Q24);
const EXACTS = lit(EXACT);

/**
 * `v = mulShiftRound(a, b, s) · 2^-24` for |a·b| ≥ 2^53 (product `P` in scope), inlined: the same operations as
 * the exact branch of fixedPoint.ts mulShiftRound (b split into 16-bit halves), so the hot loop calls nothing
 * and boxes no double when register values sit at the saturation bounds.
 */
function exactMulShift(v: string, a: string, b: string | number, s: number): string {
  if (s < 22) return `${v} = (P > 0 ? ${INT32_MAX} : ${INT32_MIN}) * ${INVS};`;
  const s2 = s - 16;
  let split: string;
  if (typeof b === 'number') {
    const bL = b & 0xffff;
    split = `const xh = ${a} * ${lit((b - bL) / 65536)}, xl = ${a} * ${bL};`;
  } else split = `const bL = ${b} & 0xffff, xh = ${a} * ((${b} - bL) / 65536), xl = ${a} * bL;`;
  return (
    `{ ${split} const m = xh + Math.floor(xl / 65536); const q = Math.floor(m * ${lit(INV_POW2[s2])}); const r = m - q * ${lit(POW2[s2])};` +
    ` const z = r >= ${lit(POW2[s - 17])} ? q + 1 : q; ${v} = (z > ${INT32_MAX} ? ${INT32_MAX} : z < ${INT32_MIN} ? ${INT32_MIN} : z | 0) * ${INVS}; }`
  );
}

/** Statements clamping variable `v` to the Q7.24 range, when saturation is on. */
function satLine(v: string, on: boolean): string {
  return on ? ` if (${v} > ${MAX}) ${v} = ${MAX}; else if (${v} < ${MIN}) ${v} = ${MIN};` : '';
}

// ------------------------------------------------------------------------------------------------ expressions

interface Code {
  /** Stack depth the chip compiler assigns (orders product factors). */
  need: number;
  /** A variable name or a literal. */
  src: string;
}

/**
 * Source lines computing a statement's Δ with the structure of `compileRuleFloat` (ruleFloat.ts). Terms are
 * read through `term(name)`, which returns an expression (variable or literal); fresh variables are named
 * `${prefix}0`, `${prefix}1`, ...
 */
export function ruleFloatSource(expr: Expr, term: (name: TermName) => string, fx: RuleArithmetic, prefix: string): { lines: string[]; result: string } {
  const lines: string[] = [];
  let n = 0;
  const fresh = () => `${prefix}${n++}`;
  const sat = fx.saturation;

  /** round(a·b, 24) (exact 64-bit product where the double product is not), clamped. */
  const mul = (a: string, b: string): string => {
    const v = fresh();
    if (!fx.rounding) lines.push(`let ${v} = ${a} * ${b};${satLine(v, sat)}`);
    else if (!sat) lines.push(`let ${v} = Math.floor(${a} * ${b} * ${Q24S} + 0.5) * ${INVS};`);
    else {
      lines.push(
        `let ${v}; { const A = ${a} * ${Q24S}, B = ${b} * ${Q24S}, P = A * B;`,
        `  if ((P >= ${EXACTS} || P <= -${EXACTS}) && Number.isInteger(A) && Number.isInteger(B)) ${exactMulShift(v, 'A', 'B', RULE_FRAC_BITS)}`,
        `  else { ${v} = Math.floor(${a} * ${b} * ${Q24S} + 0.5) * ${INVS};${satLine(v, true)} } }`,
      );
    }
    return v;
  };

  const compile = (e: Expr): Code => {
    const c = constValue(e);
    if (c !== null) return { need: 1, src: lit(fx.rounding ? (constQ24(c) ?? 0) * INV_Q24 : c) };
    switch (e.kind) {
      case 'term':
        return { need: 1, src: term(e.name) };
      case 'neg':
        return product(e);
      case 'bin':
        return e.op === '*' ? product(e) : sum(e);
      default:
        throw new Error('unreachable');
    }
  };

  const sum = (e: Expr & { kind: 'bin' }): Code => {
    let a = compile(e.left);
    let b = compile(e.right);
    if (e.op === '+' && b.need > a.need) [a, b] = [b, a];
    const v = fresh();
    lines.push(`let ${v} = ${a.src} ${e.op} ${b.src};${satLine(v, sat)}`);
    return { need: Math.max(a.need, b.need + 1), src: v };
  };

  const product = (e: Expr): Code => {
    let c = 1;
    const factors: Expr[] = [];
    const walk = (x: Expr): void => {
      const k = constValue(x);
      if (k !== null) c *= k;
      else if (x.kind === 'neg') {
        c = -c;
        walk(x.arg);
      } else if (x.kind === 'bin' && x.op === '*') {
        walk(x.left);
        walk(x.right);
      } else factors.push(x);
    };
    walk(e);
    if (c === 0) return { need: 1, src: '0' };
    const parts = factors.map(compile).sort((x, y) => y.need - x.need);
    let need = parts[0].need;
    let f = parts[0].src;
    for (let i = 1; i < parts.length; i++) {
      f = mul(f, parts[i].src);
      need = Math.max(need, parts[i].need + 1);
    }
    if (c === 1) return { need, src: f };
    const v = fresh();
    if (c === -1) lines.push(`let ${v} = -${f};${satLine(v, sat)}`);
    else if (!fx.rounding) lines.push(`let ${v} = ${f} * ${lit(c)};${satLine(v, sat)}`);
    else {
      const k = mulcConstant(c);
      if (typeof k === 'string') throw new Error(`rule constant ${c} is ${k}`); // the compiler refuses these rules
      const m = k.mantissa;
      const cq = m * 2 ** -k.shift;
      if (!sat) lines.push(`let ${v} = Math.floor(${f} * ${lit(cq)} * ${Q24S} + 0.5) * ${INVS};`);
      else {
        lines.push(
          `let ${v}; { const X = ${f} * ${Q24S}, P = X * ${lit(m)};`,
          `  if ((P >= ${EXACTS} || P <= -${EXACTS}) && Number.isInteger(X)) ${exactMulShift(v, 'X', m, k.shift)}`,
          `  else { ${v} = Math.floor(${f} * ${lit(cq)} * ${Q24S} + 0.5) * ${INVS};${satLine(v, true)} } }`,
        );
      }
    }
    return { need, src: v };
  };

  const result = compile(expr).src;
  return { lines, result };
}

/**
 * A statement expression as a function of real term values, generated like the kernels' Δ code (for tests
 * against `compileRuleFloat`).
 */
export function compileRuleFloatSource(expr: Expr, fx: RuleArithmetic): (terms: TermValues) => number {
  const { lines, result } = ruleFloatSource(expr, (name) => `T[${JSON.stringify(name)}]`, fx, 'v');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('T', `${lines.join('\n')}\nreturn ${result};`) as (terms: TermValues) => number;
}

// ------------------------------------------------------------------------------------------------ kernels

/** The group array behind a neuron-level term field (rule language name → FloatNeuronView key). */
const FIELD: Record<string, keyof FloatNeuronView> = {
  rate: 'rate',
  x1: 'tx1',
  x2: 'tx2',
  hp: 'hp',
  basal_rate: 'basalRate',
  basal: 'vB',
  apical: 'vA',
  soma: 'u',
  prosp: 'prosp',
  noise: 'xi',
};

/**
 * Groups a rule's statements into runs with the same trigger (and epoch) that one kernel can execute in a
 * single pass over the synapses. Returns index ranges [start, end) in source order.
 */
export function statementRuns(statements: readonly Pick<FloatKernelStatement, 'trigger' | 'epochShift'>[]): [number, number][] {
  const runs: [number, number][] = [];
  for (let s = 0; s < statements.length; s++) {
    const last = runs[runs.length - 1];
    const prev = last ? statements[last[1] - 1] : null;
    const same = prev !== null && prev.trigger === statements[s].trigger && (prev.trigger !== Trigger.Epoch || prev.epochShift === statements[s].epochShift);
    if (same) last[1] = s + 1;
    else runs.push([s, s + 1]);
  }
  return runs;
}

/** Generates the source of a kernel running `statements` (same trigger) in order on each synapse. */
export function floatKernelSource(
  statements: readonly FloatKernelStatement[],
  proj: FloatKernelProjection,
  fx: FloatKernelEffects,
  view: { pre: FloatNeuronView; post: FloatNeuronView },
): string {
  const trig = statements[0].trigger;
  const sat = fx.saturation;
  const head: string[] = ['const w = C.w, acc = C.acc, tag = C.tag, lo = C.lo, N = C.nPre, M = C.nPost;'];
  if (trig === Trigger.Epoch) head.unshift(`if (((t + 1) & ${(1 << statements[0].epochShift) - 1}) !== 0) return;`);
  const hoist: Record<'pre' | 'post', Map<string, string>> = { pre: new Map(), post: new Map() };
  let rewardUsed = false;

  /** A term read: neuron-level terms are hoisted variables, synapse terms read per statement. */
  const termOf =
    (syn: Map<string, string>, si: number) =>
    (name: TermName): string => {
      if (name === 'reward') {
        rewardUsed = true;
        return 'R';
      }
      if (name === 'syn.tag') {
        const v = `s${si}_tag`;
        syn.set(v, `const ${v} = tag[k];`);
        return v;
      }
      if (name === 'syn.w') {
        const v = `s${si}_w`;
        // The accumulator in real weight units, rounded to Q7.24 where it is finer than that grid.
        const rounded = fx.rounding && proj.shift + proj.fracBits > RULE_FRAC_BITS;
        syn.set(v, `let ${v} = ${rounded ? `Math.floor(acc[k] * ${Q24S} + 0.5) * ${INVS}` : 'acc[k]'};${satLine(v, sat)}`);
        return v;
      }
      const [level, field] = name.split('.') as ['pre' | 'post', string];
      const idx = level === 'pre' ? 'i' : 'j';
      const v = `${level}_${field}`;
      if (field === 'spike') {
        hoist[level].set(v, `const ${v} = ${level}.spike[${idx}] ? 1 : 0;`);
        return v;
      }
      const key = FIELD[field];
      if (key === undefined || view[level][key] === null) return '0';
      hoist[level].set(v, `let ${v} = ${level}.${key}[${idx}];${satLine(v, sat)}`);
      return v;
    };

  const bodies: string[] = [];
  statements.forEach((s, si) => {
    const syn = new Map<string, string>();
    const { lines, result } = ruleFloatSource(s.expr, termOf(syn, si), { rounding: fx.rounding, saturation: sat }, `s${si}_v`);
    const body = [...syn.values(), ...lines, `let D = ${result};`];
    if (s.target === RuleTarget.Tag) body.push(`let g = tag[k] + D;${satLine('g', sat)} tag[k] = g;`);
    else {
      if (proj.lowpass !== null) {
        body.push(
          `{ const l = lo[k]; let dd = D - l;${satLine('dd', sat)} const inc = ${lit(proj.lowpass)} * dd;`,
          `  D = l + ${fx.rounding ? `Math.floor(inc * ${Q24S} + 0.5) * ${INVS}` : 'inc'};${satLine('D', sat)} lo[k] = D; }`,
        );
      }
      // x · 1 is x exactly, so a zero update shift needs no multiplication.
      body.push(proj.updateScale === 1 ? 'let d = D;' : `let d = D * ${lit(proj.updateScale)};`);
      if (fx.weightQuantisation && proj.sa > 0) {
        const scale = lit(proj.accScale);
        if (proj.stochastic) {
          const tk = `TK${si}`;
          head.push(`const ${tk} = TICKKEY(${(fx.prngNoise ? s.chipRoundKey : s.twinRoundKey) >>> 0}, t);`);
          const u = fx.prngNoise ? `(DRAW(${tk}, k) >>> ${32 - proj.sa}) * ${lit(2 ** -proj.sa)}` : `DRAW(${tk}, k) / 4294967296`;
          body.push(`d = Math.floor(d * ${scale} + ${u}) / ${scale};`);
        } else body.push(`d = Math.floor(d * ${scale} + 0.5) / ${scale};`);
      }
      body.push(`let a = acc[k] + d;`);
      if (sat) body.push(`if (a > ${lit(proj.accMax)}) a = ${lit(proj.accMax)}; else if (a < ${lit(proj.accMin)}) a = ${lit(proj.accMin)};`);
      body.push('acc[k] = a;');
      body.push(fx.weightQuantisation ? `w[k] = Math.floor(a * ${lit(proj.wScale)} + 0.5) / ${lit(proj.wScale)};` : 'w[k] = a;');
    }
    bodies.push(`{\n${body.join('\n')}\n}`);
  });
  if (rewardUsed) head.push(`let R = reward;${satLine('R', sat)}`);
  if (hoist.pre.size) head.push('const pre = C.pre;');
  if (hoist.post.size) head.push('const post = C.post;');

  const body = bodies.join('\n');
  const pre = [...hoist.pre.values()].join(' ');
  const post = [...hoist.post.values()].join(' ');
  let loops: string;
  if (proj.kind === 'dense') {
    // Dense weights are post-major: k = j·N + i.
    if (trig === Trigger.Pre) {
      loops = `for (let e = 0, ne = C.pre.evCount, ev = C.pre.evIdx; e < ne; e++) { const i = ev[e]; ${pre}
  for (let j = 0, k = i; j < M; j++, k += N) { ${post}
${body}
  } }`;
    } else {
      const outer = trig === Trigger.Post ? `for (let e = 0, ne = C.post.evCount, ev = C.post.evIdx; e < ne; e++) { const j = ev[e];` : `for (let j = 0; j < M; j++) {`;
      loops = `${outer} ${post} const base = j * N;
  for (let i = 0; i < N; i++) { const k = base + i; ${pre}
${body}
  } }`;
    }
  } else if (proj.kind === 'sparse') {
    if (trig === Trigger.Post) {
      loops = `const colPtr = C.colPtr, colSyn = C.colSyn, colRow = C.colRow;
for (let e = 0, ne = C.post.evCount, ev = C.post.evIdx; e < ne; e++) { const j = ev[e]; ${post}
  for (let q = colPtr[j], qe = colPtr[j + 1]; q < qe; q++) { const k = colSyn[q]; const i = colRow[q]; ${pre}
${body}
  } }`;
    } else {
      const outer = trig === Trigger.Pre ? `for (let e = 0, ne = C.pre.evCount, ev = C.pre.evIdx; e < ne; e++) { const i = ev[e];` : `for (let i = 0; i < N; i++) {`;
      loops = `const rowPtr = C.rowPtr, cols = C.cols;
${outer} ${pre}
  for (let k = rowPtr[i], ke = rowPtr[i + 1]; k < ke; k++) { const j = cols[k]; ${post}
${body}
  } }`;
    }
  } else {
    const outer =
      trig === Trigger.Post
        ? `for (let e = 0, ne = C.post.evCount, ev = C.post.evIdx; e < ne; e++) { const j = ev[e]; const i = j;`
        : trig === Trigger.Pre
          ? `for (let e = 0, ne = C.pre.evCount, ev = C.pre.evIdx; e < ne; e++) { const i = ev[e]; const j = i;`
          : `for (let i = 0; i < N; i++) { const j = i;`;
    loops = `${outer} const k = i; ${pre} ${post}
${body}
}`;
  }
  return `${head.join('\n')}\n${loops}`;
}

/** Compiles a run of same-trigger statements (see statementRuns) into a kernel. */
export function compileFloatKernel(
  statements: readonly FloatKernelStatement[],
  proj: FloatKernelProjection,
  fx: FloatKernelEffects,
  view: { pre: FloatNeuronView; post: FloatNeuronView },
): FloatLearnKernel {
  const src = floatKernelSource(statements, proj, fx, view);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function('TICKKEY', 'DRAW', `return function floatLearnKernel(C, t, reward) {\n${src}\n};`);
  return factory(tickKey, draw) as FloatLearnKernel;
}

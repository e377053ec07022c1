/**
 * Compiles one plasticity statement (microcode + trigger + projection layout) into a specialised JavaScript
 * kernel at load time, so the tick loop runs straight-line code instead of interpreting microcode per synapse.
 * The kernel's arithmetic is exactly that of `evalMicrocode` (microcode.ts) and of docs/chip.md §11:
 *
 *   (dense weights are post-major: synapse k = j·N + i)
 *   Δ  = microcode result (Q7.24)
 *   target tag:    tag ← sat32(tag + Δ)
 *   target weight: [low-pass]  lo ← sat32(lo + round(k_LO · sat32(Δ − lo), 20));  Δ ← lo
 *                  sa = 24 − weightShift − fracBits + updateShift
 *                  sa > 0, nearest:     δ = ⌊(Δ + 2^(sa−1)) / 2^sa⌋
 *                  sa > 0, stochastic:  δ = ⌊(Δ + (draw(t, k) >>> (32 − sa))) / 2^sa⌋
 *                  sa ≤ 0:              δ = Δ · 2^−sa
 *                  acc ← clamp(acc + δ, −2^(B−1)·2^f, (2^(B−1) − 1)·2^f)
 *                  w   ← ⌊(acc + 2^(f−1)) / 2^f⌋          (f = 0: w = acc)
 *
 * Term values are converted to Q7.24: STATE values ×256 saturated; spikes 2^24; syn.w = round(acc·2^(24−B_shift−f)).
 */
import { RULE_FRAC_BITS } from './constants.js';
import { INV_POW2, mulShiftRound } from './fixedPoint.js';
import { Op, TERM_NAMES, type TermName, wordOp, wordOperand } from './microcode.js';
import { RH } from './groupKernel.js';
import { mix32 } from './prng.js';
import { ProjectionKind, RuleTarget, Rounding, Trigger, type Statement } from './program.js';

/** Everything a compiled kernel reads or writes. Arrays are the chip's live state (no copies). */
export interface LearnContext {
  w: Int8Array | Int16Array;
  wacc: Int32Array;
  tag: Int32Array | null;
  lo: Int32Array | null;
  nPre: number;
  nPost: number;
  rowPtr: Uint32Array | null;
  cols: Uint16Array | null;
  colPtr: Uint32Array | null;
  colSyn: Uint32Array | null;
  colRow: Uint32Array | null;
  pre: NeuronView;
  post: NeuronView;
  /** Global third factor, STATE (read through a one-element array so the kernel sees host updates). */
  reward: Int32Array;
  /** Event lists of this tick. */
  preEv: Int32Array;
  postEv: Int32Array;
  /** Event counts of this tick (index 0), set by the chip before calling. */
  preEvCount: Int32Array;
  postEvCount: Int32Array;
}

export interface NeuronView {
  spike: Int32Array;
  rate: Int32Array;
  x1: Int32Array | null;
  x2: Int32Array | null;
  hp: Int32Array | null;
  basalRate: Int32Array | null;
  basal: Int32Array | null;
  apical: Int32Array | null;
  soma: Int32Array;
  prosp: Int32Array;
  noise: Int32Array | null;
}

export interface KernelParams {
  kind: ProjectionKind;
  statement: Statement;
  weightBits: number;
  weightShift: number;
  fracBits: number;
  rounding: Rounding;
  lowpass: number;
  /** Weight Δ reaches the accumulator scaled by 2^−updateShift (§11.4). */
  updateShift: number;
  /** PRNG stream key of this statement (stochastic rounding). */
  roundKey: number;
}

export type LearnKernel = (C: LearnContext, t: number) => void;

const MAX = 2147483647;
const MIN = -2147483648;

type Level = 'pre' | 'post' | 'syn' | 'global';

function termLevel(name: TermName): Level {
  if (name.startsWith('pre.')) return 'pre';
  if (name.startsWith('post.')) return 'post';
  if (name.startsWith('syn.')) return 'syn';
  return 'global';
}

/** The NeuronView array behind each rule term field (pre.x / post.x, docs/chip.md §11.2); `spike` is read apart. */
export const NEURON_TERM_FIELD: Record<string, keyof NeuronView> = {
  rate: 'rate',
  x1: 'x1',
  x2: 'x2',
  hp: 'hp',
  basal_rate: 'basalRate',
  basal: 'basal',
  apical: 'apical',
  soma: 'soma',
  prosp: 'prosp',
  noise: 'noise',
};

/** Generates the kernel source; exported for inspection in tests. */
export function kernelSource(p: KernelParams): string {
  const code = p.statement.code;
  const used = new Map<number, string>(); // term id → variable name
  const lines: string[] = [];
  const stack: string[] = [];
  let v = 0;
  for (let pc = 0; pc < code.length; pc++) {
    const op = wordOp(code[pc]);
    const arg = wordOperand(code[pc]);
    switch (op) {
      case Op.Term: {
        if (!used.has(arg)) used.set(arg, `T${arg}`);
        stack.push(`T${arg}`);
        break;
      }
      case Op.Const:
        stack.push(String(code[++pc]));
        break;
      case Op.Add:
      case Op.Sub: {
        const b = stack.pop()!;
        const a = stack.pop()!;
        const n = `v${v++}`;
        lines.push(`let ${n} = ${a} ${op === Op.Add ? '+' : '-'} ${b}; if (${n} > ${MAX}) ${n} = ${MAX}; else if (${n} < ${MIN}) ${n} = ${MIN};`);
        stack.push(n);
        break;
      }
      case Op.Mul: {
        const b = stack.pop()!;
        const a = stack.pop()!;
        const n = `v${v++}`;
        lines.push(`const ${n} = MS(${a}, ${b}, ${RULE_FRAC_BITS});`);
        stack.push(n);
        break;
      }
      case Op.Neg: {
        const a = stack.pop()!;
        const n = `v${v++}`;
        lines.push(`let ${n} = -(${a}); if (${n} > ${MAX}) ${n} = ${MAX};`);
        stack.push(n);
        break;
      }
      case Op.MulC: {
        const a = stack.pop()!;
        const m = code[++pc];
        const n = `v${v++}`;
        lines.push(`const ${n} = MS(${a}, ${m}, ${arg});`);
        stack.push(n);
        break;
      }
      default:
        throw new Error(`unknown opcode ${op}`);
    }
  }
  const result = stack.pop()!;

  const decl: Record<Level, string[]> = { pre: [], post: [], syn: [], global: [] };
  for (const [id, name] of used) {
    const term = TERM_NAMES[id];
    const level = termLevel(term);
    const field = term.split('.')[1];
    let expr: string;
    if (term === 'reward') expr = `Q(C.reward[0])`;
    else if (term === 'syn.tag') expr = `tag[k]`;
    else if (term === 'syn.w') {
      const e = p.weightShift + p.fracBits - RULE_FRAC_BITS;
      expr = e > 0 ? `RH(wacc[k] * ${2 ** -e})` : `SAT(wacc[k] * ${2 ** -e})`;
    } else if (field === 'spike') expr = `(${level}Spike[${level === 'pre' ? 'i' : 'j'}] ? 16777216 : 0)`;
    else expr = `Q(${level}_${NEURON_TERM_FIELD[field]}[${level === 'pre' ? 'i' : 'j'}])`;
    decl[level].push(`const ${name} = ${expr};`);
  }

  const head: string[] = [
    `const w = C.w, wacc = C.wacc, tag = C.tag, lo = C.lo, M = C.nPost, N = C.nPre;`,
    `const preSpike = C.pre.spike, postSpike = C.post.spike;`,
  ];
  for (const lvl of ['pre', 'post'] as const) {
    for (const f of Object.values(NEURON_TERM_FIELD)) head.push(`const ${lvl}_${f} = C.${lvl}.${f};`);
  }
  head.push(`const tk = mix32((${p.roundKey >>> 0} + t) >>> 0);`);
  head.push(...decl.global);

  // Apply Δ.
  const apply: string[] = [`let D = ${result};`];
  if (p.statement.target === RuleTarget.Tag) {
    apply.push(`let g = tag[k] + D; tag[k] = g > ${MAX} ? ${MAX} : g < ${MIN} ? ${MIN} : g;`);
  } else {
    if (p.lowpass > 0) {
      apply.push(
        `{ let l = lo[k]; let dd = D - l; if (dd > ${MAX}) dd = ${MAX}; else if (dd < ${MIN}) dd = ${MIN};`,
        `  l = l + RH(dd * ${p.lowpass * 2 ** -20}); if (l > ${MAX}) l = ${MAX}; else if (l < ${MIN}) l = ${MIN};`,
        `  lo[k] = l; D = l; }`,
      );
    }
    const sa = RULE_FRAC_BITS - p.weightShift - p.fracBits + p.updateShift;
    if (sa > 0) {
      if (p.rounding === Rounding.Stochastic) {
        apply.push(`const d = Math.floor((D + (mix32((tk ^ k) >>> 0) >>> ${32 - sa})) * ${2 ** -sa});`);
      } else {
        apply.push(`const d = RH(D * ${2 ** -sa});`);
      }
    } else {
      apply.push(`const d = D * ${2 ** -sa};`);
    }
    const f = p.fracBits;
    const amax = (2 ** (p.weightBits - 1) - 1) * 2 ** f;
    const amin = -(2 ** (p.weightBits - 1)) * 2 ** f;
    apply.push(`let a = wacc[k] + d; if (a > ${amax}) a = ${amax}; else if (a < ${amin}) a = ${amin}; wacc[k] = a;`);
    apply.push(f > 0 ? `w[k] = RH(a * ${2 ** -f});` : `w[k] = a;`);
  }
  const body = [...decl.syn, ...lines, ...apply].join('\n');
  const pre = decl.pre.join('\n');
  const post = decl.post.join('\n');

  let loops: string;
  const trig = p.statement.trigger;
  if (p.kind === ProjectionKind.Dense) {
    // Dense weights are post-major: k = j·N + i.
    if (trig === Trigger.Pre) {
      loops = `for (let e = 0, ne = C.preEvCount[0]; e < ne; e++) { const i = C.preEv[e]; ${pre}
        for (let j = 0, k = i; j < M; j++, k += N) { ${post}
${body}
        } }`;
    } else {
      const outer = trig === Trigger.Post ? `for (let e = 0, ne = C.postEvCount[0]; e < ne; e++) { const j = C.postEv[e];` : `for (let j = 0; j < M; j++) {`;
      loops = `${outer} ${post} const base = j * N;
        for (let i = 0; i < N; i++) { const k = base + i; ${pre}
${body}
        } }`;
    }
  } else if (p.kind === ProjectionKind.Sparse) {
    if (trig === Trigger.Post) {
      loops = `const colPtr = C.colPtr, colSyn = C.colSyn, colRow = C.colRow;
        for (let e = 0, ne = C.postEvCount[0]; e < ne; e++) { const j = C.postEv[e]; ${post}
        for (let q = colPtr[j], qe = colPtr[j + 1]; q < qe; q++) { const k = colSyn[q]; const i = colRow[q]; ${pre}
${body}
        } }`;
    } else {
      const outer = trig === Trigger.Pre ? `for (let e = 0, ne = C.preEvCount[0]; e < ne; e++) { const i = C.preEv[e];` : `for (let i = 0; i < N; i++) {`;
      loops = `const rowPtr = C.rowPtr, cols = C.cols;
        ${outer} ${pre}
        for (let k = rowPtr[i], ke = rowPtr[i + 1]; k < ke; k++) { const j = cols[k]; ${post}
${body}
        } }`;
    }
  } else {
    const outer =
      trig === Trigger.Post
        ? `for (let e = 0, ne = C.postEvCount[0]; e < ne; e++) { const j = C.postEv[e]; const i = j;`
        : trig === Trigger.Pre
          ? `for (let e = 0, ne = C.preEvCount[0]; e < ne; e++) { const i = C.preEv[e]; const j = i;`
          : `for (let i = 0; i < N; i++) { const j = i;`;
    loops = `${outer} const k = i; ${pre} ${post}
${body}
      }`;
  }
  return `${head.join('\n')}\n${loops}`;
}

function Q(x: number): number {
  const y = x * 256;
  return y > MAX ? MAX : y < MIN ? MIN : y;
}
function SAT(x: number): number {
  return x > MAX ? MAX : x < MIN ? MIN : x;
}
/** sat32(round(a·b / 2^s)), fast path for |a·b| < 2^52 (exact there), else the general exact routine. */
function MS(a: number, b: number, s: number): number {
  const p = a * b;
  if (p < 4503599627370496 && p > -4503599627370496) {
    const r = s === 0 ? p : Math.floor(p * INV_POW2[s] + 0.5);
    return r > MAX ? MAX : r < MIN ? MIN : r;
  }
  return mulShiftRound(a, b, s);
}

export function compileLearnKernel(p: KernelParams): LearnKernel {
  const src = kernelSource(p);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function('Q', 'SAT', 'MS', 'mix32', 'RH', `return function learnKernel(C, t) {\n${src}\n};`);
  return factory(Q, SAT, MS, mix32, RH) as LearnKernel;
}

/**
 * A float64 reference evaluator for ONNX graphs (docs/onnx.md): runs a parsed model (onnxModel.ts) node by
 * node on concrete inputs. It is the ground truth that quantised, fixed-point versions of a model are compared
 * against, so it favours plain, checkable code over speed.
 *
 * Every value is a float64 tensor whatever its declared element type: float32 rounding and integer wrap-around
 * are not emulated. Supported operators (default domain, all opsets): Gemm, MatMul, Add, Relu, Sigmoid, Flatten,
 * Reshape, Conv, BatchNormalization (inference), Identity, Softmax. Anything else is an OnnxError naming the
 * operator, the node and the opset, raised before any node runs.
 */
import { OnnxError, onnxNodeLabel, onnxOpsetVersion, onnxQuote as q, type OnnxAttribute, type OnnxDim, type OnnxModel, type OnnxNode } from './onnxModel.js';

/** A dense row-major float64 tensor; dims [] is a scalar (one element). */
export interface FloatTensor {
  dims: number[];
  data: Float64Array;
}

/** An input: dims may be left out when the model declares a fully static shape for that input. */
export interface FloatInput {
  dims?: number[];
  data: Float64Array | number[];
}

export const SUPPORTED_ONNX_OPS: readonly string[] = [
  'Gemm',
  'MatMul',
  'Add',
  'Relu',
  'Sigmoid',
  'Flatten',
  'Reshape',
  'Conv',
  'BatchNormalization',
  'Identity',
  'Softmax',
];

export interface RunOnnxOptions {
  /** Names of the values to return (graph outputs, intermediate values, inputs or initializers). Default: the graph outputs. */
  outputs?: string[];
}

// ---------------------------------------------------------------------------------------------- helpers

/** An error inside one node's computation; runOnnxFloat prefixes the node. */
class NodeError extends Error {}

function fail(message: string): never {
  throw new NodeError(message);
}

function size(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

function shapeStr(dims: readonly OnnxDim[]): string {
  return `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/** Largest tensor the reference allocates (2^28 float64 values, 2 GiB). */
const MAX_ELEMENTS = 2 ** 28;

function alloc(n: number, dims: readonly number[]): Float64Array {
  if (!(n <= MAX_ELEMENTS)) fail(`the output ${shapeStr(dims)} would have ${n} elements, more than the reference's limit of ${MAX_ELEMENTS}`);
  return new Float64Array(n);
}

function tensor(dims: number[], data: Float64Array): FloatTensor {
  return { dims, data };
}

/** Normalises an axis in [-rank, rank + extra) to [0, rank + extra). */
function normAxis(axis: number, rank: number, what: string, extra = 0): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank + extra) {
    fail(`${what} ${axis} is out of range for a rank-${rank} input (allowed ${-rank}..${rank + extra - 1})`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Row-major strides. */
function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

// ---------------------------------------------------------------------------------------------- attributes

class Attrs {
  constructor(private readonly node: OnnxNode) {}

  private get(name: string, type: OnnxAttribute['type']): OnnxAttribute | undefined {
    const a = Object.prototype.hasOwnProperty.call(this.node.attributes, name) ? this.node.attributes[name] : undefined;
    if (a && a.type !== type) fail(`attribute ${q(name)} must be of type ${type.toUpperCase()}, not ${a.type.toUpperCase()}`);
    return a;
  }

  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.node.attributes, name);
  }

  int(name: string, dflt: number): number {
    const a = this.get(name, 'int');
    return a ? (a.value as number) : dflt;
  }

  float(name: string, dflt: number): number {
    const a = this.get(name, 'float');
    return a ? (a.value as number) : dflt;
  }

  ints(name: string): number[] | null {
    const a = this.get(name, 'ints');
    return a ? (a.value as number[]) : null;
  }

  string(name: string, dflt: string): string {
    const a = this.get(name, 'string');
    return a ? (a.value as string) : dflt;
  }
}

// ---------------------------------------------------------------------------------------------- broadcasting

/** numpy-style (multidirectional) broadcast of two shapes, or null if they do not broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const r = Math.max(a.length, b.length);
  const out = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const da = i < r - a.length ? 1 : a[i - (r - a.length)];
    const db = i < r - b.length ? 1 : b[i - (r - b.length)];
    if (da === db || db === 1) out[i] = da;
    else if (da === 1) out[i] = db;
    else return null;
  }
  return out;
}

/** Strides of `dims` (right-aligned) inside `out`, 0 along broadcast dimensions. */
function broadcastStrides(dims: readonly number[], out: readonly number[]): number[] {
  const s = strides(dims);
  const r = out.length;
  const res = new Array<number>(r).fill(0);
  for (let i = 0; i < dims.length; i++) {
    const o = i + r - dims.length;
    res[o] = dims[i] === 1 && out[o] !== 1 ? 0 : s[i];
  }
  return res;
}

/** Elementwise f(a, b) over the broadcast shape `out` (which both a and b broadcast to). */
function broadcastBinary(a: FloatTensor, b: FloatTensor, out: number[], f: (x: number, y: number) => number): FloatTensor {
  const n = size(out);
  const res = alloc(n, out);
  const A = a.data;
  const B = b.data;
  if (a.data.length === n && b.data.length === n) {
    for (let i = 0; i < n; i++) res[i] = f(A[i], B[i]);
    return tensor(out, res);
  }
  const r = out.length;
  const sa = broadcastStrides(a.dims, out);
  const sb = broadcastStrides(b.dims, out);
  const idx = new Array<number>(r).fill(0);
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < n; i++) {
    res[i] = f(A[ia], B[ib]);
    for (let d = r - 1; d >= 0; d--) {
      idx[d]++;
      ia += sa[d];
      ib += sb[d];
      if (idx[d] < out[d]) break;
      ia -= sa[d] * out[d];
      ib -= sb[d] * out[d];
      idx[d] = 0;
    }
  }
  return tensor(out, res);
}

function unary(x: FloatTensor, f: (v: number) => number): FloatTensor {
  const res = new Float64Array(x.data.length);
  for (let i = 0; i < res.length; i++) res[i] = f(x.data[i]);
  return tensor(x.dims.slice(), res);
}

// ---------------------------------------------------------------------------------------------- operators

interface OpContext {
  node: OnnxNode;
  attrs: Attrs;
  /** Opset version of the node's domain. */
  opset: number;
  /** Present inputs by position; null for an omitted optional input. */
  inputs: (FloatTensor | null)[];
}

type OpFn = (ctx: OpContext) => (FloatTensor | null)[];

function input(ctx: OpContext, i: number, what: string): FloatTensor {
  const t = ctx.inputs[i] ?? null;
  if (!t) fail(`missing required input ${i} (${what})`);
  return t;
}

function add(ctx: OpContext): FloatTensor[] {
  const a = input(ctx, 0, 'A');
  let b = input(ctx, 1, 'B');
  if (ctx.opset < 7) {
    // Opsets 1 and 6: no implicit broadcasting; with broadcast=1, B's shape matches a contiguous run of A's
    // dims starting at `axis` (default: A's trailing dims).
    if (ctx.attrs.int('broadcast', 0) === 0) {
      if (shapeStr(a.dims) !== shapeStr(b.dims)) fail(`shapes ${shapeStr(a.dims)} and ${shapeStr(b.dims)} differ and broadcast=0 (opset ${ctx.opset})`);
      return [broadcastBinary(a, b, a.dims.slice(), (x, y) => x + y)];
    }
    const axis = ctx.attrs.has('axis') ? normAxis(ctx.attrs.int('axis', 0), a.dims.length, 'axis') : a.dims.length - b.dims.length;
    // A scalar-like B of shape [1] broadcasts everywhere; otherwise it must fit inside A at `axis`.
    if (!(b.dims.length === 1 && b.dims[0] === 1)) {
      if (axis < 0 || axis + b.dims.length > a.dims.length || b.dims.some((d, i) => d !== a.dims[axis + i] && d !== 1)) {
        fail(`B's shape ${shapeStr(b.dims)} does not fit A's shape ${shapeStr(a.dims)} at axis ${axis} (opset ${ctx.opset} broadcasting)`);
      }
      const dims = a.dims.map((_, i) => (i >= axis && i < axis + b.dims.length ? b.dims[i - axis] : 1));
      b = tensor(dims, b.data);
    }
    return [broadcastBinary(a, b, a.dims.slice(), (x, y) => x + y)];
  }
  const out = broadcastShapes(a.dims, b.dims);
  if (!out) fail(`shapes ${shapeStr(a.dims)} and ${shapeStr(b.dims)} do not broadcast`);
  return [broadcastBinary(a, b, out, (x, y) => x + y)];
}

function gemm(ctx: OpContext): FloatTensor[] {
  const a = input(ctx, 0, 'A');
  const b = input(ctx, 1, 'B');
  const c = ctx.inputs[2] ?? null;
  const alpha = ctx.attrs.float('alpha', 1);
  const beta = ctx.attrs.float('beta', 1);
  const transA = ctx.attrs.int('transA', 0) !== 0;
  const transB = ctx.attrs.int('transB', 0) !== 0;
  if (a.dims.length !== 2) fail(`A must be 2-D, got shape ${shapeStr(a.dims)}`);
  if (b.dims.length !== 2) fail(`B must be 2-D, got shape ${shapeStr(b.dims)}`);
  const [M, K] = transA ? [a.dims[1], a.dims[0]] : a.dims;
  const [K2, N] = transB ? [b.dims[1], b.dims[0]] : b.dims;
  if (K !== K2) fail(`inner dimensions differ: A${transA ? 'ᵀ' : ''} is ${M}×${K}, B${transB ? 'ᵀ' : ''} is ${K2}×${N}`);
  const A = a.data;
  const B = b.data;
  const res = alloc(M * N, [M, N]);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (transA ? A[k * M + i] : A[i * K + k]) * (transB ? B[j * K + k] : B[k * N + j]);
      res[i * N + j] = alpha * s;
    }
  }
  let y = tensor([M, N], res);
  if (c && beta !== 0) {
    // C broadcasts unidirectionally to [M, N].
    const out = broadcastShapes([M, N], c.dims);
    if (!out || out.length !== 2 || out[0] !== M || out[1] !== N) fail(`C's shape ${shapeStr(c.dims)} does not broadcast to [${M}, ${N}]`);
    y = broadcastBinary(y, c, [M, N], (x, z) => x + beta * z);
  }
  return [y];
}

function matmul(ctx: OpContext): FloatTensor[] {
  const a0 = input(ctx, 0, 'A');
  const b0 = input(ctx, 1, 'B');
  if (a0.dims.length === 0 || b0.dims.length === 0) fail('MatMul inputs must have rank ≥ 1');
  // numpy.matmul: a 1-D A is a row vector [1, K], a 1-D B a column vector [K, 1]; the added dims are removed.
  const aDims = a0.dims.length === 1 ? [1, a0.dims[0]] : a0.dims;
  const bDims = b0.dims.length === 1 ? [b0.dims[0], 1] : b0.dims;
  const M = aDims[aDims.length - 2];
  const K = aDims[aDims.length - 1];
  const K2 = bDims[bDims.length - 2];
  const N = bDims[bDims.length - 1];
  if (K !== K2) fail(`inner dimensions differ: A is ${shapeStr(a0.dims)}, B is ${shapeStr(b0.dims)}`);
  const batchA = aDims.slice(0, -2);
  const batchB = bDims.slice(0, -2);
  const batch = broadcastShapes(batchA, batchB);
  if (!batch) fail(`batch dimensions of A ${shapeStr(a0.dims)} and B ${shapeStr(b0.dims)} do not broadcast`);
  const nb = size(batch);
  const sa = broadcastStrides(batchA, batch);
  const sb = broadcastStrides(batchB, batch);
  const res = alloc(nb * M * N, [...batch, M, N]);
  const A = a0.data;
  const B = b0.data;
  const idx = new Array<number>(batch.length).fill(0);
  let ia = 0;
  let ib = 0;
  for (let t = 0; t < nb; t++) {
    const offA = ia * M * K;
    const offB = ib * K * N;
    const offY = t * M * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += A[offA + i * K + k] * B[offB + k * N + j];
        res[offY + i * N + j] = s;
      }
    }
    for (let d = batch.length - 1; d >= 0; d--) {
      idx[d]++;
      ia += sa[d];
      ib += sb[d];
      if (idx[d] < batch[d]) break;
      ia -= sa[d] * batch[d];
      ib -= sb[d] * batch[d];
      idx[d] = 0;
    }
  }
  const dims = [...batch];
  if (a0.dims.length > 1) dims.push(M);
  if (b0.dims.length > 1) dims.push(N);
  return [tensor(dims, res)];
}

function flatten(ctx: OpContext): FloatTensor[] {
  const x = input(ctx, 0, 'input');
  const r = x.dims.length;
  const axis = normAxis(ctx.attrs.int('axis', 1), r, 'axis', 1);
  return [tensor([size(x.dims.slice(0, axis)), size(x.dims.slice(axis))], x.data)];
}

function reshape(ctx: OpContext): FloatTensor[] {
  const x = input(ctx, 0, 'data');
  let shape: number[];
  let allowzero = false;
  if (ctx.opset < 5) {
    const s = ctx.attrs.ints('shape');
    if (!s) fail(`attribute "shape" is required (opset ${ctx.opset})`);
    shape = s;
  } else {
    const s = input(ctx, 1, 'shape');
    if (s.dims.length !== 1) fail(`shape must be a 1-D tensor, got shape ${shapeStr(s.dims)}`);
    shape = Array.from(s.data);
    allowzero = ctx.opset >= 14 && ctx.attrs.int('allowzero', 0) !== 0;
  }
  const out = shape.slice();
  let infer = -1;
  for (let i = 0; i < out.length; i++) {
    const d = out[i];
    if (!Number.isInteger(d) || d < -1) fail(`invalid shape value ${d} in ${shapeStr(shape)}`);
    if (d === -1) {
      if (infer >= 0) fail(`shape ${shapeStr(shape)} has more than one -1`);
      infer = i;
    } else if (d === 0 && !allowzero) {
      if (i >= x.dims.length) fail(`shape ${shapeStr(shape)} copies dim ${i} (0) but the input ${shapeStr(x.dims)} has rank ${x.dims.length}`);
      out[i] = x.dims[i];
    }
  }
  if (allowzero && infer >= 0 && shape.includes(0)) fail(`shape ${shapeStr(shape)} has both 0 and -1 with allowzero=1`);
  const total = x.data.length;
  if (infer >= 0) {
    const known = size(out.filter((_, i) => i !== infer));
    if (known === 0 || total % known !== 0) {
      fail(`cannot infer the -1 in shape ${shapeStr(shape)}: the input ${shapeStr(x.dims)} has ${total} elements, the other dims make ${known}`);
    }
    out[infer] = total / known;
  }
  if (size(out) !== total) fail(`cannot reshape ${shapeStr(x.dims)} (${total} elements) to ${shapeStr(out)} (${size(out)} elements)`);
  return [tensor(out, x.data)];
}

function softmax(ctx: OpContext): FloatTensor[] {
  const x = input(ctx, 0, 'input');
  const r = x.dims.length;
  let outer: number;
  let n: number;
  let inner: number;
  if (ctx.opset >= 13) {
    // Opset 13: normalise along one axis (default -1).
    const axis = normAxis(ctx.attrs.int('axis', -1), r, 'axis');
    outer = size(x.dims.slice(0, axis));
    n = x.dims[axis];
    inner = size(x.dims.slice(axis + 1));
  } else {
    // Opsets 1 and 11: the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])] (default axis 1) and
    // each row normalised.
    const axis = normAxis(ctx.attrs.int('axis', 1), r, 'axis');
    outer = size(x.dims.slice(0, axis));
    n = size(x.dims.slice(axis));
    inner = 1;
  }
  const X = x.data;
  const res = new Float64Array(X.length);
  for (let o = 0; o < outer; o++) {
    for (let q = 0; q < inner; q++) {
      const base = o * n * inner + q;
      let max = -Infinity;
      for (let i = 0; i < n; i++) max = Math.max(max, X[base + i * inner]);
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const e = Math.exp(X[base + i * inner] - max);
        res[base + i * inner] = e;
        sum += e;
      }
      for (let i = 0; i < n; i++) res[base + i * inner] /= sum;
    }
  }
  return [tensor(x.dims.slice(), res)];
}

/** Checks that a BatchNormalization node is in inference mode (see the semantics in docs/onnx.md) and returns its epsilon. */
function batchNormEpsilon(attrs: Attrs, opset: number, node: OnnxNode): number {
  if (opset >= 14) {
    if (attrs.int('training_mode', 0) !== 0) fail('training_mode=1 is not supported (export the model in inference/eval mode)');
  } else if (opset < 7) {
    if (attrs.int('is_test', 0) === 0) fail(`is_test=0 (training mode, the default in opset ${opset}) is not supported (export the model in inference/eval mode)`);
  }
  if (opset < 14 && node.outputs.slice(1).some((o) => o !== '')) fail(`training-mode outputs (mean, var...) are not supported (opset ${opset}); export the model in inference/eval mode`);
  if (opset < 9 && attrs.int('spatial', 1) === 0) fail('spatial=0 is not supported');
  return attrs.float('epsilon', 1e-5);
}

/** The epsilon of BatchNormalization node `node` (index `index`, opset `opset`); OnnxError for training mode. */
export function onnxBatchNormEpsilon(node: OnnxNode, index: number, opset: number): number {
  try {
    return batchNormEpsilon(new Attrs(node), opset, node);
  } catch (e) {
    if (e instanceof NodeError) throw new OnnxError(`${onnxNodeLabel(node, index)} (${node.opType}, opset ${opset}): ${e.message}`);
    throw e;
  }
}

function batchNormalization(ctx: OpContext): FloatTensor[] {
  const eps = batchNormEpsilon(ctx.attrs, ctx.opset, ctx.node);
  const x = input(ctx, 0, 'X');
  const params = [input(ctx, 1, 'scale'), input(ctx, 2, 'B'), input(ctx, 3, 'mean'), input(ctx, 4, 'var')];
  if (x.dims.length < 2) fail(`X must have shape [N, C, ...], got ${shapeStr(x.dims)}`);
  const C = x.dims[1];
  const names = ['scale', 'B', 'mean', 'var'];
  params.forEach((p, i) => {
    if (p.data.length !== C) fail(`${names[i]} has shape ${shapeStr(p.dims)}, expected [${C}] (the channels of X ${shapeStr(x.dims)})`);
  });
  const [scale, bias, mean, variance] = params.map((p) => p.data);
  const inner = size(x.dims.slice(2));
  const N = x.dims[0];
  const X = x.data;
  const res = new Float64Array(X.length);
  for (let c = 0; c < C; c++) {
    const k = scale[c] / Math.sqrt(variance[c] + eps);
    const m = mean[c];
    const b = bias[c];
    for (let nn = 0; nn < N; nn++) {
      const base = (nn * C + c) * inner;
      for (let i = 0; i < inner; i++) res[base + i] = (X[base + i] - m) * k + b;
    }
  }
  return [tensor(x.dims.slice(), res)];
}

/** Strides, dilations, leading zero padding and output size of a Conv (2 + r)-D input with (2 + r)-D weights. */
export interface ConvGeometry {
  strides: number[];
  dilations: number[];
  /** Zero padding before each spatial dim (auto_pad resolved). */
  padBegin: number[];
  /** Output spatial dims. */
  out: number[];
}

function convGeometry(attrs: Attrs, xDims: readonly number[], wDims: readonly number[]): ConvGeometry {
  const r = xDims.length - 2;
  const S = xDims.slice(2);
  const Kd = wDims.slice(2);
  const ks = attrs.ints('kernel_shape');
  if (ks && shapeStr(ks) !== shapeStr(Kd)) fail(`kernel_shape ${shapeStr(ks)} does not match W's spatial dims ${shapeStr(Kd)}`);
  const st = attrs.ints('strides') ?? new Array<number>(r).fill(1);
  const dil = attrs.ints('dilations') ?? new Array<number>(r).fill(1);
  if (st.length !== r || st.some((v) => !(v >= 1))) fail(`strides ${shapeStr(st)} must be ${r} values ≥ 1`);
  if (dil.length !== r || dil.some((v) => !(v >= 1))) fail(`dilations ${shapeStr(dil)} must be ${r} values ≥ 1`);
  const autoPad = attrs.string('auto_pad', 'NOTSET');
  const padBegin = new Array<number>(r).fill(0);
  const O = new Array<number>(r);
  for (let d = 0; d < r; d++) {
    const ek = (Kd[d] - 1) * dil[d] + 1; // effective kernel extent
    if (autoPad === 'NOTSET') {
      const pads = attrs.ints('pads') ?? new Array<number>(2 * r).fill(0);
      if (pads.length !== 2 * r || pads.some((p) => p < 0)) fail(`pads ${shapeStr(pads)} must be ${2 * r} values ≥ 0`);
      padBegin[d] = pads[d];
      O[d] = Math.floor((S[d] + pads[d] + pads[d + r] - ek) / st[d]) + 1;
    } else if (autoPad === 'VALID') {
      O[d] = Math.floor((S[d] - ek) / st[d]) + 1;
    } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      O[d] = Math.ceil(S[d] / st[d]);
      const total = Math.max(0, (O[d] - 1) * st[d] + ek - S[d]);
      padBegin[d] = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2);
    } else {
      fail(`auto_pad ${q(autoPad)} is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
    }
    if (O[d] < 1) fail(`the kernel ${shapeStr(Kd)} (dilations ${shapeStr(dil)}) is larger than the padded input ${shapeStr(xDims)}`);
  }
  return { strides: st, dilations: dil, padBegin, out: O };
}

/**
 * The geometry of Conv node `node` (index `index` in the graph, opset `opset`) on an input of dims `xDims` with
 * weights of dims `wDims`, as the reference computes it. Throws OnnxError naming the node.
 */
export function onnxConvGeometry(node: OnnxNode, index: number, opset: number, xDims: readonly number[], wDims: readonly number[]): ConvGeometry {
  try {
    if (xDims.length < 3 || wDims.length !== xDims.length) fail(`X ${shapeStr(xDims)} and W ${shapeStr(wDims)} must both have rank ≥ 3, the same rank`);
    return convGeometry(new Attrs(node), xDims, wDims);
  } catch (e) {
    if (e instanceof NodeError) throw new OnnxError(`${onnxNodeLabel(node, index)} (${node.opType}, opset ${opset}): ${e.message}`);
    throw e;
  }
}

function conv(ctx: OpContext): FloatTensor[] {
  const { attrs } = ctx;
  const x = input(ctx, 0, 'X');
  const w = input(ctx, 1, 'W');
  const bias = ctx.inputs[2] ?? null;
  const r = x.dims.length - 2;
  if (r < 1) fail(`X must have shape [N, C, D1, ...], got ${shapeStr(x.dims)}`);
  if (w.dims.length !== r + 2) fail(`W has shape ${shapeStr(w.dims)}, expected rank ${r + 2} for X ${shapeStr(x.dims)}`);
  const [N, C] = x.dims;
  const [M, Cg] = w.dims;
  const group = attrs.int('group', 1);
  if (!Number.isInteger(group) || group < 1 || C % group !== 0 || M % group !== 0) fail(`group ${group} does not divide X's ${C} channels and W's ${M} feature maps`);
  if (Cg !== C / group) fail(`W has shape ${shapeStr(w.dims)}: ${Cg} input channels per group, but X has ${C} channels in ${group} group(s)`);
  if (bias && (bias.dims.length !== 1 || bias.dims[0] !== M)) fail(`B has shape ${shapeStr(bias.dims)}, expected [${M}]`);
  const S = x.dims.slice(2);
  const Kd = w.dims.slice(2);
  const { strides: st, dilations: dil, padBegin, out: O } = convGeometry(attrs, x.dims, w.dims);
  const Mg = M / group;
  const sx = strides(S);
  const kn = size(Kd);
  const kIdx = Kd.map(() => 0);
  // Kernel positions as per-dim offsets; for each output position, the valid (kernel index, input offset) pairs.
  const kPos: number[][] = [];
  for (let k = 0; k < kn; k++) {
    kPos.push(kIdx.slice());
    for (let d = r - 1; d >= 0; d--) {
      if (++kIdx[d] < Kd[d]) break;
      kIdx[d] = 0;
    }
  }
  const on = size(O);
  const insz = size(S);
  const X = x.data;
  const W = w.data;
  const res = alloc(N * M * on, [N, M, ...O]);
  const oIdx = O.map(() => 0);
  const validK = new Int32Array(kn);
  const validOff = new Int32Array(kn);
  for (let o = 0; o < on; o++) {
    let nv = 0;
    for (let k = 0; k < kn; k++) {
      let off = 0;
      let ok = true;
      for (let d = 0; d < r; d++) {
        const c = oIdx[d] * st[d] - padBegin[d] + kPos[k][d] * dil[d];
        if (c < 0 || c >= S[d]) {
          ok = false;
          break;
        }
        off += c * sx[d];
      }
      if (ok) {
        validK[nv] = k;
        validOff[nv] = off;
        nv++;
      }
    }
    for (let n = 0; n < N; n++) {
      for (let m = 0; m < M; m++) {
        const g = Math.floor(m / Mg);
        let s = bias ? bias.data[m] : 0;
        for (let c = 0; c < Cg; c++) {
          const xBase = (n * C + g * Cg + c) * insz;
          const wBase = (m * Cg + c) * kn;
          for (let v = 0; v < nv; v++) s += X[xBase + validOff[v]] * W[wBase + validK[v]];
        }
        res[(n * M + m) * on + o] = s;
      }
    }
    for (let d = r - 1; d >= 0; d--) {
      if (++oIdx[d] < O[d]) break;
      oIdx[d] = 0;
    }
  }
  return [tensor([N, M, ...O], res)];
}

const OPS: Record<string, OpFn> = {
  Gemm: gemm,
  MatMul: matmul,
  Add: add,
  Relu: (ctx) => [unary(input(ctx, 0, 'X'), (v) => (v < 0 ? 0 : v))],
  Sigmoid: (ctx) => [unary(input(ctx, 0, 'X'), (v) => 1 / (1 + Math.exp(-v)))],
  Flatten: flatten,
  Reshape: reshape,
  Conv: conv,
  BatchNormalization: batchNormalization,
  Identity: (ctx) => [input(ctx, 0, 'input')],
  Softmax: softmax,
};

// ---------------------------------------------------------------------------------------------- graph

function nodeOpset(model: OnnxModel, node: OnnxNode): number | null {
  return onnxOpsetVersion(model, node.domain);
}

/**
 * Throws OnnxError for the first node whose operator the float reference does not support:
 * `unsupported operator "LSTM" (node "lstm_1", opset 13)`.
 */
export function checkOnnxSupported(model: OnnxModel): void {
  model.graph.nodes.forEach((node, i) => {
    const opset = nodeOpset(model, node);
    const label = onnxNodeLabel(node, i);
    if (node.domain !== '') {
      throw new OnnxError(
        `unsupported operator ${q(node.opType)} from domain ${q(node.domain)} (${label}, opset ${opset ?? 'not imported'})`,
        `apical supports ${SUPPORTED_ONNX_OPS.join(', ')} from the default ONNX domain`,
      );
    }
    if (opset === null) throw new OnnxError(`${label} (${node.opType}): the model imports no opset for the default ONNX domain`);
    if (!Object.prototype.hasOwnProperty.call(OPS, node.opType)) {
      throw new OnnxError(`unsupported operator ${q(node.opType)} (${label}, opset ${opset})`, `apical supports ${SUPPORTED_ONNX_OPS.join(', ')}`);
    }
  });
}

/** Binds the caller's inputs to the graph inputs, checking them against the declared shapes. */
function bindInputs(model: OnnxModel, inputs: Record<string, FloatInput>, symbols: Map<string, number>): Map<string, FloatTensor> {
  const values = new Map<string, FloatTensor>();
  const declared = new Set(model.graph.inputs.map((v) => v.name));
  for (const name of Object.keys(inputs)) {
    if (!declared.has(name)) {
      const list = model.graph.inputs.map((v) => q(v.name)).join(', ') || 'none';
      const why = model.graph.initializers.has(name) ? ' (it is an initializer)' : '';
      throw new OnnxError(`${q(name)} is not an input of the graph${why}; its inputs are ${list}`);
    }
  }
  for (const vi of model.graph.inputs) {
    const given = Object.prototype.hasOwnProperty.call(inputs, vi.name) ? inputs[vi.name] : undefined;
    if (!given) {
      throw new OnnxError(`graph input ${q(vi.name)} is not given${vi.shape ? ` (declared shape ${shapeStr(vi.shape)})` : ''}`);
    }
    let dims = given.dims;
    if (!dims) {
      if (!vi.shape || vi.shape.some((d) => typeof d !== 'number')) {
        throw new OnnxError(
          `graph input ${q(vi.name)} has ${vi.shape ? `dynamic shape ${shapeStr(vi.shape)}` : 'no declared shape'}, which cannot be resolved: pass its dims`,
        );
      }
      dims = vi.shape as number[];
    }
    if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new OnnxError(`graph input ${q(vi.name)}: invalid dims ${shapeStr(dims)}`);
    const data = given.data instanceof Float64Array ? given.data : Float64Array.from(given.data);
    if (data.length !== size(dims)) {
      throw new OnnxError(`graph input ${q(vi.name)} has ${data.length} values, but its dims ${shapeStr(dims)} need ${size(dims)}`);
    }
    if (vi.shape) checkShape(`graph input ${q(vi.name)}`, dims, vi.shape, symbols, true);
    values.set(vi.name, tensor(dims.slice(), data));
  }
  return values;
}

/** Checks actual dims against a declared shape; binds symbolic dims (dim_param) on first sight if `bind`. */
function checkShape(what: string, dims: number[], shape: OnnxDim[], symbols: Map<string, number>, bind: boolean): void {
  if (dims.length !== shape.length) throw new OnnxError(`${what} has shape ${shapeStr(dims)}, but the model declares ${shapeStr(shape)}`);
  shape.forEach((d, i) => {
    if (typeof d === 'number' && d !== dims[i]) throw new OnnxError(`${what} has shape ${shapeStr(dims)}, but the model declares ${shapeStr(shape)}`);
    if (typeof d === 'string') {
      const b = symbols.get(d);
      if (b === undefined) {
        if (bind) symbols.set(d, dims[i]);
      } else if (b !== dims[i]) {
        throw new OnnxError(`${what} has shape ${shapeStr(dims)} with ${d} = ${dims[i]}, but ${d} = ${b} elsewhere (declared ${shapeStr(shape)})`);
      }
    }
  });
}

/**
 * Runs the model in float64 on the given inputs (every graph input that is not an initializer, by name) and
 * returns the graph outputs (or `options.outputs`) by name. Inputs are checked against the declared shapes;
 * symbolic dims (e.g. a batch dim "N") take their size from the inputs. Throws OnnxError.
 */
export function runOnnxFloat(model: OnnxModel, inputs: Record<string, FloatInput>, options: RunOnnxOptions = {}): Record<string, FloatTensor> {
  checkOnnxSupported(model);
  const symbols = new Map<string, number>();
  const values = bindInputs(model, inputs, symbols);
  for (const [name, t] of model.graph.initializers) if (!values.has(name)) values.set(name, tensor(t.dims.slice(), t.data));
  model.graph.nodes.forEach((node, i) => {
    const label = onnxNodeLabel(node, i);
    const opset = nodeOpset(model, node) as number;
    const ins = node.inputs.map((name, k) => {
      if (name === '') return null;
      const v = values.get(name);
      if (!v) {
        throw new OnnxError(`${label} (${node.opType}): input ${k} ${q(name)} is not a graph input, an initializer or the output of an earlier node`);
      }
      return v;
    });
    let outs: (FloatTensor | null)[];
    try {
      outs = OPS[node.opType]({ node, attrs: new Attrs(node), opset, inputs: ins });
    } catch (e) {
      if (e instanceof NodeError) throw new OnnxError(`${label} (${node.opType}, opset ${opset}): ${e.message}`);
      throw e;
    }
    node.outputs.forEach((name, k) => {
      if (name === '') return;
      const t = outs[k] ?? null;
      if (!t) throw new OnnxError(`${label} (${node.opType}): output ${k} ${q(name)} is not produced by apical's ${node.opType}`);
      values.set(name, t);
    });
  });
  const result: Record<string, FloatTensor> = {};
  const wanted = options.outputs ?? model.graph.outputs.map((o) => o.name);
  for (const name of wanted) {
    const t = values.get(name);
    if (!t) throw new OnnxError(`value ${q(name)} is not computed by the graph`);
    const declared = model.graph.outputs.find((o) => o.name === name);
    if (declared?.shape) checkShape(`output ${q(name)}`, t.dims, declared.shape, symbols, false);
    // A copy: Reshape, Flatten and Identity share buffers with their inputs, which may be the caller's or the model's.
    Object.defineProperty(result, name, { value: tensor(t.dims.slice(), t.data.slice()), enumerable: true, writable: true, configurable: true });
  }
  return result;
}

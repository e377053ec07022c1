/**
 * Export a float MLP (a list of dense layers with activations, as in src/models/twin/backprop.ts) to an ONNX
 * ModelProto (docs/onnx.md §"Export and conversion to the chip"); `writeOnnxSequential` writes any sequential
 * chain of Conv, BatchNormalization, Gemm, activations, Flatten and Softmax (a small conv net).
 *
 * Graph (opset 13, IR version 7): input `x` [N, nIn] → per layer `Gemm(h, W, b, transB = 1)` (W stored
 * [nOut, nIn], i.e. post-major exactly as DenseLayer.W; the bias input is left out for a layer without bias) →
 * `Relu` / `Sigmoid` / `Tanh` (nothing for linear) → … → output `y` [N, nOut]; with `softmax: true` a final
 * `Softmax(axis = −1)` is added (a classifier's probabilities). Tensors are DOUBLE by default (the round trip
 * through loadOnnx/runOnnxFloat is then exact to rounding), FLOAT with `elemType: 'FLOAT'`.
 * The schema is proto/onnx.proto, the one loadOnnx reads with.
 */
import { writeFileSync } from 'node:fs';
import { onnxProtoRoot, OnnxError } from './onnxModel.js';
import type { DenseLayer } from '../twin/backprop.js';

export interface WriteOnnxOptions {
  /** Element type of weights, input and output: DOUBLE (default) or FLOAT (float32). */
  elemType?: 'DOUBLE' | 'FLOAT';
  /** Append Softmax(axis = −1) after the last layer. Default false. */
  softmax?: boolean;
  /** Graph input and output names (defaults `x`, `y`). */
  inputName?: string;
  outputName?: string;
  /** Graph name (default `mlp`), producer name (default `apical`). */
  graphName?: string;
  producerName?: string;
  /** Batch dimension: a symbolic name (default `N`) or a fixed size. */
  batch?: string | number;
}

const TYPE_NUM = { FLOAT: 1, DOUBLE: 11 } as const;
const ATTR_INT = 2;

function tensorProto(name: string, dims: number[], data: ArrayLike<number>, elemType: 'DOUBLE' | 'FLOAT'): object {
  const n = data.length;
  const bytes = new Uint8Array(n * (elemType === 'DOUBLE' ? 8 : 4));
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < n; i++) {
    if (elemType === 'DOUBLE') dv.setFloat64(i * 8, data[i], true);
    else dv.setFloat32(i * 4, data[i], true);
  }
  return { name, dims, dataType: TYPE_NUM[elemType], rawData: bytes };
}

function valueInfo(name: string, elemType: 'DOUBLE' | 'FLOAT', dims: (number | string)[]): object {
  return {
    name,
    type: { tensorType: { elemType: TYPE_NUM[elemType], shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Serialises the layers as an ONNX model (bytes of a ModelProto). */
export function writeOnnx(layers: DenseLayer[], options: WriteOnnxOptions = {}): Uint8Array {
  if (layers.length === 0) throw new OnnxError('cannot export an empty network: no layers');
  const elemType = options.elemType ?? 'DOUBLE';
  if (elemType !== 'DOUBLE' && elemType !== 'FLOAT') throw new OnnxError(`unsupported export element type ${JSON.stringify(elemType)}`, 'use DOUBLE or FLOAT');
  const inputName = options.inputName ?? 'x';
  const outputName = options.outputName ?? 'y';
  const batch = options.batch ?? 'N';
  const nodes: object[] = [];
  const initializers: object[] = [];
  let cur = inputName;
  layers.forEach((L, l) => {
    if (l > 0 && L.nIn !== layers[l - 1].nOut) throw new OnnxError(`layer ${l + 1} takes ${L.nIn} inputs, but layer ${l} has ${layers[l - 1].nOut} outputs`);
    if (L.W.length !== L.nIn * L.nOut) throw new OnnxError(`layer ${l + 1}: W has ${L.W.length} values, expected ${L.nOut}×${L.nIn}`);
    if (L.b && L.b.length !== L.nOut) throw new OnnxError(`layer ${l + 1}: b has ${L.b.length} values, expected ${L.nOut}`);
    const k = l + 1;
    const last = l === layers.length - 1;
    const wName = `fc${k}.weight`;
    const bName = `fc${k}.bias`;
    initializers.push(tensorProto(wName, [L.nOut, L.nIn], L.W, elemType));
    if (L.b) initializers.push(tensorProto(bName, [L.nOut], L.b, elemType));
    const act = L.activation;
    const opName = act === 'relu' ? 'Relu' : act === 'sigmoid' ? 'Sigmoid' : act === 'tanh' ? 'Tanh' : null;
    if (act !== 'linear' && opName === null) throw new OnnxError(`layer ${k}: unknown activation ${JSON.stringify(act)}`);
    const endsHere = last && !options.softmax;
    const gemmOut = endsHere && opName === null ? outputName : `fc${k}`;
    nodes.push({
      name: `fc${k}`,
      opType: 'Gemm',
      input: L.b ? [cur, wName, bName] : [cur, wName],
      output: [gemmOut],
      attribute: [{ name: 'transB', type: ATTR_INT, i: 1 }],
    });
    cur = gemmOut;
    if (opName) {
      const out = endsHere ? outputName : `${act}${k}`;
      nodes.push({ name: `${act}${k}`, opType: opName, input: [cur], output: [out], attribute: [] });
      cur = out;
    }
  });
  if (options.softmax) {
    nodes.push({ name: 'softmax', opType: 'Softmax', input: [cur], output: [outputName], attribute: [{ name: 'axis', type: ATTR_INT, i: -1 }] });
  }
  const root = onnxProtoRoot();
  const Model = root.lookupType('onnx.ModelProto');
  const msg = Model.fromObject({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: options.producerName ?? 'apical',
    producerVersion: '1',
    graph: {
      name: options.graphName ?? 'mlp',
      node: nodes,
      initializer: initializers,
      input: [valueInfo(inputName, elemType, [batch, layers[0].nIn])],
      output: [valueInfo(outputName, elemType, [batch, layers[layers.length - 1].nOut])],
    },
  });
  return Model.encode(msg).finish();
}

/** writeOnnx to a file. */
export function saveOnnx(path: string, layers: DenseLayer[], options: WriteOnnxOptions = {}): void {
  writeFileSync(path, writeOnnx(layers, options));
}

// ---------------------------------------------------------------------------------------------- sequential

/** A tensor to store: row-major values with their dims. */
export interface TensorValues {
  dims: number[];
  data: ArrayLike<number>;
}

/**
 * One step of a sequential model. conv: 2-D Conv, W [M, C/group, kh, kw], optional bias [M], `pads`
 * [top, left, bottom, right], `strides`, `dilations` [h, w], `group` (defaults: 0 pads, strides and dilations
 * 1, group 1). batchnorm: inference BatchNormalization over dim 1 (`epsilon` default 1e-5). gemm: Gemm with
 * transB = 1, W stored [nOut, nIn] (post-major), optional bias [nOut]. reshape: Reshape to `shape` (an INT64
 * initializer; 0 copies the input dim, −1 is inferred). The others are the operators of the same name
 * (flatten: axis 1; softmax: axis −1).
 */
export type SequentialOp =
  | { op: 'conv'; W: TensorValues; b?: ArrayLike<number> | null; pads?: number[]; strides?: number[]; dilations?: number[]; group?: number }
  | { op: 'batchnorm'; scale: ArrayLike<number>; bias: ArrayLike<number>; mean: ArrayLike<number>; variance: ArrayLike<number>; epsilon?: number }
  | { op: 'gemm'; nIn: number; nOut: number; W: ArrayLike<number>; b?: ArrayLike<number> | null }
  | { op: 'reshape'; shape: number[] }
  | { op: 'relu' | 'sigmoid' | 'tanh' | 'flatten' | 'identity' | 'softmax' };

export interface WriteSequentialOptions {
  /** Element type of weights, input and output: DOUBLE (default) or FLOAT (float32). */
  elemType?: 'DOUBLE' | 'FLOAT';
  /** Graph input and output names (defaults `x`, `y`). */
  inputName?: string;
  outputName?: string;
  /** Graph name (default `sequential`). */
  graphName?: string;
  /** The output's declared shape (default: declared without a shape). */
  outputShape?: (number | string)[];
}

const ATTR_FLOAT = 1;
const TYPE_INT64 = 7;
const ATTR_INTS = 7;
const OP_TYPES = { conv: 'Conv', batchnorm: 'BatchNormalization', gemm: 'Gemm', reshape: 'Reshape', relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh', flatten: 'Flatten', identity: 'Identity', softmax: 'Softmax' } as const;

/**
 * Serialises a sequential model (IR 7, opset 13): input `x` of `inputShape` (e.g. `['N', 1, 8, 8]`) → ops in
 * order → output `y`. Node k (1-based) is named `<op><k>` (`conv1`, `batchnorm2`…) and so is its output value;
 * its initializers are `<name>.weight`, `.bias`, `.scale`, `.mean`, `.var`, `.shape`. Shapes are not checked here (the
 * float reference and ONNX Runtime check them when they run the model).
 */
export function writeOnnxSequential(inputShape: (number | string)[], ops: SequentialOp[], options: WriteSequentialOptions = {}): Uint8Array {
  if (ops.length === 0) throw new OnnxError('cannot export an empty model: no ops');
  const elemType = options.elemType ?? 'DOUBLE';
  if (elemType !== 'DOUBLE' && elemType !== 'FLOAT') throw new OnnxError(`unsupported export element type ${JSON.stringify(elemType)}`, 'use DOUBLE or FLOAT');
  const inputName = options.inputName ?? 'x';
  const outputName = options.outputName ?? 'y';
  const nodes: object[] = [];
  const initializers: object[] = [];
  let cur = inputName;
  ops.forEach((o, k) => {
    const type = OP_TYPES[o.op];
    if (!type) throw new OnnxError(`op ${k + 1}: unknown op ${JSON.stringify((o as { op: string }).op)}`);
    const name = `${o.op}${k + 1}`;
    const out = k === ops.length - 1 ? outputName : name;
    const inputs = [cur];
    const attribute: object[] = [];
    const addInit = (suffix: string, dims: number[], data: ArrayLike<number>) => {
      if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new OnnxError(`${name}: ${suffix} has ${data.length} values, expected [${dims.join(', ')}]`);
      initializers.push(tensorProto(`${name}.${suffix}`, dims, data, elemType));
      inputs.push(`${name}.${suffix}`);
    };
    switch (o.op) {
      case 'conv': {
        if (o.W.dims.length !== 4) throw new OnnxError(`${name}: W must be [M, C/group, kh, kw], got [${o.W.dims.join(', ')}]`);
        addInit('weight', o.W.dims, o.W.data);
        if (o.b) addInit('bias', [o.W.dims[0]], o.b);
        attribute.push({ name: 'kernel_shape', type: ATTR_INTS, ints: o.W.dims.slice(2) });
        if (o.pads) attribute.push({ name: 'pads', type: ATTR_INTS, ints: o.pads });
        if (o.strides) attribute.push({ name: 'strides', type: ATTR_INTS, ints: o.strides });
        if (o.dilations) attribute.push({ name: 'dilations', type: ATTR_INTS, ints: o.dilations });
        if (o.group !== undefined) attribute.push({ name: 'group', type: ATTR_INT, i: o.group });
        break;
      }
      case 'batchnorm': {
        const n = o.scale.length;
        addInit('scale', [n], o.scale);
        addInit('bias', [n], o.bias);
        addInit('mean', [n], o.mean);
        addInit('var', [n], o.variance);
        attribute.push({ name: 'epsilon', type: ATTR_FLOAT, f: o.epsilon ?? 1e-5 });
        break;
      }
      case 'gemm':
        addInit('weight', [o.nOut, o.nIn], o.W);
        if (o.b) addInit('bias', [o.nOut], o.b);
        attribute.push({ name: 'transB', type: ATTR_INT, i: 1 });
        break;
      case 'reshape': {
        const raw = new Uint8Array(8 * o.shape.length);
        const dv = new DataView(raw.buffer);
        o.shape.forEach((d, i) => dv.setBigInt64(i * 8, BigInt(d), true));
        initializers.push({ name: `${name}.shape`, dims: [o.shape.length], dataType: TYPE_INT64, rawData: raw });
        inputs.push(`${name}.shape`);
        break;
      }
      case 'flatten':
        attribute.push({ name: 'axis', type: ATTR_INT, i: 1 });
        break;
      case 'softmax':
        attribute.push({ name: 'axis', type: ATTR_INT, i: -1 });
        break;
      default:
        break;
    }
    nodes.push({ name, opType: type, input: inputs, output: [out], attribute });
    cur = out;
  });
  const root = onnxProtoRoot();
  const Model = root.lookupType('onnx.ModelProto');
  const output = options.outputShape ? valueInfo(outputName, elemType, options.outputShape) : { name: outputName, type: { tensorType: { elemType: TYPE_NUM[elemType] } } };
  const msg = Model.fromObject({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'apical',
    producerVersion: '1',
    graph: {
      name: options.graphName ?? 'sequential',
      node: nodes,
      initializer: initializers,
      input: [valueInfo(inputName, elemType, inputShape)],
      output: [output],
    },
  });
  return Model.encode(msg).finish();
}

/**
 * Export a float MLP (a list of dense layers with activations, as in src/models/twin/backprop.ts) to an ONNX
 * ModelProto (docs/onnx.md §"Export and conversion to the chip").
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

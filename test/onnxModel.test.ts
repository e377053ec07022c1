/**
 * ONNX parsing (src/models/onnx/onnxModel.ts): models built here with protobufjs from proto/onnx.proto, every
 * tensor storage ONNX uses, and the one-line OnnxErrors for files apical cannot read.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApicalError } from '../src/emulator/errors.js';
import { checkOnnxSupported, runOnnxFloat } from '../src/models/onnx/floatReference.js';
import { loadOnnx, loadOnnxTensor, onnxOpsetVersion, onnxProtoPath, onnxProtoRoot, OnnxError } from '../src/models/onnx/onnxModel.js';

const tmp = mkdtempSync(join(tmpdir(), 'apical-onnx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------- builders

const root = onnxProtoRoot();
const ModelProto = root.lookupType('onnx.ModelProto');
const TensorProto = root.lookupType('onnx.TensorProto');

const DT = { FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, BFLOAT16: 16 };
const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 };

function encodeModel(obj: Record<string, unknown>): Uint8Array {
  const err = ModelProto.verify(obj);
  if (err) throw new Error(err);
  return ModelProto.encode(ModelProto.fromObject(obj)).finish();
}

function encodeTensor(obj: Record<string, unknown>): Uint8Array {
  return TensorProto.encode(TensorProto.fromObject(obj)).finish();
}

function tensorType(elemType: number, dims: (number | string | null)[]): Record<string, unknown> {
  return {
    tensorType: {
      elemType,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})) },
    },
  };
}

function vi(name: string, dims: (number | string | null)[], elemType = DT.FLOAT): Record<string, unknown> {
  return { name, type: tensorType(elemType, dims) };
}

/** Little-endian bytes of values written with `set` (DataView setter) at `width` bytes each. */
function le(values: (number | bigint)[], width: number, set: (dv: DataView, off: number, v: never) => void): Uint8Array {
  const out = new Uint8Array(values.length * width);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => set(dv, i * width, v as never));
  return out;
}

/** A model with one node and the given initializers (graph inputs: x; output: y). */
function oneNodeModel(node: Record<string, unknown>, initializer: Record<string, unknown>[] = [], opset = 13): Record<string, unknown> {
  return {
    irVersion: 8,
    producerName: 'apical-test',
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'g',
      node: [node],
      initializer,
      input: [vi('x', ['N', 3])],
      output: [vi('y', ['N', 3])],
    },
  };
}

function modelWithInitializer(t: Record<string, unknown>): Uint8Array {
  return encodeModel(oneNodeModel({ opType: 'Identity', input: ['x'], output: ['y'] }, [t]));
}

function expectOnnxError(fn: () => unknown, ...parts: (string | RegExp)[]): OnnxError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(OnnxError);
  expect(err).toBeInstanceOf(ApicalError);
  const e = err as OnnxError;
  expect(e.message).not.toContain('\n');
  expect(e.hint.length).toBeGreaterThan(0);
  for (const p of parts) {
    if (typeof p === 'string') expect(e.message).toContain(p);
    else expect(e.message).toMatch(p);
  }
  return e;
}

/** A small seeded generator (tests must be reproducible). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

// A 2-layer perceptron: y = softmax(relu(x·W1ᵀ + b1)·W2 + b2), W1 in float_data, b1 in raw_data, W2 as FLOAT
// raw_data, b2 as DOUBLE in double_data.
const W1 = [0.5, -1, 2, 1, 0.25, -0.5]; // [2, 3] (transB)
const B1 = [0.1, -0.2];
const W2 = [1, -1, 0.5, 2]; // [2, 2]
const B2 = [0, 0.25];
const mlpBytes = encodeModel({
  irVersion: 7,
  producerName: 'apical-test',
  producerVersion: '1.0',
  opsetImport: [
    { domain: 'ai.onnx', version: 13 },
    { domain: 'com.example', version: 2 },
  ],
  graph: {
    name: 'mlp',
    node: [
      { name: 'fc1', opType: 'Gemm', input: ['x', 'W1', 'b1'], output: ['h'], attribute: [{ name: 'transB', type: AT.INT, i: 1 }] },
      { name: 'act', opType: 'Relu', input: ['h'], output: ['a'] },
      { name: 'fc2', opType: 'MatMul', input: ['a', 'W2'], output: ['z0'] },
      { name: 'bias2', opType: 'Add', input: ['z0', 'b2'], output: ['z'] },
      { name: 'sm', opType: 'Softmax', input: ['z'], output: ['y'], attribute: [{ name: 'axis', type: AT.INT, i: -1 }] },
    ],
    initializer: [
      { name: 'W1', dims: [2, 3], dataType: DT.FLOAT, floatData: W1 },
      { name: 'b1', dims: [2], dataType: DT.FLOAT, rawData: le(B1, 4, (dv, o, v: number) => dv.setFloat32(o, v, true)) },
      { name: 'W2', dims: [2, 2], dataType: DT.FLOAT, rawData: le(W2, 4, (dv, o, v: number) => dv.setFloat32(o, v, true)) },
      { name: 'b2', dims: [2], dataType: DT.DOUBLE, doubleData: B2 },
    ],
    // IR < 4 style: initializers also listed as graph inputs.
    input: [vi('x', ['batch', 3]), vi('W1', [2, 3]), vi('b1', [2]), vi('W2', [2, 2]), vi('b2', [2], DT.DOUBLE)],
    output: [vi('y', ['batch', 2])],
    valueInfo: [vi('h', ['batch', null])],
  },
});

// ---------------------------------------------------------------------------------------------- parsing

describe('loadOnnx', () => {
  it('finds proto/onnx.proto above the module', () => {
    expect(onnxProtoPath()).toMatch(/proto[\\/]onnx\.proto$/);
  });

  it('returns inputs (without initializers), outputs with shapes, initializers, nodes, attributes and opsets', () => {
    const m = loadOnnx(mlpBytes);
    expect(m.irVersion).toBe(7);
    expect(m.producerName).toBe('apical-test');
    expect(m.producerVersion).toBe('1.0');
    expect(m.opsetImports).toEqual([
      { domain: '', version: 13 },
      { domain: 'com.example', version: 2 },
    ]);
    expect(onnxOpsetVersion(m)).toBe(13);
    expect(onnxOpsetVersion(m, 'ai.onnx')).toBe(13);
    expect(onnxOpsetVersion(m, 'com.example')).toBe(2);
    expect(onnxOpsetVersion(m, 'com.other')).toBeNull();
    expect(m.graph.name).toBe('mlp');
    expect(m.graph.inputs).toEqual([{ name: 'x', kind: 'tensor', elemType: 'FLOAT', shape: ['batch', 3] }]);
    expect(m.graph.outputs).toEqual([{ name: 'y', kind: 'tensor', elemType: 'FLOAT', shape: ['batch', 2] }]);
    expect(m.graph.valueInfo).toEqual([{ name: 'h', kind: 'tensor', elemType: 'FLOAT', shape: ['batch', null] }]);
    expect([...m.graph.initializers.keys()]).toEqual(['W1', 'b1', 'W2', 'b2']);
    expect(m.graph.initializers.get('W1')).toEqual({ name: 'W1', dataType: 'FLOAT', dims: [2, 3], data: Float64Array.from(W1) });
    expect(Array.from(m.graph.initializers.get('b1')!.data)).toEqual(B1.map(Math.fround));
    expect(m.graph.initializers.get('b2')!.dataType).toBe('DOUBLE');
    expect(m.graph.nodes.map((n) => [n.name, n.opType, n.domain, n.inputs, n.outputs])).toEqual([
      ['fc1', 'Gemm', '', ['x', 'W1', 'b1'], ['h']],
      ['act', 'Relu', '', ['h'], ['a']],
      ['fc2', 'MatMul', '', ['a', 'W2'], ['z0']],
      ['bias2', 'Add', '', ['z0', 'b2'], ['z']],
      ['sm', 'Softmax', '', ['z'], ['y']],
    ]);
    expect(m.graph.nodes[0].attributes).toEqual({ transB: { type: 'int', value: 1 } });
    expect(m.graph.nodes[4].attributes).toEqual({ axis: { type: 'int', value: -1 } });
  });

  it('reads a file path, and the parsed model runs in float64', () => {
    const path = join(tmp, 'mlp.onnx');
    writeFileSync(path, mlpBytes);
    const m = loadOnnx(path);
    const x = [1, 2, -1, 0, 0.5, 3];
    const { y } = runOnnxFloat(m, { x: { dims: [2, 3], data: Float64Array.from(x) } });
    expect(y.dims).toEqual([2, 2]);
    const b1 = B1.map(Math.fround);
    for (let r = 0; r < 2; r++) {
      const a = [0, 1].map((j) => Math.max(0, x[r * 3] * W1[j * 3] + x[r * 3 + 1] * W1[j * 3 + 1] + x[r * 3 + 2] * W1[j * 3 + 2] + b1[j]));
      const z = [0, 1].map((k) => a[0] * W2[k] + a[1] * W2[2 + k] + B2[k]);
      const e = z.map((v) => Math.exp(v - Math.max(...z)));
      const s = e[0] + e[1];
      expect(y.data[r * 2]).toBeCloseTo(e[0] / s, 14);
      expect(y.data[r * 2 + 1]).toBeCloseTo(e[1] / s, 14);
    }
  });

  it('decodes every attribute type, including IR-version-1 attributes without a type field', () => {
    const bytes = encodeModel(
      oneNodeModel({
        name: 'n',
        opType: 'Custom',
        domain: 'com.example',
        input: ['x', ''],
        output: ['y', ''],
        attribute: [
          { name: 'f', type: AT.FLOAT, f: 0.5 },
          { name: 'i', type: AT.INT, i: -7 },
          { name: 's', type: AT.STRING, s: new TextEncoder().encode('SAME_UPPER') },
          { name: 'fs', type: AT.FLOATS, floats: [1.5, -2] },
          { name: 'is', type: AT.INTS, ints: [1, 0, -1] },
          { name: 'ss', type: AT.STRINGS, strings: [new TextEncoder().encode('a'), new TextEncoder().encode('bc')] },
          { name: 't', type: AT.TENSOR, t: { dims: [2], dataType: DT.INT64, int64Data: [3, -4] } },
          { name: 'legacy_i', i: 5 },
          { name: 'legacy_ints', ints: [2, 3] },
        ],
      }),
    );
    const n = loadOnnx(bytes).graph.nodes[0];
    expect(n.domain).toBe('com.example');
    expect(n.inputs).toEqual(['x', '']);
    expect(n.outputs).toEqual(['y', '']);
    expect(n.attributes).toEqual({
      f: { type: 'float', value: 0.5 },
      i: { type: 'int', value: -7 },
      s: { type: 'string', value: 'SAME_UPPER' },
      fs: { type: 'floats', value: [1.5, -2] },
      is: { type: 'ints', value: [1, 0, -1] },
      ss: { type: 'strings', value: ['a', 'bc'] },
      t: { type: 'tensor', value: { name: '', dataType: 'INT64', dims: [2], data: Float64Array.from([3, -4]) } },
      legacy_i: { type: 'int', value: 5 },
      legacy_ints: { type: 'ints', value: [2, 3] },
    });
  });

  it('treats a model with IR version < 3 and no opset_import as opset 1', () => {
    const m = oneNodeModel({ opType: 'Relu', input: ['x'], output: ['y'] });
    delete m.opsetImport;
    m.irVersion = 2;
    expect(loadOnnx(encodeModel(m)).opsetImports).toEqual([{ domain: '', version: 1 }]);
  });

  it('loads models with unsupported operators (rejection is the evaluator’s job)', () => {
    const bytes = encodeModel(oneNodeModel({ name: 'lstm_1', opType: 'LSTM', input: ['x'], output: ['y'] }));
    const m = loadOnnx(bytes);
    expect(m.graph.nodes[0].opType).toBe('LSTM');
    const e = expectOnnxError(() => checkOnnxSupported(m), 'unsupported operator "LSTM" (node "lstm_1", opset 13)');
    expect(e.message).toBe('unsupported operator "LSTM" (node "lstm_1", opset 13)');
    expect(e.hint).toContain('Gemm');
    expectOnnxError(() => runOnnxFloat(m, { x: { dims: [1, 3], data: new Float64Array(3) } }), 'unsupported operator "LSTM" (node "lstm_1", opset 13)');
  });
});

// ---------------------------------------------------------------------------------------------- storage

type Setter = (dv: DataView, off: number, v: never) => void;

interface StorageCase {
  type: keyof typeof DT;
  values: number[];
  width: number;
  set: Setter;
  /** The typed field and how its elements are stored there. */
  field: string;
  typed: (v: number) => number | string;
}

const f16bits: Record<number, number> = { 1: 0x3c00, [-2]: 0xc000, 0.5: 0x3800, 65504: 0x7bff, [2 ** -24]: 0x0001 };

const STORAGE: StorageCase[] = [
  { type: 'FLOAT', values: [1.5, -2.25, 3.4028234663852886e38, 2 ** -149], width: 4, set: (dv, o, v: number) => dv.setFloat32(o, v, true), field: 'floatData', typed: (v) => v },
  { type: 'DOUBLE', values: [0.1, -1e300, 2 ** -1074], width: 8, set: (dv, o, v: number) => dv.setFloat64(o, v, true), field: 'doubleData', typed: (v) => v },
  { type: 'INT8', values: [-128, -1, 0, 127], width: 1, set: (dv, o, v: number) => dv.setInt8(o, v), field: 'int32Data', typed: (v) => v },
  { type: 'UINT8', values: [0, 1, 200, 255], width: 1, set: (dv, o, v: number) => dv.setUint8(o, v), field: 'int32Data', typed: (v) => v },
  { type: 'INT16', values: [-32768, 5, 32767], width: 2, set: (dv, o, v: number) => dv.setInt16(o, v, true), field: 'int32Data', typed: (v) => v },
  { type: 'UINT16', values: [0, 65535], width: 2, set: (dv, o, v: number) => dv.setUint16(o, v, true), field: 'int32Data', typed: (v) => v },
  { type: 'INT32', values: [-2147483648, -3, 2147483647], width: 4, set: (dv, o, v: number) => dv.setInt32(o, v, true), field: 'int32Data', typed: (v) => v },
  { type: 'UINT32', values: [0, 4294967295], width: 4, set: (dv, o, v: number) => dv.setUint32(o, v, true), field: 'uint64Data', typed: (v) => v },
  { type: 'INT64', values: [-5, 2 ** 40, -(2 ** 53)], width: 8, set: (dv, o, v: number) => dv.setBigInt64(o, BigInt(v), true), field: 'int64Data', typed: (v) => v },
  { type: 'UINT64', values: [0, 2 ** 52 + 1], width: 8, set: (dv, o, v: number) => dv.setBigUint64(o, BigInt(v), true), field: 'uint64Data', typed: (v) => v },
  { type: 'BOOL', values: [1, 0, 1], width: 1, set: (dv, o, v: number) => dv.setUint8(o, v), field: 'int32Data', typed: (v) => v },
  { type: 'FLOAT16', values: [1, -2, 0.5, 65504, 2 ** -24], width: 2, set: (dv, o, v: number) => dv.setUint16(o, f16bits[v], true), field: 'int32Data', typed: (v) => f16bits[v] },
];

describe('initializer storage', () => {
  for (const c of STORAGE) {
    it(`${c.type}: raw_data (little-endian) and ${c.field} decode to the same values`, () => {
      const dims = [c.values.length];
      const raw = loadOnnx(modelWithInitializer({ name: 'w', dims, dataType: DT[c.type], rawData: le(c.values, c.width, c.set) })).graph.initializers.get('w')!;
      const typed = loadOnnx(modelWithInitializer({ name: 'w', dims, dataType: DT[c.type], [c.field]: c.values.map(c.typed) })).graph.initializers.get('w')!;
      expect(raw).toEqual({ name: 'w', dataType: c.type, dims, data: Float64Array.from(c.values) });
      expect(typed).toEqual(raw);
    });
  }

  it('reads scalars (dims []), empty tensors and multi-dimensional tensors', () => {
    const scalar = loadOnnx(modelWithInitializer({ name: 's', dataType: DT.FLOAT, floatData: [4.5] })).graph.initializers.get('s')!;
    expect(scalar).toEqual({ name: 's', dataType: 'FLOAT', dims: [], data: Float64Array.from([4.5]) });
    const empty = loadOnnx(modelWithInitializer({ name: 'e', dims: [2, 0], dataType: DT.FLOAT, rawData: new Uint8Array(0) })).graph.initializers.get('e')!;
    expect(empty).toEqual({ name: 'e', dataType: 'FLOAT', dims: [2, 0], data: new Float64Array(0) });
    const m = loadOnnx(modelWithInitializer({ name: 'm', dims: [2, 1, 3], dataType: DT.INT32, int32Data: [1, 2, 3, 4, 5, 6] })).graph.initializers.get('m')!;
    expect(m.dims).toEqual([2, 1, 3]);
    expect(Array.from(m.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reads float16 infinities and NaN', () => {
    const t = loadOnnx(modelWithInitializer({ name: 'h', dims: [3], dataType: DT.FLOAT16, int32Data: [0x7c00, 0xfc00, 0x7e00] })).graph.initializers.get('h')!;
    expect(Array.from(t.data)).toEqual([Infinity, -Infinity, NaN]);
  });

  it('rejects raw_data of the wrong length and typed fields with the wrong count', () => {
    expectOnnxError(
      () => loadOnnx(modelWithInitializer({ name: 'W', dims: [2, 2], dataType: DT.FLOAT, rawData: new Uint8Array(12) })),
      'tensor "W" has 12 bytes of raw_data, expected 16 for FLOAT [2, 2]',
    );
    expectOnnxError(
      () => loadOnnx(modelWithInitializer({ name: 'W', dims: [3], dataType: DT.INT64, int64Data: [1, 2] })),
      'tensor "W" has 2 values in int64_data, expected 3 for INT64 [3]',
    );
    expectOnnxError(() => loadOnnx(modelWithInitializer({ name: 'W', dims: [2], dataType: DT.DOUBLE, floatData: [1, 2] })), 'tensor "W" has 0 values in double_data');
  });

  it('rejects external data with the tensor name and what to do', () => {
    const e = expectOnnxError(() =>
      loadOnnx(
        modelWithInitializer({
          name: 'W',
          dims: [4],
          dataType: DT.FLOAT,
          dataLocation: 1,
          externalData: [
            { key: 'location', value: 'weights.bin' },
            { key: 'offset', value: '0' },
          ],
        }),
      ),
    );
    expect(e.message).toBe('tensor "W" uses external data (not supported: save the model with weights embedded)');
    expect(e.hint).toContain('save_as_external_data=False');
    // external_data entries without data_location set are refused too.
    expectOnnxError(() => loadOnnx(modelWithInitializer({ name: 'V', dims: [1], dataType: DT.FLOAT, externalData: [{ key: 'location', value: 'v.bin' }] })), 'tensor "V" uses external data');
  });

  it('rejects element types it has no float64 value for, naming the type', () => {
    const e = expectOnnxError(() => loadOnnx(modelWithInitializer({ name: 'X', dims: [1], dataType: DT.BFLOAT16, int32Data: [0x3f80] })));
    expect(e.message).toBe('tensor "X" has unsupported type BFLOAT16');
    expect(e.hint).toContain('FLOAT');
    expectOnnxError(() => loadOnnx(modelWithInitializer({ name: 'S', dims: [1], dataType: DT.STRING, stringData: [new Uint8Array([97])] })), 'tensor "S" has unsupported type STRING');
    expectOnnxError(() => loadOnnx(modelWithInitializer({ name: 'Z', dims: [1], dataType: 99, rawData: new Uint8Array(4) })), 'tensor "Z" has unsupported type DATA_TYPE_99');
    expectOnnxError(() => loadOnnx(modelWithInitializer({ name: 'U', dims: [1], floatData: [1] })), 'tensor "U" has no data type');
  });

  it('rejects tensors with unsupported types inside attributes, naming the node and attribute', () => {
    const bytes = encodeModel(
      oneNodeModel({
        name: 'c',
        opType: 'Constant',
        input: [],
        output: ['y'],
        attribute: [{ name: 'value', type: AT.TENSOR, t: { name: 'k', dims: [1], dataType: DT.BFLOAT16, int32Data: [0] } }],
      }),
    );
    expectOnnxError(() => loadOnnx(bytes), 'attribute "value" of node "c": tensor "k" has unsupported type BFLOAT16');
  });

  it('rejects sparse initializers', () => {
    const m = oneNodeModel({ opType: 'Identity', input: ['x'], output: ['y'] });
    (m.graph as Record<string, unknown>).sparseInitializer = [
      { values: { name: 'sp', dims: [1], dataType: DT.FLOAT, floatData: [1] }, indices: { dims: [1], dataType: DT.INT64, int64Data: [0] }, dims: [4] },
    ];
    expectOnnxError(() => loadOnnx(encodeModel(m)), 'sparse initializer "sp" is not supported');
  });
});

describe('loadOnnxTensor', () => {
  it('reads a serialized TensorProto from bytes or a file', () => {
    const bytes = encodeTensor({ name: 'input_0', dims: [1, 2], dataType: DT.FLOAT, rawData: le([0.5, -3], 4, (dv, o, v: number) => dv.setFloat32(o, v, true)) });
    expect(loadOnnxTensor(bytes)).toEqual({ name: 'input_0', dataType: 'FLOAT', dims: [1, 2], data: Float64Array.from([0.5, -3]) });
    const path = join(tmp, 'input_0.pb');
    writeFileSync(path, bytes);
    expect(loadOnnxTensor(path).dims).toEqual([1, 2]);
  });

  it('rejects corrupted tensor files', () => {
    expectOnnxError(() => loadOnnxTensor(new Uint8Array([0x0a, 0xff])), /^not an ONNX tensor: truncated or corrupted protobuf/);
    expectOnnxError(() => loadOnnxTensor(join(tmp, 'missing.pb')), /cannot read ONNX tensor ".*missing\.pb": no such file/);
  });
});

// ---------------------------------------------------------------------------------------------- bad files

describe('files that are not ONNX models', () => {
  it('rejects random bytes', () => {
    const next = lcg(20240611);
    for (let k = 0; k < 200; k++) {
      const n = 1 + (next() % 512);
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = next() >>> 24;
      expectOnnxError(() => loadOnnx(bytes), /^not an ONNX model: /);
    }
  });

  it('rejects empty files and truncated models', () => {
    expectOnnxError(() => loadOnnx(new Uint8Array(0)), 'not an ONNX model: empty file');
    // Protobuf has no end marker: a cut between two top-level fields is a valid, shorter message. Every cut
    // either fails with an OnnxError or, when it falls between the trailing opset_import entries (written after
    // the graph), keeps the whole graph.
    const full = loadOnnx(mlpBytes);
    let parsed = 0;
    for (let cut = 1; cut < mlpBytes.length; cut++) {
      let m;
      try {
        m = loadOnnx(mlpBytes.subarray(0, cut));
      } catch (e) {
        expect(e).toBeInstanceOf(OnnxError);
        expect((e as Error).message).toMatch(/^not an ONNX model: /);
        continue;
      }
      parsed++;
      expect(m.graph).toEqual(full.graph);
      expect(m.opsetImports).toEqual(full.opsetImports.slice(0, 1));
    }
    expect(parsed).toBe(1);
    expectOnnxError(() => loadOnnx(mlpBytes.subarray(0, mlpBytes.length - 5)), 'not an ONNX model: truncated or corrupted protobuf (');
  });

  it('rejects well-formed protobuf that is not a model', () => {
    const tensor = encodeTensor({ name: 't', dims: [2], dataType: DT.FLOAT, floatData: [1, 2] });
    expectOnnxError(() => loadOnnx(tensor), /^not an ONNX model: /);
    const noGraph = encodeModel({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }] });
    expectOnnxError(() => loadOnnx(noGraph), 'not an ONNX model: no graph');
    const noOpset = oneNodeModel({ opType: 'Relu', input: ['x'], output: ['y'] });
    delete noOpset.opsetImport;
    expectOnnxError(() => loadOnnx(encodeModel(noOpset)), 'not an ONNX model: no opset_import');
    const noIr = oneNodeModel({ opType: 'Relu', input: ['x'], output: ['y'] });
    delete noIr.irVersion;
    expectOnnxError(() => loadOnnx(encodeModel(noIr)), 'not an ONNX model: no ir_version');
    expectOnnxError(() => loadOnnx(encodeModel(oneNodeModel({ input: ['x'], output: ['y'] }))), 'not an ONNX model: node #0 has no op_type');
  });

  it('names the file in errors, and reports files it cannot read', () => {
    const path = join(tmp, 'junk.onnx');
    writeFileSync(path, Buffer.from('this is not protobuf at all, just text\n'));
    expectOnnxError(() => loadOnnx(path), `${path}: not an ONNX model: `);
    expectOnnxError(() => loadOnnx(join(tmp, 'nope.onnx')), `cannot read ONNX model "${join(tmp, 'nope.onnx')}": no such file`);
    expectOnnxError(() => loadOnnx(tmp), 'is a directory');
  });

  it('keeps messages on one line whatever names a corrupted file holds', () => {
    const e = expectOnnxError(() => loadOnnx(modelWithInitializer({ name: 'a\nb', dims: [1], dataType: DT.BFLOAT16, int32Data: [0] })));
    expect(e.message).toBe('tensor "a\\nb" has unsupported type BFLOAT16');
  });
});

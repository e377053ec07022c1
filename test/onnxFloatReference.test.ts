/**
 * The float64 ONNX reference (src/models/onnx/floatReference.ts) on hand-computed cases, for the semantics the
 * official backend tests leave out: odd SAME_UPPER/SAME_LOWER padding, Softmax before opset 13, 1-D MatMul,
 * Gemm's C broadcasting, Reshape's allowzero, legacy Add broadcasting, and the input/shape errors.
 */
import { describe, expect, it } from 'vitest';
import { broadcastShapes, runOnnxFloat, type FloatInput, type FloatTensor } from '../src/models/onnx/floatReference.js';
import { OnnxError, type OnnxAttribute, type OnnxDim, type OnnxModel, type OnnxTensor, type OnnxValueInfo } from '../src/models/onnx/onnxModel.js';

// ---------------------------------------------------------------------------------------------- builders

type AttrValue = number | string | number[];

interface NodeSpec {
  op: string;
  inputs: string[];
  outputs?: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, AttrValue | OnnxAttribute>;
}

function attr(v: AttrValue | OnnxAttribute): OnnxAttribute {
  if (typeof v === 'object' && !Array.isArray(v)) return v;
  if (typeof v === 'string') return { type: 'string', value: v };
  if (Array.isArray(v)) return { type: 'ints', value: v };
  return Number.isInteger(v) ? { type: 'int', value: v } : { type: 'float', value: v };
}

/** A FLOAT attribute (plain integers become INT attributes). */
function f(value: number): OnnxAttribute {
  return { type: 'float', value };
}

function info(name: string, shape: OnnxDim[] | null = null): OnnxValueInfo {
  return { name, kind: 'tensor', elemType: 'FLOAT', shape };
}

function init(name: string, dims: number[], values: number[]): OnnxTensor {
  return { name, dataType: 'FLOAT', dims, data: Float64Array.from(values) };
}

function model(
  nodes: NodeSpec[],
  opts: { inputs: (string | OnnxValueInfo)[]; outputs?: (string | OnnxValueInfo)[]; initializers?: OnnxTensor[]; opset?: number },
): OnnxModel {
  const last = nodes[nodes.length - 1];
  return {
    irVersion: 8,
    producerName: 'test',
    producerVersion: '',
    opsetImports: [{ domain: '', version: opts.opset ?? 13 }],
    graph: {
      name: 'g',
      inputs: opts.inputs.map((i) => (typeof i === 'string' ? info(i) : i)),
      outputs: (opts.outputs ?? last.outputs ?? ['y']).map((o) => (typeof o === 'string' ? info(o) : o)),
      valueInfo: [],
      initializers: new Map((opts.initializers ?? []).map((t) => [t.name, t])),
      nodes: nodes.map((n) => ({
        name: n.name ?? '',
        opType: n.op,
        domain: n.domain ?? '',
        inputs: n.inputs,
        outputs: n.outputs ?? ['y'],
        attributes: Object.fromEntries(Object.entries(n.attrs ?? {}).map(([k, v]) => [k, attr(v)])),
      })),
    },
  };
}

function t(dims: number[], values: number[]): FloatInput {
  return { dims, data: Float64Array.from(values) };
}

/** Runs a one-node model whose inputs are named a, b, c... and returns its output y. */
function run1(op: string, inputs: FloatInput[], attrs: NodeSpec['attrs'] = {}, opset = 13, extra: Partial<NodeSpec> = {}): FloatTensor {
  const names = inputs.map((_, i) => String.fromCharCode(97 + i));
  const m = model([{ op, inputs: names, attrs, ...extra }], { inputs: names, opset });
  const ins: Record<string, FloatInput> = {};
  names.forEach((n, i) => (ins[n] = inputs[i]));
  return runOnnxFloat(m, ins).y;
}

function values(x: FloatTensor): number[] {
  return Array.from(x.data);
}

function expectOnnxError(fn: () => unknown, ...parts: string[]): string {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(OnnxError);
  const msg = (err as Error).message;
  expect(msg).not.toContain('\n');
  for (const p of parts) expect(msg).toContain(p);
  return msg;
}

function range(n: number, f: (i: number) => number = (i) => i): number[] {
  return Array.from({ length: n }, (_, i) => f(i));
}

// ---------------------------------------------------------------------------------------------- operators

describe('Gemm', () => {
  const A = t([2, 3], [1, 2, 3, 4, 5, 6]);
  const B = t([3, 2], [1, 0, 0, 1, 1, 1]); // A·B = [[4, 5], [10, 11]]

  it('computes alpha·A·B + beta·C, broadcasting C from a scalar, [N], [M, 1] or [M, N]', () => {
    expect(values(run1('Gemm', [A, B]))).toEqual([4, 5, 10, 11]);
    expect(values(run1('Gemm', [A, B, t([], [1])]))).toEqual([5, 6, 11, 12]);
    expect(values(run1('Gemm', [A, B, t([2], [1, 2])]))).toEqual([5, 7, 11, 13]);
    expect(values(run1('Gemm', [A, B, t([2, 1], [1, 2])]))).toEqual([5, 6, 12, 13]);
    expect(values(run1('Gemm', [A, B, t([2, 2], [1, 2, 3, 4])], { alpha: 0.5, beta: f(2) }))).toEqual([4, 6.5, 11, 13.5]);
  });

  it('transposes A and B', () => {
    const At = t([3, 2], [1, 4, 2, 5, 3, 6]);
    const Bt = t([2, 3], [1, 0, 1, 0, 1, 1]);
    expect(values(run1('Gemm', [At, Bt], { transA: 1, transB: 1 }))).toEqual([4, 5, 10, 11]);
  });

  it('rejects a C that does not broadcast to [M, N] and mismatched inner dims', () => {
    expectOnnxError(() => run1('Gemm', [A, B, t([3], [1, 2, 3])]), "node #0 (Gemm, opset 13): C's shape [3] does not broadcast to [2, 2]");
    expectOnnxError(() => run1('Gemm', [A, A]), 'inner dimensions differ: A is 2×3, B is 2×3');
  });
});

describe('MatMul', () => {
  it('follows numpy for 1-D operands', () => {
    const v = t([2], [1, 2]);
    const M = t([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(run1('MatMul', [v, M])).toEqual({ dims: [3], data: Float64Array.from([9, 12, 15]) });
    expect(run1('MatMul', [M, t([3], [1, 0, -1])])).toEqual({ dims: [2], data: Float64Array.from([-2, -2]) });
    expect(run1('MatMul', [v, t([2], [3, 4])])).toEqual({ dims: [], data: Float64Array.from([11]) });
  });

  it('broadcasts batch dimensions', () => {
    const a = range(2 * 1 * 2 * 3, (i) => i - 5); // [2, 1, 2, 3]
    const b = range(3 * 3 * 2, (i) => (i % 7) - 2); // [3, 3, 2]
    const y = run1('MatMul', [t([2, 1, 2, 3], a), t([3, 3, 2], b)]);
    expect(y.dims).toEqual([2, 3, 2, 2]);
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        for (let r = 0; r < 2; r++)
          for (let c = 0; c < 2; c++) {
            let s = 0;
            for (let k = 0; k < 3; k++) s += a[i * 6 + r * 3 + k] * b[j * 6 + k * 2 + c];
            expect(y.data[((i * 3 + j) * 2 + r) * 2 + c]).toBe(s);
          }
    expectOnnxError(() => run1('MatMul', [t([2, 2, 3], range(12)), t([3, 3, 2], range(18))]), 'batch dimensions of A [2, 2, 3] and B [3, 3, 2] do not broadcast');
  });
});

describe('Add', () => {
  it('broadcasts numpy-style (opset ≥ 7)', () => {
    const y = run1('Add', [t([2, 1], [10, 20]), t([3], [1, 2, 3])]);
    expect(y).toEqual({ dims: [2, 3], data: Float64Array.from([11, 12, 13, 21, 22, 23]) });
    expect(broadcastShapes([2, 3, 1], [4])).toEqual([2, 3, 4]);
    expect(broadcastShapes([2, 3], [4])).toBeNull();
    expectOnnxError(() => run1('Add', [t([2, 3], range(6)), t([2], [1, 2])]), 'shapes [2, 3] and [2] do not broadcast');
  });

  it('uses the broadcast/axis attributes before opset 7', () => {
    const a = t([2, 3], range(6));
    // B aligned with A's axis 0: adds 100 to row 0 and 200 to row 1.
    expect(values(run1('Add', [a, t([2], [100, 200])], { broadcast: 1, axis: 0 }, 6))).toEqual([100, 101, 102, 203, 204, 205]);
    // Default: trailing alignment.
    expect(values(run1('Add', [a, t([3], [1, 2, 3])], { broadcast: 1 }, 6))).toEqual([1, 3, 5, 4, 6, 8]);
    expectOnnxError(() => run1('Add', [a, t([3], [1, 2, 3])], {}, 6), 'shapes [2, 3] and [3] differ and broadcast=0 (opset 6)');
  });
});

describe('elementwise operators', () => {
  it('Relu, Sigmoid and Identity', () => {
    expect(values(run1('Relu', [t([4], [-2, -0.5, 0, 3])]))).toEqual([0, 0, 0, 3]);
    const s = values(run1('Sigmoid', [t([4], [0, 2, -1000, 1000])]));
    expect(s[0]).toBe(0.5);
    expect(s[1]).toBeCloseTo(1 / (1 + Math.exp(-2)), 15);
    expect(s.slice(2)).toEqual([0, 1]);
    expect(run1('Identity', [t([1, 2], [7, 8])])).toEqual({ dims: [1, 2], data: Float64Array.from([7, 8]) });
  });
});

describe('Flatten', () => {
  const x = t([2, 3, 4], range(24));
  it('splits the dims at axis (default 1, negative counts from the end, 0 and rank allowed)', () => {
    expect(run1('Flatten', [x]).dims).toEqual([2, 12]);
    expect(run1('Flatten', [x], { axis: 0 }).dims).toEqual([1, 24]);
    expect(run1('Flatten', [x], { axis: 3 }).dims).toEqual([24, 1]);
    expect(run1('Flatten', [x], { axis: -1 }).dims).toEqual([6, 4]);
    expect(values(run1('Flatten', [x], { axis: 2 }))).toEqual(range(24));
    expectOnnxError(() => run1('Flatten', [x], { axis: 4 }), 'axis 4 is out of range for a rank-3 input (allowed -3..3)');
  });
});

describe('Reshape', () => {
  const x = t([2, 3, 4], range(24));
  const shape = (s: number[]): FloatInput => t([s.length], s);

  it('copies dims for 0 and infers -1', () => {
    expect(run1('Reshape', [x, shape([0, -1])]).dims).toEqual([2, 12]);
    expect(run1('Reshape', [x, shape([-1, 0, 2])]).dims).toEqual([4, 3, 2]);
    expect(values(run1('Reshape', [x, shape([4, 6])]))).toEqual(range(24));
  });

  it('takes 0 literally with allowzero=1 (opset ≥ 14)', () => {
    const empty = t([0, 3], []);
    expect(run1('Reshape', [empty, shape([3, 0])], { allowzero: 1 }, 14).dims).toEqual([3, 0]);
    expectOnnxError(() => run1('Reshape', [x, shape([0, -1])], { allowzero: 1 }, 14), 'has both 0 and -1 with allowzero=1');
    // Before opset 14 the attribute does not exist: 0 copies.
    expect(run1('Reshape', [x, shape([0, 12])], { allowzero: 1 }, 13).dims).toEqual([2, 12]);
  });

  it('reads the shape attribute before opset 5', () => {
    expect(run1('Reshape', [x], { shape: [6, -1] }, 1).dims).toEqual([6, 4]);
  });

  it('rejects shapes it cannot satisfy', () => {
    expectOnnxError(() => run1('Reshape', [x, shape([-1, -1])]), 'shape [-1, -1] has more than one -1');
    expectOnnxError(() => run1('Reshape', [x, shape([5, -1])]), 'cannot infer the -1 in shape [5, -1]: the input [2, 3, 4] has 24 elements, the other dims make 5');
    expectOnnxError(() => run1('Reshape', [x, shape([5, 5])]), 'cannot reshape [2, 3, 4] (24 elements) to [5, 5] (25 elements)');
    expectOnnxError(() => run1('Reshape', [x, shape([0, 0, 0, 0])]), 'copies dim 3 (0) but the input [2, 3, 4] has rank 3');
  });
});

describe('Softmax', () => {
  // x[0] = [[0, ln 2], [0, 0]], x[1] = [[1, 1], [1, 1]]
  const x = t([2, 2, 2], [0, Math.log(2), 0, 0, 1, 1, 1, 1]);

  it('normalises along one axis from opset 13', () => {
    const y = values(run1('Softmax', [x], { axis: 1 }, 13));
    const expected = [0.5, 2 / 3, 0.5, 1 / 3, 0.5, 0.5, 0.5, 0.5];
    y.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 15));
    // default axis -1
    const d = values(run1('Softmax', [x], {}, 13));
    [1 / 3, 2 / 3, 0.5, 0.5].forEach((v, i) => expect(d[i]).toBeCloseTo(v, 15));
  });

  it('coerces to 2-D at axis before opset 13 (default axis 1)', () => {
    for (const opset of [1, 11]) {
      const y = values(run1('Softmax', [x], { axis: 1 }, opset));
      const expected = [0.2, 0.4, 0.2, 0.2, 0.25, 0.25, 0.25, 0.25];
      y.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 15));
      expect(values(run1('Softmax', [x], {}, opset))).toEqual(y);
    }
    expectOnnxError(() => run1('Softmax', [x], { axis: 3 }, 11), 'axis 3 is out of range for a rank-3 input (allowed -3..2)');
    const all = values(run1('Softmax', [x], { axis: 0 }, 11));
    expect(all.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 15);
  });

  it('is stable for large inputs', () => {
    expect(values(run1('Softmax', [t([3], [1000, 1000, -Infinity])]))).toEqual([0.5, 0.5, 0]);
  });
});

describe('BatchNormalization', () => {
  const x = t([1, 2, 2], [1, 2, 3, 4]);
  const p = [t([2], [2, 1]), t([2], [0.5, 0]), t([2], [1, 3]), t([2], [3, 0])];

  it('normalises each channel with the running statistics', () => {
    const y = values(run1('BatchNormalization', [x, ...p], { epsilon: f(1) }, 15));
    const k0 = 2 / Math.sqrt(4);
    const k1 = 1 / Math.sqrt(1);
    expect(y).toEqual([(1 - 1) * k0 + 0.5, (2 - 1) * k0 + 0.5, (3 - 3) * k1, (4 - 3) * k1]);
    // default epsilon 1e-5; opset 6 needs is_test=1
    expect(values(run1('BatchNormalization', [x, ...p], { is_test: 1 }, 6))[1]).toBeCloseTo(2 / Math.sqrt(3 + 1e-5) + 0.5, 14);
  });

  it('rejects training mode in every opset', () => {
    expectOnnxError(() => run1('BatchNormalization', [x, ...p], { training_mode: 1 }, 15), 'training_mode=1 is not supported');
    expectOnnxError(() => run1('BatchNormalization', [x, ...p], {}, 6), 'is_test=0 (training mode, the default in opset 6) is not supported');
    expectOnnxError(
      () => run1('BatchNormalization', [x, ...p], {}, 9, { outputs: ['y', 'mean', 'var'] }),
      'training-mode outputs (mean, var...) are not supported (opset 9)',
    );
    expectOnnxError(() => run1('BatchNormalization', [x, ...p], { is_test: 1, spatial: 0 }, 7), 'spatial=0 is not supported');
  });
});

describe('Conv', () => {
  const x1 = t([1, 1, 4], [1, 2, 3, 4]);
  const w1 = t([1, 1, 2], [1, 1]);

  it('puts the odd padding at the end for SAME_UPPER and at the start for SAME_LOWER', () => {
    expect(run1('Conv', [x1, w1], { auto_pad: 'SAME_UPPER' })).toEqual({ dims: [1, 1, 4], data: Float64Array.from([3, 5, 7, 4]) });
    expect(run1('Conv', [x1, w1], { auto_pad: 'SAME_LOWER' })).toEqual({ dims: [1, 1, 4], data: Float64Array.from([1, 3, 5, 7]) });
    expect(run1('Conv', [x1, w1], { auto_pad: 'VALID' })).toEqual({ dims: [1, 1, 3], data: Float64Array.from([3, 5, 7]) });
    expect(run1('Conv', [x1, w1], { pads: [2, 1] })).toEqual({ dims: [1, 1, 6], data: Float64Array.from([0, 1, 3, 5, 7, 4]) });
  });

  it('SAME with strides: output ceil(in / stride)', () => {
    const x = t([1, 1, 5], [1, 2, 3, 4, 5]);
    const w = t([1, 1, 2], [1, 10]);
    // total padding (3 − 1)·2 + 2 − 5 = 1
    expect(values(run1('Conv', [x, w], { auto_pad: 'SAME_UPPER', strides: [2] }))).toEqual([21, 43, 5]);
    expect(values(run1('Conv', [x, w], { auto_pad: 'SAME_LOWER', strides: [2] }))).toEqual([10, 32, 54]);
  });

  it('applies dilations, strides, groups and bias like a direct 2-D convolution', () => {
    const N = 2;
    const C = 4;
    const M = 6;
    const group = 2;
    const H = 7;
    const W = 6;
    const KH = 3;
    const KW = 2;
    const [sh, sw, dh, dw] = [2, 1, 2, 2];
    const pads = [1, 0, 2, 1]; // top, left, bottom, right
    const xv = range(N * C * H * W, (i) => ((i * 37) % 11) - 5);
    const wv = range(M * (C / group) * KH * KW, (i) => ((i * 13) % 7) - 3);
    const bv = range(M, (i) => i - 2);
    const y = run1('Conv', [t([N, C, H, W], xv), t([M, C / group, KH, KW], wv), t([M], bv)], {
      group,
      strides: [sh, sw],
      dilations: [dh, dw],
      pads,
      kernel_shape: [KH, KW],
    });
    const OH = Math.floor((H + pads[0] + pads[2] - (dh * (KH - 1) + 1)) / sh) + 1;
    const OW = Math.floor((W + pads[1] + pads[3] - (dw * (KW - 1) + 1)) / sw) + 1;
    expect(y.dims).toEqual([N, M, OH, OW]);
    const Cg = C / group;
    for (let n = 0; n < N; n++)
      for (let m = 0; m < M; m++)
        for (let oh = 0; oh < OH; oh++)
          for (let ow = 0; ow < OW; ow++) {
            let s = bv[m];
            const g = Math.floor(m / (M / group));
            for (let c = 0; c < Cg; c++)
              for (let kh = 0; kh < KH; kh++)
                for (let kw = 0; kw < KW; kw++) {
                  const ih = oh * sh - pads[0] + kh * dh;
                  const iw = ow * sw - pads[1] + kw * dw;
                  if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                  s += xv[((n * C + g * Cg + c) * H + ih) * W + iw] * wv[((m * Cg + c) * KH + kh) * KW + kw];
                }
            expect(y.data[((n * M + m) * OH + oh) * OW + ow]).toBe(s);
          }
  });

  it('rejects inconsistent shapes and attributes', () => {
    expectOnnxError(() => run1('Conv', [t([1, 3, 4], range(12)), t([2, 2, 2], range(8))]), 'W has shape [2, 2, 2]: 2 input channels per group, but X has 3 channels in 1 group(s)');
    expectOnnxError(() => run1('Conv', [x1, w1], { kernel_shape: [3] }), "kernel_shape [3] does not match W's spatial dims [2]");
    expectOnnxError(() => run1('Conv', [x1, w1], { auto_pad: 'SAME' }), 'auto_pad "SAME" is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID');
    expectOnnxError(() => run1('Conv', [x1, t([1, 1, 9], range(9))]), 'is larger than the padded input');
    expectOnnxError(() => run1('Conv', [x1, w1], { strides: { type: 'floats', value: [2.5] } }), 'attribute "strides" must be of type INTS, not FLOATS');
  });
});

// ---------------------------------------------------------------------------------------------- graph

describe('runOnnxFloat', () => {
  const mlp = model(
    [
      { name: 'fc', op: 'Gemm', inputs: ['x', 'W', 'b'], outputs: ['h'], attrs: { transB: 1 } },
      { name: 'act', op: 'Relu', inputs: ['h'], outputs: ['y'] },
    ],
    {
      inputs: [info('x', ['N', 2])],
      outputs: [info('y', ['N', 3])],
      initializers: [init('W', [3, 2], [1, 0, 0, 1, 1, -1]), init('b', [3], [0, 0, -1])],
    },
  );

  it('binds symbolic dims from the inputs and returns outputs and requested intermediate values', () => {
    const out = runOnnxFloat(mlp, { x: t([2, 2], [1, 2, -3, 1]) });
    expect(Object.keys(out)).toEqual(['y']);
    expect(out.y).toEqual({ dims: [2, 3], data: Float64Array.from([1, 2, 0, 0, 1, 0]) });
    const both = runOnnxFloat(mlp, { x: t([1, 2], [1, 2]) }, { outputs: ['h', 'y', 'W'] });
    expect(values(both.h)).toEqual([1, 2, -2]);
    expect(both.W.dims).toEqual([3, 2]);
    // plain number arrays are accepted; dims may be left out for fully static inputs
    const stat = model([{ op: 'Relu', inputs: ['x'] }], { inputs: [info('x', [2])] });
    expect(values(runOnnxFloat(stat, { x: { data: [-1, 1] } }).y)).toEqual([0, 1]);
  });

  it('rejects unsupported operators before running anything, naming op, node and opset', () => {
    const m = model([{ name: 'lstm_1', op: 'LSTM', inputs: ['x'] }], { inputs: ['x'] });
    expect(expectOnnxError(() => runOnnxFloat(m, { x: t([1], [0]) }))).toBe('unsupported operator "LSTM" (node "lstm_1", opset 13)');
    const unnamed = model([{ op: 'Relu', inputs: ['x'], outputs: ['r'] }, { op: 'Tanh', inputs: ['r'] }], { inputs: ['x'], opset: 11 });
    expectOnnxError(() => runOnnxFloat(unnamed, { x: t([1], [0]) }), 'unsupported operator "Tanh" (node #1, opset 11)');
    const custom = model([{ name: 'f', op: 'Gemm', domain: 'com.microsoft', inputs: ['x'] }], { inputs: ['x'] });
    expectOnnxError(() => runOnnxFloat(custom, { x: t([1], [0]) }), 'unsupported operator "Gemm" from domain "com.microsoft" (node "f", opset not imported)');
  });

  it('explains missing, unknown and ill-shaped inputs', () => {
    expectOnnxError(() => runOnnxFloat(mlp, {}), 'graph input "x" is not given (declared shape [N, 2])');
    expectOnnxError(() => runOnnxFloat(mlp, { x: t([1, 2], [1, 2]), z: t([1], [0]) }), '"z" is not an input of the graph; its inputs are "x"');
    expectOnnxError(() => runOnnxFloat(mlp, { x: t([1, 2], [1, 2]), W: t([3, 2], range(6)) }), '"W" is not an input of the graph (it is an initializer)');
    expectOnnxError(() => runOnnxFloat(mlp, { x: t([1, 3], [1, 2, 3]) }), 'graph input "x" has shape [1, 3], but the model declares [N, 2]');
    expectOnnxError(() => runOnnxFloat(mlp, { x: t([2, 2], [1, 2]) }), 'graph input "x" has 2 values, but its dims [2, 2] need 4');
    expectOnnxError(() => runOnnxFloat(mlp, { x: { data: [1, 2] } }), 'graph input "x" has dynamic shape [N, 2], which cannot be resolved: pass its dims');
  });

  it('requires a symbolic dim to have one size across inputs', () => {
    const m = model([{ op: 'Add', inputs: ['a', 'b'] }], { inputs: [info('a', ['N', 2]), info('b', ['N', 2])], outputs: [info('y', ['N', 2])] });
    expect(runOnnxFloat(m, { a: t([1, 2], [1, 2]), b: t([1, 2], [3, 4]) }).y.dims).toEqual([1, 2]);
    expectOnnxError(() => runOnnxFloat(m, { a: t([1, 2], [1, 2]), b: t([2, 2], range(4)) }), 'graph input "b" has shape [2, 2] with N = 2, but N = 1 elsewhere');
  });

  it('checks outputs against their declared shapes and reports dangling inputs', () => {
    const wrong = model([{ op: 'Flatten', inputs: ['x'] }], { inputs: [info('x', [2, 3, 4])], outputs: [info('y', [2, 3, 4])] });
    expectOnnxError(() => runOnnxFloat(wrong, { x: t([2, 3, 4], range(24)) }), 'output "y" has shape [2, 12], but the model declares [2, 3, 4]');
    const dangling = model([{ name: 'r', op: 'Relu', inputs: ['q'] }], { inputs: ['x'] });
    expectOnnxError(() => runOnnxFloat(dangling, { x: t([1], [0]) }), 'node "r" (Relu): input 0 "q" is not a graph input, an initializer or the output of an earlier node');
    expectOnnxError(() => runOnnxFloat(mlp, { x: t([1, 2], [1, 2]) }, { outputs: ['nope'] }), 'value "nope" is not computed by the graph');
  });

  it('returns outputs that share no buffer with the inputs or the model', () => {
    const m = model([{ op: 'Reshape', inputs: ['x', 's'] }], { inputs: ['x'], initializers: [init('s', [1], [-1])] });
    const x = Float64Array.from([1, 2, 3]);
    const out = runOnnxFloat(m, { x: { dims: [3], data: x } }, { outputs: ['y', 's'] });
    out.y.data[0] = 99;
    out.s.data[0] = 99;
    expect(Array.from(x)).toEqual([1, 2, 3]);
    expect(Array.from(m.graph.initializers.get('s')!.data)).toEqual([-1]);
  });

  it('refuses outputs too large to allocate instead of crashing', () => {
    const m = model([{ op: 'Add', inputs: ['a', 'b'] }], { inputs: ['a', 'b'] });
    expectOnnxError(() => runOnnxFloat(m, { a: t([100000, 1], new Array(100000).fill(0)), b: t([1, 100000], new Array(100000).fill(0)) }), "more than the reference's limit");
  });
});

/**
 * Conv and BatchNormalization on the chip (src/models/onnx/convert.ts) and the sequential writer
 * (writeOnnxSequential in src/models/onnx/onnxWriter.ts):
 * - conv unrolling: small conv nets with strides, asymmetric pads, dilations and groups give the float
 *   reference's output on the emulator (16-bit weights), through sparse projections;
 * - BatchNormalization folding into the preceding Conv and Gemm, and the errors for BN elsewhere;
 * - the does-not-fit error for a conv layer too large for the chip;
 * - rate-coded binary spikes on a hand-checked model;
 * - the 8×8 digits conv net Conv(1→4, 3×3) → BN → Relu → Flatten → Gemm(→10) → Softmax, built here (fixed
 *   random conv features, BN statistics measured on the training split with non-trivial scale/shift, the Gemm
 *   trained with backprop.ts), written with writeOnnxSequential, checked against ONNX Runtime (1e-5), and
 *   imported: graded 8-bit chip accuracy within 1 point of the float model; binary spikes reported.
 * Needs the dev dependency onnxruntime-node (fails, does not skip, without it).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createLayers, trainStep } from '../src/models/twin/backprop.js';
import { writeOnnxSequential, type SequentialOp } from '../src/models/onnx/onnxWriter.js';
import { loadOnnx, OnnxError, type OnnxModel } from '../src/models/onnx/onnxModel.js';
import { runOnnxFloat } from '../src/models/onnx/floatReference.js';
import { argmax, convertOnnxToChip, convSynapses, loadConvertedChip, runConvertedChip, type ConvertOptions } from '../src/models/onnx/convert.js';
import { ProgramFitError } from '../src/emulator/errors.js';
import { ProbeVariable } from '../src/emulator/program.js';
import { digitsSplit, oneHot } from '../src/models/data/digits.js';
import { SeededRandom } from '../src/models/seededRandom.js';

interface OrtTensor {
  data: ArrayLike<number>;
  dims: readonly number[];
}
interface Ort {
  InferenceSession: { create(model: Uint8Array): Promise<{ run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }> };
  Tensor: new (type: string, data: Float64Array | Float32Array, dims: number[]) => OrtTensor;
}

async function loadOrt(): Promise<Ort> {
  const pkg = 'onnxruntime-node';
  try {
    const m = (await import(pkg)) as Ort & { default?: Ort };
    return m.InferenceSession ? m : m.default!;
  } catch (e) {
    throw new Error(
      `onnxruntime-node is not installed or does not load (${String((e as Error).message).split('\n')[0]}): add "onnxruntime-node": "^1.30.0" to devDependencies and run npm install`,
    );
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k] - b[k]));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k]));
  return m;
}

function uniform(rng: SeededRandom, n: number, lo: number, hi: number): Float64Array {
  return Float64Array.from({ length: n }, () => rng.uniform(lo, hi));
}

function floatOut(model: OnnxModel, dims: number[], x: ArrayLike<number>): Float64Array {
  return runOnnxFloat(model, { x: { dims, data: Float64Array.from(x) } }).y.data;
}

function expectOnnxError(f: () => unknown, re: RegExp, type: new (...a: never[]) => Error = OnnxError): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(type);
  expect((err as Error).message).toMatch(re);
  expect((err as Error).message).not.toContain('\n');
}

describe('conv layers on the chip', () => {
  // Geometries: [name, input [C, H, W], conv op]; each followed by Relu → Flatten → Gemm(→3).
  const rng = new SeededRandom(21);
  const cases: [string, [number, number, number], Extract<SequentialOp, { op: 'conv' }>, 'sparse' | 'dense'][] = [
    ['3×3, pads 1', [1, 6, 6], { op: 'conv', W: { dims: [3, 1, 3, 3], data: uniform(rng, 27, -1, 1) }, b: uniform(rng, 3, -0.3, 0.3), pads: [1, 1, 1, 1] }, 'sparse'],
    ['stride 2, asymmetric pads', [2, 7, 6], { op: 'conv', W: { dims: [4, 2, 3, 2], data: uniform(rng, 48, -1, 1) }, b: uniform(rng, 4, -0.3, 0.3), pads: [1, 0, 2, 1], strides: [2, 2] }, 'sparse'],
    ['dilation [2, 1], stride [1, 2], no bias', [2, 7, 7], { op: 'conv', W: { dims: [3, 2, 2, 3], data: uniform(rng, 36, -1, 1) }, pads: [0, 1, 0, 1], strides: [1, 2], dilations: [2, 1] }, 'sparse'],
    ['group 2', [4, 5, 5], { op: 'conv', W: { dims: [6, 2, 3, 3], data: uniform(rng, 108, -1, 1) }, b: uniform(rng, 6, -0.3, 0.3), pads: [1, 1, 1, 1], group: 2 }, 'sparse'],
    // Every output sees the whole input: a dense matrix takes less synapse memory than the sparse list.
    ['kernel covering the input', [2, 3, 3], { op: 'conv', W: { dims: [3, 2, 3, 3], data: uniform(rng, 54, -1, 1) }, b: uniform(rng, 3, -0.3, 0.3) }, 'dense'],
  ];
  for (const [what, [C, H, W], op, storage] of cases) {
    it(`${what}: the emulator gives the float output (16-bit weights, ${storage} projection)`, () => {
      const probe = loadOnnx(writeOnnxSequential(['N', C, H, W], [op, { op: 'flatten' }]));
      const nConv = runOnnxFloat(probe, { x: { dims: [1, C, H, W], data: new Float64Array(C * H * W) } }).y.data.length;
      const gemm: SequentialOp = { op: 'gemm', nIn: nConv, nOut: 3, W: uniform(rng, 3 * nConv, -0.5, 0.5), b: uniform(rng, 3, -0.2, 0.2) };
      const model = loadOnnx(writeOnnxSequential(['N', C, H, W], [op, { op: 'relu' }, { op: 'flatten' }, gemm]));
      const samples = Array.from({ length: 12 }, () => uniform(rng, C * H * W, 0, 1));
      const conv = convertOnnxToChip(model, { calibration: samples, percentile: 100, weightBits: 16 });
      expect(conv.layers.map((L) => [L.kind, L.activation, L.nIn, L.nOut])).toEqual([
        ['conv', 'relu', C * H * W, nConv],
        ['dense', 'linear', nConv, 3],
      ]);
      expect(conv.layers[0].projection).toBe(storage);
      expect(conv.ticksToOutput).toBe(3);
      const chip = loadConvertedChip(conv);
      // The hidden layer against the float reference's conv output, and the final output.
      for (const x of samples.slice(0, 6)) {
        const f = runOnnxFloat(model, { x: { dims: [1, C, H, W], data: x } }, { outputs: ['relu2', 'y'] });
        const y = runConvertedChip(conv, chip, x);
        const hidden = Array.from(chip.read('layer1', ProbeVariable.Rate), (r) => r / 65536 / conv.layers[0].scale);
        expect(maxAbsDiff(hidden, f.relu2.data)).toBeLessThan(2e-3 * Math.max(1, maxAbs(f.relu2.data)));
        expect(maxAbsDiff(y, f.y.data)).toBeLessThan(5e-3 * Math.max(1, maxAbs(f.y.data)));
      }
    });
  }

  it('convSynapses: padding positions have no synapse, every other tap has the kernel weight', () => {
    // 1 channel 3×3 input, 2×2 kernel, pads 1: output 4×4; corner outputs see 1 tap, edges 2, the middle 4.
    const conv = { C: 1, H: 3, W: 3, M: 1, kh: 2, kw: 2, OH: 4, OW: 4, sh: 1, sw: 1, dh: 1, dw: 1, ph: 1, pw: 1, group: 1 };
    const { pre, post, values } = convSynapses(conv, [1, 2, 3, 4], 0.5);
    const perPost = new Array<number>(16).fill(0);
    for (const j of post) perPost[j]++;
    expect(perPost).toEqual([1, 2, 2, 1, 2, 4, 4, 2, 2, 4, 4, 2, 1, 2, 2, 1]);
    // Output (0, 0) sees input (0, 0) through the kernel's bottom-right tap (4·0.5).
    const k = Array.from(post).indexOf(0);
    expect([pre[k], values[k]]).toEqual([0, 2]);
  });
});

describe('BatchNormalization folding', () => {
  const rng = new SeededRandom(33);
  const bn = (n: number): SequentialOp => ({ op: 'batchnorm', scale: uniform(rng, n, 0.5, 2), bias: uniform(rng, n, -0.5, 0.5), mean: uniform(rng, n, -0.3, 0.3), variance: uniform(rng, n, 0.2, 2), epsilon: 1e-3 });

  it('into a Conv and into a Gemm (Reshape between them): the chip gives the float output; the folded nodes are reported', () => {
    const convW = { dims: [3, 1, 3, 3], data: uniform(rng, 27, -1, 1) };
    const ops: SequentialOp[] = [
      { op: 'conv', W: convW, b: uniform(rng, 3, -0.2, 0.2), pads: [1, 1, 1, 1] },
      bn(3),
      { op: 'relu' },
      { op: 'reshape', shape: [0, -1] },
      { op: 'gemm', nIn: 48, nOut: 5, W: uniform(rng, 240, -0.3, 0.3), b: null },
      bn(5),
      { op: 'relu' },
      { op: 'gemm', nIn: 5, nOut: 2, W: uniform(rng, 10, -1, 1), b: uniform(rng, 2, -0.1, 0.1) },
    ];
    const model = loadOnnx(writeOnnxSequential(['N', 1, 4, 4], ops));
    const samples = Array.from({ length: 16 }, () => uniform(rng, 16, 0, 1));
    const conv = convertOnnxToChip(model, { calibration: samples, percentile: 100, weightBits: 16 });
    expect(conv.layers.map((L) => [L.kind, L.node, L.folded, L.activation])).toEqual([
      ['conv', 'conv1', ['batchnorm2'], 'relu'],
      ['dense', 'gemm5', ['batchnorm6'], 'relu'],
      ['dense', 'gemm8', [], 'linear'],
    ]);
    const chip = loadConvertedChip(conv);
    for (const x of samples.slice(0, 8)) {
      const f = floatOut(model, [1, 1, 4, 4], x);
      expect(maxAbsDiff(runConvertedChip(conv, chip, x), f)).toBeLessThan(5e-3 * Math.max(1, maxAbs(f)));
    }
  });

  it('BatchNormalization elsewhere is an OnnxError naming the node', () => {
    const conv: SequentialOp = { op: 'conv', W: { dims: [2, 1, 3, 3], data: uniform(rng, 18, -1, 1) } };
    const model = loadOnnx(writeOnnxSequential(['N', 1, 4, 4], [conv, { op: 'relu' }, bn(2), { op: 'flatten' }]));
    const cal = [uniform(rng, 16, 0, 1)];
    expectOnnxError(() => convertOnnxToChip(model, { calibration: cal }), /cannot convert BatchNormalization \(node "batchnorm3", opset 13\) to the chip: a BatchNormalization must directly follow a Conv, Gemm or MatMul/);
    const first = loadOnnx(writeOnnxSequential(['N', 1, 4, 4], [bn(1), conv, { op: 'flatten' }]));
    expectOnnxError(() => convertOnnxToChip(first, { calibration: cal }), /BatchNormalization \(node "batchnorm1", opset 13\) to the chip: a BatchNormalization must directly follow/);
  });
});

describe('shapes, fit and unsupported conv forms', () => {
  const rng = new SeededRandom(44);
  it('a conv layer too large for the chip is a ProgramFitError naming the layer', () => {
    // 8 channels of 96×96 = 73728 neurons > 65536 (16 cores × 4096).
    const model = loadOnnx(writeOnnxSequential([1, 1, 96, 96], [{ op: 'conv', W: { dims: [8, 1, 3, 3], data: uniform(rng, 72, -1, 1) }, pads: [1, 1, 1, 1] }, { op: 'relu' }]));
    expectOnnxError(() => convertOnnxToChip(model, { calibration: [uniform(rng, 96 * 96, 0, 1)] }), /layer1 \("conv1", conv\) has 73728 neurons, more than a population can have \(65536\): the network does not fit/, ProgramFitError);
  });

  it('a conv input with unresolved spatial dims is an OnnxError', () => {
    const model = loadOnnx(writeOnnxSequential(['N', 1, 'H', 'W'], [{ op: 'conv', W: { dims: [2, 1, 3, 3], data: uniform(rng, 18, -1, 1) } }, { op: 'relu' }]));
    expectOnnxError(() => convertOnnxToChip(model, { calibration: [uniform(rng, 64, 0, 1)] }), /graph input "x" has dynamic shape \[N, 1, H, W\], which cannot be resolved/);
  });

  it('binary spikes refuse sigmoid and linear hidden layers', () => {
    const ops: SequentialOp[] = [
      { op: 'gemm', nIn: 4, nOut: 3, W: uniform(rng, 12, -1, 1) },
      { op: 'sigmoid' },
      { op: 'gemm', nIn: 3, nOut: 2, W: uniform(rng, 6, -1, 1) },
    ];
    const model = loadOnnx(writeOnnxSequential(['N', 4], ops));
    expectOnnxError(() => convertOnnxToChip(model, { calibration: [uniform(rng, 4, 0, 1)], spikes: 'binary' }), /binary spikes cannot carry layer1 \("gemm1", sigmoid\)/);
  });
});

describe('rate-coded binary spikes', () => {
  // 2 → 3 (ReLU) → 2 (linear): z1 = W1·x + b1, y = W2·relu(z1) + b2.
  const ops: SequentialOp[] = [
    { op: 'gemm', nIn: 2, nOut: 3, W: [1, -1, 0.5, 0.5, -1, 2], b: [0.25, 0, -0.5] },
    { op: 'relu' },
    { op: 'gemm', nIn: 3, nOut: 2, W: [1, 1, 0, 0, -1, 1], b: [0, 0.5] },
  ];
  const model = loadOnnx(writeOnnxSequential(['N', 2], ops));
  const cal = [[0.5, 0.25], [0.1, 0.9], [0.8, 0.2], [1, 1]];

  it('integrate-and-fire with reset by subtraction: spike counts follow the rates; the output converges as 1/ticks', () => {
    const errors: number[] = [];
    for (const ticks of [16, 256]) {
      const conv = convertOnnxToChip(model, { calibration: cal, percentile: 100, weightBits: 16, spikes: 'binary', ticks });
      expect(conv.spikes).toBe('binary');
      expect(conv.ticksToOutput).toBe(3 + ticks);
      expect(conv.input.signed).toBe(false);
      const chip = loadConvertedChip(conv);
      let worst = 0;
      for (const x of [[0.5, 0.25], [0.3, 0.7], [0.9, 0.1]]) {
        const f = floatOut(model, [1, 2], x);
        worst = Math.max(worst, maxAbsDiff(runConvertedChip(conv, chip, x), f));
      }
      errors.push(worst);
      // The encoder spikes at rate x·c_in (c_in = 1 here): it integrates the input on ticks 1 … 2 + ticks (the
      // input is sent at tick 0, delay 1) and, resetting by subtraction, fires ⌊x·(2 + ticks)⌋ times, with x the
      // payload-rounded input (0.3 → 1229·2^-12).
      chip.startSpikeLog();
      runConvertedChip(conv, chip, [0.75, 0.3]);
      const log = chip.stopSpikeLog();
      const enc = log[conv.program.body.groups.findIndex((g) => g.name === 'encode')];
      const counts = [0, 0];
      for (let k = 0; k < enc.count; k++) counts[enc.neurons[k]]++;
      expect(counts[0]).toBe(Math.floor(0.75 * (2 + ticks)));
      expect(counts[1]).toBe(Math.floor((1229 / 4096) * (2 + ticks)));
    }
    // Each layer's spike count is within one spike of its integrated input: the error shrinks with the window.
    expect(errors[0]).toBeLessThan(0.35);
    expect(errors[1]).toBeLessThan(0.05);
    expect(errors[1]).toBeLessThan(errors[0] / 4);
  });

  it('negative inputs use a signed encoder ([W, −W] on 2n neurons)', () => {
    const conv = convertOnnxToChip(model, { calibration: [...cal, [-0.5, 0.5]], percentile: 100, weightBits: 16, spikes: 'binary', ticks: 256 });
    expect(conv.input.signed).toBe(true);
    expect(conv.program.body.groups.find((g) => g.name === 'encode')!.size).toBe(4);
    const chip = loadConvertedChip(conv);
    for (const x of [[-0.5, 0.5], [0.4, -0.2]]) {
      const f = floatOut(model, [1, 2], x);
      expect(maxAbsDiff(runConvertedChip(conv, chip, x), f)).toBeLessThan(0.05);
    }
  });
});

describe('digits conv net: Conv(1→4, 3×3) → BN → Relu → Flatten → Gemm(→10) → Softmax', () => {
  const M = 4;
  let model: OnnxModel;
  let bytesDouble: Uint8Array;
  let bytesFloat: Uint8Array;
  let floatAcc = 0;
  let floatLabels: number[] = [];
  const { train, test } = digitsSplit();
  const setup = { ms: 0 };

  beforeAll(() => {
    const t0 = performance.now();
    const rng = new SeededRandom(5);
    // Fixed random conv features (zero-mean 3×3 filters), a small bias.
    const convOp: SequentialOp = { op: 'conv', W: { dims: [M, 1, 3, 3], data: uniform(rng, M * 9, -1, 1) }, b: uniform(rng, M, -0.2, 0.2), pads: [1, 1, 1, 1] };
    const batchDims = (n: number) => [n, 1, 8, 8];
    const flatBatch = (xs: Float64Array[]) => {
      const d = new Float64Array(xs.length * 64);
      xs.forEach((x, n) => d.set(x, n * 64));
      return d;
    };
    // BN statistics: each channel's mean and variance over the training split (batch statistics, as a trained
    // BN's running averages would hold); scale and shift non-trivial.
    const convOnly = loadOnnx(writeOnnxSequential(['N', 1, 8, 8], [convOp]));
    const z = runOnnxFloat(convOnly, { x: { dims: batchDims(train.x.length), data: flatBatch(train.x) } }).y.data;
    const mean = new Float64Array(M);
    const variance = new Float64Array(M);
    for (let m = 0; m < M; m++) {
      let s = 0;
      let s2 = 0;
      let n = 0;
      for (let i = 0; i < train.x.length; i++) {
        for (let k = 0; k < 64; k++) {
          const v = z[(i * M + m) * 64 + k];
          s += v;
          s2 += v * v;
          n++;
        }
      }
      mean[m] = s / n;
      variance[m] = s2 / n - mean[m] ** 2;
    }
    const bnOp: SequentialOp = { op: 'batchnorm', scale: uniform(rng, M, 0.6, 1.4), bias: uniform(rng, M, -0.2, 0.4), mean, variance, epsilon: 1e-5 };
    const featureModel = loadOnnx(writeOnnxSequential(['N', 1, 8, 8], [convOp, bnOp, { op: 'relu' }, { op: 'flatten' }]));
    const features = (xs: Float64Array[]) => {
      const f = runOnnxFloat(featureModel, { x: { dims: batchDims(xs.length), data: flatBatch(xs) } }).y.data;
      return xs.map((_, n) => f.subarray(n * M * 64, (n + 1) * M * 64));
    };
    // The classifier: a linear 256 → 10 layer, squared error on one-hot targets, minibatch SGD (backprop.ts).
    const trainF = features(train.x);
    const layers = createLayers([M * 64, 10], 'linear', { seed: 3 });
    const order = train.x.map((_, i) => i);
    const targets = train.y.map((y) => oneHot(y));
    const shuffle = new SeededRandom(4);
    for (let e = 0; e < 20; e++) {
      shuffle.shuffle(order);
      for (let k = 0; k < order.length; k += 16) {
        const b = order.slice(k, k + 16);
        trainStep(layers, b.map((i) => trainF[i]), b.map((i) => targets[i]), 0.01);
      }
    }
    const ops: SequentialOp[] = [convOp, bnOp, { op: 'relu' }, { op: 'flatten' }, { op: 'gemm', nIn: M * 64, nOut: 10, W: layers[0].W, b: layers[0].b }, { op: 'softmax' }];
    bytesDouble = writeOnnxSequential(['N', 1, 8, 8], ops, { outputShape: ['N', 10] });
    bytesFloat = writeOnnxSequential(['N', 1, 8, 8], ops, { outputShape: ['N', 10], elemType: 'FLOAT' });
    model = loadOnnx(bytesDouble);
    const y = runOnnxFloat(model, { x: { dims: batchDims(test.x.length), data: flatBatch(test.x) } }).y.data;
    floatLabels = test.x.map((_, n) => argmax(y.subarray(n * 10, (n + 1) * 10)));
    floatAcc = floatLabels.filter((l, n) => l === test.y[n]).length / test.x.length;
    setup.ms = performance.now() - t0;
  }, 60_000);

  // ONNX Runtime's CPU provider has no float64 Conv kernel ("Could not find an implementation for Conv(11)"),
  // so the runtime check uses the FLOAT export; the DOUBLE export is the one imported below.
  for (const elemType of ['FLOAT'] as const) {
    it(`${elemType}: onnxruntime-node equals runOnnxFloat to 1e-5`, async () => {
      const ort = await loadOrt();
      const bytes = bytesFloat;
      const xs = test.x.slice(0, 25);
      const x = new Float64Array(xs.length * 64);
      xs.forEach((s, n) => x.set(s, n * 64));
      const session = await ort.InferenceSession.create(bytes);
      const feed = new ort.Tensor('float32', Float32Array.from(x), [xs.length, 1, 8, 8]);
      const got = (await session.run({ x: feed })).y;
      expect(Array.from(got.dims)).toEqual([xs.length, 10]);
      // The reference runs the float32-rounded weights in float64; inputs rounded the same way.
      const xr = Float64Array.from(Float32Array.from(x));
      const want = runOnnxFloat(loadOnnx(bytes), { x: { dims: [xs.length, 1, 8, 8], data: xr } }).y.data;
      expect(maxAbsDiff(Array.from(got.data, Number), want)).toBeLessThan(1e-5);
    });
  }

  function chipAccuracy(opts: Partial<ConvertOptions>): { acc: number; agree: number; conv: ReturnType<typeof convertOnnxToChip>; ms: number } {
    const t0 = performance.now();
    const conv = convertOnnxToChip(model, { calibration: train.x, percentile: 99.9, weightBits: 8, ...opts });
    const chip = loadConvertedChip(conv);
    let ok = 0;
    let agree = 0;
    test.x.forEach((x, n) => {
      const label = argmax(runConvertedChip(conv, chip, x));
      if (label === test.y[n]) ok++;
      if (label === floatLabels[n]) agree++;
    });
    return { acc: ok / test.x.length, agree, conv, ms: performance.now() - t0 };
  }

  it('graded, 8-bit weights: chip accuracy within 1 point of the float model', () => {
    const { acc, agree, conv, ms } = chipAccuracy({});
    expect(conv.softmaxDropped).toBe(true);
    expect(conv.input.dims).toEqual([1, 1, 8, 8]);
    expect(conv.layers.map((L) => [L.kind, L.folded, L.activation, L.nIn, L.nOut, L.projection])).toEqual([
      ['conv', ['batchnorm2'], 'relu', 64, 256, 'sparse'],
      ['dense', [], 'linear', 256, 10, 'dense'],
    ]);
    // 4 channels × (36 inner positions × 9 taps + 24 edge × 6 + 4 corners × 4) synapses.
    expect(conv.layers[0].synapses).toBe(4 * (36 * 9 + 24 * 6 + 4 * 4));
    console.log(
      `digits conv net: float ${(100 * floatAcc).toFixed(2)} %, chip graded 8-bit ${(100 * acc).toFixed(2)} % (argmax agreement ${agree}/360); ` +
        conv.layers.map((L) => `${L.name} ${L.kind} scale ${L.scale.toFixed(4)} λ ${L.lambda.toFixed(4)} clip ${(100 * L.clipFraction).toFixed(3)} % SQNR ${L.sqnrDb.toFixed(1)} dB`).join('; ') +
        `; setup (features, BN stats, training) ${setup.ms.toFixed(0)} ms, convert + 360 samples ${ms.toFixed(0)} ms`,
    );
    expect(floatAcc).toBeGreaterThanOrEqual(0.9);
    expect(acc).toBeGreaterThanOrEqual(floatAcc - 0.01);
  }, 60_000);

  it('binary spikes (rate-coded), 8-bit weights: accuracy reported next to the float model', () => {
    const results: string[] = [];
    let accLong = 0;
    for (const ticks of [32, 128]) {
      const r = chipAccuracy({ spikes: 'binary', ticks });
      expect(r.conv.ticksToOutput).toBe(3 + ticks);
      results.push(`${ticks} ticks ${(100 * r.acc).toFixed(2)} % (agreement ${r.agree}/360, ${r.ms.toFixed(0)} ms)`);
      if (ticks === 128) accLong = r.acc;
    }
    console.log(`digits conv net, binary spikes: float ${(100 * floatAcc).toFixed(2)} %, chip ${results.join(', ')}`);
    expect(accLong).toBeGreaterThanOrEqual(floatAcc - 0.03);
  }, 120_000);
});

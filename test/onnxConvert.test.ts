/**
 * ONNX export (src/models/onnx/onnxWriter.ts) and conversion to the chip (src/models/onnx/convert.ts):
 * the writer's round trip against the backprop forward pass, a hand-checked tiny model on the emulator, the
 * supported graph forms and the errors for the rest, and the digits pipeline end to end (train 64-32-10 with
 * backprop.ts → ONNX → load → convert with 8-bit weights → 360 test digits on the emulator).
 */
import { describe, expect, it } from 'vitest';
import { createLayers, forward, trainStep, type DenseLayer } from '../src/models/twin/backprop.js';
import { writeOnnx } from '../src/models/onnx/onnxWriter.js';
import { loadOnnx, onnxProtoRoot, OnnxError, type OnnxModel } from '../src/models/onnx/onnxModel.js';
import { runOnnxFloat } from '../src/models/onnx/floatReference.js';
import { argmax, convertOnnxToChip, loadConvertedChip, percentileOf, runConvertedChip } from '../src/models/onnx/convert.js';
import { ProbeVariable } from '../src/emulator/program.js';
import { digitsSplit, oneHot } from '../src/models/data/digits.js';
import { SeededRandom } from '../src/models/seededRandom.js';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k] - b[k]));
  return m;
}

/** A hand-written graph (DOUBLE tensors, opset 13) for the forms writeOnnx does not produce. */
function graph(nodes: { op: string; inputs: string[]; output: string; name?: string; attrs?: Record<string, number> }[], inits: Record<string, { dims: number[]; data: number[] }>, inDims: (number | string)[], outName = 'y'): OnnxModel {
  const Model = onnxProtoRoot().lookupType('onnx.ModelProto');
  const vi = (name: string, dims: (number | string)[] | null) => ({
    name,
    type: { tensorType: { elemType: 11, shape: dims ? { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined } },
  });
  const msg = Model.fromObject({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'hand',
      node: nodes.map((n, i) => ({
        name: n.name ?? `n${i}`,
        opType: n.op,
        input: n.inputs,
        output: [n.output],
        attribute: Object.entries(n.attrs ?? {}).map(([name, v]) => (name === 'alpha' || name === 'beta' ? { name, type: 1, f: v } : { name, type: 2, i: v })),
      })),
      initializer: Object.entries(inits).map(([name, t]) => ({ name, dims: t.dims, dataType: 11, doubleData: t.data })),
      input: [vi('x', inDims)],
      output: [vi(outName, null)],
    },
  });
  return loadOnnx(Model.encode(msg).finish());
}

/** The tiny hand-made model: 2 → 3 (ReLU) → 2 (linear). */
function tinyLayers(): DenseLayer[] {
  return [
    { nIn: 2, nOut: 3, W: Float64Array.from([1, -1, 0.5, 0.5, -1, 2]), b: Float64Array.from([0.25, 0, -0.5]), activation: 'relu' },
    { nIn: 3, nOut: 2, W: Float64Array.from([1, 1, 0, 0, -1, 1]), b: Float64Array.from([0, 0.5]), activation: 'linear' },
  ];
}

describe('writeOnnx: round trip through loadOnnx and runOnnxFloat', () => {
  it('equals the backprop forward pass to 1e-12 (relu/linear, sigmoid, no bias, softmax, batch)', () => {
    const rng = new SeededRandom(4);
    const nets: [DenseLayer[], boolean][] = [
      [createLayers([64, 32, 10], ['relu', 'linear'], { seed: 1 }), false],
      [createLayers([5, 7, 4, 3], ['sigmoid', 'relu', 'sigmoid'], { seed: 2 }), false],
      [createLayers([6, 4], 'linear', { seed: 3, bias: false }), false],
      [createLayers([6, 5, 3], ['relu', 'linear'], { seed: 5 }), true],
    ];
    for (const [layers, softmax] of nets) {
      for (const L of layers) if (L.b) for (let j = 0; j < L.nOut; j++) L.b[j] = rng.uniform(-1, 1);
      const model = loadOnnx(writeOnnx(layers, { softmax }));
      expect(model.opsetImports).toEqual([{ domain: '', version: 13 }]);
      expect(model.graph.inputs[0].shape).toEqual(['N', layers[0].nIn]);
      const nIn = layers[0].nIn;
      const batch = 5;
      const xs = Array.from({ length: batch }, () => Float64Array.from({ length: nIn }, () => rng.uniform(-1, 2)));
      const flat = new Float64Array(batch * nIn);
      xs.forEach((x, n) => flat.set(x, n * nIn));
      const y = runOnnxFloat(model, { x: { dims: [batch, nIn], data: flat } }).y;
      const nOut = layers[layers.length - 1].nOut;
      expect(y.dims).toEqual([batch, nOut]);
      xs.forEach((x, n) => {
        let want = forward(layers, x).activations[layers.length];
        if (softmax) {
          const m = Math.max(...want);
          const e = want.map((v) => Math.exp(v - m));
          const s = e.reduce((a, b) => a + b, 0);
          want = e.map((v) => v / s);
        }
        expect(maxAbsDiff(y.data.subarray(n * nOut, (n + 1) * nOut), want)).toBeLessThanOrEqual(1e-12);
      });
    }
  });

  it('FLOAT export stores float32 weights; bad layers are OnnxErrors', () => {
    const layers = tinyLayers();
    layers[0].W[0] = 0.1;
    const m = loadOnnx(writeOnnx(layers, { elemType: 'FLOAT' }));
    expect(m.graph.initializers.get('fc1.weight')!.dataType).toBe('FLOAT');
    expect(m.graph.initializers.get('fc1.weight')!.data[0]).toBe(Math.fround(0.1));
    expect(() => writeOnnx([])).toThrow(OnnxError);
    const bad = tinyLayers();
    bad[1].nIn = 4;
    expect(() => writeOnnx(bad)).toThrow(/layer 2 takes 4 inputs, but layer 1 has 3 outputs/);
  });
});

describe('convertOnnxToChip: a hand-checked tiny model', () => {
  // x = (0.5, 0.25): z1 = (0.5 − 0.25 + 0.25, 0.25 + 0.125, −0.5 + 0.5 − 0.5) = (0.5, 0.375, −0.5) → a1 = (0.5, 0.375, 0)
  //                  y  = (0.5 + 0.375, −0.375 + 0 + 0.5) = (0.875, 0.125)
  const x = [0.5, 0.25];
  const want = [0.875, 0.125];

  it('float reference and the exported model agree with the hand computation', () => {
    const model = loadOnnx(writeOnnx(tinyLayers()));
    expect(Array.from(runOnnxFloat(model, { x: { dims: [1, 2], data: x } }).y.data)).toEqual(want);
  });

  it('the chip gives the hand-computed output after ticksToOutput = 3 ticks, not before', () => {
    const model = loadOnnx(writeOnnx(tinyLayers()));
    // Calibration: λ1 = 0.5 (the largest hidden activation), λ2 = 0.875.
    const conv = convertOnnxToChip(model, { calibration: [x], percentile: 100, weightBits: 8 });
    expect(conv.ticksToOutput).toBe(3);
    expect(conv.biasPort).toBe('bias');
    expect(conv.layers.map((L) => [L.name, L.activation, L.nIn, L.nOut])).toEqual([
      ['layer1', 'relu', 2, 3],
      ['layer2', 'linear', 3, 2],
    ]);
    expect(conv.layers.map((L) => L.lambda)).toEqual([0.5, 0.875]);
    // Scales: T/λ with T = 8 − 2^-12, lowered (×[0.5, 1)) so that the largest weight fills the 8-bit grid
    // exactly: layer 1: T/λ1 ≈ 16, max|W̃| = 2·16 = 32 > 31.75 = 127·2^-2 → c1 = 15.875;
    // layer 2: T/λ2 ≈ 9.14, max|W̃| = c2/c1 ≈ 0.576 → aligned to 127·2^-8 = 0.496 → c2 = 0.496·c1 ≈ 7.875.
    const [c1, c2] = conv.layers.map((L) => L.scale);
    expect(c1 * 0.5).toBeLessThanOrEqual(8);
    expect(c1).toBeCloseTo(127 / 8, 9);
    expect(c2).toBeCloseTo((127 / 256) * c1, 9);
    expect(c2 * 0.875).toBeLessThanOrEqual(8);
    for (const L of conv.layers) {
      expect(L.clipFraction).toBe(0);
      expect(L.weights.weightBits).toBe(8);
      expect(L.bias!.weightBits).toBe(16);
    }
    // Layer 1: W̃ = 15.875·W on a 2^-2 grid: the ±2 entries land exactly on ±127, the others on half-LSBs.
    expect(conv.layers[0].weights.weightShift).toBe(2);
    expect(conv.layers[0].sqnrDb).toBeGreaterThan(40);
    const chip = loadConvertedChip(conv);
    chip.setInput('input', x.map((v) => Math.round(v * 65536)));
    chip.run(2);
    // Not there yet: after 2 ticks layer 2 has only its bias (the bias input fired at tick 0, layer 1 at tick 1).
    const early = Array.from(chip.read('layer2', ProbeVariable.Rate), (r) => r / 65536 / conv.output.scale);
    expect(maxAbsDiff(early, [0, 0.5])).toBeLessThan(2 ** -7);
    chip.run(1);
    const y = Array.from(chip.read('layer2', ProbeVariable.Rate), (r) => r / 65536 / conv.output.scale);
    expect(maxAbsDiff(y, want)).toBeLessThan(2 ** -7);
    // Hand-checked hidden layer: 8-bit weights at shift 2 (LSB 1/4) are round(15.875·W·4) = [63, −63, 32, 32, −63, 127]
    // (the ±1 weights sit just below 63.5 and round down), i.e. [15.75, −15.75, 8, 8, −15.75, 31.75]; the 16-bit biases
    // 15.875·b = [3.96875, 0, −7.9375] are exact. u = W̃·x + b̃ = [7.875 − 3.9375 + 3.96875, 4 + 2, −7.875 + 7.9375 − 7.9375]
    // = [7.90625, 6, −7.875] → ReLU → [7.90625, 6, 0], exactly.
    expect(Array.from(chip.readWeights('layer1.w'))).toEqual([63, -63, 32, 32, -63, 127]);
    expect(Array.from(chip.read('layer1', ProbeVariable.Rate))).toEqual([7.90625 * 65536, 6 * 65536, 0]);
    // The helper does the same; a second sample on the same chip does not see the first.
    const again = runConvertedChip(conv, chip, x);
    expect(maxAbsDiff(again, y)).toBe(0);
    const other = runConvertedChip(conv, chip, [0, 0]); // a1 = (0.25, 0, 0), y = (0.25, 0.5)
    expect(maxAbsDiff(other, [0.25, 0.5])).toBeLessThan(2 ** -7);
  });

  it('16-bit weights are 256× finer', () => {
    const model = loadOnnx(writeOnnx(tinyLayers()));
    const conv = convertOnnxToChip(model, { calibration: [x, [0, 1], [1, 0]], percentile: 100, weightBits: 16 });
    const chip = loadConvertedChip(conv);
    for (const s of [x, [0.3, 0.7], [1, 0]]) {
      const f = runOnnxFloat(model, { x: { dims: [1, 2], data: s } }).y.data;
      expect(maxAbsDiff(runConvertedChip(conv, chip, s), f)).toBeLessThan(2e-3);
    }
  });
});

describe('convertOnnxToChip: graph forms and errors', () => {
  const W1 = [1, -1, 0.5, 0.5, -1, 2]; // [3, 2] post-major
  const W1t = [1, 0.5, -1, -1, 0.5, 2]; // [2, 3] = W1ᵀ (MatMul form)
  const inits = {
    W1: { dims: [3, 2], data: W1 },
    W1t: { dims: [2, 3], data: W1t },
    b1: { dims: [3], data: [0.25, 0, -0.5] },
    W2: { dims: [2, 3], data: [1, 1, 0, 0, -1, 1] },
    b2: { dims: [1, 2], data: [0, 0.5] },
    shape: { dims: [2], data: [-1, 2] },
  };
  const cal = [[0.5, 0.25], [0.1, 0.9], [0.8, 0.2]];
  const reference = convertOnnxToChip(loadOnnx(writeOnnx(tinyLayers())), { calibration: cal, name: 'tiny' });

  it('MatMul + Add, Identity/Flatten/Reshape no-ops and a final Softmax convert like Gemm', () => {
    const model = graph(
      [
        { op: 'Reshape', inputs: ['x', 'shape'], output: 'x2' },
        { op: 'MatMul', inputs: ['x2', 'W1t'], output: 'm1', name: 'dense1' },
        { op: 'Add', inputs: ['b1', 'm1'], output: 'z1' },
        { op: 'Relu', inputs: ['z1'], output: 'a1' },
        { op: 'Identity', inputs: ['a1'], output: 'a1i' },
        { op: 'Flatten', inputs: ['a1i'], output: 'a1f', attrs: { axis: 1 } },
        { op: 'Gemm', inputs: ['a1f', 'W2', 'b2'], output: 'z2', attrs: { transB: 1 }, name: 'dense2' },
        { op: 'Softmax', inputs: ['z2'], output: 'y', attrs: { axis: -1 } },
      ],
      inits,
      ['N', 2],
    );
    const conv = convertOnnxToChip(model, { calibration: cal, name: 'tiny' });
    expect(conv.softmaxDropped).toBe(true);
    expect(conv.layers.map((L) => L.node)).toEqual(['dense1', 'dense2']);
    expect(conv.program.hash).toBe(reference.program.hash);
  });

  it('Gemm with transB = 0, alpha and beta folds into the weights', () => {
    // Layer 2 as 0.5·(a1·W2ᵀ) + 0.5·b2: half the reference output.
    const model = graph(
      [
        { op: 'Gemm', inputs: ['x', 'W1t', 'b1'], output: 'z1' },
        { op: 'Relu', inputs: ['z1'], output: 'a1' },
        { op: 'Gemm', inputs: ['a1', 'W2', 'b2'], output: 'y', attrs: { transB: 1, alpha: 0.5, beta: 0.5 } },
      ],
      inits,
      [1, 2],
    );
    const f = runOnnxFloat(model, { x: { dims: [1, 2], data: [0.5, 0.25] } }).y.data;
    expect(Array.from(f)).toEqual([0.4375, 0.0625]);
    const conv = convertOnnxToChip(model, { calibration: cal });
    const a = runConvertedChip(conv, loadConvertedChip(conv), [0.5, 0.25]);
    expect(maxAbsDiff(a, f)).toBeLessThan(2 ** -8);
  });

  it('unsupported operators and graph shapes are one-line OnnxErrors naming the op and node', () => {
    const expectErr = (model: OnnxModel, re: RegExp) => {
      let err: unknown;
      try {
        convertOnnxToChip(model, { calibration: cal });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(OnnxError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    };
    expectErr(
      graph([{ op: 'Gemm', inputs: ['x', 'W1', 'b1'], output: 't', attrs: { transB: 1 } }, { op: 'Tanh', inputs: ['t'], output: 'y', name: 'act1' }], inits, ['N', 2]),
      /unsupported operator "Tanh" for chip conversion \(node "act1", opset 13\)/,
    );
    expectErr(
      graph(
        [
          { op: 'Gemm', inputs: ['x', 'W1', 'b1'], output: 't', attrs: { transB: 1 }, name: 'g' },
          { op: 'Relu', inputs: ['t'], output: 'r', name: 'r1' },
          { op: 'Add', inputs: ['t', 'r'], output: 'y', name: 'skip' },
        ],
        inits,
        ['N', 2],
      ),
      /cannot convert Relu \(node "r1", opset 13\) to the chip: value "t" is used by 2 nodes/,
    );
    expectErr(
      graph([{ op: 'Gemm', inputs: ['x', 'W1', 'b1'], output: 't', attrs: { transB: 1, transA: 1 }, name: 'g' }, { op: 'Relu', inputs: ['t'], output: 'y' }], inits, ['N', 2]),
      /cannot convert Gemm \(node "g", opset 13\) to the chip: transA = 1 is not supported/,
    );
    expectErr(graph([{ op: 'Relu', inputs: ['x'], output: 'y', name: 'r0' }], inits, ['N', 2]), /Relu \(node "r0", opset 13\) to the chip: an activation must follow a layer \(Gemm, MatMul or Conv\)/);
    expectErr(
      graph(
        [
          { op: 'Gemm', inputs: ['x', 'W1', 'b1'], output: 't', attrs: { transB: 1 } },
          { op: 'Softmax', inputs: ['t'], output: 's', name: 'sm' },
          { op: 'Identity', inputs: ['s'], output: 'y' },
        ],
        inits,
        ['N', 2],
      ),
      /Softmax \(node "sm", opset 13\) to the chip: only a final Softmax/,
    );
    expectErr(
      graph([{ op: 'Gemm', inputs: ['x', 'W2', 'b2'], output: 'y', attrs: { transB: 1 }, name: 'g' }], inits, ['N', 2]),
      /graph input "x" has shape \[N, 2\], which does not hold a sample of 3 values/,
    );
  });

  it('percentileOf is nearest-rank', () => {
    const v = Float64Array.from({ length: 1000 }, (_, k) => 999 - k);
    expect(percentileOf(v, 99.9)).toBe(998);
    expect(percentileOf(v, 100)).toBe(999);
    expect(percentileOf(v, 50)).toBe(499);
  });
});

describe('digits: backprop 64-32-10 → ONNX → chip (8-bit weights)', () => {
  it('chip accuracy on the 360 test digits is within 1 point of the float model', () => {
    const t0 = performance.now();
    const { train, test } = digitsSplit();
    // ReLU hidden layer, linear output, squared error on one-hot targets (backprop.ts), minibatch SGD.
    const layers = createLayers([64, 32, 10], ['relu', 'linear'], { seed: 1 });
    const rng = new SeededRandom(2);
    const targets = train.y.map((y) => oneHot(y));
    const order = train.x.map((_, i) => i);
    const epochs = 30;
    const batch = 16;
    for (let e = 0; e < epochs; e++) {
      rng.shuffle(order);
      for (let k = 0; k < order.length; k += batch) {
        const b = order.slice(k, k + batch);
        trainStep(layers, b.map((i) => train.x[i]), b.map((i) => targets[i]), 0.1);
      }
    }
    const t1 = performance.now();
    // Export, load back: the loaded model is the trained one to 1e-12.
    const model = loadOnnx(writeOnnx(layers, { softmax: true }));
    let floatOk = 0;
    const floatOut: Float64Array[] = [];
    test.x.forEach((x, n) => {
      const logits = runOnnxFloat(model, { x: { dims: [1, 64], data: x } }, { outputs: ['fc2'] }).fc2.data;
      expect(maxAbsDiff(logits, forward(layers, x).activations[2])).toBeLessThanOrEqual(1e-12);
      floatOut.push(logits);
      if (argmax(logits) === test.y[n]) floatOk++;
    });
    const t2 = performance.now();
    const conv = convertOnnxToChip(model, { calibration: train.x, percentile: 99.9, weightBits: 8 });
    const t3 = performance.now();
    expect(conv.softmaxDropped).toBe(true);
    expect(conv.ticksToOutput).toBe(3);
    const chip = loadConvertedChip(conv);
    let chipOk = 0;
    let agree = 0;
    test.x.forEach((x, n) => {
      const y = runConvertedChip(conv, chip, x);
      if (argmax(y) === test.y[n]) chipOk++;
      if (argmax(y) === argmax(floatOut[n])) agree++;
    });
    const t4 = performance.now();
    const floatAcc = floatOk / test.x.length;
    const chipAcc = chipOk / test.x.length;
    console.log(
      `digits: float ${(100 * floatAcc).toFixed(2)} %, chip ${(100 * chipAcc).toFixed(2)} % (argmax agreement ${agree}/360); ` +
        conv.layers.map((L) => `${L.name} ${L.activation} scale ${L.scale.toFixed(4)} λ ${L.lambda.toFixed(4)} clip ${(100 * L.clipFraction).toFixed(3)} % weights shift ${L.weights.weightShift} SQNR ${L.sqnrDb.toFixed(1)} dB, bias SQNR ${L.bias!.sqnrDb.toFixed(1)} dB`).join('; ') +
        `; train ${(t1 - t0).toFixed(0)} ms, float eval ${(t2 - t1).toFixed(0)} ms, convert ${(t3 - t2).toFixed(0)} ms, chip ${(t4 - t3).toFixed(0)} ms`,
    );
    expect(floatAcc).toBeGreaterThanOrEqual(0.96); // measured 97.78 %
    expect(chipAcc).toBeGreaterThanOrEqual(floatAcc - 0.01); // measured 97.50 %
  }, 60000);
});

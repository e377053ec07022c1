/**
 * `apical import` end to end (src/cli/importCommand.ts): a small digits MLP trained here with backprop.ts,
 * exported with writeOnnx, imported with `--calibrate digits --json` (graded, and rate-coded binary spikes with
 * `--spikes binary --ticks N`), checked against `apical inspect`; a small digits conv net (Conv → BN → Relu →
 * Flatten → Gemm, written with writeOnnxSequential); CSV calibration files with and without labels; and the
 * user errors (exit 2, one line `apical: ...`, no stack).
 *
 * The CLI runs from dist/ (`npm test` builds it first): the tests spawn `node bin/apical.js`.
 *
 * Accuracies are fractions in [0, 1].
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLayers, trainStep } from '../src/models/twin/backprop.js';
import { writeOnnx, writeOnnxSequential, type SequentialOp } from '../src/models/onnx/onnxWriter.js';
import { runOnnxFloat } from '../src/models/onnx/floatReference.js';
import { loadOnnx, onnxProtoRoot } from '../src/models/onnx/onnxModel.js';
import { digitsSplit, oneHot } from '../src/models/data/digits.js';
import { SeededRandom } from '../src/models/seededRandom.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'apical.js');
const dist = (p: string) => join(root, 'dist', 'src', 'cli', p);

/** Why dist/ would not be this source tree, or null. */
function distProblem(): string | null {
  const build = 'run `npm test` (it builds with tsc first) or `npm run build`';
  for (const f of ['main', 'importCommand']) {
    const js = dist(`${f}.js`);
    const ts = join(root, 'src', 'cli', `${f}.ts`);
    if (!existsSync(js)) return `dist/src/cli/${f}.js is missing; ${build}`;
    if (statSync(js).mtimeMs < statSync(ts).mtimeMs) return `dist/src/cli/${f}.js is older than src/cli/${f}.ts; ${build}`;
  }
  return null;
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function apical(...args: string[]): Promise<Result> {
  const problem = distProblem();
  if (problem) return Promise.reject(new Error(problem));
  const argv = [bin, ...args];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

function expectUserError(r: Result, ...patterns: RegExp[]): void {
  expect(r.code, `exit code (stderr: ${r.stderr})`).toBe(2);
  expect(r.stderr).toMatch(/^apical: [^\n]+\n$/);
  expect(r.stderr).not.toContain('    at ');
  expect(r.stdout).toBe('');
  for (const p of patterns) expect(r.stderr).toMatch(p);
}

function json(r: Result): Record<string, unknown> {
  expect(r.code, `exit code (stderr: ${r.stderr})`).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const tmp = mkdtempSync(join(tmpdir(), 'apical-import-'));
const t = (name: string) => join(tmp, name);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A hand-built model whose input [N, A, B] has two symbolic dims besides the batch: Flatten → Gemm 64 → 10. */
function dynamicShapeModel(): Uint8Array {
  const Model = onnxProtoRoot().lookupType('onnx.ModelProto');
  const vi = (name: string, dims: (number | string)[]) => ({
    name,
    type: { tensorType: { elemType: 11, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  const msg = Model.fromObject({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'dyn',
      node: [
        { name: 'flat', opType: 'Flatten', input: ['x'], output: ['f'] },
        { name: 'fc', opType: 'Gemm', input: ['f', 'W'], output: ['y'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
      ],
      initializer: [{ name: 'W', dims: [10, 64], dataType: 11, doubleData: Array.from({ length: 640 }, (_, i) => ((i % 7) - 3) / 10) }],
      input: [vi('x', ['N', 'A', 'B'])],
      output: [vi('y', ['N', 10])],
    },
  });
  return Model.encode(msg).finish();
}

/**
 * A digits conv net: Conv(1→3, 3×3, pads 1, fixed random filters) → BatchNormalization (statistics of the
 * training split) → Relu → Flatten → Gemm(192 → 10, trained 4 epochs with backprop.ts) → Softmax.
 */
function convNetModel(): Uint8Array {
  const { train } = digitsSplit();
  const rng = new SeededRandom(12);
  const M = 3;
  const conv: SequentialOp = { op: 'conv', W: { dims: [M, 1, 3, 3], data: Array.from({ length: M * 9 }, () => rng.uniform(-1, 1)) }, b: [0.1, -0.1, 0], pads: [1, 1, 1, 1] };
  const flat = new Float64Array(train.x.length * 64);
  train.x.forEach((x, n) => flat.set(x, n * 64));
  const z = runOnnxFloat(loadOnnx(writeOnnxSequential(['N', 1, 8, 8], [conv])), { x: { dims: [train.x.length, 1, 8, 8], data: flat } }).y.data;
  const mean = [0, 0, 0];
  const variance = [0, 0, 0];
  const per = train.x.length * 64;
  for (let i = 0; i < train.x.length; i++) for (let m = 0; m < M; m++) for (let k = 0; k < 64; k++) mean[m] += z[(i * M + m) * 64 + k] / per;
  for (let i = 0; i < train.x.length; i++) for (let m = 0; m < M; m++) for (let k = 0; k < 64; k++) variance[m] += (z[(i * M + m) * 64 + k] - mean[m]) ** 2 / per;
  const bn: SequentialOp = { op: 'batchnorm', scale: [1.2, 0.8, 1], bias: [0.1, 0.2, -0.1], mean, variance };
  const f = runOnnxFloat(loadOnnx(writeOnnxSequential(['N', 1, 8, 8], [conv, bn, { op: 'relu' }, { op: 'flatten' }])), { x: { dims: [train.x.length, 1, 8, 8], data: flat } }).y.data;
  const features = train.x.map((_, n) => f.subarray(n * M * 64, (n + 1) * M * 64));
  const layers = createLayers([M * 64, 10], 'linear', { seed: 13 });
  const targets = train.y.map((y) => oneHot(y));
  const order = train.x.map((_, i) => i);
  for (let e = 0; e < 4; e++) {
    rng.shuffle(order);
    for (let k = 0; k < order.length; k += 16) {
      const b = order.slice(k, k + 16);
      trainStep(layers, b.map((i) => features[i]), b.map((i) => targets[i]), 0.01);
    }
  }
  return writeOnnxSequential(['N', 1, 8, 8], [conv, bn, { op: 'relu' }, { op: 'flatten' }, { op: 'gemm', nIn: M * 64, nOut: 10, W: layers[0].W, b: layers[0].b }, { op: 'softmax' }]);
}

const model = t('model.onnx');
const out = t('out.apx');
let trainMs = 0;

beforeAll(() => {
  // A 64-32-10 digits MLP as in test/onnxConvert.test.ts, with 8 epochs instead of 30.
  const t0 = performance.now();
  const { train } = digitsSplit();
  const layers = createLayers([64, 32, 10], ['relu', 'linear'], { seed: 1 });
  const rng = new SeededRandom(2);
  const targets = train.y.map((y) => oneHot(y));
  const order = train.x.map((_, i) => i);
  for (let e = 0; e < 8; e++) {
    rng.shuffle(order);
    for (let k = 0; k < order.length; k += 16) {
      const b = order.slice(k, k + 16);
      trainStep(layers, b.map((i) => train.x[i]), b.map((i) => targets[i]), 0.1);
    }
  }
  writeFileSync(model, writeOnnx(layers, { softmax: true }));
  trainMs = performance.now() - t0;

  // Bad inputs.
  writeFileSync(t('garbage.onnx'), 'this is not a protobuf model\n');
  writeFileSync(t('tanh.onnx'), writeOnnx(createLayers([64, 8, 10], ['tanh', 'linear'], { seed: 3 })));
  writeFileSync(t('dynamic.onnx'), dynamicShapeModel());
  writeFileSync(t('small.onnx'), writeOnnx(createLayers([3, 4, 2], ['relu', 'linear'], { seed: 4 })));
  writeFileSync(t('conv.onnx'), convNetModel());
  writeFileSync(t('sigmoid.onnx'), writeOnnx(createLayers([3, 4, 2], ['sigmoid', 'linear'], { seed: 5 })));
  // Conv layers on a dynamic spatial shape, and one too large for the chip (8 × 96 × 96 = 73728 neurons).
  writeFileSync(t('conv-dynamic.onnx'), writeOnnxSequential(['N', 1, 'H', 'W'], [{ op: 'conv', W: { dims: [2, 1, 3, 3], data: new Array(18).fill(0.1) } }, { op: 'relu' }]));
  writeFileSync(t('conv-big.onnx'), writeOnnxSequential(['N', 1, 96, 96], [{ op: 'conv', W: { dims: [8, 1, 3, 3], data: new Array(72).fill(0.1) }, pads: [1, 1, 1, 1] }, { op: 'relu' }]));
  writeFileSync(t('big.csv'), `${new Array(96 * 96).fill('0.5').join(',')}\n`);
  writeFileSync(t('bad.csv'), '0,0.5,1\n0.25,abc,1\n');
  writeFileSync(t('narrow.csv'), '0,0.5,1,0.25,0\n1,1,1,1,1\n');
  writeFileSync(t('ragged.csv'), '0,0.5,1\n0.25,1\n');
  writeFileSync(t('badlabel.csv'), '0,0.5,1,7\n');
  // CSV calibration for the 3-input model: with labels (last column) and without.
  const rng2 = new SeededRandom(9);
  const rows = Array.from({ length: 40 }, () => [rng2.uniform(0, 1), rng2.uniform(0, 1), rng2.uniform(0, 1)]);
  writeFileSync(t('cal.csv'), `# x0,x1,x2\n${rows.map((r) => r.join(',')).join('\n')}\n`);
  writeFileSync(t('cal-labels.csv'), `${rows.map((r, i) => `${r.join(', ')}, ${i % 2}`).join('\r\n')}\r\n\r\n`);
}, 30_000);

describe('apical import', () => {
  it('digits MLP: --calibrate digits --json, then inspect shows the same hash', async () => {
    const t0 = performance.now();
    const r = json(await apical('import', model, '-o', out, '--calibrate', 'digits', '--json'));
    const importMs = performance.now() - t0;
    expect(r.ops).toEqual(['Gemm', 'Relu', 'Softmax']);
    expect(r.ops).toContain('Gemm');
    expect(r.ops).toContain('Relu');
    const layers = r.layers as Record<string, unknown>[];
    expect(layers.map((L) => L.name)).toEqual(['layer1', 'layer2']);
    for (const L of layers) {
      expect(Object.keys(L).sort()).toEqual(['clipFraction', 'name', 'scale', 'sqnrDb']);
      expect(L.scale).toBeGreaterThan(0);
      expect(L.clipFraction).toBeGreaterThanOrEqual(0);
      expect(L.clipFraction).toBeLessThan(0.01);
      expect(L.sqnrDb).toBeGreaterThan(30);
    }
    expect(Object.keys(r).sort()).toEqual(['chipAccuracy', 'floatAccuracy', 'layers', 'ops', 'output', 'programHash', 'spikes', 'ticks', 'ticksToOutput']);
    expect(r.spikes).toBe('graded');
    expect(r.ticks).toBeNull();
    expect(r.output).toBe(out);
    expect(r.ticksToOutput).toBe(3);
    expect(r.programHash).toMatch(/^[0-9a-f]{64}$/);
    const floatAcc = r.floatAccuracy as number;
    const chipAcc = r.chipAccuracy as number;
    console.log(`apical import (digits, 8 epochs): float ${(100 * floatAcc).toFixed(2)} %, chip ${(100 * chipAcc).toFixed(2)} %; train ${trainMs.toFixed(0)} ms, import CLI ${importMs.toFixed(0)} ms`);
    expect(floatAcc).toBeGreaterThanOrEqual(0.9);
    expect(floatAcc).toBeLessThanOrEqual(1);
    expect(chipAcc).toBeGreaterThanOrEqual(floatAcc - 0.01);

    const ins = json(await apical('inspect', out, '--json'));
    expect(ins.programHash ?? ins.hash).toBe(r.programHash);

    // 16-bit weights, another percentile: a different Program; the text output names the accuracies.
    const r16 = json(await apical('import', model, '-o', t('out16.apx'), '--weight-bits', '16', '--percentile', '99', '--json'));
    expect(r16.programHash).not.toBe(r.programHash);
    expect(r16.chipAccuracy as number).toBeGreaterThanOrEqual((r16.floatAccuracy as number) - 0.01);
    const text = await apical('import', model, '-o', t('out-text.apx'));
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/operators: Gemm, Relu, Softmax/);
    expect(text.stdout).toMatch(/accuracy on 360 samples: float \d+\.\d\d %, chip \d+\.\d\d %/);
    expect(text.stdout).toContain(r.programHash as string);
  }, 40_000);

  it('digits MLP with rate-coded binary spikes: --spikes binary --ticks 32', async () => {
    const r = json(await apical('import', model, '-o', t('out-binary.apx'), '--spikes', 'binary', '--ticks', '32', '--json'));
    expect(r.spikes).toBe('binary');
    expect(r.ticks).toBe(32);
    expect(r.ticksToOutput).toBe(3 + 32);
    const floatAcc = r.floatAccuracy as number;
    const chipAcc = r.chipAccuracy as number;
    console.log(`apical import (digits MLP, 8 epochs), binary spikes over 32 ticks: float ${(100 * floatAcc).toFixed(2)} %, chip ${(100 * chipAcc).toFixed(2)} %`);
    expect(chipAcc).toBeGreaterThanOrEqual(floatAcc - 0.03);
    const text = await apical('import', model, '-o', t('out-binary-text.apx'), '--spikes', 'binary', '--ticks', '32');
    expect(text.stdout).toMatch(/spikes: binary \(rate-coded; output averaged over 32 ticks\)/);
    expect(text.stdout).toMatch(/accuracy on 360 samples: float \d+\.\d\d %, chip \d+\.\d\d % \(binary spikes/);
  }, 40_000);

  it('digits conv net: Conv + BatchNormalization (folded) + Gemm, graded 8-bit', async () => {
    const r = json(await apical('import', t('conv.onnx'), '-o', t('conv.apx'), '--json'));
    expect(r.ops).toEqual(['Conv', 'BatchNormalization', 'Relu', 'Flatten', 'Gemm', 'Softmax']);
    expect((r.layers as unknown[]).length).toBe(2);
    const floatAcc = r.floatAccuracy as number;
    const chipAcc = r.chipAccuracy as number;
    console.log(`apical import (digits conv net, 3 random filters, 4 epochs): float ${(100 * floatAcc).toFixed(2)} %, chip ${(100 * chipAcc).toFixed(2)} %`);
    expect(floatAcc).toBeGreaterThanOrEqual(0.85);
    expect(chipAcc).toBeGreaterThanOrEqual(floatAcc - 0.01);
    const text = await apical('import', t('conv.onnx'), '-o', t('conv-text.apx'));
    expect(text.stdout).toMatch(/layer1 \(conv conv1 \+ batchnorm2 folded, 64→192 relu, sparse \d+ synapses\)/);
  }, 40_000);

  it('CSV calibration: labels in the last column give accuracies, no labels give null', async () => {
    const a = json(await apical('import', t('small.onnx'), '-o', t('small.apx'), '--calibrate', t('cal-labels.csv'), '--json'));
    expect(a.ops).toEqual(['Gemm', 'Relu']);
    expect(typeof a.floatAccuracy).toBe('number');
    expect(typeof a.chipAccuracy).toBe('number');
    const b = json(await apical('import', t('small.onnx'), '-o', t('small2.apx'), '--calibrate', t('cal.csv'), '--json'));
    expect(b.floatAccuracy).toBeNull();
    expect(b.chipAccuracy).toBeNull();
    expect(b.programHash).toBe(a.programHash); // same samples, same calibration
  }, 20_000);

  it('help documents the CSV format', async () => {
    const r = await apical('import', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/one sample per line/);
    expect(r.stdout).toMatch(/last column/);
  });

  it('bad inputs: exit 2 and one line apical: ...', async () => {
    const cases: [string[], RegExp][] = [
      [['import', t('garbage.onnx'), '-o', t('x.apx')], /not an ONNX model/],
      [['import', t('missing.onnx'), '-o', t('x.apx')], /cannot read ONNX model/],
      [['import', t('tanh.onnx'), '-o', t('x.apx')], /unsupported operator "Tanh" \(node "tanh1", opset 13\)/],
      [['import', t('conv-dynamic.onnx'), '-o', t('x.apx')], /graph input "x" has dynamic shape \[N, 1, H, W\], which cannot be resolved/],
      [['import', t('conv-big.onnx'), '-o', t('x.apx'), '--calibrate', t('big.csv')], /layer1 \("conv1", conv\) has 73728 neurons.*does not fit/],
      [['import', t('sigmoid.onnx'), '-o', t('x.apx'), '--calibrate', t('cal.csv'), '--spikes', 'binary'], /binary spikes cannot carry layer1 \("fc1", sigmoid\)/],
      [['import', model, '-o', t('x.apx'), '--spikes', 'ternary'], /"ternary" is not graded or binary/],
      [['import', model, '-o', t('x.apx'), '--spikes', 'binary', '--ticks', '0'], /"0" is not an integer in 1\.\.1000000/],
      [['import', t('dynamic.onnx'), '-o', t('x.apx')], /dynamic shape \[N, A, B\]/],
      [['import', t('small.onnx'), '-o', t('x.apx'), '--calibrate', t('bad.csv')], /line 2, field 2: "abc" is not a number/],
      [['import', t('small.onnx'), '-o', t('x.apx'), '--calibrate', t('ragged.csv')], /line 2 has 2 fields/],
      [['import', t('small.onnx'), '-o', t('x.apx'), '--calibrate', t('badlabel.csv')], /label "7" is not an integer in 0\.\.1/],
      [['import', t('small.onnx'), '-o', t('x.apx'), '--calibrate', t('nope.csv')], /cannot read calibration file/],
      [['import', t('small.onnx'), '-o', t('x.apx'), '--calibrate', t('narrow.csv')], /has 5 values, but the model takes 3 inputs \(input width mismatch\)/],
      [['import', t('small.onnx'), '-o', t('x.apx'), '--calibrate', 'digits'], /64 inputs per sample, but the model takes 3/],
      [['import', model, '-o', t('x.apx'), '--weight-bits', '12'], /"12" is not 8 or 16/],
      [['import', model, '-o', t('x.apx'), '--percentile', '0'], /not a number in \(0, 100\]/],
    ];
    const results = await Promise.all(cases.map(([args]) => apical(...args)));
    results.forEach((r, k) => expectUserError(r, cases[k][1]));
    expect(existsSync(t('x.apx'))).toBe(false);
  }, 30_000);
});

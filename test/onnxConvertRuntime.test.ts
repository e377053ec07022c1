/**
 * The exporter (src/models/onnx/onnxWriter.ts) against ONNX Runtime: a trained-shape MLP written by writeOnnx
 * runs in onnxruntime-node (CPU) and gives what apical's float reference gives, to 1e-5. Needs the dev
 * dependency onnxruntime-node; without it this test FAILS (it does not skip).
 */
import { describe, expect, it } from 'vitest';
import { createLayers } from '../src/models/twin/backprop.js';
import { writeOnnx } from '../src/models/onnx/onnxWriter.js';
import { loadOnnx } from '../src/models/onnx/onnxModel.js';
import { runOnnxFloat } from '../src/models/onnx/floatReference.js';
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

describe('writeOnnx vs ONNX Runtime', () => {
  const rng = new SeededRandom(11);
  const layers = createLayers([64, 32, 10], ['relu', 'linear'], { seed: 5 });
  for (const L of layers) for (let j = 0; j < L.nOut; j++) L.b![j] = rng.uniform(-0.5, 0.5);
  const sigmoidNet = createLayers([8, 6, 3], ['sigmoid', 'sigmoid'], { seed: 6 });
  for (const L of sigmoidNet) for (let j = 0; j < L.nOut; j++) L.b![j] = rng.uniform(-0.5, 0.5);
  const batch = 7;

  for (const [what, net, softmax] of [
    ['64-32-10 relu/linear', layers, false],
    ['64-32-10 relu/linear + softmax', layers, true],
    ['8-6-3 sigmoid', sigmoidNet, false],
  ] as const) {
    for (const elemType of ['DOUBLE', 'FLOAT'] as const) {
      it(`${what}, ${elemType}: onnxruntime-node equals runOnnxFloat to 1e-5`, async () => {
        const ort = await loadOrt();
        const bytes = writeOnnx(net, { elemType, softmax });
        const nIn = net[0].nIn;
        const nOut = net[net.length - 1].nOut;
        const x = Float64Array.from({ length: batch * nIn }, () => rng.next());
        const session = await ort.InferenceSession.create(bytes);
        const feed = elemType === 'DOUBLE' ? new ort.Tensor('float64', x, [batch, nIn]) : new ort.Tensor('float32', Float32Array.from(x), [batch, nIn]);
        const got = (await session.run({ x: feed })).y;
        expect(Array.from(got.dims)).toEqual([batch, nOut]);
        // float32 export: the reference runs the float32-rounded weights in float64; inputs rounded the same way.
        const xr = elemType === 'DOUBLE' ? x : Float64Array.from(Float32Array.from(x));
        const want = runOnnxFloat(loadOnnx(bytes), { x: { dims: [batch, nIn], data: xr } }).y.data;
        let maxDiff = 0;
        for (let k = 0; k < want.length; k++) maxDiff = Math.max(maxDiff, Math.abs(Number(got.data[k]) - want[k]));
        expect(maxDiff).toBeLessThan(1e-5);
      });
    }
  }
});

/**
 * The float64 backprop reference (src/models/twin/backprop.ts): analytic gradients against central finite
 * differences, and a small net trained on XOR.
 */
import { describe, expect, it } from 'vitest';
import {
  backprop,
  batchLoss,
  bpUpdate,
  cloneLayers,
  createLayers,
  forward,
  squaredErrorLoss,
  trainStep,
  type BpActivation,
  type DenseLayer,
} from '../src/models/twin/backprop.js';
import { angleDegrees, frobeniusCosine } from '../src/models/twin/fidelityMetrics.js';
import { SeededRandom } from '../src/models/seededRandom.js';

const loss = (layers: DenseLayer[], x: number[], t: number[]) => squaredErrorLoss(forward(layers, x).activations[layers.length], t);

/** Central differences of the loss for every weight and bias. */
function numericalGradient(layers: DenseLayer[], x: number[], t: number[], h: number) {
  const dW = layers.map((L) => new Float64Array(L.W.length));
  const db = layers.map((L) => new Float64Array(L.nOut));
  layers.forEach((L, l) => {
    for (let k = 0; k < L.W.length; k++) {
      const w0 = L.W[k];
      L.W[k] = w0 + h;
      const lp = loss(layers, x, t);
      L.W[k] = w0 - h;
      const lm = loss(layers, x, t);
      L.W[k] = w0;
      dW[l][k] = (lp - lm) / (2 * h);
    }
    if (L.b) {
      for (let k = 0; k < L.nOut; k++) {
        const b0 = L.b[k];
        L.b[k] = b0 + h;
        const lp = loss(layers, x, t);
        L.b[k] = b0 - h;
        const lm = loss(layers, x, t);
        L.b[k] = b0;
        db[l][k] = (lp - lm) / (2 * h);
      }
    }
  });
  return { dW, db };
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  let n = 0;
  for (let k = 0; k < a.length; k++) {
    e += (a[k] - b[k]) ** 2;
    n += b[k] ** 2;
  }
  return Math.sqrt(e / n);
}

describe('backprop reference', () => {
  const cases: { name: string; sizes: number[]; act: BpActivation | BpActivation[] }[] = [
    { name: 'sigmoid 5-4-3-2', sizes: [5, 4, 3, 2], act: 'sigmoid' },
    { name: 'tanh/linear 4-6-3', sizes: [4, 6, 3], act: ['tanh', 'linear'] },
    { name: 'relu/sigmoid 6-5-2', sizes: [6, 5, 2], act: ['relu', 'sigmoid'] },
  ];
  for (const c of cases) {
    it(`${c.name}: ΔW matches central finite differences within 1e-6 relative`, () => {
      const rng = new SeededRandom(21);
      const layers = createLayers(c.sizes, c.act, { seed: 4, gain: 1.5 });
      for (const L of layers) L.b!.set(Array.from({ length: L.nOut }, () => rng.uniform(-0.5, 0.5)));
      const x = Array.from({ length: c.sizes[0] }, () => rng.uniform(-1, 1));
      const t = Array.from({ length: c.sizes[c.sizes.length - 1] }, () => rng.uniform(0, 1));
      const g = backprop(layers, x, t);
      expect(g.loss).toBeGreaterThan(1e-3);
      const num = numericalGradient(layers, x, t, 1e-5);
      layers.forEach((L, l) => {
        // Norm-wise relative error per layer, and elementwise with an absolute floor for ~0 entries.
        expect(relErr(g.dW[l], num.dW[l])).toBeLessThan(1e-6);
        expect(relErr(g.db[l]!, num.db[l])).toBeLessThan(1e-6);
        for (let k = 0; k < L.W.length; k++) expect(Math.abs(g.dW[l][k] - num.dW[l][k])).toBeLessThanOrEqual(1e-6 * Math.abs(num.dW[l][k]) + 1e-10);
      });
      // The BP update is −η·∂L/∂W: a small step along it lowers the loss.
      const step = bpUpdate(layers, x, t, 1e-3);
      expect(frobeniusCosine(step[0], g.dW[0])).toBeCloseTo(-1, 12);
      expect(angleDegrees(step[0], g.dW[0])).toBeGreaterThan(179.99);
      const moved = cloneLayers(layers);
      moved.forEach((L, l) => L.W.forEach((_, k) => (L.W[k] += step[l][k])));
      expect(loss(moved, x, t)).toBeLessThan(g.loss);
    });
  }

  it('a 2-4-1 sigmoid net learns XOR (mean loss < 0.005)', () => {
    const xs = [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ];
    const ts = [[0.1], [0.9], [0.9], [0.1]];
    const layers = createLayers([2, 4, 1], 'sigmoid', { seed: 7, gain: 2 });
    const before = batchLoss(layers, xs, ts);
    let last = before;
    for (let e = 0; e < 4000; e++) last = trainStep(layers, xs, ts, 2);
    const after = batchLoss(layers, xs, ts);
    expect(before).toBeGreaterThan(0.05);
    expect(after).toBeLessThan(0.005);
    expect(after).toBeLessThanOrEqual(last);
    const out = xs.map((x) => forward(layers, x).activations[2][0]);
    expect(out[1]).toBeGreaterThan(0.8);
    expect(out[2]).toBeGreaterThan(0.8);
    expect(out[0]).toBeLessThan(0.2);
    expect(out[3]).toBeLessThan(0.2);
  });

  it('layers without bias and the batch step equal the mean of per-sample gradients', () => {
    const layers = createLayers([3, 2], 'linear', { seed: 2, bias: false });
    const xs = [
      [1, 0, 2],
      [0, 1, -1],
    ];
    const ts = [[1, 0], [0, 1]];
    const g0 = backprop(layers, xs[0], ts[0]).dW[0];
    const g1 = backprop(layers, xs[1], ts[1]).dW[0];
    const W0 = layers[0].W.slice();
    trainStep(layers, xs, ts, 0.1);
    for (let k = 0; k < W0.length; k++) expect(layers[0].W[k]).toBeCloseTo(W0[k] - 0.1 * 0.5 * (g0[k] + g1[k]), 14);
    expect(layers[0].b).toBeNull();
  });
});

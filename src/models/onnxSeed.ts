/**
 * Seeding the digits microcircuit from a trained ONNX MLP (`apical train --init model.onnx`).
 *
 * The model must be the feed-forward equivalent of the circuit: a chain of dense layers (Gemm, or MatMul with
 * an optional Add) 64 → hidden… → 10 with Sigmoid between them, an optional Sigmoid or Softmax at the output,
 * and no biases (or all-zero biases: the microcircuit's compartments have none). The circuit's steady state is
 * v̂_k = c_k·W_k r_{k−1}, r_k = φ(v̂_k) with c_k = g_B/(g_l+g_B+g_A) (hidden) or g_B/(g_l+g_B) (output), so the
 * ONNX layer z = M·x maps to W_k = M / c_k and the circuit without a target computes the model exactly (up to
 * the chip's quantisation). The model's float accuracy on the digits test split is returned beside the weights.
 */
import { TrainError } from './training.js';
import { matrix, type Matrix } from './circuits/metrics.js';
import { PAL_DIGITS } from './circuits/parameters.js';
import { steadyStateGains } from './circuits/microcircuit.js';
import { digitsSplit } from './data/digits.js';
import { parseChipChain } from './onnx/convert.js';
import { loadOnnx } from './onnx/onnxModel.js';

export interface OnnxSeed {
  hidden: number[];
  /** W_1..W_N of the circuit (post-major real matrices). */
  forward: Matrix[];
  /** The ONNX model's float accuracy on the digits test split. */
  accuracy: number;
}

export async function onnxInitWeights(bytes: Uint8Array, what: string): Promise<OnnxSeed> {
  const model = loadOnnx(bytes);
  const chain = parseChipChain(model);
  const layers = chain.layers;
  const hint = 'export a bias-free 64-…-10 MLP with Sigmoid hidden layers (e.g. the backprop reference of apical)';
  if (chain.inputSize !== 64 || chain.outputSize !== 10) throw new TrainError(`${what} maps ${chain.inputSize} inputs to ${chain.outputSize} outputs; the digits circuit needs 64 → 10`, hint);
  if (layers.length < 2) throw new TrainError(`${what} has ${layers.length} layer; the microcircuit needs at least one hidden layer`, hint);
  const gains = steadyStateGains(PAL_DIGITS, layers.length);
  const forward: Matrix[] = [];
  layers.forEach((L, k) => {
    const last = k === layers.length - 1;
    if (L.kind !== 'dense') throw new TrainError(`${what}: layer ${k + 1} (node ${L.node}) is a convolution; the microcircuit is fully connected`, hint);
    if (!last && L.activation !== 'sigmoid') throw new TrainError(`${what}: hidden layer ${k + 1} (node ${L.node}) uses ${L.activation}; the microcircuit's neurons are logistic`, hint);
    if (L.b && L.b.some((v) => v !== 0)) throw new TrainError(`${what}: layer ${k + 1} (node ${L.node}) has non-zero biases; the microcircuit's compartments have none`, hint);
    forward.push(matrix(L.nOut, L.nIn, Array.from(L.W, (v) => v / gains[k])));
  });
  // Float accuracy of the model itself: the sigmoid chain with its own weights (argmax of the output).
  const split = digitsSplit();
  let correct = 0;
  for (let s = 0; s < split.test.x.length; s++) {
    let r: number[] = Array.from(split.test.x[s]);
    layers.forEach((L, k) => {
      const z = Array.from({ length: L.nOut }, (_, j) => {
        let a = 0;
        for (let i = 0; i < L.nIn; i++) a += L.W[j * L.nIn + i] * r[i];
        return a;
      });
      r = k === layers.length - 1 ? z : z.map((v) => 1 / (1 + Math.exp(-v)));
    });
    let best = 0;
    for (let j = 1; j < r.length; j++) if (r[j] > r[best]) best = j;
    if (best === split.test.y[s]) correct++;
  }
  return { hidden: layers.slice(0, -1).map((L) => L.nOut), forward, accuracy: correct / split.test.x.length };
}

/**
 * ONNX → chip: map a feed-forward chain of dense layers onto graded populations (docs/onnx.md §"Export and
 * conversion to the chip").
 *
 * Supported graph: one input, one output, a chain
 *   Gemm | MatMul (+ Add of a constant)  →  Relu | Sigmoid | nothing (linear)  →  …  →  [Softmax]
 * with Identity, Flatten and Reshape anywhere as no-ops (the feature counts must still chain) and an optional
 * final Softmax that is dropped (a classifier's argmax does not change). Anything else is an OnnxError naming
 * the operator and the node.
 *
 * Each dense layer ℓ becomes a graded population with an instantaneous basal dendrite and kBasal = kTotal = 1,
 * so its soma is u = v_B = W̃_ℓ·r_{ℓ−1} + b̃_ℓ within one tick and its rate r = φ(u) (ReLU, sigmoid or linear
 * table). Every projection has delay 1: the input written before tick 0 is sent at tick 0, layer ℓ computes
 * at tick ℓ, so the output rates are final after ticksToOutput = L + 1 ticks (L = number of dense layers).
 *
 * Scaling (data-based normalisation, as in ANN→SNN conversion): the chip carries c_ℓ·a_ℓ for the float
 * activations a_ℓ. For ReLU and linear layers c_ℓ = T / λ_ℓ with λ_ℓ the `percentile` of the layer's
 * activations (|a| for linear layers) over the calibration samples, run through the float reference, and T
 * the largest graded payload (2^(s−1) − 2^(s−16), s = payloadShift); then W̃_ℓ = W_ℓ·c_ℓ/c_{ℓ−1} and
 * b̃_ℓ = b_ℓ·c_ℓ. With `alignWeights` (default) c_ℓ is lowered by up to a factor 2 so that max|W̃_ℓ| sits
 * exactly at the top of the B-bit weight grid (the weight exponent is a power of two, the activation scale is
 * free). A sigmoid layer keeps c_ℓ = 1 (φ is not homogeneous): W̃_ℓ = W_ℓ/c_{ℓ−1}, b̃_ℓ = b_ℓ. Activations
 * beyond T saturate (the percentile clip; its fraction on the calibration set is reported per layer).
 *
 * Biases: a graded input population `bias` (one neuron, held at 1.0 by the host) with a dense projection
 * `layerℓ.b` (nOut × 1, `biasBits`-bit weights, default 16) onto each layer's basal dendrite.
 */
import { Chip } from '../../emulator/chip.js';
import { WEIGHT_SHIFT_MAX } from '../../emulator/constants.js';
import { ProbeVariable, type Program } from '../../emulator/program.js';
import { compileNetwork, type QuantisationReport } from '../compiler.js';
import { Network } from '../network.js';
import { runOnnxFloat, type FloatInput } from './floatReference.js';
import { OnnxError, onnxNodeLabel, onnxOpsetVersion, onnxQuote, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnxModel.js';

export type ChipActivation = 'relu' | 'sigmoid' | 'linear';

export interface ConvertOptions {
  /** Calibration inputs (one flat sample each, the graph input's feature count). At least one. */
  calibration: ArrayLike<number>[];
  /** Percentile of each layer's calibration activations mapped to the top of the payload range. Default 99.9. */
  percentile?: number;
  /** Weight bits of the layer projections. Default 8. */
  weightBits?: 8 | 16;
  /** Weight bits of the bias projections. Default 16. */
  biasBits?: 8 | 16;
  /** Payload shift s of every population: payload range ±2^(s−1), 16 − s fractional bits. Default 4. */
  payloadShift?: number;
  /** Lower each layer's activation scale (≤ 2×) so its largest weight fills the weight grid. Default true. */
  alignWeights?: boolean;
  /** Network name (default: the graph's name or `onnx`). */
  name?: string;
  /** Network seed (default 1). */
  seed?: number;
}

export interface ConvertedLayer {
  /** Population name on the chip (`layer1`…). */
  name: string;
  /** The ONNX node (Gemm or MatMul) of the layer. */
  node: string;
  nIn: number;
  nOut: number;
  activation: ChipActivation;
  /** c_ℓ: chip value = scale × float activation. */
  scale: number;
  /** The calibration percentile of the layer's float activations (|a| for linear; for sigmoid unused: 1). */
  lambda: number;
  /**
   * Fraction of calibration activations beyond the chip's range (relu/linear: c·|a| above the largest payload;
   * sigmoid: |z| ≥ 8, where the table saturates).
   */
  clipFraction: number;
  /** SQNR of the quantised layer weights in dB. */
  sqnrDb: number;
  /** The weight projection's quantisation and the bias projection's (null without bias). */
  weights: QuantisationReport;
  bias: QuantisationReport | null;
}

export interface ChipConversion {
  program: Program;
  network: Network;
  layers: ConvertedLayer[];
  /** Ticks from writing an input to final output rates: L + 1. */
  ticksToOutput: number;
  /** Input port: STATE value = round(x · scale · 65536). */
  input: { port: string; size: number; scale: number; clipFraction: number };
  /** Output population: float output ≈ rate / 65536 / scale (pre-softmax when a Softmax was dropped). */
  output: { group: string; size: number; scale: number };
  /** The constant input port held at 1.0 (null when no layer has a bias). */
  biasPort: string | null;
  /** Whether a final Softmax was dropped. */
  softmaxDropped: boolean;
  /** The graph's input name and the float values calibrated per layer (graph value names). */
  graphInput: string;
  layerValues: string[];
}

interface ParsedLayer {
  node: string;
  nIn: number;
  nOut: number;
  W: Float64Array;
  b: Float64Array | null;
  activation: ChipActivation;
  /** The graph value holding the layer's output (after its activation). */
  value: string;
}

const q = onnxQuote;
const NO_OPS = new Set(['Identity', 'Flatten', 'Reshape']);

function attrInt(node: OnnxNode, name: string, def: number): number {
  const a = node.attributes[name];
  return a && a.type === 'int' ? a.value : def;
}
function attrFloat(node: OnnxNode, name: string, def: number): number {
  const a = node.attributes[name];
  return a && a.type === 'float' ? a.value : def;
}

/** Parses the graph into dense layers; throws OnnxError for anything outside the supported chain. */
export function parseDenseChain(model: OnnxModel): { layers: ParsedLayer[]; input: string; softmaxDropped: boolean } {
  const g = model.graph;
  if (g.inputs.length !== 1) throw new OnnxError(`chip conversion needs a graph with one input, this one has ${g.inputs.length}`);
  if (g.outputs.length !== 1) throw new OnnxError(`chip conversion needs a graph with one output, this one has ${g.outputs.length}`);
  const opset = onnxOpsetVersion(model) ?? 0;
  const uses = new Map<string, number>();
  for (const n of g.nodes) for (const v of n.inputs) if (v) uses.set(v, (uses.get(v) ?? 0) + 1);
  const layers: ParsedLayer[] = [];
  let cur = g.inputs[0].name;
  let open: ParsedLayer | null = null; // a dense layer that may still take an Add and an activation
  let softmaxDropped = false;
  const init = (name: string): OnnxTensor | undefined => g.initializers.get(name);
  const close = () => {
    if (open) layers.push(open);
    open = null;
  };
  g.nodes.forEach((node, i) => {
    const label = `${onnxNodeLabel(node, i)}, opset ${opset}`;
    const fail = (why: string): never => {
      throw new OnnxError(`cannot convert ${node.opType} (${label}) to the chip: ${why}`);
    };
    if (softmaxDropped) fail('only a final Softmax is supported, and it must be the last node');
    if (node.domain !== '') {
      throw new OnnxError(`unsupported operator ${q(node.opType)} from domain ${q(node.domain)} for chip conversion (${label})`, 'the chip converter supports Gemm, MatMul, Add, Relu, Sigmoid, Identity, Flatten, Reshape and a final Softmax');
    }
    const dataInputs = node.inputs.filter((v) => v !== '' && !g.initializers.has(v));
    const isShapeOnly = NO_OPS.has(node.opType) || node.opType === 'Softmax' || node.opType === 'Relu' || node.opType === 'Sigmoid';
    if (['Gemm', 'MatMul', 'Add'].includes(node.opType) || isShapeOnly) {
      if (dataInputs.length !== 1 || dataInputs[0] !== cur) {
        fail(`the converter supports a single chain of layers; this node reads ${dataInputs.map(q).join(', ') || 'only constants'}, the chain is at ${q(cur)}`);
      }
      if ((uses.get(cur) ?? 0) > 1) fail(`value ${q(cur)} is used by ${uses.get(cur)} nodes (branches are not supported)`);
      if (node.outputs.filter((o) => o !== '').length !== 1) fail('expected exactly one output');
    }
    const out = node.outputs[0];
    switch (node.opType) {
      case 'Identity':
      case 'Flatten':
      case 'Reshape':
        if (open) open.value = out;
        cur = out;
        return;
      case 'Gemm': {
        close();
        if (node.inputs[0] !== cur) fail('A must be the chain value');
        if (attrInt(node, 'transA', 0) !== 0) fail('transA = 1 is not supported');
        const B = init(node.inputs[1]);
        if (!B || B.dims.length !== 2) fail(`B must be a 2-D initializer`);
        const transB = attrInt(node, 'transB', 0);
        const alpha = attrFloat(node, 'alpha', 1);
        const beta = attrFloat(node, 'beta', 1);
        const [d0, d1] = B!.dims;
        const nOut = transB ? d0 : d1;
        const nIn = transB ? d1 : d0;
        const W = new Float64Array(nIn * nOut);
        for (let j = 0; j < nOut; j++) for (let k = 0; k < nIn; k++) W[j * nIn + k] = alpha * (transB ? B!.data[j * nIn + k] : B!.data[k * nOut + j]);
        let b: Float64Array | null = null;
        if (node.inputs[2] && beta !== 0) {
          const C = init(node.inputs[2]);
          if (!C) fail('C must be an initializer');
          b = biasVector(C!, nOut, beta, fail);
        }
        open = { node: node.name || `#${i}`, nIn, nOut, W, b, activation: 'linear', value: out };
        cur = out;
        return;
      }
      case 'MatMul': {
        close();
        if (node.inputs[0] !== cur) fail('A must be the chain value (x·W)');
        const B = init(node.inputs[1]);
        if (!B || B.dims.length !== 2) fail('B must be a 2-D initializer');
        const [nIn, nOut] = B!.dims;
        const W = new Float64Array(nIn * nOut);
        for (let j = 0; j < nOut; j++) for (let k = 0; k < nIn; k++) W[j * nIn + k] = B!.data[k * nOut + j];
        open = { node: node.name || `#${i}`, nIn, nOut, W, b: null, activation: 'linear', value: out };
        cur = out;
        return;
      }
      case 'Add': {
        const cst = node.inputs.find((v) => v !== cur);
        const C = cst !== undefined ? init(cst) : undefined;
        if (!C) fail('only the addition of a constant bias is supported');
        const L: ParsedLayer | null = open;
        if (!L || L.activation !== 'linear' || L.value !== cur) fail('an Add must follow a Gemm or MatMul directly (a bias)');
        const add = biasVector(C!, L!.nOut, 1, fail);
        if (!L!.b) L!.b = add;
        else for (let j = 0; j < add.length; j++) L!.b[j] += add[j];
        L!.value = out;
        cur = out;
        return;
      }
      case 'Relu':
      case 'Sigmoid': {
        const L: ParsedLayer | null = open;
        if (!L || L.value !== cur) fail('an activation must follow a dense layer (Gemm or MatMul)');
        L!.activation = node.opType === 'Relu' ? 'relu' : 'sigmoid';
        L!.value = out;
        cur = out;
        close();
        return;
      }
      case 'Softmax': {
        if (out !== g.outputs[0].name) fail('only a final Softmax (producing the graph output) is supported');
        const axis = attrInt(node, 'axis', opset >= 13 ? -1 : 1);
        if (axis !== -1 && axis !== 1) fail(`Softmax over axis ${axis} is not supported (use the feature axis)`);
        softmaxDropped = true;
        cur = out;
        return;
      }
      default:
        throw new OnnxError(
          `unsupported operator ${q(node.opType)} for chip conversion (${label})`,
          'the chip converter supports Gemm, MatMul, Add, Relu, Sigmoid, Identity, Flatten, Reshape and a final Softmax',
        );
    }
  });
  close();
  if (layers.length === 0) throw new OnnxError('chip conversion: the graph has no dense layer (Gemm or MatMul)');
  if (cur !== g.outputs[0].name) throw new OnnxError(`chip conversion: the chain ends at ${q(cur)}, not at the graph output ${q(g.outputs[0].name)}`);
  for (let l = 1; l < layers.length; l++) {
    if (layers[l].nIn !== layers[l - 1].nOut) {
      throw new OnnxError(`chip conversion: layer ${q(layers[l].node)} takes ${layers[l].nIn} features, but ${q(layers[l - 1].node)} gives ${layers[l - 1].nOut}`);
    }
  }
  return { layers, input: g.inputs[0].name, softmaxDropped };
}

function biasVector(C: OnnxTensor, nOut: number, beta: number, fail: (why: string) => never): Float64Array {
  const n = C.data.length;
  const nonUnit = C.dims.filter((d) => d !== 1);
  if (!(n === 1 || (n === nOut && nonUnit.length <= 1 && C.dims[C.dims.length - 1] === nOut))) {
    fail(`bias ${q(C.name)} has shape [${C.dims.join(', ')}], expected [${nOut}], [1, ${nOut}] or a scalar`);
  }
  return Float64Array.from({ length: nOut }, (_, j) => beta * C.data[n === 1 ? 0 : j]);
}

/** The p-th percentile (0..100) of values, nearest-rank on the sorted values. */
export function percentileOf(values: Float64Array, p: number): number {
  if (values.length === 0) return 0;
  const s = Float64Array.from(values).sort();
  const k = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length - 1e-9) - 1));
  return s[k];
}

function graphInputDims(model: OnnxModel, n: number): number[] {
  const shape = model.graph.inputs[0].shape;
  if (!shape) return [1, n];
  const dims = shape.map((d, k) => (typeof d === 'number' ? d : k === 0 ? 1 : -1));
  const free = dims.filter((d) => d < 0).length;
  const known = dims.filter((d) => d >= 0).reduce((a, b) => a * b, 1);
  if (free === 1) dims[dims.indexOf(-1)] = n / known;
  if (free > 1 || dims.reduce((a, b) => a * b, 1) !== n) {
    throw new OnnxError(`graph input ${q(model.graph.inputs[0].name)} has shape [${shape.join(', ')}], which does not hold a sample of ${n} values`);
  }
  return dims;
}

const LUT_TOP: Record<ChipActivation, number> = { relu: 14, linear: 8, sigmoid: 1 };

/**
 * Converts a feed-forward ONNX model to a chip Program (see the module comment). Throws OnnxError for graphs
 * outside the supported chain, NetworkError / ProgramFitError from the compiler.
 */
export function convertOnnxToChip(model: OnnxModel, options: ConvertOptions): ChipConversion {
  const { layers, input, softmaxDropped } = parseDenseChain(model);
  const cal = options.calibration;
  if (!cal || cal.length === 0) throw new OnnxError('chip conversion needs calibration samples (options.calibration)');
  const p = options.percentile ?? 99.9;
  if (!(p > 0 && p <= 100)) throw new OnnxError(`percentile ${p} must be in (0, 100]`);
  const s = options.payloadShift ?? 4;
  if (!Number.isInteger(s) || s < 1 || s > 16) throw new OnnxError(`payloadShift ${s} must be an integer in 1..16`);
  const bits = options.weightBits ?? 8;
  const biasBits = options.biasBits ?? 16;
  const align = options.alignWeights ?? true;
  const nIn = layers[0].nIn;
  const dims = graphInputDims(model, nIn);
  const payloadTop = 2 ** (s - 1) - 2 ** (s - 16);

  // Calibration: every layer's output through the float reference.
  const values: Float64Array[] = [];
  const acc: number[][] = layers.map(() => []);
  const inAbs: number[] = [];
  for (const x of cal) {
    if (x.length !== nIn) throw new OnnxError(`calibration sample has ${x.length} values, the model takes ${nIn}`);
    const data = Float64Array.from(x);
    for (const v of data) inAbs.push(Math.abs(v));
    const out = runOnnxFloat(model, { [input]: { dims, data } as FloatInput }, { outputs: layers.map((L) => L.value) });
    layers.forEach((L, l) => {
      const d = out[L.value].data;
      for (let k = 0; k < d.length; k++) acc[l].push(d[k]);
    });
  }
  layers.forEach((_, l) => (values[l] = Float64Array.from(acc[l])));

  // Input scale: 1 when the calibration inputs fit the payload range, else scaled down to it.
  const lambdaIn = percentileOf(Float64Array.from(inAbs), p);
  const inScale = lambdaIn > payloadTop ? payloadTop / lambdaIn : 1;
  const inClip = inAbs.filter((v) => v * inScale > payloadTop).length / Math.max(1, inAbs.length);

  const net = new Network(options.name ?? (model.graph.name || 'onnx').replace(/[^A-Za-z0-9_.-]/g, '_'), { seed: options.seed ?? 1 });
  net.metadata.source = 'onnx';
  net.input('input', nIn, { payloadShift: s });
  const anyBias = layers.some((L) => L.b !== null);
  if (anyBias) net.input('bias', 1, { payloadShift: s });
  const topW = 2 ** (bits - 1) - 1;
  let prevScale = inScale;
  let prevName = 'input';
  const plan: { name: string; scale: number; lambda: number; clip: number; W: Float64Array; b: Float64Array | null; range: number | undefined }[] = [];
  layers.forEach((L, l) => {
    const name = `layer${l + 1}`;
    const a = values[l];
    let scale = 1;
    let lambda = 1;
    let clip = 0;
    let range: number | undefined;
    if (L.activation === 'sigmoid') {
      for (const v of a) if (v <= 1 / (1 + Math.exp(8)) || v >= 1 / (1 + Math.exp(-8))) clip++;
    } else {
      const abs = a.map(Math.abs);
      lambda = percentileOf(abs, p);
      const top = Math.min(payloadTop, LUT_TOP[L.activation]);
      scale = lambda > 0 ? top / lambda : 1;
      let maxW = 0;
      for (const w of L.W) maxW = Math.max(maxW, Math.abs(w));
      const r = (maxW * scale) / prevScale;
      if (align && r > 0) {
        const shift = Math.floor(Math.log2(topW / r));
        if (shift >= -1 && shift < WEIGHT_SHIFT_MAX) {
          const rAligned = topW * 2 ** -(shift + 1);
          scale *= (rAligned / r) * (1 - 1e-12);
          range = (maxW * scale) / prevScale;
        }
      }
      for (const v of abs) if (v * scale > top) clip++;
    }
    const W = L.W.map((w) => (w * scale) / prevScale);
    const b = L.b ? L.b.map((v) => v * scale) : null;
    plan.push({ name, scale, lambda, clip: clip / Math.max(1, a.length), W, b, range });
    net.population(name, L.nOut, { activation: L.activation, basal: true, soma: { kBasal: 1, kTotal: 1 }, payloadShift: s });
    net.project(`${name}.w`, prevName, name, { weights: W, weightBits: bits, weightRange: range });
    if (b) net.project(`${name}.b`, 'bias', name, { weights: b, weightBits: biasBits });
    prevScale = scale;
    prevName = name;
  });
  const { program, quantisation } = compileNetwork(net);
  const report = (proj: string) => quantisation.find((x) => x.projection === proj) ?? null;
  const out: ConvertedLayer[] = layers.map((L, l) => {
    const w = report(`${plan[l].name}.w`)!;
    return {
      name: plan[l].name,
      node: L.node,
      nIn: L.nIn,
      nOut: L.nOut,
      activation: L.activation,
      scale: plan[l].scale,
      lambda: plan[l].lambda,
      clipFraction: plan[l].clip,
      sqnrDb: w.sqnrDb,
      weights: w,
      bias: L.b ? report(`${plan[l].name}.b`) : null,
    };
  });
  const last = plan[plan.length - 1];
  return {
    program,
    network: net,
    layers: out,
    ticksToOutput: layers.length + 1,
    input: { port: 'input', size: nIn, scale: inScale, clipFraction: inClip },
    output: { group: last.name, size: layers[layers.length - 1].nOut, scale: last.scale },
    biasPort: anyBias ? 'bias' : null,
    softmaxDropped,
    graphInput: input,
    layerValues: layers.map((L) => L.value),
  };
}

/** A Chip loaded with the converted program (digests off) and the bias port held at 1.0. */
export function loadConvertedChip(conv: ChipConversion): Chip {
  const chip = new Chip(conv.program, { digests: false });
  if (conv.biasPort) chip.setInput(conv.biasPort, [65536]);
  return chip;
}

/**
 * Runs one sample: writes the input port, runs ticksToOutput ticks and returns the output population's rates
 * in float units (rate / 65536 / output scale). Samples can follow each other on the same chip: every layer is
 * memoryless (u = v_B each tick), so after ticksToOutput ticks nothing of the previous sample is left.
 */
export function runConvertedChip(conv: ChipConversion, chip: Chip, x: ArrayLike<number>): Float64Array {
  if (x.length !== conv.input.size) throw new OnnxError(`sample has ${x.length} values, the converted model takes ${conv.input.size}`);
  chip.setInput(conv.input.port, Int32Array.from(x, (v) => Math.max(-2147483648, Math.min(2147483647, Math.round(v * conv.input.scale * 65536)))));
  if (conv.biasPort) chip.setInput(conv.biasPort, [65536]);
  chip.run(conv.ticksToOutput);
  const r = chip.read(conv.output.group, ProbeVariable.Rate);
  return Float64Array.from(r, (v) => v / 65536 / conv.output.scale);
}

/** Index of the largest value (the first on ties). */
export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < v.length; k++) if (v[k] > v[best]) best = k;
  return best;
}

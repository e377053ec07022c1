/**
 * ONNX → chip: map a feed-forward chain of dense and convolution layers onto populations (docs/onnx.md
 * §"Export and conversion to the chip").
 *
 * Supported graph: one input, one output, a chain
 *   (Gemm | MatMul (+ Add of a constant) | Conv (+ Add of a per-channel constant)) [→ BatchNormalization]
 *     → Relu | Sigmoid | nothing (linear)  →  …  →  [Softmax]
 * with Identity, Flatten and Reshape anywhere as no-ops (they never reorder values: the chip's neuron k is the
 * k-th value in row-major order) and an optional final Softmax that is dropped (a classifier's argmax does not
 * change). A BatchNormalization directly after a layer (before its activation) is folded into it: with
 * k = scale/√(var + ε), W ← k·W (per output channel) and b ← k·(b − mean) + B. Anything else — another operator,
 * a BatchNormalization elsewhere, branches, training-mode BatchNormalization — is an OnnxError naming the
 * operator, the node and the opset.
 *
 * Shapes: the graph input's dims for one sample come from its declared shape (batch 1); one unknown non-batch
 * dim is inferred from a dense first layer's width; anything else is "dynamic shape … cannot be resolved". The
 * float reference then runs once on a zero sample to learn every intermediate shape.
 *
 * A 2-D Conv (NCHW input [1, C, H, W], weights [M, C/group, kh, kw], any pads / strides / dilations / group /
 * auto_pad, optional bias) becomes a projection with the unrolled, shared weights: synapse
 * (c, iy, ix) → (m, oy, ox) with weight W[m, c, ky, kx] wherever iy = oy·sh − ph + ky·dh and ix likewise fall
 * inside the input (zero padding = no synapse). It is sparse unless a dense matrix would take less synapse
 * memory.
 *
 * Graded spikes (default). Each layer ℓ becomes a graded population with an instantaneous basal dendrite and
 * kBasal = kTotal = 1, so its soma is u = v_B = W̃_ℓ·r_{ℓ−1} + b̃_ℓ within one tick and its rate r = φ(u) (ReLU,
 * sigmoid or linear table). Every projection has delay 1: the input written before tick 0 is sent at tick 0,
 * layer ℓ computes at tick ℓ, so the output rates are final after ticksToOutput = L + 1 ticks.
 *
 * Binary spikes (rate coding, `spikes: 'binary'`). Values are spike rates in [0, 1] per tick. An `encode`
 * population of integrate-and-fire neurons turns the graded input into spikes; every hidden layer is a
 * population of integrate-and-fire neurons with reset by subtraction: the basal dendrite integrates
 * (decay 0) v_B(t) = Σ_τ≤t (W̃·s(τ) + b̃) − θ·(spikes before t), the soma follows it (u = v_B), a spike fires
 * when u ≥ θ = 1; the subtraction of θ is a one-to-one projection of weight −1 from the population onto its own
 * basal dendrite (delay 1), so no charge is lost at a reset (the chip's own reset only clears u, which is
 * recomputed from v_B the next tick). The output layer integrates without spiking (output none, u = v_B); the
 * host reads u before and after a window of `ticks` ticks and takes y = φ(Δu / ticks / c_L) (φ = ReLU or
 * identity). Inputs with negative values use a signed encoder (2·n neurons: x⁺ and x⁻, the first layer's
 * weights [W, −W]). Hidden layers must be ReLU (a rate cannot be negative); sigmoid layers are rejected.
 * ticksToOutput = L + 1 + ticks. Between samples the chip is reset to its loaded state.
 *
 * Scaling (data-based normalisation, as in ANN→SNN conversion): the chip carries c_ℓ·a_ℓ for the float
 * activations a_ℓ. For ReLU and linear layers c_ℓ = T / λ_ℓ with λ_ℓ the `percentile` of the layer's
 * activations (|a| for linear layers) over the calibration samples, run through the float reference, and T
 * the top of the range: graded, the largest payload 2^(s−1) − 2^(s−16) (s = payloadShift, at most the
 * table's top); binary, 1 spike per tick. Then W̃_ℓ = W_ℓ·c_ℓ/c_{ℓ−1} and b̃_ℓ = b_ℓ·c_ℓ. With `alignWeights`
 * (default) c_ℓ is lowered by up to a factor 2 so that max|W̃_ℓ| sits exactly at the top of the B-bit weight
 * grid (the weight exponent is a power of two, the activation scale is free). A sigmoid layer keeps c_ℓ = 1
 * (φ is not homogeneous): W̃_ℓ = W_ℓ/c_{ℓ−1}, b̃_ℓ = b_ℓ. Activations beyond T saturate (the percentile clip;
 * its fraction on the calibration set is reported per layer).
 *
 * Biases: a graded input population `bias` (one neuron, held at 1.0 by the host) with a dense projection
 * `layerℓ.b` (nOut × 1, `biasBits`-bit weights, default 16) onto each layer's basal dendrite.
 */
import { Chip, type Snapshot } from '../../emulator/chip.js';
import { CHIP_CORES, CORE_MAX_NEURONS, MAX_GROUP_SIZE, WEIGHT_SHIFT_MAX } from '../../emulator/constants.js';
import { ProgramFitError } from '../../emulator/errors.js';
import { ProbeVariable, type Program } from '../../emulator/program.js';
import { compileNetwork, type QuantisationReport } from '../compiler.js';
import { Network, type SparseWeights } from '../network.js';
import { onnxBatchNormEpsilon, onnxConvGeometry, runOnnxFloat, type FloatInput } from './floatReference.js';
import { OnnxError, onnxNodeLabel, onnxOpsetVersion, onnxQuote, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnxModel.js';

export type ChipActivation = 'relu' | 'sigmoid' | 'linear';
/** How values travel between layers: graded payloads, or rate-coded binary spikes. */
export type SpikeCoding = 'graded' | 'binary';

export interface ConvertOptions {
  /** Calibration inputs (one flat sample each, the graph input's value count, row-major). At least one. */
  calibration: ArrayLike<number>[];
  /** Percentile of each layer's calibration activations mapped to the top of the range. Default 99.9. */
  percentile?: number;
  /** Weight bits of the layer projections. Default 8. */
  weightBits?: 8 | 16;
  /** Weight bits of the bias projections. Default 16. */
  biasBits?: 8 | 16;
  /** Payload shift s of every graded population: payload range ±2^(s−1), 16 − s fractional bits. Default 4. */
  payloadShift?: number;
  /** Lower each layer's activation scale (≤ 2×) so its largest weight fills the weight grid. Default true. */
  alignWeights?: boolean;
  /** Graded payloads (default) or rate-coded binary spikes. */
  spikes?: SpikeCoding;
  /** Binary spikes: the window (ticks) over which the output is averaged. Default 64. */
  ticks?: number;
  /** Network name (default: the graph's name or `onnx`). */
  name?: string;
  /** Network seed (default 1). */
  seed?: number;
}

export interface ConvertedLayer {
  /** Population name on the chip (`layer1`…). */
  name: string;
  /** The ONNX node (Gemm, MatMul or Conv) of the layer. */
  node: string;
  kind: 'dense' | 'conv';
  /** Nodes folded into the layer (BatchNormalization). */
  folded: string[];
  nIn: number;
  nOut: number;
  activation: ChipActivation;
  /** The weight projection's storage: dense matrix or sparse (CSR) synapse list. */
  projection: 'dense' | 'sparse';
  /** Synapses of the weight projection. */
  synapses: number;
  /** c_ℓ: chip value = scale × float activation. */
  scale: number;
  /** The calibration percentile of the layer's float activations (|a| for linear; for sigmoid unused: 1). */
  lambda: number;
  /**
   * Fraction of calibration activations beyond the chip's range (relu/linear: c·|a| above the top;
   * sigmoid: |z| ≥ 8, where the table saturates; the binary output layer: 0, it does not saturate).
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
  spikes: SpikeCoding;
  /** Binary spikes: the averaging window in ticks; graded: 0. */
  ticks: number;
  /** Ticks from writing an input to the output: graded L + 1, binary L + 1 + ticks. */
  ticksToOutput: number;
  /** Input port: STATE value = round(x · scale · 65536). `dims`: the graph input's dims for one sample. */
  input: { port: string; size: number; dims: number[]; scale: number; clipFraction: number; signed: boolean };
  /** Output population: float output ≈ rate / 65536 / scale (graded), φ(Δu / ticks / 65536 / scale) (binary). */
  output: { group: string; size: number; scale: number; activation: ChipActivation };
  /** The constant input port held at 1.0 (null when no layer has a bias). */
  biasPort: string | null;
  /** Whether a final Softmax was dropped. */
  softmaxDropped: boolean;
  /** The graph's input name and the float values calibrated per layer (graph value names). */
  graphInput: string;
  layerValues: string[];
}

/** Conv geometry resolved for one sample. */
interface ConvShape {
  C: number;
  H: number;
  W: number;
  M: number;
  kh: number;
  kw: number;
  OH: number;
  OW: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  ph: number;
  pw: number;
  group: number;
}

interface ParsedLayer {
  kind: 'dense' | 'conv';
  node: string;
  nodeIndex: number;
  nIn: number;
  nOut: number;
  /** Dense: post-major [nOut × nIn]. Conv: the kernel [M, C/group, kh, kw]. */
  W: Float64Array;
  /** Dense: per output; conv: per output channel. */
  b: Float64Array | null;
  activation: ChipActivation;
  /** The chain value the layer reads. */
  inputValue: string;
  /** The graph value holding the layer's output (after its activation). */
  value: string;
  /** Conv: the kernel dims [M, C/group, kh, kw] and, once resolved, the geometry. */
  kernelDims: number[] | null;
  conv: ConvShape | null;
  folded: string[];
  /** Whether a Flatten or Reshape came after the layer's node (a per-channel Add or BatchNormalization is then refused). */
  reshaped: boolean;
}

/** The parsed chain with every shape resolved for one sample. */
export interface ChipChain {
  layers: ParsedLayer[];
  /** The graph input's name and its dims for one sample (batch 1). */
  input: string;
  inputDims: number[];
  /** Values per sample at the input and at the output. */
  inputSize: number;
  outputSize: number;
  softmaxDropped: boolean;
}

const q = onnxQuote;
const NO_OPS = new Set(['Identity', 'Flatten', 'Reshape']);
const CHAIN_OPS = new Set(['Gemm', 'MatMul', 'Add', 'Conv', 'BatchNormalization', 'Relu', 'Sigmoid', 'Softmax', ...NO_OPS]);
const CHIP_OPS_HINT = 'the chip converter supports Gemm, MatMul, Conv, Add (bias), BatchNormalization (folded), Relu, Sigmoid, Identity, Flatten, Reshape and a final Softmax';

function attrInt(node: OnnxNode, name: string, def: number): number {
  const a = node.attributes[name];
  return a && a.type === 'int' ? a.value : def;
}
function attrFloat(node: OnnxNode, name: string, def: number): number {
  const a = node.attributes[name];
  return a && a.type === 'float' ? a.value : def;
}

function size(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Parses the graph into dense and conv layers and resolves every shape for one sample; throws OnnxError for
 * anything outside the supported chain (see the module comment).
 */
export function parseChipChain(model: OnnxModel): ChipChain {
  const g = model.graph;
  if (g.inputs.length !== 1) throw new OnnxError(`chip conversion needs a graph with one input, this one has ${g.inputs.length}`);
  if (g.outputs.length !== 1) throw new OnnxError(`chip conversion needs a graph with one output, this one has ${g.outputs.length}`);
  const opset = onnxOpsetVersion(model) ?? 0;
  const uses = new Map<string, number>();
  for (const n of g.nodes) for (const v of n.inputs) if (v) uses.set(v, (uses.get(v) ?? 0) + 1);
  const layers: ParsedLayer[] = [];
  let cur = g.inputs[0].name;
  let open: ParsedLayer | null = null; // a layer that may still take an Add, a BatchNormalization and an activation
  let softmax: { node: OnnxNode; index: number; input: string } | null = null;
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
    if (softmax) fail('only a final Softmax is supported, and it must be the last node');
    if (node.domain !== '') throw new OnnxError(`unsupported operator ${q(node.opType)} from domain ${q(node.domain)} for chip conversion (${label})`, CHIP_OPS_HINT);
    if (!CHAIN_OPS.has(node.opType)) throw new OnnxError(`unsupported operator ${q(node.opType)} for chip conversion (${label})`, CHIP_OPS_HINT);
    const dataInputs = node.inputs.filter((v) => v !== '' && !g.initializers.has(v));
    if (dataInputs.length !== 1 || dataInputs[0] !== cur) {
      fail(`the converter supports a single chain of layers; this node reads ${dataInputs.map(q).join(', ') || 'only constants'}, the chain is at ${q(cur)}`);
    }
    if ((uses.get(cur) ?? 0) > 1) fail(`value ${q(cur)} is used by ${uses.get(cur)} nodes (branches are not supported)`);
    if (node.outputs.filter((o) => o !== '').length !== 1 || node.outputs[0] === '') fail('expected exactly one output');
    const out = node.outputs[0];
    const name = node.name || `#${i}`;
    switch (node.opType) {
      case 'Identity':
      case 'Flatten':
      case 'Reshape':
        if (open) {
          open.value = out;
          if (node.opType !== 'Identity') open.reshaped = true;
        }
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
        open = { kind: 'dense', node: name, nodeIndex: i, nIn, nOut, W, b, activation: 'linear', inputValue: cur, value: out, kernelDims: null, conv: null, folded: [], reshaped: false };
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
        open = { kind: 'dense', node: name, nodeIndex: i, nIn, nOut, W, b: null, activation: 'linear', inputValue: cur, value: out, kernelDims: null, conv: null, folded: [], reshaped: false };
        cur = out;
        return;
      }
      case 'Conv': {
        close();
        if (node.inputs[0] !== cur) fail('X must be the chain value');
        const Wt = init(node.inputs[1]);
        if (!Wt) fail('W must be an initializer');
        if (Wt!.dims.length !== 4) fail(`only 2-D convolutions (4-D W [M, C/group, kh, kw]) are supported; W has shape [${Wt!.dims.join(', ')}]`);
        const M = Wt!.dims[0];
        let b: Float64Array | null = null;
        if (node.inputs[2]) {
          const B = init(node.inputs[2]);
          if (!B) fail('B must be an initializer');
          if (B!.data.length !== M) fail(`B has shape [${B!.dims.join(', ')}], expected [${M}]`);
          b = Float64Array.from(B!.data);
        }
        open = { kind: 'conv', node: name, nodeIndex: i, nIn: 0, nOut: 0, W: Float64Array.from(Wt!.data), b, activation: 'linear', inputValue: cur, value: out, kernelDims: Wt!.dims.slice(), conv: null, folded: [], reshaped: false };
        cur = out;
        return;
      }
      case 'Add': {
        const cst = node.inputs.find((v) => v !== cur);
        const C = cst !== undefined ? init(cst) : undefined;
        if (!C) fail('only the addition of a constant bias is supported');
        const L: ParsedLayer | null = open;
        if (!L || L.activation !== 'linear' || L.value !== cur) fail('an Add must follow a Gemm, MatMul or Conv directly (a bias)');
        if (L!.kind === 'conv' && L!.reshaped) fail('a bias Add must come before any Flatten or Reshape of the Conv output');
        const add = L!.kind === 'conv' ? channelBias(C!, L!.kernelDims![0], fail) : biasVector(C!, L!.nOut, 1, fail);
        if (!L!.b) L!.b = add;
        else for (let j = 0; j < add.length; j++) L!.b[j] += add[j];
        L!.value = out;
        cur = out;
        return;
      }
      case 'BatchNormalization': {
        const L: ParsedLayer | null = open;
        if (!L || L.activation !== 'linear' || L.value !== cur) {
          fail('a BatchNormalization must directly follow a Conv, Gemm or MatMul (+ Add), before the activation, to be folded into it');
        }
        if (L!.reshaped) fail('a BatchNormalization must come before any Flatten or Reshape of the layer output');
        const eps = onnxBatchNormEpsilon(node, i, opset);
        const params = node.inputs.slice(1, 5).map((v) => (v ? init(v) : undefined));
        if (params.length !== 4 || params.some((p) => !p)) fail('scale, B, mean and var must be initializers');
        const channels = L!.kind === 'conv' ? L!.kernelDims![0] : L!.nOut;
        const names = ['scale', 'B', 'mean', 'var'];
        params.forEach((p, k) => {
          if (p!.data.length !== channels) fail(`${names[k]} has ${p!.data.length} values, but ${q(L!.node)} has ${channels} output channels`);
        });
        const [scale, beta, mean, variance] = params.map((p) => p!.data);
        const per = L!.W.length / channels; // weights per output channel (dense: nIn; conv: C/group·kh·kw)
        const b = L!.b ?? new Float64Array(channels);
        for (let c = 0; c < channels; c++) {
          const k = scale[c] / Math.sqrt(variance[c] + eps);
          for (let t = 0; t < per; t++) L!.W[c * per + t] *= k;
          b[c] = (b[c] - mean[c]) * k + beta[c];
        }
        L!.b = b;
        L!.folded.push(name);
        L!.value = out;
        cur = out;
        return;
      }
      case 'Relu':
      case 'Sigmoid': {
        const L: ParsedLayer | null = open;
        if (!L || L.value !== cur) fail('an activation must follow a layer (Gemm, MatMul or Conv)');
        L!.activation = node.opType === 'Relu' ? 'relu' : 'sigmoid';
        L!.value = out;
        cur = out;
        close();
        return;
      }
      case 'Softmax': {
        if (out !== g.outputs[0].name) fail('only a final Softmax (producing the graph output) is supported');
        softmax = { node, index: i, input: cur };
        cur = out;
        return;
      }
    }
  });
  close();
  if (layers.length === 0) throw new OnnxError('chip conversion: the graph has no layer (Gemm, MatMul or Conv)');
  if (cur !== g.outputs[0].name) throw new OnnxError(`chip conversion: the chain ends at ${q(cur)}, not at the graph output ${q(g.outputs[0].name)}`);

  // Shapes: the input's dims for one sample, then every value's dims from one float run on zeros.
  const inputDims = sampleInputDims(model, layers[0].kind === 'dense' ? layers[0].nIn : null);
  const sm = softmax as { node: OnnxNode; index: number; input: string } | null;
  const wanted = [...new Set([...layers.flatMap((L) => [L.inputValue, L.value]), ...(sm ? [sm.input] : [])])];
  const shapes = runOnnxFloat(model, { [g.inputs[0].name]: { dims: inputDims, data: new Float64Array(size(inputDims)) } }, { outputs: wanted });
  layers.forEach((L) => {
    const inDims = shapes[L.inputValue].dims;
    const outDims = shapes[L.value].dims;
    const label = `${onnxNodeLabel(g.nodes[L.nodeIndex], L.nodeIndex)}, opset ${opset}`;
    if (L.kind === 'conv') {
      const node = g.nodes[L.nodeIndex];
      if (inDims.length !== 4 || inDims[0] !== 1) throw new OnnxError(`cannot convert Conv (${label}) to the chip: X has shape [${inDims.join(', ')}], expected [1, C, H, W]`);
      const [M, , kh, kw] = L.kernelDims!;
      const geo = onnxConvGeometry(node, L.nodeIndex, opset, inDims, L.kernelDims!);
      const [, C, H, W] = inDims;
      L.conv = { C, H, W, M, kh, kw, OH: geo.out[0], OW: geo.out[1], sh: geo.strides[0], sw: geo.strides[1], dh: geo.dilations[0], dw: geo.dilations[1], ph: geo.padBegin[0], pw: geo.padBegin[1], group: attrInt(node, 'group', 1) };
      L.nIn = C * H * W;
      L.nOut = M * geo.out[0] * geo.out[1];
    } else if (size(inDims) !== L.nIn) {
      throw new OnnxError(`cannot convert ${g.nodes[L.nodeIndex].opType} (${label}) to the chip: its input has shape [${inDims.join(', ')}], not one sample of ${L.nIn} values`);
    }
    if (size(outDims) !== L.nOut) throw new OnnxError(`cannot convert ${g.nodes[L.nodeIndex].opType} (${label}) to the chip: its output has shape [${outDims.join(', ')}], not one sample of ${L.nOut} values`);
  });
  if (sm) {
    const dims = shapes[sm.input].dims;
    const r = dims.length;
    const axisRaw = attrInt(sm.node, 'axis', opset >= 13 ? -1 : 1);
    const axis = axisRaw < 0 ? axisRaw + r : axisRaw;
    // The dropped Softmax must normalise over all the features of the sample (then argmax is unchanged).
    const overAll = opset >= 13 ? size(dims.filter((_, k) => k !== axis)) === 1 : size(dims.slice(0, axis)) === 1;
    if (!overAll) {
      throw new OnnxError(`cannot convert Softmax (${onnxNodeLabel(sm.node, sm.index)}, opset ${opset}) to the chip: over axis ${axisRaw} of shape [${dims.join(', ')}] it does not normalise over all the features`);
    }
  }
  for (let l = 1; l < layers.length; l++) {
    if (layers[l].nIn !== layers[l - 1].nOut) {
      throw new OnnxError(`chip conversion: layer ${q(layers[l].node)} takes ${layers[l].nIn} values, but ${q(layers[l - 1].node)} gives ${layers[l - 1].nOut}`);
    }
  }
  return { layers, input: g.inputs[0].name, inputDims, inputSize: size(inputDims), outputSize: layers[layers.length - 1].nOut, softmaxDropped: sm !== null };
}

/**
 * The dims of the graph input for one sample: its declared shape with the batch (a symbolic or unknown first
 * dim) set to 1; one other unknown dim is inferred when the first layer is dense (`firstWidth` values per
 * sample). More unknowns, a conv first layer with unknown dims, or a fixed shape that does not hold the first
 * layer's width, is an OnnxError.
 */
export function sampleInputDims(model: OnnxModel, firstWidth: number | null): number[] {
  const inp = model.graph.inputs[0];
  const shown = inp.shape ? `[${inp.shape.map((d) => (d === null ? '?' : d)).join(', ')}]` : '';
  if (!inp.shape) {
    if (firstWidth === null) throw new OnnxError(`graph input ${q(inp.name)} has no declared shape, which cannot be resolved for a convolution`, 'export the model with a fixed input shape [N, C, H, W]');
    return [1, firstWidth];
  }
  const dims = inp.shape.map((d, k) => (typeof d === 'number' ? d : k === 0 ? 1 : -1));
  const free = dims.filter((d) => d < 0).length;
  if (free > 1 || (free === 1 && firstWidth === null)) {
    throw new OnnxError(`graph input ${q(inp.name)} has dynamic shape ${shown}, which cannot be resolved to one sample`, 'export the model with fixed sizes for every dim but the batch');
  }
  const known = size(dims.filter((d) => d >= 0));
  if (free === 1) {
    if (known === 0 || firstWidth! % known !== 0) throw new OnnxError(`graph input ${q(inp.name)} has shape ${shown}, which cannot hold a sample of ${firstWidth} values`, "check the model's input shape");
    dims[dims.indexOf(-1)] = firstWidth! / known;
  }
  if (firstWidth !== null && size(dims) !== firstWidth) {
    throw new OnnxError(`graph input ${q(inp.name)} has shape ${shown}, which does not hold a sample of ${firstWidth} values (the first layer takes ${firstWidth})`, "check the model's input shape");
  }
  return dims;
}

/** A per-channel constant added to a conv output [1, M, OH, OW]: a scalar or dims ending in [M, 1, 1]. */
function channelBias(C: OnnxTensor, M: number, fail: (why: string) => never): Float64Array {
  const n = C.data.length;
  const d = C.dims;
  const perChannel = n === M && d.length >= 3 && d[d.length - 3] === M && d.slice(-2).every((x) => x === 1) && d.slice(0, -3).every((x) => x === 1);
  if (!(n === 1 || perChannel)) fail(`bias ${q(C.name)} has shape [${d.join(', ')}], expected a scalar or [${M}, 1, 1] (one value per output channel)`);
  return Float64Array.from({ length: M }, (_, j) => C.data[n === 1 ? 0 : j]);
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

const LUT_TOP: Record<ChipActivation, number> = { relu: 14, linear: 8, sigmoid: 1 };

/** The largest |value|. */
function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < v.length; k++) m = Math.max(m, Math.abs(v[k]));
  return m;
}

/**
 * The unrolled synapses of a conv layer (pre = (c·H + iy)·W + ix, post = (m·OH + oy)·OW + ox, weight
 * K[m, c − g·C/group, ky, kx]·factor), in post order; padding positions have no synapse.
 */
export function convSynapses(c: ConvShape, kernel: ArrayLike<number>, factor: number): { pre: Int32Array; post: Int32Array; values: Float64Array } {
  const Cg = c.C / c.group;
  const Mg = c.M / c.group;
  const pre: number[] = [];
  const post: number[] = [];
  const values: number[] = [];
  for (let m = 0; m < c.M; m++) {
    const g = Math.floor(m / Mg);
    for (let oy = 0; oy < c.OH; oy++) {
      for (let ox = 0; ox < c.OW; ox++) {
        const j = (m * c.OH + oy) * c.OW + ox;
        for (let cc = 0; cc < Cg; cc++) {
          const ci = g * Cg + cc;
          for (let ky = 0; ky < c.kh; ky++) {
            const iy = oy * c.sh - c.ph + ky * c.dh;
            if (iy < 0 || iy >= c.H) continue;
            for (let kx = 0; kx < c.kw; kx++) {
              const ix = ox * c.sw - c.pw + kx * c.dw;
              if (ix < 0 || ix >= c.W) continue;
              pre.push((ci * c.H + iy) * c.W + ix);
              post.push(j);
              values.push(kernel[((m * Cg + cc) * c.kh + ky) * c.kw + kx] * factor);
            }
          }
        }
      }
    }
  }
  return { pre: Int32Array.from(pre), post: Int32Array.from(post), values: Float64Array.from(values) };
}

/** The weights of one layer projection in the form the Network builder takes, and how they are stored. */
interface LayerWeights {
  kind: 'dense' | 'sparse';
  weights: Float64Array | SparseWeights;
  synapses: number;
}

/**
 * The projection weights of layer L scaled by `factor`; with `signedInput` (a signed binary encoder of nIn
 * positive and nIn negative neurons) the weights are [W, −W]. Conv layers are sparse unless a dense matrix is
 * smaller in synapse memory (B/8 bytes per synapse against B/8 + 2 for sparse).
 */
function layerWeights(L: ParsedLayer, factor: number, bits: 8 | 16, signedInput: boolean): LayerWeights {
  const nPre = signedInput ? 2 * L.nIn : L.nIn;
  if (L.kind === 'dense') {
    const W = new Float64Array(L.nOut * nPre);
    for (let j = 0; j < L.nOut; j++) {
      for (let i = 0; i < L.nIn; i++) {
        const w = L.W[j * L.nIn + i] * factor;
        W[j * nPre + i] = w;
        if (signedInput) W[j * nPre + L.nIn + i] = -w;
      }
    }
    return { kind: 'dense', weights: W, synapses: W.length };
  }
  let { pre, post, values } = convSynapses(L.conv!, L.W, factor);
  if (signedInput) {
    const n = values.length;
    const pre2 = new Int32Array(2 * n);
    const post2 = new Int32Array(2 * n);
    const values2 = new Float64Array(2 * n);
    for (let k = 0; k < n; k++) {
      pre2[k] = pre[k];
      pre2[n + k] = pre[k] + L.nIn;
      post2[k] = post2[n + k] = post[k];
      values2[k] = values[k];
      values2[n + k] = -values[k];
    }
    pre = pre2;
    post = post2;
    values = values2;
  }
  const bytes = bits / 8;
  if (values.length * (bytes + 2) < nPre * L.nOut * bytes) return { kind: 'sparse', weights: { pre, post, values }, synapses: values.length };
  const W = new Float64Array(L.nOut * nPre);
  for (let k = 0; k < values.length; k++) W[post[k] * nPre + pre[k]] += values[k];
  return { kind: 'dense', weights: W, synapses: W.length };
}

/** Fails early, with the layer named, when the populations cannot fit the chip's neurons. */
function checkNeurons(layers: ParsedLayer[], inputNeurons: number): void {
  const capacity = CHIP_CORES * CORE_MAX_NEURONS;
  let total = inputNeurons;
  layers.forEach((L, l) => {
    if (L.nOut > MAX_GROUP_SIZE) {
      throw new ProgramFitError(`layer${l + 1} (${q(L.node)}, ${L.kind}) has ${L.nOut} neurons, more than a population can have (${MAX_GROUP_SIZE}): the network does not fit on the chip`, 'use a smaller input, fewer channels or larger strides');
    }
    total += L.nOut;
  });
  if (total > capacity) {
    throw new ProgramFitError(`the network needs ${total} neurons (${layers.map((L, l) => `layer${l + 1} ${L.nOut}`).join(', ')}, input ${inputNeurons}), the chip has ${capacity}: it does not fit`, 'use a smaller input, fewer channels or larger strides');
  }
}

/**
 * Converts a feed-forward ONNX model to a chip Program (see the module comment). Throws OnnxError for graphs
 * outside the supported chain, NetworkError / ProgramFitError (does not fit the chip) from the compiler.
 */
export function convertOnnxToChip(model: OnnxModel, options: ConvertOptions): ChipConversion {
  const { layers, input, inputDims: dims, inputSize: nIn, softmaxDropped } = parseChipChain(model);
  const cal = options.calibration;
  if (!cal || cal.length === 0) throw new OnnxError('chip conversion needs calibration samples (options.calibration)');
  const p = options.percentile ?? 99.9;
  if (!(p > 0 && p <= 100)) throw new OnnxError(`percentile ${p} must be in (0, 100]`);
  const s = options.payloadShift ?? 4;
  if (!Number.isInteger(s) || s < 1 || s > 16) throw new OnnxError(`payloadShift ${s} must be an integer in 1..16`);
  const bits = options.weightBits ?? 8;
  const biasBits = options.biasBits ?? 16;
  const align = options.alignWeights ?? true;
  const spikes = options.spikes ?? 'graded';
  if (spikes !== 'graded' && spikes !== 'binary') throw new OnnxError(`spikes ${JSON.stringify(spikes)} must be graded or binary`);
  const binary = spikes === 'binary';
  const ticks = binary ? (options.ticks ?? 64) : 0;
  if (binary && !(Number.isInteger(ticks) && ticks >= 1 && ticks <= 1_000_000)) throw new OnnxError(`ticks ${ticks} must be an integer in 1..1000000`);
  if (binary) {
    layers.forEach((L, l) => {
      const last = l === layers.length - 1;
      if (L.activation === 'sigmoid' || (!last && L.activation !== 'relu')) {
        throw new OnnxError(
          `binary spikes cannot carry layer${l + 1} (${q(L.node)}, ${L.activation}): with rate-coded binary spikes hidden layers must be ReLU and the output layer ReLU or linear`,
          'convert with graded spikes (--spikes graded)',
        );
      }
    });
  }
  const payloadTop = 2 ** (s - 1) - 2 ** (s - 16);

  // Calibration: every layer's output through the float reference.
  const values: Float64Array[] = [];
  const acc: number[][] = layers.map(() => []);
  const inAbs: number[] = [];
  let negativeInput = false;
  for (const x of cal) {
    if (x.length !== nIn) throw new OnnxError(`calibration sample has ${x.length} values, the model takes ${nIn}`);
    const data = Float64Array.from(x);
    for (const v of data) {
      inAbs.push(Math.abs(v));
      if (v < 0) negativeInput = true;
    }
    const out = runOnnxFloat(model, { [input]: { dims, data } as FloatInput }, { outputs: layers.map((L) => L.value) });
    layers.forEach((L, l) => {
      const d = out[L.value].data;
      for (let k = 0; k < d.length; k++) acc[l].push(d[k]);
    });
  }
  layers.forEach((_, l) => (values[l] = Float64Array.from(acc[l])));

  // Input scale. Graded: 1 when the calibration inputs fit the payload range, else scaled down to it.
  // Binary: the percentile maps to 1 spike per tick.
  const lambdaIn = percentileOf(Float64Array.from(inAbs), p);
  const inTop = binary ? 1 : payloadTop;
  const inScale = binary ? (lambdaIn > 0 ? 1 / lambdaIn : 1) : lambdaIn > payloadTop ? payloadTop / lambdaIn : 1;
  const inClip = inAbs.filter((v) => v * inScale > inTop).length / Math.max(1, inAbs.length);
  const signed = binary && negativeInput;
  checkNeurons(layers, nIn * (binary ? (signed ? 3 : 2) : 1));

  const net = new Network(options.name ?? (model.graph.name || 'onnx').replace(/[^A-Za-z0-9_.-]/g, '_'), { seed: options.seed ?? 1 });
  net.metadata.source = 'onnx';
  if (binary) net.metadata.spikes = 'binary';
  net.input('input', nIn, { payloadShift: s });
  const anyBias = layers.some((L) => L.b !== null);
  if (anyBias) net.input('bias', 1, { payloadShift: s });
  // An integrate-and-fire population with reset by subtraction (see the module comment).
  const ifPopulation = (name: string, n: number) => {
    net.population(name, n, { output: 'binary', basal: { decay: 0 }, soma: { kBasal: 1, kTotal: 1 }, threshold: 1, reset: 0 });
    net.project(`${name}.reset`, name, name, { kind: 'oneToOne', weights: new Float64Array(n).fill(-1), weightBits: 8 });
  };
  let prevName = 'input';
  if (binary) {
    ifPopulation('encode', signed ? 2 * nIn : nIn);
    if (signed) {
      const idx = Int32Array.from({ length: 2 * nIn }, (_, k) => k % nIn);
      const post = Int32Array.from({ length: 2 * nIn }, (_, k) => k);
      const w = Float64Array.from({ length: 2 * nIn }, (_, k) => (k < nIn ? 1 : -1));
      net.project('encode.in', 'input', 'encode', { kind: 'sparse', weights: { pre: idx, post, values: w }, weightBits: 8 });
    } else {
      net.project('encode.in', 'input', 'encode', { kind: 'oneToOne', weights: new Float64Array(nIn).fill(1), weightBits: 8 });
    }
    prevName = 'encode';
  }
  const topW = 2 ** (bits - 1) - 1;
  let prevScale = inScale;
  const plan: { name: string; scale: number; lambda: number; clip: number; b: Float64Array | null; weights: LayerWeights }[] = [];
  layers.forEach((L, l) => {
    const name = `layer${l + 1}`;
    const last = l === layers.length - 1;
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
      const top = binary ? 1 : Math.min(payloadTop, LUT_TOP[L.activation]);
      scale = lambda > 0 ? top / lambda : 1;
      const r = (maxAbs(L.W) * scale) / prevScale;
      if (align && r > 0) {
        const shift = Math.floor(Math.log2(topW / r));
        if (shift >= -1 && shift < WEIGHT_SHIFT_MAX) {
          const rAligned = topW * 2 ** -(shift + 1);
          scale *= (rAligned / r) * (1 - 1e-12);
          range = (maxAbs(L.W) * scale) / prevScale;
        }
      }
      // The binary output layer integrates without a ceiling.
      if (!(binary && last)) for (const v of abs) if (v * scale > top) clip++;
    }
    const weights = layerWeights(L, scale / prevScale, bits, binary && l === 0 && signed);
    // Conv biases are per channel: every position of channel m gets b[m].
    let b: Float64Array | null = null;
    if (L.b) {
      const perChannel = L.kind === 'conv' ? L.conv!.OH * L.conv!.OW : 1;
      b = Float64Array.from({ length: L.nOut }, (_, j) => L.b![Math.floor(j / perChannel)] * scale);
    }
    plan.push({ name, scale, lambda, clip: clip / Math.max(1, a.length), b, weights });
    if (!binary) {
      net.population(name, L.nOut, { activation: L.activation, basal: true, soma: { kBasal: 1, kTotal: 1 }, payloadShift: s });
    } else if (!last) {
      ifPopulation(name, L.nOut);
    } else {
      net.population(name, L.nOut, { output: 'none', basal: { decay: 0 }, soma: { kBasal: 1, kTotal: 1 } });
    }
    net.project(`${name}.w`, prevName, name, { kind: weights.kind, weights: weights.weights, weightBits: bits, weightRange: range });
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
      kind: L.kind,
      folded: L.folded.slice(),
      nIn: L.nIn,
      nOut: L.nOut,
      activation: L.activation,
      projection: plan[l].weights.kind,
      synapses: plan[l].weights.synapses,
      scale: plan[l].scale,
      lambda: plan[l].lambda,
      clipFraction: plan[l].clip,
      sqnrDb: w.sqnrDb,
      weights: w,
      bias: L.b ? report(`${plan[l].name}.b`) : null,
    };
  });
  const last = plan[plan.length - 1];
  const lastLayer = layers[layers.length - 1];
  return {
    program,
    network: net,
    layers: out,
    spikes,
    ticks,
    ticksToOutput: layers.length + 1 + ticks,
    input: { port: 'input', size: nIn, dims: dims.slice(), scale: inScale, clipFraction: inClip, signed },
    output: { group: last.name, size: lastLayer.nOut, scale: last.scale, activation: lastLayer.activation },
    biasPort: anyBias ? 'bias' : null,
    softmaxDropped,
    graphInput: input,
    layerValues: layers.map((L) => L.value),
  };
}

/** The state each chip had when loadConvertedChip made it: binary conversions restart from it for every sample. */
const loadedState = new WeakMap<Chip, Snapshot>();

/** A Chip loaded with the converted program (digests off) and the bias port held at 1.0. */
export function loadConvertedChip(conv: ChipConversion): Chip {
  const chip = new Chip(conv.program, { digests: false });
  if (conv.biasPort) chip.setInput(conv.biasPort, [65536]);
  if (conv.spikes === 'binary') loadedState.set(chip, chip.snapshot());
  return chip;
}

/**
 * Runs one sample and returns the output in float units. Graded: writes the input port, runs ticksToOutput
 * ticks, returns rate / 65536 / output scale; samples can follow each other on the same chip (every layer is
 * memoryless, u = v_B each tick). Binary: restores the chip's loaded state (the integrators keep charge), writes
 * the input, runs L + 1 ticks (the first spikes reach the output), reads the output potentials u₀, runs
 * `ticks` more and returns φ((u − u₀) / ticks / 65536 / output scale). The chip must come from
 * loadConvertedChip.
 */
export function runConvertedChip(conv: ChipConversion, chip: Chip, x: ArrayLike<number>): Float64Array {
  if (x.length !== conv.input.size) throw new OnnxError(`sample has ${x.length} values, the converted model takes ${conv.input.size}`);
  const state = conv.spikes === 'binary' ? loadedState.get(chip) : undefined;
  if (conv.spikes === 'binary') {
    if (!state) throw new OnnxError('runConvertedChip: a binary-spike conversion needs a chip made by loadConvertedChip');
    chip.restore(state);
  }
  chip.setInput(conv.input.port, Int32Array.from(x, (v) => Math.max(-2147483648, Math.min(2147483647, Math.round(v * conv.input.scale * 65536)))));
  if (conv.biasPort) chip.setInput(conv.biasPort, [65536]);
  if (conv.spikes === 'graded') {
    chip.run(conv.ticksToOutput);
    const r = chip.read(conv.output.group, ProbeVariable.Rate);
    return Float64Array.from(r, (v) => v / 65536 / conv.output.scale);
  }
  chip.run(conv.ticksToOutput - conv.ticks);
  const u0 = Int32Array.from(chip.read(conv.output.group, ProbeVariable.Soma));
  chip.run(conv.ticks);
  const u1 = chip.read(conv.output.group, ProbeVariable.Soma);
  const relu = conv.output.activation === 'relu';
  return Float64Array.from(u1, (v, k) => {
    const y = (v - u0[k]) / conv.ticks / 65536 / conv.output.scale;
    return relu && y < 0 ? 0 : y;
  });
}

/** Index of the largest value (the first on ties). */
export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < v.length; k++) if (v[k] > v[best]) best = k;
  return best;
}

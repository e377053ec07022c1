/**
 * ONNX's official backend tests (Debian/Ubuntu package libonnx-testdata; or set ONNX_TESTDATA_DIR to the
 * `onnx/backend/test/data` directory of an onnx checkout) against the float64 reference (floatReference.ts).
 *
 * Every test directory (`<suite>/test_*` with model.onnx and test_data_set_*) whose model uses only supported
 * operators, with tensor inputs and outputs, is run on every data set and compared as ONNX's backend runner
 * does: same shape, |actual − expected| ≤ atol + rtol·|expected| with rtol 1e-3, atol 1e-7 (NaN matches NaN).
 * Tests that involve a supported operator but cannot run are listed with the reason: models that also use an
 * unsupported operator (their `_expanded` function bodies among them) must be rejected with an OnnxError naming
 * that operator, and BatchNormalization in training mode with an OnnxError naming training_mode.
 *
 * Suites: `node` (one operator per model), plus the PyTorch-exported `pytorch-converted`, `pytorch-operator`
 * and `simple` models, which exercise opset-6 semantics (legacy Add broadcasting, Softmax coercion to 2-D,
 * BatchNormalization is_test).
 *
 * At the end the suite prints, per suite, the count and the list of the tests that passed, and the excluded
 * tests with the reason (the rejected ones are checked to be rejected with the right error).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkOnnxSupported, runOnnxFloat, SUPPORTED_ONNX_OPS, type FloatInput } from '../src/models/onnx/floatReference.js';
import { loadOnnx, loadOnnxTensor, onnxProtoRoot, OnnxError, type OnnxTensor } from '../src/models/onnx/onnxModel.js';

const DATA_ROOT = process.env.ONNX_TESTDATA_DIR ?? '/usr/share/libonnx-testdata/data';
const SUITES = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'];
const RTOL = 1e-3;
const ATOL = 1e-7;
const SUPPORTED = new Set(SUPPORTED_ONNX_OPS);

/**
 * The node tests that must run and pass with libonnx-testdata 1.12 (Debian/Ubuntu). A newer package may add
 * tests (they run too); one of these going missing means the selection below broke.
 */
const EXPECTED_NODE_PASSES = [
  'test_add',
  'test_add_bcast',
  'test_add_uint8',
  'test_basic_conv_with_padding',
  'test_basic_conv_without_padding',
  'test_batchnorm_epsilon',
  'test_batchnorm_example',
  'test_conv_with_autopad_same',
  'test_conv_with_strides_and_asymmetric_padding',
  'test_conv_with_strides_no_padding',
  'test_conv_with_strides_padding',
  'test_flatten_axis0',
  'test_flatten_axis1',
  'test_flatten_axis2',
  'test_flatten_axis3',
  'test_flatten_default_axis',
  'test_flatten_negative_axis1',
  'test_flatten_negative_axis2',
  'test_flatten_negative_axis3',
  'test_flatten_negative_axis4',
  'test_gemm_all_attributes',
  'test_gemm_alpha',
  'test_gemm_beta',
  'test_gemm_default_matrix_bias',
  'test_gemm_default_no_bias',
  'test_gemm_default_scalar_bias',
  'test_gemm_default_single_elem_vector_bias',
  'test_gemm_default_vector_bias',
  'test_gemm_default_zero_bias',
  'test_gemm_transposeA',
  'test_gemm_transposeB',
  'test_identity',
  'test_matmul_2d',
  'test_matmul_3d',
  'test_matmul_4d',
  'test_relu',
  'test_reshape_allowzero_reordered',
  'test_reshape_extended_dims',
  'test_reshape_negative_dim',
  'test_reshape_negative_extended_dims',
  'test_reshape_one_dim',
  'test_reshape_reduced_dims',
  'test_reshape_reordered_all_dims',
  'test_reshape_reordered_last_dims',
  'test_reshape_zero_and_negative_dim',
  'test_reshape_zero_dim',
  'test_sigmoid',
  'test_sigmoid_example',
  'test_softmax_axis_0',
  'test_softmax_axis_1',
  'test_softmax_axis_2',
  'test_softmax_default_axis',
  'test_softmax_example',
  'test_softmax_large_number',
  'test_softmax_negative_axis',
];

// ---------------------------------------------------------------------------------------------- selection

interface RawModel {
  graph: {
    node: { opType: string; attribute: { name: string; i?: unknown }[] }[];
    input: { name: string; type?: { tensorType?: object | null } | null }[];
    output: { name: string; type?: { tensorType?: object | null } | null }[];
    initializer: { name: string }[];
  };
}

type Plan =
  | { kind: 'run'; dir: string }
  | { kind: 'reject'; dir: string; reason: string; error: RegExp };

/** Reads just enough of a model (no tensor decoding) to decide what to do with its test. */
function readRaw(file: string): RawModel {
  const M = onnxProtoRoot().lookupType('onnx.ModelProto');
  return M.decode(readFileSync(file)) as unknown as RawModel;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function plan(dir: string, name: string, runnable: Set<string>): Plan | null {
  const raw = readRaw(join(dir, 'model.onnx'));
  const ops = raw.graph.node.map((n) => n.opType);
  const unsupported = [...new Set(ops.filter((o) => !SUPPORTED.has(o)))];
  const relevant = ops.some((o) => SUPPORTED.has(o)) || (name.endsWith('_expanded') && runnable.has(name.slice(0, -'_expanded'.length)));
  if (!relevant) return null;
  if (unsupported.length > 0) {
    return {
      kind: 'reject',
      dir,
      reason: `also uses ${unsupported.join(', ')}`,
      error: new RegExp(`unsupported operator "${escapeRe(unsupported[0])}"`),
    };
  }
  const inits = new Set(raw.graph.initializer.map((t) => t.name));
  const nonTensor = [...raw.graph.input.filter((v) => !inits.has(v.name)), ...raw.graph.output].filter((v) => !v.type?.tensorType);
  if (nonTensor.length > 0) return { kind: 'reject', dir, reason: `non-tensor (optional/sequence) values ${nonTensor.map((v) => `"${v.name}"`).join(', ')}`, error: /optional|sequence|tensor/ };
  const training = raw.graph.node.some((n) => n.opType === 'BatchNormalization' && n.attribute.some((a) => a.name === 'training_mode' && String(a.i) !== '0'));
  if (training) return { kind: 'reject', dir, reason: 'BatchNormalization training_mode=1', error: /training_mode=1 is not supported/ };
  return { kind: 'run', dir };
}

function planSuite(suite: string): Map<string, Plan> {
  const base = join(DATA_ROOT, suite);
  const plans = new Map<string, Plan>();
  if (!existsSync(base)) return plans;
  const names = readdirSync(base)
    .filter((d) => d.startsWith('test_') && existsSync(join(base, d, 'model.onnx')))
    .sort();
  // First pass: which tests are runnable (so their `_expanded` variants count as tests of a supported op).
  const runnable = new Set<string>();
  for (const name of names) {
    const raw = readRaw(join(base, name, 'model.onnx'));
    if (raw.graph.node.length > 0 && raw.graph.node.every((n) => SUPPORTED.has(n.opType))) runnable.add(name);
  }
  for (const name of names) {
    const p = plan(join(base, name), name, runnable);
    if (p) plans.set(name, p);
  }
  return plans;
}

// ---------------------------------------------------------------------------------------------- running

function dataSets(dir: string): string[] {
  return readdirSync(dir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort()
    .map((d) => join(dir, d));
}

function numbered(dir: string, prefix: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort((a, b) => parseInt(a.slice(prefix.length), 10) - parseInt(b.slice(prefix.length), 10))
    .map((f) => join(dir, f));
}

/** First mismatch under ONNX's backend tolerance, or null. */
function mismatch(actual: Float64Array, expected: OnnxTensor): string | null {
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const e = expected.data[i];
    const a = actual[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (e === a) continue;
    const err = Math.abs(a - e);
    if (!(err <= ATOL + RTOL * Math.abs(e)) && (worst < 0 || err > worstErr)) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst < 0) return null;
  return `element ${worst}: got ${actual[worst]}, expected ${expected.data[worst]} (|error| ${worstErr.toExponential(3)}, tolerance ${(ATOL + RTOL * Math.abs(expected.data[worst])).toExponential(3)})`;
}

/** Per suite: the tests that passed and the excluded tests with their reason, printed by afterAll. */
const report = new Map<string, { passed: string[]; excluded: string[] }>();

function record(suite: string): { passed: string[]; excluded: string[] } {
  let r = report.get(suite);
  if (!r) {
    r = { passed: [], excluded: [] };
    report.set(suite, r);
  }
  return r;
}

afterAll(() => {
  const lines: string[] = [];
  for (const [suite, r] of report) {
    lines.push(`ONNX ${suite} tests of the supported operators (${SUPPORTED_ONNX_OPS.join(', ')}): ${r.passed.length} pass at rtol ${RTOL}, atol ${ATOL}: ${r.passed.join(', ')}`);
    if (r.excluded.length > 0) lines.push(`  excluded (${r.excluded.length}, each checked to be rejected): ${r.excluded.join('; ')}`);
  }
  if (lines.length > 0) console.log(lines.join('\n'));
});

function runTest(dir: string): void {
  const model = loadOnnx(join(dir, 'model.onnx'));
  const sets = dataSets(dir);
  expect(sets.length).toBeGreaterThan(0);
  for (const set of sets) {
    const inputFiles = numbered(set, 'input_');
    const outputFiles = numbered(set, 'output_');
    expect(inputFiles.length, `${set}: input files`).toBe(model.graph.inputs.length);
    expect(outputFiles.length, `${set}: output files`).toBe(model.graph.outputs.length);
    const inputs: Record<string, FloatInput> = {};
    inputFiles.forEach((f, i) => {
      const t = loadOnnxTensor(f);
      inputs[model.graph.inputs[i].name] = { dims: t.dims, data: t.data };
    });
    const outputs = runOnnxFloat(model, inputs);
    outputFiles.forEach((f, i) => {
      const expected = loadOnnxTensor(f);
      const name = model.graph.outputs[i].name;
      const actual = outputs[name];
      expect(actual.dims, `${set}: shape of output "${name}"`).toEqual(expected.dims);
      const bad = mismatch(actual.data, expected);
      if (bad) expect.fail(`${set}: output "${name}" ${bad}`);
    });
  }
}

// ---------------------------------------------------------------------------------------------- tests

const installed = existsSync(join(DATA_ROOT, 'node'));

describe('ONNX backend test data', () => {
  it('is installed', () => {
    if (!installed) {
      expect.fail(
        `ONNX backend test data not found at ${join(DATA_ROOT, 'node')}: run \`apt-get install libonnx-testdata\` ` +
          '(or set ONNX_TESTDATA_DIR to onnx/backend/test/data of an onnx checkout)',
      );
    }
  });
});

if (installed) {
  for (const suite of SUITES) {
    const plans = planSuite(suite);
    if (plans.size === 0) continue;
    describe(`ONNX ${suite} tests`, () => {
      for (const [name, p] of plans) {
        if (p.kind === 'run') {
          it(name, () => {
            runTest(p.dir);
            record(suite).passed.push(name);
          });
        } else {
          it(`${name} is rejected (${p.reason})`, () => {
            let err: unknown;
            try {
              const model = loadOnnx(join(p.dir, 'model.onnx'));
              checkOnnxSupported(model);
              const inputs: Record<string, FloatInput> = {};
              const set = dataSets(p.dir)[0];
              numbered(set, 'input_').forEach((f, i) => {
                const t = loadOnnxTensor(f);
                inputs[model.graph.inputs[i].name] = { dims: t.dims, data: t.data };
              });
              runOnnxFloat(model, inputs);
            } catch (e) {
              err = e;
            }
            expect(err).toBeInstanceOf(OnnxError);
            expect((err as Error).message).toMatch(p.error);
            expect((err as Error).message).not.toContain('\n');
            record(suite).excluded.push(`${name} (${p.reason})`);
          });
        }
      }
      if (suite === 'node') {
        it('runs every expected node test', () => {
          const running = [...plans].filter(([, p]) => p.kind === 'run').map(([n]) => n);
          expect(EXPECTED_NODE_PASSES.filter((n) => !running.includes(n))).toEqual([]);
        });
      }
    });
  }
}

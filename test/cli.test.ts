/**
 * The `apical` command end to end: every test spawns the real CLI (`node bin/apical.js ...`), which imports
 * dist/ — `npm test` builds it first (tsc). When dist/ is missing or older than src/, every CLI test fails with
 * a message saying so (nothing is skipped); the in-process tests at the end still run.
 *
 * Error policy under test: a user's mistake exits with code 2 and prints exactly one line on stderr,
 * `apical: <problem> (<what to do>)`, never a stack trace.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readRunRecord } from '../src/devices/runRecord.js';
import { APX_FORMAT_VERSION, CHIP_REVISION, CORE_MAX_NEURONS } from '../src/emulator/constants.js';
import type { Program } from '../src/emulator/program.js';
import { encodeProgram, readProgramFile, writeProgramFile } from '../src/emulator/programCodec.js';
import { compileNetwork } from '../src/models/compiler.js';
import { NetworkFileError, networkFromJson, parseNetworkJson, readNetworkFile } from '../src/models/networkFile.js';
import { RuleSyntaxError } from '../src/models/ruleLanguage.js';
import { digitsSplit } from '../src/models/data/digits.js';
import { writeOnnx } from '../src/models/onnx/onnxWriter.js';
import { SeededRandom } from '../src/models/seededRandom.js';
import { createLayers, trainStep } from '../src/models/twin/backprop.js';
import { sampleGroup } from './helpers/sampleProgram.js';

import { apical, apicalWithin, expectUserError, json, root } from './helpers/cliRunner.js';
const US = join(root, 'examples', 'us-regression.json');
const CUBA = join(root, 'examples', 'cuba-small.json');

const tmp = mkdtempSync(join(tmpdir(), 'apical-cli-'));
const t = (name: string) => join(tmp, name);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes a network description to the temp dir and returns its path. */
function networkFile(name: string, doc: unknown): string {
  const path = t(name);
  writeFileSync(path, JSON.stringify(doc, null, 2));
  return path;
}

const small = (over: Record<string, unknown> = {}) => ({
  name: 'small',
  seed: 5,
  populations: [
    { name: 'in', input: true, size: 4 },
    { name: 'out', size: 3, activation: 'sigmoid', basal: true, soma: { kBasal: 0.1, kTotal: 0.1 } },
  ],
  projections: [{ name: 'w', pre: 'in', post: 'out', weights: { uniform: [-0.5, 0.5] } }],
  ...over,
});

// ---------------------------------------------------------------------------------------------- compile → inspect → run

describe('compile, inspect, run', () => {
  const apx = t('us.apx');
  let hash = '';

  it('compile --json writes the Program and reports hash, cores and quantisation', async () => {
    const out = json(await apical('compile', US, '-o', apx, '--json'));
    expect(out.programHash).toMatch(/^[0-9a-f]{64}$/);
    expect(out.output).toBe(apx);
    expect(existsSync(apx)).toBe(true);
    hash = out.programHash as string;
    expect(readProgramFile(apx).hash).toBe(hash);
    const cores = out.cores as { core: number; neurons: number; synapses: number; synapseBytes: number }[];
    expect(cores).toHaveLength(1);
    expect(cores[0]).toMatchObject({ core: 0, neurons: 12, synapses: 32 });
    const q = out.quantisation as { projection: string; scale: number; clipFraction: number; sqnrDb: number | null }[];
    expect(q).toHaveLength(1);
    expect(q[0].projection).toBe('w');
    expect(q[0].scale).toBe(2 ** -12);
    expect(q[0].clipFraction).toBe(0);
    expect(q[0].sqnrDb).toBeGreaterThan(40);
  });

  it('compile is deterministic and prints a text summary', async () => {
    const r = await apical('compile', US, '-o', t('us2.apx'));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`program hash ${hash}`);
    expect(r.stdout).toMatch(/core +0: 12 neurons/);
    expect(r.stdout).toMatch(/w: 16-bit, LSB 2\^-12 .* clipped 0\.00 %, SQNR [\d.]+ dB/);
    expect(readFileSync(t('us2.apx'))).toEqual(readFileSync(apx));
  });

  it('inspect --json reads the same Program', async () => {
    const out = json(await apical('inspect', apx, '--json'));
    expect(out.programHash).toBe(hash);
    expect(out.chipRevision).toBe(1);
    expect(typeof out.realTimeFactor).toBe('number');
    const cores = out.cores as Record<string, unknown>[];
    expect(cores.length).toBeGreaterThan(0);
    for (const c of cores) {
      expect(typeof c.compartments).toBe('number');
      expect(typeof c.synapses).toBe('number');
      expect(typeof c.cyclesPerTick).toBe('number');
    }
    expect(cores[0]).toMatchObject({ compartments: 8 + 4 * 2, synapses: 32 });
  });

  it('run --json is deterministic and --record writes a run record', async () => {
    const rec = t('run.msgpack');
    const [a, b] = await Promise.all([apical('run', apx, '--ticks', '50', '--json'), apical('run', apx, '--ticks', '50', '--json', '--record', rec)]);
    const first = json(a);
    const second = json(b);
    expect(first.ticks).toBe(50);
    expect(typeof first.spikes).toBe('number');
    expect(first.digest).toMatch(/^[0-9a-f]{8}$/);
    expect(typeof first.cycles).toBe('object');
    expect((first.cycles as { perCore: number[] }).perCore).toHaveLength(16);
    expect(first.programHash).toBe(hash);
    expect(second.digest).toBe(first.digest);
    expect(second.record).toBe(rec);
    const r = readRunRecord(rec);
    expect(r.schema).toBe(1);
    expect(r.programHash).toBe(hash);
    expect(r.ticks).toBe(50);
    expect(r.finalDigest.toString(16).padStart(8, '0')).toBe(first.digest);
  });

  it('the CUBA example compiles (sparse 2 % connectivity) and spikes', async () => {
    const out = json(await apical('compile', CUBA, '-o', t('cuba.apx'), '--json'));
    const cores = out.cores as { neurons: number; synapses: number }[];
    const neurons = cores.reduce((a, c) => a + c.neurons, 0);
    const synapses = cores.reduce((a, c) => a + c.synapses, 0);
    expect(neurons).toBe(400);
    // 2 % of 400 × 400 pairs = 3200 expected synapses.
    expect(synapses).toBeGreaterThan(2800);
    expect(synapses).toBeLessThan(3600);
    const run = json(await apical('run', t('cuba.apx'), '--ticks', '300', '--json'));
    expect(run.spikes as number).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------- user errors

describe('user errors: exit 2, one line on stderr', () => {
  let good: Uint8Array;
  beforeAll(() => {
    // Built in process, so these tests run (and fail one by one with a clear message) even without dist/.
    writeProgramFile(t('good.apx'), compileNetwork(readNetworkFile(US)).program);
    good = readFileSync(t('good.apx'));
  });

  it('truncated .apx', async () => {
    writeFileSync(t('trunc1.apx'), good.subarray(0, good.length - 17));
    writeFileSync(t('trunc2.apx'), good.subarray(0, 9));
    const [a, b] = await Promise.all([apical('run', t('trunc1.apx'), '--ticks', '5'), apical('inspect', t('trunc2.apx'))]);
    expectUserError(a, /trunc1\.apx/, /corrupted or truncated|sha256|hash/i);
    expectUserError(b, /trunc2\.apx/);
  });

  it('a .apx with one flipped byte', async () => {
    const positions = [Math.floor(good.length / 2), good.length - 1, 8];
    const runs = positions.map((pos, k) => {
      const bytes = Uint8Array.from(good);
      bytes[pos] ^= 0x5a;
      writeFileSync(t(`flip${k}.apx`), bytes);
      return apical('run', t(`flip${k}.apx`), '--ticks', '5');
    });
    for (const r of await Promise.all(runs)) expectUserError(r, /flip\d\.apx/);
  });

  it('a file that is not an .apx', async () => {
    expectUserError(await apical('run', US, '--ticks', '5'), /us-regression\.json/, /not an apical program/);
  });

  it('an .apx with an unknown format version', async () => {
    const p = readProgramFile(t('good.apx'));
    writeFileSync(t('v99.apx'), encodeProgram({ ...p, formatVersion: 99 }, { validate: false }));
    expectUserError(await apical('inspect', t('v99.apx')), /format version 99/, /upgrade apical/);
  });

  it('a network that does not fit: compile names the core and the projection', async () => {
    const path = networkFile('too-big.json', {
      name: 'too-big',
      populations: [
        { name: 'in', input: true, size: 1024 },
        { name: 'out', size: 4096, activation: 'sigmoid', basal: true, core: 3 },
      ],
      // 1024 × 4096 16-bit synapses = 8 MiB on core 3 (capacity 4 MiB).
      projections: [{ name: 'huge', pre: 'in', post: 'out', weights: { constant: 0.25 } }],
    });
    expectUserError(await apical('compile', path, '-o', t('too-big.apx')), /core 3 synapse memory 200 %: projection huge/);
    expect(existsSync(t('too-big.apx'))).toBe(false);
  });

  it('a crafted .apx with too many neurons on one core: run refuses it', async () => {
    const n = CORE_MAX_NEURONS + 100;
    const program: Program = {
      formatVersion: APX_FORMAT_VERSION,
      chipRevision: CHIP_REVISION,
      seed: 1,
      hash: '',
      body: {
        name: 'crowded',
        tickSeconds: 1e-3,
        luts: [],
        groups: [sampleGroup('crowd', n, { slices: [{ core: 0, start: 0, count: n }] })],
        projections: [],
        inputs: [],
        probes: [],
        metadata: {},
      },
    };
    writeFileSync(t('crowded.apx'), encodeProgram(program));
    expectUserError(await apical('run', t('crowded.apx'), '--ticks', '1'), /core 0 neurons \d+ %: 4196 of 4096/);
  });

  it('a rule with a syntax error names the JSON path, line and column', async () => {
    const path = networkFile(
      'bad-rule.json',
      small({
        projections: [
          {
            name: 'w',
            pre: 'in',
            post: 'out',
            weights: { constant: 0.1 },
            plasticity: { rule: ['on pre: dw = 0.01 * post.rate', 'on post: dw = -0.01 * * pre.rate'] },
          },
        ],
      }),
    );
    expectUserError(await apical('compile', path), /bad-rule\.json: projections\[0\]\.plasticity\.rule: rule syntax error at line 2, column \d+: /);
  });

  it('a population of size 0', async () => {
    const doc = small();
    (doc.populations[1] as { size: number }).size = 0;
    expectUserError(await apical('compile', networkFile('size0.json', doc)), /size0\.json: populations\[1\]\.size: must be a positive integer/);
  });

  it('a network file that is not JSON names the file and the problem', async () => {
    writeFileSync(t('broken.json'), '{ "name": "x",\n  "populations": [ } ');
    const [a, b] = await Promise.all([apical('compile', t('broken.json')), apical('compile', t('good.apx'))]);
    expectUserError(a, /broken\.json" is not valid JSON: line 2, column 20: expected a value but found '}'/);
    expectUserError(b, /good\.apx" is not valid JSON: line 1, column 1/);
  });

  it('an unknown option, a bad --ticks, a missing option', async () => {
    const apx = t('good.apx');
    const [unknown, typo, negative, missing] = await Promise.all([
      apical('run', apx, '--ticks', '5', '--frobnicate'),
      apical('inspect', apx, '--jsn'),
      apical('run', apx, '--ticks', '-3'),
      apical('run', apx),
    ]);
    expectUserError(unknown, /unknown option '--frobnicate'/);
    expectUserError(typo, /unknown option '--jsn' \(Did you mean --json\?\)/);
    expectUserError(negative, /--ticks/, /-3/);
    expectUserError(missing, /required option '--ticks <n>'/);
  });

  it('a missing file', async () => {
    const [a, b, c] = await Promise.all([
      apical('run', t('nope.apx'), '--ticks', '1'),
      apical('inspect', t('nope.apx')),
      apical('compile', t('nope.json')),
    ]);
    expectUserError(a, /cannot read program file ".*nope\.apx": no such file/);
    expectUserError(b, /nope\.apx/);
    expectUserError(c, /cannot read network file ".*nope\.json": no such file/);
  });
});

// ---------------------------------------------------------------------------------------------- other commands

describe('help, bench, demo', () => {
  it('--help exits 0 and lists the commands', async () => {
    const r = await apical('--help');
    expect(r.code).toBe(0);
    for (const cmd of ['compile', 'inspect', 'run', 'bench', 'demo']) expect(r.stdout).toContain(cmd);
    const c = await apical('compile', '--help');
    expect(c.code).toBe(0);
    expect(c.stdout).toContain('--out <file>');
    // No command at all is a usage error: help on stderr, exit 2.
    const bare = await apical();
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage: apical');
  });

  it('bench --quick prints one JSON report', { timeout: 60_000 }, async () => { // --quick also builds and runs the C core and the virtual board
    const out = json(await apical('bench', '--quick', '--repeats', '1', '--json'));
    const workloads = out.workloads as Record<string, unknown>[];
    expect(Array.isArray(workloads)).toBe(true);
    expect(workloads.length).toBeGreaterThan(0);
    for (const w of workloads) {
      expect(typeof w.name).toBe('string');
      for (const k of ['synapticEventsPerSec', 'compartmentUpdatesPerSec', 'ticks', 'wallSeconds']) {
        expect(typeof w[k], `${w.name}.${k}`).toBe('number');
        expect(w[k] as number, `${w.name}.${k}`).toBeGreaterThan(0);
      }
    }
  });

  it('demo (2 epochs): PAL on digits learns, writes the report, and the virtual board is bit-exact', async () => {
    const out = json(await apicalWithin(170_000, 'demo', '--json', '--epochs', '2', '--twin-epochs', '1', '--out', t('demo.apx'), '--report', t('report')));
    expect(readProgramFile(t('demo.apx')).hash).toBe(out.programHash);
    const acc = out.testAccuracy as { chip: number; twin: number; backprop: number };
    const curve = (out.accuracyCurve as { chip: number[] }).chip;
    expect(curve).toHaveLength(2);
    // Chance is 10 %; one epoch of PAL on the chip already reaches ≈ 85 %.
    expect(acc.chip).toBeGreaterThan(0.8);
    expect(acc.twin).toBeGreaterThan(0.8);
    expect(acc.backprop).toBeGreaterThan(0.8);
    const layers = out.layers as { name: string; angleBWt: number | null; angleDwTwin: number; angleDwBackprop: number }[];
    expect(layers).toHaveLength(2);
    expect(layers[0].angleBWt).toBeGreaterThan(0);
    expect(layers[0].angleBWt).toBeLessThan(90);
    for (const l of layers) expect(l.angleDwTwin).toBeLessThan(30);
    const files = out.files as { report: string; plots: string[]; json: string };
    for (const f of [files.report, files.json, ...files.plots]) expect(existsSync(f), f).toBe(true);
    expect(readFileSync(files.report, 'utf8')).toContain('angle-b-wt.svg');
    const board = out.board as { ran: boolean; bitExact: boolean | null; detail: string };
    expect(board.ran, board.detail).toBe(true); // CI has a C compiler
    expect(board.bitExact, board.detail).toBe(true);
  }, 180_000); // two chip epochs, one twin epoch, the backprop reference and the board leg: ≈ 30 s alone
});

describe('train and fidelity', () => {
  it('train --task digits --engine chip --epochs 1 --json reports the interface fields', async () => {
    const out = json(await apicalWithin(90_000, 'train', '--circuit', 'microcircuit', '--rule', 'pal', '--task', 'digits', '--engine', 'chip', '--epochs', '1', '--hidden', '20', '--json'));
    for (const k of ['circuit', 'rule', 'task', 'engine', 'epochs', 'ticks', 'wallSeconds', 'testAccuracy', 'angles']) expect(out, k).toHaveProperty(k);
    expect(out).toMatchObject({ circuit: 'microcircuit', rule: 'pal', task: 'digits', engine: 'chip', epochs: 1, ticks: 14370, layers: [64, 20, 10] });
    expect(out.testAccuracy as number).toBeGreaterThan(0.5);
    expect((out.angles as number[]).length).toBe(1);
  }, 100_000);

  it('train --init seeds the digits circuit from an ONNX MLP; on-chip PAL fine-tuning does not lose accuracy', async () => {
    // A bias-free 64-40-10 logistic MLP trained for one epoch with backprop, exported to ONNX.
    const split = digitsSplit();
    const layers = createLayers([64, 40, 10], 'sigmoid', { bias: false, seed: 3 });
    const order = new SeededRandom(1).shuffle(Array.from({ length: split.train.x.length }, (_, i) => i));
    for (const s of order) trainStep(layers, [split.train.x[s]], [Array.from({ length: 10 }, (_, j) => (j === split.train.y[s] ? 0.9 : 0.1))], 0.5);
    const model = t('mlp.onnx');
    writeFileSync(model, writeOnnx(layers));
    const out = json(await apicalWithin(90_000, 'train', '--task', 'digits', '--init', model, '--epochs', '1', '--json'));
    const imported = out.initAccuracy as number;
    expect(imported).toBeGreaterThan(0.8);
    // The circuit with the imported weights computes the model (on the chip: quantised): the same test accuracy ± 1 sample.
    expect(Math.abs((out.initEngineAccuracy as number) - imported)).toBeLessThanOrEqual(1 / 360 + 1e-12);
    expect(out.testAccuracy as number).toBeGreaterThanOrEqual(imported);
    expect(out.layers).toEqual([64, 40, 10]);
  }, 100_000);

  it('fidelity --json: per-layer angles, apical norm, attribution per effect, and the files it wrote', async () => {
    const out = json(await apicalWithin(90_000, 'fidelity', '--epochs', '1', '--twin-epochs', '0', '--out', t('fidelity'), '--json'));
    const layers = out.layers as Record<string, unknown>[];
    expect(layers.map((l) => l.name)).toEqual(['hidden 1 (W1, B1)', 'output (W2)']);
    for (const l of layers) for (const k of ['angleBWt', 'angleDwTwin', 'angleDwBackprop']) expect(l, k).toHaveProperty(k);
    expect(layers[0].angleBWt as number).toBeGreaterThan(0);
    expect(layers[1].angleBWt).toBeNull(); // the output has no feedback weights
    // The twin draws the chip's noise: the hidden layer's update differs from the chip's by a few degrees only.
    expect(layers[0].angleDwTwin as number).toBeLessThan(20);
    expect((out.apicalNorm as number[]).length).toBe(1);
    const attribution = out.attribution as { effect: string; value: number }[];
    for (const e of ['weightQuantisation', 'rounding', 'saturation', 'lut', 'prngNoise']) expect(attribution.some((a) => a.effect.startsWith(e))).toBe(true);
    const allOff = attribution.find((a) => a.effect.startsWith('all effects off'))!.value;
    const allOn = attribution.find((a) => a.effect.startsWith('all effects on'))!.value;
    expect(allOn).toBeLessThan(allOff);
    const files = out.files as { report: string; json: string; plots: string[] };
    for (const f of [files.report, files.json, ...files.plots]) expect(existsSync(f), f).toBe(true);
  }, 100_000);

  it('bad choices are exit 2 with one line naming the problem', async () => {
    expectUserError(await apical('train', '--circuit', 'perceptron'), /unknown circuit "perceptron"/);
    expectUserError(await apical('train', '--rule', 'hebb'), /unknown rule "hebb"/, /pal, sal, fa, bp/);
    expectUserError(await apical('train', '--task', 'mnist'), /unknown task "mnist"/);
    expectUserError(await apical('train', '--engine', 'gpu'), /unknown engine "gpu"/);
    expectUserError(await apical('train', '--hidden', '0'), /layer sizes ≥ 1/);
    expectUserError(await apical('train', '--epochs', '0'), /must be at least 1/);
    expectUserError(await apical('train', '--rule', 'sal', '--task', 'digits'), /sal/);
    const notOnnx = t('not.onnx');
    writeFileSync(notOnnx, 'this is not a protobuf');
    expectUserError(await apical('train', '--init', notOnnx), /not\.onnx|ONNX|onnx/);
    expectUserError(await apical('train', '--init', t('missing.onnx')), /cannot read/);
    expectUserError(await apical('fidelity', '--rule', 'sal'), /unknown rule "sal"/);
    const badData = t('digits-bad.csv');
    writeFileSync(badData, '0,1,2,three\n');
    expectUserError(await apical('train', '--task', 'digits', '--data', badData), /digits-bad\.csv/);
  }, 60_000); // ten CLI processes
});

// ---------------------------------------------------------------------------------------------- in-process

describe('rule pointer on a terminal', () => {
  it('main() prints the pointer under the one-line message only when stderr is a TTY', async () => {
    const path = networkFile('pointer.json', small({ projections: [{ name: 'w', pre: 'in', post: 'out', weights: { constant: 0.1 }, plasticity: { rule: 'dw = 0.1 * (post.rate - pre.rate' } }] }));
    const { main } = await import('../src/cli/main.js');
    const capture = async (tty: boolean) => {
      const written: string[] = [];
      const desc = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
      Object.defineProperty(process.stderr, 'isTTY', { value: tty, configurable: true });
      const write = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
        written.push(String(s));
        return true;
      });
      const exit = vi.spyOn(process, 'exit').mockImplementation((code?: string | number | null) => {
        throw new Error(`exit ${code}`);
      });
      try {
        await expect(main(['node', 'apical', 'compile', path, '-o', t('pointer.apx')])).rejects.toThrow('exit 2');
      } finally {
        write.mockRestore();
        exit.mockRestore();
        if (desc) Object.defineProperty(process.stderr, 'isTTY', desc);
        else delete (process.stderr as { isTTY?: boolean }).isTTY;
      }
      return written.join('');
    };
    const pipe = await capture(false);
    expect(pipe).toMatch(/^apical: .*rule syntax error at line 1, column 33: [^\n]*\n$/);
    const tty = await capture(true);
    expect(tty.split('\n')).toEqual([pipe.trimEnd(), 'dw = 0.1 * (post.rate - pre.rate', `${' '.repeat(32)}^`, '']);
  });
});

describe('network files (in process)', () => {
  const bad: [string, unknown, RegExp][] = [
    ['not an object', [], /^must be a JSON object describing a network, not an array$/],
    ['no name', { populations: [] }, /^name: missing/],
    ['no populations', { name: 'x', populations: [] }, /^populations: must not be empty/],
    ['bad seed', { ...small(), seed: -1 }, /^seed: must be an integer in 0\.\.4294967295, not -1/],
    ['bad tick', { ...small(), tickSeconds: 0 }, /^tickSeconds: must be a number > 0, not 0/],
    ['unknown top-level field', { ...small(), populatoins: [] }, /^populatoins: unknown field \(did you mean "populations"\?\)/],
    ['fractional size', small({ populations: [{ name: 'in', input: true, size: 2.5 }] }), /^populations\[0\]\.size: must be a positive integer, not 2\.5/],
    ['bad name', small({ populations: [{ name: '1st', input: true, size: 2 }] }), /^populations\[0\]\.name: "1st" is not a valid name/],
    [
      'duplicate population',
      small({ populations: [{ name: 'a', input: true, size: 2 }, { name: 'a', size: 2 }] }),
      /^populations\[1\]\.name: duplicate population name "a" \(also populations\[0\]\)/,
    ],
    ['neuron field on an input', small({ populations: [{ name: 'in', input: true, size: 2, activation: 'relu' }] }), /^populations\[0\]\.activation: does not apply to an input population/],
    ['unknown activation', small({ populations: [{ name: 'o', size: 2, activation: 'sigmoidd' }] }), /^populations\[0\]\.activation: must be one of .* \(did you mean "sigmoid"\?\)/],
    ['coefficient out of range', small({ populations: [{ name: 'o', size: 2, soma: { kTotal: 1.5 } }] }), /^populations\[0\]\.soma\.kTotal: must be a number in 0\.\.1, not 1\.5/],
    ['unknown teacher', small({ populations: [{ name: 'o', size: 2, nudge: { teacher: 'ghost' } }] }), /^populations\[0\]\.nudge\.teacher: unknown population "ghost"/],
    ['teacher of another size', small({ populations: [{ name: 't', size: 3 }, { name: 'o', size: 2, nudge: { teacher: 't' } }] }), /^populations\[1\]\.nudge\.teacher: teacher "t" has 3 neurons, this population 2/],
    ['init of the wrong length', small({ populations: [{ name: 'o', size: 3, init: [1, 2] }] }), /^populations\[0\]\.init: has 2 values, expected 3/],
    ['init interval reversed', small({ populations: [{ name: 'o', size: 3, init: { uniform: [1, 0] } }] }), /^populations\[0\]\.init\.uniform: \[1, 0\] is empty/],
    ['core out of range', small({ populations: [{ name: 'o', size: 3, core: 16 }] }), /^populations\[0\]\.core: must be an integer in 0\.\.15, not 16/],
    ['unknown pre', small({ projections: [{ name: 'w', pre: 'inn', post: 'out', weights: 0.1 }] }), /^projections\[0\]\.pre: unknown population "inn" \(did you mean "in"\?\)/],
    ['weights missing', small({ projections: [{ name: 'w', pre: 'in', post: 'out' }] }), /^projections\[0\]\.weights: missing/],
    ['matrix of the wrong shape', small({ projections: [{ name: 'w', pre: 'in', post: 'out', weights: [[1, 2, 3, 4]] }] }), /^projections\[0\]\.weights: has 1 rows, expected 3/],
    ['matrix row too short', small({ projections: [{ name: 'w', pre: 'in', post: 'out', weights: [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2]] }] }), /^projections\[0\]\.weights\[2\]: has 2 values, expected 4/],
    ['sparse p above 1', small({ projections: [{ name: 'w', pre: 'in', post: 'out', weights: { sparse: { p: 2, value: 1 } } }] }), /^projections\[0\]\.weights\.sparse\.p: must be a number in 0\.\.1, not 2/],
    ['sparse weights on dense kind', small({ projections: [{ name: 'w', pre: 'in', post: 'out', kind: 'dense', weights: { sparse: { p: 0.5, value: 1 } } }] }), /^projections\[0\]\.weights: sparse weights need kind "sparse", not "dense"/],
    ['sparse index out of range', small({ projections: [{ name: 'w', pre: 'in', post: 'out', weights: { pre: [0, 4], post: [0, 0], values: [1, 1] } }] }), /^projections\[0\]\.weights\.pre\[1\]: must be an integer in 0\.\.3, not 4/],
    ['one-to-one of unequal sizes', small({ projections: [{ name: 'w', pre: 'in', post: 'out', kind: 'oneToOne', weights: 1 }] }), /one-to-one projection needs equal population sizes/],
    ['weight bits', small({ projections: [{ name: 'w', pre: 'in', post: 'out', weightBits: 12, weights: 1 }] }), /^projections\[0\]\.weightBits: must be 8 or 16, not 12/],
    ['delay', small({ projections: [{ name: 'w', pre: 'in', post: 'out', delay: 0, weights: 1 }] }), /^projections\[0\]\.delay: must be an integer in 1\.\.64, not 0/],
    ['rounding', small({ projections: [{ name: 'w', pre: 'in', post: 'out', weights: 1, plasticity: { rule: 'dw = 0.1', rounding: 'up' } }] }), /^projections\[0\]\.plasticity\.rounding: must be one of "nearest", "stochastic"/],
    ['probe variable', small({ probes: [{ name: 'p', of: 'out', variable: 'voltage' }] }), /^probes\[0\]\.variable: must be one of/],
    ['probe of a projection', small({ probes: [{ name: 'p', of: 'out', variable: 'weights' }] }), /^probes\[0\]\.of: unknown projection "out"/],
  ];
  it.each(bad)('%s', (_what, doc, pattern) => {
    let err: unknown;
    try {
      networkFromJson(doc);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NetworkFileError);
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).not.toContain('\n');
  });

  it('names the file when given one, and rule errors stay RuleSyntaxErrors', () => {
    expect(() => parseNetworkJson(JSON.stringify(small({ seed: 'x' })), 'net.json')).toThrow(/^net\.json: seed: must be an integer/);
    let err: unknown;
    try {
      networkFromJson(small({ projections: [{ name: 'w', pre: 'in', post: 'out', weights: 1, plasticity: { rule: 'dw = pre.rat' } }] }), 'n.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuleSyntaxError);
    expect((err as RuleSyntaxError).message).toMatch(/^n\.json: projections\[0\]\.plasticity\.rule: rule syntax error at line 1, column 6: /);
    expect((err as RuleSyntaxError).pointer).toBe('dw = pre.rat\n     ^');
  });

  it('random values are deterministic, follow the seed, and are per object', () => {
    const hash = (doc: unknown) => compileNetwork(networkFromJson(doc)).program.hash;
    expect(hash(small())).toBe(hash(small()));
    expect(hash(small({ seed: 6 }))).not.toBe(hash(small()));
    // Adding a projection in front does not change w's random weights.
    const weightsOf = (doc: unknown) => Array.from(compileNetwork(networkFromJson(doc)).program.body.projections.find((p) => p.name === 'w')!.weights);
    const extra = small({
      projections: [
        { name: 'v', pre: 'in', post: 'out', weights: { normal: [0, 0.1] } },
        { name: 'w', pre: 'in', post: 'out', weights: { uniform: [-0.5, 0.5] } },
      ],
    });
    expect(weightsOf(extra)).toEqual(weightsOf(small()));
  });

  it('the complete example of docs/network-format.md compiles', () => {
    const md = readFileSync(join(root, 'docs', 'network-format.md'), 'utf8');
    const m = /## A complete example\n\n```json\n([\s\S]*?)```/.exec(md);
    expect(m, 'example block in docs/network-format.md').not.toBeNull();
    const { program, quantisation } = compileNetwork(parseNetworkJson(m![1], 'docs/network-format.md'));
    expect(program.body.groups.map((g) => g.name)).toEqual(['in', 'teacher', 'student', 'pool']);
    expect(quantisation.map((q) => q.projection)).toEqual(['wt', 'ws', 'rec', 'in2pool']);
  });

  it('weights: matrix, flat, explicit sparse, sparse connectivity without self-connections', () => {
    const w = [
      [0.1, 0.2, 0.3, 0.4],
      [0, 0, 0, 0],
      [-1, 1, -1, 1],
    ];
    const a = compileNetwork(networkFromJson(small({ projections: [{ name: 'w', pre: 'in', post: 'out', weights: w }] }))).program;
    const b = compileNetwork(networkFromJson(small({ projections: [{ name: 'w', pre: 'in', post: 'out', weights: w.flat() }] }))).program;
    expect(a.hash).toBe(b.hash);
    const sp = compileNetwork(networkFromJson(small({ projections: [{ name: 'w', pre: 'in', post: 'out', weights: { pre: [3, 0], post: [1, 2], values: [0.5, -0.5] } }] }))).program;
    expect(Array.from(sp.body.projections[0].cols!)).toEqual([2, 1]);
    const rec = networkFromJson({
      name: 'rec',
      populations: [{ name: 'e', size: 50, output: 'binary', basal: true }],
      projections: [{ name: 'ee', pre: 'e', post: 'e', weights: { sparse: { p: 0.5, value: { uniform: [0, 1] }, selfConnections: false } } }],
    });
    const sw = rec.projections[0].weights as { pre: number[]; post: number[]; values: number[] };
    expect(rec.projections[0].kind).toBe('sparse');
    expect(sw.pre.length).toBeGreaterThan(1000);
    expect(sw.pre.length).toBeLessThan(1450);
    expect(sw.pre.some((i, k) => i === sw.post[k])).toBe(false);
    expect(sw.values.every((v) => v >= 0 && v < 1)).toBe(true);
  });
});

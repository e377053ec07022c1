/**
 * Network files: a JSON description of a network for CLI users (`apical compile`), read into the same
 * `Network` builder that TypeScript users call (network.ts). The format is documented in
 * docs/network-format.md.
 *
 * Every mistake in a file is a NetworkFileError whose one-line message names the file and the JSON path of the
 * bad field, e.g. `net.json: populations[2].size: must be a positive integer`. Rule text is compiled here
 * once, so a mistake in it comes out as the RuleSyntaxError (line, column, pointer) with the JSON path in
 * front of its message. Problems only the compiler can see (does it fit, are the coefficients legal together)
 * come later from compileNetwork as NetworkError / ProgramFitError.
 *
 * Random values (initial potentials, weights, sparse connectivity) come from SeededRandom. Each population and
 * each projection has its own stream, seeded by the file's `seed` and the object's name, so the same file
 * always gives the same Program and editing one object never changes another object's random values.
 */
import { readFileSync } from 'node:fs';
import { CHIP_CORES, MAX_DELAY, MAX_GROUP_SIZE, PAYLOAD_SHIFT_MAX } from '../emulator/constants.js';
import { ApicalError } from '../emulator/errors.js';
import { mix32 } from '../emulator/prng.js';
import { Network, type CompartmentName, type PopulationOptions, type ProbeOptions, type ProjectionOptions, type SparseWeights } from './network.js';
import { compileRule } from './ruleLanguage.js';
import { SeededRandom } from './seededRandom.js';

const FORMAT_HINT = 'see docs/network-format.md';

/** A mistake in a network file. `jsonPath` is the path of the bad field ('' for the whole document). */
export class NetworkFileError extends ApicalError {
  override name = 'NetworkFileError';
  constructor(
    message: string,
    readonly jsonPath: string,
    readonly file: string | undefined,
    hint: string = FORMAT_HINT,
  ) {
    super(message, hint);
  }
}

export const ACTIVATION_NAMES = ['sigmoid', 'relu', 'softplus', 'linear', 'tanh'] as const;
export const OUTPUT_KINDS = ['none', 'binary', 'stochastic', 'graded'] as const;
export const COMPARTMENT_NAMES = ['basal', 'apical', 'soma'] as const;
export const PROJECTION_KINDS = ['dense', 'sparse', 'oneToOne'] as const;
export const PROBE_VARIABLES = ['spikes', 'soma', 'prospective', 'rate', 'basal', 'apical', 'noise', 'payload', 'weights'] as const;

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

const TOP_FIELDS = ['name', 'description', 'seed', 'tickSeconds', 'metadata', 'populations', 'projections', 'probes'];
const INPUT_FIELDS = ['name', 'input', 'size', 'coding', 'payloadShift', 'traces', 'core'];
const NEURON_FIELDS = [
  'name',
  'input',
  'size',
  'output',
  'activation',
  'basal',
  'apical',
  'soma',
  'prospective',
  'basalPrediction',
  'threshold',
  'reset',
  'refractory',
  'payloadShift',
  'noise',
  'traces',
  'nudge',
  'init',
  'core',
  'valueScale',
];
const PROJECTION_FIELDS = ['name', 'pre', 'post', 'kind', 'target', 'weightBits', 'weightRange', 'weights', 'delay', 'plasticity'];
const PLASTICITY_FIELDS = ['rule', 'fracBits', 'rounding', 'lowpassTau', 'updateShift'];
const PROBE_FIELDS = ['name', 'of', 'variable', 'every'];

// ------------------------------------------------------------------------------------------------ helpers

type Obj = Record<string, unknown>;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  return `${typeof v} ${String(v)}`;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

function closest(word: string, options: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    const dist = editDistance(word, o);
    if (dist < bestD) {
      bestD = dist;
      best = o;
    }
  }
  return bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

const join = (path: string, key: string | number) => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key);

/** Reads one JSON document into a Network; all checks name the JSON path. */
class Reader {
  constructor(
    readonly file: string | undefined,
    readonly seed: number,
  ) {}

  fail(path: string, problem: string, hint = FORMAT_HINT): never {
    const where = [this.file, path].filter(Boolean).join(': ');
    throw new NetworkFileError(where ? `${where}: ${problem}` : problem, path, this.file, hint);
  }

  /** A random stream for one object, from the file's seed and the object's kind and name. */
  rng(label: string): SeededRandom {
    let h = 0x811c9dc5;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
    return new SeededRandom((mix32(h) + this.seed) >>> 0);
  }

  obj(v: unknown, path: string, fields: readonly string[], what = 'an object'): Obj {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(path, `must be ${what}, not ${describe(v)}`);
    const o = v as Obj;
    for (const k of Object.keys(o)) {
      if (k.startsWith('//')) continue; // comments
      if (!fields.includes(k)) {
        const guess = closest(k, fields);
        this.fail(join(path, k), `unknown field${guess ? ` (did you mean "${guess}"?)` : ''}`, `known fields here: ${fields.join(', ')}`);
      }
    }
    return o;
  }

  num(v: unknown, path: string, opts: { min?: number; max?: number; above?: number; integer?: boolean } = {}): number {
    const { min, max, above, integer } = opts;
    const range =
      above !== undefined ? `> ${above}` : min !== undefined && max !== undefined ? `in ${min}..${max}` : min !== undefined ? `≥ ${min}` : max !== undefined ? `≤ ${max}` : '';
    const want = `${integer ? (min === 1 && max === undefined ? 'a positive integer' : 'an integer') : 'a number'}${integer && min === 1 && max === undefined ? '' : range ? ` ${range}` : ''}`;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(path, `must be ${want}, not ${describe(v)}`);
    const n = v as number;
    if ((integer && !Number.isInteger(n)) || (min !== undefined && n < min) || (max !== undefined && n > max) || (above !== undefined && !(n > above))) {
      this.fail(path, `must be ${want}, not ${n}`);
    }
    return n;
  }

  optNum(o: Obj, key: string, path: string, opts: Parameters<Reader['num']>[2] = {}): number | undefined {
    return o[key] === undefined ? undefined : this.num(o[key], join(path, key), opts);
  }

  str(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, `must be a string, not ${describe(v)}`);
    return v as string;
  }

  bool(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, `must be true or false, not ${describe(v)}`);
    return v as boolean;
  }

  optBool(o: Obj, key: string, path: string): boolean | undefined {
    return o[key] === undefined ? undefined : this.bool(o[key], join(path, key));
  }

  oneOf<T extends string>(v: unknown, path: string, options: readonly T[]): T {
    if (typeof v !== 'string' || !options.includes(v as T)) {
      const guess = typeof v === 'string' ? closest(v, options) : undefined;
      this.fail(path, `must be one of ${options.map((x) => `"${x}"`).join(', ')}, not ${describe(v)}${guess ? ` (did you mean "${guess}"?)` : ''}`);
    }
    return v as T;
  }

  name(v: unknown, path: string): string {
    const s = this.str(v, path);
    if (!NAME_RE.test(s)) this.fail(path, `${JSON.stringify(s)} is not a valid name`, 'names start with a letter or _ and use letters, digits, _ . -');
    return s;
  }

  array(v: unknown, path: string, what = 'an array'): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `must be ${what}, not ${describe(v)}`);
    return v as unknown[];
  }

  numbers(v: unknown, path: string, length?: number): number[] {
    const a = this.array(v, path, 'an array of numbers');
    if (length !== undefined && a.length !== length) this.fail(path, `has ${a.length} values, expected ${length}`);
    return a.map((x, i) => this.num(x, join(path, i)));
  }

  /** [lo, hi] with lo ≤ hi. */
  interval(v: unknown, path: string): [number, number] {
    const [lo, hi] = this.numbers(v, path, 2);
    if (lo > hi) this.fail(path, `[${lo}, ${hi}] is empty: the first value must not exceed the second`);
    return [lo, hi];
  }

  /** A number distribution: a number, {"constant": c}, {"uniform": [lo, hi]} or {"normal": [mean, sd]}. */
  distribution(v: unknown, path: string): (rng: SeededRandom) => number {
    if (typeof v === 'number') {
      const c = this.num(v, path);
      return () => c;
    }
    const o = this.obj(v, path, ['constant', 'uniform', 'normal'], 'a number, {"constant": c}, {"uniform": [lo, hi]} or {"normal": [mean, sd]}');
    const keys = Object.keys(o).filter((k) => !k.startsWith('//'));
    if (keys.length !== 1) this.fail(path, 'must have exactly one of "constant", "uniform", "normal"');
    const k = keys[0];
    const p = join(path, k);
    if (k === 'constant') {
      const c = this.num(o.constant, p);
      return () => c;
    }
    if (k === 'uniform') {
      const [lo, hi] = this.interval(o.uniform, p);
      return (rng) => rng.uniform(lo, hi);
    }
    const [mean, sd] = this.numbers(o.normal, p, 2);
    if (sd < 0) this.fail(join(p, 1), `standard deviation must be ≥ 0, not ${sd}`);
    return (rng) => mean + sd * rng.normal();
  }

  // -------------------------------------------------------------------------------------------- document

  network(doc: unknown): Network {
    const top = this.obj(doc, '', TOP_FIELDS, 'a JSON object describing a network');
    if (top.name === undefined) this.fail('name', 'missing (every network has a name)');
    const name = this.str(top.name, 'name');
    if (name.trim() === '') this.fail('name', 'must not be empty');
    const tickSeconds = this.optNum(top, 'tickSeconds', '', { above: 0 });
    const net = new Network(name, { seed: this.seed, tickSeconds });
    if (top.description !== undefined) net.metadata.description = this.str(top.description, 'description');
    if (top.metadata !== undefined) {
      const m = top.metadata;
      if (m === null || typeof m !== 'object' || Array.isArray(m)) this.fail('metadata', `must be an object of strings, not ${describe(m)}`);
      for (const [k, v] of Object.entries(m as Obj)) net.metadata[k] = this.str(v, join('metadata', k));
    }

    if (top.populations === undefined) this.fail('populations', 'missing (a network needs at least one population)');
    const pops = this.array(top.populations, 'populations', 'an array of populations');
    if (pops.length === 0) this.fail('populations', 'must not be empty');
    // Names first, so nudge teachers may refer to later populations.
    const popNames = new Map<string, number>();
    const sizes = new Map<string, number>();
    pops.forEach((p, i) => {
      const path = `populations[${i}]`;
      if (p === null || typeof p !== 'object' || Array.isArray(p)) this.fail(path, `must be an object, not ${describe(p)}`);
      const o = p as Obj;
      if (o.name === undefined) this.fail(join(path, 'name'), 'missing');
      const n = this.name(o.name, join(path, 'name'));
      if (popNames.has(n)) this.fail(join(path, 'name'), `duplicate population name "${n}" (also populations[${popNames.get(n)}])`);
      popNames.set(n, i);
      if (o.size === undefined) this.fail(join(path, 'size'), 'missing');
      sizes.set(n, this.num(o.size, join(path, 'size'), { min: 1, integer: true }));
      if (sizes.get(n)! > MAX_GROUP_SIZE) this.fail(join(path, 'size'), `${sizes.get(n)} exceeds the largest group, ${MAX_GROUP_SIZE} neurons`, 'split the population');
    });
    pops.forEach((p, i) => this.population(net, p as Obj, `populations[${i}]`, sizes));

    const projNames = new Map<string, number>();
    if (top.projections !== undefined) {
      const projs = this.array(top.projections, 'projections', 'an array of projections');
      projs.forEach((p, i) => this.projection(net, p, `projections[${i}]`, sizes, projNames));
    }
    if (top.probes !== undefined) {
      const probes = this.array(top.probes, 'probes', 'an array of probes');
      const seen = new Map<string, number>();
      probes.forEach((p, i) => this.probe(net, p, `probes[${i}]`, popNames, projNames, seen));
    }
    return net;
  }

  private traces(v: unknown, path: string): PopulationOptions['traces'] {
    const o = this.obj(v, path, ['x1', 'x2', 'hp']);
    const out: NonNullable<PopulationOptions['traces']> = {};
    for (const k of ['x1', 'x2'] as const) {
      if (o[k] === undefined) continue;
      const p = join(path, k);
      const t = this.obj(o[k], p, ['tau', 'impulse']);
      if (t.tau === undefined) this.fail(join(p, 'tau'), 'missing (time constant in ticks)');
      out[k] = { tau: this.num(t.tau, join(p, 'tau'), { min: 0.5 }), impulse: this.optNum(t, 'impulse', p) };
    }
    if (o.hp !== undefined) {
      const p = join(path, 'hp');
      const t = this.obj(o.hp, p, ['tau']);
      if (t.tau === undefined) this.fail(join(p, 'tau'), 'missing (time constant in ticks)');
      out.hp = { tau: this.num(t.tau, join(p, 'tau'), { min: 0.5 }) };
    }
    return out;
  }

  private dendrite(v: unknown, path: string): { decay?: number } | boolean {
    if (typeof v === 'boolean') return v;
    const o = this.obj(v, path, ['decay'], 'true, false or {"decay": k}');
    return { decay: this.optNum(o, 'decay', path, { min: 0, max: 1 }) };
  }

  private population(net: Network, o: Obj, path: string, sizes: Map<string, number>): void {
    const isInput = o.input === undefined ? false : this.bool(o.input, join(path, 'input'));
    if (isInput) {
      const k = Object.keys(o).find((key) => !INPUT_FIELDS.includes(key) && NEURON_FIELDS.includes(key));
      if (k) this.fail(join(path, k), 'does not apply to an input population', `an input population takes ${INPUT_FIELDS.join(', ')}`);
    } else if (o.coding !== undefined) {
      this.fail(join(path, 'coding'), 'only applies to an input population ("input": true); a neuron population has "output"');
    }
    this.obj(o, path, isInput ? INPUT_FIELDS : NEURON_FIELDS);
    const name = o.name as string;
    const size = o.size as number;
    const payloadShift = this.optNum(o, 'payloadShift', path, { min: 0, max: PAYLOAD_SHIFT_MAX, integer: true });
    const core = this.optNum(o, 'core', path, { min: 0, max: CHIP_CORES - 1, integer: true });
    const traces = o.traces === undefined ? undefined : this.traces(o.traces, join(path, 'traces'));
    if (isInput) {
      const coding = o.coding === undefined ? undefined : this.oneOf(o.coding, join(path, 'coding'), ['graded', 'spikes'] as const);
      net.input(name, size, { coding, payloadShift, traces, core });
      return;
    }
    const opts: PopulationOptions = { payloadShift, core, traces };
    if (o.output !== undefined) opts.output = this.oneOf(o.output, join(path, 'output'), OUTPUT_KINDS);
    if (o.activation !== undefined) opts.activation = this.oneOf(o.activation, join(path, 'activation'), ACTIVATION_NAMES);
    if (o.basal !== undefined) opts.basal = this.dendrite(o.basal, join(path, 'basal'));
    if (o.apical !== undefined) opts.apical = this.dendrite(o.apical, join(path, 'apical'));
    if (o.soma !== undefined) {
      const p = join(path, 'soma');
      const s = this.obj(o.soma, p, ['kBasal', 'kApical', 'kNudge', 'kTotal']);
      opts.soma = {};
      for (const k of ['kBasal', 'kApical', 'kNudge', 'kTotal'] as const) {
        const v = this.optNum(s, k, p, { min: 0, max: 1 });
        if (v !== undefined) opts.soma[k] = v;
      }
    }
    opts.prospective = this.optNum(o, 'prospective', path, { min: 0, max: 4096 });
    opts.basalPrediction = this.optNum(o, 'basalPrediction', path, { min: 0, max: 1 });
    opts.threshold = this.optNum(o, 'threshold', path);
    opts.reset = this.optNum(o, 'reset', path);
    opts.refractory = this.optNum(o, 'refractory', path, { min: 0, max: 65535, integer: true });
    opts.valueScale = this.optNum(o, 'valueScale', path);
    if (o.noise !== undefined) {
      const p = join(path, 'noise');
      const n = this.obj(o.noise, p, ['target', 'tau', 'sigma']);
      for (const k of ['target', 'tau', 'sigma']) if (n[k] === undefined) this.fail(join(p, k), 'missing');
      opts.noise = {
        target: this.oneOf(n.target, join(p, 'target'), COMPARTMENT_NAMES),
        tau: this.num(n.tau, join(p, 'tau'), { min: 1 }),
        sigma: this.num(n.sigma, join(p, 'sigma'), { min: 0 }),
      };
    }
    if (o.nudge !== undefined) {
      const p = join(path, 'nudge');
      const n = this.obj(o.nudge, p, ['teacher', 'prospective', 'target'], '{"teacher": "population"} or {"target": true}');
      if (n.teacher !== undefined && n.target !== undefined) this.fail(p, 'give either "teacher" or "target", not both');
      if (n.teacher !== undefined) {
        const t = this.str(n.teacher, join(p, 'teacher'));
        if (!sizes.has(t)) this.fail(join(p, 'teacher'), `unknown population "${t}"`);
        if (sizes.get(t) !== size) this.fail(join(p, 'teacher'), `teacher "${t}" has ${sizes.get(t)} neurons, this population ${size} (nudging is one-to-one)`);
        opts.nudge = { teacher: t, prospective: this.optBool(n, 'prospective', p) };
      } else if (n.target !== undefined) {
        if (n.target !== true) this.fail(join(p, 'target'), `must be true, not ${describe(n.target)}`);
        if (n.prospective !== undefined) this.fail(join(p, 'prospective'), 'only applies to a teacher nudge');
        opts.nudge = { target: true };
      } else this.fail(p, 'needs "teacher" (a population name) or "target": true');
    }
    if (o.init !== undefined) {
      const p = join(path, 'init');
      if (Array.isArray(o.init)) opts.init = this.numbers(o.init, p, size);
      else {
        const draw = this.distribution(o.init, p);
        const rng = this.rng(`population:${name}`);
        opts.init = Array.from({ length: size }, () => draw(rng));
      }
    }
    for (const k of Object.keys(opts) as (keyof PopulationOptions)[]) if (opts[k] === undefined) delete opts[k];
    net.population(name, size, opts);
  }

  private projection(net: Network, v: unknown, path: string, sizes: Map<string, number>, projNames: Map<string, number>): void {
    const o = this.obj(v, path, PROJECTION_FIELDS);
    for (const k of ['name', 'pre', 'post', 'weights']) if (o[k] === undefined) this.fail(join(path, k), 'missing');
    const name = this.name(o.name, join(path, 'name'));
    if (sizes.has(name)) this.fail(join(path, 'name'), `"${name}" is already a population name`);
    if (projNames.has(name)) this.fail(join(path, 'name'), `duplicate projection name "${name}" (also projections[${projNames.get(name)}])`);
    projNames.set(name, projNames.size);
    const pre = this.str(o.pre, join(path, 'pre'));
    const post = this.str(o.post, join(path, 'post'));
    for (const [k, g] of [['pre', pre], ['post', post]] as const) {
      if (!sizes.has(g)) {
        const guess = closest(g, [...sizes.keys()]);
        this.fail(join(path, k), `unknown population "${g}"${guess ? ` (did you mean "${guess}"?)` : ''}`);
      }
    }
    const nPre = sizes.get(pre)!;
    const nPost = sizes.get(post)!;
    const opts: Partial<ProjectionOptions> = {};
    const explicitKind = o.kind === undefined ? undefined : this.oneOf(o.kind, join(path, 'kind'), PROJECTION_KINDS);
    if (o.target !== undefined) opts.target = this.oneOf(o.target, join(path, 'target'), COMPARTMENT_NAMES) as CompartmentName;
    if (o.weightBits !== undefined) {
      const b = this.num(o.weightBits, join(path, 'weightBits'), { integer: true });
      if (b !== 8 && b !== 16) this.fail(join(path, 'weightBits'), `must be 8 or 16, not ${b}`);
      opts.weightBits = b;
    }
    opts.weightRange = this.optNum(o, 'weightRange', path, { above: 0 });
    opts.delay = this.optNum(o, 'delay', path, { min: 1, max: MAX_DELAY, integer: true });
    const { kind, weights } = this.weights(o.weights, join(path, 'weights'), explicitKind, nPre, nPost, pre === post, this.rng(`projection:${name}`));
    opts.kind = kind;
    opts.weights = weights;
    if (o.plasticity !== undefined) {
      const p = join(path, 'plasticity');
      const pl = this.obj(o.plasticity, p, PLASTICITY_FIELDS);
      if (pl.rule === undefined) this.fail(join(p, 'rule'), 'missing (the rule text, see docs/rules.md)');
      const rule = Array.isArray(pl.rule) ? pl.rule.map((line, i) => this.str(line, join(join(p, 'rule'), i))).join('\n') : this.str(pl.rule, join(p, 'rule'));
      try {
        compileRule(rule);
      } catch (e) {
        if (e instanceof ApicalError) {
          e.message = `${[this.file, join(p, 'rule')].filter(Boolean).join(': ')}: ${e.message}`;
        }
        throw e;
      }
      opts.plasticity = {
        rule,
        fracBits: this.optNum(pl, 'fracBits', p, { min: 0, max: 23, integer: true }),
        rounding: pl.rounding === undefined ? undefined : this.oneOf(pl.rounding, join(p, 'rounding'), ['nearest', 'stochastic'] as const),
        lowpassTau: this.optNum(pl, 'lowpassTau', p, { min: 1 }),
        updateShift: this.optNum(pl, 'updateShift', p, { min: 0, max: 15, integer: true }),
      };
      for (const k of Object.keys(opts.plasticity) as (keyof typeof opts.plasticity)[]) if (opts.plasticity[k] === undefined) delete opts.plasticity[k];
    }
    for (const k of Object.keys(opts) as (keyof ProjectionOptions)[]) if (opts[k] === undefined) delete opts[k];
    net.project(name, pre, post, opts as ProjectionOptions);
  }

  /** The weights field: explicit values, a distribution for every synapse, or sparse connectivity. */
  private weights(
    v: unknown,
    path: string,
    explicitKind: ProjectionOptions['kind'],
    nPre: number,
    nPost: number,
    recurrent: boolean,
    rng: SeededRandom,
  ): { kind: NonNullable<ProjectionOptions['kind']>; weights: ProjectionOptions['weights'] } {
    const denseLike = (kind: 'dense' | 'oneToOne' | undefined) => {
      if (explicitKind === 'sparse') this.fail(path, 'a sparse projection needs {"sparse": {...}} or {"pre": [...], "post": [...], "values": [...]} weights');
      return kind ?? explicitKind ?? 'dense';
    };
    const count = (kind: 'dense' | 'oneToOne') => {
      if (kind === 'oneToOne' && nPre !== nPost) this.fail(path, `a one-to-one projection needs equal population sizes (pre ${nPre}, post ${nPost})`);
      return kind === 'dense' ? nPre * nPost : nPre;
    };
    // Explicit values.
    if (Array.isArray(v)) {
      if (v.length > 0 && Array.isArray(v[0])) {
        const kind = denseLike('dense');
        if (kind !== 'dense') this.fail(path, 'a matrix of weights (an array of rows) needs kind "dense"');
        if (v.length !== nPost) this.fail(path, `has ${v.length} rows, expected ${nPost} (one per postsynaptic neuron: post × pre)`);
        return { kind, weights: v.map((row, j) => this.numbers(row, join(path, j), nPre)) };
      }
      const kind = denseLike(undefined);
      const n = count(kind);
      const a = this.array(v, path);
      if (a.length !== n) {
        this.fail(path, `has ${a.length} values, expected ${n}${kind === 'dense' ? ` (${nPost} post × ${nPre} pre, post-major; or give an array of ${nPost} rows)` : ''}`);
      }
      return { kind, weights: this.numbers(a, path) };
    }
    if (v !== null && typeof v === 'object' && ('sparse' in v || 'pre' in v || 'post' in v || 'values' in v)) {
      if (explicitKind !== undefined && explicitKind !== 'sparse') this.fail(path, `sparse weights need kind "sparse", not "${explicitKind}"`);
      const o = v as Obj;
      if ('sparse' in o) {
        this.obj(o, path, ['sparse']);
        const p = join(path, 'sparse');
        const s = this.obj(o.sparse, p, ['p', 'value', 'selfConnections']);
        if (s.p === undefined) this.fail(join(p, 'p'), 'missing (connection probability)');
        if (s.value === undefined) this.fail(join(p, 'value'), 'missing (weight of each synapse: a number or a distribution)');
        const prob = this.num(s.p, join(p, 'p'), { min: 0, max: 1 });
        const draw = this.distribution(s.value, join(p, 'value'));
        const self = this.optBool(s, 'selfConnections', p) ?? true;
        const pres: number[] = [];
        const posts: number[] = [];
        for (let i = 0; i < nPre; i++) {
          for (let j = 0; j < nPost; j++) {
            if (rng.next() < prob && (self || !recurrent || i !== j)) {
              pres.push(i);
              posts.push(j);
            }
          }
        }
        const values = pres.map(() => draw(rng));
        return { kind: 'sparse', weights: { pre: pres, post: posts, values } satisfies SparseWeights };
      }
      this.obj(o, path, ['pre', 'post', 'values']);
      for (const k of ['pre', 'post', 'values']) if (o[k] === undefined) this.fail(join(path, k), 'missing');
      const values = this.numbers(o.values, join(path, 'values'));
      const idx = (k: 'pre' | 'post', n: number) =>
        this.array(o[k], join(path, k), 'an array of neuron indices').map((x, i) => this.num(x, join(join(path, k), i), { min: 0, max: n - 1, integer: true }));
      const pres = idx('pre', nPre);
      const posts = idx('post', nPost);
      if (pres.length !== values.length) this.fail(join(path, 'pre'), `has ${pres.length} entries, "values" has ${values.length}`);
      if (posts.length !== values.length) this.fail(join(path, 'post'), `has ${posts.length} entries, "values" has ${values.length}`);
      return { kind: 'sparse', weights: { pre: pres, post: posts, values } };
    }
    // A distribution for every synapse.
    const kind = denseLike(undefined);
    const n = count(kind);
    const draw = this.distribution(v, path);
    return { kind, weights: Float64Array.from({ length: n }, () => draw(rng)) };
  }

  private probe(net: Network, v: unknown, path: string, popNames: Map<string, number>, projNames: Map<string, number>, seen: Map<string, number>): void {
    const o = this.obj(v, path, PROBE_FIELDS);
    for (const k of ['name', 'of', 'variable']) if (o[k] === undefined) this.fail(join(path, k), 'missing');
    const name = this.name(o.name, join(path, 'name'));
    if (seen.has(name)) this.fail(join(path, 'name'), `duplicate probe name "${name}" (also probes[${seen.get(name)}])`);
    seen.set(name, seen.size);
    const variable = this.oneOf(o.variable, join(path, 'variable'), PROBE_VARIABLES) as ProbeOptions['variable'];
    const of = this.str(o.of, join(path, 'of'));
    const names = variable === 'weights' ? projNames : popNames;
    if (!names.has(of)) this.fail(join(path, 'of'), `unknown ${variable === 'weights' ? 'projection' : 'population'} "${of}"`);
    const every = this.optNum(o, 'every', path, { min: 1, integer: true });
    net.probe(name, of, every === undefined ? { variable } : { variable, every });
  }
}

// ------------------------------------------------------------------------------------------------ API

/**
 * Builds a Network from a parsed JSON document. `file` (optional) is put in front of error messages.
 * Throws NetworkFileError (or RuleSyntaxError for rule text) naming the JSON path of the problem.
 */
export function networkFromJson(doc: unknown, file?: string): Network {
  const probe = new Reader(file, 1);
  let seed = 1;
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc) && (doc as Obj).seed !== undefined) {
    seed = probe.num((doc as Obj).seed, 'seed', { min: 0, max: 0xffffffff, integer: true });
  }
  return new Reader(file, seed).network(doc);
}

/** A printable rendering of one character of the input, for error messages. */
function showChar(c: string | undefined): string {
  if (c === undefined) return 'the end of the file';
  const code = c.charCodeAt(0);
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0xfffd) return `byte 0x${code.toString(16).padStart(2, '0')}`;
  return `'${c}'`;
}

/**
 * Where JSON text first goes wrong: a small recursive scanner of the JSON grammar (V8's messages give no
 * position for most mistakes). Returns null if the text is valid.
 */
function jsonSyntaxProblem(text: string): { pos: number; problem: string } | null {
  let i = 0;
  const err = (problem: string, pos = i): never => {
    throw { pos, problem };
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const expect = (what: string): never => err(`expected ${what} but found ${showChar(text[i])}`);
  const literal = (word: string) => {
    for (let k = 0; k < word.length; k++) if (text[i + k] !== word[k]) err(`expected ${word} but found ${showChar(text[i + k])}`, i + k);
    i += word.length;
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      const c = text[i];
      if (c === undefined) err('unterminated string');
      if (c === '"') break;
      if (c.charCodeAt(0) < 0x20) err(`${showChar(c)} inside a string (write it as an escape such as \\n)`);
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) err('bad \\u escape: expected 4 hex digits', i + 2);
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) err(`bad escape \\${e ?? ''} in a string`, i + 1);
        i += 2;
        continue;
      }
      i++;
    }
    i++;
  };
  const number = () => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === '-' || m[0] === '') expect('a number');
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') expect(text[i] === '}' ? 'a "field" after \',\' (JSON has no trailing commas)' : 'a "field" name in double quotes');
        string();
        ws();
        if (text[i] !== ':') expect("':' after the field name");
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        expect("',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] === ']') expect("a value after ',' (JSON has no trailing commas)");
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        expect("',' or ']'");
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number();
    expect('a value');
  };
  try {
    value();
    ws();
    if (i < text.length) err(`unexpected ${showChar(text[i])} after the end of the JSON value`);
    return null;
  } catch (e) {
    if (e && typeof e === 'object' && 'problem' in e) return e as { pos: number; problem: string };
    if (e instanceof RangeError) return null; // nested too deeply for the scanner
    throw e;
  }
}

/** One line saying where and what: `line L, column C: <problem>`. */
function jsonProblem(text: string, e: Error): string {
  const found = jsonSyntaxProblem(text);
  if (found) {
    const before = text.slice(0, found.pos);
    const line = before.split('\n').length;
    const column = found.pos - before.lastIndexOf('\n');
    return `line ${line}, column ${column}: ${found.problem}`;
  }
  // The scanner accepted what JSON.parse rejected (should not happen): V8's message, made printable and one line.
  // eslint-disable-next-line no-control-regex
  return e.message.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Parses JSON text (e.g. a file's contents) into a Network. */
export function parseNetworkJson(text: string, file?: string): Network {
  let doc: unknown;
  const body = text.replace(/^\uFEFF/, '');
  try {
    doc = JSON.parse(body);
  } catch (e) {
    const where = file ? `network file "${file}"` : 'network description';
    throw new NetworkFileError(`${where} is not valid JSON: ${jsonProblem(body, e as Error)}`, '', file, 'the format is described in docs/network-format.md');
  }
  return networkFromJson(doc, file);
}

/** Reads a network file (JSON) into a Network. Errors name the file. */
export function readNetworkFile(path: string): Network {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new NetworkFileError(`cannot read network file "${path}": ${why}`, '', path, 'check the path');
  }
  return parseNetworkJson(text, path);
}

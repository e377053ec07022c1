/**
 * Builds Programs directly in chip integers (no compiler), so tests can state exact parameters.
 */
import {
  Compartment,
  GroupKind,
  NoiseTarget,
  NudgeSource,
  OutputMode,
  PortKind,
  ProjectionKind,
  Rounding,
  type Group,
  type Lut,
  type Program,
  type Projection,
  type Statement,
} from '../../src/emulator/program.js';
import { lutFromFunction } from '../../src/emulator/lut.js';

export const ONE = 65536;
export const COEF_ONE = 1 << 20;

export function group(name: string, size: number, p: Partial<Group> = {}): Group {
  return {
    name,
    size,
    kind: GroupKind.Neuron,
    output: OutputMode.None,
    slices: [{ core: 0, start: 0, count: size }],
    hasBasal: false,
    hasApical: false,
    basalDecay: COEF_ONE,
    apicalDecay: COEF_ONE,
    kBasal: 0,
    kApical: 0,
    kNudge: 0,
    kTotal: 0,
    nudge: NudgeSource.None,
    teacher: -1,
    teacherProspective: false,
    prospectiveGain: 0,
    basalPredGain: 0,
    lut: -1,
    threshold: ONE,
    reset: 0,
    refractory: 0,
    payloadShift: 4,
    noiseTarget: NoiseTarget.None,
    noiseDecay: 0,
    noiseGain: 0,
    traces: 0,
    x1Decay: 0,
    x1Impulse: 0,
    x2Decay: 0,
    x2Impulse: 0,
    hpDecay: 0,
    initSoma: new Int32Array(0),
    valueScale: 1,
    ...p,
  };
}

export function inputGroup(name: string, size: number, p: Partial<Group> = {}): Group {
  return group(name, size, { kind: GroupKind.Input, output: OutputMode.Graded, ...p });
}

export function projection(name: string, pre: number, post: number, weights: number[], p: Partial<Projection> = {}): Projection {
  const bits = p.weightBits ?? 16;
  return {
    name,
    pre,
    post,
    kind: ProjectionKind.Dense,
    target: Compartment.Basal,
    weightBits: bits,
    weightShift: 12,
    delay: 1,
    weights: bits === 8 ? Int8Array.from(weights) : Int16Array.from(weights),
    rowPtr: null,
    cols: null,
    plasticity: null,
    ...p,
  };
}

export function plastic(statements: Statement[], p: { fracBits?: number; rounding?: Rounding; lowpass?: number; tag?: boolean; source?: string; updateShift?: number } = {}) {
  return { source: p.source ?? '', statements, fracBits: p.fracBits ?? 0, rounding: p.rounding ?? Rounding.Nearest, lowpass: p.lowpass ?? 0, tag: p.tag ?? false, updateShift: p.updateShift ?? 0 };
}

export const sigmoidLut = (): Lut => lutFromFunction('sigmoid', (x) => 1 / (1 + Math.exp(-x)), -8, 12);

export function program(groups: Group[], projections: Projection[], extra: Partial<Program['body']> = {}, seed = 1): Program {
  const inputs = extra.inputs ?? [
    ...groups.flatMap((g, i) => (g.kind === GroupKind.Input ? [{ name: g.name, kind: g.output === OutputMode.Graded ? PortKind.Rate : PortKind.Spikes, group: i }] : [])),
    ...groups.flatMap((g, i) => (g.nudge === NudgeSource.Target ? [{ name: `${g.name}.target`, kind: PortKind.Target, group: i }] : [])),
  ];
  return {
    formatVersion: 1,
    chipRevision: 1,
    seed,
    hash: `test-${Math.random()}`,
    body: { name: 'test', tickSeconds: 1e-4, luts: [], groups, projections, inputs, probes: [], metadata: {}, ...extra, ...(extra.inputs ? {} : { inputs }) },
  };
}

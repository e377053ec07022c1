/**
 * A small hand-built Program that exercises every feature of the format: input (graded and binary) and neuron
 * groups, multi-slice placement, dense / sparse / one-to-one projections, 8- and 16-bit weights, plasticity
 * with two statements and a tag, two LUTs, teacher and target nudging, noise, traces, initial potentials,
 * all four port kinds, neuron and weight probes, and metadata. Every call returns a fresh, finalized Program
 * (valid, with its hash set), so tests may mutate it freely.
 */
import { APX_FORMAT_VERSION, CHIP_REVISION, LUT_SEGMENTS, STATE_ONE } from '../../src/emulator/constants.js';
import { encodeWord, Op, TERMS } from '../../src/emulator/microcode.js';
import {
  Compartment,
  GroupKind,
  NoiseTarget,
  NudgeSource,
  OutputMode,
  PortKind,
  ProbeVariable,
  ProjectionKind,
  Rounding,
  RuleTarget,
  TRACE_HP,
  TRACE_X1,
  TRACE_X2,
  Trigger,
  type Group,
  type Lut,
  type Program,
} from '../../src/emulator/program.js';
import { finalizeProgram } from '../../src/emulator/programCodec.js';
import { group } from './programBuilder.js';

/** A group with the defaults of programBuilder.group, as a basal binary neuron; override what matters. */
export function sampleGroup(name: string, size: number, over: Partial<Group> = {}): Group {
  return group(name, size, { output: OutputMode.Binary, hasBasal: true, apicalDecay: 0, kBasal: 1 << 19, kTotal: 1 << 19, threshold: STATE_ONE, ...over });
}

/** A LUT of LUT_SEGMENTS + 1 knots from a real function, knots at xMin + k·2^stepShift (STATE). */
export function sampleLut(name: string, fn: (x: number) => number, xMin = -8 * STATE_ONE, stepShift = 12): Lut {
  const values = new Int32Array(LUT_SEGMENTS + 1);
  for (let k = 0; k <= LUT_SEGMENTS; k++) values[k] = Math.round(fn((xMin + k * 2 ** stepShift) / STATE_ONE) * STATE_ONE);
  return { name, xMin, stepShift, values };
}

const t = (name: keyof typeof TERMS) => encodeWord(Op.Term, TERMS[name]);

export function sampleProgram(): Program {
  const groups: Group[] = [
    // 0: graded input with traces (pre.x1 is read by the rule on "fc1").
    sampleGroup('in', 4, {
      kind: GroupKind.Input,
      output: OutputMode.Graded,
      hasBasal: false,
      kBasal: 0,
      kTotal: 0,
      traces: TRACE_X1 | TRACE_X2,
      x1Decay: 1 << 17,
      x1Impulse: STATE_ONE,
      x2Decay: 1 << 15,
      x2Impulse: STATE_ONE >> 1,
    }),
    // 1: binary input.
    sampleGroup('spk', 3, { kind: GroupKind.Input, hasBasal: false, kBasal: 0, kTotal: 0, slices: [{ core: 1, start: 0, count: 3 }] }),
    // 2: graded two-compartment neurons on two cores, with noise, traces and initial potentials.
    sampleGroup('hid', 5, {
      output: OutputMode.Graded,
      lut: 0,
      slices: [
        { core: 2, start: 0, count: 3 },
        { core: 3, start: 3, count: 2 },
      ],
      hasApical: true,
      basalDecay: 1 << 18,
      apicalDecay: 3 << 17,
      kApical: 1 << 18,
      kTotal: 3 << 18,
      prospectiveGain: 10 * 256,
      basalPredGain: 900_000,
      threshold: -12345,
      reset: -STATE_ONE,
      payloadShift: 3,
      noiseTarget: NoiseTarget.Soma,
      noiseDecay: 1 << 16,
      noiseGain: 123_456_789,
      traces: TRACE_X1 | TRACE_HP,
      x1Decay: 1 << 16,
      x1Impulse: -7,
      hpDecay: 1 << 14,
      initSoma: Int32Array.from([0, -STATE_ONE, 2 * STATE_ONE, 17, -2147483648]),
      valueScale: 0.02,
    }),
    // 3: stochastic teacher.
    sampleGroup('teach', 2, { output: OutputMode.Stochastic, lut: 1, slices: [{ core: 4, start: 0, count: 2 }], refractory: 2 }),
    // 4: binary output nudged by the teacher's prospective potential.
    sampleGroup('out', 2, {
      nudge: NudgeSource.Teacher,
      teacher: 3,
      teacherProspective: true,
      kNudge: 1 << 18,
      refractory: 65535,
      slices: [{ core: 15, start: 0, count: 2 }],
    }),
    // 5: graded apical-only neurons nudged from a target port.
    sampleGroup('tgt', 5, { output: OutputMode.Graded, lut: 1, hasBasal: false, hasApical: true, kBasal: 0, kApical: 1 << 19, apicalDecay: 1 << 20, nudge: NudgeSource.Target, kNudge: 1 << 19 }),
  ];
  return finalizeProgram({
    formatVersion: APX_FORMAT_VERSION,
    chipRevision: CHIP_REVISION,
    seed: 0xdeadbeef,
    hash: '',
    body: {
      name: 'sample',
      tickSeconds: 1e-3,
      luts: [sampleLut('sigmoid', (x) => 1 / (1 + Math.exp(-x))), sampleLut('relu', (x) => Math.max(0, x), -4 * STATE_ONE, 10)],
      groups,
      projections: [
        {
          name: 'fc1',
          pre: 0,
          post: 2,
          kind: ProjectionKind.Dense,
          target: Compartment.Basal,
          weightBits: 8,
          weightShift: 6,
          delay: 1,
          weights: Int8Array.from({ length: 20 }, (_, i) => (i * 37) % 256 - 128),
          rowPtr: null,
          cols: null,
          plasticity: {
            source: 'dw = syn.tag * reward\ndtag @pre = pre.x1 * post.hp - 0.5',
            statements: [
              { trigger: Trigger.Tick, epochShift: 0, target: RuleTarget.Weight, code: Int32Array.from([t('syn.tag'), t('reward'), encodeWord(Op.Mul)]) },
              {
                trigger: Trigger.Pre,
                epochShift: 0,
                target: RuleTarget.Tag,
                code: Int32Array.from([t('pre.x1'), t('post.hp'), encodeWord(Op.Mul), encodeWord(Op.Const), -(1 << 23), encodeWord(Op.Add)]),
              },
            ],
            fracBits: 12,
            rounding: Rounding.Stochastic,
            lowpass: 1 << 16,
            updateShift: 0,
            tag: true,
          },
        },
        {
          name: 'sp',
          pre: 1,
          post: 2,
          kind: ProjectionKind.Sparse,
          target: Compartment.Apical,
          weightBits: 16,
          weightShift: 14,
          delay: 5,
          weights: Int16Array.from([-32768, 32767, 1, -1, 300]),
          rowPtr: Uint32Array.from([0, 2, 2, 5]),
          cols: Uint16Array.from([4, 0, 1, 2, 4]),
          plasticity: {
            source: 'dw @epoch(4) = post.rate * 0.25',
            statements: [{ trigger: Trigger.Epoch, epochShift: 4, target: RuleTarget.Weight, code: Int32Array.from([t('post.rate'), encodeWord(Op.MulC, 2), 1]) }],
            fracBits: 15,
            rounding: Rounding.Nearest,
            lowpass: 0,
            updateShift: 0,
            tag: false,
          },
        },
        {
          name: 'oo',
          pre: 2,
          post: 5,
          kind: ProjectionKind.OneToOne,
          target: Compartment.Apical,
          weightBits: 16,
          weightShift: 8,
          delay: 64,
          weights: Int16Array.from([256, -256, 512, 0, 1000]),
          rowPtr: null,
          cols: null,
          plasticity: null,
        },
        {
          name: 'fb',
          pre: 2,
          post: 4,
          kind: ProjectionKind.Dense,
          target: Compartment.Soma,
          weightBits: 16,
          weightShift: 12,
          delay: 2,
          weights: Int16Array.from({ length: 10 }, (_, i) => (i - 5) * 1000),
          rowPtr: null,
          cols: null,
          plasticity: null,
        },
        {
          name: 'drive',
          pre: 1,
          post: 3,
          kind: ProjectionKind.Dense,
          target: Compartment.Basal,
          weightBits: 8,
          weightShift: 0,
          delay: 1,
          weights: Int8Array.from([1, 2, 3, 4, 5, 6]),
          rowPtr: null,
          cols: null,
          plasticity: null,
        },
      ],
      inputs: [
        { name: 'in', kind: PortKind.Rate, group: 0 },
        { name: 'spk', kind: PortKind.Spikes, group: 1 },
        { name: 'tgt.target', kind: PortKind.Target, group: 5 },
        { name: 'reward', kind: PortKind.Reward, group: -1 },
      ],
      probes: [
        { name: 'hid.soma', variable: ProbeVariable.Soma, group: 2, projection: -1, every: 1 },
        { name: 'hid.basal', variable: ProbeVariable.Basal, group: 2, projection: -1, every: 2 },
        { name: 'hid.noise', variable: ProbeVariable.Noise, group: 2, projection: -1, every: 1 },
        { name: 'out.spikes', variable: ProbeVariable.Spikes, group: 4, projection: -1, every: 1 },
        { name: 'fc1.w', variable: ProbeVariable.Weights, group: -1, projection: 0, every: 100 },
      ],
      metadata: { source: 'hand-built test program', compiler: 'none' },
    },
  });
}

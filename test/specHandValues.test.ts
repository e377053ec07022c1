/**
 * Integer operations of docs/chip.md checked against values computed in this file from the spec's own formulas
 * (never through the emulator's helpers for the same formula): rounding of weight updates (§11.4), stochastic
 * rounding and the PRNG keys (§8.1, §11.4), Gaussian samples and OU noise with its injection (§8.2, §8.3, §5.3),
 * microcode saturation and term conversions (§11.2, §11.3), refractoriness, teacher latching and graded payloads
 * (§4, §5.4, §6.1, §6.3), tag saturation (§11.4).
 *
 * The hand arithmetic below is BigInt (exact for every integer): round(x, s) = ⌊(x + 2^(s−1)) / 2^s⌋ (§2) and
 * mix32 written out from §8.1. Tests that touch dense projections or covered groups run on both backends.
 */
import { describe, expect, it } from 'vitest';
import { Chip } from '../src/emulator/chip.js';
import { TERMS, type TermName } from '../src/emulator/microcode.js';
import { validateProgram } from '../src/emulator/programCodec.js';
import {
  Compartment,
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
  type Lut,
  type Program,
  type Statement,
} from '../src/emulator/program.js';
import { COEF_ONE, group, inputGroup, ONE, plastic, program, projection } from './helpers/programBuilder.js';

const BACKENDS = ['js', 'wasm'] as const;
type Backend = (typeof BACKENDS)[number];

// ------------------------------------------------------------------------------------------ hand arithmetic (§2)

const I32_MAX = 2147483647;
const I32_MIN = -2147483648;
const sat32 = (x: number): number => (x > I32_MAX ? I32_MAX : x < I32_MIN ? I32_MIN : x);
const sat16 = (x: number): number => (x > 32767 ? 32767 : x < -32768 ? -32768 : x);
/** §2: round(x, s) = ⌊(x + 2^(s−1)) / 2^s⌋ for s ≥ 1, x for s = 0, x·2^−s for s < 0 — exact (BigInt). */
function rnd(x: number | bigint, s: number): number {
  const b = BigInt(x);
  if (s === 0) return Number(b);
  if (s < 0) return Number(b << BigInt(-s));
  return Number((b + (1n << BigInt(s - 1))) >> BigInt(s));
}
/** round(a·b, s) with the product formed exactly first (§2 "exact products"). */
const rmul = (a: number, b: number, s: number): number => rnd(BigInt(a) * BigInt(b), s);
/** ⌊x / 2^s⌋ (arithmetic shift right), exact. */
const floorShift = (x: number | bigint, s: number): number => Number(BigInt(x) >> BigInt(s));
/** RULE conversion of a STATE value (§11.2): v · 2^8, saturated. */
const q8 = (v: number): number => sat32(v * 256);

// ------------------------------------------------------------------------------------------ hand PRNG (§8.1)

const M32 = 0xffffffffn;
/** mix32 of §8.1, step by step, mod 2^32 in BigInt (independent of Math.imul). */
function mix32Spec(x: number): number {
  let v = BigInt(x >>> 0);
  v ^= v >> 16n;
  v = (v * 0x7feb352dn) & M32;
  v ^= v >> 15n;
  v = (v * 0x846ca68bn) & M32;
  v ^= v >> 16n;
  return Number(v);
}
/** key(stream, id) = mix32(mix32(seed ⊕ 0x9e3779b9) ⊕ ((stream << 24) | id)), id mod 2^24. */
const keySpec = (seed: number, stream: number, id: number): number =>
  mix32Spec(Number(BigInt(mix32Spec(Number(BigInt(seed) ^ 0x9e3779b9n))) ^ ((BigInt(stream) << 24n) | BigInt(id % 2 ** 24))));
/** tickKey(t) = mix32((key + t) mod 2^32). */
const tickKeySpec = (key: number, t: number): number => mix32Spec((key + t) % 2 ** 32);
/** draw(t, i) = mix32(tickKey(t) ⊕ i). */
const drawSpec = (tk: number, i: number): number => mix32Spec(Number(BigInt(tk) ^ BigInt(i)));
/** §8.2: the four 16-bit halves of d0 = draw(t, 2j), d1 = draw(t, 2j + 1) summed, minus 131070. */
function gaussSpec(tk: number, j: number): number {
  const d0 = drawSpec(tk, 2 * j);
  const d1 = drawSpec(tk, 2 * j + 1);
  return (d0 % 65536) + Math.floor(d0 / 65536) + (d1 % 65536) + Math.floor(d1 / 65536) - 131070;
}
/** §8.3: ξ ← sat32(ξ − r20(noiseDecay·ξ) + round(noiseGain·N, 24)). */
const ouStep = (xi: number, decay: number, gain: number, n: number): number => sat32(xi - rmul(decay, xi, 20) + rmul(gain, n, 24));

const STREAM_NOISE = 1;
const STREAM_SPIKE = 2;
const STREAM_ROUND = 3;

// ------------------------------------------------------------------------------------------ microcode words (§11.3)

/** Word layout: opcode in bits 0–7, signed operand in bits 8–31. */
const TERM = (name: TermName): number => (TERMS[name] << 8) | 1;
const CONST = 2;
const ADD = 3;
const SUB = 4;
const MUL = 5;
const NEG = 6;
const MULC = (s: number): number => (s << 8) | 7;

const stmt = (target: RuleTarget, words: number[], trigger = Trigger.Tick): Statement => ({ trigger, epochShift: 0, target, code: Int32Array.from(words) });

function chipOf(prog: Program, backend: Backend = 'js'): Chip {
  validateProgram(prog);
  return new Chip(prog, { backend });
}

interface RuleChipOptions {
  weights?: number[];
  weightShift?: number;
  weightBits?: number;
  fracBits?: number;
  updateShift?: number;
  rounding?: Rounding;
  lowpass?: number;
  tag?: boolean;
  /** Held rates of the graded input group (one per presynaptic neuron). */
  rates?: number[];
  initSoma?: number;
  seed?: number;
}

/** in (graded, rates.length neurons) → n (1 neuron, basal, kTotal 0 so u holds) with one plastic dense projection. */
function ruleChip(statements: Statement[], o: RuleChipOptions, backend: Backend): Chip {
  const rates = o.rates ?? [0];
  const prog = program(
    [inputGroup('in', rates.length, { payloadShift: 4 }), group('n', 1, { hasBasal: true, initSoma: Int32Array.from([o.initSoma ?? 0]) })],
    [
      projection('w', 0, 1, o.weights ?? new Array(rates.length).fill(0), {
        weightShift: o.weightShift ?? 12,
        weightBits: o.weightBits ?? 16,
        plasticity: plastic(statements, { fracBits: o.fracBits ?? 0, rounding: o.rounding, lowpass: o.lowpass, tag: o.tag ?? false, updateShift: o.updateShift }),
      }),
    ],
    {
      inputs: [
        { name: 'in', kind: PortKind.Rate, group: 0 },
        { name: 'reward', kind: PortKind.Reward, group: -1 },
      ],
    },
    o.seed ?? 1,
  );
  const chip = chipOf(prog, backend);
  chip.setInput('in', rates);
  return chip;
}

/** Δ of one tag statement after one tick (the tag starts at 0, so tag = sat32(0 + Δ) = Δ). */
function tagAfterOneTick(words: number[], o: RuleChipOptions, backend: Backend, reward = 0): number[] {
  const chip = ruleChip([stmt(RuleTarget.Tag, words)], { ...o, tag: true }, backend);
  chip.setInput('reward', [reward]);
  chip.step();
  return Array.from(chip.projection('w').tag!);
}

// =============================================================================================================

describe('§8.1 The PRNG', () => {
  it('the hand mix32 reproduces the hand values of fixedPoint.test.ts (mix32(0) = 0, mix32(1) step by step)', () => {
    expect(mix32Spec(0)).toBe(0);
    // x = 1: 1 ^ 0 = 1; ·0x7feb352d = 0x7feb352d; ^ (>>> 15 = 0xffd6) = 0x7febcafb; ·0x846ca68b; ^ >>> 16
    const a = Number((0x7febcafbn * 0x846ca68bn) & M32);
    expect(mix32Spec(1)).toBe((a ^ (a >>> 16)) >>> 0);
  });

  it('key(stream, id) and tickKey(t) from the §8.1 text, seed 0xdeadbeef, noise group index 2: chip keys and two OU steps', () => {
    // Group 2 ('n', 3 neurons) has apical noise; groups 0 and 1 only shift its index. The chip's stored keys must
    // equal key(Noise = 1, 2) and key(Spike = 2, 2); ξ after ticks 0 and 1 uses tickKey(0), tickKey(1) of the
    // noise key (second step: ξ ≠ 0, so the decay term r20(noiseDecay·ξ) is exercised, with a remainder).
    const seed = 0xdeadbeef;
    const decay = 349525; // ≈ 2^20 / 3
    const gain = 7654321;
    const prog = program(
      [
        inputGroup('in', 1),
        group('a', 1),
        group('n', 3, { hasApical: true, noiseTarget: NoiseTarget.Apical, noiseDecay: decay, noiseGain: gain }),
      ],
      [],
      {},
      seed,
    );
    const chip = chipOf(prog);
    const key = keySpec(seed, STREAM_NOISE, 2);
    expect(chip.group('n').noiseKey).toBe(key);
    expect(chip.group('n').spikeKey).toBe(keySpec(seed, STREAM_SPIKE, 2));
    expect(chip.group('a').noiseKey).toBe(keySpec(seed, STREAM_NOISE, 1));
    let xi = [0, 0, 0];
    for (let t = 0; t < 2; t++) {
      chip.step();
      const tk = tickKeySpec(key, t);
      xi = xi.map((x, j) => ouStep(x, decay, gain, gaussSpec(tk, j)));
      expect(Array.from(chip.group('n').xi!)).toEqual(xi);
      // Stored v_A never contains the noise (§5.3).
      expect(Array.from(chip.read('n', ProbeVariable.Apical))).toEqual([0, 0, 0]);
    }
    expect(xi.every((x) => x !== 0)).toBe(true);
  });
});

describe('§8.2 Gaussian samples', () => {
  it('N = Σ halves − 131070 when one draw is 0: key = 2^32 − 1 makes tickKey(1) = mix32(0) = 0, so draw(1, 0) = 0', () => {
    // The seed was found by inverting mix32 twice (it is a bijection): key(Noise, 0) = mix32(mix32(seed ⊕
    // 0x9e3779b9) ⊕ 0x01000000) = 0xffffffff. Then tickKey(1) = mix32((2^32 − 1 + 1) mod 2^32) = mix32(0) = 0 (the
    // mod 2^32 wrap), and neuron 0 draws d0 = mix32(0 ⊕ 0) = 0, d1 = mix32(1): N = halves(mix32(1)) − 131070.
    // (The minimum −131070 needs d0 = d1 = 0, i.e. tickKey ⊕ 2j = tickKey ⊕ (2j + 1) = 0: impossible.)
    const seed = 3942584762;
    expect(keySpec(seed, STREAM_NOISE, 0)).toBe(0xffffffff);
    expect(tickKeySpec(0xffffffff, 1)).toBe(0);
    const d1 = mix32Spec(1); // mix32(1), checked against the step-by-step value in the §8.1 test
    const n1 = (d1 % 65536) + Math.floor(d1 / 65536) - 131070;
    expect(drawSpec(0, 0)).toBe(0);
    expect(gaussSpec(0, 0)).toBe(n1);
    const gain = 2 ** 31 - 1; // the largest noiseGain: round(gain·N, 24) ≈ N·2^7
    const prog = program([group('n', 2, { hasApical: true, noiseTarget: NoiseTarget.Apical, noiseDecay: 0, noiseGain: gain })], [], {}, seed);
    const chip = chipOf(prog);
    chip.step();
    const xi0 = [0, 1].map((j) => rmul(gain, gaussSpec(tickKeySpec(0xffffffff, 0), j), 24));
    expect(Array.from(chip.group('n').xi!)).toEqual(xi0);
    chip.step(); // decay 0: ξ accumulates the increments
    expect(chip.group('n').xi![0]).toBe(xi0[0] + rmul(gain, n1, 24));
    expect(chip.group('n').xi![1]).toBe(xi0[1] + rmul(gain, gaussSpec(0, 1), 24));
  });
});

describe('§8.3 / §5.3 OU noise injected into the soma and into the basal compartment', () => {
  // in (graded, rate 0.5, payload shift 2 → payload 8192 Q1.14) → n one-to-one weight 2048, shift 12 + 14 − 16 = 10:
  // I = round(2048 · 8192, 10) = 16384, arriving from tick 1 (delay 1).
  const I_IN = rnd(2048 * 8192, 10);
  const seed = 4242;
  const decay = COEF_ONE / 4;
  const gain = 3000001;

  it('target S: D = sat32(r12(S) + (I_S + ξ)·2^8), ξ added after the input saturation', () => {
    const kT = COEF_ONE / 8;
    const u0 = 10000;
    const prog = program(
      [inputGroup('in', 1, { payloadShift: 2 }), group('n', 1, { kTotal: kT, noiseTarget: NoiseTarget.Soma, noiseDecay: decay, noiseGain: gain, initSoma: Int32Array.from([u0]) })],
      [projection('w', 0, 1, [2048], { kind: ProjectionKind.OneToOne, target: Compartment.Soma })],
      {},
      seed,
    );
    const chip = chipOf(prog);
    chip.setInput('in', [ONE / 2]);
    const key = keySpec(seed, STREAM_NOISE, 1);
    let xi = 0;
    let u = u0;
    for (let t = 0; t < 3; t++) {
      chip.step();
      xi = ouStep(xi, decay, gain, gaussSpec(tickKeySpec(key, t), 0));
      const iS = t >= 1 ? I_IN : 0;
      const D = sat32(rmul(-kT, u, 12) + (iS + xi) * 256);
      u = sat32(u + rnd(D, 8));
      expect(chip.group('n').xi![0]).toBe(xi);
      expect(chip.read('n', ProbeVariable.Soma)[0]).toBe(u);
    }
  });

  it('target B: x_B = sat32(v_B + ξ) drives the soma, stored v_B stays clean', () => {
    const kB = 104858;
    const kT = 115343;
    const prog = program(
      [inputGroup('in', 1, { payloadShift: 2 }), group('n', 1, { hasBasal: true, kBasal: kB, kTotal: kT, noiseTarget: NoiseTarget.Basal, noiseDecay: decay, noiseGain: gain })],
      [projection('w', 0, 1, [2048], { kind: ProjectionKind.OneToOne })],
      {},
      seed,
    );
    const chip = chipOf(prog);
    chip.setInput('in', [ONE / 2]);
    const key = keySpec(seed, STREAM_NOISE, 1);
    let xi = 0;
    let u = 0;
    for (let t = 0; t < 3; t++) {
      chip.step();
      xi = ouStep(xi, decay, gain, gaussSpec(tickKeySpec(key, t), 0));
      const vB = t >= 1 ? I_IN : 0; // basal decay 1.0: v_B = I
      const xB = sat32(vB + xi);
      const D = sat32(rnd(BigInt(kB) * BigInt(xB) - BigInt(kT) * BigInt(u), 12));
      u = sat32(u + rnd(D, 8));
      expect(chip.read('n', ProbeVariable.Basal)[0]).toBe(vB);
      expect(chip.group('n').xi![0]).toBe(xi);
      expect(chip.read('n', ProbeVariable.Soma)[0]).toBe(u);
    }
  });
});

describe('§11.2 Terms', () => {
  for (const backend of BACKENDS) {
    it(`spike, x1, x2, hp (pre and post), apical, soma, prosp, noise read after the traces phase (${backend})`, () => {
      // in: 1 spiking input with all traces; n: 2 binary neurons with apical noise, prospective gain and all
      // traces; 'fwd' carries in → n apical (weights 1001, −2003; spike payload 1, shift 12 + 0 − 16 = −4 → I = 16·w).
      // One plastic projection per term, each with the single statement `dtag = TERM k`, so after each tick the
      // tag of synapse (in → n_j) grows by that term's value for neuron j. Expected values: the §5, §6.1, §8, §9
      // formulas stepped by hand below.
      const seed = 99;
      const P = { x1Decay: COEF_ONE / 8, x1Impulse: 32768, x2Decay: 65537, x2Impulse: 20001, hpDecay: 300001 };
      const N = {
        apicalDecay: 300000,
        kApical: COEF_ONE / 4,
        kTotal: COEF_ONE / 8,
        prospectiveGain: 768,
        noiseDecay: 104858,
        noiseGain: 5000000,
        threshold: ONE,
        reset: -ONE / 2,
        refractory: 1,
        x1Decay: 200000,
        x1Impulse: 12345,
        x2Decay: COEF_ONE / 16,
        x2Impulse: -7777,
        hpDecay: COEF_ONE / 4,
      };
      const wFwd = [1001, -2003];
      const u0 = [2 * ONE, ONE / 4];
      const terms: TermName[] = ['pre.spike', 'pre.x1', 'pre.x2', 'pre.hp', 'post.spike', 'post.x1', 'post.x2', 'post.hp', 'post.apical', 'post.soma', 'post.prosp', 'post.noise'];
      const prog = program(
        [
          inputGroup('in', 1, { output: OutputMode.Binary, traces: TRACE_X1 | TRACE_X2 | TRACE_HP, ...P }),
          group('n', 2, {
            hasApical: true,
            output: OutputMode.Binary,
            noiseTarget: NoiseTarget.Apical,
            traces: TRACE_X1 | TRACE_X2 | TRACE_HP,
            initSoma: Int32Array.from(u0),
            ...N,
          }),
        ],
        [
          projection('fwd', 0, 1, wFwd, { target: Compartment.Apical }),
          ...terms.map((name) => projection(name, 0, 1, [0, 0], { target: Compartment.Apical, plasticity: plastic([stmt(RuleTarget.Tag, [TERM(name)])], { tag: true }) })),
        ],
        {},
        seed,
      );
      const chip = chipOf(prog, backend);
      const spikesIn = [1, 0, 1, 0];
      // Hand state.
      const pre = { x1: 0, x2: 0, hp: 0, rp: 0 };
      const post = [0, 1].map((j) => ({ u: u0[j], up: u0[j], vA: 0, xi: 0, ref: 0, x1: 0, x2: 0, hp: 0, rp: 0 }));
      const key = keySpec(seed, STREAM_NOISE, 1);
      const tags = new Map<TermName, number[]>(terms.map((n) => [n, [0, 0]]));
      const postSpikes: number[][] = [];
      for (let t = 0; t < spikesIn.length; t++) {
        chip.setInput('in', [spikesIn[t]]);
        chip.step();
        // §9 spiking trace and high-pass rate of the input.
        const s = spikesIn[t];
        const r = s ? ONE : 0;
        pre.x1 = sat32(pre.x1 - rmul(P.x1Decay, pre.x1, 20) + (s ? P.x1Impulse : 0));
        pre.x2 = sat32(pre.x2 - rmul(P.x2Decay, pre.x2, 20) + (s ? P.x2Impulse : 0));
        pre.hp = sat32(pre.hp + (r - pre.rp) - rmul(P.hpDecay, pre.hp, 20));
        pre.rp = r;
        const tk = tickKeySpec(key, t);
        const spikesNow: number[] = [];
        post.forEach((p, j) => {
          const iA = t >= 1 && spikesIn[t - 1] ? rnd(wFwd[j], -4) : 0;
          p.vA = sat32(p.vA - rmul(N.apicalDecay, p.vA, 20) + iA);
          p.xi = ouStep(p.xi, N.noiseDecay, N.noiseGain, gaussSpec(tk, j));
          const xA = sat32(p.vA + p.xi);
          let spike = 0;
          if (p.ref > 0) {
            p.ref--; // u and ŭ hold (§5.4), no spike (§6.1)
          } else {
            const S = BigInt(N.kApical) * BigInt(xA) - BigInt(N.kTotal) * BigInt(p.u);
            const D = sat32(rnd(S, 12));
            p.up = sat32(p.u + rmul(N.prospectiveGain, D, 16));
            p.u = sat32(p.u + rnd(D, 8));
            if (p.u >= N.threshold) {
              spike = 1;
              p.u = N.reset;
              p.up = N.reset;
              p.ref = N.refractory;
            }
          }
          const rj = spike ? ONE : 0;
          p.x1 = sat32(p.x1 - rmul(N.x1Decay, p.x1, 20) + (spike ? N.x1Impulse : 0));
          p.x2 = sat32(p.x2 - rmul(N.x2Decay, p.x2, 20) + (spike ? N.x2Impulse : 0));
          p.hp = sat32(p.hp + (rj - p.rp) - rmul(N.hpDecay, p.hp, 20));
          p.rp = rj;
          spikesNow.push(spike);
          const value: Record<TermName, number> = {
            'pre.spike': s ? 2 ** 24 : 0,
            'pre.x1': q8(pre.x1),
            'pre.x2': q8(pre.x2),
            'pre.hp': q8(pre.hp),
            'post.spike': spike ? 2 ** 24 : 0,
            'post.x1': q8(p.x1),
            'post.x2': q8(p.x2),
            'post.hp': q8(p.hp),
            'post.apical': q8(p.vA),
            'post.soma': q8(p.u),
            'post.prosp': q8(p.up),
            'post.noise': q8(p.xi),
          } as Record<TermName, number>;
          for (const name of terms) tags.get(name)![j] = sat32(tags.get(name)![j] + value[name]);
        });
        postSpikes.push(spikesNow);
        for (const name of terms) expect([name, t, Array.from(chip.projection(name).tag!)]).toEqual([name, t, tags.get(name)]);
      }
      // The hand run covers a post spike (neuron 0 at tick 0, then one refractory tick) and ŭ ≠ u on neuron 1.
      expect(postSpikes.map((s) => s[0])).toContain(1);
      expect(post[1].up).not.toBe(post[1].u);
    });
  }

  it('pre.rate and reward convert STATE · 2^8 with saturation, not wrapping', () => {
    // rates 2^23 → 2^31 → 2^31 − 1; −2^23 → −2^31 exactly; −2^23 − 1 → −2^31 − 256 → −2^31; 12345 → 3160320.
    for (const backend of BACKENDS) {
      expect(tagAfterOneTick([TERM('pre.rate')], { rates: [2 ** 23, -(2 ** 23), -(2 ** 23) - 1, 12345] }, backend)).toEqual([I32_MAX, I32_MIN, I32_MIN, 3160320]);
      // reward 2^24 (256.0) → 2^32 → 2^31 − 1 on every synapse; reward −3 → −768.
      expect(tagAfterOneTick([TERM('reward')], { rates: [0, 0] }, backend, 2 ** 24)).toEqual([I32_MAX, I32_MAX]);
      expect(tagAfterOneTick([TERM('reward')], { rates: [0] }, backend, -3)).toEqual([-768]);
    }
  });

  it('post.soma saturates: u = 2^24 (kTotal 0 holds u) → 2^32 → 2^31 − 1', () => {
    for (const backend of BACKENDS) expect(tagAfterOneTick([TERM('post.soma')], { initSoma: 2 ** 24 }, backend)).toEqual([I32_MAX]);
  });

  it('syn.w with a negative shift: w · 2^24 (weightShift 0, fracBits 0) saturated', () => {
    // shift = 0 + 0 − 24: 127 → 2130706432; 128 → 2^31 → 2^31 − 1; −128 → −2^31 exactly; −129 → saturated −2^31.
    for (const backend of BACKENDS) {
      expect(tagAfterOneTick([TERM('syn.w')], { rates: [0, 0, 0, 0], weights: [127, 128, -128, -129], weightShift: 0 }, backend)).toEqual([
        127 * 2 ** 24,
        I32_MAX,
        I32_MIN,
        I32_MIN,
      ]);
    }
  });

  it('syn.w with a positive shift: round(acc, weightShift + fracBits − 24), after an earlier dw statement', () => {
    // weightShift 15, fracBits 12: syn.w = round(acc, 3). Statement 0 `dw = CONST 28` with updateShift 6:
    // sa = 24 − 15 − 12 + 6 = 3 → δ = round(28, 3) = round(3.5) = 4. acc = w·4096 + 4:
    //   w = 1:  4100 → round(512.5) = 513;  w = −1: −4092 → round(−511.5) = −511;  w = 0: 4 → round(0.5) = 1.
    // Statement 1 `dtag = syn.w` sees statement 0's update (§11.1).
    for (const backend of BACKENDS) {
      const chip = ruleChip([stmt(RuleTarget.Weight, [CONST, 28]), stmt(RuleTarget.Tag, [TERM('syn.w')])], { rates: [0, 0, 0], weights: [1, -1, 0], weightShift: 15, fracBits: 12, updateShift: 6, tag: true }, backend);
      chip.step();
      const p = chip.projection('w');
      expect(Array.from(p.wacc!)).toEqual([4100, -4092, 4]);
      expect(Array.from(p.tag!)).toEqual([513, -511, 1]);
      expect(Array.from(p.w)).toEqual([rnd(4100, 12), rnd(-4092, 12), rnd(4, 12)]); // 1, −1, 0
    }
  });
});

describe('§11.3 Microcode', () => {
  // Each case: a `dtag = …` statement in raw words; after one tick tag = sat32(0 + Δ) = Δ.
  const cases: [string, number[], number][] = [
    ['ADD (2^31 − 1) + 1 saturates at 2^31 − 1', [CONST, I32_MAX, CONST, 1, ADD], I32_MAX],
    ['ADD −2^31 + (−1) saturates at −2^31', [CONST, I32_MIN, CONST, -1, ADD], I32_MIN],
    ['ADD 5 + (−7) = −2', [CONST, 5, CONST, -7, ADD], -2],
    ['SUB −2^31 − 1 saturates at −2^31', [CONST, I32_MIN, CONST, 1, SUB], I32_MIN],
    ['SUB (2^31 − 1) − (−1) saturates at 2^31 − 1', [CONST, I32_MAX, CONST, -1, SUB], I32_MAX],
    ['SUB 0 − (−2^31) = 2^31 saturates at 2^31 − 1', [CONST, 0, CONST, I32_MIN, SUB], I32_MAX],
    ['NEG(−2^31) = 2^31 − 1', [CONST, I32_MIN, NEG], I32_MAX],
    ['NEG(5) = −5', [CONST, 5, NEG], -5],
    ['MUL 2^30 · 2^30 / 2^24 = 2^36 saturates', [CONST, 2 ** 30, CONST, 2 ** 30, MUL], I32_MAX],
    ['MUL 2^30 · (−2^30) saturates at −2^31', [CONST, 2 ** 30, CONST, -(2 ** 30), MUL], I32_MIN],
    ['MUL −3 · 2^23 / 2^24 = −1.5 → −1 (half up)', [CONST, -3, CONST, 2 ** 23, MUL], -1],
    ['MUL 3 · 2^23 / 2^24 = 1.5 → 2', [CONST, 3, CONST, 2 ** 23, MUL], 2],
    ['MULC 1: −3 · 3 / 2 = −4.5 → −4', [CONST, -3, MULC(1), 3], -4],
    ['MULC 0: (2^31 − 1) · 2 saturates', [CONST, I32_MAX, MULC(0), 2], I32_MAX],
    // (2^31 − 1)^2 / 2^62 = 1 − 2^−30 + 2^−62 → 1; −2^31 (2^31 − 1) / 2^62 = −1 + 2^−31 → −1 (products > 2^53).
    ['MULC 62: (2^31 − 1)^2 / 2^62 → 1', [CONST, I32_MAX, MULC(62), I32_MAX], 1],
    ['MULC 62: −2^31 (2^31 − 1) / 2^62 → −1', [CONST, I32_MIN, MULC(62), I32_MAX], -1],
  ];
  for (const [name, words, expected] of cases) {
    it(name, () => {
      // Cross-check the hand value of the product cases with BigInt arithmetic written here.
      if (words[words.length - 1] === MUL) expect(sat32(rmul(words[1], words[3], 24))).toBe(expected);
      for (const backend of BACKENDS) expect(tagAfterOneTick(words, {}, backend)).toEqual([expected]);
    });
  }
});

describe('§11.4 Applying Δ', () => {
  it('nearest: δ = round(Δ, sa) with remainders, including +½ and −½ of an accumulator LSB', () => {
    // weightShift 12, fracBits 4: sa = 24 − 12 − 4 = 8, so δ = ⌊(Δ + 128) / 256⌋. Weight 0 → acc = δ,
    // w = round(acc, 4).
    const cases: [number, number][] = [
      [128, 1], // +½ → 1
      [-128, 0], // −½ → 0
      [384, 2], // 1.5 → 2
      [-384, -1], // −1.5 → −1
      [127, 0],
      [129, 1],
      [-127, 0],
      [-129, -1],
      [-1000, -4], // ⌊−872 / 256⌋ = ⌊−3.41⌋
      [1000, 4], // ⌊1128 / 256⌋
    ];
    for (const backend of BACKENDS) {
      for (const [delta, d] of cases) {
        expect(floorShift(delta + 128, 8)).toBe(d);
        const chip = ruleChip([stmt(RuleTarget.Weight, [CONST, delta])], { fracBits: 4 }, backend);
        chip.step();
        expect([delta, chip.projection('w').wacc![0], chip.projection('w').w[0]]).toEqual([delta, d, rnd(d, 4)]);
      }
    }
  });

  it('update shift path: δ = round(Δ, 16) and w = round(acc, 4) both at exactly ±½', () => {
    // weightShift 12, fracBits 4, updateShift 8: sa = 16. Rows: [initial w, Δ, δ, acc, w].
    const rows: [number, number, number, number, number][] = [
      [0, 8 * 65536, 8, 8, 1], // acc 8 = ½ LSB → w = 1
      [0, -8 * 65536, -8, -8, 0], // −½ → 0
      [0, 24 * 65536, 24, 24, 2], // 1.5 → 2
      [0, -24 * 65536, -24, -24, -1], // −1.5 → −1
      [0, 8 * 65536 - 32768, 8, 8, 1], // δ = round(7.5) = 8, then w = round(½) = 1
      [0, -8 * 65536 - 32768, -8, -8, 0], // δ = round(−8.5) = −8, w = round(−½) = 0
      [0, -8 * 65536 - 32769, -9, -9, -1], // δ = ⌊−8.0000153⌋ = −9, w = ⌊(−9 + 8) / 16⌋ = −1
      [100, 8 * 65536, 8, 1608, 101], // 100.5 → 101
      [100, -8 * 65536, -8, 1592, 100], // 99.5 → 100
      [-100, -8 * 65536, -8, -1608, -100], // −100.5 → −100
    ];
    for (const backend of BACKENDS) {
      for (const [w0, delta, d, acc, w] of rows) {
        expect(rnd(delta, 16)).toBe(d);
        expect(w0 * 16 + d).toBe(acc);
        expect(rnd(acc, 4)).toBe(w);
        const chip = ruleChip([stmt(RuleTarget.Weight, [CONST, delta])], { weights: [w0], fracBits: 4, updateShift: 8 }, backend);
        chip.step();
        const p = chip.projection('w');
        expect([w0, delta, p.wacc![0], p.w[0]]).toEqual([w0, delta, acc, w]);
      }
    }
  });

  it('low-pass: lo ← sat32(lo + r20(k·sat32(Δ − lo))) rounds half up (k = 1/4)', () => {
    // fracBits 15 → sa = −3, δ = 8·lo. Δ = 2: r20(262144·2) = round(½) = 1; Δ = −2: round(−½) = 0;
    // Δ = 6: round(1.5) = 2; Δ = −6: round(−1.5) = −1. Second tick (Δ = 6): lo = 2 + r20(262144·4) = 3.
    for (const backend of BACKENDS) {
      for (const [delta, lo] of [
        [2, 1],
        [-2, 0],
        [6, 2],
        [-6, -1],
      ]) {
        const chip = ruleChip([stmt(RuleTarget.Weight, [CONST, delta])], { fracBits: 15, lowpass: COEF_ONE / 4 }, backend);
        chip.step();
        expect([delta, chip.projection('w').lo![0], chip.projection('w').wacc![0]]).toEqual([delta, lo, 8 * lo]);
        if (delta === 6) {
          chip.step();
          expect(chip.projection('w').lo![0]).toBe(2 + rmul(COEF_ONE / 4, 6 - 2, 20));
          expect(chip.projection('w').wacc![0]).toBe(8 * (2 + 3));
        }
      }
    }
  });

  it('stochastic: δ = ⌊(Δ + (draw(Round, t, k) >>> (32 − sa))) / 2^sa⌋ with id = projection·8 + statement', () => {
    // Projection 1 (after a static projection 0) has two statements; statement 1 is the stochastic weight
    // update, so its stream id is 1·8 + 1 = 9. weightShift 4, fracBits 0: sa = 20. Dense 2 × 2, post-major
    // k = j·2 + i; Δ = pre.rate · 2^8: r = 1000 → 256000 (≈ 0.244 of 2^20), r = −3000 → −768000 (≈ −0.732).
    const seed = 31337;
    const rates = [1000, -3000];
    const w0 = [5, -5, 7, 0];
    const prog = program(
      [inputGroup('in', 2, { payloadShift: 4 }), group('n', 2, { hasBasal: true })],
      [
        projection('static', 0, 1, [0, 0, 0, 0]),
        projection('w', 0, 1, w0, {
          weightShift: 4,
          plasticity: plastic([stmt(RuleTarget.Tag, [TERM('pre.rate')]), stmt(RuleTarget.Weight, [TERM('pre.rate')])], { fracBits: 0, rounding: Rounding.Stochastic, tag: true }),
        }),
      ],
      {},
      seed,
    );
    const key = keySpec(seed, STREAM_ROUND, 9);
    for (const backend of BACKENDS) {
      const chip = chipOf(prog, backend);
      chip.setInput('in', rates);
      const acc = [...w0];
      const deltas: number[][] = [];
      for (let t = 0; t < 8; t++) {
        chip.step();
        const tk = tickKeySpec(key, t);
        const d = acc.map((_, k) => floorShift(rates[k % 2] * 256 + Math.floor(drawSpec(tk, k) / 2 ** 12), 20));
        d.forEach((x, k) => (acc[k] += x));
        deltas.push(d);
        const p = chip.projection('w');
        expect([t, Array.from(p.wacc!)]).toEqual([t, acc]);
        expect(Array.from(p.w)).toEqual(acc); // fracBits 0: w = acc
        expect(Array.from(p.tag!)).toEqual([0, 1, 0, 1].map((i) => (t + 1) * rates[i] * 256));
      }
      // The hand sequence takes both outcomes on every synapse (0 or 1 for r > 0, −1 or 0 for r < 0).
      for (let k = 0; k < 4; k++) expect(new Set(deltas.map((d) => d[k])).size).toBe(2);
    }
  });

  it('tag ← sat32(tag + Δ) saturates at both ends', () => {
    // Δ = pre.rate · 2^8: r = 2^22 → 2^30 per tick: 2^30, 2^31 → 2^31 − 1, stays; r = −2^22 − 1 → −2^30 − 256:
    // −1073742080, −2147484160 → −2^31, stays.
    for (const backend of BACKENDS) {
      const chip = ruleChip([stmt(RuleTarget.Tag, [TERM('pre.rate')])], { rates: [2 ** 22, -(2 ** 22) - 1], tag: true }, backend);
      const seen: number[][] = [];
      for (let t = 0; t < 3; t++) {
        chip.step();
        seen.push(Array.from(chip.projection('w').tag!));
      }
      expect(seen).toEqual([
        [2 ** 30, -(2 ** 30) - 256],
        [I32_MAX, I32_MIN],
        [I32_MAX, I32_MIN],
      ]);
    }
  });
});

describe('§5.4 / §6.1 Binary neurons in refractoriness', () => {
  it('u and ŭ hold while ref > 0 although kTotal > 0 and the input drives u above threshold', () => {
    // 4 neurons (the WebAssembly group kernel covers binary groups of ≥ 4): basal input I_j from graded rates
    // (payload shift 4, one-to-one weight 4096, shift 12 + 12 − 16 = 8), kB = 1/2, kT = 1/4: u relaxes towards
    // 2·v_B ≥ 2.0 > θ = 1.0. θ reached → u = ŭ = reset, ref = 3; the next 3 ticks skip the soma step.
    const kB = COEF_ONE / 2;
    const kT = COEF_ONE / 4;
    const gainP = 512;
    const R = 3;
    const reset = -ONE / 4;
    const rates = [2 * ONE, 3 * ONE, ONE + 1000, 5 * ONE];
    const I = rates.map((r) => sat32(rnd(4096 * sat16(rnd(r, 4)), 8))); // r = ONE + 1000: payload round(4158.5) = 4159
    expect(I[2]).toBe(rnd(4096 * 4159, 8));
    for (const backend of BACKENDS) {
      const prog = program(
        [
          inputGroup('in', 4, { payloadShift: 4 }),
          group('n', 4, { hasBasal: true, kBasal: kB, kTotal: kT, prospectiveGain: gainP, output: OutputMode.Binary, threshold: ONE, reset, refractory: R }),
        ],
        [projection('w', 0, 1, [4096, 4096, 4096, 4096], { kind: ProjectionKind.OneToOne })],
      );
      const chip = chipOf(prog, backend);
      chip.setInput('in', rates);
      const st = I.map(() => ({ u: 0, up: 0, ref: 0 }));
      let heldTicks = 0;
      for (let t = 0; t < 16; t++) {
        chip.step();
        const spikes = st.map((s, j) => {
          const vB = t >= 1 ? I[j] : 0;
          if (s.ref > 0) {
            s.ref--;
            heldTicks++;
            expect(s.u).toBe(reset); // what the chip must show for this tick
            return 0;
          }
          const D = sat32(rnd(BigInt(kB) * BigInt(vB) - BigInt(kT) * BigInt(s.u), 12));
          s.up = sat32(s.u + rmul(gainP, D, 16));
          s.u = sat32(s.u + rnd(D, 8));
          if (s.u >= ONE) {
            s.u = s.up = reset;
            s.ref = R;
            return 1;
          }
          return 0;
        });
        expect([t, Array.from(chip.read('n', ProbeVariable.Soma))]).toEqual([t, st.map((s) => s.u)]);
        expect([t, Array.from(chip.read('n', ProbeVariable.Prospective))]).toEqual([t, st.map((s) => s.up)]);
        expect([t, Array.from(chip.group('n').spike)]).toEqual([t, spikes]);
        expect([t, Array.from(chip.group('n').ref!)]).toEqual([t, st.map((s) => s.ref)]);
      }
      expect(heldTicks).toBeGreaterThan(20); // every neuron spent several refractory periods above threshold drive
    }
  });
});

describe('§4.1 / §5.4 Teacher latch', () => {
  it('the nudge reads the teacher u (or ŭ) at the end of the previous tick while the teacher changes every tick', () => {
    // t (teacher, 2 neurons, before the students in program order): basal input ±1.0 from tick 1, kB = kT = 1/4,
    // prospective gain 4.0. s: kT = 1/8, kN = 1/2, nudged by u_t; sp: the same nudged by ŭ_t.
    // Student: S = kN·u_N − (kT + kN)·u, u ← u + r8(r12(S)), u_N = the teacher's value at the end of tick t − 1
    // (at tick 0 the initial potentials, §10: ŭ = u).
    const kBt = COEF_ONE / 4;
    const kTt = COEF_ONE / 4;
    const Pt = 1024;
    const kTs = COEF_ONE / 8;
    const kN = COEF_ONE / 2;
    const uT0 = [ONE / 2, -ONE / 4];
    const student = (teacherProspective: boolean) => group(teacherProspective ? 'sp' : 's', 2, { kTotal: kTs, kNudge: kN, nudge: NudgeSource.Teacher, teacher: 1, teacherProspective });
    const prog = program(
      [
        inputGroup('in', 2, { payloadShift: 4 }),
        group('t', 2, { hasBasal: true, kBasal: kBt, kTotal: kTt, prospectiveGain: Pt, initSoma: Int32Array.from(uT0) }),
        student(false),
        student(true),
      ],
      [projection('w', 0, 1, [4096, -4096], { kind: ProjectionKind.OneToOne })],
    );
    const chip = chipOf(prog);
    chip.setInput('in', [ONE, ONE]); // payload 4096 (Q3.12) → I = ±4096·4096 / 2^8 = ±65536
    let uT = [...uT0];
    let upT = [...uT0];
    let uS = [0, 0];
    let uSp = [0, 0];
    const studentStep = (u: number, uN: number) => sat32(u + rnd(sat32(rnd(BigInt(kN) * BigInt(uN) - BigInt(kTs + kN) * BigInt(u), 12)), 8));
    for (let t = 0; t < 6; t++) {
      chip.step();
      uS = uS.map((u, j) => studentStep(u, uT[j])); // latched before the teacher moves
      uSp = uSp.map((u, j) => studentStep(u, upT[j]));
      const vB = t >= 1 ? [65536, -65536] : [0, 0];
      const D = uT.map((u, j) => sat32(rnd(BigInt(kBt) * BigInt(vB[j]) - BigInt(kTt) * BigInt(u), 12)));
      upT = uT.map((u, j) => sat32(u + rmul(Pt, D[j], 16)));
      uT = uT.map((u, j) => sat32(u + rnd(D[j], 8)));
      expect([t, Array.from(chip.read('t', ProbeVariable.Soma))]).toEqual([t, uT]);
      expect([t, Array.from(chip.read('t', ProbeVariable.Prospective))]).toEqual([t, upT]);
      expect([t, Array.from(chip.read('s', ProbeVariable.Soma))]).toEqual([t, uS]);
      expect([t, Array.from(chip.read('sp', ProbeVariable.Soma))]).toEqual([t, uSp]);
    }
    expect(uS).not.toEqual(uSp); // the two options differ on this trajectory
  });
});

describe('§6.3 Graded spikes', () => {
  it('payload = sat16(round(r, s)); no event (and no on pre / on post visit) when the payload is 0', () => {
    // Table with xMin 0 and step 1 (stepShift 0): neuron j holds u = j + 1 (kTotal 0), so r = φ(u) = v[j + 1]
    // exactly. Payload shift 4: r = 7 → round(7/16) = 0; 8 → round(½) = 1; −8 → round(−½) = 0; −9 → −1;
    // 40.0 → 163840 → 32767; −40.0 → −32768. Events: neurons 1, 3, 4, 5.
    const values = new Int32Array(257);
    const r = [7, 8, -8, -9, 40 * ONE, -40 * ONE];
    r.forEach((v, j) => (values[j + 1] = v));
    const lut: Lut = { name: 'steps', xMin: 0, stepShift: 0, values };
    const payload = r.map((x) => sat16(rnd(x, 4)));
    expect(payload).toEqual([0, 1, 0, -1, 32767, -32768]);
    const events = payload.map((p) => (p !== 0 ? 1 : 0));
    const onEvent = (words: number[], trigger: Trigger) => plastic([stmt(RuleTarget.Tag, words, trigger)], { tag: true });
    for (const backend of BACKENDS) {
      const prog = program(
        [
          inputGroup('src', 1, { payloadShift: 4 }),
          group('g', 6, { hasBasal: true, output: OutputMode.Graded, lut: 0, payloadShift: 4, initSoma: Int32Array.from([1, 2, 3, 4, 5, 6]) }),
          group('m', 1, { hasBasal: true }),
        ],
        [
          // src never fires (rate 0); its `on post` statement visits the synapses of g's neurons with an event.
          projection('into', 0, 1, [0, 0, 0, 0, 0, 0], { plasticity: onEvent([CONST, 2 ** 24], Trigger.Post) }),
          // g → m: Σ w·payload with weightShift 4: shift 4 + 12 − 16 = 0 → v_B = Σ payloads.
          projection('out', 1, 2, [1, 1, 1, 1, 1, 1], { weightShift: 4, plasticity: onEvent([CONST, 2 ** 24], Trigger.Pre) }),
        ],
        { luts: [lut] },
      );
      const chip = chipOf(prog, backend);
      chip.step();
      const g = chip.group('g');
      expect(Array.from(chip.read('g', ProbeVariable.Rate))).toEqual(r);
      expect(Array.from(chip.read('g', ProbeVariable.Payload))).toEqual(payload);
      expect(Array.from(g.spike)).toEqual(events);
      expect(Array.from(g.evIdx.subarray(0, g.evCount[0]))).toEqual([1, 3, 4, 5]);
      expect(Array.from(chip.projection('into').tag!)).toEqual(events.map((e) => e * 2 ** 24));
      expect(Array.from(chip.projection('out').tag!)).toEqual(events.map((e) => e * 2 ** 24));
      chip.step();
      expect(chip.read('m', ProbeVariable.Basal)[0]).toBe(1 - 1 + 32767 - 32768);
    }
  });
});

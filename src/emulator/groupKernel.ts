/**
 * Compiles a group's integrate, fire and trace phases (docs/chip.md §5, §6, §9) into one specialised JavaScript
 * function at load: one pass over the group's neurons, with only the features the group has, its incoming
 * projections' rings read directly, and every coefficient a literal. Per neuron the phases keep their order;
 * across neurons they are independent (teachers are latched, events are routed later), so fusing is exact.
 *
 * Spiking groups share one array for spike flags and payloads, and groups without a prospective gain one
 * array for u and ŭ (they are equal by definition), so those stores are not repeated.
 *
 * Rounding identity used throughout: for an integer p computed exactly in a double with |p| < 2^52 and a
 * power-of-two scale 2^−s (s ≥ 1), `RH(p·2^−s)` = ⌊p·2^−s + 1/2⌋ = round half up (docs/chip.md §2): the
 * scaling is exact and so is adding 1/2 (the sum needs at most 53 significant bits). RH is Math.floor(y + 0.5):
 * branch-free, unlike Math.round, whose data-dependent branch costs ~9 ns per call on unpredictable data.
 */
import { LUT_SEGMENTS, STATE_ONE } from './constants.js';
import { roundShift } from './fixedPoint.js';
import { mix32 } from './prng.js';
import { Compartment, GroupKind, NoiseTarget, NudgeSource, OutputMode, type Group, type Lut } from './program.js';

export interface IncomingRing {
  target: Compartment;
  depth: number;
  /** Conversion shift weightShift + payloadFrac(pre) − 16 (docs/chip.md §5.1). */
  shift: number;
}

export interface GroupKernelParams {
  group: Group;
  lut: Lut | null;
  incoming: IncomingRing[];
  basalRateUsed: boolean;
  /** First neuron of the loop (default 0); with from > 0 the kernel appends to the events already counted. */
  from?: number;
}

/** Runtime view a kernel receives (live state arrays). */
export interface GroupKernelState {
  n: number;
  u: Int32Array;
  prosp: Int32Array;
  vB: Int32Array | null;
  vA: Int32Array | null;
  xi: Int32Array | null;
  ref: Int32Array | null;
  rate: Int32Array;
  ratePrev: Int32Array | null;
  x1: Int32Array | null;
  x2: Int32Array | null;
  hp: Int32Array | null;
  basalRate: Int32Array | null;
  spike: Int32Array;
  payload: Int32Array;
  evIdx: Int32Array;
  evCount: Int32Array;
  inRate: Int32Array | null;
  inSpike: Uint8Array | null;
  target: Int32Array | null;
  targetValid: boolean;
  nudgeBuf: Int32Array | null;
  noiseKey: number;
  spikeKey: number;
}

export type GroupKernel = (G: GroupKernelState, rings: Float64Array[], t: number) => void;

const MAX = 2147483647;
const MIN = -2147483648;
const sat = (v: string) => `if (${v} > ${MAX}) ${v} = ${MAX}; else if (${v} < ${MIN}) ${v} = ${MIN};`;

export function groupKernelSource(p: GroupKernelParams): string {
  const g = p.group;
  const L: string[] = [];
  const spiking = g.output === OutputMode.Binary || g.output === OutputMode.Stochastic;
  const lut = p.lut;
  const lutCall = (x: string) => `LUT(lv, ${lut!.xMin}, ${2 ** lut!.stepShift}, ${2 ** -lut!.stepShift}, ${x})`;
  L.push(`const n = G.n, u = G.u, prosp = G.prosp, rate = G.rate, spike = G.spike, payload = G.payload, ev = G.evIdx;`);
  L.push(`const vB = G.vB, vA = G.vA, xi = G.xi, ref = G.ref, x1 = G.x1, x2 = G.x2, hp = G.hp, rp = G.ratePrev, bR = G.basalRate;`);
  if (lut) L.push(`const lv = LV;`);
  L.push(`let ne = 0;`);
  const body: string[] = [];

  if (g.kind === GroupKind.Input) {
    if (spiking) {
      L.push(`const inS = G.inSpike;`);
      body.push(`const s = inS[j]; inS[j] = 0; spike[j] = s; const r = s ? ${STATE_ONE} : 0; rate[j] = r; if (s) ev[ne++] = j;`);
    } else {
      L.push(`const inR = G.inRate;`);
      body.push(
        `const r = inR[j]; rate[j] = r; let p = RH(r * ${2 ** -g.payloadShift}); if (p > 32767) p = 32767; else if (p < -32768) p = -32768;`,
        `payload[j] = p; const s = p !== 0 ? 1 : 0; spike[j] = s; if (s) ev[ne++] = j;`,
      );
    }
  } else {
    // Rings of incoming projections.
    p.incoming.forEach((inc, k) => L.push(`const r${k} = rings[${k}], b${k} = (t % ${inc.depth}) * n;`));
    // Compartment inputs (§5.1) folded into the dendrite update (§5.2): v ← sat32(v − r20(k·v) + sat32(Σ sat32(I_P))).
    // Saturating each I_P first keeps the sum exact in doubles (≤ 1024 terms of ≤ 2^31) and makes a huge
    // left-shifted input (up to 2^62: exact in a double, as only the exponent changes) clamp as it does in int64.
    const inputTo = (c: Compartment, v: string) => {
      const list = p.incoming.map((inc, k) => ({ inc, k })).filter(({ inc }) => inc.target === c);
      const conv = (inc: IncomingRing) => (inc.shift <= 0 ? `x * ${2 ** -inc.shift}` : `RH(x * ${2 ** -inc.shift})`);
      if (list.length === 1) {
        const { inc, k } = list[0];
        body.push(`{ const x = r${k}[b${k} + j]; if (x !== 0) { r${k}[b${k} + j] = 0; let i = ${conv(inc)}; ${sat('i')} ${v} += i; } }`);
      } else if (list.length > 1) {
        body.push(`{ let i = 0;`);
        for (const { inc, k } of list) body.push(`{ const x = r${k}[b${k} + j]; if (x !== 0) { r${k}[b${k} + j] = 0; let c = ${conv(inc)}; ${sat('c')} i += c; } }`);
        body.push(`${sat('i')} ${v} += i; }`);
      }
    };
    const dend = (arr: string, v: string, c: Compartment, k: number) => {
      body.push(`let ${v} = ${arr}[j]; ${v} -= RH(${v} * ${k * 2 ** -20});`);
      inputTo(c, v);
      body.push(`${sat(v)} ${arr}[j] = ${v};`);
    };
    if (g.hasBasal) dend('vB', 'xB', Compartment.Basal, g.basalDecay);
    else body.push(`let xB = 0;`);
    if (g.hasApical) dend('vA', 'xA', Compartment.Apical, g.apicalDecay);
    else body.push(`let xA = 0;`);
    body.push(`let iS = 0;`);
    inputTo(Compartment.Soma, 'iS');
    // Noise.
    if (g.noiseTarget !== NoiseTarget.None) {
      L.push(`const tkN = mix32((G.noiseKey + t) >>> 0);`);
      body.push(
        `const d0 = mix32((tkN ^ (2 * j)) >>> 0), d1 = mix32((tkN ^ (2 * j + 1)) >>> 0);`,
        `const gn = (d0 & 0xffff) + (d0 >>> 16) + (d1 & 0xffff) + (d1 >>> 16) - 131070;`,
        `let ns = xi[j]; ns = ns - RH(ns * ${g.noiseDecay * 2 ** -20}) + RH(gn * ${g.noiseGain * 2 ** -24}); ${sat('ns')} xi[j] = ns;`,
      );
      if (g.noiseTarget === NoiseTarget.Basal) body.push(`xB += ns; ${sat('xB')}`);
      else if (g.noiseTarget === NoiseTarget.Apical) body.push(`xA += ns; ${sat('xA')}`);
      else body.push(`iS += ns;`);
    }
    // Soma (§5.4): S = Σ k·x exact, D = sat32(r12(S) + I_S·2^8). Terms with equal coefficients are summed
    // before multiplying (exact: the state sum is below 2^34 and k ≤ 2^20), which changes nothing but speed.
    if (g.nudge === NudgeSource.Teacher) L.push(`const nb = G.nudgeBuf;`);
    else if (g.nudge === NudgeSource.Target) L.push(`const nb = G.targetValid ? G.target : null;`);
    const parts = somaTerms(g).map(([k, xs]) => `(${xs.join(' + ').replace(/\+ -/g, '- ')}) * ${k}`);
    let S = parts.length ? parts.join(' + ') : '0';
    const soma: string[] = [];
    if (g.nudge === NudgeSource.Target) {
      soma.push(`let S = ${S}; if (nb !== null) S += nb[j] * ${g.kNudge} - uj * ${g.kTotal + g.kNudge}; else S -= uj * ${g.kTotal};`);
      S = 'S';
    }
    // |S| < 2^52 keeps y + 1/2 exact in RH; the rare larger sums take the exact integer path.
    soma.push(`const Sv = ${S}; let D = (Sv < 4503599627370496 && Sv > -4503599627370496 ? RH(Sv * ${2 ** -12}) : RS(Sv, 12)) + iS * 256; ${sat('D')}`);
    soma.push(`let un = uj + RH(D * ${2 ** -8}); ${sat('un')} u[j] = un;`);
    if (g.prospectiveGain > 0) soma.push(`let up = uj + RH(D * ${g.prospectiveGain * 2 ** -16}); ${sat('up')} prosp[j] = up;`);
    // Without a prospective gain, prosp is the same array as u.
    body.push(`const uj = u[j];`);
    if (g.output === OutputMode.Binary) {
      // Integrate and fire share the refractory test: a refractory neuron holds u and ŭ (§5.4) and counts down
      // without spiking (§6.1); otherwise the soma updates and the threshold is tested on the new u.
      const fire = `if (un >= ${g.threshold}) { s = 1; u[j] = ${g.reset}; ${g.prospectiveGain > 0 ? `prosp[j] = ${g.reset};` : ''} ref[j] = ${g.refractory}; ev[ne++] = j; }`;
      const rateFromLut = lut ? `rate[j] = ${lutCall('prosp[j]')};` : '';
      body.push(
        `let s = 0; const rj = ref[j];`,
        `if (rj > 0) { ref[j] = rj - 1; ${rateFromLut} } else {`,
        ...soma,
        rateFromLut,
        fire,
        `}`,
      );
    } else body.push(...soma);
    if (p.basalRateUsed) {
      body.push(lut ? `bR[j] = ${lutCall(g.hasBasal ? `RH(vB[j] * ${g.basalPredGain * 2 ** -20})` : '0')};` : `bR[j] = 0;`);
    }
    // Fire.
    switch (g.output) {
      case OutputMode.Graded:
        body.push(
          `const r = ${lutCall('prosp[j]')}; rate[j] = r;`,
          `let p = RH(r * ${2 ** -g.payloadShift}); if (p > 32767) p = 32767; else if (p < -32768) p = -32768;`,
          `payload[j] = p; const s = p !== 0 ? 1 : 0; spike[j] = s; if (s) ev[ne++] = j;`,
        );
        break;
      case OutputMode.Binary:
        body.push(`spike[j] = s;`);
        if (!lut) body.push(`rate[j] = s ? ${STATE_ONE} : 0;`);
        body.push(`const r = rate[j];`);
        break;
      case OutputMode.Stochastic:
        L.push(`const tkS = mix32((G.spikeKey + t) >>> 0);`);
        body.push(
          `const r = ${lutCall('prosp[j]')}; rate[j] = r;`,
          `let s = 0; if (ref[j] > 0) { ref[j]--; } else if ((mix32((tkS ^ j) >>> 0) >>> 16) < r) { s = 1; ref[j] = ${g.refractory}; ev[ne++] = j; }`,
          `spike[j] = s;`,
        );
        break;
      default:
        body.push(`const r = ${lut ? lutCall('prosp[j]') : '0'}; rate[j] = r; spike[j] = 0; payload[j] = 0;`);
    }
  }
  // Traces (after fire, same neuron).
  const trace = (arr: string, k: number, A: number) => {
    if (spiking) body.push(`{ let v = ${arr}[j]; v = v - RH(v * ${k * 2 ** -20}) + (spike[j] ? ${A} : 0); ${sat('v')} ${arr}[j] = v; }`);
    else body.push(`{ let d = r - ${arr}[j]; ${sat('d')} let v = ${arr}[j] + RH(d * ${k * 2 ** -20}); ${sat('v')} ${arr}[j] = v; }`);
  };
  if (g.traces & 1) trace('x1', g.x1Decay, g.x1Impulse);
  if (g.traces & 2) trace('x2', g.x2Decay, g.x2Impulse);
  if (g.traces & 4) body.push(`{ const h = hp[j]; let v = h + (r - rp[j]) - RH(h * ${g.hpDecay * 2 ** -20}); ${sat('v')} hp[j] = v; rp[j] = r; }`);

  const from = p.from ?? 0;
  if (from > 0) L[L.indexOf('let ne = 0;')] = 'let ne = G.evCount[0];';
  return `${L.join('\n')}\nfor (let j = ${from}; j < n; j++) {\n${body.join('\n')}\n}\nG.evCount[0] = ne;`;
}

/**
 * The soma sum S = Σ k·x of a group (docs/chip.md §5.4) as [k, terms] with the terms of equal coefficients summed
 * before multiplying, in the order the kernels evaluate them: 'xB', 'xA', 'nb[j]' (teacher nudge), '-uj'. A group
 * nudged by a target port adds its nudge terms at run time (they depend on whether the port holds a target).
 */
export function somaTerms(g: Group): [number, string[]][] {
  const byCoef = new Map<number, string[]>();
  const add = (k: number, x: string) => {
    if (k === 0) return;
    byCoef.set(k, [...(byCoef.get(k) ?? []), x]);
  };
  add(g.kBasal, 'xB');
  add(g.kApical, 'xA');
  if (g.nudge === NudgeSource.Teacher) {
    add(g.kNudge, 'nb[j]');
    add(g.kTotal + g.kNudge, '-uj');
  } else if (g.nudge !== NudgeSource.Target) add(g.kTotal, '-uj');
  return [...byCoef.entries()];
}

/** Round half up of an exactly representable y with |y| < 2^51 (see the identity above). */
export function RH(y: number): number {
  return Math.floor(y + 0.5);
}

/** Table lookup with interpolation (docs/chip.md §5.6). */
export function LUT(v: Int32Array, xMin: number, step: number, inv: number, x: number): number {
  const d = x - xMin;
  if (d <= 0) return v[0];
  const k = Math.floor(d * inv);
  if (k >= LUT_SEGMENTS) return v[LUT_SEGMENTS];
  const f = d - k * step;
  const v0 = v[k];
  return f === 0 ? v0 : v0 + Math.floor((v[k + 1] - v0) * f * inv + 0.5);
}

export function compileGroupKernel(p: GroupKernelParams): GroupKernel {
  const src = groupKernelSource(p);
  const factory = new Function('LUT', 'mix32', 'LV', 'RH', 'RS', `return function groupKernel(G, rings, t) {\n${src}\n};`);
  return factory(LUT, mix32, p.lut ? p.lut.values : null, RH, roundShift) as GroupKernel;
}


/**
 * The dendritic cortical microcircuit (Sacramento et al. 2018) in its LE/PAL form, as a chip Network
 * (../shared/design/circuits.md §1, §2.2, §4; docs/circuits.md explains the mapping term by term).
 *
 * Layers 0..N: layer 0 is the input, layers 1..N−1 hidden, layer N the output. Per hidden layer k:
 *
 *   pyr_k  (N_k)      basal v_B = W_k r_{k−1},  apical v_A = B_k r_{k+1} + W_PI,k r_I,k (+ ξ_k, PAL noise)
 *                     Δu = Δt(g_B v_B + g_A (v_A + ξ) − (g_l + g_B + g_A) u),   ŭ = u + τ_eff Δu/Δt,   r = φ(ŭ)
 *   int_k  (N_{k+1})  dendrite v_I = W_IP,k r_k,  nudged one-to-one by ŭ of pyr_{k+1}:
 *                     Δu = Δt(g_D v_I + g_nI ŭ_{k+1} − (g_l + g_D + g_nI) u),   ŭ = u + Δu/(Δt (g_l + g_D + g_nI))
 *   out    (N_N)      basal v_B = W_N r_{N−1}, target nudging Δt·g_ntgt while a target is present
 *
 * With the prospective gain τ_eff/Δt = 1/(Δt·g_tot) the look-ahead voltage is exactly the steady state
 * ŭ = (Σ g·v)/g_tot (circuits.md §1.2 "steady-state form"), so rates respond to inputs within the tick.
 *
 * Plasticity (per tick, Euler: Δw = Δt·η·(…)):
 *   B_k     PAL   dw = Δt·η_bw·(post.noise · pre.hp) − Δt·η_bw·α·syn.w                    (circuits.md §4.2)
 *   W_PI,k        dw = −Δt·η_PI · post.apical · pre.rate                                   (§1.3, §2.2)
 *   W_IP,k        dw =  Δt·η_IP · (post.rate − post.basal_rate) · pre.rate    (if η_IP > 0)
 *   W_k   (fw_bw) Δ  =  Δt·η_fw · (post.rate − post.basal_rate) · pre.rate, low-passed with τ_LO (§4.2:
 *                 ΔW_LO ← ΔW_LO + (Δt/τ_LO)(Δ − ΔW_LO); W += ΔW_LO). The low-pass state is the synapse's tag,
 *                 holding 2^g·ΔW_LO:  dtag = (Δt/τ_LO)·2^g·Δ − (Δt/τ_LO)·syn.tag;  dw = 2^-g·syn.tag
 */
import { CHIP_CORES, COEF_FRAC_BITS, MAX_UPDATE_SHIFT } from '../../emulator/constants.js';
import { NetworkError, Network } from '../network.js';
import { SeededRandom } from '../seededRandom.js';
import { matrix, scale, type Matrix } from './metrics.js';
import { PAL_FIG3ABC_BW_ONLY, type MicrocircuitParameters } from './parameters.js';

export type MicrocircuitRule = 'pal' | 'fa' | 'bp';

export interface MicrocircuitWeights {
  /** W_1..W_N, each post × pre (N_k × N_{k−1}). */
  forward?: Matrix[];
  /** B_1..B_{N−1}, each N_k × N_{k+1}. */
  backward?: Matrix[];
  /** W_IP,1..N−1, each N_{k+1} × N_k. */
  lateralIP?: Matrix[];
  /** W_PI,1..N−1, each N_k × N_{k+1}. */
  lateralPI?: Matrix[];
}

export interface MicrocircuitConfig extends Partial<MicrocircuitParameters> {
  /** 'pal': B learns with PAL; 'fa': B fixed (η_bw = 0); 'bp' is not supported on the chip (see buildMicrocircuit). */
  rule: MicrocircuitRule;
  /** Parameter set the other fields override (default PAL_FIG3ABC_BW_ONLY). */
  base?: MicrocircuitParameters;
  /** Seed of the host RNG drawing the initial weights. */
  weightSeed?: number;
  /** Program seed (the chip PRNG: noise, stochastic rounding). */
  chipSeed?: number;
  /** Set W_PI = −B and W_IP = c·W_{k+1} at init (circuits.md §1.4). Default true. */
  startInSps?: boolean;
  /** Range of random lateral weights when not starting in the SPS (default initB). */
  initLateral?: [number, number];
  /** Explicit initial weights (override the random draws; lateral ones also override the SPS setting). */
  weights?: MicrocircuitWeights;
  /** PAL OU noise into the apical compartments of the hidden pyramids. Default true. */
  noise?: boolean;
  /** Largest |w| every projection must represent (16-bit weights). Default 8 (weightShift 12, LSB 2^-12). */
  weightRange?: number;
  /**
   * fw_bw only: the τ_LO low-pass of the forward updates is kept in the synapse's tag scaled by 2^g, so that
   * (Δt/τ_LO)·Δ ≈ 1e-8 per tick is not rounded away at the rule's 2^-24 resolution; `dw = 2^-g·syn.tag`
   * applies the unscaled ΔW_LO. Default per layer: the largest g ≤ 12 with 2^g·Δt·η_fw ≤ 128, so the tag
   * (|tag| = 2^g·|ΔW_LO| ≤ 2^g·Δt·η_fw, since |post.rate − post.basal_rate|·pre.rate ≤ 1) never saturates.
   */
  forwardGainLog2?: number;
  /**
   * How the forward updates' τ_LO low-pass is realised: 'tag' (default) as above, two rule statements per
   * synapse; 'engine' with the plasticity engine's own low-pass (docs/chip.md §11.4): the rule computes 2^g·Δ,
   * the low-pass state holds 2^g·ΔW_LO and the update shift g applies ΔW_LO — one statement, half the learning
   * cost. Both give ΔW_LO ← ΔW_LO + (Δt/τ_LO)(Δ − ΔW_LO), W += ΔW_LO up to rounding.
   */
  forwardLowpass?: 'tag' | 'engine';
  /**
   * Multiply the forward updates by the host's `reward` input (a learning-rate schedule written by the host,
   * e.g. annealing). The reward input starts at 0: the host must write it before forward learning happens.
   */
  forwardRateInput?: boolean;
  /** Probe the apical potentials of the hidden pyramids every this many ticks (for time-averaged norms). */
  apicalProbeEvery?: number;
  /**
   * 'auto' (default): the compiler's placement (the whole 5-20-10-20-5 circuit fits on core 0);
   * 'spread': one population per core (input on core 0, then pyramids and interneurons in order), which
   * shortens the chip's critical path per tick. Results are identical (placement never changes results).
   */
  placement?: 'auto' | 'spread';
}

export interface MicrocircuitLayout {
  params: MicrocircuitParameters;
  rule: 'pal' | 'fa';
  sizes: number[];
  input: string;
  /** Pyramidal populations of layers 1..N (the last is the output). */
  pyramids: string[];
  /** Interneurons of hidden layers 1..N−1 (int_k has N_{k+1} neurons). */
  interneurons: string[];
  /** Projection names: W_1..W_N, B_k, W_IP,k, W_PI,k (k = 1..N−1). */
  forward: string[];
  backward: string[];
  lateralIP: string[];
  lateralPI: string[];
  /** The output's target port (fw_bw). */
  targetPort: string;
  /** Apical probes of the hidden pyramids (when apicalProbeEvery is set). */
  apicalProbes: string[];
  ticksPerPresentation: number;
  /** Initial real-valued weights as given to the builder (before quantisation). */
  initial: Required<MicrocircuitWeights>;
  /** W_IP = sps[k]·W_{k+1} in the SPS (circuits.md §1.4). */
  spsFactor: number[];
  /** Rule text per plastic projection. */
  rules: Record<string, string>;
  /** Chip noise parameters of the hidden pyramids: tau (ticks), per-tick increment std and stationary std. */
  noise: { tauTicks: number; incrementStd: number; stationaryStd: number } | null;
}

/** A constant for rule text: 12 significant digits, no float noise. */
export function ruleConstant(c: number): string {
  return String(Number(c.toPrecision(12)));
}

function uniformMatrix(rng: SeededRandom, rows: number, cols: number, [lo, hi]: [number, number]): Matrix {
  const m = matrix(rows, cols);
  for (let k = 0; k < m.data.length; k++) m.data[k] = rng.uniform(lo, hi);
  return m;
}

function checkShape(m: Matrix, rows: number, cols: number, what: string): Matrix {
  if (m.rows !== rows || m.cols !== cols) throw new NetworkError(`${what}: expected ${rows}×${cols}, got ${m.rows}×${m.cols}`);
  return m;
}

/** Post-major rows for the Network builder. */
function rowsOf(m: Matrix): Float64Array {
  return m.data;
}

/**
 * Builds the microcircuit Network. Returns the Network (compile it with compileNetwork) and the layout the
 * drivers use to find populations, projections and parameters.
 *
 * 'bp' is rejected: backprop needs B = Wᵀ exactly at every tick. The chip has no weight-copy operation between
 * projections, and a host copy would need readWeights + a new Program (the Device interface cannot write
 * weights into a loaded Program), which resets all state. Use 'pal' or 'fa'.
 */
export function buildMicrocircuit(config: MicrocircuitConfig): { network: Network; layout: MicrocircuitLayout } {
  if (config.rule === 'bp') {
    throw new NetworkError(
      'rule "bp" is not supported on the chip: it needs B = Wᵀ copied every tick, and the chip has no weight copy between projections',
      'use rule "pal" (learned B) or "fa" (fixed B); a host-side copy would need a Device weight-write call',
    );
  }
  if (config.rule !== 'pal' && config.rule !== 'fa') throw new NetworkError(`unknown rule "${String(config.rule)}"`, 'use pal or fa');
  const { rule, base, weightSeed, chipSeed, startInSps, initLateral, weights, noise, weightRange, forwardGainLog2, forwardLowpass, forwardRateInput, apicalProbeEvery, placement, ...overrides } = config;
  const p: MicrocircuitParameters = { ...(base ?? PAL_FIG3ABC_BW_ONLY), ...overrides };
  if (rule === 'fa') p.etaBw = 0;
  const sizes = p.layers;
  const N = sizes.length - 1;
  if (N < 2) throw new NetworkError(`a microcircuit needs at least one hidden layer, got layers ${sizes.join('-')}`);
  if (p.etaFw.length !== N) throw new NetworkError(`etaFw has ${p.etaFw.length} entries, expected ${N} (one per weight layer)`);
  const { gl, gB, gA, gD, gNI, gNtgt } = p.conductances;
  const dt = p.dt;
  const range = weightRange ?? 8;
  const gainOf = (eta: number) => forwardGainLog2 ?? Math.max(0, Math.min(12, Math.floor(Math.log2(128 / (dt * eta)))));
  const sps = startInSps ?? true;
  const withNoise = (noise ?? true) && p.sigma > 0;
  const pal = rule === 'pal' && p.etaBw > 0;
  if (pal && !withNoise) {
    throw new NetworkError('rule "pal" needs the apical noise: its feedback rule correlates post.noise with pre.hp', 'keep noise on (σ > 0) or use rule "fa"');
  }
  const fwPlastic = p.task === 'fw_bw';

  // Initial weights.
  const rng = new SeededRandom(weightSeed ?? 1);
  const forward: Matrix[] = [];
  for (let k = 1; k <= N; k++) {
    const given = weights?.forward?.[k - 1];
    forward.push(given ? checkShape(given, sizes[k], sizes[k - 1], `W_${k}`) : uniformMatrix(rng, sizes[k], sizes[k - 1], p.initW));
  }
  const backward: Matrix[] = [];
  for (let k = 1; k < N; k++) {
    const given = weights?.backward?.[k - 1];
    backward.push(given ? checkShape(given, sizes[k], sizes[k + 1], `B_${k}`) : uniformMatrix(rng, sizes[k], sizes[k + 1], p.initB));
  }
  // SPS factors: W_IP,k = c·W_{k+1}, c = g_B(g_l+g_D)/(g_D·g_tot of layer k+1).
  const spsFactor: number[] = [];
  for (let k = 1; k < N; k++) spsFactor.push(k + 1 < N ? (gB * (gl + gD)) / (gD * (gl + gB + gA)) : (gB * (gl + gD)) / (gD * (gl + gB)));
  const latRange = initLateral ?? p.initB;
  const lateralIP: Matrix[] = [];
  const lateralPI: Matrix[] = [];
  for (let k = 1; k < N; k++) {
    const gIP = weights?.lateralIP?.[k - 1];
    const gPI = weights?.lateralPI?.[k - 1];
    lateralIP.push(gIP ? checkShape(gIP, sizes[k + 1], sizes[k], `W_IP,${k}`) : sps ? scale(forward[k], spsFactor[k - 1]) : uniformMatrix(rng, sizes[k + 1], sizes[k], latRange));
    lateralPI.push(gPI ? checkShape(gPI, sizes[k], sizes[k + 1], `W_PI,${k}`) : sps ? scale(backward[k - 1], -1) : uniformMatrix(rng, sizes[k], sizes[k + 1], latRange));
  }

  const net = new Network(`microcircuit-${rule}-${p.task}-${sizes.join('-')}`, { seed: chipSeed ?? 1, tickSeconds: dt * 1e-3 });
  net.metadata.circuit = 'dendritic microcircuit (LE/PAL)';
  net.metadata.parameters = p.source;
  net.metadata.rule = rule;

  // One core per population with 'spread' (at most 2N populations: input, N pyramids, N − 1 interneurons).
  let nextCore = 0;
  const core = () => (placement === 'spread' ? (nextCore < CHIP_CORES ? nextCore++ : undefined) : undefined);
  const input = net.input('in', sizes[0], { payloadShift: 2, core: core() });
  const pyramids: string[] = [];
  const interneurons: string[] = [];
  const tauTicks = p.tauXi / dt;
  const incrementStd = p.sigma * Math.sqrt(dt / p.tauXi);
  const stationaryStd = incrementStd / Math.sqrt(2 / tauTicks - 1 / (tauTicks * tauTicks));
  // Per-tick coefficients on the chip's COEF grid (2^-20), and every derived gain computed from these same values,
  // so that the identities the rules rely on hold in the chip's arithmetic: with no apical input and no nudge,
  // ŭ = k_B/k_tot·v_B equals the basal prediction exactly. (Deriving the gains from the unrounded conductances,
  // 1049/1992 ≠ 0.1/0.19, left an error 2.9e-4·v_B in post.rate − post.basal_rate: an anti-decay of W in the
  // Urbanczik–Senn rule, larger than the 1-1-1 teacher's error signals, that ran W_1 to the weight bound.)
  const coef = (x: number) => Math.round(x * 2 ** COEF_FRAC_BITS) / 2 ** COEF_FRAC_BITS;
  const kB = coef(dt * gB);
  const kTotP = coef(dt * (gl + gB + gA));
  const kTotO = coef(dt * (gl + gB));
  const kD = coef(dt * gD);
  const kTotI = coef(dt * (gl + gD));
  const kNI = coef(dt * gNI);
  const kNt = coef(dt * gNtgt);
  for (let k = 1; k < N; k++) {
    pyramids.push(
      net.population(`pyr${k}`, sizes[k], {
        output: 'graded',
        activation: p.activation,
        payloadShift: 2,
        basal: true,
        apical: true,
        soma: { kBasal: kB, kApical: coef(dt * gA), kTotal: kTotP },
        prospective: 1 / kTotP,
        basalPrediction: kB / kTotP,
        noise: withNoise ? { target: 'apical', tau: tauTicks, sigma: stationaryStd } : undefined,
        // PAL reads the high-passed rate of the layer above: pyr_2..pyr_{N−1} (and the output, below).
        traces: pal && k > 1 ? { hp: { tau: p.tauHp / dt } } : undefined,
        core: core(),
      }),
    );
  }
  const out = net.population('out', sizes[N], {
    output: 'graded',
    activation: p.activation,
    payloadShift: 2,
    basal: true,
    soma: { kBasal: kB, kNudge: kNt, kTotal: kTotO },
    // Exact look-ahead for the regime the task runs in: free (bw_only) or nudged by the target (fw_bw).
    prospective: p.task === 'fw_bw' ? 1 / (kTotO + kNt) : 1 / kTotO,
    basalPrediction: kB / kTotO,
    nudge: { target: true },
    traces: pal ? { hp: { tau: p.tauHp / dt } } : undefined,
    core: core(),
  });
  pyramids.push(out);
  for (let k = 1; k < N; k++) {
    interneurons.push(
      net.population(`int${k}`, sizes[k + 1], {
        output: 'graded',
        activation: p.activation,
        payloadShift: 2,
        basal: true,
        soma: { kBasal: kD, kNudge: kNI, kTotal: kTotI },
        prospective: 1 / (kTotI + kNI),
        basalPrediction: kD / kTotI,
        nudge: { teacher: pyramids[k], prospective: true },
        core: core(),
      }),
    );
  }

  const rules: Record<string, string> = {};
  const common = { weightBits: 16 as const, weightRange: range };
  const forwardNames: string[] = [];
  for (let k = 1; k <= N; k++) {
    const name = `W${k}`;
    const eta = p.etaFw[k - 1];
    let plasticity;
    if (fwPlastic && eta > 0) {
      // Urbanczik–Senn with the τ_LO low-pass held in the tag as 2^g·ΔW_LO (header comment). The weight update
      // dw = 2^-g·tag is in real weight units: the accumulator (24 fractional bits) adds it exactly. (A 2^g gain
      // on `dw` with g fewer accumulator bits does NOT rescale: Δ is real weight units whatever fracBits is.)
      const kLo = dt / p.tauLo;
      const gain = gainOf(eta);
      const rate = forwardRateInput ? ' * reward' : '';
      if (forwardLowpass === 'engine') {
        const g = Math.min(gain, MAX_UPDATE_SHIFT);
        const ruleText = `dw = ${ruleConstant(dt * eta * 2 ** g)} * (post.rate - post.basal_rate) * pre.rate${rate}`;
        rules[name] = ruleText;
        plasticity = { rule: ruleText, lowpassTau: p.tauLo / dt, updateShift: g, rounding: 'stochastic' as const };
      } else {
        const ruleText = `dtag = ${ruleConstant(kLo * dt * eta * 2 ** gain)} * (post.rate - post.basal_rate) * pre.rate${rate} - ${ruleConstant(kLo)} * syn.tag; dw = 2^-${gain} * syn.tag`;
        rules[name] = ruleText;
        plasticity = { rule: ruleText };
      }
    }
    net.project(name, k === 1 ? input : pyramids[k - 2], pyramids[k - 1], { ...common, target: 'basal', weights: rowsOf(forward[k - 1]), plasticity });
    forwardNames.push(name);
  }
  const backwardNames: string[] = [];
  const ipNames: string[] = [];
  const piNames: string[] = [];
  for (let k = 1; k < N; k++) {
    const bName = `B${k}`;
    let bPlasticity;
    if (pal) {
      const ruleText = `dw = ${ruleConstant(dt * p.etaBw)} * (post.noise * pre.hp) - ${ruleConstant(dt * p.etaBw * p.alpha)} * syn.w`;
      rules[bName] = ruleText;
      bPlasticity = { rule: ruleText, rounding: 'stochastic' as const };
    }
    net.project(bName, pyramids[k], pyramids[k - 1], { ...common, target: 'apical', weights: rowsOf(backward[k - 1]), plasticity: bPlasticity });
    backwardNames.push(bName);

    const ipName = `WIP${k}`;
    let ipPlasticity;
    if (p.etaIP > 0) {
      const ruleText = `dw = ${ruleConstant(dt * p.etaIP)} * (post.rate - post.basal_rate) * pre.rate`;
      rules[ipName] = ruleText;
      ipPlasticity = { rule: ruleText, rounding: 'stochastic' as const };
    }
    net.project(ipName, pyramids[k - 1], interneurons[k - 1], { ...common, target: 'basal', weights: rowsOf(lateralIP[k - 1]), plasticity: ipPlasticity });
    ipNames.push(ipName);

    const piName = `WPI${k}`;
    let piPlasticity;
    if (p.etaPI > 0) {
      const ruleText = `dw = ${ruleConstant(-dt * p.etaPI)} * post.apical * pre.rate`;
      rules[piName] = ruleText;
      piPlasticity = { rule: ruleText, rounding: 'stochastic' as const };
    }
    net.project(piName, interneurons[k - 1], pyramids[k - 1], { ...common, target: 'apical', weights: rowsOf(lateralPI[k - 1]), plasticity: piPlasticity });
    piNames.push(piName);
  }
  const apicalProbes: string[] = [];
  if (apicalProbeEvery !== undefined) {
    for (let k = 1; k < N; k++) apicalProbes.push(net.probe(`apical${k}`, pyramids[k - 1], { variable: 'apical', every: apicalProbeEvery }));
  }
  const ticksPerPresentation = Math.round(p.tPres / dt);
  return {
    network: net,
    layout: {
      params: p,
      rule,
      sizes: [...sizes],
      input,
      pyramids,
      interneurons,
      forward: forwardNames,
      backward: backwardNames,
      lateralIP: ipNames,
      lateralPI: piNames,
      targetPort: `${out}.target`,
      apicalProbes,
      ticksPerPresentation,
      initial: { forward, backward, lateralIP, lateralPI },
      spsFactor,
      rules,
      noise: withNoise ? { tauTicks, incrementStd, stationaryStd } : null,
    },
  };
}

/**
 * The steady state of a (teacher) microcircuit without apical input (SPS, no noise): r_0 = x,
 * u_k = g_B/(g_l+g_B+g_A)·W_k r_{k−1}, r_k = φ(u_k); output u_N = g_B/(g_l+g_B)·W_N r_{N−1}.
 * Returns the output potentials u_N (a target for a student's output nudging).
 */
export function microcircuitSteadyOutput(params: MicrocircuitParameters, forward: Matrix[], x: ArrayLike<number>): number[] {
  const { v } = steadyStatePass(params, forward, x);
  return v[v.length - 1];
}

/**
 * The gains c_k of the steady state v̂_k = c_k·W_k r_{k−1} for the N forward layers: g_B/(g_l+g_B+g_A) for hidden
 * pyramids, g_B/(g_l+g_B) for the output.
 */
export function steadyStateGains(params: MicrocircuitParameters, layers: number): number[] {
  const { gl, gB, gA } = params.conductances;
  return Array.from({ length: layers }, (_, k) => (k < layers - 1 ? gB / (gl + gB + gA) : gB / (gl + gB)));
}

/**
 * The circuit's steady state without apical input and noise (the equivalent feed-forward network):
 * r_0 = x, v̂_k = c_k·W_k r_{k−1}, r_k = φ(v̂_k). Returns v̂_1..v̂_N and r_0..r_N.
 */
export function steadyStatePass(params: MicrocircuitParameters, forward: Matrix[], x: ArrayLike<number>): { v: number[][]; r: number[][] } {
  const c = steadyStateGains(params, forward.length);
  const r: number[][] = [Array.from(x)];
  const v: number[][] = [];
  forward.forEach((W, k) => {
    const vk = Array.from({ length: W.rows }, (_, j) => {
      let a = 0;
      for (let i = 0; i < W.cols; i++) a += W.data[j * W.cols + i] * r[k][i];
      return c[k] * a;
    });
    v.push(vk);
    r.push(vk.map((u) => 1 / (1 + Math.exp(-u))));
  });
  return { v, r };
}

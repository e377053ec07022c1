/**
 * Parameter sets of the learning circuits, in the units of the reference (time in ms, conductances in 1/ms).
 * Source of every number: ../shared/design/circuits.md §4.4 ("Microcircuit (`PAL MC/experiments/*\/params.json`)"
 * table and the "Common:" line under it) and §1.5 (LE/PAL-era conductance set). The builder converts them to
 * per-tick chip coefficients (microcircuit.ts).
 */

/** Conductances of the LE/PAL-era dendritic microcircuit (circuits.md §1.5, last paragraph; §4.4 "Common"). */
export interface Conductances {
  /** Leak g_l. */
  gl: number;
  /** Basal → soma g_B (pyramids). */
  gB: number;
  /** Apical → soma g_A (hidden pyramids). */
  gA: number;
  /** Dendrite → soma g_D (interneurons). */
  gD: number;
  /** Nudging of interneurons by the pyramids of the next layer, g_nI (= g_som). */
  gNI: number;
  /** Nudging of the output layer by the target, g_ntgt (= g_som). */
  gNtgt: number;
}

export const PAL_CONDUCTANCES: Conductances = { gl: 0.03, gB: 0.1, gA: 0.06, gD: 0.1, gNI: 0.06, gNtgt: 0.06 };

/** A PAL microcircuit experiment (one row of the circuits.md §4.4 table). */
export interface MicrocircuitParameters {
  /** Where the numbers come from. */
  source: string;
  /** Layer sizes [input, hidden..., output]. */
  layers: number[];
  /** bw_only: forward weights frozen, lateral and backward learn; fw_bw: teacher–student, all plastic. */
  task: 'bw_only' | 'fw_bw';
  activation: 'sigmoid';
  /** Euler step (ms per tick). */
  dt: number;
  /** Presentation time of one input sample (ms). */
  tPres: number;
  /** OU noise time constant τ_ξ (ms). */
  tauXi: number;
  /** High-pass time constant of the presynaptic rate τ_HP (ms). */
  tauHp: number;
  /** Low-pass time constant of the forward weight updates τ_LO (ms). */
  tauLo: number;
  /** Noise scale σ of the OU process (circuits.md §4.2: increment σ·√(dt/τ_ξ)·N per step). */
  sigma: number;
  /** Forward learning rates per weight layer (W_1 … W_N); 0 = frozen. */
  etaFw: number[];
  /** PAL backward learning rate η_bw (0 = feedback alignment). */
  etaBw: number;
  /** Interneuron dendrite learning rate η_IP. */
  etaIP: number;
  /** Apical silencing rate η_PI. */
  etaPI: number;
  /** PAL weight decay α. */
  alpha: number;
  /** Initial forward and backward weights: uniform in these ranges. */
  initW: [number, number];
  initB: [number, number];
  /** Training length of the reference: epochs × samples per epoch. */
  epochs: number;
  samples: number;
  conductances: Conductances;
  /** Teacher forward weight (teacher–student tasks): every teacher weight has this value. */
  teacherWeight?: number;
}

/** §4.4 row "Fig3abc ("lin") bw_only": 5-20-10-20-5, logistic, alignment of B with Wᵀ without a teacher. */
export const PAL_FIG3ABC_BW_ONLY: MicrocircuitParameters = {
  source: 'circuits.md §4.4, row "Fig3abc (\\"lin\\") bw_only" (PAL MC/experiments/Fig3abc/params.json)',
  layers: [5, 20, 10, 20, 5],
  task: 'bw_only',
  activation: 'sigmoid',
  dt: 0.01,
  tPres: 1,
  tauXi: 0.1,
  tauHp: 0.1,
  tauLo: 100,
  sigma: 0.05,
  etaFw: [0, 0, 0, 0],
  etaBw: 50,
  etaIP: 0,
  etaPI: 5,
  alpha: 1e-5,
  initW: [-1, 1],
  initB: [-1, 1],
  epochs: 100,
  samples: 100,
  conductances: PAL_CONDUCTANCES,
};

/** §4.4 row "Fig4ab fw_bw (PAL)": 1-1-1 teacher–student (teacher W = 2), student W, B ∈ U[−1, 0]. */
export const PAL_FIG4AB_FW_BW: MicrocircuitParameters = {
  source: 'circuits.md §4.4, row "Fig4ab fw_bw (PAL)" (PAL MC/experiments/Fig4ab/params.json)',
  layers: [1, 1, 1],
  task: 'fw_bw',
  activation: 'sigmoid',
  dt: 0.01,
  tPres: 1,
  tauXi: 0.1,
  tauHp: 0.1,
  tauLo: 100,
  sigma: 0.01,
  etaFw: [2, 0.5],
  etaBw: 20,
  etaIP: 10,
  etaPI: 0.5,
  alpha: 1e-6,
  initW: [-1, 0],
  initB: [-1, 0],
  epochs: 5000,
  samples: 100,
  conductances: PAL_CONDUCTANCES,
  teacherWeight: 2,
};

/** §4.4 row "Fig4ab FA": the same with η_bw = 0 and η_PI = 0 (B fixed, W_PI stays at −B from the SPS start). */
export const FA_FIG4AB_FW_BW: MicrocircuitParameters = {
  ...PAL_FIG4AB_FW_BW,
  source: 'circuits.md §4.4, row "Fig4ab FA"',
  etaBw: 0,
  etaPI: 0,
};

/**
 * PAL on the 8×8 digits (64-100-10), chosen here (not a reference row): the GeNN MNIST row of circuits.md §4.4
 * (σ 0.01, τ_ξ = τ_HP = 0.1 ms, η_B-scale feedback learning, α 1e-6, sigmoid, start in the SPS, up-weights small,
 * down-weights U[−1, 1]) with a shorter presentation (T_pres 0.1 ms = 10 ticks: the look-ahead rates settle
 * within a tick, so three ticks of latency through the circuit leave seven of every ten on the sample), a
 * shorter low-pass τ_LO 0.3 ms and larger forward rates η_fw = [20, 4], annealed linearly over the epochs by the
 * host (DIGITS_RATE_SCHEDULE), which train the 1437 samples in six epochs (docs/training.md, "Digits").
 */
export const PAL_DIGITS: MicrocircuitParameters = {
  source: 'apical PAL digits set (docs/circuits.md "Digits"; starting point circuits.md §4.4 GeNN MNIST row)',
  layers: [64, 100, 10],
  task: 'fw_bw',
  activation: 'sigmoid',
  dt: 0.01,
  tPres: 0.1,
  tauXi: 0.1,
  tauHp: 0.1,
  tauLo: 0.3,
  sigma: 0.01,
  etaFw: [20, 4],
  etaBw: 20,
  etaIP: 0.5,
  etaPI: 0.5,
  alpha: 1e-6,
  initW: [-0.3, 0.3],
  initB: [-1, 1],
  epochs: 6,
  samples: 1437,
  conductances: PAL_CONDUCTANCES,
};

/** Learning-rate factor of epoch e of E for the digits task: linear from 1 down to 0.1, max(0.1, 1 − (e − 1)/E). */
export function DIGITS_RATE_SCHEDULE(epoch: number, epochs: number): number {
  return Math.max(0.1, 1 - (epoch - 1) / epochs);
}

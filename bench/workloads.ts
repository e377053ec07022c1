/**
 * Benchmark workloads: each builds a network, compiles it to a Program and says how to drive it.
 * Figures are reported per workload by bench/run.ts (medians over repeats); the same Program and stimulus
 * also run on the C chip core (bench/nativeCore.ts) and, for CUBA, in Brian2 (bench/brian2.ts).
 */
import type { StimulusEvent } from '../src/devices/device.js';
import { STATE_ONE } from '../src/emulator/constants.js';
import { buildMicrocircuit } from '../src/models/circuits/microcircuit.js';
import { PAL_FIG4AB_FW_BW } from '../src/models/circuits/parameters.js';
import { Network } from '../src/models/network.js';
import { SeededRandom } from '../src/models/seededRandom.js';

export interface Workload {
  name: string;
  description: string;
  net: Network;
  /** Ticks per repeat. */
  ticks: number;
  /** Host writes, each applied before its tick (ticks from the start of the run; the Device stimulus format). */
  stimulus: StimulusEvent[];
  /** CUBA only: the network statistics Brian2 rebuilds (bench/cuba_brian2.py). */
  cuba?: CubaStatistics;
}

/** What bench/cuba_brian2.py needs to build the same CUBA network. */
export interface CubaStatistics {
  neurons: number;
  excitatoryFraction: number;
  connectivity: number;
  seconds: number;
  dtMs: number;
  weightExcitatoryMv: number;
  weightInhibitoryMv: number;
}

/** A 1024×1024 dense 16-bit projection with graded payloads every tick, plasticity off or on. */
export function denseGraded(plastic: boolean, size = 1024, ticks = 40, seed = 7): Workload {
  const rng = new SeededRandom(seed);
  const net = new Network(`dense-graded-${plastic ? 'plastic' : 'static'}`, { seed, tickSeconds: 1e-4 });
  net.input('in', size, { payloadShift: 2 });
  net.population('out', size, {
    output: 'graded',
    activation: 'sigmoid',
    basal: true,
    soma: { kBasal: 0.1, kTotal: 0.1 },
    basalPrediction: 1,
    payloadShift: 2,
  });
  const w = new Float64Array(size * size);
  for (let k = 0; k < w.length; k++) w[k] = rng.uniform(-0.1, 0.1);
  net.project('fc', 'in', 'out', {
    weights: w,
    weightBits: 16,
    weightRange: 1,
    plasticity: plastic ? { rule: 'dw = 2^-10 * (post.rate - post.basal_rate) * pre.rate', rounding: 'nearest' } : undefined,
  });
  const rates = Array.from({ length: size }, () => Math.round(rng.uniform(0.05, 1) * 65536));
  return {
    name: net.name,
    description: `${size}x${size} dense 16-bit graded projection${plastic ? ', Urbanczik-Senn rule every tick' : ''}`,
    net,
    ticks,
    stimulus: [{ tick: 0, port: 'in', values: rates }],
  };
}

/**
 * CUBA-like network (after the Brunel/Brette CUBA benchmark): 4000 LIF neurons, 80 % excitatory, 2 % random
 * connectivity, τm 20 ms, τe 5 ms, τi 10 ms, Δt 0.1 ms, refractory 5 ms, w_e 1.62 mV, w_i −9 mV; potentials in mV
 * relative to the leak reversal (threshold −1 mV, reset −11 mV), initial potentials uniform in [reset, threshold].
 */
export function cuba(seconds = 1, n = 4000): Workload {
  const rng = new SeededRandom(11);
  const nE = Math.round(n * 0.8);
  const nI = n - nE;
  const dt = 0.1; // ms
  const net = new Network('cuba', { seed: 11, tickSeconds: 1e-4 });
  const lif = (size: number) => ({
    output: 'binary' as const,
    basal: { decay: dt / 5 },
    apical: { decay: dt / 10 },
    soma: { kBasal: dt / 20, kApical: dt / 20, kTotal: dt / 20 },
    threshold: -1,
    reset: -11,
    refractory: 50,
    init: Array.from({ length: size }, () => rng.uniform(-11, -1)),
    valueScale: 1,
  });
  net.population('E', nE, lif(nE));
  net.population('I', nI, lif(nI));
  const connect = (name: string, pre: string, nPre: number, post: string, nPost: number, w: number, target: 'basal' | 'apical') => {
    const pres: number[] = [];
    const posts: number[] = [];
    for (let i = 0; i < nPre; i++) {
      for (let j = 0; j < nPost; j++) {
        if (rng.next() < 0.02) {
          pres.push(i);
          posts.push(j);
        }
      }
    }
    net.project(name, pre, post, { kind: 'sparse', weights: { pre: pres, post: posts, values: pres.map(() => w) }, weightBits: 8, target });
  };
  const we = 1.62;
  const wi = -9;
  connect('EE', 'E', nE, 'E', nE, we, 'basal');
  connect('EI', 'E', nE, 'I', nI, we, 'basal');
  connect('IE', 'I', nI, 'E', nE, wi, 'apical');
  connect('II', 'I', nI, 'I', nI, wi, 'apical');
  return {
    name: 'cuba',
    description: `CUBA-like: ${n} LIF neurons, 2 % connectivity, ${seconds} s at 0.1 ms ticks`,
    net,
    ticks: Math.round(seconds / 1e-4),
    stimulus: [],
    cuba: { neurons: n, excitatoryFraction: 0.8, connectivity: 0.02, seconds, dtMs: dt, weightExcitatoryMv: we, weightInhibitoryMv: wi },
  };
}

/**
 * PAL dendritic microcircuit training (fw_bw task parameters, PAL_FIG4AB_FW_BW, with layers `sizes`,
 * default 784-100-10 as for Fashion-MNIST): every presentation holds a random 784-dim input rate vector in
 * [0, 1] and a random output target in [0, 1] for tPres (100 ticks); all projections plastic every tick.
 * `ticks` (default: all presentations) can stop the run early (--quick).
 */
export function microcircuitTraining(presentations = 10, sizes: number[] = [784, 100, 10], ticks?: number): Workload {
  const { network, layout } = buildMicrocircuit({ rule: 'pal', base: PAL_FIG4AB_FW_BW, layers: sizes, weightSeed: 3, chipSeed: 5 });
  const rng = new SeededRandom(13);
  const T = layout.ticksPerPresentation;
  const stimulus: StimulusEvent[] = [];
  for (let q = 0; q < presentations; q++) {
    stimulus.push({ tick: q * T, port: layout.input, values: Array.from({ length: sizes[0] }, () => Math.round(rng.next() * STATE_ONE)) });
    stimulus.push({ tick: q * T, port: layout.targetPort, values: Array.from({ length: sizes[sizes.length - 1] }, () => Math.round(rng.next() * STATE_ONE)) });
  }
  return {
    name: 'microcircuit-training',
    description: `PAL microcircuit ${sizes.join('-')} (fw_bw parameters), ${presentations} presentation(s) of ${T} ticks${ticks !== undefined && ticks < presentations * T ? ` (first ${ticks} ticks)` : ''}, random inputs and targets`,
    net: network,
    ticks: ticks ?? presentations * T,
    stimulus,
  };
}

/**
 * Benchmark workloads: each builds a network, compiles it to a Program and says how to drive it.
 * Figures are reported per workload by bench/run.ts (medians over repeats).
 */
import { Network } from '../src/models/network.js';
import { SeededRandom } from '../src/models/seededRandom.js';

export interface Workload {
  name: string;
  description: string;
  net: Network;
  /** Ticks per repeat. */
  ticks: number;
  /** Input values (STATE integers) written once before the run, per port. */
  inputs: Record<string, number[]>;
}

/** A 1024×1024 dense 16-bit projection with graded payloads every tick, plasticity off or on. */
export function denseGraded(plastic: boolean, size = 1024, ticks = 40): Workload {
  const rng = new SeededRandom(7);
  const net = new Network(`dense-graded-${plastic ? 'plastic' : 'static'}`, { seed: 7, tickSeconds: 1e-4 });
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
    inputs: { in: rates },
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
  connect('EE', 'E', nE, 'E', nE, 1.62, 'basal');
  connect('EI', 'E', nE, 'I', nI, 1.62, 'basal');
  connect('IE', 'I', nI, 'E', nE, -9, 'apical');
  connect('II', 'I', nI, 'I', nI, -9, 'apical');
  return { name: 'cuba', description: `CUBA-like: ${n} LIF neurons, 2 % connectivity, ${seconds} s at 0.1 ms ticks`, net, ticks: Math.round(seconds / 1e-4), inputs: {} };
}

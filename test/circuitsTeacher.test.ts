/**
 * PAL's 1-1-1 teacher–student experiment (Fig. 4a,b; ../shared/design/circuits.md §4.4, §4.5) on the bit-exact
 * emulator, with the float twin of the same Network (effects 'none': the ideal float64 model) beside it.
 * Driver: src/models/circuits/teacherStudent.ts. Reference parameters throughout (σ 0.01, η_fw [2, 0.5], η_bw 20,
 * η_IP 10, η_PI 0.5, α 1e-6, τ_LO 100 ms, T_pres 1 ms, Δt 0.01 ms); every run is deterministic.
 *
 * The acceptance item ("PAL reaches the teacher, |W − 2| < 0.1 in both layers; FA does not") needs the
 * reference length, 500 s simulated = 5·10^7 ticks per run (≈ 160 s of wall time per chip run on this machine),
 * too long for the suite; it is the documented command (results in docs/circuits.md §6.4):
 *
 *   apical train --task teacher --rule pal|fa [--engine twin] --epochs 500 --json
 *
 * The default tests assert what fits in well under a minute: the forward rule applies §4.2's low-passed update
 * at the reference rate (the bug that ran W_1 to the weight bound), and the first phase of the experiment from a
 * wrong-signed B: PAL turns B positive and W_1 turns back towards the teacher, FA keeps B and drives W_1 away.
 */
import { describe, expect, it } from 'vitest';
import { EmulatorDevice } from '../src/devices/emulatorDevice.js';
import { fromRows } from '../src/models/circuits/metrics.js';
import { runTeacherStudent, runTeacherStudentTwin, teacherStudentCircuit, teacherTarget, type TeacherStudentOptions, type TeacherStudentResult } from '../src/models/circuits/teacherStudent.js';
import { compileNetwork } from '../src/models/compiler.js';
import { FloatTwin } from '../src/models/twin/floatTwin.js';

const ONE = 65536;
const w = (x: number) => fromRows([[x]]);

function describeRun(where: string, r: TeacherStudentResult): string {
  const f = r.figures;
  return (
    `${where} ${r.rule} ${r.final.seconds} s: W1 ${r.final.w1.toFixed(3)} W2 ${r.final.w2.toFixed(3)} B ${r.final.b.toFixed(3)} ` +
    `|W1−2| ${f.w1Error.toFixed(3)} |W2−2| ${f.w2Error.toFixed(3)} sign(B) ${f.bSign} ` +
    `(last fifth: |⟨W1⟩−2| ${f.w1ErrorLate.toFixed(3)} |⟨W2⟩−2| ${f.w2ErrorLate.toFixed(3)} ⟨B⟩ ${f.bLate.toFixed(3)}) ` +
    `output RMS ${r.final.outputRms.toExponential(2)}; ${Math.round(r.ticksPerSecond)} ticks/s`
  );
}

describe('the forward rule of the fw_bw microcircuit (circuits.md §4.2)', () => {
  it('applies the τ_LO-low-passed Urbanczik–Senn update at the reference rate η_fw (twin: exactly; chip: within 2 %)', async () => {
    // Constant input and target, no noise: Δ_t = Δt·η·(r − φ(v̂_B))·r_pre is nearly constant and the low-pass
    // ΔW_LO ← ΔW_LO + (Δt/τ_LO)(Δ − ΔW_LO), W += ΔW_LO moves W by ≈ Δ·k·n²/2 in n ≪ τ_LO/Δt ticks.
    // FA: the same forward rules, no noise and a static B (a PAL rule without noise would read post.noise of a
    // group without noise, which the Program validation rejects).
    const opts: TeacherStudentOptions = { rule: 'fa', config: { weights: { forward: [w(1), w(1)], backward: [w(0.5)] } } };
    const { network, layout } = teacherStudentCircuit(opts);
    const x = [0.6];
    const target = [1.2];
    const n = 3000;
    const eta = layout.params.etaFw;
    const dt = layout.params.dt;
    const k = dt / layout.params.tauLo;
    const twin = new FloatTwin(network, { effects: 'none' });
    twin.setInput('in', x);
    twin.setInput('out.target', target);
    // Host-side §4.2 from the twin's own neuron values, tick by tick.
    const post = ['pyr1', 'out'];
    const pre = ['in', 'pyr1'];
    const W = [1, 1];
    const lo = [0, 0];
    for (let t = 0; t < n; t++) {
      twin.step();
      for (let l = 0; l < 2; l++) {
        const delta = dt * eta[l] * (twin.read(post[l], 'rate')[0] - twin.read(post[l], 'basalRate')[0]) * twin.read(pre[l], 'rate')[0];
        lo[l] += k * (delta - lo[l]);
        W[l] += lo[l];
      }
    }
    const moved = [twin.weights('W1')[0] - 1, twin.weights('W2')[0] - 1];
    // Both layers move by a measurable amount (W_1 by the apical error, W_2 towards the target).
    expect(Math.abs(moved[0])).toBeGreaterThan(1e-3);
    expect(moved[1]).toBeGreaterThan(1e-2);
    expect(twin.weights('W1')[0]).toBeCloseTo(W[0], 10);
    expect(twin.weights('W2')[0]).toBeCloseTo(W[1], 10);
    // The tag holds 2^12·ΔW_LO.
    expect(twin.tags('W2')![0]).toBeCloseTo(lo[1] * 2 ** 12, 9);

    // The chip: the same weight change to within its arithmetic (weights read at 2^-11).
    const { program } = compileNetwork(network);
    const dev = new EmulatorDevice({ digests: false });
    await dev.load(program);
    await dev.run({
      ticks: n,
      stimulus: [
        { tick: 0, port: 'in', values: x.map((v) => Math.round(v * ONE)) },
        { tick: 0, port: layout.targetPort, values: target.map((v) => Math.round(v * ONE)) },
      ],
      digests: false,
      spikes: false,
    });
    const chipW2 = (await dev.readWeights('W2'))[0] * 2 ** -program.body.projections.find((p) => p.name === 'W2')!.weightShift;
    expect(Math.abs(chipW2 - 1 - moved[1])).toBeLessThan(0.02 * moved[1] + 2 ** -11);
  });
});

describe('1-1-1 teacher–student, first phase (reference parameters, wrong-signed B)', () => {
  // Student W_1 = W_2 = −0.5, B = −0.1 (inside the reference's U[−1, 0] draws), starting in the SPS; 20 s simulated.
  // Measured (chip seed 1 / chip seed 2 / twin 'none'): B −0.1 → 0.112 / 0.110 / 0.106 (zero crossing near 10 s),
  // min W_1 −0.60 / −0.58 / −0.63 near 8–12 s, final W_1 −0.46 / −0.42 / −0.49, W_2 2.62 / 2.60 / 2.63; FA (chip):
  // W_1 −0.50 → −1.15 falling at every record, B −0.100 throughout.
  const config = { weights: { forward: [w(-0.5), w(-0.5)], backward: [w(-0.1)] } };
  const seconds = 20;
  const every = 2000;

  it('PAL turns B positive and W_1 back towards the teacher; FA keeps B and drives W_1 away (chip, twin beside)', async () => {
    const chip = {
      pal: await runTeacherStudent(new EmulatorDevice({ digests: false }), { rule: 'pal', seconds, every, config }),
      fa: await runTeacherStudent(new EmulatorDevice({ digests: false }), { rule: 'fa', seconds, every, config }),
    };
    const twin = runTeacherStudentTwin({ rule: 'pal', seconds, every, config });
    console.log([describeRun('chip', chip.pal), describeRun('twin', twin), describeRun('chip', chip.fa)].join('\n'));
    for (const r of [chip.pal, twin]) {
      // B crosses from −0.1 to positive.
      expect(r.records[0].b).toBeCloseTo(-0.1, 3);
      expect(r.final.b).toBeGreaterThan(0.05);
      // W_1 first moves away (the wrong-signed B), then turns back: its minimum lies inside the run and the end is
      // above it.
      const w1 = r.records.map((x) => x.w1);
      const min = Math.min(...w1);
      expect(min).toBeLessThan(-0.55);
      expect(r.final.w1).toBeGreaterThan(min + 0.08);
      // The output layer has taken the teacher's sign.
      expect(r.final.w2).toBeGreaterThan(1.5);
    }
    // FA: B never moves (to the bit), W_1 falls at every record and ends far from the teacher; the error grows.
    const fa = chip.fa.records;
    expect(new Set(fa.map((x) => x.b)).size).toBe(1);
    for (let q = 2; q < fa.length; q++) expect(fa[q].w1).toBeLessThan(fa[q - 1].w1);
    expect(chip.fa.final.w1).toBeLessThan(-1);
    expect(chip.fa.final.w1).toBeLessThan(chip.pal.final.w1 - 0.5);
  }, 240_000);
});

// Keeps teacherTarget's contract visible next to the experiment: the target is the teacher's output potential.
describe('the teacher target', () => {
  it("is the teacher microcircuit's steady output potential u_N = g_B/(g_l+g_B)·2·φ(g_B/g_tot·2·x)", () => {
    const { layout } = teacherStudentCircuit({ rule: 'pal' });
    const t = teacherTarget(layout, 2);
    for (const x of [0, 0.3, 1]) expect(t([x])[0]).toBeCloseTo((0.1 / 0.13) * 2 * (1 / (1 + Math.exp(-(0.1 / 0.19) * 2 * x))), 12);
  });
});

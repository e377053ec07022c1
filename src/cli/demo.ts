/**
 * `apical demo`: the main job. Builds a PAL dendritic microcircuit (64-40-10), trains it on-chip (the
 * bit-exact emulator) on the 8×8 digits with always-on plasticity, and prints its accuracy and the alignment of
 * its feedback weights next to the float twin and the backprop reference; writes the fidelity report. Then, when
 * a C compiler is present, deploys the same Program to the virtual board over the serial stack, runs the first
 * presentations of the training there and on a fresh emulator, and shows they agree bit for bit.
 */
import { resolve } from 'node:path';
import { EmulatorDevice } from '../devices/emulatorDevice.js';
import type { Device } from '../devices/device.js';
import { startHostBoard } from '../devices/hostBoard.js';
import { SerialDevice } from '../devices/serialDevice.js';
import { ApicalError } from '../emulator/errors.js';
import type { Program } from '../emulator/program.js';
import { writeProgramFile } from '../emulator/programCodec.js';
import { buildClassifierCircuit, classTargets, presentationStimulus } from '../models/circuits/classification.js';
import type { MicrocircuitLayout } from '../models/circuits/microcircuit.js';
import { digitsSplit } from '../models/data/digits.js';
import { runFidelity } from '../models/fidelity.js';
import { writeFidelityReport } from '../models/report/fidelityReport.js';
import { SeededRandom } from '../models/seededRandom.js';
import { digitsConfig } from '../models/training.js';

export interface DemoOptions {
  out: string;
  reportDir: string;
  epochs?: number;
  twinEpochs?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

const pct = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(100 * x).toFixed(1)} %`);
const deg = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : `${x.toFixed(1)}°`);

export async function runDemo(opts: DemoOptions): Promise<{ json: unknown; text: string }> {
  const t0 = performance.now();
  const epochs = opts.epochs ?? 6;
  const twinEpochs = opts.twinEpochs ?? epochs;
  const config = digitsConfig('pal', 1);
  const { layout, program } = buildClassifierCircuit(config);
  writeProgramFile(opts.out, program);
  const f = await runFidelity({
    rule: 'pal',
    epochs,
    twinEpochs,
    seed: 1,
    command: `apical demo (PAL, ${epochs} epochs; twin ${twinEpochs} epochs)`,
    onProgress: opts.onProgress,
  });
  const files = writeFidelityReport(resolve(opts.reportDir), f.data);
  const board = await onBoard(program, layout, 200);
  const wall = (performance.now() - t0) / 1000;
  const chipAcc = f.chip.records.map((r) => r.testAccuracy);
  const at = (xs: (number | null)[] | null, e: number) => (xs && xs.length >= e ? xs[e - 1] : null);
  const json = {
    program: opts.out,
    programHash: program.hash,
    network: `PAL dendritic microcircuit ${layout.sizes.join('-')} (pyramids with basal, apical and soma; interneurons; OU noise into the apical compartments)`,
    rules: layout.rules,
    epochs,
    ticks: f.chip.ticks,
    testAccuracy: { chip: f.chip.testAccuracy, twin: f.twinAccuracy?.at(-1) ?? null, backprop: f.backpropAccuracy.at(-1) ?? null },
    testAccuracyAtTwinEpochs: { epochs: twinEpochs, chip: at(chipAcc, twinEpochs), twin: at(f.twinAccuracy, twinEpochs), backprop: at(f.backpropAccuracy, twinEpochs) },
    accuracyCurve: { chip: chipAcc, twin: f.twinAccuracy, backprop: f.backpropAccuracy },
    layers: f.layers,
    apicalNorm: f.apicalNorm,
    ticksPerSecond: f.chip.ticksPerSecond,
    report: files.report,
    files,
    board,
    wallSeconds: wall,
  };
  const text = [
    `apical demo — PAL learning on the bit-exact chip emulator, 8×8 digits (1437 train / 360 test)`,
    `circuit: ${json.network}`,
    `program: ${opts.out} (sha256 ${program.hash.slice(0, 16)}…)`,
    `trained ${epochs} epochs on-chip: ${f.chip.ticks} ticks in ${f.chip.wallSeconds.toFixed(1)} s (${Math.round(f.chip.ticksPerSecond)} ticks/s)`,
    `test accuracy per epoch (chip): ${chipAcc.map(pct).join(' → ')}`,
    `                     (twin):    ${(f.twinAccuracy ?? []).map(pct).join(' → ')}${twinEpochs < epochs ? `   (float twin, ${twinEpochs} epochs)` : ''}`,
    `                     (backprop): ${f.backpropAccuracy.map(pct).join(' → ')}`,
    ...f.layers.map((l) => `${l.name.padEnd(22)} ∠(B, Wᵀ) ${deg(l.angleBWt).padStart(6)}   ∠(ΔW chip, twin) ${deg(l.angleDwTwin).padStart(6)}   ∠(ΔW chip, backprop) ${deg(l.angleDwBackprop).padStart(6)}`),
    `apical potential norm (hidden): ${f.apicalNorm.map((v) => v.toFixed(3)).join(', ')}`,
    `report: ${files.report}`,
    board.ran
      ? `virtual board (${board.firmware}, ${board.port}): the first ${board.presentations} presentations over the serial link in ${board.seconds.toFixed(2)} s — ` +
        (board.bitExact ? 'every weight and the final digest identical to the emulator (bit-exact)' : `DIFFERENT from the emulator: ${board.detail}`)
      : `virtual board: not run (${board.detail})`,
    `wall time ${wall.toFixed(1)} s`,
  ].join('\n');
  return { json, text };
}

interface BoardLeg {
  ran: boolean;
  bitExact: boolean | null;
  port: string | null;
  firmware: string | null;
  presentations: number;
  seconds: number;
  detail: string;
}

/** The first `n` training presentations on a device; returns every projection's weights and the final digest. */
async function firstPresentations(device: Device, program: Program, layout: MicrocircuitLayout, n: number) {
  const split = digitsSplit();
  const order = new SeededRandom(1001).shuffle(Array.from({ length: split.train.x.length }, (_, i) => i)).slice(0, n);
  // Forward rate factor 1 (digitsConfig builds the circuit with forwardRateInput).
  const stimulus = presentationStimulus(layout, split.train, order, classTargets(10, 0.9, 0.1), 1);
  const rec = await device.run({ ticks: n * layout.ticksPerPresentation, stimulus, digests: true, spikes: false, probes: false });
  const weights = new Map<string, Int8Array | Int16Array>();
  for (const p of program.body.projections) weights.set(p.name, await device.readWeights(p.name));
  return { weights, digest: rec.finalDigest };
}

/** Runs the first presentations on the virtual board (apx_board on a pty) and on a fresh emulator; compares. */
async function onBoard(program: Program, layout: MicrocircuitLayout, n: number): Promise<BoardLeg> {
  const t0 = performance.now();
  let board;
  try {
    board = await startHostBoard();
  } catch (e) {
    if (e instanceof ApicalError) return { ran: false, bitExact: null, port: null, firmware: null, presentations: n, seconds: 0, detail: e.message };
    throw e;
  }
  const device = new SerialDevice(board.path);
  try {
    const info = await device.open();
    await device.load(program);
    await device.reset();
    const onBoardRun = await firstPresentations(device, program, layout, n);
    const seconds = (performance.now() - t0) / 1000;
    const emu = new EmulatorDevice();
    await emu.open();
    await emu.load(program);
    const onEmu = await firstPresentations(emu, program, layout, n);
    await emu.close();
    const differing = [...onEmu.weights].filter(([name, w]) => {
      const b = onBoardRun.weights.get(name)!;
      return b.length !== w.length || b.some((x, i) => x !== w[i]);
    });
    const sameDigest = JSON.stringify(onBoardRun.digest) === JSON.stringify(onEmu.digest);
    const bitExact = differing.length === 0 && sameDigest;
    return {
      ran: true,
      bitExact,
      port: board.path,
      firmware: info.firmwareVersion,
      presentations: n,
      seconds,
      detail: bitExact ? '' : `${differing.length ? `weights of ${differing.map(([k]) => k).join(', ')} differ` : 'weights equal'}, final digest ${sameDigest ? 'equal' : 'differs'}`,
    };
  } finally {
    await device.close();
    await board.stop();
  }
}

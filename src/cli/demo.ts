/**
 * `apical demo`: builds a small network with on-chip plasticity, trains it on the emulator, then (when a C
 * compiler is present) repeats the same training on the virtual board over the serial stack and shows that the
 * board learned exactly what the emulator learned.
 */
import { EmulatorDevice } from '../devices/emulatorDevice.js';
import { startHostBoard } from '../devices/hostBoard.js';
import { SerialDevice } from '../devices/serialDevice.js';
import { ApicalError } from '../emulator/errors.js';
import { writeProgramFile } from '../emulator/programCodec.js';
import { buildRegression, trainRegression, DEFAULT_REGRESSION } from '../models/nudgedRegression.js';

export async function runDemo(opts: { out: string }): Promise<{ json: unknown; text: string }> {
  const t0 = performance.now();
  const task = buildRegression(DEFAULT_REGRESSION);
  const program = task.compiled.program;
  writeProgramFile(opts.out, program);
  const device = new EmulatorDevice();
  const info = await device.open();
  await device.load(program);
  const r = await trainRegression(task, device);
  const emulatorWeights = await device.readWeights('w');
  await device.close();
  const board = await onBoard(task, emulatorWeights, r.finalDigest);
  const wall = (performance.now() - t0) / 1000;
  const c = task.config;
  const json = {
    program: opts.out,
    programHash: program.hash,
    device: info.firmwareVersion,
    network: `${c.inputs} graded inputs → ${c.outputs} nudged output neurons (basal + soma), Urbanczik–Senn rule on-chip`,
    rule: program.body.projections[0].plasticity!.source,
    epochs: c.epochs,
    patterns: c.patterns,
    ticks: r.ticks,
    rmseBefore: r.rmseBefore,
    rmseAfter: r.rmseAfter,
    angleToTeacherBefore: r.angleBefore,
    angleToTeacherAfter: r.angleAfter,
    cyclesCriticalPath: r.cyclesCriticalPath,
    realTimeFactor: r.realTimeFactor,
    finalDigest: r.finalDigest.toString(16).padStart(8, '0'),
    board,
    wallSeconds: wall,
  };
  const text = [
    `apical demo — on-chip learning on the bit-exact emulator`,
    `network: ${json.network}`,
    `rule:    ${json.rule}`,
    `program: ${opts.out} (sha256 ${program.hash.slice(0, 16)}…)`,
    `trained ${c.epochs} epochs × ${c.patterns} patterns × ${c.ticksPerPattern} ticks = ${r.ticks} ticks`,
    `free-running output error (RMSE vs teacher): ${r.rmseBefore.toFixed(4)} → ${r.rmseAfter.toFixed(4)}`,
    `angle between learned and teacher weights:   ${r.angleBefore.toFixed(1)}° → ${r.angleAfter.toFixed(1)}°`,
    `chip cost: ${r.cyclesCriticalPath} cycles on the critical path, real-time factor ${r.realTimeFactor.toFixed(1)} at 100 MHz`,
    `final state digest ${json.finalDigest}`,
    board.ran
      ? `virtual board (${board.firmware}, ${board.port}): same training over the serial link in ${board.seconds.toFixed(2)} s — ` +
        (board.bitExact ? 'weights and final digest identical to the emulator (bit-exact)' : `DIFFERENT from the emulator: ${board.detail}`)
      : `virtual board: not run (${board.detail})`,
    `wall time ${wall.toFixed(2)} s`,
  ].join('\n');
  return { json, text };
}

interface BoardLeg {
  ran: boolean;
  bitExact: boolean | null;
  port: string | null;
  firmware: string | null;
  seconds: number;
  detail: string;
}

/** Repeats the training on the virtual board (firmware-bridge/apx_board on a pty) and compares. */
async function onBoard(task: ReturnType<typeof buildRegression>, emulatorWeights: Int8Array | Int16Array, emulatorDigest: number): Promise<BoardLeg> {
  const t0 = performance.now();
  let board;
  try {
    board = await startHostBoard();
  } catch (e) {
    if (e instanceof ApicalError) return { ran: false, bitExact: null, port: null, firmware: null, seconds: 0, detail: e.message };
    throw e;
  }
  const device = new SerialDevice(board.path);
  try {
    const info = await device.open();
    await device.load(task.compiled.program);
    await device.reset();
    const r = await trainRegression(task, device);
    const w = await device.readWeights('w');
    const sameWeights = w.length === emulatorWeights.length && w.every((x, i) => x === emulatorWeights[i]);
    const bitExact = sameWeights && r.finalDigest === emulatorDigest;
    return {
      ran: true,
      bitExact,
      port: board.path,
      firmware: info.firmwareVersion,
      seconds: (performance.now() - t0) / 1000,
      detail: bitExact ? '' : `${sameWeights ? 'weights equal' : 'weights differ'}, digest ${r.finalDigest.toString(16)} vs ${emulatorDigest.toString(16)}`,
    };
  } finally {
    await device.close();
    await board.stop();
  }
}

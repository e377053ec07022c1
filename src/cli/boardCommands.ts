/**
 * Board commands of the `apical` CLI: `devices` (list serial ports), `board` (serve a virtual board on a pseudo
 * terminal) and `deploy` (load a Program on a board behind a serial line, run it, read back the plastic
 * weights, optionally verify bit-exactness against the emulator in lockstep). Wired into the CLI by
 * `registerBoardCommands(program)`; errors follow main.ts's policy (ApicalError → one line, exit 2).
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { SerialPort } from 'serialport';
import { CHIP_CORES } from '../emulator/constants.js';
import { ApicalError } from '../emulator/errors.js';
import { ProbeVariable, type Program } from '../emulator/program.js';
import { readProgramFile } from '../emulator/programCodec.js';
import type { Device, StimulusEvent } from '../devices/device.js';
import { EmulatorDevice } from '../devices/emulatorDevice.js';
import { buildHostBoard, HostBoardError, startHostBoard } from '../devices/hostBoard.js';
import type { RunRecord } from '../devices/runRecord.js';
import { SerialDevice } from '../devices/serialDevice.js';

class BoardCliError extends ApicalError {
  override name = 'BoardCliError';
}

function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${v}" is not a non-negative integer`);
  return n;
}

function print(json: boolean, obj: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(obj, null, 2)}\n` : `${text()}\n`);
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

/** Same format and checks as `apical run --stimulus` (docs/program-format.md "Stimulus files"). */
function readStimulus(path: string): StimulusEvent[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new BoardCliError(`cannot read stimulus ${path}: ${firstLine(e)}`, 'give a JSON array of {tick, port, values}');
  }
  if (!Array.isArray(data) || !data.every((e) => e && Number.isInteger(e.tick) && typeof e.port === 'string' && (e.values === null || Array.isArray(e.values)))) {
    throw new BoardCliError(`stimulus ${path} is not a JSON array of {tick, port, values}`, 'see "Stimulus files" in docs/program-format.md');
  }
  return data as StimulusEvent[];
}

// ---------------------------------------------------------------------------------------------------------
// Lockstep verification (exported for tests)

export interface Divergence {
  /** Tick of the run (0-based: the tick-th step after the run started) whose per-core digest first differs. */
  tick: number;
  core: number;
  /** `group.variable` (e.g. `exc.soma`), `weights:<projection>`, or `digest` when no readable variable differs. */
  variable: string;
}

export interface LockstepResult {
  ticks: number;
  bitExact: boolean;
  firstDivergence: Divergence | null;
  /** The last RunRecord of the board (cumulative spike count over all chunks in `spikeCount`). */
  board: RunRecord | null;
  boardSpikes: number;
}

/** Stimulus events of [start, start+len), re-based to the chunk's start. */
function stimulusSlice(stimulus: StimulusEvent[], start: number, len: number): StimulusEvent[] {
  return stimulus.filter((e) => e.tick >= start && e.tick < start + len).map((e) => ({ ...e, tick: e.tick - start }));
}

/** Events before `start` are applied at the first tick of a run (as the devices do); keep them in chunk 0. */
function normaliseStimulus(stimulus: StimulusEvent[]): StimulusEvent[] {
  return [...stimulus].map((e) => ({ ...e, tick: Math.max(0, e.tick) })).sort((a, b) => a.tick - b.tick);
}

const STATE_VARIABLES: [ProbeVariable, string][] = [
  [ProbeVariable.Soma, 'soma'],
  [ProbeVariable.Prospective, 'prospective'],
  [ProbeVariable.Rate, 'rate'],
  [ProbeVariable.Basal, 'basal'],
  [ProbeVariable.Apical, 'apical'],
  [ProbeVariable.Noise, 'noise'],
  [ProbeVariable.Payload, 'payload'],
  [ProbeVariable.Spikes, 'spikes'],
];

function coresOfGroup(program: Program, g: number): number[] {
  return program.body.groups[g].slices.map((s) => s.core);
}

function sameArray(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Names the state behind a digest divergence at (tick, core): resets both devices, runs both tick+1 ticks with
 * the same stimulus, then compares READ_STATE of every group slice on that core, variable by variable, and the
 * weights of projections into that core. Returns `digest` when none of them differs (digest-only state such as
 * delay rings or traces) or a variable cannot be read.
 */
export async function nameDivergence(board: Device, emu: Device, program: Program, stimulus: StimulusEvent[], tick: number, core: number): Promise<string> {
  await board.reset();
  await emu.reset();
  const stim = stimulusSlice(stimulus, 0, tick + 1);
  await board.run({ ticks: tick + 1, stimulus: stim, digests: false });
  await emu.run({ ticks: tick + 1, stimulus: stim, digests: false, spikes: false, probes: false });
  const groups = program.body.groups;
  for (let g = 0; g < groups.length; g++) {
    const slices = groups[g].slices.filter((s) => s.core === core);
    if (!slices.length) continue;
    for (const [variable, label] of STATE_VARIABLES) {
      let a: Int32Array;
      let b: Int32Array;
      try {
        a = await board.readState(groups[g].name, variable);
        b = await emu.readState(groups[g].name, variable);
      } catch {
        continue;
      }
      for (const s of slices) {
        if (!sameArray(a.subarray(s.start, s.start + s.count), b.subarray(s.start, s.start + s.count))) return `${groups[g].name}.${label}`;
      }
    }
  }
  for (const p of program.body.projections) {
    if (!p.plasticity || !coresOfGroup(program, p.post).includes(core)) continue;
    if (!sameArray(await board.readWeights(p.name), await emu.readWeights(p.name))) return `weights:${p.name}`;
  }
  return 'digest';
}

/**
 * Runs `board` and `emu` (both loaded with `program`, at the same state) in lockstep chunks of `chunk` ticks
 * with the same stimulus, comparing every per-tick per-core digest and the plastic weights after every chunk;
 * stops at the first divergence and names it (nameDivergence, which resets both devices).
 */
export async function lockstepVerify(board: Device, emu: Device, program: Program, ticks: number, stimulus: StimulusEvent[], chunk = 250): Promise<LockstepResult> {
  const stim = normaliseStimulus(stimulus);
  let last: RunRecord | null = null;
  let spikes = 0;
  for (let start = 0; start < ticks || (ticks === 0 && start === 0); start += chunk) {
    const len = Math.min(chunk, ticks - start);
    const part = stimulusSlice(stim, start, len);
    const b = await board.run({ ticks: len, stimulus: part });
    const e = await emu.run({ ticks: len, stimulus: part, spikes: false, probes: false });
    last = b;
    spikes += b.spikeCount;
    for (let k = 0; k < len; k++) {
      for (let c = 0; c < CHIP_CORES; c++) {
        if (b.digests[k * CHIP_CORES + c] !== e.digests[k * CHIP_CORES + c]) {
          const tick = start + k;
          const variable = await nameDivergence(board, emu, program, stim, tick, c);
          return { ticks: start + len, bitExact: false, firstDivergence: { tick, core: c, variable }, board: last, boardSpikes: spikes };
        }
      }
    }
    for (const w of b.weights) {
      const ew = e.weights.find((x) => x.projection === w.projection);
      if (!ew || !sameArray(w.values, ew.values)) {
        const proj = program.body.projections.find((p) => p.name === w.projection);
        const core = proj ? coresOfGroup(program, proj.post)[0] ?? 0 : 0;
        return { ticks: start + len, bitExact: false, firstDivergence: { tick: Math.max(0, start + len - 1), core, variable: `weights:${w.projection}` }, board: last, boardSpikes: spikes };
      }
    }
    if (ticks === 0) break;
  }
  return { ticks, bitExact: true, firstDivergence: null, board: last, boardSpikes: spikes };
}

// ---------------------------------------------------------------------------------------------------------
// Commands

interface PortRow {
  path: string;
  manufacturer: string | null;
  serialNumber: string | null;
  vendorId: string | null;
  productId: string | null;
}

async function devicesCommand(o: { json?: boolean }): Promise<void> {
  let rows: PortRow[];
  try {
    const ports = await SerialPort.list();
    rows = ports.map((p) => ({ path: p.path, manufacturer: p.manufacturer ?? null, serialNumber: p.serialNumber ?? null, vendorId: p.vendorId ?? null, productId: p.productId ?? null }));
  } catch (e) {
    // The OS gives no list (e.g. Linux without udevadm): say so; in JSON, an empty array plus one line on stderr.
    const why = `the operating system gives no list of serial ports (${firstLine(e)}); give the port path directly with --port`;
    if (o.json) {
      process.stdout.write('[]\n');
      process.stderr.write(`apical: ${why}\n`);
    } else process.stdout.write(`${why}\n`);
    return;
  }
  print(!!o.json, rows, () =>
    rows.length
      ? rows.map((r) => `${r.path}  ${r.manufacturer ?? '-'}  serial ${r.serialNumber ?? '-'}  ${r.vendorId ?? '----'}:${r.productId ?? '----'}`).join('\n')
      : 'no serial ports found',
  );
}

async function boardCommand(o: { json?: boolean }): Promise<void> {
  buildHostBoard(); // incremental make: rebuilds apx_board when its sources changed
  const board = await startHostBoard();
  let stopping = false;
  const pid = board.process.pid ?? null;
  // Signal handlers first, then the path: whoever reads the first line may stop the board right away.
  const served = new Promise<void>((resolve, reject) => {
    const onSignal = (): void => {
      if (stopping) return;
      stopping = true;
      board.stop().then(resolve, reject);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    board.process.once('exit', (code, signal) => {
      // Ctrl-C on a terminal reaches the board (same process group) too: that is a normal stop.
      if (stopping || signal === 'SIGINT' || signal === 'SIGTERM') {
        stopping = true;
        resolve();
      } else reject(new HostBoardError(`the virtual board exited on its own (${signal ? `signal ${signal}` : `status ${code}`})`, 'see its messages above'));
    });
  });
  // First line of stdout: the pty path (or, with --json, one compact JSON line that carries it).
  process.stdout.write(o.json ? `${JSON.stringify({ port: board.path, pid })}\n` : `${board.path}\n`);
  if (!o.json) process.stdout.write(`virtual board (apx_board pid ${pid}) serving on ${board.path}; Ctrl-C stops it\n`);
  await served;
}

interface DeployOptions {
  port: string;
  ticks: number;
  stimulus?: string;
  verify?: boolean;
  json?: boolean;
  timeout: number;
}

async function deployCommand(file: string, o: DeployOptions): Promise<void> {
  const program = readProgramFile(file);
  const stimulus = o.stimulus ? readStimulus(o.stimulus) : [];
  for (const ev of stimulus) {
    if (!program.body.inputs.some((p) => p.name === ev.port)) throw new BoardCliError(`stimulus names input port "${ev.port}", ${file} has ${program.body.inputs.map((p) => `"${p.name}"`).join(', ') || 'none'}`, 'fix the stimulus file');
  }
  const dev = new SerialDevice(o.port, { responseTimeoutMs: o.timeout });
  let emu: EmulatorDevice | null = null;
  try {
    const info = await dev.open();
    const before = { ...dev.stats! };
    const t0 = performance.now();
    const { alreadyLoaded } = await dev.load(program);
    const seconds = (performance.now() - t0) / 1000;
    const payload = dev.stats!.payloadBytesOut - before.payloadBytesOut;
    const wire = dev.stats!.wireBytesOut - before.wireBytesOut;
    // A deploy always runs from the state right after load, also when the board already had the program.
    if (alreadyLoaded) await dev.reset();
    let result: LockstepResult;
    if (o.verify) {
      emu = new EmulatorDevice();
      await emu.open();
      await emu.load(program);
      result = await lockstepVerify(dev, emu, program, o.ticks, stimulus);
    } else {
      const rec = await dev.run({ ticks: o.ticks, stimulus });
      result = { ticks: o.ticks, bitExact: false, firstDivergence: null, board: rec, boardSpikes: rec.spikeCount };
    }
    const weights = result.board?.weights ?? [];
    const out = {
      port: o.port,
      firmwareVersion: info.firmwareVersion,
      programHash: program.hash,
      alreadyLoaded,
      ticks: result.ticks,
      // Without --verify nothing was compared: null.
      bitExact: o.verify ? result.bitExact : null,
      firstDivergence: o.verify ? result.firstDivergence : null,
      // Nothing is uploaded when the board already has the program: null.
      uploadBytesPerSec: alreadyLoaded || seconds <= 0 ? null : payload / seconds,
      protocolEfficiency: alreadyLoaded || wire === 0 ? null : payload / wire,
    };
    print(!!o.json, out, () =>
      [
        `board ${o.port}: firmware ${info.firmwareVersion}, chip revision ${info.chipRevision}, ${info.cores} cores`,
        alreadyLoaded
          ? `program ${program.hash.slice(0, 12)} (${program.body.name}) was already loaded`
          : `loaded ${program.body.name} (${program.hash.slice(0, 12)}): ${payload} bytes at ${((out.uploadBytesPerSec ?? 0) / 1e3).toFixed(1)} kB/s, ${(100 * (out.protocolEfficiency ?? 0)).toFixed(1)} % payload/wire`,
        `ran ${result.ticks} ticks, ${result.boardSpikes} spikes`,
        ...weights.map((w) => `  weights ${w.projection}: ${w.values.length} values`),
        o.verify
          ? result.bitExact
            ? `verify: bit-exact with the emulator (per-tick per-core digests and final weights)`
            : `verify: DIVERGES at tick ${result.firstDivergence!.tick}, core ${result.firstDivergence!.core}, ${result.firstDivergence!.variable}`
          : '',
      ]
        .filter(Boolean)
        .join('\n'),
    );
    if (o.verify && !result.bitExact) process.exitCode = 1;
  } finally {
    await emu?.close();
    await dev.close();
  }
}

/** Adds `devices`, `board` and `deploy` to the `apical` program. */
export function registerBoardCommands(program: Command): void {
  program
    .command('devices')
    .description('list the serial ports this machine has (path, manufacturer, serial number, USB ids)')
    .option('--json', 'machine-readable output (a JSON array)')
    .action((o: { json?: boolean }) => devicesCommand(o));

  program
    .command('board')
    .description('serve a virtual board (firmware-bridge, built with make when needed) on a pseudo terminal until Ctrl-C; first line of output: its path')
    .option('--json', 'first line is {"port", "pid"} as one JSON line')
    .action((o: { json?: boolean }) => boardCommand(o));

  program
    .command('deploy')
    .description('load a Program on a board, run it and read back the plastic weights (--verify: bit-exact check against the emulator)')
    .argument('<file>', '.apx Program')
    .requiredOption('--port <path>', 'serial port of the board (see apical devices, apical board)')
    .option('--ticks <n>', 'ticks to run', nonNegativeInt, 0)
    .option('--stimulus <file>', 'JSON array of {tick, port, values} host writes')
    .option('--verify', 'run the emulator in lockstep and compare every per-tick per-core digest and the final weights')
    .option('--timeout <ms>', 'how long to wait for one board response', nonNegativeInt, 10_000)
    .option('--json', 'machine-readable output')
    .action((file: string, o: DeployOptions) => deployCommand(file, o));
}

/**
 * `apical devices`, `apical board`, `apical deploy` end to end: a real virtual board (firmware-bridge apx_board
 * on a pseudo terminal, built with make), the real `serialport` package, the compiled CLI (dist/, built by
 * `npm test`), spawned as `node bin/apical.js`. Nothing is skipped: without
 * make or a C compiler the tests fail saying so.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockstepVerify } from '../src/cli/boardCommands.js';
import type { Device, RunRequest } from '../src/devices/device.js';
import { EmulatorDevice } from '../src/devices/emulatorDevice.js';
import { startHostBoard } from '../src/devices/hostBoard.js';
import { encodeProgram, readProgramFile } from '../src/emulator/programCodec.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = join(root, 'bin', 'apical.js');
const VEC = join(root, 'test', 'vectors', 'lif-cuba-small');
const PROGRAM = join(VEC, 'program.apx');
const STIMULUS = join(VEC, 'stimulus.json');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function toolProblem(): string | null {
  for (const [tool, args] of [['make', ['--version']], ['cc', ['--version']]] as const) {
    const r = spawnSync(tool, [...args], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return `the virtual board needs ${tool} (${r.error?.message ?? `status ${r.status}`}): install gcc and make (apt-get install -y build-essential)`;
  }
  const js = join(root, 'dist', 'src', 'cli', 'boardCommands.js');
  const ts = join(root, 'src', 'cli', 'boardCommands.ts');
  if (!existsSync(js) || statSync(js).mtimeMs < statSync(ts).mtimeMs) return 'dist/src/cli/boardCommands.js is missing or older than src/: run `npm test` (it builds dist/ first) or `npm run build`';
  return null;
}

function apical(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [entry, ...args], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

function expectUserError(r: Result, ...patterns: RegExp[]): void {
  expect(r.code, `exit code (stderr: ${r.stderr})`).toBe(2);
  expect(r.stderr).toMatch(/^apical: [^\n]+\n$/);
  expect(r.stderr).not.toContain('    at ');
  expect(r.stdout).toBe('');
  for (const p of patterns) expect(r.stderr).toMatch(p);
}

/** Starts `apical board`; resolves with the child and its first stdout line. */
function startBoardCli(): Promise<{ child: ChildProcess; firstLine: string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [entry, 'board'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`apical board printed no line within 15 s (stderr: ${err})`)), 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve({ child, firstLine: buf.slice(0, nl), exited });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`apical board exited (status ${code}) before printing its path: ${err}`));
    });
  });
}

describe('apical board / deploy / devices (virtual board, real serialport)', () => {
  let board: { child: ChildProcess; firstLine: string; exited: Promise<number | null> } | null = null;
  let dir = '';

  beforeAll(async () => {
    const problem = toolProblem();
    if (problem) throw new Error(problem);
    dir = mkdtempSync(join(tmpdir(), 'apical-cliboard-'));
    board = await startBoardCli();
  }, 60_000);

  afterAll(async () => {
    if (board && board.child.exitCode === null) {
      board.child.kill('SIGTERM');
      await board.exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('apical board prints a /dev/pts path on its first line', () => {
    expect(board!.firstLine).toMatch(/^\/dev\/pts\/\d+$/);
  });

  it('deploy --verify: bit-exact with the emulator over 1000 ticks, upload efficiency ≥ 0.9; again: alreadyLoaded', async () => {
    const args = ['deploy', PROGRAM, '--port', board!.firstLine, '--ticks', '1000', '--stimulus', STIMULUS, '--verify', '--json'];
    const r = await apical(...args);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(out).sort()).toEqual(['alreadyLoaded', 'bitExact', 'firmwareVersion', 'firstDivergence', 'port', 'programHash', 'protocolEfficiency', 'ticks', 'uploadBytesPerSec'].sort());
    expect(out).toMatchObject({ port: board!.firstLine, programHash: readProgramFile(PROGRAM).hash, alreadyLoaded: false, ticks: 1000, bitExact: true, firstDivergence: null });
    expect(out.firmwareVersion).toMatch(/apx_board/);
    expect(out.protocolEfficiency as number).toBeGreaterThanOrEqual(0.9);
    expect(out.protocolEfficiency as number).toBeLessThanOrEqual(1);
    expect(out.uploadBytesPerSec as number).toBeGreaterThan(0);
    console.log(`upload ${((out.uploadBytesPerSec as number) / 1e3).toFixed(0)} kB/s payload, efficiency ${(100 * (out.protocolEfficiency as number)).toFixed(2)} %`);

    const again = await apical(...args);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ alreadyLoaded: true, ticks: 1000, bitExact: true, firstDivergence: null, uploadBytesPerSec: null, protocolEfficiency: null });
  }, 30_000);

  it('a port that does not exist: exit 2, one line', async () => {
    expectUserError(await apical('deploy', PROGRAM, '--port', '/dev/no-such-port-apical', '--ticks', '1'), /cannot open \/dev\/no-such-port-apical/);
  });

  it('a path that is no serial line (/dev/null): exit 2, one line', async () => {
    expectUserError(await apical('deploy', PROGRAM, '--port', '/dev/null', '--ticks', '1'), /cannot open \/dev\/null/);
  });

  it('a board that does not answer (stopped process behind its pty): exit 2, one line', async () => {
    const mute = await startHostBoard();
    try {
      mute.process.kill('SIGSTOP');
      expectUserError(await apical('deploy', PROGRAM, '--port', mute.path, '--ticks', '1', '--timeout', '3000'), /no (acknowledgement|response)/);
    } finally {
      mute.process.kill('SIGCONT');
      await mute.stop();
    }
  }, 20_000);

  it('a program for another chip revision: exit 2, one line', async () => {
    const p = readProgramFile(PROGRAM);
    p.chipRevision = 2;
    const file = join(dir, 'rev2.apx');
    writeFileSync(file, encodeProgram(p, { validate: false }));
    expectUserError(await apical('deploy', file, '--port', board!.firstLine, '--ticks', '1'), /revision 2/);
  });

  it('a board of another chip revision: exit 2, one line (HELLO check)', async () => {
    const other = await startHostBoard({ args: ['--advertise-revision', '2'] });
    try {
      expectUserError(await apical('deploy', PROGRAM, '--port', other.path, '--ticks', '1'), /chip revision 2/);
    } finally {
      await other.stop();
    }
  });

  it('apical devices --json: exit 0 with a JSON array', async () => {
    const r = await apical('devices', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
    const text = await apical('devices');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^(no serial ports found|the operating system gives no list of serial ports.*|\/\S+ .*)\n/);
  });

  it('apical board stops cleanly on SIGTERM (exit 0, apx_board gone)', async () => {
    const b = await startBoardCli();
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    const stillThere = await apical('deploy', PROGRAM, '--port', b.firstLine, '--ticks', '1');
    expect(stillThere.code).toBe(2);
  }, 20_000);
});

describe('lockstepVerify (in process)', () => {
  /** An emulator whose stimulus at run tick `at` is changed: it diverges from a faithful emulator there. */
  class SkewedDevice extends EmulatorDevice {
    constructor(private readonly at: number) {
      super();
    }
    override run(req: RunRequest): ReturnType<Device['run']> {
      const stimulus = (req.stimulus ?? []).map((e) => (e.tick === this.at && e.values ? { ...e, values: e.values.map((v) => v + 1000) } : e));
      return super.run({ ...req, stimulus });
    }
  }

  it('names the first diverging tick, core and variable', async () => {
    const program = readProgramFile(PROGRAM);
    const stimulus = [
      { tick: 0, port: 'drive', values: Array.from({ length: program.body.groups.find((g) => g.name === 'drive')?.size ?? 20 }, () => 30_000) },
      { tick: 10, port: 'drive', values: Array.from({ length: program.body.groups.find((g) => g.name === 'drive')?.size ?? 20 }, () => 60_000) },
    ];
    const board = new SkewedDevice(10);
    const emu = new EmulatorDevice();
    for (const d of [board, emu]) await d.load(program);
    const r = await lockstepVerify(board, emu, program, 40, stimulus, 16);
    expect(r.bitExact).toBe(false);
    expect(r.firstDivergence).not.toBeNull();
    expect(r.firstDivergence!.tick).toBe(10);
    expect(r.firstDivergence!.variable).toMatch(/^(\w+\.\w+|weights:\w+|digest)$/);
    console.log('divergence', r.firstDivergence);

    const same = await lockstepVerify(new EmulatorDevice(), new EmulatorDevice(), program, 0, []).catch((e: Error) => e);
    expect(same).toBeInstanceOf(Error); // not loaded: the devices refuse to run
  });
});

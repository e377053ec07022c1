/**
 * A virtual board on this machine: spawns firmware-bridge/build/apx_board (building it with
 * `make -C firmware-bridge host` when it is missing), reads the pseudo-terminal path it prints first and
 * returns it with stop(). Needs a C compiler and make.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApicalError } from '../emulator/errors.js';

export class HostBoardError extends ApicalError {
  override name = 'HostBoardError';
}

export interface HostBoard {
  path: string;
  process: ChildProcess;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a board that dies), then waits for the exit. */
  kill(): Promise<void>;
}

function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'firmware-bridge'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new HostBoardError('cannot find the apical project root (firmware-bridge/)');
    dir = up;
  }
}

/** Path of apx_board, built when missing (throws HostBoardError naming what is missing). */
export function ensureHostBoardBinary(): string {
  const bin = join(projectRoot(), 'firmware-bridge', 'build', 'apx_board');
  return existsSync(bin) ? bin : buildHostBoard();
}

/** Runs `make -C firmware-bridge host` (incremental) and returns the path of apx_board. */
export function buildHostBoard(): string {
  const fw = join(projectRoot(), 'firmware-bridge');
  const bin = join(fw, 'build', 'apx_board');
  const r = spawnSync('make', ['-C', fw, 'host'], { encoding: 'utf8' });
  if (r.error) throw new HostBoardError(`cannot run make (${r.error.message}): the virtual board needs a C compiler and make`, 'install gcc and make (apt-get install -y build-essential)');
  if (r.status !== 0 || !existsSync(bin)) {
    throw new HostBoardError(`make -C firmware-bridge host failed (the virtual board needs a C compiler and make): ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ')}`, 'install gcc and make (apt-get install -y build-essential)');
  }
  return bin;
}

/** Starts a virtual board; `args` are apx_board options (e.g. ['--advertise-revision', '2'] for fault injection). */
export async function startHostBoard(options: { timeoutMs?: number; args?: string[] } = {}): Promise<HostBoard> {
  const bin = ensureHostBoardBinary();
  const child = spawn(bin, options.args ?? [], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const path = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new HostBoardError(`apx_board printed no pty path within ${options.timeoutMs ?? 5000} ms`)), options.timeoutMs ?? 5000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(buf.slice(0, nl).trim());
      }
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new HostBoardError(`cannot start ${bin}: ${e.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new HostBoardError(`apx_board exited (status ${code}) before printing its pty path`));
    });
  });
  const end = async (sig: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return { path, process: child, stop: () => end('SIGTERM'), kill: () => end('SIGKILL') };
}

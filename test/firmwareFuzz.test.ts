/**
 * CI smoke run of the firmware fuzz harnesses (firmware-bridge/fuzz/): `make -C firmware-bridge fuzz-smoke` builds
 * fuzz_loader (apx_load on mutated, re-hashed golden programs) and fuzz_board (apx_board's SLIP decoder, session
 * and command dispatcher on generated host byte streams) with -fsanitize=address,undefined and runs a fixed-seed,
 * deterministic batch of each. Needs gcc and make with the sanitizer runtimes (libasan, libubsan: part of gcc on
 * Debian/Ubuntu). A finding aborts the harness (non-zero exit) after saving a reproducer under fuzz/crashes/.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const FW = join(import.meta.dirname, '..', 'firmware-bridge');

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out, err }));
  });
}

describe('firmware fuzz smoke (make -C firmware-bridge fuzz-smoke)', () => {
  it('fuzz_loader and fuzz_board run their fixed-seed batches under ASan+UBSan with 0 crashes', async () => {
    const r = await run('make', ['-C', FW, 'fuzz-smoke']);
    const summary = (r.out + r.err)
      .split('\n')
      .filter((l) => /^fuzz(_\w+)?:/.test(l))
      .join('\n');
    console.log(summary);
    expect(r.code, `make fuzz-smoke failed:\n${(r.out + r.err).split('\n').slice(-40).join('\n')}`).toBe(0);
    const finals = [...r.out.matchAll(/^fuzz: (\d+) inputs, (\d+) crashes \((fuzz_\w+),/gm)].map((m) => ({ inputs: Number(m[1]), crashes: Number(m[2]), harness: m[3] }));
    expect(finals).toEqual([
      { inputs: 100000, crashes: 0, harness: 'fuzz_loader' },
      { inputs: 20000, crashes: 0, harness: 'fuzz_board' },
    ]);
    // the loader inputs reach past the SHA-256 check: some load, some fail validation (not only format errors)
    const hist = /status histogram \(\|status\|: count\):(.*)/.exec(r.err)?.[1] ?? '';
    const counts = Object.fromEntries([...hist.matchAll(/(\d+):(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]));
    expect(counts[0], 'programs that loaded').toBeGreaterThan(1000);
    expect(counts[5], 'programs rejected by validation').toBeGreaterThan(100);
  }, 180_000);
});

/**
 * The C firmware core (firmware-bridge/) runs every golden vector bit for bit: `make -C firmware-bridge test`
 * builds it with -O2 and with -fsanitize=address,undefined and runs test/vectors with both builds.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VECTOR_DEFINITIONS, projectRoot } from '../test-support/vectorDefinitions.js';

describe('firmware-bridge chip core', () => {
  it('passes every golden vector, optimised and under the sanitizers', () => {
    const r = spawnSync('make', ['-C', join(projectRoot(), 'firmware-bridge'), 'test'], { encoding: 'utf8' });
    if (r.error) throw new Error(`cannot run make (${r.error.message}): install gcc and make (apt-get install -y build-essential)`);
    const out = `${r.stdout}\n${r.stderr}`;
    const summaries = out.split('\n').filter((l) => /^\d+ passed, \d+ failed$/.test(l));
    expect(summaries, out.slice(-2000)).toEqual([`${VECTOR_DEFINITIONS.length} passed, 0 failed`, `${VECTOR_DEFINITIONS.length} passed, 0 failed`]);
    expect(r.status, out.slice(-2000)).toBe(0);
  }, 180_000);
});

/**
 * Runs the real `apical` CLI (`node bin/apical.js ...`) for the end-to-end tests, after checking that dist/ is
 * this source tree (the CLI imports dist/).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin', 'apical.js');

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/apical.js ...args` in the repository root; stdout and stderr are pipes (not TTYs). */
export function apical(...args: string[]): Promise<Result> {
  return apicalWithin(20_000, ...args);
}

/** As apical(), with a time limit for long commands (training, the demo). */
export function apicalWithin(timeout: number, ...args: string[]): Promise<Result> {
  const problem = distProblem();
  if (problem) return Promise.reject(new Error(problem));
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, timeout }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Exit code 2, nothing on stdout, and stderr exactly one line `apical: ...` without a stack trace. */
export function expectUserError(r: Result, ...patterns: RegExp[]): void {
  expect(r.code, `exit code (stderr: ${r.stderr})`).toBe(2);
  expect(r.stderr).toMatch(/^apical: [^\n]+\n$/);
  expect(r.stderr).not.toContain('    at ');
  expect(r.stdout).toBe('');
  for (const p of patterns) expect(r.stderr).toMatch(p);
}

export function json(r: Result): Record<string, unknown> {
  expect(r.code, `exit code (stderr: ${r.stderr})`).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/**
 * The TypeScript files the CLI runs (src/cli/main.ts and everything it imports, statically or dynamically,
 * through relative './x.js' specifiers) that are newer than their compiled dist/ file or have none.
 */
function staleDist(): string[] {
  const stale: string[] = [];
  const seen = new Set<string>();
  const visit = (ts: string) => {
    if (seen.has(ts) || !existsSync(ts)) return;
    seen.add(ts);
    const out = join(root, 'dist', relative(root, ts).replace(/\.ts$/, '.js'));
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(ts).mtimeMs) stale.push(relative(root, ts));
    const src = readFileSync(ts, 'utf8');
    for (const m of src.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)) visit(join(dirname(ts), `${m[1]}.ts`));
  };
  visit(join(root, 'src', 'cli', 'main.ts'));
  return stale;
}

let distChecked: string | null | undefined;
/** Why the CLI under test would not be this source tree (dist/ missing, or older than a file the CLI runs), or null. Checked once. */
function distProblem(): string | null {
  if (distChecked === undefined) {
    const build = 'run `npm test` (it builds with tsc first) or `npm run build`';
    if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) {
      distChecked = `dist/src/cli/main.js is missing: the CLI tests run bin/apical.js, which imports dist/; ${build}`;
    } else {
      const stale = staleDist();
      distChecked = stale.length ? `dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ` and ${stale.length - 3} more` : ''}; ${build}` : null;
    }
  }
  return distChecked;
}


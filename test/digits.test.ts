/**
 * The digits data set (data/digits.csv.gz, src/models/data/digits.ts): parsing, scaling, the fixed seeded
 * 1437/360 split, and one-line errors for bad files.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DatasetError, digitsSplit, loadDigits, oneHot, parseDigitsCsv } from '../src/models/data/digits.js';
import { ApicalError } from '../src/emulator/errors.js';

describe('digits data set', () => {
  it('loads 1797 samples of 64 pixels in [0, 1] with labels 0..9, about 180 per class', () => {
    const d = loadDigits();
    expect(d.x.length).toBe(1797);
    expect(d.y.length).toBe(1797);
    let bad = 0;
    for (const x of d.x) {
      expect(x.length).toBe(64);
      for (const v of x) if (!(v >= 0 && v <= 1 && Number.isInteger(v * 16))) bad++;
    }
    expect(bad).toBe(0);
    const counts = new Array(10).fill(0);
    for (const y of d.y) counts[y]++;
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(170);
    expect(Math.max(...counts)).toBeLessThanOrEqual(190);
    // First line of the file: a 0.
    expect(d.y[0]).toBe(0);
    expect(Array.from(d.x[0].slice(0, 8), (v) => v * 16)).toEqual([0, 0, 5, 13, 9, 1, 0, 0]);
  });

  it('split: 1437 train / 360 test, disjoint, covering the file, deterministic for seed 0, different for seed 1', () => {
    const a = digitsSplit();
    const b = digitsSplit({ seed: 0 });
    expect(a.seed).toBe(0);
    expect(a.train.x.length).toBe(1437);
    expect(a.test.x.length).toBe(360);
    expect(a.trainIndices).toEqual(b.trainIndices);
    expect(a.testIndices).toEqual(b.testIndices);
    const all = new Set([...a.trainIndices, ...a.testIndices]);
    expect(all.size).toBe(1797);
    // Pinned: the first test indices of the documented split (SeededRandom(0).shuffle of 0..1796).
    expect(a.testIndices.slice(0, 5)).toEqual([1368, 1417, 1337, 892, 80]);
    const c = digitsSplit({ seed: 1 });
    expect(c.testIndices).not.toEqual(a.testIndices);
    // Every class is in the test set.
    expect(new Set(a.test.y).size).toBe(10);
  });

  it('one-hot targets', () => {
    expect(Array.from(oneHot(3))).toEqual([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('bad files are one-line DatasetErrors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'apical-digits-'));
    const notGz = join(dir, 'a.csv.gz');
    writeFileSync(notGz, 'hello');
    const expectOneLine = (f: () => unknown, re: RegExp) => {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DatasetError);
      expect(err).toBeInstanceOf(ApicalError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    };
    // Plain text is read as CSV (the file may be gzipped or not); a gzip header with a broken stream is named as such.
    expectOneLine(() => loadDigits(notGz), /line 1: 1 fields, expected 65/);
    const brokenGz = join(dir, 'c.csv.gz');
    writeFileSync(brokenGz, gzipSync('1,2,3\n').subarray(0, 12));
    expectOneLine(() => loadDigits(brokenGz), /is not a valid gzip file/);
    expectOneLine(() => loadDigits(join(dir, 'missing.csv.gz')), /cannot read .*ENOENT/);
    const short = join(dir, 'b.csv.gz');
    writeFileSync(short, gzipSync('1,2,3\n'));
    expectOneLine(() => loadDigits(short), /line 1: 3 fields, expected 65/);
    const row = new Array(64).fill('0');
    expectOneLine(() => parseDigitsCsv([...row, '10'].join(',')), /field 65: "10" is not an integer in 0..9/);
    row[5] = '17';
    expectOneLine(() => parseDigitsCsv([...row, '1'].join(',')), /field 6: "17" is not an integer in 0..16/);
    row[5] = 'x';
    expectOneLine(() => parseDigitsCsv([...row, '1'].join(',')), /field 6: "x"/);
    expectOneLine(() => parseDigitsCsv(''), /no samples/);
  });
});

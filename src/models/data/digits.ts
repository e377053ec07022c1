/**
 * The 8×8 handwritten digits data set (data/digits.csv.gz, UCI "Optical Recognition of Handwritten Digits",
 * E. Alpaydin and C. Kaynak 1998, CC BY 4.0; attribution and provenance in data/README.md).
 *
 * Each sample is 64 pixels (row-major 8×8) scaled from 0..16 to [0, 1] and a label 0..9. The split is fixed
 * and documented: a seeded shuffle of the indices 0..N−1 with SeededRandom(seed).shuffle (seed 0 by default);
 * the first 1437 shuffled samples train, the last 360 test.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { ApicalError } from '../../emulator/errors.js';
import { SeededRandom } from '../seededRandom.js';

export const DIGITS_PIXELS = 64;
export const DIGITS_CLASSES = 10;
export const DIGITS_SAMPLES = 1797;
export const DIGITS_TRAIN = 1437;
export const DIGITS_TEST = 360;

export interface DigitsSet {
  /** Pixels in [0, 1], 64 per sample (row-major 8×8). */
  x: Float64Array[];
  /** Labels 0..9. */
  y: number[];
}

export interface DigitsSplit {
  train: DigitsSet;
  test: DigitsSet;
  /** Indices into the file (line numbers from 0) of the training and test samples, in split order. */
  trainIndices: number[];
  testIndices: number[];
  seed: number;
}

/** A problem with the digits file (missing, not gzip, malformed line). */
export class DatasetError extends ApicalError {
  override name = 'DatasetError';
}

/** Path of data/digits.csv.gz: the first ancestor of this module's directory that holds it. */
export function digitsPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'data', 'digits.csv.gz');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new DatasetError('cannot find data/digits.csv.gz', 'reinstall apical (data/ must ship with it)');
    dir = parent;
  }
}

/** Parses the gunzipped CSV text: 65 integers per line (64 pixels 0..16, label 0..9). */
export function parseDigitsCsv(text: string, what = 'digits.csv'): DigitsSet {
  const x: Float64Array[] = [];
  const y: number[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '') continue;
    const f = line.split(',');
    if (f.length !== DIGITS_PIXELS + 1) throw new DatasetError(`${what} line ${n + 1}: ${f.length} fields, expected ${DIGITS_PIXELS + 1}`);
    const px = new Float64Array(DIGITS_PIXELS);
    for (let i = 0; i <= DIGITS_PIXELS; i++) {
      const v = Number(f[i]);
      const max = i < DIGITS_PIXELS ? 16 : 9;
      if (!/^\s*\d+(\.0*)?\s*$/.test(f[i]) || !Number.isInteger(v) || v < 0 || v > max) {
        throw new DatasetError(`${what} line ${n + 1}, field ${i + 1}: ${JSON.stringify(f[i].slice(0, 20))} is not an integer in 0..${max}`);
      }
      if (i < DIGITS_PIXELS) px[i] = v / 16;
      else y.push(v);
    }
    x.push(px);
  }
  if (x.length === 0) throw new DatasetError(`${what}: no samples`);
  return { x, y };
}

/** Loads all samples in file order (pixels in [0, 1]). `path` defaults to data/digits.csv.gz. */
export function loadDigits(path?: string): DigitsSet {
  const p = path ?? digitsPath();
  let bytes: Buffer;
  try {
    bytes = readFileSync(p);
  } catch (e) {
    throw new DatasetError(`cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  // gzip (magic 1f 8b) or plain CSV text.
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    let text: string;
    try {
      text = gunzipSync(bytes).toString('utf8');
    } catch (e) {
      throw new DatasetError(`${p} is not a valid gzip file (${String((e as Error).message).split('\n')[0]})`);
    }
    return parseDigitsCsv(text, p);
  }
  return parseDigitsCsv(bytes.toString('utf8'), p);
}

/**
 * The fixed split: indices 0..N−1 shuffled with SeededRandom(seed).shuffle; the first N − 360 (1437 for the
 * full file) train, the last 360 test. Deterministic for a given file and seed.
 */
export function digitsSplit(options: { seed?: number; path?: string; testSize?: number } = {}): DigitsSplit {
  const seed = options.seed ?? 0;
  const all = loadDigits(options.path);
  const nTest = options.testSize ?? DIGITS_TEST;
  if (!Number.isInteger(nTest) || nTest < 1 || nTest >= all.x.length) throw new DatasetError(`test size ${nTest} must be an integer in 1..${all.x.length - 1}`);
  const order = new SeededRandom(seed).shuffle(Array.from({ length: all.x.length }, (_, i) => i));
  const trainIndices = order.slice(0, all.x.length - nTest);
  const testIndices = order.slice(all.x.length - nTest);
  const pick = (idx: number[]): DigitsSet => ({ x: idx.map((i) => all.x[i]), y: idx.map((i) => all.y[i]) });
  return { train: pick(trainIndices), test: pick(testIndices), trainIndices, testIndices, seed };
}

/** One-hot targets (length 10) for labels. */
export function oneHot(label: number, classes = DIGITS_CLASSES): Float64Array {
  const t = new Float64Array(classes);
  t[label] = 1;
  return t;
}

/**
 * Writes firmware-bridge/include/chip_constants.h from chipHeaderText() (test-support/chipHeader.ts).
 *
 *   npm run firmware:header        (node dist/test-support/writeChipHeader.js after a build)
 *
 * Paths are resolved from the project root (the nearest folder above this module holding package.json), not
 * from the current directory. Prints whether the file changed.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHIP_HEADER_PATH, chipHeaderText } from './chipHeader.js';

/** The project root: the nearest folder above this module that holds package.json. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Writes the header if it differs; returns true when the file changed. */
export function writeChipHeader(root: string = projectRoot()): boolean {
  const path = join(root, CHIP_HEADER_PATH);
  const text = chipHeaderText();
  const old = existsSync(path) ? readFileSync(path, 'utf8') : null;
  if (old === text) return false;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return true;
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const changed = writeChipHeader();
  console.log(`${CHIP_HEADER_PATH}: ${changed ? 'written' : 'up to date'}`);
}

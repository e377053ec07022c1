import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHIP_HEADER_PATH, chipHeaderText, upperSnake } from '../test-support/chipHeader.js';
import { projectRoot } from '../test-support/writeChipHeader.js';
import { CHIP_CORES, CYCLES, FNV_OFFSET } from '../src/emulator/constants.js';
import { TERMS } from '../src/emulator/microcode.js';
import { ProjectionKind } from '../src/emulator/program.js';

const STALE = `${CHIP_HEADER_PATH} is stale: run npm run firmware:header`;

describe('generated C header (firmware-bridge/include/chip_constants.h)', () => {
  it('is up to date with the TypeScript constants', () => {
    const path = join(projectRoot(), CHIP_HEADER_PATH);
    const committed = existsSync(path) ? readFileSync(path, 'utf8') : '';
    const fresh = chipHeaderText();
    if (committed !== fresh) {
      const a = committed.split('\n');
      const b = fresh.split('\n');
      let line = 0;
      while (line < a.length && line < b.length && a[line] === b[line]) line++;
      expect.fail(`${STALE} (first difference at line ${line + 1}: committed ${JSON.stringify(a[line] ?? '')}, generated ${JSON.stringify(b[line] ?? '')})`);
    }
  });

  it('renders constants, CYCLES, enums, opcodes and terms as #define APX_ lines', () => {
    const text = chipHeaderText();
    expect(text).toContain(`#define APX_CHIP_CORES ${CHIP_CORES}\n`);
    expect(text).toContain(`#define APX_CYCLES_PRNG_DRAW ${CYCLES.prngDraw}\n`);
    expect(text).toContain(`#define APX_FNV_OFFSET ${FNV_OFFSET}u\n`);
    expect(text).toContain('#define APX_MAGIC_0 65\n');
    expect(text).toContain('#define APX_FORMAT_VERSION 1\n');
    expect(text).toContain(`#define APX_PROJECTION_KIND_ONE_TO_ONE ${ProjectionKind.OneToOne}\n`);
    expect(text).toContain('#define APX_OP_MULC 7\n');
    expect(text).toContain(`#define APX_TERM_POST_BASAL_RATE ${TERMS['post.basal_rate']} /* post.basal_rate */\n`);
    expect(text).toContain('#define APX_TRACE_HP 4\n');
    expect(upperSnake('learnSynapse')).toBe('LEARN_SYNAPSE');
    expect(upperSnake('OneToOne')).toBe('ONE_TO_ONE');
  });
});

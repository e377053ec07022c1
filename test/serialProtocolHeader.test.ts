import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MSG, PROTOCOL_VERSION } from '../src/devices/protocolConstants.js';
import { PROTOCOL_HEADER_PATH, protocolHeaderText } from '../test-support/protocolHeader.js';
import { projectRoot } from '../test-support/writeChipHeader.js';

describe('generated C header (firmware-bridge/include/protocol_constants.h)', () => {
  it('is up to date with src/devices/protocolConstants.ts', () => {
    const path = join(projectRoot(), PROTOCOL_HEADER_PATH);
    const committed = existsSync(path) ? readFileSync(path, 'utf8') : '';
    const fresh = protocolHeaderText();
    if (committed !== fresh) {
      const a = committed.split('\n');
      const b = fresh.split('\n');
      let line = 0;
      while (line < a.length && line < b.length && a[line] === b[line]) line++;
      expect.fail(
        `${PROTOCOL_HEADER_PATH} is stale: run npx tsc -p tsconfig.json && node dist/test-support/protocolHeader.js --write ` +
          `(first difference at line ${line + 1}: committed ${JSON.stringify(a[line] ?? '')}, generated ${JSON.stringify(b[line] ?? '')})`,
      );
    }
  });

  it('renders the constants as #define APXP_ lines', () => {
    const text = protocolHeaderText();
    expect(text).toContain(`#define APXP_PROTOCOL_VERSION ${PROTOCOL_VERSION}\n`);
    expect(text).toContain(`#define APXP_MSG_LOAD_CHUNK ${MSG.loadChunk}\n`);
    expect(text).toContain(`#define APXP_FRAME_MAX_PAYLOAD 4096\n`);
  });
});

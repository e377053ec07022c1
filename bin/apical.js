#!/usr/bin/env node
import('../dist/src/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  process.stderr.write(`apical: internal error: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});

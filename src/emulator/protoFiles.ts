/**
 * Finds and loads the project's .proto schemas at run time (protobufjs). The compiled JS lives in dist/src/…,
 * the sources in src/…, the schemas in <root>/proto/: the first ancestor of the calling module's directory that
 * holds `proto/<name>` is used.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { ApicalError } from './errors.js';

const roots = new Map<string, protobuf.Root>();

/** Absolute path of proto/<name>, searched upwards from this module's directory. */
export function protoPath(name: string): string {
  const relative = join('proto', name);
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; ) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new ApicalError(`cannot find ${relative} above ${start}`, 'reinstall apical');
    dir = parent;
  }
}

/** The parsed schema proto/<name>, loaded once. */
export function protoRoot(name: string): protobuf.Root {
  let root = roots.get(name);
  if (!root) {
    root = protobuf.loadSync(protoPath(name));
    roots.set(name, root);
  }
  return root;
}

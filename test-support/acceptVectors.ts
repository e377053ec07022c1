/**
 * `npm run vectors:accept` — rebuilds every golden vector (test-support/vectorDefinitions.ts), runs it on the
 * emulator, prints how it differs from what is stored under test/vectors/, then writes the new files.
 *
 *   node dist/test-support/acceptVectors.js [--check] [--only NAME]...
 *
 *   --check       print the diff, write nothing; exit 1 if any vector is new or changed (for CI)
 *   --only NAME   only this vector (repeatable)
 *
 * Per vector it prints `new`, `unchanged` or `changed`; for a changed vector: whether the program hash and the
 * stimulus changed, how many ticks' digests differ, the first diverging tick and cores, the variables that
 * diverge there (from the stored per-tick variable fingerprints, and — when the program or stimulus changed —
 * from re-running the stored program.apx and the new Program side by side on this emulator, which also tells an
 * emulator change from a program change), and the spike counts, final weights, cycles and critical path that
 * differ. Paths are relative to the project root (the folder with package.json above this file), not the cwd.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Program } from '../src/emulator/program.js';
import { encodeProgram } from '../src/emulator/programCodec.js';
import {
  VECTOR_DEFINITIONS,
  VECTOR_FILES,
  VECTOR_TEXT_FILES,
  compareDigestStreams,
  decodeStoredProgram,
  formatExpected,
  formatExpectedText,
  formatStimulus,
  formatStimulusText,
  programSize,
  projectRoot,
  readStoredVector,
  runVector,
  sideBySide,
  traceVariablesDiffering,
  vectorDefinition,
  vectorDir,
  vectorsDir,
  type StimulusEvent,
  type StoredVector,
  type VectorDefinition,
  type VectorExpected,
} from './vectorDefinitions.js';

interface Options {
  check: boolean;
  only: string[];
}

const USAGE = 'usage: node dist/test-support/acceptVectors.js [--check] [--only NAME]...';

function parseArgs(argv: string[]): Options {
  const o: Options = { check: false, only: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') o.check = true;
    else if (a === '--only') {
      const v = argv[++i];
      if (!v) throw new Error(`--only needs a vector name\n${USAGE}`);
      o.only.push(v);
    } else if (a.startsWith('--only=')) o.only.push(a.slice('--only='.length));
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument "${a}"\n${USAGE}`);
  }
  return o;
}

interface Built {
  def: VectorDefinition;
  program: Program;
  programBytes: Uint8Array;
  stimulusText: string;
  expected: VectorExpected;
  expectedText: string;
}

function textFiles(b: Built): Record<string, string> {
  return {
    [VECTOR_TEXT_FILES.stimulus]: formatStimulusText(b.def.stimulus),
    [VECTOR_TEXT_FILES.expected]: formatExpectedText(b.expected),
  };
}

function build(def: VectorDefinition): Built {
  const program = def.build();
  const programBytes = encodeProgram(program);
  const expected = runVector(program, def.stimulus, def.ticks, def);
  return { def, program, programBytes, stimulusText: formatStimulus(def.stimulus), expected, expectedText: formatExpected(expected) };
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const short = (h: string | undefined): string => (h ? `${h.slice(0, 12)}…` : '(none)');

function firstStimulusDifference(a: StimulusEvent[], b: StimulusEvent[]): string {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) {
      const at = a[i] ?? b[i];
      return `${a.length} → ${b.length} events, first difference at event ${i} (tick ${at.tick}, port ${at.port})`;
    }
  }
  return '';
}

/** The lines describing how a stored vector differs from the rebuilt one (empty: identical content). */
function describeChange(stored: StoredVector, b: Built): string[] {
  const out: string[] = [];
  const old = stored.expected;
  const nw = b.expected;
  if (stored.missing.length) out.push(`stored files missing: ${stored.missing.join(', ')}`);

  // Program.
  let oldProgram: Program | null = null;
  if (stored.programBytes) {
    try {
      oldProgram = decodeStoredProgram(stored.programBytes);
    } catch (e) {
      out.push(`stored program.apx does not decode: ${(e as Error).message}`);
    }
  }
  const oldHash = oldProgram?.hash ?? old?.programHash;
  const programChanged = !stored.programBytes || !equalBytes(stored.programBytes, b.programBytes);
  if (programChanged && oldHash !== b.program.hash) out.push(`program hash changed: ${short(oldHash)} → ${short(b.program.hash)}`);
  else if (programChanged) out.push(`program.apx differs from the rebuilt program, whose hash ${short(b.program.hash)} is the stored one`);
  else out.push(`program unchanged (${short(b.program.hash)})`);

  // Stimulus.
  const stimulusChanged = !stored.stimulus || JSON.stringify(stored.stimulus) !== JSON.stringify(b.def.stimulus);
  if (stimulusChanged && stored.stimulus) out.push(`stimulus changed: ${firstStimulusDifference(stored.stimulus, b.def.stimulus)}`);
  if (!old) return out;

  if (old.description !== nw.description) out.push('description changed');
  if (old.ticks !== nw.ticks) out.push(`ticks ${old.ticks} → ${nw.ticks}`);

  // Digests.
  const d = compareDigestStreams(old.digests ?? [], nw.digests);
  if (!d) out.push(`digests: all ${nw.ticks} ticks equal`);
  else {
    let line = `digests: ${d.ticksDiffering} of ${Math.max(old.digests?.length ?? 0, nw.ticks)} ticks differ; first at tick ${d.tick}, core${d.cores.length > 1 ? 's' : ''} ${d.cores.join(' ')}`;
    const ta = old.variableTrace?.[d.tick];
    const tb = nw.variableTrace[d.tick];
    if (ta && tb) {
      const vars = traceVariablesDiffering(ta, tb);
      line += `; variables there (stored fingerprints): ${vars.length ? vars.join(', ') : '(none differ in the 16-bit fingerprints)'}`;
    }
    out.push(line);
    if (oldProgram && stored.stimulus && (programChanged || stimulusChanged)) {
      const sb = sideBySide({ program: oldProgram, stimulus: stored.stimulus }, { program: b.program, stimulus: b.def.stimulus }, Math.min(old.ticks, nw.ticks));
      if (!sb) out.push(`side by side on this emulator (stored program.apx vs new): identical for ${Math.min(old.ticks, nw.ticks)} ticks — the stored digests came from a different emulator`);
      else out.push(`side by side on this emulator (stored program.apx vs new): first divergence at tick ${sb.tick}: ${sb.cores.map((c) => `core ${c.core} ${c.variables.join(', ')}`).join('; ')}`);
    } else if (!programChanged && !stimulusChanged) {
      out.push('program and stimulus unchanged: the emulator now computes different state');
    }
  }

  // Spike counts.
  const sc = old.spikeCounts ?? [];
  let firstSpike = -1;
  let spikeDiff = 0;
  for (let t = 0; t < Math.max(sc.length, nw.spikeCounts.length); t++) {
    if (sc[t] !== nw.spikeCounts[t]) {
      spikeDiff++;
      if (firstSpike < 0) firstSpike = t;
    }
  }
  const total = (a: number[]) => a.reduce((x, y) => x + y, 0);
  if (firstSpike >= 0) out.push(`spike counts: ${spikeDiff} ticks differ, first at tick ${firstSpike} (${sc[firstSpike]} → ${nw.spikeCounts[firstSpike]}); total ${total(sc)} → ${total(nw.spikeCounts)}`);

  // Final weights.
  const ow = old.finalWeights ?? {};
  const wl: string[] = [];
  for (const name of new Set([...Object.keys(ow), ...Object.keys(nw.finalWeights)])) {
    const a = ow[name];
    const c = nw.finalWeights[name];
    if (!a) wl.push(`${name} added`);
    else if (!c) wl.push(`${name} removed`);
    else {
      let n = 0;
      for (let k = 0; k < Math.max(a.length, c.length); k++) if (a[k] !== c[k]) n++;
      if (n) wl.push(`${name} ${n} of ${c.length} differ`);
    }
  }
  if (wl.length) out.push(`final weights: ${wl.join('; ')}`);

  // Cycles.
  const oc = old.cyclesPerCore ?? [];
  const cl: string[] = [];
  for (let c = 0; c < Math.max(oc.length, nw.cyclesPerCore.length); c++) if (oc[c] !== nw.cyclesPerCore[c]) cl.push(`core ${c} ${oc[c]} → ${nw.cyclesPerCore[c]}`);
  if (cl.length) out.push(`cycles: ${cl.join('; ')}`);
  if (old.criticalPath !== nw.criticalPath) out.push(`critical path: ${old.criticalPath} → ${nw.criticalPath}`);
  if (old.finalChipDigest !== nw.finalChipDigest) out.push(`final chip digest: ${old.finalChipDigest} → ${nw.finalChipDigest}`);
  return out;
}

function main(): number {
  const opts = parseArgs(process.argv.slice(2));
  const root = projectRoot();
  const defs = opts.only.length ? opts.only.map(vectorDefinition) : [...VECTOR_DEFINITIONS];
  const rel = relative(root, vectorsDir()) || '.';
  console.log(`golden vectors in ${rel}/ (${defs.length} of ${VECTOR_DEFINITIONS.length} definitions)${opts.check ? ' — check only, nothing is written' : ''}`);
  const width = Math.max(...defs.map((d) => d.name.length));
  const toWrite: Built[] = [];
  let nNew = 0;
  let nChanged = 0;
  let nSame = 0;
  const t0 = performance.now();
  for (const def of defs) {
    const b = build(def);
    const size = programSize(b.program);
    const bytes = b.programBytes.length + Buffer.byteLength(b.stimulusText) + Buffer.byteLength(b.expectedText);
    const sizeText = `${def.ticks} ticks, ${size.neurons} neurons, ${size.synapses} synapses, cores ${size.cores.join(',')}, ${(bytes / 1024).toFixed(1)} KiB`;
    const stored = readStoredVector(def.name);
    let status: 'new' | 'unchanged' | 'changed';
    let details: string[] = [];
    if (stored.missing.length === 3) status = 'new';
    else {
      const same =
        stored.missing.length === 0 &&
        equalBytes(stored.programBytes!, b.programBytes) &&
        formatStimulus(stored.stimulus!) === b.stimulusText &&
        stored.expected !== null &&
        formatExpected(stored.expected) === b.expectedText;
      status = same ? 'unchanged' : 'changed';
      if (!same) {
        const contentEqual =
          stored.missing.length === 0 &&
          equalBytes(stored.programBytes!, b.programBytes) &&
          JSON.stringify(stored.stimulus) === JSON.stringify(def.stimulus) &&
          JSON.stringify(stored.expected) === JSON.stringify(b.expected);
        details = contentEqual ? ['content equal; the files differ only in formatting'] : describeChange(stored, b);
      }
      // The C runner's text files must match the JSON they are derived from.
      const textStale = Object.entries(textFiles(b)).filter(([file, text]) => {
        const path = join(vectorDir(def.name), file);
        return !existsSync(path) || readFileSync(path, 'utf8') !== text;
      });
      if (status === 'unchanged' && textStale.length) {
        status = 'changed';
        details = [`text files for the C runner missing or stale: ${textStale.map(([f]) => f).join(', ')}`];
      }
    }
    if (status === 'new') nNew++;
    else if (status === 'changed') nChanged++;
    else nSame++;
    if (status !== 'unchanged') toWrite.push(b);
    console.log(`  ${def.name.padEnd(width)}  ${status.padEnd(9)}  ${sizeText}`);
    for (const l of details) console.log(`  ${' '.repeat(width)}    ${l}`);
  }
  if (!opts.only.length && existsSync(vectorsDir())) {
    for (const entry of readdirSync(vectorsDir())) {
      if (statSync(join(vectorsDir(), entry)).isDirectory() && !VECTOR_DEFINITIONS.some((d) => d.name === entry)) {
        console.log(`  ${entry.padEnd(width)}  orphan     stored but not defined (not touched; delete it by hand if it is obsolete)`);
      }
    }
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(2);
  const summary = `${nNew} new, ${nChanged} changed, ${nSame} unchanged (${secs} s)`;
  if (opts.check) {
    if (nNew + nChanged) {
      console.log(`check failed: ${summary}; review the diff and run npm run vectors:accept to accept it`);
      return 1;
    }
    console.log(`check passed: ${summary}`);
    return 0;
  }
  for (const b of toWrite) {
    const dir = vectorDir(b.def.name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, VECTOR_FILES.program), b.programBytes);
    writeFileSync(join(dir, VECTOR_FILES.stimulus), b.stimulusText);
    writeFileSync(join(dir, VECTOR_FILES.expected), b.expectedText);
    for (const [file, text] of Object.entries(textFiles(b))) writeFileSync(join(dir, file), text);
  }
  console.log(`${summary}; wrote ${toWrite.length} vector${toWrite.length === 1 ? '' : 's'}${toWrite.length ? `: ${toWrite.map((b) => b.def.name).join(', ')}` : ''}`);
  return 0;
}

try {
  process.exitCode = main();
} catch (e) {
  console.error(`vectors: ${(e as Error).message}`);
  process.exitCode = 2;
}

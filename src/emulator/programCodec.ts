/**
 * The Program file format (.apx): encode, decode, hash and validate (docs/program-format.md).
 *
 * File = APX_MAGIC (4 bytes) ‖ protobuf `apical.v1.ProgramFile` (proto/program.proto). The file's body is an
 * encoded `ProgramBody` kept as bytes; the header's sha256 covers the header fields and exactly those bytes:
 *
 *   sha256 = SHA-256( "apx" ‖ u32le(format_version) ‖ u32le(chip_revision) ‖ u32le(seed) ‖ body )
 *
 * Decoding checks magic, protobuf structure, format version and hash, converts to the in-memory types
 * (program.ts) and runs `validateProgram`. The chip revision is not checked here (`checkChipRevision`).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import {
  ACC_WORD_BITS,
  APX_FORMAT_VERSION,
  APX_MAGIC,
  CHIP_CORES,
  CHIP_REVISION,
  COEF_MAX,
  LUT_SEGMENTS,
  LUT_STEP_SHIFT_MAX,
  MAX_DELAY,
  MAX_FAN_IN,
  MAX_GROUPS,
  MAX_GROUP_SIZE,
  MAX_LUTS,
  MAX_PROJECTIONS,
  MAX_RULE_STATEMENTS,
  MAX_UPDATE_SHIFT,
  PAYLOAD_SHIFT_MAX,
  PROSP_MAX,
  RULE_FRAC_BITS,
  WEIGHT_BITS_ALLOWED,
  WEIGHT_SHIFT_MAX,
} from './constants.js';
import { ApicalError, ChipRevisionError, ProgramFormatError, ProgramInvalidError } from './errors.js';
import { MicrocodeError, TERMS, termsUsed, validateMicrocode } from './microcode.js';
import {
  Compartment,
  GroupKind,
  NoiseTarget,
  NudgeSource,
  OutputMode,
  PortKind,
  ProbeVariable,
  ProjectionKind,
  Rounding,
  RuleTarget,
  TRACE_HP,
  Trigger,
  TRACE_X1,
  TRACE_X2,
  type Group,
  type Lut,
  type Plasticity,
  type Program,
  type ProgramBody,
  type Projection,
  type Statement,
} from './program.js';
import { protoPath, protoRoot } from './protoFiles.js';

// ---------------------------------------------------------------------------------------------- schema

/** Absolute path of proto/program.proto. */
export function programProtoPath(): string {
  return protoPath('program.proto');
}

/** The parsed schema (package apical.v1), loaded once. */
export function programProtoRoot(): protobuf.Root {
  return protoRoot('program.proto');
}

let cachedTypes: { file: protobuf.Type; body: protobuf.Type } | null = null;

function types(): { file: protobuf.Type; body: protobuf.Type } {
  if (!cachedTypes) {
    const root = programProtoRoot();
    cachedTypes = { file: root.lookupType('apical.v1.ProgramFile'), body: root.lookupType('apical.v1.ProgramBody') };
  }
  return cachedTypes;
}

// ---------------------------------------------------------------------------------------------- hash

export interface HeaderFields {
  formatVersion: number;
  chipRevision: number;
  seed: number;
}

function hashBytes(body: Uint8Array, h: HeaderFields): Buffer {
  const prefix = Buffer.alloc(15);
  prefix.write('apx', 0, 'ascii');
  prefix.writeUInt32LE(h.formatVersion >>> 0, 3);
  prefix.writeUInt32LE(h.chipRevision >>> 0, 7);
  prefix.writeUInt32LE(h.seed >>> 0, 11);
  return createHash('sha256').update(prefix).update(body).digest();
}

/** SHA-256 (lowercase hex) of a Program: over "apx", the three header fields (u32 LE) and the body bytes. */
export function programHash(body: Uint8Array, header: HeaderFields): string {
  return hashBytes(body, header).toString('hex');
}

// ---------------------------------------------------------------------------------------------- encode

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function weightBytes(w: Int8Array | Int16Array, bits: number): Uint8Array {
  if (bits === 16) {
    if (w instanceof Int16Array && LITTLE_ENDIAN_HOST) return new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
    const out = new Uint8Array(w.length * 2);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < w.length; i++) dv.setInt16(i * 2, w[i], true);
    return out;
  }
  if (w instanceof Int8Array) return new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
  const out = new Uint8Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w[i] & 0xff;
  return out;
}

function bodyMessage(b: ProgramBody): Record<string, unknown> {
  const metadata: Record<string, string> = {};
  for (const k of Object.keys(b.metadata).sort()) metadata[k] = b.metadata[k];
  return {
    name: b.name,
    tickSeconds: b.tickSeconds,
    luts: b.luts.map((l) => ({ name: l.name, xMin: l.xMin, stepShift: l.stepShift, values: l.values })),
    groups: b.groups.map((g) => ({ ...g, slices: g.slices.map((s) => ({ core: s.core, start: s.start, count: s.count })) })),
    projections: b.projections.map((p) => ({
      name: p.name,
      pre: p.pre,
      post: p.post,
      kind: p.kind,
      target: p.target,
      weightBits: p.weightBits,
      weightShift: p.weightShift,
      delay: p.delay,
      weights: weightBytes(p.weights, p.weightBits),
      rowPtr: p.rowPtr ?? [],
      cols: p.cols ?? [],
      plasticity: p.plasticity
        ? {
            source: p.plasticity.source,
            statements: p.plasticity.statements.map((s) => ({ trigger: s.trigger, epochShift: s.epochShift, target: s.target, code: s.code })),
            fracBits: p.plasticity.fracBits,
            rounding: p.plasticity.rounding,
            lowpass: p.plasticity.lowpass,
            tag: p.plasticity.tag,
            // Written only when set, so Programs without it encode (and hash) exactly as before the field existed.
            ...(p.plasticity.updateShift ? { updateShift: p.plasticity.updateShift } : {}),
          }
        : null,
    })),
    inputs: b.inputs.map((i) => ({ name: i.name, kind: i.kind, group: i.group })),
    probes: b.probes.map((p) => ({ name: p.name, variable: p.variable, group: p.group, projection: p.projection, every: p.every })),
    metadata,
  };
}

export interface EncodeOptions {
  /** Run validateProgram first (default true), so no invalid file is ever written. */
  validate?: boolean;
}

function encodeWithHash(p: Program, opts: EncodeOptions): { bytes: Uint8Array; hash: string } {
  if (opts.validate ?? true) validateProgram(p);
  const t = types();
  const body = t.body.encode(bodyMessage(p.body)).finish();
  const header = { formatVersion: p.formatVersion, chipRevision: p.chipRevision, seed: p.seed };
  const sha = hashBytes(body, header);
  const file = t.file.encode({ header: { ...header, sha256: sha }, body }).finish();
  const bytes = new Uint8Array(APX_MAGIC.length + file.length);
  bytes.set(APX_MAGIC, 0);
  bytes.set(file, APX_MAGIC.length);
  return { bytes, hash: sha.toString('hex') };
}

/**
 * The .apx bytes of a Program. The hash is always recomputed from the header fields and the encoded body
 * (p.hash is ignored and not modified; use finalizeProgram to set it). Header fields are written as given.
 */
export function encodeProgram(p: Program, opts: EncodeOptions = {}): Uint8Array {
  return encodeWithHash(p, opts).bytes;
}

/** Validates p, sets p.hash to the hash its encoding carries (lowercase hex) and returns p. */
export function finalizeProgram(p: Program): Program {
  p.hash = encodeWithHash(p, { validate: true }).hash;
  return p;
}

// ---------------------------------------------------------------------------------------------- decode

/* Decoded protobuf messages (camelCase fields; absent scalars read as defaults). */
interface MsgSlice {
  core: number;
  start: number;
  count: number;
}
type MsgGroup = Omit<Group, 'slices' | 'initSoma'> & { slices: MsgSlice[]; initSoma: number[] };
interface MsgStatement {
  trigger: number;
  epochShift: number;
  target: number;
  code: number[];
}
interface MsgPlasticity {
  source: string;
  statements: MsgStatement[];
  fracBits: number;
  rounding: number;
  lowpass: number;
  tag: boolean;
  updateShift?: number;
}
interface MsgProjection {
  name: string;
  pre: number;
  post: number;
  kind: number;
  target: number;
  weightBits: number;
  weightShift: number;
  delay: number;
  weights: Uint8Array;
  rowPtr: number[];
  cols: number[];
  plasticity: MsgPlasticity | null;
}
interface MsgLut {
  name: string;
  xMin: number;
  stepShift: number;
  values: number[];
}
interface MsgBody {
  name: string;
  tickSeconds: number;
  luts: MsgLut[];
  groups: MsgGroup[];
  projections: MsgProjection[];
  inputs: { name: string; kind: number; group: number }[];
  probes: { name: string; variable: number; group: number; projection: number; every: number }[];
  metadata: Record<string, string>;
}
interface MsgFile {
  header: { formatVersion: number; chipRevision: number; seed: number; sha256: Uint8Array } | null;
  body: Uint8Array;
}

const FORMAT_HINT = 'the file is damaged or not a Program; recompile it or copy it again';

function corrupted(e: unknown): ProgramFormatError {
  const msg = e instanceof Error ? e.message : String(e);
  return new ProgramFormatError(`corrupted or truncated .apx: ${msg}`, FORMAT_HINT);
}

/** protobufjs gives an empty `bytes` field as a plain [] (or leaves it out): normalise to a Uint8Array. */
function asBytes(x: Uint8Array | number[] | null | undefined): Uint8Array {
  return x instanceof Uint8Array ? x : Uint8Array.from(x ?? []);
}

function decodeWeights(raw: Uint8Array, bits: number, name: string): Int8Array | Int16Array {
  const bytes = asBytes(raw);
  if (bits === 16) {
    if (bytes.length % 2 !== 0) throw corrupted(new Error(`projection "${name}": ${bytes.length} weight bytes for 16-bit weights`));
    const n = bytes.length / 2;
    const out = new Int16Array(n);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
    return out;
  }
  // 8-bit (or an invalid weight_bits, which validateProgram then reports).
  return Int8Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/**
 * Sparse column indices as stored: 16-bit local indices (docs/chip.md §3). The wire keeps repeated uint32; a
 * value at or past MAX_GROUP_SIZE (= 2^16) cannot name a neuron of any group, so it is rejected here rather than
 * wrapped by the 16-bit store (validateProgram then checks each index against its post group).
 */
function decodeCols(raw: number[], name: string): Uint16Array {
  const out = new Uint16Array(raw.length);
  for (let k = 0; k < raw.length; k++) {
    if (raw[k] >= MAX_GROUP_SIZE) throw new ProgramInvalidError(`projection "${name}": cols[${k}] = ${raw[k]} not below the largest group size ${MAX_GROUP_SIZE}`, INVALID_HINT);
    out[k] = raw[k];
  }
  return out;
}

function toProgramBody(m: MsgBody): ProgramBody {
  return {
    name: m.name,
    tickSeconds: m.tickSeconds,
    luts: m.luts.map((l): Lut => ({ name: l.name, xMin: l.xMin, stepShift: l.stepShift, values: Int32Array.from(l.values) })),
    groups: m.groups.map(
      (g): Group => ({
        name: g.name,
        size: g.size,
        kind: g.kind,
        output: g.output,
        slices: g.slices.map((s) => ({ core: s.core, start: s.start, count: s.count })),
        hasBasal: g.hasBasal,
        hasApical: g.hasApical,
        basalDecay: g.basalDecay,
        apicalDecay: g.apicalDecay,
        kBasal: g.kBasal,
        kApical: g.kApical,
        kNudge: g.kNudge,
        kTotal: g.kTotal,
        nudge: g.nudge,
        teacher: g.teacher,
        teacherProspective: g.teacherProspective,
        prospectiveGain: g.prospectiveGain,
        basalPredGain: g.basalPredGain,
        lut: g.lut,
        threshold: g.threshold,
        reset: g.reset,
        refractory: g.refractory,
        payloadShift: g.payloadShift,
        noiseTarget: g.noiseTarget,
        noiseDecay: g.noiseDecay,
        noiseGain: g.noiseGain,
        traces: g.traces,
        x1Decay: g.x1Decay,
        x1Impulse: g.x1Impulse,
        x2Decay: g.x2Decay,
        x2Impulse: g.x2Impulse,
        hpDecay: g.hpDecay,
        initSoma: Int32Array.from(g.initSoma),
        valueScale: g.valueScale,
      }),
    ),
    projections: m.projections.map((p): Projection => {
      const sparse = p.kind === ProjectionKind.Sparse;
      const pl = p.plasticity;
      return {
        name: p.name,
        pre: p.pre,
        post: p.post,
        kind: p.kind,
        target: p.target,
        weightBits: p.weightBits,
        weightShift: p.weightShift,
        delay: p.delay,
        weights: decodeWeights(p.weights, p.weightBits, p.name),
        rowPtr: sparse ? Uint32Array.from(p.rowPtr) : null,
        cols: sparse ? decodeCols(p.cols, p.name) : null,
        plasticity: pl
          ? {
              source: pl.source,
              statements: pl.statements.map((s): Statement => ({ trigger: s.trigger, epochShift: s.epochShift, target: s.target, code: Int32Array.from(s.code) })),
              fracBits: pl.fracBits,
              rounding: pl.rounding,
              lowpass: pl.lowpass,
              tag: pl.tag,
              updateShift: pl.updateShift ?? 0,
            }
          : null,
      };
    }),
    inputs: m.inputs.map((i) => ({ name: i.name, kind: i.kind, group: i.group })),
    probes: m.probes.map((p) => ({ name: p.name, variable: p.variable, group: p.group, projection: p.projection, every: p.every })),
    metadata: { ...m.metadata },
  };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Parses and checks .apx bytes: magic, structure, format version, SHA-256, then validateProgram.
 * Throws ProgramFormatError (not a valid file) or ProgramInvalidError (valid file, invalid Program).
 * The chip revision is not checked (see checkChipRevision).
 */
export function decodeProgram(bytes: Uint8Array): Program {
  if (bytes.length < APX_MAGIC.length || APX_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new ProgramFormatError('not an apical program (.apx): bad magic', 'pass a file written by `apical compile`');
  }
  const t = types();
  let file: MsgFile;
  try {
    file = t.file.decode(bytes.subarray(APX_MAGIC.length)) as unknown as MsgFile;
  } catch (e) {
    throw corrupted(e);
  }
  const h = file.header;
  if (!h) throw corrupted(new Error('missing header'));
  if (h.formatVersion !== APX_FORMAT_VERSION) {
    throw new ProgramFormatError(
      `unsupported .apx format version ${h.formatVersion}: this apical reads format ${APX_FORMAT_VERSION}`,
      h.formatVersion > APX_FORMAT_VERSION ? 'upgrade apical' : 'recompile the network with this apical',
    );
  }
  if (!h.sha256 || h.sha256.length !== 32) throw corrupted(new Error(`header sha256 has ${h.sha256.length} bytes, expected 32`));
  const bodyBytes = asBytes(file.body);
  if (bodyBytes.length === 0) throw corrupted(new Error('empty program body'));
  const sha = hashBytes(bodyBytes, h);
  if (!equalBytes(sha, h.sha256)) throw new ProgramFormatError('corrupted .apx: SHA-256 mismatch', FORMAT_HINT);
  let body: ProgramBody;
  try {
    body = toProgramBody(t.body.decode(bodyBytes) as unknown as MsgBody);
  } catch (e) {
    if (e instanceof ProgramFormatError || e instanceof ProgramInvalidError) throw e;
    throw corrupted(e);
  }
  const program: Program = { formatVersion: h.formatVersion, chipRevision: h.chipRevision, seed: h.seed, hash: sha.toString('hex'), body };
  validateProgram(program);
  return program;
}

/** Throws ChipRevisionError unless the Program was compiled for this emulator's chip revision. */
export function checkChipRevision(p: Program): void {
  if (p.chipRevision !== CHIP_REVISION) {
    throw new ChipRevisionError(
      `program "${p.body.name}" targets chip revision ${p.chipRevision}, this emulator implements revision ${CHIP_REVISION}`,
      'recompile the network for this chip revision',
    );
  }
}

// ---------------------------------------------------------------------------------------------- files

function withPath(e: unknown, path: string): unknown {
  if (e instanceof ApicalError) {
    const Ctor = e.constructor as new (message: string, hint?: string) => ApicalError;
    return new Ctor(`${path}: ${e.message}`, e.hint);
  }
  return e;
}

/** Reads and decodes a .apx file; errors name the path. */
export function readProgramFile(path: string): Program {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new ProgramFormatError(`cannot read program file "${path}": ${why}`, 'check the path');
  }
  try {
    return decodeProgram(bytes);
  } catch (e) {
    throw withPath(e, path);
  }
}

/** Encodes (validating) and writes a .apx file. Does not modify p (use finalizeProgram for p.hash). */
export function writeProgramFile(path: string, p: Program): void {
  const bytes = encodeProgram(p);
  try {
    writeFileSync(path, bytes);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ApicalError(`cannot write program file "${path}": ${err.code ?? err.message}`, 'check the path and permissions');
  }
}

// ---------------------------------------------------------------------------------------------- validation

const INVALID_HINT = 'the Program violates the chip spec; recompile the network with this apical';
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const UINT32_MAX = 4294967295;

function isInt(v: unknown, lo: number, hi: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

function enumOk(v: unknown, e: object): boolean {
  return typeof v === 'number' && Number.isInteger(v) && typeof (e as Record<number, unknown>)[v] === 'string';
}

/**
 * Checks a Program against the chip spec (docs/program-format.md §Validation). Throws ProgramInvalidError with
 * a one-line message naming the offending object, e.g. `projection "fc2": weight_bits 12 not in 8|16`.
 * Capacity (what fits on a core) is checked separately (capacity.ts, ProgramFitError).
 */
export function validateProgram(p: Program): void {
  const b = p.body;
  const progName = `program "${b?.name ?? ''}"`;
  const fail = (what: string, msg: string): never => {
    throw new ProgramInvalidError(`${what}: ${msg}`, INVALID_HINT);
  };
  const range = (what: string, field: string, v: number, lo: number, hi: number): void => {
    if (!isInt(v, lo, hi)) fail(what, `${field} ${v} outside [${lo}, ${hi}]`);
  };
  const index = (what: string, field: string, v: number, n: number, kind: string, allowNone: boolean): void => {
    if (allowNone && v === -1) return;
    if (!isInt(v, 0, n - 1)) fail(what, `${field} ${v} is not a ${kind} index (${n} ${kind}s${allowNone ? ', or −1' : ''})`);
  };

  // Header and body.
  if (!isInt(p.formatVersion, 0, UINT32_MAX)) fail(progName, `format_version ${p.formatVersion} not a uint32`);
  if (!isInt(p.chipRevision, 0, UINT32_MAX)) fail(progName, `chip_revision ${p.chipRevision} not a uint32`);
  if (!isInt(p.seed, 0, UINT32_MAX)) fail(progName, `seed ${p.seed} not a uint32`);
  if (typeof b.name !== 'string') fail(progName, 'name is not a string');
  if (!(typeof b.tickSeconds === 'number' && Number.isFinite(b.tickSeconds) && b.tickSeconds >= 0)) {
    fail(progName, `tick_seconds ${b.tickSeconds} is not a finite number ≥ 0`);
  }
  if (b.groups.length > MAX_GROUPS) fail(progName, `${b.groups.length} groups, limit ${MAX_GROUPS}`);
  if (b.projections.length > MAX_PROJECTIONS) fail(progName, `${b.projections.length} projections, limit ${MAX_PROJECTIONS}`);
  if (b.luts.length > MAX_LUTS) fail(progName, `${b.luts.length} luts, limit ${MAX_LUTS}`);
  for (const [k, v] of Object.entries(b.metadata)) if (typeof v !== 'string') fail(progName, `metadata "${k}" is not a string`);

  const uniqueNames = (kind: string, items: { name: string }[]): void => {
    const seen = new Set<string>();
    items.forEach((it, i) => {
      if (typeof it.name !== 'string' || it.name === '') fail(`${kind} #${i}`, 'empty name');
      if (seen.has(it.name)) fail(`${kind} "${it.name}"`, `duplicate ${kind} name`);
      seen.add(it.name);
    });
  };
  uniqueNames('lut', b.luts);
  uniqueNames('group', b.groups);
  uniqueNames('projection', b.projections);
  uniqueNames('input', b.inputs);
  uniqueNames('probe', b.probes);

  // LUTs.
  for (const l of b.luts) {
    const what = `lut "${l.name}"`;
    range(what, 'x_min', l.xMin, INT32_MIN, INT32_MAX);
    range(what, 'step_shift', l.stepShift, 0, LUT_STEP_SHIFT_MAX);
    if (!(l.values instanceof Int32Array)) fail(what, 'values is not an Int32Array');
    if (l.values.length !== LUT_SEGMENTS + 1) fail(what, `${l.values.length} values, expected ${LUT_SEGMENTS + 1}`);
  }

  // Groups.
  const nG = b.groups.length;
  for (const g of b.groups) {
    const what = `group "${g.name}"`;
    range(what, 'size', g.size, 1, MAX_GROUP_SIZE);
    if (!enumOk(g.kind, GroupKind)) fail(what, `kind ${g.kind} unknown`);
    if (!enumOk(g.output, OutputMode)) fail(what, `output ${g.output} unknown`);
    if (!enumOk(g.nudge, NudgeSource)) fail(what, `nudge ${g.nudge} unknown`);
    if (!enumOk(g.noiseTarget, NoiseTarget)) fail(what, `noise_target ${g.noiseTarget} unknown`);
    // Slices.
    if (g.slices.length === 0) fail(what, 'no slices (not placed)');
    let next = 0;
    g.slices.forEach((s, si) => {
      const sw = `${what} slice ${si}`;
      range(sw, 'core', s.core, 0, CHIP_CORES - 1);
      range(sw, 'count', s.count, 1, MAX_GROUP_SIZE);
      if (s.start !== next) fail(sw, `start ${s.start}, expected ${next} (slices must cover 0..size−1 in order)`);
      next += s.count;
    });
    if (next !== g.size) fail(what, `slices cover ${next} neurons, size is ${g.size}`);
    if (typeof g.hasBasal !== 'boolean' || typeof g.hasApical !== 'boolean') fail(what, 'has_basal/has_apical not booleans');
    // Coefficients.
    for (const [field, v] of [
      ['basal_decay', g.basalDecay],
      ['apical_decay', g.apicalDecay],
      ['k_basal', g.kBasal],
      ['k_apical', g.kApical],
      ['k_nudge', g.kNudge],
      ['k_total', g.kTotal],
      ['basal_pred_gain', g.basalPredGain],
      ['noise_decay', g.noiseDecay],
      ['x1_decay', g.x1Decay],
      ['x2_decay', g.x2Decay],
      ['hp_decay', g.hpDecay],
    ] as const) {
      range(what, field, v, 0, COEF_MAX);
    }
    if (g.kTotal + g.kNudge > COEF_MAX) fail(what, `k_total + k_nudge = ${g.kTotal + g.kNudge} exceeds ${COEF_MAX}`);
    range(what, 'prospective_gain', g.prospectiveGain, 0, PROSP_MAX);
    // LUT.
    index(what, 'lut', g.lut, b.luts.length, 'lut', true);
    if (g.kind === GroupKind.Neuron && (g.output === OutputMode.Stochastic || g.output === OutputMode.Graded) && g.lut === -1) {
      fail(what, `${OutputMode[g.output].toLowerCase()} output needs a lut`);
    }
    // Nudging.
    if (typeof g.teacherProspective !== 'boolean') fail(what, 'teacher_prospective not a boolean');
    if (g.nudge === NudgeSource.Teacher) {
      index(what, 'teacher', g.teacher, nG, 'group', false);
      const t = b.groups[g.teacher];
      if (t.size !== g.size) fail(what, `teacher "${t.name}" has size ${t.size}, expected ${g.size}`);
    } else if (g.teacher !== -1) {
      fail(what, `teacher ${g.teacher} set but nudge is not teacher (use −1)`);
    }
    if (g.nudge !== NudgeSource.None && g.kind !== GroupKind.Neuron) fail(what, 'an input group cannot be nudged');
    // Scalars.
    range(what, 'threshold', g.threshold, INT32_MIN, INT32_MAX);
    range(what, 'reset', g.reset, INT32_MIN, INT32_MAX);
    range(what, 'refractory', g.refractory, 0, 65535);
    range(what, 'payload_shift', g.payloadShift, 0, PAYLOAD_SHIFT_MAX);
    range(what, 'noise_gain', g.noiseGain, 0, INT32_MAX);
    range(what, 'traces', g.traces, 0, TRACE_X1 | TRACE_X2 | TRACE_HP);
    range(what, 'x1_impulse', g.x1Impulse, INT32_MIN, INT32_MAX);
    range(what, 'x2_impulse', g.x2Impulse, INT32_MIN, INT32_MAX);
    if (!(g.initSoma instanceof Int32Array)) fail(what, 'init_soma is not an Int32Array');
    if (g.initSoma.length !== 0 && g.initSoma.length !== g.size) fail(what, `init_soma has ${g.initSoma.length} values, expected 0 or ${g.size}`);
    if (!(typeof g.valueScale === 'number' && Number.isFinite(g.valueScale))) fail(what, `value_scale ${g.valueScale} is not finite`);
  }

  // Projections.
  for (const pr of b.projections) {
    const what = `projection "${pr.name}"`;
    index(what, 'pre', pr.pre, nG, 'group', false);
    index(what, 'post', pr.post, nG, 'group', false);
    const pre = b.groups[pr.pre];
    const post = b.groups[pr.post];
    if (pre.output === OutputMode.None) fail(what, `pre group "${pre.name}" has output none`);
    if (post.kind !== GroupKind.Neuron) fail(what, `post group "${post.name}" is not a neuron group`);
    if (!enumOk(pr.kind, ProjectionKind)) fail(what, `kind ${pr.kind} unknown`);
    if (!enumOk(pr.target, Compartment)) fail(what, `target ${pr.target} unknown`);
    if (pr.target === Compartment.Basal && !post.hasBasal) fail(what, `target basal but group "${post.name}" has no basal compartment`);
    if (pr.target === Compartment.Apical && !post.hasApical) fail(what, `target apical but group "${post.name}" has no apical compartment`);
    if (!WEIGHT_BITS_ALLOWED.includes(pr.weightBits)) fail(what, `weight_bits ${pr.weightBits} not in ${WEIGHT_BITS_ALLOWED.join('|')}`);
    range(what, 'weight_shift', pr.weightShift, 0, WEIGHT_SHIFT_MAX);
    range(what, 'delay', pr.delay, 1, MAX_DELAY);
    const w = pr.weights;
    if (pr.weightBits === 8 && !(w instanceof Int8Array)) fail(what, 'weights must be an Int8Array for 8-bit weights');
    if (pr.weightBits === 16 && !(w instanceof Int16Array)) fail(what, 'weights must be an Int16Array for 16-bit weights');
    if (pr.kind === ProjectionKind.Sparse) {
      const rp = pr.rowPtr;
      const cols = pr.cols;
      if (!(rp instanceof Uint32Array) || !(cols instanceof Uint16Array)) fail(what, 'sparse projection needs a Uint32Array row_ptr and Uint16Array cols');
      if (rp!.length !== pre.size + 1) fail(what, `row_ptr has ${rp!.length} entries, expected ${pre.size + 1}`);
      if (rp![0] !== 0) fail(what, `row_ptr[0] is ${rp![0]}, expected 0`);
      for (let i = 1; i < rp!.length; i++) if (rp![i] < rp![i - 1]) fail(what, `row_ptr decreases at ${i}`);
      const nSyn = rp![pre.size];
      if (cols!.length !== nSyn) fail(what, `cols has ${cols!.length} entries, row_ptr says ${nSyn}`);
      if (w.length !== nSyn) fail(what, `${w.length} weights, row_ptr says ${nSyn}`);
      const fanIn = new Uint32Array(post.size);
      for (let k = 0; k < nSyn; k++) {
        const c = cols![k];
        if (c >= post.size) fail(what, `cols[${k}] = ${c} not below post size ${post.size}`);
        if (++fanIn[c] > MAX_FAN_IN) fail(what, `fan-in of post neuron ${c} exceeds ${MAX_FAN_IN}`);
      }
    } else {
      if (pr.rowPtr !== null || pr.cols !== null) fail(what, 'row_ptr/cols must be null unless sparse');
      if (pr.kind === ProjectionKind.Dense) {
        if (w.length !== pre.size * post.size) fail(what, `${w.length} weights, expected ${pre.size}×${post.size} = ${pre.size * post.size}`);
        if (pre.size > MAX_FAN_IN) fail(what, `fan-in ${pre.size} exceeds ${MAX_FAN_IN}`);
      } else {
        if (pre.size !== post.size) fail(what, `one-to-one needs equal sizes, pre ${pre.size} ≠ post ${post.size}`);
        if (w.length !== pre.size) fail(what, `${w.length} weights, expected ${pre.size}`);
      }
    }
    if (pr.plasticity !== null) validatePlasticity(what, pr.plasticity, pr, pre, post, fail, range);
  }

  // Input ports.
  let rewards = 0;
  for (const port of b.inputs) {
    const what = `input "${port.name}"`;
    if (!enumOk(port.kind, PortKind)) fail(what, `kind ${port.kind} unknown`);
    if (port.kind === PortKind.Reward) {
      if (port.group !== -1) fail(what, `reward port has group ${port.group}, expected −1`);
      if (++rewards > 1) fail(what, 'more than one reward port');
      continue;
    }
    index(what, 'group', port.group, nG, 'group', false);
    const g = b.groups[port.group];
    if ((port.kind === PortKind.Rate || port.kind === PortKind.Spikes) && g.kind !== GroupKind.Input) {
      fail(what, `${PortKind[port.kind].toLowerCase()} port on group "${g.name}", which is not an input group`);
    }
    if (port.kind === PortKind.Target && g.nudge !== NudgeSource.Target) fail(what, `target port on group "${g.name}", whose nudge is not target`);
  }

  // Probes.
  for (const pb of b.probes) {
    const what = `probe "${pb.name}"`;
    if (!enumOk(pb.variable, ProbeVariable)) fail(what, `variable ${pb.variable} unknown`);
    range(what, 'every', pb.every, 1, UINT32_MAX);
    if (pb.variable === ProbeVariable.Weights) {
      index(what, 'projection', pb.projection, b.projections.length, 'projection', false);
      if (pb.group !== -1) fail(what, `weights probe has group ${pb.group}, expected −1`);
      continue;
    }
    index(what, 'group', pb.group, nG, 'group', false);
    if (pb.projection !== -1) fail(what, `neuron probe has projection ${pb.projection}, expected −1`);
    const g = b.groups[pb.group];
    const neuron = g.kind === GroupKind.Neuron;
    if (pb.variable === ProbeVariable.Basal && !(neuron && g.hasBasal)) fail(what, `group "${g.name}" has no basal compartment`);
    if (pb.variable === ProbeVariable.Apical && !(neuron && g.hasApical)) fail(what, `group "${g.name}" has no apical compartment`);
    if (pb.variable === ProbeVariable.Noise && !(neuron && g.noiseTarget !== NoiseTarget.None)) fail(what, `group "${g.name}" has no noise`);
  }
}

/** Terms a statement may read only if the group has the state behind them. */
function termAvailable(term: number, pre: Group, post: Group): string | null {
  const trace = (g: Group, bit: number, side: string, name: string) => (g.traces & bit ? null : `${side} group "${g.name}" has no ${name} trace`);
  switch (term) {
    case TERMS['pre.x1']:
      return trace(pre, TRACE_X1, 'pre', 'x1');
    case TERMS['pre.x2']:
      return trace(pre, TRACE_X2, 'pre', 'x2');
    case TERMS['pre.hp']:
      return trace(pre, TRACE_HP, 'pre', 'hp');
    case TERMS['post.x1']:
      return trace(post, TRACE_X1, 'post', 'x1');
    case TERMS['post.x2']:
      return trace(post, TRACE_X2, 'post', 'x2');
    case TERMS['post.hp']:
      return trace(post, TRACE_HP, 'post', 'hp');
    case TERMS['post.basal']:
      return post.hasBasal ? null : `post group "${post.name}" has no basal compartment`;
    case TERMS['post.apical']:
      return post.hasApical ? null : `post group "${post.name}" has no apical compartment`;
    case TERMS['post.noise']:
      return post.noiseTarget !== NoiseTarget.None ? null : `post group "${post.name}" has no noise`;
    default:
      return null;
  }
}

function validatePlasticity(
  what: string,
  pl: Plasticity,
  pr: Projection,
  pre: Group,
  post: Group,
  fail: (what: string, msg: string) => never,
  range: (what: string, field: string, v: number, lo: number, hi: number) => void,
): void {
  const n = pl.statements.length;
  if (n < 1 || n > MAX_RULE_STATEMENTS) fail(what, `plasticity has ${n} statements, expected 1..${MAX_RULE_STATEMENTS}`);
  if (typeof pl.source !== 'string') fail(what, 'plasticity source is not a string');
  if (!isInt(pl.fracBits, 0, ACC_WORD_BITS)) fail(what, `frac_bits ${pl.fracBits} not an integer ≥ 0`);
  if (pl.fracBits + pr.weightBits > ACC_WORD_BITS) fail(what, `frac_bits ${pl.fracBits} + weight_bits ${pr.weightBits} exceeds ${ACC_WORD_BITS}`);
  if (!enumOk(pl.rounding, Rounding)) fail(what, `rounding ${pl.rounding} unknown`);
  range(what, 'lowpass', pl.lowpass, 0, COEF_MAX);
  range(what, 'update_shift', pl.updateShift, 0, MAX_UPDATE_SHIFT);
  const sa = RULE_FRAC_BITS - pr.weightShift - pl.fracBits + pl.updateShift;
  if (sa > ACC_WORD_BITS) fail(what, `24 − weight_shift − frac_bits + update_shift = ${sa} exceeds ${ACC_WORD_BITS}`);
  if (typeof pl.tag !== 'boolean') fail(what, 'plasticity tag not a boolean');
  pl.statements.forEach((s, si) => {
    const sw = `${what} statement ${si}`;
    if (!enumOk(s.trigger, Trigger)) fail(sw, `trigger ${s.trigger} unknown`);
    range(sw, 'epoch_shift', s.epochShift, 0, 16);
    if (!enumOk(s.target, RuleTarget)) fail(sw, `target ${s.target} unknown`);
    if (!(s.code instanceof Int32Array)) fail(sw, 'code is not an Int32Array');
    try {
      validateMicrocode(s.code);
    } catch (e) {
      if (e instanceof MicrocodeError) fail(sw, `bad microcode: ${e.message}`);
      throw e;
    }
    const used = termsUsed(s.code);
    if ((s.target === RuleTarget.Tag || used.has(TERMS['syn.tag'])) && !pl.tag) fail(sw, 'uses the synapse tag but plasticity.tag is false');
    for (const term of used) {
      const missing = termAvailable(term, pre, post);
      if (missing) fail(sw, missing);
    }
  });
}

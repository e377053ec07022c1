/**
 * ONNX models: parse a `.onnx` file (a protobuf `onnx.ModelProto`) into plain TypeScript values (docs/onnx.md).
 *
 * The schema is proto/onnx.proto, a subset of ONNX's onnx.proto with ONNX's exact field numbers, loaded at run
 * time with protobufjs. Every tensor stored in the model (initializers, tensor attributes) is decoded into a
 * Float64Array whatever its storage: `raw_data` (fixed-width little-endian) or the typed fields `float_data`,
 * `double_data`, `int32_data` (int8/uint8/int16/uint16/bool/float16), `int64_data`, `uint64_data` (uint32/uint64).
 * Tensors kept outside the file (external data), sparse initializers and element types with no float64 value
 * (strings, complex, bfloat16, 8/4-bit floats, 4/2-bit ints) are rejected with a one-line OnnxError.
 *
 * The result is the graph as written: nodes in file order with their attributes, graph inputs (those that are
 * not initializers) and outputs with their declared element types and shapes, initializers, opset imports.
 * Nothing is evaluated here; floatReference.ts runs the graph.
 */
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { ApicalError } from '../../emulator/errors.js';
import { protoPath, protoRoot } from '../../emulator/protoFiles.js';

// ---------------------------------------------------------------------------------------------- errors

const ONNX_HINT = 'see docs/onnx.md';

/** A problem with an ONNX model or tensor file: not ONNX, corrupted, or using something apical does not support. */
export class OnnxError extends ApicalError {
  override name = 'OnnxError';
  constructor(message: string, hint: string = ONNX_HINT) {
    // Always one line, whatever names a corrupted file holds.
    super(message.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`), hint);
  }
}

/** One line: protobufjs and fs messages may contain newlines. */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** A name as it appears in messages: double-quoted, JSON-escaped, long names shortened. */
export function onnxQuote(name: string): string {
  const s = name.length > 80 ? `${name.slice(0, 77)}...` : name;
  return JSON.stringify(s);
}
const q = onnxQuote;

// ---------------------------------------------------------------------------------------------- types

/** Element type names, indexed by ONNX's TensorProto.DataType value. */
export const ONNX_DATA_TYPES: readonly string[] = [
  'UNDEFINED',
  'FLOAT',
  'UINT8',
  'INT8',
  'UINT16',
  'INT16',
  'INT32',
  'INT64',
  'STRING',
  'BOOL',
  'FLOAT16',
  'DOUBLE',
  'UINT32',
  'UINT64',
  'COMPLEX64',
  'COMPLEX128',
  'BFLOAT16',
  'FLOAT8E4M3FN',
  'FLOAT8E4M3FNUZ',
  'FLOAT8E5M2',
  'FLOAT8E5M2FNUZ',
  'UINT4',
  'INT4',
  'FLOAT4E2M1',
  'FLOAT8E8M0',
  'UINT2',
  'INT2',
];

/** The element types whose tensors apical decodes (into float64 values). */
export const ONNX_DECODABLE_TYPES: readonly string[] = ['FLOAT', 'DOUBLE', 'FLOAT16', 'INT8', 'UINT8', 'INT16', 'UINT16', 'INT32', 'UINT32', 'INT64', 'UINT64', 'BOOL'];

/** Name of an ONNX data type number (`FLOAT`, `INT64`...; `DATA_TYPE_<n>` for numbers this schema does not know). */
export function onnxDataTypeName(t: number): string {
  return ONNX_DATA_TYPES[t] ?? `DATA_TYPE_${t}`;
}

/** A tensor with its values as float64 (INT64/UINT64 values beyond 2^53 are rounded). Row-major; dims [] is a scalar. */
export interface OnnxTensor {
  name: string;
  /** The stored element type (`FLOAT`, `INT64`...). */
  dataType: string;
  dims: number[];
  data: Float64Array;
}

/** One dimension of a declared shape: a size, a symbolic name (`dim_param`, e.g. "N"), or null (unknown). */
export type OnnxDim = number | string | null;

/** A graph input, output or value_info entry. */
export interface OnnxValueInfo {
  name: string;
  /** `tensor`, or the non-tensor kind (`sequence`, `map`, `optional`, `sparse_tensor`); `unknown` if no type. */
  kind: 'tensor' | 'sequence' | 'map' | 'optional' | 'sparse_tensor' | 'unknown';
  /** Element type name for tensors (`FLOAT`...), null otherwise. */
  elemType: string | null;
  /** Declared shape; null when the shape (even its rank) is not declared. */
  shape: OnnxDim[] | null;
}

/** A node attribute. Sub-graphs, sparse tensors and type protos are recorded by type only (value null). */
export type OnnxAttribute =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: OnnxTensor }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensors'; value: OnnxTensor[] }
  | { type: 'graph' | 'graphs' | 'sparse_tensor' | 'sparse_tensors' | 'type_proto' | 'type_protos' | 'ref' | 'undefined'; value: null };

export interface OnnxNode {
  /** Node name ('' when the model has none). */
  name: string;
  opType: string;
  /** Operator domain; '' is the default ONNX domain (`ai.onnx` is normalised to ''). */
  domain: string;
  /** Input value names; '' marks an omitted optional input. */
  inputs: string[];
  /** Output value names; '' marks an unused optional output. */
  outputs: string[];
  attributes: Record<string, OnnxAttribute>;
}

export interface OnnxOpsetImport {
  /** '' for the default ONNX domain (`ai.onnx` is normalised to ''). */
  domain: string;
  version: number;
}

export interface OnnxGraph {
  name: string;
  /** Graph inputs the caller must provide: declared inputs that are not initializers, in file order. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** Declared types of intermediate values (often empty). */
  valueInfo: OnnxValueInfo[];
  /** Constant tensors by name, in file order. */
  initializers: Map<string, OnnxTensor>;
  /** Nodes in file order (ONNX requires topological order). */
  nodes: OnnxNode[];
}

export interface OnnxModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsetImports: OnnxOpsetImport[];
  graph: OnnxGraph;
}

// ---------------------------------------------------------------------------------------------- schema

/** Absolute path of proto/onnx.proto. */
export function onnxProtoPath(): string {
  return protoPath('onnx.proto');
}

/** The parsed schema (package onnx), loaded once. */
export function onnxProtoRoot(): protobuf.Root {
  return protoRoot('onnx.proto');
}

let cachedTypes: { model: protobuf.Type; tensor: protobuf.Type } | null = null;

function types(): { model: protobuf.Type; tensor: protobuf.Type } {
  if (!cachedTypes) {
    const root = onnxProtoRoot();
    cachedTypes = { model: root.lookupType('onnx.ModelProto'), tensor: root.lookupType('onnx.TensorProto') };
  }
  return cachedTypes;
}

// ---------------------------------------------------------------------------------------------- decoded messages

/** protobufjs gives int64 fields as Long objects (numbers when `long` is absent, strings in some paths). */
type Int64 = number | string | { toNumber(): number };

function num(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  return v.toNumber();
}

function has(msg: object, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(msg, field);
}

interface MsgStringString {
  key: string;
  value: string;
}

interface MsgTensor {
  dims: Int64[];
  dataType: number;
  segment?: { begin: Int64; end: Int64 } | null;
  floatData: number[];
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: Int64[];
  name: string;
  rawData: Uint8Array;
  externalData: MsgStringString[];
  dataLocation: number;
  doubleData: number[];
  uint64Data: Int64[];
}

interface MsgAttribute {
  name: string;
  refAttrName: string;
  type: number;
  f: number;
  i: Int64;
  s: Uint8Array | number[];
  t?: MsgTensor | null;
  g?: object | null;
  floats: number[];
  ints: Int64[];
  strings: (Uint8Array | number[])[];
  tensors: MsgTensor[];
  graphs: object[];
}

interface MsgNode {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain: string;
  attribute: MsgAttribute[];
}

interface MsgShape {
  dim: { dimValue?: Int64; dimParam?: string; value?: string }[];
}

interface MsgType {
  tensorType?: { elemType: number; shape?: MsgShape | null } | null;
  sequenceType?: object | null;
  mapType?: object | null;
  optionalType?: object | null;
  sparseTensorType?: object | null;
}

interface MsgValueInfo {
  name: string;
  type?: MsgType | null;
}

interface MsgGraph {
  node: MsgNode[];
  name: string;
  initializer: MsgTensor[];
  sparseInitializer: { values?: MsgTensor | null }[];
  input: MsgValueInfo[];
  output: MsgValueInfo[];
  valueInfo: MsgValueInfo[];
}

interface MsgModel {
  irVersion: Int64;
  opsetImport: { domain: string; version: Int64 }[];
  producerName: string;
  producerVersion: string;
  graph?: MsgGraph | null;
}

// ---------------------------------------------------------------------------------------------- tensors

const textDecoder = new TextDecoder();

/** protobufjs leaves absent bytes fields as a default that is not always a Uint8Array. */
function utf8(b: Uint8Array | number[] | null | undefined): string {
  if (!b) return '';
  return textDecoder.decode(b instanceof Uint8Array ? b : Uint8Array.from(b));
}

/** float16 bits → number. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Bytes per element in raw_data, for the decodable types. */
const RAW_SIZE: Record<string, number> = {
  FLOAT: 4,
  DOUBLE: 8,
  FLOAT16: 2,
  INT8: 1,
  UINT8: 1,
  INT16: 2,
  UINT16: 2,
  INT32: 4,
  UINT32: 4,
  INT64: 8,
  UINT64: 8,
  BOOL: 1,
};

function decodeRaw(raw: Uint8Array, type: string, n: number): Float64Array {
  const out = new Float64Array(n);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (type) {
    case 'FLOAT':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case 'DOUBLE':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case 'FLOAT16':
      for (let i = 0; i < n; i++) out[i] = halfToNumber(dv.getUint16(i * 2, true));
      break;
    case 'INT8':
      for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
      break;
    case 'UINT8':
      for (let i = 0; i < n; i++) out[i] = dv.getUint8(i);
      break;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = dv.getUint8(i) !== 0 ? 1 : 0;
      break;
    case 'INT16':
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
      break;
    case 'UINT16':
      for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true);
      break;
    case 'INT32':
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      break;
    case 'UINT32':
      for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true);
      break;
    case 'INT64':
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
      break;
    case 'UINT64':
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigUint64(i * 8, true));
      break;
  }
  return out;
}

/** The typed field that holds `type`'s values when raw_data is not used, and how to read one element. */
function typedField(m: MsgTensor, type: string): { field: string; values: ArrayLike<unknown>; conv: (v: never) => number } {
  switch (type) {
    case 'FLOAT':
      return { field: 'float_data', values: m.floatData, conv: (v: number) => v };
    case 'DOUBLE':
      return { field: 'double_data', values: m.doubleData, conv: (v: number) => v };
    case 'INT64':
      return { field: 'int64_data', values: m.int64Data, conv: (v: Int64) => num(v) };
    case 'UINT32':
    case 'UINT64':
      return { field: 'uint64_data', values: m.uint64Data, conv: (v: Int64) => num(v) };
    case 'FLOAT16':
      return { field: 'int32_data', values: m.int32Data, conv: (v: number) => halfToNumber(v & 0xffff) };
    case 'BOOL':
      return { field: 'int32_data', values: m.int32Data, conv: (v: number) => (v !== 0 ? 1 : 0) };
    // int8, uint8, int16, uint16 and int32 values are stored as their int32 value.
    default:
      return { field: 'int32_data', values: m.int32Data, conv: (v: number) => v };
  }
}

function dimsString(dims: number[]): string {
  return `[${dims.join(', ')}]`;
}

function decodeTensor(m: MsgTensor, what: string): OnnxTensor {
  const name = m.name ?? '';
  const label = `${what} ${q(name)}`;
  if (m.dataLocation === 1 || (m.externalData && m.externalData.length > 0)) {
    throw new OnnxError(`${label} uses external data (not supported: save the model with weights embedded)`, 'e.g. onnx.save_model(model, path, save_as_external_data=False)');
  }
  if (m.segment) throw new OnnxError(`${label} is stored in segments (not supported)`);
  const type = onnxDataTypeName(m.dataType ?? 0);
  if (type === 'UNDEFINED') throw new OnnxError(`${label} has no data type`);
  if (!ONNX_DECODABLE_TYPES.includes(type)) {
    throw new OnnxError(`${label} has unsupported type ${type}`, `apical reads tensors of type ${ONNX_DECODABLE_TYPES.join(', ')}`);
  }
  const dims = (m.dims ?? []).map(num);
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new OnnxError(`${label} has invalid dims ${dimsString(dims)}`);
  }
  const n = dims.reduce((a, b) => a * b, 1);
  let data: Float64Array;
  if (has(m, 'rawData')) {
    const expected = n * RAW_SIZE[type];
    if (m.rawData.length !== expected) {
      throw new OnnxError(`${label} has ${m.rawData.length} bytes of raw_data, expected ${expected} for ${type} ${dimsString(dims)}`);
    }
    data = decodeRaw(m.rawData, type, n);
  } else {
    const { field, values, conv } = typedField(m, type);
    const len = values ? values.length : 0;
    if (len !== n) throw new OnnxError(`${label} has ${len} values in ${field}, expected ${n} for ${type} ${dimsString(dims)}`);
    data = new Float64Array(n);
    const c = conv as (v: unknown) => number;
    for (let i = 0; i < n; i++) data[i] = c(values[i]);
  }
  return { name, dataType: type, dims, data };
}

// ---------------------------------------------------------------------------------------------- graph

function normDomain(d: string | undefined | null): string {
  return !d || d === 'ai.onnx' ? '' : d;
}

function valueInfo(v: MsgValueInfo): OnnxValueInfo {
  const t = v.type;
  const out: OnnxValueInfo = { name: v.name ?? '', kind: 'unknown', elemType: null, shape: null };
  if (!t) return out;
  if (t.tensorType) {
    out.kind = 'tensor';
    out.elemType = onnxDataTypeName(t.tensorType.elemType ?? 0);
    const shape = t.tensorType.shape;
    if (shape) {
      out.shape = (shape.dim ?? []).map((d) => {
        if (has(d, 'dimValue')) return num(d.dimValue);
        if (has(d, 'dimParam') && d.dimParam) return d.dimParam;
        return null;
      });
    }
  } else if (t.sequenceType) out.kind = 'sequence';
  else if (t.mapType) out.kind = 'map';
  else if (t.optionalType) out.kind = 'optional';
  else if (t.sparseTensorType) out.kind = 'sparse_tensor';
  return out;
}

const ATTR_TYPES: Record<number, OnnxAttribute['type']> = {
  0: 'undefined',
  1: 'float',
  2: 'int',
  3: 'string',
  4: 'tensor',
  5: 'graph',
  6: 'floats',
  7: 'ints',
  8: 'strings',
  9: 'tensors',
  10: 'graphs',
  11: 'sparse_tensor',
  12: 'sparse_tensors',
  13: 'type_proto',
  14: 'type_protos',
};

/** The attribute type for IR version 1 files, which have no `type` field: the field that is set. */
function guessAttrType(a: MsgAttribute): number {
  if (has(a, 'f')) return 1;
  if (has(a, 'i')) return 2;
  if (has(a, 's')) return 3;
  if (a.t) return 4;
  if (a.g) return 5;
  if (a.floats?.length) return 6;
  if (a.ints?.length) return 7;
  if (a.strings?.length) return 8;
  if (a.tensors?.length) return 9;
  if (a.graphs?.length) return 10;
  return 0;
}

function attribute(a: MsgAttribute, nodeLabel: string): OnnxAttribute {
  if (a.refAttrName) return { type: 'ref', value: null };
  const t = has(a, 'type') && a.type !== 0 ? a.type : guessAttrType(a);
  const type = ATTR_TYPES[t];
  const what = `attribute ${q(a.name)} of ${nodeLabel}: tensor`;
  switch (type) {
    case 'float':
      return { type, value: a.f ?? 0 };
    case 'int':
      return { type, value: num(a.i) };
    case 'string':
      return { type, value: utf8(a.s) };
    case 'tensor':
      if (!a.t) throw new OnnxError(`attribute ${q(a.name)} of ${nodeLabel} is a TENSOR without a tensor`);
      return { type, value: decodeTensor(a.t, what) };
    case 'floats':
      return { type, value: Array.from(a.floats ?? []) };
    case 'ints':
      return { type, value: (a.ints ?? []).map(num) };
    case 'strings':
      return { type, value: (a.strings ?? []).map(utf8) };
    case 'tensors':
      return { type, value: (a.tensors ?? []).map((x) => decodeTensor(x, what)) };
    case undefined:
      return { type: 'undefined', value: null };
    default:
      return { type, value: null };
  }
}

/** `node "name"`, or `node #i` for unnamed nodes. */
export function onnxNodeLabel(node: { name: string }, index: number): string {
  return node.name ? `node ${q(node.name)}` : `node #${index}`;
}

function toModel(m: MsgModel): OnnxModel {
  const irVersion = num(m.irVersion);
  if (!has(m, 'irVersion') || irVersion < 1) throw new OnnxError('not an ONNX model: no ir_version');
  const g = m.graph;
  if (!g) throw new OnnxError('not an ONNX model: no graph');
  const opsetImports = (m.opsetImport ?? []).map((o) => ({ domain: normDomain(o.domain), version: num(o.version) }));
  // IR version 1 and 2 files have no opset_import and mean opset 1 of the default domain.
  if (opsetImports.length === 0) {
    if (irVersion >= 3) throw new OnnxError('not an ONNX model: no opset_import');
    opsetImports.push({ domain: '', version: 1 });
  }
  if ((g.sparseInitializer ?? []).length > 0) {
    const name = g.sparseInitializer[0].values?.name ?? '';
    throw new OnnxError(`sparse initializer ${q(name)} is not supported`, 'store the initializer as a dense tensor');
  }
  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.initializer ?? []) {
    const tensor = decodeTensor(t, 'tensor');
    initializers.set(tensor.name, tensor);
  }
  const nodes: OnnxNode[] = (g.node ?? []).map((n, i) => {
    const label = onnxNodeLabel({ name: n.name ?? '' }, i);
    if (!n.opType) throw new OnnxError(`not an ONNX model: ${label} has no op_type`);
    const attributes: Record<string, OnnxAttribute> = {};
    for (const a of n.attribute ?? []) {
      Object.defineProperty(attributes, a.name, { value: attribute(a, label), enumerable: true, writable: true, configurable: true });
    }
    return {
      name: n.name ?? '',
      opType: n.opType,
      domain: normDomain(n.domain),
      inputs: Array.from(n.input ?? []),
      outputs: Array.from(n.output ?? []),
      attributes,
    };
  });
  return {
    irVersion,
    producerName: m.producerName ?? '',
    producerVersion: m.producerVersion ?? '',
    opsetImports,
    graph: {
      name: g.name ?? '',
      inputs: (g.input ?? []).map(valueInfo).filter((v) => !initializers.has(v.name)),
      outputs: (g.output ?? []).map(valueInfo),
      valueInfo: (g.valueInfo ?? []).map(valueInfo),
      initializers,
      nodes,
    },
  };
}

// ---------------------------------------------------------------------------------------------- entry points

function readBytes(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.code === 'EACCES' ? 'permission denied' : oneLine(err.message);
    throw new OnnxError(`cannot read ${what} "${path}": ${why}`, 'check the path');
  }
}

function withPath(e: unknown, path: string): unknown {
  if (e instanceof OnnxError) return new OnnxError(`${path}: ${e.message}`, e.hint);
  return e;
}

/**
 * Parses an ONNX model from its bytes or from a file path. Throws OnnxError (one line) for anything that is not
 * a well-formed ONNX model or that stores a tensor apical cannot read; errors for files start with the path.
 */
export function loadOnnx(source: Uint8Array | string): OnnxModel {
  if (typeof source === 'string') {
    const bytes = readBytes(source, 'ONNX model');
    try {
      return loadOnnx(bytes);
    } catch (e) {
      throw withPath(e, source);
    }
  }
  if (source.length === 0) throw new OnnxError('not an ONNX model: empty file');
  let msg: MsgModel;
  try {
    msg = types().model.decode(source) as unknown as MsgModel;
  } catch (e) {
    throw new OnnxError(`not an ONNX model: truncated or corrupted protobuf (${oneLine(e instanceof Error ? e.message : String(e))})`);
  }
  try {
    return toModel(msg);
  } catch (e) {
    // Bytes that decode as protobuf but carry fields of the wrong kind (e.g. a corrupted file).
    if (e instanceof OnnxError) throw e;
    throw new OnnxError(`not an ONNX model: corrupted protobuf (${oneLine(e instanceof Error ? e.message : String(e))})`);
  }
}

/**
 * Parses one serialized `onnx.TensorProto` (the `input_*.pb` / `output_*.pb` files of ONNX's backend tests, or
 * `onnx.numpy_helper.from_array(a).SerializeToString()`), from bytes or a file path.
 */
export function loadOnnxTensor(source: Uint8Array | string): OnnxTensor {
  if (typeof source === 'string') {
    const bytes = readBytes(source, 'ONNX tensor');
    try {
      return loadOnnxTensor(bytes);
    } catch (e) {
      throw withPath(e, source);
    }
  }
  let msg: MsgTensor;
  try {
    msg = types().tensor.decode(source) as unknown as MsgTensor;
  } catch (e) {
    throw new OnnxError(`not an ONNX tensor: truncated or corrupted protobuf (${oneLine(e instanceof Error ? e.message : String(e))})`);
  }
  try {
    return decodeTensor(msg, 'tensor');
  } catch (e) {
    if (e instanceof OnnxError) throw e;
    throw new OnnxError(`not an ONNX tensor: corrupted protobuf (${oneLine(e instanceof Error ? e.message : String(e))})`);
  }
}

/** The opset version the model imports for `domain` ('' or 'ai.onnx' = default ONNX domain), or null. */
export function onnxOpsetVersion(model: OnnxModel, domain = ''): number | null {
  const d = normDomain(domain);
  let best: number | null = null;
  for (const o of model.opsetImports) if (o.domain === d && (best === null || o.version > best)) best = o.version;
  return best;
}

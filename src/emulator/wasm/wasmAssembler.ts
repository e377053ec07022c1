/**
 * A minimal WebAssembly binary writer: just what the emulator's load-time kernels need (one imported memory,
 * functions over i32/i64/f64/v128, exports). Kernels are specialised per Program at load (every size, offset
 * and coefficient an immediate), so no build tool is involved: the bytes are produced here and compiled by the
 * engine (WebAssembly.Module) when a Chip is built.
 *
 * Encoding reference: the WebAssembly core specification, binary format (§5), and the fixed-width SIMD
 * proposal (opcode prefix 0xFD), both standard in Node ≥ 16.
 */

export const enum ValType {
  I32 = 0x7f,
  I64 = 0x7e,
  F64 = 0x7c,
  V128 = 0x7b,
}

/** Core opcodes used by the kernels. */
export const enum Op {
  Block = 0x02,
  Loop = 0x03,
  If = 0x04,
  Else = 0x05,
  End = 0x0b,
  Br = 0x0c,
  BrIf = 0x0d,
  Call = 0x10,
  Select = 0x1b,
  LocalGet = 0x20,
  LocalSet = 0x21,
  LocalTee = 0x22,
  I32Load = 0x28,
  F64Load = 0x2b,
  I32Store = 0x36,
  F64Store = 0x39,
  I32Const = 0x41,
  I64Const = 0x42,
  F64Const = 0x44,
  F64Eq = 0x61,
  F64Le = 0x65,
  F64Ge = 0x66,
  F64Floor = 0x9c,
  F64Sub = 0xa1,
  F64Mul = 0xa2,
  F64Min = 0xa4,
  F64Max = 0xa5,
  I32TruncF64S = 0xaa,
  F64ConvertI32S = 0xb7,
  I32Eqz = 0x45,
  I32Ne = 0x47,
  I32LtU = 0x49,
  I32LtS = 0x48,
  I32LeS = 0x4c,
  I32GeS = 0x4e,
  I64GtS = 0x55,
  I64LtS = 0x53,
  I32Ctz = 0x68,
  I32Add = 0x6a,
  I32Sub = 0x6b,
  I32Mul = 0x6c,
  I32And = 0x71,
  I32Xor = 0x73,
  I32Shl = 0x74,
  I32ShrS = 0x75,
  I32ShrU = 0x76,
  I64Add = 0x7c,
  I64Sub = 0x7d,
  I64Mul = 0x7e,
  I64Shl = 0x86,
  I64ShrS = 0x87,
  F64Add = 0xa0,
  I32WrapI64 = 0xa7,
  I64ExtendI32S = 0xac,
  F64ConvertI64S = 0xb9,
}

/** SIMD opcodes (after the 0xFD prefix). */
export const enum Simd {
  V128Load = 0x00,
  V128Load8x8S = 0x01,
  V128Store = 0x0b,
  V128Const = 0x0c,
  I8x16Shuffle = 0x0d,
  I32x4Splat = 0x11,
  F64x2Splat = 0x14,
  I32x4ExtractLane = 0x1b,
  I32x4Eq = 0x37,
  I32x4LtS = 0x39,
  I32x4GtS = 0x3b,
  I32x4GeS = 0x3f,
  F64x2Ge = 0x4c,
  V128Not = 0x4d,
  V128And = 0x4e,
  V128Andnot = 0x4f,
  V128Or = 0x50,
  V128Xor = 0x51,
  V128Bitselect = 0x52,
  V128Store32Lane = 0x5a,
  V128Store64Lane = 0x5b,
  V128Load32Zero = 0x5c,
  V128Load64Zero = 0x5d,
  I8x16NarrowI16x8S = 0x65,
  F64x2Floor = 0x75,
  I16x8NarrowI32x4S = 0x85,
  I32x4Neg = 0xa1,
  I32x4Bitmask = 0xa4,
  I32x4Shl = 0xab,
  I32x4ShrS = 0xac,
  I32x4ShrU = 0xad,
  I32x4Add = 0xae,
  I32x4Sub = 0xb1,
  I32x4Mul = 0xb5,
  I32x4MinS = 0xb6,
  I32x4MaxS = 0xb8,
  I32x4DotI16x8S = 0xba,
  I64x2ExtendLowI32x4S = 0xc7,
  I64x2ExtendHighI32x4S = 0xc8,
  I64x2ShrS = 0xcc,
  I64x2ShrU = 0xcd,
  I64x2Add = 0xce,
  I64x2LtS = 0xd8,
  I64x2GtS = 0xd9,
  I64x2ExtmulLowI32x4S = 0xdc,
  I64x2ExtmulHighI32x4S = 0xdd,
  F64x2Add = 0xf0,
  F64x2Sub = 0xf1,
  F64x2Mul = 0xf2,
  F64x2Pmin = 0xf6,
  F64x2Pmax = 0xf7,
  I32x4TruncSatF64x2SZero = 0xfc,
  F64x2ConvertLowI32x4S = 0xfe,
}

/** Block type "no result". */
export const BLOCK_VOID = 0x40;

function pushU32(out: number[], x: number): void {
  let v = x >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

function pushS64(out: number[], x: bigint): void {
  let v = BigInt.asIntN(64, x);
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return;
  }
}

/**
 * A straight run of instructions. A function body is assembled from several fragments (e.g. a row prologue
 * and an inner-loop body generated side by side) that share the owning function's locals.
 */
export class Fragment {
  readonly bytes: number[] = [];

  op(...ops: number[]): this {
    for (const o of ops) this.bytes.push(o);
    return this;
  }
  append(f: Fragment): this {
    for (const b of f.bytes) this.bytes.push(b);
    return this;
  }
  get(local: number): this {
    this.bytes.push(Op.LocalGet);
    pushU32(this.bytes, local);
    return this;
  }
  set(local: number): this {
    this.bytes.push(Op.LocalSet);
    pushU32(this.bytes, local);
    return this;
  }
  tee(local: number): this {
    this.bytes.push(Op.LocalTee);
    pushU32(this.bytes, local);
    return this;
  }
  i32(x: number): this {
    this.bytes.push(Op.I32Const);
    pushS64(this.bytes, BigInt(x | 0));
    return this;
  }
  f64(x: number): this {
    this.bytes.push(Op.F64Const);
    for (const b of new Uint8Array(new Float64Array([x]).buffer)) this.bytes.push(b);
    return this;
  }
  i64(x: bigint): this {
    this.bytes.push(Op.I64Const);
    pushS64(this.bytes, x);
    return this;
  }
  /** A core memory access with alignment hint log2(align) and a constant byte offset. */
  mem(op: Op, alignLog2: number, offset: number): this {
    this.bytes.push(op);
    pushU32(this.bytes, alignLog2);
    pushU32(this.bytes, offset);
    return this;
  }
  simd(op: Simd): this {
    this.bytes.push(0xfd);
    pushU32(this.bytes, op);
    return this;
  }
  /** A SIMD memory access (alignment hint 0: any address). */
  simdMem(op: Simd, offset: number): this {
    this.simd(op);
    pushU32(this.bytes, 0);
    pushU32(this.bytes, offset);
    return this;
  }
  /** store32_lane / store64_lane / … : memarg then lane index. */
  simdLaneMem(op: Simd, offset: number, lane: number): this {
    this.simdMem(op, offset);
    this.bytes.push(lane);
    return this;
  }
  lane(op: Simd, lane: number): this {
    this.simd(op);
    this.bytes.push(lane);
    return this;
  }
  v128(bytes: ArrayLike<number>): this {
    this.simd(Simd.V128Const);
    for (let i = 0; i < 16; i++) this.bytes.push(bytes[i] & 0xff);
    return this;
  }
  i32x4(a: number, b = a, c = a, d = a): this {
    const v = new Int32Array([a, b, c, d]);
    return this.v128(new Uint8Array(v.buffer));
  }
  f64x2(a: number): this {
    const v = new Float64Array([a, a]);
    return this.v128(new Uint8Array(v.buffer));
  }
  i64x2(a: bigint): this {
    const v = new BigInt64Array([a, a]);
    return this.v128(new Uint8Array(v.buffer));
  }
  shuffle(lanes: number[]): this {
    this.simd(Simd.I8x16Shuffle);
    for (const l of lanes) this.bytes.push(l);
    return this;
  }
  call(index: number): this {
    this.bytes.push(Op.Call);
    pushU32(this.bytes, index);
    return this;
  }
  br(op: Op.Br | Op.BrIf, depth: number): this {
    this.bytes.push(op);
    pushU32(this.bytes, depth);
    return this;
  }
}

/** A function: signature, locals, and a body fragment. */
export class FunctionBuilder extends Fragment {
  private readonly localTypes: ValType[] = [];

  constructor(
    readonly params: ValType[],
    readonly results: ValType[],
  ) {
    super();
  }

  /** A new local of the given type; its index. */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  /** Locals (run-length encoded) + code + end. */
  encodeBody(): number[] {
    const out: number[] = [];
    const runs: [number, ValType][] = [];
    for (const t of this.localTypes) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    pushU32(out, runs.length);
    for (const [n, t] of runs) {
      pushU32(out, n);
      out.push(t);
    }
    for (const b of this.bytes) out.push(b);
    out.push(Op.End);
    return out;
  }
}

function section(out: number[], id: number, content: number[]): void {
  out.push(id);
  pushU32(out, content.length);
  for (const b of content) out.push(b);
}

/** An import/export name (ASCII here). */
function pushName(out: number[], s: string): void {
  pushU32(out, s.length);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0x7f);
}

/**
 * Encodes a module that imports one memory as env.memory (pages fixed: min = max) and exports the given
 * functions by name, in order (function index = position).
 */
export function encodeModule(memoryPages: number, functions: { name: string | null; fn: FunctionBuilder }[]): Uint8Array {
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  // Types: one per function (duplicates are allowed).
  const types: number[] = [];
  pushU32(types, functions.length);
  for (const { fn } of functions) {
    types.push(0x60);
    pushU32(types, fn.params.length);
    for (const p of fn.params) types.push(p);
    pushU32(types, fn.results.length);
    for (const r of fn.results) types.push(r);
  }
  section(out, 1, types);
  const imports: number[] = [];
  pushU32(imports, 1);
  pushName(imports, 'env');
  pushName(imports, 'memory');
  imports.push(0x02, 0x01);
  pushU32(imports, memoryPages);
  pushU32(imports, memoryPages);
  section(out, 2, imports);
  const funcs: number[] = [];
  pushU32(funcs, functions.length);
  functions.forEach((_, i) => pushU32(funcs, i));
  section(out, 3, funcs);
  const exported = functions.map((f, i) => [f.name, i] as const).filter(([n]) => n !== null);
  const exports: number[] = [];
  pushU32(exports, exported.length);
  for (const [name, i] of exported) {
    pushName(exports, name!);
    exports.push(0x00);
    pushU32(exports, i);
  }
  section(out, 7, exports);
  const code: number[] = [];
  pushU32(code, functions.length);
  for (const { fn } of functions) {
    const body = fn.encodeBody();
    pushU32(code, body.length);
    for (const b of body) code.push(b);
  }
  section(out, 10, code);
  return Uint8Array.from(out);
}

/** The subset of the JavaScript WebAssembly API used here (the project's TypeScript libs do not declare it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}

/** The engine's WebAssembly object, or undefined. */
export const wasmApi: WasmApi | undefined = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let simdSupported: boolean | null = null;

/** Whether this engine runs WebAssembly SIMD (a one-instruction probe module, validated once). */
export function wasmSimdSupported(): boolean {
  if (simdSupported === null) {
    const f = new FunctionBuilder([], []);
    f.i32x4(0).op(0x1a); // v128.const 0; drop
    try {
      simdSupported = wasmApi !== undefined && wasmApi.validate(encodeModule(1, [{ name: null, fn: f }]));
    } catch {
      simdSupported = false;
    }
  }
  return simdSupported;
}

export type WasmExports = Record<string, (...args: number[]) => void>;

/**
 * Compiles a module and instantiates it against `memory`; its exported functions. With `warmUp`, the module is
 * also instantiated once against a zeroed scratch memory of the same size, on which `warmUp` calls the
 * exports: instances share their compiled code, so the engine's baseline-to-optimised tier-up happens at load
 * instead of during the first ticks; the real memory is never touched.
 */
export function instantiate(bytes: Uint8Array, memory: WasmMemory, pages: number, warmUp?: (scratch: WasmExports) => void): WasmExports {
  const api = wasmApi!;
  const module = new api.Module(bytes);
  if (warmUp) warmUp(new api.Instance(module, { env: { memory: fixedMemory(pages) } }).exports as WasmExports);
  return new api.Instance(module, { env: { memory } }).exports as WasmExports;
}

/** Bump allocator over linear memory: 16-byte aligned arrays, each followed by 16 bytes of padding. */
export class MemoryLayout {
  size = 0;
  alloc(bytes: number): number {
    const at = this.size;
    this.size = Math.ceil((at + bytes + 16) / 16) * 16;
    return at;
  }
}

/** A fixed-size memory (initial = maximum: never grows, so views on its buffer stay valid). */
export function fixedMemory(pages: number): WasmMemory {
  return new wasmApi!.Memory({ initial: pages, maximum: pages });
}

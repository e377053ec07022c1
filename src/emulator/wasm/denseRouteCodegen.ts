/**
 * WebAssembly SIMD route kernel of one dense projection (docs/chip.md §7): for every postsynaptic neuron j,
 * R[slot][j] += Σ_i w[j·N + i] · p[i], the exact integer sum, added to the f64 ring in linear memory.
 *
 * Exactness. Lanes hold 32-bit partial sums of i32x4.dot_i16x8_s (each lane adds two 16 × 16-bit products per
 * step); they are widened to i64 before they can overflow, and the i64 sum is exact (|Σ| < 2^47 by the fan-in
 * limit), as is its conversion to f64 and the addition to the ring slot (both below 2^53):
 *
 * - 16-bit weights: the payload is split per tick as p = 256·h + l with h = p >> 8 ∈ [−128, 127] and
 *   l = p & 255 ∈ [0, 255] (exact for every int16 p). One dot step adds at most 2·2^15·2^7 = 2^23 to an h lane
 *   and at most 2·2^15·255 < 2^24 to an l lane; after K = 127 steps |lane| < 127·2^24 < 2^31. Then
 *   Σ w·p = 256·Σ_h + Σ_l in i64.
 * - 8-bit weights (sign-extended to 16 bits): one step adds at most 2·2^7·2^15 = 2^23; K = 255 steps stay
 *   below 2^31; the full payload is used directly.
 *
 * Rows are processed 8 presynaptic neurons at a time; the payload vectors are zero beyond N, so the last step of
 * a row (which reads into the next row's weights, or the 16 padding bytes after the matrix) adds nothing.
 */
import { FunctionBuilder, Op, Simd, ValType } from './wasmAssembler.js';

export interface DenseRouteLayout {
  /** Byte offsets in linear memory. */
  weights: number;
  /** 16-bit: payload high parts h; 8-bit: the payloads themselves (int16, zero-padded to a multiple of 8). */
  payloadHigh: number;
  /** 16-bit only: payload low parts l (int16, zero-padded). */
  payloadLow: number;
  ring: number;
}

/** Steps of 8 synapses per i32 accumulation block (see the bounds above). */
export function routeBlockSteps(weightBits: number): number {
  return weightBits === 16 ? 127 : 255;
}

/** route(base): adds this tick's sums into ring elements base .. base + nPost − 1. */
export function emitDenseRoute(nPre: number, nPost: number, weightBits: number, L: DenseRouteLayout): FunctionBuilder {
  const f = new FunctionBuilder([ValType.I32], []);
  const base = 0;
  const j = f.local(ValType.I32);
  const pw = f.local(ValType.I32);
  const po = f.local(ValType.I32);
  const pend = f.local(ValType.I32);
  const ra = f.local(ValType.I32);
  const acc = f.local(ValType.I64);
  const vh = f.local(ValType.V128);
  const vl = f.local(ValType.V128);
  const w8 = f.local(ValType.V128);
  const wide = weightBits === 16;
  const steps = Math.ceil(nPre / 8);
  const endPo = steps * 16;
  const blockBytes = routeBlockSteps(weightBits) * 16;
  const rowBytes = (nPre * weightBits) / 8;
  const hsum = (v: number) => {
    for (let l = 0; l < 4; l++) {
      f.get(v).lane(Simd.I32x4ExtractLane, l).op(Op.I64ExtendI32S);
      if (l > 0) f.op(Op.I64Add);
    }
  };
  f.i32(0).set(j);
  f.op(Op.Loop, 0x40); // rows
  f.get(j).i32(rowBytes).op(Op.I32Mul).i32(L.weights).op(Op.I32Add).set(pw);
  f.i64(0n).set(acc);
  f.i32(0).set(po);
  f.op(Op.Loop, 0x40); // blocks
  f.i32x4(0).set(vh);
  if (wide) f.i32x4(0).set(vl);
  f.get(po).i32(blockBytes).op(Op.I32Add).set(pend);
  f.get(pend).i32(endPo).get(pend).i32(endPo).op(Op.I32LtU).op(Op.Select).set(pend);
  f.op(Op.Loop, 0x40); // steps
  f.get(pw).simdMem(wide ? Simd.V128Load : Simd.V128Load8x8S, 0).set(w8);
  f.get(vh).get(w8).get(po).simdMem(Simd.V128Load, L.payloadHigh).simd(Simd.I32x4DotI16x8S).simd(Simd.I32x4Add).set(vh);
  if (wide) f.get(vl).get(w8).get(po).simdMem(Simd.V128Load, L.payloadLow).simd(Simd.I32x4DotI16x8S).simd(Simd.I32x4Add).set(vl);
  f.get(pw).i32(wide ? 16 : 8).op(Op.I32Add).set(pw);
  f.get(po).i32(16).op(Op.I32Add).tee(po).get(pend).op(Op.I32LtU).br(Op.BrIf, 0);
  f.op(Op.End); // steps
  f.get(acc);
  hsum(vh);
  if (wide) {
    f.i64(8n).op(Op.I64Shl);
    hsum(vl);
    f.op(Op.I64Add);
  }
  f.op(Op.I64Add).set(acc);
  f.get(po).i32(endPo).op(Op.I32LtU).br(Op.BrIf, 0);
  f.op(Op.End); // blocks
  // ring[base + j] += acc (f64, exact).
  f.get(base).get(j).op(Op.I32Add).i32(3).op(Op.I32Shl).tee(ra);
  f.get(ra).mem(Op.F64Load, 3, L.ring).get(acc).op(Op.F64ConvertI64S).op(Op.F64Add).mem(Op.F64Store, 3, L.ring);
  f.get(j).i32(1).op(Op.I32Add).tee(j).i32(nPost).op(Op.I32LtU).br(Op.BrIf, 0);
  f.op(Op.End); // rows
  return f;
}

/**
 * Compiles a projection's route phase (docs/chip.md §7) into a specialised function at load, so each
 * projection's loop sees one weight-array type. The result is the exact integer sum Σ w·payload into the ring
 * slot; the loop shape (dot products over all presynaptic payloads, or fan-out of the events) is chosen per
 * tick by activity and does not change the sum (all partial sums are exact integers below 2^53).
 */
import { ProjectionKind } from './program.js';

export type RouteKernel = (
  pay: Int32Array,
  ev: Int32Array,
  ne: number,
  w: Int8Array | Int16Array,
  ring: Float64Array,
  base: number,
  rowPtr: Uint32Array | null,
  cols: Uint16Array | null,
) => void;

export function routeKernelSource(kind: ProjectionKind, nPre: number, nPost: number): string {
  const N = nPre;
  const M = nPost;
  if (kind === ProjectionKind.Dense) {
    // Dense weights are post-major: w[j·N + i].
    const N4 = N & ~3;
    return `
if (ne * 8 >= ${N}) {
  for (let j = 0; j < ${M}; j++) {
    const row = j * ${N};
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (let i = 0; i < ${N4}; i += 4) {
      a0 += w[row + i] * pay[i];
      a1 += w[row + i + 1] * pay[i + 1];
      a2 += w[row + i + 2] * pay[i + 2];
      a3 += w[row + i + 3] * pay[i + 3];
    }
    for (let i = ${N4}; i < ${N}; i++) a0 += w[row + i] * pay[i];
    const acc = (a0 + a1) + (a2 + a3);
    if (acc !== 0) ring[base + j] += acc;
  }
} else {
  for (let e = 0; e < ne; e++) {
    const i = ev[e];
    const x = pay[i];
    if (x === 1) for (let j = 0, k = i; j < ${M}; j++, k += ${N}) ring[base + j] += w[k];
    else for (let j = 0, k = i; j < ${M}; j++, k += ${N}) ring[base + j] += w[k] * x;
  }
}`;
  }
  if (kind === ProjectionKind.Sparse) {
    return `
for (let e = 0; e < ne; e++) {
  const i = ev[e];
  const x = pay[i];
  const k1 = rowPtr[i + 1];
  if (x === 1) for (let k = rowPtr[i]; k < k1; k++) ring[base + cols[k]] += w[k];
  else for (let k = rowPtr[i]; k < k1; k++) ring[base + cols[k]] += w[k] * x;
}`;
  }
  return `
for (let e = 0; e < ne; e++) {
  const i = ev[e];
  ring[base + i] += w[i] * pay[i];
}`;
}

export function compileRouteKernel(kind: ProjectionKind, nPre: number, nPost: number): RouteKernel {
  return new Function('pay', 'ev', 'ne', 'w', 'ring', 'base', 'rowPtr', 'cols', routeKernelSource(kind, nPre, nPost)) as RouteKernel;
}

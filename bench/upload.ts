/**
 * Program upload to the host board: bytes/s of SerialDevice.load (encodeProgram, LOAD_BEGIN, the LOAD_CHUNK
 * stream with its windowed acknowledgements, LOAD_END, which includes the board's own apx_load) through a
 * pseudo terminal to firmware-bridge/build/apx_board, against the C core's raw apx_load speed on the same
 * file (apx_bench with 0 ticks, in-process, no I/O).
 *
 *   nativeRatio = upload bytes/s ÷ C apx_load bytes/s  (below 1: the share of the in-memory load speed that
 *                 the whole host → wire → board path achieves)
 *
 * Two Programs of the same size and different seeds alternate, so that every load is a real transfer (loading
 * the Program the board already holds is a no-op).
 */
import { encodeProgram } from '../src/emulator/programCodec.js';
import type { Program } from '../src/emulator/program.js';
import { startHostBoard } from '../src/devices/hostBoard.js';
import { SerialDevice } from '../src/devices/serialDevice.js';
import { compileNetwork } from '../src/models/compiler.js';
import { runNative, type NativeBinary } from './nativeCore.js';
import { denseGraded } from './workloads.js';
import { median } from './stats.js';

export interface UploadResult {
  name: string;
  description: string;
  /** Larger of the two alternating Programs (bytes). */
  programBytes: number;
  repeats: number;
  /** SerialDevice.load wall time, per repeat (s). */
  uploadSecondsAll: number[];
  uploadSeconds: number;
  uploadBytesPerSec: number;
  /** encodeProgram alone (part of every upload), median (s). */
  encodeSeconds: number;
  /** Host → board wire bytes of the loads (all frames, SLIP escapes, CRC) per Program byte. */
  wireBytesPerProgramByte: number;
  retransmissions: number;
  nativeLoadSeconds: number | null;
  nativeLoadBytesPerSec: number | null;
  nativeRatio: number | null;
  nativeReason?: string;
}

export async function benchUpload(size: number, repeats: number, native: NativeBinary): Promise<UploadResult> {
  const programs: Program[] = [7, 8].map((seed) => compileNetwork(denseGraded(false, size, 1, seed).net).program);
  const sizes = programs.map((p) => encodeProgram(p, { validate: false }).length);
  const bytes = Math.max(...sizes);
  const encodeAll: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    encodeProgram(programs[r % 2], { validate: false });
    encodeAll.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const board = await startHostBoard();
  const device = new SerialDevice(board.path, { responseTimeoutMs: 60_000 });
  const uploads: number[] = [];
  let wireOut = 0;
  let retransmissions = 0;
  try {
    await device.open();
    for (let r = 0; r < repeats; r++) {
      const before = device.stats ? { ...device.stats } : null;
      const t0 = process.hrtime.bigint();
      const res = await device.load(programs[r % 2]);
      uploads.push(Number(process.hrtime.bigint() - t0) / 1e9);
      if (res.alreadyLoaded) throw new Error('upload bench: the board reported the Program as already loaded');
      const after = device.stats;
      if (before && after) {
        wireOut += after.wireBytesOut - before.wireBytesOut;
        retransmissions += after.retransmissions - before.retransmissions;
      }
    }
    await device.shutdown();
  } finally {
    await device.close();
    await board.stop();
  }
  const upload = median(uploads);
  const uploadRate = median(uploads.map((s, r) => sizes[r % 2] / s));
  let nativeLoad: number | null = null;
  let nativeReason: string | undefined;
  if (native.path !== null) {
    const run = runNative(native.path, programs[0], [], 0, repeats);
    nativeLoad = median(run.loadSeconds);
  } else {
    nativeReason = native.reason;
  }
  const nativeRate = nativeLoad === null ? null : sizes[0] / nativeLoad;
  return {
    name: 'program-upload',
    description: `${size}x${size} dense 16-bit Program (${bytes} bytes) through SerialDevice to apx_board over a pty`,
    programBytes: bytes,
    repeats,
    uploadSecondsAll: uploads,
    uploadSeconds: upload,
    uploadBytesPerSec: uploadRate,
    encodeSeconds: median(encodeAll),
    wireBytesPerProgramByte: wireOut / uploads.reduce((a, _, r) => a + sizes[r % 2], 0),
    retransmissions,
    nativeLoadSeconds: nativeLoad,
    nativeLoadBytesPerSec: nativeRate,
    nativeRatio: nativeRate === null ? null : uploadRate / nativeRate,
    ...(nativeReason ? { nativeReason } : {}),
  };
}

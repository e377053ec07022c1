import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { APX_FORMAT_VERSION, APX_MAGIC, CHIP_REVISION, COEF_MAX } from '../src/emulator/constants.js';
import { ChipRevisionError, ProgramFormatError, ProgramInvalidError } from '../src/emulator/errors.js';
import { encodeWord, Op } from '../src/emulator/microcode.js';
import { GroupKind, OutputMode, PortKind, ProbeVariable, ProjectionKind, RuleTarget, type Program } from '../src/emulator/program.js';
import {
  checkChipRevision,
  decodeProgram,
  encodeProgram,
  finalizeProgram,
  programHash,
  programProtoPath,
  programProtoRoot,
  readProgramFile,
  validateProgram,
  writeProgramFile,
} from '../src/emulator/programCodec.js';
import { sampleProgram } from './helpers/sampleProgram.js';

const tmp = mkdtempSync(join(tmpdir(), 'apical-codec-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function expectError(fn: () => unknown, cls: new (...a: never[]) => Error, ...parts: string[]): Error {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an error').toBeInstanceOf(cls);
  for (const part of parts) expect((err as Error).message).toContain(part);
  return err as Error;
}

describe('schema', () => {
  it('finds proto/program.proto above the module', () => {
    expect(programProtoPath()).toMatch(/proto[\\/]program\.proto$/);
  });
});

describe('round trip', () => {
  it('decode(encode(p)) equals p, typed arrays included', () => {
    const p = sampleProgram();
    const bytes = encodeProgram(p);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([...APX_MAGIC]);
    const q = decodeProgram(bytes);
    expect(q).toStrictEqual(p);
    // Spot checks on the typed arrays (toStrictEqual compares their classes and contents).
    const [fc1, sp, oo] = q.body.projections;
    expect(fc1.weights).toBeInstanceOf(Int8Array);
    expect(sp.weights).toBeInstanceOf(Int16Array);
    expect(Array.from(sp.weights)).toEqual([-32768, 32767, 1, -1, 300]);
    expect(sp.rowPtr).toBeInstanceOf(Uint32Array);
    expect(Array.from(sp.cols!)).toEqual([4, 0, 1, 2, 4]);
    expect(oo.rowPtr).toBeNull();
    expect(oo.plasticity).toBeNull();
    expect(fc1.plasticity!.statements[1].code).toBeInstanceOf(Int32Array);
    expect(q.body.groups[2].initSoma[4]).toBe(-2147483648);
    expect(q.body.luts[0].values).toBeInstanceOf(Int32Array);
    expect(q.seed).toBe(0xdeadbeef);
  });

  it('re-encoding a decoded program gives the same bytes', () => {
    const bytes = encodeProgram(sampleProgram());
    expect(Buffer.from(encodeProgram(decodeProgram(bytes))).equals(Buffer.from(bytes))).toBe(true);
  });

  it('writes and reads files', () => {
    const p = sampleProgram();
    const path = join(tmp, 'sample.apx');
    writeProgramFile(path, p);
    expect(readProgramFile(path)).toStrictEqual(p);
  });

  it('a missing file is a ProgramFormatError naming the path', () => {
    const path = join(tmp, 'nope.apx');
    expectError(() => readProgramFile(path), ProgramFormatError, path, 'no such file');
  });
});

describe('hash', () => {
  it('is stable, 64 lowercase hex digits, and matches programHash', () => {
    const a = sampleProgram();
    const b = sampleProgram();
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.hash).toBe(b.hash);
    expect(decodeProgram(encodeProgram(a)).hash).toBe(a.hash);
    // Recompute from the definition: "apx" ‖ u32le(version) ‖ u32le(revision) ‖ u32le(seed) ‖ body bytes.
    const file = programProtoRoot().lookupType('apical.v1.ProgramFile').decode(encodeProgram(a).subarray(4)) as unknown as { body: Uint8Array };
    const prefix = Buffer.alloc(15);
    prefix.write('apx', 0, 'ascii');
    prefix.writeUInt32LE(a.formatVersion, 3);
    prefix.writeUInt32LE(a.chipRevision, 7);
    prefix.writeUInt32LE(a.seed, 11);
    const manual = createHash('sha256').update(prefix).update(file.body).digest('hex');
    expect(manual).toBe(a.hash);
    expect(programHash(file.body, a)).toBe(a.hash);
  });

  it('does not depend on metadata key order', () => {
    const a = sampleProgram();
    const b = sampleProgram();
    b.body.metadata = Object.fromEntries(Object.entries(b.body.metadata).reverse());
    expect(finalizeProgram(b).hash).toBe(a.hash);
  });

  it('changes when one weight, the seed or the chip revision changes', () => {
    const base = sampleProgram().hash;
    const w = sampleProgram();
    w.body.projections[1].weights[2] += 1;
    expect(finalizeProgram(w).hash).not.toBe(base);
    const s = sampleProgram();
    s.seed = 1;
    expect(finalizeProgram(s).hash).not.toBe(base);
    const r = sampleProgram();
    r.chipRevision = CHIP_REVISION + 1;
    expect(finalizeProgram(r).hash).not.toBe(base);
  });

  it('encodeProgram ignores and keeps p.hash; finalizeProgram sets it', () => {
    const p = sampleProgram();
    const good = p.hash;
    p.hash = 'stale';
    const q = decodeProgram(encodeProgram(p));
    expect(p.hash).toBe('stale');
    expect(q.hash).toBe(good);
    expect(finalizeProgram(p).hash).toBe(good);
  });
});

describe('format errors', () => {
  const bytes = () => encodeProgram(sampleProgram());

  it('bad magic', () => {
    const b = bytes();
    b[0] = 0x7f;
    expectError(() => decodeProgram(b), ProgramFormatError, 'bad magic');
    expectError(() => decodeProgram(new Uint8Array(2)), ProgramFormatError, 'bad magic');
  });

  it('truncated file', () => {
    const b = bytes();
    expectError(() => decodeProgram(b.subarray(0, b.length - 10)), ProgramFormatError, 'corrupted');
    expectError(() => decodeProgram(b.subarray(0, 4)), ProgramFormatError, 'corrupted');
  });

  it('one flipped byte in the body', () => {
    const b = bytes();
    const at = b.length - 200; // inside the body (the body is the file's last field)
    b[at] ^= 0x01;
    expectError(() => decodeProgram(b), ProgramFormatError, 'corrupted');
  });

  it('every single flipped byte is caught', () => {
    const b = bytes();
    for (let i = 0; i < b.length; i += 7) {
      const c = b.slice();
      c[i] ^= 0x10;
      expect(() => decodeProgram(c), `byte ${i}`).toThrow(ProgramFormatError);
    }
  });

  it('unknown format version', () => {
    const p = sampleProgram();
    p.formatVersion = APX_FORMAT_VERSION + 6;
    const err = expectError(() => decodeProgram(encodeProgram(p)), ProgramFormatError, `${APX_FORMAT_VERSION + 6}`, `this apical reads format ${APX_FORMAT_VERSION}`);
    expect((err as ProgramFormatError).hint).not.toBe('');
  });

  it('path is named for file errors', () => {
    const path = join(tmp, 'bad.apx');
    const b = bytes();
    b[b.length - 1] ^= 0xff;
    writeFileSync(path, b);
    expectError(() => readProgramFile(path), ProgramFormatError, path, 'SHA-256 mismatch');
  });
});

describe('chip revision', () => {
  it('is not checked by decode, but by checkChipRevision', () => {
    const p = sampleProgram();
    p.chipRevision = CHIP_REVISION + 1;
    const q = decodeProgram(encodeProgram(p));
    expect(q.chipRevision).toBe(CHIP_REVISION + 1);
    const err = expectError(() => checkChipRevision(q), ChipRevisionError, `${CHIP_REVISION + 1}`, `${CHIP_REVISION}`);
    expect((err as ChipRevisionError).hint).not.toBe('');
    expect(() => checkChipRevision(sampleProgram())).not.toThrow();
  });
});

describe('validateProgram', () => {
  const cases: [string, (p: Program) => void, string[]][] = [
    ['weight bits', (p) => (p.body.projections[0].weightBits = 12), ['projection "fc1"', 'weight_bits 12 not in 8|16']],
    ['weights array type', (p) => (p.body.projections[0].weights = new Int16Array(20)), ['projection "fc1"', 'Int8Array']],
    ['dense weight count', (p) => (p.body.projections[3].weights = new Int16Array(9)), ['projection "fb"', '9 weights']],
    ['sparse column', (p) => (p.body.projections[1].cols![0] = 5), ['projection "sp"', 'cols[0] = 5']],
    ['sparse cols array type', (p) => (p.body.projections[1].cols = Uint32Array.from([4, 0, 1, 2, 4]) as unknown as Uint16Array), ['projection "sp"', 'Uint16Array cols']],
    ['sparse row_ptr', (p) => (p.body.projections[1].rowPtr = Uint32Array.from([0, 3, 2, 5])), ['projection "sp"', 'row_ptr decreases']],
    ['one-to-one sizes', (p) => (p.body.projections[2].pre = 1), ['projection "oo"', 'one-to-one']],
    ['delay', (p) => (p.body.projections[2].delay = 0), ['projection "oo"', 'delay 0']],
    ['target compartment', (p) => (p.body.projections[4].target = 1), ['projection "drive"', 'no apical compartment']],
    ['post is an input group', (p) => (p.body.projections[4].post = 0), ['projection "drive"', 'not a neuron group']],
    ['pre index', (p) => (p.body.projections[4].pre = 6), ['projection "drive"', 'pre 6']],
    ['bad microcode', (p) => (p.body.projections[0].plasticity!.statements[1].code = Int32Array.from([encodeWord(Op.Add)])), ['projection "fc1" statement 1', 'microcode']],
    ['tag not enabled', (p) => (p.body.projections[0].plasticity!.tag = false), ['projection "fc1" statement 0', 'tag']],
    [
      'tag target needs tag',
      (p) => {
        const pl = p.body.projections[1].plasticity!;
        pl.statements[0].target = RuleTarget.Tag;
      },
      ['projection "sp" statement 0', 'tag'],
    ],
    ['missing trace', (p) => (p.body.groups[0].traces = 0), ['projection "fc1" statement 1', 'x1 trace']],
    ['too many statements', (p) => (p.body.projections[1].plasticity!.statements = []), ['projection "sp"', '0 statements']],
    ['frac bits', (p) => (p.body.projections[1].plasticity!.fracBits = 16), ['projection "sp"', 'frac_bits 16']],
    ['epoch shift', (p) => (p.body.projections[1].plasticity!.statements[0].epochShift = 17), ['projection "sp" statement 0', 'epoch_shift 17']],
    ['group size', (p) => (p.body.groups[3].size = 0), ['group "teach"', 'size 0']],
    ['slice gap', (p) => (p.body.groups[2].slices[1].start = 4), ['group "hid" slice 1', 'start 4']],
    ['slice core', (p) => (p.body.groups[2].slices[1].core = 16), ['group "hid" slice 1', 'core 16']],
    ['coefficient', (p) => (p.body.groups[2].basalDecay = COEF_MAX + 1), ['group "hid"', 'basal_decay']],
    ['negative coefficient', (p) => (p.body.groups[2].hpDecay = -1), ['group "hid"', 'hp_decay -1']],
    ['prospective gain', (p) => (p.body.groups[2].prospectiveGain = 2 ** 21), ['group "hid"', 'prospective_gain']],
    ['lut index', (p) => (p.body.groups[2].lut = 2), ['group "hid"', 'lut 2']],
    ['lut required', (p) => (p.body.groups[3].lut = -1), ['group "teach"', 'needs a lut']],
    ['teacher size', (p) => (p.body.groups[4].teacher = 2), ['group "out"', 'teacher "hid"']],
    ['init soma length', (p) => (p.body.groups[2].initSoma = new Int32Array(3)), ['group "hid"', 'init_soma']],
    ['refractory', (p) => (p.body.groups[3].refractory = 65536), ['group "teach"', 'refractory']],
    ['payload shift', (p) => (p.body.groups[2].payloadShift = 17), ['group "hid"', 'payload_shift 17']],
    ['output enum', (p) => (p.body.groups[2].output = 7 as OutputMode), ['group "hid"', 'output 7']],
    ['duplicate names', (p) => (p.body.groups[1].name = 'in'), ['group "in"', 'duplicate']],
    ['lut values', (p) => (p.body.luts[1].values = new Int32Array(256)), ['lut "relu"', '256 values']],
    ['lut step', (p) => (p.body.luts[1].stepShift = 21), ['lut "relu"', 'step_shift 21']],
    ['rate port on a neuron group', (p) => (p.body.inputs[0].group = 2), ['input "in"', 'not an input group']],
    ['target port without target nudge', (p) => (p.body.inputs[2].group = 4), ['input "tgt.target"', 'nudge is not target']],
    ['reward port group', (p) => (p.body.inputs[3].group = 0), ['input "reward"', 'expected −1']],
    ['spikes port without group', (p) => (p.body.inputs[1] = { name: 'spk', kind: PortKind.Spikes, group: -1 }), ['input "spk"', 'group -1']],
    ['probe projection', (p) => (p.body.probes[4].projection = 9), ['probe "fc1.w"', 'projection 9']],
    ['probe every', (p) => (p.body.probes[0].every = 0), ['probe "hid.soma"', 'every 0']],
    ['probe compartment', (p) => (p.body.probes[1].group = 5), ['probe "hid.basal"', 'no basal']],
    ['probe variable', (p) => (p.body.probes[0].variable = 42 as ProbeVariable), ['probe "hid.soma"', 'variable 42']],
    ['seed', (p) => (p.seed = -1), ['program "sample"', 'seed']],
    ['input group kind', (p) => (p.body.groups[0].kind = 5 as GroupKind), ['group "in"', 'kind 5']],
  ];

  it('accepts the sample', () => {
    expect(() => validateProgram(sampleProgram())).not.toThrow();
  });

  it.each(cases)('%s', (_, mutate, parts) => {
    const p = sampleProgram();
    mutate(p);
    expectError(() => validateProgram(p), ProgramInvalidError, ...parts);
  });

  it('messages are one line', () => {
    for (const [, mutate] of cases) {
      const p = sampleProgram();
      mutate(p);
      try {
        validateProgram(p);
      } catch (e) {
        expect((e as Error).message).not.toContain('\n');
      }
    }
  });

  it('encode validates by default; decode validates always', () => {
    const p = sampleProgram();
    p.body.projections[0].weightShift = 31;
    expectError(() => encodeProgram(p), ProgramInvalidError, 'weight_shift 31');
    const bytes = encodeProgram(p, { validate: false });
    expectError(() => decodeProgram(bytes), ProgramInvalidError, 'projection "fc1"', 'weight_shift 31');
  });

  it('decode rejects a sparse column index that does not fit the 16-bit local index, instead of wrapping it', () => {
    const p = sampleProgram();
    // The wire field is repeated uint32: 65536 + 4 would wrap to the valid index 4 in a Uint16Array.
    p.body.projections[1].cols = Uint32Array.from([65536 + 4, 0, 1, 2, 4]) as unknown as Uint16Array;
    const bytes = encodeProgram(p, { validate: false });
    expectError(() => decodeProgram(bytes), ProgramInvalidError, 'projection "sp"', 'cols[0] = 65540');
    const sp = decodeProgram(encodeProgram(sampleProgram())).body.projections[1].cols;
    expect(sp).toBeInstanceOf(Uint16Array);
  });
});

describe('edge cases found by cross-checking with the C loader', () => {
  it('a 16-bit sparse projection with no synapses round-trips', async () => {
    const { sampleProgram } = await import('./helpers/sampleProgram.js');
    const p = sampleProgram();
    const sparse = p.body.projections.find((x) => x.kind === ProjectionKind.Sparse)!;
    sparse.weightBits = 16;
    sparse.weights = new Int16Array(0);
    sparse.cols = new Uint16Array(0);
    sparse.rowPtr = new Uint32Array(p.body.groups[sparse.pre].size + 1);
    sparse.plasticity = null;
    const back = decodeProgram(encodeProgram(p));
    expect(back.body.projections.find((x) => x.name === sparse.name)!.weights).toEqual(new Int16Array(0));
  });

  it('a file with an empty body is a ProgramFormatError, not a crash', () => {
    const bytes = new Uint8Array([...APX_MAGIC, 0x0a, 0x00]); // header of length 0, no body
    expect(() => decodeProgram(bytes)).toThrow(ProgramFormatError);
  });
});

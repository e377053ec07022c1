/**
 * Renders firmware-bridge/include/chip_constants.h, the C firmware's copy of the chip constants. The header is
 * GENERATED from the TypeScript sources (the single source of truth) and never edited by hand:
 *
 *   src/emulator/constants.ts   every exported constant (numbers, CYCLES.*, arrays such as APX_MAGIC)
 *   src/emulator/microcode.ts   the opcodes (OP_NAMES) and the rule terms (TERMS)
 *   src/emulator/program.ts     the enums (GroupKind, OutputMode, …) and the TRACE_* bits
 *   src/emulator/prng.ts        the PRNG stream ids
 *   src/emulator/digest.ts      the digest variables in order
 *
 * `npm run firmware:header` writes the file (test-support/writeChipHeader.ts); test/chipHeader.test.ts fails when
 * the committed file differs from chipHeaderText().
 */
import * as K from '../src/emulator/constants.js';
import { DIGEST_VARIABLES } from '../src/emulator/digest.js';
import { OP_NAMES, TERMS } from '../src/emulator/microcode.js';
import { Stream } from '../src/emulator/prng.js';
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
  TRACE_X1,
  TRACE_X2,
  Trigger,
} from '../src/emulator/program.js';

/** Path of the header relative to the project root. */
export const CHIP_HEADER_PATH = 'firmware-bridge/include/chip_constants.h';

/** camelCase / PascalCase / dotted names → UPPER_SNAKE (`kTotal` → K_TOTAL, `OneToOne` → ONE_TO_ONE). */
export function upperSnake(name: string): string {
  return name
    .replace(/[.\-\s]+/g, '_')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toUpperCase();
}

/** A C integer literal for an exact integer: suffixed so that its C type holds it (no implicit overflow). */
function cInt(v: number, what: string): string {
  if (!Number.isSafeInteger(v)) throw new Error(`chipHeader: ${what} = ${v} is not a safe integer`);
  if (v >= 0) {
    if (v <= 0x7fffffff) return String(v);
    if (v <= 0xffffffff) return `${v}u`;
    return `${v}ull`;
  }
  if (v >= -0x7fffffff) return `(${v})`;
  if (v === -0x80000000) return '(-2147483647 - 1)';
  return `(${v}ll)`;
}

/** A C value for a constant: integers exactly; non-integers as a double literal (informational, never used by the integer core). */
function cValue(v: number, what: string): string {
  if (Number.isInteger(v)) return cInt(v, what);
  if (!Number.isFinite(v)) throw new Error(`chipHeader: ${what} = ${v} is not finite`);
  return String(v);
}

const define = (name: string, value: string, comment = ''): string => `#define ${name} ${value}${comment ? ` /* ${comment} */` : ''}`;

/** APX_ prefix unless the name already has it (APX_MAGIC stays APX_MAGIC). */
const prefixed = (name: string): string => (name.startsWith('APX_') ? name : `APX_${name}`);

function constantsSection(): string[] {
  const L: string[] = ['/* ---- src/emulator/constants.ts (alphabetical) ---- */'];
  // Sorted explicitly: a module namespace object is sorted under Node but may be in source order elsewhere.
  const entries = Object.entries(K).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, value] of entries) {
    const base = prefixed(name);
    if (typeof value === 'number') {
      L.push(define(base, cValue(value, name), Number.isInteger(value) ? '' : 'not an integer: informational only'));
    } else if (Array.isArray(value)) {
      const arr = value as readonly number[];
      L.push(define(`${base}_COUNT`, String(arr.length)));
      arr.forEach((v, i) => L.push(define(`${base}_${i}`, cValue(v, `${name}[${i}]`))));
      L.push(define(`${base}_INIT`, `{ ${arr.map((v, i) => cValue(v, `${name}[${i}]`)).join(', ')} }`));
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'number') throw new Error(`chipHeader: ${name}.${k} is not a number`);
        L.push(define(`${base}_${upperSnake(k)}`, cValue(v, `${name}.${k}`)));
      }
    } else {
      throw new Error(`chipHeader: constant ${name} has unsupported type ${typeof value}`);
    }
  }
  return L;
}

/** A TypeScript numeric enum object → defines, plus _COUNT; members must be 0..n−1 so `x < COUNT` is the range check. */
function enumSection(enumName: string, e: Record<string, string | number>): string[] {
  const members = Object.entries(e).filter(([, v]) => typeof v === 'number') as [string, number][];
  members.sort((a, b) => a[1] - b[1]);
  members.forEach(([k, v], i) => {
    if (v !== i) throw new Error(`chipHeader: enum ${enumName}.${k} = ${v}; the C range checks need values 0..n−1`);
  });
  const base = `APX_${upperSnake(enumName)}`;
  return [...members.map(([k, v]) => define(`${base}_${upperSnake(k)}`, String(v))), define(`${base}_COUNT`, String(members.length))];
}

function microcodeSection(): string[] {
  const L: string[] = ['/* ---- src/emulator/microcode.ts: opcodes (bits 0..7 of a word) ---- */'];
  const ops = Object.entries(OP_NAMES)
    .map(([code, name]) => [Number(code), name] as const)
    .sort((a, b) => a[0] - b[0]);
  for (const [code, name] of ops) L.push(define(`APX_OP_${upperSnake(name)}`, String(code)));
  L.push(define('APX_OP_MAX', String(Math.max(...ops.map(([c]) => c)))));
  L.push('', '/* ---- src/emulator/microcode.ts: rule terms (TERM operand) ---- */');
  const terms = Object.entries(TERMS).sort((a, b) => a[1] - b[1]);
  for (const [name, id] of terms) L.push(define(`APX_TERM_${upperSnake(name)}`, String(id), name));
  L.push(define('APX_TERM_MAX', String(Math.max(...terms.map(([, id]) => id)))));
  return L;
}

/** The full text of chip_constants.h. Deterministic: depends only on the TypeScript sources. */
export function chipHeaderText(): string {
  const L: string[] = [
    '/*',
    ' * chip_constants.h - GENERATED by test-support/chipHeader.ts from src/emulator (constants.ts, microcode.ts,',
    ' * program.ts, prng.ts, digest.ts). DO NOT EDIT.',
    ' * Regenerate with `npm run firmware:header`; test/chipHeader.test.ts fails when this file is stale.',
    ' */',
    '#ifndef APX_CHIP_CONSTANTS_H',
    '#define APX_CHIP_CONSTANTS_H',
    '',
    ...constantsSection(),
    '',
    ...microcodeSection(),
    '',
    '/* ---- src/emulator/program.ts: enums (numeric values equal proto/program.proto) ---- */',
  ];
  const enums: [string, Record<string, string | number>][] = [
    ['GroupKind', GroupKind],
    ['OutputMode', OutputMode],
    ['Compartment', Compartment],
    ['NudgeSource', NudgeSource],
    ['NoiseTarget', NoiseTarget],
    ['ProjectionKind', ProjectionKind],
    ['Rounding', Rounding],
    ['Trigger', Trigger],
    ['RuleTarget', RuleTarget],
    ['PortKind', PortKind],
    ['ProbeVariable', ProbeVariable],
  ];
  for (const [name, e] of enums) L.push(...enumSection(name, e));
  L.push(
    '',
    '/* ---- src/emulator/program.ts: trace bits of Group.traces ---- */',
    define('APX_TRACE_X1', String(TRACE_X1)),
    define('APX_TRACE_X2', String(TRACE_X2)),
    define('APX_TRACE_HP', String(TRACE_HP)),
    define('APX_TRACE_ALL', String(TRACE_X1 | TRACE_X2 | TRACE_HP)),
    '',
    '/* ---- src/emulator/prng.ts: PRNG streams ---- */',
    define('APX_STREAM_NOISE', String(Stream.Noise)),
    define('APX_STREAM_SPIKE', String(Stream.Spike)),
    define('APX_STREAM_ROUND', String(Stream.Round)),
    '',
    '/* ---- src/emulator/digest.ts: digest variables, in digest order ---- */',
    ...DIGEST_VARIABLES.map((v, i) => define(`APX_DIGEST_VAR_${upperSnake(v)}`, String(i))),
    define('APX_DIGEST_VARIABLES', String(DIGEST_VARIABLES.length)),
    define('APX_DIGEST_VARIABLE_NAMES_INIT', `{ ${DIGEST_VARIABLES.map((v) => `"${v}"`).join(', ')} }`),
    '',
    '#endif /* APX_CHIP_CONSTANTS_H */',
    '',
  );
  return L.join('\n');
}

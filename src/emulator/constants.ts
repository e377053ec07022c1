/**
 * Hardware constants of apical chip architecture v1 — the single source of truth.
 *
 * Every number here has a meaning in docs/chip.md (section given in brackets). The C firmware's
 * `chip_constants.h` is generated from this file (see firmware-bridge/); nothing here is duplicated by hand.
 */

/** Chip revision implemented by this emulator. A Program names the revision it was compiled for. [§1] */
export const CHIP_REVISION = 1;

// ---------------------------------------------------------------------------------------------- formats [§2]
/** Fractional bits of a state value (potentials, rates, traces, noise, targets): signed Q15.16 in 32 bits. */
export const STATE_FRAC_BITS = 16;
/** 1.0 in the state format. */
export const STATE_ONE = 1 << STATE_FRAC_BITS;
/** Fractional bits of a coefficient (conductance·dt, decays, gains): Q0.20 unsigned, range [0, 2^20]. */
export const COEF_FRAC_BITS = 20;
/** Largest legal coefficient (1.0). Keeps a coefficient × state product below 2^51 and a sum of four below 2^53. */
export const COEF_MAX = 1 << 20;
/** Fractional bits of the soma drive D (state × coefficient, rounded once per term). */
export const DRIVE_FRAC_BITS = 24;
/** Fractional bits of the prospective gain P = τ/Δt. */
export const PROSP_FRAC_BITS = 8;
/** Largest prospective gain (τ/Δt ≤ 4096). */
export const PROSP_MAX = 1 << 20;
/** Fractional bits of plasticity registers (signed Q7.24 in 32 bits). */
export const RULE_FRAC_BITS = 24;
/** Payloads are signed 16-bit; a group's payload shift s gives them 16 − s fractional bits. */
export const PAYLOAD_BITS = 16;
export const PAYLOAD_SHIFT_MAX = 16;

// ---------------------------------------------------------------------------------------------- synapses [§6]
export const WEIGHT_BITS_ALLOWED: readonly number[] = [8, 16];
/** Weight exponent: real weight = w · 2^-weightShift. */
export const WEIGHT_SHIFT_MAX = 30;
/** Axonal delay in ticks, 1..MAX_DELAY. */
export const MAX_DELAY = 64;
/** Extra fractional bits a plastic synapse keeps below its weight LSB: weightBits + fracBits ≤ 31. */
export const ACC_WORD_BITS = 31;
/**
 * Largest update shift u of a plastic projection (docs/chip.md §11.4): a weight statement's Δ (after the
 * optional low-pass) reaches the accumulator scaled by 2^−u, so rules and low-pass states can carry small
 * updates 2^u larger than they are. The applied shift sa = 24 − weightShift − fracBits + u must stay ≤ 31.
 */
export const MAX_UPDATE_SHIFT = 15;

// ---------------------------------------------------------------------------------------------- activation LUT [§5]
/** Entries of an activation lookup table (segments); the table stores LUT_SEGMENTS + 1 knots. */
export const LUT_SEGMENTS = 256;
/** Knot spacing ≤ 2^20 STATE units keeps (knot difference × fraction) below 2^52. */
export const LUT_STEP_SHIFT_MAX = 20;

// ---------------------------------------------------------------------------------------------- noise [§8]
/** Irwin–Hall sum of four 16-bit uniforms, centred: standard deviation in integer units (√(4·(2^32−1)/12)). */
export const GAUSS_STD = 37837.22786;
/** Fractional bits of the noise gain (increment = round(gain · n, NOISE_GAIN_FRAC_BITS)). */
export const NOISE_GAIN_FRAC_BITS = 24;

// ---------------------------------------------------------------------------------------------- capacities [§3]
export const CHIP_CORES = 16;
/** Cores form a MESH_WIDTH × (CHIP_CORES / MESH_WIDTH) mesh; core c sits at (c % W, ⌊c / W⌋). */
export const MESH_WIDTH = 4;
export const CORE_MAX_NEURONS = 4096;
/** Synapse memory per core in bytes. */
export const CORE_SYNAPSE_BYTES = 4 * 1024 * 1024;
/** Fan-in memory: delay-ring words per core (one 64-bit word per target neuron, projection and delay slot). */
export const CORE_RING_WORDS = 1 << 20;
export const MAX_GROUP_SIZE = 65536;
/** Maximum number of synapses converging on one compartment from one projection (keeps sums below 2^53). */
export const MAX_FAN_IN = 1 << 16;
export const MAX_GROUPS = 256;
export const MAX_PROJECTIONS = 1024;
export const MAX_LUTS = 64;
export const MAX_RULE_STATEMENTS = 8;
export const MAX_MICROCODE_WORDS = 64;
export const RULE_STACK_DEPTH = 8;

// ---------------------------------------------------------------------------------------------- cycle model [§12]
/** Cycle costs per operation. Cycles of a core in a tick are the sum over the operations it performed. */
export const CYCLES = {
  /** Fixed per tick per core: the tick barrier and phase sequencing. */
  barrier: 16,
  /** Per neuron per tick: soma update (coupling terms, saturation). */
  soma: 4,
  /** Per dendritic compartment (basal, apical) per neuron per tick. */
  dendrite: 2,
  /** Per projection input slot converted (round and add) per target neuron per tick. */
  inputConvert: 1,
  /** Per activation lookup (interpolated). */
  lut: 3,
  /** Per PRNG draw (32-bit hash). */
  prngDraw: 2,
  /** Per OU noise update (besides its two draws). */
  noise: 2,
  /** Per trace update (x1, x2 or hp). */
  trace: 1,
  /** Per outgoing event per destination core: axon lookup. */
  axon: 2,
  /** Per router hop of an event between cores (Manhattan distance on the mesh). */
  hop: 1,
  /** Per synaptic operation (weight × payload accumulate). */
  synapse: 1,
  /** Per synapse visited by a learning statement: fetch, round, write back (microcode adds learnOp per instruction). */
  learnSynapse: 3,
  /** Per microcode instruction executed (microcodeOps): CONST and MULC are one instruction of two words. */
  learnOp: 1,
  /** Per digest word (state words hashed when digests are on). */
  digestWord: 0,
} as const;

/** Default chip clock for real-time-factor estimates. */
export const DEFAULT_CLOCK_HZ = 100_000_000;

// ---------------------------------------------------------------------------------------------- digests [§13]
export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

// ---------------------------------------------------------------------------------------------- Program file [format]
/** First four bytes of every .apx file: "APX" then 0x1a. */
export const APX_MAGIC = [0x41, 0x50, 0x58, 0x1a] as const;
export const APX_FORMAT_VERSION = 1;

/*
 * Internal layout of the chip core: Program descriptors and state arrays (all in the static arena), and the
 * integer helpers of docs/chip.md §2 (round half up, floor division, saturation, PRNG, FNV).
 */
#ifndef APX_CHIP_INTERNAL_H
#define APX_CHIP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "chip.h"

#define APX_INT32_MAX ((int64_t)2147483647)
#define APX_INT32_MIN ((int64_t)-2147483647 - 1)

/* ------------------------------------------------------------------------------------------ integer helpers */

/*
 * ⌊x / 2^s⌋ for 0 ≤ s ≤ 62 and every int64 x, branch-free and without shifting a negative number: x + 2^63
 * (computed modulo 2^64) maps int64 monotonically onto uint64, whose logical shift is the floor; 2^63 is a
 * multiple of 2^s, so subtracting 2^(63−s) afterwards is exact.
 */
static inline int64_t apx_floor_shift(int64_t x, unsigned s)
{
    const uint64_t bias = (uint64_t)1 << 63;
    if (s == 0u) return x;
    return (int64_t)(((uint64_t)x + bias) >> s) - (int64_t)(bias >> s);
}

/* round(x, s) = ⌊(x + 2^(s−1)) / 2^s⌋ (round half up), s = 0: x. Caller keeps |x| + 2^(s−1) < 2^63. */
static inline int64_t apx_round_shift(int64_t x, unsigned s)
{
    if (s == 0u) return x;
    return apx_floor_shift(x + ((int64_t)1 << (s - 1u)), s);
}

/* x · 2^s for 0 ≤ s ≤ 62 without shifting a negative number (caller keeps the product in range). */
static inline int64_t apx_mul_pow2(int64_t x, unsigned s)
{
    return x * ((int64_t)1 << s);
}

static inline int32_t apx_sat32(int64_t x)
{
    if (x > APX_INT32_MAX) return (int32_t)APX_INT32_MAX;
    if (x < APX_INT32_MIN) return (int32_t)APX_INT32_MIN;
    return (int32_t)x;
}

static inline int32_t apx_sat16(int64_t x)
{
    if (x > 32767) return 32767;
    if (x < -32768) return -32768;
    return (int32_t)x;
}

/* Saturating int64 addition (exact unless the exact sum leaves int64). */
static inline int64_t apx_add64_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
    return a + b;
}

/* uint32 multiply mod 2^32 without promotion to a wider signed int. */
static inline uint32_t apx_mul32(uint32_t a, uint32_t b)
{
    return (uint32_t)(((unsigned long)a * (unsigned long)b) & 0xfffffffful);
}

/* lowbias32 (docs/chip.md §8.1). */
static inline uint32_t apx_mix32(uint32_t x)
{
    x ^= x >> 16;
    x = apx_mul32(x, 0x7feb352du);
    x ^= x >> 15;
    x = apx_mul32(x, 0x846ca68bu);
    x ^= x >> 16;
    return x;
}

static inline uint32_t apx_stream_key(uint32_t seed, uint32_t stream, uint32_t id)
{
    return apx_mix32(apx_mix32(seed ^ 0x9e3779b9u) ^ ((stream << 24) | (id & 0xffffffu)));
}

static inline uint32_t apx_tick_key(uint32_t key, uint64_t tick)
{
    return apx_mix32((uint32_t)((key + (uint32_t)(tick & 0xffffffffu)) & 0xffffffffu));
}

static inline uint32_t apx_fnv(uint32_t h, uint32_t word)
{
    return apx_mul32(h ^ word, (uint32_t)APX_FNV_PRIME);
}

/* int32 → its two's-complement bit pattern (well defined in C) */
static inline uint32_t apx_u32(int32_t v)
{
    return (uint32_t)v;
}

/* ------------------------------------------------------------------------------------------ program */

typedef struct {
    const char *s; /* NUL-terminated copy in the arena */
    uint32_t len;
} apx_name;

typedef struct {
    uint32_t core, start, count;
} apx_slice;

typedef struct {
    apx_name name;
    int32_t x_min;
    uint32_t step_shift;
    int32_t *values;
    uint32_t n_values;
} apx_lut;

/* Dependency levels of a microcode value: which loop indices it depends on. */
#define APX_LVL_PRE 1u
#define APX_LVL_POST 2u
#define APX_LVL_SYN 4u

/* How a TERM micro-op reads its value. */
#define APX_TK_ZERO 0u
#define APX_TK_SPIKE_PRE 1u
#define APX_TK_SPIKE_POST 2u
#define APX_TK_Q8_PRE 3u
#define APX_TK_Q8_POST 4u
#define APX_TK_SYN_W 5u
#define APX_TK_SYN_TAG 6u
#define APX_TK_REWARD 7u

/*
 * A statement's microcode compiled at load into register form: micro-op s computes value slot s from earlier
 * slots a and b, exactly as the stack machine would (same operations, same order of evaluation per value).
 * Values that depend only on the outer loop index (the presynaptic or postsynaptic neuron) are computed once
 * per outer iteration; the rest once per synapse.
 */
typedef struct {
    uint8_t op;    /* APX_OP_* */
    uint8_t level; /* APX_LVL_* bits */
    uint8_t a, b;  /* operand slots */
    uint8_t shift; /* MULC */
    uint8_t tkind; /* TERM: APX_TK_* */
    int32_t k;     /* CONST value, MULC mantissa */
    const int32_t *arr; /* TERM: neuron array read at the pre or post index */
} apx_uop;

typedef struct {
    int32_t trigger;
    uint32_t epoch_shift;
    int32_t target;
    int32_t *code;
    uint32_t n_code;
    uint32_t ops;       /* microcode instructions executed per evaluation */
    uint32_t cost;      /* cycles per synapse visited: learnSynapse + learnOp·ops (+ prngDraw) */
    uint32_t round_key; /* PRNG key of the Round stream for this statement */
    int uses_basal_rate;
    int uses_tag;
    /* compiled form (apx_microcode_compile) */
    apx_uop *uops;
    uint8_t *order; /* slot indices: once-per-call, then outer-loop, then per-synapse micro-ops */
    uint8_t n_uops, result, n_once, n_outer, n_inner, outer_level;
} apx_statement;

typedef struct apx_group apx_group;

typedef struct {
    apx_name name;
    uint32_t pre, post;
    int32_t kind, target;
    uint32_t weight_bits, weight_shift, delay;
    uint32_t n_syn;
    int8_t *w8;   /* weight_bits 8 */
    int16_t *w16; /* weight_bits 16 */
    uint32_t *row_ptr, *cols; /* sparse */
    uint32_t n_row_ptr, n_cols;
    /* raw weight bytes while loading */
    const uint8_t *wbytes;
    size_t wbytes_len;
    /* plasticity */
    int plastic;
    uint32_t frac_bits;
    int32_t rounding;
    uint32_t lowpass;
    int tag_on;
    uint32_t update_shift; /* weight Δ reaches the accumulator scaled by 2^-update_shift (§11.4) */
    int32_t sa;          /* 24 − weightShift − fracBits + updateShift (§11.4) */
    int32_t syn_w_shift; /* weightShift + fracBits − 24: syn.w = round(acc, this) */
    int64_t acc_max, acc_min;
    apx_statement *stmts;
    uint32_t n_stmts;
    /* state */
    int32_t *wacc, *tag, *lo;
    int64_t *ring; /* delay × n_post exact sums of w·payload */
    int32_t shift; /* weightShift + payloadFrac(pre) − 16 */
    /* sparse: transposed index for post-triggered statements, synapses per post neuron */
    uint32_t *col_ptr, *col_syn, *col_row;
    /* cycle accounting (docs/chip.md §12) */
    uint64_t dest_count[APX_CHIP_CORES]; /* dense: post neurons per core */
    uint64_t syn_on_core[APX_CHIP_CORES];
    uint64_t route_cost[APX_CHIP_CORES]; /* dense: per source core */
    uint32_t *row_core_start;            /* sparse: per pre row, (core, count) list */
    uint8_t *row_core;
    uint32_t *row_core_count;
    uint32_t *post_syn_count; /* sparse: synapses per post neuron */
    apx_group *pre_g, *post_g;
} apx_projection;

struct apx_group {
    apx_name name;
    uint32_t size;
    int32_t kind, output;
    apx_slice *slices;
    uint32_t n_slices;
    int has_basal, has_apical;
    uint32_t basal_decay, apical_decay, k_basal, k_apical, k_nudge, k_total;
    int32_t nudge;
    int32_t teacher;
    int teacher_prospective;
    uint32_t prospective_gain, basal_pred_gain;
    int32_t lut;
    int32_t threshold, reset;
    uint32_t refractory, payload_shift;
    int32_t noise_target;
    uint32_t noise_decay, noise_gain, traces;
    uint32_t x1_decay;
    int32_t x1_impulse;
    uint32_t x2_decay;
    int32_t x2_impulse;
    uint32_t hp_decay;
    int32_t *init_soma;
    uint32_t n_init_soma;
    uint64_t value_scale_bits;
    /* derived */
    int spiking;   /* output binary or stochastic */
    int neuron;    /* kind NEURON */
    int basal_rate_used;
    uint32_t n_incoming;
    uint32_t *incoming; /* projection indices targeting this group, program order */
    uint32_t neuron_cost;
    uint32_t noise_key, spike_key;
    const apx_lut *lutp;
    /* state (docs/chip.md §5–§10); NULL when absent. prosp aliases u without a prospective gain,
       payload aliases spike in spiking groups (as in the emulator) */
    int32_t *u, *prosp, *vB, *vA, *xi, *ref, *rate, *rate_prev, *x1, *x2, *hp, *basal_rate;
    int32_t *spike, *payload;
    uint32_t *ev_idx;
    uint32_t ev_count;
    int32_t *in_rate;
    uint8_t *in_spike;
    int32_t *target;
    int target_valid;
    int32_t *nudge_buf;
    uint8_t *core_of;
};

typedef struct {
    apx_name name;
    int32_t kind;
    int32_t group;
} apx_port;

typedef struct {
    apx_name name;
    int32_t variable;
    int32_t group;
    int32_t projection;
    uint32_t every;
} apx_probe;

struct apx_chip {
    /* header */
    uint32_t format_version, chip_revision, seed;
    uint8_t hash[32];
    /* body */
    apx_name name;
    uint64_t tick_seconds_bits;
    apx_lut *luts;
    uint32_t n_luts;
    apx_group *groups;
    uint32_t n_groups;
    apx_projection *projs;
    uint32_t n_projs;
    apx_port *ports;
    uint32_t n_ports;
    apx_probe *probes;
    uint32_t n_probes;
    /* state */
    uint64_t tick;
    int32_t reward;
    uint64_t static_cycles[APX_CHIP_CORES];
    uint64_t cycles_last[APX_CHIP_CORES];
    uint64_t cycles_total[APX_CHIP_CORES];
    uint64_t critical_path;
    uint32_t used_cores;
    uint32_t spikes_last;
    uint32_t core_digests[APX_CHIP_CORES];
    uint32_t var_digests[APX_CHIP_CORES * APX_DIGEST_VARIABLES];
    /* apx_set_digests(c, 0): apx_step skips the §13 digests (the emulator's fast mode); 0 after load = on */
    int digests_off;
};

/* microcode.c */
/* Validates microcode as validateMicrocode does; 0 = valid, else sets a message in msg (≥ 96 bytes). */
int apx_microcode_validate(const int32_t *code, uint32_t n, char *msg, size_t msg_size);
/* Instructions executed per evaluation (microcodeOps). */
uint32_t apx_microcode_ops(const int32_t *code, uint32_t n);
/* Does the statement read term `term`? */
int apx_microcode_uses_term(const int32_t *code, uint32_t n, int32_t term);
/* sat32(round(a·b, s)), round half up, exact 64-bit product, 0 ≤ s ≤ 62 (mulShiftRoundRef). */
int32_t apx_mul_shift_round(int32_t a, int32_t b, unsigned s);
/* Compiles a validated statement of plastic projection p into st->uops / st->order (buffers of n_code entries). */
void apx_microcode_compile(const apx_projection *p, apx_statement *st, apx_uop *uops, uint8_t *order);
/* Runs statement s of plastic projection p for tick t (trigger already checked), §11. */
void apx_learn_statement(apx_chip *c, apx_projection *p, const apx_statement *st);

#endif

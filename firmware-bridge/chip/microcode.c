/*
 * Plasticity microcode (docs/chip.md §11): validation, the stack interpreter (evalMicrocode in
 * src/emulator/microcode.ts) and the apply step of a statement (the compiled kernels of learningKernel.ts).
 */
#include "chip_internal.h"

#define OP_OF(w) ((uint32_t)(w) & 0xffu)

/* The signed 24-bit operand: word >> 8 (arithmetic), computed without shifting a negative number. */
static int32_t operand_of(int32_t w)
{
    return (int32_t)apx_floor_shift((int64_t)w, 8);
}

static int term_known(int32_t t)
{
    switch (t) {
    case APX_TERM_PRE_SPIKE:
    case APX_TERM_PRE_RATE:
    case APX_TERM_PRE_X1:
    case APX_TERM_PRE_X2:
    case APX_TERM_PRE_HP:
    case APX_TERM_POST_SPIKE:
    case APX_TERM_POST_RATE:
    case APX_TERM_POST_X1:
    case APX_TERM_POST_X2:
    case APX_TERM_POST_HP:
    case APX_TERM_POST_BASAL_RATE:
    case APX_TERM_POST_BASAL:
    case APX_TERM_POST_APICAL:
    case APX_TERM_POST_SOMA:
    case APX_TERM_POST_PROSP:
    case APX_TERM_POST_NOISE:
    case APX_TERM_SYN_W:
    case APX_TERM_SYN_TAG:
    case APX_TERM_REWARD: return 1;
    default: return 0;
    }
}

/* Appends text to a bounded message buffer. */
static void put(char *msg, size_t size, size_t *at, const char *s)
{
    while (*s != '\0' && *at + 1u < size) {
        msg[*at] = *s;
        (*at)++;
        s++;
    }
    msg[*at] = '\0';
}

static void put_int(char *msg, size_t size, size_t *at, int64_t v)
{
    char buf[24];
    int i = 0;
    uint64_t u;
    if (v < 0) {
        put(msg, size, at, "-");
        u = (uint64_t)(-(v + 1)) + 1u;
    } else {
        u = (uint64_t)v;
    }
    do {
        buf[i] = (char)('0' + (int)(u % 10u));
        i++;
        u /= 10u;
    } while (u != 0u && i < 23);
    while (i > 0) {
        char one[2];
        i--;
        one[0] = buf[i];
        one[1] = '\0';
        put(msg, size, at, one);
    }
}

static int fail(char *msg, size_t size, uint32_t pc, const char *text, int64_t value, int with_value)
{
    size_t at = 0;
    if (size == 0u) return -1;
    msg[0] = '\0';
    put(msg, size, &at, "word ");
    put_int(msg, size, &at, (int64_t)pc);
    put(msg, size, &at, ": ");
    put(msg, size, &at, text);
    if (with_value) put_int(msg, size, &at, value);
    return -1;
}

int apx_microcode_validate(const int32_t *code, uint32_t n, char *msg, size_t msg_size)
{
    uint32_t pc;
    int32_t depth = 0;
    if (msg_size > 0u) msg[0] = '\0';
    if (n == 0u) {
        size_t at = 0;
        put(msg, msg_size, &at, "empty microcode");
        return -1;
    }
    if (n > APX_MAX_MICROCODE_WORDS) {
        size_t at = 0;
        put(msg, msg_size, &at, "microcode has too many words, limit ");
        put_int(msg, msg_size, &at, APX_MAX_MICROCODE_WORDS);
        return -1;
    }
    for (pc = 0; pc < n; pc++) {
        uint32_t op = OP_OF(code[pc]);
        int32_t arg = operand_of(code[pc]);
        switch (op) {
        case APX_OP_TERM:
            if (!term_known(arg)) return fail(msg, msg_size, pc, "unknown term ", arg, 1);
            depth++;
            break;
        case APX_OP_CONST:
            if (pc + 1u >= n) return fail(msg, msg_size, pc, "CONST without its value word", 0, 0);
            pc++;
            depth++;
            break;
        case APX_OP_ADD:
        case APX_OP_SUB:
        case APX_OP_MUL:
            if (depth < 2) return fail(msg, msg_size, pc, "binary operation needs two operands", 0, 0);
            depth--;
            break;
        case APX_OP_NEG:
            if (depth < 1) return fail(msg, msg_size, pc, "NEG needs an operand", 0, 0);
            break;
        case APX_OP_MULC:
            if (depth < 1) return fail(msg, msg_size, pc, "MULC needs an operand", 0, 0);
            if (arg < 0 || arg > 62) return fail(msg, msg_size, pc, "MULC shift outside 0..62: ", arg, 1);
            if (pc + 1u >= n) return fail(msg, msg_size, pc, "MULC without its mantissa word", 0, 0);
            pc++;
            break;
        default: return fail(msg, msg_size, pc, "unknown opcode ", (int64_t)op, 1);
        }
        if (depth > APX_RULE_STACK_DEPTH) return fail(msg, msg_size, pc, "stack depth exceeds ", APX_RULE_STACK_DEPTH, 1);
    }
    if (depth != 1) {
        size_t at = 0;
        put(msg, msg_size, &at, "microcode leaves ");
        put_int(msg, msg_size, &at, depth);
        put(msg, msg_size, &at, " values on the stack, expected 1");
        return -1;
    }
    return 0;
}

uint32_t apx_microcode_ops(const int32_t *code, uint32_t n)
{
    uint32_t pc, ops = 0;
    for (pc = 0; pc < n; pc++) {
        uint32_t op = OP_OF(code[pc]);
        if (op == APX_OP_CONST || op == APX_OP_MULC) pc++;
        ops++;
    }
    return ops;
}

int apx_microcode_uses_term(const int32_t *code, uint32_t n, int32_t term)
{
    uint32_t pc;
    for (pc = 0; pc < n; pc++) {
        uint32_t op = OP_OF(code[pc]);
        if (op == APX_OP_TERM) {
            if (operand_of(code[pc]) == term) return 1;
        } else if (op == APX_OP_CONST || op == APX_OP_MULC) {
            pc++;
        }
    }
    return 0;
}

int32_t apx_mul_shift_round(int32_t a, int32_t b, unsigned s)
{
    /* |a·b| ≤ 2^62 and 2^(s−1) ≤ 2^61: the rounded sum stays below 2^63 */
    int64_t p = (int64_t)a * (int64_t)b;
    return apx_sat32(apx_round_shift(p, s));
}

/* ------------------------------------------------------------------------------------------ learning */

/* STATE → RULE: x · 2^8, saturated. */
static int32_t q8(int32_t x)
{
    return apx_sat32(apx_mul_pow2((int64_t)x, 8));
}

/* The neuron array a term reads (NULL: the term reads no neuron array). */
static const int32_t *term_array(const apx_group *pre, const apx_group *post, int32_t term)
{
    switch (term) {
    case APX_TERM_PRE_SPIKE: return pre->spike;
    case APX_TERM_PRE_RATE: return pre->rate;
    case APX_TERM_PRE_X1: return pre->x1;
    case APX_TERM_PRE_X2: return pre->x2;
    case APX_TERM_PRE_HP: return pre->hp;
    case APX_TERM_POST_SPIKE: return post->spike;
    case APX_TERM_POST_RATE: return post->rate;
    case APX_TERM_POST_X1: return post->x1;
    case APX_TERM_POST_X2: return post->x2;
    case APX_TERM_POST_HP: return post->hp;
    case APX_TERM_POST_BASAL_RATE: return post->basal_rate;
    case APX_TERM_POST_BASAL: return post->vB;
    case APX_TERM_POST_APICAL: return post->vA;
    case APX_TERM_POST_SOMA: return post->u;
    case APX_TERM_POST_PROSP: return post->prosp;
    case APX_TERM_POST_NOISE: return post->xi;
    default: return NULL;
    }
}

void apx_microcode_compile(const apx_projection *p, apx_statement *st, apx_uop *uops, uint8_t *order)
{
    uint8_t stack[APX_RULE_STACK_DEPTH + 1];
    uint32_t sp = 0, pc, n = 0, i;
    uint8_t outer;
    for (pc = 0; pc < st->n_code; pc++) {
        int32_t w = st->code[pc];
        apx_uop *u = &uops[n];
        u->op = (uint8_t)OP_OF(w);
        u->level = 0;
        u->a = 0;
        u->b = 0;
        u->shift = 0;
        u->tkind = APX_TK_ZERO;
        u->k = 0;
        u->arr = NULL;
        switch (u->op) {
        case APX_OP_TERM: {
            int32_t term = operand_of(w);
            u->arr = term_array(p->pre_g, p->post_g, term);
            if (term == APX_TERM_SYN_W) {
                u->tkind = APX_TK_SYN_W;
                u->level = APX_LVL_SYN;
            } else if (term == APX_TERM_SYN_TAG) {
                u->tkind = p->tag != NULL ? APX_TK_SYN_TAG : APX_TK_ZERO;
                u->level = APX_LVL_SYN;
            } else if (term == APX_TERM_REWARD) {
                u->tkind = APX_TK_REWARD;
            } else if (u->arr == NULL) {
                u->tkind = APX_TK_ZERO; /* absent state reads 0 (validation rules this out) */
            } else if (term < APX_TERM_POST_SPIKE) {
                u->tkind = term == APX_TERM_PRE_SPIKE ? APX_TK_SPIKE_PRE : APX_TK_Q8_PRE;
                u->level = APX_LVL_PRE;
            } else {
                u->tkind = term == APX_TERM_POST_SPIKE ? APX_TK_SPIKE_POST : APX_TK_Q8_POST;
                u->level = APX_LVL_POST;
            }
            stack[sp] = (uint8_t)n;
            sp++;
            break;
        }
        case APX_OP_CONST:
            pc++;
            u->k = st->code[pc];
            stack[sp] = (uint8_t)n;
            sp++;
            break;
        case APX_OP_ADD:
        case APX_OP_SUB:
        case APX_OP_MUL:
            u->b = stack[sp - 1u];
            u->a = stack[sp - 2u];
            u->level = (uint8_t)(uops[u->a].level | uops[u->b].level);
            sp--;
            stack[sp - 1u] = (uint8_t)n;
            break;
        case APX_OP_NEG:
            u->a = stack[sp - 1u];
            u->level = uops[u->a].level;
            stack[sp - 1u] = (uint8_t)n;
            break;
        case APX_OP_MULC:
            u->a = stack[sp - 1u];
            u->level = uops[u->a].level;
            u->shift = (uint8_t)operand_of(w);
            pc++;
            u->k = st->code[pc];
            stack[sp - 1u] = (uint8_t)n;
            break;
        default: break;
        }
        n++;
    }
    st->uops = uops;
    st->order = order;
    st->n_uops = (uint8_t)n;
    st->result = stack[0];
    /* the loop nest of this statement: which index the outer loop runs over */
    if (p->kind == APX_PROJECTION_KIND_DENSE) outer = st->trigger == APX_TRIGGER_PRE ? APX_LVL_PRE : APX_LVL_POST;
    else if (p->kind == APX_PROJECTION_KIND_SPARSE) outer = st->trigger == APX_TRIGGER_POST ? APX_LVL_POST : APX_LVL_PRE;
    else outer = 0;
    st->outer_level = outer;
    st->n_once = st->n_outer = st->n_inner = 0;
    {
        uint32_t at = 0;
        for (i = 0; i < n; i++)
            if (uops[i].op != APX_OP_CONST && uops[i].level == 0u) order[at++] = (uint8_t)i;
        st->n_once = (uint8_t)at;
        for (i = 0; i < n; i++)
            if (uops[i].level != 0u && (uops[i].level & (uint8_t)~outer) == 0u) order[at++] = (uint8_t)i;
        st->n_outer = (uint8_t)(at - st->n_once);
        for (i = 0; i < n; i++)
            if ((uops[i].level & (uint8_t)~outer) != 0u) order[at++] = (uint8_t)i;
        st->n_inner = (uint8_t)(at - st->n_once - st->n_outer);
    }
}

/* Evaluates micro-ops ops[0..n) into the value slots v (evalMicrocode semantics, value by value). */
static inline void run_ops(const apx_chip *c, const apx_projection *p, const apx_uop *uops, const uint8_t *ops, uint32_t n,
                    int32_t *v, uint32_t i, uint32_t j, uint32_t k)
{
    uint32_t q;
    for (q = 0; q < n; q++) {
        uint32_t s = ops[q];
        const apx_uop *u = &uops[s];
        switch (u->op) {
        case APX_OP_TERM:
            switch (u->tkind) {
            case APX_TK_SPIKE_PRE: v[s] = u->arr[i] != 0 ? ((int32_t)1 << APX_RULE_FRAC_BITS) : 0; break;
            case APX_TK_SPIKE_POST: v[s] = u->arr[j] != 0 ? ((int32_t)1 << APX_RULE_FRAC_BITS) : 0; break;
            case APX_TK_Q8_PRE: v[s] = q8(u->arr[i]); break;
            case APX_TK_Q8_POST: v[s] = q8(u->arr[j]); break;
            case APX_TK_SYN_W: {
                /* the accumulator in RULE units: round(acc, weightShift + fracBits − 24), saturated */
                int64_t a = p->wacc[k];
                if (p->syn_w_shift > 0) v[s] = apx_sat32(apx_round_shift(a, (unsigned)p->syn_w_shift));
                else v[s] = apx_sat32(apx_mul_pow2(a, (unsigned)(-p->syn_w_shift)));
                break;
            }
            case APX_TK_SYN_TAG: v[s] = p->tag[k]; break;
            case APX_TK_REWARD: v[s] = q8(c->reward); break;
            default: v[s] = 0; break;
            }
            break;
        case APX_OP_ADD: v[s] = apx_sat32((int64_t)v[u->a] + (int64_t)v[u->b]); break;
        case APX_OP_SUB: v[s] = apx_sat32((int64_t)v[u->a] - (int64_t)v[u->b]); break;
        case APX_OP_MUL: v[s] = apx_mul_shift_round(v[u->a], v[u->b], APX_RULE_FRAC_BITS); break;
        case APX_OP_NEG: v[s] = apx_sat32(-(int64_t)v[u->a]); break;
        case APX_OP_MULC: v[s] = apx_mul_shift_round(v[u->a], u->k, u->shift); break;
        default: break;
        }
    }
}

/* Applies Δ of one statement to synapse k (docs/chip.md §11.4). tk: tick key of the Round stream. */
static inline void apply(apx_projection *p, const apx_statement *st, uint32_t k, int32_t delta, uint32_t tk)
{
    int64_t D = delta;
    int64_t d, a;
    if (st->target == APX_RULE_TARGET_TAG) {
        p->tag[k] = apx_sat32((int64_t)p->tag[k] + D);
        return;
    }
    if (p->lo != NULL) {
        int64_t l = p->lo[k];
        int64_t dd = apx_sat32(D - l);
        l = apx_sat32(l + apx_round_shift(dd * (int64_t)p->lowpass, 20));
        p->lo[k] = (int32_t)l;
        D = l;
    }
    if (p->sa > 0) {
        if (p->rounding == APX_ROUNDING_STOCHASTIC) {
            uint32_t r = apx_mix32(tk ^ k) >> (32u - (unsigned)p->sa);
            d = apx_floor_shift(D + (int64_t)r, (unsigned)p->sa);
        } else {
            d = apx_round_shift(D, (unsigned)p->sa);
        }
    } else {
        d = apx_mul_pow2(D, (unsigned)(-p->sa));
    }
    a = (int64_t)p->wacc[k] + d;
    if (a > p->acc_max) a = p->acc_max;
    else if (a < p->acc_min) a = p->acc_min;
    p->wacc[k] = (int32_t)a;
    if (p->frac_bits > 0u) a = apx_round_shift(a, p->frac_bits);
    if (p->w8 != NULL) p->w8[k] = (int8_t)a;
    else p->w16[k] = (int16_t)a;
}

void apx_learn_statement(apx_chip *c, apx_projection *p, const apx_statement *st)
{
    const apx_group *pre = p->pre_g;
    const apx_group *post = p->post_g;
    uint32_t N = pre->size, M = post->size;
    uint32_t tk = apx_tick_key(st->round_key, c->tick);
    uint32_t e, i, j, k, s;
    int32_t v[APX_MAX_MICROCODE_WORDS];
    const apx_uop *u = st->uops;
    const uint8_t *once = st->order;
    const uint8_t *outer = once + st->n_once;
    const uint8_t *inner = outer + st->n_outer;
    uint32_t n_outer = st->n_outer, n_inner = st->n_inner;
    uint8_t r = st->result;
    for (s = 0; s < st->n_uops; s++) v[s] = u[s].op == APX_OP_CONST ? u[s].k : 0;
    run_ops(c, p, u, once, st->n_once, v, 0, 0, 0);
    if (p->kind == APX_PROJECTION_KIND_DENSE) {
        /* post-major: synapse k = j·N + i */
        if (st->trigger == APX_TRIGGER_PRE) {
            for (e = 0; e < pre->ev_count; e++) {
                i = pre->ev_idx[e];
                run_ops(c, p, u, outer, n_outer, v, i, 0, 0);
                for (j = 0, k = i; j < M; j++, k += N) {
                    run_ops(c, p, u, inner, n_inner, v, i, j, k);
                    apply(p, st, k, v[r], tk);
                }
            }
        } else if (st->trigger == APX_TRIGGER_POST) {
            for (e = 0; e < post->ev_count; e++) {
                j = post->ev_idx[e];
                run_ops(c, p, u, outer, n_outer, v, 0, j, 0);
                for (i = 0, k = j * N; i < N; i++, k++) {
                    run_ops(c, p, u, inner, n_inner, v, i, j, k);
                    apply(p, st, k, v[r], tk);
                }
            }
        } else {
            for (j = 0, k = 0; j < M; j++) {
                run_ops(c, p, u, outer, n_outer, v, 0, j, 0);
                for (i = 0; i < N; i++, k++) {
                    run_ops(c, p, u, inner, n_inner, v, i, j, k);
                    apply(p, st, k, v[r], tk);
                }
            }
        }
    } else if (p->kind == APX_PROJECTION_KIND_SPARSE) {
        if (st->trigger == APX_TRIGGER_POST) {
            for (e = 0; e < post->ev_count; e++) {
                uint32_t q;
                j = post->ev_idx[e];
                run_ops(c, p, u, outer, n_outer, v, 0, j, 0);
                for (q = p->col_ptr[j]; q < p->col_ptr[j + 1u]; q++) {
                    k = p->col_syn[q];
                    run_ops(c, p, u, inner, n_inner, v, p->col_row[q], j, k);
                    apply(p, st, k, v[r], tk);
                }
            }
        } else {
            uint32_t n_rows = st->trigger == APX_TRIGGER_PRE ? pre->ev_count : N;
            for (e = 0; e < n_rows; e++) {
                i = st->trigger == APX_TRIGGER_PRE ? pre->ev_idx[e] : e;
                run_ops(c, p, u, outer, n_outer, v, i, 0, 0);
                for (k = p->row_ptr[i]; k < p->row_ptr[i + 1u]; k++) {
                    run_ops(c, p, u, inner, n_inner, v, i, p->cols[k], k);
                    apply(p, st, k, v[r], tk);
                }
            }
        }
    } else {
        uint32_t n_syn = st->trigger == APX_TRIGGER_PRE ? pre->ev_count : st->trigger == APX_TRIGGER_POST ? post->ev_count : N;
        for (e = 0; e < n_syn; e++) {
            i = st->trigger == APX_TRIGGER_PRE ? pre->ev_idx[e] : st->trigger == APX_TRIGGER_POST ? post->ev_idx[e] : e;
            run_ops(c, p, u, inner, n_inner, v, i, i, i);
            apply(p, st, i, v[r], tk);
        }
    }
}

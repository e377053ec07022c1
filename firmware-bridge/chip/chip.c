/*
 * apical chip core: load (decode, validate, fit, lay out in the arena), the tick (docs/chip.md §4), cycles (§12)
 * and digests (§13). Bit-exact with src/emulator/chip.ts and the kernels it compiles (groupKernel.ts,
 * routeKernel.ts, learningKernel.ts); see microcode.c for the plasticity engine.
 */
#include <string.h>

#include "apx_pb.h"
#include "chip_internal.h"
#include "sha256.h"

/* ================================================================================================ arena */

static uint64_t g_arena[(APX_ARENA_BYTES + 7u) / 8u];
static size_t g_arena_top;
static apx_chip *g_chip;

/* Zeroed, 8-byte aligned block of n·size bytes, or NULL (no room, or n·size overflows). */
static void *arena_alloc(size_t n, size_t size)
{
    size_t bytes, words;
    uint8_t *p;
    if (size != 0u && n > ((size_t)-1) / size) return NULL;
    bytes = n * size;
    if (bytes > ((size_t)-1) - 7u) return NULL;
    words = (bytes + 7u) / 8u;
    if (words > sizeof g_arena / 8u - g_arena_top) return NULL;
    p = (uint8_t *)&g_arena[g_arena_top];
    g_arena_top += words;
    memset(p, 0, bytes);
    return p;
}

size_t apx_arena_used(void)
{
    return g_arena_top * 8u;
}

size_t apx_arena_size(void)
{
    return sizeof g_arena;
}

/* ================================================================================================ errors */

static char g_err[256];
static size_t g_err_len;

static void err_clear(void)
{
    g_err[0] = '\0';
    g_err_len = 0;
}

static void err_put(const char *s)
{
    while (*s != '\0' && g_err_len + 1u < sizeof g_err) {
        g_err[g_err_len] = *s;
        g_err_len++;
        s++;
    }
    g_err[g_err_len] = '\0';
}

static void err_putn(const char *s, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n && g_err_len + 1u < sizeof g_err; i++) {
        g_err[g_err_len] = s[i];
        g_err_len++;
    }
    g_err[g_err_len] = '\0';
}

static void err_int(int64_t v)
{
    char buf[24];
    int i = 0;
    uint64_t u;
    if (v < 0) {
        err_put("-");
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
        err_put(one);
    }
}

/* `kind "name"` (or `kind #index` without a name) */
static void err_obj(const char *kind, const apx_name *name, uint32_t index)
{
    err_put(kind);
    if (name != NULL && name->len > 0u) {
        err_put(" \"");
        err_putn(name->s, name->len);
        err_put("\"");
    } else {
        err_put(" #");
        err_int(index);
    }
}

const char *apx_error_message(void)
{
    return g_err;
}

const char *apx_status_name(int status)
{
    switch (status) {
    case APX_OK: return "ok";
    case APX_ERR_MAGIC: return "bad magic";
    case APX_ERR_FORMAT: return "corrupted or truncated .apx";
    case APX_ERR_VERSION: return "unsupported format version";
    case APX_ERR_HASH: return "SHA-256 mismatch";
    case APX_ERR_INVALID: return "invalid program";
    case APX_ERR_REVISION: return "wrong chip revision";
    case APX_ERR_FIT: return "program does not fit the chip";
    case APX_ERR_ARENA: return "program does not fit the firmware arena";
    case APX_ERR_USAGE: return "usage error";
    default: return "unknown status";
    }
}

static int fail_format(const char *what)
{
    err_clear();
    err_put("corrupted or truncated .apx: ");
    err_put(what);
    return APX_ERR_FORMAT;
}

static int fail_arena(void)
{
    err_clear();
    err_put("program does not fit the firmware arena (APX_ARENA_BYTES = ");
    err_int((int64_t)sizeof g_arena);
    err_put(")");
    return APX_ERR_ARENA;
}

#define PB(call, what)                                                                                          \
    do {                                                                                                        \
        if ((call) < 0) return fail_format(what);                                                               \
    } while (0)

#define TRY(call)                                                                                               \
    do {                                                                                                        \
        int try_e_ = (call);                                                                                    \
        if (try_e_ != 0) return try_e_;                                                                         \
    } while (0)

#define ALLOC(ptr, n, type)                                                                                     \
    do {                                                                                                        \
        (ptr) = (type *)arena_alloc((size_t)(n), sizeof(type));                                                 \
        if ((ptr) == NULL) return fail_arena();                                                                 \
    } while (0)

/* ================================================================================================ decode */

/* A string field: valid UTF-8, copied NUL-terminated into the arena; last occurrence wins. */
static int read_name(apx_pb_reader *r, uint32_t field, uint32_t wire, apx_name *out)
{
    const uint8_t *d;
    size_t n;
    char *s;
    int e = apx_pb_read_string(r, field, wire, &d, &n);
    if (e == APX_PB_ERR_UTF8) return fail_format("a string field is not valid UTF-8");
    if (e < 0) return fail_format("bad string field");
    if (e == APX_PB_SKIPPED) return APX_OK;
    if (n > 0xffffu) return fail_format("name longer than 65535 bytes");
    ALLOC(s, n + 1u, char);
    if (n > 0u) memcpy(s, d, n);
    s[n] = '\0';
    out->s = s;
    out->len = (uint32_t)n;
    return APX_OK;
}

/* Fills a repeated sint32 / uint32 / sfixed32 field: count first, then read every occurrence. */
typedef struct {
    uint32_t field;
    int elem;
    uint32_t *raw;
    uint32_t count;
    uint32_t filled;
} repeated;

static int repeated_prepare(repeated *rp, const uint8_t *msg, size_t len, uint32_t field, int elem)
{
    rp->field = field;
    rp->elem = elem;
    rp->filled = 0;
    PB(apx_pb_count_repeated(msg, len, field, elem, &rp->count), "bad repeated field");
    ALLOC(rp->raw, rp->count, uint32_t);
    return APX_OK;
}

static int repeated_read(repeated *rp, apx_pb_reader *r, uint32_t wire)
{
    PB(apx_pb_read_repeated(r, rp->field, wire, rp->elem, rp->raw, rp->count, &rp->filled), "bad repeated field");
    return APX_OK;
}

/* In-place conversion of raw zigzag words to int32. */
static int32_t *as_sint32(repeated *rp)
{
    uint32_t i;
    int32_t *out = (int32_t *)(void *)rp->raw;
    for (i = 0; i < rp->count; i++) out[i] = apx_pb_zigzag32(rp->raw[i]);
    return out;
}

static int32_t *as_int32(repeated *rp)
{
    uint32_t i;
    int32_t *out = (int32_t *)(void *)rp->raw;
    for (i = 0; i < rp->count; i++) out[i] = apx_pb_u32_to_i32(rp->raw[i]);
    return out;
}

static int parse_slice(const uint8_t *msg, size_t len, apx_slice *s)
{
    apx_pb_reader r;
    uint32_t f, w;
    int e;
    apx_pb_init(&r, msg, len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        switch (f) {
        case 1: PB(apx_pb_read_uint32(&r, f, w, &s->core), "slice"); break;
        case 2: PB(apx_pb_read_uint32(&r, f, w, &s->start), "slice"); break;
        case 3: PB(apx_pb_read_uint32(&r, f, w, &s->count), "slice"); break;
        default: PB(apx_pb_skip(&r, f, w), "slice"); break;
        }
    }
    if (e < 0) return fail_format("slice");
    return APX_OK;
}

static int parse_lut(const uint8_t *msg, size_t len, apx_lut *l)
{
    apx_pb_reader r;
    uint32_t f, w;
    int e;
    repeated values;
    TRY(repeated_prepare(&values, msg, len, 4, APX_PB_ELEM_VARINT));
    apx_pb_init(&r, msg, len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        switch (f) {
        case 1: TRY(read_name(&r, f, w, &l->name)); break;
        case 2: PB(apx_pb_read_sint32(&r, f, w, &l->x_min), "lut"); break;
        case 3: PB(apx_pb_read_uint32(&r, f, w, &l->step_shift), "lut"); break;
        case 4: TRY(repeated_read(&values, &r, w)); break;
        default: PB(apx_pb_skip(&r, f, w), "lut"); break;
        }
    }
    if (e < 0) return fail_format("lut");
    l->values = as_sint32(&values);
    l->n_values = values.count;
    return APX_OK;
}

static int parse_group(const uint8_t *msg, size_t len, apx_group *g)
{
    apx_pb_reader r;
    uint32_t f, w, ns = 0;
    int e;
    repeated init;
    TRY(repeated_prepare(&init, msg, len, 33, APX_PB_ELEM_VARINT));
    PB(apx_pb_count_field(msg, len, 5, &g->n_slices), "group slices");
    ALLOC(g->slices, g->n_slices, apx_slice);
    apx_pb_init(&r, msg, len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        switch (f) {
        case 1: TRY(read_name(&r, f, w, &g->name)); break;
        case 2: PB(apx_pb_read_uint32(&r, f, w, &g->size), "group"); break;
        case 3: PB(apx_pb_read_enum(&r, f, w, &g->kind), "group"); break;
        case 4: PB(apx_pb_read_enum(&r, f, w, &g->output), "group"); break;
        case 5: {
            const uint8_t *d;
            size_t n;
            e = apx_pb_read_bytes(&r, f, w, &d, &n);
            if (e < 0) return fail_format("group slice");
            if (e == APX_PB_SKIPPED) break;
            if (ns >= g->n_slices) return fail_format("group slices");
            TRY(parse_slice(d, n, &g->slices[ns]));
            ns++;
            break;
        }
        case 6: PB(apx_pb_read_bool(&r, f, w, &g->has_basal), "group"); break;
        case 7: PB(apx_pb_read_bool(&r, f, w, &g->has_apical), "group"); break;
        case 8: PB(apx_pb_read_uint32(&r, f, w, &g->basal_decay), "group"); break;
        case 9: PB(apx_pb_read_uint32(&r, f, w, &g->apical_decay), "group"); break;
        case 10: PB(apx_pb_read_uint32(&r, f, w, &g->k_basal), "group"); break;
        case 11: PB(apx_pb_read_uint32(&r, f, w, &g->k_apical), "group"); break;
        case 12: PB(apx_pb_read_uint32(&r, f, w, &g->k_nudge), "group"); break;
        case 13: PB(apx_pb_read_uint32(&r, f, w, &g->k_total), "group"); break;
        case 14: PB(apx_pb_read_enum(&r, f, w, &g->nudge), "group"); break;
        case 15: PB(apx_pb_read_sint32(&r, f, w, &g->teacher), "group"); break;
        case 16: PB(apx_pb_read_bool(&r, f, w, &g->teacher_prospective), "group"); break;
        case 17: PB(apx_pb_read_uint32(&r, f, w, &g->prospective_gain), "group"); break;
        case 18: PB(apx_pb_read_uint32(&r, f, w, &g->basal_pred_gain), "group"); break;
        case 19: PB(apx_pb_read_sint32(&r, f, w, &g->lut), "group"); break;
        case 20: PB(apx_pb_read_sint32(&r, f, w, &g->threshold), "group"); break;
        case 21: PB(apx_pb_read_sint32(&r, f, w, &g->reset), "group"); break;
        case 22: PB(apx_pb_read_uint32(&r, f, w, &g->refractory), "group"); break;
        case 23: PB(apx_pb_read_uint32(&r, f, w, &g->payload_shift), "group"); break;
        case 24: PB(apx_pb_read_enum(&r, f, w, &g->noise_target), "group"); break;
        case 25: PB(apx_pb_read_uint32(&r, f, w, &g->noise_decay), "group"); break;
        case 26: PB(apx_pb_read_uint32(&r, f, w, &g->noise_gain), "group"); break;
        case 27: PB(apx_pb_read_uint32(&r, f, w, &g->traces), "group"); break;
        case 28: PB(apx_pb_read_uint32(&r, f, w, &g->x1_decay), "group"); break;
        case 29: PB(apx_pb_read_sint32(&r, f, w, &g->x1_impulse), "group"); break;
        case 30: PB(apx_pb_read_uint32(&r, f, w, &g->x2_decay), "group"); break;
        case 31: PB(apx_pb_read_sint32(&r, f, w, &g->x2_impulse), "group"); break;
        case 32: PB(apx_pb_read_uint32(&r, f, w, &g->hp_decay), "group"); break;
        case 33: TRY(repeated_read(&init, &r, w)); break;
        case 34: PB(apx_pb_read_double_bits(&r, f, w, &g->value_scale_bits), "group"); break;
        default: PB(apx_pb_skip(&r, f, w), "group"); break;
        }
    }
    if (e < 0) return fail_format("group");
    g->init_soma = as_sint32(&init);
    g->n_init_soma = init.count;
    return APX_OK;
}

static int parse_statement(const uint8_t *msg, size_t len, apx_statement *s)
{
    apx_pb_reader r;
    uint32_t f, w;
    int e;
    repeated code;
    TRY(repeated_prepare(&code, msg, len, 4, APX_PB_ELEM_FIXED32));
    apx_pb_init(&r, msg, len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        switch (f) {
        case 1: PB(apx_pb_read_enum(&r, f, w, &s->trigger), "statement"); break;
        case 2: PB(apx_pb_read_uint32(&r, f, w, &s->epoch_shift), "statement"); break;
        case 3: PB(apx_pb_read_enum(&r, f, w, &s->target), "statement"); break;
        case 4: TRY(repeated_read(&code, &r, w)); break;
        default: PB(apx_pb_skip(&r, f, w), "statement"); break;
        }
    }
    if (e < 0) return fail_format("statement");
    s->code = as_int32(&code);
    s->n_code = code.count;
    return APX_OK;
}

/* One occurrence of Projection.plasticity, merged into p (protobuf merge: scalars last wins, statements append). */
static int parse_plasticity(const uint8_t *msg, size_t len, apx_projection *p, uint32_t *ns)
{
    apx_pb_reader r;
    uint32_t f, w;
    int e;
    apx_pb_init(&r, msg, len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        const uint8_t *d;
        size_t n;
        switch (f) {
        case 1:
            e = apx_pb_read_string(&r, f, w, &d, &n);
            if (e == APX_PB_ERR_UTF8) return fail_format("plasticity source is not valid UTF-8");
            if (e < 0) return fail_format("plasticity source");
            break;
        case 2:
            e = apx_pb_read_bytes(&r, f, w, &d, &n);
            if (e < 0) return fail_format("statement");
            if (e == APX_PB_SKIPPED) break;
            if (*ns >= p->n_stmts) return fail_format("statements");
            TRY(parse_statement(d, n, &p->stmts[*ns]));
            (*ns)++;
            break;
        case 3: PB(apx_pb_read_uint32(&r, f, w, &p->frac_bits), "plasticity"); break;
        case 4: PB(apx_pb_read_enum(&r, f, w, &p->rounding), "plasticity"); break;
        case 5: PB(apx_pb_read_uint32(&r, f, w, &p->lowpass), "plasticity"); break;
        case 6: PB(apx_pb_read_bool(&r, f, w, &p->tag_on), "plasticity"); break;
        case 7: PB(apx_pb_read_uint32(&r, f, w, &p->update_shift), "plasticity"); break;
        default: PB(apx_pb_skip(&r, f, w), "plasticity"); break;
        }
    }
    if (e < 0) return fail_format("plasticity");
    return APX_OK;
}

/* Statements over every occurrence of the plasticity field (field 12) of a projection message. */
static int count_statements(const uint8_t *msg, size_t len, int *present, uint32_t *count)
{
    apx_pb_reader r;
    uint32_t f, w, total = 0;
    int e;
    *present = 0;
    apx_pb_init(&r, msg, len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        if (f == 12u && w == APX_PB_WIRE_LEN) {
            const uint8_t *d;
            size_t n;
            uint32_t k;
            PB(apx_pb_len(&r, &d, &n), "plasticity");
            PB(apx_pb_count_field(d, n, 2, &k), "plasticity statements");
            *present = 1;
            if (k > 0xffffu || total > 0xffffu) return fail_format("too many statements");
            total += k;
        } else {
            PB(apx_pb_skip(&r, f, w), "projection");
        }
    }
    if (e < 0) return fail_format("projection");
    *count = total;
    return APX_OK;
}

static int parse_projection(const uint8_t *msg, size_t len, apx_projection *p)
{
    apx_pb_reader r;
    uint32_t f, w, ns = 0;
    int e;
    repeated rows, cols;
    TRY(repeated_prepare(&rows, msg, len, 10, APX_PB_ELEM_VARINT));
    TRY(repeated_prepare(&cols, msg, len, 11, APX_PB_ELEM_VARINT));
    TRY(count_statements(msg, len, &p->plastic, &p->n_stmts));
    if (p->n_stmts > APX_MAX_RULE_STATEMENTS) {
        err_clear();
        err_put("projection: plasticity has ");
        err_int(p->n_stmts);
        err_put(" statements, expected 1..");
        err_int(APX_MAX_RULE_STATEMENTS);
        return APX_ERR_INVALID;
    }
    ALLOC(p->stmts, p->n_stmts, apx_statement);
    apx_pb_init(&r, msg, len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        switch (f) {
        case 1: TRY(read_name(&r, f, w, &p->name)); break;
        case 2: PB(apx_pb_read_uint32(&r, f, w, &p->pre), "projection"); break;
        case 3: PB(apx_pb_read_uint32(&r, f, w, &p->post), "projection"); break;
        case 4: PB(apx_pb_read_enum(&r, f, w, &p->kind), "projection"); break;
        case 5: PB(apx_pb_read_enum(&r, f, w, &p->target), "projection"); break;
        case 6: PB(apx_pb_read_uint32(&r, f, w, &p->weight_bits), "projection"); break;
        case 7: PB(apx_pb_read_uint32(&r, f, w, &p->weight_shift), "projection"); break;
        case 8: PB(apx_pb_read_uint32(&r, f, w, &p->delay), "projection"); break;
        case 9: PB(apx_pb_read_bytes(&r, f, w, &p->wbytes, &p->wbytes_len), "projection weights"); break;
        case 10: TRY(repeated_read(&rows, &r, w)); break;
        case 11: TRY(repeated_read(&cols, &r, w)); break;
        case 12: {
            const uint8_t *d;
            size_t n;
            e = apx_pb_read_bytes(&r, f, w, &d, &n);
            if (e < 0) return fail_format("projection plasticity");
            if (e == APX_PB_OK) TRY(parse_plasticity(d, n, p, &ns));
            break;
        }
        default: PB(apx_pb_skip(&r, f, w), "projection"); break;
        }
    }
    if (e < 0) return fail_format("projection");
    p->row_ptr = rows.raw;
    p->n_row_ptr = rows.count;
    p->cols = cols.raw;
    p->n_cols = cols.count;
    if (p->weight_bits == 16u && p->wbytes_len % 2u != 0u) {
        err_clear();
        err_put("corrupted or truncated .apx: ");
        err_obj("projection", &p->name, 0);
        err_put(": odd number of weight bytes for 16-bit weights");
        return APX_ERR_FORMAT;
    }
    p->n_syn = (uint32_t)(p->weight_bits == 16u ? p->wbytes_len / 2u : p->wbytes_len);
    return APX_OK;
}

static int parse_port(const uint8_t *msg, size_t len, apx_port *q)
{
    apx_pb_reader r;
    uint32_t f, w;
    int e;
    apx_pb_init(&r, msg, len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        switch (f) {
        case 1: TRY(read_name(&r, f, w, &q->name)); break;
        case 2: PB(apx_pb_read_enum(&r, f, w, &q->kind), "input"); break;
        case 3: PB(apx_pb_read_sint32(&r, f, w, &q->group), "input"); break;
        default: PB(apx_pb_skip(&r, f, w), "input"); break;
        }
    }
    if (e < 0) return fail_format("input");
    return APX_OK;
}

static int parse_probe(const uint8_t *msg, size_t len, apx_probe *q)
{
    apx_pb_reader r;
    uint32_t f, w;
    int e;
    apx_pb_init(&r, msg, len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        switch (f) {
        case 1: TRY(read_name(&r, f, w, &q->name)); break;
        case 2: PB(apx_pb_read_enum(&r, f, w, &q->variable), "probe"); break;
        case 3: PB(apx_pb_read_sint32(&r, f, w, &q->group), "probe"); break;
        case 4: PB(apx_pb_read_sint32(&r, f, w, &q->projection), "probe"); break;
        case 5: PB(apx_pb_read_uint32(&r, f, w, &q->every), "probe"); break;
        default: PB(apx_pb_skip(&r, f, w), "probe"); break;
        }
    }
    if (e < 0) return fail_format("probe");
    return APX_OK;
}

static int too_many(const char *what, uint32_t n, uint32_t limit)
{
    err_clear();
    err_put("program: ");
    err_int(n);
    err_put(" ");
    err_put(what);
    err_put(", limit ");
    err_int(limit);
    return APX_ERR_INVALID;
}

/* One metadata map entry: key (1) and value (2) strings must be valid UTF-8; nothing is kept. */
static int parse_metadata_entry(const uint8_t *msg, size_t len)
{
    apx_pb_reader r;
    uint32_t f, w;
    int e;
    apx_pb_init(&r, msg, len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        const uint8_t *d;
        size_t n;
        if (f == 1u || f == 2u) {
            e = apx_pb_read_string(&r, f, w, &d, &n);
            if (e == APX_PB_ERR_UTF8) return fail_format("metadata is not valid UTF-8");
            if (e < 0) return fail_format("metadata");
        } else {
            PB(apx_pb_skip(&r, f, w), "metadata");
        }
    }
    if (e < 0) return fail_format("metadata");
    return APX_OK;
}

static int parse_body(apx_chip *c, const uint8_t *body, size_t len)
{
    apx_pb_reader r;
    uint32_t f, w;
    int e;
    uint32_t nl = 0, ng = 0, np = 0, ni = 0, nq = 0;
    /* pass 1: count the repeated messages (and check the structure of the whole body) */
    apx_pb_init(&r, body, len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        if (w == APX_PB_WIRE_LEN) {
            if (f == 3u) c->n_luts++;
            else if (f == 4u) c->n_groups++;
            else if (f == 5u) c->n_projs++;
            else if (f == 6u) c->n_ports++;
            else if (f == 7u) c->n_probes++;
        }
        PB(apx_pb_skip(&r, f, w), "body");
    }
    if (e < 0) return fail_format("body");
    if (c->n_groups > APX_MAX_GROUPS) return too_many("groups", c->n_groups, APX_MAX_GROUPS);
    if (c->n_projs > APX_MAX_PROJECTIONS) return too_many("projections", c->n_projs, APX_MAX_PROJECTIONS);
    if (c->n_luts > APX_MAX_LUTS) return too_many("luts", c->n_luts, APX_MAX_LUTS);
    ALLOC(c->luts, c->n_luts, apx_lut);
    ALLOC(c->groups, c->n_groups, apx_group);
    ALLOC(c->projs, c->n_projs, apx_projection);
    ALLOC(c->ports, c->n_ports, apx_port);
    ALLOC(c->probes, c->n_probes, apx_probe);
    /* pass 2 */
    apx_pb_init(&r, body, len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        const uint8_t *d;
        size_t n;
        int k;
        if (f == 1u) {
            TRY(read_name(&r, f, w, &c->name));
            continue;
        }
        if (f == 2u) {
            PB(apx_pb_read_double_bits(&r, f, w, &c->tick_seconds_bits), "tick_seconds");
            continue;
        }
        if (f < 3u || f > 8u) {
            PB(apx_pb_skip(&r, f, w), "body"); /* unknown fields */
            continue;
        }
        k = apx_pb_read_bytes(&r, f, w, &d, &n);
        if (k < 0) return fail_format("body");
        if (k == APX_PB_SKIPPED) continue;
        switch (f) {
        case 3:
            TRY(parse_lut(d, n, &c->luts[nl]));
            nl++;
            break;
        case 4:
            TRY(parse_group(d, n, &c->groups[ng]));
            ng++;
            break;
        case 5:
            TRY(parse_projection(d, n, &c->projs[np]));
            np++;
            break;
        case 6:
            TRY(parse_port(d, n, &c->ports[ni]));
            ni++;
            break;
        case 7:
            TRY(parse_probe(d, n, &c->probes[nq]));
            nq++;
            break;
        default: TRY(parse_metadata_entry(d, n)); break; /* 8: map<string,string> metadata, not kept */
        }
    }
    if (e < 0) return fail_format("body");
    return APX_OK;
}

/* ================================================================================================ validate */

static int invalid_begin(const char *kind, const apx_name *name, uint32_t index)
{
    err_clear();
    err_obj(kind, name, index);
    err_put(": ");
    return APX_ERR_INVALID;
}

static int invalid(const char *kind, const apx_name *name, uint32_t index, const char *msg)
{
    invalid_begin(kind, name, index);
    err_put(msg);
    return APX_ERR_INVALID;
}

static int invalid_v(const char *kind, const apx_name *name, uint32_t index, const char *msg, int64_t v)
{
    invalid_begin(kind, name, index);
    err_put(msg);
    err_put(" ");
    err_int(v);
    err_put(" out of range");
    return APX_ERR_INVALID;
}

/* IEEE-754 double bit patterns, checked without floating point. */
static int double_finite(uint64_t bits)
{
    return ((bits >> 52) & 0x7ffu) != 0x7ffu;
}

static int double_nonneg(uint64_t bits)
{
    /* ≥ 0: sign clear, or −0 */
    return (bits >> 63) == 0u || (bits & 0x7fffffffffffffffull) == 0u;
}

static int name_cmp(const apx_name *a, const apx_name *b)
{
    uint32_t n = a->len < b->len ? a->len : b->len;
    int r = memcmp(a->s, b->s, n);
    if (r != 0) return r;
    if (a->len == b->len) return 0;
    return a->len < b->len ? -1 : 1;
}

/* Names of one kind: non-empty and unique. Heapsort of an index array (temporary arena space), O(n log n). */
static const apx_name *name_at(const void *base, size_t stride, uint32_t i)
{
    return (const apx_name *)(const void *)((const uint8_t *)base + (size_t)i * stride);
}

static void sift(uint32_t *idx, uint32_t start, uint32_t n, const void *base, size_t stride)
{
    uint32_t root = start;
    for (;;) {
        uint32_t child = 2u * root + 1u;
        uint32_t tmp;
        if (child >= n) return;
        if (child + 1u < n && name_cmp(name_at(base, stride, idx[child]), name_at(base, stride, idx[child + 1u])) < 0)
            child++;
        if (name_cmp(name_at(base, stride, idx[root]), name_at(base, stride, idx[child])) >= 0) return;
        tmp = idx[root];
        idx[root] = idx[child];
        idx[child] = tmp;
        root = child;
    }
}

static int unique_names(const char *kind, const void *base, size_t stride, uint32_t n)
{
    uint32_t i, *idx;
    size_t mark = g_arena_top;
    for (i = 0; i < n; i++)
        if (name_at(base, stride, i)->len == 0u) return invalid(kind, NULL, i, "empty name");
    if (n < 2u) return APX_OK;
    ALLOC(idx, n, uint32_t);
    for (i = 0; i < n; i++) idx[i] = i;
    for (i = n / 2u; i > 0u; i--) sift(idx, i - 1u, n, base, stride);
    for (i = n - 1u; i > 0u; i--) {
        uint32_t tmp = idx[0];
        idx[0] = idx[i];
        idx[i] = tmp;
        sift(idx, 0, i, base, stride);
    }
    for (i = 1; i < n; i++) {
        if (name_cmp(name_at(base, stride, idx[i - 1u]), name_at(base, stride, idx[i])) == 0) {
            const apx_name *nm = name_at(base, stride, idx[i]);
            g_arena_top = mark;
            invalid(kind, nm, 0, "duplicate ");
            err_put(kind);
            err_put(" name");
            return APX_ERR_INVALID;
        }
    }
    g_arena_top = mark;
    return APX_OK;
}

static int term_available(int32_t term, const apx_group *pre, const apx_group *post, const char **why)
{
    switch (term) {
    case APX_TERM_PRE_X1: *why = "pre group has no x1 trace"; return (pre->traces & APX_TRACE_X1) != 0u;
    case APX_TERM_PRE_X2: *why = "pre group has no x2 trace"; return (pre->traces & APX_TRACE_X2) != 0u;
    case APX_TERM_PRE_HP: *why = "pre group has no hp trace"; return (pre->traces & APX_TRACE_HP) != 0u;
    case APX_TERM_POST_X1: *why = "post group has no x1 trace"; return (post->traces & APX_TRACE_X1) != 0u;
    case APX_TERM_POST_X2: *why = "post group has no x2 trace"; return (post->traces & APX_TRACE_X2) != 0u;
    case APX_TERM_POST_HP: *why = "post group has no hp trace"; return (post->traces & APX_TRACE_HP) != 0u;
    case APX_TERM_POST_BASAL: *why = "post group has no basal compartment"; return post->has_basal;
    case APX_TERM_POST_APICAL: *why = "post group has no apical compartment"; return post->has_apical;
    case APX_TERM_POST_NOISE: *why = "post group has no noise"; return post->noise_target != APX_NOISE_TARGET_NONE;
    default: return 1;
    }
}

static const int32_t k_all_terms[] = {
    APX_TERM_PRE_SPIKE, APX_TERM_PRE_RATE,  APX_TERM_PRE_X1,          APX_TERM_PRE_X2,    APX_TERM_PRE_HP,
    APX_TERM_POST_SPIKE, APX_TERM_POST_RATE, APX_TERM_POST_X1,        APX_TERM_POST_X2,   APX_TERM_POST_HP,
    APX_TERM_POST_BASAL_RATE, APX_TERM_POST_BASAL, APX_TERM_POST_APICAL, APX_TERM_POST_SOMA, APX_TERM_POST_PROSP,
    APX_TERM_POST_NOISE, APX_TERM_SYN_W,    APX_TERM_SYN_TAG,         APX_TERM_REWARD,
};

static int validate_plasticity(apx_projection *p, uint32_t pi, const apx_group *pre, const apx_group *post)
{
    uint32_t s;
    const char *P = "projection";
    if (p->n_stmts < 1u || p->n_stmts > APX_MAX_RULE_STATEMENTS)
        return invalid_v(P, &p->name, pi, "plasticity statement count", p->n_stmts);
    if (p->frac_bits > APX_ACC_WORD_BITS || p->frac_bits + p->weight_bits > APX_ACC_WORD_BITS)
        return invalid_v(P, &p->name, pi, "frac_bits + weight_bits exceeds 31: frac_bits", p->frac_bits);
    if (p->rounding < 0 || p->rounding >= APX_ROUNDING_COUNT) return invalid_v(P, &p->name, pi, "rounding", p->rounding);
    if (p->lowpass > APX_COEF_MAX) return invalid_v(P, &p->name, pi, "lowpass", p->lowpass);
    if (p->update_shift > APX_MAX_UPDATE_SHIFT) return invalid_v(P, &p->name, pi, "update_shift", p->update_shift);
    if ((int32_t)APX_RULE_FRAC_BITS - (int32_t)p->weight_shift - (int32_t)p->frac_bits + (int32_t)p->update_shift > (int32_t)APX_ACC_WORD_BITS)
        return invalid_v(P, &p->name, pi, "24 - weight_shift - frac_bits + update_shift exceeds 31: update_shift", p->update_shift);
    for (s = 0; s < p->n_stmts; s++) {
        apx_statement *st = &p->stmts[s];
        char msg[128];
        size_t t;
        if (st->trigger < 0 || st->trigger >= APX_TRIGGER_COUNT) return invalid_v(P, &p->name, pi, "statement trigger", st->trigger);
        if (st->epoch_shift > 16u) return invalid_v(P, &p->name, pi, "statement epoch_shift", st->epoch_shift);
        if (st->target < 0 || st->target >= APX_RULE_TARGET_COUNT) return invalid_v(P, &p->name, pi, "statement target", st->target);
        if (apx_microcode_validate(st->code, st->n_code, msg, sizeof msg) != 0) {
            invalid_begin(P, &p->name, pi);
            err_put("statement ");
            err_int(s);
            err_put(": bad microcode: ");
            err_put(msg);
            return APX_ERR_INVALID;
        }
        st->uses_tag = apx_microcode_uses_term(st->code, st->n_code, APX_TERM_SYN_TAG);
        st->uses_basal_rate = apx_microcode_uses_term(st->code, st->n_code, APX_TERM_POST_BASAL_RATE);
        if ((st->target == APX_RULE_TARGET_TAG || st->uses_tag) && !p->tag_on) {
            invalid_begin(P, &p->name, pi);
            err_put("statement ");
            err_int(s);
            err_put(": uses the synapse tag but plasticity.tag is false");
            return APX_ERR_INVALID;
        }
        for (t = 0; t < sizeof k_all_terms / sizeof k_all_terms[0]; t++) {
            const char *why = "";
            if (!apx_microcode_uses_term(st->code, st->n_code, k_all_terms[t])) continue;
            if (!term_available(k_all_terms[t], pre, post, &why)) {
                invalid_begin(P, &p->name, pi);
                err_put("statement ");
                err_int(s);
                err_put(": ");
                err_put(why);
                return APX_ERR_INVALID;
            }
        }
    }
    return APX_OK;
}

static int validate_projection(apx_chip *c, apx_projection *p, uint32_t pi)
{
    const char *P = "projection";
    const apx_group *pre, *post;
    if (p->pre >= c->n_groups) return invalid_v(P, &p->name, pi, "pre", p->pre);
    if (p->post >= c->n_groups) return invalid_v(P, &p->name, pi, "post", p->post);
    pre = &c->groups[p->pre];
    post = &c->groups[p->post];
    if (pre->output == APX_OUTPUT_MODE_NONE) return invalid(P, &p->name, pi, "pre group has output none");
    if (post->kind != APX_GROUP_KIND_NEURON) return invalid(P, &p->name, pi, "post group is not a neuron group");
    if (p->kind < 0 || p->kind >= APX_PROJECTION_KIND_COUNT) return invalid_v(P, &p->name, pi, "kind", p->kind);
    if (p->target < 0 || p->target >= APX_COMPARTMENT_COUNT) return invalid_v(P, &p->name, pi, "target", p->target);
    if (p->target == APX_COMPARTMENT_BASAL && !post->has_basal)
        return invalid(P, &p->name, pi, "target basal but the post group has no basal compartment");
    if (p->target == APX_COMPARTMENT_APICAL && !post->has_apical)
        return invalid(P, &p->name, pi, "target apical but the post group has no apical compartment");
    if (p->weight_bits != APX_WEIGHT_BITS_ALLOWED_0 && p->weight_bits != APX_WEIGHT_BITS_ALLOWED_1)
        return invalid_v(P, &p->name, pi, "weight_bits", p->weight_bits);
    if (p->weight_shift > APX_WEIGHT_SHIFT_MAX) return invalid_v(P, &p->name, pi, "weight_shift", p->weight_shift);
    if (p->delay < 1u || p->delay > APX_MAX_DELAY) return invalid_v(P, &p->name, pi, "delay", p->delay);
    if (p->kind == APX_PROJECTION_KIND_SPARSE) {
        uint32_t i, k, nsyn, *fan;
        size_t mark = g_arena_top;
        if (p->n_row_ptr != pre->size + 1u) return invalid_v(P, &p->name, pi, "row_ptr length", p->n_row_ptr);
        if (p->row_ptr[0] != 0u) return invalid(P, &p->name, pi, "row_ptr[0] is not 0");
        for (i = 1; i < p->n_row_ptr; i++)
            if (p->row_ptr[i] < p->row_ptr[i - 1u]) return invalid_v(P, &p->name, pi, "row_ptr decreases at", i);
        nsyn = p->row_ptr[pre->size];
        if (p->n_cols != nsyn) return invalid_v(P, &p->name, pi, "cols length", p->n_cols);
        if (p->n_syn != nsyn) return invalid_v(P, &p->name, pi, "number of weights", p->n_syn);
        ALLOC(fan, post->size, uint32_t);
        for (k = 0; k < nsyn; k++) {
            uint32_t col = p->cols[k];
            if (col >= post->size) {
                g_arena_top = mark;
                return invalid_v(P, &p->name, pi, "column", col);
            }
            fan[col]++;
            if (fan[col] > APX_MAX_FAN_IN) {
                g_arena_top = mark;
                return invalid_v(P, &p->name, pi, "fan-in of post neuron", col);
            }
        }
        g_arena_top = mark;
    } else if (p->kind == APX_PROJECTION_KIND_DENSE) {
        if ((uint64_t)p->n_syn != (uint64_t)pre->size * post->size)
            return invalid_v(P, &p->name, pi, "number of weights (dense: pre.size x post.size)", p->n_syn);
        if (pre->size > APX_MAX_FAN_IN) return invalid_v(P, &p->name, pi, "fan-in", pre->size);
    } else {
        if (pre->size != post->size) return invalid(P, &p->name, pi, "one-to-one needs equal sizes");
        if (p->n_syn != pre->size) return invalid_v(P, &p->name, pi, "number of weights", p->n_syn);
    }
    if (p->plastic) TRY(validate_plasticity(p, pi, pre, post));
    return APX_OK;
}

static int validate_group(apx_chip *c, apx_group *g, uint32_t gi)
{
    const char *G = "group";
    uint32_t s;
    uint64_t next = 0;
    const uint32_t *coef[11];
    static const char *const coef_names[11] = {"basal_decay", "apical_decay", "k_basal",  "k_apical",
                                               "k_nudge",     "k_total",      "basal_pred_gain", "noise_decay",
                                               "x1_decay",    "x2_decay",     "hp_decay"};
    unsigned i;
    if (g->size < 1u || g->size > APX_MAX_GROUP_SIZE) return invalid_v(G, &g->name, gi, "size", g->size);
    if (g->kind < 0 || g->kind >= APX_GROUP_KIND_COUNT) return invalid_v(G, &g->name, gi, "kind", g->kind);
    if (g->output < 0 || g->output >= APX_OUTPUT_MODE_COUNT) return invalid_v(G, &g->name, gi, "output", g->output);
    if (g->nudge < 0 || g->nudge >= APX_NUDGE_SOURCE_COUNT) return invalid_v(G, &g->name, gi, "nudge", g->nudge);
    if (g->noise_target < 0 || g->noise_target >= APX_NOISE_TARGET_COUNT)
        return invalid_v(G, &g->name, gi, "noise_target", g->noise_target);
    if (g->n_slices == 0u) return invalid(G, &g->name, gi, "no slices (not placed)");
    for (s = 0; s < g->n_slices; s++) {
        const apx_slice *sl = &g->slices[s];
        if (sl->core >= APX_CHIP_CORES) return invalid_v(G, &g->name, gi, "slice core", sl->core);
        if (sl->count < 1u || sl->count > APX_MAX_GROUP_SIZE) return invalid_v(G, &g->name, gi, "slice count", sl->count);
        if ((uint64_t)sl->start != next) return invalid_v(G, &g->name, gi, "slice start (slices must cover 0..size-1 in order)", sl->start);
        next += sl->count;
    }
    if (next != g->size) return invalid(G, &g->name, gi, "slices do not cover the group");
    coef[0] = &g->basal_decay;
    coef[1] = &g->apical_decay;
    coef[2] = &g->k_basal;
    coef[3] = &g->k_apical;
    coef[4] = &g->k_nudge;
    coef[5] = &g->k_total;
    coef[6] = &g->basal_pred_gain;
    coef[7] = &g->noise_decay;
    coef[8] = &g->x1_decay;
    coef[9] = &g->x2_decay;
    coef[10] = &g->hp_decay;
    for (i = 0; i < 11u; i++)
        if (*coef[i] > APX_COEF_MAX) return invalid_v(G, &g->name, gi, coef_names[i], *coef[i]);
    if ((uint64_t)g->k_total + g->k_nudge > APX_COEF_MAX)
        return invalid_v(G, &g->name, gi, "k_total + k_nudge", (int64_t)g->k_total + g->k_nudge);
    if (g->prospective_gain > APX_PROSP_MAX) return invalid_v(G, &g->name, gi, "prospective_gain", g->prospective_gain);
    if (g->lut != -1 && (g->lut < 0 || (uint32_t)g->lut >= c->n_luts)) return invalid_v(G, &g->name, gi, "lut", g->lut);
    if (g->kind == APX_GROUP_KIND_NEURON &&
        (g->output == APX_OUTPUT_MODE_STOCHASTIC || g->output == APX_OUTPUT_MODE_GRADED) && g->lut == -1)
        return invalid(G, &g->name, gi, "stochastic and graded output need a lut");
    if (g->nudge == APX_NUDGE_SOURCE_TEACHER) {
        if (g->teacher < 0 || (uint32_t)g->teacher >= c->n_groups) return invalid_v(G, &g->name, gi, "teacher", g->teacher);
        if (c->groups[g->teacher].size != g->size) return invalid(G, &g->name, gi, "teacher has another size");
    } else if (g->teacher != -1) {
        return invalid_v(G, &g->name, gi, "teacher set but nudge is not teacher (use -1): teacher", g->teacher);
    }
    if (g->nudge != APX_NUDGE_SOURCE_NONE && g->kind != APX_GROUP_KIND_NEURON)
        return invalid(G, &g->name, gi, "an input group cannot be nudged");
    if (g->refractory > 65535u) return invalid_v(G, &g->name, gi, "refractory", g->refractory);
    if (g->payload_shift > APX_PAYLOAD_SHIFT_MAX) return invalid_v(G, &g->name, gi, "payload_shift", g->payload_shift);
    if (g->noise_gain > 0x7fffffffu) return invalid_v(G, &g->name, gi, "noise_gain", g->noise_gain);
    if (g->traces > APX_TRACE_ALL) return invalid_v(G, &g->name, gi, "traces", g->traces);
    if (g->n_init_soma != 0u && g->n_init_soma != g->size) return invalid_v(G, &g->name, gi, "init_soma length", g->n_init_soma);
    if (!double_finite(g->value_scale_bits)) return invalid(G, &g->name, gi, "value_scale is not finite");
    return APX_OK;
}

static int validate_program(apx_chip *c)
{
    uint32_t i, rewards = 0;
    if (!double_finite(c->tick_seconds_bits) || !double_nonneg(c->tick_seconds_bits))
        return invalid("program", &c->name, 0, "tick_seconds is not a finite number >= 0");
    TRY(unique_names("lut", c->luts, sizeof(apx_lut), c->n_luts));
    TRY(unique_names("group", c->groups, sizeof(apx_group), c->n_groups));
    TRY(unique_names("projection", c->projs, sizeof(apx_projection), c->n_projs));
    TRY(unique_names("input", c->ports, sizeof(apx_port), c->n_ports));
    TRY(unique_names("probe", c->probes, sizeof(apx_probe), c->n_probes));
    for (i = 0; i < c->n_luts; i++) {
        const apx_lut *l = &c->luts[i];
        if (l->step_shift > APX_LUT_STEP_SHIFT_MAX) return invalid_v("lut", &l->name, i, "step_shift", l->step_shift);
        if (l->n_values != APX_LUT_SEGMENTS + 1u) return invalid_v("lut", &l->name, i, "number of values", l->n_values);
    }
    for (i = 0; i < c->n_groups; i++) TRY(validate_group(c, &c->groups[i], i));
    for (i = 0; i < c->n_projs; i++) TRY(validate_projection(c, &c->projs[i], i));
    for (i = 0; i < c->n_ports; i++) {
        const apx_port *q = &c->ports[i];
        const apx_group *g;
        if (q->kind < 0 || q->kind >= APX_PORT_KIND_COUNT) return invalid_v("input", &q->name, i, "kind", q->kind);
        if (q->kind == APX_PORT_KIND_REWARD) {
            if (q->group != -1) return invalid_v("input", &q->name, i, "reward port group (expected -1)", q->group);
            rewards++;
            if (rewards > 1u) return invalid("input", &q->name, i, "more than one reward port");
            continue;
        }
        if (q->group < 0 || (uint32_t)q->group >= c->n_groups) return invalid_v("input", &q->name, i, "group", q->group);
        g = &c->groups[q->group];
        if ((q->kind == APX_PORT_KIND_RATE || q->kind == APX_PORT_KIND_SPIKES) && g->kind != APX_GROUP_KIND_INPUT)
            return invalid("input", &q->name, i, "rate/spikes port on a group that is not an input group");
        if (q->kind == APX_PORT_KIND_TARGET && g->nudge != APX_NUDGE_SOURCE_TARGET)
            return invalid("input", &q->name, i, "target port on a group whose nudge is not target");
    }
    for (i = 0; i < c->n_probes; i++) {
        const apx_probe *q = &c->probes[i];
        const apx_group *g;
        int neuron;
        if (q->variable < 0 || q->variable >= APX_PROBE_VARIABLE_COUNT)
            return invalid_v("probe", &q->name, i, "variable", q->variable);
        if (q->every < 1u) return invalid_v("probe", &q->name, i, "every", q->every);
        if (q->variable == APX_PROBE_VARIABLE_WEIGHTS) {
            if (q->projection < 0 || (uint32_t)q->projection >= c->n_projs)
                return invalid_v("probe", &q->name, i, "projection", q->projection);
            if (q->group != -1) return invalid_v("probe", &q->name, i, "weights probe group (expected -1)", q->group);
            continue;
        }
        if (q->group < 0 || (uint32_t)q->group >= c->n_groups) return invalid_v("probe", &q->name, i, "group", q->group);
        if (q->projection != -1) return invalid_v("probe", &q->name, i, "neuron probe projection (expected -1)", q->projection);
        g = &c->groups[q->group];
        neuron = g->kind == APX_GROUP_KIND_NEURON;
        if (q->variable == APX_PROBE_VARIABLE_BASAL && !(neuron && g->has_basal))
            return invalid("probe", &q->name, i, "group has no basal compartment");
        if (q->variable == APX_PROBE_VARIABLE_APICAL && !(neuron && g->has_apical))
            return invalid("probe", &q->name, i, "group has no apical compartment");
        if (q->variable == APX_PROBE_VARIABLE_NOISE && !(neuron && g->noise_target != APX_NOISE_TARGET_NONE))
            return invalid("probe", &q->name, i, "group has no noise");
    }
    return APX_OK;
}

/* ================================================================================================ capacity */

static uint32_t bytes_per_synapse(const apx_projection *p)
{
    uint32_t b = p->weight_bits / 8u;
    if (p->kind == APX_PROJECTION_KIND_SPARSE) b += 2u;
    if (p->plastic) {
        b += 4u;
        if (p->tag_on) b += 4u;
        if (p->lowpass > 0u) b += 4u;
    }
    return b;
}

/* checkFit (capacity.ts): neurons, synapse memory and delay-ring words per core. */
static int check_fit(apx_chip *c)
{
    uint64_t neurons[APX_CHIP_CORES], bytes[APX_CHIP_CORES], ring[APX_CHIP_CORES];
    uint32_t core, i, s;
    memset(neurons, 0, sizeof neurons);
    memset(bytes, 0, sizeof bytes);
    memset(ring, 0, sizeof ring);
    for (i = 0; i < c->n_groups; i++)
        for (s = 0; s < c->groups[i].n_slices; s++) neurons[c->groups[i].slices[s].core] += c->groups[i].slices[s].count;
    for (i = 0; i < c->n_projs; i++) {
        const apx_projection *p = &c->projs[i];
        const apx_group *pre = &c->groups[p->pre];
        const apx_group *post = &c->groups[p->post];
        uint64_t per[APX_CHIP_CORES];
        uint32_t bps = bytes_per_synapse(p);
        memset(per, 0, sizeof per);
        if (p->kind == APX_PROJECTION_KIND_DENSE) {
            for (s = 0; s < post->n_slices; s++) per[post->slices[s].core] += (uint64_t)post->slices[s].count * pre->size;
        } else if (p->kind == APX_PROJECTION_KIND_ONE_TO_ONE) {
            for (s = 0; s < post->n_slices; s++) per[post->slices[s].core] += post->slices[s].count;
        } else {
            uint32_t k;
            for (k = 0; k < p->n_cols; k++) per[post->core_of[p->cols[k]]]++;
        }
        for (core = 0; core < APX_CHIP_CORES; core++) bytes[core] += per[core] * bps;
        for (s = 0; s < post->n_slices; s++) ring[post->slices[s].core] += (uint64_t)post->slices[s].count * p->delay;
    }
    for (core = 0; core < APX_CHIP_CORES; core++) {
        const char *what = NULL;
        uint64_t used = 0, cap = 0;
        if (neurons[core] > APX_CORE_MAX_NEURONS) {
            what = "neurons";
            used = neurons[core];
            cap = APX_CORE_MAX_NEURONS;
        } else if (bytes[core] > APX_CORE_SYNAPSE_BYTES) {
            what = "synapse memory";
            used = bytes[core];
            cap = APX_CORE_SYNAPSE_BYTES;
        } else if (ring[core] > APX_CORE_RING_WORDS) {
            what = "delay-ring memory";
            used = ring[core];
            cap = APX_CORE_RING_WORDS;
        }
        if (what != NULL) {
            err_clear();
            err_put("core ");
            err_int(core);
            err_put(" ");
            err_put(what);
            err_put(" ");
            err_int((int64_t)((used * 100u + cap / 2u) / cap));
            err_put(" %");
            return APX_ERR_FIT;
        }
    }
    return APX_OK;
}

/* ================================================================================================ build */

static uint32_t hops(uint32_t a, uint32_t b)
{
    uint32_t ax = a % APX_MESH_WIDTH, bx = b % APX_MESH_WIDTH;
    uint32_t ay = a / APX_MESH_WIDTH, by = b / APX_MESH_WIDTH;
    return (ax > bx ? ax - bx : bx - ax) + (ay > by ? ay - by : by - ay);
}

static uint32_t route_cycles(uint32_t src, uint32_t dst)
{
    return APX_CYCLES_AXON + APX_CYCLES_HOP * hops(src, dst);
}

/* neuronCycles (cycleModel.ts) */
static uint32_t neuron_cycles(const apx_group *g)
{
    uint32_t traces = ((g->traces & APX_TRACE_X1) ? 1u : 0u) + ((g->traces & APX_TRACE_X2) ? 1u : 0u) +
                      ((g->traces & APX_TRACE_HP) ? 1u : 0u);
    uint32_t c;
    if (g->kind == APX_GROUP_KIND_INPUT) return 1u + APX_CYCLES_TRACE * traces;
    c = APX_CYCLES_SOMA;
    c += APX_CYCLES_DENDRITE * ((g->has_basal ? 1u : 0u) + (g->has_apical ? 1u : 0u));
    c += APX_CYCLES_INPUT_CONVERT * g->n_incoming;
    c += APX_CYCLES_LUT * ((g->lut >= 0 ? 1u : 0u) + (g->basal_rate_used ? 1u : 0u));
    if (g->noise_target != APX_NOISE_TARGET_NONE) c += APX_CYCLES_NOISE + 2u * APX_CYCLES_PRNG_DRAW;
    if (g->output == APX_OUTPUT_MODE_STOCHASTIC) c += APX_CYCLES_PRNG_DRAW;
    c += APX_CYCLES_TRACE * traces;
    return c;
}

static int build_group_placement(apx_group *g)
{
    uint32_t s, j;
    ALLOC(g->core_of, g->size, uint8_t);
    for (s = 0; s < g->n_slices; s++)
        for (j = 0; j < g->slices[s].count; j++) g->core_of[g->slices[s].start + j] = (uint8_t)g->slices[s].core;
    return APX_OK;
}

static int build_group_state(apx_chip *c, apx_group *g, uint32_t gi)
{
    uint32_t n = g->size;
    g->neuron = g->kind == APX_GROUP_KIND_NEURON;
    g->spiking = g->output == APX_OUTPUT_MODE_BINARY || g->output == APX_OUTPUT_MODE_STOCHASTIC;
    g->lutp = g->lut >= 0 ? &c->luts[g->lut] : NULL;
    ALLOC(g->u, n, int32_t);
    if (g->prospective_gain > 0u && g->neuron) {
        ALLOC(g->prosp, n, int32_t);
    } else {
        g->prosp = g->u; /* ŭ ≡ u (docs/chip.md §5.4) */
    }
    if (g->neuron && g->has_basal) ALLOC(g->vB, n, int32_t);
    if (g->neuron && g->has_apical) ALLOC(g->vA, n, int32_t);
    if (g->neuron && g->noise_target != APX_NOISE_TARGET_NONE) ALLOC(g->xi, n, int32_t);
    if (g->spiking) ALLOC(g->ref, n, int32_t);
    ALLOC(g->rate, n, int32_t);
    if (g->traces & APX_TRACE_HP) ALLOC(g->rate_prev, n, int32_t);
    if (g->traces & APX_TRACE_X1) ALLOC(g->x1, n, int32_t);
    if (g->traces & APX_TRACE_X2) ALLOC(g->x2, n, int32_t);
    if (g->traces & APX_TRACE_HP) ALLOC(g->hp, n, int32_t);
    if (g->basal_rate_used) ALLOC(g->basal_rate, n, int32_t);
    ALLOC(g->spike, n, int32_t);
    if (g->spiking) {
        g->payload = g->spike; /* a spike's payload is 1 (§6.1) */
    } else {
        ALLOC(g->payload, n, int32_t);
    }
    ALLOC(g->ev_idx, n, uint32_t);
    if (g->kind == APX_GROUP_KIND_INPUT) {
        ALLOC(g->in_rate, n, int32_t);
        ALLOC(g->in_spike, n, uint8_t);
    }
    if (g->nudge == APX_NUDGE_SOURCE_TARGET) ALLOC(g->target, n, int32_t);
    if (g->nudge == APX_NUDGE_SOURCE_TEACHER) ALLOC(g->nudge_buf, n, int32_t);
    if (g->n_init_soma == n) {
        uint32_t j;
        for (j = 0; j < n; j++) {
            g->u[j] = g->init_soma[j];
            g->prosp[j] = g->init_soma[j];
        }
    }
    g->noise_key = apx_stream_key(c->seed, APX_STREAM_NOISE, gi);
    g->spike_key = apx_stream_key(c->seed, APX_STREAM_SPIKE, gi);
    g->neuron_cost = neuron_cycles(g);
    return APX_OK;
}

static int build_projection(apx_chip *c, apx_projection *p, uint32_t pi)
{
    apx_group *pre = &c->groups[p->pre];
    apx_group *post = &c->groups[p->post];
    uint32_t N = pre->size, M = post->size, k, j, i, s, core;
    p->pre_g = pre;
    p->post_g = post;
    /* weights: signed little-endian */
    if (p->weight_bits == 8u) {
        ALLOC(p->w8, p->n_syn, int8_t);
        for (k = 0; k < p->n_syn; k++) {
            uint8_t b = p->wbytes[k];
            p->w8[k] = (int8_t)(b < 128u ? (int32_t)b : (int32_t)b - 256);
        }
    } else {
        ALLOC(p->w16, p->n_syn, int16_t);
        for (k = 0; k < p->n_syn; k++) {
            uint32_t v = (uint32_t)p->wbytes[2u * k] | ((uint32_t)p->wbytes[2u * k + 1u] << 8);
            p->w16[k] = (int16_t)(v < 32768u ? (int32_t)v : (int32_t)v - 65536);
        }
    }
    p->wbytes = NULL;
    if (p->plastic) {
        ALLOC(p->wacc, p->n_syn, int32_t);
        for (k = 0; k < p->n_syn; k++) {
            int64_t w = p->weight_bits == 8u ? p->w8[k] : p->w16[k];
            p->wacc[k] = (int32_t)apx_mul_pow2(w, p->frac_bits);
        }
        if (p->tag_on) ALLOC(p->tag, p->n_syn, int32_t);
        if (p->lowpass > 0u) ALLOC(p->lo, p->n_syn, int32_t);
        p->sa = APX_RULE_FRAC_BITS - (int32_t)p->weight_shift - (int32_t)p->frac_bits + (int32_t)p->update_shift;
        p->syn_w_shift = (int32_t)p->weight_shift + (int32_t)p->frac_bits - APX_RULE_FRAC_BITS;
        p->acc_max = apx_mul_pow2(((int64_t)1 << (p->weight_bits - 1u)) - 1, p->frac_bits);
        p->acc_min = -apx_mul_pow2((int64_t)1 << (p->weight_bits - 1u), p->frac_bits);
        for (s = 0; s < p->n_stmts; s++) {
            apx_statement *st = &p->stmts[s];
            int stochastic = st->target == APX_RULE_TARGET_WEIGHT && p->rounding == APX_ROUNDING_STOCHASTIC && p->sa > 0;
            apx_uop *uops;
            uint8_t *order;
            ALLOC(uops, st->n_code, apx_uop);
            ALLOC(order, st->n_code, uint8_t);
            apx_microcode_compile(p, st, uops, order);
            st->ops = apx_microcode_ops(st->code, st->n_code);
            st->cost = APX_CYCLES_LEARN_SYNAPSE + APX_CYCLES_LEARN_OP * st->ops + (stochastic ? APX_CYCLES_PRNG_DRAW : 0u);
            st->round_key = apx_stream_key(c->seed, APX_STREAM_ROUND, (pi << 3) | s);
        }
    }
    ALLOC(p->ring, (size_t)p->delay * M, int64_t);
    p->shift = (int32_t)p->weight_shift + (pre->spiking ? 0 : APX_PAYLOAD_BITS - (int32_t)pre->payload_shift) - 16;
    /* synapses per post neuron and per core */
    if (p->kind == APX_PROJECTION_KIND_SPARSE) {
        ALLOC(p->post_syn_count, M, uint32_t);
        for (k = 0; k < p->n_syn; k++) p->post_syn_count[p->cols[k]]++;
        for (j = 0; j < M; j++) p->syn_on_core[post->core_of[j]] += p->post_syn_count[j];
        if (p->plastic) {
            int post_trigger = 0;
            for (s = 0; s < p->n_stmts; s++)
                if (p->stmts[s].trigger == APX_TRIGGER_POST) post_trigger = 1;
            if (post_trigger) {
                uint32_t *fill;
                size_t mark;
                ALLOC(p->col_ptr, M + 1u, uint32_t);
                ALLOC(p->col_syn, p->n_syn, uint32_t);
                ALLOC(p->col_row, p->n_syn, uint32_t);
                for (j = 0; j < M; j++) p->col_ptr[j + 1u] = p->col_ptr[j] + p->post_syn_count[j];
                mark = g_arena_top;
                ALLOC(fill, M, uint32_t);
                for (j = 0; j < M; j++) fill[j] = p->col_ptr[j];
                for (i = 0; i < N; i++) {
                    for (k = p->row_ptr[i]; k < p->row_ptr[i + 1u]; k++) {
                        uint32_t q = fill[p->cols[k]];
                        fill[p->cols[k]] = q + 1u;
                        p->col_syn[q] = k;
                        p->col_row[q] = i;
                    }
                }
                g_arena_top = mark;
            }
        }
        /* per pre row: the cores its synapses reach, and how many synapses on each */
        {
            uint32_t entries = 0, tmp[APX_CHIP_CORES], q = 0;
            for (i = 0; i < N; i++) {
                memset(tmp, 0, sizeof tmp);
                for (k = p->row_ptr[i]; k < p->row_ptr[i + 1u]; k++) tmp[post->core_of[p->cols[k]]]++;
                for (core = 0; core < APX_CHIP_CORES; core++)
                    if (tmp[core] != 0u) entries++;
            }
            ALLOC(p->row_core_start, N + 1u, uint32_t);
            ALLOC(p->row_core, entries, uint8_t);
            ALLOC(p->row_core_count, entries, uint32_t);
            for (i = 0; i < N; i++) {
                memset(tmp, 0, sizeof tmp);
                for (k = p->row_ptr[i]; k < p->row_ptr[i + 1u]; k++) tmp[post->core_of[p->cols[k]]]++;
                for (core = 0; core < APX_CHIP_CORES; core++) {
                    if (tmp[core] != 0u) {
                        p->row_core[q] = (uint8_t)core;
                        p->row_core_count[q] = tmp[core];
                        q++;
                    }
                }
                p->row_core_start[i + 1u] = q;
            }
        }
    } else if (p->kind == APX_PROJECTION_KIND_DENSE) {
        for (j = 0; j < M; j++) p->syn_on_core[post->core_of[j]] += N;
        for (s = 0; s < post->n_slices; s++) p->dest_count[post->slices[s].core] += post->slices[s].count;
        for (i = 0; i < APX_CHIP_CORES; i++)
            for (core = 0; core < APX_CHIP_CORES; core++)
                if (p->dest_count[core] != 0u) p->route_cost[i] += route_cycles(i, core);
    } else {
        for (j = 0; j < M; j++) p->syn_on_core[post->core_of[j]] += 1u;
    }
    return APX_OK;
}

static int build(apx_chip *c)
{
    uint32_t i, s, core;
    /* which groups a rule reads post.basal_rate of; incoming projections */
    for (i = 0; i < c->n_projs; i++) {
        apx_projection *p = &c->projs[i];
        c->groups[p->post].n_incoming++;
        for (s = 0; s < p->n_stmts; s++)
            if (p->stmts[s].uses_basal_rate) c->groups[p->post].basal_rate_used = 1;
    }
    for (i = 0; i < c->n_groups; i++) {
        ALLOC(c->groups[i].incoming, c->groups[i].n_incoming, uint32_t);
        c->groups[i].n_incoming = 0;
    }
    for (i = 0; i < c->n_projs; i++) {
        apx_group *post = &c->groups[c->projs[i].post];
        post->incoming[post->n_incoming] = i;
        post->n_incoming++;
    }
    for (i = 0; i < c->n_groups; i++) TRY(build_group_state(c, &c->groups[i], i));
    for (i = 0; i < c->n_projs; i++) TRY(build_projection(c, &c->projs[i], i));
    for (i = 0; i < c->n_groups; i++) {
        const apx_group *g = &c->groups[i];
        for (s = 0; s < g->n_slices; s++) {
            c->static_cycles[g->slices[s].core] += (uint64_t)g->slices[s].count * g->neuron_cost;
            c->used_cores |= 1u << g->slices[s].core;
        }
    }
    for (core = 0; core < APX_CHIP_CORES; core++)
        if (c->used_cores & (1u << core)) c->static_cycles[core] += APX_CYCLES_BARRIER;
    return APX_OK;
}

/* ================================================================================================ load */

/* Header fields of one occurrence of ProgramFile.header (occurrences merge: last value of each field wins). */
static int parse_header(apx_chip *c, const uint8_t *hdr, size_t hdr_len, const uint8_t **sha, size_t *sha_len)
{
    apx_pb_reader r;
    uint32_t f, w;
    int e;
    apx_pb_init(&r, hdr, hdr_len);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        switch (f) {
        case 1: PB(apx_pb_read_uint32(&r, f, w, &c->format_version), "header"); break;
        case 2: PB(apx_pb_read_uint32(&r, f, w, &c->chip_revision), "header"); break;
        case 3: PB(apx_pb_read_uint32(&r, f, w, &c->seed), "header"); break;
        case 4: PB(apx_pb_read_bytes(&r, f, w, sha, sha_len), "header"); break;
        default: PB(apx_pb_skip(&r, f, w), "header"); break;
        }
    }
    if (e < 0) return fail_format("header");
    return APX_OK;
}

static int parse_file(apx_chip *c, const uint8_t *file, size_t len, const uint8_t **body, size_t *body_len)
{
    apx_pb_reader r;
    uint32_t f, w;
    int e, have_header = 0;
    const uint8_t *sha = NULL;
    size_t sha_len = 0;
    static const uint8_t magic[APX_MAGIC_COUNT] = APX_MAGIC_INIT;
    *body = NULL;
    *body_len = 0;
    if (len < APX_MAGIC_COUNT || memcmp(file, magic, APX_MAGIC_COUNT) != 0) {
        err_clear();
        err_put("not an apical program (.apx): bad magic");
        return APX_ERR_MAGIC;
    }
    apx_pb_init(&r, file + APX_MAGIC_COUNT, len - APX_MAGIC_COUNT);
    while ((e = apx_pb_next(&r, &f, &w)) == 1) {
        const uint8_t *d;
        size_t n;
        int k;
        if (f == 1u) {
            k = apx_pb_read_bytes(&r, f, w, &d, &n);
            if (k < 0) return fail_format("header");
            if (k == APX_PB_OK) {
                have_header = 1;
                TRY(parse_header(c, d, n, &sha, &sha_len));
            }
        } else if (f == 2u) {
            PB(apx_pb_read_bytes(&r, f, w, body, body_len), "body"); /* last occurrence wins */
        } else {
            PB(apx_pb_skip(&r, f, w), "file");
        }
    }
    if (e < 0) return fail_format("file");
    if (!have_header) return fail_format("missing header");
    if (c->format_version != APX_FORMAT_VERSION) {
        err_clear();
        err_put("unsupported .apx format version ");
        err_int(c->format_version);
        err_put(": this firmware reads format ");
        err_int(APX_FORMAT_VERSION);
        return APX_ERR_VERSION;
    }
    if (sha_len != 32u) return fail_format("header sha256 is not 32 bytes");
    {
        apx_sha256_ctx h;
        uint8_t prefix[15];
        uint32_t fields[3];
        unsigned i, b;
        prefix[0] = 'a';
        prefix[1] = 'p';
        prefix[2] = 'x';
        fields[0] = c->format_version;
        fields[1] = c->chip_revision;
        fields[2] = c->seed;
        for (i = 0; i < 3u; i++)
            for (b = 0; b < 4u; b++) prefix[3u + 4u * i + b] = (uint8_t)(fields[i] >> (8u * b));
        apx_sha256_init(&h);
        apx_sha256_update(&h, prefix, sizeof prefix);
        if (*body_len > 0u) apx_sha256_update(&h, *body, *body_len);
        apx_sha256_final(&h, c->hash);
        if (memcmp(c->hash, sha, 32) != 0) {
            err_clear();
            err_put("corrupted .apx: SHA-256 mismatch");
            return APX_ERR_HASH;
        }
    }
    return APX_OK;
}

static int load(const uint8_t *file, size_t len, apx_chip **out)
{
    apx_chip *c;
    const uint8_t *body;
    size_t body_len;
    uint32_t i;
    ALLOC(c, 1, apx_chip);
    TRY(parse_file(c, file, len, &body, &body_len));
    TRY(parse_body(c, body, body_len));
    TRY(validate_program(c));
    if (c->chip_revision != APX_CHIP_REVISION) {
        err_clear();
        err_put("program is for chip revision ");
        err_int(c->chip_revision);
        err_put(", this chip is revision ");
        err_int(APX_CHIP_REVISION);
        return APX_ERR_REVISION;
    }
    for (i = 0; i < c->n_groups; i++) TRY(build_group_placement(&c->groups[i]));
    TRY(check_fit(c));
    TRY(build(c));
    *out = c;
    return APX_OK;
}

int apx_load(const uint8_t *file, size_t len, apx_chip **out)
{
    int e;
    g_arena_top = 0;
    g_chip = NULL;
    *out = NULL;
    err_clear();
    if (file == NULL) {
        err_put("no program bytes");
        return APX_ERR_USAGE;
    }
    e = load(file, len, out);
    if (e != APX_OK) {
        *out = NULL;
        g_arena_top = 0;
        return e;
    }
    g_chip = *out;
    err_clear();
    return APX_OK;
}

/* ================================================================================================ tick */

/* φ(x) (docs/chip.md §5.6) */
static int32_t lut_eval(const apx_lut *l, int32_t x)
{
    int64_t d = (int64_t)x - l->x_min;
    int64_t k, f, v0;
    if (d <= 0) return l->values[0];
    k = apx_floor_shift(d, l->step_shift);
    if (k >= APX_LUT_SEGMENTS) return l->values[APX_LUT_SEGMENTS];
    f = d - apx_mul_pow2(k, l->step_shift);
    v0 = l->values[k];
    if (f == 0) return (int32_t)v0;
    return (int32_t)(v0 + apx_round_shift(((int64_t)l->values[k + 1] - v0) * f, l->step_shift));
}

/* I_P = round(R, shift) (§5.1); shift ≤ 0 is an exact left shift. */
static int64_t convert_input(int64_t x, int32_t shift)
{
    if (shift <= 0) return apx_mul_pow2(x, (unsigned)(-shift));
    return apx_round_shift(x, (unsigned)shift);
}

/* §9 traces of neuron j (after fire); r is the neuron's rate this tick */
static void traces(apx_group *g, uint32_t j, int32_t r)
{
    if (g->x1 != NULL) {
        int64_t v = g->x1[j];
        if (g->spiking) v = v - apx_round_shift(v * g->x1_decay, 20) + (g->spike[j] != 0 ? g->x1_impulse : 0);
        else v = v + apx_round_shift((int64_t)apx_sat32((int64_t)r - v) * g->x1_decay, 20);
        g->x1[j] = apx_sat32(v);
    }
    if (g->x2 != NULL) {
        int64_t v = g->x2[j];
        if (g->spiking) v = v - apx_round_shift(v * g->x2_decay, 20) + (g->spike[j] != 0 ? g->x2_impulse : 0);
        else v = v + apx_round_shift((int64_t)apx_sat32((int64_t)r - v) * g->x2_decay, 20);
        g->x2[j] = apx_sat32(v);
    }
    if (g->hp != NULL) {
        int64_t h = g->hp[j];
        g->hp[j] = apx_sat32(h + ((int64_t)r - g->rate_prev[j]) - apx_round_shift(h * g->hp_decay, 20));
        g->rate_prev[j] = r;
    }
}

static void input_group_tick(apx_group *g)
{
    uint32_t j, n = g->size, ne = 0;
    for (j = 0; j < n; j++) {
        int32_t r;
        if (g->spiking) {
            int32_t s = g->in_spike[j];
            g->in_spike[j] = 0;
            g->spike[j] = s;
            r = s != 0 ? APX_STATE_ONE : 0;
            g->rate[j] = r;
            if (s != 0) {
                g->ev_idx[ne] = j;
                ne++;
            }
        } else {
            int32_t p;
            r = g->in_rate[j];
            g->rate[j] = r;
            p = apx_sat16(apx_round_shift(r, g->payload_shift));
            g->payload[j] = p;
            g->spike[j] = p != 0;
            if (p != 0) {
                g->ev_idx[ne] = j;
                ne++;
            }
        }
        traces(g, j, r);
    }
    g->ev_count = ne;
}

/* Integrate, fire and traces of a neuron group (groupKernelSource in groupKernel.ts). */
static void neuron_group_tick(apx_chip *c, apx_group *g, uint64_t t, uint32_t *slot)
{
    uint32_t j, q, n = g->size, ne = 0;
    const apx_lut *lut = g->lutp;
    uint32_t tkN = apx_tick_key(g->noise_key, t);
    uint32_t tkS = apx_tick_key(g->spike_key, t);
    const int32_t *nudge = NULL;
    int64_t kT_nudged = (int64_t)g->k_total + g->k_nudge;
    for (q = 0; q < g->n_incoming; q++) {
        const apx_projection *p = &c->projs[g->incoming[q]];
        slot[q] = (uint32_t)(t % p->delay) * n;
    }
    if (g->nudge == APX_NUDGE_SOURCE_TEACHER) nudge = g->nudge_buf;
    else if (g->nudge == APX_NUDGE_SOURCE_TARGET && g->target_valid) nudge = g->target;
    for (j = 0; j < n; j++) {
        int64_t inB = 0, inA = 0, inS = 0;
        int64_t xB = 0, xA = 0, iS;
        int64_t uj, S, D, un = 0;
        int32_t r, s = 0;
        /* §5.1 synaptic input: the ring slot of tick t, cleared */
        for (q = 0; q < g->n_incoming; q++) {
            apx_projection *p = &c->projs[g->incoming[q]];
            int64_t *cell = &p->ring[slot[q] + j];
            int64_t x = *cell;
            if (x != 0) {
                int64_t v;
                *cell = 0;
                /* each projection's input is saturated to 32 bits before the (exact) sum over projections */
                v = apx_sat32(convert_input(x, p->shift));
                if (p->target == APX_COMPARTMENT_BASAL) inB = apx_add64_sat(inB, v);
                else if (p->target == APX_COMPARTMENT_APICAL) inA = apx_add64_sat(inA, v);
                else inS = apx_add64_sat(inS, v);
            }
        }
        /* §5.2 dendrites */
        if (g->has_basal) {
            int64_t v = g->vB[j];
            v = v - apx_round_shift(v * g->basal_decay, 20) + apx_sat32(inB);
            g->vB[j] = apx_sat32(v);
            xB = g->vB[j];
        }
        if (g->has_apical) {
            int64_t v = g->vA[j];
            v = v - apx_round_shift(v * g->apical_decay, 20) + apx_sat32(inA);
            g->vA[j] = apx_sat32(v);
            xA = g->vA[j];
        }
        iS = apx_sat32(inS);
        /* §8.3 noise, §5.3 injection */
        if (g->xi != NULL) {
            uint32_t d0 = apx_mix32(tkN ^ (2u * j));
            uint32_t d1 = apx_mix32(tkN ^ (2u * j + 1u));
            int64_t gn = (int64_t)(d0 & 0xffffu) + (int64_t)(d0 >> 16) + (int64_t)(d1 & 0xffffu) + (int64_t)(d1 >> 16) - 131070;
            int64_t ns = g->xi[j];
            ns = ns - apx_round_shift(ns * g->noise_decay, 20) + apx_round_shift(gn * g->noise_gain, 24);
            ns = apx_sat32(ns);
            g->xi[j] = (int32_t)ns;
            if (g->noise_target == APX_NOISE_TARGET_BASAL) xB = apx_sat32(xB + ns);
            else if (g->noise_target == APX_NOISE_TARGET_APICAL) xA = apx_sat32(xA + ns);
            else iS = iS + ns; /* not saturated: D saturates (groupKernel.ts) */
        }
        /* §5.4 soma */
        uj = g->u[j];
        S = (int64_t)g->k_basal * xB + (int64_t)g->k_apical * xA;
        if (g->nudge == APX_NUDGE_SOURCE_TEACHER || nudge != NULL) {
            S += (int64_t)g->k_nudge * nudge[j] - kT_nudged * uj;
        } else {
            S -= (int64_t)g->k_total * uj;
        }
        if (g->output == APX_OUTPUT_MODE_BINARY) {
            int32_t rj = g->ref[j];
            if (rj > 0) {
                /* §6.1 refractory: u and ŭ hold */
                g->ref[j] = rj - 1;
                if (lut != NULL) g->rate[j] = lut_eval(lut, g->prosp[j]);
            } else {
                D = apx_sat32(apx_round_shift(S, 12) + iS * 256);
                un = apx_sat32(uj + apx_round_shift(D, 8));
                g->u[j] = (int32_t)un;
                if (g->prospective_gain > 0u) g->prosp[j] = apx_sat32(uj + apx_round_shift(D * g->prospective_gain, 16));
                if (lut != NULL) g->rate[j] = lut_eval(lut, g->prosp[j]);
                if (un >= g->threshold) {
                    s = 1;
                    g->u[j] = g->reset;
                    if (g->prospective_gain > 0u) g->prosp[j] = g->reset;
                    g->ref[j] = (int32_t)g->refractory;
                    g->ev_idx[ne] = j;
                    ne++;
                }
            }
        } else {
            D = apx_sat32(apx_round_shift(S, 12) + iS * 256);
            un = apx_sat32(uj + apx_round_shift(D, 8));
            g->u[j] = (int32_t)un;
            if (g->prospective_gain > 0u) g->prosp[j] = apx_sat32(uj + apx_round_shift(D * g->prospective_gain, 16));
        }
        /* §5.5 basal prediction */
        if (g->basal_rate_used) {
            if (lut != NULL) {
                int64_t vhat = g->has_basal ? apx_round_shift((int64_t)g->vB[j] * g->basal_pred_gain, 20) : 0;
                g->basal_rate[j] = lut_eval(lut, (int32_t)vhat);
            } else {
                g->basal_rate[j] = 0;
            }
        }
        /* §6 fire */
        switch (g->output) {
        case APX_OUTPUT_MODE_GRADED: {
            int32_t p;
            r = lut_eval(lut, g->prosp[j]);
            g->rate[j] = r;
            p = apx_sat16(apx_round_shift(r, g->payload_shift));
            g->payload[j] = p;
            g->spike[j] = p != 0;
            if (p != 0) {
                g->ev_idx[ne] = j;
                ne++;
            }
            break;
        }
        case APX_OUTPUT_MODE_BINARY:
            g->spike[j] = s;
            if (lut == NULL) g->rate[j] = s != 0 ? APX_STATE_ONE : 0;
            r = g->rate[j];
            break;
        case APX_OUTPUT_MODE_STOCHASTIC:
            r = lut_eval(lut, g->prosp[j]);
            g->rate[j] = r;
            if (g->ref[j] > 0) {
                g->ref[j]--;
            } else if ((int64_t)(apx_mix32(tkS ^ j) >> 16) < (int64_t)r) {
                s = 1;
                g->ref[j] = (int32_t)g->refractory;
                g->ev_idx[ne] = j;
                ne++;
            }
            g->spike[j] = s;
            break;
        default:
            r = lut != NULL ? lut_eval(lut, g->prosp[j]) : 0;
            g->rate[j] = r;
            g->spike[j] = 0;
            g->payload[j] = 0;
            break;
        }
        /* §9 traces */
        traces(g, j, r);
    }
    g->ev_count = ne;
}

static int32_t weight_at(const apx_projection *p, uint32_t k)
{
    return p->weight_bits == 8u ? (int32_t)p->w8[k] : (int32_t)p->w16[k];
}

/* §7 route phase of one projection, with its cycle accounting (chip.ts route()). */
static void route(apx_projection *p, uint64_t t, uint64_t *cyc)
{
    const apx_group *pre = p->pre_g;
    const apx_group *post = p->post_g;
    uint32_t ne = pre->ev_count;
    uint32_t N = pre->size, M = post->size;
    uint32_t e, i, j, k, core;
    int64_t *ring;
    if (ne == 0u) return;
    ring = p->ring + (size_t)((t + p->delay) % p->delay) * M;
    if (p->kind == APX_PROJECTION_KIND_DENSE) {
        if ((uint64_t)ne * 8u >= N) {
            /* dot products over all presynaptic payloads (zero where no event): the same exact sums */
            for (j = 0; j < M; j++) {
                int64_t acc = 0;
                uint32_t row = j * N;
                if (p->weight_bits == 8u) {
                    for (i = 0; i < N; i++) acc += (int64_t)p->w8[row + i] * pre->payload[i];
                } else {
                    for (i = 0; i < N; i++) acc += (int64_t)p->w16[row + i] * pre->payload[i];
                }
                if (acc != 0) ring[j] += acc;
            }
        } else {
            for (e = 0; e < ne; e++) {
                int64_t x;
                i = pre->ev_idx[e];
                x = pre->payload[i];
                for (j = 0, k = i; j < M; j++, k += N) ring[j] += (int64_t)weight_at(p, k) * x;
            }
        }
        for (e = 0; e < ne; e++) {
            uint32_t src = pre->core_of[pre->ev_idx[e]];
            cyc[src] += p->route_cost[src];
        }
        for (core = 0; core < APX_CHIP_CORES; core++)
            if (p->dest_count[core] != 0u) cyc[core] += (uint64_t)ne * p->dest_count[core] * APX_CYCLES_SYNAPSE;
    } else if (p->kind == APX_PROJECTION_KIND_SPARSE) {
        for (e = 0; e < ne; e++) {
            int64_t x;
            uint32_t src, q;
            i = pre->ev_idx[e];
            x = pre->payload[i];
            for (k = p->row_ptr[i]; k < p->row_ptr[i + 1u]; k++) ring[p->cols[k]] += (int64_t)weight_at(p, k) * x;
            src = pre->core_of[i];
            for (q = p->row_core_start[i]; q < p->row_core_start[i + 1u]; q++) {
                cyc[p->row_core[q]] += (uint64_t)p->row_core_count[q] * APX_CYCLES_SYNAPSE;
                cyc[src] += route_cycles(src, p->row_core[q]);
            }
        }
    } else {
        for (e = 0; e < ne; e++) {
            uint32_t src, dst;
            i = pre->ev_idx[e];
            ring[i] += (int64_t)weight_at(p, i) * pre->payload[i];
            src = pre->core_of[i];
            dst = post->core_of[i];
            cyc[dst] += APX_CYCLES_SYNAPSE;
            cyc[src] += route_cycles(src, dst);
        }
    }
}

/* §11 learn phase of one plastic projection, with its cycle accounting (chip.ts learn()). */
static void learn(apx_chip *c, apx_projection *p, uint64_t t, uint64_t *cyc)
{
    const apx_group *pre = p->pre_g;
    const apx_group *post = p->post_g;
    uint32_t s, e, core;
    for (s = 0; s < p->n_stmts; s++) {
        const apx_statement *st = &p->stmts[s];
        uint64_t ops = st->cost;
        switch (st->trigger) {
        case APX_TRIGGER_EPOCH:
            if (((t + 1u) & (((uint64_t)1 << st->epoch_shift) - 1u)) != 0u) continue;
            break;
        case APX_TRIGGER_PRE:
            if (pre->ev_count == 0u) continue;
            break;
        case APX_TRIGGER_POST:
            if (post->ev_count == 0u) continue;
            break;
        default: break;
        }
        apx_learn_statement(c, p, st);
        if (st->trigger == APX_TRIGGER_TICK || st->trigger == APX_TRIGGER_EPOCH) {
            for (core = 0; core < APX_CHIP_CORES; core++) cyc[core] += p->syn_on_core[core] * ops;
        } else if (st->trigger == APX_TRIGGER_PRE) {
            uint32_t ne = pre->ev_count;
            if (p->kind == APX_PROJECTION_KIND_DENSE) {
                for (core = 0; core < APX_CHIP_CORES; core++) cyc[core] += (uint64_t)ne * p->dest_count[core] * ops;
            } else if (p->kind == APX_PROJECTION_KIND_SPARSE) {
                for (e = 0; e < ne; e++) {
                    uint32_t i = pre->ev_idx[e], q;
                    for (q = p->row_core_start[i]; q < p->row_core_start[i + 1u]; q++)
                        cyc[p->row_core[q]] += (uint64_t)p->row_core_count[q] * ops;
                }
            } else {
                for (e = 0; e < ne; e++) cyc[post->core_of[pre->ev_idx[e]]] += ops;
            }
        } else {
            uint32_t ne = post->ev_count;
            for (e = 0; e < ne; e++) {
                uint32_t j = post->ev_idx[e];
                uint64_t cc = p->kind == APX_PROJECTION_KIND_SPARSE ? p->post_syn_count[j]
                              : p->kind == APX_PROJECTION_KIND_DENSE ? pre->size
                                                                      : 1u;
                cyc[post->core_of[j]] += cc * ops;
            }
        }
    }
}

/* §13 digests (chip.ts computeDigests) */
static uint32_t fnv_range(uint32_t h, const int32_t *a, uint32_t start, uint32_t end)
{
    uint32_t i;
    for (i = start; i < end; i++) h = apx_fnv(h, apx_u32(a[i]));
    return h;
}

static void compute_digests(apx_chip *c)
{
    uint32_t i, s, v, core;
    uint32_t *vd = c->var_digests;
    for (i = 0; i < APX_CHIP_CORES * APX_DIGEST_VARIABLES; i++) vd[i] = APX_FNV_OFFSET;
    for (i = 0; i < c->n_groups; i++) {
        const apx_group *g = &c->groups[i];
        const int32_t *vars[11];
        vars[0] = g->u;
        vars[1] = g->prosp;
        vars[2] = g->vB;
        vars[3] = g->vA;
        vars[4] = g->xi;
        vars[5] = g->ref;
        vars[6] = g->rate;
        vars[7] = g->x1;
        vars[8] = g->x2;
        vars[9] = g->hp;
        vars[10] = g->payload;
        for (s = 0; s < g->n_slices; s++) {
            const apx_slice *sl = &g->slices[s];
            uint32_t o = sl->core * APX_DIGEST_VARIABLES;
            for (v = 0; v < 11u; v++)
                if (vars[v] != NULL)
                    vd[o + APX_DIGEST_VAR_SOMA + v] = fnv_range(vd[o + APX_DIGEST_VAR_SOMA + v], vars[v], sl->start, sl->start + sl->count);
        }
    }
    for (i = 0; i < c->n_projs; i++) {
        const apx_projection *p = &c->projs[i];
        const apx_group *post = p->post_g;
        const int32_t *arrays[3];
        if (!p->plastic) continue;
        arrays[0] = p->wacc;
        arrays[1] = p->tag;
        arrays[2] = p->lo;
        for (s = 0; s < post->n_slices; s++) {
            const apx_slice *sl = &post->slices[s];
            uint32_t o = sl->core * APX_DIGEST_VARIABLES;
            for (v = 0; v < 3u; v++) {
                uint32_t h;
                if (arrays[v] == NULL) continue;
                h = vd[o + APX_DIGEST_VAR_WEIGHT + v];
                if (p->kind == APX_PROJECTION_KIND_DENSE) {
                    uint32_t N = p->pre_g->size;
                    h = fnv_range(h, arrays[v], sl->start * N, (sl->start + sl->count) * N);
                } else if (p->kind == APX_PROJECTION_KIND_ONE_TO_ONE) {
                    h = fnv_range(h, arrays[v], sl->start, sl->start + sl->count);
                } else {
                    uint32_t k, lo = sl->start, hi = sl->start + sl->count;
                    for (k = 0; k < p->n_syn; k++)
                        if (p->cols[k] >= lo && p->cols[k] < hi) h = apx_fnv(h, apx_u32(arrays[v][k]));
                }
                vd[o + APX_DIGEST_VAR_WEIGHT + v] = h;
            }
        }
    }
    for (core = 0; core < APX_CHIP_CORES; core++) {
        uint32_t h = APX_FNV_OFFSET;
        if (!(c->used_cores & (1u << core))) {
            c->core_digests[core] = 0;
            continue;
        }
        for (v = 0; v < APX_DIGEST_VARIABLES; v++) h = apx_fnv(h, vd[core * APX_DIGEST_VARIABLES + v]);
        c->core_digests[core] = h;
    }
}

void apx_step(apx_chip *c)
{
    uint64_t t = c->tick;
    uint64_t *cyc = c->cycles_last;
    uint64_t crit = 0;
    uint32_t i, core;
    /* slot offsets of a group's incoming rings for this tick (at most MAX_PROJECTIONS incoming) */
    static uint32_t slot[APX_MAX_PROJECTIONS];
    memcpy(cyc, c->static_cycles, sizeof c->cycles_last);
    /* 1 latch: teacher values at the end of tick t − 1 */
    for (i = 0; i < c->n_groups; i++) {
        apx_group *g = &c->groups[i];
        if (g->nudge_buf != NULL) {
            const apx_group *teacher = &c->groups[g->teacher];
            memcpy(g->nudge_buf, g->teacher_prospective ? teacher->prosp : teacher->u, (size_t)g->size * sizeof(int32_t));
        }
    }
    /* 2–4 integrate, fire, traces */
    for (i = 0; i < c->n_groups; i++) {
        apx_group *g = &c->groups[i];
        if (g->kind == APX_GROUP_KIND_INPUT) input_group_tick(g);
        else neuron_group_tick(c, g, t, slot);
    }
    /* 5 route */
    for (i = 0; i < c->n_projs; i++) route(&c->projs[i], t, cyc);
    /* 6 learn */
    for (i = 0; i < c->n_projs; i++)
        if (c->projs[i].plastic) learn(c, &c->projs[i], t, cyc);
    /* 7 host */
    for (core = 0; core < APX_CHIP_CORES; core++) {
        c->cycles_total[core] += cyc[core];
        if (cyc[core] > crit) crit = cyc[core];
    }
    c->critical_path += crit;
    c->spikes_last = 0;
    for (i = 0; i < c->n_groups; i++) {
        const apx_group *g = &c->groups[i];
        if (g->spiking) c->spikes_last += g->ev_count;
    }
    if (!c->digests_off) compute_digests(c);
    c->tick = t + 1u;
}

/* ================================================================================================ API */

uint64_t apx_ticks(const apx_chip *c)
{
    return c->tick;
}

uint32_t apx_port_count(const apx_chip *c)
{
    return c->n_ports;
}

int apx_port_find(const apx_chip *c, const char *name, size_t len)
{
    uint32_t i;
    for (i = 0; i < c->n_ports; i++)
        if (c->ports[i].name.len == len && memcmp(c->ports[i].name.s, name, len) == 0) return (int)i;
    return -1;
}

int apx_port_kind(const apx_chip *c, uint32_t port)
{
    if (port >= c->n_ports) return -1;
    return c->ports[port].kind;
}

uint32_t apx_port_width(const apx_chip *c, uint32_t port)
{
    if (port >= c->n_ports) return 0;
    if (c->ports[port].kind == APX_PORT_KIND_REWARD) return 1;
    return c->groups[c->ports[port].group].size;
}

int apx_set_input(apx_chip *c, uint32_t port, const int32_t *values, uint32_t n)
{
    const apx_port *q;
    apx_group *g;
    uint32_t j;
    err_clear();
    if (port >= c->n_ports) {
        err_put("unknown input port");
        return APX_ERR_USAGE;
    }
    q = &c->ports[port];
    if (q->kind == APX_PORT_KIND_REWARD) {
        c->reward = n > 0u ? values[0] : 0;
        return APX_OK;
    }
    g = &c->groups[q->group];
    if (n != g->size) {
        err_put("input port \"");
        err_putn(q->name.s, q->name.len);
        err_put("\" takes ");
        err_int(g->size);
        err_put(" values, got ");
        err_int(n);
        return APX_ERR_USAGE;
    }
    if (q->kind == APX_PORT_KIND_RATE) {
        memcpy(g->in_rate, values, (size_t)n * sizeof(int32_t));
    } else if (q->kind == APX_PORT_KIND_SPIKES) {
        for (j = 0; j < n; j++) g->in_spike[j] = values[j] != 0 ? 1u : 0u;
    } else {
        memcpy(g->target, values, (size_t)n * sizeof(int32_t));
        g->target_valid = 1;
    }
    return APX_OK;
}

int apx_clear_target(apx_chip *c, uint32_t port)
{
    err_clear();
    if (port >= c->n_ports || c->ports[port].kind != APX_PORT_KIND_TARGET) {
        err_put("not a target port");
        return APX_ERR_USAGE;
    }
    c->groups[c->ports[port].group].target_valid = 0;
    return APX_OK;
}

uint32_t apx_spikes_last_tick(const apx_chip *c)
{
    return c->spikes_last;
}

void apx_set_digests(apx_chip *c, int on)
{
    c->digests_off = !on;
}

void apx_update_digests(apx_chip *c)
{
    compute_digests(c);
}

const uint32_t *apx_core_digests(const apx_chip *c)
{
    return c->core_digests;
}

const uint32_t *apx_variable_digests(const apx_chip *c)
{
    return c->var_digests;
}

uint32_t apx_chip_digest(const apx_chip *c)
{
    uint32_t h = APX_FNV_OFFSET, core;
    for (core = 0; core < APX_CHIP_CORES; core++) h = apx_fnv(h, c->core_digests[core]);
    return h;
}

const uint64_t *apx_cycles_last_tick(const apx_chip *c)
{
    return c->cycles_last;
}

const uint64_t *apx_cycles_total(const apx_chip *c)
{
    return c->cycles_total;
}

uint64_t apx_critical_path(const apx_chip *c)
{
    return c->critical_path;
}

uint32_t apx_used_cores(const apx_chip *c)
{
    return c->used_cores;
}

uint32_t apx_projection_count(const apx_chip *c)
{
    return c->n_projs;
}

const char *apx_projection_name(const apx_chip *c, uint32_t p, size_t *len)
{
    if (p >= c->n_projs) {
        if (len != NULL) *len = 0;
        return "";
    }
    if (len != NULL) *len = c->projs[p].name.len;
    return c->projs[p].name.s;
}

int apx_projection_plastic(const apx_chip *c, uint32_t p)
{
    return p < c->n_projs && c->projs[p].plastic;
}

uint32_t apx_projection_synapses(const apx_chip *c, uint32_t p)
{
    return p < c->n_projs ? c->projs[p].n_syn : 0u;
}

int32_t apx_projection_weight(const apx_chip *c, uint32_t p, uint32_t k)
{
    if (p >= c->n_projs || k >= c->projs[p].n_syn) return 0;
    return weight_at(&c->projs[p], k);
}

void apx_program_hash(const apx_chip *c, uint8_t out[32])
{
    memcpy(out, c->hash, 32);
}

uint32_t apx_program_seed(const apx_chip *c)
{
    return c->seed;
}

/* apx_pb — minimal strict protobuf reader (see apx_pb.h). */
#include "apx_pb.h"

#define APX_PB_MAX_DEPTH 100u

void apx_pb_init(apx_pb_reader *r, const uint8_t *data, size_t len)
{
    r->p = data;
    r->end = data + len;
}

int apx_pb_at_end(const apx_pb_reader *r)
{
    return r->p >= r->end;
}

static size_t remaining(const apx_pb_reader *r)
{
    return (size_t)(r->end - r->p);
}

int apx_pb_varint(apx_pb_reader *r, uint64_t *v)
{
    uint64_t x = 0;
    unsigned i;
    for (i = 0; i < 10u; i++) {
        uint8_t b;
        if (r->p >= r->end) return APX_PB_ERR_TRUNCATED;
        b = *r->p;
        r->p++;
        if (i < 9u) x |= (uint64_t)(b & 0x7fu) << (7u * i);
        else x |= (uint64_t)(b & 0x01u) << 63;
        if ((b & 0x80u) == 0u) {
            *v = x;
            return APX_PB_OK;
        }
    }
    return APX_PB_ERR_VARINT;
}

int apx_pb_fixed32(apx_pb_reader *r, uint32_t *v)
{
    const uint8_t *p = r->p;
    if (remaining(r) < 4u) return APX_PB_ERR_TRUNCATED;
    *v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    r->p += 4;
    return APX_PB_OK;
}

int apx_pb_fixed64(apx_pb_reader *r, uint64_t *v)
{
    uint64_t x = 0;
    unsigned i;
    if (remaining(r) < 8u) return APX_PB_ERR_TRUNCATED;
    for (i = 0; i < 8u; i++) x |= (uint64_t)r->p[i] << (8u * i);
    r->p += 8;
    *v = x;
    return APX_PB_OK;
}

int apx_pb_len(apx_pb_reader *r, const uint8_t **data, size_t *len)
{
    uint64_t n;
    int e = apx_pb_varint(r, &n);
    if (e) return e;
    n &= 0xffffffffu; /* lengths are read as uint32 */
    if (n > (uint64_t)remaining(r)) return APX_PB_ERR_TRUNCATED;
    *data = r->p;
    *len = (size_t)n;
    r->p += (size_t)n;
    return APX_PB_OK;
}

int apx_pb_next(apx_pb_reader *r, uint32_t *field, uint32_t *wire)
{
    uint64_t tag;
    uint32_t t;
    int e;
    *field = 0;
    *wire = 0;
    if (r->p >= r->end) return 0;
    e = apx_pb_varint(r, &tag);
    if (e) return e;
    t = (uint32_t)(tag & 0xffffffffu);
    *wire = t & 7u;
    *field = t >> 3;
    if (*field == 0u) return APX_PB_ERR_FIELD;
    if (*wire == APX_PB_WIRE_EGROUP || *wire > APX_PB_WIRE_FIXED32) return APX_PB_ERR_WIRETYPE;
    return 1;
}

static int skip_value(apx_pb_reader *r, uint32_t field, uint32_t wire, unsigned depth)
{
    uint32_t v32;
    uint64_t v64;
    const uint8_t *d;
    size_t n;
    if (depth > APX_PB_MAX_DEPTH) return APX_PB_ERR_DEPTH;
    switch (wire) {
    case APX_PB_WIRE_VARINT:
        /* any length, as protobufjs skips varints */
        for (;;) {
            uint8_t b;
            if (r->p >= r->end) return APX_PB_ERR_TRUNCATED;
            b = *r->p;
            r->p++;
            if ((b & 0x80u) == 0u) return APX_PB_OK;
        }
    case APX_PB_WIRE_FIXED64: return apx_pb_fixed64(r, &v64);
    case APX_PB_WIRE_LEN: return apx_pb_len(r, &d, &n);
    case APX_PB_WIRE_FIXED32: return apx_pb_fixed32(r, &v32);
    case APX_PB_WIRE_SGROUP:
        for (;;) {
            uint64_t tag;
            uint32_t t, f = 0, w = 0;
            int e = apx_pb_varint(r, &tag);
            if (e) return e;
            t = (uint32_t)(tag & 0xffffffffu);
            f = t >> 3;
            w = t & 7u;
            if (f == 0u) return APX_PB_ERR_FIELD;
            if (w == APX_PB_WIRE_EGROUP) return f == field ? APX_PB_OK : APX_PB_ERR_WIRETYPE;
            e = skip_value(r, f, w, depth + 1u);
            if (e) return e;
        }
    default: return APX_PB_ERR_WIRETYPE;
    }
}

int apx_pb_skip(apx_pb_reader *r, uint32_t field, uint32_t wire)
{
    return skip_value(r, field, wire, 0);
}

int32_t apx_pb_u32_to_i32(uint32_t u)
{
    if (u <= 0x7fffffffu) return (int32_t)u;
    return (int32_t)(u - 0x80000000u) - (int32_t)0x7fffffff - 1;
}

int32_t apx_pb_zigzag32(uint32_t n)
{
    /* (n >>> 1) ^ -(n & 1) */
    uint32_t x = (n >> 1) ^ (0u - (n & 1u));
    return apx_pb_u32_to_i32(x);
}

/* A known field with the wrong wire type is skipped like an unknown one (protobufjs 8). */
static int mismatch(apx_pb_reader *r, uint32_t field, uint32_t wire)
{
    int e = apx_pb_skip(r, field, wire);
    return e ? e : APX_PB_SKIPPED;
}

int apx_pb_read_uint32(apx_pb_reader *r, uint32_t field, uint32_t wire, uint32_t *v)
{
    uint64_t x;
    int e;
    if (wire != APX_PB_WIRE_VARINT) return mismatch(r, field, wire);
    e = apx_pb_varint(r, &x);
    if (e) return e;
    *v = (uint32_t)(x & 0xffffffffu);
    return APX_PB_OK;
}

int apx_pb_read_enum(apx_pb_reader *r, uint32_t field, uint32_t wire, int32_t *v)
{
    uint32_t u = 0;
    int e = apx_pb_read_uint32(r, field, wire, &u);
    if (e == APX_PB_OK) *v = apx_pb_u32_to_i32(u);
    return e;
}

int apx_pb_read_sint32(apx_pb_reader *r, uint32_t field, uint32_t wire, int32_t *v)
{
    uint32_t u = 0;
    int e = apx_pb_read_uint32(r, field, wire, &u);
    if (e == APX_PB_OK) *v = apx_pb_zigzag32(u);
    return e;
}

int apx_pb_read_bool(apx_pb_reader *r, uint32_t field, uint32_t wire, int *v)
{
    unsigned i;
    int any = 0;
    if (wire != APX_PB_WIRE_VARINT) return mismatch(r, field, wire);
    /* true when any payload bit of the (up to 10-byte) varint is set, as protobufjs reads bool */
    for (i = 0; i < 10u; i++) {
        uint8_t b;
        if (r->p >= r->end) return APX_PB_ERR_TRUNCATED;
        b = *r->p;
        r->p++;
        if ((b & 0x7fu) != 0u) any = 1;
        if ((b & 0x80u) == 0u) {
            *v = any;
            return APX_PB_OK;
        }
    }
    return APX_PB_ERR_VARINT;
}

int apx_pb_read_double_bits(apx_pb_reader *r, uint32_t field, uint32_t wire, uint64_t *bits)
{
    if (wire != APX_PB_WIRE_FIXED64) return mismatch(r, field, wire);
    return apx_pb_fixed64(r, bits);
}

int apx_pb_read_bytes(apx_pb_reader *r, uint32_t field, uint32_t wire, const uint8_t **data, size_t *len)
{
    if (wire != APX_PB_WIRE_LEN) return mismatch(r, field, wire);
    return apx_pb_len(r, data, len);
}

int apx_pb_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t b = s[i];
        size_t need, k;
        uint8_t lo = 0x80u, hi = 0xbfu;
        if (b < 0x80u) {
            i++;
            continue;
        }
        if (b >= 0xc2u && b <= 0xdfu) need = 1;
        else if (b >= 0xe0u && b <= 0xefu) {
            need = 2;
            if (b == 0xe0u) lo = 0xa0u;
            else if (b == 0xedu) hi = 0x9fu;
        } else if (b >= 0xf0u && b <= 0xf4u) {
            need = 3;
            if (b == 0xf0u) lo = 0x90u;
            else if (b == 0xf4u) hi = 0x8fu;
        } else {
            return 0;
        }
        if (len - i - 1u < need) return 0;
        for (k = 1; k <= need; k++) {
            uint8_t c = s[i + k];
            if (k == 1u ? (c < lo || c > hi) : (c < 0x80u || c > 0xbfu)) return 0;
        }
        i += need + 1u;
    }
    return 1;
}

int apx_pb_read_string(apx_pb_reader *r, uint32_t field, uint32_t wire, const uint8_t **data, size_t *len)
{
    int e = apx_pb_read_bytes(r, field, wire, data, len);
    if (e == APX_PB_OK && !apx_pb_utf8_valid(*data, *len)) return APX_PB_ERR_UTF8;
    return e;
}

/* Elements in a packed payload. */
static int packed_count(const uint8_t *d, size_t len, int elem, uint32_t *count)
{
    size_t i;
    uint32_t n = 0;
    if (elem == APX_PB_ELEM_FIXED32) {
        if (len % 4u != 0u) return APX_PB_ERR_PACKED;
        size_t q = len / 4u;
        if ((size_t)(uint32_t)q != q) return APX_PB_ERR_OVERFLOW;
        *count = (uint32_t)q;
        return APX_PB_OK;
    }
    /* varints: every byte without the continuation bit ends one element; the last byte must end one */
    if (len > 0u && (d[len - 1u] & 0x80u) != 0u) return APX_PB_ERR_TRUNCATED;
    for (i = 0; i < len; i++)
        if ((d[i] & 0x80u) == 0u) n++;
    *count = n;
    return APX_PB_OK;
}

int apx_pb_count_repeated(const uint8_t *msg, size_t len, uint32_t field, int elem, uint32_t *count)
{
    apx_pb_reader r;
    uint32_t f, w, total = 0;
    int e;
    uint32_t elem_wire = elem == APX_PB_ELEM_FIXED32 ? APX_PB_WIRE_FIXED32 : APX_PB_WIRE_VARINT;
    apx_pb_init(&r, msg, len);
    for (;;) {
        e = apx_pb_next(&r, &f, &w);
        if (e < 0) return e;
        if (e == 0) break;
        if (f == field && w == APX_PB_WIRE_LEN) {
            const uint8_t *d;
            size_t n;
            uint32_t c;
            e = apx_pb_len(&r, &d, &n);
            if (e) return e;
            e = packed_count(d, n, elem, &c);
            if (e) return e;
            if (c > 0xffffffffu - total) return APX_PB_ERR_OVERFLOW;
            total += c;
        } else {
            e = apx_pb_skip(&r, f, w);
            if (e) return e;
            if (f == field && w == elem_wire) {
                if (total == 0xffffffffu) return APX_PB_ERR_OVERFLOW;
                total++;
            }
        }
    }
    *count = total;
    return APX_PB_OK;
}

static int read_element(apx_pb_reader *r, int elem, uint32_t *v)
{
    uint64_t x;
    int e;
    if (elem == APX_PB_ELEM_FIXED32) return apx_pb_fixed32(r, v);
    e = apx_pb_varint(r, &x);
    if (e) return e;
    *v = (uint32_t)(x & 0xffffffffu);
    return APX_PB_OK;
}

int apx_pb_read_repeated(apx_pb_reader *r, uint32_t field, uint32_t wire, int elem, uint32_t *out, uint32_t cap,
                         uint32_t *n)
{
    int e;
    uint32_t v;
    uint32_t elem_wire = elem == APX_PB_ELEM_FIXED32 ? APX_PB_WIRE_FIXED32 : APX_PB_WIRE_VARINT;
    if (wire == APX_PB_WIRE_LEN) {
        const uint8_t *d;
        size_t len;
        apx_pb_reader sub;
        e = apx_pb_len(r, &d, &len);
        if (e) return e;
        if (elem == APX_PB_ELEM_FIXED32 && len % 4u != 0u) return APX_PB_ERR_PACKED;
        apx_pb_init(&sub, d, len);
        while (!apx_pb_at_end(&sub)) {
            if (*n >= cap) return APX_PB_ERR_OVERFLOW;
            e = read_element(&sub, elem, &v);
            if (e) return e;
            out[*n] = v;
            (*n)++;
        }
        return APX_PB_OK;
    }
    if (wire != elem_wire) return mismatch(r, field, wire);
    if (*n >= cap) return APX_PB_ERR_OVERFLOW;
    e = read_element(r, elem, &v);
    if (e) return e;
    out[*n] = v;
    (*n)++;
    return APX_PB_OK;
}

int apx_pb_count_field(const uint8_t *msg, size_t len, uint32_t field, uint32_t *count)
{
    apx_pb_reader r;
    uint32_t f, w, total = 0;
    int e;
    apx_pb_init(&r, msg, len);
    for (;;) {
        e = apx_pb_next(&r, &f, &w);
        if (e < 0) return e;
        if (e == 0) break;
        if (f == field && w == APX_PB_WIRE_LEN) {
            if (total == 0xffffffffu) return APX_PB_ERR_OVERFLOW;
            total++;
        }
        e = apx_pb_skip(&r, f, w);
        if (e) return e;
    }
    *count = total;
    return APX_PB_OK;
}

/* Byte-level and protobuf-aware mutators shared by the harnesses (uses the PRNG of fuzz_common.h). */
#ifndef APX_FUZZ_MUTATE_H
#define APX_FUZZ_MUTATE_H

#include "fuzz_common.h"

static const uint32_t fz_interesting[] = { 0u, 1u, 2u, 3u, 7u, 8u, 15u, 16u, 31u, 32u, 63u, 64u, 127u, 128u, 255u, 256u,
    1023u, 1024u, 4095u, 4096u, 32767u, 32768u, 65535u, 65536u, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu };
#define FZ_N_INTERESTING (sizeof fz_interesting / sizeof fz_interesting[0])

static size_t fz_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        uint8_t b = (uint8_t)(v & 0x7fu);
        v >>= 7;
        p[n++] = (uint8_t)(b | (v ? 0x80u : 0u));
    } while (v);
    return n;
}

static uint64_t fz_value(void)
{
    switch (fz_below(4u)) {
    case 0: return fz_interesting[fz_below((uint32_t)FZ_N_INTERESTING)];
    case 1: return fz_below(300u);
    case 2: return (uint64_t)fz_interesting[fz_below((uint32_t)FZ_N_INTERESTING)] + fz_below(5u) - 2u;
    default: return fz_next() >> fz_below(64u);
    }
}

/* One random mutation of b[0..*len) in place (capacity cap); `donor` may be spliced in. */
static void fz_mutate_once(uint8_t *b, size_t *len, size_t cap, const uint8_t *donor, size_t donor_len)
{
    size_t n = *len, i, k;
    uint8_t tmp[16];
    switch (fz_below(9u)) {
    case 0: /* flip a bit */
        if (n) b[fz_below((uint32_t)n)] ^= (uint8_t)(1u << fz_below(8u));
        break;
    case 1: /* interesting byte */
        if (n) b[fz_below((uint32_t)n)] = (uint8_t)fz_interesting[fz_below((uint32_t)FZ_N_INTERESTING)];
        break;
    case 2: /* random byte */
        if (n) b[fz_below((uint32_t)n)] = (uint8_t)fz_next();
        break;
    case 3: /* insert random bytes */
        k = 1u + fz_below(8u);
        if (n + k > cap) break;
        i = fz_below((uint32_t)n + 1u);
        memmove(b + i + k, b + i, n - i);
        *len = n + k;
        while (k--) b[i + k] = (uint8_t)fz_next();
        break;
    case 4: /* delete a range */
        if (!n) break;
        i = fz_below((uint32_t)n);
        k = 1u + fz_below((uint32_t)(n - i < 16u ? n - i : 16u));
        memmove(b + i, b + i + k, n - i - k);
        *len = n - k;
        break;
    case 5: /* duplicate a range */
        if (!n) break;
        i = fz_below((uint32_t)n);
        k = 1u + fz_below((uint32_t)(n - i < 64u ? n - i : 64u));
        if (n + k > cap) break;
        memmove(b + i + k, b + i, n - i);
        *len = n + k;
        break;
    case 6: { /* replace the varint at a position with an interesting value */
        size_t old = 0, nw;
        if (!n) break;
        i = fz_below((uint32_t)n);
        while (i + old < n && old < 10u && (b[i + old] & 0x80u)) old++;
        if (i + old < n) old++;
        nw = fz_put_varint(tmp, fz_value());
        if (n - old + nw > cap) break;
        memmove(b + i + nw, b + i + old, n - i - old);
        memcpy(b + i, tmp, nw);
        *len = n - old + nw;
        break;
    }
    case 7: /* splice a piece of the donor */
        if (!n || !donor_len) break;
        i = fz_below((uint32_t)n);
        k = fz_below((uint32_t)donor_len);
        {
            size_t m = 1u + fz_below(64u);
            if (m > donor_len - k) m = donor_len - k;
            if (m > n - i) m = n - i;
            memcpy(b + i, donor + k, m);
        }
        break;
    default: /* truncate */
        if (n) *len = fz_below((uint32_t)n);
        break;
    }
}

/* ---- .apx container (docs/program-format.md §1-2) */

typedef struct {
    uint32_t format_version, chip_revision, seed;
    const uint8_t *body;
    size_t body_len;
} fz_apx;

static int fz_get_varint(const uint8_t *p, size_t n, size_t *o, uint64_t *v)
{
    unsigned s = 0;
    *v = 0;
    while (*o < n && s < 64u) {
        uint8_t c = p[(*o)++];
        *v |= (uint64_t)(c & 0x7fu) << s;
        if (!(c & 0x80u)) return 0;
        s += 7u;
    }
    return -1;
}

/* Parses a well-formed seed file; -1 if it is not one. */
static int fz_apx_parse(const uint8_t *f, size_t n, fz_apx *a)
{
    size_t o = 4;
    memset(a, 0, sizeof *a);
    if (n < 4 || memcmp(f, "APX\x1a", 4) != 0) return -1;
    while (o < n) {
        uint64_t key, len;
        if (fz_get_varint(f, n, &o, &key) || (key & 7u) != 2u || fz_get_varint(f, n, &o, &len) || len > n - o) return -1;
        if ((key >> 3) == 1u) {
            size_t h = o, e = o + (size_t)len;
            while (h < e) {
                uint64_t k2, v;
                if (fz_get_varint(f, e, &h, &k2)) return -1;
                if ((k2 & 7u) == 0u) {
                    if (fz_get_varint(f, e, &h, &v)) return -1;
                    if ((k2 >> 3) == 1u) a->format_version = (uint32_t)v;
                    else if ((k2 >> 3) == 2u) a->chip_revision = (uint32_t)v;
                    else if ((k2 >> 3) == 3u) a->seed = (uint32_t)v;
                } else if ((k2 & 7u) == 2u) {
                    if (fz_get_varint(f, e, &h, &v) || v > e - h) return -1;
                    h += (size_t)v;
                } else return -1;
            }
        } else if ((key >> 3) == 2u) {
            a->body = f + o;
            a->body_len = (size_t)len;
        }
        o += (size_t)len;
    }
    return a->body ? 0 : -1;
}

/* Writes a complete .apx with a correct SHA-256 (unless `stale_hash`); returns its length. */
static size_t fz_apx_write(uint8_t *out, size_t cap, uint32_t fv, uint32_t rev, uint32_t seed, const uint8_t *body, size_t body_len, int stale_hash)
{
    uint8_t hdr[64], prefix[15], sha[32];
    size_t h = 0, o = 0, i;
    uint32_t fields[3];
    apx_sha256_ctx c;
    fields[0] = fv;
    fields[1] = rev;
    fields[2] = seed;
    prefix[0] = 'a';
    prefix[1] = 'p';
    prefix[2] = 'x';
    for (i = 0; i < 12u; i++) prefix[3u + i] = (uint8_t)(fields[i / 4u] >> (8u * (i % 4u)));
    apx_sha256_init(&c);
    apx_sha256_update(&c, prefix, sizeof prefix);
    if (body_len) apx_sha256_update(&c, body, body_len);
    apx_sha256_final(&c, sha);
    if (stale_hash) sha[fz_below(32u)] ^= (uint8_t)(1u + fz_below(255u));
    hdr[h++] = 0x08; h += fz_put_varint(hdr + h, fv);
    hdr[h++] = 0x10; h += fz_put_varint(hdr + h, rev);
    hdr[h++] = 0x18; h += fz_put_varint(hdr + h, seed);
    hdr[h++] = 0x22; hdr[h++] = 32; memcpy(hdr + h, sha, 32); h += 32;
    if (body_len + h + 32u > cap) return 0;
    memcpy(out, "APX\x1a", 4); o = 4;
    out[o++] = 0x0a; o += fz_put_varint(out + o, h); memcpy(out + o, hdr, h); o += h;
    out[o++] = 0x12; o += fz_put_varint(out + o, body_len); memcpy(out + o, body, body_len); o += body_len;
    return o;
}

/* A mutated program: raw mutations of a seed file (hash usually stale), or a mutated body/header re-hashed so
   it passes the SHA-256 check and reaches the decoder. */
static size_t fz_mutated_program(uint8_t *out, size_t cap)
{
    static uint8_t body[FZ_MAX_INPUT / 2];
    const fz_seed *s = &fz_seeds[fz_below(fz_nseeds)];
    const fz_seed *d = &fz_seeds[fz_below(fz_nseeds)];
    unsigned m, k;
    size_t len;
    fz_apx a;
    if (fz_chance(25u) || fz_apx_parse(s->bytes, s->len, &a) != 0 || s->len > cap) {
        memcpy(out, s->bytes, s->len);
        len = s->len;
        for (m = 1u + fz_below(8u), k = 0; k < m; k++) fz_mutate_once(out, &len, cap, d->bytes, d->len);
        return len;
    }
    if (a.body_len > sizeof body) return 0;
    memcpy(body, a.body, a.body_len);
    len = a.body_len;
    if (!fz_chance(5u)) for (m = 1u + fz_below(fz_chance(50u) ? 2u : 16u), k = 0; k < m; k++) fz_mutate_once(body, &len, sizeof body, d->bytes, d->len);
    if (fz_chance(10u)) a.format_version = (uint32_t)fz_value();
    if (fz_chance(10u)) a.chip_revision = (uint32_t)fz_value();
    if (fz_chance(10u)) a.seed = (uint32_t)fz_next();
    return fz_apx_write(out, cap, a.format_version, a.chip_revision, a.seed, body, len, fz_chance(5u));
}

#endif

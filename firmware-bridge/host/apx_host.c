/* Host-side helpers (see apx_host.h). Static buffers only. */
#include "apx_host.h"

#include <string.h>

int apx_read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t n = 0;
    if (f == NULL) return -1;
    for (;;) {
        size_t got;
        if (n + 1u >= cap) {
            fclose(f);
            return -2;
        }
        got = fread(buf + n, 1, cap - 1u - n, f);
        n += got;
        if (got == 0u) break;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return 0;
}

const char *apx_skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r') p++;
    return p;
}

const char *apx_token(const char *p, size_t *len)
{
    const char *q;
    p = apx_skip_spaces(p);
    q = p;
    while (*q != '\0' && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n') q++;
    *len = (size_t)(q - p);
    return p;
}

const char *apx_next_line(const char *p)
{
    while (*p != '\0' && *p != '\n') p++;
    if (*p == '\n') p++;
    return p;
}

int apx_parse_u64(const char *p, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    size_t i;
    if (len == 0u) return -1;
    for (i = 0; i < len; i++) {
        unsigned d;
        if (p[i] < '0' || p[i] > '9') return -1;
        d = (unsigned)(p[i] - '0');
        if (x > (UINT64_MAX - d) / 10u) return -1;
        x = x * 10u + d;
    }
    *v = x;
    return 0;
}

int apx_parse_i64(const char *p, size_t len, int64_t *v)
{
    uint64_t u;
    if (len > 0u && p[0] == '-') {
        if (apx_parse_u64(p + 1, len - 1u, &u) != 0) return -1;
        if (u > (uint64_t)INT64_MAX + 1u) return -1;
        *v = u == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)u;
        return 0;
    }
    if (apx_parse_u64(p, len, &u) != 0 || u > (uint64_t)INT64_MAX) return -1;
    *v = (int64_t)u;
    return 0;
}

int apx_parse_hex32(const char *p, size_t len, uint32_t *v)
{
    uint32_t x = 0;
    size_t i;
    if (len == 0u || len > 8u) return -1;
    for (i = 0; i < len; i++) {
        unsigned d;
        char ch = p[i];
        if (ch >= '0' && ch <= '9') d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') d = (unsigned)(ch - 'a') + 10u;
        else if (ch >= 'A' && ch <= 'F') d = (unsigned)(ch - 'A') + 10u;
        else return -1;
        x = (x << 4) | d;
    }
    *v = x;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- stimulus */

static apx_stim_event g_events[APX_HOST_MAX_EVENTS];
static apx_stim_event g_events_tmp[APX_HOST_MAX_EVENTS];
static int32_t g_values[APX_MAX_GROUP_SIZE];

/* Stable merge sort by tick (runOnChip sorts with Array.prototype.sort, which is stable). */
static void sort_events(apx_stim_event *a, size_t n)
{
    size_t width, i;
    for (width = 1; width < n; width *= 2u) {
        for (i = 0; i < n; i += 2u * width) {
            size_t lo = i, mid = i + width < n ? i + width : n, hi = i + 2u * width < n ? i + 2u * width : n;
            size_t x = lo, y = mid, o = lo;
            while (x < mid && y < hi) {
                if (a[y].tick < a[x].tick) {
                    g_events_tmp[o] = a[y];
                    y++;
                } else {
                    g_events_tmp[o] = a[x];
                    x++;
                }
                o++;
            }
            while (x < mid) {
                g_events_tmp[o] = a[x];
                x++;
                o++;
            }
            while (y < hi) {
                g_events_tmp[o] = a[y];
                y++;
                o++;
            }
        }
        memcpy(a, g_events_tmp, n * sizeof *a);
    }
}

int apx_stimulus_parse(apx_stimulus *s, const char *text, FILE *err)
{
    const char *p = text;
    uint32_t lineno = 0;
    s->text = text;
    s->events = g_events;
    s->n = 0;
    s->next = 0;
    while (*p != '\0') {
        const char *tok;
        size_t len;
        apx_stim_event ev;
        uint64_t v;
        lineno++;
        tok = apx_token(p, &len);
        if (len == 0u || tok[0] == '#') {
            p = apx_next_line(p);
            continue;
        }
        memset(&ev, 0, sizeof ev);
        ev.line = (size_t)(p - text);
        ev.lineno = lineno;
        if (apx_parse_u64(tok, len, &ev.tick) != 0) {
            fprintf(err, "stimulus line %u: bad tick\n", (unsigned)lineno);
            return -1;
        }
        tok = apx_token(tok + len, &len);
        if (len == 0u) {
            fprintf(err, "stimulus line %u: missing port name\n", (unsigned)lineno);
            return -1;
        }
        ev.port = (size_t)(tok - text);
        ev.port_len = len;
        tok = apx_token(tok + len, &len);
        if (len == 5u && memcmp(tok, "clear", 5) == 0) {
            ev.clear = 1;
        } else if (len == 3u && memcmp(tok, "set", 3) == 0) {
            tok = apx_token(tok + len, &len);
            if (apx_parse_u64(tok, len, &v) != 0 || v > APX_MAX_GROUP_SIZE) {
                fprintf(err, "stimulus line %u: bad value count\n", (unsigned)lineno);
                return -1;
            }
            ev.count = (uint32_t)v;
            ev.values = (size_t)(tok + len - text);
        } else {
            fprintf(err, "stimulus line %u: expected set or clear\n", (unsigned)lineno);
            return -1;
        }
        if (s->n >= APX_HOST_MAX_EVENTS) {
            fprintf(err, "stimulus: more than %lu events\n", (unsigned long)APX_HOST_MAX_EVENTS);
            return -1;
        }
        g_events[s->n] = ev;
        s->n++;
        p = apx_next_line(p);
    }
    sort_events(g_events, s->n);
    return 0;
}

int apx_stimulus_apply(apx_stimulus *s, apx_chip *c, uint64_t k, FILE *err)
{
    while (s->next < s->n && s->events[s->next].tick <= k) {
        const apx_stim_event *ev = &s->events[s->next];
        int port = apx_port_find(c, s->text + ev->port, ev->port_len);
        int e;
        s->next++;
        if (port < 0) {
            fprintf(err, "stimulus line %u: unknown input port \"%.*s\"\n", (unsigned)ev->lineno, (int)ev->port_len,
                    s->text + ev->port);
            return -1;
        }
        if (ev->clear) {
            e = apx_clear_target(c, (uint32_t)port);
        } else {
            const char *p = s->text + ev->values;
            uint32_t i;
            int spikes = apx_port_kind(c, (uint32_t)port) == APX_PORT_KIND_SPIKES;
            for (i = 0; i < ev->count; i++) {
                size_t len;
                int64_t v;
                const char *tok = apx_token(p, &len);
                if (apx_parse_i64(tok, len, &v) != 0) {
                    fprintf(err, "stimulus line %u: bad value %u\n", (unsigned)ev->lineno, (unsigned)i);
                    return -1;
                }
                /* spikes: 0/1 by truthiness; others: ToInt32 (Int32Array.set / `| 0` wrap modulo 2^32) */
                if (spikes) {
                    g_values[i] = v != 0 ? 1 : 0;
                } else {
                    uint32_t u = (uint32_t)((uint64_t)v & 0xffffffffu);
                    g_values[i] = u <= 0x7fffffffu ? (int32_t)u : (int32_t)(u - 0x80000000u) - 0x7fffffff - 1;
                }
                p = tok + len;
            }
            e = apx_set_input(c, (uint32_t)port, g_values, ev->count);
        }
        if (e != APX_OK) {
            fprintf(err, "stimulus line %u: %s\n", (unsigned)ev->lineno, apx_error_message());
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------- output */

void apx_format_tick_line(const apx_chip *c, uint64_t t, char *out, size_t size)
{
    const uint32_t *d = apx_core_digests(c);
    size_t at;
    unsigned core;
    at = (size_t)snprintf(out, size, "tick %llu %lu", (unsigned long long)t, (unsigned long)apx_spikes_last_tick(c));
    for (core = 0; core < APX_CHIP_CORES && at < size; core++)
        at += (size_t)snprintf(out + at, size - at, " %08lx", (unsigned long)d[core]);
}

void apx_print_final(const apx_chip *c, FILE *out)
{
    uint32_t p, k, n = apx_projection_count(c);
    unsigned core;
    const uint64_t *cyc = apx_cycles_total(c);
    for (p = 0; p < n; p++) {
        size_t len;
        const char *name;
        uint32_t ns;
        if (!apx_projection_plastic(c, p)) continue;
        name = apx_projection_name(c, p, &len);
        ns = apx_projection_synapses(c, p);
        fprintf(out, "weights %.*s %lu", (int)len, name, (unsigned long)ns);
        for (k = 0; k < ns; k++) fprintf(out, " %ld", (long)apx_projection_weight(c, p, k));
        fputc('\n', out);
    }
    fputs("cycles", out);
    for (core = 0; core < APX_CHIP_CORES; core++) fprintf(out, " %llu", (unsigned long long)cyc[core]);
    fputc('\n', out);
    fprintf(out, "critical %llu\n", (unsigned long long)apx_critical_path(c));
}

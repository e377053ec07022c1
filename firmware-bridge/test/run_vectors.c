/*
 * run_vectors — checks the C chip core against the golden vectors made by the TypeScript emulator.
 *
 *   run_vectors <vectors-root> [name...]
 *
 * For every directory under the root (or only the named ones) holding program.apx, stimulus.txt and
 * expected.txt (format: host/apx_host.h): load the Program, apply the stimulus before each tick exactly as
 * runOnChip does, run as many ticks as expected.txt has `tick` lines, and compare every per-tick spike count
 * and per-core digest, the final weights of every plastic projection, the per-core cycle totals and the
 * critical path. On a digest mismatch it names the vector, the first diverging tick and cores, and the digest
 * variables (docs/chip.md §13) that differ — from the per-variable fingerprints in expected.json's
 * `variableTrace` when that file is present — and prints the C per-variable digests of the diverging cores.
 *
 * Last line: `N passed, M failed`. Exit status 0 when every vector passed (and at least one ran), else 1.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apx_host.h"

#define MAX_VECTORS 1024
#define MAX_NAME 256
#define MAX_PATH 4096

static uint8_t g_program[APX_HOST_FILE_MAX];
static uint8_t g_stimulus[APX_HOST_FILE_MAX];
static uint8_t g_expected[APX_HOST_FILE_MAX];
static uint8_t g_json[APX_HOST_FILE_MAX];
static char g_names[MAX_VECTORS][MAX_NAME];
static const char *g_var_names[APX_DIGEST_VARIABLES] = APX_DIGEST_VARIABLE_NAMES_INIT;

/* out = a + "/" + b; 0 ok, -1 too long */
static int join_path(char *out, size_t size, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + 1u + lb + 1u > size) return -1;
    memcpy(out, a, la);
    out[la] = '/';
    memcpy(out + la + 1u, b, lb);
    out[la + 1u + lb] = '\0';
    return 0;
}

/* Reads dir/file into buf; 0 ok. */
static int read_in(const char *dir, const char *file, uint8_t *buf, size_t cap, size_t *len)
{
    char path[MAX_PATH];
    if (join_path(path, sizeof path, dir, file) != 0) return -1;
    return apx_read_file(path, buf, cap, len);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Low 16 bits of FNV-1a over variable v's digest on cores 0..15 (VectorExpected.variableTrace). */
static unsigned trace_fingerprint(const apx_chip *c, unsigned v)
{
    const uint32_t *vd = apx_variable_digests(c);
    uint32_t h = APX_FNV_OFFSET;
    unsigned core;
    for (core = 0; core < APX_CHIP_CORES; core++) {
        h ^= vd[core * APX_DIGEST_VARIABLES + v];
        h = (uint32_t)(((unsigned long)h * (unsigned long)APX_FNV_PRIME) & 0xfffffffful);
    }
    return (unsigned)(h & 0xffffu);
}

/* The t-th string of the "variableTrace" array of expected.json, or NULL. */
static const char *json_variable_trace(const char *json, uint64_t t, size_t *len)
{
    const char *p = strstr(json, "\"variableTrace\"");
    uint64_t i = 0;
    if (p == NULL) return NULL;
    p = strchr(p, '[');
    if (p == NULL) return NULL;
    p++;
    for (;;) {
        const char *q;
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ',') p++;
        if (*p != '"') return NULL;
        p++;
        q = strchr(p, '"');
        if (q == NULL) return NULL;
        if (i == t) {
            *len = (size_t)(q - p);
            return p;
        }
        i++;
        p = q + 1;
    }
}

static void report_variables(const char *dir, const apx_chip *c, uint64_t t, const uint32_t *exp_digests)
{
    size_t len = 0;
    unsigned v, core;
    const uint32_t *vd = apx_variable_digests(c);
    const uint32_t *got = apx_core_digests(c);
    if (read_in(dir, "expected.json", g_json, sizeof g_json, &len) == 0) {
        size_t tl = 0;
        const char *trace = json_variable_trace((const char *)g_json, t, &tl);
        if (trace != NULL && tl == 4u * APX_DIGEST_VARIABLES) {
            int any = 0;
            printf("    variables differing at tick %llu (expected.json variableTrace):", (unsigned long long)t);
            for (v = 0; v < APX_DIGEST_VARIABLES; v++) {
                uint32_t want;
                if (apx_parse_hex32(trace + 4u * v, 4, &want) != 0) continue;
                if (want != trace_fingerprint(c, v)) {
                    printf(" %s", g_var_names[v]);
                    any = 1;
                }
            }
            printf("%s\n", any ? "" : " (none: expected.txt and expected.json disagree?)");
        } else {
            printf("    (expected.json has no variableTrace for tick %llu)\n", (unsigned long long)t);
        }
    } else {
        printf("    (no expected.json: cannot name the differing variables)\n");
    }
    for (core = 0; core < APX_CHIP_CORES; core++) {
        if (got[core] == exp_digests[core]) continue;
        printf("    core %u: expected %08lx, got %08lx; C variable digests:", core, (unsigned long)exp_digests[core],
               (unsigned long)got[core]);
        for (v = 0; v < APX_DIGEST_VARIABLES; v++)
            printf(" %s=%08lx", g_var_names[v], (unsigned long)vd[core * APX_DIGEST_VARIABLES + v]);
        printf("\n");
    }
}

/* Runs one vector; returns 1 if it passed. */
static int run_vector(const char *root, const char *name)
{
    char dir[MAX_PATH];
    size_t len = 0;
    apx_chip *chip;
    apx_stimulus stim;
    const char *p;
    uint64_t ticks = 0, t;
    int e, ok = 1;
    uint64_t first_digest = 0, first_spike = 0, digest_ticks = 0, spike_ticks = 0;
    int digest_bad = 0, spike_bad = 0;
    if (join_path(dir, sizeof dir, root, name) != 0) {
        printf("FAIL %s: path too long\n", name);
        return 0;
    }

    if (read_in(dir, "program.apx", g_program, sizeof g_program, &len) != 0) {
        printf("FAIL %s: cannot read program.apx\n", name);
        return 0;
    }
    e = apx_load(g_program, len, &chip);
    if (e != APX_OK) {
        printf("FAIL %s: load: %s (%s)\n", name, apx_error_message(), apx_status_name(e));
        return 0;
    }
    if (read_in(dir, "stimulus.txt", g_stimulus, sizeof g_stimulus, &len) != 0) {
        printf("FAIL %s: cannot read stimulus.txt\n", name);
        return 0;
    }
    if (apx_stimulus_parse(&stim, (const char *)g_stimulus, stdout) != 0) {
        printf("FAIL %s: bad stimulus.txt\n", name);
        return 0;
    }
    if (read_in(dir, "expected.txt", g_expected, sizeof g_expected, &len) != 0) {
        printf("FAIL %s: cannot read expected.txt\n", name);
        return 0;
    }
    for (p = (const char *)g_expected; *p != '\0'; p = apx_next_line(p)) {
        size_t tl;
        const char *tok = apx_token(p, &tl);
        if (tl == 4u && memcmp(tok, "tick", 4) == 0) ticks++;
    }
    if (ticks == 0u) {
        printf("FAIL %s: expected.txt has no tick lines\n", name);
        return 0;
    }

    /* run and compare tick by tick */
    p = (const char *)g_expected;
    for (t = 0; t < ticks; t++) {
        size_t tl;
        const char *tok;
        uint64_t tt, spikes;
        uint32_t want[APX_CHIP_CORES];
        unsigned core;
        int differ = 0;
        for (;;) {
            tok = apx_token(p, &tl);
            if (tl == 4u && memcmp(tok, "tick", 4) == 0) break;
            p = apx_next_line(p);
        }
        tok = apx_token(tok + tl, &tl);
        if (apx_parse_u64(tok, tl, &tt) != 0 || tt != t) {
            printf("FAIL %s: expected.txt tick lines out of order at tick %llu\n", name, (unsigned long long)t);
            return 0;
        }
        tok = apx_token(tok + tl, &tl);
        if (apx_parse_u64(tok, tl, &spikes) != 0) {
            printf("FAIL %s: expected.txt: bad spike count at tick %llu\n", name, (unsigned long long)t);
            return 0;
        }
        for (core = 0; core < APX_CHIP_CORES; core++) {
            tok = apx_token(tok + tl, &tl);
            if (apx_parse_hex32(tok, tl, &want[core]) != 0) {
                printf("FAIL %s: expected.txt: bad digest at tick %llu\n", name, (unsigned long long)t);
                return 0;
            }
        }
        p = apx_next_line(tok + tl);

        if (apx_stimulus_apply(&stim, chip, t, stdout) != 0) {
            printf("FAIL %s: stimulus could not be applied before tick %llu\n", name, (unsigned long long)t);
            return 0;
        }
        apx_step(chip);

        if (apx_spikes_last_tick(chip) != spikes) {
            if (!spike_bad) {
                first_spike = t;
                printf("FAIL %s: spike count at tick %llu: expected %llu, got %lu\n", name, (unsigned long long)t,
                       (unsigned long long)spikes, (unsigned long)apx_spikes_last_tick(chip));
            }
            spike_bad = 1;
            spike_ticks++;
        }
        for (core = 0; core < APX_CHIP_CORES; core++)
            if (apx_core_digests(chip)[core] != want[core]) differ = 1;
        if (differ) {
            if (!digest_bad) {
                first_digest = t;
                printf("FAIL %s: digests diverge first at tick %llu, cores", name, (unsigned long long)t);
                for (core = 0; core < APX_CHIP_CORES; core++)
                    if (apx_core_digests(chip)[core] != want[core]) printf(" %u", core);
                printf("\n");
                report_variables(dir, chip, t, want);
            }
            digest_bad = 1;
            digest_ticks++;
        }
    }
    if (digest_bad) {
        printf("    %llu of %llu ticks differ (first %llu)\n", (unsigned long long)digest_ticks, (unsigned long long)ticks,
               (unsigned long long)first_digest);
        ok = 0;
    }
    if (spike_bad) {
        printf("    spike counts differ on %llu ticks (first %llu)\n", (unsigned long long)spike_ticks,
               (unsigned long long)first_spike);
        ok = 0;
    }

    /* final weights, cycles, critical path */
    {
        uint32_t plastic_seen = 0, plastic_total = 0, pr;
        int cycles_seen = 0, critical_seen = 0;
        for (pr = 0; pr < apx_projection_count(chip); pr++)
            if (apx_projection_plastic(chip, pr)) plastic_total++;
        for (p = (const char *)g_expected; *p != '\0'; p = apx_next_line(p)) {
            size_t tl;
            const char *tok = apx_token(p, &tl);
            if (tl == 7u && memcmp(tok, "weights", 7) == 0) {
                const char *pname;
                size_t plen, nl;
                uint64_t count;
                uint32_t k, bad = 0, first = 0;
                int64_t first_want = 0;
                int found = -1;
                pname = apx_token(tok + tl, &plen);
                for (pr = 0; pr < apx_projection_count(chip); pr++) {
                    const char *n2 = apx_projection_name(chip, pr, &nl);
                    if (nl == plen && memcmp(n2, pname, plen) == 0) found = (int)pr;
                }
                if (found < 0 || !apx_projection_plastic(chip, (uint32_t)found)) {
                    printf("FAIL %s: weights of \"%.*s\": no such plastic projection\n", name, (int)plen, pname);
                    ok = 0;
                    continue;
                }
                plastic_seen++;
                tok = apx_token(pname + plen, &tl);
                if (apx_parse_u64(tok, tl, &count) != 0 || count != apx_projection_synapses(chip, (uint32_t)found)) {
                    printf("FAIL %s: weights of \"%.*s\": expected.txt count differs from the %lu synapses of the program\n",
                           name, (int)plen, pname, (unsigned long)apx_projection_synapses(chip, (uint32_t)found));
                    ok = 0;
                    continue;
                }
                for (k = 0; k < count; k++) {
                    int64_t v;
                    tok = apx_token(tok + tl, &tl);
                    if (apx_parse_i64(tok, tl, &v) != 0) {
                        printf("FAIL %s: expected.txt: bad weight %lu of \"%.*s\"\n", name, (unsigned long)k, (int)plen, pname);
                        return 0;
                    }
                    if (v != apx_projection_weight(chip, (uint32_t)found, k)) {
                        if (bad == 0u) {
                            first = k;
                            first_want = v;
                        }
                        bad++;
                    }
                }
                if (bad != 0u) {
                    printf("FAIL %s: final weights of \"%.*s\": %lu of %llu differ (first: synapse %lu, expected %lld, "
                           "got %ld)\n",
                           name, (int)plen, pname, (unsigned long)bad, (unsigned long long)count, (unsigned long)first,
                           (long long)first_want, (long)apx_projection_weight(chip, (uint32_t)found, first));
                    ok = 0;
                }
            } else if (tl == 6u && memcmp(tok, "cycles", 6) == 0) {
                unsigned core;
                const uint64_t *cyc = apx_cycles_total(chip);
                cycles_seen = 1;
                for (core = 0; core < APX_CHIP_CORES; core++) {
                    uint64_t want;
                    tok = apx_token(tok + tl, &tl);
                    if (apx_parse_u64(tok, tl, &want) != 0) {
                        printf("FAIL %s: expected.txt: bad cycles line\n", name);
                        return 0;
                    }
                    if (want != cyc[core]) {
                        printf("FAIL %s: cycles of core %u: expected %llu, got %llu\n", name, core,
                               (unsigned long long)want, (unsigned long long)cyc[core]);
                        ok = 0;
                    }
                }
            } else if (tl == 8u && memcmp(tok, "critical", 8) == 0) {
                uint64_t want;
                critical_seen = 1;
                tok = apx_token(tok + tl, &tl);
                if (apx_parse_u64(tok, tl, &want) != 0) {
                    printf("FAIL %s: expected.txt: bad critical line\n", name);
                    return 0;
                }
                if (want != apx_critical_path(chip)) {
                    printf("FAIL %s: critical path: expected %llu, got %llu\n", name, (unsigned long long)want,
                           (unsigned long long)apx_critical_path(chip));
                    ok = 0;
                }
            }
        }
        if (plastic_seen != plastic_total) {
            printf("FAIL %s: expected.txt has weights of %lu plastic projections, the program has %lu\n", name,
                   (unsigned long)plastic_seen, (unsigned long)plastic_total);
            ok = 0;
        }
        if (!cycles_seen || !critical_seen) {
            printf("FAIL %s: expected.txt lacks the cycles or critical line\n", name);
            ok = 0;
        }
    }
    if (ok)
        printf("PASS %s (%llu ticks, arena %lu KiB)\n", name, (unsigned long long)ticks,
               (unsigned long)((apx_arena_used() + 1023u) / 1024u));
    return ok;
}

int main(int argc, char **argv)
{
    const char *root;
    size_t n = 0, i;
    unsigned passed = 0, failed = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: run_vectors <vectors-root> [name...]\n");
        return 2;
    }
    root = argv[1];
    if (argc > 2) {
        int a;
        for (a = 2; a < argc && n < MAX_VECTORS; a++) {
            if (strlen(argv[a]) >= MAX_NAME) continue;
            memcpy(g_names[n], argv[a], strlen(argv[a]) + 1u);
            n++;
        }
    } else {
        DIR *d = opendir(root);
        struct dirent *de;
        if (d == NULL) {
            fprintf(stderr, "run_vectors: cannot open %s\n", root);
            printf("0 passed, 0 failed\n");
            return 1;
        }
        while ((de = readdir(d)) != NULL && n < MAX_VECTORS) {
            char path[MAX_PATH];
            if (de->d_name[0] == '.') continue;
            if (strlen(de->d_name) >= MAX_NAME) continue;
            if (join_path(path, sizeof path, root, de->d_name) != 0) continue;
            if (!is_dir(path)) continue;
            memcpy(g_names[n], de->d_name, strlen(de->d_name) + 1u);
            n++;
        }
        closedir(d);
        qsort(g_names, n, sizeof g_names[0], cmp_names);
    }
    for (i = 0; i < n; i++) {
        fflush(stdout);
        if (run_vector(root, g_names[i])) passed++;
        else failed++;
    }
    if (n == 0u) fprintf(stderr, "run_vectors: no vectors under %s\n", root);
    printf("%u passed, %u failed\n", passed, failed);
    return failed == 0u && n > 0u ? 0 : 1;
}

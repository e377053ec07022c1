/*
 * apx_bench — times a Program on the C chip core (the native side of `apical bench`, bench/run.ts):
 *
 *   apx_bench program.apx ticks repeats [stimulus.txt] [--no-digests]
 *
 * Each repeat loads the Program afresh (apx_load: parse, validate, SHA-256, lay out the arena), then runs
 * `ticks` ticks applying the stimulus exactly like apx_run (every event with tick <= k before tick k; the
 * stimulus text is parsed once, outside the timings). Times come from CLOCK_MONOTONIC. Output, one
 * `key value...` line each, per-repeat times in seconds:
 *
 *   program_bytes <n>
 *   load_seconds <s_1> ... <s_repeats>      apx_load of the whole file
 *   run_seconds <s_1> ... <s_repeats>       the tick loop (stimulus application included)
 *   digest <8 hex digits>                   apx_chip_digest after the last tick (identical in every repeat)
 *   spikes <n>                              spikes summed over all ticks (binary/stochastic groups)
 *   synapses <n>                            synapses of all projections
 *   arena_used <bytes>
 *   max_rss_kib <n>                         getrusage ru_maxrss of this process
 *
 * By default the chip core computes the per-core digests every tick (apx_step, §13) and that work is part of
 * every timing; with --no-digests it skips them (apx_set_digests, the emulator's fast mode) and computes the
 * final digest once after the timed loop.
 * Exit status 0, or 2 with a message on stderr (unreadable file, load error, repeats disagreeing on the digest).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "apx_host.h"

static uint8_t g_program[APX_HOST_FILE_MAX];
static uint8_t g_stimulus[APX_HOST_FILE_MAX];

#define BENCH_MAX_REPEATS 1000u
static double g_load[BENCH_MAX_REPEATS];
static double g_run[BENCH_MAX_REPEATS];

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void print_times(const char *key, const double *v, uint64_t n)
{
    uint64_t i;
    printf("%s", key);
    for (i = 0; i < n; i++) printf(" %.9f", v[i]);
    printf("\n");
}

int main(int argc, char **argv)
{
    apx_chip *chip = NULL;
    apx_stimulus stim;
    size_t len = 0, stim_len = 0;
    uint64_t ticks, repeats, r, t, spikes = 0;
    uint32_t digest = 0, p, synapses = 0;
    struct rusage ru;
    int e, digests = 1;
    if (argc >= 5 && strcmp(argv[argc - 1], "--no-digests") == 0) {
        digests = 0;
        argc--;
    }
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: apx_bench program.apx ticks repeats [stimulus.txt] [--no-digests]\n");
        return 2;
    }
    e = apx_read_file(argv[1], g_program, sizeof g_program, &len);
    if (e != 0) {
        fprintf(stderr, "apx_bench: cannot read %s%s\n", argv[1], e == -2 ? " (too large)" : "");
        return 2;
    }
    if (apx_parse_u64(argv[2], strlen(argv[2]), &ticks) != 0) {
        fprintf(stderr, "apx_bench: ticks must be a non-negative integer\n");
        return 2;
    }
    if (apx_parse_u64(argv[3], strlen(argv[3]), &repeats) != 0 || repeats == 0u || repeats > BENCH_MAX_REPEATS) {
        fprintf(stderr, "apx_bench: repeats must be an integer in 1..%u\n", BENCH_MAX_REPEATS);
        return 2;
    }
    g_stimulus[0] = 0;
    if (argc == 5) {
        e = apx_read_file(argv[4], g_stimulus, sizeof g_stimulus, &stim_len);
        if (e != 0) {
            fprintf(stderr, "apx_bench: cannot read %s%s\n", argv[4], e == -2 ? " (too large)" : "");
            return 2;
        }
    }
    if (apx_stimulus_parse(&stim, (const char *)g_stimulus, stderr) != 0) return 2;
    for (r = 0; r < repeats; r++) {
        double t0, t1, t2;
        uint64_t s = 0;
        t0 = now_seconds();
        e = apx_load(g_program, len, &chip);
        t1 = now_seconds();
        if (e != APX_OK) {
            fprintf(stderr, "apx_bench: %s: %s (%s)\n", argv[1], apx_error_message(), apx_status_name(e));
            return 2;
        }
        stim.next = 0;
        if (!digests) apx_set_digests(chip, 0);
        for (t = 0; t < ticks; t++) {
            if (apx_stimulus_apply(&stim, chip, t, stderr) != 0) return 2;
            apx_step(chip);
            s += apx_spikes_last_tick(chip);
        }
        t2 = now_seconds();
        if (!digests) apx_update_digests(chip);
        g_load[r] = t1 - t0;
        g_run[r] = t2 - t1;
        if (r == 0u) {
            digest = apx_chip_digest(chip);
            spikes = s;
        } else if (apx_chip_digest(chip) != digest || s != spikes) {
            fprintf(stderr, "apx_bench: repeat %llu ended in another state (digest %08lx, first repeat %08lx)\n",
                    (unsigned long long)r, (unsigned long)apx_chip_digest(chip), (unsigned long)digest);
            return 2;
        }
    }
    for (p = 0; p < apx_projection_count(chip); p++) synapses += apx_projection_synapses(chip, p);
    printf("program_bytes %lu\n", (unsigned long)len);
    print_times("load_seconds", g_load, repeats);
    print_times("run_seconds", g_run, repeats);
    printf("digest %08lx\n", (unsigned long)digest);
    printf("spikes %llu\n", (unsigned long long)spikes);
    printf("synapses %lu\n", (unsigned long)synapses);
    printf("arena_used %lu\n", (unsigned long)apx_arena_used());
    getrusage(RUSAGE_SELF, &ru);
    printf("max_rss_kib %ld\n", (long)ru.ru_maxrss);
    return 0;
}

/*
 * Shared driver for the seeded random-input harnesses (no libFuzzer/AFL needed): a deterministic PRNG, golden
 * seed programs, the run loop with a time/input budget, and crash reproducers. Built with
 * -fsanitize=address,undefined -fno-sanitize-recover=all: any finding aborts the process, after the death
 * callback / SIGALRM handler saved the current input under crashes/.
 *
 *   <harness> [--seed S] [--inputs N] [--seconds T] [--vectors DIR] [--crashes DIR] [--repro FILE]
 *
 * Last line on success: "fuzz: N inputs, 0 crashes (<name>, seed S, X inputs/s)".
 */
#ifndef APX_FUZZ_COMMON_H
#define APX_FUZZ_COMMON_H

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define FZ_MAX_SEEDS 32
#define FZ_MAX_INPUT (1u << 20)

typedef struct { uint8_t *bytes; size_t len; char name[64]; } fz_seed;

static fz_seed fz_seeds[FZ_MAX_SEEDS];
static unsigned fz_nseeds;
static uint64_t fz_rng_state;
static const uint8_t *fz_cur;     /* the input being executed, for the reproducer */
static size_t fz_cur_len;
static const char *fz_name = "fuzz";
static char fz_crash_dir[512] = "crashes";
static uint64_t fz_index;
static unsigned fz_timeout_s = 10;

static uint64_t fz_next(void)
{
    uint64_t z = (fz_rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint32_t fz_below(uint32_t n) { return n ? (uint32_t)(fz_next() % n) : 0u; }
static int fz_chance(unsigned percent) { return fz_below(100u) < percent; }

static double fz_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fz_save(const char *why)
{
    char path[700];
    FILE *f;
    if (!fz_cur) return;
    snprintf(path, sizeof path, "%s/%s-%s-%llu.bin", fz_crash_dir, fz_name, why, (unsigned long long)fz_index);
    f = fopen(path, "wb");
    if (f) {
        fwrite(fz_cur, 1, fz_cur_len, f);
        fclose(f);
        fprintf(stderr, "fuzz: %s on input %llu, reproducer saved to %s\n", why, (unsigned long long)fz_index, path);
    }
}

static void fz_on_death(void) { fz_save("crash"); }
static void fz_on_alarm(int sig)
{
    (void)sig;
    fz_save("timeout");
    fprintf(stderr, "fuzz: input %llu ran longer than %u s\n", (unsigned long long)fz_index, fz_timeout_s);
    _exit(3);
}
void __sanitizer_set_death_callback(void (*callback)(void));

static uint8_t *fz_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (uint8_t *)malloc((size_t)n + 1u);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(b); return NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Loads DIR/<vector>/program.apx for every vector, sorted by name (deterministic seed order). */
static void fz_load_seeds(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    unsigned i, j;
    if (!d) { fprintf(stderr, "fuzz: cannot open %s\n", dir); exit(2); }
    while ((e = readdir(d)) != NULL && fz_nseeds < FZ_MAX_SEEDS) {
        char path[1024];
        size_t len;
        uint8_t *b;
        if (e->d_name[0] == '.' || strlen(e->d_name) >= 64) continue;
        snprintf(path, sizeof path, "%s/%s/program.apx", dir, e->d_name);
        b = fz_read_file(path, &len);
        if (!b) continue;
        fz_seeds[fz_nseeds].bytes = b;
        fz_seeds[fz_nseeds].len = len;
        memcpy(fz_seeds[fz_nseeds].name, e->d_name, strlen(e->d_name) + 1u);
        fz_nseeds++;
    }
    closedir(d);
    for (i = 1; i < fz_nseeds; i++)
        for (j = i; j > 0 && strcmp(fz_seeds[j - 1].name, fz_seeds[j].name) > 0; j--) {
            fz_seed t = fz_seeds[j];
            fz_seeds[j] = fz_seeds[j - 1];
            fz_seeds[j - 1] = t;
        }
    if (fz_nseeds == 0) { fprintf(stderr, "fuzz: no program.apx under %s\n", dir); exit(2); }
}

/* The harness provides these two. */
static size_t fz_generate(uint8_t *out, size_t cap);       /* a new input from the PRNG */
static void fz_execute(const uint8_t *in, size_t len);     /* runs one input */

static int fz_main(int argc, char **argv, const char *name)
{
    uint64_t seed = 1, inputs = 0, i;
    double seconds = 0, t0, dt;
    const char *vectors = "../test/vectors", *repro = NULL;
    static uint8_t buf[FZ_MAX_INPUT];
    int a;
    struct sigaction sa;
    fz_name = name;
    for (a = 1; a < argc; a++) {
        if (a + 1 < argc && strcmp(argv[a], "--seed") == 0) seed = strtoull(argv[++a], NULL, 10);
        else if (a + 1 < argc && strcmp(argv[a], "--inputs") == 0) inputs = strtoull(argv[++a], NULL, 10);
        else if (a + 1 < argc && strcmp(argv[a], "--seconds") == 0) seconds = strtod(argv[++a], NULL);
        else if (a + 1 < argc && strcmp(argv[a], "--vectors") == 0) vectors = argv[++a];
        else if (a + 1 < argc && strcmp(argv[a], "--crashes") == 0) snprintf(fz_crash_dir, sizeof fz_crash_dir, "%s", argv[++a]);
        else if (a + 1 < argc && strcmp(argv[a], "--repro") == 0) repro = argv[++a];
        else {
            fprintf(stderr, "usage: %s [--seed S] [--inputs N] [--seconds T] [--vectors DIR] [--crashes DIR] [--repro FILE]\n", argv[0]);
            return 2;
        }
    }
    if (inputs == 0 && seconds <= 0) inputs = 100000;
    fz_load_seeds(vectors);
    mkdir(fz_crash_dir, 0777);
    __sanitizer_set_death_callback(fz_on_death);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fz_on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    if (repro) {
        size_t len;
        uint8_t *b = fz_read_file(repro, &len);
        if (!b) { fprintf(stderr, "fuzz: cannot read %s\n", repro); return 2; }
        fz_execute(b, len);
        printf("fuzz: 1 inputs, 0 crashes (%s, reproducer %s ran clean)\n", name, repro);
        free(b);
        return 0;
    }
    fz_rng_state = seed;
    t0 = fz_now();
    for (i = 0; (inputs == 0 || i < inputs) && (seconds <= 0 || fz_now() - t0 < seconds); i++) {
        size_t len = fz_generate(buf, sizeof buf);
        fz_index = i;
        fz_cur = buf;
        fz_cur_len = len;
        alarm(fz_timeout_s);
        fz_execute(buf, len);
        alarm(0);
        if ((i + 1) % 100000 == 0) fprintf(stderr, "fuzz: %s %llu inputs, %.0f inputs/s\n", name, (unsigned long long)(i + 1), (double)(i + 1) / (fz_now() - t0));
    }
    fz_cur = NULL;
    dt = fz_now() - t0;
    printf("fuzz: %llu inputs, 0 crashes (%s, seed %llu, %.1f s, %.0f inputs/s)\n", (unsigned long long)i, name, (unsigned long long)seed, dt, dt > 0 ? (double)i / dt : 0.0);
    for (a = 0; a < (int)fz_nseeds; a++) free(fz_seeds[a].bytes);
    return 0;
}

#endif

#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
/*
 * fuzz_loader — the chip core's program loader (apx_load) on mutated .apx files seeded from the golden vectors'
 * programs (test/vectors/<name>/program.apx). Most inputs are re-hashed after mutation so they pass the SHA-256
 * check and reach the protobuf decoder, validation, placement and build; a program that loads is stepped for a
 * few ticks and its state read back. An input is the .apx file itself (a reproducer runs with
 * `fuzz_loader --repro FILE`, or `apx_run FILE 3`). See fuzz_common.h for the options.
 */
#include "chip.h"
#include "chip_internal.h"
#include "sha256.h"
#include "fuzz_mutate.h"

static uint64_t g_stats[16];

static size_t fz_generate(uint8_t *out, size_t cap)
{
    return fz_mutated_program(out, cap);
}

static void fz_execute(const uint8_t *in, size_t len)
{
    apx_chip *chip = NULL;
    int st = apx_load(in, len, &chip), t;
    uint32_t p, n;
    g_stats[(unsigned)(st < 0 ? -st : st) & 15u]++;
    if (st != APX_OK) {
        if (chip != NULL) { fprintf(stderr, "fuzz_loader: apx_load failed but returned a chip\n"); abort(); }
        (void)apx_error_message();
        return;
    }
    for (t = 0; t < 3; t++) apx_step(chip);
    (void)apx_chip_digest(chip);
    n = apx_projection_count(chip);
    for (p = 0; p < n; p++) {
        uint32_t s = apx_projection_synapses(chip, p);
        if (s) (void)apx_projection_weight(chip, p, s - 1u);
    }
}

int main(int argc, char **argv)
{
    int r = fz_main(argc, argv, "fuzz_loader"), i;
    if (r == 0) {
        fprintf(stderr, "fuzz_loader: apx_load status histogram (|status|: count):");
        for (i = 0; i < 16; i++) if (g_stats[i]) fprintf(stderr, " %d:%llu", i, (unsigned long long)g_stats[i]);
        fprintf(stderr, "\n");
    }
    return r;
}

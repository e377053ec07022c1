/*
 * apx_run — runs a Program on the C chip core and prints what the golden vectors check:
 *
 *   apx_run program.apx ticks [stimulus.txt]
 *
 * Output (the expected.txt format): one `tick <t> <spikes> <16 per-core digests>` line per tick, then the final
 * `weights <projection> <count> <values...>` of every plastic projection, `cycles <16 per-core totals>` and
 * `critical <criticalPath>`. Exit status 0, or 2 with a message on stderr.
 */
#include <stdio.h>
#include <string.h>

#include "apx_host.h"

static uint8_t g_program[APX_HOST_FILE_MAX];
static uint8_t g_stimulus[APX_HOST_FILE_MAX];

int main(int argc, char **argv)
{
    apx_chip *chip;
    apx_stimulus stim;
    size_t len = 0;
    uint64_t ticks, t;
    int e;
    char line[256];
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: apx_run program.apx ticks [stimulus.txt]\n");
        return 2;
    }
    e = apx_read_file(argv[1], g_program, sizeof g_program, &len);
    if (e != 0) {
        fprintf(stderr, "apx_run: cannot read %s%s\n", argv[1], e == -2 ? " (too large)" : "");
        return 2;
    }
    if (apx_parse_u64(argv[2], strlen(argv[2]), &ticks) != 0) {
        fprintf(stderr, "apx_run: ticks must be a non-negative integer\n");
        return 2;
    }
    e = apx_load(g_program, len, &chip);
    if (e != APX_OK) {
        fprintf(stderr, "apx_run: %s: %s (%s)\n", argv[1], apx_error_message(), apx_status_name(e));
        return 2;
    }
    g_stimulus[0] = 0;
    if (argc == 4) {
        e = apx_read_file(argv[3], g_stimulus, sizeof g_stimulus, &len);
        if (e != 0) {
            fprintf(stderr, "apx_run: cannot read %s%s\n", argv[3], e == -2 ? " (too large)" : "");
            return 2;
        }
    }
    if (apx_stimulus_parse(&stim, (const char *)g_stimulus, stderr) != 0) return 2;
    for (t = 0; t < ticks; t++) {
        if (apx_stimulus_apply(&stim, chip, t, stderr) != 0) return 2;
        apx_step(chip);
        apx_format_tick_line(chip, t, line, sizeof line);
        puts(line);
    }
    apx_print_final(chip, stdout);
    return 0;
}

/*
 * Host-side helpers shared by apx_run and run_vectors (not part of the chip core): reading files into static
 * buffers, the plain-text stimulus format and the expected-results line format of the golden vectors.
 *
 * stimulus.txt, one event per line, applied before tick `tick` exactly as runOnChip applies stimulus.json
 * (stable-sorted by tick; every event with tick <= k is applied before tick k):
 *     <tick> <port-name> set <count> <v0> <v1> ...
 *     <tick> <port-name> clear
 * expected.txt:
 *     tick <t> <spikeCount> <16 per-core digests, 8 hex digits each>
 *     weights <projection-name> <count> <values...>        (final weights of every plastic projection)
 *     cycles <16 per-core totals>
 *     critical <criticalPath>
 */
#ifndef APX_HOST_H
#define APX_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chip.h"

#ifndef APX_HOST_FILE_MAX
#define APX_HOST_FILE_MAX (64ul * 1024ul * 1024ul)
#endif
#ifndef APX_HOST_MAX_EVENTS
#define APX_HOST_MAX_EVENTS (1ul << 20)
#endif

/* Reads a whole file into buf (NUL-terminated; cap includes the NUL). 0 ok, -1 cannot open, -2 too large. */
int apx_read_file(const char *path, uint8_t *buf, size_t cap, size_t *len);

typedef struct {
    uint64_t tick;
    size_t line;   /* offset of the line in the text */
    size_t port;   /* offset and length of the port name */
    size_t port_len;
    size_t values; /* offset of the first value (set) */
    uint32_t count;
    int clear;
    uint32_t lineno;
} apx_stim_event;

typedef struct {
    const char *text;
    apx_stim_event *events;
    size_t n;
    size_t next;
} apx_stimulus;

/* Parses stimulus text (kept, not copied) into the static event table. 0 ok; else prints to err and returns -1. */
int apx_stimulus_parse(apx_stimulus *s, const char *text, FILE *err);
/* Applies every event with tick <= k not yet applied. 0 ok; else prints to err and returns -1. */
int apx_stimulus_apply(apx_stimulus *s, apx_chip *c, uint64_t k, FILE *err);

/* The per-tick line `tick <t> <spikes> <16 digests>` (without newline) into out (>= 200 bytes). */
void apx_format_tick_line(const apx_chip *c, uint64_t t, char *out, size_t size);
/* Prints the final `weights`, `cycles` and `critical` lines. */
void apx_print_final(const apx_chip *c, FILE *out);

/* Small lexer over a NUL-terminated text. */
const char *apx_skip_spaces(const char *p);           /* spaces and tabs */
const char *apx_token(const char *p, size_t *len);     /* start of the next token on the line, its length */
int apx_parse_i64(const char *p, size_t len, int64_t *v);
int apx_parse_u64(const char *p, size_t len, uint64_t *v);
int apx_parse_hex32(const char *p, size_t len, uint32_t *v);
const char *apx_next_line(const char *p);

#endif

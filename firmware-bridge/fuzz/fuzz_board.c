/*
 * fuzz_board — the virtual board's SLIP decoder, frame/CRC/session layer and command dispatcher
 * (host/apx_board.c, compiled unchanged into this harness: its functions are static, so the file is #included
 * with its system calls redirected). An input is the byte stream a host writes to the board; it is fed through
 * the board's own pump()/decode() in pieces of varying size, with a fake clock (every idle poll advances it, so
 * retransmission and give-up run at full speed) and the board's output discarded. Inputs are generated as
 * sessions of valid-looking frames (HELLO, loads of golden or mutated programs, STIMULUS, RUN, READ_*, RESET,
 * ACKs, unknown types, SYN restarts) with frame-level damage (bad CRC, flipped bytes, invalid escapes, missing
 * END, wrong seq, oversize frames) and random garbage. A reproducer replays with `fuzz_board --repro FILE`
 * (or by writing FILE to the pty of a real apx_board). See fuzz_common.h for the options.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "chip.h"
#include "chip_internal.h"
#include "protocol_constants.h"
#include "sha256.h"

/* ---- the board's system interface, redirected */
static const uint8_t *fb_in;
static size_t fb_in_len, fb_in_pos;
static uint64_t fb_clock_ms, fb_rng, fb_steps, fb_out_bytes, fb_total_steps, fb_loaded_inputs;
#define FB_STEP_BUDGET 3000u

static uint64_t fb_next(void)
{
    fb_rng ^= fb_rng << 13;
    fb_rng ^= fb_rng >> 7;
    fb_rng ^= fb_rng << 17;
    return fb_rng;
}
static int fuzz_poll(struct pollfd *p, nfds_t n, int timeout_ms)
{
    (void)n;
    if (fb_in_pos < fb_in_len) { p->revents = POLLIN; return 1; }
    p->revents = 0;
    fb_clock_ms += (uint64_t)(timeout_ms > 0 ? timeout_ms : 1) + 300u; /* idle: time passes */
    return 0;
}
static ssize_t fuzz_read(int fd, void *buf, size_t cap)
{
    size_t k = 1u + (size_t)(fb_next() % 4096u);
    (void)fd;
    if (k > cap) k = cap;
    if (k > fb_in_len - fb_in_pos) k = fb_in_len - fb_in_pos;
    memcpy(buf, fb_in + fb_in_pos, k);
    fb_in_pos += k;
    return (ssize_t)k;
}
static ssize_t fuzz_write(int fd, const void *buf, size_t n)
{
    (void)fd;
    (void)buf;
    fb_out_bytes += n;
    return (ssize_t)n;
}
static int fuzz_clock_gettime(clockid_t id, struct timespec *ts)
{
    (void)id;
    fb_clock_ms++;
    ts->tv_sec = (time_t)(fb_clock_ms / 1000u);
    ts->tv_nsec = (long)(fb_clock_ms % 1000u) * 1000000L;
    return 0;
}
static int fuzz_nanosleep(const struct timespec *a, struct timespec *b)
{
    (void)a;
    (void)b;
    return 0;
}
static volatile sig_atomic_t *fb_stop_flag;
static void fuzz_apx_step(apx_chip *c)
{
    if (++fb_steps > FB_STEP_BUDGET) { *fb_stop_flag = 1; return; } /* a RUN of 2^32 ticks: stop like SIGTERM */
    apx_step(c);
}

#define poll fuzz_poll
#define read fuzz_read
#define write fuzz_write
#define clock_gettime fuzz_clock_gettime
#define nanosleep fuzz_nanosleep
#define apx_step fuzz_apx_step
#define main apx_board_main
#undef _XOPEN_SOURCE
#undef _DEFAULT_SOURCE
#include "../host/apx_board.c"
#undef main
#undef poll
#undef read
#undef write
#undef clock_gettime
#undef nanosleep
#undef apx_step

#include "fuzz_mutate.h"

/* ---- input generation: a host's byte stream */
static uint8_t *fg_out;
static size_t fg_len, fg_cap;
static uint32_t fg_seq;

static void fg_byte(uint8_t b) { if (fg_len < fg_cap) fg_out[fg_len++] = b; }

static void fg_frame(uint32_t type, uint32_t flags, uint32_t seq, uint32_t ack, const uint8_t *p, size_t n)
{
    static uint8_t f[FRAME_MAX + 64];
    size_t len = 0, i, start;
    if (n > APXP_FRAME_MAX_PAYLOAD + 32u) n = APXP_FRAME_MAX_PAYLOAD + 32u;
    f[0] = (uint8_t)type;
    f[1] = (uint8_t)flags;
    put32(f + 2, seq);
    put32(f + 6, ack);
    if (n) memcpy(f + APXP_FRAME_HEADER_BYTES, p, n);
    len = APXP_FRAME_HEADER_BYTES + n;
    put32(f + len, crc32(f, len));
    len += 4u;
    if (fz_chance(3u)) f[fz_below((uint32_t)len)] ^= (uint8_t)(1u + fz_below(255u)); /* bad CRC */
    if (fz_chance(2u)) len = fz_below((uint32_t)len);                                 /* truncated */
    if (!fz_chance(3u)) fg_byte(APXP_SLIP_END);
    start = fg_len;
    for (i = 0; i < len; i++) {
        if (f[i] == APXP_SLIP_END) { fg_byte(APXP_SLIP_ESC); fg_byte(APXP_SLIP_ESC_END); }
        else if (f[i] == APXP_SLIP_ESC) { fg_byte(APXP_SLIP_ESC); fg_byte(APXP_SLIP_ESC_ESC); }
        else fg_byte(f[i]);
    }
    if (fz_chance(2u) && fg_len > start) fg_out[start + fz_below((uint32_t)(fg_len - start))] = fz_chance(50u) ? APXP_SLIP_ESC : (uint8_t)fz_next();
    if (!fz_chance(2u)) fg_byte(APXP_SLIP_END);
}

/* A data frame of the session (usually the right seq; sometimes a duplicate, a gap or a random one). */
static void fg_data(uint32_t type, const uint8_t *p, size_t n)
{
    uint32_t seq = fg_seq, r = fz_below(100u);
    if (r < 3u) seq = fg_seq - 1u;
    else if (r < 5u) seq = fg_seq + 1u + fz_below(3u);
    else if (r < 6u) seq = (uint32_t)fz_next();
    fg_frame(type, fz_chance(2u) ? (uint32_t)fz_below(256u) & ~(uint32_t)APXP_FLAG_SYN : 0u, seq, (uint32_t)fz_below(64u), p, n);
    if (seq == fg_seq) fg_seq++;
    if (fz_chance(3u)) fg_frame(type, 0, seq, 0, p, n); /* retransmitted duplicate */
}

static void fg_hello(void)
{
    uint8_t p[6];
    put32(p, fz_chance(90u) ? APXP_PROTOCOL_VERSION : (uint32_t)fz_value());
    put16(p + 4, fz_chance(70u) ? 32u : (uint32_t)fz_value());
    fg_seq = fz_chance(90u) ? 0u : (uint32_t)fz_next();
    fg_frame(APXP_MSG_HELLO, APXP_FLAG_SYN, fg_seq, 0, p, fz_chance(90u) ? 6u : fz_below(7u));
    fg_seq++;
}

static void fg_load(void)
{
    static uint8_t prog[FZ_MAX_INPUT / 4];
    uint8_t p[APXP_FRAME_MAX_PAYLOAD + 8];
    size_t len, off = 0;
    fz_apx a;
    uint32_t total;
    if (fz_chance(60u)) {
        const fz_seed *s = &fz_seeds[fz_below(fz_nseeds)];
        memcpy(prog, s->bytes, s->len);
        len = s->len;
    } else len = fz_mutated_program(prog, sizeof prog);
    total = fz_chance(90u) ? (uint32_t)len : (uint32_t)fz_value();
    put32(p, total);
    put32(p + 4, fz_chance(95u) ? APX_CHIP_REVISION : (uint32_t)fz_value());
    if (fz_apx_parse(prog, len, &a) == 0 && fz_chance(90u)) {
        apx_sha256_ctx c;
        uint8_t prefix[15];
        uint32_t i, fields[3];
        fields[0] = a.format_version;
        fields[1] = a.chip_revision;
        fields[2] = a.seed;
        prefix[0] = 'a'; prefix[1] = 'p'; prefix[2] = 'x';
        for (i = 0; i < 12u; i++) prefix[3u + i] = (uint8_t)(fields[i / 4u] >> (8u * (i % 4u)));
        apx_sha256_init(&c);
        apx_sha256_update(&c, prefix, sizeof prefix);
        if (a.body_len) apx_sha256_update(&c, a.body, a.body_len);
        apx_sha256_final(&c, p + 8);
    } else {
        uint32_t i;
        for (i = 0; i < 32u; i++) p[8 + i] = (uint8_t)fz_next();
    }
    fg_data(APXP_MSG_LOAD_BEGIN, p, fz_chance(95u) ? 40u : fz_below(48u));
    while (off < len && fg_len + 9000u < fg_cap) {
        size_t k = fz_chance(80u) ? APXP_FRAME_MAX_PAYLOAD - 4u : 1u + fz_below(APXP_FRAME_MAX_PAYLOAD);
        if (k > len - off) k = len - off;
        put32(p, fz_chance(97u) ? (uint32_t)off : (uint32_t)fz_value());
        memcpy(p + 4, prog + off, k);
        fg_data(APXP_MSG_LOAD_CHUNK, p, fz_chance(98u) ? 4u + k : fz_below(4u));
        off += k;
        if (fz_chance(2u)) break; /* the host stops mid-load */
    }
    if (fz_chance(92u)) fg_data(APXP_MSG_LOAD_END, p, fz_chance(97u) ? 0u : fz_below(8u));
}

static void fg_stimulus(void)
{
    static const uint32_t widths[] = { 0u, 1u, 2u, 4u, 8u, 10u, 16u, 20u, 32u, 40u, 64u, 100u, 128u, 200u };
    uint8_t p[APXP_FRAME_MAX_PAYLOAD];
    size_t o = 0;
    unsigned e, ne = 1u + fz_below(6u);
    for (e = 0; e < ne; e++) {
        uint32_t cnt = fz_chance(90u) ? widths[fz_below((uint32_t)(sizeof widths / sizeof widths[0]))] : (uint32_t)fz_value();
        uint32_t room = (uint32_t)((sizeof p - o - 11u) / 4u), i;
        if (o + 11u > sizeof p) break;
        put32(p + o, fz_chance(80u) ? fz_below(40u) : (uint32_t)fz_value());
        put16(p + o + 4, fz_chance(90u) ? fz_below(4u) : (uint32_t)fz_value());
        p[o + 6] = (uint8_t)(fz_chance(95u) ? fz_below(2u) : fz_below(256u));
        put32(p + o + 7, cnt);
        o += 11u;
        if (cnt > room) cnt = room;
        for (i = 0; i < cnt; i++, o += 4u) put32(p + o, fz_chance(50u) ? (uint32_t)fz_below(65536u) : (uint32_t)fz_value());
    }
    fg_data(APXP_MSG_STIMULUS, p, fz_chance(95u) ? o : fz_below((uint32_t)o + 1u));
}

static void fg_command(void)
{
    uint8_t p[64];
    uint32_t r = fz_below(100u), i;
    if (r < 22u) fg_load();
    else if (r < 40u) fg_stimulus();
    else if (r < 58u) {
        put32(p, fz_chance(90u) ? fz_below(60u) : (uint32_t)fz_value());
        p[4] = (uint8_t)(fz_chance(90u) ? APXP_RUN_FLAG_DIGESTS : fz_below(256u));
        fg_data(APXP_MSG_RUN, p, fz_chance(95u) ? 5u : fz_below(12u));
    } else if (r < 68u) {
        put16(p, fz_chance(90u) ? fz_below(6u) : (uint32_t)fz_value());
        put32(p + 2, fz_chance(70u) ? 0u : (uint32_t)fz_value());
        put32(p + 6, fz_chance(50u) ? 0xffffffffu : (uint32_t)fz_value());
        fg_data(APXP_MSG_READ_WEIGHTS, p, fz_chance(95u) ? 10u : fz_below(16u));
    } else if (r < 78u) {
        put16(p, fz_chance(90u) ? fz_below(6u) : (uint32_t)fz_value());
        p[2] = (uint8_t)(fz_chance(90u) ? fz_below(10u) : fz_below(256u));
        put32(p + 3, fz_chance(70u) ? 0u : (uint32_t)fz_value());
        put32(p + 7, fz_chance(50u) ? 0xffffffffu : (uint32_t)fz_value());
        fg_data(APXP_MSG_READ_STATE, p, fz_chance(95u) ? 11u : fz_below(16u));
    } else if (r < 84u) fg_data(APXP_MSG_RESET, p, fz_chance(95u) ? 0u : fz_below(8u));
    else if (r < 88u) fg_hello();
    else if (r < 92u) fg_frame(APXP_MSG_ACK, 0, 0, (uint32_t)(fz_chance(50u) ? fz_below(64u) : fz_next()), p, 0);
    else if (r < 95u) {
        for (i = 0; i < sizeof p; i++) p[i] = (uint8_t)fz_next();
        fg_data(fz_below(256u), p, fz_below(sizeof p));
    } else if (r < 98u) { /* garbage, possibly longer than a frame */
        size_t n = fz_chance(80u) ? fz_below(64u) : FRAME_MAX + fz_below(64u);
        for (i = 0; i < n; i++) fg_byte(fz_chance(5u) ? APXP_SLIP_ESC : (uint8_t)fz_next());
        if (fz_chance(50u)) fg_byte(APXP_SLIP_END);
    } else if (r < 99u) fg_data(APXP_MSG_SHUTDOWN, p, 0);
    else { /* an oversize frame with a valid CRC */
        static uint8_t big[FRAME_MAX + 16];
        for (i = 0; i < sizeof big; i++) big[i] = (uint8_t)fz_next();
        fg_data(APXP_MSG_STIMULUS, big, APXP_FRAME_MAX_PAYLOAD + 1u + fz_below(8u));
    }
}

static size_t fz_generate(uint8_t *out, size_t cap)
{
    unsigned k, n = 1u + fz_below(12u);
    fg_out = out;
    fg_cap = cap;
    fg_len = 0;
    fg_seq = 0;
    if (fz_chance(92u)) fg_hello();
    for (k = 0; k < n && fg_len + 16384u < cap; k++) fg_command();
    return fg_len;
}

/* ---- execution: a freshly booted board serves the stream */
static void fz_execute(const uint8_t *in, size_t len)
{
    unsigned idle = 0;
    g_program_len = 0; g_stim_len = 0; g_chip = NULL;
    g_load_active = 0; g_load_total = 0; g_load_received = 0; memset(g_load_hash, 0, sizeof g_load_hash);
    g_tx_head = 0; g_tx_count = 0; g_tx_next_seq = 0; g_tx_window = 1; g_tx_sent_ms = 0; g_tx_retries = 0; g_rx_expected = 0;
    g_dispatching = 0; g_rx_len = 0; g_rx_esc = 0; g_rx_overflow = 0; g_in_pos = 0; g_in_len = 0; g_stop = 0;
    g_fd = 1000;
    fb_stop_flag = &g_stop;
    fb_in = in; fb_in_len = len; fb_in_pos = 0;
    fb_rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)len; fb_steps = 0;
    while (!g_stop) {
        pump(50);
        if (fb_in_pos >= fb_in_len && g_in_pos >= g_in_len && ++idle > 3u) break;
    }
    fb_total_steps += fb_steps;
    if (g_chip) fb_loaded_inputs++;
}

int main(int argc, char **argv)
{
    int r;
    crc_init();
    r = fz_main(argc, argv, "fuzz_board");
    if (r == 0) fprintf(stderr, "fuzz_board: board wrote %llu bytes; %llu inputs ended with a program loaded; %llu chip ticks run\n",
                        (unsigned long long)fb_out_bytes, (unsigned long long)fb_loaded_inputs, (unsigned long long)fb_total_steps);
    return r;
}

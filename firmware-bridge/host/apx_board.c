/*
 * apx_board — a virtual board: the C chip core behind the serial protocol of docs/protocol.md, on a pseudo
 * terminal.
 *
 *   apx_board [--advertise-protocol N] [--advertise-revision N]
 *
 * prints the pty path (e.g. /dev/pts/7) as the first line on stdout, then serves the protocol until SHUTDOWN or
 * SIGTERM/SIGINT (or its parent process exits). The --advertise-* options make HELLO announce another protocol version or chip revision
 * (fault injection for the host's version checks; the board still speaks protocol 1 and runs revision 1).
 *
 * Framing: SLIP (RFC 1055); each frame is type u8, flags u8, seq u32, ack u32, payload, CRC-32 u32 (all
 * little-endian). Session: go-back-N with cumulative acks, retransmission on timeout, window = the host's
 * declared window. No dynamic allocation: the program staging buffer, the stimulus buffer and the chip arena
 * are static. POSIX host tool (not part of the portable chip core).
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
#include "apx_pty.h"

#define BOARD_FIRMWARE_VERSION "apx_board 0.1.0"
#ifndef BOARD_PROGRAM_MAX
#define BOARD_PROGRAM_MAX (8ul * 1024ul * 1024ul)
#endif
#ifndef BOARD_STIMULUS_MAX
#define BOARD_STIMULUS_MAX (4ul * 1024ul * 1024ul)
#endif
#define BOARD_RX_WINDOW 16u          /* frames the board declares it accepts in flight */
#define BOARD_TX_SLOTS 32u           /* most frames the board keeps unacknowledged */
#define BOARD_GIVE_UP_RETRIES 40u    /* retransmission rounds without progress before dropping the queue */
#define FRAME_MAX (APXP_FRAME_HEADER_BYTES + APXP_FRAME_MAX_PAYLOAD + APXP_FRAME_CRC_BYTES)

static uint8_t g_program[BOARD_PROGRAM_MAX];
static size_t g_program_len;    /* bytes of the loaded program (valid when g_chip != NULL) */
static uint8_t g_stim[BOARD_STIMULUS_MAX];
static size_t g_stim_len;
static apx_chip *g_chip;

/* load in progress */
static int g_load_active;
static uint32_t g_load_total, g_load_received;
static uint8_t g_load_hash[32];

static int g_fd = -1;
static uint32_t g_adv_protocol = APXP_PROTOCOL_VERSION;
static uint32_t g_adv_revision = APX_CHIP_REVISION;
static volatile sig_atomic_t g_stop;

/* ------------------------------------------------------------------------------------------ bytes */

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xffffu); put16(p + 2, v >> 16); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v & 0xffffffffu)); put32(p + 4, (uint32_t)(v >> 32)); }
static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (get16(p + 2) << 16); }

static uint32_t g_crc_table[256];
static void crc_init(void)
{
    uint32_t i, k, c;
    for (i = 0; i < 256u; i++) {
        c = i;
        for (k = 0; k < 8u; k++) c = (c & 1u) ? (0xedb88320u ^ (c >> 1)) : (c >> 1);
        g_crc_table[i] = c;
    }
}
static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    size_t i;
    for (i = 0; i < n; i++) c = g_crc_table[(c ^ p[i]) & 0xffu] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------------------------------------ wire */


static uint8_t g_slip_out[2 * FRAME_MAX + 2];
static void slip_send(const uint8_t *f, size_t n)
{
    size_t o = 0, i;
    g_slip_out[o++] = APXP_SLIP_END;
    for (i = 0; i < n; i++) {
        if (f[i] == APXP_SLIP_END) { g_slip_out[o++] = APXP_SLIP_ESC; g_slip_out[o++] = APXP_SLIP_ESC_END; }
        else if (f[i] == APXP_SLIP_ESC) { g_slip_out[o++] = APXP_SLIP_ESC; g_slip_out[o++] = APXP_SLIP_ESC_ESC; }
        else g_slip_out[o++] = f[i];
    }
    g_slip_out[o++] = APXP_SLIP_END;
    (void)apx_write_all(g_fd, g_slip_out, o);
}

/* ------------------------------------------------------------------------------------------ session */

typedef struct {
    uint32_t seq;
    size_t len;
    uint8_t bytes[FRAME_MAX];
} tx_slot;

static tx_slot g_tx[BOARD_TX_SLOTS];
static uint32_t g_tx_head;     /* oldest unacked: g_tx[g_tx_head % slots] */
static uint32_t g_tx_count;
static uint32_t g_tx_next_seq; /* seq of the next data frame */
static uint32_t g_tx_window = 1;
static uint64_t g_tx_sent_ms;
static uint32_t g_tx_retries;
static uint32_t g_rx_expected; /* next data seq expected from the host */

static void send_ack(void)
{
    uint8_t f[APXP_FRAME_HEADER_BYTES + APXP_FRAME_CRC_BYTES];
    f[0] = APXP_MSG_ACK;
    f[1] = 0;
    put32(f + 2, 0);
    put32(f + 6, g_rx_expected);
    put32(f + APXP_FRAME_HEADER_BYTES, crc32(f, APXP_FRAME_HEADER_BYTES));
    slip_send(f, sizeof f);
}

static void handle_ack(uint32_t ack)
{
    int progressed = 0;
    while (g_tx_count > 0 && (int32_t)(ack - g_tx[g_tx_head % BOARD_TX_SLOTS].seq) > 0) {
        g_tx_head++;
        g_tx_count--;
        progressed = 1;
    }
    if (progressed) {
        g_tx_retries = 0;
        g_tx_sent_ms = now_ms();
    }
}

static void retransmit_if_due(void)
{
    uint32_t i;
    if (g_tx_count == 0) return;
    if (now_ms() - g_tx_sent_ms < APXP_SESSION_RETRANSMIT_MS) return;
    if (++g_tx_retries > BOARD_GIVE_UP_RETRIES) { /* the host is gone: forget what it never acknowledged */
        g_tx_count = 0;
        g_tx_retries = 0;
        return;
    }
    for (i = 0; i < g_tx_count; i++) {
        const tx_slot *s = &g_tx[(g_tx_head + i) % BOARD_TX_SLOTS];
        slip_send(s->bytes, s->len);
    }
    g_tx_sent_ms = now_ms();
}

static void pump(int timeout_ms);

/* Sends a data frame reliably: waits (serving acks) while the window is full. */
static void send_frame(uint32_t type, const uint8_t *payload, size_t n)
{
    tx_slot *s;
    while (g_tx_count >= g_tx_window && !g_stop) pump(20);
    if (g_stop) return;
    s = &g_tx[(g_tx_head + g_tx_count) % BOARD_TX_SLOTS];
    s->seq = g_tx_next_seq++;
    s->bytes[0] = (uint8_t)type;
    s->bytes[1] = 0;
    put32(s->bytes + 2, s->seq);
    put32(s->bytes + 6, g_rx_expected);
    if (n) memcpy(s->bytes + APXP_FRAME_HEADER_BYTES, payload, n);
    put32(s->bytes + APXP_FRAME_HEADER_BYTES + n, crc32(s->bytes, APXP_FRAME_HEADER_BYTES + n));
    s->len = APXP_FRAME_HEADER_BYTES + n + APXP_FRAME_CRC_BYTES;
    if (g_tx_count == 0) {
        g_tx_sent_ms = now_ms();
        g_tx_retries = 0;
    }
    g_tx_count++;
    slip_send(s->bytes, s->len);
}

static uint8_t g_out[APXP_FRAME_MAX_PAYLOAD];

static void send_error(uint32_t cmd, uint32_t code, const char *msg)
{
    size_t n = strlen(msg);
    if (n > APXP_FRAME_MAX_PAYLOAD - 5u) n = APXP_FRAME_MAX_PAYLOAD - 5u;
    g_out[0] = (uint8_t)cmd;
    put16(g_out + 1, code);
    put16(g_out + 3, (uint32_t)n);
    memcpy(g_out + 5, msg, n);
    send_frame(APXP_MSG_ERROR, g_out, 5 + n);
}

/* ------------------------------------------------------------------------------------------ commands */

static int g_dispatching; /* while a command runs (a RUN streams), further commands are not accepted: go-back-N
                             retransmits them later */

static uint32_t status_error(int st)
{
    switch (st) {
    case APX_ERR_MAGIC: case APX_ERR_FORMAT: case APX_ERR_VERSION: return APXP_ERR_FORMAT;
    case APX_ERR_HASH: return APXP_ERR_HASH_MISMATCH;
    case APX_ERR_INVALID: return APXP_ERR_INVALID;
    case APX_ERR_REVISION: return APXP_ERR_REVISION;
    case APX_ERR_FIT: return APXP_ERR_FIT;
    case APX_ERR_ARENA: return APXP_ERR_ARENA;
    default: return APXP_ERR_USAGE;
    }
}

static void cmd_hello(const uint8_t *p, size_t n)
{
    size_t o = 0, fl = strlen(BOARD_FIRMWARE_VERSION);
    if (n >= 6) {
        uint32_t w = get16(p + 4);
        g_tx_window = w < 1u ? 1u : (w > BOARD_TX_SLOTS ? BOARD_TX_SLOTS : w);
    }
    put32(g_out + o, g_adv_protocol); o += 4;
    put32(g_out + o, g_adv_revision); o += 4;
    put32(g_out + o, APX_CHIP_CORES); o += 4;
    put32(g_out + o, (uint32_t)apx_arena_size()); o += 4;
    put32(g_out + o, (uint32_t)BOARD_PROGRAM_MAX); o += 4;
    put16(g_out + o, APXP_FRAME_MAX_PAYLOAD); o += 2;
    put16(g_out + o, BOARD_RX_WINDOW); o += 2;
    g_out[o++] = g_chip ? 1u : 0u;
    if (g_chip) apx_program_hash(g_chip, g_out + o); else memset(g_out + o, 0, 32);
    o += 32;
    g_out[o++] = (uint8_t)fl;
    memcpy(g_out + o, BOARD_FIRMWARE_VERSION, fl); o += fl;
    send_frame(APXP_MSG_HELLO | APXP_MSG_RESPONSE, g_out, o);
}

static void cmd_load_begin(const uint8_t *p, size_t n)
{
    uint8_t h[32];
    if (n != 40) { send_error(APXP_MSG_LOAD_BEGIN, APXP_ERR_BAD_PAYLOAD, "LOAD_BEGIN: payload must be 40 bytes"); return; }
    if (get32(p + 4) != APX_CHIP_REVISION) {
        send_error(APXP_MSG_LOAD_BEGIN, APXP_ERR_REVISION, "program is for another chip revision");
        return;
    }
    if (g_chip) {
        apx_program_hash(g_chip, h);
        if (memcmp(h, p + 8, 32) == 0) {
            g_load_active = 0;
            g_out[0] = APXP_LOAD_STATUS_ALREADY_LOADED;
            send_frame(APXP_MSG_LOAD_BEGIN | APXP_MSG_RESPONSE, g_out, 1);
            return;
        }
    }
    g_chip = NULL; /* from here on nothing runs until a complete, verified program is loaded */
    g_program_len = 0;
    g_stim_len = 0;
    if (get32(p) > BOARD_PROGRAM_MAX) {
        g_load_active = 0;
        send_error(APXP_MSG_LOAD_BEGIN, APXP_ERR_TOO_LARGE, "program larger than the board's program buffer");
        return;
    }
    g_load_active = 1;
    g_load_total = get32(p);
    g_load_received = 0;
    memcpy(g_load_hash, p + 8, 32);
    g_out[0] = APXP_LOAD_STATUS_PROCEED;
    send_frame(APXP_MSG_LOAD_BEGIN | APXP_MSG_RESPONSE, g_out, 1);
}

static void cmd_load_chunk(const uint8_t *p, size_t n)
{
    uint32_t off, len;
    if (!g_load_active) return; /* an error was already reported for this load (or none began): ignore */
    if (n < 4) { g_load_active = 0; send_error(APXP_MSG_LOAD_CHUNK, APXP_ERR_BAD_PAYLOAD, "LOAD_CHUNK: short payload"); return; }
    off = get32(p);
    len = (uint32_t)(n - 4);
    if (off != g_load_received) { g_load_active = 0; send_error(APXP_MSG_LOAD_CHUNK, APXP_ERR_SEQUENCE, "LOAD_CHUNK: offset out of order"); return; }
    if (len > g_load_total - g_load_received) { g_load_active = 0; send_error(APXP_MSG_LOAD_CHUNK, APXP_ERR_TOO_LARGE, "LOAD_CHUNK: beyond the declared size"); return; }
    memcpy(g_program + off, p + 4, len);
    g_load_received += len;
}

static void cmd_load_end(void)
{
    int st;
    uint8_t h[32];
    char msg[300];
    if (!g_load_active) { send_error(APXP_MSG_LOAD_END, APXP_ERR_NO_LOAD, "LOAD_END without a successful LOAD_BEGIN"); return; }
    g_load_active = 0;
    if (g_load_received != g_load_total) { send_error(APXP_MSG_LOAD_END, APXP_ERR_LOAD_INCOMPLETE, "LOAD_END before all bytes arrived"); return; }
    st = apx_load(g_program, g_load_total, &g_chip);
    if (st != APX_OK) {
        g_chip = NULL;
        snprintf(msg, sizeof msg, "%s (%s)", apx_error_message(), apx_status_name(st));
        send_error(APXP_MSG_LOAD_END, status_error(st), msg);
        return;
    }
    apx_program_hash(g_chip, h);
    if (memcmp(h, g_load_hash, 32) != 0) {
        g_chip = NULL;
        send_error(APXP_MSG_LOAD_END, APXP_ERR_HASH_MISMATCH, "program SHA-256 differs from LOAD_BEGIN's");
        return;
    }
    g_program_len = g_load_total;
    put32(g_out, (uint32_t)apx_arena_used());
    send_frame(APXP_MSG_LOAD_END | APXP_MSG_RESPONSE, g_out, 4);
}

/* Walks the stimulus buffer; validates every event when chip != NULL and apply == 0, applies events with
   tick <= k from *pos when apply != 0. Returns 0 or an error message. */
static const char *stim_walk(size_t *pos, uint64_t k, int apply)
{
    static int32_t vals[65536];
    while (*pos + 11u <= g_stim_len) {
        const uint8_t *e = g_stim + *pos;
        uint32_t tick = get32(e), port = get16(e + 4), op = e[6], cnt = get32(e + 7), i;
        if (*pos + 11u + 4u * (size_t)cnt > g_stim_len) return "truncated stimulus event";
        if (apply && tick > k) return 0;
        if (port >= apx_port_count(g_chip)) return "unknown input port";
        if (op == APXP_STIM_OP_SET) {
            if (cnt != apx_port_width(g_chip, port) || cnt > 65536u) return "wrong number of values for the port";
            if (apply) {
                for (i = 0; i < cnt; i++) vals[i] = (int32_t)get32(e + 11 + 4u * i);
                if (apx_set_input(g_chip, port, vals, cnt) != APX_OK) return apx_error_message();
            }
        } else if (op == APXP_STIM_OP_CLEAR) {
            if (apx_port_kind(g_chip, port) != APX_PORT_KIND_TARGET) return "clear on a port that is not a target port";
            if (apply && apx_clear_target(g_chip, port) != APX_OK) return apx_error_message();
        } else {
            return "unknown stimulus operation";
        }
        *pos += 11u + 4u * (size_t)cnt;
    }
    return 0;
}

static void cmd_stimulus(const uint8_t *p, size_t n)
{
    if (!g_chip) { send_error(APXP_MSG_STIMULUS, APXP_ERR_NO_PROGRAM, "no program loaded"); return; }
    if (g_stim_len + n > BOARD_STIMULUS_MAX) { send_error(APXP_MSG_STIMULUS, APXP_ERR_TOO_LARGE, "stimulus buffer full"); return; }
    memcpy(g_stim + g_stim_len, p, n);
    g_stim_len += n;
}

static void cmd_run(const uint8_t *p, size_t n)
{
    uint32_t ticks, flags, t, c, per, batch = 0, first = 0;
    uint64_t start, crit0, cyc0[APX_CHIP_CORES];
    size_t pos = 0, o;
    const char *err;
    static uint8_t buf[APXP_FRAME_MAX_PAYLOAD];
    if (n != 5) { send_error(APXP_MSG_RUN, APXP_ERR_BAD_PAYLOAD, "RUN: payload must be 5 bytes"); return; }
    if (!g_chip) { g_stim_len = 0; send_error(APXP_MSG_RUN, APXP_ERR_NO_PROGRAM, "no program loaded"); return; }
    ticks = get32(p);
    flags = p[4];
    err = stim_walk(&pos, 0, 0);
    if (err || pos != g_stim_len) {
        g_stim_len = 0;
        send_error(APXP_MSG_RUN, APXP_ERR_USAGE, err ? err : "trailing stimulus bytes");
        return;
    }
    pos = 0;
    start = apx_ticks(g_chip);
    crit0 = apx_critical_path(g_chip);
    memcpy(cyc0, apx_cycles_total(g_chip), sizeof cyc0);
    per = (APXP_FRAME_MAX_PAYLOAD - 6u) / APXP_TICK_RECORD_BYTES;
    for (t = 0; t < ticks && !g_stop; t++) {
        err = stim_walk(&pos, t, 1);
        if (err) {
            g_stim_len = 0;
            send_error(APXP_MSG_RUN, APXP_ERR_USAGE, err);
            return;
        }
        apx_step(g_chip);
        if (flags & APXP_RUN_FLAG_DIGESTS) {
            uint8_t *r;
            const uint32_t *d = apx_core_digests(g_chip);
            if (batch == 0) first = t;
            r = buf + 6 + (size_t)batch * APXP_TICK_RECORD_BYTES;
            put32(r, apx_spikes_last_tick(g_chip));
            for (c = 0; c < APX_CHIP_CORES; c++) put32(r + 4 + 4 * c, d[c]);
            if (++batch == per || t + 1 == ticks) {
                put32(buf, first);
                put16(buf + 4, batch);
                send_frame(APXP_MSG_TICKS, buf, 6 + (size_t)batch * APXP_TICK_RECORD_BYTES);
                batch = 0;
            }
        }
    }
    g_stim_len = 0;
    o = 0;
    put32(g_out + o, ticks); o += 4;
    put64(g_out + o, start); o += 8;
    for (c = 0; c < APX_CHIP_CORES; c++) { put64(g_out + o, apx_cycles_total(g_chip)[c] - cyc0[c]); o += 8; }
    put64(g_out + o, apx_critical_path(g_chip) - crit0); o += 8;
    put32(g_out + o, apx_chip_digest(g_chip)); o += 4;
    send_frame(APXP_MSG_RUN | APXP_MSG_RESPONSE, g_out, o);
}

static void cmd_read_weights(const uint8_t *p, size_t n)
{
    uint32_t proj, first, max, total, count, k, bits;
    size_t o;
    if (!g_chip) { send_error(APXP_MSG_READ_WEIGHTS, APXP_ERR_NO_PROGRAM, "no program loaded"); return; }
    if (n != 10) { send_error(APXP_MSG_READ_WEIGHTS, APXP_ERR_BAD_PAYLOAD, "READ_WEIGHTS: payload must be 10 bytes"); return; }
    proj = get16(p);
    first = get32(p + 2);
    max = get32(p + 6);
    if (proj >= apx_projection_count(g_chip)) { send_error(APXP_MSG_READ_WEIGHTS, APXP_ERR_USAGE, "no such projection"); return; }
    total = apx_projection_synapses(g_chip, proj);
    bits = g_chip->projs[proj].weight_bits;
    if (first > total) { send_error(APXP_MSG_READ_WEIGHTS, APXP_ERR_USAGE, "first beyond the projection"); return; }
    count = total - first;
    if (count > max) count = max;
    if (count > (APXP_FRAME_MAX_PAYLOAD - 14u) / (bits / 8u)) count = (APXP_FRAME_MAX_PAYLOAD - 14u) / (bits / 8u);
    o = 0;
    g_out[o++] = (uint8_t)bits;
    g_out[o++] = (uint8_t)(apx_projection_plastic(g_chip, proj) ? 1 : 0);
    put32(g_out + o, total); o += 4;
    put32(g_out + o, first); o += 4;
    put32(g_out + o, count); o += 4;
    for (k = 0; k < count; k++) {
        int32_t w = apx_projection_weight(g_chip, proj, first + k);
        if (bits == 8u) g_out[o++] = (uint8_t)(w & 0xff);
        else { put16(g_out + o, (uint32_t)w & 0xffffu); o += 2; }
    }
    send_frame(APXP_MSG_READ_WEIGHTS | APXP_MSG_RESPONSE, g_out, o);
}

static const int32_t *state_array(const apx_group *g, uint32_t v)
{
    switch (v) {
    case APX_PROBE_VARIABLE_SPIKES: return g->spike;
    case APX_PROBE_VARIABLE_SOMA: return g->u;
    case APX_PROBE_VARIABLE_PROSPECTIVE: return g->prosp;
    case APX_PROBE_VARIABLE_RATE: return g->rate;
    case APX_PROBE_VARIABLE_BASAL: return g->vB;
    case APX_PROBE_VARIABLE_APICAL: return g->vA;
    case APX_PROBE_VARIABLE_NOISE: return g->xi;
    case APX_PROBE_VARIABLE_PAYLOAD: return g->payload;
    default: return NULL;
    }
}

static void cmd_read_state(const uint8_t *p, size_t n)
{
    uint32_t gi, var, first, max, total, count, k;
    const apx_group *g;
    const int32_t *a;
    size_t o;
    if (!g_chip) { send_error(APXP_MSG_READ_STATE, APXP_ERR_NO_PROGRAM, "no program loaded"); return; }
    if (n != 11) { send_error(APXP_MSG_READ_STATE, APXP_ERR_BAD_PAYLOAD, "READ_STATE: payload must be 11 bytes"); return; }
    gi = get16(p);
    var = p[2];
    first = get32(p + 3);
    max = get32(p + 7);
    if (gi >= g_chip->n_groups) { send_error(APXP_MSG_READ_STATE, APXP_ERR_USAGE, "no such group"); return; }
    if (var >= APX_PROBE_VARIABLE_WEIGHTS) { send_error(APXP_MSG_READ_STATE, APXP_ERR_USAGE, "not a neuron variable"); return; }
    g = &g_chip->groups[gi];
    a = state_array(g, var);
    total = g->size;
    if (first > total) { send_error(APXP_MSG_READ_STATE, APXP_ERR_USAGE, "first beyond the group"); return; }
    count = total - first;
    if (count > max) count = max;
    if (count > (APXP_FRAME_MAX_PAYLOAD - 12u) / 4u) count = (APXP_FRAME_MAX_PAYLOAD - 12u) / 4u;
    o = 0;
    put32(g_out + o, total); o += 4;
    put32(g_out + o, first); o += 4;
    put32(g_out + o, count); o += 4;
    for (k = 0; k < count; k++) { put32(g_out + o, a ? (uint32_t)a[first + k] : 0u); o += 4; }
    send_frame(APXP_MSG_READ_STATE | APXP_MSG_RESPONSE, g_out, o);
}

static void cmd_reset(void)
{
    int st;
    g_stim_len = 0;
    if (!g_chip) { send_error(APXP_MSG_RESET, APXP_ERR_NO_PROGRAM, "no program loaded"); return; }
    st = apx_load(g_program, g_program_len, &g_chip);
    if (st != APX_OK) { g_chip = NULL; send_error(APXP_MSG_RESET, status_error(st), apx_error_message()); return; }
    send_frame(APXP_MSG_RESET | APXP_MSG_RESPONSE, NULL, 0);
}

static void dispatch(uint32_t type, const uint8_t *p, size_t n)
{
    switch (type) {
    case APXP_MSG_HELLO: cmd_hello(p, n); break;
    case APXP_MSG_LOAD_BEGIN: cmd_load_begin(p, n); break;
    case APXP_MSG_LOAD_CHUNK: cmd_load_chunk(p, n); break;
    case APXP_MSG_LOAD_END: cmd_load_end(); break;
    case APXP_MSG_STIMULUS: cmd_stimulus(p, n); break;
    case APXP_MSG_RUN: cmd_run(p, n); break;
    case APXP_MSG_READ_WEIGHTS: cmd_read_weights(p, n); break;
    case APXP_MSG_READ_STATE: cmd_read_state(p, n); break;
    case APXP_MSG_RESET: cmd_reset(); break;
    case APXP_MSG_SHUTDOWN:
        send_frame(APXP_MSG_SHUTDOWN | APXP_MSG_RESPONSE, NULL, 0);
        g_stop = 1;
        break;
    default: send_error(type, APXP_ERR_UNKNOWN_COMMAND, "unknown command"); break;
    }
}

/* A complete, CRC-checked frame. */
static void on_frame(const uint8_t *f, size_t n)
{
    uint32_t type, flags, seq, ack;
    if (n < APXP_FRAME_HEADER_BYTES + APXP_FRAME_CRC_BYTES) return;
    if (crc32(f, n - 4) != get32(f + n - 4)) return; /* corrupted: dropped; the sender retransmits */
    type = f[0];
    flags = f[1];
    seq = get32(f + 2);
    ack = get32(f + 6);
    if (type == APXP_MSG_ACK) { handle_ack(ack); return; }
    if (flags & APXP_FLAG_SYN) {
        if (g_dispatching) return; /* a new session cannot start inside a command; the host retries */
        g_rx_expected = seq;
        g_tx_count = 0;
        g_tx_next_seq = 0;
        g_tx_window = 1;
        g_load_active = 0;
        g_stim_len = 0;
    } else {
        handle_ack(ack);
    }
    if (seq != g_rx_expected || g_dispatching) { send_ack(); return; } /* duplicate, gap, or busy: go-back-N */
    g_rx_expected++;
    {
        uint32_t before = g_tx_next_seq;
        g_dispatching = 1;
        dispatch(type, f + APXP_FRAME_HEADER_BYTES, n - APXP_FRAME_HEADER_BYTES - APXP_FRAME_CRC_BYTES);
        g_dispatching = 0;
        if (g_tx_next_seq == before) send_ack();
    }
}

static uint8_t g_rx[FRAME_MAX];
static size_t g_rx_len;
static int g_rx_esc, g_rx_overflow;

/* Received bytes not yet decoded. Decoding is re-entrant: a command that waits for window space (a RUN)
   pumps from inside on_frame and continues from the same position, so bytes are always decoded in order. */
static uint8_t g_in[16384];
static size_t g_in_pos, g_in_len;

static void decode(void)
{
    while (g_in_pos < g_in_len) {
        uint8_t c = g_in[g_in_pos++];
        if (c == APXP_SLIP_END) {
            size_t len = g_rx_len;
            int bad = g_rx_overflow;
            g_rx_len = 0;
            g_rx_esc = 0;
            g_rx_overflow = 0;
            if (len > 0 && !bad) on_frame(g_rx, len);
            continue;
        }
        if (g_rx_esc) {
            g_rx_esc = 0;
            if (c == APXP_SLIP_ESC_END) c = APXP_SLIP_END;
            else if (c == APXP_SLIP_ESC_ESC) c = APXP_SLIP_ESC;
            else { g_rx_overflow = 1; continue; } /* protocol violation: drop this frame */
        } else if (c == APXP_SLIP_ESC) {
            g_rx_esc = 1;
            continue;
        }
        if (g_rx_len >= sizeof g_rx) { g_rx_overflow = 1; continue; }
        g_rx[g_rx_len++] = c;
    }
}

/* Reads what is available (waiting up to timeout_ms) and decodes it; retransmits when due. */
static void pump(int timeout_ms)
{
    if (g_in_pos >= g_in_len) {
        struct pollfd pf;
        g_in_pos = g_in_len = 0;
        pf.fd = g_fd;
        pf.events = POLLIN;
        pf.revents = 0;
        if (poll(&pf, 1, timeout_ms) > 0 && (pf.revents & POLLIN)) {
            ssize_t r = read(g_fd, g_in, sizeof g_in);
            if (r > 0) g_in_len = (size_t)r;
        } else if (pf.revents & (POLLHUP | POLLERR)) {
            struct timespec ts = { 0, 20000000 };
            nanosleep(&ts, NULL);
        }
    }
    decode();
    retransmit_if_due();
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int main(int argc, char **argv)
{
    int slave, i;
    const char *name;
    struct sigaction sa;
    for (i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--advertise-protocol") == 0) g_adv_protocol = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--advertise-revision") == 0) g_adv_revision = (uint32_t)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: apx_board [--advertise-protocol N] [--advertise-revision N]\n");
            return 2;
        }
    }
    crc_init();
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Keep the slave open ourselves: the line stays up while hosts connect and disconnect; raw mode, no echo. */
    if (apx_open_raw_pty("apx_board", &g_fd, &slave, &name) != 0) return 2;
    printf("%s\n", name);
    fflush(stdout);
    {
        pid_t parent = getppid();
        while (!g_stop) {
            pump(50);
            if (getppid() != parent) break; /* whoever started the board is gone: do not linger as an orphan */
        }
    }
    /* let the last response (SHUTDOWN) reach the host */
    {
        uint64_t t0 = now_ms();
        while (g_tx_count > 0 && now_ms() - t0 < 500u) {
            g_stop = 0;
            pump(20);
            g_stop = 1;
        }
    }
    close(slave);
    close(g_fd);
    return 0;
}

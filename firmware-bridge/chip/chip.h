/*
 * apical chip core — portable C99, bit-exact with the TypeScript emulator (src/emulator, docs/chip.md).
 *
 * One chip at a time lives in one static arena of APX_ARENA_BYTES bytes (compile-time macro, default 16 MiB).
 * apx_load() validates a whole .apx file (magic, protobuf structure, format version, SHA-256, chip revision,
 * every index and parameter, per-core capacities) and lays out the Program and all chip state in the arena;
 * a Program that does not fit the arena is APX_ERR_ARENA, not a crash. Loading again discards the previous
 * chip. Integer arithmetic only; nothing is allocated after load.
 */
#ifndef APX_CHIP_H
#define APX_CHIP_H

#include <stddef.h>
#include <stdint.h>

#include "chip_constants.h"

#ifndef APX_ARENA_BYTES
#define APX_ARENA_BYTES (16ul * 1024ul * 1024ul)
#endif

/* Status codes (0 = success). */
#define APX_OK 0
#define APX_ERR_MAGIC (-1)    /* not an .apx file: bad magic */
#define APX_ERR_FORMAT (-2)   /* corrupted or truncated protobuf */
#define APX_ERR_VERSION (-3)  /* unsupported format_version */
#define APX_ERR_HASH (-4)     /* SHA-256 mismatch */
#define APX_ERR_INVALID (-5)  /* well-formed but violates the chip spec (docs/program-format.md §6) */
#define APX_ERR_REVISION (-6) /* compiled for another chip revision */
#define APX_ERR_FIT (-7)      /* exceeds a per-core capacity (docs/chip.md §3) */
#define APX_ERR_ARENA (-8)    /* does not fit the firmware's static arena */
#define APX_ERR_USAGE (-9)    /* API misuse: unknown port, wrong number of values, ... */

typedef struct apx_chip apx_chip;

/* Loads a Program from the bytes of an .apx file (the bytes are not referenced after the call). */
int apx_load(const uint8_t *file, size_t len, apx_chip **out);
/* One-line description of the last load / usage error (empty after success). */
const char *apx_error_message(void);
const char *apx_status_name(int status);
/* Arena bytes used by the loaded chip, and the arena size. */
size_t apx_arena_used(void);
size_t apx_arena_size(void);

/* Runs one tick: latch, integrate, fire, traces, route, learn, host (cycles, digests). */
void apx_step(apx_chip *c);
/* Per-tick digests on (the default after load) or off (fast mode: the digest accessors then hold the values of
 * the last apx_update_digests or of the last tick with digests on). */
void apx_set_digests(apx_chip *c, int on);
/* Computes the §13 digests of the current state (as apx_step does at the end of a tick). */
void apx_update_digests(apx_chip *c);
/* Ticks completed since load. */
uint64_t apx_ticks(const apx_chip *c);

/* Input ports (docs/chip.md §14). */
uint32_t apx_port_count(const apx_chip *c);
/* Index of the port named name[0..len), or -1. */
int apx_port_find(const apx_chip *c, const char *name, size_t len);
int apx_port_kind(const apx_chip *c, uint32_t port);
/* Number of values the port takes (group size; 1 for the reward port). */
uint32_t apx_port_width(const apx_chip *c, uint32_t port);
/* Rate/target: STATE values, held; spikes: 0/1, next tick only; reward: values[0], held. */
int apx_set_input(apx_chip *c, uint32_t port, const int32_t *values, uint32_t n);
/* Removes the target of a target port (the group runs free). */
int apx_clear_target(apx_chip *c, uint32_t port);

/* Results of the last tick. */
uint32_t apx_spikes_last_tick(const apx_chip *c);
const uint32_t *apx_core_digests(const apx_chip *c);     /* [APX_CHIP_CORES] */
const uint32_t *apx_variable_digests(const apx_chip *c); /* [core * APX_DIGEST_VARIABLES + variable] */
uint32_t apx_chip_digest(const apx_chip *c);
const uint64_t *apx_cycles_last_tick(const apx_chip *c); /* [APX_CHIP_CORES] */
/* Since load. */
const uint64_t *apx_cycles_total(const apx_chip *c); /* [APX_CHIP_CORES] */
uint64_t apx_critical_path(const apx_chip *c);
/* Cores holding at least one neuron: bit c set for core c. */
uint32_t apx_used_cores(const apx_chip *c);

/* Projections (program order). */
uint32_t apx_projection_count(const apx_chip *c);
const char *apx_projection_name(const apx_chip *c, uint32_t p, size_t *len);
int apx_projection_plastic(const apx_chip *c, uint32_t p);
uint32_t apx_projection_synapses(const apx_chip *c, uint32_t p);
/* Integer weight k of projection p (plastic weights change as the chip learns). */
int32_t apx_projection_weight(const apx_chip *c, uint32_t p, uint32_t k);

/* The Program's SHA-256 (docs/program-format.md §2). */
void apx_program_hash(const apx_chip *c, uint8_t out[32]);
uint32_t apx_program_seed(const apx_chip *c);

#endif

/* sha256 — FIPS 180-4 SHA-256, incremental, no allocation. */
#ifndef APX_SHA256_H
#define APX_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t bytes;   /* total message length so far */
    uint8_t block[64];
    uint32_t fill;    /* bytes in block */
} apx_sha256_ctx;

void apx_sha256_init(apx_sha256_ctx *c);
void apx_sha256_update(apx_sha256_ctx *c, const uint8_t *data, size_t len);
void apx_sha256_final(apx_sha256_ctx *c, uint8_t out[32]);
void apx_sha256(const uint8_t *data, size_t len, uint8_t out[32]);

#endif

/*
 * apx_pb — a minimal, strictly bounds-checked protobuf wire-format reader for proto/program.proto.
 *
 * Supports what the .apx schema uses: varints (uint32, enums, bool), zigzag sint32, fixed32/sfixed32,
 * fixed64 (double, read as raw bits), length-delimited fields (bytes, UTF-8 strings, nested messages, packed
 * repeated scalars). Decoding follows protobufjs 8 (the reference codec) on every input it accepts:
 * unknown fields are skipped (including groups, wire types 3/4, nested to depth 100); a known field whose
 * wire type does not match its type is skipped like an unknown field; strings must be valid UTF-8; every
 * value is bounds-checked. Malformed input yields a negative APX_PB_ERR_* code, never undefined behaviour.
 * No allocation; a reader is a pair of pointers into a caller-owned buffer.
 */
#ifndef APX_PB_H
#define APX_PB_H

#include <stddef.h>
#include <stdint.h>

#define APX_PB_WIRE_VARINT 0u
#define APX_PB_WIRE_FIXED64 1u
#define APX_PB_WIRE_LEN 2u
#define APX_PB_WIRE_SGROUP 3u
#define APX_PB_WIRE_EGROUP 4u
#define APX_PB_WIRE_FIXED32 5u

#define APX_PB_OK 0
#define APX_PB_SKIPPED 1          /* typed read: wire type did not match, the field was skipped */
#define APX_PB_ERR_TRUNCATED (-1) /* a value runs past the end of its message */
#define APX_PB_ERR_VARINT (-2)    /* a varint longer than 10 bytes */
#define APX_PB_ERR_WIRETYPE (-3)  /* wire type 6 or 7, or an end-group tag without its start */
#define APX_PB_ERR_FIELD (-4)     /* field number 0 */
#define APX_PB_ERR_PACKED (-5)    /* packed payload not a whole number of elements */
#define APX_PB_ERR_OVERFLOW (-6)  /* more repeated elements than counted */
#define APX_PB_ERR_UTF8 (-7)      /* a string field that is not valid UTF-8 */
#define APX_PB_ERR_DEPTH (-8)     /* groups nested deeper than 100 */

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} apx_pb_reader;

/* Element encodings of repeated scalar fields. */
#define APX_PB_ELEM_VARINT 0  /* uint32, sint32 (zigzag applied by the caller), enums */
#define APX_PB_ELEM_FIXED32 1 /* fixed32, sfixed32 */

void apx_pb_init(apx_pb_reader *r, const uint8_t *data, size_t len);
int apx_pb_at_end(const apx_pb_reader *r);

/* Next field: returns 1 and sets *field, *wire; 0 at the end of the message; < 0 on a malformed tag. */
int apx_pb_next(apx_pb_reader *r, uint32_t *field, uint32_t *wire);
/* Skips the value of a field of wire type `wire` (a group up to its matching end-group tag). */
int apx_pb_skip(apx_pb_reader *r, uint32_t field, uint32_t wire);

int apx_pb_varint(apx_pb_reader *r, uint64_t *v);
int apx_pb_fixed32(apx_pb_reader *r, uint32_t *v);
int apx_pb_fixed64(apx_pb_reader *r, uint64_t *v);
int apx_pb_len(apx_pb_reader *r, const uint8_t **data, size_t *len);

/*
 * Typed readers for the value of field `field` whose tag (wire type `wire`) has just been read. They return
 * APX_PB_OK with the value, APX_PB_SKIPPED (value untouched) when the wire type does not fit the type, or < 0.
 */
int apx_pb_read_uint32(apx_pb_reader *r, uint32_t field, uint32_t wire, uint32_t *v); /* low 32 bits */
int apx_pb_read_enum(apx_pb_reader *r, uint32_t field, uint32_t wire, int32_t *v);    /* int32 */
int apx_pb_read_sint32(apx_pb_reader *r, uint32_t field, uint32_t wire, int32_t *v);  /* zigzag */
int apx_pb_read_bool(apx_pb_reader *r, uint32_t field, uint32_t wire, int *v);        /* any bit set */
int apx_pb_read_double_bits(apx_pb_reader *r, uint32_t field, uint32_t wire, uint64_t *bits);
int apx_pb_read_bytes(apx_pb_reader *r, uint32_t field, uint32_t wire, const uint8_t **data, size_t *len);
/* bytes that must be valid UTF-8 */
int apx_pb_read_string(apx_pb_reader *r, uint32_t field, uint32_t wire, const uint8_t **data, size_t *len);

/* Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF). */
int apx_pb_utf8_valid(const uint8_t *s, size_t len);

/* zigzag decode of the low 32 bits */
int32_t apx_pb_zigzag32(uint32_t n);
/* uint32 bit pattern → int32 without implementation-defined conversion */
int32_t apx_pb_u32_to_i32(uint32_t u);

/*
 * Repeated scalar fields, packed (wire type 2) or not (the element's own wire type), possibly split over
 * several occurrences. apx_pb_count_repeated counts the elements of field `field` in a whole message;
 * apx_pb_read_repeated appends the elements of one occurrence (whose tag was just read) to out[*n..cap),
 * as raw 32-bit values (varints truncated to their low 32 bits); other wire types are skipped.
 */
int apx_pb_count_repeated(const uint8_t *msg, size_t len, uint32_t field, int elem, uint32_t *count);
int apx_pb_read_repeated(apx_pb_reader *r, uint32_t field, uint32_t wire, int elem, uint32_t *out, uint32_t cap,
                         uint32_t *n);
/* Counts the length-delimited occurrences of a field (repeated messages). */
int apx_pb_count_field(const uint8_t *msg, size_t len, uint32_t field, uint32_t *count);

#endif

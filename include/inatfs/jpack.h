/*
 * jpack.h - a compact, lossless encoding of small JSON records that share
 * a shape (the COCO box records and the location records: ~850k of each at
 * real scale, 100-130 bytes of text apiece).
 *
 * A record's text is split into its shape (the text with each value replaced
 * by a one-byte marker; keys, punctuation, null/true/false stay) and its
 * values. Shapes are few and stored once (the index's `shapes` table); a
 * packed record is varint(shape id) followed by the values:
 *
 *   IFS_JPACK_NUM  a plain decimal number ("0", "-12", "45.1234", "1.50":
 *                  at most 17 digits, at most 15 after the point, no
 *                  exponent, canonical integer part): varint(zigzag(m) << 4
 *                  | d), m the digits as an integer, d the digits after '.'
 *   IFS_JPACK_STR  a string value: varint(length) + the text between the
 *                  quotes, escapes as they were
 *   IFS_JPACK_RAW  any other number token: varint(length) + its text
 *   IFS_JPACK_TIME a string "YYYY-MM-DD HH:MM:SS" (or "...DDTHH..."), with or
 *                  without a zone "+HH:MM"/"-HH:MM" in quarter hours (the
 *                  locations' dates): varint of its fields in mixed radix
 *                  (7 bytes, not 26)
 *
 * Shape 0 is reserved for "the whole record as one RAW value": used for text
 * the tokenizer does not accept (it is not compact JSON as cJSON prints it,
 * or it contains a marker byte). Decoding reproduces the text byte for byte,
 * whatever it was; the round trip is what sidecar sizes rely on.
 * Typical record: 105 bytes of location text -> ~28 bytes.
 */
#ifndef INATFS_JPACK_H
#define INATFS_JPACK_H

#include <stddef.h>
#include <stdint.h>

#include "inatfs/buf.h"

enum { IFS_JPACK_NUM = 1, IFS_JPACK_STR = 2, IFS_JPACK_RAW = 3, IFS_JPACK_TIME = 4 };
#define IFS_JPACK_MAX IFS_JPACK_TIME   /* bytes <= this are markers in shapes */

/* The encoder's table of shapes (ids from 1, in order of first use). */
typedef struct ifs_jpack ifs_jpack;

ifs_jpack *ifs_jpack_new(void);
void ifs_jpack_free(ifs_jpack *p);

/* Appends the packed form of text[0, len) to out. 0 or -ENOMEM. */
int ifs_jpack_encode(ifs_jpack *p, const char *text, size_t len, ifs_buf *out);

/* Shapes made so far: ids 1..ifs_jpack_count(p). */
size_t ifs_jpack_count(const ifs_jpack *p);
const char *ifs_jpack_shape(const ifs_jpack *p, size_t id, size_t *len);

/* Looks up a shape for decoding: 0 with *shape and *len set, else a negative
 * errno (-ENOENT for an unknown id). Shape 0 is handled by the decoder. */
typedef int (*ifs_jpack_lookup)(void *ctx, uint64_t id, const char **shape, size_t *len);

/* Decodes the record at in[0, len) and appends its text to out; *used gets
 * the bytes consumed (records are packed back to back). -EIO on malformed
 * input, -ENOMEM, or the lookup's error. */
int ifs_jpack_decode(const uint8_t *in, size_t len, size_t *used, ifs_jpack_lookup lookup,
		     void *ctx, ifs_buf *out);

#endif

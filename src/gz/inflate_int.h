/*
 * inflate_int.h - what the raw-deflate decoder's files share (inflate.c: the
 * decoding loop; inflate_header.c: block headers and their tables;
 * inflate_find.c: the block finder): the table entry layout, the decoder's
 * states, and the header reader. Private to those three.
 */
#ifndef INATFS_INFLATE_INT_H
#define INATFS_INFLATE_INT_H

#include "gz_internal.h"

#include <endian.h>
#include <string.h>

/* A table entry: the symbol's value (a literal, a length or distance base,
 * or a subtable's index) in the top 16 bits, then flags, the code's bits and
 * the bits to consume. */
#define F_LIT 0x1000u
#define F_EOB 0x2000u
#define F_SUB 0x4000u
#define F_BAD 0x8000u
#define E_TOTAL(e) ((e) & 0xffu)        /* bits to consume: code + extra */
#define E_CL(e) (((e) >> 8) & 0xfu)     /* bits of the code alone */
#define E_VAL(e) ((e) >> 16)

#define LMASK ((1u << GZI_LBITS) - 1)
#define DMASK ((1u << GZI_DBITS) - 1)

enum { S_HDR, S_STORED, S_CODES, S_DONE };

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return le64toh(v);
}

/* Records invalid data: why, at the current bit. */
static inline int fail(gzi_dec *d, const char *why)
{
	d->why = why;
	d->err_bit = gzi_dec_bit(d);
	return GZI_D_ERR;
}

/* Reads a block header at the decoder's position (inflate_header.c): the
 * tables, last, btype, stored_left, hdr_bits and the next state. Returns 0,
 * or GZI_D_TRUNC / GZI_D_ERR. */
int gzi_inflate_header(gzi_dec *d);

#endif

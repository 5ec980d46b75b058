/*
 * varint.h - LEB128 unsigned varints (7 bits a byte, low bits first, high
 * bit set on every byte but the last), as the stored sparse windows
 * (gz.h) and the packed JSON records (jpack.h) use them.
 */
#ifndef INATFS_VARINT_H
#define INATFS_VARINT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define IFS_VARINT_MAX 10   /* bytes a uint64_t takes at most */

/* Writes v at p (room for IFS_VARINT_MAX bytes); returns the bytes written. */
static inline size_t ifs_varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Reads a varint at in[*pos] (len: bytes in in) into *v and moves *pos past
 * it. 0, or -EIO if it runs past len or past 64 bits' worth of bytes. */
static inline int ifs_varint_get(const uint8_t *in, size_t len, size_t *pos, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned shift = 0; shift < 64 && *pos < len; shift += 7) {
		uint8_t b = in[(*pos)++];
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EIO;
}

#endif

/*
 * crccover.c - a file's CRC-32 from reads in any order (see crccover.h).
 */
#include "inatfs/crccover.h"

#include <string.h>
#include <zlib.h>

int ifs_crc_cover_add(ifs_crc_cover *c, uint64_t off, uint64_t len, uint32_t crc,
		      uint64_t size, uint32_t *whole)
{
	if (c->done || len == 0 || off > size || len > size - off)
		return 0;
	/* where it goes, and whether it overlaps a neighbour */
	int i = 0;
	while (i < c->n && c->seg[i].start + c->seg[i].len <= off)
		i++;
	if (i < c->n && c->seg[i].start < off + len)
		return 0;
	if (c->n == IFS_CRC_COVER_SEGS)
		return 0;
	memmove(&c->seg[i + 1], &c->seg[i], (size_t)(c->n - i) * sizeof c->seg[0]);
	c->seg[i].start = off;
	c->seg[i].len = len;
	c->seg[i].crc = crc;
	c->n++;
	/* join with the following, then with the preceding range */
	if (i + 1 < c->n && c->seg[i].start + c->seg[i].len == c->seg[i + 1].start) {
		c->seg[i].crc = (uint32_t)crc32_combine(c->seg[i].crc, c->seg[i + 1].crc,
							(z_off_t)c->seg[i + 1].len);
		c->seg[i].len += c->seg[i + 1].len;
		memmove(&c->seg[i + 1], &c->seg[i + 2], (size_t)(c->n - i - 2) * sizeof c->seg[0]);
		c->n--;
	}
	if (i > 0 && c->seg[i - 1].start + c->seg[i - 1].len == c->seg[i].start) {
		c->seg[i - 1].crc = (uint32_t)crc32_combine(c->seg[i - 1].crc, c->seg[i].crc,
							    (z_off_t)c->seg[i].len);
		c->seg[i - 1].len += c->seg[i].len;
		memmove(&c->seg[i], &c->seg[i + 1], (size_t)(c->n - i - 1) * sizeof c->seg[0]);
		c->n--;
	}
	if (c->n == 1 && c->seg[0].start == 0 && c->seg[0].len == size) {
		c->done = 1;
		*whole = c->seg[0].crc;
		return 1;
	}
	return 0;
}

/*
 * crccover.c - a file's CRC-32 from reads in any order (see crccover.h).
 */
#include "inatfs/crccover.h"

#include <string.h>
#include <zlib.h>

static uint32_t crc_of(const uint8_t *p, uint64_t n)
{
	return (uint32_t)crc32_z(0, p, (z_size_t)n);
}

static uint32_t combine(uint32_t a, uint32_t b, uint64_t blen)
{
	return (uint32_t)crc32_combine64(a, b, (z_off64_t)blen);
}

/* Takes [ps, pe) (not covered, data at p) into the table. 0, or FULL. */
static int take(ifs_crc_cover *c, uint64_t ps, uint64_t pe, const uint8_t *p)
{
	int i = 0;
	while (i < c->n && c->seg[i].start + c->seg[i].len < ps)
		i++;
	/* c->seg[i] is the first range ending at or after ps */
	int left = i < c->n && c->seg[i].start + c->seg[i].len == ps;
	int right_at = left ? i + 1 : i;
	int right = right_at < c->n && c->seg[right_at].start == pe;
	uint64_t len = pe - ps;
	if (!left && !right) {
		if (c->n == IFS_CRC_COVER_SEGS)
			return IFS_CRC_COVER_FULL;
		memmove(&c->seg[i + 1], &c->seg[i], (size_t)(c->n - i) * sizeof c->seg[0]);
		c->seg[i].start = ps;
		c->seg[i].len = len;
		c->seg[i].crc = crc_of(p, len);
		c->n++;
		return 0;
	}
	if (left) {
		c->seg[i].crc = combine(c->seg[i].crc, crc_of(p, len), len);
		c->seg[i].len += len;
		if (right) {   /* the gap is closed: join the two */
			c->seg[i].crc = combine(c->seg[i].crc, c->seg[i + 1].crc, c->seg[i + 1].len);
			c->seg[i].len += c->seg[i + 1].len;
			memmove(&c->seg[i + 1], &c->seg[i + 2],
				(size_t)(c->n - i - 2) * sizeof c->seg[0]);
			c->n--;
		}
		return 0;
	}
	c->seg[right_at].crc = combine(crc_of(p, len), c->seg[right_at].crc, c->seg[right_at].len);
	c->seg[right_at].start = ps;
	c->seg[right_at].len += len;
	return 0;
}

int ifs_crc_cover_add(ifs_crc_cover *c, uint64_t off, const uint8_t *data, uint64_t len,
		      uint64_t size, uint32_t *whole)
{
	if (c->done || len == 0 || off > size || len > size - off)
		return 0;
	uint64_t end = off + len;
	/* a range that touches no covered one needs a slot of its own */
	int touches = 0;
	for (int i = 0; i < c->n && !touches; i++)
		touches = c->seg[i].start <= end && off <= c->seg[i].start + c->seg[i].len;
	if (!touches && c->n == IFS_CRC_COVER_SEGS)
		return IFS_CRC_COVER_FULL;
	/* take the uncovered pieces, left to right; each one touches a covered
	 * range (or is the whole read), so none needs a slot the check above
	 * did not find */
	uint64_t pos = off;
	while (pos < end) {
		int i = 0;
		while (i < c->n && c->seg[i].start + c->seg[i].len <= pos)
			i++;
		if (i < c->n && c->seg[i].start <= pos) {   /* covered: skip it */
			pos = c->seg[i].start + c->seg[i].len;
			continue;
		}
		uint64_t pe = i < c->n && c->seg[i].start < end ? c->seg[i].start : end;
		if (take(c, pos, pe, data + (pos - off)) != 0)
			return IFS_CRC_COVER_FULL;   /* not reached (see above) */
		pos = pe;
	}
	if (c->n == 1 && c->seg[0].start == 0 && c->seg[0].len == size) {
		c->done = 1;
		*whole = c->seg[0].crc;
		return 1;
	}
	return 0;
}

int ifs_crc_cover_gap(const ifs_crc_cover *c, uint64_t *off, uint64_t *len)
{
	int best = -1;
	for (int i = 0; i + 1 < c->n; i++) {
		uint64_t a = c->seg[i].start + c->seg[i].len, g = c->seg[i + 1].start - a;
		if (best < 0 || g < *len) {
			best = i;
			*off = a;
			*len = g;
		}
	}
	return best >= 0;
}

/*
 * format.c - the gzip container around deflate (RFC 1952), read through a
 * buffer filled from a source (source.h).
 *
 *   +---+---+---+---+---+---+---+---+---+---+
 *   |1f |8b |CM |FLG|     MTIME     |XFL|OS |   CM = 8 (deflate)
 *   +---+---+---+---+---+---+---+---+---+---+
 *   FEXTRA (4): XLEN(2, LE) + XLEN bytes   FNAME (8): zero-terminated
 *   FCOMMENT (16): zero-terminated         FHCRC (2): low 16 bits of the
 *   CRC-32 of all header bytes before it.  Bits 5-7 of FLG must be zero.
 *   ... deflate data ...  CRC32(4, LE) ISIZE(4, LE: size mod 2^32)
 *
 * Limits: only what gzip(1) writes or accepts; trailing zero bytes after the
 * last member are allowed (tape padding), any other trailing bytes are an
 * error.
 */
#include "gz_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int gzi_in_init(gzi_in *r, ifs_source *src, size_t cap, ifs_err *err)
{
	memset(r, 0, sizeof *r);
	r->src = src;
	r->name = ifs_source_name(src);
	r->buf = malloc(cap + GZI_DEC_PAD);
	if (!r->buf)
		return ifs_err_set(err, ENOMEM, "%s: out of memory", r->name);
	memset(r->buf, 0, GZI_DEC_PAD);
	r->cap = cap;
	return 0;
}

void gzi_in_free(gzi_in *r)
{
	free(r->buf);
	r->buf = NULL;
}

void gzi_in_seek(gzi_in *r, uint64_t off)
{
	r->off = off;
	r->pos = r->len = 0;
	r->eof = 0;
	memset(r->buf, 0, GZI_DEC_PAD);
}

void gzi_in_preload(gzi_in *r, const uint8_t *p, size_t n, uint64_t next)
{
	memcpy(r->buf, p, n);
	r->off = next - n; /* may wrap: only off + len and off + pos are used */
	r->pos = 0;
	r->len = n;
	r->eof = 0;
	memset(r->buf + n, 0, GZI_DEC_PAD);
}

ssize_t gzi_in_fill(gzi_in *r, ifs_err *err)
{
	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->off += r->pos;
		r->len -= r->pos;
		r->pos = 0;
		memset(r->buf + r->len, 0, GZI_DEC_PAD);
	}
	if (r->len == r->cap || r->eof)
		return 0;
	size_t want = r->cap - r->len;
	uint64_t at = r->off + r->len;
	if (r->stop > at && r->stop - at < want)
		want = (size_t)(r->stop - at);   /* the hinted range's end: its bytes first */
	ssize_t n = ifs_source_pread(r->src, r->buf + r->len, want, at, err);
	if (n < 0) {
		r->read_failed = 1;
		return n;
	}
	if (n == 0)
		r->eof = 1;
	r->len += (size_t)n;
	memset(r->buf + r->len, 0, GZI_DEC_PAD);
	return n;
}

int gzi_in_byte(gzi_in *r, uint8_t *b, ifs_err *err)
{
	if (r->pos == r->len) {
		ssize_t n = gzi_in_fill(r, err);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
	}
	*b = r->buf[r->pos++];
	return 1;
}

/* One header byte, folded into the running header CRC; EOF is an error. */
static int hbyte(gzi_in *r, uint8_t *b, uint32_t *crc, ifs_err *err)
{
	int rc = gzi_in_byte(r, b, err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return ifs_err_set(err, EIO, "%s: truncated gzip header at offset %llu",
				   r->name, (unsigned long long)gzi_in_tell(r));
	*crc = ifs_crc32(*crc, b, 1);
	return 0;
}

/* Everything from here to the end of the file must be zero bytes. */
static int check_zero_tail(gzi_in *r, ifs_err *err)
{
	for (;;) {
		while (r->pos < r->len) {
			if (r->buf[r->pos] != 0)
				return ifs_err_set(err, EIO, "%s: trailing garbage after the "
						   "last gzip member at offset %llu", r->name,
						   (unsigned long long)gzi_in_tell(r));
			r->pos++;
		}
		ssize_t n = gzi_in_fill(r, err);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 1;
	}
}

int gzi_read_header(gzi_in *r, int first, ifs_err *err)
{
	uint64_t start = gzi_in_tell(r);
	uint32_t crc = 0;
	uint8_t h[10];
	int rc;

	if (!first) {
		/* Peek at two bytes: end, zero padding, a member, or garbage. */
		while (r->len - r->pos < 2) {
			ssize_t n = gzi_in_fill(r, err);
			if (n < 0)
				return (int)n;
			if (n == 0)
				break;
		}
		size_t avail = r->len - r->pos;
		if (avail == 0)
			return 1;
		if (r->buf[r->pos] == 0)
			return check_zero_tail(r, err);
		if (avail < 2 || r->buf[r->pos] != 0x1f || r->buf[r->pos + 1] != 0x8b)
			return ifs_err_set(err, EIO, "%s: trailing garbage after the last gzip "
					   "member at offset %llu", r->name, (unsigned long long)start);
	}
	for (int i = 0; i < 10; i++) {
		rc = hbyte(r, &h[i], &crc, err);
		if (rc < 0) {
			if (i == 0 && first)
				return ifs_err_set(err, EIO, "%s: empty file, not gzip", r->name);
			return rc;
		}
	}
	if (h[0] != 0x1f || h[1] != 0x8b)
		return ifs_err_set(err, EIO, "%s: %s at offset %llu: not a gzip header",
				   r->name, first ? "not gzip" : "trailing garbage",
				   (unsigned long long)start);
	if (h[2] != 8)
		return ifs_err_set(err, EIO, "%s: gzip header at offset %llu: unknown "
				   "compression method %u", r->name,
				   (unsigned long long)start, h[2]);
	uint8_t flg = h[3];
	if (flg & 0xe0)
		return ifs_err_set(err, EIO, "%s: gzip header at offset %llu: reserved "
				   "flags set (0x%02x)", r->name, (unsigned long long)start, flg);
	uint8_t b;
	if (flg & 4) { /* FEXTRA */
		uint8_t x[2];
		if ((rc = hbyte(r, &x[0], &crc, err)) < 0 || (rc = hbyte(r, &x[1], &crc, err)) < 0)
			return rc;
		unsigned xlen = x[0] | (unsigned)x[1] << 8;
		for (unsigned i = 0; i < xlen; i++)
			if ((rc = hbyte(r, &b, &crc, err)) < 0)
				return rc;
	}
	for (int f = 8; f <= 16; f += 8) { /* FNAME, FCOMMENT: no length limit */
		if (!(flg & f))
			continue;
		do {
			if ((rc = hbyte(r, &b, &crc, err)) < 0)
				return rc;
		} while (b != 0);
	}
	if (flg & 2) { /* FHCRC */
		uint32_t want = crc & 0xffff, dummy = 0;
		uint8_t c[2];
		if ((rc = hbyte(r, &c[0], &dummy, err)) < 0 || (rc = hbyte(r, &c[1], &dummy, err)) < 0)
			return rc;
		if ((c[0] | (uint32_t)c[1] << 8) != want)
			return ifs_err_set(err, EIO, "%s: gzip header at offset %llu: header "
					   "CRC mismatch", r->name, (unsigned long long)start);
	}
	return 0;
}

int gzi_read_trailer(gzi_in *r, uint32_t *crc, uint32_t *isize, ifs_err *err)
{
	uint64_t at = gzi_in_tell(r);
	uint8_t t[8];
	for (int i = 0; i < 8; i++) {
		int rc = gzi_in_byte(r, &t[i], err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return ifs_err_set(err, EIO, "%s: truncated gzip trailer at offset %llu",
					   r->name, (unsigned long long)at);
	}
	*crc = t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
	*isize = t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;
	return 0;
}

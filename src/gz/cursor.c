/*
 * cursor.c - random reads: start ISA-L's inflate at a checkpoint (bit
 * offset + sparse window as dictionary; at its entry, inside the block, when
 * it has one), skip forward to the wanted offset, and keep the decoder state
 * so that a read at or after the current position goes on from there. When
 * to start again is the caller's choice (a cursor only says where it
 * stands). Member boundaries are crossed as `gzip -dc` would: skip the
 * trailer, parse the next header, go on.
 *
 * Checks: ISA-L reports invalid codes and distances; when a cursor has
 * decoded a member from its first byte (a checkpoint without a window)
 * it also checks the member's CRC-32 and ISIZE at its end. Data read from
 * the middle of a member cannot be CRC-checked (the scan did that once).
 */
#include "gz_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>

#define IN_CAP (64u * 1024)     /* per cursor: one is held per file being read */
#define SCRATCH (32u * 1024)
/* in_end is the byte after the last symbol a read needs (gz.h, on_boundary);
 * ISA-L may look a few bits past a symbol before it decodes it (short codes
 * share table entries), so the one request holds a few bytes more. */
#define IN_END_PAD 8u
/* With an entry, the block's header and the bytes from the entry on are hinted
 * as one range when at most this much lies between them. */
#define GAP_MAX (64u * 1024)

struct ifs_gz_cursor {
	ifs_source *src;
	const char *name;
	gzi_in r;
	struct inflate_state st;
	int valid;      /* st continues from pos */
	int at_end;     /* the stream ended at pos */
	uint64_t pos;
	uint64_t from;  /* the checkpoint's `from`: output before it may be wrong */
	int crc_valid;  /* decoding since the start of the current member */
	uint32_t crc;
	uint64_t msize;
	uint64_t restarts;
	uint8_t *scratch;
	uint8_t dict[GZI_WSIZE];
};

int ifs_gz_cursor_new(ifs_source *src, ifs_gz_cursor **out, ifs_err *err)
{
	const char *name = ifs_source_name(src);
	ifs_gz_cursor *c = calloc(1, sizeof *c);
	if (!c)
		return ifs_err_set(err, ENOMEM, "%s: out of memory", name);
	c->src = src;
	c->name = name;
	c->scratch = malloc(SCRATCH);
	int rc = c->scratch ? gzi_in_init(&c->r, src, IN_CAP, err)
			    : ifs_err_set(err, ENOMEM, "%s: out of memory", name);
	if (rc < 0) {
		free(c->scratch);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void ifs_gz_cursor_free(ifs_gz_cursor *c)
{
	if (!c)
		return;
	gzi_in_free(&c->r);
	free(c->scratch);
	free(c);
}

uint64_t ifs_gz_cursor_pos(const ifs_gz_cursor *c)
{
	if (!c->valid)
		return UINT64_MAX;
	return c->pos > c->from ? c->pos : c->from;
}

uint64_t ifs_gz_cursor_restarts(const ifs_gz_cursor *c)
{
	return c->restarts;
}

/* Reads n bytes at file offset off; -EIO if the file ends first. */
static int read_exact(ifs_gz_cursor *c, uint8_t *buf, size_t n, uint64_t off, ifs_err *err)
{
	ssize_t r = ifs_source_pread(c->src, buf, n, off, err);
	if (r < 0)
		return (int)r;
	if ((size_t)r < n)
		return ifs_err_set(err, EIO, "%s: checkpoint at compressed offset %llu "
				   "is past the end of the file", c->name, (unsigned long long)off);
	return 0;
}

/*
 * Starts the input at cp's entry. ISA-L must read the block's header before
 * the entry's symbols, so the input begins with a prefix: the header's bits
 * (from in_bit), placed so that they end at the entry bit's position within
 * its byte, followed by that byte's bits from the entry bit on; the file's
 * bytes follow from the next byte on, as they are. The bits of the prefix's
 * first byte before the header go unread (primed into read_in, as at a
 * boundary).
 */
static int enter(ifs_gz_cursor *c, const ifs_gz_checkpoint *cp, ifs_err *err)
{
	uint32_t h = cp->hdr_bits;
	if (h < 3 || h > IFS_GZ_HDR_BITS_MAX || cp->entry_bit < cp->in_bit + h)
		return ifs_err_set(err, EIO, "%s: bad checkpoint entry at offset %llu "
				   "(index corrupt?)", c->name, (unsigned long long)cp->from);
	uint8_t hdr[IFS_GZ_HDR_BITS_MAX / 8 + 3], pre[IFS_GZ_HDR_BITS_MAX / 8 + 3];
	uint64_t h0 = cp->in_bit >> 3;
	size_t hn = (size_t)(((cp->in_bit & 7) + h + 7) >> 3);
	uint64_t ebyte = cp->entry_bit >> 3;
	unsigned a = (unsigned)(cp->entry_bit & 7);
	int rc = read_exact(c, hdr, hn, h0, err);
	uint8_t eb = 0;
	if (!rc && a)
		rc = read_exact(c, &eb, 1, ebyte, err);
	if (rc)
		return rc;
	unsigned s0 = (a + 8 - (h & 7)) & 7;       /* s0 + h == a (mod 8) */
	size_t plen = (s0 + h + 7) / 8; /* the last: the header's end, the entry byte's bits */
	memset(pre, 0, plen);
	for (uint32_t i = 0; i < h; i++) {
		uint64_t sb = (cp->in_bit & 7) + i, db = s0 + i;
		pre[db >> 3] |= (uint8_t)(((hdr[sb >> 3] >> (sb & 7)) & 1u) << (db & 7));
	}
	if (a)
		pre[plen - 1] |= (uint8_t)(eb & (0xffu << a));
	/* the file from the byte after the prefix's last one */
	uint64_t next = a ? ebyte + 1 : ebyte;
	gzi_in_preload(&c->r, pre, plen, next);
	if (s0) {
		uint8_t b;
		if ((rc = gzi_in_byte(&c->r, &b, err)) < 0)
			return rc;
		c->st.read_in = (uint64_t)(b >> s0);
		c->st.read_in_length = (int32_t)(8 - s0);
	}
	return 0;
}

/* Starts the input at cp's block boundary. */
static int boundary(ifs_gz_cursor *c, const ifs_gz_checkpoint *cp, ifs_err *err)
{
	gzi_in_seek(&c->r, cp->in_bit >> 3);
	unsigned bits = (unsigned)(cp->in_bit & 7);
	if (bits) {
		/* Leftover high bits of the first byte go into ISA-L's bit buffer. */
		uint8_t b;
		int rc = gzi_in_byte(&c->r, &b, err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return ifs_err_set(err, EIO, "%s: checkpoint at compressed offset %llu "
					   "is past the end of the file", c->name,
					   (unsigned long long)(cp->in_bit >> 3));
		c->st.read_in = (uint64_t)(b >> bits);
		c->st.read_in_length = (int32_t)(8 - bits);
	}
	return 0;
}

int ifs_gz_cursor_start(ifs_gz_cursor *c, const ifs_gz_checkpoint *cp, uint64_t in_end,
			ifs_err *err)
{
	size_t dlen = 0;
	c->valid = 0;
	if (!cp || cp->out > cp->from)
		return ifs_err_set(err, EINVAL, "%s: no checkpoint to start at", c->name);
	c->r.stop = 0;
	if (in_end) {   /* the bytes ahead, in the order they are read */
		in_end += IN_END_PAD;
		if (in_end > ifs_source_size(c->src))
			in_end = ifs_source_size(c->src);
		uint64_t first = cp->in_bit >> 3, body = cp->entry_bit ? cp->entry_bit >> 3 : first;
		uint64_t hend = first + (cp->hdr_bits + (cp->in_bit & 7) + 7) / 8;
		if (cp->entry_bit && body > hend + GAP_MAX)
			ifs_source_hint(c->src, first, hend - first);
		else
			body = first;   /* header and body in one range: one request */
		if (in_end > body)
			ifs_source_hint(c->src, body, in_end - body);
		/* reads stop at in_end (a read past it would be a second request) */
		c->r.stop = in_end;
	}
	if (cp->window_len && ifs_gz_window_decode(cp->window, cp->window_len, c->dict, &dlen) < 0)
		return ifs_err_set(err, EIO, "%s: bad checkpoint window at offset %llu "
				   "(index corrupt?)", c->name, (unsigned long long)cp->out);
	isal_inflate_init(&c->st);
	c->st.crc_flag = ISAL_DEFLATE;
	if (dlen && isal_inflate_set_dict(&c->st, c->dict, (uint32_t)dlen) != COMP_OK)
		return ifs_err_set(err, EIO, "%s: cannot set inflate dictionary", c->name);
	int rc = cp->entry_bit ? enter(c, cp, err) : boundary(c, cp, err);
	if (rc < 0)
		return rc;
	c->pos = cp->entry_bit ? cp->from : cp->out;
	c->from = cp->from;
	c->at_end = 0;
	c->crc_valid = cp->window_len == 0;
	c->crc = 0;
	c->msize = 0;
	c->restarts++;
	c->valid = 1;
	return 0;
}

/* The current member's deflate data ended: trailer, then the next header. */
static int member_end(ifs_gz_cursor *c, ifs_err *err)
{
	/* Whole bytes still in ISA-L's bit buffer belong to the trailer. */
	size_t back = (size_t)(c->st.read_in_length > 0 ? c->st.read_in_length / 8 : 0);
	if (back > c->r.pos)
		return ifs_err_set(err, EIO, "%s: internal error at member end", c->name);
	c->r.pos -= back;
	uint64_t tpos = gzi_in_tell(&c->r);
	uint32_t tcrc, tsize;
	int rc = gzi_read_trailer(&c->r, &tcrc, &tsize, err);
	if (rc < 0)
		return rc;
	if (c->crc_valid && (tcrc != c->crc || tsize != (uint32_t)c->msize))
		return ifs_err_set(err, EIO, "%s: CRC-32 or size mismatch in the gzip trailer "
				   "at offset %llu", c->name, (unsigned long long)tpos);
	rc = gzi_read_header(&c->r, 0, err);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		c->at_end = 1;
		return 0;
	}
	isal_inflate_init(&c->st);
	c->st.crc_flag = ISAL_DEFLATE;
	c->crc_valid = 1;
	c->crc = 0;
	c->msize = 0;
	return 0;
}

/* Decodes up to n bytes into dst; returns the count (short only at the end
 * of the stream) or a negative errno. */
static ssize_t produce(ifs_gz_cursor *c, uint8_t *dst, size_t n, ifs_err *err)
{
	size_t done = 0;
	int drain = 1;
	while (done < n && !c->at_end) {
		/* ISA-L takes input ahead of the output it gives and keeps what it
		 * decoded: that is given out before more is read, so that a read
		 * never fetches bytes its output does not need */
		if (c->r.pos == c->r.len && !drain) {
			drain = 1;
			ssize_t got = gzi_in_fill(&c->r, err);
			if (got < 0)
				return got;
			if (got == 0)
				return ifs_err_set(err, EIO, "%s: truncated: unexpected end of file "
						   "at offset %llu inside deflate data", c->name,
						   (unsigned long long)gzi_in_tell(&c->r));
		}
		size_t want = n - done;
		if (want > UINT32_MAX)
			want = UINT32_MAX;
		c->st.next_in = c->r.buf + c->r.pos;
		c->st.avail_in = (uint32_t)(c->r.len - c->r.pos);
		c->st.next_out = dst + done;
		c->st.avail_out = (uint32_t)want;
		int ret = isal_inflate(&c->st);
		c->r.pos = (size_t)(c->st.next_in - c->r.buf);
		size_t got = want - c->st.avail_out;
		if (got == 0 && c->r.pos == c->r.len)
			drain = 0;   /* nothing held: read more */
		if (ret != ISAL_DECOMP_OK)
			return ifs_err_set(err, EIO, "%s: corrupt deflate data near compressed "
					   "offset %llu (ISA-L error %d)", c->name,
					   (unsigned long long)gzi_in_tell(&c->r), ret);
		if (c->crc_valid)
			c->crc = ifs_crc32(c->crc, dst + done, got);
		c->msize += got;
		done += got;
		c->pos += got;
		if (c->st.block_state == ISAL_BLOCK_FINISH) {
			int rc = member_end(c, err);
			if (rc < 0)
				return rc;
		}
	}
	return (ssize_t)done;
}

ssize_t ifs_gz_cursor_read(ifs_gz_cursor *c, uint64_t off, uint8_t *buf, size_t len,
			   ifs_err *err)
{
	int rc;
	/* the state is exact wherever a read stopped (never before `from`) */
	if (!c->valid || off < c->pos || off < c->from)
		return ifs_err_set(err, EINVAL, "%s: the cursor cannot go on to offset %llu "
				   "(start it at a checkpoint first)", c->name,
				   (unsigned long long)off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (c->pos < off) {
		uint64_t gap = off - c->pos;
		size_t n = gap < SCRATCH ? (size_t)gap : SCRATCH;
		ssize_t got = produce(c, c->scratch, n, err);
		if (got < 0) {
			rc = (int)got;
			goto fail;
		}
		if ((size_t)got < n)
			return 0; /* off is past the end */
	}
	ssize_t got = produce(c, buf, len, err);
	if (got < 0) {
		rc = (int)got;
		goto fail;
	}
	return got;
fail:
	c->valid = 0; /* never continue from a state that saw an error */
	return rc;
}

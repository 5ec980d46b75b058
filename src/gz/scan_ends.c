/*
 * scan_ends.c - where a member's compressed bytes end, exactly (gz.h,
 * ifs_gz_want_end). A reader of a member fetches the compressed bytes from
 * its checkpoint to that end in one request; the block boundary after the
 * member would serve too, but lies half a block further on average (about
 * 16 KB on JPEG data, where a block outputs about 32 KiB).
 *
 * The consumer asks for an end while the data before it is delivered, so
 * the scan learns of it before it reaches the boundary after it. There, the
 * block that holds the end (from the previous boundary, `cur`) is decoded
 * again from its header up to the end: counting output only, so the window
 * before the block is not needed (copies from it read zeros here); the
 * chunked scan's recorded copies mostly spare that decoding (from_copies).
 * Both drivers report boundaries through gzi_scan_boundary and
 * gzi_scan_member_end, so both give the same ends (test_gz checks).
 */
#include "gz_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An end further into a block than this, or a block longer than this in
 * input, is not looked for: the boundary serves (honest deflate blocks are
 * far shorter). */
#define END_BLOCK_MAX (4u << 20)

void ifs_gz_want_end(ifs_gz_scan *s, uint64_t end)
{
	if (end < s->pos && end <= s->cur)
		return;   /* behind the latest boundary: nothing to find */
	if (s->nend > s->end_head && end <= s->ends[s->nend - 1])
		return;   /* in order only (ends of members come in order) */
	if (s->nend == s->end_cap) {
		if (s->end_head) {
			memmove(s->ends, s->ends + s->end_head,
				(s->nend - s->end_head) * sizeof *s->ends);
			s->nend -= s->end_head;
			s->end_head = 0;
		}
		if (s->nend == s->end_cap) {
			size_t cap = s->end_cap ? s->end_cap * 2 : 64;
			uint64_t *p = realloc(s->ends, cap * sizeof *p);
			if (!p) {
				s->want_oom = 1;   /* reported by the scan loop */
				return;
			}
			s->ends = p;
			s->end_cap = cap;
		}
	}
	s->ends[s->nend++] = end;
}

static int fit(uint8_t **p, size_t *cap, size_t want)
{
	if (want <= *cap)
		return 0;
	uint8_t *q = realloc(*p, want);
	if (!q)
		return -1;
	*p = q;
	*cap = want;
	return 0;
}

/* Is the end n bytes into the block at bit `bit` (its bits before `limit`)
 * left to the boundary? (END_BLOCK_MAX) */
static int too_long(uint64_t bit, uint64_t n, uint64_t limit)
{
	uint64_t first = bit >> 3, last = (limit + 7) >> 3;
	return last <= first || last - first > END_BLOCK_MAX || n > END_BLOCK_MAX;
}

/*
 * The byte after the symbol of the block at bit `bit` that outputs its
 * n-th byte (n >= 1), the block's bits lying before bit `limit`. 1 and
 * *end, 0 where it cannot be told (the block is too long, or does not
 * decode as the scan decoded it), or a negative errno (the source).
 */
static int block_prefix_end(ifs_gz_scan *s, uint64_t bit, uint64_t n, uint64_t limit,
			    uint64_t *end)
{
	uint64_t first = bit >> 3, last = (limit + 7) >> 3;
	if (too_long(bit, n, limit))
		return 0;
	size_t in_len = (size_t)(last - first), out_cap = GZI_WSIZE + (size_t)n + 258;
	if (!s->ed && !(s->ed = calloc(1, sizeof *s->ed)))
		return -ENOMEM;
	if (fit(&s->ein, &s->ein_cap, in_len + GZI_DEC_PAD) < 0 ||
	    fit(&s->eout, &s->eout_cap, out_cap + GZI_DEC_SLACK) < 0)
		return -ENOMEM;
	ssize_t got = ifs_source_pread(s->src, s->ein, in_len, first, s->err);
	if (got < 0)
		return (int)got;
	if ((size_t)got != in_len)
		return 0;
	memset(s->ein + in_len, 0, GZI_DEC_PAD);
	gzi_dec *d = s->ed;
	/* copies from before the block read zeros: only the count matters */
	memset(s->eout, 0, GZI_WSIZE);
	d->in = s->ein;
	d->in_len = in_len;
	d->in_off = first;
	d->ip = 0;
	d->in_eof = 1;
	d->out = s->eout;
	d->out16 = NULL;
	d->op = GZI_WSIZE;
	d->hist = 0;
	d->cap = out_cap;
	d->stop = GZI_WSIZE + (size_t)n;
	d->stop_bit = UINT64_MAX;
	d->m = NULL;
	d->nm = d->m_cap = 0;
	gzi_dec_start(d, (unsigned)(bit & 7));
	int dr = gzi_dec_run(d);
	if (dr != GZI_D_LIMIT || d->op < d->stop)
		return 0;
	uint64_t b = gzi_dec_bit(d);
	if (b > limit)
		return 0;
	*end = (b + 7) >> 3;
	return 1;
}

/*
 * The same from the chunked scan's copies (s->copies, when they cover the
 * block up to end): the symbol that outputs byte end - 1 is a recorded
 * copy, whose bit after it is known, or a literal, and then the symbols
 * since the last copy (or the block's header) are all literals, decoded
 * here with the block's code just to count their bits. 1 and *end, 0 where
 * it cannot be told this way, or a negative errno.
 */
static int from_copies(ifs_gz_scan *s, uint64_t e, uint64_t limit, uint64_t *end)
{
	const gzi_copies *c = s->copies;
	if (!c || c->from > s->cur || c->to < e || too_long(s->cur_bit, e - s->cur, limit))
		return 0;   /* (the same blocks as block_prefix_end: the same ends) */
	size_t lo = 0, hi = c->n;
	while (lo < hi) {   /* the first copy that starts at or after e */
		size_t mid = lo + (hi - lo) / 2;
		if (c->base + c->m[mid].at < e)
			lo = mid + 1;
		else
			hi = mid;
	}
	const gzi_match *m = lo && c->base + c->m[lo - 1].at >= s->cur ? &c->m[lo - 1] : NULL;
	if (m && c->base + m->at + m->len >= e) {
		*end = (m->bit + 7) >> 3;
		return *end <= (limit + 7) >> 3;
	}
	/* literals from the last copy, or from the block's header, to e */
	size_t n = IFS_GZ_HDR_BITS_MAX / 8 + 2;
	uint64_t first = s->cur_bit >> 3, lim = (limit + 7) >> 3;
	if (lim <= first)
		return 0;
	if (n > lim - first)
		n = (size_t)(lim - first);
	if (!s->ed && !(s->ed = calloc(1, sizeof *s->ed)))
		return -ENOMEM;
	if (fit(&s->ein, &s->ein_cap, n + GZI_DEC_PAD) < 0)
		return -ENOMEM;
	ssize_t got = ifs_source_pread(s->src, s->ein, n, first, s->err);
	if (got < 0)
		return (int)got;
	memset(s->ein + got, 0, GZI_DEC_PAD);
	gzi_dec *d = s->ed;
	if (gzi_dec_header(d, s->ein, (size_t)got, (unsigned)(s->cur_bit & 7)) < 0 || d->btype == 0)
		return 0;
	uint64_t x_out = m ? c->base + m->at + m->len : s->cur;
	uint64_t x_bit = m ? m->bit : s->cur_bit + d->hdr_bits;
	uint64_t lits = e - x_out;
	if (lits > END_BLOCK_MAX || x_bit >= limit)
		return 0;
	/* a literal's code takes 15 bits at most */
	n = (size_t)lits * 2 + 16;
	if (n > lim - (x_bit >> 3))
		n = (size_t)(lim - (x_bit >> 3));
	if (fit(&s->ein, &s->ein_cap, n + GZI_DEC_PAD) < 0)
		return -ENOMEM;
	if ((got = ifs_source_pread(s->src, s->ein, n, x_bit >> 3, s->err)) < 0)
		return (int)got;
	memset(s->ein + got, 0, GZI_DEC_PAD);
	uint64_t used;
	if (gzi_dec_literals(d, s->ein, (size_t)got, (unsigned)(x_bit & 7), (size_t)lits,
			     &used) != 1 || x_bit + used > limit)
		return 0;
	*end = (x_bit + used + 7) >> 3;
	return 1;
}

int gzi_scan_settle_ends(ifs_gz_scan *s, uint64_t limit)
{
	uint64_t b = s->pos;
	while (s->end_head < s->nend && s->ends[s->end_head] <= b) {
		uint64_t e = s->ends[s->end_head++];
		if (e == b || e <= s->cur || !s->o->on_boundary)
			continue;   /* the boundary at b (or before) is exact */
		uint64_t in_end = 0;
		int rc = from_copies(s, e, limit, &in_end);
		if (rc == 0)
			rc = block_prefix_end(s, s->cur_bit, e - s->cur, limit, &in_end);
		if (rc < 0)
			return rc == -ENOMEM ? ifs_err_set(s->err, ENOMEM, "%s: out of memory", s->name)
					     : rc;
		if (rc == 1 && (rc = s->o->on_boundary(s->o->ctx, e, in_end)))
			return rc;
	}
	return 0;
}

void gzi_scan_ends_free(ifs_gz_scan *s)
{
	free(s->ends);
	free(s->ed);
	free(s->ein);
	free(s->eout);
}

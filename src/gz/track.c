/*
 * track.c - sparse windows for the chunked scan: the same result as
 * gzi_sparse_build (sparse.c, the reference), from the table decoder of
 * inflate*.c instead of the bit-by-bit one. It decodes from the checkpoint's
 * boundary with the exact window in front, into bytes (so the output before
 * `from` is simply there), records every copy, and stops where the
 * reference stops: at the first symbol that starts skip + 32 KiB after the
 * boundary (the copy that crosses it counts whole; a stored block is cut
 * there), or at the end of the gzip member. The entry is the bit where a
 * symbol of the first block (not a stored one) starts exactly at skip: the
 * decoder is first told to stop there.
 *
 * Then, from the copies alone (literals copy nothing): each output byte's
 * root (the window byte it copies, through copies of copies), the window
 * bytes the output from skip on reaches through them (need), and those it
 * reads directly, output before skip included (need2).
 *
 * A worker thread keeps its buffers from one checkpoint to the next (a
 * checkpoint comes every ~300 KB of JPEG data); roots carry the number of
 * the call that wrote them, so they need no clearing.
 */
#include "gz_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOROOT UINT32_MAX
#define IN_MORE (64u * 1024)

struct gzi_track_ws {
	gzi_dec d;
	uint8_t *out, *need2, *in;
	size_t out_cap, need2_cap, in_cap;
	uint64_t *root;          /* call number << 32 | root */
	size_t root_cap;
	gzi_match *m;
	size_t m_cap;
	uint32_t gen;
	uint8_t need[GZI_WSIZE];
};

gzi_track_ws *gzi_track_ws_new(void)
{
	gzi_track_ws *ws = malloc(sizeof *ws);
	if (ws) {
		memset(ws, 0, offsetof(gzi_track_ws, d.lt));
		memset(&ws->out, 0, sizeof *ws - offsetof(gzi_track_ws, out));
	}
	return ws;
}

void gzi_track_ws_free(gzi_track_ws *ws)
{
	if (!ws)
		return;
	free(ws->out);
	free(ws->need2);
	free(ws->in);
	free(ws->root);
	free(ws->m);
	free(ws);
}

static int fit(void **p, size_t *cap, size_t want, size_t elem)
{
	if (want <= *cap)
		return 0;
	void *q = realloc(*p, want * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = want;
	return 0;
}

typedef struct rd {
	ifs_source *src;
	uint64_t start;      /* the checkpoint's first byte */
	size_t in_max;
	size_t cap;          /* bytes of ws->in this call uses */
	int soft;            /* input stopped at in_max, not at the file's end */
} rd;

/* More input for d: keeps in[ip..), reads up to in_max bytes from start. */
static int more(rd *t, gzi_track_ws *ws, ifs_err *err)
{
	gzi_dec *d = &ws->d;
	memmove(ws->in, ws->in + d->ip, d->in_len - d->ip);
	d->in_off += d->ip;
	d->in_len -= d->ip;
	d->ip = 0;
	uint64_t read_to = d->in_off + d->in_len;
	size_t room = t->cap - d->in_len;
	uint64_t left = t->start + t->in_max - read_to;
	if (room > left)
		room = (size_t)left;
	if (room == 0) {
		t->soft = 1;
		d->in_eof = 1;
	}
	if (room > 0) {
		ssize_t n = ifs_source_pread(t->src, ws->in + d->in_len, room, read_to, err);
		if (n < 0)
			return (int)n;
		if (n == 0)
			d->in_eof = 1;
		d->in_len += (size_t)n;
	}
	memset(ws->in + d->in_len, 0, GZI_DEC_PAD);
	d->in = ws->in;
	return 0;
}

/* A new generation of ws->root: roots set by earlier calls read as unset
 * without clearing the table (it is cleared once when the count wraps). */
static void next_gen(gzi_track_ws *ws)
{
	if (++ws->gen == 0) {
		memset(ws->root, 0, ws->root_cap * sizeof *ws->root);
		ws->gen = 1;
	}
}

/*
 * One copy of len bytes from dist back, its first byte at output index at
 * (counted from out): each byte's root is the window byte it comes from, if
 * any (root[] of this generation), and from skip on the bytes it reads are
 * marked: the window bytes in need, the window and pre-from output bytes in
 * need2 (counted from the window's first byte).
 */
static inline void follow_copy(gzi_track_ws *ws, size_t at, size_t dist, size_t len,
			       size_t wlen, size_t skip, uint8_t *need, uint8_t *need2)
{
	uint64_t gen = (uint64_t)ws->gen << 32, *root = ws->root;
	for (size_t k = 0; k < len; k++, at++) {
		size_t src = at + wlen - dist;
		uint32_t r = NOROOT;
		if (src < wlen)
			r = (uint32_t)src;
		else if ((root[src - wlen] & ~(uint64_t)UINT32_MAX) == gen)
			r = (uint32_t)root[src - wlen];
		root[at] = gen | r;
		if (at < skip)
			continue;
		if (r != NOROOT)
			need[r] = 1;
		if (src < wlen + skip)
			need2[src] = 1;
	}
}

static int track(gzi_track_ws *ws, ifs_source *in, ifs_gz_checkpoint *cp,
		 const uint8_t *win, size_t wlen, uint32_t entry_price, ifs_err *err)
{
	const char *name = ifs_source_name(in);
	size_t skip = (size_t)(cp->from - cp->out);
	rd t = { .src = in, .start = cp->in_bit >> 3, .in_max = GZI_SPARSE_IN_MAX(skip) };
	size_t ocap = GZI_WSIZE + skip + GZI_OUTMAX;
	/* JPEG-like data needs about as many bytes in as out; more come as needed */
	t.cap = skip + GZI_WSIZE + IN_MORE;
	if (t.cap > t.in_max)
		t.cap = t.in_max;
	size_t roots = ws->root_cap;
	if (fit((void **)&ws->out, &ws->out_cap, ocap + GZI_DEC_SLACK, 1) < 0 ||
	    fit((void **)&ws->need2, &ws->need2_cap, wlen + skip, 1) < 0 ||
	    fit((void **)&ws->in, &ws->in_cap, t.cap + GZI_DEC_PAD, 1) < 0 ||
	    fit((void **)&ws->root, &ws->root_cap, skip + GZI_OUTMAX, sizeof *ws->root) < 0 ||
	    fit((void **)&ws->m, &ws->m_cap, 1024, sizeof *ws->m) < 0)
		return -ENOMEM;
	/* new roots hold call number 0: none */
	memset(ws->root + roots, 0, (ws->root_cap - roots) * sizeof *ws->root);
	gzi_dec *d = &ws->d;
	uint8_t *out = ws->out, *need = ws->need, *need2 = ws->need2;
	memset(need, 0, wlen);
	memset(need2, 0, wlen + skip);
	memcpy(out + GZI_WSIZE - wlen, win, wlen);
	d->out = out;
	d->op = GZI_WSIZE;
	d->hist = GZI_WSIZE - wlen;
	d->cap = ocap;
	d->stop_bit = UINT64_MAX;
	d->m = ws->m;
	d->m_cap = ws->m_cap;
	d->nm = 0;
	d->in = ws->in;
	d->in_off = t.start;
	d->in_len = d->ip = 0;
	d->in_eof = 0;
	int rc = more(&t, ws, err);
	if (rc < 0)
		return rc;
	if (d->in_len == 0)
		return ifs_err_set(err, EIO, "%s: checkpoint at compressed offset %llu is past the "
				   "end of the file", name, (unsigned long long)t.start);
	gzi_dec_start(d, (unsigned)(cp->in_bit & 7));
	/* first to skip (the entry), then to skip + 32 KiB */
	uint64_t entry = 0;
	uint32_t hdr = 0;
	int first = 1, ended = 0, fallback = 0;
	rc = 0;
	for (int phase = skip ? 0 : 1; phase < 2 && !ended && !fallback && !rc; phase++) {
		d->stop = GZI_WSIZE + skip + (phase ? GZI_WSIZE : 0);
		for (;;) {
			int dr = gzi_dec_run(d);
			if (dr == GZI_D_NEED) {
				if ((rc = more(&t, ws, err)) < 0)
					break;
				continue;
			}
			if (dr == GZI_D_FULL && d->nm == d->m_cap) {
				/* more copies than room: JPEG data has few, text many */
				if (fit((void **)&ws->m, &ws->m_cap, 2 * ws->m_cap, sizeof *ws->m) < 0) {
					rc = -ENOMEM;
					break;
				}
				d->m = ws->m;
				d->m_cap = ws->m_cap;
				continue;
			}
			if (dr == GZI_D_BLOCK) {
				first = 0;
				continue;
			}
			if (dr == GZI_D_LIMIT) {
				if (phase == 0 && first && d->btype != 0 && d->op == GZI_WSIZE + skip) {
					entry = gzi_dec_bit(d);
					hdr = d->hdr_bits;
				}
				break;
			}
			if (dr == GZI_D_END) {
				ended = 1;
				break;
			}
			if (dr == GZI_D_TRUNC && t.soft) {
				/* more input than honest data needs: keep the whole window */
				fallback = 1;
				break;
			}
			rc = ifs_err_set(err, EIO, "%s: corrupt deflate data after compressed offset "
					 "%llu: %s", name, (unsigned long long)t.start,
					 dr == GZI_D_TRUNC ? "unexpected end of file"
					 : dr == GZI_D_ERR ? d->why : "internal error");
			break;
		}
	}
	if (rc < 0)
		return rc;
	if (fallback) {
		memset(need, 1, wlen);
		entry = 0;
	} else {
		next_gen(ws);
		const gzi_match *m = ws->m;
		for (size_t i = 0; i < d->nm; i++)
			follow_copy(ws, m[i].at - GZI_WSIZE, m[i].dist, m[i].len, wlen, skip, need,
				    need2);
	}
	if (gzi_sparse_finish(cp, win, wlen, skip, need, out + GZI_WSIZE, need2, entry, hdr,
			      entry_price) < 0)
		return -ENOMEM;
	return 0;
}

int gzi_track_build(void *wsp, ifs_source *src, ifs_gz_checkpoint *cp,
		    const uint8_t *win, size_t wlen, uint32_t entry_price, ifs_err *err)
{
	const char *name = ifs_source_name(src);
	int pr = gzi_sparse_begin(cp, wlen, name, err);
	if (pr <= 0)
		return pr;
	gzi_track_ws *ws = wsp ? wsp : gzi_track_ws_new();
	int rc = ws ? track(ws, src, cp, win, wlen, entry_price, err) : -ENOMEM;
	if (!wsp)
		gzi_track_ws_free(ws);
	if (rc == -ENOMEM)
		return ifs_err_set(err, ENOMEM, "%s: out of memory building a sparse window", name);
	return rc;
}


/*
 * The entry from the copies: a symbol of the first block (not a stored
 * one) that starts exactly at skip. If a copy runs across skip there is
 * none; else the symbols between the last copy before skip (or the block's
 * header) and skip are literals, decoded here with the block's code just
 * to count their bits. Returns 0 (*entry set or 0) or a negative errno.
 */
static int entry_from_copies(gzi_track_ws *ws, ifs_source *src, gzi_job *j, size_t skip,
			     uint64_t *entry, uint32_t *hdr)
{
	const ifs_gz_checkpoint *cp = &j->cp;
	uint64_t x_out = 0, x_bit = 0;
	for (size_t i = 0; i < j->nc && j->c[i].at < skip; i++) {
		if (j->c[i].at + j->c[i].len > skip)
			return 0;   /* a copy across skip */
		x_out = j->c[i].at + j->c[i].len;
		x_bit = j->c[i].bit;
	}
	size_t n = IFS_GZ_HDR_BITS_MAX / 8 + 2;
	if (fit((void **)&ws->in, &ws->in_cap, n + GZI_DEC_PAD, 1) < 0)
		return -ENOMEM;
	ssize_t got = ifs_source_pread(src, ws->in, n, cp->in_bit >> 3, &j->err);
	if (got < 0)
		return (int)got;
	gzi_dec *d = &ws->d;
	if (gzi_dec_header(d, ws->in, (size_t)got, (unsigned)(cp->in_bit & 7)) < 0 || d->btype == 0)
		return 0;
	if (x_out == 0)
		x_bit = cp->in_bit + d->hdr_bits;
	*hdr = d->hdr_bits;
	size_t lits = skip - (size_t)x_out;
	if (lits == 0) {
		*entry = x_bit;
		return 0;
	}
	n = lits * 2 + 16;   /* a literal's code takes 15 bits at most */
	if (fit((void **)&ws->in, &ws->in_cap, n + GZI_DEC_PAD, 1) < 0)
		return -ENOMEM;
	if ((got = ifs_source_pread(src, ws->in, n, x_bit >> 3, &j->err)) < 0)
		return (int)got;
	uint64_t used;
	if (gzi_dec_literals(d, ws->in, (size_t)got, (unsigned)(x_bit & 7), lits, &used) == 1)
		*entry = x_bit + used;
	return 0;
}

static int copies(gzi_track_ws *ws, ifs_source *in, gzi_job *j, uint32_t entry_price)
{
	ifs_gz_checkpoint *cp = &j->cp;
	size_t wlen = j->wlen, skip = (size_t)(cp->from - cp->out);
	size_t end = (size_t)(j->stop - cp->out) + 258, roots = ws->root_cap;
	if (fit((void **)&ws->need2, &ws->need2_cap, wlen + skip, 1) < 0 ||
	    fit((void **)&ws->root, &ws->root_cap, end, sizeof *ws->root) < 0)
		return -ENOMEM;
	memset(ws->root + roots, 0, (ws->root_cap - roots) * sizeof *ws->root);
	uint8_t *need = ws->need, *need2 = ws->need2;
	memset(need, 0, wlen);
	memset(need2, 0, wlen + skip);
	next_gen(ws);
	for (size_t i = 0; i < j->nc; i++)
		follow_copy(ws, j->c[i].at, j->c[i].dist, j->c[i].len, wlen, skip, need, need2);
	uint64_t entry = 0;
	uint32_t hdr = 0;
	int rc = skip ? entry_from_copies(ws, in, j, skip, &entry, &hdr) : 0;
	if (rc < 0)
		return rc;
	if (gzi_sparse_finish(cp, j->win, wlen, skip, need, j->val, need2, entry, hdr,
			      entry_price) < 0)
		return -ENOMEM;
	return 0;
}

int gzi_track_copies(void *wsp, ifs_source *src, gzi_job *j, uint32_t entry_price)
{
	const char *name = ifs_source_name(src);
	gzi_track_ws *ws = wsp ? wsp : gzi_track_ws_new();
	int rc = ws ? copies(ws, src, j, entry_price) : -ENOMEM;
	if (!wsp)
		gzi_track_ws_free(ws);
	if (rc == -ENOMEM)
		return ifs_err_set(&j->err, ENOMEM, "%s: out of memory building a sparse window",
				   name);
	if (rc < 0)
		return ifs_err_sys(&j->err, -rc, "%s: read near compressed offset %llu", name,
				   (unsigned long long)(j->cp.in_bit >> 3));
	return 0;
}

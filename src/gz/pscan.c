/*
 * pscan.c - the chunked scan: the deflate stream decoded on several threads
 * at once, its output handed to scan.c's checkpoint logic in order.
 *
 * The compressed file is cut into chunks (4 MiB). A worker decodes chunk k
 * from the first bit at or after its start where the block finder sees a
 * dynamic block header (trying the next one if decoding from it fails),
 * with the 32 KiB before it unknown: until the last 32 KiB of its output
 * hold no marker it decodes into 16-bit elements (inflate.c's marker mode),
 * then into bytes. It stops at the first block start at or after the
 * chunk's end, and records every block end, gzip member end (the trailer)
 * and member start on the way ("events").
 *
 * The calling thread (the stitcher) knows where the stream stands: the bit
 * P where the next block starts, and the 32 KiB before it. It takes chunk
 * k's output, k the chunk that holds P, only if the worker started exactly
 * at P: deflate decoding from a block start with a known window is
 * deterministic, so that output is the stream's. It replaces the markers
 * with the window's bytes and hands output and events over; P moves to
 * where the chunk stopped. Otherwise (no start found in the chunk, a false
 * start, a chunk cut short because its output grew too big, the first
 * stretch of the file or of a resumed scan) it decodes from P itself, in
 * bytes, up to the first block start past the chunk's end. A false start
 * costs time, never wrong bytes; damage is always met by the stitcher in
 * stream order (a worker that fails gives up, and the stitcher decodes
 * that stretch itself), so errors name the same places as a serial scan.
 *
 * Memory: at most threads + 2 chunks (2 on one thread) are decoded or
 * waiting; a chunk's output is cut at a block boundary past 16 MiB, its
 * marker phase at 2 Mi elements, its events at 128 Ki (the stitcher goes on
 * from there), its copy records stop at 256 Ki, so a chunk holds at most
 * ~28 MB whatever the data (~9 MB on JPEG data).
 */
#include "gz_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_DEFAULT (4u << 20)
#define IN_CAP (1u << 20)
#define OUT_MAX (16u << 20)
#define W16_MAX (2u << 20)
#define EV_MAX (1u << 17)
#define COPY_MAX (1u << 18)   /* copies recorded per chunk (JPEG data: one per ~400 bytes) */
#define STREAM_OUT (1u << 20)
#define CHUNK_PAST (64u << 10) /* a chunk is decoded on to the first block start past its end */
#define MAX_TRIES 64
#define TRY_BUDGET 2      /* failed tries may decode this many chunk sizes of input */

enum { EV_BLOCK, EV_MSTART, EV_MEND };

typedef struct ev {
	uint64_t bit;      /* BLOCK, MSTART: where the next block begins; MEND: the trailer's offset */
	uint32_t at;       /* output index */
	uint32_t kind;
	uint32_t crc, isize;
} ev;

enum { C_FREE, C_BUSY, C_DONE };
enum { R_NONE, R_STOP, R_EOF, R_CUT };

typedef struct chunk {
	int state;
	uint64_t index;
	int res;              /* R_*: how the decoding ended */
	uint64_t start_bit, end_bit;
	uint8_t *ob;          /* output from index GZI_WSIZE (the 32 KiB before are for the window) */
	size_t ob_cap, n_out;
	uint16_t *o16;        /* the marker phase: [GZI_WSIZE, n16); [0, GZI_WSIZE) are the markers */
	size_t o16_cap, n16;
	ev *ev;
	size_t nev, ev_cap;
	gzi_match *m;         /* the copies, for sparse windows (all that start before m_to) */
	size_t nm, m_cap, m_to;
} chunk;

typedef struct pscan {
	ifs_gz_scan *s;
	uint64_t csize, nchunks;
	chunk *c;
	size_t look;
	uint64_t want_from;   /* the stitcher may use chunks from here on */
	uint64_t next;        /* the next chunk for a worker */
	int quit;
	pthread_t *thr;
	int nthr;
	/* the stitcher's own decoding */
	gzi_dec *d;
	gzi_in r;
	uint8_t *obuf;
	uint8_t tail[GZI_WSIZE];   /* the last 32 KiB of output */
} pscan;

static void attach(gzi_dec *d, const gzi_in *r)
{
	d->in = r->buf;
	d->in_len = r->len;
	d->in_off = r->off;
	d->ip = r->pos;
	d->in_eof = r->eof;
}

/* More input for d (which said GZI_D_NEED). Returns 0 or a negative errno. */
static int refill(gzi_dec *d, gzi_in *r, ifs_err *err)
{
	r->pos = d->ip;
	ssize_t n = gzi_in_fill(r, err);
	if (n < 0)
		return (int)n;
	attach(d, r);
	return 0;
}

/* Positions r at file byte `byte` with at least `want` bytes there (or the
 * end of the file). */
static int seek_to(gzi_in *r, uint64_t byte, size_t want, ifs_err *err)
{
	if (byte < r->off || byte > r->off + r->len)
		gzi_in_seek(r, byte);
	else
		r->pos = (size_t)(byte - r->off);
	while (r->len - r->pos < want && !r->eof) {
		ssize_t n = gzi_in_fill(r, err);
		if (n < 0)
			return (int)n;
		if (n == 0 && !r->eof)
			break;
	}
	return 0;
}

/* ---- a worker's chunk -------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t want, size_t elem, size_t max)
{
	if (want <= *cap)
		return 0;
	if (want > max)
		return -1;
	size_t n = *cap ? *cap : want;
	while (n < want)
		n *= 2;
	if (n > max)
		n = max;
	void *q = realloc(*p, n * elem + GZI_DEC_SLACK * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

static int add_ev(chunk *c, int kind, size_t at, uint64_t bit, uint32_t crc, uint32_t isize)
{
	if (c->nev == c->ev_cap && grow((void **)&c->ev, &c->ev_cap, c->nev + 1, sizeof *c->ev,
					EV_MAX) < 0)
		return -1;
	c->ev[c->nev++] = (ev){ bit, (uint32_t)at, (uint32_t)kind, crc, isize };
	return 0;
}

/* Ends the chunk at its last block start (output too big): 0, or -1 if
 * there is none. wide: still in the marker phase. */
static int cut(chunk *c, int wide)
{
	size_t e = c->nev;
	while (e > 0 && c->ev[e - 1].kind == EV_MEND)
		e--;
	if (e == 0)
		return -1;
	c->nev = e;
	c->n_out = c->ev[e - 1].at;
	c->end_bit = c->ev[e - 1].bit;
	if (wide || c->n16 > c->n_out)
		c->n16 = c->n_out;
	while (c->nm && c->m[c->nm - 1].at >= c->n_out)
		c->nm--;
	if (c->m_to > c->n_out)
		c->m_to = c->n_out;
	c->res = R_CUT;
	return 0;
}

/*
 * Decodes chunk c from block start b (marker mode first) up to the first
 * block start at or after stop_bit. Returns 0 (c->res set), or -1: decoding
 * from b failed (a false start, or damage the stitcher will meet).
 */
static int decode_from(pscan *p, chunk *c, gzi_dec *d, gzi_in *r, uint64_t b, uint64_t stop_bit)
{
	ifs_err err;
	ifs_err_clear(&err);
	if (seek_to(r, b >> 3, 1024, &err) < 0 || r->pos >= r->len)
		return -1;
	attach(d, r);
	gzi_dec_start(d, (unsigned)(b & 7));
	c->nev = 0;
	c->n16 = GZI_WSIZE;
	c->n_out = GZI_WSIZE;
	c->m_to = SIZE_MAX;
	d->m = c->m;
	d->m_cap = c->m_cap;
	d->nm = 0;
	d->out16 = c->o16;
	d->out = c->ob;
	d->op = GZI_WSIZE;
	d->hist = 0;
	d->lm = GZI_WSIZE;
	d->cap = c->o16_cap;
	d->stop = SIZE_MAX;
	d->stop_bit = stop_bit;
	int wide = 1, rc;
	for (;;) {
		rc = wide ? gzi_dec_run16(d) : gzi_dec_run(d);
		c->nm = d->nm;
		if (rc == GZI_D_FULL && d->m && d->nm == d->m_cap) {
			/* more copies: grow, or stop recording them (their windows are
			 * then made by decoding again) */
			if (grow((void **)&c->m, &c->m_cap, c->m_cap + 1, sizeof *c->m, COPY_MAX) < 0) {
				c->m_to = d->op;
				d->m = NULL;
			} else {
				d->m = c->m;
				d->m_cap = c->m_cap;
			}
			continue;
		}
		switch (rc) {
		case GZI_D_NEED:
			if (refill(d, r, &err) < 0)
				return -1;
			continue;
		case GZI_D_BLOCK:
			if (add_ev(c, EV_BLOCK, d->op, gzi_dec_bit(d), 0, 0) < 0)
				return cut(c, wide);
			continue;
		case GZI_D_CLEAN:
			/* the rest of the chunk in bytes, with the last 32 KiB as history */
			if (grow((void **)&c->ob, &c->ob_cap, d->op + 4 * GZI_WSIZE, 1,
				 OUT_MAX + GZI_WSIZE) < 0)
				return cut(c, wide);
			for (size_t i = d->op - GZI_WSIZE; i < d->op; i++)
				c->ob[i] = (uint8_t)c->o16[i];
			wide = 0;
			c->n16 = d->op;
			d->out = c->ob;
			d->hist = d->op - GZI_WSIZE;
			d->cap = c->ob_cap;
			continue;
		case GZI_D_FULL:
			if (wide) {
				if (grow((void **)&c->o16, &c->o16_cap, c->o16_cap + 1, sizeof *c->o16,
					 W16_MAX + GZI_WSIZE) < 0) {
					return cut(c, wide);
				}
				d->out16 = c->o16;
				d->cap = c->o16_cap;
			} else {
				if (grow((void **)&c->ob, &c->ob_cap, c->ob_cap + 1, 1,
					 OUT_MAX + GZI_WSIZE) < 0) {
					return cut(c, wide);
				}
				d->out = c->ob;
				d->cap = c->ob_cap;
			}
			continue;
		case GZI_D_STOP:
			if (wide)
				c->n16 = d->op;
			c->n_out = d->op;
			c->end_bit = gzi_dec_bit(d);
			c->res = R_STOP;
			return 0;
		case GZI_D_END: {
			/* the gzip member ends: its trailer, then the next member or the end */
			if (wide) {
				c->n16 = d->op;
				wide = 0;
				if (grow((void **)&c->ob, &c->ob_cap, d->op + 4 * GZI_WSIZE, 1,
					 OUT_MAX + GZI_WSIZE) < 0)
					return cut(c, wide);
				d->out = c->ob;
				d->cap = c->ob_cap;
			}
			gzi_dec_align(d);
			r->pos = d->ip;
			uint64_t tpos = gzi_in_tell(r);
			uint32_t crc, isize;
			if (gzi_read_trailer(r, &crc, &isize, &err) < 0 ||
			    add_ev(c, EV_MEND, d->op, tpos, crc, isize) < 0)
				return -1;
			int h = gzi_read_header(r, 0, &err);
			if (h < 0)
				return -1;
			if (h == 1) {
				c->n_out = d->op;
				c->end_bit = gzi_in_tell(r) * 8;
				c->res = R_EOF;
				return 0;
			}
			if (add_ev(c, EV_MSTART, d->op, gzi_in_tell(r) * 8, 0, 0) < 0)
				return cut(c, wide);
			attach(d, r);
			gzi_dec_start(d, 0);
			d->hist = d->op;   /* a new member: nothing before it may be read */
			continue;
		}
		default:   /* GZI_D_ERR, GZI_D_TRUNC */
			return -1;
		}
	}
}

/* The first candidate block start in [from, to) (file bits), or UINT64_MAX. */
static uint64_t find(gzi_dec *d, gzi_in *r, uint64_t from, uint64_t to)
{
	ifs_err err;
	ifs_err_clear(&err);
	while (from < to) {
		if (seek_to(r, from >> 3, 4096, &err) < 0 || r->pos >= r->len)
			return UINT64_MAX;
		uint64_t base = r->off * 8;
		/* a header can take 640 bytes: look only where all of it is here */
		uint64_t end = r->eof ? (r->off + r->len) * 8
				      : (r->len > 1024 ? (r->off + r->len - 1024) * 8 : base);
		if (end > to)
			end = to;
		if (end <= from)
			return UINT64_MAX;
		uint64_t b = gzi_find_block(d, r->buf, r->len, from - base, end - base);
		if (b != UINT64_MAX)
			return base + b;
		from = end;
	}
	return UINT64_MAX;
}

static void decode_chunk(pscan *p, chunk *c, gzi_dec *d, gzi_in *r)
{
	uint64_t lo = c->index * p->csize * 8, hi = (c->index + 1) * p->csize * 8;
	c->res = R_NONE;
	/* (the output buffer grows as needed, up to OUT_MAX) */
	size_t ob0 = p->csize < (1u << 20) ? (size_t)p->csize : (1u << 20);
	if (grow((void **)&c->o16, &c->o16_cap, 4 * GZI_WSIZE, sizeof *c->o16,
		 W16_MAX + GZI_WSIZE) < 0 ||
	    grow((void **)&c->ob, &c->ob_cap, ob0 + 4 * GZI_WSIZE, 1, OUT_MAX + GZI_WSIZE) < 0 ||
	    grow((void **)&c->m, &c->m_cap, 4096, sizeof *c->m, COPY_MAX) < 0)
		return;
	for (size_t i = 0; i < GZI_WSIZE; i++)
		c->o16[i] = (uint16_t)(GZI_MARK + i);
	/* starts that fail (false ones, or damage) may cost at most a few chunks'
	 * worth of input; then the stitcher decodes the stretch itself */
	uint64_t from = lo, spent = 0;
	for (int tries = 0; tries < MAX_TRIES && spent < TRY_BUDGET * p->csize; tries++) {
		if (__atomic_load_n(&p->quit, __ATOMIC_RELAXED) ||
		    c->index < __atomic_load_n(&p->want_from, __ATOMIC_RELAXED))
			return;   /* nobody needs it any more */
		uint64_t b = find(d, r, from, hi);
		if (b == UINT64_MAX)
			return;
		d->in_off = b >> 3;   /* (where a decoding that fails at once stands) */
		d->ip = d->bitcnt = 0;
		if (decode_from(p, c, d, r, b, hi) == 0) {
			/* room to resolve the markers into */
			if (grow((void **)&c->ob, &c->ob_cap, c->n16, 1, OUT_MAX + GZI_WSIZE) < 0)
				c->res = R_NONE;
			c->start_bit = b;
			return;
		}
		c->res = R_NONE;
		uint64_t at = gzi_dec_bit(d) / 8;
		spent += at > b / 8 ? at - b / 8 : 0;
		from = b + 1;
	}
}

static void *worker(void *arg)
{
	pscan *p = arg;
	ifs_gz_scan *s = p->s;
	gzi_dec *d = malloc(sizeof *d);
	gzi_track_ws *ws = gzi_track_ws_new();
	gzi_in r;
	int ok = d && gzi_in_init(&r, s->src, IN_CAP, NULL) == 0;
	if (d)
		memset(d, 0, offsetof(gzi_dec, lt));
	pthread_mutex_lock(&s->mu);
	while (!p->quit) {
		gzi_job *j = gzi_scan_claim_job(s);
		if (j) {
			pthread_mutex_unlock(&s->mu);
			gzi_scan_run_job(s, j, ws);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		chunk *c = NULL;
		if (p->next < p->want_from)
			p->next = p->want_from;
		if (ok && p->next < p->nchunks && p->next < p->want_from + p->look) {
			c = &p->c[p->next % p->look];
			if (c->state == C_FREE || (c->state == C_DONE && c->index < p->want_from)) {
				c->state = C_BUSY;
				c->index = p->next++;
			} else {
				c = NULL;
			}
		}
		if (!c) {
			pthread_cond_wait(&s->cv_work, &s->mu);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		/* its bytes, and the block it ends in */
		ifs_source_hint(s->src, c->index * p->csize, p->csize + CHUNK_PAST);
		decode_chunk(p, c, d, &r);
		pthread_mutex_lock(&s->mu);
		c->state = c->index < p->want_from ? C_FREE : C_DONE;
		pthread_cond_broadcast(&s->cv_done);
		pthread_cond_broadcast(&s->cv_work);
	}
	pthread_mutex_unlock(&s->mu);
	if (ok)
		gzi_in_free(&r);
	gzi_track_ws_free(ws);
	free(d);
	return NULL;
}

/* ---- the stitcher ------------------------------------------------------ */

/* The window for output from P on: the last min(32 KiB, since the member
 * began) bytes. */
static size_t wlen_now(const ifs_gz_scan *s)
{
	uint64_t since = s->pos - s->mstart;
	return since < GZI_WSIZE ? (size_t)since : GZI_WSIZE;
}

/* Hands chunk c (which starts at P) over. */
static int take(pscan *p, chunk *c)
{
	ifs_gz_scan *s = p->s;
	size_t wl = wlen_now(s);
	uint8_t *ob = c->ob;
	memcpy(ob, p->tail, GZI_WSIZE);
	for (size_t i = GZI_WSIZE; i < c->n16; i++) {
		uint16_t v = c->o16[i];
		if (v < GZI_MARK) {
			ob[i] = (uint8_t)v;
			continue;
		}
		v = (uint16_t)(v - GZI_MARK);
		if (v < GZI_WSIZE - wl)
			return gzi_scan_damaged(s, ifs_err_set(s->err, EIO, "%s: corrupt deflate "
					"data after compressed offset %llu: invalid distance too far "
					"back", s->name, (unsigned long long)(c->start_bit >> 3)), 0,
					IFS_GZ_CORRUPT, c->start_bit >> 3,
					gzi_scan_good_before(s, s->pos + (i - GZI_WSIZE)));
		ob[i] = p->tail[v];
	}
	s->hist = ob;
	s->hbase = s->pos - GZI_WSIZE;
	size_t i = GZI_WSIZE;
	int rc;
	gzi_copies cc = { c->m, c->nm, s->pos - GZI_WSIZE, s->pos,
			  s->pos - GZI_WSIZE + (c->m_to < c->n_out ? c->m_to : c->n_out),
			  s->pos - GZI_WSIZE + c->n_out, c->end_bit };
	if ((rc = gzi_scan_copies_begin(s, &cc)) < 0) {
		rc = ifs_err_set(s->err, ENOMEM, "%s: out of memory", s->name);
		goto out;
	}
	for (size_t k = 0; k < c->nev; k++) {
		const ev *e = &c->ev[k];
		if ((rc = gzi_scan_feed(s, ob + i, e->at - i)) < 0)
			goto out;
		i = e->at;
		if (e->kind == EV_MEND) {
			s->in_now = e->bit;
			rc = gzi_scan_member_end(s, e->crc, e->isize, e->bit);
		} else {
			s->in_now = e->bit >> 3;
			rc = e->kind == EV_BLOCK ? gzi_scan_boundary(s, e->bit, 0)
						 : gzi_scan_member_start(s, e->bit);
		}
		if (rc < 0)
			goto out;
	}
	if ((rc = gzi_scan_feed(s, ob + i, c->n_out - i)) < 0)
		goto out;
	gzi_scan_copies_end(s);
	memcpy(p->tail, ob + c->n_out - GZI_WSIZE, GZI_WSIZE);
	gzi_scan_keep_window(s, s->pos + 1);
	s->hist = p->tail;
	s->hbase = s->pos - GZI_WSIZE;
	return 0;
out:
	s->copies = NULL;   /* (cc goes) */
	return rc;
}

/*
 * Decodes from block start P on the calling thread, with the window known,
 * up to the first block start at or after stop_bit. *next gets where it
 * stopped, or UINT64_MAX at the end of the file.
 */
static int stretch(pscan *p, uint64_t P, uint64_t stop_bit, uint64_t *next)
{
	ifs_gz_scan *s = p->s;
	gzi_dec *d = p->d;
	gzi_in *r = &p->r;
	int rc;
	gzi_scan_no_copies(s);   /* its checkpoints' windows are made by decoding again */
	if ((rc = seek_to(r, P >> 3, 1024, s->err)) < 0)
		return rc;
	if (r->pos >= r->len)
		return gzi_scan_damaged(s, ifs_err_set(s->err, EIO, "%s: truncated: unexpected end "
				"of file at offset %llu inside deflate data", s->name,
				(unsigned long long)(P >> 3)), r->read_failed, IFS_GZ_TRUNCATED,
				P >> 3, gzi_scan_good_truncated(s, s->pos));
	attach(d, r);
	gzi_dec_start(d, (unsigned)(P & 7));
	uint8_t *o = p->obuf;
	memcpy(o, p->tail, GZI_WSIZE);
	d->out = o;
	d->op = GZI_WSIZE;
	d->hist = GZI_WSIZE - wlen_now(s);
	d->cap = GZI_WSIZE + STREAM_OUT;
	d->stop = SIZE_MAX;
	d->stop_bit = stop_bit;
	s->hist = o;
	s->hbase = s->pos - GZI_WSIZE;
	size_t i = GZI_WSIZE;   /* delivered up to here */
	for (;;) {
		int dr = gzi_dec_run(d);
		if (dr != GZI_D_NEED && (rc = gzi_scan_feed(s, o + i, d->op - i)) < 0)
			return rc;
		if (dr != GZI_D_NEED)
			i = d->op;
		switch (dr) {
		case GZI_D_NEED:
			if ((rc = refill(d, r, s->err)) < 0)
				return rc;
			continue;
		case GZI_D_BLOCK:
			s->in_now = gzi_dec_bit(d) >> 3;
			if ((rc = gzi_scan_boundary(s, gzi_dec_bit(d), 0)) < 0)
				return rc;
			continue;
		case GZI_D_FULL: {
			size_t sh = d->op - GZI_WSIZE;
			gzi_scan_keep_window(s, s->pos - GZI_WSIZE);
			memmove(o, o + sh, GZI_WSIZE);
			d->op = i = GZI_WSIZE;
			d->hist = d->hist > sh ? d->hist - sh : 0;
			s->hbase += sh;
			s->in_now = gzi_dec_bit(d) >> 3;
			continue;
		}
		case GZI_D_STOP:
			*next = gzi_dec_bit(d);
			break;
		case GZI_D_END: {
			gzi_dec_align(d);
			r->pos = d->ip;
			uint64_t tpos = gzi_in_tell(r);
			uint32_t crc, isize;
			s->in_now = tpos;
			if ((rc = gzi_read_trailer(r, &crc, &isize, s->err)) < 0)
				return gzi_scan_damaged(s, rc, r->read_failed, IFS_GZ_TRUNCATED,
							gzi_in_tell(r), s->pos);
			if ((rc = gzi_scan_member_end(s, crc, isize, tpos)) < 0)
				return rc;
			if ((rc = gzi_read_header(r, 0, s->err)) < 0)
				return gzi_scan_damaged(s, rc, r->read_failed,
							r->eof && r->pos == r->len ? IFS_GZ_TRUNCATED
							: IFS_GZ_GARBAGE, gzi_in_tell(r), s->pos);
			if (rc == 1) {
				s->res.in_size = gzi_in_tell(r);
				*next = UINT64_MAX;
				break;
			}
			s->in_now = gzi_in_tell(r);
			if ((rc = gzi_scan_member_start(s, gzi_in_tell(r) * 8)) < 0)
				return rc;
			attach(d, r);
			gzi_dec_start(d, 0);
			d->hist = d->op;
			continue;
		}
		case GZI_D_TRUNC:
			return gzi_scan_damaged(s, ifs_err_set(s->err, EIO, "%s: truncated: "
					"unexpected end of file at offset %llu inside deflate data",
					s->name, (unsigned long long)(r->off + r->len)), 0,
					IFS_GZ_TRUNCATED, r->off + r->len,
					gzi_scan_good_truncated(s, s->pos));
		default:
			return gzi_scan_damaged(s, ifs_err_set(s->err, EIO, "%s: corrupt deflate "
					"data near compressed offset %llu: %s", s->name,
					(unsigned long long)(d->err_bit >> 3),
					d->why ? d->why : "invalid data"), 0, IFS_GZ_CORRUPT,
					d->err_bit >> 3, gzi_scan_good_before(s, s->pos));
		}
		break;
	}
	/* the window for what follows */
	size_t keep = d->op < GZI_WSIZE ? d->op : GZI_WSIZE;
	memcpy(p->tail + GZI_WSIZE - keep, o + d->op - keep, keep);
	gzi_scan_keep_window(s, s->pos + 1);
	s->hist = p->tail;
	s->hbase = s->pos - GZI_WSIZE;
	return 0;
}

/* The stitcher moves on to chunk k: older ones are no longer needed. */
static void advance(pscan *p, uint64_t k)
{
	ifs_gz_scan *s = p->s;
	pthread_mutex_lock(&s->mu);
	p->want_from = k;
	for (size_t i = 0; i < p->look; i++)
		if (p->c[i].state == C_DONE && p->c[i].index < k)
			p->c[i].state = C_FREE;
	pthread_cond_broadcast(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
}

static int stitch(pscan *p, uint64_t P)
{
	ifs_gz_scan *s = p->s;
	int rc, own = 1;   /* the first stretch is always the stitcher's own */
	while (P != UINT64_MAX) {
		uint64_t k = (P >> 3) / p->csize, next = UINT64_MAX;
		advance(p, own ? k + 1 : k);
		chunk *c = NULL;
		if (!own) {
			c = &p->c[k % p->look];
			pthread_mutex_lock(&s->mu);
			while (!(c->state == C_DONE && c->index == k))
				pthread_cond_wait(&s->cv_done, &s->mu);
			pthread_mutex_unlock(&s->mu);
			if (c->res != R_NONE && c->start_bit != P)
				s->res.chunks_unjoined++;
			if (c->res == R_NONE || c->start_bit != P)
				c = NULL;
		}
		if (c) {
			s->res.chunks_used++;
			if ((rc = take(p, c)) < 0)
				return rc;
			next = c->end_bit;
			if (c->res == R_EOF) {
				s->res.in_size = next >> 3;
				next = UINT64_MAX;
			}
		} else {
			s->res.chunks_own++;
			if ((rc = stretch(p, P, (k + 1) * p->csize * 8, &next)) < 0)
				return rc;
		}
		P = next;
		own = 0;
	}
	return 0;
}

int gzi_scan_chunked(ifs_gz_scan *s, int threads)
{
	pscan *p = calloc(1, sizeof *p);
	int rc;
	if (!p)
		return ifs_err_set(s->err, ENOMEM, "%s: out of memory", s->name);
	p->s = s;
	p->csize = s->o->chunk_size ? s->o->chunk_size : CHUNK_DEFAULT;
	p->nchunks = (s->in_total + p->csize - 1) / p->csize;
	/* chunks in memory: one per thread, one being handed over, and (from two
	 * threads on) one ready ahead */
	p->look = (size_t)threads + (threads > 1 ? 2 : 1);
	p->c = calloc(p->look, sizeof *p->c);
	p->thr = calloc((size_t)threads, sizeof *p->thr);
	p->d = malloc(sizeof *p->d);
	p->obuf = malloc(GZI_WSIZE + STREAM_OUT + GZI_DEC_SLACK);
	if (!p->c || !p->thr || !p->d || !p->obuf ||
	    gzi_in_init(&p->r, s->src, IN_CAP, s->err) < 0) {
		rc = ifs_err_set(s->err, ENOMEM, "%s: out of memory", s->name);
		goto out;
	}
	memset(p->d, 0, offsetof(gzi_dec, lt));
	uint64_t P;
	const ifs_gz_checkpoint *cp = s->o->resume;
	if (cp) {
		if ((rc = gzi_scan_resume(s, cp, s->o->resume_window)) < 0)
			goto out;
		memcpy(p->tail + GZI_WSIZE - s->cur_wl, s->curwin, s->cur_wl);
		s->hist = p->tail;
		s->hbase = s->pos - GZI_WSIZE;
		P = cp->in_bit;
	} else {
		if ((rc = gzi_read_header(&p->r, 1, s->err)) < 0)
			goto out;
		P = gzi_in_tell(&p->r) * 8;
		s->in_now = P >> 3;
		s->hist = p->tail;
		s->hbase = s->pos - GZI_WSIZE;
		if ((rc = gzi_scan_member_start(s, P)) < 0)
			goto out;
	}
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&p->thr[i], NULL, worker, p) != 0)
			break;
		p->nthr++;
	}
	pthread_mutex_lock(&s->mu);
	s->helpers = p->nthr;
	pthread_mutex_unlock(&s->mu);
	rc = stitch(p, P);
out:
	if (p->nthr) {
		pthread_mutex_lock(&s->mu);
		p->quit = 1;
		pthread_cond_broadcast(&s->cv_work);
		pthread_mutex_unlock(&s->mu);
		for (int i = 0; i < p->nthr; i++)
			pthread_join(p->thr[i], NULL);
		s->helpers = 0;
	}
	if (p->c)
		for (size_t i = 0; i < p->look; i++) {
			free(p->c[i].ob);
			free(p->c[i].o16);
			free(p->c[i].m);
			free(p->c[i].ev);
		}
	gzi_in_free(&p->r);
	free(p->c);
	free(p->thr);
	free(p->d);
	free(p->obuf);
	free(p);
	return rc;
}

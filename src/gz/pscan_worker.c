/*
 * pscan_worker.c - the chunked scan's workers (pscan.c says how the scan
 * works): a worker decodes chunk k from the first bit at or after its start
 * where the block finder sees a dynamic block header, trying the next one
 * if decoding from it fails, in markers and then in bytes, up to the first
 * block start at or after the chunk's end, and records the events on the
 * way. It computes the checkpoints' sparse windows (jobs) first, when
 * there are any. The limits on a chunk's memory (pscan.c's "Memory") are
 * kept here: a chunk whose output, marker phase or events outgrow them is
 * cut at its last block start, and its copy records stop at COPY_MAX.
 */
#include "pscan_int.h"

#include <stdlib.h>
#include <string.h>

#define OUT_MAX (16u << 20)
#define W16_MAX (2u << 20)
#define EV_MAX (1u << 17)
#define COPY_MAX (1u << 18)   /* copies recorded per chunk (few on JPEG data) */
#define CHUNK_PAST (64u << 10) /* a chunk is decoded on to the first block start past its end */
#define MAX_TRIES 64
#define TRY_BUDGET 2      /* failed tries may decode this many chunk sizes of input */

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

void *gzi_pscan_worker(void *arg)
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
		/* its bytes and the block it ends in, and the chunks the others will
		 * take next, at least GZI_SCAN_AHEAD: a remote source has them in
		 * flight while this one decodes (a hint for what is already fetched
		 * or on its way is a no-op) */
		uint64_t ahead = p->look * p->csize;
		if (ahead < GZI_SCAN_AHEAD)
			ahead = GZI_SCAN_AHEAD;
		ifs_source_hint(s->src, c->index * p->csize, ahead + CHUNK_PAST);
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

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
 * ~28 MB whatever the data (less on JPEG data, whose copies are few).
 *
 * This file is the stitcher and the scan's set-up; the workers are
 * pscan_worker.c's.
 */
#include "pscan_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_DEFAULT (4u << 20)
#define STREAM_OUT (1u << 20)

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
	/* its bytes in one read-ahead segment (a remote source), which those
	 * windows and the members' ends read again behind the decoding */
	uint64_t first = P >> 3, last = (stop_bit >> 3) + (64u << 10);
	if (last > first)
		ifs_source_hint(s->src, first, last - first);
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
		if (pthread_create(&p->thr[i], NULL, gzi_pscan_worker, p) != 0)
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

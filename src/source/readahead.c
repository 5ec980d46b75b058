/*
 * readahead.c - a source that fetches hinted ranges ahead of the reader: a
 * hint queues segments of up to RA_SEG bytes (at most IFS_READAHEAD_MAX
 * bytes held per source, in up to RA_SLOTS segments), and a pread copies
 * what it can from them and reads the rest itself. The part of a hinted
 * range that the inner source has at hand (a cache's held bytes: its
 * to_fetch) gets no segment: a pread reads it from there.
 *
 * Who fetches a segment: a pread that wants a queued one fetches it on its
 * own thread (many readers, each with its hinted range: as many requests in
 * flight as readers), and up to RA_THREADS background threads fetch what
 * lies ahead of every reader (a scan streaming through the file). A pread
 * waits only for a segment another thread is fetching.
 *
 * A segment read to its end is freed, unless it is a scan's (RA_KEEP or
 * more: a scan reads block headers again a little behind itself); those are
 * the first to make room: when a new one does not fit, the oldest segments
 * read to their end go, then the oldest finished ones. A segment that could not be fetched is dropped, and the
 * pread that wants it reads it itself (so a read-ahead failure never fails
 * a read on its own).
 */
#include "source_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RA_SEG (8u << 20)
#define RA_SLOTS 64
#define RA_THREADS 8
#define RA_KEEP (1u << 20)   /* a segment this long is kept once read */

enum seg_state { SEG_FREE, SEG_QUEUED, SEG_FETCHING, SEG_DONE, SEG_FAILED };

struct seg {
	enum seg_state st;
	uint64_t off;
	size_t len;
	uint8_t *buf;
	uint64_t seq;   /* order of queueing: the oldest is reclaimed first */
	int spent;      /* read to its end: reclaimed before unread ones */
};

struct ra_source {
	ifs_source base;
	ifs_source *inner;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct seg seg[RA_SLOTS];
	uint64_t held;   /* bytes of the segments not free */
	pthread_t th[RA_THREADS];
	unsigned nth;
	int stop;
	uint64_t seq;
	uint64_t queued;   /* segments queued since open (ifs_readahead_segments) */
};

/* Fetches g (the caller set it SEG_FETCHING) with ra->mu held on entry and
 * on return; the lock is let go meanwhile. */
static void fetch(struct ra_source *ra, struct seg *g)
{
	uint64_t off = g->off;
	size_t len = g->len;
	pthread_mutex_unlock(&ra->mu);
	uint8_t *buf = malloc(len);
	ssize_t n = buf ? ifs_source_pread(ra->inner, buf, len, off, NULL) : -ENOMEM;
	pthread_mutex_lock(&ra->mu);
	if (n == (ssize_t)len) {
		g->buf = buf;
		g->st = SEG_DONE;
	} else {
		free(buf);
		g->st = SEG_FAILED;
	}
	pthread_cond_broadcast(&ra->done);
}

static void *worker(void *arg)
{
	struct ra_source *ra = arg;
	pthread_mutex_lock(&ra->mu);
	for (;;) {
		struct seg *g = NULL;
		for (unsigned i = 0; i < RA_SLOTS; i++)
			if (ra->seg[i].st == SEG_QUEUED && (!g || ra->seg[i].off < g->off))
				g = &ra->seg[i];
		if (ra->stop)
			break;
		if (!g) {
			pthread_cond_wait(&ra->work, &ra->mu);
			continue;
		}
		g->st = SEG_FETCHING;
		fetch(ra, g);
	}
	pthread_mutex_unlock(&ra->mu);
	return NULL;
}

static struct seg *seg_at(struct ra_source *ra, uint64_t pos)
{
	for (unsigned i = 0; i < RA_SLOTS; i++) {
		struct seg *g = &ra->seg[i];
		if (g->st != SEG_FREE && pos >= g->off && pos - g->off < g->len)
			return g;
	}
	return NULL;
}

static void seg_free(struct ra_source *ra, struct seg *g)
{
	free(g->buf);
	g->buf = NULL;
	g->st = SEG_FREE;
	ra->held -= g->len;
}

/* A free slot with room for len more bytes held, made by dropping the
 * oldest spent segments, then the oldest finished ones; NULL when the
 * segments being fetched or waiting leave no room. */
static struct seg *slot(struct ra_source *ra, size_t len)
{
	for (;;) {
		struct seg *free_slot = NULL, *old = NULL;
		for (unsigned i = 0; i < RA_SLOTS; i++) {
			struct seg *g = &ra->seg[i];
			if (g->st == SEG_FREE) {
				if (!free_slot)
					free_slot = g;
			} else if ((g->st == SEG_DONE || g->st == SEG_FAILED) &&
				   (!old || g->spent > old->spent ||
				    (g->spent == old->spent && g->seq < old->seq))) {
				old = g;
			}
		}
		if (free_slot && ra->held + len <= IFS_READAHEAD_MAX)
			return free_slot;
		if (!old)
			return NULL;
		seg_free(ra, old);
	}
}

static void ra_hint(ifs_source *s, uint64_t off, uint64_t len)
{
	struct ra_source *ra = (struct ra_source *)s;
	if (len > IFS_READAHEAD_MAX)
		len = IFS_READAHEAD_MAX;
	/* what the inner source holds at hand (a cache's held bytes) is read
	 * from it where it is wanted, on the reader's thread, with no segment
	 * in between */
	if (ra->inner->ops->to_fetch)
		ra->inner->ops->to_fetch(ra->inner, &off, &len);
	if (len == 0)
		return;
	uint64_t end = off + len;
	pthread_mutex_lock(&ra->mu);
	for (uint64_t p = off; p < end;) {
		struct seg *g = seg_at(ra, p);
		if (g) {
			p = g->off + g->len;
			continue;
		}
		uint64_t stop = end - p > RA_SEG ? p + RA_SEG : end;
		for (unsigned i = 0; i < RA_SLOTS; i++)   /* up to the next segment */
			if (ra->seg[i].st != SEG_FREE && ra->seg[i].off > p && ra->seg[i].off < stop)
				stop = ra->seg[i].off;
		if (!(g = slot(ra, (size_t)(stop - p))))
			break;
		*g = (struct seg){ SEG_QUEUED, p, (size_t)(stop - p), NULL, ++ra->seq, 0 };
		ra->queued++;
		ra->held += g->len;
		p = stop;
		if (ra->nth < RA_THREADS &&
		    pthread_create(&ra->th[ra->nth], NULL, worker, ra) == 0)
			ra->nth++;
	}
	pthread_cond_broadcast(&ra->work);
	pthread_mutex_unlock(&ra->mu);
}

static ssize_t ra_pread(ifs_source *s, void *buf, size_t len, uint64_t off, ifs_err *err)
{
	struct ra_source *ra = (struct ra_source *)s;
	uint64_t pos = off, end = off + len;
	while (pos < end) {
		pthread_mutex_lock(&ra->mu);
		struct seg *g;
		while ((g = seg_at(ra, pos)) && (g->st == SEG_QUEUED || g->st == SEG_FETCHING)) {
			if (g->st == SEG_QUEUED) {   /* wanted now: this thread fetches it */
				g->st = SEG_FETCHING;
				fetch(ra, g);
			} else {
				pthread_cond_wait(&ra->done, &ra->mu);
			}
		}
		if (g && g->st == SEG_DONE) {
			uint64_t gend = g->off + g->len;
			size_t n = (size_t)((end < gend ? end : gend) - pos);
			memcpy((uint8_t *)buf + (pos - off), g->buf + (pos - g->off), n);
			pos += n;
			if (pos == gend) {
				if (g->len >= RA_KEEP)
					g->spent = 1;
				else
					seg_free(ra, g);
			}
			pthread_mutex_unlock(&ra->mu);
			continue;
		}
		if (g)   /* failed: read it here */
			seg_free(ra, g);
		uint64_t stop = end;
		for (unsigned i = 0; i < RA_SLOTS; i++)
			if (ra->seg[i].st != SEG_FREE && ra->seg[i].off > pos && ra->seg[i].off < stop)
				stop = ra->seg[i].off;
		pthread_mutex_unlock(&ra->mu);
		ssize_t n = ifs_source_pread(ra->inner, (uint8_t *)buf + (pos - off),
					     (size_t)(stop - pos), pos, err);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		pos += (uint64_t)n;
	}
	return (ssize_t)(pos - off);
}

static void ra_close(ifs_source *s)
{
	struct ra_source *ra = (struct ra_source *)s;
	pthread_mutex_lock(&ra->mu);
	ra->stop = 1;
	pthread_cond_broadcast(&ra->work);
	pthread_mutex_unlock(&ra->mu);
	for (unsigned i = 0; i < ra->nth; i++)
		pthread_join(ra->th[i], NULL);
	for (unsigned i = 0; i < RA_SLOTS; i++)
		free(ra->seg[i].buf);
	pthread_cond_destroy(&ra->work);
	pthread_cond_destroy(&ra->done);
	pthread_mutex_destroy(&ra->mu);
	ifs_source_close(ra->inner);
	ifs_source_fini(s);
	free(ra);
}

uint64_t ifs_readahead_segments(ifs_source *s)
{
	struct ra_source *ra = (struct ra_source *)s;
	pthread_mutex_lock(&ra->mu);
	uint64_t n = ra->queued;
	pthread_mutex_unlock(&ra->mu);
	return n;
}

static void ra_pass(ifs_source *s)
{
	ifs_source_pass(((struct ra_source *)s)->inner);
}

static const struct ifs_source_ops ra_ops = { ra_pread, ra_hint, ra_close, ra_pass, NULL };

int ifs_readahead_wrap(ifs_source *inner, ifs_source **out, ifs_err *err)
{
	*out = NULL;
	struct ra_source *ra = calloc(1, sizeof *ra);
	int r = ra ? ifs_source_init(&ra->base, &ra_ops, inner->size, inner->identity,
				     inner->name, err) : ifs_err_set(err, ENOMEM, "out of memory");
	if (r) {
		free(ra);
		ifs_source_close(inner);
		return r;
	}
	ra->inner = inner;
	ra->base.has_mtime = inner->has_mtime;
	ra->base.mtime = inner->mtime;
	pthread_mutex_init(&ra->mu, NULL);
	pthread_cond_init(&ra->work, NULL);
	pthread_cond_init(&ra->done, NULL);
	*out = &ra->base;
	return 0;
}

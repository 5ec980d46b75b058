/*
 * scan_copies.c - sparse windows from the chunked scan's copies (contract
 * in gz_internal.h): a checkpoint's job, instead of decoding its stretch
 * again, takes the output before `from` and the copies the chunked scan's
 * decoder recorded (pscan.c) from the checkpoint on, gathered as the chunks
 * that hold them are delivered; the job becomes ready once they all are, or
 * decodes after all where they are not all there.
 */
#include "gz_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define COPY_SKIP_MAX (64u * 1024)   /* the output before `from` a job keeps */

/* Appends the copies of c that start in [from, to) (offsets) to job j. */
static int gather(gzi_job *j, const gzi_copies *c, uint64_t from, uint64_t to)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {   /* the first copy at or after from */
		size_t mid = lo + (hi - lo) / 2;
		if (c->base + c->m[mid].at < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < c->n && c->base + c->m[i].at < to; i++) {
		if (j->nc == j->capc) {
			size_t cap = j->capc ? 2 * j->capc : 256;
			gzi_match *p = realloc(j->c, cap * sizeof *p);
			if (!p)
				return -ENOMEM;
			j->c = p;
			j->capc = cap;
		}
		j->c[j->nc] = c->m[i];
		j->c[j->nc++].at = (uint32_t)(c->base + c->m[i].at - j->cp.out);
	}
	return 0;
}

/* Gives up on j's copies: it decodes instead (under s->mu or not yet queued). */
static void decode_instead(gzi_job *j)
{
	j->from_copies = 0;
	j->ready = 1;
	free(j->val);
	j->val = NULL;
}

/* Job j (just made at cur) takes the output before from and the copies so
 * far, if all of them are there. */
int gzi_scan_from_copies(ifs_gz_scan *s, gzi_job *j)
{
	const gzi_copies *c = s->copies;
	size_t skip = (size_t)(j->cp.from - j->cp.out);
	if (!j->wlen || skip > COPY_SKIP_MAX || j->cp.out < c->from)
		return 0;
	j->stop = j->cp.from + GZI_WSIZE;
	uint64_t upto = j->stop < c->end ? j->stop : c->end;
	if (c->to < upto)
		return 0;   /* the chunk's copies were not all recorded */
	if (skip && !(j->val = malloc(skip)))
		return -ENOMEM;
	if (skip)
		memcpy(j->val, s->hist + (j->cp.out - s->hbase), skip);
	if (gather(j, c, j->cp.out, upto) < 0) {
		decode_instead(j);
		return -ENOMEM;
	}
	j->from_copies = 1;
	j->ready = 0;
	return 0;
}

/* A pending job has all its copies; bound: a bit at or after the end of the
 * reference's decoding. Keeps the copies only if that decoding would read
 * no more than GZI_SPARSE_IN_MAX (else the reference keeps the whole window,
 * and the decoding tracker does the same). Under s->mu. */
void gzi_scan_copies_ready(gzi_job *j, uint64_t bound)
{
	uint64_t start = j->cp.in_bit & ~(uint64_t)7;
	if (bound < start || bound - start > (uint64_t)GZI_SPARSE_IN_MAX(j->cp.from - j->cp.out) * 8)
		decode_instead(j);
	j->bound = bound;
	j->ready = 1;
}

int gzi_scan_copies_begin(ifs_gz_scan *s, const gzi_copies *c)
{
	int rc = 0;
	s->copies = c;
	pthread_mutex_lock(&s->mu);
	for (uint64_t k = s->head; k < s->tail; k++) {
		gzi_job *j = &s->jobs[k % GZI_NJOB];
		if (j->ready)
			continue;
		/* (chunks follow each other: this one begins where its copies go on) */
		uint64_t upto = j->stop < c->end ? j->stop : c->end;
		if (c->to < upto || (rc = gather(j, c, c->from, upto)) < 0)
			decode_instead(j);
	}
	pthread_cond_broadcast(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void gzi_scan_copies_end(ifs_gz_scan *s)
{
	const gzi_copies *c = s->copies;
	pthread_mutex_lock(&s->mu);
	for (uint64_t k = s->head; c && k < s->tail; k++) {
		gzi_job *j = &s->jobs[k % GZI_NJOB];
		if (j->ready || j->stop > c->end)
			continue;
		/* the bound: the first copy that ends at or after stop (the one
		 * across it is where the reference stops), or the chunk's end */
		size_t lo = 0, hi = c->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (c->base + c->m[mid].at + c->m[mid].len < j->stop)
				lo = mid + 1;
			else
				hi = mid;
		}
		gzi_scan_copies_ready(j, lo < c->n ? c->m[lo].bit : c->end_bit);
	}
	pthread_cond_broadcast(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
	s->copies = NULL;
}

void gzi_scan_no_copies(ifs_gz_scan *s)
{
	pthread_mutex_lock(&s->mu);
	for (uint64_t k = s->head; k < s->tail; k++)
		if (!s->jobs[k % GZI_NJOB].ready)
			decode_instead(&s->jobs[k % GZI_NJOB]);
	pthread_cond_broadcast(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
	s->copies = NULL;
}

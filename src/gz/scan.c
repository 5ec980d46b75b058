/*
 * scan.c - the scan pass over a gzip file: hand the output to the consumer,
 * verify every member's CRC-32 and ISIZE, and emit checkpoints at block
 * boundaries where the consumer asked for them. The decoding is a driver's:
 * the chunked one (pscan.c, several threads) or the serial one
 * (scan_serial.c, zlib), kept as the reference the chunked scan is checked
 * against.
 *
 * A checkpoint is wanted at the last boundary at or before an offset; we
 * learn that it is wanted only once the data up to the offset has been
 * delivered, so the window before the latest boundary (`cur`) stays in the
 * driver's output buffer, and is copied out only if that memory goes first.
 * Sparse windows are built on helper threads (a small ring of jobs, results
 * delivered in order on the calling thread), so that work overlaps the
 * decoding; the chunked scan's jobs may build theirs from the copies it
 * recorded instead (scan_copies.c). A scan can also start at one of its
 * own checkpoints (opts->resume: an interrupted index build goes on).
 */
#include "gz_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRESS_EVERY (16ull << 20)

void ifs_gz_want(ifs_gz_scan *s, uint64_t off)
{
	if (off < s->want_min)
		s->want_min = off;
	if (off < s->pos) {
		/* in the block being decoded (or delivered just now): one checkpoint
		 * serves all such wants, the one for the smallest */
		if (off < s->want_low)
			s->want_low = off;
		return;
	}
	if (s->nwant == s->capwant) {
		size_t cap = s->capwant ? s->capwant * 2 : 64;
		uint64_t *p = realloc(s->wants, cap * sizeof *p);
		if (!p) {
			s->want_oom = 1; /* reported by the scan loop */
			return;
		}
		s->wants = p;
		s->capwant = cap;
	}
	s->wants[s->nwant++] = off;
}

/* Forgets wants below b (they have been served by a checkpoint <= them). */
static void drop_wants(ifs_gz_scan *s, uint64_t b)
{
	size_t k = 0;
	s->want_min = s->want_low = s->want_low < b ? UINT64_MAX : s->want_low;
	for (size_t i = 0; i < s->nwant; i++) {
		if (s->wants[i] < b)
			continue;
		s->wants[k++] = s->wants[i];
		if (s->wants[i] < s->want_min)
			s->want_min = s->wants[i];
	}
	s->nwant = k;
}

gzi_job *gzi_scan_claim_job(ifs_gz_scan *s)
{
	if (s->wnext == s->tail || !s->jobs[s->wnext % GZI_NJOB].ready)
		return NULL;
	return &s->jobs[s->wnext++ % GZI_NJOB];
}

void gzi_scan_run_job(ifs_gz_scan *s, gzi_job *j, void *ws)
{
	if (j->from_copies)
		j->rc = gzi_track_copies(ws, s->src, j, s->entry_price);
	else
		j->rc = s->window_fn(ws, s->src, &j->cp, j->win, j->wlen, s->entry_price,
				     &j->err);
	pthread_mutex_lock(&s->mu);
	j->done = 1;
	pthread_cond_broadcast(&s->cv_done);
	pthread_mutex_unlock(&s->mu);
}

void gzi_scan_hint(ifs_gz_scan *s, uint64_t at)
{
	if (at + GZI_HINT_AHEAD / 2 < s->hinted)
		return;
	uint64_t from = at > s->hinted ? at : s->hinted;
	s->hinted = at + GZI_HINT_AHEAD;
	ifs_source_hint(s->src, from, s->hinted - from);
}

int gzi_scan_deliver(ifs_gz_scan *s, int block)
{
	for (;;) {
		pthread_mutex_lock(&s->mu);
		if (s->head == s->tail) {
			pthread_mutex_unlock(&s->mu);
			return 0;
		}
		gzi_job *j = &s->jobs[s->head % GZI_NJOB];
		if (block && !j->ready) {
			/* waiting for its copies would wait for ourselves: decode */
			j->from_copies = 0;
			j->ready = 1;
			pthread_cond_broadcast(&s->cv_work);
		}
		if (block && !j->done && s->helpers == 0) {
			/* nobody else will: compute it here */
			gzi_job *c = gzi_scan_claim_job(s);
			pthread_mutex_unlock(&s->mu);
			if (c)
				gzi_scan_run_job(s, c, NULL);
			continue;
		}
		while (block && !j->done)
			pthread_cond_wait(&s->cv_done, &s->mu);
		int done = j->done;
		pthread_mutex_unlock(&s->mu);
		if (!done)
			return 0;
		int rc = j->rc;
		if (rc < 0) {
			if (s->err && !s->err->code)
				*s->err = j->err;
		} else {
			s->res.checkpoints++;
			s->res.window_bytes += j->cp.window_len;
			s->res.windows_copied += j->from_copies;
			if (s->o->on_checkpoint)
				rc = s->o->on_checkpoint(s->o->ctx, &j->cp);
		}
		ifs_gz_checkpoint_clear(&j->cp);
		free(j->val);
		j->val = NULL;
		pthread_mutex_lock(&s->mu);
		s->head++;
		pthread_mutex_unlock(&s->mu);
		if (rc < 0)
			return rc;
		block = 0; /* only the first wait is required */
	}
}

/* Queues a checkpoint at `cur` (once per boundary) serving reads from `from`. */
static int emit(ifs_gz_scan *s, uint64_t from)
{
	if (s->emitted_any && s->last_emit == s->cur)
		return 0;
	while (s->tail - s->head == GZI_NJOB) {
		int rc = gzi_scan_deliver(s, 1);
		if (rc < 0)
			return rc;
	}
	gzi_job *j = &s->jobs[s->tail % GZI_NJOB];
	memset(&j->cp, 0, sizeof j->cp);
	j->cp.out = s->cur;
	j->cp.from = from;
	j->cp.in_bit = s->cur_bit;
	j->cp.crc = s->cur_crc;
	j->cp.member_out = s->mstart;
	j->cp.members = s->res.members;
	j->wlen = s->cur_wl;
	j->rc = 0;
	j->done = 0;
	j->ready = 1;
	j->from_copies = 0;
	j->nc = 0;
	ifs_err_clear(&j->err);
	if (s->cur_saved)
		memcpy(j->win, s->curwin, s->cur_wl);
	else if (s->cur_wl)
		memcpy(j->win, s->hist + (s->cur - s->hbase) - s->cur_wl, s->cur_wl);
	s->emitted_any = 1;
	s->last_emit = s->cur;
	if (s->copies && gzi_scan_from_copies(s, j) < 0)
		return ifs_err_set(s->err, ENOMEM, "%s: out of memory", s->name);
	pthread_mutex_lock(&s->mu);
	s->tail++;
	pthread_cond_signal(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
	return s->helpers ? 0 : gzi_scan_deliver(s, 1);
}

int gzi_scan_boundary(ifs_gz_scan *s, uint64_t bit, int member_start)
{
	int rc;
	uint64_t b = s->pos;
	if (s->emitted_any && b == s->cur && bit == s->cur_bit)
		return 0;
	if ((rc = gzi_scan_settle_ends(s, bit)) < 0)
		return rc;
	if (s->o->on_boundary && !member_start &&
	    (rc = s->o->on_boundary(s->o->ctx, b, (bit + 7) >> 3)))
		return rc;
	/* the wants below b are in [cur, b) (they are never behind the data
	 * being delivered): cur is their boundary */
	if (s->want_min < b && (rc = emit(s, s->want_min > s->cur ? s->want_min : s->cur)) < 0)
		return rc;
	drop_wants(s, b);
	if (member_start || !s->nbring || b >= s->bring[(s->nbring - 1) % 16] + (16u << 10))
		s->bring[s->nbring++ % 16] = b;
	s->cur = b;
	s->cur_bit = bit;
	s->cur_crc = s->crc;
	uint64_t since = b - s->mstart;
	s->cur_wl = member_start ? 0 : (uint32_t)(since < GZI_WSIZE ? since : GZI_WSIZE);
	s->cur_saved = 0;
	uint64_t spacing = s->o->max_spacing ? s->o->max_spacing : (4ull << 20);
	if (!s->emitted_any || b - s->last_emit >= spacing)
		return emit(s, b);
	return 0;
}

void gzi_scan_keep_window(ifs_gz_scan *s, uint64_t from)
{
	if (!s->cur_saved && s->cur_wl && s->cur - s->cur_wl < from) {
		memcpy(s->curwin, s->hist + (s->cur - s->hbase) - s->cur_wl, s->cur_wl);
		s->cur_saved = 1;
	}
}

int gzi_scan_feed(ifs_gz_scan *s, const uint8_t *p, size_t n)
{
	const ifs_gz_scan_opts *o = s->o;
	if (!n)
		return 0;
	uint64_t at = s->pos;
	s->crc = ifs_crc32(s->crc, p, n);
	s->pos += n;
	if (o->on_data) {
		int rc = o->on_data(o->ctx, s, p, n, at);
		if (rc < 0)
			return rc;
	}
	if (s->want_oom)
		return ifs_err_set(s->err, ENOMEM, "%s: out of memory", s->name);
	if (o->on_progress && s->in_now >= s->next_progress) {
		o->on_progress(o->ctx, s->in_now, s->in_total, s->pos);
		s->next_progress = s->in_now + PROGRESS_EVERY;
	}
	if (s->head != s->tail)
		return gzi_scan_deliver(s, 0);
	return 0;
}

int gzi_scan_member_start(ifs_gz_scan *s, uint64_t bit)
{
	s->crc = 0;
	s->res.members++;
	s->mstart = s->pos;
	return gzi_scan_boundary(s, bit, 1);
}

/* Output kept back from the end of data that stops inside a deflate stream. */
#define TRUNC_MARGIN (64u << 10)

int gzi_scan_damaged(ifs_gz_scan *s, int rc, int read_failed, int kind, uint64_t where,
		     uint64_t good_out)
{
	if (rc != -EIO || read_failed)
		return rc;   /* not the data's fault */
	s->res.damage = kind;
	s->res.damage_in = where;
	s->res.good_out = good_out;
	return rc;
}

/* Corrupt data found at output err_out: the last recorded boundary 64 KiB
 * or more before it, never before the gzip member's start (the members
 * before have passed their CRC-32 check). */
uint64_t gzi_scan_good_before(const ifs_gz_scan *s, uint64_t err_out)
{
	uint64_t best = s->mstart;
	unsigned n = s->nbring < 16 ? s->nbring : 16;
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = s->bring[i];
		if (b > best && b + (64u << 10) <= err_out)
			best = b;
	}
	return best;
}

/* The decoder that reads use (ISA-L) keeps the last symbols of input that
 * ends early: a margin. */
uint64_t gzi_scan_good_truncated(const ifs_gz_scan *s, uint64_t end)
{
	return end - s->mstart > TRUNC_MARGIN ? end - TRUNC_MARGIN : s->mstart;
}

const char *ifs_gz_damage_name(int damage)
{
	switch (damage) {
	case IFS_GZ_TRUNCATED: return "truncated";
	case IFS_GZ_CORRUPT: return "corrupt deflate data";
	case IFS_GZ_BAD_TRAILER: return "checksum mismatch";
	case IFS_GZ_GARBAGE: return "not gzip data";
	default: return "damaged";
	}
}

int gzi_scan_member_end(ifs_gz_scan *s, uint32_t crc, uint32_t isize, uint64_t tpos)
{
	int rc;
	if ((rc = gzi_scan_settle_ends(s, tpos * 8)) < 0)
		return rc;
	if (s->o->on_boundary && (rc = s->o->on_boundary(s->o->ctx, s->pos, tpos)))
		return rc;
	if (crc != s->crc)
		return gzi_scan_damaged(s, ifs_err_set(s->err, EIO, "%s: CRC-32 mismatch in the "
						       "gzip trailer at offset %llu (data says %08x, "
						       "trailer %08x)", s->name,
						       (unsigned long long)tpos, s->crc, crc),
					0, IFS_GZ_BAD_TRAILER, tpos + 8, s->mstart);
	if (isize != (uint32_t)(s->pos - s->mstart))
		return gzi_scan_damaged(s, ifs_err_set(s->err, EIO, "%s: size mismatch in the "
						       "gzip trailer at offset %llu", s->name,
						       (unsigned long long)tpos),
					0, IFS_GZ_BAD_TRAILER, tpos + 8, s->mstart);
	/* jobs from copies that wait past the member's end: the reference stops
	 * at its last block, so the copies after it do not count */
	pthread_mutex_lock(&s->mu);
	for (uint64_t k = s->head; k < s->tail; k++) {
		gzi_job *j = &s->jobs[k % GZI_NJOB];
		if (j->ready || j->stop <= s->pos)
			continue;
		while (j->nc && j->cp.out + j->c[j->nc - 1].at >= s->pos)
			j->nc--;
		gzi_scan_copies_ready(j, tpos * 8);
	}
	pthread_cond_broadcast(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

uint64_t ifs_gz_scan_in_pos(const ifs_gz_scan *s)
{
	return s->in_now;
}

int gzi_scan_resume(ifs_gz_scan *s, const ifs_gz_checkpoint *cp, const uint8_t *win)
{
	uint64_t wl = cp->out - cp->member_out;
	if (cp->member_out > cp->out || cp->members == 0 || (wl && !win) ||
	    (s->in_total && cp->in_bit >= s->in_total * 8))
		return ifs_err_set(s->err, EINVAL, "%s: resume point at offset %llu is inconsistent",
				   s->name, (unsigned long long)cp->out);
	s->pos = cp->out;
	s->in_now = cp->in_bit >> 3;
	s->next_progress = s->in_now + PROGRESS_EVERY;
	s->mstart = cp->member_out;
	s->res.members = cp->members;
	s->crc = cp->crc;
	s->cur = cp->out;
	s->cur_bit = cp->in_bit;
	s->cur_crc = cp->crc;
	s->cur_wl = (uint32_t)(wl < GZI_WSIZE ? wl : GZI_WSIZE);
	if (s->cur_wl)
		memcpy(s->curwin, win, s->cur_wl);
	s->cur_saved = 1;
	s->emitted_any = 1;   /* the checkpoint is there already */
	s->last_emit = cp->out;
	return 0;
}
/* ---- the scan, with either driver -------------------------------------- */

static int threads_for(const ifs_gz_scan_opts *o)
{
	if (o->threads == IFS_GZ_SERIAL)
		return 0;
	long n = o->threads > 0 ? o->threads : sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > IFS_GZ_THREADS_MAX ? IFS_GZ_THREADS_MAX : (int)n;
}

int ifs_gz_scan_source(ifs_source *src, const ifs_gz_scan_opts *opts,
		       ifs_gz_scan_result *res, ifs_err *err)
{
	ifs_gz_scan *s = calloc(1, sizeof *s);
	int rc;
	const char *name = ifs_source_name(src);

	if (!s)
		return ifs_err_set(err, ENOMEM, "%s: out of memory", name);
	s->o = opts;
	s->entry_price = opts->entry_bytes_per_4kib ? opts->entry_bytes_per_4kib
						    : GZI_ENTRY_BYTES_PER_4KIB;
	s->src = src;
	s->name = name;
	s->err = err;
	s->want_min = s->want_low = UINT64_MAX;
	s->next_progress = PROGRESS_EVERY;
	s->in_total = ifs_source_size(src);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv_work, NULL);
	pthread_cond_init(&s->cv_done, NULL);
	s->jobs = calloc(GZI_NJOB, sizeof *s->jobs);
	if (!s->jobs) {
		rc = ifs_err_set(err, ENOMEM, "%s: out of memory", name);
		goto out;
	}
	int threads = threads_for(opts);
	if (threads == 0) {
		rc = gzi_scan_serial(s);
	} else {
		s->window_fn = gzi_track_build;
		rc = gzi_scan_chunked(s, threads);
	}
	if (rc == 0 && s->want_min < s->pos)
		rc = emit(s, s->want_min > s->cur ? s->want_min : s->cur);
	/* the drivers' helper threads are gone: what is left is computed here */
	while (rc == 0 && s->head != s->tail)
		rc = gzi_scan_deliver(s, 1);
	s->res.out_size = s->pos;
out:
	if (s->jobs)
		for (size_t i = 0; i < GZI_NJOB; i++) {
			ifs_gz_checkpoint_clear(&s->jobs[i].cp);
			free(s->jobs[i].val);
			free(s->jobs[i].c);
		}
	if (res) {
		*res = s->res;
		if (rc)   /* a failed scan's totals are partial: only its damage */
			res->in_size = res->out_size = res->checkpoints = res->window_bytes =
				res->chunks_used = res->chunks_own = res->chunks_unjoined = 0;
		if (rc && !s->res.damage)
			memset(res, 0, sizeof *res);
	}
	pthread_cond_destroy(&s->cv_done);
	pthread_cond_destroy(&s->cv_work);
	pthread_mutex_destroy(&s->mu);
	free(s->jobs);
	free(s->wants);
	gzi_scan_ends_free(s);
	free(s);
	return rc;
}

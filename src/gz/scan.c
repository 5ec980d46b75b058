/*
 * scan.c - the scan pass over a gzip file: hand the output to the consumer,
 * verify every member's CRC-32 and ISIZE, and emit checkpoints at block
 * boundaries where the consumer asked for them. The decoding is a driver's:
 * the chunked one (pscan.c, several threads) or the serial one here (zlib,
 * raw, stopping at every deflate block boundary with Z_BLOCK), kept as the
 * reference the chunked scan is checked against.
 *
 * A checkpoint is wanted at the last boundary at or before an offset; we
 * learn that it is wanted only once the data up to the offset has been
 * delivered, so the window before the latest boundary (`cur`) stays in the
 * driver's output buffer, and is copied out only if that memory goes first.
 * Sparse windows are built on helper threads (a small ring of jobs, results
 * delivered in order on the calling thread), so that work overlaps the
 * decoding. A scan can also start at one of its own checkpoints
 * (opts->resume: an interrupted index build goes on).
 */
#include "gz_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#define IN_CAP (1u << 20)
#define OUT_CAP (GZI_WSIZE + (1u << 20))
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

/* The serial scan's helper thread: sparse windows, in order. */
static void *helper(void *arg)
{
	ifs_gz_scan *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		gzi_job *j;
		while (!(j = gzi_scan_claim_job(s)) && !s->quit)
			pthread_cond_wait(&s->cv_work, &s->mu);
		if (!j)
			break;
		pthread_mutex_unlock(&s->mu);
		gzi_scan_run_job(s, j, NULL);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
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

/* ---- sparse windows from the chunked scan's copies ---- */

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
static int from_copies(ifs_gz_scan *s, gzi_job *j)
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
static void copies_ready(gzi_job *j, uint64_t bound)
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
		copies_ready(j, lo < c->n ? c->m[lo].bit : c->end_bit);
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
	if (s->copies && from_copies(s, j) < 0)
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
		copies_ready(j, tpos * 8);
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

/* ---- the serial scan --------------------------------------------------- */

typedef struct serial {
	ifs_gz_scan *s;
	gzi_in *r;
	z_stream *zs;
	uint8_t *obuf;    /* output; obuf[0] is uncompressed offset base */
	uint64_t base;
	size_t opos;
} serial;

/* Makes room in obuf, keeping the last 32 KiB (and cur's window). */
static void compact(serial *z)
{
	size_t keep = z->opos - GZI_WSIZE;
	gzi_scan_keep_window(z->s, z->base + keep);
	memmove(z->obuf, z->obuf + keep, z->opos - keep);
	z->base += keep;
	z->opos -= keep;
	z->s->hbase = z->base;
}

/* Starts at the resume point: input at cp->in_bit (zlib primed with the
 * leftover bits), the window as dictionary and as the buffer's history. */
static int serial_resume(serial *z, const ifs_gz_checkpoint *cp, const uint8_t *win)
{
	ifs_gz_scan *s = z->s;
	int rc = gzi_scan_resume(s, cp, win);
	if (rc < 0)
		return rc;
	size_t wl = s->cur_wl;
	if (wl)
		memcpy(z->obuf, win, wl);
	z->base = cp->out - wl;
	z->opos = wl;
	s->hist = z->obuf;
	s->hbase = z->base;
	gzi_in_seek(z->r, cp->in_bit >> 3);
	unsigned used = (unsigned)(cp->in_bit & 7);
	if (used) {
		uint8_t byte;
		rc = gzi_in_byte(z->r, &byte, s->err);
		if (rc <= 0)
			return rc < 0 ? rc : ifs_err_set(s->err, EIO, "%s: resume point past the end "
							 "of the file", s->name);
		if (inflatePrime(z->zs, (int)(8 - used), byte >> used) != Z_OK)
			return ifs_err_set(s->err, EIO, "%s: inflatePrime failed", s->name);
	}
	if (wl && inflateSetDictionary(z->zs, z->obuf, (uInt)wl) != Z_OK)
		return ifs_err_set(s->err, EIO, "%s: cannot set the window at resume point %llu",
				   s->name, (unsigned long long)cp->out);
	return 0;
}

static int serial_run(serial *z)
{
	ifs_gz_scan *s = z->s;
	gzi_in *r = z->r;
	z_stream *zs = z->zs;
	int resumed = s->o->resume != NULL;
	int rc = resumed ? serial_resume(z, s->o->resume, s->o->resume_window)
			 : gzi_read_header(r, 1, s->err);
	if (rc < 0)
		return rc;
	s->hist = z->obuf;
	for (;;) { /* one gzip member per iteration */
		if (!resumed) {
			s->in_now = gzi_in_tell(r);
			if ((rc = gzi_scan_member_start(s, gzi_in_tell(r) * 8)) < 0)
				return rc;
			if (inflateReset(zs) != Z_OK)
				return ifs_err_set(s->err, EIO, "%s: inflateReset failed", s->name);
		}
		resumed = 0;
		for (;;) {
			if (r->pos == r->len) {
				gzi_scan_hint(s, gzi_in_tell(r));
				ssize_t n = gzi_in_fill(r, s->err);
				if (n < 0)
					return (int)n;
				if (n == 0)
					return gzi_scan_damaged(s, ifs_err_set(s->err, EIO, "%s: "
						"truncated: unexpected end of file at offset %llu "
						"inside deflate data", s->name,
						(unsigned long long)gzi_in_tell(r)), r->read_failed,
						IFS_GZ_TRUNCATED, gzi_in_tell(r),
						gzi_scan_good_truncated(s, s->pos));
			}
			if (z->opos == OUT_CAP)
				compact(z);
			zs->next_in = r->buf + r->pos;
			zs->avail_in = (uInt)(r->len - r->pos);
			zs->next_out = z->obuf + z->opos;
			zs->avail_out = (uInt)(OUT_CAP - z->opos);
			int zr = inflate(zs, Z_BLOCK);
			r->pos = (size_t)(zs->next_in - r->buf);
			size_t got = (OUT_CAP - z->opos) - zs->avail_out;
			if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
				return gzi_scan_damaged(s, ifs_err_set(s->err, EIO, "%s: corrupt "
						"deflate data near compressed offset %llu: %s",
						s->name, (unsigned long long)gzi_in_tell(r),
						zs->msg ? zs->msg : "inflate error"), r->read_failed,
						IFS_GZ_CORRUPT, gzi_in_tell(r),
						gzi_scan_good_before(s, s->pos + got));
			s->in_now = gzi_in_tell(r);
			if (got) {
				z->opos += got;
				if ((rc = gzi_scan_feed(s, z->obuf + z->opos - got, got)) < 0)
					return rc;
			}
			if (zr == Z_STREAM_END)
				break;
			if ((zs->data_type & 128) && !(zs->data_type & 64)) {
				uint64_t bit = gzi_in_tell(r) * 8 - (uint64_t)(zs->data_type & 7);
				if ((rc = gzi_scan_boundary(s, bit, 0)) < 0)
					return rc;
			}
		}
		uint64_t tpos = gzi_in_tell(r);
		uint32_t tcrc, tsize;
		if ((rc = gzi_read_trailer(r, &tcrc, &tsize, s->err)) < 0)
			return gzi_scan_damaged(s, rc, r->read_failed, IFS_GZ_TRUNCATED,
						gzi_in_tell(r), s->pos);
		if ((rc = gzi_scan_member_end(s, tcrc, tsize, tpos)) < 0)
			return rc;
		rc = gzi_read_header(r, 0, s->err);
		if (rc < 0)
			return gzi_scan_damaged(s, rc, r->read_failed,
						r->eof && r->pos == r->len ? IFS_GZ_TRUNCATED
						: IFS_GZ_GARBAGE, gzi_in_tell(r), s->pos);
		if (rc == 1)
			break;
	}
	s->res.in_size = gzi_in_tell(r);
	return 0;
}

static int sparse_window(void *ws, ifs_source *src, ifs_gz_checkpoint *cp,
			 const uint8_t *win, size_t wlen, uint32_t entry_price, ifs_err *err)
{
	(void)ws;
	return gzi_sparse_build(src, cp, win, wlen, entry_price, err);
}

static int serial_scan(ifs_gz_scan *s)
{
	gzi_in r = {0};
	z_stream zs;
	serial z = { .s = s, .r = &r, .zs = &zs };
	int rc;
	pthread_t thr;
	memset(&zs, 0, sizeof zs);
	s->window_fn = sparse_window;
	if (!(z.obuf = malloc(OUT_CAP)))
		return ifs_err_set(s->err, ENOMEM, "%s: out of memory", s->name);
	if ((rc = gzi_in_init(&r, s->src, IN_CAP, s->err)) < 0) {
		free(z.obuf);
		return rc;
	}
	if (inflateInit2(&zs, -15) != Z_OK) {
		gzi_in_free(&r);
		free(z.obuf);
		return ifs_err_set(s->err, ENOMEM, "%s: inflateInit2 failed", s->name);
	}
	s->helpers = pthread_create(&thr, NULL, helper, s) == 0;
	rc = serial_run(&z);
	gzi_scan_keep_window(s, UINT64_MAX);   /* obuf goes: the last checkpoint may need it */
	if (rc == 0)
		rc = gzi_scan_deliver(s, 1);
	if (s->helpers) {
		pthread_mutex_lock(&s->mu);
		s->quit = 1;
		pthread_cond_broadcast(&s->cv_work);
		pthread_mutex_unlock(&s->mu);
		pthread_join(thr, NULL);
		s->helpers = 0;
	}
	inflateEnd(&zs);
	gzi_in_free(&r);
	free(z.obuf);
	return rc;
}

/* ---- both -------------------------------------------------------------- */

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
		rc = serial_scan(s);
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
	free(s);
	return rc;
}

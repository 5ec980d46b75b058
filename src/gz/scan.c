/*
 * scan.c - the one streaming pass over a gzip file: inflate everything
 * (zlib, raw, stopping at every deflate block boundary with Z_BLOCK), hand
 * the output to the consumer, verify every member's CRC-32 and ISIZE, and
 * emit checkpoints at block boundaries where the consumer asked for them.
 *
 * The output buffer keeps at least the last 32 KiB of output, so the window
 * before the latest boundary (`cur`) is still there when, one block later,
 * we learn that it is wanted; it is copied out only if the buffer has to be
 * compacted first. Sparse windows are built on one helper thread (a small
 * ring of jobs, results delivered in order on the calling thread), so that
 * work overlaps the main inflate. A scan can also start at one of its own
 * checkpoints (opts->resume: an interrupted index build goes on). Limits: zlib is slower than ISA-L, and
 * ISA-L cannot stop at block boundaries, so the scan runs at zlib speed.
 */
#include "gz_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#define IN_CAP (1u << 20)
#define OUT_CAP (GZI_WSIZE + (1u << 20))
#define NJOB 32
#define PROGRESS_EVERY (16ull << 20)

typedef struct job {
	ifs_gz_checkpoint cp;
	uint32_t wlen;
	int rc;
	int done;
	ifs_err err;
	uint8_t win[GZI_WSIZE];
} job;

struct ifs_gz_scan {
	const ifs_gz_scan_opts *o;
	int fd;
	const char *name;
	ifs_err *err;

	uint64_t *wants; /* pending wanted offsets, unordered */
	size_t nwant, capwant;
	uint64_t want_min;
	int want_oom;

	uint8_t *obuf;    /* output; obuf[0] is uncompressed offset base */
	uint64_t base;
	size_t opos;
	uint64_t mstart;  /* uncompressed offset of the current member's start */

	uint64_t cur, cur_bit; /* latest block boundary */
	uint32_t cur_crc;      /* the member's CRC-32 up to cur */
	uint32_t cur_wl;
	int cur_saved;
	uint8_t curwin[GZI_WSIZE];

	int emitted_any;
	uint64_t last_emit;

	/* block boundaries at least 16 KiB apart, newest last (for damage) */
	uint64_t bring[16];
	unsigned nbring;

	job *jobs;
	uint64_t head, tail, wnext; /* deliver / fill / worker counters */
	pthread_t thr;
	int have_thr, quit;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;

	ifs_gz_scan_result res;
	const gzi_in *in;  /* the input, while the scan runs */
	uint32_t entry_price;  /* o->entry_bytes_per_4kib, or the default */
};

void ifs_gz_want(ifs_gz_scan *s, uint64_t off)
{
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
	if (off < s->want_min)
		s->want_min = off;
}

/* Forgets wants below b (they have been served by a checkpoint <= them). */
static void drop_wants(ifs_gz_scan *s, uint64_t b)
{
	size_t k = 0;
	s->want_min = UINT64_MAX;
	for (size_t i = 0; i < s->nwant; i++) {
		if (s->wants[i] < b)
			continue;
		s->wants[k++] = s->wants[i];
		if (s->wants[i] < s->want_min)
			s->want_min = s->wants[i];
	}
	s->nwant = k;
}

static void *worker(void *arg)
{
	ifs_gz_scan *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->wnext == s->tail && !s->quit)
			pthread_cond_wait(&s->cv_work, &s->mu);
		if (s->wnext == s->tail)
			break;
		job *j = &s->jobs[s->wnext % NJOB];
		pthread_mutex_unlock(&s->mu);
		j->rc = gzi_sparse_build(s->fd, s->name, &j->cp, j->win, j->wlen, s->entry_price,
					 &j->err);
		pthread_mutex_lock(&s->mu);
		j->done = 1;
		s->wnext++;
		pthread_cond_signal(&s->cv_done);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Hands finished checkpoints to the consumer, in order; with block set,
 * waits until the oldest one is finished. */
static int deliver(ifs_gz_scan *s, int block)
{
	for (;;) {
		pthread_mutex_lock(&s->mu);
		if (s->head == s->tail) {
			pthread_mutex_unlock(&s->mu);
			return 0;
		}
		job *j = &s->jobs[s->head % NJOB];
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
			if (s->o->on_checkpoint)
				rc = s->o->on_checkpoint(s->o->ctx, &j->cp);
		}
		ifs_gz_checkpoint_clear(&j->cp);
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
	while (s->tail - s->head == NJOB) {
		int rc = deliver(s, 1);
		if (rc < 0)
			return rc;
	}
	job *j = &s->jobs[s->tail % NJOB];
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
	ifs_err_clear(&j->err);
	if (s->cur_saved)
		memcpy(j->win, s->curwin, s->cur_wl);
	else
		memcpy(j->win, s->obuf + (s->cur - s->base) - s->cur_wl, s->cur_wl);
	s->emitted_any = 1;
	s->last_emit = s->cur;
	if (!s->have_thr) { /* no helper thread: do the work here */
		j->rc = gzi_sparse_build(s->fd, s->name, &j->cp, j->win, j->wlen, s->entry_price,
					 &j->err);
		j->done = 1;
		s->tail++;
		return deliver(s, 0);
	}
	pthread_mutex_lock(&s->mu);
	s->tail++;
	pthread_cond_signal(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* A block boundary at uncompressed offset b, compressed bit `bit`; crc: the
 * member's CRC-32 of the output before b. */
static int boundary(ifs_gz_scan *s, uint64_t b, uint64_t bit, uint32_t crc, int member_start)
{
	int rc;
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
	s->cur_crc = crc;
	uint64_t since = b - s->mstart;
	s->cur_wl = member_start ? 0 : (uint32_t)(since < GZI_WSIZE ? since : GZI_WSIZE);
	s->cur_saved = 0;
	uint64_t spacing = s->o->max_spacing ? s->o->max_spacing : (4ull << 20);
	if (!s->emitted_any || b - s->last_emit >= spacing)
		return emit(s, b);
	return 0;
}

/* Makes room in obuf, keeping the last 32 KiB (and cur's window). */
static void compact(ifs_gz_scan *s)
{
	size_t keep = s->opos - GZI_WSIZE;
	size_t cw = (size_t)(s->cur - s->base) - s->cur_wl;
	if (!s->cur_saved && cw < keep) {
		memcpy(s->curwin, s->obuf + cw, s->cur_wl);
		s->cur_saved = 1;
	}
	memmove(s->obuf, s->obuf + keep, s->opos - keep);
	s->base += keep;
	s->opos -= keep;
}

uint64_t ifs_gz_scan_in_pos(const ifs_gz_scan *s)
{
	return s->in ? gzi_in_tell(s->in) : 0;
}

/*
 * Sets the scan up at checkpoint cp, as it was when the scan that emitted it
 * passed there: input at cp->in_bit (zlib primed with the leftover bits), the
 * window (the exact output before cp->out) as dictionary and as the output
 * buffer's history, the member's CRC-32 and start. *crc gets the CRC to
 * continue from.
 */
static int start_at(ifs_gz_scan *s, gzi_in *r, z_stream *zs, const ifs_gz_checkpoint *cp,
		    const uint8_t *win, uint32_t *crc)
{
	uint64_t wl = cp->out - cp->member_out;
	if (cp->member_out > cp->out || cp->members == 0 || (wl && !win))
		return ifs_err_set(s->err, EINVAL, "%s: resume point at offset %llu is inconsistent",
				   s->name, (unsigned long long)cp->out);
	if (wl > GZI_WSIZE)
		wl = GZI_WSIZE;
	if (wl)
		memcpy(s->obuf, win, (size_t)wl);
	gzi_in_seek(r, cp->in_bit >> 3);
	unsigned used = (unsigned)(cp->in_bit & 7);
	if (used) {
		uint8_t byte;
		int rc = gzi_in_byte(r, &byte, s->err);
		if (rc <= 0)
			return rc < 0 ? rc : ifs_err_set(s->err, EIO, "%s: resume point past the end "
							 "of the file", s->name);
		if (inflatePrime(zs, (int)(8 - used), byte >> used) != Z_OK)
			return ifs_err_set(s->err, EIO, "%s: inflatePrime failed", s->name);
	}
	if (wl && inflateSetDictionary(zs, s->obuf, (uInt)wl) != Z_OK)
		return ifs_err_set(s->err, EIO, "%s: cannot set the window at resume point %llu",
				   s->name, (unsigned long long)cp->out);
	s->base = cp->out - wl;
	s->opos = (size_t)wl;
	s->mstart = cp->member_out;
	s->res.members = cp->members;
	s->cur = cp->out;
	s->cur_bit = cp->in_bit;
	s->cur_crc = cp->crc;
	s->cur_wl = (uint32_t)wl;
	s->cur_saved = 0;
	s->emitted_any = 1;   /* the checkpoint is there already */
	s->last_emit = cp->out;
	*crc = cp->crc;
	return 0;
}

/* Output kept back from the end of data that stops inside a deflate stream. */
#define TRUNC_MARGIN (64u << 10)

/* The scan stops on damaged data: what can still be trusted (gz.h). */
static int damaged(ifs_gz_scan *s, const gzi_in *r, int kind, uint64_t good_out, int rc)
{
	if (rc != -EIO || r->read_failed)
		return rc;   /* not the data's fault */
	s->res.damage = kind;
	s->res.damage_in = gzi_in_tell(r);
	s->res.good_out = good_out;
	return rc;
}

/* Corrupt data found at output err_out: the last recorded boundary 64 KiB
 * or more before it, never before the gzip member's start (the members
 * before have passed their CRC-32 check). */
static uint64_t good_before(const ifs_gz_scan *s, uint64_t err_out)
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

static int run(ifs_gz_scan *s, gzi_in *r, z_stream *zs)
{
	s->in = r;
	const ifs_gz_scan_opts *o = s->o;
	uint64_t next_progress = PROGRESS_EVERY, in_total = 0;
	uint32_t crc = 0;
	int resumed = o->resume != NULL;
	int rc = resumed ? start_at(s, r, zs, o->resume, o->resume_window, &crc)
			 : gzi_read_header(r, 1, s->err);
	if (rc < 0)
		return rc;
	{
		struct stat st;
		if (fstat(s->fd, &st) == 0 && st.st_size > 0)
			in_total = (uint64_t)st.st_size;
	}
	if (resumed)
		next_progress = gzi_in_tell(r) + PROGRESS_EVERY;
	for (;;) { /* one gzip member per iteration */
		if (!resumed) {
			crc = 0;
			s->res.members++;
			s->mstart = s->base + s->opos;
			if ((rc = boundary(s, s->mstart, gzi_in_tell(r) * 8, 0, 1)) < 0)
				return rc;
			if (inflateReset(zs) != Z_OK)
				return ifs_err_set(s->err, EIO, "%s: inflateReset failed", s->name);
		}
		resumed = 0;
		for (;;) {
			if (r->pos == r->len) {
				ssize_t n = gzi_in_fill(r, s->err);
				if (n < 0)
					return (int)n;
				/* the decoder that reads use (ISA-L) keeps the last
				 * symbols of input that ends early: a margin */
				uint64_t end = s->base + s->opos;
				if (n == 0)
					return damaged(s, r, IFS_GZ_TRUNCATED,
						       end - s->mstart > TRUNC_MARGIN
						       ? end - TRUNC_MARGIN : s->mstart,
						       ifs_err_set(s->err, EIO, "%s: truncated: unexpected "
							   "end of file at offset %llu inside deflate data",
							   s->name, (unsigned long long)gzi_in_tell(r)));
			}
			if (s->opos == OUT_CAP)
				compact(s);
			zs->next_in = r->buf + r->pos;
			zs->avail_in = (uInt)(r->len - r->pos);
			zs->next_out = s->obuf + s->opos;
			zs->avail_out = (uInt)(OUT_CAP - s->opos);
			int zr = inflate(zs, Z_BLOCK);
			r->pos = (size_t)(zs->next_in - r->buf);
			size_t got = (OUT_CAP - s->opos) - zs->avail_out;
			if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
				return damaged(s, r, IFS_GZ_CORRUPT,
					       good_before(s, s->base + s->opos + got),
					       ifs_err_set(s->err, EIO, "%s: corrupt deflate data near "
						   "compressed offset %llu: %s", s->name,
						   (unsigned long long)gzi_in_tell(r),
						   zs->msg ? zs->msg : "inflate error"));
			if (got) {
				uint64_t at = s->base + s->opos;
				crc = ifs_crc32(crc, s->obuf + s->opos, got);
				s->opos += got;
				if (o->on_data && (rc = o->on_data(o->ctx, s, s->obuf + s->opos - got,
								 got, at)) < 0)
					return rc;
				if (s->want_oom)
					return ifs_err_set(s->err, ENOMEM, "%s: out of memory", s->name);
			}
			if (zr == Z_STREAM_END)
				break;
			if ((zs->data_type & 128) && !(zs->data_type & 64)) {
				uint64_t bit = gzi_in_tell(r) * 8 - (uint64_t)(zs->data_type & 7);
				if ((rc = boundary(s, s->base + s->opos, bit, crc, 0)) < 0)
					return rc;
			}
			if (s->head != s->tail && (rc = deliver(s, 0)) < 0)
				return rc;
			if (o->on_progress && gzi_in_tell(r) >= next_progress) {
				o->on_progress(o->ctx, gzi_in_tell(r), in_total, s->base + s->opos);
				next_progress = gzi_in_tell(r) + PROGRESS_EVERY;
			}
		}
		uint64_t tpos = gzi_in_tell(r);
		uint32_t tcrc, tsize;
		if ((rc = gzi_read_trailer(r, &tcrc, &tsize, s->err)) < 0)
			return damaged(s, r, IFS_GZ_TRUNCATED, s->base + s->opos, rc);
		uint64_t msize = s->base + s->opos - s->mstart;
		if (tcrc != crc)
			return damaged(s, r, IFS_GZ_BAD_TRAILER, s->mstart,
				       ifs_err_set(s->err, EIO, "%s: CRC-32 mismatch in the gzip "
					   "trailer at offset %llu (data says %08x, trailer %08x)",
					   s->name, (unsigned long long)tpos, crc, tcrc));
		if (tsize != (uint32_t)msize)
			return damaged(s, r, IFS_GZ_BAD_TRAILER, s->mstart,
				       ifs_err_set(s->err, EIO, "%s: size mismatch in the gzip "
					   "trailer at offset %llu", s->name, (unsigned long long)tpos));
		rc = gzi_read_header(r, 0, s->err);
		if (rc < 0)
			return damaged(s, r, r->eof && r->pos == r->len ? IFS_GZ_TRUNCATED
					     : IFS_GZ_GARBAGE, s->base + s->opos, rc);
		if (rc == 1)
			break;
	}
	uint64_t total = s->base + s->opos;
	if (s->want_min < total &&
	    (rc = emit(s, s->want_min > s->cur ? s->want_min : s->cur)) < 0)
		return rc;
	s->res.in_size = gzi_in_tell(r);
	s->res.out_size = total;
	return 0;
}

int ifs_gz_scan_file(int fd, const char *name, const ifs_gz_scan_opts *opts,
		     ifs_gz_scan_result *res, ifs_err *err)
{
	ifs_gz_scan *s = calloc(1, sizeof *s);
	gzi_in r = {0};
	z_stream zs;
	int zinit = 0, rc;

	name = name ? name : "(gzip)";
	if (!s)
		return ifs_err_set(err, ENOMEM, "%s: out of memory", name);
	memset(&zs, 0, sizeof zs);
	s->o = opts;
	s->entry_price = opts->entry_bytes_per_4kib ? opts->entry_bytes_per_4kib
						    : GZI_ENTRY_BYTES_PER_4KIB;
	s->fd = fd;
	s->name = name;
	s->err = err;
	s->want_min = UINT64_MAX;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv_work, NULL);
	pthread_cond_init(&s->cv_done, NULL);
	s->obuf = malloc(OUT_CAP);
	s->jobs = calloc(NJOB, sizeof *s->jobs);
	if (!s->obuf || !s->jobs) {
		rc = ifs_err_set(err, ENOMEM, "%s: out of memory", name);
		goto out;
	}
	if ((rc = gzi_in_init(&r, fd, name, IN_CAP, err)) < 0)
		goto out;
	if (inflateInit2(&zs, -15) != Z_OK) {
		rc = ifs_err_set(err, ENOMEM, "%s: inflateInit2 failed", name);
		goto out;
	}
	zinit = 1;
	s->have_thr = pthread_create(&s->thr, NULL, worker, s) == 0;

	rc = run(s, &r, &zs);
	if (rc == 0)
		rc = deliver(s, 1);
	while (rc == 0 && s->head != s->tail)
		rc = deliver(s, 1);
out:
	if (s->have_thr) {
		pthread_mutex_lock(&s->mu);
		s->quit = 1;
		pthread_cond_signal(&s->cv_work);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thr, NULL);
	}
	if (s->jobs)
		for (size_t i = 0; i < NJOB; i++)
			ifs_gz_checkpoint_clear(&s->jobs[i].cp);
	if (res) {
		*res = s->res;
		if (rc)   /* a failed scan's totals are partial: only its damage */
			res->in_size = res->out_size = res->checkpoints = res->window_bytes = 0;
		if (rc && !s->res.damage)
			memset(res, 0, sizeof *res);
	}
	if (zinit)
		inflateEnd(&zs);
	gzi_in_free(&r);
	pthread_cond_destroy(&s->cv_done);
	pthread_cond_destroy(&s->cv_work);
	pthread_mutex_destroy(&s->mu);
	free(s->jobs);
	free(s->obuf);
	free(s->wants);
	free(s);
	return rc;
}

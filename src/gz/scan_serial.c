/*
 * scan_serial.c - the serial scan (contract in gz_internal.h): zlib, raw,
 * stopping at every deflate block boundary with Z_BLOCK, with one helper
 * thread for the sparse windows. It is the reference the chunked scan
 * (pscan.c) is checked against; it hands output, boundaries and member ends
 * to scan.c's checkpoint logic as the chunked one does.
 */
#include "gz_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#define IN_CAP (1u << 20)
#define OUT_CAP (GZI_WSIZE + (1u << 20))

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

int gzi_scan_serial(ifs_gz_scan *s)
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

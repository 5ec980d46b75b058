/*
 * test_gz.c - the seekable gzip engine against real gzip writers.
 *
 * tests/unit/gz_fixture.py builds a tar (PIL JPEGs, text, zeros, random
 * bytes) and compresses it with gzip -1/-6/-9, pigz, igzip, Python (FNAME),
 * bsdtar, by hand (FEXTRA/FCOMMENT/FHCRC), and as a multi-member file with an
 * empty member and zero padding. For each: scan with checkpoints wanted
 * every 50 KB, check totals, every sparse window, thousands of random reads
 * from cold and warm cursors, sequential reads without restarts. Then
 * corrupted and truncated copies must fail with the offset in the message.
 * Scans resumed at checkpoints must give the rest of the output, the same
 * checks and the same checkpoints as the full scan.
 *
 * The chunked scan (several threads, chunks of a few KiB here so that every
 * file has many) must give what the serial scan gives, row for row; it
 * resumes and fails the same way. Crafted files: a stream whose stored
 * blocks hold valid deflate data (false block starts that decode cleanly
 * must never be used), a long run of empty blocks after a checkpoint and
 * one huge block wanted at every byte (memory stays bounded).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "inatfs/gz.h"
#include "testutil.h"
/* the window encoder is internal to the gz module; its format is public */
#include "../../src/gz/gz_internal.h"
#include "../../src/source/source_int.h"

/* checkpoints are wanted every want_every bytes: 50 KB, and 2 MB for "long",
 * whose 6 MB block of zeros then gets its first want more than 1 MiB after
 * the block's start (the checkpoint serves from its boundary instead) */
static uint64_t want_every = 50000;
#define WANT_EVERY want_every
/* every checkpoint that can have an entry gets one, so that reads go
 * through entries as much as they can (test_prices checks the default) */
static uint32_t entry_price = IFS_GZ_ENTRY_ALWAYS;
/* the scan under test: the serial reference, or chunked (threads, chunk size) */
static int scan_threads = IFS_GZ_SERIAL;
static uint32_t scan_chunk = 0;

/* exact ends asked for (ifs_gz_want_end) every END_EVERY bytes: a prime, so
 * that they fall anywhere in blocks, at boundaries now and then */
#define END_EVERY 7919u

typedef struct scanctx {
	ifs_gz_cplist cps;
	uint64_t next_want, next_end;
	uint64_t data_bytes, data_next;
	uint32_t data_crc;
	int order_ok, add_ok;
	uint64_t (*bd)[2];   /* on_boundary's calls: out, in_end */
	size_t nbd, capbd;
} scanctx;

/* on_boundary's calls are kept only where a test frees them */
static int keep_bounds = 0;

static int on_bd(void *ctx, uint64_t out, uint64_t in_end)
{
	scanctx *c = ctx;
	if (!keep_bounds)
		return 0;
	if (c->nbd && (out < c->bd[c->nbd - 1][0] || in_end < c->bd[c->nbd - 1][1]))
		c->order_ok = 0;
	if (c->nbd == c->capbd) {
		size_t cap = c->capbd ? 2 * c->capbd : 1024;
		void *p = realloc(c->bd, cap * sizeof *c->bd);
		if (!p) {
			c->add_ok = 0;
			return 0;
		}
		c->bd = p;
		c->capbd = cap;
	}
	c->bd[c->nbd][0] = out;
	c->bd[c->nbd++][1] = in_end;
	return 0;
}

static int on_data(void *ctx, ifs_gz_scan *s, const uint8_t *buf, size_t len, uint64_t off)
{
	scanctx *c = ctx;
	if (off != c->data_next)
		c->order_ok = 0;
	c->data_next = off + len;
	c->data_bytes += len;
	c->data_crc = ifs_crc32(c->data_crc, buf, len);
	while (c->next_want < off + len) {
		ifs_gz_want(s, c->next_want);
		c->next_want += WANT_EVERY;
	}
	if (c->next_end < off)
		c->next_end = off / END_EVERY * END_EVERY + END_EVERY;
	while (c->next_end <= off + len) {
		ifs_gz_want_end(s, c->next_end);
		c->next_end += END_EVERY;
	}
	return 0;
}

static int on_cp(void *ctx, const ifs_gz_checkpoint *cp)
{
	scanctx *c = ctx;
	if (cp->from < cp->out || (c->cps.n && (cp->out <= c->cps.cp[c->cps.n - 1].out ||
						  cp->from <= c->cps.cp[c->cps.n - 1].from)))
		c->order_ok = 0; /* strictly increasing: one checkpoint per boundary */
	if (ifs_gz_cplist_add(&c->cps, cp) != 0)
		c->add_ok = 0;
	return 0;
}

static int on_cp_list(void *ctx, const ifs_gz_checkpoint *cp)
{
	return ifs_gz_cplist_add(ctx, cp);
}

/* Scans path into c (fresh, or resumed at checkpoint `from` with the exact
 * output before it in win; from NULL: the start). */
static int scan_at(const char *path, const ifs_gz_checkpoint *from, const uint8_t *win,
		   scanctx *c, uint64_t spacing, ifs_gz_scan_result *res, ifs_err *err)
{
	memset(c, 0, sizeof *c);
	c->order_ok = c->add_ok = 1;
	if (from) {
		c->data_next = from->out;
		c->next_want = (from->out + WANT_EVERY - 1) / WANT_EVERY * WANT_EVERY;
	}
	ifs_gz_scan_opts o = {.max_spacing = spacing, .entry_bytes_per_4kib = entry_price,
			      .on_data = on_data, .on_checkpoint = on_cp, .on_boundary = on_bd,
			      .ctx = c,
			      .resume = from, .resume_window = win, .threads = scan_threads,
			      .chunk_size = scan_chunk};
	ifs_source *src = NULL;
	ifs_err_clear(err);
	int rc = ifs_source_open_file(path, 0, &src, err);
	if (rc == 0)
		rc = ifs_gz_scan_source(src, &o, res, err);
	ifs_source_close(src);
	return rc;
}

static int scan(const char *path, scanctx *c, uint64_t spacing, ifs_gz_scan_result *res,
		ifs_err *err)
{
	return scan_at(path, NULL, NULL, c, spacing, res, err);
}

/* The file at path as a source (NULL if it cannot be opened). */
static ifs_source *src_open(const char *path)
{
	ifs_source *s = NULL;
	ifs_err err;
	ifs_err_clear(&err);
	return ifs_source_open_file(path, 0, &s, &err) == 0 ? s : NULL;
}

/* A read that goes on from where the cursor stands when it can (at or
 * after cp's boundary), else starts at cp, which must serve off. */
static ssize_t cur_read(ifs_gz_cursor *c, const ifs_gz_checkpoint *cp, uint64_t off,
			uint8_t *buf, size_t len, ifs_err *err)
{
	uint64_t pos = ifs_gz_cursor_pos(c);
	if (!cp)
		return ifs_err_set(err, EINVAL, "no checkpoint for offset %llu",
				   (unsigned long long)off);
	if (pos == UINT64_MAX || pos > off || pos < cp->out) {
		int rc = ifs_gz_cursor_start(c, cp, 0, err);
		if (rc < 0)
			return rc;
	}
	return ifs_gz_cursor_read(c, off, buf, len, err);
}

/* Reads [off, off+len) through c and compares with exp. */
static int read_ok(ifs_gz_cursor *cur, const ifs_gz_cplist *l, const uint8_t *exp,
		   size_t n, uint64_t off, size_t len, uint8_t *buf)
{
	ifs_err err;
	ifs_err_clear(&err);
	ssize_t got = cur_read(cur, ifs_gz_cplist_find(l, off), off, buf, len, &err);
	size_t want = off >= n ? 0 : (n - off < len ? n - off : len);
	if (got < 0 || (size_t)got != want) {
		fprintf(stderr, "read off=%llu len=%zu: got %zd want %zu (%s)\n",
			(unsigned long long)off, len, got, want, err.msg);
		return 0;
	}
	return want == 0 || memcmp(buf, exp + off, want) == 0;
}

/* Block boundaries (uncompressed offsets) of a single-member gzip file,
 * found with zlib's Z_BLOCK; malloc'd, *nb entries, the first is 0. */
static uint64_t *boundaries(const char *path, size_t *nb)
{
	size_t zn, cap = 1024;
	uint8_t *z = tu_slurp(path, &zn);
	uint64_t *bd = malloc(cap * sizeof *bd);
	uint8_t *out = malloc(1 << 20);
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	if (!z || !bd || !out || inflateInit2(&zs, 31) != Z_OK) {
		free(z), free(bd), free(out);
		return NULL;
	}
	*nb = 0;
	bd[(*nb)++] = 0;
	zs.next_in = z;
	zs.avail_in = (uInt)zn;
	int zr = Z_OK;
	while (zr == Z_OK) {
		zs.next_out = out;
		zs.avail_out = 1 << 20;
		zr = inflate(&zs, Z_BLOCK);
		if ((zs.data_type & 128) && !(zs.data_type & 64) && zs.total_out != bd[*nb - 1]) {
			if (*nb == cap) {
				cap *= 2;
				bd = realloc(bd, cap * sizeof *bd);
			}
			bd[(*nb)++] = zs.total_out;
		}
	}
	inflateEnd(&zs);
	free(z);
	free(out);
	if (zr != Z_STREAM_END) {
		free(bd);
		return NULL;
	}
	return bd;
}

/* A fixture case: path gets DIR/NAME.gz; returns what gzip -dc gives for it
 * (NAME.expect, malloc'd, *n bytes), or NULL. */
static uint8_t *load_case(const char *dir, const char *name, char path[4096], size_t *n)
{
	char epath[4096];
	snprintf(path, 4096, "%s/%s.gz", dir, name);
	snprintf(epath, sizeof epath, "%s/%s.expect", dir, name);
	return tu_slurp(epath, n);
}

static void test_file(const char *dir, const char *name, uint64_t *seed)
{
	char path[4096];
	size_t n = 0;
	uint8_t *exp = load_case(dir, name, path, &n);
	CHECK(exp != NULL, "%s: expected output", name);
	if (!exp)
		return;

	scanctx c;
	ifs_gz_scan_result res;
	ifs_err err;
	int rc = scan(path, &c, 300000, &res, &err);
	CHECK(rc == 0, "%s: scan: %d %s", name, rc, err.msg);
	CHECK(res.out_size == n, "%s: out_size %llu, gzip -dc gives %zu", name,
	      (unsigned long long)res.out_size, n);
	CHECK(c.data_bytes == n && c.order_ok && c.add_ok, "%s: on_data saw %llu bytes, in order",
	      name, (unsigned long long)c.data_bytes);
	CHECK(c.data_crc == crc32(0, exp, (uInt)n), "%s: on_data bytes match", name);
	CHECK(res.checkpoints == c.cps.n, "%s: checkpoint count %llu", name,
	      (unsigned long long)res.checkpoints);
	CHECK(c.cps.n > 0 && c.cps.cp[0].out == 0, "%s: checkpoint at 0", name);

	/* Every want is served by a checkpoint at the last block boundary at or
	 * before it; boundaries found independently with zlib (single-member
	 * files only: zlib's gzip mode stops at the first member's end). */
	if (strcmp(name, "multi") != 0 && strcmp(name, "padded") != 0) {
		size_t nb = 0;
		uint64_t *bd = boundaries(path, &nb);
		int served = bd != NULL;
		for (uint64_t w = 0; bd && w < n; w += WANT_EVERY) {
			size_t k = 0;
			while (k + 1 < nb && bd[k + 1] <= w)
				k++;
			const ifs_gz_checkpoint *cp = ifs_gz_cplist_find(&c.cps, w);
			if (!cp || cp->out != bd[k]) {
				served = 0;
				fprintf(stderr, "want %llu: cp %llu, boundary %llu\n",
					(unsigned long long)w, cp ? (unsigned long long)cp->out : 0ull,
					(unsigned long long)bd[k]);
			}
		}
		CHECK(served, "%s: each want served at the last boundary before it (%zu boundaries)",
		      name, nb);
		/* max_spacing: at every boundary, the last checkpoint is less than
		 * max_spacing behind (else one is made right there). */
		int spaced = 1;
		for (size_t k = 1; bd && k < nb; k++) {
			const ifs_gz_checkpoint *cp = ifs_gz_cplist_find(&c.cps, bd[k]);
			if (!cp || bd[k] - cp->out >= 300000)
				spaced = 0;
		}
		CHECK(spaced, "%s: max_spacing honoured", name);
		free(bd);
	}

	ifs_gz_cursor *cur = NULL, *warm = NULL;
	ifs_source *src = src_open(path);
	CHECK(src && ifs_gz_cursor_new(src, &cur, &err) == 0 &&
	      ifs_gz_cursor_new(src, &warm, &err) == 0, "%s: cursors", name);
	if (!cur || !warm)
		goto out;
	uint8_t *buf = malloc(300000);

	/* Each sparse window reproduces the output from the checkpoint's `from`
	 * on exactly (64 KiB of it: past the 32 KiB that can still reach back
	 * before `from`), though it keeps only the bytes that output reads. */
	size_t bad = 0, unaligned = 0, wbytes = 0, nwin = 0, pruned = 0, entries = 0;
	for (size_t i = 0; i < c.cps.n; i++) {
		const ifs_gz_checkpoint *cp = &c.cps.cp[i];
		ifs_gz_cursor_free(cur);
		cur = NULL;
		ifs_gz_cursor_new(src, &cur, &err);
		ifs_err_clear(&err);
		if (cp->in_bit & 7)
			unaligned++;
		if (cp->window_len) {
			wbytes += cp->window_len;
			nwin++;
		}
		if (cp->from > cp->out)
			pruned++;
		if (cp->entry_bit)
			entries++;
		if (cp->entry_bit && (cp->entry_bit < cp->in_bit + cp->hdr_bits || cp->from == cp->out))
			bad++;
		size_t want = n - cp->from < 65536 ? n - cp->from : 65536;
		ssize_t got = cur_read(cur, cp, cp->from, buf, 65536, &err);
		if (got != (ssize_t)want || memcmp(buf, exp + cp->from, want) != 0)
			bad++;
		/* before `from` it is not served */
		if (cp->from > cp->out && cur_read(cur, cp, cp->from - 1, buf, 1, &err) >= 0)
			bad++;
	}
	CHECK(bad == 0, "%s: %zu of %zu sparse windows reproduce the data", name,
	      c.cps.n - bad, c.cps.n);
	if (strcmp(name, "long") != 0)
		CHECK(pruned > 0 || c.cps.n < 3, "%s: %zu checkpoints serve from after their "
		      "boundary", name, pruned);
	else  /* its wants are > 1 MiB into their blocks: served from the boundary */
		CHECK(pruned == 0 && c.cps.n >= 3, "long: %zu checkpoints, %zu serve from after "
		      "their boundary", c.cps.n, pruned);
	/* most that serve from after their boundary start there too, inside the
	 * block (the rest: a copy runs across `from`, or a stored block; text,
	 * with its long copies, has fewer) */
	int stored = !strcmp(name, "falsestart");   /* stored blocks only: no entry, aligned */
	if (pruned >= 10 && !stored)
		CHECK(entries * 2 > pruned, "%s: %zu of %zu checkpoints start at their entry", name,
		      entries, pruned);
	if (strcmp(name, "bsdtar") != 0 && !stored)
		CHECK(unaligned > 0, "%s: some checkpoints at non-byte-aligned bits (%zu)", name, unaligned);
	if (nwin)
		CHECK(wbytes / nwin < 6000, "%s: sparse windows average %zu bytes", name, wbytes / nwin);

	/* An entry that cannot be one (a header shorter than a block type, or
	 * longer than any) is refused, not followed. */
	for (size_t i = 0; i < c.cps.n; i++) {
		if (!c.cps.cp[i].entry_bit)
			continue;
		ifs_gz_checkpoint e = c.cps.cp[i];
		int refused = 1;
		for (int k = 0; k < 3; k++) {
			e.hdr_bits = k == 0 ? 2 : k == 1 ? IFS_GZ_HDR_BITS_MAX + 1
						    : (uint32_t)(c.cps.cp[i].entry_bit - e.in_bit + 1);
			ifs_err_clear(&err);
			int got = ifs_gz_cursor_start(cur, &e, 0, &err);
			refused = refused && got == -EIO && strstr(err.msg, "entry") &&
				  ifs_gz_cursor_pos(cur) == UINT64_MAX;
		}
		CHECK(refused, "%s: impossible entries are refused (%s)", name, err.msg);
		break;
	}

	/* Random reads, cold and warm, near checkpoints and the ends. */
	int cold_ok = 1, warm_ok = 1;
	for (int i = 0; i < 1500; i++) {
		uint64_t r = tu_rand(seed);
		uint64_t off;
		switch (r % 5) {
		case 0: {
			const ifs_gz_checkpoint *cp = &c.cps.cp[(r >> 8) % c.cps.n];
			off = cp->out + (r >> 40) % 7;
			off = off >= 3 ? off - 3 : 0;
			break;
		}
		case 1:
			off = n - (r >> 8) % 300;
			off = off > 3 ? off + (r >> 30) % 6 - 3 : 0;
			break;
		default:
			off = (r >> 8) % (n + 10);
		}
		size_t len = (r >> 20) % 4 == 0 ? 1 + (r >> 50) % 16 : (r >> 24) % 250000;
		if (i % 3 == 0) {
			ifs_gz_cursor_free(cur);
			cur = NULL;
			ifs_gz_cursor_new(src, &cur, &err);
			if (!cur || !read_ok(cur, &c.cps, exp, n, off, len, buf))
				cold_ok = 0;
		} else if (!read_ok(warm, &c.cps, exp, n, off, len, buf)) {
			warm_ok = 0;
		}
	}
	CHECK(cold_ok, "%s: random reads from cold cursors", name);
	CHECK(warm_ok, "%s: random reads from one warm cursor", name);

	/* Sequential 128 KiB reads: one start, never a restart. */
	ifs_gz_cursor_free(cur);
	cur = NULL;
	ifs_gz_cursor_new(src, &cur, &err);
	int seq_ok = cur != NULL;
	for (uint64_t off = 0; seq_ok && off <= n; off += 131072)
		seq_ok = read_ok(cur, &c.cps, exp, n, off, 131072, buf);
	CHECK(seq_ok, "%s: sequential reads", name);
	CHECK(cur && ifs_gz_cursor_restarts(cur) == 1, "%s: sequential reads restarted %llu times",
	      name, cur ? (unsigned long long)ifs_gz_cursor_restarts(cur) : 0ull);
	/* it never goes back: that takes a start at a checkpoint */
	ifs_err_clear(&err);
	CHECK(cur && ifs_gz_cursor_read(cur, 0, buf, 1, &err) == -EINVAL, "%s: no read behind "
	      "the cursor: %s", name, err.msg);
	/* told where the compressed bytes it will read end, it reads the same */
	const ifs_gz_checkpoint *mid = &c.cps.cp[c.cps.n / 2];
	size_t mlen = n - mid->from < 200000 ? n - mid->from : 200000;
	ifs_err_clear(&err);
	CHECK(cur && ifs_gz_cursor_start(cur, mid, ifs_source_size(src), &err) == 0 &&
	      ifs_gz_cursor_read(cur, mid->from, buf, mlen, &err) == (ssize_t)mlen &&
	      !memcmp(buf, exp + mid->from, mlen), "%s: a start with the input's end: %s", name,
	      err.msg);
	free(buf);
out:
	ifs_gz_cursor_free(cur);
	ifs_gz_cursor_free(warm);
	ifs_source_close(src);
	ifs_gz_cplist_free(&c.cps);
	free(exp);
}

/* The default price gives entries to some checkpoints only (the ones that
 * save the most inflating for the bytes), the same entries, and every
 * checkpoint, with or without, reproduces the data from its `from`. */
static size_t default_entries;

static void test_prices(const char *dir, const char *name)
{
	char path[4096];
	size_t n = 0;
	uint8_t *exp = load_case(dir, name, path, &n);
	scanctx all, def;
	ifs_gz_scan_result res;
	ifs_err err;
	entry_price = IFS_GZ_ENTRY_ALWAYS;
	int rc = scan(path, &all, 300000, &res, &err);
	entry_price = 0;
	rc = rc ? rc : scan(path, &def, 300000, &res, &err);
	entry_price = IFS_GZ_ENTRY_ALWAYS;
	CHECK(rc == 0 && exp && all.cps.n == def.cps.n, "%s: scans at both prices", name);
	size_t same = 0, nall = 0, ndef = 0, bad = 0;
	uint8_t *buf = malloc(65536);
	ifs_source *src = src_open(path);
	for (size_t i = 0; rc == 0 && exp && buf && i < def.cps.n && i < all.cps.n; i++) {
		const ifs_gz_checkpoint *a = &all.cps.cp[i], *d = &def.cps.cp[i];
		nall += a->entry_bit != 0;
		ndef += d->entry_bit != 0;
		same += a->out == d->out && a->from == d->from && a->in_bit == d->in_bit &&
			(!d->entry_bit || (d->entry_bit == a->entry_bit && d->hdr_bits == a->hdr_bits &&
					   d->window_len == a->window_len));
		ifs_gz_cursor *cur = NULL;
		ifs_err_clear(&err);
		if (ifs_gz_cursor_new(src, &cur, &err) < 0) {
			bad++;
			continue;
		}
		size_t want = n - d->from < 65536 ? n - d->from : 65536;
		ssize_t got = cur_read(cur, d, d->from, buf, 65536, &err);
		if (got != (ssize_t)want || memcmp(buf, exp + d->from, want) != 0)
			bad++;
		ifs_gz_cursor_free(cur);
	}
	default_entries += ndef;
	CHECK(same == def.cps.n && bad == 0 && ndef <= nall,
	      "%s: default price: %zu of %zu entries kept, %zu checkpoints alike, %zu bad", name,
	      ndef, nall, same, bad);
	ifs_source_close(src);
	free(buf);
	free(exp);
	ifs_gz_cplist_free(&all.cps);
	ifs_gz_cplist_free(&def.cps);
}

/* Resumes a scan at checkpoint cp of a full scan (c): the rest of the
 * output, the checks and the checkpoints must be what the full scan gave. */
static int scan_from(const char *path, const ifs_gz_checkpoint *cp, const uint8_t *exp,
		     scanctx *c, ifs_gz_scan_result *res, ifs_err *err)
{
	uint64_t wl = cp->out >= cp->member_out ? cp->out - cp->member_out : 0;
	wl = wl < 32768 ? wl : 32768;
	return scan_at(path, cp, exp + cp->out - wl, c, 300000, res, err);
}

static void test_resume(const char *dir, const char *name)
{
	char path[4096];
	size_t n = 0;
	uint8_t *exp = load_case(dir, name, path, &n);
	scanctx full, part;
	ifs_gz_scan_result fres, pres;
	ifs_err err;
	if (!exp || scan(path, &full, 300000, &fres, &err) != 0) {
		CHECK(0, "%s: full scan for resuming", name);
		free(exp);
		return;
	}
	int tried = 0;
	for (size_t k = 0; k < 12 && full.cps.n; k++) {
		const ifs_gz_checkpoint *cp = &full.cps.cp[k * full.cps.n / 12];
		int rc = scan_from(path, cp, exp, &part, &pres, &err);
		tried++;
		CHECK(rc == 0, "%s: resumed at %llu: %d %s", name, (unsigned long long)cp->out, rc,
		      err.msg);
		if (rc)
			continue;
		CHECK(part.order_ok && part.add_ok && part.data_bytes == n - cp->out &&
		      part.data_crc == crc32(0, exp + cp->out, (uInt)(n - cp->out)),
		      "%s: resumed at %llu: the rest of the output", name, (unsigned long long)cp->out);
		CHECK(pres.out_size == n && pres.members == fres.members && pres.in_size == fres.in_size,
		      "%s: resumed at %llu: totals", name, (unsigned long long)cp->out);
		/* each checkpoint it emits is the full scan's, window for window */
		int same = part.cps.n > 0 || cp->out + 300000 >= n;
		for (size_t i = 0; i < part.cps.n && same; i++) {
			const ifs_gz_checkpoint *p = &part.cps.cp[i];
			const ifs_gz_checkpoint *f = ifs_gz_cplist_find(&full.cps, p->from);
			same = p->out > cp->out && f && f->out == p->out && f->from == p->from &&
			       f->in_bit == p->in_bit && f->entry_bit == p->entry_bit &&
			       f->hdr_bits == p->hdr_bits &&
			       f->window_len == p->window_len && f->crc == p->crc &&
			       f->member_out == p->member_out && f->members == p->members &&
			       (!p->window_len || !memcmp(f->window, p->window, p->window_len));
		}
		CHECK(same, "%s: resumed at %llu: %zu checkpoints equal the full scan's", name,
		      (unsigned long long)cp->out, part.cps.n);
		ifs_gz_cplist_free(&part.cps);
	}
	CHECK(tried > 0, "%s: resumed scans", name);
	/* a broken trailer is still caught after a resume (the CRC goes on) */
	if (!strcmp(name, "gzip6") && full.cps.n > 2) {
		char bad[4096];
		snprintf(bad, sizeof bad, "%s/bad-resume.gz", dir);
		size_t gn;
		uint8_t *g = tu_slurp(path, &gn);
		FILE *f = g ? fopen(bad, "wb") : NULL;
		if (f) {
			g[gn - 6] ^= 0x40;
			fwrite(g, 1, gn, f);
			fclose(f);
		}
		free(g);
		int rc = scan_from(bad, &full.cps.cp[full.cps.n / 2], exp, &part, &pres, &err);
		CHECK(rc == -EIO && strstr(err.msg, "CRC-32"), "resumed scan of a bad trailer: %d %s",
		      rc, err.msg);
		ifs_gz_cplist_free(&part.cps);
		/* an inconsistent resume point is refused, not decoded */
		ifs_gz_checkpoint odd = full.cps.cp[full.cps.n / 2];
		odd.member_out = odd.out + 1;
		rc = scan_from(path, &odd, exp, &part, &pres, &err);
		CHECK(rc < 0, "inconsistent resume point refused: %d", rc);
		ifs_gz_cplist_free(&part.cps);
	}
	ifs_gz_cplist_free(&full.cps);
	free(exp);
}

/* A copy of src with `patch` applied: xor byte at off, or truncate to off. */
static void make_bad(const char *src, const char *dst, long off, int xor_val, long truncate_to)
{
	size_t n;
	uint8_t *d = tu_slurp(src, &n);
	if (!d)
		return;
	if (off >= 0 && (size_t)off < n)
		d[off] ^= (uint8_t)xor_val;
	if (truncate_to >= 0 && (size_t)truncate_to < n)
		n = (size_t)truncate_to;
	FILE *f = fopen(dst, "wb");
	if (f) {
		fwrite(d, 1, n, f);
		fclose(f);
	}
	free(d);
}

static void expect_scan_error(const char *path, const char *what, const char *needle)
{
	scanctx c;
	ifs_gz_scan_result res;
	ifs_err err;
	int rc = scan(path, &c, 0, &res, &err);
	CHECK(rc == -EIO, "%s: scan fails with -EIO (got %d: %s)", what, rc, err.msg);
	CHECK(strstr(err.msg, "offset") != NULL, "%s: message names the offset: %s", what, err.msg);
	if (needle)
		CHECK(strstr(err.msg, needle) != NULL, "%s: message says '%s': %s", what, needle, err.msg);
	ifs_gz_cplist_free(&c.cps);
}

/* Reads the whole file sequentially from checkpoint 0; must end in -EIO. */
static void expect_read_error(const char *path, const ifs_gz_cplist *l, const char *what)
{
	ifs_source *src = src_open(path);
	ifs_gz_cursor *cur = NULL;
	ifs_err err;
	ifs_err_clear(&err);
	if (!src || ifs_gz_cursor_new(src, &cur, &err) != 0) {
		CHECK(0, "%s: open", what);
		return;
	}
	uint8_t *buf = malloc(131072);
	ssize_t got = 1;
	for (uint64_t off = 0; got > 0; off += (uint64_t)got)
		got = cur_read(cur, ifs_gz_cplist_find(l, off), off, buf, 131072, &err);
	CHECK(got == -EIO && strstr(err.msg, "offset"), "%s: reading ends in -EIO (%zd: %s)",
	      what, got, err.msg);
	free(buf);
	ifs_gz_cursor_free(cur);
	ifs_source_close(src);
}

static void test_corrupt(const char *dir)
{
	char src[4096], bad[4096];
	snprintf(src, sizeof src, "%s/gzip6.gz", dir);
	snprintf(bad, sizeof bad, "%s/bad.gz", dir);
	size_t n;
	uint8_t *d = tu_slurp(src, &n);
	if (!d)
		return;
	free(d);

	scanctx good;
	ifs_gz_scan_result res;
	ifs_err err;
	CHECK(scan(src, &good, 0, &res, &err) == 0, "gzip6 rescan");

	make_bad(src, bad, 0, 0x01, -1);
	expect_scan_error(bad, "bad magic", "not gzip");
	make_bad(src, bad, 2, 0x01, -1);
	expect_scan_error(bad, "bad method", "method");
	make_bad(src, bad, (long)n - 6, 0x40, -1);
	expect_scan_error(bad, "bad trailer CRC", "CRC-32");
	make_bad(src, bad, -1, 0, (long)n - 3);
	expect_scan_error(bad, "truncated trailer", "truncated");
	make_bad(src, bad, -1, 0, (long)n / 2);
	expect_scan_error(bad, "truncated in the middle", "truncated");
	expect_read_error(bad, &good.cps, "read truncated file");

	make_bad(src, bad, (long)n / 2, 0x10, -1);
	expect_scan_error(bad, "flipped byte mid-stream", NULL);
	expect_read_error(bad, &good.cps, "read flipped byte (CRC or decoder)");

	/* An invalid block type (3) at a checkpoint: the decoder itself must see
	 * it, from a cold cursor at that checkpoint. */
	const ifs_gz_checkpoint *cp = &good.cps.cp[good.cps.n / 2];
	uint64_t b = cp->in_bit + 1; /* BTYPE bits follow BFINAL */
	make_bad(src, bad, -1, 0, -1);
	d = tu_slurp(bad, &n);
	if (d) {
		d[b >> 3] |= (uint8_t)(1u << (b & 7));
		d[(b + 1) >> 3] |= (uint8_t)(1u << ((b + 1) & 7));
		FILE *f = fopen(bad, "wb");
		fwrite(d, 1, n, f);
		fclose(f);
		free(d);
	}
	expect_scan_error(bad, "invalid block type", NULL);
	ifs_source *bsrc = src_open(bad);
	ifs_gz_cursor *cur = NULL;
	ifs_err_clear(&err);
	ifs_gz_cursor_new(bsrc, &cur, &err);
	uint8_t buf[4096];
	ssize_t got = cur ? cur_read(cur, cp, cp->from, buf, sizeof buf, &err) : 0;
	CHECK(got == -EIO && strstr(err.msg, "offset"), "invalid block type: cold read fails: %zd %s",
	      got, err.msg);
	ifs_gz_cursor_free(cur);
	ifs_source_close(bsrc);

	/* Trailing garbage after the last member. */
	tu_sh("cp '%s' '%s' && printf 'junk' >> '%s'", src, bad, bad);
	expect_scan_error(bad, "trailing garbage", "garbage");
	tu_sh("printf '' > '%s'", bad);
	expect_scan_error(bad, "empty file", NULL);
	ifs_gz_cplist_free(&good.cps);
}

/* ---- damage: what a failed scan says can still be trusted ---------------- */

typedef struct capture {
	uint8_t *buf;
	size_t len, cap;
} capture;

static int on_capture(void *ctx, ifs_gz_scan *s, const uint8_t *buf, size_t len, uint64_t off)
{
	(void)s;
	capture *c = ctx;
	if (off != c->len)
		return -EPROTO;
	if (c->len + len > c->cap) {
		size_t cap = (c->len + len) * 2;
		uint8_t *p = realloc(c->buf, cap);
		if (!p)
			return -ENOMEM;
		c->buf = p;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	return 0;
}

/*
 * Scans the damaged file bad: it must fail with damage `kind` (or with
 * kind2, when not 0), every byte delivered before good_out must be the
 * expected output's, and good_out must lie in [lo, hi].
 */
static void expect_damage(const char *bad, const uint8_t *exp, size_t explen, const char *what,
			  int kind, int kind2, uint64_t lo, uint64_t hi, ifs_gz_scan_result *out)
{
	capture c = {0};
	ifs_gz_scan_result res;
	memset(&res, 0xff, sizeof res);
	ifs_err err;
	ifs_err_clear(&err);
	ifs_gz_scan_opts o = {.on_data = on_capture, .ctx = &c, .threads = scan_threads,
			      .chunk_size = scan_chunk};
	ifs_source *src = src_open(bad);
	int rc = !src ? -ENOENT : ifs_gz_scan_source(src, &o, &res, &err);
	ifs_source_close(src);
	CHECK(rc == -EIO, "%s: fails with -EIO (%d: %s)", what, rc, err.msg);
	CHECK(res.damage == kind || (kind2 && res.damage == kind2), "%s: damage %d (%s), want %d",
	      what, res.damage, ifs_gz_damage_name(res.damage), kind);
	if (kind == IFS_GZ_DAMAGE_NONE)
		goto out;
	CHECK(res.good_out >= lo && res.good_out <= hi, "%s: good_out %llu in [%llu, %llu]", what,
	      (unsigned long long)res.good_out, (unsigned long long)lo, (unsigned long long)hi);
	CHECK(res.good_out <= c.len && res.good_out <= explen && memcmp(c.buf, exp, res.good_out) == 0,
	      "%s: the %llu bytes before good_out are the archive's (%zu delivered)", what,
	      (unsigned long long)res.good_out, c.len);
	CHECK(res.damage_in > 0, "%s: names where (%llu)", what, (unsigned long long)res.damage_in);
	if (kind == IFS_GZ_GARBAGE || (kind == IFS_GZ_TRUNCATED && hi == explen))
		CHECK(res.good_out == c.len, "%s: all %zu bytes delivered are kept (%llu)", what,
		      c.len, (unsigned long long)res.good_out);
	else if (kind == IFS_GZ_TRUNCATED)
		CHECK(res.good_out + (64u << 10) == c.len || (c.len < (64u << 10) && !res.good_out),
		      "%s: all but the last 64 KiB of the %zu bytes delivered are kept (%llu)",
		      what, c.len, (unsigned long long)res.good_out);
	CHECK(res.in_size == 0 && res.out_size == 0, "%s: no totals for a failed scan", what);
out:
	if (out)
		*out = res;
	free(c.buf);
}

static void test_damage(const char *dir)
{
	char src[4096], bad[4096];
	snprintf(bad, sizeof bad, "%s/damaged.gz", dir);
	size_t n, explen;
	uint8_t *exp = load_case(dir, "gzip6", src, &explen);
	uint8_t *d = tu_slurp(src, &n);
	if (!d || !exp) {
		CHECK(0, "damage: loading gzip6");
		free(d);
		free(exp);
		return;
	}
	free(d);
	ifs_gz_scan_result res;

	/* an interrupted download: everything delivered is right */
	make_bad(src, bad, -1, 0, (long)(n * 6 / 10));
	expect_damage(bad, exp, explen, "truncated at 60%", IFS_GZ_TRUNCATED, 0, 1, explen - 1,
		      &res);
	CHECK(res.damage_in == n * 6 / 10, "truncated: found at the end of the file (%llu)",
	      (unsigned long long)res.damage_in);
	{
		/* every byte before good_out reads back through a cursor from the
		 * truncated file, from any checkpoint before it */
		scanctx g;
		ifs_err e2;
		CHECK(scan(src, &g, 0, NULL, &e2) == 0, "gzip6 scan");
		ifs_source *bsrc = src_open(bad);
		ifs_gz_cursor *cur = NULL;
		ifs_err_clear(&e2);
		uint8_t *buf = malloc(res.good_out + 1);
		int ok = bsrc && buf && ifs_gz_cursor_new(bsrc, &cur, &e2) == 0;
		for (size_t i = 0; ok && i < g.cps.n && g.cps.cp[i].from < res.good_out; i += 7) {
			const ifs_gz_checkpoint *c = &g.cps.cp[i];
			size_t len = (size_t)(res.good_out - c->from);
			ssize_t got = cur_read(cur, c, c->from, buf, len, &e2);
			ok = got == (ssize_t)len && memcmp(buf, exp + c->from, len) == 0;
			CHECK(ok, "truncated: [%llu, good_out) reads back (%zd: %s)",
			      (unsigned long long)c->from, got, e2.msg);
		}
		CHECK(ok, "truncated: reads back");
		free(buf);
		ifs_gz_cursor_free(cur);
		ifs_source_close(bsrc);
		ifs_gz_cplist_free(&g.cps);
	}
	make_bad(src, bad, -1, 0, (long)n - 3);
	expect_damage(bad, exp, explen, "truncated trailer", IFS_GZ_TRUNCATED, 0, explen, explen,
		      NULL);
	/* a wrong trailer: nothing in that gzip member is vouched for */
	make_bad(src, bad, (long)n - 6, 0x40, -1);
	expect_damage(bad, exp, explen, "bad trailer CRC", IFS_GZ_BAD_TRAILER, 0, 0, 0, NULL);
	/* bytes after the last member: all of it was checked */
	tu_sh("cp '%s' '%s' && printf 'junk' >> '%s'", src, bad, bad);
	expect_damage(bad, exp, explen, "trailing garbage", IFS_GZ_GARBAGE, 0, explen, explen, NULL);
	/* a flipped byte: caught by the decoder or by the trailer */
	make_bad(src, bad, (long)n / 2, 0x10, -1);
	expect_damage(bad, exp, explen, "flipped byte", IFS_GZ_CORRUPT, IFS_GZ_BAD_TRAILER, 0,
		      explen, &res);
	if (res.damage == IFS_GZ_CORRUPT)
		CHECK(res.good_out > 0 && res.good_out < explen, "flipped byte: some of the data "
		      "is kept (%llu)", (unsigned long long)res.good_out);
	/* an invalid block type at a block boundary in the middle: found there,
	 * and what comes before the 64 KiB margin is kept */
	scanctx good;
	ifs_err err;
	CHECK(scan(src, &good, 0, NULL, &err) == 0, "gzip6 rescan");
	const ifs_gz_checkpoint *cp = &good.cps.cp[good.cps.n / 2];
	make_bad(src, bad, -1, 0, -1);
	d = tu_slurp(bad, &n);
	if (d) {
		uint64_t b = cp->in_bit + 1;   /* BTYPE bits follow BFINAL */
		d[b >> 3] |= (uint8_t)(1u << (b & 7));
		d[(b + 1) >> 3] |= (uint8_t)(1u << ((b + 1) & 7));
		FILE *f = fopen(bad, "wb");
		if (f) {
			fwrite(d, 1, n, f);
			fclose(f);
		}
		free(d);
	}
	expect_damage(bad, exp, explen, "invalid block type", IFS_GZ_CORRUPT, 0,
		      cp->out > (1u << 20) ? cp->out - (1u << 20) : 0, cp->out - (64u << 10), &res);
	CHECK(res.damage_in >= cp->in_bit / 8, "invalid block type: found at or after it");
	ifs_gz_cplist_free(&good.cps);
	/* not gzip at all: no damage to report, the file is refused */
	make_bad(src, bad, 0, 0x01, -1);
	expect_damage(bad, exp, explen, "bad magic", IFS_GZ_DAMAGE_NONE, 0, 0, 0, NULL);
	free(exp);
}

/* Two checkpoints are the same row (and the same stream state). */
static int same_cp(const ifs_gz_checkpoint *a, const ifs_gz_checkpoint *b)
{
	return a->out == b->out && a->from == b->from && a->in_bit == b->in_bit &&
	       a->entry_bit == b->entry_bit && a->hdr_bits == b->hdr_bits &&
	       a->window_len == b->window_len && a->crc == b->crc &&
	       a->member_out == b->member_out && a->members == b->members &&
	       (!a->window_len || !memcmp(a->window, b->window, a->window_len));
}

/* The chunked scan against the serial one, for several thread counts and
 * chunk sizes: the same output, totals and checkpoints, row for row. */
static void test_chunked(const char *dir, const char *name)
{
	static const struct { int threads; uint32_t chunk; } cf[] = {
		{1, 16384}, {2, 65536}, {3, 7000}, {4, 1u << 20}, {2, 0}, {8, 3000}};
	char path[4096];
	size_t n = 0;
	uint8_t *exp = load_case(dir, name, path, &n);
	scanctx ref, c;
	ifs_gz_scan_result rres, res;
	ifs_err err;
	scan_threads = IFS_GZ_SERIAL;
	keep_bounds = 1;
	int rc = scan(path, &ref, 300000, &rres, &err);
	CHECK(rc == 0 && exp && ref.data_bytes == n, "%s: serial scan: %d %s", name, rc, err.msg);
	uint64_t used = 0, unjoined = 0, copied = 0;
	for (size_t k = 0; rc == 0 && k < sizeof cf / sizeof *cf; k++) {
		scan_threads = cf[k].threads;
		scan_chunk = cf[k].chunk;
		rc = scan(path, &c, 300000, &res, &err);
		CHECK(rc == 0, "%s: chunked scan (%d threads, chunk %u): %d %s", name, cf[k].threads,
		      cf[k].chunk, rc, err.msg);
		if (rc)
			break;
		size_t same = 0, same_bd = 0;
		for (size_t i = 0; i < c.cps.n && i < ref.cps.n; i++)
			same += same_cp(&c.cps.cp[i], &ref.cps.cp[i]);
		for (size_t i = 0; i < c.nbd && i < ref.nbd; i++)
			same_bd += c.bd[i][0] == ref.bd[i][0] && c.bd[i][1] == ref.bd[i][1];
		CHECK(c.nbd == ref.nbd && same_bd == ref.nbd, "%s: chunked (%d threads, chunk %u) = "
		      "serial: %zu of %zu boundaries and exact ends alike (%zu)", name,
		      cf[k].threads, cf[k].chunk, same_bd, ref.nbd, c.nbd);
		CHECK(c.order_ok && c.add_ok && c.data_bytes == ref.data_bytes &&
		      c.data_crc == ref.data_crc && res.in_size == rres.in_size &&
		      res.out_size == rres.out_size && res.members == rres.members &&
		      res.checkpoints == rres.checkpoints && res.window_bytes == rres.window_bytes &&
		      c.cps.n == ref.cps.n && same == ref.cps.n,
		      "%s: chunked (%d threads, chunk %u: %llu chunks used, %llu decoded by the "
		      "caller, %llu not joined) = serial: %zu of %zu checkpoints alike", name,
		      cf[k].threads, cf[k].chunk, (unsigned long long)res.chunks_used,
		      (unsigned long long)res.chunks_own, (unsigned long long)res.chunks_unjoined,
		      same, ref.cps.n);
		used += res.chunks_used;
		unjoined += res.chunks_unjoined;
		copied += res.windows_copied;
		ifs_gz_cplist_free(&c.cps);
		free(c.bd);
	}
	/* the chunks are really decoded apart: on data with dynamic blocks most
	 * are used; in "falsestart" none can be (its stored blocks hold deflate
	 * data: the finder's starts there decode, and must be refused) */
	if (!strcmp(name, "falsestart"))
		CHECK(used == 0 && unjoined > 0, "falsestart: %llu chunks decoded from false starts, "
		      "%llu used", (unsigned long long)unjoined, (unsigned long long)used);
	else if (strcmp(name, "bsdtar") && strcmp(name, "long") && strcmp(name, "emptyrun") &&
		 strcmp(name, "oneblock"))
		CHECK(used > 20 && copied > 10, "%s: %llu chunks decoded by helper threads and used, "
		      "%llu windows made from their copies", name, (unsigned long long)used,
		      (unsigned long long)copied);
	scan_threads = IFS_GZ_SERIAL;
	scan_chunk = 0;
	keep_bounds = 0;
	ifs_gz_cplist_free(&ref.cps);
	free(ref.bd);
	free(exp);
}

/* Runs fn in a child process; returns the growth of its peak RSS in KiB
 * while fn ran (or -1), and fn's result in *ok. */
static long rss_growth(int (*fn)(const char *, uint64_t *), const char *arg, int *ok)
{
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		struct rusage a, b;
		uint64_t v[2] = {0, 0};
		getrusage(RUSAGE_SELF, &a);
		int r = fn(arg, &v[1]);
		getrusage(RUSAGE_SELF, &b);
		v[0] = r == 0 ? (uint64_t)(b.ru_maxrss - a.ru_maxrss) + 1 : 0;
		if (write(fds[1], v, sizeof v) != (ssize_t)sizeof v)
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	uint64_t v[2] = {0, 0};
	ssize_t got = pid > 0 ? read(fds[0], v, sizeof v) : -1;
	close(fds[0]);
	int st = 0;
	if (pid > 0)
		waitpid(pid, &st, 0);
	*ok = got == (ssize_t)sizeof v && v[0] > 0 && (int)v[1];
	return got == (ssize_t)sizeof v && v[0] > 0 ? (long)v[0] - 1 : -1;
}

/* A want at every byte of the output. */
static int want_all(void *ctx, ifs_gz_scan *s, const uint8_t *buf, size_t len, uint64_t off)
{
	(void)buf;
	uint64_t *count = ctx;
	for (size_t i = 0; i < len; i++)
		ifs_gz_want(s, off + i);
	*count += len;
	return 0;
}

static int scan_oneblock(const char *path, uint64_t *ok)
{
	uint64_t count = 0;
	ifs_gz_scan_opts o = {.on_data = want_all, .ctx = &count, .threads = scan_threads,
			      .chunk_size = scan_chunk};
	ifs_gz_scan_result res;
	ifs_err err;
	ifs_err_clear(&err);
	ifs_source *src = src_open(path);
	int rc = !src ? -ENOENT : ifs_gz_scan_source(src, &o, &res, &err);
	ifs_source_close(src);
	/* one checkpoint (the member's start serves every want in the block) */
	*ok = rc == 0 && count == res.out_size && res.checkpoints == 1;
	return rc;
}

/* One deflate block of 64 MiB, a checkpoint wanted at each of its bytes:
 * the wants inside one block must not pile up (8 bytes each). */
static void test_wants_bounded(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/oneblock.gz", dir);
	for (int mode = 0; mode < 2; mode++) {
		scan_threads = mode ? 2 : IFS_GZ_SERIAL;
		scan_chunk = mode ? 65536 : 0;
		int ok;
		long kib = rss_growth(scan_oneblock, path, &ok);
		CHECK(ok, "%s scan, 64 Mi wants in one block: one checkpoint", mode ? "chunked"
		      : "serial");
		CHECK(kib >= 0 && kib < 64 * 1024, "%s scan, 64 Mi wants in one block: peak RSS grew "
		      "%ld KiB", mode ? "chunked" : "serial", kib);
	}
	scan_threads = IFS_GZ_SERIAL;
	scan_chunk = 0;
}

static int want_40100(void *ctx, ifs_gz_scan *s, const uint8_t *buf, size_t len, uint64_t off)
{
	(void)ctx;
	(void)buf;
	if (off <= 40100 && 40100 < off + len)
		ifs_gz_want(s, 40100);
	return 0;
}

static int scan_emptyrun(const char *path, uint64_t *ok)
{
	ifs_gz_cplist l = {0};
	ifs_gz_scan_opts o = {.on_data = want_40100, .on_checkpoint = on_cp_list, .ctx = &l,
			      .threads = scan_threads, .chunk_size = scan_chunk};
	ifs_gz_scan_result res;
	ifs_err err;
	ifs_err_clear(&err);
	ifs_source *src = src_open(path);
	int rc = !src ? -ENOENT : ifs_gz_scan_source(src, &o, &res, &err);
	/* the checkpoint at the boundary before 40100 keeps its whole window
	 * (it cannot know which bytes the output 32 KiB on reads without
	 * reading the run), has no entry, and serves the data */
	const ifs_gz_checkpoint *cp = ifs_gz_cplist_find(&l, 40100);
	*ok = rc == 0 && cp && cp->out == 40000 && cp->from == 40100 && !cp->entry_bit &&
	      cp->window_len > 32000;
	if (*ok) {
		size_t n;
		char epath[4096];
		snprintf(epath, sizeof epath, "%.*s.expect", (int)(strlen(path) - 3), path);
		uint8_t *exp = tu_slurp(epath, &n), buf[20000];
		ifs_gz_cursor *cur = NULL;
		*ok = exp && ifs_gz_cursor_new(src, &cur, &err) == 0 &&
		      cur_read(cur, cp, 40100, buf, sizeof buf, &err) == (ssize_t)sizeof buf &&
		      !memcmp(buf, exp + 40100, sizeof buf);
		ifs_gz_cursor_free(cur);
		free(exp);
	}
	ifs_source_close(src);
	ifs_gz_cplist_free(&l);
	return rc;
}

/* A checkpoint wanted just before 24 MB of empty blocks: its sparse window
 * must not read them all into memory. */
static void test_emptyrun(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/emptyrun.gz", dir);
	for (int mode = 0; mode < 2; mode++) {
		scan_threads = mode ? 2 : IFS_GZ_SERIAL;
		scan_chunk = mode ? (1u << 20) : 0;
		int ok;
		long kib = rss_growth(scan_emptyrun, path, &ok);
		CHECK(ok, "%s scan, empty blocks after a checkpoint: its window kept whole, and "
		      "right", mode ? "chunked" : "serial");
		CHECK(kib >= 0 && kib < 12 * 1024, "%s scan, empty blocks after a checkpoint: peak "
		      "RSS grew %ld KiB", mode ? "chunked" : "serial", kib);
	}
	scan_threads = IFS_GZ_SERIAL;
	scan_chunk = 0;
}

static void test_crc(uint64_t *seed)
{
	uint8_t b[5000];
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (uint8_t)tu_rand(seed);
	int ok = ifs_crc32(0, b, 0) == 0;
	for (size_t len = 0; len < sizeof b; len += 97) {
		uint32_t z = (uint32_t)crc32(0, b, (uInt)len);
		uint32_t i1 = ifs_crc32(0, b, len);
		uint32_t i2 = ifs_crc32(ifs_crc32(0, b, len / 3), b + len / 3, len - len / 3);
		if (z != i1 || z != i2)
			ok = 0;
	}
	CHECK(ok, "ifs_crc32 equals zlib crc32, also chained");
}

/* The stored window format: crafted windows decode to what they say,
 * malformed ones fail, and random bytes never read or write out of bounds
 * (the index is input too). */
static void test_window(uint64_t *seed)
{
	static uint8_t dict[32768];
	size_t wl = 0;
	/* gap 5, 3 bytes; gap 128, 1 byte; gap 2, 10 bytes (7, then 10 - 8) */
	static const uint8_t one[] = {0x00, 5 << 3 | 2, 'a', 'b', 'c', 0x80, 0x08, 'z',
				      2 << 3 | 7, 2, '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'};
	int ok = ifs_gz_window_decode(one, sizeof one, dict, &wl) == 0 && wl == 32768 &&
		 !memcmp(dict + 5, "abc", 3) && dict[8 + 128] == 'z' && dict[4] == 0 &&
		 dict[8] == 0 && !memcmp(dict + 139, "0123456789", 10) && dict[138] == 0 &&
		 dict[149] == 0 && dict[32767] == 0;
	CHECK(ok, "window: runs land at their gaps, the rest is zero");
	/* and the encoder writes exactly that */
	static uint8_t keep[32768];
	memset(keep, 0, sizeof keep);
	memset(keep + 5, 1, 3);
	keep[136] = 1;
	memset(keep + 139, 1, 10);
	uint8_t *enc = NULL;
	uint32_t enclen = 0;
	ok = gzi_window_encode(dict, keep, 32768, &enc, &enclen) == 0 && enclen == sizeof one &&
	     !memcmp(enc, one, sizeof one);
	free(enc);
	CHECK(ok, "window: the encoder gives the same runs");
	static const uint8_t shortw[] = {0xff, 0xff, 0x01}; /* 32768 - 32767: 1 byte */
	ok = ifs_gz_window_decode(shortw, sizeof shortw, dict, &wl) == 0 && wl == 1;
	static const uint8_t none[] = {0x00};
	ok = ok && ifs_gz_window_decode(none, sizeof none, dict, &wl) == 0 && wl == 32768;
	CHECK(ok, "window: a short window, and one with no bytes kept");
	static const uint8_t *const bad[] = {
		(const uint8_t *)"\x80\x80\x02",          /* 32768 - 32768: empty */
		(const uint8_t *)"\x00\x2a" "ab",            /* run longer than the blob */
		(const uint8_t *)"\xff\xff\x01\x08" "x",    /* run past a 1-byte window */
		(const uint8_t *)"\x00\x80",                  /* unterminated varint */
		(const uint8_t *)"\x00\x80\x80\x10" "x",    /* gap to the end */
		(const uint8_t *)"\x00\x07",                  /* long run, no length */
		(const uint8_t *)"\x00\x07\xff\xff\x03" "x", /* long run past the window */
	};
	static const size_t badlen[] = {3, 4, 5, 2, 5, 2, 6};
	ok = 1;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (ifs_gz_window_decode(bad[i], badlen[i], dict, &wl) != -EIO)
			ok = 0;
	CHECK(ok, "window: malformed windows are -EIO");
	uint8_t blob[64];
	size_t clean = 0;
	for (int i = 0; i < 20000; i++) {
		size_t len = 1 + tu_rand(seed) % sizeof blob;
		for (size_t k = 0; k < len; k++)
			blob[k] = (uint8_t)tu_rand(seed);
		int rc = ifs_gz_window_decode(blob, len, dict, &wl);
		if ((rc == 0 && wl >= 1 && wl <= 32768) || rc == -EIO)
			clean++;
	}
	CHECK(clean == 20000, "window: 20000 random blobs decode or fail cleanly (%zu)", clean);
}

/* A file source that records how far ahead of each read the reader had
 * hinted: reads from `from` on that found less than `want` bytes (or the
 * rest of the file) hinted beyond them are counted as short. */
struct hintrec {
	ifs_source base;
	ifs_source *inner;
	pthread_mutex_t mu;
	uint64_t hinted;   /* the furthest end hinted so far */
	uint64_t from, want;
	uint64_t reads, short_reads;
};

static ssize_t hr_pread(ifs_source *s, void *buf, size_t len, uint64_t off, ifs_err *err)
{
	struct hintrec *h = (struct hintrec *)s;
	pthread_mutex_lock(&h->mu);
	if (off >= h->from && off < s->size) {
		uint64_t rest = s->size - off, need = rest < h->want ? rest : h->want;
		h->reads++;
		h->short_reads += h->hinted < off + need;
	}
	pthread_mutex_unlock(&h->mu);
	return ifs_source_pread(h->inner, buf, len, off, err);
}

static void hr_hint(ifs_source *s, uint64_t off, uint64_t len)
{
	struct hintrec *h = (struct hintrec *)s;
	pthread_mutex_lock(&h->mu);
	if (off + len > h->hinted)
		h->hinted = off + len;
	pthread_mutex_unlock(&h->mu);
}

static void hr_close(ifs_source *s)
{
	ifs_source_fini(s);
}

static const struct ifs_source_ops hr_ops = { hr_pread, hr_hint, hr_close, NULL, NULL };

/* The chunked scan keeps GZI_SCAN_AHEAD hinted past the chunk a worker
 * takes, however few workers there are (what a remote source must have in
 * flight depends on the network, not on the threads): past its first
 * chunks, every read finds half of that, or the rest of the file, hinted
 * beyond it. */
static void test_scan_hints_ahead(const char *dir)
{
	const uint32_t chunk = 20000;
	char path[4096];
	snprintf(path, sizeof path, "%s/gzip6.gz", dir);
	for (int threads = 1; threads <= 2; threads++) {
		ifs_err err;
		ifs_err_clear(&err);
		struct hintrec h = { .from = 2 * chunk + (64u << 10), .want = GZI_SCAN_AHEAD / 2 };
		pthread_mutex_init(&h.mu, NULL);
		h.inner = src_open(path);
		int rc = h.inner ? ifs_source_init(&h.base, &hr_ops, h.inner->size, "hintrec",
						   "hintrec", &err) : -ENOENT;
		if (rc == 0) {
			ifs_gz_cplist l = {0};
			ifs_gz_scan_opts o = {.on_checkpoint = on_cp_list, .ctx = &l,
					      .threads = threads, .chunk_size = chunk};
			ifs_gz_scan_result res;
			rc = ifs_gz_scan_source(&h.base, &o, &res, &err);
			ifs_gz_cplist_free(&l);
			ifs_source_fini(&h.base);
		}
		CHECK(rc == 0 && h.reads > 0 && h.short_reads == 0,
		      "gzip6 (%llu bytes), chunked scan, %d worker(s): %llu of %llu reads past its "
		      "first chunks found less than %u MiB (or the rest of the file) hinted beyond "
		      "them (%d %s)",
		      (unsigned long long)(h.inner ? h.inner->size : 0), threads,
		      (unsigned long long)h.short_reads, (unsigned long long)h.reads,
		      GZI_SCAN_AHEAD >> 21, rc, err.msg);
		ifs_source_close(h.inner);
		pthread_mutex_destroy(&h.mu);
	}
}

int main(void)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	char *dir = tu_tmpdir("gz");
	const char *src = getenv("INATFS_SRC");
	CHECK(dir != NULL, "tmpdir");
	if (!dir)
		return tu_end("gz");
	int rc = tu_sh("/usr/bin/python3 '%s/tests/unit/gz_fixture.py' '%s'", src ? src : ".", dir);
	CHECK(rc == 0, "fixture generation (gz_fixture.py) exit %d", rc);
	test_crc(&seed);
	test_window(&seed);
	if (rc == 0) {
		static const char *names[] = {"gzip1", "gzip6", "gzip9", "pigz", "igzip",
			"python", "bsdtar", "multi", "padded", "fancy", "long", "falsestart"};
		for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
			want_every = strcmp(names[i], "long") ? 50000 : 2000000;
			test_file(dir, names[i], &seed);
			test_resume(dir, names[i]);
			test_prices(dir, names[i]);
			test_chunked(dir, names[i]);
			/* resumed, and resumed again, in chunks */
			scan_threads = 2;
			scan_chunk = 20000;
			test_resume(dir, names[i]);
			scan_threads = IFS_GZ_SERIAL;
			scan_chunk = 0;
		}
		CHECK(default_entries > 0, "the default price gives some checkpoints their entry "
		      "(%zu)", default_entries);
		want_every = 50000;
		test_chunked(dir, "emptyrun");
		test_chunked(dir, "oneblock");
		test_emptyrun(dir);
		test_scan_hints_ahead(dir);
		test_wants_bounded(dir);
		test_corrupt(dir);
		test_damage(dir);
		scan_threads = 2;
		scan_chunk = 20000;
		test_corrupt(dir);
		test_damage(dir);
		scan_threads = IFS_GZ_SERIAL;
		scan_chunk = 0;
	}
	tu_sh("rm -rf '%s'", dir);
	free(dir);
	return tu_end("gz");
}

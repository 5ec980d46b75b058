/*
 * test_reader.c - the member reader (reader.h) without FUSE, on a real index
 * of a real fixture (reader_fixture.py: the tiny fixture with a 6 MiB member
 * of random bytes, train_val_images/Big/big.bin, and a text member after it,
 * mid-tarball). Every byte read is compared with `gzip -dc` of the tarball.
 *
 *  - whole-member reads: a first bulk read decodes the member whole when its
 *    caller takes the rest, other reads of the handle are served from that
 *    copy; probes, refusals and the budget are read as asked;
 *  - go on or start again: sequential reads start once, a jump forward of
 *    up to 4 MiB goes on, a longer one or one backwards starts again; a
 *    cursor is freed at the end of a file, kept by a file that walks on to
 *    the next member (where it goes on);
 *  - the cursor cap: past it the cursor idle the longest goes, and its file
 *    starts again;
 *  - the CRC-32 cover: scattered and overlapping reads of the good member
 *    complete the check (decoding gaps when the table is full);
 *  - damage (the archive changed after indexing: bytes flipped in big.bin's
 *    stored data, which still inflate): a whole read, reads in reverse and
 *    scattered reads fail with EIO naming the member, the member is refused
 *    at open from then on, and a walk goes on right after it;
 *  - shared content: two opens of an annotation file share one copy;
 *  - a live index, built by a real build on a thread (slowed down): an open
 *    waits for the scan to reach the image, a read waits for its archive's
 *    first checkpoint, an interrupted wait answers -EINTR without an error
 *    message, and with every place to wait taken a request gets -EAGAIN.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inatfs/index.h"
#include "inatfs/reader.h"
#include "inatfs/views.h"
#include "testutil.h"

#define MIB (1u << 20)
#define KIB (1u << 10)

static uint8_t *tv;   /* gzip -dc of the train/val tarball */
static size_t tvlen;
static uint8_t *tt;   /* ... and of the test tarball */
static size_t ttlen;

static const char *src_dir(void)
{
	const char *s = getenv("INATFS_SRC");
	return s ? s : ".";
}

/* The entry at a path of the views, component by component (no wait). */
static int lookup_path(ifs_views *v, const char *path, ifs_entry *e)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", path);
	uint64_t ino = 1;
	ifs_err err;
	for (char *save, *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		ifs_err_clear(&err);
		int r = ifs_views_lookup_child(v, ino, c, e, &err);
		if (r)
			return r;
		ino = e->ino;
	}
	return 0;
}

/* Do bytes [off, off + n) of member e read as d say? */
static int same(const ifs_entry *e, uint64_t off, const uint8_t *p, size_t n)
{
	const uint8_t *all = e->archive == IFS_ARCHIVE_TEST ? tt : tv;
	size_t len = e->archive == IFS_ARCHIVE_TEST ? ttlen : tvlen;
	return e->off + off + n <= len && memcmp(all + e->off + off, p, n) == 0;
}

static ifs_reader_stats stats(ifs_reader *r)
{
	ifs_reader_stats s;
	ifs_reader_stats_get(r, &s);
	return s;
}

/* One read as asked into a buffer of its own, checked against the tarball
 * unless raw (a damaged copy: reads that do not complete the CRC-32 cover
 * can return wrong bytes): 0, or the reader's errno (-EBADMSG: wrong bytes). */
static int read_chk(ifs_rfile *f, uint64_t off, size_t len, int raw, ifs_err *err)
{
	uint8_t *buf = malloc(len ? len : 1);
	ifs_read_req q = { .off = off, .len = len, .buf = buf };
	ifs_rdata d;
	ifs_err_clear(err);
	int r = buf ? ifs_rfile_read(f, &q, &d, err) : -ENOMEM;
	if (!r) {
		if (!raw && !same(ifs_rfile_entry(f), off, d.data, d.len))
			r = -EBADMSG;   /* wrong bytes */
		ifs_rfile_done(f, &d);
	}
	free(buf);
	return r;
}

static int read_at(ifs_rfile *f, uint64_t off, size_t len, ifs_err *err)
{
	return read_chk(f, off, len, 0, err);
}

static int take_yes(void *ctx)
{
	++*(int *)ctx;
	return 1;
}

static int take_no(void *ctx)
{
	++*(int *)ctx;
	return 0;
}

static void test_whole(ifs_index *idx, ifs_views *v, ifs_reader *r)
{
	ifs_entry e = { 0 };
	ifs_err err;
	CHECK(lookup_path(v, "train_val_images/Big/after.txt", &e) == 0 && e.size > 2 * 64 * KIB &&
	      e.size < IFS_READER_WHOLE_MAX, "after.txt: %llu bytes", (unsigned long long)e.size);
	ifs_rfile *f = NULL;
	ifs_err_clear(&err);
	CHECK(ifs_reader_open(r, NULL, e.ino, &f, &err) == 0, "open: %s", err.msg);
	if (!f)
		return;
	ifs_reader_stats s0 = stats(r);
	int taken = 0;
	ifs_read_req q = { .off = 0, .len = 64 * KIB, .take_rest = take_yes, .ctx = &taken };
	ifs_rdata d, d2;
	CHECK(ifs_rfile_read(f, &q, &d, &err) == 0 && taken == 1 && d.whole && d.data == d.whole &&
	      d.len == 64 * KIB && same(&e, 0, d.whole, e.size), "a first bulk read whose rest is "
	      "taken: the member decoded whole (%d)", taken);
	/* the next read of the handle, while the first one's copy is in use */
	ifs_read_req q2 = { .off = 64 * KIB, .len = 64 * KIB, .take_rest = take_yes, .ctx = &taken };
	CHECK(ifs_rfile_read(f, &q2, &d2, &err) == 0 && d2.data == d.whole + 64 * KIB &&
	      !d2.whole && taken == 1, "a read meanwhile is served from the copy");
	ifs_rfile_done(f, &d2);
	ifs_rfile_done(f, &d);
	ifs_reader_stats s1 = stats(r);
	CHECK(s1.wholes == s0.wholes + 1 && s1.checks == s0.checks + 1 && s1.starts == s0.starts + 1,
	      "one whole decode, one check, one start");
	CHECK(s1.cursors == 0, "the cursor went at the end of the member: %u", s1.cursors);
	ifs_rfile_close(f);

	/* a probe of a few KiB, a caller that does not take the rest: as asked */
	CHECK(ifs_reader_open(r, NULL, e.ino, &f, &err) == 0, "open");
	ifs_read_req p = { .off = 0, .len = 4 * KIB, .take_rest = take_yes, .ctx = &taken };
	CHECK(ifs_rfile_read(f, &p, &d, &err) == 0 && !d.whole && taken == 1 &&
	      same(&e, 0, d.data, d.len), "a probe is read as asked, nothing taken");
	ifs_rfile_done(f, &d);
	ifs_rfile_close(f);
	CHECK(ifs_reader_open(r, NULL, e.ino, &f, &err) == 0, "open");
	ifs_read_req n = { .off = 0, .len = 64 * KIB, .take_rest = take_no, .ctx = &taken };
	CHECK(ifs_rfile_read(f, &n, &d, &err) == 0 && !d.whole && taken == 2 &&
	      same(&e, 0, d.data, d.len), "rest not taken: read as asked");
	ifs_rfile_done(f, &d);
	ifs_rfile_close(f);
	/* the whole file in one read needs no taker */
	CHECK(ifs_reader_open(r, NULL, e.ino, &f, &err) == 0, "open");
	ifs_read_req a = { .off = 0, .len = e.size };
	CHECK(ifs_rfile_read(f, &a, &d, &err) == 0 && d.whole && d.len == e.size &&
	      same(&e, 0, d.data, d.len), "a read of the whole file: decoded whole");
	ifs_rfile_done(f, &d);
	ifs_rfile_close(f);
	/* past the budget: as asked */
	ifs_reader *small = NULL;
	ifs_reader_opts o = { .whole_budget = e.size - 1 };
	CHECK(ifs_reader_new(idx, v, &o, &small, &err) == 0 &&
	      ifs_reader_open(small, NULL, e.ino, &f, &err) == 0, "a reader with a small budget");
	if (small) {
		CHECK(f && ifs_rfile_read(f, &a, &d, &err) == 0 && !d.whole &&
		      same(&e, 0, d.data, d.len), "over the budget: read as asked");
		if (f) {
			ifs_rfile_done(f, &d);
			ifs_rfile_close(f);
		}
		ifs_reader_free(small);
	}
}

static void test_go_on(ifs_views *v, ifs_reader *r)
{
	ifs_entry big, after;
	ifs_err err;
	CHECK(lookup_path(v, "train_val_images/Big/big.bin", &big) == 0 && big.size == 6 * MIB &&
	      lookup_path(v, "train_val_images/Big/after.txt", &after) == 0, "big.bin, after.txt");
	ifs_rfile *f = NULL;
	CHECK(ifs_reader_open(r, NULL, big.ino, &f, &err) == 0, "open big: %s", err.msg);
	if (!f)
		return;
	ifs_reader_stats s = stats(r);
	int ok = 1;
	for (uint64_t off = 0; off < MIB; off += 128 * KIB)
		ok = ok && read_at(f, off, 128 * KIB, &err) == 0;
	ifs_reader_stats t = stats(r);
	CHECK(ok && t.starts == s.starts + 1 && t.go_ons == s.go_ons + 7 && t.cursors == 1,
	      "sequential reads: one start, then on (%llu starts, %llu on)",
	      (unsigned long long)(t.starts - s.starts), (unsigned long long)(t.go_ons - s.go_ons));
	CHECK(read_at(f, 4 * MIB, 128 * KIB, &err) == 0 && stats(r).starts == t.starts &&
	      stats(r).go_ons == t.go_ons + 1, "3 MiB ahead: on");
	CHECK(read_at(f, 0, 4 * KIB, &err) == 0 && stats(r).starts == t.starts + 1, "backwards: a "
	      "start");
	CHECK(read_at(f, 4 * KIB + 4 * MIB + 64 * KIB, 4 * KIB, &err) == 0 &&
	      stats(r).starts == t.starts + 2, "over 4 MiB ahead: a start");
	CHECK(read_at(f, big.size - 64 * KIB, 64 * KIB, &err) == 0 && stats(r).cursors == 0,
	      "a read to the end frees the cursor");
	ifs_rfile_close(f);

	/* a walk: its cursor stays at the end and goes on into the next member */
	ifs_rfile *w = NULL;
	CHECK(ifs_reader_open_entry(r, &big, IFS_RFILE_WALK, &w, &err) == 0, "open a walk");
	if (!w)
		return;
	s = stats(r);
	ok = 1;
	for (uint64_t off = 0; off < big.size; off += MIB)
		ok = ok && read_at(w, off, MIB, &err) == 0;
	CHECK(ok && stats(r).cursors == 1 && stats(r).checks == s.checks + 1, "walk: big.bin read, "
	      "checked, the cursor kept");
	CHECK(ifs_rfile_next(w, &after, &err) == 0 && read_at(w, 0, after.size, &err) == 0,
	      "walk: after.txt: %s", err.msg);
	t = stats(r);
	CHECK(t.starts == s.starts + 1 && t.checks == s.checks + 2 && t.mismatches == 0 &&
	      t.wholes == s.wholes, "walk: one start for both members, both checked, none whole");
	ifs_rfile_close(w);
	CHECK(stats(r).cursors == 0, "closed: no cursor left");
}

/* Member files of the manifest's first rows that are over 2 KiB. */
static int first_members(ifs_views *v, const char *manifest, ifs_entry *out, int n)
{
	FILE *m = fopen(manifest, "r");
	char line[4096];
	int k = 0;
	while (m && k < n && fgets(line, sizeof line, m)) {
		char *tab = strchr(line, '\t'), *end = tab ? strchr(tab + 1, '\t') : NULL;
		if (!end || strncmp(line, "train_val_images.tar.gz\t", 24))
			continue;
		*end = '\0';
		if (lookup_path(v, tab + 1, &out[k]) == 0 && out[k].size > 2 * KIB)
			k++;
	}
	if (m)
		fclose(m);
	return k;
}

static void test_eviction(ifs_index *idx, ifs_views *v, const char *manifest)
{
	ifs_entry e[6];
	ifs_rfile *f[6] = { 0 };
	ifs_reader *r = NULL;
	ifs_err err;
	ifs_reader_opts o = { .cursors_max = 4 };
	CHECK(first_members(v, manifest, e, 6) == 6 && ifs_reader_new(idx, v, &o, &r, &err) == 0,
	      "six members, a reader keeping 4 cursors");
	if (!r)
		return;
	int ok = 1;
	for (int i = 0; i < 6; i++)
		ok = ok && ifs_reader_open(r, NULL, e[i].ino, &f[i], &err) == 0 &&
		     read_at(f[i], 0, KIB, &err) == 0;
	ifs_reader_stats s = stats(r);
	CHECK(ok && s.cursors == 4 && s.evictions == 2 && s.starts == 6, "six files read: %u "
	      "cursors kept, %llu freed", s.cursors, (unsigned long long)s.evictions);
	CHECK(ok && read_at(f[5], KIB, KIB, &err) == 0 && stats(r).go_ons == s.go_ons + 1 &&
	      stats(r).starts == s.starts, "the newest goes on");
	CHECK(ok && read_at(f[0], KIB, KIB, &err) == 0 && stats(r).starts == s.starts + 1 &&
	      stats(r).evictions == 3, "the oldest was freed: it starts again (and another goes)");
	for (int i = 0; i < 6; i++)
		ifs_rfile_close(f[i]);
	ifs_reader_free(r);
}

/* Reads of (off, len) pairs in order: the index of the first that fails
 * (its errno in *rc), or n if none does. */
static size_t read_pattern(ifs_rfile *f, const uint64_t (*p)[2], size_t n, int raw, int *rc,
			   ifs_err *err)
{
	for (size_t i = 0; i < n; i++)
		if ((*rc = read_chk(f, p[i][0], (size_t)p[i][1], raw, err)))
			return i;
	*rc = 0;
	return n;
}

/* 4 KiB every 64 KiB (more ranges than the cover keeps apart), then the
 * rest; or 64 KiB every 48 KiB (each overlapping the last). */
static size_t pattern(int scattered, uint64_t size, uint64_t (*p)[2])
{
	size_t n = 0;
	if (scattered) {
		for (uint64_t o = 0; o < size; o += 64 * KIB)
			p[n][0] = o, p[n++][1] = 4 * KIB;
		for (uint64_t o = 0; o < size; o += 64 * KIB)
			p[n][0] = o + 4 * KIB, p[n++][1] = 60 * KIB;
	} else {
		for (uint64_t o = 0; o < size; o += 48 * KIB)
			p[n][0] = o, p[n++][1] = o + 64 * KIB > size ? size - o : 64 * KIB;
	}
	return n;
}

static void test_cover(ifs_views *v, ifs_reader *r)
{
	ifs_entry big;
	ifs_err err;
	static uint64_t p[512][2];
	if (lookup_path(v, "train_val_images/Big/big.bin", &big) != 0)
		return;
	for (int sc = 0; sc < 2; sc++) {
		ifs_rfile *f = NULL;
		ifs_reader_stats s = stats(r);
		size_t n = pattern(sc, big.size, p);
		int rc = -1;
		CHECK(ifs_reader_open(r, NULL, big.ino, &f, &err) == 0 &&
		      read_pattern(f, p, n, 0, &rc, &err) == n, "%s reads of the good member: %d %s",
		      sc ? "scattered" : "overlapping", rc, err.msg);
		ifs_reader_stats t = stats(r);
		CHECK(t.checks == s.checks + 1 && t.mismatches == 0, "%s reads: the member was "
		      "checked", sc ? "scattered" : "overlapping");
		if (sc)
			CHECK(t.gap_fills > s.gap_fills, "scattered reads: gaps decoded to join ranges");
		ifs_rfile_close(f);
	}
}

static void test_damage(ifs_index *good_idx, const char *bad_data)
{
	(void)good_idx;
	static uint64_t p[512][2];
	ifs_err err;
	ifs_index *idx = NULL;
	ifs_views *v = NULL;
	ifs_entry big, after;
	ifs_err_clear(&err);
	CHECK(ifs_index_open(ifs_index_path(good_idx), bad_data, &idx, &err) == 0 &&
	      ifs_views_new(idx, NULL, &v, &err) == 0 &&
	      lookup_path(v, "train_val_images/Big/big.bin", &big) == 0 &&
	      lookup_path(v, "train_val_images/Big/after.txt", &after) == 0,
	      "the index over the damaged copy: %s", err.msg);
	if (!v) {
		ifs_index_close(idx);
		return;
	}
	/* a whole read checks before a byte is served */
	ifs_reader *r = NULL;
	ifs_rfile *f = NULL;
	int taken = 0, rc;
	CHECK(ifs_reader_new(idx, v, NULL, &r, &err) == 0 &&
	      ifs_reader_open(r, NULL, big.ino, &f, &err) == 0, "open damaged big.bin");
	ifs_read_req q = { .off = 0, .len = 128 * KIB, .take_rest = take_yes, .ctx = &taken };
	ifs_rdata d;
	ifs_err_clear(&err);
	rc = f ? ifs_rfile_read(f, &q, &d, &err) : -1;
	if (rc == 0)
		ifs_rfile_done(f, &d);
	CHECK(rc == -EIO && taken == 1 && strstr(err.msg, "CRC-32 mismatch") &&
	      strstr(err.msg, "/train_val_images/Big/big.bin"), "a whole read fails its check: "
	      "%d %s", rc, err.msg);
	CHECK(f && read_chk(f, 0, 4 * KIB, 1, &err) == -EIO && !err.code, "later reads of the handle "
	      "fail, with nothing more to report");
	ifs_rfile_close(f);
	f = NULL;
	ifs_err_clear(&err);
	CHECK(r && ifs_reader_open(r, NULL, big.ino, &f, &err) == -EIO && !err.code && !f,
	      "the member is refused at open from then on");
	CHECK(r && stats(r).mismatches == 1, "one mismatch");
	ifs_reader_free(r);

	/* reads as asked, in reverse, then scattered: the read that completes
	 * the cover fails (a fresh reader each time: the bad set is per reader) */
	for (int k = 0; k < 2; k++) {
		r = NULL;
		f = NULL;
		size_t n = 0;
		if (k == 0)
			for (uint64_t o = big.size; o > 0; o -= o < 256 * KIB ? o : 256 * KIB)
				p[n][0] = o < 256 * KIB ? 0 : o - 256 * KIB,
				p[n++][1] = o < 256 * KIB ? o : 256 * KIB;
		else
			n = pattern(1, big.size, p);
		CHECK(ifs_reader_new(idx, v, NULL, &r, &err) == 0 &&
		      ifs_reader_open(r, NULL, big.ino, &f, &err) == 0, "open (%d)", k);
		size_t at = f ? read_pattern(f, p, n, 1, &rc, &err) : 0;
		CHECK(f && at < n && rc == -EIO && strstr(err.msg, "CRC-32 mismatch"),
		      "%s reads: read %zu of %zu fails its check: %s", k ? "scattered" : "reverse",
		      at, n, err.msg);
		if (k == 0)
			CHECK(at == n - 1, "reverse reads: the last one, which completes the cover, "
			      "fails (%zu of %zu)", at, n);
		ifs_rfile_close(f);
		ifs_reader_free(r);
	}

	/* a walk (inatfs verify) goes on after the damaged member, right */
	CHECK(ifs_reader_new(idx, NULL, NULL, &r, &err) == 0, "a reader without views");
	ifs_rfile *w = NULL;
	CHECK(r && ifs_reader_open_entry(r, &big, IFS_RFILE_WALK, &w, &err) == 0, "walk");
	int failed = 0;
	for (uint64_t o = 0; w && o < big.size && !failed; o += MIB)
		failed = read_chk(w, o, MIB, 1, &err) == -EIO;
	CHECK(failed && strstr(err.msg, "CRC-32 mismatch") && !strstr(err.msg, "/train_val"),
	      "walk: big.bin fails (no views: no path): %s", err.msg);
	CHECK(w && ifs_rfile_next(w, &after, &err) == 0 && read_at(w, 0, after.size, &err) == 0,
	      "walk: the member after it reads right: %s", err.msg);
	ifs_rfile_close(w);
	ifs_reader_free(r);
	ifs_views_free(v);
	ifs_index_close(idx);
}

static void test_shared(ifs_views *v, ifs_reader *r, const char *data)
{
	ifs_entry e;
	ifs_err err;
	ifs_rfile *a = NULL, *b = NULL;
	CHECK(ifs_reader_lookup(r, NULL, 1, "train2017.json", &e, &err) == 0 &&
	      e.src == IFS_SRC_ANNFILE, "train2017.json");
	CHECK(ifs_reader_open(r, NULL, e.ino, &a, &err) == 0 &&
	      ifs_reader_open(r, NULL, e.ino, &b, &err) == 0, "two opens: %s", err.msg);
	if (!a || !b)
		return;
	ifs_read_req q = { .off = 0, .len = e.size };
	ifs_rdata da, db;
	CHECK(ifs_rfile_read(a, &q, &da, &err) == 0 && ifs_rfile_read(b, &q, &db, &err) == 0 &&
	      da.data == db.data && da.len == e.size, "one copy for both handles");
	char cmd[16384], out[4300];
	snprintf(out, sizeof out, "%s/../train2017.json", data);
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import sys,zipfile; z=zipfile.ZipFile("
		 "sys.argv[1]); open(sys.argv[2],'wb').write(z.read([n for n in z.namelist() if "
		 "n.endswith('train2017.json')][0]))\" '%s/train_val2017.zip' '%s'", data, out);
	size_t n = 0;
	uint8_t *want = tu_sh("%s", cmd) == 0 ? tu_slurp(out, &n) : NULL;
	CHECK(want && n == da.len && !memcmp(want, da.data, n), "the zip's bytes");
	free(want);
	ifs_rfile_done(a, &da);
	ifs_rfile_done(b, &db);
	ifs_rfile_close(a);
	ifs_rfile_close(b);
	(void)v;
}

/* ---- a live index ---------------------------------------------------------- */

struct build_job {
	ifs_build *b;
	int r;
	ifs_err err;
};

static void *build_main(void *arg)
{
	struct build_job *j = arg;
	ifs_err_clear(&j->err);
	j->r = ifs_build_scan(j->b, &j->err);
	return NULL;
}

static int stop_now(void *ctx)
{
	(void)ctx;
	return -EINTR;
}

/* 0 the first time, -EINTR after */
static int stop_second(void *ctx)
{
	return ++*(int *)ctx > 1 ? -EINTR : 0;
}

struct opener {
	ifs_reader *r;
	uint64_t ino;
	int rc, read_ok;
};

static void *open_and_read(void *arg)
{
	struct opener *o = arg;
	ifs_rfile *f = NULL;
	ifs_err err;
	ifs_err_clear(&err);
	o->rc = ifs_reader_open(o->r, NULL, o->ino, &f, &err);
	if (!o->rc) {
		o->read_ok = read_at(f, 0, ifs_rfile_entry(f)->size, &err) == 0;
		ifs_rfile_close(f);
	}
	return NULL;
}

/* The train/val member the tarball holds last, in the complete index's
 * views (its path into path), and a member of the test tarball. */
static int last_member(ifs_views *v, const char *manifest, char *path, size_t size,
		       ifs_entry *last, ifs_entry *test)
{
	FILE *m = fopen(manifest, "r");
	char line[4096];
	int found = 0, tests = 0;
	while (m && fgets(line, sizeof line, m)) {
		char *tab = strchr(line, '\t'), *end = tab ? strchr(tab + 1, '\t') : NULL;
		if (!end)
			continue;
		*end = '\0';
		ifs_entry e;
		if (lookup_path(v, tab + 1, &e) != 0)
			continue;
		if (!strncmp(line, "test2017.tar.gz\t", 16) && !tests++)
			*test = e;
		if (strncmp(line, "train_val_images.tar.gz\t", 24) || (found && e.off < last->off))
			continue;
		*last = e;
		snprintf(path, size, "%s", tab + 1);
		found = 1;
	}
	if (m)
		fclose(m);
	return found && tests;
}

struct find {
	const char *name;
	ifs_entry e;
	int found;
};

static int find_cb(void *ctx, const char *name, const ifs_entry *e)
{
	struct find *f = ctx;
	if (!strcmp(name, f->name)) {
		f->e = *e;
		f->found = 1;
	}
	return 0;
}

static void test_live(const char *dir, ifs_views *full, const char *manifest)
{
	char data[4200], idxp[4300], path[4096];
	ifs_entry last, test;
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(idxp, sizeof idxp, "%s/live.sqlite", dir);
	CHECK(last_member(full, manifest, path, sizeof path, &last, &test), "the last image");
	ifs_err err;
	ifs_err_clear(&err);
	/* slowed down, so that the waits below happen before the scan ends */
	ifs_build_opts o = { .scan_limit = 1.5e6 };
	ifs_build *b = NULL;
	ifs_index *ix = NULL;
	ifs_views *v = NULL;
	ifs_reader *r = NULL, *r2 = NULL;
	ifs_reader_opts ro = { .wait_max = 1 };
	CHECK(ifs_build_begin(data, idxp, &o, &b, &err) == 0 &&
	      ifs_index_open_live(ifs_build_temp_path(b), data, &ix, &err) == 0 &&
	      ifs_views_new(ix, NULL, &v, &err) == 0 && ifs_reader_new(ix, v, &ro, &r, &err) == 0 &&
	      ifs_reader_new(ix, NULL, NULL, &r2, &err) == 0, "a live index: %s", err.msg);
	if (!r2)
		goto out;
	o.live = ix;
	struct build_job job = { .b = b };
	pthread_t bt;
	if (pthread_create(&bt, NULL, build_main, &job) != 0) {
		CHECK(0, "the build's thread");
		goto out;
	}

	/* the image is listed, pending; a wait for it that is interrupted
	 * answers -EINTR, with nothing to report */
	char *slash = strrchr(path, '/');
	*slash = '\0';
	ifs_entry folder, e;
	struct find fd = { .name = slash + 1 };
	ifs_err_clear(&err);
	CHECK(lookup_path(v, path, &folder) == 0 &&
	      ifs_views_readdir_ino(v, folder.ino, find_cb, &fd, &err) == 0 && fd.found &&
	      fd.e.pending, "the last image is listed, pending: %s", err.msg);
	ifs_wait intr = { stop_now, NULL };
	ifs_err_clear(&err);
	CHECK(ifs_reader_lookup(r, &intr, folder.ino, slash + 1, &e, &err) == -EINTR && !err.code,
	      "an interrupted wait: -EINTR, nothing to report (%s)", err.msg);

	/* an open on a thread waits, in the one place there is to wait in */
	struct opener op = { .r = r, .ino = fd.e.ino, .rc = 1 };
	pthread_t ot;
	int opened = pthread_create(&ot, NULL, open_and_read, &op) == 0;
	for (int i = 0; i < 300 && stats(r).waits == 0; i++)
		usleep(10000);
	int again = 0, rc = 0;
	for (int i = 0; i < 5 && rc != -EAGAIN; i++) {
		int calls = 0;
		ifs_wait w2 = { stop_second, &calls };
		rc = ifs_reader_getattr(r, &w2, fd.e.ino, &e, &err);
		again += rc == -EAGAIN;
	}
	CHECK(opened && again, "with every place to wait taken: -EAGAIN (%d)", rc);

	/* a read of the test tarball waits for its first checkpoint */
	ifs_rfile *f = NULL;
	ifs_read_req q = { .off = 0, .len = test.size, .wait = &intr };
	ifs_rdata d;
	ifs_err_clear(&err);
	CHECK(ifs_reader_open_entry(r2, &test, 0, &f, &err) == 0 &&
	      ifs_rfile_read(f, &q, &d, &err) == -EINTR && !err.code && stats(r2).waits == 0,
	      "a checkpoint not there yet: the wait interrupted (%s)", err.msg);
	q.wait = NULL;
	ifs_err_clear(&err);
	CHECK(f && ifs_rfile_read(f, &q, &d, &err) == 0 && d.len == test.size &&
	      same(&test, 0, d.data, d.len) && stats(r2).waits > 0,
	      "a read waits for the checkpoint: %s", err.msg);
	if (f && d.data)
		ifs_rfile_done(f, &d);
	ifs_rfile_close(f);
	if (opened)
		pthread_join(ot, NULL);
	CHECK(op.rc == 0 && op.read_ok, "the waiting open got the image, and its bytes (%d)",
	      op.rc);
	pthread_join(bt, NULL);
	CHECK(job.r == 0 && ifs_index_live_state(ix) == IFS_LIVE_DONE, "the build: %s",
	      job.err.msg);
out:
	ifs_reader_free(r2);
	ifs_reader_free(r);
	ifs_views_free(v);
	ifs_index_close(ix);
	ifs_build_free(b);
}

int main(void)
{
	char *dir = tu_tmpdir("reader");
	if (!dir)
		return 1;
	CHECK(tu_sh("/usr/bin/python3 '%s/tests/unit/reader_fixture.py' '%s' '%s'", src_dir(),
		    src_dir(), dir) == 0, "reader_fixture.py");
	char data[4200], bad[4200], idxp[4300], manifest[4300], path[4300];
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(bad, sizeof bad, "%s/bad", dir);
	snprintf(idxp, sizeof idxp, "%s/index.sqlite", dir);
	snprintf(manifest, sizeof manifest, "%s/manifest.tsv", data);
	snprintf(path, sizeof path, "%s/tv.tar", dir);
	CHECK(tu_sh("gzip -dc '%s/train_val_images.tar.gz' > '%s'", data, path) == 0, "gunzip");
	tv = tu_slurp(path, &tvlen);
	snprintf(path, sizeof path, "%s/tt.tar", dir);
	CHECK(tu_sh("gzip -dc '%s/test2017.tar.gz' > '%s'", data, path) == 0, "gunzip test");
	tt = tu_slurp(path, &ttlen);
	ifs_err err;
	ifs_err_clear(&err);
	CHECK(tv && tt && ifs_index_build(data, idxp, NULL, &err) == 0, "build: %s", err.msg);
	ifs_index *idx = NULL;
	ifs_views *v = NULL;
	ifs_reader *r = NULL;
	CHECK(ifs_index_open(idxp, data, &idx, &err) == 0 && ifs_views_new(idx, NULL, &v, &err) == 0 &&
	      ifs_reader_new(idx, v, NULL, &r, &err) == 0, "open: %s", err.msg);
	if (r) {
		test_whole(idx, v, r);
		test_go_on(v, r);
		test_eviction(idx, v, manifest);
		test_cover(v, r);
		test_shared(v, r, data);
		/* the archive changes after indexing: 4 bytes flipped in the middle
		 * of the .gz, inside big.bin's stored blocks */
		CHECK(tu_sh("cp -a '%s' '%s' && /usr/bin/python3 -c \"import os,sys; p=sys.argv[1]; "
			    "n=os.path.getsize(p); f=open(p,'r+b'); f.seek(n//2); b=f.read(4); "
			    "f.seek(n//2); f.write(bytes(x^255 for x in b))\" '%s/train_val_images.tar.gz'",
			    data, bad, bad) == 0, "damage a copy");
		test_damage(idx, bad);
		test_live(dir, v, manifest);
	}
	ifs_reader_free(r);
	ifs_views_free(v);
	ifs_index_close(idx);
	free(tv);
	free(tt);
	if (tu_end("reader") == 0)
		tu_sh("rm -rf '%s'", dir);
	free(dir);
	return tu_failed ? 1 : 0;
}

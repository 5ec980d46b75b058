/*
 * test_tar.c - the streaming tar scanner against real archives.
 *
 * Builds a directory tree at run time (long and deep paths, UTF-8 and
 * spaces, sizes around the block size, links, extreme mtimes), archives it
 * with GNU tar (gnu, posix, ustar, v7) and bsdtar (default, pax, ustar),
 * feeds each archive in chunks of several sizes and checks every member
 * against libarchive's listing, the data at the reported offset against the
 * file on disk, and the CRC against zlib. Then hostile inputs: bad
 * checksums, truncations, non-tar data, absurd fields. Ends with a large
 * in-memory tar (32 MiB of 256 KiB members with long names) scanned in two
 * feed sizes, every member and CRC right.
 */
#include "inatfs/tar.h"
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* ---- collecting what the scanner reports ---- */

typedef struct rec {
	char *path, *link;
	uint64_t header_off, data_off, size;
	int64_t mtime;
	uint32_t mode, crc;
	char type;
	int ended;
} rec;

typedef struct coll {
	rec *v;
	size_t n, cap;
	size_t fail_at;      /* on_entry fails on this member (1-based), 0 = never */
	int bad_calls;       /* on_end for another member than the last on_entry */
} coll;

static int c_entry(void *ctx, const ifs_tar_entry *e)
{
	coll *c = ctx;
	if (c->fail_at && c->n + 1 == c->fail_at)
		return -ENOSPC;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
		if (!c->v)
			abort();
	}
	rec *r = &c->v[c->n++];
	r->path = strdup(e->path);
	r->link = strdup(e->linkname);
	r->header_off = e->header_off;
	r->data_off = e->data_off;
	r->size = e->size;
	r->mtime = e->mtime;
	r->mode = e->mode;
	r->type = e->type;
	r->crc = 0;
	r->ended = 0;
	return 0;
}

static int c_end(void *ctx, const ifs_tar_entry *e)
{
	coll *c = ctx;
	if (!c->n || strcmp(c->v[c->n - 1].path, e->path) != 0 || c->v[c->n - 1].ended)
		c->bad_calls++;
	else {
		c->v[c->n - 1].crc = e->crc;
		c->v[c->n - 1].ended = 1;
	}
	return 0;
}

static void coll_free(coll *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].path);
		free(c->v[i].link);
	}
	free(c->v);
	memset(c, 0, sizeof *c);
}

/* chunk: > 0 fixed size, 0 = random sizes, SIZE_MAX = one call. */
static int scan(const uint8_t *buf, size_t len, size_t chunk, coll *c, ifs_err *err)
{
	ifs_tar_callbacks cb = { c_entry, c_end, c };
	ifs_tar_scanner *t = ifs_tar_new("t.tar", &cb);
	if (!t)
		return -ENOMEM;
	ifs_err_clear(err);
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ len;
	size_t pos = 0;
	int r = 0;
	while (pos < len && r == 0) {
		size_t n = chunk ? chunk : 1 + tu_rand(&seed) % 20000;
		if (n > len - pos)
			n = len - pos;
		r = ifs_tar_feed(t, buf + pos, n, err);
		pos += n;
	}
	if (r == 0)
		r = ifs_tar_finish(t, err);
	if (r == 0 && ifs_tar_count(t) != c->n)
		r = -EPROTO;
	ifs_tar_free(t);
	return r;
}

/* ---- the reference: libarchive's listing ---- */

static int la_list(const uint8_t *buf, size_t len, coll *c)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_all(a);
	archive_read_support_filter_none(a);
	int rc = archive_read_open_memory(a, buf, len);
	struct archive_entry *ae;
	while (rc == ARCHIVE_OK && (rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		ifs_tar_entry e = { 0 };
		e.path = archive_entry_pathname(ae);
		const char *hl = archive_entry_hardlink(ae);
		const char *sl = archive_entry_symlink(ae);
		e.linkname = hl ? hl : sl ? sl : "";
		e.size = (uint64_t)archive_entry_size(ae);
		e.mtime = archive_entry_mtime(ae);
		e.mode = archive_entry_perm(ae);
		switch (archive_entry_filetype(ae)) {
		case AE_IFDIR: e.type = IFS_TAR_DIR; break;
		case AE_IFLNK: e.type = IFS_TAR_SYMLINK; break;
		default: e.type = IFS_TAR_FILE; break;
		}
		if (hl)
			e.type = IFS_TAR_HARDLINK;
		if (!e.path)
			e.path = "";
		c_entry(c, &e);
	}
	archive_read_free(a);
	return rc == ARCHIVE_EOF ? 0 : -1;
}

/* ---- the tree ---- */

static char *g_tree;   /* the directory archived */

static void put_file(const char *rel, size_t size, uint64_t seed, mode_t mode, time_t mtime)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", g_tree, rel);
	uint8_t *b = malloc(size + 1);
	for (size_t i = 0; i < size; i++)
		b[i] = (uint8_t)(tu_rand(&seed) >> 24);
	FILE *f = fopen(p, "wb");
	CHECK(f && fwrite(b, 1, size, f) == size && fclose(f) == 0, "write %s", p);
	free(b);
	CHECK(chmod(p, mode) == 0, "chmod %s", p);
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
	CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0, "utime %s", p);
}

static void make_tree(void)
{
	const char *hexa = "7496a76e41786c2798dfc2947d666978";
	const char *seg = "abcdefghijklmnopqrstuvwxyz0123456789";
	char rel[2048];
	CHECK(tu_sh("cd '%s' && mkdir -p 'train_val_images/Aves/Anas superciliosa × platyrhynchos' "
		"'train_val_images/Aves/Ardea herodias' 'train_val_images/Plantae/Malus ×domestica' "
		"misc/dir mid/%s/%s/%s long/%s/%s/%s/%s/%s/%s/%s/%s", g_tree, seg, seg, seg,
		seg, seg, seg, seg, seg, seg, seg, seg) == 0, "mkdir");
	snprintf(rel, sizeof rel, "train_val_images/Aves/Anas superciliosa × platyrhynchos/%s.jpg", hexa);
	put_file(rel, 300000, 1, 0644, 1500000000);
	static const size_t sizes[] = { 0, 1, 511, 512, 513, 20000 };
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		snprintf(rel, sizeof rel, "train_val_images/Aves/Ardea herodias/%08zx%s.jpg",
			i, hexa + 8);
		put_file(rel, sizes[i], 10 + i, 0644, 1490000000 + (time_t)i);
	}
	put_file("train_val_images/Plantae/Malus ×domestica/0000aaaabbbbccccddddeeeeffff0000.jpg",
		4000, 20, 0751, 1234567890);
	put_file("misc/empty", 0, 0, 0600, 1000000000);
	put_file("misc/name with spaces é.txt", 100, 21, 0640, 1100000000);
	CHECK(tu_sh("cd '%s/misc' && ln -s '../train_val_images/Aves/Ardea herodias' link && "
		"ln 'name with spaces é.txt' hard", g_tree) == 0, "links");
	snprintf(rel, sizeof rel, "mid/%s/%s/%s/%s.jpg", seg, seg, seg, hexa);
	put_file(rel, 2000, 22, 0644, 1400000000);
	/* Only for formats with long names: > 255 bytes, a 120-byte component,
	 * a long symlink target and hard link (GNU 'K'), mtimes beyond octal. */
	snprintf(rel, sizeof rel, "long/%s/%s/%s/%s/%s/%s/%s/%s/deep.bin", seg, seg, seg, seg,
		seg, seg, seg, seg);
	put_file(rel, 1000, 23, 0644, 13569000000);
	put_file("long/" "x123456789x123456789x123456789x123456789x123456789"
		"x123456789x123456789x123456789x123456789x123456789x123456789x12345678.txt",
		777, 24, 0644, -300000000);
	CHECK(tu_sh("cd '%s/long' && ln -s '%s' longlink && ln '%s' longhard",
		g_tree, rel + 5, rel + 5) == 0, "long links");
}

/* ---- checks of one archive ---- */

static size_t count_ok;

static void check_against_disk(const char *what, const uint8_t *tar, size_t len, const coll *c)
{
	uint64_t prev = 0;
	for (size_t i = 0; i < c->n; i++) {
		const rec *r = &c->v[i];
		CHECK(r->ended, "%s: %s: on_end called", what, r->path);
		CHECK(r->header_off % 512 == 0 && r->data_off % 512 == 0 &&
			r->data_off >= r->header_off + 512 && (i == 0 || r->header_off > prev) &&
			r->data_off + r->size <= len,
			"%s: %s: offsets %" PRIu64 " %" PRIu64, what, r->path, r->header_off, r->data_off);
		prev = r->header_off;
		if (r->type != IFS_TAR_FILE || r->size == 0) {
			CHECK(r->crc == 0, "%s: %s: crc of empty", what, r->path);
			continue;
		}
		char p[4096];
		snprintf(p, sizeof p, "%s/%s", g_tree, r->path);
		size_t flen = 0;
		uint8_t *f = tu_slurp(p, &flen);
		CHECK(f && flen == r->size, "%s: %s: size on disk %zu vs %" PRIu64, what, p,
			flen, r->size);
		if (f && flen == r->size) {
			CHECK(memcmp(tar + r->data_off, f, flen) == 0, "%s: %s: data at offset %" PRIu64,
				what, r->path, r->data_off);
			uint32_t crc = (uint32_t)crc32(0, f, (uInt)flen);
			CHECK(crc == r->crc, "%s: %s: crc %08x vs %08x", what, r->path, r->crc, crc);
			count_ok++;
		}
		free(f);
	}
}

static int same(const rec *a, const rec *b)
{
	return strcmp(a->path, b->path) == 0 && strcmp(a->link, b->link) == 0 &&
		a->size == b->size && a->mtime == b->mtime && a->mode == b->mode &&
		a->type == b->type;
}

static void check_resume(const char *what, const uint8_t *tar, size_t len, const coll *whole);
static void mkhdr(uint8_t *h, const char *name, char type, uint64_t size);

/* Scans one archive every way and compares; returns the whole-buffer scan. */
static void check_archive(const char *what, const uint8_t *tar, size_t len, size_t min_members,
	coll *out)
{
	coll ref = { 0 }, whole = { 0 };
	ifs_err err;
	CHECK(la_list(tar, len, &ref) == 0, "%s: libarchive reads it", what);
	int r = scan(tar, len, SIZE_MAX, &whole, &err);
	CHECK(r == 0, "%s: scan: %d %s", what, r, err.msg);
	CHECK(whole.n == ref.n && whole.n >= min_members, "%s: %zu members, libarchive %zu",
		what, whole.n, ref.n);
	for (size_t i = 0; i < whole.n && i < ref.n; i++) {
		const rec *a = &whole.v[i], *b = &ref.v[i];
		CHECK(same(a, b), "%s: member %zu: [%s -> %s %" PRIu64 " %" PRId64 " %o %c] vs "
			"libarchive [%s -> %s %" PRIu64 " %" PRId64 " %o %c]", what, i, a->path, a->link,
			a->size, a->mtime, a->mode, a->type, b->path, b->link, b->size, b->mtime,
			b->mode, b->type);
	}
	check_against_disk(what, tar, len, &whole);
	check_resume(what, tar, len, &whole);
	size_t ext = 0;
	for (size_t i = 0; i < whole.n; i++)
		ext += whole.v[i].data_off - whole.v[i].header_off > 512;
	printf("%-22s %7zu bytes, %2zu members, %2zu with extension headers\n", what, len,
		whole.n, ext);
	static const size_t chunks[] = { 1, 7, 512, 4096, 0 };
	for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++) {
		coll c = { 0 };
		r = scan(tar, len, chunks[k], &c, &err);
		int ok = r == 0 && c.n == whole.n && c.bad_calls == 0;
		for (size_t i = 0; ok && i < c.n; i++)
			ok = same(&c.v[i], &whole.v[i]) && c.v[i].crc == whole.v[i].crc &&
				c.v[i].header_off == whole.v[i].header_off &&
				c.v[i].data_off == whole.v[i].data_off && c.v[i].ended;
		CHECK(ok, "%s: chunks of %zu give the same members (r=%d %s)", what, chunks[k], r,
			err.msg);
		coll_free(&c);
	}
	coll_free(&ref);
	*out = whole;
}

/* ---- resuming ---- */

/*
 * Scans in 4 KiB chunks noting every resume point, then starts fresh
 * scanners at some of them: each must report exactly the members the whole
 * scan reported after that point.
 */
static void check_resume(const char *what, const uint8_t *tar, size_t len, const coll *whole)
{
	coll c = { 0 };
	ifs_tar_callbacks cb = { c_entry, c_end, &c };
	ifs_tar_scanner *t = ifs_tar_new("t.tar", &cb);
	ifs_err err;
	uint64_t offs[4096], counts[4096];
	size_t np = 0;
	for (size_t pos = 0; t && pos < len; pos += 4096) {
		size_t n = len - pos < 4096 ? len - pos : 4096;
		if (ifs_tar_feed(t, tar + pos, n, &err) < 0)
			break;
		uint64_t off, cnt;
		if (ifs_tar_resume_point(t, &off, &cnt) && np < 4096 &&
		    (np == 0 || offs[np - 1] != off)) {
			offs[np] = off;
			counts[np++] = cnt;
		}
	}
	ifs_tar_free(t);
	coll_free(&c);
	CHECK(np >= 3, "%s: resume points: %zu", what, np);
	for (size_t k = 0; k < np; k += np / 6 + 1) {
		coll r = { 0 };
		ifs_tar_callbacks rcb = { c_entry, c_end, &r };
		ifs_tar_scanner *rt = ifs_tar_new("t.tar", &rcb);
		ifs_tar_start_at(rt, offs[k], counts[k]);
		int rc = ifs_tar_feed(rt, tar + offs[k], len - offs[k], &err);
		if (rc == 0)
			rc = ifs_tar_finish(rt, &err);
		size_t first = (size_t)counts[k];
		int ok = rc == 0 && first <= whole->n && r.n == whole->n - first &&
			 ifs_tar_count(rt) == whole->n && r.bad_calls == 0;
		for (size_t i = 0; ok && i < r.n; i++) {
			const rec *a = &r.v[i], *b = &whole->v[first + i];
			ok = same(a, b) && a->crc == b->crc && a->data_off == b->data_off &&
			     a->header_off == b->header_off && a->ended;
		}
		CHECK(ok, "%s: resumed at %llu after %llu members: %zu members (r=%d %s)", what,
		      (unsigned long long)offs[k], (unsigned long long)counts[k], r.n, rc,
		      rc ? err.msg : "");
		ifs_tar_free(rt);
		coll_free(&r);
	}
}

/* After a pax global header, a fresh scanner would lose its attributes: no
 * resume point. */
static void test_resume_global(void)
{
	uint8_t buf[512 * 8] = { 0 };
	const char body[] = "20 mtime=1600000000\n";
	mkhdr(buf, "a.txt", '0', 1);
	buf[512] = 'a';
	mkhdr(buf + 1024, "pax_global_header", 'g', sizeof body - 1);
	memcpy(buf + 1536, body, sizeof body - 1);
	mkhdr(buf + 2048, "b.txt", '0', 1);
	buf[2560] = 'b';
	coll c = { 0 };
	ifs_tar_callbacks cb = { c_entry, c_end, &c };
	ifs_tar_scanner *t = ifs_tar_new("t.tar", &cb);
	ifs_err err;
	uint64_t off = 0, cnt = 0;
	CHECK(ifs_tar_feed(t, buf, 1024, &err) == 0 && ifs_tar_resume_point(t, &off, &cnt) &&
	      off == 1024 && cnt == 1, "resume point after the first member: %llu %llu",
	      (unsigned long long)off, (unsigned long long)cnt);
	CHECK(ifs_tar_feed(t, buf + 1024, sizeof buf - 1024, &err) == 0 &&
	      !ifs_tar_resume_point(t, &off, &cnt) && c.n == 2,
	      "no resume point once a global header was seen");
	ifs_tar_free(t);
	coll_free(&c);
}

/* ---- hostile inputs ---- */

static void octal(uint8_t *f, size_t n, uint64_t v)
{
	snprintf((char *)f, n, "%0*" PRIo64, (int)n - 1, v);
}

static void set_checksum(uint8_t *h, int signed_sum)
{
	memset(h + 148, ' ', 8);
	long s = 0;
	for (int i = 0; i < 512; i++)
		s += signed_sum ? (long)(int8_t)h[i] : (long)h[i];
	snprintf((char *)h + 148, 8, "%06lo", (unsigned long)s & 0777777);
	h[155] = ' ';
}

static void mkhdr(uint8_t *h, const char *name, char type, uint64_t size)
{
	memset(h, 0, 512);
	memcpy(h, name, strnlen(name, 100));
	octal(h + 100, 8, 0644);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, size);
	octal(h + 136, 12, 1500000000);
	h[156] = (uint8_t)type;
	memcpy(h + 257, "ustar\0" "00", 8);
	set_checksum(h, 0);
}

/* Scans buf whole; returns the code and leaves the message in err. */
static int scan_err(const uint8_t *buf, size_t len, size_t chunk, ifs_err *err, size_t *n)
{
	coll c = { 0 };
	int r = scan(buf, len, chunk, &c, err);
	if (n)
		*n = c.n;
	coll_free(&c);
	return r;
}

static void test_hostile(const uint8_t *gnu, size_t glen, const coll *gm)
{
	ifs_err err;
	char want[64];
	size_t n;
	uint8_t *b = malloc(glen + 8192);
	CHECK(b != NULL, "alloc");
	if (!b)
		return;

	/* A bad checksum in the 4th member's own header names its offset. */
	const rec *m = &gm->v[3];
	uint64_t h = m->data_off - 512;
	memcpy(b, gnu, glen);
	b[h + 1] ^= 0x20;
	CHECK(scan_err(b, glen, 4096, &err, &n) == -EIO && n == 3, "bad checksum: -EIO after 3");
	snprintf(want, sizeof want, "offset %" PRIu64, h);
	CHECK(strstr(err.msg, "checksum") && strstr(err.msg, want), "message: %s", err.msg);
	b[h + 1] ^= 0x20;
	b[0] ^= 1;
	CHECK(scan_err(b, glen, 7, &err, &n) == -EIO && n == 0 && strstr(err.msg, "not a tar"),
		"first header bad: %s", err.msg);
	b[0] ^= 1;

	/* Truncations: mid-header, mid-long-name, mid-data, mid-padding. */
	CHECK(scan_err(gnu, (size_t)m->header_off + 100, 512, &err, &n) == -EIO && n == 3 &&
		strstr(err.msg, "truncated at offset"), "cut mid-header: %s", err.msg);
	const rec *lm = NULL, *big = NULL, *odd = NULL;
	for (size_t i = 0; i < gm->n; i++) {
		if (!lm && gm->v[i].data_off - gm->v[i].header_off >= 1024)
			lm = &gm->v[i];
		if (gm->v[i].size == 300000)
			big = &gm->v[i];
		if (gm->v[i].size == 513)
			odd = &gm->v[i];
	}
	CHECK(lm && big && odd, "found a long-name member, the big one and the 513-byte one");
	if (lm && big && odd) {
		size_t cut = (size_t)lm->header_off + 512 + 30;
		CHECK(scan_err(gnu, cut, 1, &err, NULL) == -EIO && strstr(err.msg, "truncated"),
			"cut mid-long-name: %s", err.msg);
		snprintf(want, sizeof want, "offset %zu", cut);
		CHECK(strstr(err.msg, want) != NULL, "names the offset: %s", err.msg);
		coll c = { 0 };
		int r = scan(gnu, (size_t)big->data_off + 1000, 4096, &c, &err);
		CHECK(r == -EIO && c.n && !c.v[c.n - 1].ended && strstr(err.msg, "truncated"),
			"cut mid-data: %s", err.msg);
		coll_free(&c);
		CHECK(scan_err(gnu, (size_t)(odd->data_off + 513 + 5), 7, &err, NULL) == -EIO,
			"cut mid-padding: %s", err.msg);
		/* Cut exactly between members: end blocks are optional. */
		CHECK(scan_err(gnu, (size_t)lm->header_off, 512, &err, &n) == 0 &&
			n == (size_t)(lm - gm->v), "cut between members: %s", err.msg);
	}

	/* Garbage after the end-of-archive blocks is ignored. */
	memcpy(b, gnu, glen);
	uint64_t seed = 5;
	for (size_t i = 0; i < 8192; i++)
		b[glen + i] = (uint8_t)tu_rand(&seed);
	CHECK(scan_err(b, glen + 8192, 4096, &err, &n) == 0 && n == gm->n, "trailing garbage");

	/* Not tar at all: random bytes, empty, a gzip file. */
	CHECK(scan_err(b + glen, 8192, 512, &err, NULL) == -EIO && strstr(err.msg, "not a tar"),
		"random bytes: %s", err.msg);
	CHECK(scan_err(b, 0, 512, &err, NULL) == -EIO && strstr(err.msg, "not a tar"),
		"empty: %s", err.msg);
	CHECK(scan_err(b, 300, 512, &err, NULL) == -EIO, "300 bytes: %s", err.msg);
	char p[4096];
	snprintf(p, sizeof p, "%s/../gnu.tar.gz", g_tree);
	CHECK(tu_sh("gzip -c '%s/../gnu.tar' > '%s'", g_tree, p) == 0, "gzip");
	size_t zlen;
	uint8_t *z = tu_slurp(p, &zlen);
	CHECK(z && scan_err(z, zlen, 4096, &err, NULL) == -EIO && strstr(err.msg, "not a tar"),
		"gzip input: %s", err.msg);
	free(z);

	/* Absurd size (base-256, 2^51) in a header with a valid checksum. */
	memcpy(b, gnu, glen);
	memset(b + h + 124, 0, 12);
	b[h + 124] = 0x80;
	b[h + 124 + 5] = 0x08;   /* 2^51 */
	set_checksum(b + h, 0);
	CHECK(scan_err(b, glen, 4096, &err, &n) == -EIO && strstr(err.msg, "absurd") && n == 3,
		"absurd size: %s", err.msg);
	/* Garbage in the size field. */
	memcpy(b + h + 124, "12x45678901\0", 12);
	set_checksum(b + h, 0);
	CHECK(scan_err(b, glen, 4096, &err, &n) == -EIO && strstr(err.msg, "size"),
		"bad size digits: %s", err.msg);
	free(b);

	/* Hand-made hostile extension headers. */
	size_t blen = 3 << 20;
	b = calloc(1, blen);
	CHECK(b != NULL, "alloc");
	if (!b)
		return;
	mkhdr(b, "././@LongLink", 'L', 100000);
	CHECK(scan_err(b, blen, 4096, &err, NULL) == -EIO && strstr(err.msg, "too long"),
		"long name > 64 KiB: %s", err.msg);
	size_t rlen = 2u << 20;
	mkhdr(b, "PaxHeaders/x", 'x', rlen);
	int k = snprintf((char *)b + 512, 32, "%zu path=", rlen);
	memset(b + 512 + k, 'a', rlen - (size_t)k - 1);
	b[512 + rlen - 1] = '\n';
	CHECK(scan_err(b, blen, 65536, &err, NULL) == -EIO && strstr(err.msg, "1 MiB"),
		"pax record > 1 MiB: %s", err.msg);
	memset(b, 0, 4096);
	mkhdr(b, "PaxHeaders/x", 'x', 12);
	memcpy(b + 512, "13 path=abc\n", 12);   /* says 13, is 12 */
	mkhdr(b + 1024, "f", '0', 0);
	CHECK(scan_err(b, 4096, 1, &err, NULL) == -EIO && strstr(err.msg, "malformed pax"),
		"bad pax length: %s", err.msg);
	/* A valid pax header overriding path, size and a fractional negative
	 * mtime, then a global header; and an L name split over blocks. */
	memset(b, 0, 16384);
	const char *px = "14 path=a/b/c\n10 size=5\n15 mtime=-12.5\n";
	mkhdr(b, "PaxHeaders/x", 'x', strlen(px));
	memcpy(b + 512, px, strlen(px));
	mkhdr(b + 1024, "short", '0', 0);   /* header size 0, pax size 5 */
	memcpy(b + 1536, "hello", 5);
	char lname[1301];
	for (int i = 0; i < 1300; i++)
		lname[i] = (char)('a' + i % 26);
	lname[1300] = 0;
	mkhdr(b + 2048, "././@LongLink", 'L', 1301);
	memcpy(b + 2560, lname, 1301);     /* 3 blocks */
	mkhdr(b + 4096, "trunc", '0', 1);
	b[4608] = 'z';
	coll c = { 0 };
	int r = scan(b, 16384, 100, &c, &err);
	CHECK(r == 0 && c.n == 2, "crafted pax + L: %d %s", r, err.msg);
	if (r == 0 && c.n == 2) {
		CHECK(strcmp(c.v[0].path, "a/b/c") == 0 && c.v[0].size == 5 &&
			c.v[0].mtime == -13 && c.v[0].data_off == 1536 && c.v[0].header_off == 0 &&
			c.v[0].crc == (uint32_t)crc32(0, (const Bytef *)"hello", 5),
			"pax member: %s %" PRIu64 " %" PRId64, c.v[0].path, c.v[0].size, c.v[0].mtime);
		CHECK(strcmp(c.v[1].path, lname) == 0 && c.v[1].header_off == 2048 &&
			c.v[1].data_off == 4608, "L member: %zu bytes", strlen(c.v[1].path));
	}
	coll_free(&c);

	/* A global header applies to every later member unless an 'x' header
	 * deletes the keyword; an empty 'x' body is complete, not truncated. */
	memset(b, 0, 8192);
	mkhdr(b, "PaxHeaders/g", 'g', 16);
	memcpy(b + 512, "16 mtime=999999\n", 16);
	mkhdr(b + 1024, "PaxHeaders/x", 'x', 0);
	mkhdr(b + 1536, "g1", '0', 0);
	mkhdr(b + 2048, "PaxHeaders/x", 'x', 10);
	memcpy(b + 2560, "10 mtime=\n", 10);
	mkhdr(b + 3072, "g2", '0', 0);
	mkhdr(b + 3584, "g3", '0', 0);
	r = scan(b, 4096, 1, &c, &err);
	CHECK(r == 0 && c.n == 3 && c.v[0].mtime == 999999 && c.v[0].header_off == 1024 &&
		c.v[1].mtime == 1500000000 && c.v[1].header_off == 2048 && c.v[2].mtime == 999999,
		"global pax header: %d %s", r, err.msg);
	coll_free(&c);
	CHECK(scan_err(b, 1536, 512, &err, NULL) == -EIO && strstr(err.msg, "without its member"),
		"ends after an extension header: %s", err.msg);

	/* A callback's error stops the scan and comes back. */
	c.fail_at = 3;
	r = scan(gnu, glen, 4096, &c, &err);
	CHECK(r == -ENOSPC && c.n == 2, "callback error: %d", r);
	coll_free(&c);
	free(b);
}

/*
 * Random damage to headers and extension bodies: the scanner must fail
 * cleanly (-EIO) or succeed with every reported range inside the input.
 * (Run under the sanitizers, this is the memory-safety check.)
 */
static void test_mutations(const uint8_t *tar, size_t len, const coll *m)
{
	uint8_t *b = malloc(len);
	CHECK(b != NULL, "alloc");
	if (!b)
		return;
	uint64_t seed = 1234;
	size_t ok = 0, eio = 0, other = 0, outside = 0;
	for (int it = 0; it < 400; it++) {
		memcpy(b, tar, len);
		const rec *r = &m->v[tu_rand(&seed) % m->n];
		size_t span = (size_t)(r->data_off - r->header_off);
		int flips = 1 + (int)(tu_rand(&seed) % 4);
		for (int f = 0; f < flips; f++)
			b[r->header_off + tu_rand(&seed) % span] = (uint8_t)tu_rand(&seed);
		/* Half the time, make the checksum right again so the fields
		 * themselves are what the scanner has to survive. */
		if (it % 2 && span == 512)
			set_checksum(b + r->header_off, 0);
		coll c = { 0 };
		ifs_err err;
		int rc = scan(b, len, it % 3 ? 4096 : 0, &c, &err);
		if (rc == 0)
			ok++;
		else if (rc == -EIO)
			eio++;
		else
			other++;
		for (size_t i = 0; i < c.n; i++)
			if (c.v[i].ended && c.v[i].data_off + c.v[i].size > len)
				outside++;
		coll_free(&c);
	}
	printf("mutations: %zu scanned cleanly, %zu rejected with -EIO\n", ok, eio);
	CHECK(other == 0 && outside == 0 && eio > 0,
		"mutations: %zu ok, %zu -EIO, %zu other, %zu out of range", ok, eio, other, outside);
	free(b);
}

/* Sizes on types without data: libarchive and GNU tar skip no data after a
 * directory; libarchive skips none after a symlink either. */
static void test_dir_size(void)
{
	uint8_t b[512 * 8] = { 0 };
	mkhdr(b, "d/", '5', 512);
	mkhdr(b + 512, "fake", '0', 0);
	mkhdr(b + 1024, "s", '2', 512);
	mkhdr(b + 1536, "f", '0', 3);
	memcpy(b + 2048, "abc", 3);
	coll c = { 0 }, ref = { 0 };
	ifs_err err;
	int r = scan(b, sizeof b, 100, &c, &err);
	CHECK(la_list(b, sizeof b, &ref) == 0, "libarchive reads the crafted tar");
	int ok = r == 0 && c.n == 4 && ref.n == 4;
	for (size_t i = 0; ok && i < 4; i++)
		ok = same(&c.v[i], &ref.v[i]);
	CHECK(ok && c.v[3].data_off == 2048, "sized dir/symlink: %d %zu %zu", r, c.n, ref.n);
	coll_free(&c);
	coll_free(&ref);
}

/* GNU sparse member with more holes than the header holds: the sparse map
 * continues in extension blocks, which the data offset must skip. */
static void test_sparse(const char *dir)
{
	CHECK(tu_sh("cd '%s' && mkdir sp && cd sp && for i in 0 1 2 3 4 5 6 7 8 9; do "
		"printf 'segment %%s' $i | dd of=holes bs=1 seek=$((i * 65536)) conv=notrunc "
		"status=none; done && printf 'after the sparse file' > after.txt && "
		"tar --format=gnu --sparse -cf ../sparse.tar holes after.txt", dir) == 0,
		"make sparse tar");
	char p[4096];
	snprintf(p, sizeof p, "%s/sparse.tar", dir);
	size_t len = 0;
	uint8_t *tar = tu_slurp(p, &len);
	coll c = { 0 };
	ifs_err err;
	int r = tar ? scan(tar, len, 7, &c, &err) : -1;
	CHECK(r == 0 && c.n == 2, "sparse tar: %d %zu %s", r, c.n, err.msg);
	if (r == 0 && c.n == 2) {
		CHECK(c.v[0].type == 'S' && c.v[0].data_off == c.v[0].header_off + 1024 &&
			c.v[0].size < 65536, "sparse member: type %c, %" PRIu64 " bytes at %" PRIu64,
			c.v[0].type, c.v[0].size, c.v[0].data_off);
		CHECK(memcmp(tar + c.v[0].data_off, "segment 0", 9) == 0, "sparse data");
		CHECK(strcmp(c.v[1].path, "after.txt") == 0 && c.v[1].size == 21 &&
			memcmp(tar + c.v[1].data_off, "after the sparse file", 21) == 0,
			"member after the sparse one: %s", c.v[1].path);
	}
	coll_free(&c);
	free(tar);
}

/* The 513-byte member re-encoded with base-256 size and a signed checksum. */
static void test_base256(const uint8_t *ustar, size_t len, const coll *um)
{
	uint8_t *b = malloc(len);
	memcpy(b, ustar, len);
	size_t patched = 0;
	for (size_t i = 0; i < um->n; i++) {
		uint64_t h = um->v[i].data_off - 512;
		if (um->v[i].size == 513) {
			memset(b + h + 124, 0, 12);
			b[h + 124] = 0x80;
			b[h + 134] = 513 >> 8;
			b[h + 135] = 513 & 0xff;
			set_checksum(b + h, 0);
			patched++;
		}
		if (strstr(um->v[i].path, "×")) {   /* high bytes: signed != unsigned */
			set_checksum(b + h, 1);
			patched++;
		}
	}
	CHECK(patched >= 3, "patched %zu headers", patched);
	coll c = { 0 };
	check_archive("ustar+base256+signed", b, len, um->n, &c);
	for (size_t i = 0; i < c.n && i < um->n; i++)
		CHECK(same(&c.v[i], &um->v[i]) && c.v[i].crc == um->v[i].crc, "patched member %zu", i);
	coll_free(&c);
	free(b);
}

/* ---- a large tar in two feed sizes ---- */

static void test_large(void)
{
	size_t mb = 32;
	size_t member = 256 << 10, members = mb * (1 << 20) / member;
	if (members < 1)
		members = 1;
	size_t cap = members * (member + 2048) + (1 << 20);
	uint8_t *tar = malloc(cap), *data = malloc(member);
	uint32_t *crcs = malloc(members * sizeof *crcs);
	struct archive *a = archive_write_new();
	archive_write_set_format_gnutar(a);
	size_t used = 0;
	CHECK(archive_write_open_memory(a, tar, cap, &used) == ARCHIVE_OK, "write open");
	uint64_t seed = 77;
	for (size_t i = 0; i < members; i++) {
		for (size_t j = 0; j < member; j += 8) {
			uint64_t x = tu_rand(&seed);
			memcpy(data + j, &x, 8);
		}
		crcs[i] = (uint32_t)crc32(0, data, (uInt)member);
		char name[200];
		snprintf(name, sizeof name, "train_val_images/Aves/Ardea herodias occidentalis/"
			"%032zx-%s.jpg", i, "padding-to-make-the-name-longer-than-100-bytes");
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, name);
		archive_entry_set_size(ae, (la_int64_t)member);
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		archive_entry_set_mtime(ae, 1500000000, 0);
		archive_write_header(a, ae);
		archive_write_data(a, data, member);
		archive_entry_free(ae);
	}
	CHECK(archive_write_close(a) == ARCHIVE_OK, "write close");
	archive_write_free(a);

	/* the same members whatever the feed size (their speed is scripts/bench's) */
	coll c = { 0 };
	ifs_err err;
	int r = scan(tar, used, 64 << 10, &c, &err);
	CHECK(r == 0 && c.n == members, "large tar, 64 KiB feeds: %d %zu members %s", r, c.n,
	      err.msg);
	coll_free(&c);
	r = scan(tar, used, 1 << 20, &c, &err);
	CHECK(r == 0 && c.n == members, "large tar, 1 MiB feeds: %d %zu members %s", r, c.n, err.msg);
	size_t good = 0;
	for (size_t i = 0; i < c.n && i < members; i++)
		good += c.v[i].crc == crcs[i] && c.v[i].size == member;
	CHECK(good == members, "large tar crcs: %zu of %zu", good, members);
	coll_free(&c);
	free(crcs);
	free(data);
	free(tar);
}

/* ---- main ---- */

typedef struct fmt {
	const char *name, *cmd, *what;   /* what: paths to archive */
	size_t min_members;
} fmt;

int main(void)
{
	setlocale(LC_ALL, "C.UTF-8");
	setenv("LC_ALL", "C.UTF-8", 1);
	char *dir = tu_tmpdir("tar");
	CHECK(dir != NULL, "tmpdir");
	if (!dir)
		return tu_end("tar");
	char tree[4096];
	snprintf(tree, sizeof tree, "%s/tree", dir);
	g_tree = tree;
	CHECK(mkdir(tree, 0755) == 0, "mkdir tree");
	make_tree();

	const char *all = "train_val_images misc mid long", *shortp = "train_val_images misc mid";
	const fmt fmts[] = {
		{ "gnu", "tar --format=gnu", all, 30 },
		{ "posix", "tar --format=posix", all, 30 },
		{ "ustar", "tar --format=ustar", shortp, 20 },
		{ "v7", "tar --format=v7", "train_val_images misc", 15 },
		{ "bsdtar", "bsdtar", all, 30 },
		{ "bsdpax", "bsdtar --format pax", all, 30 },
		{ "bsdustar", "bsdtar --format ustar", shortp, 20 },
	};
	coll gnu = { 0 }, ustar = { 0 };
	uint8_t *gbuf = NULL, *ubuf = NULL;
	size_t glen = 0, ulen = 0;
	for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++) {
		const fmt *f = &fmts[i];
		char p[4096];
		snprintf(p, sizeof p, "%s/%s.tar", dir, f->name);
		int st = tu_sh("cd '%s' && %s -cf '%s' %s", tree, f->cmd, p, f->what);
		CHECK(st == 0, "%s: archiver exit %d", f->name, st);
		size_t len = 0;
		uint8_t *buf = tu_slurp(p, &len);
		CHECK(buf && len > 300000, "%s: read %zu bytes", f->name, len);
		if (!buf)
			continue;
		coll c = { 0 };
		check_archive(f->name, buf, len, f->min_members, &c);
		if (strcmp(f->name, "gnu") == 0) {
			gnu = c, gbuf = buf, glen = len;
		} else if (strcmp(f->name, "ustar") == 0) {
			ustar = c, ubuf = buf, ulen = len;
		} else {
			coll_free(&c);
			free(buf);
		}
	}
	printf("regular members verified against disk: %zu\n", count_ok);
	if (gbuf && gnu.n > 5)
		test_hostile(gbuf, glen, &gnu);
	if (ubuf && ustar.n > 5)
		test_base256(ubuf, ulen, &ustar);
	if (gbuf && gnu.n > 5)
		test_mutations(gbuf, glen, &gnu);
	test_dir_size();
	test_resume_global();
	test_sparse(dir);
	coll_free(&gnu);
	coll_free(&ustar);
	free(gbuf);
	free(ubuf);
	test_large();
	if (!tu_failed)
		tu_sh("rm -rf '%s'", dir);
	free(dir);
	return tu_end("tar");
}

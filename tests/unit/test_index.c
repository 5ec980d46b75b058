/*
 * test_index.c - the index against the fixture's own manifest: every
 * member's offset and size (the bytes at that offset of `gzip -dc` are the
 * file: same md5 as the manifest says), every image's split and category;
 * box and location counts against the JSON; staleness detection (changed
 * archive, older schema, garbage file); safe names; where each member's
 * compressed bytes end; a live index (served between ifs_build_begin and the
 * end of ifs_build_scan).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>
#include <zlib.h>

#include "inatfs/gz.h"
#include "inatfs/index.h"
#include "inatfs/index_query.h"
#include "inatfs/names.h"
#include "inatfs/views.h"
#include "testutil.h"
#include "../../src/index/build.h"       /* white-box: the checkpoint writer */
#include "../../src/index/index_sql.h"   /* white-box: the SQL side */
#include "../../src/index/schema.h"

static const char *src_dir(void)
{
	const char *s = getenv("INATFS_SRC");
	return s ? s : ".";
}

static void test_names(void)
{
	char out[IFS_NAME_MAX + 1];
	CHECK(ifs_name_safe("Ardea herodias", out, sizeof out) == 0 &&
	      !strcmp(out, "Ardea herodias"), "plain name kept");
	CHECK(ifs_name_safe("a/b", out, sizeof out) == 1 && !strcmp(out, "a_b"), "slash: %s", out);
	CHECK(ifs_name_safe("..", out, sizeof out) == 1 && !strcmp(out, "_.."), "dotdot: %s", out);
	CHECK(ifs_name_safe(".", out, sizeof out) == 1 && !strcmp(out, "_."), "dot: %s", out);
	CHECK(ifs_name_safe("", out, sizeof out) == 1 && !strcmp(out, "_"), "empty: %s", out);
	CHECK(ifs_name_safe("Malus \xc3\x97" "domestica", out, sizeof out) == 0, "utf-8 kept");
	CHECK(ifs_name_safe("bad\xff\x01", out, sizeof out) == 1 && !strcmp(out, "bad__"),
	      "invalid utf-8 and control: %s", out);
	char longname[600];
	for (int i = 0; i < 599; i += 2) {
		longname[i] = '\xc3';
		longname[i + 1] = '\x97';
	}
	longname[598] = '\0';
	ifs_name_safe(longname, out, sizeof out);
	CHECK(strlen(out) <= IFS_NAME_MAX && strlen(out) % 2 == 0, "cut on a character: %zu",
	      strlen(out));
	/* stored names: "<32 lowercase hex>.jpg" packs to 16 bytes and back */
	const char *hash = "0a25ec2844cfe259b8ea92926d6b0e04.jpg";
	uint8_t packed[IFS_NAME_PACKED];
	char back[IFS_NAME_UNPACKED + 1];
	int ok = ifs_name_pack(hash, strlen(hash), packed) == 1 && packed[0] == 0x0a &&
		 packed[15] == 0x04;
	ifs_name_unpack(packed, back);
	CHECK(ok && !strcmp(back, hash), "name packs and unpacks: %s", back);
	static const char *const textual[] = {
		"0A25EC2844CFE259B8EA92926D6B0E04.jpg", "0a25ec2844cfe259b8ea92926d6b0e04.JPG",
		"0a25ec2844cfe259b8ea92926d6b0e04.jpeg", "0a25ec2844cfe259b8ea92926d6b0e0.jpg",
		"0a25ec2844cfe259b8ea92926d6b0e04x.jpg", "0a25ec2844cfe259b8ea92926d6b0e0g.jpg",
		"Aves", "",
	};
	ok = 1;
	for (size_t i = 0; i < sizeof textual / sizeof *textual; i++)
		if (ifs_name_pack(textual[i], strlen(textual[i]), packed) != 0)
			ok = 0;
	CHECK(ok, "other names stay text (one stored form per name)");
	sqlite3 *mem = NULL;
	sqlite3_stmt *q = NULL;
	ok = ifs_index_sql_open(":memory:", &mem, SQLITE_OPEN_READWRITE) == SQLITE_OK &&
	     sqlite3_prepare_v2(mem, "SELECT typeof(nk(?1)), length(nk(?1)), nm(nk(?1)), "
				"typeof(nk('Aves')), nm('Aves'), nm(NULL) IS NULL", -1, &q, NULL) ==
		     SQLITE_OK;
	if (ok) {
		sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC);
		ok = sqlite3_step(q) == SQLITE_ROW &&
		     !strcmp((const char *)sqlite3_column_text(q, 0), "blob") &&
		     sqlite3_column_int(q, 1) == 16 &&
		     !strcmp((const char *)sqlite3_column_text(q, 2), hash) &&
		     !strcmp((const char *)sqlite3_column_text(q, 3), "text") &&
		     !strcmp((const char *)sqlite3_column_text(q, 4), "Aves") &&
		     sqlite3_column_int(q, 5) == 1;
	}
	CHECK(ok, "SQL nk() and nm() on an index connection");
	sqlite3_finalize(q);
	sqlite3_close(mem);
	ifs_class_dirname(42, 4, "Ardea herodias", out, sizeof out);
	CHECK(!strcmp(out, "0042 Ardea herodias"), "class dir: %s", out);
	ifs_class_dirname(7, 4, "x/..", out, sizeof out);
	CHECK(!strcmp(out, "0007 x_.."), "class dir sanitised: %s", out);
	char p[256];
	CHECK(ifs_path_normalize("./a//b/./c/", p, sizeof p) == 0 && !strcmp(p, "a/b/c"),
	      "normalize: %s", p);
	CHECK(ifs_path_normalize("/abs/x", p, sizeof p) == 0 && !strcmp(p, "abs/x"), "abs: %s", p);
	CHECK(ifs_path_normalize("a/../../etc/passwd", p, sizeof p) == -EINVAL, "dotdot rejected");
	CHECK(ifs_path_normalize("./", p, sizeof p) == -EINVAL, "empty rejected");
	CHECK(ifs_path_normalize("a/b\nc", p, sizeof p) == -EINVAL, "control rejected");
}

/* md5 hex of n bytes at off in a file. */
static int md5_at(FILE *f, uint64_t off, uint64_t n, char hex[33])
{
	if (fseeko(f, (off_t)off, SEEK_SET) != 0)
		return -1;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char buf[65536], d[16];
	unsigned dl = 0;
	if (!c || !EVP_DigestInit_ex(c, EVP_md5(), NULL)) {
		EVP_MD_CTX_free(c);
		return -1;
	}
	while (n > 0) {
		size_t want = n < sizeof buf ? (size_t)n : sizeof buf;
		if (fread(buf, 1, want, f) != want) {
			EVP_MD_CTX_free(c);
			return -1;
		}
		EVP_DigestUpdate(c, buf, want);
		n -= want;
	}
	EVP_DigestFinal_ex(c, d, &dl);
	EVP_MD_CTX_free(c);
	for (int i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	return 0;
}

static int64_t q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_against_manifest(const char *dir, const char *idx)
{
	char raw[4200], man[4200];
	snprintf(raw, sizeof raw, "%s/tv.tar", dir);
	CHECK(tu_sh("gzip -dc '%s/data/train_val_images.tar.gz' > '%s'", dir, raw) == 0, "gunzip");
	snprintf(man, sizeof man, "%s/data/manifest.tsv", dir);
	FILE *mf = fopen(man, "r"), *tf = fopen(raw, "rb");
	sqlite3 *db = NULL;
	CHECK(mf && tf && ifs_index_sql_open(idx, &db, SQLITE_OPEN_READONLY) == SQLITE_OK,
	      "open manifest, tar, index");
	if (!mf || !tf || !db)
		goto out;
	sqlite3_stmt *node, *img;
	/* a member by its full path: walk the tree with a recursive query */
	sqlite3_prepare_v2(db,
		"WITH RECURSIVE p(id, path) AS (SELECT id, nm(name) FROM nodes WHERE parent=1 UNION ALL "
		"SELECT n.id, p.path || '/' || nm(n.name) FROM nodes n JOIN p ON n.parent=p.id) "
		"SELECT n.off*512, n.size, n.id FROM p JOIN nodes n ON n.id=p.id WHERE p.path=?1", -1,
		&node, NULL);
	sqlite3_prepare_v2(db, "SELECT split, category, node FROM images WHERE id=?1 AND split=?2",
			   -1, &img, NULL);
	char line[8192];
	long rows = 0, good = 0, imgs_ok = 0, imgs = 0;
	if (!fgets(line, sizeof line, mf))
		goto out;
	while (fgets(line, sizeof line, mf)) {
		char *f[7];
		char *s = line;
		int nf = 0;
		line[strcspn(line, "\n")] = '\0';
		for (char *t; nf < 7 && (t = strsep(&s, "\t")); )
			f[nf++] = t;
		if (nf != 7 || strcmp(f[0], "train_val_images.tar.gz") != 0)
			continue;
		rows++;
		sqlite3_reset(node);
		sqlite3_bind_text(node, 1, f[1], -1, SQLITE_STATIC);
		if (sqlite3_step(node) != SQLITE_ROW) {
			CHECK(0, "member %s not in the index", f[1]);
			continue;
		}
		uint64_t off = (uint64_t)sqlite3_column_int64(node, 0);
		uint64_t size = (uint64_t)sqlite3_column_int64(node, 1);
		int64_t nid = sqlite3_column_int64(node, 2);
		char hex[33];
		if (size == strtoull(f[2], NULL, 10) && md5_at(tf, off, size, hex) == 0 &&
		    strcmp(hex, f[3]) == 0)
			good++;
		else
			CHECK(0, "member %s: size %llu / md5 at offset %llu differ", f[1],
			      (unsigned long long)size, (unsigned long long)off);
		if (strcmp(f[4], "train") && strcmp(f[4], "val"))
			continue;
		imgs++;
		sqlite3_reset(img);
		sqlite3_bind_int64(img, 1, strtoll(f[6], NULL, 10));
		sqlite3_bind_int(img, 2, strcmp(f[4], "val") == 0);
		if (sqlite3_step(img) == SQLITE_ROW &&
		    sqlite3_column_int64(img, 1) == strtoll(f[5], NULL, 10) &&
		    sqlite3_column_int64(img, 2) == nid)
			imgs_ok++;
		else
			CHECK(0, "image %s (%s): split/category/member differ", f[6], f[1]);
	}
	CHECK(rows > 100 && good == rows, "members match the manifest: %ld of %ld", good, rows);
	CHECK(imgs > 50 && imgs_ok == imgs, "images match the manifest: %ld of %ld", imgs_ok, imgs);
	sqlite3_finalize(node);
	sqlite3_finalize(img);
	/* boxes and locations against the JSON, counted independently by Python */
	char cmd[4600];
	snprintf(cmd, sizeof cmd,
		 "/usr/bin/python3 -c \"import json,zipfile,sys; d=sys.argv[1];"
		 "r=lambda z,n:[zipfile.ZipFile(d+'/'+z).read(e) for e in zipfile.ZipFile(d+'/'+z)"
		 ".namelist() if e.split('/')[-1]==n][0];"
		 "b=sum(len(json.loads(r(z,n))['annotations'])"
		 " for z,n in (('train_2017_bboxes.zip','train_2017_bboxes.json'),"
		 "('val_2017_bboxes.zip','val_2017_bboxes.json')));"
		 "z=zipfile.ZipFile(d+'/inat2017_locations.zip');"
		 "l=sum(len(json.loads(z.read(n))) for n in z.namelist() if n.endswith('.json'));"
		 "print(b, l)\" '%s/data'", dir);
	FILE *p = popen(cmd, "r");
	long nb = -1, nl = -1;
	CHECK(p && fscanf(p, "%ld %ld", &nb, &nl) == 2, "python counts");
	if (p)
		pclose(p);
	/* packed per image (their content is checked through the sidecars by pytest) */
	CHECK(q1(db, "SELECT sum(nboxes) FROM images") == nb, "boxes: %lld vs %ld",
	      (long long)q1(db, "SELECT sum(nboxes) FROM images"), nb);
	CHECK(q1(db, "SELECT count(*) FROM images WHERE (boxes IS NULL) <> (nboxes=0)") == 0,
	      "packed boxes where nboxes says");
	CHECK(q1(db, "SELECT count(location) FROM images") == nl, "locations: %lld vs %ld",
	      (long long)q1(db, "SELECT count(location) FROM images"), nl);
	CHECK(q1(db, "SELECT count(*) FROM shapes") < 40, "record shapes are shared");
	CHECK(q1(db, "SELECT count(*) FROM images WHERE nboxes>0 AND split=1 AND nboxes<>1") == 0,
	      "val images have one box");
	CHECK(q1(db, "SELECT count(*) FROM images WHERE node IS NULL") == 0, "every image joined");
	CHECK(q1(db, "PRAGMA integrity_check") != -1, "integrity check runs");
out:
	if (db)
		sqlite3_close(db);
	if (mf)
		fclose(mf);
	if (tf)
		fclose(tf);
}

/* Every block boundary of a tarball, from a scan of its own (the serial one). */
struct bounds {
	uint64_t (*b)[2];   /* out, in_end */
	size_t n, cap;
};

static int on_bound(void *ctx, uint64_t out, uint64_t in_end)
{
	struct bounds *b = ctx;
	if (b->n == b->cap) {
		size_t c = b->cap ? 2 * b->cap : 1024;
		void *p = realloc(b->b, c * sizeof *b->b);
		if (!p)
			return -ENOMEM;
		b->b = p;
		b->cap = c;
	}
	b->b[b->n][0] = out;
	b->b[b->n++][1] = in_end;
	return 0;
}

/* A member's end and where the index says its compressed bytes end. */
struct mend {
	uint64_t end, in_end, off;
};

static int mend_cmp(const void *a, const void *b)
{
	const struct mend *x = a, *y = b;
	return x->end < y->end ? -1 : x->end > y->end;
}

/* Feeds z the file's bytes in[*fed, to) (out: scratch); returns the
 * output so far, UINT64_MAX on an error. */
static uint64_t zfeed(z_stream *z, const uint8_t *in, uint64_t *fed, uint64_t to, uint8_t *out)
{
	while (*fed < to) {
		z->next_in = (uint8_t *)in + *fed;
		z->avail_in = (uInt)(to - *fed);
		do {
			z->next_out = out;
			z->avail_out = 1 << 16;
			int zr = inflate(z, Z_NO_FLUSH);
			if (zr == Z_STREAM_END) {   /* the next gzip member */
				uInt left = z->avail_in;
				uLong tot = z->total_out;
				inflateReset(z);
				z->total_out = tot;
				z->avail_in = left;
			} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
				return UINT64_MAX;
			}
		} while (z->avail_out == 0);
		*fed = to - z->avail_in;
		if (z->avail_in)
			break;
	}
	return z->total_out;
}

/*
 * Exactness against zlib, one pass over archive src: for each end (in
 * order), the file's bytes before in_end inflate to at least `end` bytes of
 * output, and those before in_end - 1 to fewer (zlib decodes every symbol
 * whose bits it has, and no other). Returns the ends found exact; *checked
 * counts those whose shorter prefix could be tried (an end that shares its
 * in_end with the one before cannot be).
 */
static long zlib_exact(ifs_source *src, const struct mend *e, size_t n, long *checked)
{
	uint64_t size = ifs_source_size(src);
	uint8_t *in = malloc(size ? size : 1), *out = malloc(1 << 16);
	long good = 0;
	z_stream z;
	memset(&z, 0, sizeof z);
	ifs_err err;
	ifs_err_clear(&err);
	if (!in || !out || ifs_source_pread(src, in, size, 0, &err) != (ssize_t)size ||
	    inflateInit2(&z, 31) != Z_OK) {
		CHECK(0, "zlib pass: %s", err.msg);
		free(in);
		free(out);
		return 0;
	}
	uint64_t fed = 0;
	for (size_t i = 0; i < n; i++) {
		int ok = e[i].in_end > 0 && e[i].in_end <= size;
		if (ok && fed <= e[i].in_end - 1) {
			(*checked)++;
			uint64_t o = zfeed(&z, in, &fed, e[i].in_end - 1, out);
			ok = o != UINT64_MAX && o < e[i].end;
		}
		uint64_t o = ok ? zfeed(&z, in, &fed, e[i].in_end, out) : 0;
		ok = ok && o != UINT64_MAX && o >= e[i].end;
		if (ok)
			good++;
		else
			CHECK(0, "member ending at %llu: its compressed bytes end at %llu, zlib "
			      "disagrees (%llu out)", (unsigned long long)e[i].end,
			      (unsigned long long)e[i].in_end, (unsigned long long)o);
	}
	inflateEnd(&z);
	free(in);
	free(out);
	return good;
}

/*
 * What a remote read does: a cursor started at the member's checkpoint,
 * told where its compressed bytes end, over a copy of the archive cut
 * there, must give the member's bytes as the whole archive gives them (the
 * cursor, ISA-L, needs nothing past that end). Returns the members right.
 */
static long cursor_suffices(ifs_index *ix, int a, const struct mend *e, size_t n,
			    const char *idx)
{
	char cut[4300];
	if (snprintf(cut, sizeof cut, "%s.cut%d", idx, a) >= (int)sizeof cut)
		return 0;
	ifs_source *full = ifs_index_archive(ix, a);
	uint64_t size = ifs_source_size(full);
	uint8_t *all = malloc(size ? size : 1);
	ifs_err err;
	ifs_err_clear(&err);
	long good = 0;
	FILE *f = fopen(cut, "wb");
	int ok = all && f && ifs_source_pread(full, all, size, 0, &err) == (ssize_t)size &&
		 fwrite(all, 1, size, f) == size;
	if (f)
		ok = fclose(f) == 0 && ok;
	CHECK(ok, "a copy of archive %d: %s", a, err.msg);
	/* from the last end to the first, cutting the copy shorter each time */
	for (size_t i = n; ok && i-- > 0;) {
		uint64_t len = e[i].end - e[i].off;
		uint8_t *want = malloc(len), *got = malloc(len);
		ifs_source *src = NULL;
		ifs_gz_cursor *cw = NULL, *cg = NULL;
		ifs_gz_checkpoint cp = { 0 };
		int r = want && got && truncate(cut, (off_t)e[i].in_end) == 0 &&
			ifs_source_open_file(cut, 1, &src, &err) == 0 &&
			ifs_index_checkpoint(ix, a, e[i].off, &cp, &err) == 0 &&
			ifs_gz_cursor_new(full, &cw, &err) == 0 &&
			ifs_gz_cursor_start(cw, &cp, 0, &err) == 0 &&
			ifs_gz_cursor_read(cw, e[i].off, want, len, &err) == (ssize_t)len &&
			ifs_gz_cursor_new(src, &cg, &err) == 0 &&
			ifs_gz_cursor_start(cg, &cp, e[i].in_end, &err) == 0 &&
			ifs_gz_cursor_read(cg, e[i].off, got, len, &err) == (ssize_t)len &&
			memcmp(want, got, len) == 0;
		if (r)
			good++;
		else
			CHECK(0, "member at %llu of archive %d from the bytes before %llu: %s",
			      (unsigned long long)e[i].off, a, (unsigned long long)e[i].in_end,
			      err.msg);
		ifs_err_clear(&err);
		ifs_gz_cursor_free(cw);
		ifs_gz_cursor_free(cg);
		ifs_gz_checkpoint_clear(&cp);
		ifs_source_close(src);
		free(want);
		free(got);
	}
	unlink(cut);
	free(all);
	return good;
}

/*
 * Where each member's compressed bytes end (ifs_index_in_end, the range a
 * remote read fetches): exactly the byte after the symbol that outputs its
 * last byte (zlib, given the bytes before it, outputs the whole member, and
 * given one byte fewer it does not), never past the first block boundary at
 * or after its data's end (a scan of the tarball reports those), and short
 * of it for most members. The tiny fixture's images are small: many end in
 * one block, and their checkpoints' rows hold several ends.
 */
static void test_member_ends(const char *dir, const char *idx)
{
	char data[4200];
	snprintf(data, sizeof data, "%s/data", dir);
	ifs_err err;
	ifs_err_clear(&err);
	ifs_index *ix = NULL;
	CHECK(ifs_index_open(idx, data, &ix, &err) == 0, "open: %s", err.msg);
	if (!ix)
		return;
	struct bounds bd[IFS_ARCHIVE_MAX + 1] = { { 0 } };
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
		ifs_source *src = ifs_index_archive(ix, a);
		ifs_gz_scan_opts o = { .on_boundary = on_bound, .ctx = &bd[a],
				       .threads = IFS_GZ_SERIAL };
		CHECK(src && ifs_gz_scan_source(src, &o, NULL, &err) == 0, "scan %d: %s", a,
		      err.msg);
	}
	struct mend *me[IFS_ARCHIVE_MAX + 1] = { 0 };
	size_t nme[IFS_ARCHIVE_MAX + 1] = { 0 };
	ifs_member_iter *it = NULL;
	ifs_member m;
	long n = 0, within = 0, shorter = 0, shared = 0;
	uint64_t last[IFS_ARCHIVE_MAX + 1] = { 0 };
	CHECK(ifs_index_members_open(ix, &it, &err) == 0, "members: %s", err.msg);
	while (it && ifs_index_members_next(it, &m, &err) == 1) {
		if (!m.size || m.pending)
			continue;
		n++;
		struct bounds *b = &bd[m.archive];
		uint64_t end = m.off + m.size, want = 0;
		for (size_t i = 0; i < b->n; i++)
			if (b->b[i][0] >= end) {
				want = b->b[i][1];
				break;
			}
		uint64_t got = ifs_index_in_end(ix, m.archive, end);
		if (got && got <= want)
			within++;
		else
			CHECK(0, "member at %llu+%llu of archive %d: in_end %llu, the boundary "
			      "after it %llu", (unsigned long long)m.off, (unsigned long long)m.size,
			      m.archive, (unsigned long long)got, (unsigned long long)want);
		shorter += got < want;
		shared += want == last[m.archive];
		last[m.archive] = want;
		struct mend *p = realloc(me[m.archive], (nme[m.archive] + 1) * sizeof *p);
		if (p) {
			me[m.archive] = p;
			p[nme[m.archive]++] = (struct mend){ end, got, m.off };
		}
	}
	ifs_index_members_close(it);
	long exact = 0, checked = 0, suffice = 0;
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
		if (!nme[a])
			continue;
		qsort(me[a], nme[a], sizeof *me[a], mend_cmp);
		exact += zlib_exact(ifs_index_archive(ix, a), me[a], nme[a], &checked);
		suffice += cursor_suffices(ix, a, me[a], nme[a], idx);
		free(me[a]);
	}
	CHECK(n > 100 && within == n, "member ends: %ld of %ld within their block", within, n);
	CHECK(exact == n && checked > n / 2, "member ends: %ld of %ld exact (%ld minimal)", exact,
	      n, checked);
	CHECK(suffice == n, "members a cursor reads whole from the bytes before their end: %ld of "
	      "%ld", suffice, n);
	CHECK(shorter > n / 2, "member ends before the boundary after them: %ld of %ld", shorter, n);
	CHECK(shared > 10, "members that end in the same block as the one before: %ld", shared);
	CHECK(ifs_index_in_end(ix, 1, 1ull << 50) == 0 && ifs_index_in_end(ix, 9, 1) == 0,
	      "no end past the data, none for an archive that is not there");
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++)
		free(bd[a].b);
	ifs_index_close(ix);
}

/*
 * The checkpoint writer (cpwrite.c) fed the way a scan feeds it, on made-up
 * streams: blocks of many sizes, members from a few bytes to several blocks,
 * some followed by long runs of headers (so that a row's range holds several
 * ends), output fed in chunks that straddle boundaries, checkpoints
 * delivered late. Every member's end is then found (ifs_sql_in_end) at the
 * first boundary at or after it. A second writer that stops part way and a
 * third that goes on from what the second stored (as a resumed build does:
 * the last stored checkpoint before the tar's resume point, or the archive's
 * first while it is held; the member ends after it from `nodes`) leave the
 * same rows as one uninterrupted writer.
 */
#define SIM_BLOCKS 3000
#define SIM_MEMBERS 3000
struct sim {
	uint64_t bout[SIM_BLOCKS + 1], bin[SIM_BLOCKS + 1];   /* boundaries (0: the start) */
	size_t nb;
	uint64_t ms[SIM_MEMBERS], me[SIM_MEMBERS];            /* members' data [ms, me) */
	size_t nm;
	ifs_gz_checkpoint cp[SIM_BLOCKS + 1];                 /* what the scan emits */
	size_t ncp;
};

static void sim_make(struct sim *m, uint64_t seed)
{
	memset(m, 0, sizeof *m);
	uint64_t r = seed, out = 0, in = 40;
	for (size_t i = 1; i <= SIM_BLOCKS; i++) {
		uint64_t k = tu_rand(&r) % 10;
		out += k == 0 ? 1 + tu_rand(&r) % 300 : k == 1 ? 200000 + tu_rand(&r) % 300000
			: 20000 + tu_rand(&r) % 20000;
		in += 1 + tu_rand(&r) % (out - m->bout[i - 1] + 50);
		m->bout[i] = out;
		m->bin[i] = in;
	}
	m->nb = SIM_BLOCKS + 1;
	uint64_t pos = 0, total = m->bout[SIM_BLOCKS];
	while (m->nm < SIM_MEMBERS) {
		uint64_t k = tu_rand(&r) % 40, size = k < 12 ? tu_rand(&r) % 3000 :
			k < 38 ? 5000 + tu_rand(&r) % 100000 : k < 39 ? 1000000 + tu_rand(&r) % 2000000 : 0;
		/* sometimes a long run of headers (folders, pax records) before the data */
		uint64_t gap = tu_rand(&r) % 8 == 0 ? 512 * (1 + tu_rand(&r) % 200) : 0;
		uint64_t s = pos + 512 + gap;
		if (s + size >= total - 1024)
			break;
		if (size) {
			m->ms[m->nm] = s;
			m->me[m->nm++] = s + size;
		}
		pos = (s + size + 511) / 512 * 512;
	}
	/* the scan's checkpoints: one at 0, then at each boundary one for the
	 * wants in the block before it (from = the first of them), and one every
	 * 4 MiB */
	m->cp[m->ncp++] = (ifs_gz_checkpoint){ .out = 0, .from = 0, .in_bit = 80 };
	size_t w = 0;
	uint64_t last = 0;
	for (size_t i = 1; i < m->nb; i++) {
		uint64_t cur = m->bout[i - 1], x = m->bout[i];
		if (w < m->nm && m->ms[w] < x) {
			if (m->ms[w] >= cur && cur > last)
				m->cp[m->ncp++] = (ifs_gz_checkpoint){ .out = cur, .from = m->ms[w],
					.in_bit = m->bin[i - 1] * 8 + 3 };
			last = cur;
			while (w < m->nm && m->ms[w] < x)
				w++;
		}
		if (x - last >= (4u << 20)) {
			m->cp[m->ncp++] = (ifs_gz_checkpoint){ .out = x, .from = x,
				.in_bit = m->bin[i] * 8 };
			last = x;
		}
	}
	for (size_t i = 0; i < m->ncp; i++)
		m->cp[i].member_out = 0, m->cp[i].members = 1, m->cp[i].crc = (uint32_t)i;
}

/*
 * Feeds writer w with m's events in scan order: boundaries, the checkpoints
 * emitted at them (delivered with a lag), member ends once the output fed
 * passes them. A resumed scan (rs) starts at rs->out's boundary, after that
 * checkpoint, and its tar scanner at end_after. Stops after `stop` boundaries
 * (0: never) without finishing; returns the tar's resume point then (the end
 * of the last member ended, padded), else 0.
 */
static uint64_t sim_feed(const struct sim *m, ifs_cpwriter *w, uint64_t seed,
			 const ifs_cp_state *rs, uint64_t end_after, size_t stop, int *bad)
{
	size_t first_b = 0, e = 0, c = 0, emitted = 0, nb = 0;
	while (rs && m->bout[first_b] < rs->out)
		first_b++;
	uint64_t r = seed, fed = m->bout[first_b], resume = 0;
	while (rs && e < m->nm && m->me[e] <= end_after)
		e++;
	while (rs && c < m->ncp && m->cp[c].out <= rs->out)
		c++;
	emitted = c;
	for (size_t i = first_b + 1; i < m->nb; i++) {
		while (fed < m->bout[i]) {   /* output in chunks, straddling boundaries */
			fed += 1 + tu_rand(&r) % 60000;
			for (; e < m->nm && m->me[e] <= fed; e++) {
				*bad |= ifs_cpw_member_end(w, m->me[e]) != 0;
				resume = (m->me[e] + 511) / 512 * 512;
			}
		}
		*bad |= ifs_cpw_boundary(w, m->bout[i], m->bin[i]) != 0;
		while (emitted < m->ncp && m->cp[emitted].out < m->bout[i])
			emitted++;
		if (emitted < m->ncp && m->cp[emitted].out == m->bout[i] &&
		    m->cp[emitted].from == m->bout[i])
			emitted++;
		while (c < emitted && (tu_rand(&r) % 3 || emitted - c > 8))
			*bad |= ifs_cpw_checkpoint(w, &m->cp[c++]) != 0;
		if (stop && ++nb == stop)
			return resume;
	}
	for (; e < m->nm; e++)
		*bad |= ifs_cpw_member_end(w, m->me[e]) != 0;
	while (c < m->ncp)
		*bad |= ifs_cpw_checkpoint(w, &m->cp[c++]) != 0;
	*bad |= ifs_cpw_finish(w) != 0;
	return 0;
}

static sqlite3 *sim_db(void)
{
	sqlite3 *db = NULL;
	ifs_err err;
	ifs_err_clear(&err);
	if (sqlite3_open(":memory:", &db) != SQLITE_OK || ifs_schema_create(db, &err)) {
		CHECK(0, "schema: %s", err.msg);
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* The rows of `checkpoints`, as text. */
static void sim_rows(sqlite3 *db, ifs_buf *out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT quote(key), quote(skip), quote(in_bit), quote(window), "
			       "quote(entry), quote(ends) FROM checkpoints ORDER BY key", -1, &st,
			       NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW)
		for (int i = 0; i < 6; i++)
			ifs_buf_addf(out, "%s%c", (const char *)sqlite3_column_text(st, i),
				     i == 5 ? '\n' : ' ');
	sqlite3_finalize(st);
}

static void test_cp_writer(void)
{
	static struct sim m;
	ifs_err err;
	ifs_err_clear(&err);
	sqlite3 *db = sim_db();
	if (!db)
		return;
	int bad = 0;
	long ends = 0, good = 0, multi = 0;
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
		sim_make(&m, 1000 + (uint64_t)a);
		ifs_cpwriter w;
		bad |= ifs_cpw_init(&w, db, a, &err) != 0;
		sim_feed(&m, &w, 7 * (uint64_t)a, NULL, 0, 0, &bad);
		ifs_cpw_free(&w);
		sqlite3_stmt *st = NULL;
		sqlite3_prepare_v2(db, ifs_sql_ends, -1, &st, NULL);
		size_t b = 1, c = 0;
		for (size_t i = 0; st && i < m.nm; i++) {
			while (m.bout[b] < m.me[i])
				b++;
			uint64_t got = 0;
			ends++;
			if (ifs_sql_in_end(st, a, m.me[i], &got) == 1 && got == m.bin[b])
				good++;
			else if (ends - good < 5)
				CHECK(0, "archive %d, member [%llu, %llu): in_end %llu, want %llu", a,
				      (unsigned long long)m.ms[i], (unsigned long long)m.me[i],
				      (unsigned long long)got, (unsigned long long)m.bin[b]);
		}
		sqlite3_finalize(st);
		/* rows whose range holds the ends of two members or more in different blocks */
		for (size_t i = 0, k = 0, j = 1; i < m.ncp; i++) {
			uint64_t until = i + 1 < m.ncp ? m.cp[i + 1].from : UINT64_MAX;
			size_t n = 0;
			uint64_t prev = 0;
			for (; k < m.nm; k++) {
				while (m.bout[j] < m.me[k])
					j++;
				if (m.bout[j] < m.cp[i].from)
					continue;
				if (m.bout[j] >= until)
					break;
				n += m.bout[j] != prev;
				prev = m.bout[j];
			}
			multi += n >= 2;
			c += n;
		}
		(void)c;
	}
	CHECK(!bad, "writer calls succeed");
	CHECK(ends > 2000 && good == ends, "made-up streams: %ld of %ld member ends found", good,
	      ends);
	CHECK(multi > 20, "rows with several ends: %ld", multi);
	CHECK(q1(db, "SELECT count(*) FROM checkpoints") > 1000, "checkpoints written");
	ifs_buf whole = { 0 };
	sim_rows(db, &whole);
	sqlite3_close(db);

	/* stopped part way, then resumed as a build goes on */
	long resumes = 0, same = 0, runs = 0, first = 0;
	static const size_t stops[] = { 1, 2, 3, 150, 851, 1552, 2253, 2954 };
	for (size_t si = 0; si < sizeof stops / sizeof stops[0]; si++, runs++) {
		size_t stop = stops[si];
		db = sim_db();
		if (!db)
			break;
		for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
			sim_make(&m, 1000 + (uint64_t)a);
			ifs_cpwriter w;
			bad |= ifs_cpw_init(&w, db, a, &err) != 0;
			uint64_t off = sim_feed(&m, &w, 7 * (uint64_t)a, NULL, 0, stop, &bad);
			const ifs_cp_state *rs = off ? ifs_cpw_stored(&w, off) : NULL;
			ifs_cp_state keep = rs ? *rs : (ifs_cp_state){ 0 };
			ifs_cpw_free(&w);
			bad |= ifs_cpw_init(&w, db, a, &err) != 0;
			if (rs) {
				resumes++;
				first += keep.out == 0;
				/* the build's: the stored checkpoint as the record has it */
				ifs_gz_checkpoint rc = { .out = keep.out, .from = keep.out,
							 .in_bit = keep.in_bit, .crc = keep.crc,
							 .member_out = keep.member_out,
							 .members = keep.members };
				bad |= ifs_cpw_resume_first(&w, &rc) != 0;
				/* rewant: the members that end after the stored checkpoint
				 * and start before the tar's resume point */
				for (size_t i = 0; i < m.nm && m.ms[i] < off; i++)
					if (m.me[i] > keep.out)
						bad |= ifs_cpw_member_end(&w, m.me[i]) != 0;
				sim_feed(&m, &w, 11 * (uint64_t)a, &keep, off, 0, &bad);
			} else {
				sim_feed(&m, &w, 11 * (uint64_t)a, NULL, 0, 0, &bad);
			}
			ifs_cpw_free(&w);
		}
		ifs_buf got = { 0 };
		sim_rows(db, &got);
		same += got.len == whole.len && got.p && !memcmp(got.p, whole.p, got.len);
		free(got.p);
		sqlite3_close(db);
	}
	CHECK(!bad, "writer calls succeed (resumed)");
	CHECK(resumes >= runs && same == runs, "resumed writers leave the same rows: "
	      "%ld of %ld (%ld resumes)", same, runs, resumes);
	CHECK(first >= 2, "resumed from an archive's first checkpoint, held when stopped: %ld",
	      first);
	free(whole.p);
}

static void test_lifecycle(const char *dir, const char *idx)
{
	char data[4200], tmp[4300];
	snprintf(data, sizeof data, "%s/data", dir);
	ifs_err err;
	ifs_err_clear(&err);
	CHECK(ifs_index_check(idx, data, &err) == 0, "fresh index is usable: %s", err.msg);

	/* a build writes nothing but the final file */
	snprintf(tmp, sizeof tmp, "%s.tmp-%ld", idx, (long)getpid());
	CHECK(access(tmp, F_OK) != 0, "no temporary left behind");

	/* a changed archive (same size, new mtime) makes it stale, with the reason */
	CHECK(tu_sh("touch -d '2001-01-01' '%s/train_val2017.zip'", data) == 0, "touch");
	ifs_err_clear(&err);
	CHECK(ifs_index_check(idx, data, &err) == -ESTALE && strstr(err.msg, "train_val2017.zip") &&
	      strstr(err.msg, "changed"), "changed zip detected: %s", err.msg);

	/* rebuild; the index in place gave its free pages back (what packing
	 * saves shows only at scale: scripts/bench, index size) */
	ifs_err_clear(&err);
	CHECK(ifs_index_build(data, idx, NULL, &err) == 0, "rebuild: %s", err.msg);
	CHECK(tu_sh("test \"$(sqlite3 '%s' 'PRAGMA freelist_count')\" = 0", idx) == 0,
	      "no free pages in the index");

	/* an older schema version */
	CHECK(tu_sh("sqlite3 '%s' 'PRAGMA user_version=0'", idx) == 0, "set old version");
	ifs_err_clear(&err);
	CHECK(ifs_index_check(idx, data, &err) == -ESTALE && strstr(err.msg, "schema version"),
	      "old schema detected: %s", err.msg);

	/* garbage is not an index */
	CHECK(tu_sh("head -c 5000 /dev/urandom > '%s'", idx) == 0, "garbage");
	ifs_err_clear(&err);
	CHECK(ifs_index_check(idx, data, &err) == -ESTALE, "garbage detected: %s", err.msg);

	/* a missing index */
	unlink(idx);
	CHECK(ifs_index_check(idx, data, &err) == -ENOENT, "missing index");

	/* a failing build (unwritable place) leaves nothing */
	ifs_err_clear(&err);
	CHECK(ifs_index_build(data, "/proc/inatfs-nope/x.sqlite", NULL, &err) < 0 &&
	      strstr(err.msg, "index:"), "unwritable index path: %s", err.msg);

	/* locate: explicit wins, writable data dir next */
	char *where = NULL;
	CHECK(ifs_index_locate(data, "/x/y", &where, &err) == 0 && !strcmp(where, "/x/y"),
	      "explicit index path");
	free(where);
	CHECK(ifs_index_locate(data, NULL, &where, &err) == 0 && strstr(where, data) == where,
	      "index inside a writable data dir: %s", where ? where : "");
	free(where);
}

/* The first child of folder `ino` in a listing (train/ -> a class folder...). */
struct first { char name[300]; ifs_entry e; int n, pending; };
static int take_first(void *ctx, const char *name, const ifs_entry *e)
{
	struct first *f = ctx;
	if (f->n++ == 0) {
		snprintf(f->name, sizeof f->name, "%s", name);
		f->e = *e;
	}
	f->pending += e->pending;
	return 0;
}

static void test_live(const char *dir)
{
	char data[4200], idx[4300];
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(idx, sizeof idx, "%s/live.sqlite", dir);
	ifs_err err;
	ifs_err_clear(&err);
	ifs_build_opts o = { 0 };
	ifs_build *b = NULL;
	CHECK(ifs_build_begin(data, idx, &o, &b, &err) == 0, "begin: %s", err.msg);
	if (!b)
		return;
	CHECK(access(idx, F_OK) != 0, "no index before the scan");
	ifs_index *ix = NULL;
	CHECK(ifs_index_open_live(ifs_build_temp_path(b), data, &ix, &err) == 0, "open live: %s",
	      err.msg);
	ifs_views *v = NULL;
	CHECK(ix && ifs_views_new(ix, NULL, &v, &err) == 0, "views: %s", err.msg);
	if (!v) {
		ifs_build_free(b);
		ifs_index_close(ix);
		return;
	}
	o.live = ix;
	CHECK(ifs_index_live_state(ix) == IFS_LIVE_SCANNING, "scanning");

	/* train/ -> its first class -> its first image: listed, but pending */
	ifs_entry e, cls;
	struct first f = { 0 };
	CHECK(ifs_views_lookup_child(v, 1, "train", &e, &err) == 0, "train/: %s", err.msg);
	CHECK(ifs_views_readdir_ino(v, e.ino, take_first, &f, &err) == 0 && f.n > 0,
	      "classes listed before the scan: %d", f.n);
	cls = f.e;
	memset(&f, 0, sizeof f);
	CHECK(ifs_views_readdir_ino(v, cls.ino, take_first, &f, &err) == 0 && f.n > 0 &&
	      f.pending * 2 == f.n, "images (and sidecars) listed, images pending: %d of %d",
	      f.pending, f.n);
	char img[300];
	snprintf(img, sizeof img, "%s", f.name);
	uint64_t img_ino = f.e.ino;
	CHECK(ifs_views_lookup_child(v, cls.ino, img, &e, &err) == -EAGAIN, "lookup waits");
	CHECK(ifs_views_getattr(v, img_ino, &e, &err) == -EAGAIN, "getattr waits");
	char side[300];
	snprintf(side, sizeof side, "%.*s.json", (int)(strlen(img) - 4), img);
	CHECK(ifs_views_lookup_child(v, cls.ino, side, &e, &err) == 0 && e.size > 0,
	      "sidecar at once: %s", err.msg);
	CHECK(ifs_views_lookup_child(v, 1, "submission_template.csv", &e, &err) == -EAGAIN,
	      "generated file waits for the end");
	uint64_t gen = ifs_index_generation(ix);

	ifs_err_clear(&err);
	CHECK(ifs_build_scan(b, &err) == 0, "scan: %s", err.msg);
	CHECK(ifs_index_live_state(ix) == IFS_LIVE_DONE, "done");
	CHECK(ifs_index_generation(ix) > gen, "the end was announced");
	CHECK(ifs_views_lookup_child(v, cls.ino, img, &e, &err) == 0 && e.size > 0 && !e.pending,
	      "image after the scan: %s", err.msg);
	CHECK(ifs_views_lookup_child(v, 1, "submission_template.csv", &e, &err) == 0,
	      "generated file after the scan");
	CHECK(access(idx, F_OK) == 0, "index in place");
	ifs_views_free(v);
	ifs_index_close(ix);
	ifs_build_free(b);
	CHECK(access(idx, F_OK) == 0, "index kept");
	ifs_err_clear(&err);
	CHECK(ifs_index_check(idx, data, &err) == 0, "the live-built index is usable: %s", err.msg);

	/* cancelled: -ECANCELED; no index, the temporary kept for the next
	 * build to go on with (tests/mount/test_live.py resumes such builds) */
	unlink(idx);
	ifs_err_clear(&err);
	CHECK(ifs_build_begin(data, idx, NULL, &b, &err) == 0, "begin again: %s", err.msg);
	if (!b)
		return;
	char tmp[4400];
	snprintf(tmp, sizeof tmp, "%s", ifs_build_temp_path(b));
	CHECK(access(tmp, F_OK) == 0, "temporary exists during the build");
	ifs_build_cancel(b);
	ifs_err_clear(&err);
	CHECK(ifs_build_scan(b, &err) == -ECANCELED, "cancelled: %s", err.msg);
	ifs_build_free(b);
	CHECK(access(tmp, F_OK) == 0 && access(idx, F_OK) != 0, "after a cancel: no index, the "
	      "temporary kept");
	char journal[4500];
	snprintf(journal, sizeof journal, "%s-journal", tmp);
	CHECK(access(journal, F_OK) != 0, "no journal left after a cancel");
	unlink(tmp);
}

int main(void)
{
	test_names();
	test_cp_writer();
	char *dir = tu_tmpdir("index");
	if (!dir)
		return 1;
	int r = tu_sh("'%s/scripts/make-fixture' --preset tiny --seed 3 '%s/data' 2>/dev/null",
		      src_dir(), dir);
	CHECK(r == 0, "make-fixture");
	char idx[4200];
	snprintf(idx, sizeof idx, "%s/index.sqlite", dir);
	char data[4200];
	snprintf(data, sizeof data, "%s/data", dir);
	ifs_err err;
	ifs_err_clear(&err);
	CHECK(ifs_index_build(data, idx, NULL, &err) == 0, "build: %s", err.msg);
	test_against_manifest(dir, idx);
	test_member_ends(dir, idx);
	test_lifecycle(dir, idx);
	test_live(dir);
	tu_sh("rm -rf '%s'", dir);
	free(dir);
	return tu_end("index");
}

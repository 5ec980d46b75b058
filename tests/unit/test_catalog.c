/*
 * test_catalog.c - the annotation catalog against zips built at run time by
 * tests/unit/catalog_fixture.py (run with /usr/bin/python3): every value the
 * generator wrote must come back (it lists them in expect.tsv), every
 * variant of the formats notes must load, and each broken input must fail
 * with the right code and a message naming the zip, the JSON file and the
 * problem. Ends with a large train2017.json (20,000 images over the real
 * 5,089 categories) loaded whole and right; how fast is the benchmark's
 * business (scripts/bench).
 */
#include "inatfs/catalog.h"
#include "testutil.h"
#include "../../src/catalog/catalog_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static char *tmp;

static char *path2(const char *a, const char *b)
{
	size_t n = strlen(tmp) + strlen(a) + strlen(b) + 3;
	char *p = malloc(n);
	if (!p)
		abort();
	snprintf(p, n, "%s/%s%s%s", tmp, a, *b ? "/" : "", b);
	return p;
}

/* Strict JSON needs control bytes escaped in strings, and compact text has
 * no whitespace: a stored record holds no byte below 0x20. */
static int no_ctrl(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20)
			return 0;
	return s != NULL;
}

/* Same JSON value (cJSON_Compare), and compact (no newline, no indent). */
static int json_same(const char *got, const char *want)
{
	if (!got || strchr(got, '\n'))
		return 0;
	cJSON *a = cJSON_Parse(got), *b = cJSON_Parse(want);
	int ok = a && b && cJSON_Compare(a, b, 1);
	cJSON_Delete(a);
	cJSON_Delete(b);
	return ok;
}

/* "\N" in expect.tsv stands for NULL. */
static int str_is(const char *got, const char *want)
{
	if (strcmp(want, "\\N") == 0)
		return got == NULL;
	return got && strcmp(got, want) == 0;
}

static long long num(const char *s)
{
	return strcmp(s, "\\N") == 0 ? -1 : strtoll(s, NULL, 10);
}

static char seen_progress[512];

static void progress(void *ctx, const char *what)
{
	(void)ctx;
	size_t n = strlen(seen_progress);
	snprintf(seen_progress + n, sizeof seen_progress - n, "%s ", what);
}

/* Splits line at tabs into f[]; returns the field count. */
static int fields(char *line, char **f, int max)
{
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, "\t\n", &save); t && n < max; t = strtok_r(NULL, "\t\n", &save))
		f[n++] = t;
	return n;
}

static void check_good(const char *variant)
{
	char *d = path2(variant, ""), *exp = path2(variant, "expect.tsv");
	ifs_catalog *c = NULL;
	ifs_err e;
	ifs_err_clear(&e);
	seen_progress[0] = 0;
	int r = ifs_catalog_load(d, &c, progress, NULL, &e);
	CHECK(r == 0 && c, "%s: load: %d %s", variant, r, e.msg);
	if (!c)
		goto out;
	CHECK(strcmp(seen_progress, "train2017.json val2017.json train_2017_bboxes.json "
		     "val_2017_bboxes.json train2017_locations.json val2017_locations.json "
		     "test2017.json ") == 0, "%s: progress: %s", variant, seen_progress);

	size_t len;
	char *text = (char *)tu_slurp(exp, &len);
	CHECK(text != NULL, "%s: read %s", variant, exp);
	if (!text)
		goto out;
	text = realloc(text, len + 1);
	text[len] = 0;
	size_t ci = 0, li = 0, ii = 0, bi = 0, oi = 0, fi = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[16] = { 0 };
		int n = fields(line, f, 16);
		if (n < 2) {
			CHECK(0, "%s: short expect line", variant);
		} else if (strcmp(f[0], "cat") == 0 && n == 4) {
			const ifs_category *k = ci < c->ncats ? &c->cats[ci] : NULL;
			CHECK(k && k->id == num(f[1]) && str_is(k->name, f[2]) &&
			      str_is(k->supercategory, f[3]), "%s: category %zu is %s", variant, ci, f[2]);
			ci++;
		} else if (strcmp(f[0], "lic") == 0 && n == 4) {
			const ifs_license *l = li < c->nlics ? &c->lics[li] : NULL;
			CHECK(l && l->id == num(f[1]) && str_is(l->name, f[2]) && str_is(l->url, f[3]),
			      "%s: license %zu", variant, li);
			li++;
		} else if (strcmp(f[0], "img") == 0 && n == 10) {
			const ifs_image *m = ii < c->nimgs ? &c->imgs[ii] : NULL;
			CHECK(m && m->split == num(f[1]) && m->id == num(f[2]) && m->width == num(f[3]) &&
			      m->height == num(f[4]) && m->license == num(f[5]) &&
			      m->category_id == num(f[6]) && str_is(m->file_name, f[7]) &&
			      str_is(m->rights_holder, f[8]),
			      "%s: image %zu (id %s, %s)", variant, ii, f[2], f[7]);
			if (strcmp(f[9], "\\N") == 0)
				CHECK(m && m->extra == NULL, "%s: image %s has no extra", variant, f[2]);
			else
				CHECK(m && json_same(m->extra, f[9]), "%s: image %s extra %s, want %s",
				      variant, f[2], m ? m->extra : "", f[9]);
			ii++;
		} else if (strcmp(f[0], "box") == 0 && n == 10) {
			const ifs_box *b = bi < c->nboxes ? &c->boxes[bi] : NULL;
			CHECK(b && b->split == num(f[1]) && b->id == num(f[2]) &&
			      b->image_id == num(f[3]) && b->category_id == num(f[4]) &&
			      b->x == strtod(f[5], NULL) && b->y == strtod(f[6], NULL) &&
			      b->w == strtod(f[7], NULL) && b->h == strtod(f[8], NULL) &&
			      json_same(b->json, f[9]) && no_ctrl(b->json), "%s: box %zu: %s", variant, bi,
			      b ? b->json : "");
			bi++;
		} else if (strcmp(f[0], "loc") == 0 && n == 4) {
			const ifs_location *o = oi < c->nlocs ? &c->locs[oi] : NULL;
			CHECK(o && o->split == num(f[1]) && o->image_id == num(f[2]) &&
			      json_same(o->json, f[3]) && no_ctrl(o->json), "%s: location %zu: %s", variant, oi,
			      o ? o->json : "");
			oi++;
		} else if (strcmp(f[0], "skipped") == 0 && n == 2) {
			CHECK(c->nlocs_skipped == (size_t)num(f[1]), "%s: %zu locations skipped",
			      variant, c->nlocs_skipped);
		} else if (strcmp(f[0], "info") == 0 && n == 3) {
			long long s = num(f[1]);
			CHECK(s >= 0 && s < 3 && json_same(c->info[s], f[2]), "%s: info %lld", variant, s);
		} else if (strcmp(f[0], "file") == 0 && n == 5) {
			const ifs_annfile *a = fi < c->nfiles ? &c->files[fi] : NULL;
			char *zp = path2(variant, f[2]);
			CHECK(a && str_is(a->name, f[1]) && str_is(a->zip_path, zp) &&
			      str_is(a->entry, f[3]) && a->size == (uint64_t)num(f[4]) && a->mtime > 0,
			      "%s: file %zu: %s %s", variant, fi, a ? a->entry : "", a ? a->zip_path : "");
			/* The daemon serves it byte-identical through ifs_zip_read_entry. */
			uint8_t *buf = NULL;
			size_t blen = 0;
			ifs_err e2;
			ifs_err_clear(&e2);
			r = a ? ifs_zip_read_entry(a->zip_path, a->entry, &buf, &blen, &e2) : -1;
			CHECK(r == 0 && blen == a->size && buf[blen] == 0, "%s: read %s: %s", variant,
			      f[3], e2.msg);
			if (strcmp(f[1], "train2017.json") == 0) {
				char *raw = path2(variant, "train2017.raw");
				size_t rlen;
				uint8_t *want = tu_slurp(raw, &rlen);
				CHECK(want && buf && rlen == blen && memcmp(want, buf, rlen) == 0,
				      "%s: train2017.json bytes", variant);
				free(want);
				free(raw);
			}
			free(buf);
			free(zp);
			fi++;
		} else {
			CHECK(0, "%s: bad expect line %s", variant, f[0]);
		}
	}
	CHECK(ci == c->ncats && li == c->nlics && ii == c->nimgs && bi == c->nboxes &&
	      oi == c->nlocs && fi == c->nfiles,
	      "%s: counts %zu %zu %zu %zu %zu %zu", variant, c->ncats, c->nlics, c->nimgs,
	      c->nboxes, c->nlocs, c->nfiles);
	free(text);
out:
	ifs_catalog_free(c);
	free(d);
	free(exp);
}

static const struct neg {
	const char *variant;
	int code;
	const char *zip, *json, *problem;
} negs[] = {
	{ "trunc", EIO, "/train_val2017.zip: ", "train2017.json", "not a readable zip" },
	{ "garbage", EIO, "/train_val2017.zip: ", "train2017.json", "not a readable zip" },
	{ "badcrc", EIO, "/train_val2017.zip: ", "train2017.json", "CRC" },
	{ "noentry", ENOENT, "/train_val2017.zip: ", "val2017.json", "not in this zip" },
	{ "badjson", EIO, "/train_val2017.zip: ", "train2017.json", "invalid JSON at line 1, column" },
	{ "trailing", EIO, "/train_val2017.zip: ", "train2017.json", "unexpected data after the end" },
	{ "badutf8", EIO, "/train_val2017.zip: ", "train2017.json", "invalid UTF-8" },
	{ "nul", EIO, "/train_val2017.zip: ", "train2017.json", "string holds a NUL" },
	{ "noimages", EIO, "/train_val2017.zip: ", "train2017.json", "missing key \"images\"" },
	{ "idstr", EIO, "/train_val2017.zip: ", "train2017.json",
	  "images[2].id: expected an integer, got string" },
	{ "idfloat", EIO, "/train_val2017.zip: ", "train2017.json",
	  "images[1].id: expected an integer, got 101.5" },
	{ "dupimg", EIO, "/train_val2017.zip: ", "train2017.json",
	  "images[3].id: duplicate image id 101" },
	{ "tvdup", EIO, "/train_val2017.zip: ", "val2017.json",
	  "images[0].id: image id 104 is also in the train split" },
	{ "unkcat", EIO, "/train_val2017.zip: ", "train2017.json",
	  "annotations[2].category_id: no category with id 999" },
	{ "unkimg", EIO, "/train_val2017.zip: ", "train2017.json",
	  "annotations[1].image_id: no image with id 99999" },
	{ "catdiff", EIO, "/train_val2017.zip: ", "val2017.json",
	  "categories[3]: category 3 is \"Blechnum spicant\" (Plantae) here but \"Blechnum penna-marina\"" },
	{ "negwidth", EIO, "/train_val2017.zip: ", "train2017.json",
	  "images[1].width: expected a positive integer, got -5" },
	{ "dupbox", EIO, "/train_2017_bboxes.zip: ", "train_2017_bboxes.json",
	  "annotations[2].id: duplicate box id 1" },
	{ "boxstr", EIO, "/train_2017_bboxes.zip: ", "train_2017_bboxes.json",
	  "annotations[1].bbox[2]: expected a number, got string" },
	{ "boxval", EIO, "/val_2017_bboxes.zip: ", "val_2017_bboxes.json",
	  "annotations[0].image_id: no val image with id 101" },
	{ "locobj", EIO, "/inat2017_locations.zip: ", "train2017_locations.json",
	  "expected a JSON array at the top level, got object" },
	{ "latstr", EIO, "/inat2017_locations.zip: ", "val2017_locations.json",
	  "[0].lat: expected a number, got string" },
	{ "locgarbage", EIO, "/inat2017_locations.zip: ", "train2017_locations.json",
	  "zip" },
	{ "badnest", EIO, "/train_val2017.zip: ", "train2017.json",
	  "invalid JSON at line 1, column 21" },
	{ "syntaxlast", EIO, "/train_val2017.zip: ", "train2017.json", "invalid JSON at line 1, column" },
	{ "surrogate", EIO, "/train_val2017.zip: ", "train2017.json", "invalid JSON at line 1, column" },
	{ "unclosed", EIO, "/train_val2017.zip: ", "train2017.json", "invalid JSON at line 1, column" },
	{ "lenientbig", EIO, "/train_val2017.zip: ", "train2017.json",
	  "(a file over 16 MiB must be strict JSON" },
};

static void check_bad(const struct neg *n)
{
	char *d = path2(n->variant, "");
	ifs_catalog *c = (ifs_catalog *)&c;
	ifs_err e;
	ifs_err_clear(&e);
	int r = ifs_catalog_load(d, &c, NULL, NULL, &e);
	CHECK(r == -n->code && e.code == n->code && c == NULL, "%s: code %d (%s)", n->variant, r,
	      e.msg);
	const char *z = strstr(e.msg, n->zip);
	CHECK(z && strncmp(e.msg, d, strlen(d)) == 0, "%s: names the zip: %s", n->variant, e.msg);
	CHECK(z && strstr(z, n->json), "%s: names %s: %s", n->variant, n->json, e.msg);
	CHECK(strstr(e.msg, n->problem), "%s: says \"%s\": %s", n->variant, n->problem, e.msg);
	if (getenv("INATFS_TEST_VERBOSE"))
		printf("%-10s %s\n", n->variant, e.msg);
	ifs_catalog_free(r == 0 ? c : NULL);
	free(d);
}

static void check_misc(void)
{
	ifs_catalog *c = NULL;
	ifs_err e;
	ifs_err_clear(&e);
	char *d = path2("empty", "");
	int r = ifs_catalog_load(d, &c, NULL, NULL, &e);
	CHECK(r == 0 && c && c->nimgs == 0 && c->ncats == 0 && c->nfiles == 0 && !c->info[0],
	      "no train_val2017.zip: empty catalog (%d %s)", r, e.msg);
	ifs_catalog_free(c);
	free(d);

	uint8_t *buf = (uint8_t *)&r;
	size_t len = 7;
	char *zip = path2("good", "train_val2017.zip");
	ifs_err_clear(&e);
	r = ifs_zip_read_entry(zip, "nothere.json", &buf, &len, &e);
	CHECK(r == -ENOENT && buf == NULL && len == 0 && strstr(e.msg, zip) &&
	      strstr(e.msg, "nothere.json"), "missing entry: %d %s", r, e.msg);
	ifs_err_clear(&e);
	/* Found by base name by the loader, but read_entry wants the exact path. */
	free(zip);
	zip = path2("good", "inat2017_locations.zip");
	r = ifs_zip_read_entry(zip, "train2017_locations.json", &buf, &len, &e);
	CHECK(r == -ENOENT, "exact entry path: %d %s", r, e.msg);
	ifs_err_clear(&e);
	r = ifs_zip_read_entry(zip, "inat2017_locations/", &buf, &len, &e);
	CHECK(r == -ENOENT, "a folder is no entry: %d %s", r, e.msg);
	free(zip);
	zip = path2("good", "nothere.zip");
	ifs_err_clear(&e);
	r = ifs_zip_read_entry(zip, "train2017.json", &buf, &len, &e);
	CHECK(r == -ENOENT && strstr(e.msg, "nothere.zip"), "missing zip: %d %s", r, e.msg);
	free(zip);

	/* an entry is read up to the limit and no further; the buffer never
	 * grows past it */
	int grows = 1;
	for (size_t max = 1; max < ((size_t)1 << 31); max = max * 3 + 1) {
		size_t cap = 1 << 16 < max + 2 ? 1 << 16 : max + 1;
		while (cap < max + 2) {
			size_t nc = ifs_zip_next_cap(cap, max);
			grows &= nc > cap && nc <= max + 2;
			if (nc <= cap)
				break;
			cap = nc;
		}
		grows &= cap == max + 2;
	}
	CHECK(grows, "entry buffers grow to the limit + 2 and no further");
	size_t keep = ifs_zip_entry_max;
	ifs_zip_entry_max = 1 << 20;
	zip = path2("bomb", "bomb.zip");
	ifs_err_clear(&e);
	r = ifs_zip_read_entry(zip, "exact.json", &buf, &len, &e);
	CHECK(r == 0 && len == 1 << 20, "an entry at the limit: %d %s", r, e.msg);
	free(r == 0 ? buf : NULL);
	ifs_err_clear(&e);
	r = ifs_zip_read_entry(zip, "over.json", &buf, &len, &e);
	CHECK(r == -EIO && buf == NULL && strstr(e.msg, "over.json") && strstr(e.msg, "1048576"),
	      "an entry past the limit: %d %s", r, e.msg);
	ifs_zip_entry_max = keep;
	free(zip);
	CHECK(strcmp(ifs_split_name(IFS_SPLIT_TRAIN), "train") == 0 &&
	      strcmp(ifs_split_name(IFS_SPLIT_VAL), "val") == 0 &&
	      strcmp(ifs_split_name(IFS_SPLIT_TEST), "test") == 0, "split names");
}

/* x with the bits of x >> s folded back out: undoes x ^= x >> s. */
static uint64_t unxorshift(uint64_t y, int s)
{
	uint64_t x = y;
	for (int k = s; k < 64; k += s)
		x = y ^ (x >> s);
	return x;
}

static uint64_t inverse(uint64_t c)
{
	uint64_t x = c;   /* Newton's iteration for 1/c mod 2^64 (c odd) */
	for (int i = 0; i < 6; i++)
		x *= 2 - c * x;
	return x;
}

/*
 * Image and category ids come from the input: ids chosen so that an
 * unkeyed mix of them (here, the splitmix64 finalizer the map once used,
 * inverted) lands in one slot must still spread over the table.
 */
static void check_id_flood(void)
{
	enum { N = 20000 };
	ifs_cidmap m = { 0 };
	int ok = 1;
	for (uint64_t j = 1; j <= N; j++) {
		uint64_t x = j << 20;   /* slot 0 of every table up to 2^20 slots */
		x = unxorshift(x, 31);
		x *= inverse(0x94d049bb133111ebull);
		x = unxorshift(x, 27);
		x *= inverse(0xbf58476d1ce4e5b9ull);
		x = unxorshift(x, 30);
		ok &= ifs_cidmap_put(&m, (int64_t)x, (size_t)j, NULL) == 0;
	}
	size_t idx = 0, probe = ifs_cidmap_probe_max(&m);
	CHECK(ok && m.n == N, "crafted ids: all inserted");
	CHECK(probe < 64, "crafted ids: longest probe run %zu (want < 64)", probe);
	uint64_t x = (uint64_t)7 << 20;
	x = unxorshift(x, 31);
	x *= inverse(0x94d049bb133111ebull);
	x = unxorshift(x, 27);
	x *= inverse(0xbf58476d1ce4e5b9ull);
	x = unxorshift(x, 30);
	CHECK(ifs_cidmap_get(&m, (int64_t)x, &idx) && idx == 7, "crafted ids: found again");
	ifs_cidmap_free(&m);
}

static void large(const char *gen)
{
	const long n = 20000;
	int st = tu_sh("/usr/bin/python3 '%s' '%s' %ld", gen, tmp, n);
	CHECK(st == 0, "large catalog generator: %d", st);
	char *d = path2("large", "");
	ifs_catalog *c = NULL;
	ifs_err e;
	ifs_err_clear(&e);
	int r = ifs_catalog_load(d, &c, NULL, NULL, &e);
	CHECK(r == 0 && c && c->nimgs == (size_t)n && c->ncats == 5089, "large load: %s", e.msg);
	size_t bad = 0;
	for (size_t i = 0; c && i < c->nimgs; i++)
		bad += c->imgs[i].id != (int64_t)i || c->imgs[i].category_id != (int64_t)(i % 5089);
	CHECK(bad == 0, "large: %zu images wrong", bad);
	ifs_catalog_free(c);
	free(d);
}

int main(void)
{
	tmp = tu_tmpdir("catalog");
	CHECK(tmp != NULL, "tmpdir");
	if (!tmp)
		return tu_end("catalog");
	const char *src = getenv("INATFS_SRC");
	char gen[4096];
	snprintf(gen, sizeof gen, "%s/tests/unit/catalog_fixture.py", src ? src : ".");
	int st = tu_sh("/usr/bin/python3 '%s' '%s'", gen, tmp);
	CHECK(st == 0, "fixture generator: %d", st);
	if (st == 0) {
		check_good("good");
		check_good("rootloc");
		check_good("pretty");
		check_good("tricky");
		check_good("ctrl");
		check_good("lenient");
		for (size_t i = 0; i < sizeof negs / sizeof negs[0]; i++)
			check_bad(&negs[i]);
		check_misc();
		check_id_flood();
		large(gen);
	}
	if (!getenv("INATFS_KEEP_TMP"))
		tu_sh("rm -rf '%s'", tmp);
	free(tmp);
	return tu_end("catalog");
}

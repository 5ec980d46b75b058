/*
 * test_views.c - the views without FUSE, on an index of the tiny fixture:
 * a walk of the whole tree where every listed entry is what getattr of its
 * inode and a lookup of its name answer (listings with and without
 * attributes list the same names, inodes and types); every kind of inode;
 * the trees against the fixture's manifest (pristine paths and sizes, each
 * image in its split's class folder, test/, 2017/ mirroring
 * train_val_images/, by-supercategory/ and with-bbox/ against their
 * splits and the COCO file); the content of sidecars, annotation and
 * generated files; member paths; errors for unknown names and inodes;
 * sidecars off; a damaged tarball (what is past the damage answers EIO,
 * the rest is served); and a live index (generated files wait for the end
 * of the scan).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "inatfs/index.h"
#include "inatfs/names.h"
#include "inatfs/views.h"
#include "testutil.h"

static const char *src_dir(void)
{
	const char *s = getenv("INATFS_SRC");
	return s ? s : ".";
}

/* ---- the tree, walked ---------------------------------------------------- */

struct node {
	char *path;          /* "" for the root */
	uint64_t parent;
	ifs_entry e;
};
struct tree {
	struct node *n;
	size_t len, cap;
};

static void tree_add(struct tree *t, const char *path, uint64_t parent, const ifs_entry *e)
{
	if (t->len == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->n = realloc(t->n, t->cap * sizeof *t->n);
		if (!t->n)
			abort();
	}
	t->n[t->len].path = strdup(path);
	t->n[t->len].parent = parent;
	t->n[t->len].e = *e;
	t->len++;
}

static void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->len; i++)
		free(t->n[i].path);
	free(t->n);
	memset(t, 0, sizeof *t);
}

static const struct node *tree_get(const struct tree *t, const char *path)
{
	for (size_t i = 0; i < t->len; i++)
		if (!strcmp(t->n[i].path, path))
			return &t->n[i];
	return NULL;
}

/* One folder's listing. */
struct listing {
	char (*name)[256];
	ifs_entry *e;
	size_t n, cap;
};

static int collect(void *ctx, const char *name, const ifs_entry *e)
{
	struct listing *l = ctx;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->name = realloc(l->name, l->cap * sizeof *l->name);
		l->e = realloc(l->e, l->cap * sizeof *l->e);
		if (!l->name || !l->e)
			abort();
	}
	snprintf(l->name[l->n], sizeof l->name[l->n], "%s", name);
	l->e[l->n++] = *e;
	return 0;
}

static void listing_free(struct listing *l)
{
	free(l->name);
	free(l->e);
	memset(l, 0, sizeof *l);
}

/* What the kernel would see of an entry. */
static int same_attrs(const ifs_entry *a, const ifs_entry *b)
{
	if (a->ino != b->ino || a->src != b->src || a->size != b->size || a->nlink != b->nlink ||
	    a->mtime != b->mtime || a->mode != b->mode || a->pending != b->pending)
		return 0;
	switch (a->src) {
	case IFS_SRC_MEMBER:
		return a->archive == b->archive && a->off == b->off && a->crc == b->crc;
	case IFS_SRC_SIDECAR:
		return a->rid == b->rid;
	case IFS_SRC_BLOB: case IFS_SRC_ANNFILE:
		return !strcmp(a->key, b->key);
	default:
		return 1;
	}
}

/*
 * Walks every folder from the root with v (listings with attributes),
 * checking each entry against getattr and lookup, and the listing against
 * vn's (names only). Fills t; counts inode kinds into kinds[].
 */
static void walk(ifs_views *v, ifs_views *vn, struct tree *t, unsigned kinds[8])
{
	ifs_err err;
	ifs_entry root;
	ifs_err_clear(&err);
	CHECK(ifs_views_getattr(v, 1, &root, &err) == 0 && root.src == IFS_SRC_DIR, "root: %s",
	      err.msg);
	tree_add(t, "", 0, &root);
	long bad_get = 0, bad_look = 0, bad_names = 0, dups = 0, bad_nlink = 0, entries = 0;
	for (size_t d = 0; d < t->len; d++) {
		if (t->n[d].e.src != IFS_SRC_DIR)
			continue;
		uint64_t ino = t->n[d].e.ino;
		char *dpath = strdup(t->n[d].path);   /* t->n moves as it grows */
		struct listing l = { 0 }, ln = { 0 };
		ifs_err_clear(&err);
		int r = ifs_views_readdir_ino(v, ino, collect, &l, &err);
		CHECK(r == 0, "listing /%s: %d %s", dpath, r, err.msg);
		r = ifs_views_readdir_ino(vn, ino, collect, &ln, &err);
		CHECK(r == 0 && ln.n == l.n, "names-only listing /%s: %d, %zu vs %zu entries", dpath, r,
		      ln.n, l.n);
		uint32_t subdirs = 0;
		for (size_t i = 0; i < l.n; i++) {
			const ifs_entry *e = &l.e[i];
			ifs_entry g, k;
			char path[4096];
			snprintf(path, sizeof path, "%s%s%s", dpath, *dpath ? "/" : "", l.name[i]);
			entries++;
			kinds[(e->ino >> 40) & 7]++;
			if (i < ln.n && (strcmp(ln.name[i], l.name[i]) || ln.e[i].ino != e->ino ||
					 ln.e[i].src != e->src))
				bad_names++;
			for (size_t j = 0; j < i; j++)
				dups += !strcmp(l.name[j], l.name[i]);
			ifs_err_clear(&err);
			if (ifs_views_getattr(v, e->ino, &g, &err) != 0 || !same_attrs(&g, e)) {
				if (bad_get++ < 5)
					CHECK(0, "getattr of /%s differs from its listing (nlink %u vs "
					      "%u): %s", path, g.nlink, e->nlink, err.msg);
			}
			if (ifs_views_lookup_child(v, ino, l.name[i], &k, &err) != 0 ||
			    !same_attrs(&k, e)) {
				if (bad_look++ < 5)
					CHECK(0, "lookup of /%s differs from its listing: %s", path,
					      err.msg);
			}
			subdirs += e->src == IFS_SRC_DIR;
			tree_add(t, path, ino, e);
		}
		/* folders whose link count says how many subfolders they have */
		unsigned kind = (unsigned)(ino >> 40);
		if ((ino != 1 && (kind == 0 || kind == 6)) || !strcmp(dpath, "by-supercategory") ||
		    !strcmp(dpath, "with-bbox") ||
		    (!strncmp(dpath, "by-supercategory/", 17) && !strchr(dpath + 17, '/'))) {
			ifs_entry self;
			if (ifs_views_getattr(v, ino, &self, &err) != 0 || self.nlink != 2 + subdirs) {
				bad_nlink++;
				CHECK(0, "/%s: nlink %u, %u subfolders listed", dpath, self.nlink, subdirs);
			}
		}
		listing_free(&l);
		listing_free(&ln);
		free(dpath);
	}
	CHECK(entries > 1000, "the walk saw %ld entries", entries);
	CHECK(!bad_get && !bad_look, "every listed entry is what getattr (%ld differ) and lookup "
	      "(%ld differ) answer", bad_get, bad_look);
	CHECK(!bad_names, "listings without attributes: same names, inodes, types (%ld differ)",
	      bad_names);
	CHECK(!dups, "no name twice in a folder (%ld)", dups);
	CHECK(!bad_nlink, "link counts of folders count their subfolders");
}

/* ---- the fixture's manifest ---------------------------------------------- */

struct row {
	char archive[64], path[1024], split[8];
	uint64_t size;
	long long cat, id;
	int seen;
};

static struct row *manifest(const char *data, size_t *n)
{
	char p[4300], line[4096];
	snprintf(p, sizeof p, "%s/manifest.tsv", data);
	FILE *f = fopen(p, "r");
	struct row *rows = NULL;
	size_t cap = 0;
	*n = 0;
	if (!f || !fgets(line, sizeof line, f)) {
		if (f)
			fclose(f);
		return NULL;
	}
	while (fgets(line, sizeof line, f)) {
		char *fl[7], *s = line;
		int nf = 0;
		line[strcspn(line, "\n")] = '\0';
		for (char *tk; nf < 7 && (tk = strsep(&s, "\t"));)
			fl[nf++] = tk;
		if (nf != 7)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			rows = realloc(rows, cap * sizeof *rows);
			if (!rows)
				abort();
		}
		struct row *r = &rows[(*n)++];
		memset(r, 0, sizeof *r);
		snprintf(r->archive, sizeof r->archive, "%s", fl[0]);
		snprintf(r->path, sizeof r->path, "%s", fl[1]);
		snprintf(r->split, sizeof r->split, "%s", fl[4]);
		r->size = strtoull(fl[2], NULL, 10);
		r->cat = strcmp(fl[5], "-") ? strtoll(fl[5], NULL, 10) : -1;
		r->id = strtoll(fl[6], NULL, 10);
	}
	fclose(f);
	return rows;
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* The image of the manifest in split with category cat named name. */
static struct row *find_image(struct row *rows, size_t n, const char *split, long long cat,
			      const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].split, split) && rows[i].cat == cat &&
		    !strcmp(base(rows[i].path), name))
			return &rows[i];
	return NULL;
}

static int has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

/* The images of a split view (prefix "train/", "by-supercategory/Aves/val/"):
 * each found in the manifest with its size and category (from its class
 * folder's inode); returns how many, and how many did not match. */
static size_t images_of(const struct tree *t, const char *prefix, const char *split,
			struct row *rows, size_t n, size_t *bad)
{
	size_t count = 0;
	*bad = 0;
	for (size_t i = 0; i < t->len; i++) {
		const struct node *x = &t->n[i];
		if (x->e.src != IFS_SRC_MEMBER || !has_prefix(x->path, prefix))
			continue;
		count++;
		long long cat = !strcmp(split, "test") ? -1 : (long long)(x->parent & 0xffffffffu);
		struct row *r = find_image(rows, n, split, cat, base(x->path));
		if (!r || r->size != x->e.size)
			(*bad)++;
		else
			r->seen++;
	}
	return count;
}

/* ---- tests --------------------------------------------------------------- */

static void test_complete(const char *data, const char *idxpath)
{
	ifs_err err;
	ifs_err_clear(&err);
	ifs_index *idx = NULL;
	ifs_views *v = NULL, *vn = NULL, *vs = NULL;
	CHECK(ifs_index_open(idxpath, data, &idx, &err) == 0, "open: %s", err.msg);
	ifs_views_opts full = { .sidecars = 1, .listing_attrs = 1 };
	ifs_views_opts names = { .sidecars = 1, .listing_attrs = 0 };
	ifs_views_opts nosc = { .sidecars = 0, .listing_attrs = 1 };
	CHECK(idx && ifs_views_new(idx, &full, &v, &err) == 0 &&
	      ifs_views_new(idx, &names, &vn, &err) == 0 &&
	      ifs_views_new(idx, &nosc, &vs, &err) == 0, "views: %s", err.msg);
	if (!v || !vn || !vs)
		goto out;

	struct tree t = { 0 };
	unsigned kinds[8] = { 0 };
	walk(v, vn, &t, kinds);
	for (int k = 0; k <= 6; k++)
		CHECK(kinds[k] > 0, "inodes of kind %d were listed (%u)", k, kinds[k]);
	CHECK(kinds[7] == 0, "no inode of an unknown kind");

	static const char *const at_root[] = {
		"train_val_images", "test2017", "2017", "train", "val", "by-supercategory",
		"with-bbox", "test", "submission_template.csv", "train2017.json", "val2017.json",
		"train_2017_bboxes.json", "val_2017_bboxes.json", "train2017_locations.json",
		"val2017_locations.json", "test2017.json",
	};
	for (size_t i = 0; i < sizeof at_root / sizeof *at_root; i++) {
		const struct node *x = tree_get(&t, at_root[i]);
		CHECK(x && x->parent == 1, "/%s at the root", at_root[i]);
	}
	const struct node *sup = tree_get(&t, "by-supercategory");
	size_t nsup = 0;
	for (size_t i = 0; i < t.len; i++)
		nsup += has_prefix(t.n[i].path, "by-supercategory/") &&
			!strchr(t.n[i].path + 17, '/');
	CHECK(sup && nsup == 13 && sup->e.nlink == 2 + nsup,
	      "by-supercategory/: the fixture's 13 supercategories, nlink %u",
	      sup ? sup->e.nlink : 0);

	/* the manifest: pristine paths and sizes, then the split views */
	size_t nrows = 0;
	struct row *rows = manifest(data, &nrows);
	CHECK(rows && nrows > 200, "manifest: %zu rows", nrows);
	size_t pristine_bad = 0;
	for (size_t i = 0; i < nrows; i++) {
		const struct node *x = tree_get(&t, rows[i].path);
		if (!x || x->e.src != IFS_SRC_MEMBER || x->e.size != rows[i].size || x->e.pending)
			pristine_bad++;
	}
	CHECK(!pristine_bad, "every manifest path in the pristine trees, its size (%zu differ)",
	      pristine_bad);
	size_t aliased = 0, alias_bad = 0;
	for (size_t i = 0; i < t.len; i++) {
		const struct node *x = &t.n[i];
		if (!has_prefix(x->path, "train_val_images/"))
			continue;
		char ap[4200];
		snprintf(ap, sizeof ap, "2017/%s", x->path + 17);
		const struct node *a = tree_get(&t, ap);
		aliased++;
		if (!a || (a->e.ino >> 40) != 6 || (a->e.ino & ((1ull << 40) - 1)) != x->e.ino ||
		    a->e.size != x->e.size || a->e.off != x->e.off || a->e.crc != x->e.crc)
			alias_bad++;
	}
	CHECK(aliased > 200 && !alias_bad, "2017/ mirrors train_val_images/ with inodes of its own "
	      "(%zu of %zu differ)", alias_bad, aliased);

	static const char *const splits[][2] = { { "train/", "train" }, { "val/", "val" },
						 { "test/", "test" } };
	for (size_t s = 0; s < 3; s++) {
		size_t bad, want = 0, seen = 0;
		for (size_t i = 0; i < nrows; i++)
			rows[i].seen = 0;
		size_t n = images_of(&t, splits[s][0], splits[s][1], rows, nrows, &bad);
		for (size_t i = 0; i < nrows; i++) {
			want += !strcmp(rows[i].split, splits[s][1]);
			seen += rows[i].seen == 1;
		}
		CHECK(n == want && !bad && seen == want, "%s: %zu images listed, %zu in the manifest, "
		      "%zu unmatched", splits[s][0], n, want, bad);
	}
	/* by-supercategory/<S>/{train,val}/ together are train/ and val/ */
	static const char *const parts[] = { "train", "val" };
	for (size_t s = 0; s < 2; s++) {
		size_t total = 0, bad_all = 0, want = 0;
		for (size_t i = 0; i < nrows; i++) {
			rows[i].seen = 0;
			want += !strcmp(rows[i].split, parts[s]);
		}
		for (size_t i = 0; i < t.len; i++) {
			const struct node *x = &t.n[i];
			char p[300];
			if (!has_prefix(x->path, "by-supercategory/") || strchr(x->path + 17, '/') ||
			    x->e.src != IFS_SRC_DIR)
				continue;
			snprintf(p, sizeof p, "%s/%s/", x->path, parts[s]);
			size_t bad;
			total += images_of(&t, p, parts[s], rows, nrows, &bad);
			bad_all += bad;
		}
		size_t once = 0;
		for (size_t i = 0; i < nrows; i++)
			once += rows[i].seen == 1;
		CHECK(total == want && !bad_all && once == want, "by-supercategory/*/%s: %zu images, "
		      "each of %s once (%zu)", parts[s], total, parts[s], once);
	}

	/* with-bbox/: its images are those its COCO file lists */
	const struct node *coco = tree_get(&t, "with-bbox/train.json");
	uint8_t *data_ = NULL;
	size_t len = 0;
	CHECK(coco && coco->e.src == IFS_SRC_BLOB &&
	      ifs_views_content(v, &coco->e, &data_, &len, &err) == 0 && len == coco->e.size,
	      "with-bbox/train.json made at its recorded size: %s", err.msg);
	cJSON *doc = data_ ? cJSON_ParseWithLength((const char *)data_, len) : NULL;
	cJSON *imgs = cJSON_GetObjectItem(doc, "images");
	size_t listed = 0, in_json = (size_t)cJSON_GetArraySize(imgs), missing = 0;
	for (size_t i = 0; i < t.len; i++)
		listed += has_prefix(t.n[i].path, "with-bbox/train/") &&
			  t.n[i].e.src == IFS_SRC_MEMBER;
	cJSON *im;
	cJSON_ArrayForEach(im, imgs) {
		cJSON *fn = cJSON_GetObjectItem(im, "file_name");
		char p[1200];
		snprintf(p, sizeof p, "with-bbox/%s", cJSON_IsString(fn) ? fn->valuestring : "?");
		const struct node *x = tree_get(&t, p);
		missing += !x || x->e.src != IFS_SRC_MEMBER;
	}
	CHECK(doc && in_json > 0 && listed == in_json && !missing,
	      "with-bbox/train/ holds what with-bbox/train.json lists: %zu listed, %zu in the "
	      "JSON, %zu not found", listed, in_json, missing);
	cJSON_Delete(doc);
	free(data_);

	/* contents: sidecars (one per image, JSON with its id), annotation and
	 * generated files at their sizes */
	size_t sidecars = 0, sc_bad = 0, files_bad = 0;
	for (size_t i = 0; i < t.len; i++) {
		const struct node *x = &t.n[i];
		if (x->e.src == IFS_SRC_SIDECAR) {
			sidecars++;
			data_ = NULL;
			if (ifs_views_content(v, &x->e, &data_, &len, &err) != 0 || len != x->e.size)
				sc_bad++;
			else if (has_prefix(x->path, "train/")) {
				char img[300];
				snprintf(img, sizeof img, "%.*s.jpg", (int)(strlen(base(x->path)) - 5),
					 base(x->path));
				struct row *r = find_image(rows, nrows, "train",
							   (long long)(x->parent & 0xffffffffu), img);
				cJSON *j = cJSON_ParseWithLength((const char *)data_, len);
				cJSON *id = cJSON_GetObjectItem(j, "id");
				if (!r || !cJSON_IsNumber(id) || (long long)id->valuedouble != r->id)
					sc_bad++;
				cJSON_Delete(j);
			}
			free(data_);
		} else if (x->e.src == IFS_SRC_ANNFILE || x->e.src == IFS_SRC_BLOB) {
			data_ = NULL;
			if (ifs_views_content(v, &x->e, &data_, &len, &err) != 0 || len != x->e.size)
				files_bad++;
			free(data_);
		}
	}
	size_t images = 0;
	for (size_t i = 0; i < t.len; i++)
		images += t.n[i].e.src == IFS_SRC_MEMBER && (t.n[i].e.ino >> 40) == 3;
	CHECK(sidecars == images && !sc_bad, "a sidecar per image (%zu, %zu images), at its size, "
	      "with the image's id (%zu bad)", sidecars, images, sc_bad);
	CHECK(!files_bad, "annotation and generated files at their sizes (%zu bad)", files_bad);

	/* member paths: a pristine member's own, an image's in its tarball */
	size_t paths = 0, path_bad = 0;
	for (size_t i = 0; i < t.len; i++) {
		const struct node *x = &t.n[i];
		char p[4200];
		if (x->e.src != IFS_SRC_MEMBER)
			continue;
		int pristine = has_prefix(x->path, "train_val_images/") ||
			       has_prefix(x->path, "test2017/");
		if (!pristine && !has_prefix(x->path, "val/"))
			continue;
		paths++;
		if (ifs_views_member_path(v, &x->e, p, sizeof p) != 0) {
			path_bad++;
			continue;
		}
		if (pristine) {
			path_bad += strcmp(p, x->path) != 0;
		} else {
			struct row *r = find_image(rows, nrows, "val",
						   (long long)(x->parent & 0xffffffffu), base(x->path));
			path_bad += !r || strcmp(p, r->path) != 0;
		}
	}
	CHECK(paths > 200 && !path_bad, "member paths (%zu of %zu wrong)", path_bad, paths);

	/* errors */
	const struct node *cls = NULL, *jpg = NULL;
	for (size_t i = 0; i < t.len && (!cls || !jpg); i++) {
		if (!cls && has_prefix(t.n[i].path, "train/") && t.n[i].e.src == IFS_SRC_DIR)
			cls = &t.n[i];
		if (!jpg && has_prefix(t.n[i].path, "train/") && t.n[i].e.src == IFS_SRC_MEMBER)
			jpg = &t.n[i];
	}
	ifs_entry e;
	char longname[300];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	CHECK(cls && jpg, "a class folder and an image");
	if (cls && jpg) {
		CHECK(ifs_views_lookup_child(v, cls->e.ino, "nope.jpg", &e, &err) == -ENOENT,
		      "unknown image: ENOENT");
		CHECK(ifs_views_lookup_child(v, cls->e.ino, "nope.json", &e, &err) == -ENOENT,
		      "unknown sidecar: ENOENT");
		CHECK(ifs_views_lookup_child(v, jpg->e.ino, "x", &e, &err) == -ENOTDIR,
		      "lookup in a file: ENOTDIR");
		CHECK(ifs_views_readdir_ino(v, jpg->e.ino, collect, NULL, &err) == -ENOTDIR,
		      "listing a file: ENOTDIR");
		CHECK(ifs_views_lookup_child(v, cls->e.ino, longname, &e, &err) == -ENAMETOOLONG,
		      "a name over 255 bytes: ENAMETOOLONG");
		CHECK(ifs_views_lookup_child(v, 1, "train/x", &e, &err) == -ENOENT,
		      "a name with a slash: ENOENT");
		/* sidecars off: none listed, none found */
		struct listing l = { 0 };
		CHECK(ifs_views_readdir_ino(vs, cls->e.ino, collect, &l, &err) == 0 && l.n > 0,
		      "class folder without sidecars");
		size_t json = 0;
		for (size_t i = 0; i < l.n; i++)
			json += strstr(l.name[i], ".json") != NULL;
		char sc[IFS_NAME_MAX + 8];
		ifs_sidecar_name(base(jpg->path), sc, sizeof sc);
		CHECK(!json && ifs_views_lookup_child(vs, cls->e.ino, sc, &e, &err) == -ENOENT &&
		      ifs_views_lookup_child(v, cls->e.ino, sc, &e, &err) == 0,
		      "-o nosidecar: no sidecar listed (%zu) or found", json);
		listing_free(&l);
	}
	CHECK(ifs_views_lookup_child(v, 1, "nope", &e, &err) == -ENOENT, "unknown root name");
	CHECK(ifs_views_getattr(v, 7ull << 40 | 1, &e, &err) == -ENOENT, "unknown inode kind");
	CHECK(ifs_views_getattr(v, 3ull << 40 | 0xfffffff0ull, &e, &err) == -ENOENT,
	      "unknown image row");
	CHECK(ifs_views_getattr(v, 1ull << 40 | 40, &e, &err) == -ENOENT, "unknown fixed inode");
	CHECK(ifs_views_getattr(v, (1ull << 40) - 2, &e, &err) == -ENOENT, "unknown node");
	free(rows);
	tree_free(&t);
out:
	ifs_views_free(v);
	ifs_views_free(vn);
	ifs_views_free(vs);
	ifs_index_close(idx);
}

/* A truncated tarball: what lies past the damage answers EIO (pending
 * images and members that end past the bytes that can be trusted), the
 * rest is served. A 3 MiB member goes first, so that the damage is past
 * what the build checks before it starts (the first MiB). */
static void test_damaged(const char *dir)
{
	char data[4200], idxpath[4300];
	snprintf(data, sizeof data, "%s/damaged", dir);
	snprintf(idxpath, sizeof idxpath, "%s/damaged.sqlite", dir);
	CHECK(tu_sh("set -e; cp -r '%s/data' '%s'; cd '%s'; mkdir -p big/train_val_images/Big; "
		    "head -c 3145728 /dev/urandom > big/train_val_images/Big/blob.bin; "
		    "tar --format=gnu -cf big.tar -C big train_val_images/Big/blob.bin; "
		    "gzip -dc train_val_images.tar.gz > tv.tar; tar -Af big.tar tv.tar; "
		    "gzip -c big.tar > train_val_images.tar.gz; rm -r big big.tar tv.tar; "
		    "truncate -s $(( $(stat -c %%s train_val_images.tar.gz) - 400000 )) "
		    "train_val_images.tar.gz", dir, data, data) == 0, "a truncated copy");
	ifs_err err;
	ifs_err_clear(&err);
	CHECK(ifs_index_build(data, idxpath, NULL, &err) == 0, "a damaged tarball is no failure: %s",
	      err.msg);
	ifs_index *idx = NULL;
	ifs_views *v = NULL;
	ifs_damage d;
	CHECK(ifs_index_open(idxpath, data, &idx, &err) == 0 &&
	      ifs_index_damage(idx, IFS_ARCHIVE_TRAINVAL, &d) == 1, "damage recorded: %s", err.msg);
	if (!idx || ifs_views_new(idx, NULL, &v, &err) != 0) {
		ifs_index_close(idx);
		return;
	}
	ifs_entry tr;
	CHECK(ifs_views_lookup_child(v, 1, "train", &tr, &err) == 0, "train/");
	struct listing cl = { 0 };
	CHECK(ifs_views_readdir_ino(v, tr.ino, collect, &cl, &err) == 0 && cl.n > 0, "classes");
	size_t ok = 0, eio = 0, wrong = 0;
	for (size_t c = 0; c < cl.n; c++) {
		struct listing il = { 0 };
		if (ifs_views_readdir_ino(v, cl.e[c].ino, collect, &il, &err) != 0)
			wrong++;
		for (size_t i = 0; i < il.n; i++) {
			const ifs_entry *e = &il.e[i];
			if (e->src != IFS_SRC_MEMBER)
				continue;
			ifs_entry g;
			int lost = e->pending || e->off + e->size > d.good_out;
			int r = ifs_views_lookup_child(v, cl.e[c].ino, il.name[i], &g, &err);
			int r2 = ifs_views_getattr(v, e->ino, &g, &err);
			if (r != r2 || r != (lost ? -EIO : 0))
				wrong++;
			if (r == 0)
				ok++;
			else
				eio++;
		}
		listing_free(&il);
	}
	listing_free(&cl);
	CHECK(ok > 0 && eio > 0 && !wrong, "images before the damage served (%zu), after it EIO "
	      "(%zu), %zu answers otherwise", ok, eio, wrong);
	ifs_views_free(v);
	ifs_index_close(idx);
}

/* A live index: the COCO files are made at the end of the scan; until then
 * with-bbox/ does not list them and a lookup waits (-EAGAIN). */
static void test_live(const char *dir)
{
	char data[4200], idxpath[4300];
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(idxpath, sizeof idxpath, "%s/live.sqlite", dir);
	ifs_err err;
	ifs_err_clear(&err);
	ifs_build_opts o = { 0 };
	ifs_build *b = NULL;
	ifs_index *ix = NULL;
	ifs_views *v = NULL;
	CHECK(ifs_build_begin(data, idxpath, &o, &b, &err) == 0, "begin: %s", err.msg);
	if (!b)
		return;
	CHECK(ifs_index_open_live(ifs_build_temp_path(b), data, &ix, &err) == 0 &&
	      ifs_views_new(ix, NULL, &v, &err) == 0, "live views: %s", err.msg);
	if (!v)
		goto out;
	o.live = ix;
	ifs_entry bb, e;
	struct listing l = { 0 };
	CHECK(ifs_views_lookup_child(v, 1, "with-bbox", &bb, &err) == 0 &&
	      ifs_views_readdir_ino(v, bb.ino, collect, &l, &err) == 0 && l.n == 2,
	      "with-bbox/ lists train/ and val/ only during the scan: %zu", l.n);
	listing_free(&l);
	CHECK(ifs_views_lookup_child(v, bb.ino, "train.json", &e, &err) == -EAGAIN,
	      "with-bbox/train.json waits for the scan");
	CHECK(ifs_views_lookup_child(v, 1, "test", &e, &err) == 0, "test/ listed from the start");
	ifs_err_clear(&err);
	CHECK(ifs_build_scan(b, &err) == 0, "scan: %s", err.msg);
	CHECK(ifs_views_readdir_ino(v, bb.ino, collect, &l, &err) == 0 && l.n == 4,
	      "with-bbox/ lists the COCO files after the scan: %zu", l.n);
	listing_free(&l);
	CHECK(ifs_views_lookup_child(v, bb.ino, "train.json", &e, &err) == 0 && e.size > 0,
	      "with-bbox/train.json after the scan");
out:
	ifs_views_free(v);
	ifs_index_close(ix);
	ifs_build_free(b);
}

int main(void)
{
	char *dir = tu_tmpdir("views");
	if (!dir)
		return 1;
	CHECK(tu_sh("'%s/scripts/make-fixture' --preset tiny --seed 3 --test-layout folder "
		    "'%s/data' 2>/dev/null",
		    src_dir(), dir) == 0, "make-fixture");
	char data[4200], idx[4200];
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(idx, sizeof idx, "%s/index.sqlite", dir);
	ifs_err err;
	ifs_err_clear(&err);
	CHECK(ifs_index_build(data, idx, NULL, &err) == 0, "build: %s", err.msg);
	test_complete(data, idx);
	test_damaged(dir);
	test_live(dir);
	tu_sh("rm -rf '%s'", dir);
	free(dir);
	return tu_end("views");
}

/*
 * build_catalog.c - the annotations into the index, before the scan: every
 * JSON image gets its row (its sidecar formatted once to record its exact
 * size), and its boxes and location are packed into it (jpack.h). The scan then links
 * each tar member to the images that name it (struct ifs_join, in memory,
 * no SQL join).
 */
#include "build.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/catalog.h"
#include "inatfs/jpack.h"
#include "inatfs/names.h"
#include "inatfs/sidecar.h"
#include "schema.h"

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int digits(int64_t v)
{
	int d = 1;
	while (v >= 10) {
		v /= 10;
		d++;
	}
	return d;
}

/* Categories and licenses are sorted by id in the catalog. */
static const ifs_category *find_category(const ifs_catalog *c, int64_t id)
{
	size_t lo = 0, hi = c->ncats;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->cats[mid].id == id)
			return &c->cats[mid];
		if (c->cats[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const ifs_license *find_license(const ifs_catalog *c, int64_t id)
{
	size_t lo = 0, hi = c->nlics;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->lics[mid].id == id)
			return &c->lics[mid];
		if (c->lics[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* (split, image id) as a map key. */
static size_t image_key(int split, int64_t id, char key[9])
{
	key[0] = (char)split;
	memcpy(key + 1, &id, 8);
	return 9;
}

/*
 * Members to images. An image names its member by file_name: as is (the
 * exact path), or in the layouts seen in the wild: without the
 * train_val_images/ folder, or a test image by its base name under
 * test2017/. The exact path wins over a layout match.
 */
struct ifs_join {
	sqlite3 *db;
	sqlite3_stmt *upd;
	ifs_strmap *exact;     /* normalised file_name -> first image index */
	ifs_strmap *test;      /* test image base name -> first image index */
	int32_t *next_exact;   /* per image: the next image with the same key */
	int32_t *next_test;
	uint8_t *quality;      /* per image: 0 not linked, 1 by layout, 2 by exact path */
	uint8_t *is_test;
};

void ifs_join_free(struct ifs_join *j)
{
	if (!j)
		return;
	sqlite3_finalize(j->upd);
	ifs_strmap_free(j->exact);
	ifs_strmap_free(j->test);
	free(j->next_exact);
	free(j->next_test);
	free(j->quality);
	free(j->is_test);
	free(j);
}

/* The bytes SQLite stores a positive integer v in. */
static int int_bytes(int64_t v)
{
	return v < 128 ? 1 : v < 32768 ? 2 : v < 8388608 ? 3 : v < 2147483648 ? 4 : 6;
}

/* Prepends image i to the chain of `key` in map m. */
static int chain_put(ifs_strmap *m, int32_t *next, const char *key, size_t len, int32_t i)
{
	int64_t first;
	next[i] = ifs_strmap_get(m, key, len, &first) ? (int32_t)first : -1;
	return ifs_strmap_put(m, key, len, i);
}

static int join_new(sqlite3 *db, const ifs_catalog *c, struct ifs_join **out, ifs_err *err)
{
	struct ifs_join *j = calloc(1, sizeof *j);
	size_t n = c->nimgs + 1;
	if (!j)
		return ifs_err_set(err, ENOMEM, "index: out of memory");
	j->db = db;
	j->exact = ifs_strmap_new();
	j->test = ifs_strmap_new();
	j->next_exact = malloc(n * sizeof *j->next_exact);
	j->next_test = malloc(n * sizeof *j->next_test);
	j->quality = calloc(n, 1);
	j->is_test = calloc(n, 1);
	if (!j->exact || !j->test || !j->next_exact || !j->next_test || !j->quality || !j->is_test)
		goto nomem;
	if (c->nimgs > INT32_MAX - 1) {
		ifs_join_free(j);
		return ifs_err_set(err, EFBIG, "index: too many images (%zu)", c->nimgs);
	}
	int r = ifs_sql_prepare(db, "UPDATE images SET node=?1, pad=NULL WHERE rid=?2", &j->upd, err);
	if (r) {
		ifs_join_free(j);
		return r;
	}
	/* backwards, prepending: chains end up in file order */
	for (size_t k = c->nimgs; k-- > 0;) {
		const ifs_image *m = &c->imgs[k];
		char norm[PATH_MAX];
		int32_t i = (int32_t)k;
		j->is_test[i] = m->split == IFS_SPLIT_TEST;
		j->next_exact[i] = j->next_test[i] = -1;
		if (ifs_path_normalize(m->file_name, norm, sizeof norm) == 0 &&
		    chain_put(j->exact, j->next_exact, norm, strlen(norm), i) < 0)
			goto nomem;
		if (m->split == IFS_SPLIT_TEST) {
			const char *base = strrchr(m->file_name, '/');
			char name[IFS_NAME_MAX + 1];
			ifs_name_safe(base ? base + 1 : m->file_name, name, sizeof name);
			if (chain_put(j->test, j->next_test, name, strlen(name), i) < 0)
				goto nomem;
		}
	}
	*out = j;
	return 0;
nomem:
	ifs_join_free(j);
	return ifs_err_set(err, ENOMEM, "index: linking images to members: out of memory");
}

int ifs_join_restore(sqlite3 *db, const ifs_tree *t, struct ifs_join **out, ifs_err *err)
{
	/* the images' file names as the JSON gave them, in row order */
	ifs_catalog c = { 0 };
	sqlite3_stmt *st;
	int64_t *node = NULL;
	size_t cap = 0;
	int r = ifs_sql_prepare(db, "SELECT rid, split, " IFS_SQL_FILE_NAME("i") ", node FROM "
				"images i ORDER BY rid", &st, err);
	if (r)
		return r;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (c.nimgs == cap) {
			cap = cap ? 2 * cap : 4096;
			ifs_image *ni = realloc(c.imgs, cap * sizeof *ni);
			int64_t *nn = ni ? realloc(node, cap * sizeof *nn) : NULL;
			if (ni)
				c.imgs = ni;
			if (!nn) {
				r = ifs_err_set(err, ENOMEM, "out of memory");
				break;
			}
			node = nn;
		}
		ifs_image *m = &c.imgs[c.nimgs];
		memset(m, 0, sizeof *m);
		const char *fn = (const char *)sqlite3_column_text(st, 2);
		if (sqlite3_column_int64(st, 0) != (sqlite3_int64)c.nimgs + 1 || !fn) {
			r = ifs_err_set(err, EIO, "index: %s: image rows are not as the build made them",
					sqlite3_db_filename(db, "main"));
			break;
		}
		m->split = sqlite3_column_int(st, 1);
		if (!(m->file_name = strdup(fn))) {
			r = ifs_err_set(err, ENOMEM, "out of memory");
			break;
		}
		node[c.nimgs++] = sqlite3_column_type(st, 3) == SQLITE_NULL ? 0
								     : sqlite3_column_int64(st, 3);
	}
	if (!r && rc != SQLITE_DONE)
		r = ifs_err_set(err, EIO, "index: %s: reading the images: %s",
				sqlite3_db_filename(db, "main"), sqlite3_errmsg(db));
	sqlite3_finalize(st);
	if (!r)
		r = join_new(db, &c, out, err);
	/* images linked before the interruption: by exact path (quality 2) if
	 * their file_name is their member's path, else by layout (1) */
	for (size_t i = 0; !r && i < c.nimgs; i++) {
		if (!node[i])
			continue;
		char norm[PATH_MAX];
		int64_t id;
		(*out)->quality[i] = ifs_path_normalize(c.imgs[i].file_name, norm, sizeof norm) == 0 &&
				     ifs_strmap_get(t->paths, norm, strlen(norm), &id) && id == node[i]
				     ? 2 : 1;
	}
	for (size_t i = 0; i < c.nimgs; i++)
		free(c.imgs[i].file_name);
	free(c.imgs);
	free(node);
	if (r && *out) {
		ifs_join_free(*out);
		*out = NULL;
	}
	return r;
}

/* Links the chain starting at image `first` (only test or only other images
 * when want_test is 0 or 1; any when -1) to node at the given quality. */
static int link_chain(struct ifs_join *j, const int32_t *next, int64_t first, int want_test,
		      uint8_t quality, int64_t node, ifs_err *err)
{
	for (int64_t i = first; i >= 0; i = next[i]) {
		if ((want_test >= 0 && j->is_test[i] != want_test) || j->quality[i] >= quality)
			continue;
		j->quality[i] = quality;
		sqlite3_bind_int64(j->upd, 1, node);
		sqlite3_bind_int64(j->upd, 2, i + 1);
		int r = ifs_sql_step_done(j->db, j->upd, "linking an image to its member", err);
		if (r)
			return r;
	}
	return 0;
}

int ifs_join_member(struct ifs_join *j, const char *path, size_t len, int64_t node, ifs_err *err)
{
	static const char tv[] = "train_val_images/", te[] = "test2017/";
	int64_t first;
	int r = 0;
	if (ifs_strmap_get(j->exact, path, len, &first))
		r = link_chain(j, j->next_exact, first, -1, 2, node, err);
	if (!r && len > sizeof tv - 1 && memcmp(path, tv, sizeof tv - 1) == 0 &&
	    ifs_strmap_get(j->exact, path + sizeof tv - 1, len - (sizeof tv - 1), &first))
		r = link_chain(j, j->next_exact, first, 0, 1, node, err);
	if (!r && len > sizeof te - 1 && memcmp(path, te, sizeof te - 1) == 0 &&
	    !memchr(path + sizeof te - 1, '/', len - (sizeof te - 1)) &&
	    ifs_strmap_get(j->test, path + sizeof te - 1, len - (sizeof te - 1), &first))
		r = link_chain(j, j->next_test, first, 1, 1, node, err);
	return r;
}

struct links {
	ssize_t *first_box;   /* per image: index of its first box, -1 if none */
	ssize_t *next_box;    /* per box: the image's next box */
	ssize_t *loc;         /* per image: its location, -1 if none */
	uint32_t *nboxes;
	const char **boxv;    /* scratch for one image's boxes */
	size_t boxcap;
};

static void links_free(struct links *l)
{
	free(l->first_box);
	free(l->next_box);
	free(l->loc);
	free(l->nboxes);
	free(l->boxv);
}

/* Boxes and locations per image, in file order. */
static int link_records(const ifs_catalog *c, struct links *l, ifs_err *err)
{
	ifs_strmap *ids = ifs_strmap_new();
	memset(l, 0, sizeof *l);
	l->first_box = malloc((c->nimgs + 1) * sizeof *l->first_box);
	l->loc = malloc((c->nimgs + 1) * sizeof *l->loc);
	l->nboxes = calloc(c->nimgs + 1, sizeof *l->nboxes);
	l->next_box = malloc((c->nboxes + 1) * sizeof *l->next_box);
	if (!ids || !l->first_box || !l->loc || !l->nboxes || !l->next_box)
		goto nomem;
	for (size_t i = 0; i < c->nimgs; i++) {
		char key[9];
		l->first_box[i] = -1;
		l->loc[i] = -1;
		if (ifs_strmap_put(ids, key, image_key(c->imgs[i].split, c->imgs[i].id, key),
				   (int64_t)i) < 0)
			goto nomem;
	}
	/* backwards, prepending: each list ends up in file order */
	for (size_t b = c->nboxes; b-- > 0;) {
		char key[9];
		int64_t i;
		l->next_box[b] = -1;
		if (!ifs_strmap_get(ids, key, image_key(c->boxes[b].split, c->boxes[b].image_id, key),
				    &i))
			continue;
		l->next_box[b] = l->first_box[i];
		l->first_box[i] = (ssize_t)b;
		l->nboxes[i]++;
		if (l->nboxes[i] > l->boxcap)
			l->boxcap = l->nboxes[i];
	}
	for (size_t k = 0; k < c->nlocs; k++) {
		char key[9];
		int64_t i;
		if (ifs_strmap_get(ids, key, image_key(c->locs[k].split, c->locs[k].image_id, key), &i))
			l->loc[i] = (ssize_t)k;   /* a repeated id: the last one wins */
	}
	l->boxv = malloc((l->boxcap + 1) * sizeof *l->boxv);
	if (!l->boxv)
		goto nomem;
	ifs_strmap_free(ids);
	return 0;
nomem:
	ifs_strmap_free(ids);
	links_free(l);
	return ifs_err_set(err, ENOMEM, "index: linking annotations: out of memory");
}

/* The sidecar's exact size, formatted from the catalog as serving will from the index. */
static int sidecar_len(const ifs_catalog *c, const struct links *l, size_t i,
		       const ifs_category *ic, ifs_buf *b, size_t *len)
{
	const ifs_image *m = &c->imgs[i];
	const ifs_license *lic = m->license >= 0 ? find_license(c, m->license) : NULL;
	size_t n = 0;
	for (ssize_t k = l->first_box[i]; k >= 0; k = l->next_box[k])
		l->boxv[n++] = c->boxes[k].json;
	ifs_sidecar_rec x = {
		.id = m->id, .file_name = m->file_name, .split = m->split,
		.width = m->width, .height = m->height,
		.has_category = ic != NULL, .category_id = ic ? ic->id : 0,
		.category_name = ic ? ic->name : NULL, .supercategory = ic ? ic->supercategory : NULL,
		.has_license = m->license >= 0, .license_id = m->license,
		.license_known = lic != NULL, .license_name = lic ? lic->name : NULL,
		.license_url = lic ? lic->url : NULL,
		.rights_holder = m->rights_holder, .extra = m->extra,
		.boxes = l->boxv, .nboxes = n,
		.location = l->loc[i] >= 0 ? c->locs[l->loc[i]].json : NULL,
	};
	b->len = 0;
	if (ifs_sidecar_format(&x, b) < 0)
		return -ENOMEM;
	*len = b->len;
	return 0;
}

int ifs_catalog_insert(sqlite3 *db, const ifs_catalog *c, struct ifs_join **join,
		       int *class_width, ifs_err *err)
{
	sqlite3_stmt *cat = NULL, *lic = NULL, *img = NULL, *shape = NULL, *ann = NULL;
	sqlite3_stmt *holder = NULL;
	struct links l = { 0 };
	char **vnames = NULL;   /* names changed to be unique in their folder */
	size_t renamed = 0;
	ifs_buf b = { 0 }, boxes = { 0 }, loc = { 0 };
	ifs_jpack *pack = ifs_jpack_new();
	ifs_strmap *holders = ifs_strmap_new();   /* rights holder -> holders.id */
	int r;
	*join = NULL;
	if (!pack || !holders) {
		ifs_jpack_free(pack);
		ifs_strmap_free(holders);
		return ifs_err_set(err, ENOMEM, "index: out of memory");
	}
	if ((r = link_records(c, &l, err))) {
		ifs_jpack_free(pack);
		ifs_strmap_free(holders);
		return r;
	}
	if ((r = join_new(db, c, join, err)) ||
	    (r = ifs_view_names(c, &vnames, &renamed, err)))
		goto out;
	/* pad: the bytes images.node will take, so that the scan's update of a
	 * row neither grows nor shrinks it (schema.c): node ids run up to about
	 * the images, their folders and the members no image names */
	char sql_img[160];
	snprintf(sql_img, sizeof sql_img, "INSERT INTO images VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,"
		 "?10,?11,?12,?13,?14,?15,?16,zeroblob(%d))",
		 int_bytes(2 * (int64_t)c->nimgs + 65536));
	if ((r = ifs_sql_prepare(db, "INSERT INTO categories VALUES(?1,?2,?3,?4,?5)", &cat, err)) ||
	    (r = ifs_sql_prepare(db, "INSERT INTO licenses VALUES(?1,?2,?3)", &lic, err)) ||
	    (r = ifs_sql_prepare(db, sql_img, &img, err)) ||
	    (r = ifs_sql_prepare(db, "INSERT INTO shapes VALUES(?1, ?2)", &shape, err)) ||
	    (r = ifs_sql_prepare(db, "INSERT INTO holders VALUES(?1, ?2)", &holder, err)) ||
	    (r = ifs_sql_prepare(db, "INSERT OR REPLACE INTO annfiles VALUES(?1,?2,?3,?4,?5)", &ann,
				 err)))
		goto out;
	int64_t maxid = 0;
	for (size_t i = 0; i < c->ncats; i++)
		if (c->cats[i].id > maxid)
			maxid = c->cats[i].id;
	*class_width = digits(maxid) < 4 ? 4 : digits(maxid);
	for (size_t i = 0; i < c->ncats && !r; i++) {
		char dir[IFS_NAME_MAX + 1], sdir[IFS_NAME_MAX + 1];
		ifs_class_dirname(c->cats[i].id, *class_width, c->cats[i].name, dir, sizeof dir);
		ifs_name_safe(c->cats[i].supercategory, sdir, sizeof sdir);
		sqlite3_bind_int64(cat, 1, c->cats[i].id);
		sqlite3_bind_text(cat, 2, c->cats[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(cat, 3, c->cats[i].supercategory, -1, SQLITE_STATIC);
		sqlite3_bind_text(cat, 4, dir, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(cat, 5, sdir, -1, SQLITE_TRANSIENT);
		r = ifs_sql_step_done(db, cat, "adding a category", err);
	}
	for (size_t i = 0; i < c->nlics && !r; i++) {
		sqlite3_bind_int64(lic, 1, c->lics[i].id);
		bind_text_or_null(lic, 2, c->lics[i].name);
		bind_text_or_null(lic, 3, c->lics[i].url);
		r = ifs_sql_step_done(db, lic, "adding a license", err);
	}
	for (size_t i = 0; i < c->nimgs && !r; i++) {
		const ifs_image *m = &c->imgs[i];
		const char *base = strrchr(m->file_name, '/');
		char name[IFS_NAME_MAX + 1];
		if (vnames[i])
			snprintf(name, sizeof name, "%s", vnames[i]);
		else
			ifs_name_safe(base ? base + 1 : m->file_name, name, sizeof name);
		const ifs_category *ic = find_category(c, m->category_id);
		size_t slen = 0;
		if (sidecar_len(c, &l, i, ic, &b, &slen) < 0) {
			r = ifs_err_set(err, ENOMEM, "index: out of memory");
			break;
		}
		sqlite3_bind_int64(img, 1, (sqlite3_int64)i + 1);
		sqlite3_bind_int(img, 2, m->split);
		sqlite3_bind_int64(img, 3, m->id);
		sqlite3_bind_int64(img, 4, m->category_id);
		ifs_sql_bind_name(img, 5, name, -1);
		sqlite3_bind_null(img, 6);   /* linked by the scan */
		sqlite3_bind_int64(img, 7, l.nboxes[i]);
		sqlite3_bind_int64(img, 8, (sqlite3_int64)slen);
		/* the canonical path is rebuilt from category and name (schema.h): not
		 * stored; a path that does not fit here is not canonical (category
		 * names have no length limit: a cut one could equal file_name) */
		char canon[3 * IFS_NAME_MAX + 64];
		int cn = -1;
		if (m->split == IFS_SPLIT_TEST)
			cn = snprintf(canon, sizeof canon, "test2017/%s", name);
		else if (ic)
			cn = snprintf(canon, sizeof canon, "train_val_images/%s/%s/%s",
				      ic->supercategory, ic->name, name);
		if (cn > 0 && (size_t)cn < sizeof canon && strcmp(canon, m->file_name) == 0)
			sqlite3_bind_null(img, 9);
		else
			sqlite3_bind_text(img, 9, m->file_name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(img, 10, m->width);
		sqlite3_bind_int64(img, 11, m->height);
		if (m->license >= 0)
			sqlite3_bind_int64(img, 12, m->license);
		else
			sqlite3_bind_null(img, 12);
		if (m->rights_holder) {   /* one photographer, many pictures: stored once */
			int64_t hid;
			size_t hl = strlen(m->rights_holder);
			if (!ifs_strmap_get(holders, m->rights_holder, hl, &hid)) {
				hid = (int64_t)ifs_strmap_count(holders) + 1;
				sqlite3_bind_int64(holder, 1, hid);
				sqlite3_bind_text(holder, 2, m->rights_holder, (int)hl, SQLITE_STATIC);
				if (ifs_strmap_put(holders, m->rights_holder, hl, hid) < 0)
					r = ifs_err_set(err, ENOMEM, "index: out of memory");
				else
					r = ifs_sql_step_done(db, holder, "adding a rights holder", err);
				if (r)
					break;
			}
			sqlite3_bind_int64(img, 13, hid);
		} else {
			sqlite3_bind_null(img, 13);
		}
		bind_text_or_null(img, 14, m->extra);
		boxes.len = loc.len = 0;
		for (ssize_t k = l.first_box[i]; !r && k >= 0; k = l.next_box[k])
			r = ifs_jpack_encode(pack, c->boxes[k].json, strlen(c->boxes[k].json), &boxes);
		if (!r && l.loc[i] >= 0)
			r = ifs_jpack_encode(pack, c->locs[l.loc[i]].json,
					     strlen(c->locs[l.loc[i]].json), &loc);
		if (r) {
			r = ifs_err_set(err, ENOMEM, "index: out of memory");
			break;
		}
		if (boxes.len > INT_MAX) {
			r = ifs_err_set(err, EFBIG, "index: image %lld has too many boxes",
					(long long)m->id);
			break;
		}
		if (boxes.len)
			sqlite3_bind_blob(img, 15, boxes.p, (int)boxes.len, SQLITE_STATIC);
		else
			sqlite3_bind_null(img, 15);
		if (loc.len)
			sqlite3_bind_blob(img, 16, loc.p, (int)loc.len, SQLITE_STATIC);
		else
			sqlite3_bind_null(img, 16);
		r = ifs_sql_step_done(db, img, "adding an image", err);
	}
	for (size_t id = 1; id <= ifs_jpack_count(pack) && !r; id++) {
		size_t n;
		const char *t = ifs_jpack_shape(pack, id, &n);
		sqlite3_bind_int64(shape, 1, (sqlite3_int64)id);
		sqlite3_bind_blob(shape, 2, t, (int)n, SQLITE_STATIC);
		r = ifs_sql_step_done(db, shape, "adding a record shape", err);
	}
	for (size_t i = 0; i < c->nfiles && !r; i++) {
		sqlite3_bind_text(ann, 1, c->files[i].name, -1, SQLITE_STATIC);
		/* the zip's name only: serving finds it in DATA_DIR (and an index
		 * can name no other file, check.c) */
		const char *zslash = strrchr(c->files[i].zip_path, '/');
		sqlite3_bind_text(ann, 2, zslash ? zslash + 1 : c->files[i].zip_path, -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(ann, 3, c->files[i].entry, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ann, 4, (sqlite3_int64)c->files[i].size);
		sqlite3_bind_int64(ann, 5, c->files[i].mtime);
		r = ifs_sql_step_done(db, ann, "adding an annotation file", err);
	}
	if (!r) {   /* `inatfs info` shows it */
		sqlite3_stmt *m;
		if (!(r = ifs_sql_prepare(db, "INSERT OR REPLACE INTO meta VALUES('renamed_images', ?1)",
					  &m, err))) {
			sqlite3_bind_int64(m, 1, (sqlite3_int64)renamed);
			r = ifs_sql_step_done(db, m, "adding a count", err);
			sqlite3_finalize(m);
		}
	}
	for (int s = 0; s < 3 && !r; s++) {
		if (!c->info[s])
			continue;
		char key[32];
		snprintf(key, sizeof key, "info_%s", ifs_split_name(s));
		sqlite3_stmt *m;
		if ((r = ifs_sql_prepare(db, "INSERT INTO meta VALUES(?1, ?2)", &m, err)))
			break;
		sqlite3_bind_text(m, 1, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(m, 2, c->info[s], -1, SQLITE_STATIC);
		r = ifs_sql_step_done(db, m, "adding info", err);
		sqlite3_finalize(m);
	}
out:
	if (r) {
		ifs_join_free(*join);
		*join = NULL;
	}
	for (size_t i = 0; vnames && i < c->nimgs; i++)
		free(vnames[i]);
	free(vnames);
	free(b.p);
	free(boxes.p);
	free(loc.p);
	ifs_jpack_free(pack);
	ifs_strmap_free(holders);
	links_free(&l);
	sqlite3_finalize(holder);
	sqlite3_finalize(cat);
	sqlite3_finalize(lic);
	sqlite3_finalize(img);
	sqlite3_finalize(shape);
	sqlite3_finalize(ann);
	return r;
}

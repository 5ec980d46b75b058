/*
 * build.c - building an index: annotations first (catalog -> tables), then
 * one scan pass per tarball (build_tree.c), then the join of JSON images to
 * tar members, the generated files (build_blobs.c) and the secondary
 * indexes. All of it goes into PATH.tmp-<pid>, which is fsynced and renamed
 * over PATH only when complete.
 */
#include "build.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "inatfs/catalog.h"
#include "inatfs/names.h"
#include "inatfs/sidecar.h"
#include "schema.h"

/* ---- annotations -> tables --------------------------------------------- */

static int step(sqlite3 *db, sqlite3_stmt *st, const char *what, ifs_err *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return ifs_err_set(err, rc == SQLITE_FULL ? ENOSPC : EIO, "index: %s: %s: %s",
				   sqlite3_db_filename(db, "main"), what, sqlite3_errmsg(db));
	return 0;
}

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

/* The catalog's categories are sorted by id. */
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

static int insert_catalog(sqlite3 *db, const ifs_catalog *c, int *class_width, ifs_err *err)
{
	sqlite3_stmt *cat = NULL, *lic = NULL, *img = NULL, *box = NULL, *loc = NULL, *ann = NULL;
	int r;
	if ((r = ifs_sql_prepare(db, "INSERT INTO categories VALUES(?1,?2,?3,?4,?5)", &cat, err)) ||
	    (r = ifs_sql_prepare(db, "INSERT INTO licenses VALUES(?1,?2,?3)", &lic, err)) ||
	    (r = ifs_sql_prepare(db, "INSERT INTO images VALUES(?1,?2,?3,?4,?5,NULL,0,0,?6,?7,?8,?9,"
				 "?10,?11)", &img, err)) ||
	    (r = ifs_sql_prepare(db, "INSERT INTO boxes SELECT rid, ?3 FROM images WHERE "
				 "split=?1 AND id=?2", &box, err)) ||
	    (r = ifs_sql_prepare(db, "INSERT OR REPLACE INTO locations SELECT rid, ?3 FROM "
				 "images WHERE split=?1 AND id=?2", &loc, err)) ||
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
		r = step(db, cat, "adding a category", err);
	}
	for (size_t i = 0; i < c->nlics && !r; i++) {
		sqlite3_bind_int64(lic, 1, c->lics[i].id);
		bind_text_or_null(lic, 2, c->lics[i].name);
		bind_text_or_null(lic, 3, c->lics[i].url);
		r = step(db, lic, "adding a license", err);
	}
	for (size_t i = 0; i < c->nimgs && !r; i++) {
		const ifs_image *m = &c->imgs[i];
		const char *base = strrchr(m->file_name, '/');
		char name[IFS_NAME_MAX + 1];
		ifs_name_safe(base ? base + 1 : m->file_name, name, sizeof name);
		sqlite3_bind_int64(img, 1, (sqlite3_int64)i + 1);
		sqlite3_bind_int(img, 2, m->split);
		sqlite3_bind_int64(img, 3, m->id);
		sqlite3_bind_int64(img, 4, m->category_id);
		sqlite3_bind_text(img, 5, name, -1, SQLITE_TRANSIENT);
		/* the canonical path is rebuilt from category and name (schema.h): not stored */
		char canon[3 * IFS_NAME_MAX + 64];
		const ifs_category *ic = find_category(c, m->category_id);
		if (m->split == IFS_SPLIT_TEST)
			snprintf(canon, sizeof canon, "test2017/%s", name);
		else if (ic)
			snprintf(canon, sizeof canon, "train_val_images/%s/%s/%s", ic->supercategory,
				 ic->name, name);
		else
			canon[0] = '\0';
		if (canon[0] && strcmp(canon, m->file_name) == 0)
			sqlite3_bind_null(img, 6);
		else
			sqlite3_bind_text(img, 6, m->file_name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(img, 7, m->width);
		sqlite3_bind_int64(img, 8, m->height);
		if (m->license >= 0)
			sqlite3_bind_int64(img, 9, m->license);
		else
			sqlite3_bind_null(img, 9);
		bind_text_or_null(img, 10, m->rights_holder);
		bind_text_or_null(img, 11, m->extra);
		r = step(db, img, "adding an image", err);
	}
	if (!r)
		r = ifs_sql_exec(db, "CREATE UNIQUE INDEX images_by_id ON images(split, id)",
				 "indexing images", err);
	for (size_t i = 0; i < c->nboxes && !r; i++) {
		sqlite3_bind_int(box, 1, c->boxes[i].split);
		sqlite3_bind_int64(box, 2, c->boxes[i].image_id);
		sqlite3_bind_text(box, 3, c->boxes[i].json, -1, SQLITE_STATIC);
		r = step(db, box, "adding a box", err);
	}
	for (size_t i = 0; i < c->nlocs && !r; i++) {
		sqlite3_bind_int(loc, 1, c->locs[i].split);
		sqlite3_bind_int64(loc, 2, c->locs[i].image_id);
		sqlite3_bind_text(loc, 3, c->locs[i].json, -1, SQLITE_STATIC);
		r = step(db, loc, "adding a location", err);
	}
	for (size_t i = 0; i < c->nfiles && !r; i++) {
		sqlite3_bind_text(ann, 1, c->files[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(ann, 2, c->files[i].zip_path, -1, SQLITE_STATIC);
		sqlite3_bind_text(ann, 3, c->files[i].entry, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ann, 4, (sqlite3_int64)c->files[i].size);
		sqlite3_bind_int64(ann, 5, c->files[i].mtime);
		r = step(db, ann, "adding an annotation file", err);
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
		r = step(db, m, "adding info", err);
		sqlite3_finalize(m);
	}
out:
	sqlite3_finalize(cat);
	sqlite3_finalize(lic);
	sqlite3_finalize(img);
	sqlite3_finalize(box);
	sqlite3_finalize(loc);
	sqlite3_finalize(ann);
	return r;
}

/* ---- the whole build --------------------------------------------------- */

static int put_meta(sqlite3 *db, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int put_meta(sqlite3 *db, const char *key, const char *fmt, ...)
{
	char val[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(val, sizeof val, fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta VALUES(?1, ?2)", -1, &st, NULL))
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, val, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int64_t count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void progress(const ifs_build_opts *o, const char *phase, const char *file)
{
	if (o && o->progress) {
		ifs_build_progress p = { phase, file, 0, 0, 0 };
		o->progress(o->ctx, &p);
	}
}

struct cat_progress {
	const ifs_build_opts *opts;
};

static void on_catalog_file(void *ctx, const char *what)
{
	struct cat_progress *cp = ctx;
	progress(cp->opts, "annotations", what);
}

static int record_sources(sqlite3 *db, const char *data_dir, ifs_err *err)
{
	sqlite3_stmt *st;
	int r = ifs_sql_prepare(db, "INSERT INTO sources VALUES(?1, ?2)", &st, err);
	for (const char *const *f = ifs_source_files; *f && !r; f++) {
		char full[PATH_MAX], *fp = NULL;
		snprintf(full, sizeof full, "%s/%s", data_dir, *f);
		if (access(full, F_OK) == 0 && (r = ifs_archive_fingerprint(full, &fp, err)))
			break;
		sqlite3_bind_text(st, 1, *f, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, fp ? fp : "absent", -1, SQLITE_TRANSIENT);
		free(fp);
		r = step(db, st, "recording a source", err);
	}
	sqlite3_finalize(st);
	return r;
}

/* Every sidecar's exact size, so that stat never has to generate one. */
static int sidecar_sizes(sqlite3 *db, ifs_err *err)
{
	ifs_sidecar_stmts q = { 0 };
	sqlite3_stmt *all = NULL, *upd = NULL;
	ifs_buf b = { 0 };
	int r;
	if ((r = ifs_sql_prepare(db, ifs_sql_sidecar_image, &q.image, err)) ||
	    (r = ifs_sql_prepare(db, ifs_sql_sidecar_boxes, &q.boxes, err)) ||
	    (r = ifs_sql_prepare(db, ifs_sql_sidecar_location, &q.location, err)) ||
	    (r = ifs_sql_prepare(db, "SELECT rid FROM images WHERE node IS NOT NULL", &all, err)) ||
	    (r = ifs_sql_prepare(db, "UPDATE images SET sidecar_len=?1 WHERE rid=?2", &upd, err)))
		goto out;
	while (!r && sqlite3_step(all) == SQLITE_ROW) {
		int64_t rid = sqlite3_column_int64(all, 0);
		b.len = 0;
		if ((r = ifs_sidecar_build(&q, rid, &b, err)))
			break;
		sqlite3_bind_int64(upd, 1, (sqlite3_int64)b.len);
		sqlite3_bind_int64(upd, 2, rid);
		r = step(db, upd, "recording a sidecar size", err);
	}
out:
	free(b.p);
	sqlite3_finalize(q.image);
	sqlite3_finalize(q.boxes);
	sqlite3_finalize(q.location);
	sqlite3_finalize(all);
	sqlite3_finalize(upd);
	return r;
}

static int fsync_path(const char *path, int dir, ifs_err *err)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return ifs_err_sys(err, errno, "index: %s", path);
	int r = fsync(fd) < 0 && errno != EINVAL ? ifs_err_sys(err, errno, "index: fsync %s", path)
						  : 0;
	close(fd);
	return r;
}

/* PATH.tmp-<pid> files of builds that were killed (their process is gone). */
static void remove_stale_temporaries(const char *path)
{
	char dir[PATH_MAX], prefix[PATH_MAX + 8];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : dir;
	snprintf(prefix, sizeof prefix, "%s.tmp-", base);
	if (slash)
		*slash = '\0';
	DIR *d = opendir(slash ? (dir[0] ? dir : "/") : ".");
	if (!d)
		return;
	struct dirent *de;
	size_t pl = strlen(prefix);
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, pl) != 0)
			continue;
		char *end;
		long pid = strtol(de->d_name + pl, &end, 10);
		if (*end || pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		char full[PATH_MAX * 2];
		snprintf(full, sizeof full, "%s/%s", slash ? (dir[0] ? dir : "") : ".", de->d_name);
		unlink(full);
	}
	closedir(d);
}

int ifs_index_build(const char *data_dir, const char *path, const ifs_build_opts *opts,
		    ifs_err *err)
{
	char tmp[PATH_MAX], full[PATH_MAX];
	sqlite3 *db = NULL;
	ifs_catalog *cat = NULL;
	ifs_tree tree;
	memset(&tree, 0, sizeof tree);
	struct stat st;
	int r = 0, class_width = 4;
	time_t t0 = time(NULL);
	FILE *rep = opts ? opts->report : NULL;

	snprintf(full, sizeof full, "%s/%s", data_dir, ifs_archive_file(IFS_ARCHIVE_TRAINVAL));
	if (stat(full, &st) < 0)
		return ifs_err_sys(err, errno, "%s", full);
	remove_stale_temporaries(path);
	if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return ifs_err_set(err, ENAMETOOLONG, "%s: path too long", path);
	unlink(tmp);
	/* created here first: sqlite's own message ("unable to open database file") hides why */
	int tfd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (tfd < 0)
		return ifs_err_sys(err, errno, "index: cannot create %s", tmp);
	close(tfd);
	if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) {
		r = ifs_err_set(err, EIO, "index: cannot create %s: %s", tmp,
				db ? sqlite3_errmsg(db) : "no memory");
		goto out;
	}
	if ((r = ifs_sql_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
			      "PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-65536; "
			      "PRAGMA temp_store=FILE; BEGIN", "starting the build", err)) ||
	    (r = ifs_schema_create(db, err)) ||
	    (r = record_sources(db, data_dir, err)))
		goto out;

	/* 1. annotations */
	struct cat_progress cp = { opts };
	if ((r = ifs_catalog_load(data_dir, &cat, on_catalog_file, &cp, err)))
		goto out;
	if (cat->nimgs == 0) {
		r = ifs_err_set(err, ENOENT, "%s/train_val2017.zip: missing (it holds the train/val "
				"split and the categories; inatfs needs it)", data_dir);
		goto out;
	}
	if ((r = insert_catalog(db, cat, &class_width, err)))
		goto out;
	ifs_catalog_free(cat);
	cat = NULL;

	/* 2. one scan pass per tarball */
	if ((r = ifs_tree_init(&tree, db, st.st_mtime, err)))
		goto out;
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
		snprintf(full, sizeof full, "%s/%s", data_dir, ifs_archive_file(a));
		if (a != IFS_ARCHIVE_TRAINVAL && access(full, F_OK) < 0)
			continue;
		if ((r = ifs_tree_scan_archive(&tree, a, full, opts, err)))
			goto out;
	}
	/* 3. join JSON images to members by file_name */
	progress(opts, "join", NULL);
	if ((r = ifs_sql_exec(db,
		"UPDATE images SET node=coalesce("
		" (SELECT node FROM temp.paths p WHERE p.path=" IFS_SQL_FILE_NAME("images") "),"
		" CASE WHEN split=2 THEN (SELECT node FROM temp.paths p WHERE p.path='test2017/'||images.name)"
		"  ELSE (SELECT node FROM temp.paths p WHERE p.path='train_val_images/'||images.file_name) END)",
		"joining images to members", err)))
		goto out;
	int64_t missing = count(db, "SELECT count(*) FROM images WHERE node IS NULL");
	int64_t stray = count(db, "SELECT count(*) FROM temp.paths WHERE node NOT IN "
			      "(SELECT node FROM images WHERE node IS NOT NULL)");

	/* 4. indexes, derived columns, generated files */
	progress(opts, "write", NULL);
	if ((r = ifs_schema_create_indexes(db, err)) ||
	    (r = ifs_tree_finish(&tree, err)) ||
	    (r = ifs_sql_exec(db, "UPDATE images SET nboxes=(SELECT count(*) FROM boxes "
			      "WHERE boxes.image=images.rid) WHERE rid IN (SELECT image FROM boxes)",
			      "counting boxes", err)))
		goto out;
	progress(opts, "writing the COCO files and the submission template", NULL);
	if ((r = ifs_blobs_build(db, err)))
		goto out;
	progress(opts, "measuring the sidecars", NULL);
	if ((r = sidecar_sizes(db, err)))
		goto out;

	int64_t n_tr = count(db, "SELECT count(*) FROM images WHERE split=0");
	int64_t n_va = count(db, "SELECT count(*) FROM images WHERE split=1");
	int64_t n_te = count(db, "SELECT count(*) FROM images WHERE split=2");
	int64_t n_cat = count(db, "SELECT count(*) FROM categories");
	int64_t n_box = count(db, "SELECT count(*) FROM boxes");
	int64_t n_loc = count(db, "SELECT count(*) FROM locations");
	if (put_meta(db, "class_width", "%d", class_width) ||
	    put_meta(db, "data_dir", "%s", data_dir) ||
	    put_meta(db, "built_at", "%lld", (long long)time(NULL)) ||
	    put_meta(db, "build_seconds", "%lld", (long long)(time(NULL) - t0)) ||
	    put_meta(db, "categories", "%lld", (long long)n_cat) ||
	    put_meta(db, "images_train", "%lld", (long long)n_tr) ||
	    put_meta(db, "images_val", "%lld", (long long)n_va) ||
	    put_meta(db, "images_test", "%lld", (long long)n_te) ||
	    put_meta(db, "boxes", "%lld", (long long)n_box) ||
	    put_meta(db, "locations", "%lld", (long long)n_loc) ||
	    put_meta(db, "members", "%llu", (unsigned long long)tree.files) ||
	    put_meta(db, "missing_images", "%lld", (long long)missing) ||
	    put_meta(db, "stray_members", "%lld", (long long)stray) ||
	    put_meta(db, "skipped_unsafe", "%llu", (unsigned long long)tree.skipped_unsafe) ||
	    put_meta(db, "skipped_type", "%llu", (unsigned long long)tree.skipped_type) ||
	    put_meta(db, "duplicates", "%llu", (unsigned long long)tree.duplicates)) {
		r = ifs_err_set(err, EIO, "index: writing meta: %s", sqlite3_errmsg(db));
		goto out;
	}
	if ((r = ifs_sql_exec(db, "COMMIT", "committing", err)))
		goto out;
	if (rep) {
		fprintf(rep, "inatfs: indexed %lld categories, %lld train + %lld val + %lld test images, "
			"%lld boxes, %lld locations, %llu tar members\n", (long long)n_cat,
			(long long)n_tr, (long long)n_va, (long long)n_te, (long long)n_box,
			(long long)n_loc, (unsigned long long)tree.files);
		if (missing > 0)
			fprintf(rep, "inatfs: warning: %lld images listed in the JSON are not in the "
				"tarballs (left out of the views)\n", (long long)missing);
		if (stray > 0)
			fprintf(rep, "inatfs: note: %lld tar members are in no JSON file (shown only in "
				"the pristine trees)\n", (long long)stray);
		if (tree.skipped_unsafe > 0)
			fprintf(rep, "inatfs: warning: %llu tar members have paths that cannot be served "
				"safely and were skipped\n", (unsigned long long)tree.skipped_unsafe);
	}
	if (sqlite3_close(db) != SQLITE_OK) {
		r = ifs_err_set(err, EIO, "index: %s: %s", tmp, sqlite3_errmsg(db));
		db = NULL;
		goto out;
	}
	db = NULL;
	if ((r = fsync_path(tmp, 0, err)))
		goto out;
	if (rename(tmp, path) < 0) {
		r = ifs_err_sys(err, errno, "index: rename %s -> %s", tmp, path);
		goto out;
	}
	{
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		r = fsync_path(slash ? (dir[0] ? dir : "/") : ".", 1, err);
	}
out:
	ifs_tree_free(&tree);
	ifs_catalog_free(cat);
	if (db)
		sqlite3_close(db);
	if (r)
		unlink(tmp);
	return r;
}

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
#include "schema.h"

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
		r = ifs_sql_step_done(db, st, "recording a source", err);
	}
	sqlite3_finalize(st);
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

	/* 1. one scan pass per tarball: members and checkpoints */
	if ((r = ifs_tree_init(&tree, db, st.st_mtime, err)))
		goto out;
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
		snprintf(full, sizeof full, "%s/%s", data_dir, ifs_archive_file(a));
		if (a != IFS_ARCHIVE_TRAINVAL && access(full, F_OK) < 0)
			continue;
		if ((r = ifs_tree_scan_archive(&tree, a, full, opts, err)))
			goto out;
	}

	/* 2. annotations, joined to the members by file_name */
	struct cat_progress cp = { opts };
	if ((r = ifs_catalog_load(data_dir, &cat, on_catalog_file, &cp, err)))
		goto out;
	if (cat->nimgs == 0) {
		r = ifs_err_set(err, ENOENT, "%s/train_val2017.zip: missing (it holds the train/val "
				"split and the categories; inatfs needs it)", data_dir);
		goto out;
	}
	progress(opts, "join", NULL);
	ifs_join_counts jc;
	if ((r = ifs_catalog_insert(db, cat, &tree, &jc, &class_width, err)))
		goto out;
	ifs_catalog_free(cat);
	cat = NULL;
	int64_t missing = jc.missing, stray = jc.stray;

	/* 3. indexes, derived columns, generated files */
	progress(opts, "write", NULL);
	if ((r = ifs_schema_create_indexes(db, err)) ||
	    (r = ifs_tree_finish(&tree, err)))
		goto out;
	progress(opts, "writing the COCO files and the submission template", NULL);
	if ((r = ifs_blobs_build(db, err)))
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

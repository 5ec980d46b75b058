/*
 * build.c - building an index. ifs_build_begin: the start of every tarball
 * is checked, the annotations are loaded (catalog -> tables, build_catalog.c)
 * and committed with the views' indexes. ifs_build_scan: one scan pass per
 * tarball (build_tree.c) adds members and checkpoints and links each member
 * to its images, committing twice a second so that a live mount can serve
 * what is done; then the sizes of the generated files (generated.c) and the
 * counts.
 * All of it goes into PATH.tmp-<pid>, which is fsynced and renamed over PATH
 * only when complete; an interrupted build's file is gone on with
 * (build_resume.c).
 */
#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "inatfs/catalog.h"
#include "inatfs/machine.h"
#include "inatfs/names.h"
#include "inatfs/place.h"
#include "schema.h"

/* ---- the whole build --------------------------------------------------- */

/* meta[key] = the formatted value; err names the index and the key. */
static int put_meta(sqlite3 *db, ifs_err *err, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int put_meta(sqlite3 *db, ifs_err *err, const char *key, const char *fmt, ...)
{
	char val[1024], what[96];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(val, sizeof val, fmt, ap);
	va_end(ap);
	snprintf(what, sizeof what, "writing meta %s", key);
	sqlite3_stmt *st;
	int r = ifs_sql_prepare(db, "INSERT OR REPLACE INTO meta VALUES(?1, ?2)", &st, err);
	if (r)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, val, -1, SQLITE_STATIC);
	r = ifs_sql_step_done(db, st, what, err);
	sqlite3_finalize(st);
	return r;
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

/* The time a download last changed (its mtime, or a remote object's
 * Last-Modified; 0 where unknown). */
static int archive_mtime(const char *full, time_t *mt, ifs_err *err)
{
	ifs_source *src;
	int r = ifs_archive_open(full, &src, err);
	if (r)
		return r;
	struct timespec ts = { 0, 0 };
	(void)ifs_source_mtime(src, &ts);
	*mt = ts.tv_sec;
	ifs_source_close(src);
	return 0;
}

int ifs_build_source_fingerprint(const char *data_dir, const char *f, char **fp, ifs_err *err)
{
	char full[PATH_MAX];
	snprintf(full, sizeof full, "%s/%s", data_dir, f);
	*fp = NULL;
	int there = ifs_place_exists(full, err);
	if (there < 0)
		return there;
	if (there)
		return ifs_archive_fingerprint(full, fp, err);
	if (!(*fp = strdup("absent")))
		return ifs_err_set(err, ENOMEM, "out of memory");
	return 0;
}

struct fpjob {
	const char *data_dir, *file;
	char *fp;
	int r;
	ifs_err err;
	pthread_t th;
	int started;
};

static void *fp_one(void *arg)
{
	struct fpjob *j = arg;
	ifs_err_clear(&j->err);
	j->r = ifs_build_source_fingerprint(j->data_dir, j->file, &j->fp, &j->err);
	return NULL;
}

int ifs_build_source_fingerprints(const char *data_dir, char **fps, ifs_err *err)
{
	size_t n = 0;
	while (ifs_source_files[n])
		n++;
	struct fpjob *j = calloc(n, sizeof *j);
	if (!j)
		return ifs_err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		j[i].data_dir = data_dir;
		j[i].file = ifs_source_files[i];
		j[i].started = pthread_create(&j[i].th, NULL, fp_one, &j[i]) == 0;
	}
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if (j[i].started)
			pthread_join(j[i].th, NULL);
		else
			fp_one(&j[i]);
	}
	for (size_t i = 0; i < n && !r; i++)
		if ((r = j[i].r))
			*err = j[i].err;
	for (size_t i = 0; i < n; i++) {
		fps[i] = r ? NULL : j[i].fp;
		if (r)
			free(j[i].fp);
	}
	free(j);
	return r;
}

static int record_sources(sqlite3 *db, const char *data_dir, ifs_err *err)
{
	size_t n = 0;
	while (ifs_source_files[n])
		n++;
	char **fps = calloc(n, sizeof *fps);
	if (!fps)
		return ifs_err_set(err, ENOMEM, "out of memory");
	int r = ifs_build_source_fingerprints(data_dir, fps, err);
	sqlite3_stmt *st = NULL;
	if (!r)
		r = ifs_sql_prepare(db, "INSERT INTO sources VALUES(?1, ?2)", &st, err);
	for (size_t i = 0; i < n && !r; i++) {
		sqlite3_bind_text(st, 1, ifs_source_files[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, fps[i], -1, SQLITE_TRANSIENT);
		r = ifs_sql_step_done(db, st, "recording a source", err);
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < n; i++)
		free(fps[i]);
	free(fps);
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

const char *ifs_build_temp_path(const ifs_build *b)
{
	return b->tmp;
}

void ifs_build_cancel(ifs_build *b)
{
	__atomic_store_n(&b->cancel, 1, __ATOMIC_RELEASE);
}

void ifs_build_resume_clear(ifs_scan_resume *rs)
{
	ifs_gz_checkpoint_clear(&rs->cp);
	free(rs->window);
	memset(rs, 0, sizeof *rs);
}

void ifs_build_free(ifs_build *b)
{
	if (!b)
		return;
	ifs_join_free(b->tree.join);
	b->tree.join = NULL;
	ifs_tree_free(&b->tree);
	if (b->db)
		sqlite3_close(b->db);
	if (!b->renamed && !b->keep_tmp && b->tmp[0])
		unlink(b->tmp);
	ifs_build_resume_clear(&b->resume);
	free(b->data_dir);
	free(b->path);
	free(b);
}

static double since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/*
 * Called from the scan between tar feeds: commits what was scanned so far
 * (about twice a second) so that a live mount can serve it, and notices a
 * cancel.
 */
static int scan_tick(void *ctx, const char *file, uint64_t in_done, uint64_t in_total,
		     ifs_err *err)
{
	ifs_build *b = ctx;
	if (file != b->file) {
		b->file = file;
		b->file_in0 = in_done;
		clock_gettime(CLOCK_MONOTONIC, &b->file_start);
	}
	/* -o scan_limit: sleep until the bytes read are due, in short naps */
	for (;;) {
		if (__atomic_load_n(&b->cancel, __ATOMIC_ACQUIRE))
			return -ECANCELED;
		double ahead = b->opts->scan_limit > 0
			? (double)(in_done - b->file_in0) / b->opts->scan_limit -
			  since(&b->file_start) : 0;
		if (ahead <= 0 || since(&b->last_commit) >= 0.5)
			break;
		struct timespec nap = { 0, 50 * 1000 * 1000 };
		nanosleep(&nap, NULL);
	}
	if (since(&b->last_commit) < 0.5)
		return 0;
	/* with each commit, where a build killed after it would go on; a commit
	 * waits until the record can say it */
	char rec[320];
	int resumable = ifs_tree_resume_record(&b->tree, rec, sizeof rec);
	if (resumable < 0)
		return 0;
	int r = put_meta(b->db, err, "scan_progress", "%s %llu %llu", file,
			 (unsigned long long)in_done, (unsigned long long)in_total);
	if (!r)
		r = resumable ? put_meta(b->db, err, "scan_resume", "%s", rec)
			      : ifs_sql_exec(b->db, "DELETE FROM meta WHERE key='scan_resume'",
					     "recording the scan's progress", err);
	if (!r)
		r = ifs_sql_exec(b->db, "COMMIT; BEGIN", "committing", err);
	if (r)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &b->last_commit);
	if (b->opts->live)
		ifs_index_publish(b->opts->live, -1);
	return 0;
}

int ifs_build_begin(const char *data_dir, const char *path, const ifs_build_opts *opts,
		    ifs_build **out, ifs_err *err)
{
	char full[PATH_MAX];
	ifs_catalog *cat = NULL;
	struct stat st;
	int r = 0;
	*out = NULL;
	ifs_build *b = calloc(1, sizeof *b);
	if (!b)
		return ifs_err_set(err, ENOMEM, "out of memory");
	static const ifs_build_opts no_opts;
	b->t0 = time(NULL);
	b->opts = opts ? opts : &no_opts;
	b->data_dir = strdup(data_dir);
	b->path = strdup(path);
	if (!b->data_dir || !b->path) {
		r = ifs_err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	snprintf(full, sizeof full, "%s/%s", data_dir, ifs_archive_file(IFS_ARCHIVE_TRAINVAL));
	if ((r = archive_mtime(full, &st.st_mtime, err)))
		goto out;
	/* bad tarballs are refused before anything else (and before a mount) */
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
		snprintf(full, sizeof full, "%s/%s", data_dir, ifs_archive_file(a));
		if (a != IFS_ARCHIVE_TRAINVAL && (r = ifs_place_exists(full, err)) <= 0) {
			if (r < 0)
				goto out;
			continue;
		}
		if ((r = ifs_tree_probe_archive(full, err)))
			goto out;
	}
	if (snprintf(b->tmp, sizeof b->tmp, "%s.tmp-%ld", path, (long)getpid()) >=
	    (int)sizeof b->tmp) {
		b->tmp[0] = '\0';
		r = ifs_err_set(err, ENAMETOOLONG, "%s: path too long", path);
		goto out;
	}
	unlink(b->tmp);
	/* an interrupted build of the same inputs goes on where it stopped;
	 * other leftovers are removed */
	r = ifs_build_adopt(b, data_dir, st.st_mtime, err);
	if (r == 1) {
		r = 0;
		goto ready;
	}
	if (r < 0 && b->adopted) {
		/* a file that looked resumable but is not: start afresh instead */
		if (b->opts->report)
			fprintf(b->opts->report, "inatfs: note: cannot go on with the interrupted "
				"build (%s); starting afresh\n", err ? err->msg : "?");
		ifs_err_clear(err);
		ifs_join_free(b->tree.join);
		ifs_tree_free(&b->tree);
		memset(&b->tree, 0, sizeof b->tree);
		ifs_build_resume_clear(&b->resume);
		sqlite3_close(b->db);
		b->db = NULL;
		b->adopted = 0;
		unlink(b->tmp);
		r = 0;
	}
	if (r < 0)
		goto out;
	/* created here first: sqlite's own message ("unable to open database file") hides why */
	int tfd = open(b->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (tfd < 0) {
		r = ifs_err_sys(err, errno, "index: cannot create %s", b->tmp);
		b->tmp[0] = '\0';
		goto out;
	}
	close(tfd);
	if (ifs_index_sql_open(b->tmp, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) {
		r = ifs_err_set(err, EIO, "index: cannot create %s: %s", b->tmp,
				b->db ? sqlite3_errmsg(b->db) : "no memory");
		goto out;
	}
	/* no journal (a failed build is thrown away); normal locking, so that a
	 * live mount can read between commits; a commit waits for its readers */
	sqlite3_busy_timeout(b->db, 60000);
	if ((r = ifs_sql_exec(b->db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
			      "PRAGMA cache_size=-65536; PRAGMA temp_store=FILE; BEGIN",
			      "starting the build", err)) ||
	    (r = ifs_schema_create(b->db, err)) ||
	    (r = record_sources(b->db, data_dir, err)) ||
	    (r = ifs_tree_init(&b->tree, b->db, st.st_mtime, err)))
		goto out;

	/* 1. annotations: every image, not yet linked to its member */
	struct cat_progress cp = { b->opts };
	if ((r = ifs_catalog_load(data_dir, &cat, on_catalog_file, &cp, err)))
		goto out;
	if (cat->nimgs == 0) {
		r = ifs_err_set(err, ENOENT, "%s/train_val2017.zip: missing (it holds the train/val "
				"split and the categories; inatfs needs it)", data_dir);
		goto out;
	}
	progress(b->opts, "write", NULL);
	if ((r = ifs_catalog_insert(b->db, cat, &b->tree.join, &b->class_width, err)))
		goto out;
	ifs_catalog_free(cat);
	cat = NULL;
	/* the pristine trees as the JSON names them, there from the first moment */
	int present[IFS_ARCHIVE_MAX + 1] = { 0 };
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
		snprintf(full, sizeof full, "%s/%s", data_dir, ifs_archive_file(a));
		if ((present[a] = ifs_place_exists(full, err)) < 0) {
			r = present[a];
			goto out;
		}
	}
	if ((r = ifs_tree_plant(&b->tree, present, err)))
		goto out;
	/* the indexes the views need, before anything is served; from here on a
	 * build that stops goes on at the next one, without the annotations */
	char rec[320], boot[64];
	ifs_machine_boot(boot, sizeof boot);   /* a build resumes on its own boot only */
	if ((r = ifs_schema_create_indexes(b->db, err)) ||
	    (r = put_meta(b->db, err, "class_width", "%d", b->class_width)) ||
	    (r = put_meta(b->db, err, "data_dir", "%s", data_dir)))
		goto out;
	if (!ifs_tree_resume_initial(&b->tree, rec, sizeof rec)) {
		r = ifs_err_set(err, EIO, "index: %s: no resume record for the scan's start", b->tmp);
		goto out;
	}
	if ((r = put_meta(b->db, err, "scan_resume", "%s", rec)) ||
	    (r = put_meta(b->db, err, "boot_id", "%s", boot)))
		goto out;
	/* the scan's commits are journaled: a build killed at any point leaves
	 * the last commit intact for the next build to go on from (no fsync:
	 * the journal protects against a killed process, not a power cut) */
	if ((r = ifs_sql_exec(b->db, "COMMIT; PRAGMA journal_mode=DELETE; BEGIN",
			      "committing the annotations", err)))
		goto out;
ready:
	clock_gettime(CLOCK_MONOTONIC, &b->last_commit);
	b->tree.tick = scan_tick;
	b->tree.tick_ctx = b;
	*out = b;
	return 0;
out:
	ifs_catalog_free(cat);
	ifs_build_free(b);
	return r;
}

static int build_scan(ifs_build *b, ifs_err *err)
{
	char full[PATH_MAX];
	sqlite3 *db = b->db;
	FILE *rep = b->opts->report;
	int r;

	/* 2. one scan pass per tarball: members, checkpoints, links to images */
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
		snprintf(full, sizeof full, "%s/%s", b->data_dir, ifs_archive_file(a));
		if (a != IFS_ARCHIVE_TRAINVAL && (r = ifs_place_exists(full, err)) <= 0) {
			if (r < 0)
				return r;
			continue;
		}
		char done[64];
		snprintf(done, sizeof done, "SELECT count(*) FROM archives WHERE id=%d", a);
		if (b->adopted && count(db, done) > 0)
			continue;   /* scanned completely before the interruption */
		if ((r = ifs_tree_scan_archive(&b->tree, a, full, b->opts, err)))
			return r;
	}
	ifs_join_free(b->tree.join);
	b->tree.join = NULL;

	/* 3. derived columns, generated files, counts */
	progress(b->opts, "writing the COCO files and the submission template", NULL);
	if ((r = ifs_tree_finish(&b->tree, err)) || (r = ifs_generated_record(db, err)))
		return r;
	int64_t n_tr = count(db, "SELECT count(*) FROM images WHERE split=0");
	int64_t n_va = count(db, "SELECT count(*) FROM images WHERE split=1");
	int64_t n_te = count(db, "SELECT count(*) FROM images WHERE split=2");
	int64_t n_cat = count(db, "SELECT count(*) FROM categories");
	int64_t n_box = count(db, "SELECT coalesce(sum(nboxes), 0) FROM images");
	int64_t n_loc = count(db, "SELECT count(location) FROM images");
	/* images a damaged archive leaves unreadable: never reached, or ending
	 * past what can be trusted; they are not "missing" */
	if ((r = ifs_sql_exec(db, "UPDATE damage SET images=(SELECT count(*) FROM images i "
			      "LEFT JOIN nodes n ON n.id=i.node WHERE (CASE WHEN i.split=2 THEN 2 "
			      "ELSE 1 END)=damage.archive AND (i.node IS NULL OR "
			      "n.off*512+n.size>damage.good_out))", "counting damaged images", err)))
		return r;
	int64_t missing = count(db, "SELECT count(*) FROM images WHERE node IS NULL AND (CASE "
				"WHEN split=2 THEN 2 ELSE 1 END) NOT IN (SELECT archive FROM damage)");
	int64_t joined = count(db, "SELECT count(DISTINCT node) FROM images WHERE node IS NOT NULL");
	int64_t stray = count(db, "SELECT count(*) FROM nodes WHERE type=0 AND off IS NOT NULL") -
			joined;
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++)
		if (ifs_damage_read(db, a, &b->damage[a]) < 0)
			return ifs_err_set(err, EIO, "index: %s: reading damage: %s", b->tmp,
					   sqlite3_errmsg(db));
	ifs_tree_free(&b->tree);   /* the path maps: the biggest part of a live daemon */
	struct { const char *key; long long v; } facts[] = {
		{ "built_at", (long long)time(NULL) },
		{ "build_seconds", (long long)(time(NULL) - b->t0) },
		{ "categories", (long long)n_cat },
		{ "images_train", (long long)n_tr },
		{ "images_val", (long long)n_va },
		{ "images_test", (long long)n_te },
		{ "boxes", (long long)n_box },
		{ "locations", (long long)n_loc },
		{ "missing_images", (long long)missing },
		{ "stray_members", (long long)stray },
	};
	for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++)
		if ((r = put_meta(db, err, facts[i].key, "%lld", facts[i].v)))
			return r;
	if ((r = put_meta(db, err, "members", "%llu", (unsigned long long)b->tree.files)) ||
	    (r = put_meta(db, err, "skipped_unsafe", "%llu",
			  (unsigned long long)b->tree.skipped_unsafe)) ||
	    (r = put_meta(db, err, "skipped_type", "%llu",
			  (unsigned long long)b->tree.skipped_type)) ||
	    (r = put_meta(db, err, "duplicates", "%llu", (unsigned long long)b->tree.duplicates)) ||
	    (r = ifs_sql_exec(db, "DELETE FROM meta WHERE key IN ('scan_progress', 'scan_resume', "
			      "'boot_id')", "writing meta", err)))
		return r;
	/* The tree's table and indexes have pages part empty (ifs_sql_pack).
	 * Rebuilt in order, they shrink; the file gives the freed pages back
	 * (auto_vacuum is incremental, see ifs_schema_create). In place, so a
	 * live daemon reading this file sees one more commit. */
	progress(b->opts, "packing the index", NULL);
	ifs_err perr;
	ifs_err_clear(&perr);
	if ((r = ifs_sql_exec(db, "SAVEPOINT pack", "packing the index", err)))
		return r;
	if (ifs_sql_exec(db, ifs_sql_pack, "packing the index", &perr)) {
		/* it needs room for a journal of the indexes: without it, the index
		 * works the same, a little bigger */
		if (b->opts->report)
			fprintf(b->opts->report, "inatfs: note: the index is not packed (%s)\n",
				perr.msg);
		sqlite3_exec(db, "ROLLBACK TO pack", NULL, NULL, NULL);
	}
	if ((r = ifs_sql_exec(db, "RELEASE pack; COMMIT; PRAGMA journal_mode=DELETE", "committing",
			      err)))
		return r;
	int rc = sqlite3_close(db);
	b->db = NULL;
	if (rc != SQLITE_OK)
		return ifs_err_set(err, EIO, "index: %s: closing failed", b->tmp);
	if ((r = fsync_path(b->tmp, 0, err)))
		return r;
	if (rename(b->tmp, b->path) < 0)
		return ifs_err_sys(err, errno, "index: rename %s -> %s", b->tmp, b->path);
	b->renamed = 1;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", b->path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if ((r = fsync_path(slash ? (dir[0] ? dir : "/") : ".", 1, err)))
		return r;
	/* last: "indexed" means the index is in place */
	if (rep) {
		fprintf(rep, "inatfs: indexed %lld categories, %lld train + %lld val + %lld test images, "
			"%lld boxes, %lld locations, %llu tar members\n", (long long)n_cat,
			(long long)n_tr, (long long)n_va, (long long)n_te, (long long)n_box,
			(long long)n_loc, (unsigned long long)b->tree.files);
		if (missing > 0)
			fprintf(rep, "inatfs: warning: %lld images listed in the JSON are not in the "
				"tarballs (left out of the views)\n", (long long)missing);
		if (stray > 0)
			fprintf(rep, "inatfs: note: %lld tar members are in no JSON file (shown only in "
				"the pristine trees)\n", (long long)stray);
		if (b->tree.skipped_unsafe > 0)
			fprintf(rep, "inatfs: warning: %llu tar members have paths that cannot be served "
				"safely and were skipped\n", (unsigned long long)b->tree.skipped_unsafe);
	}
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
		if (rep && b->damage[a].archive) {
			char line[5120];
			ifs_damage_describe(&b->damage[a], b->data_dir, line, sizeof line);
			fprintf(rep, "inatfs: %s\n", line);
		}
	}
	return 0;
}

int ifs_build_damaged(const ifs_build *b)
{
	int n = 0;
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++)
		n += b->damage[a].archive != 0;
	return n;
}

int ifs_build_scan(ifs_build *b, ifs_err *err)
{
	if (b->scanned)
		return ifs_err_set(err, EINVAL, "index: the scan already ran");
	b->scanned = 1;
	int r = build_scan(b, err);
	if (r == -ECANCELED && !(err && err->code))
		ifs_err_set(err, ECANCELED, "index: build cancelled");
	if (r == -ECANCELED && b->db) {
		/* kept with what the last commit holds: the next build goes on from
		 * its resume record (damage found by the scan is not resumed) */
		sqlite3_exec(b->db, "ROLLBACK; PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
		b->keep_tmp = 1;
	}
	if (b->opts->live)
		ifs_index_publish(b->opts->live, r ? IFS_LIVE_FAILED : IFS_LIVE_DONE);
	return r;
}

int ifs_index_build(const char *data_dir, const char *path, const ifs_build_opts *opts,
		    ifs_err *err)
{
	ifs_build *b;
	int r = ifs_build_begin(data_dir, path, opts, &b, err);
	if (r)
		return r;
	r = ifs_build_scan(b, err);
	ifs_build_free(b);
	return r;
}

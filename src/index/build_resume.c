/*
 * build_resume.c - going on with an interrupted build: the temporaries of
 * builds whose process is gone (PATH.tmp-<pid>) are looked at; one of this
 * schema, built from the same inputs on this boot of the machine, with a
 * resume record, is claimed by renaming it, and its tree, the links still
 * to make and the exact window before the resume point are restored; the
 * others are removed. docs/design.md, "Going on with an interrupted build".
 */
#include "build.h"

#include "inatfs/machine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inatfs/trust.h"
#include "schema.h"

/*
 * PATH.tmp-<pid> files of builds that were killed (their process is gone):
 * calls keep(ctx, file) for each, and removes those it returns 0 for (NULL:
 * removes all).
 */
static void remove_stale_temporaries(const char *path, int (*keep)(void *, const char *),
				     void *ctx)
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
		int journal = !strcmp(end, "-journal");
		if ((*end && !journal) || pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		char full[PATH_MAX * 2];
		snprintf(full, sizeof full, "%s/%s", slash ? (dir[0] ? dir : "") : ".", de->d_name);
		if (journal) {
			/* a journal whose database is gone (adopted or removed) */
			char db[PATH_MAX * 2];
			snprintf(db, sizeof db, "%.*s", (int)(strlen(full) - 8), full);
			if (access(db, F_OK) < 0)
				unlink(full);
			continue;
		}
		if (!keep || !keep(ctx, full)) {
			unlink(full);
			char jn[PATH_MAX * 2 + 8];
			snprintf(jn, sizeof jn, "%s-journal", full);
			unlink(jn);
		}
	}
	closedir(d);
}

struct adopt {
	ifs_build *b;
	char **fps;     /* fingerprints of ifs_source_files now */
	int done;       /* one was adopted */
};

/* Is the interrupted build in `file` one this build can go on with (same
 * schema, same input files, a resume record)? */
static int resumable(const struct adopt *a, const char *file)
{
	/* read-write, under its own name: SQLite rolls back the commit the
	 * build was killed in (its journal is beside it) before anything is read */
	sqlite3 *db = NULL;
	int ok = ifs_index_sql_open(file, &db, SQLITE_OPEN_READWRITE) == SQLITE_OK;
	if (ok)
		sqlite3_busy_timeout(db, 5000);
	sqlite3_stmt *st = NULL;
	ok = ok && sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	     sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == IFS_SCHEMA_VERSION;
	sqlite3_finalize(st);
	st = NULL;
	size_t n = 0;
	if (ok && sqlite3_prepare_v2(db, "SELECT file, fingerprint FROM sources", -1, &st, NULL) ==
	    SQLITE_OK) {
		while (ok && sqlite3_step(st) == SQLITE_ROW) {
			const char *f = (const char *)sqlite3_column_text(st, 0);
			const char *fp = (const char *)sqlite3_column_text(st, 1);
			int known = 0;
			for (size_t i = 0; ifs_source_files[i]; i++)
				if (f && fp && !strcmp(f, ifs_source_files[i]) && !strcmp(fp, a->fps[i]))
					known = 1;
			ok = known;
			n++;
		}
	} else {
		ok = 0;
	}
	sqlite3_finalize(st);
	st = NULL;
	size_t want = 0;
	while (ifs_source_files[want])
		want++;
	/* the scan's commits are journaled but not fsynced: they survive a
	 * killed process, not a crash of the machine, so a build is only resumed
	 * on the boot it was started on ("" if unknown: then never) */
	char boot[64];
	ifs_machine_boot(boot, sizeof boot);
	ok = ok && n == want && boot[0] &&
	     sqlite3_prepare_v2(db, "SELECT (SELECT value FROM meta WHERE key='scan_resume'), "
				"(SELECT value FROM meta WHERE key='boot_id')", -1, &st,
				NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW;
	if (ok) {
		ifs_scan_resume r;
		ifs_tree t;
		const char *b = (const char *)sqlite3_column_text(st, 1);
		ok = sqlite3_column_text(st, 0) && b && !strcmp(b, boot) &&
		     ifs_tree_resume_parse((const char *)sqlite3_column_text(st, 0), &r, &t) == 0;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (ok) {
		/* no transaction is open: the journal, rolled back if it was hot,
		 * holds nothing more (and its name is the file's) */
		char jn[PATH_MAX * 2 + 8];
		snprintf(jn, sizeof jn, "%s-journal", file);
		unlink(jn);
	}
	return ok;
}

static int consider(void *ctx, const char *file)
{
	struct adopt *a = ctx;
	int fd = ifs_trust_open(file, 0, NULL);
	if (fd < 0)
		return 1;   /* a link, or planted by someone else: not ours to take or remove */
	close(fd);
	if (a->done || !resumable(a, file))
		return 0;
	/* claimed by renaming: of two builds starting at once, one gets it */
	if (rename(file, a->b->tmp) < 0)
		return 1;   /* gone, or not ours to take: leave it alone */
	a->done = 1;
	return 1;
}

/*
 * The exact output before the resume point: the resumed scan checks every
 * byte, and a stored checkpoint's window holds only what reads of member
 * data need, so the bytes are read from the archive through the stored
 * checkpoint that serves them (less than one member back).
 */
static int load_resume_window(ifs_build *b, ifs_err *err)
{
	ifs_scan_resume *rs = &b->resume;
	if (!rs->tar_off)
		return 0;
	uint64_t wl = rs->cp.out - rs->cp.member_out;   /* checked by the parse */
	if (wl > 32768)
		wl = 32768;
	if (!wl)
		return 0;
	char full[PATH_MAX];
	snprintf(full, sizeof full, "%s/%s", b->data_dir, ifs_archive_file(rs->archive));
	sqlite3_stmt *st = NULL;
	ifs_gz_checkpoint cp = { 0 };
	ifs_gz_cursor *cur = NULL;
	ifs_source *src = NULL;
	int r = ifs_sql_prepare(b->db, ifs_sql_checkpoint, &st, err);
	if (r)
		return r;
	r = ifs_sql_checkpoint_row(st, rs->archive, rs->cp.out - wl, &cp);
	sqlite3_finalize(st);
	if (r) {
		r = ifs_err_set(err, EIO, "index: %s: no checkpoint before the resume point", b->tmp);
		goto out;
	}
	if (!(rs->window = malloc((size_t)wl))) {
		r = ifs_err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if ((r = ifs_archive_open(full, &src, err)) || (r = ifs_gz_cursor_new(src, &cur, err)) ||
	    (r = ifs_gz_cursor_start(cur, &cp, 0, err)))
		goto out;
	ssize_t got = ifs_gz_cursor_read(cur, rs->cp.out - wl, rs->window, (size_t)wl, err);
	if (got >= 0 && (uint64_t)got != wl)
		r = ifs_err_set(err, EIO, "%s: ends before the resume point", full);
	else if (got < 0)
		r = (int)got;
out:
	ifs_gz_cursor_free(cur);
	ifs_source_close(src);
	ifs_gz_checkpoint_clear(&cp);
	return r;
}

int ifs_build_adopt(ifs_build *b, const char *data_dir, int64_t default_mtime, ifs_err *err)
{
	struct adopt a = { .b = b };
	size_t n = 0;
	while (ifs_source_files[n])
		n++;
	a.fps = calloc(n, sizeof *a.fps);
	if (!a.fps)
		return ifs_err_set(err, ENOMEM, "out of memory");
	int r = ifs_build_source_fingerprints(data_dir, a.fps, err);
	if (!r)
		remove_stale_temporaries(b->path, b->opts->fresh ? NULL : consider, &a);
	for (size_t i = 0; i < n; i++)
		free(a.fps[i]);
	free(a.fps);
	if (r || !a.done)
		return r;
	b->adopted = 1;
	sqlite3_stmt *st = NULL;
	char rec[320] = "";
	if (ifs_index_sql_open(b->tmp, &b->db, SQLITE_OPEN_READWRITE)) {
		return ifs_err_set(err, EIO, "index: cannot open %s: %s", b->tmp,
				   b->db ? sqlite3_errmsg(b->db) : "no memory");
	}
	sqlite3_busy_timeout(b->db, 60000);
	if ((r = ifs_sql_exec(b->db, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF; "
			      "PRAGMA cache_size=-65536; PRAGMA temp_store=FILE; BEGIN",
			      "resuming the build", err)))
		return r;
	if (sqlite3_prepare_v2(b->db, "SELECT (SELECT value FROM meta WHERE key='scan_resume'), "
			       "(SELECT value FROM meta WHERE key='class_width')", -1, &st,
			       NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_text(st, 0) && sqlite3_column_text(st, 1)) {
		snprintf(rec, sizeof rec, "%s", (const char *)sqlite3_column_text(st, 0));
		b->class_width = atoi((const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if ((r = ifs_tree_restore(&b->tree, b->db, default_mtime, err)))
		return r;
	if (ifs_tree_resume_parse(rec, &b->resume, &b->tree) < 0)
		return ifs_err_set(err, EIO, "index: %s: bad resume record", b->tmp);
	b->tree.resume = &b->resume;
	if ((r = load_resume_window(b, err)) ||
	    (r = ifs_join_restore(b->db, &b->tree, &b->tree.join, err)))
		return r;
	if (b->opts->progress) {
		sqlite3_stmt *p;
		char what[512] = "";
		if (sqlite3_prepare_v2(b->db, "SELECT value FROM meta WHERE key='scan_progress'", -1,
				       &p, NULL) == SQLITE_OK) {
			char file[256];
			unsigned long long done, total;
			if (sqlite3_step(p) == SQLITE_ROW && sqlite3_column_text(p, 0) &&
			    sscanf((const char *)sqlite3_column_text(p, 0), "%255s %llu %llu", file,
				   &done, &total) == 3 && total)
				snprintf(what, sizeof what, "%s at %.0f%%", file,
					 100.0 * (double)done / (double)total);
			sqlite3_finalize(p);
		}
		ifs_build_progress pr = { "resume", what[0] ? what : NULL, 0, 0, 0 };
		b->opts->progress(b->opts->ctx, &pr);
	}
	return 1;
}

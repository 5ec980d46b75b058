/*
 * query_info.c - an index file as it is, for `inatfs info` and the damage
 * report: its meta, archives and sources rows, its damage rows, and the
 * progress a running or interrupted build recorded in its temporary file.
 * Opened by path, read-only, with no check of the downloads: a stale or
 * unfinished index is shown too.
 */
#include "inatfs/index_query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

struct ifs_index_file {
	sqlite3 *db;
};

int ifs_index_file_open(const char *path, ifs_index_file **out, ifs_err *err)
{
	*out = NULL;
	ifs_index_file *f = calloc(1, sizeof *f);
	if (!f)
		return ifs_err_set(err, ENOMEM, "out of memory");
	if (ifs_index_sql_open(path, &f->db, SQLITE_OPEN_READONLY) != SQLITE_OK) {
		int r = ifs_err_set(err, EIO, "%s: %s", path,
				    f->db ? sqlite3_errmsg(f->db) : "out of memory");
		ifs_index_file_close(f);
		return r;
	}
	*out = f;
	return 0;
}

void ifs_index_file_close(ifs_index_file *f)
{
	if (!f)
		return;
	sqlite3_close(f->db);
	free(f);
}

int ifs_index_file_rows(ifs_index_file *f, int what, ifs_info_fn fn, void *ctx, ifs_err *err)
{
	static const char *const sql[] = {
		[IFS_INFO_META] = "SELECT key, value FROM meta WHERE key NOT LIKE 'info_%' ORDER BY key",
		[IFS_INFO_ARCHIVES] = "SELECT file, in_size, out_size, members, checkpoints, "
				      "window_bytes FROM archives ORDER BY id",
		[IFS_INFO_SOURCES] = "SELECT file, fingerprint FROM sources ORDER BY file",
	};
	if (what < IFS_INFO_META || what > IFS_INFO_SOURCES)
		return ifs_err_set(err, EINVAL, "index: no such table of facts (%d)", what);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(f->db, sql[what], -1, &st, NULL) != SQLITE_OK)
		return ifs_err_set(err, EIO, "index: %s", sqlite3_errmsg(f->db));
	int rc, r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *col[8];
		int n = sqlite3_column_count(st);
		for (int c = 0; c < n && c < 8; c++)
			col[c] = (const char *)sqlite3_column_text(st, c);
		if ((r = fn(ctx, n < 8 ? n : 8, col)))
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = ifs_err_set(err, EIO, "index: %s", sqlite3_errmsg(f->db));
	sqlite3_finalize(st);
	return r;
}

int ifs_index_file_damage(ifs_index_file *f, int archive, ifs_damage *d)
{
	return ifs_damage_read(f->db, archive, d);
}

int ifs_build_read_progress(const char *temp_path, int alive, char *file, size_t size,
			    uint64_t *done, uint64_t *total)
{
	*file = '\0';
	*done = *total = 0;
	sqlite3 *db = NULL;
	int r = -EIO;
	char *uri = sqlite3_mprintf("file:%s?mode=%s", temp_path, alive ? "ro" : "rw");
	if (uri && sqlite3_open_v2(uri, &db, (alive ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
				   SQLITE_OPEN_URI, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);   /* the build holds it while it commits */
		sqlite3_stmt *st;
		char f[256] = "";
		unsigned long long d = 0, t = 0;
		if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='scan_progress'", -1, &st,
				       NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
			    sscanf((const char *)sqlite3_column_text(st, 0), "%255s %llu %llu", f, &d,
				   &t) >= 1) {
				snprintf(file, size, "%s", f);
				*done = d;
				*total = t;
			}
			sqlite3_finalize(st);
		}
		r = 0;
	}
	sqlite3_free(uri);
	sqlite3_close(db);
	return r;
}

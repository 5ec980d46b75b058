/*
 * query_files.c - the annotation files (table annfiles) as index_query.h
 * gives them: listed, by name, by row, and their bytes, read from their zip
 * in DATA_DIR when asked (check.c made sure at open that each row names its
 * own download's zip and one of the known files).
 */
#include "inatfs/index_query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/catalog.h"
#include "schema.h"

static const char q_annfiles[] = "SELECT rowid, size, mtime, name FROM annfiles ORDER BY name";
static const char q_annfile_name[] = "SELECT rowid, size, mtime, name FROM annfiles WHERE name=?1";
static const char q_annfile_id[] = "SELECT rowid, size, mtime, name FROM annfiles WHERE rowid=?1";
static const char q_annfile_entry[] = "SELECT zip, entry, size FROM annfiles WHERE name=?1";

static void annfile_row(sqlite3_stmt *st, ifs_annfile_row *a)
{
	memset(a, 0, sizeof *a);
	a->id = sqlite3_column_int64(st, 0);
	a->size = (uint64_t)sqlite3_column_int64(st, 1);
	a->mtime = sqlite3_column_int64(st, 2);
	const char *name = (const char *)sqlite3_column_text(st, 3);
	snprintf(a->name, sizeof a->name, "%s", name ? name : "");
}

static int annfile_one(ifs_index *idx, sqlite3_stmt *st, ifs_annfile_row *out, ifs_err *err)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		annfile_row(st, out);
	int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

int ifs_index_annfile_list(ifs_index *idx, ifs_annfile_fn fn, void *ctx, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_annfiles, err);
	if (!st)
		return -EIO;
	int rc, r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ifs_annfile_row a;
		annfile_row(st, &a);
		if ((r = fn(ctx, &a)))
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

int ifs_index_annfile_get(ifs_index *idx, const char *name, ifs_annfile_row *out, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_annfile_name, err);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	return annfile_one(idx, st, out, err);
}

int ifs_index_annfile_id(ifs_index *idx, int64_t id, ifs_annfile_row *out, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_annfile_id, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	return annfile_one(idx, st, out, err);
}

int ifs_index_annfile_read(ifs_index *idx, const char *name, uint8_t **data, size_t *len,
			   ifs_err *err)
{
	*data = NULL;
	*len = 0;
	sqlite3_stmt *st = ifs_index_stmt(idx, q_annfile_entry, err);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		int r = rc == SQLITE_DONE ? ifs_err_set(err, EIO, "index: annotation file %s is missing",
							name)
					  : ifs_index_db_error(idx, err);
		sqlite3_reset(st);
		return r;
	}
	/* the zip by its name in DATA_DIR (check.c: one of the downloads') */
	char *zip = NULL;
	const char *zname = (const char *)sqlite3_column_text(st, 0);
	const char *ename = (const char *)sqlite3_column_text(st, 1);
	if (zname && ename && asprintf(&zip, "%s/%s", ifs_index_data_dir(idx), zname) < 0)
		zip = NULL;
	char *entry = ename ? strdup(ename) : NULL;
	uint64_t want = (uint64_t)sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	int r = zip && entry ? ifs_zip_read_entry(zip, entry, data, len, err)
			     : ifs_err_set(err, ENOMEM, "out of memory");
	if (r == 0 && *len != want) {
		r = ifs_err_set(err, EIO, "%s: %s is %zu bytes now, %llu when indexed", zip, entry,
				*len, (unsigned long long)want);
		free(*data);
		*data = NULL;
		*len = 0;
	}
	free(zip);
	free(entry);
	return r;
}

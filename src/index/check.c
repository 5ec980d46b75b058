/*
 * check.c - what serving reads back from an index is checked before it is
 * trusted, as strictly as the checkpoints are (schema.c): an index file is
 * input too (damaged, or planted by someone who can compute the sources'
 * fingerprints). At open, the small tables and the ranges the inode
 * numbers rest on (src/views/inode.h); names, as they are read
 * (ifs_index_name_ok).
 * Reading never follows a chain of rows without a bound, so a cycle in
 * `nodes` only ends a query early.
 */
#include "inatfs/index.h"

#include <errno.h>
#include <string.h>

#include <sqlite3.h>

#include "inatfs/catalog.h"
#include "inatfs/names.h"
#include "schema.h"

int ifs_index_name_ok(const char *name)
{
	if (!name || !*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	size_t n = strlen(name);
	return n <= 255 && !memchr(name, '/', n);
}

/* A name the build made safe (names.h): unchanged by ifs_name_safe. */
static int made_safe(const char *name)
{
	char out[IFS_NAME_MAX + 1];
	return ifs_index_name_ok(name) && !ifs_name_safe(name, out, sizeof out) &&
	       !strcmp(out, name);
}

static int bad(ifs_err *err, const char *path, const char *what, long long row)
{
	return ifs_err_set(err, EIO, "index: %s: %s (row %lld): the index is damaged or not "
			   "inatfs's; remove it to have it rebuilt", path, what, row);
}

/* One integer from sql (NULL -> dflt); -1 on a failed query. */
static int one(sqlite3 *db, const char *sql, sqlite3_int64 dflt, sqlite3_int64 *out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
	       ? sqlite3_column_int64(st, 0) : dflt;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int ifs_index_validate(sqlite3 *db, const char *path, ifs_err *err)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 v;
	int r = 0, rc;

	/* inode numbers: nodes below 2^40, image rows below 2^32 (src/views/inode.h) */
	if (one(db, "SELECT max(id) FROM nodes", 0, &v) || v >= ((sqlite3_int64)1 << 40))
		return bad(err, path, "a node id is out of range", v);
	if (one(db, "SELECT max(rid) FROM images", 0, &v) || v >= ((sqlite3_int64)1 << 32))
		return bad(err, path, "an image row id is out of range", v);
	if (one(db, "SELECT count(*) FROM nodes WHERE id=1 AND parent=0 AND type=1", 0, &v) ||
	    v != 1)
		return bad(err, path, "no root folder", 1);
	if (one(db, "SELECT count(*) - count(DISTINCT dir) FROM categories", 0, &v) || v != 0)
		return bad(err, path, "two categories have one folder name", 0);

	/* categories: ids as the catalog allows them, folder names as the build
	 * made them */
	if (sqlite3_prepare_v2(db, "SELECT id, name, supercategory, dir, superdir FROM categories",
			       -1, &st, NULL) != SQLITE_OK)
		return bad(err, path, "no categories table", 0);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 id = sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || id < 0 ||
		    id > IFS_CATEGORY_ID_MAX || !sqlite3_column_text(st, 1) ||
		    !sqlite3_column_text(st, 2) ||
		    !made_safe((const char *)sqlite3_column_text(st, 3)) ||
		    !made_safe((const char *)sqlite3_column_text(st, 4))) {
			r = bad(err, path, "a category with a bad id or name", id);
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		r = bad(err, path, "reading the categories failed", 0);
		goto out;
	}
	sqlite3_finalize(st);

	/* annotation files: only the known ones, each from its own zip */
	if (sqlite3_prepare_v2(db, "SELECT rowid, name, zip, entry, size FROM annfiles", -1, &st,
			       NULL) != SQLITE_OK)
		return bad(err, path, "no annfiles table", 0);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 row = sqlite3_column_int64(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *zip = (const char *)sqlite3_column_text(st, 2);
		const char *entry = (const char *)sqlite3_column_text(st, 3);
		const char *want = name ? ifs_annfile_zip(name) : NULL;
		if (row < 1 || row > 0xffff || !want || !zip || strcmp(zip, want) != 0 || !entry ||
		    !*entry || sqlite3_column_int64(st, 4) < 0) {
			r = bad(err, path, "an annotation file that is not one of the downloads'", row);
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		r = bad(err, path, "reading the annotation files failed", 0);
		goto out;
	}
	sqlite3_finalize(st);

	/* generated files: only the known ones */
	if (sqlite3_prepare_v2(db, "SELECT name, size FROM generated", -1, &st, NULL) != SQLITE_OK)
		return bad(err, path, "no generated table", 0);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		int known = 0;
		for (const char *const *g = ifs_generated_files; name && *g; g++)
			known |= !strcmp(*g, name);
		if (!known || sqlite3_column_int64(st, 1) < 0) {
			r = bad(err, path, "an unknown generated file", 0);
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		r = bad(err, path, "reading the generated files failed", 0);
out:
	sqlite3_finalize(st);
	return r;
}

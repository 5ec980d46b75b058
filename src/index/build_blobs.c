/*
 * build_blobs.c - files inatfs generates at build time and stores in the
 * `blobs` table: the COCO files of the with-bbox/ view (file_name relative
 * to with-bbox/) and submission_template.csv (header plus one row per test
 * image, in test2017.json order). Written as text directly from the tables,
 * so memory stays at the size of one output file.
 */
#include "build.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "inatfs/catalog.h"
#include "schema.h"

/* Stored zlib-compressed: JSON shrinks ~8x, and the index stays small. */
static int put_blob(sqlite3 *db, const char *name, const ifs_buf *b, ifs_err *err)
{
	uLongf zlen = compressBound((uLong)b->len);
	Bytef *z = malloc(zlen);
	if (!z)
		return ifs_err_set(err, ENOMEM, "index: storing %s: out of memory", name);
	if (compress2(z, &zlen, (const Bytef *)(b->p ? b->p : ""), (uLong)b->len, 6) != Z_OK) {
		free(z);
		return ifs_err_set(err, EIO, "index: compressing %s failed", name);
	}
	sqlite3_stmt *st;
	int r = ifs_sql_prepare(db, "INSERT OR REPLACE INTO blobs VALUES(?1, ?2, ?3)", &st, err);
	if (!r) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)b->len);
		sqlite3_bind_blob64(st, 3, z, zlen, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			r = ifs_err_set(err, EIO, "index: storing %s: %s", name, sqlite3_errmsg(db));
		sqlite3_finalize(st);
	}
	free(z);
	return r;
}

/* Appends the rows of a query as a JSON array of what `emit` writes per row. */
typedef int (*row_fn)(ifs_buf *b, sqlite3_stmt *st);

static int json_array(sqlite3 *db, ifs_buf *b, const char *key, const char *sql, int split,
		      row_fn emit, ifs_err *err)
{
	sqlite3_stmt *st;
	int r = ifs_sql_prepare(db, sql, &st, err);
	if (r)
		return r;
	sqlite3_bind_int(st, 1, split);
	r = ifs_buf_addf(b, "\"%s\":[", key);
	int rc, first = 1;
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!first)
			r = ifs_buf_add(b, ",", 1);
		first = 0;
		if (!r)
			r = emit(b, st);
	}
	if (!r && rc != SQLITE_DONE)
		r = ifs_err_set(err, EIO, "index: %s", sqlite3_errmsg(db));
	else if (r < 0 && !(err && err->code))
		r = ifs_err_set(err, -r, "index: building a COCO file: out of memory");
	if (!r)
		r = ifs_buf_add(b, "]", 1);
	sqlite3_finalize(st);
	return r;
}

static int emit_image(ifs_buf *b, sqlite3_stmt *st)
{
	/* rid-independent: id, width, height, file_name, license, rights_holder */
	int r = ifs_buf_addf(b, "{\"id\":%lld,\"width\":%lld,\"height\":%lld,\"file_name\":",
			     (long long)sqlite3_column_int64(st, 0),
			     (long long)sqlite3_column_int64(st, 1),
			     (long long)sqlite3_column_int64(st, 2));
	if (!r) {
		const char *split = (const char *)sqlite3_column_text(st, 3);
		const char *dir = (const char *)sqlite3_column_text(st, 4);
		const char *name = (const char *)sqlite3_column_text(st, 5);
		size_t n = strlen(split) + strlen(dir) + strlen(name) + 3;
		char *fn = malloc(n);
		if (!fn)
			return -ENOMEM;
		snprintf(fn, n, "%s/%s/%s", split, dir, name);
		r = ifs_buf_json_str(b, fn);
		free(fn);
	}
	if (!r && sqlite3_column_type(st, 6) != SQLITE_NULL)
		r = ifs_buf_addf(b, ",\"license\":%lld", (long long)sqlite3_column_int64(st, 6));
	if (!r && sqlite3_column_type(st, 7) != SQLITE_NULL) {
		r = ifs_buf_add(b, ",\"rights_holder\":", 17);
		if (!r)
			r = ifs_buf_json_str(b, (const char *)sqlite3_column_text(st, 7));
	}
	return r ? r : ifs_buf_add(b, "}", 1);
}

static int emit_raw(ifs_buf *b, sqlite3_stmt *st)
{
	const char *json = (const char *)sqlite3_column_text(st, 0);
	return ifs_buf_add(b, json, strlen(json));
}

static int emit_category(ifs_buf *b, sqlite3_stmt *st)
{
	int r = ifs_buf_addf(b, "{\"id\":%lld,\"name\":", (long long)sqlite3_column_int64(st, 0));
	if (!r)
		r = ifs_buf_json_str(b, (const char *)sqlite3_column_text(st, 1));
	if (!r)
		r = ifs_buf_add(b, ",\"supercategory\":", 17);
	if (!r)
		r = ifs_buf_json_str(b, (const char *)sqlite3_column_text(st, 2));
	return r ? r : ifs_buf_add(b, "}", 1);
}

static int emit_license(ifs_buf *b, sqlite3_stmt *st)
{
	int r = ifs_buf_addf(b, "{\"id\":%lld,\"name\":", (long long)sqlite3_column_int64(st, 0));
	if (!r)
		r = ifs_buf_json_str(b, sqlite3_column_text(st, 1) ?
				     (const char *)sqlite3_column_text(st, 1) : "");
	if (!r)
		r = ifs_buf_add(b, ",\"url\":", 7);
	if (!r)
		r = ifs_buf_json_str(b, sqlite3_column_text(st, 2) ?
				     (const char *)sqlite3_column_text(st, 2) : "");
	return r ? r : ifs_buf_add(b, "}", 1);
}

static int coco(sqlite3 *db, int split, ifs_err *err)
{
	ifs_buf b = { 0 };
	int r = ifs_buf_add(&b, "{", 1);
	if (!r)
		r = json_array(db, &b, "images",
			"SELECT i.id, i.width, i.height, CASE i.split WHEN 0 THEN 'train' ELSE 'val' END,"
			" c.dir, i.name, i.license, i.rights_holder FROM images i JOIN categories c ON"
			" c.id=i.category WHERE i.split=?1 AND i.nboxes>0 AND i.node IS NOT NULL"
			" ORDER BY i.rid", split, emit_image, err);
	if (!r)
		r = ifs_buf_add(&b, ",", 1);
	if (!r)
		r = json_array(db, &b, "annotations",
			"SELECT b.json FROM boxes b JOIN images i ON i.rid=b.image WHERE i.split=?1"
			" AND i.node IS NOT NULL ORDER BY b.rowid", split, emit_raw, err);
	if (!r)
		r = ifs_buf_add(&b, ",", 1);
	if (!r)
		r = json_array(db, &b, "categories",
			"SELECT id, name, supercategory FROM categories WHERE ?1>=0 ORDER BY id",
			split, emit_category, err);
	if (!r)
		r = ifs_buf_add(&b, ",", 1);
	if (!r)
		r = json_array(db, &b, "licenses", "SELECT id, name, url FROM licenses WHERE ?1>=0"
			       " ORDER BY id", split, emit_license, err);
	if (!r)
		r = ifs_buf_add(&b, "}\n", 2);
	if (r < 0 && !(err && err->code))
		r = ifs_err_set(err, ENOMEM, "index: building a COCO file: out of memory");
	if (!r)
		r = put_blob(db, split == IFS_SPLIT_TRAIN ? "with-bbox/train.json" : "with-bbox/val.json",
			     &b, err);
	free(b.p);
	return r;
}

static int template_csv(sqlite3 *db, ifs_err *err)
{
	ifs_buf b = { 0 };
	sqlite3_stmt *st;
	int r = ifs_sql_prepare(db, "SELECT id FROM images WHERE split=2 ORDER BY rid", &st, err);
	if (r)
		return r;
	r = ifs_buf_add(&b, "id,predicted\n", 13);
	while (!r && sqlite3_step(st) == SQLITE_ROW)
		r = ifs_buf_addf(&b, "%lld,\n", (long long)sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	if (r < 0 && !(err && err->code))
		r = ifs_err_set(err, ENOMEM, "index: building the submission template: out of memory");
	if (!r)
		r = put_blob(db, "submission_template.csv", &b, err);
	free(b.p);
	return r;
}

int ifs_blobs_build(sqlite3 *db, ifs_err *err)
{
	int r = coco(db, IFS_SPLIT_TRAIN, err);
	if (!r)
		r = coco(db, IFS_SPLIT_VAL, err);
	if (!r)
		r = template_csv(db, err);
	return r;
}

/*
 * sidecar.c - the JSON sidecar of one image: everything the annotation
 * files say about it, in one object. Used at build time (to record each
 * sidecar's exact size) and when serving (to produce the bytes); both run
 * the same code on the same rows, so the size always matches the content.
 */
#include "inatfs/sidecar.h"

#include <errno.h>
#include <string.h>

#include "inatfs/catalog.h"
#include "../index/schema.h"

const char ifs_sql_sidecar_image[] =
	"SELECT i.id, " IFS_SQL_FILE_NAME("i") ", i.split, i.width, i.height, c.id, c.name, c.supercategory,"
	" l.id, l.name, l.url, i.rights_holder, i.extra, i.license"
	" FROM images i LEFT JOIN categories c ON c.id=i.category"
	" LEFT JOIN licenses l ON l.id=i.license WHERE i.rid=?1";
const char ifs_sql_sidecar_boxes[] = "SELECT json FROM boxes WHERE image=?1 ORDER BY rowid";
const char ifs_sql_sidecar_location[] = "SELECT json FROM locations WHERE image=?1";

static int add_str_or_null(ifs_buf *b, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return ifs_buf_adds(b, "null");
	return ifs_buf_json_str(b, (const char *)sqlite3_column_text(st, col));
}

int ifs_sidecar_build(const ifs_sidecar_stmts *q, int64_t rid, ifs_buf *b, ifs_err *err)
{
	sqlite3_stmt *st = q->image;
	int r = 0, rc;
	sqlite3_bind_int64(st, 1, rid);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return ifs_err_set(err, rc == SQLITE_DONE ? ENOENT : EIO,
				   "index: sidecar of image row %lld: %s", (long long)rid,
				   rc == SQLITE_DONE ? "no such image" : "query failed");
	}
	r = ifs_buf_addf(b, "{\"id\":%lld,\"file_name\":", (long long)sqlite3_column_int64(st, 0));
	if (!r)
		r = ifs_buf_json_str(b, (const char *)sqlite3_column_text(st, 1));
	if (!r)
		r = ifs_buf_addf(b, ",\"split\":\"%s\",\"width\":%lld,\"height\":%lld,\"category\":",
				 ifs_split_name(sqlite3_column_int(st, 2)),
				 (long long)sqlite3_column_int64(st, 3),
				 (long long)sqlite3_column_int64(st, 4));
	if (!r && sqlite3_column_type(st, 5) == SQLITE_NULL) {
		r = ifs_buf_adds(b, "null");
	} else if (!r) {
		r = ifs_buf_addf(b, "{\"id\":%lld,\"name\":", (long long)sqlite3_column_int64(st, 5));
		if (!r)
			r = add_str_or_null(b, st, 6);
		if (!r)
			r = ifs_buf_adds(b, ",\"supercategory\":");
		if (!r)
			r = add_str_or_null(b, st, 7);
		if (!r)
			r = ifs_buf_adds(b, "}");
	}
	if (!r)
		r = ifs_buf_adds(b, ",\"license\":");
	if (!r && sqlite3_column_type(st, 8) == SQLITE_NULL) {
		/* an id the licenses list does not define is still worth showing */
		if (sqlite3_column_type(st, 13) == SQLITE_NULL)
			r = ifs_buf_adds(b, "null");
		else
			r = ifs_buf_addf(b, "{\"id\":%lld,\"name\":null,\"url\":null}",
					 (long long)sqlite3_column_int64(st, 13));
	} else if (!r) {
		r = ifs_buf_addf(b, "{\"id\":%lld,\"name\":", (long long)sqlite3_column_int64(st, 8));
		if (!r)
			r = add_str_or_null(b, st, 9);
		if (!r)
			r = ifs_buf_adds(b, ",\"url\":");
		if (!r)
			r = add_str_or_null(b, st, 10);
		if (!r)
			r = ifs_buf_adds(b, "}");
	}
	if (!r)
		r = ifs_buf_adds(b, ",\"rights_holder\":");
	if (!r)
		r = add_str_or_null(b, st, 11);
	if (!r && sqlite3_column_type(st, 12) != SQLITE_NULL) {
		r = ifs_buf_adds(b, ",\"extra\":");
		if (!r)
			r = ifs_buf_adds(b, (const char *)sqlite3_column_text(st, 12));
	}
	sqlite3_reset(st);

	if (!r)
		r = ifs_buf_adds(b, ",\"bboxes\":[");
	st = q->boxes;
	sqlite3_bind_int64(st, 1, rid);
	for (int first = 1; !r && (rc = sqlite3_step(st)) == SQLITE_ROW; first = 0) {
		if (!first)
			r = ifs_buf_adds(b, ",");
		if (!r)
			r = ifs_buf_adds(b, (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_reset(st);
	if (!r)
		r = ifs_buf_adds(b, "],\"location\":");
	st = q->location;
	sqlite3_bind_int64(st, 1, rid);
	if (!r) {
		if (sqlite3_step(st) == SQLITE_ROW)
			r = ifs_buf_adds(b, (const char *)sqlite3_column_text(st, 0));
		else
			r = ifs_buf_adds(b, "null");
	}
	sqlite3_reset(st);
	if (!r)
		r = ifs_buf_adds(b, "}\n");
	if (r)
		return ifs_err_set(err, ENOMEM, "sidecar of image row %lld: out of memory",
				   (long long)rid);
	return 0;
}

/*
 * generated.c - the files inatfs makes from the tables: the COCO files of
 * the with-bbox/ view (file_name relative to with-bbox/) and
 * submission_template.csv (header plus one row per test image, in
 * test2017.json order). They are made when opened (a few seconds for the
 * real with-bbox/train.json), not stored: the build makes each once to
 * record its exact size in `generated`, which keeps their bytes out of
 * the index. The same code over the same (never changing) index
 * gives the same bytes; serving checks the size anyway.
 */
#include "build.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/catalog.h"
#include "schema.h"

const char *const ifs_generated_files[] = {
	"with-bbox/train.json", "with-bbox/val.json", "submission_template.csv", NULL
};

/* Appends the rows of a query as a JSON array of what `emit` writes per row. */
typedef int (*row_fn)(ifs_buf *b, sqlite3_stmt *st, void *ctx);

static int json_array(sqlite3 *db, ifs_buf *b, const char *key, const char *sql, int split,
		      row_fn emit, void *ctx, ifs_err *err)
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
			r = emit(b, st, ctx);
	}
	if (!r && rc != SQLITE_DONE)
		r = ifs_err_set(err, EIO, "index: %s", sqlite3_errmsg(db));
	else if (r < 0 && !(err && err->code))
		r = ifs_err_set(err, -r, "index: building a COCO file: %s",
				r == -ENOMEM ? "out of memory" : "damaged box record");
	if (!r)
		r = ifs_buf_add(b, "]", 1);
	sqlite3_finalize(st);
	return r;
}

static int emit_image(ifs_buf *b, sqlite3_stmt *st, void *ctx)
{
	(void)ctx;
	/* rid-independent: id, width, height, file_name, license, rights_holder */
	int r = ifs_buf_addf(b, "{\"id\":%lld,\"width\":%lld,\"height\":%lld,\"file_name\":",
			     (long long)sqlite3_column_int64(st, 0),
			     (long long)sqlite3_column_int64(st, 1),
			     (long long)sqlite3_column_int64(st, 2));
	if (!r) {
		const char *split = (const char *)sqlite3_column_text(st, 3);
		const char *dir = (const char *)sqlite3_column_text(st, 4);
		const char *name = (const char *)sqlite3_column_text(st, 5);
		if (!split || !dir || !ifs_index_name_ok(name))
			return -EIO;   /* a damaged index */
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
	if (!r && sqlite3_column_text(st, 7)) {
		r = ifs_buf_add(b, ",\"rights_holder\":", 17);
		if (!r)
			r = ifs_buf_json_str(b, (const char *)sqlite3_column_text(st, 7));
	}
	return r ? r : ifs_buf_add(b, "}", 1);
}

/* An image's packed box records (records.c), unpacked. */
static int emit_boxes(ifs_buf *b, sqlite3_stmt *st, void *ctx)
{
	return ifs_records_unpack(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
				  ctx, b, NULL);
}

static int emit_category(ifs_buf *b, sqlite3_stmt *st, void *ctx)
{
	(void)ctx;
	int r = ifs_buf_addf(b, "{\"id\":%lld,\"name\":", (long long)sqlite3_column_int64(st, 0));
	if (!r && (!sqlite3_column_text(st, 1) || !sqlite3_column_text(st, 2)))
		r = -EIO;   /* a damaged index (check.c refuses it at open) */
	if (!r)
		r = ifs_buf_json_str(b, (const char *)sqlite3_column_text(st, 1));
	if (!r)
		r = ifs_buf_add(b, ",\"supercategory\":", 17);
	if (!r)
		r = ifs_buf_json_str(b, (const char *)sqlite3_column_text(st, 2));
	return r ? r : ifs_buf_add(b, "}", 1);
}

static int emit_license(ifs_buf *b, sqlite3_stmt *st, void *ctx)
{
	(void)ctx;
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

/* The images the with-bbox views show: those in the tarball, and those a
 * damaged train/val tarball's scan never reached (listed, read as EIO). */
#define SHOWN "(i.node IS NOT NULL OR EXISTS(SELECT 1 FROM damage WHERE archive=1))"

static int coco(sqlite3 *db, int split, ifs_buf *out, ifs_err *err)
{
	ifs_buf b = { 0 };
	int r = ifs_buf_add(&b, "{", 1);
	if (!r)
		r = json_array(db, &b, "images",
			"SELECT i.id, i.width, i.height, CASE i.split WHEN 0 THEN 'train' ELSE 'val' END,"
			" c.dir, nm(i.name), i.license, h.name FROM images i JOIN categories c ON"
			" c.id=i.category LEFT JOIN holders h ON h.id=i.rights_holder WHERE i.split=?1 AND i.nboxes>0 AND " SHOWN
			" ORDER BY i.rid", split, emit_image, NULL, err);
	if (!r)
		r = ifs_buf_add(&b, ",", 1);
	/* annotations grouped by image, in image order; each image's in file order */
	struct ifs_shapes shapes = { 0 };
	if (!r)
		r = ifs_sql_prepare(db, ifs_sql_shape, &shapes.st, err);
	if (!r)
		r = json_array(db, &b, "annotations",
			"SELECT i.boxes FROM images i WHERE i.split=?1 AND i.nboxes>0"
			" AND " SHOWN " ORDER BY i.rid", split, emit_boxes, &shapes, err);
	sqlite3_finalize(shapes.st);
	ifs_shapes_done(&shapes);
	if (!r)
		r = ifs_buf_add(&b, ",", 1);
	if (!r)
		r = json_array(db, &b, "categories",
			"SELECT id, name, supercategory FROM categories WHERE ?1>=0 ORDER BY id",
			split, emit_category, NULL, err);
	if (!r)
		r = ifs_buf_add(&b, ",", 1);
	if (!r)
		r = json_array(db, &b, "licenses", "SELECT id, name, url FROM licenses WHERE ?1>=0"
			       " ORDER BY id", split, emit_license, NULL, err);
	if (!r)
		r = ifs_buf_add(&b, "}\n", 2);
	if (r < 0 && !(err && err->code))
		r = ifs_err_set(err, ENOMEM, "index: building a COCO file: out of memory");
	if (r)
		free(b.p);
	else
		*out = b;
	return r;
}

static int template_csv(sqlite3 *db, ifs_buf *out, ifs_err *err)
{
	ifs_buf b = { 0 };
	sqlite3_stmt *st;
	int r = ifs_sql_prepare(db, "SELECT id FROM images WHERE split=2 ORDER BY rid", &st, err);
	if (r)
		return r;
	r = ifs_buf_add(&b, "id,predicted\n", 13);
	int rc = SQLITE_DONE;
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = ifs_buf_addf(&b, "%lld,\n", (long long)sqlite3_column_int64(st, 0));
	if (!r && rc != SQLITE_DONE)
		r = ifs_err_set(err, EIO, "index: building the submission template: %s",
				sqlite3_errmsg(db));
	sqlite3_finalize(st);
	if (r < 0 && !(err && err->code))
		r = ifs_err_set(err, ENOMEM, "index: building the submission template: out of memory");
	if (r)
		free(b.p);
	else
		*out = b;
	return r;
}

int ifs_generate(sqlite3 *db, const char *name, ifs_buf *out, ifs_err *err)
{
	memset(out, 0, sizeof *out);
	if (!strcmp(name, "with-bbox/train.json"))
		return coco(db, IFS_SPLIT_TRAIN, out, err);
	if (!strcmp(name, "with-bbox/val.json"))
		return coco(db, IFS_SPLIT_VAL, out, err);
	if (!strcmp(name, "submission_template.csv"))
		return template_csv(db, out, err);
	return ifs_err_set(err, ENOENT, "index: no generated file %s", name);
}

int ifs_generated_record(sqlite3 *db, ifs_err *err)
{
	sqlite3_stmt *st;
	int r = ifs_sql_prepare(db, "INSERT OR REPLACE INTO generated VALUES(?1, ?2)", &st, err);
	for (const char *const *n = ifs_generated_files; *n && !r; n++) {
		ifs_buf b;
		if ((r = ifs_generate(db, *n, &b, err)))
			break;
		sqlite3_bind_text(st, 1, *n, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)b.len);
		free(b.p);
		r = ifs_sql_step_done(db, st, "recording a generated file", err);
	}
	sqlite3_finalize(st);
	return r;
}

int ifs_index_generate(ifs_index *idx, const char *name, uint8_t **data, size_t *len,
		       ifs_err *err)
{
	*data = NULL;
	*len = 0;
	sqlite3 *db = ifs_index_db(idx, err);
	if (!db)
		return -EIO;
	ifs_buf b;
	/* one read transaction: every query sees the same index */
	int r = ifs_sql_exec(db, "BEGIN", "generating a file", err);
	if (r)
		return r;
	r = ifs_generate(db, name, &b, err);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (r)
		return r;
	*data = (uint8_t *)b.p;
	*len = b.len;
	return 0;
}

static const char q_generated_size[] = "SELECT size FROM generated WHERE name=?1";

int ifs_index_generated_size(ifs_index *idx, const char *name, uint64_t *size, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_generated_size, err);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*size = (uint64_t)sqlite3_column_int64(st, 0);
	int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

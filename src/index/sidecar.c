/*
 * sidecar.c - the JSON sidecar of one image (see sidecar.h): the formatter,
 * and filling its record from the index when serving (ifs_index_sidecar,
 * index_query.h).
 */
#include "inatfs/sidecar.h"
#include "inatfs/index_query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/catalog.h"
#include "schema.h"

static const char q_sidecar_image[] =
	"SELECT i.id, " IFS_SQL_FILE_NAME("i") ", i.split, i.width, i.height, c.id, c.name,"
	" c.supercategory, l.id, l.name, l.url, h.name, i.extra, i.license, i.boxes,"
	" i.location FROM images i LEFT JOIN categories c ON c.id=i.category"
	" LEFT JOIN licenses l ON l.id=i.license LEFT JOIN holders h ON h.id=i.rights_holder"
	" WHERE i.rid=?1";

static int str_or_null(ifs_buf *b, const char *s)
{
	return s ? ifs_buf_json_str(b, s) : ifs_buf_adds(b, "null");
}

int ifs_sidecar_format(const ifs_sidecar_rec *x, ifs_buf *b)
{
	int r = ifs_buf_addf(b, "{\"id\":%lld,\"file_name\":", (long long)x->id);
	if (!r)
		r = ifs_buf_json_str(b, x->file_name ? x->file_name : "");
	if (!r)
		r = ifs_buf_addf(b, ",\"split\":\"%s\",\"width\":%lld,\"height\":%lld,\"category\":",
				 ifs_split_name(x->split), (long long)x->width, (long long)x->height);
	if (!r && !x->has_category) {
		r = ifs_buf_adds(b, "null");
	} else if (!r) {
		r = ifs_buf_addf(b, "{\"id\":%lld,\"name\":", (long long)x->category_id);
		if (!r)
			r = str_or_null(b, x->category_name);
		if (!r)
			r = ifs_buf_adds(b, ",\"supercategory\":");
		if (!r)
			r = str_or_null(b, x->supercategory);
		if (!r)
			r = ifs_buf_adds(b, "}");
	}
	if (!r)
		r = ifs_buf_adds(b, ",\"license\":");
	if (!r && !x->has_license) {
		r = ifs_buf_adds(b, "null");
	} else if (!r) {
		/* an id the licenses list does not define is still worth showing */
		r = ifs_buf_addf(b, "{\"id\":%lld,\"name\":", (long long)x->license_id);
		if (!r)
			r = str_or_null(b, x->license_known ? x->license_name : NULL);
		if (!r)
			r = ifs_buf_adds(b, ",\"url\":");
		if (!r)
			r = str_or_null(b, x->license_known ? x->license_url : NULL);
		if (!r)
			r = ifs_buf_adds(b, "}");
	}
	if (!r)
		r = ifs_buf_adds(b, ",\"rights_holder\":");
	if (!r)
		r = str_or_null(b, x->rights_holder);
	if (!r && x->extra) {
		r = ifs_buf_adds(b, ",\"extra\":");
		if (!r)
			r = ifs_buf_adds(b, x->extra);
	}
	if (!r)
		r = ifs_buf_adds(b, ",\"bboxes\":[");
	for (size_t i = 0; !r && i < x->nboxes; i++) {
		if (i)
			r = ifs_buf_adds(b, ",");
		if (!r)
			r = ifs_buf_adds(b, x->boxes[i]);
	}
	if (!r)
		r = ifs_buf_adds(b, "],\"location\":");
	if (!r)
		r = ifs_buf_adds(b, x->location ? x->location : "null");
	if (!r)
		r = ifs_buf_adds(b, "}\n");
	return r;
}

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int ifs_index_sidecar(ifs_index *idx, int64_t rid, ifs_buf *b, ifs_err *err)
{
	/* both from the cache, which holds far more than the module's queries */
	sqlite3_stmt *im = ifs_index_stmt(idx, q_sidecar_image, err);
	sqlite3_stmt *shape = im ? ifs_index_stmt(idx, ifs_sql_shape, err) : NULL;
	if (!im || !shape)
		return -EIO;
	struct ifs_shapes shapes = { .st = shape };
	ifs_buf boxes = { 0 }, loc = { 0 };
	size_t nboxes = 0;
	int r = 0, rc;
	sqlite3_bind_int64(im, 1, rid);
	if ((rc = sqlite3_step(im)) != SQLITE_ROW) {
		r = ifs_err_set(err, rc == SQLITE_DONE ? ENOENT : EIO,
				"index: sidecar of image row %lld: %s", (long long)rid,
				rc == SQLITE_DONE ? "no such image" : "query failed");
		goto out;
	}
	/* the boxes, unpacked already joined by commas: one "record" for the formatter */
	r = ifs_records_unpack(sqlite3_column_blob(im, 14), (size_t)sqlite3_column_bytes(im, 14),
			       &shapes, &boxes, &nboxes);
	if (!r && sqlite3_column_type(im, 15) != SQLITE_NULL)
		r = ifs_records_unpack(sqlite3_column_blob(im, 15),
				       (size_t)sqlite3_column_bytes(im, 15), &shapes, &loc, NULL);
	if (r == -ENOMEM)
		goto nomem;
	if (r) {
		r = ifs_err_set(err, EIO, "index: sidecar of image row %lld: damaged box or location"
				" record", (long long)rid);
		goto out;
	}
	const char *joined = boxes.p;
	ifs_sidecar_rec x = {
		.id = sqlite3_column_int64(im, 0),
		.file_name = col(im, 1),
		.split = sqlite3_column_int(im, 2),
		.width = sqlite3_column_int64(im, 3),
		.height = sqlite3_column_int64(im, 4),
		.has_category = sqlite3_column_type(im, 5) != SQLITE_NULL,
		.category_id = sqlite3_column_int64(im, 5),
		.category_name = col(im, 6),
		.supercategory = col(im, 7),
		.has_license = sqlite3_column_type(im, 13) != SQLITE_NULL,
		.license_id = sqlite3_column_int64(im, 13),
		.license_known = sqlite3_column_type(im, 8) != SQLITE_NULL,
		.license_name = col(im, 9),
		.license_url = col(im, 10),
		.rights_holder = col(im, 11),
		.extra = col(im, 12),
		.boxes = &joined,
		.nboxes = nboxes ? 1 : 0,
		.location = loc.len ? loc.p : NULL,
	};
	if (ifs_sidecar_format(&x, b) < 0)
		goto nomem;
	goto out;
nomem:
	r = ifs_err_set(err, ENOMEM, "sidecar of image row %lld: out of memory", (long long)rid);
out:
	free(boxes.p);
	free(loc.p);
	ifs_shapes_done(&shapes);
	sqlite3_reset(im);
	return r;
}

/*
 * query_truth.c - the ground truth of a split (score.h) from the index:
 * every category with its supercategory, every image of the split with its
 * category, checked as they are read (an index is input too).
 */
#include "inatfs/index_query.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "inatfs/catalog.h"
#include "schema.h"

static const char q_cats[] = "SELECT id, supercategory FROM categories ORDER BY id";
static const char q_imgs[] = "SELECT id, category FROM images WHERE split=?1 ORDER BY rid";

int ifs_truth_load(sqlite3 *db, int split, ifs_truth **out, ifs_err *err)
{
	ifs_truth *t = NULL;
	sqlite3_stmt *st = NULL;
	int r, rc;
	*out = NULL;
	if (split < IFS_SPLIT_TRAIN || split > IFS_SPLIT_TEST)
		return ifs_err_set(err, EINVAL, "ground truth: no split %d", split);
	if ((r = ifs_truth_new(&t, err)) < 0)
		return r;
	ifs_truth_set_split(t, split);

	if (sqlite3_prepare_v2(db, q_cats, -1, &st, NULL) != SQLITE_OK) {
		r = ifs_err_set(err, EIO, "index: cannot list categories: %s", sqlite3_errmsg(db));
		goto fail;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sup = (const char *)sqlite3_column_text(st, 1);
		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || !sup ||
		    sqlite3_column_int64(st, 0) < 0 ||
		    sqlite3_column_int64(st, 0) > IFS_CATEGORY_ID_MAX) {
			r = ifs_err_set(err, EIO, "index: a categories row has a bad id or supercategory");
			goto fail;
		}
		if ((r = ifs_truth_add_category(t, sqlite3_column_int64(st, 0), sup, err)) < 0)
			goto fail;
	}
	if (rc != SQLITE_DONE) {
		r = ifs_err_set(err, EIO, "index: reading categories: %s", sqlite3_errmsg(db));
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;

	if (sqlite3_prepare_v2(db, q_imgs, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int(st, 1, split) != SQLITE_OK) {
		r = ifs_err_set(err, EIO, "index: cannot list images: %s", sqlite3_errmsg(db));
		goto fail;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
		    sqlite3_column_type(st, 1) != SQLITE_INTEGER) {
			r = ifs_err_set(err, EIO, "index: an images row has a bad id or category");
			goto fail;
		}
		int64_t cat = sqlite3_column_int64(st, 1);
		if (cat < -1 || cat > IFS_CATEGORY_ID_MAX) {
			r = ifs_err_set(err, EIO, "index: image %lld has category %lld, out of range",
					(long long)sqlite3_column_int64(st, 0), (long long)cat);
			goto fail;
		}
		if ((r = ifs_truth_add(t, sqlite3_column_int64(st, 0), cat, err)) < 0)
			goto fail;
	}
	if (rc != SQLITE_DONE) {
		r = ifs_err_set(err, EIO, "index: reading images: %s", sqlite3_errmsg(db));
		goto fail;
	}
	sqlite3_finalize(st);
	*out = t;
	return 0;
fail:
	sqlite3_finalize(st);
	ifs_truth_free(t);
	return r;
}

int ifs_index_truth(ifs_index *idx, int split, ifs_truth **out, ifs_err *err)
{
	*out = NULL;
	sqlite3 *db = ifs_index_db(idx, err);
	return db ? ifs_truth_load(db, split, out, err) : -EIO;
}

/*
 * truth.c - the ground truth of one split: plain growing arrays of
 * (image id, category) and (category id, supercategory), filled in memory
 * or from the index database. No lookups here: score.c sorts what it needs
 * for each file it checks (and finds duplicates and unknown categories
 * there). Limits: memory only (about 16 bytes per image).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "inatfs/catalog.h"
#include "inatfs/score.h"
#include "score_int.h"

int ifs_truth_new(ifs_truth **out, ifs_err *err)
{
	*out = calloc(1, sizeof **out);
	if (!*out)
		return ifs_err_set(err, ENOMEM, "ground truth: out of memory");
	(*out)->split = -1;
	return 0;
}

void ifs_truth_free(ifs_truth *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ncat; i++)
		free(t->cat[i].super);
	free(t->cat);
	free(t->img);
	free(t);
}

/* Makes room for one more element of size `size` in *arr (capacity *cap). */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap : 64;
	while (ncap <= n) {
		if (ncap > SIZE_MAX / 2 / size)
			return -ENOMEM;
		ncap *= 2;
	}
	void *p = realloc(*arr, ncap * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int ifs_truth_add_category(ifs_truth *t, int64_t category, const char *supercategory,
			   ifs_err *err)
{
	if (!supercategory)
		return ifs_err_set(err, EINVAL, "ground truth: category %lld has no supercategory",
				   (long long)category);
	if (grow((void **)&t->cat, &t->capcat, t->ncat, sizeof *t->cat) < 0)
		return ifs_err_set(err, ENOMEM, "ground truth: out of memory");
	char *s = strdup(supercategory);
	if (!s)
		return ifs_err_set(err, ENOMEM, "ground truth: out of memory");
	t->cat[t->ncat].id = category;
	t->cat[t->ncat].super = s;
	t->ncat++;
	return 0;
}

int ifs_truth_add(ifs_truth *t, int64_t image_id, int64_t category, ifs_err *err)
{
	if (grow((void **)&t->img, &t->capimg, t->nimg, sizeof *t->img) < 0)
		return ifs_err_set(err, ENOMEM, "ground truth: out of memory");
	t->img[t->nimg].id = image_id;
	t->img[t->nimg].cat = category;
	t->nimg++;
	if (category < 0)
		t->unlabeled++;
	return 0;
}

size_t ifs_truth_count(const ifs_truth *t)
{
	return t->nimg;
}

size_t ifs_truth_ncategories(const ifs_truth *t)
{
	return t->ncat;
}

int ifs_truth_labeled(const ifs_truth *t)
{
	return t->unlabeled == 0;
}

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
	t->split = split;

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

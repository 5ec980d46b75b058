/*
 * truth.c - the ground truth of one split: plain growing arrays of
 * (image id, category) and (category id, supercategory), filled in memory
 * or from the index (ifs_index_truth). No lookups here: score.c sorts what
 * it needs for each file it checks (and finds duplicates and unknown
 * categories there). Limits: memory only (about 16 bytes per image).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

void ifs_truth_set_split(ifs_truth *t, int split)
{
	t->split = split;
}

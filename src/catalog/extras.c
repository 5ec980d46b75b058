/*
 * extras.c - the side files that hang off the train/val images: bounding
 * boxes (*_bboxes.json, COCO "annotations" with bbox [x, y, w, h]) and
 * locations (*_locations.json, an array of objects keyed by image "id").
 *
 * Both keep each record whole as compact JSON (unknown keys included) and
 * check only what the index relies on. A box must name an image of its split
 * and a known category; a location whose image is not in its split is
 * counted in nlocs_skipped and dropped. The "images"/"categories" arrays of a
 * bbox file are not read.
 */
#include "catalog_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nomem(const ifs_jctx *jc)
{
	return ifs_err_set(jc->err, ENOMEM, "%s: %s: out of memory", jc->zip, jc->entry);
}

static int read_bbox(const ifs_jctx *jc, ifs_jwhere w, const cJSON *v, ifs_box *b)
{
	double xywh[4];
	const cJSON *e;
	size_t n = 0;
	char key[16];

	if (!v)
		return ifs_jfail(jc, w, "bbox", "missing");
	if (!cJSON_IsArray(v))
		return ifs_jfail(jc, w, "bbox", "expected an array of 4 numbers, got %s",
				 ifs_jtype(v));
	cJSON_ArrayForEach(e, v) {
		if (n == 4)
			return ifs_jfail(jc, w, "bbox", "more than 4 numbers");
		snprintf(key, sizeof key, "bbox[%zu]", n);
		int r = ifs_jnum(jc, w, key, e, &xywh[n]);
		if (r < 0)
			return r;
		n++;
	}
	if (n != 4)
		return ifs_jfail(jc, w, "bbox", "expected 4 numbers, got %zu", n);
	b->x = xywh[0];
	b->y = xywh[1];
	b->w = xywh[2];
	b->h = xywh[3];
	return 0;
}

static int boxes(ifs_cload *L, const ifs_jctx *jc, const ifs_jdoc *d, int split)
{
	static const char *const keys[] = { "id", "image_id", "category_id", "bbox" };
	ifs_catalog *c = L->c;
	const cJSON *it, *v[4];
	ifs_jarr arr;
	ifs_jiter ji;
	ifs_cidmap seen = { 0 };
	size_t i = 0, old, idx;
	int r = ifs_jtop_array(jc, d, "annotations", 1, &arr);

	if (r < 0)
		return r;
	ifs_jiter_init(&ji, jc, &arr);
	while ((r = ifs_jiter_next(&ji, &it)) > 0) {
		ifs_jwhere w = { "annotations", i };
		ifs_box b = { 0 };
		b.split = split;
		if ((r = ifs_jpick(jc, w, it, keys, 4, v, NULL)) < 0 ||
		    (r = ifs_jint(jc, w, "id", v[0], &b.id)) < 0 ||
		    (r = ifs_jint(jc, w, "image_id", v[1], &b.image_id)) < 0 ||
		    (r = ifs_jint(jc, w, "category_id", v[2], &b.category_id)) < 0 ||
		    (r = read_bbox(jc, w, v[3], &b)) < 0)
			goto out;
		r = ifs_cidmap_put(&seen, b.id, i, &old);
		if (r < 0) {
			r = nomem(jc);
			goto out;
		}
		if (r == 1) {
			r = ifs_jfail(jc, w, "id", "duplicate box id %lld (also annotations[%zu])",
				      (long long)b.id, old);
			goto out;
		}
		if (!ifs_cidmap_get(&L->tv_ids, b.image_id, &idx) || c->imgs[idx].split != split) {
			r = ifs_jfail(jc, w, "image_id", "no %s image with id %lld",
				      ifs_split_name(split), (long long)b.image_id);
			goto out;
		}
		if (!ifs_cidmap_get(&L->cat_ids, b.category_id, &old)) {
			r = ifs_jfail(jc, w, "category_id", "no category with id %lld",
				      (long long)b.category_id);
			goto out;
		}
		r = ifs_cat_grow((void **)&c->boxes, &L->cap_boxes, c->nboxes + 1, sizeof b, L->err);
		if (r < 0)
			goto out;
		if ((r = ifs_jcompact_src(jc, w, &ji, it, &b.json)) < 0)
			goto out;
		c->boxes[c->nboxes++] = b;
		i++;
	}
out:
	ifs_jiter_end(&ji);
	ifs_cidmap_free(&seen);
	return r;
}

static int locations(ifs_cload *L, const ifs_jctx *jc, const ifs_jdoc *d, int split)
{
	static const char *const keys[] = { "id", "lat", "lon" };
	ifs_catalog *c = L->c;
	const cJSON *it, *v[3];
	ifs_jarr arr;
	ifs_jiter ji;
	ifs_cidmap seen = { 0 };
	size_t i = 0, old, idx;
	int64_t id;
	double num;
	int r = 0;

	if (!cJSON_IsArray(d->root))
		return ifs_jfail(jc, IFS_JTOP, NULL, "expected a JSON array at the top level, got %s",
				 ifs_jtype(d->root));
	ifs_jdoc_arr(d, d->root, &arr);
	ifs_jiter_init(&ji, jc, &arr);
	while ((r = ifs_jiter_next(&ji, &it)) > 0) {
		ifs_jwhere w = { "", i }; /* prints as "[17].lat" */
		if ((r = ifs_jpick(jc, w, it, keys, 3, v, NULL)) < 0 ||
		    (r = ifs_jint(jc, w, "id", v[0], &id)) < 0)
			goto out;
		for (size_t k = 1; k < 3; k++) {
			if (v[k] && !cJSON_IsNull(v[k]) && (r = ifs_jnum(jc, w, keys[k], v[k], &num)) < 0)
				goto out;
		}
		r = ifs_cidmap_put(&seen, id, i, &old);
		if (r < 0) {
			r = nomem(jc);
			goto out;
		}
		if (r == 1) {
			r = ifs_jfail(jc, w, "id", "duplicate location for image %lld (also [%zu])",
				      (long long)id, old);
			goto out;
		}
		i++;
		if (!ifs_cidmap_get(&L->tv_ids, id, &idx) || c->imgs[idx].split != split) {
			c->nlocs_skipped++;
			continue;
		}
		r = ifs_cat_grow((void **)&c->locs, &L->cap_locs, c->nlocs + 1, sizeof *c->locs,
				 L->err);
		if (r < 0)
			goto out;
		ifs_location *loc = &c->locs[c->nlocs];
		loc->image_id = id;
		loc->split = split;
		if ((r = ifs_jcompact_src(jc, w, &ji, it, &loc->json)) < 0)
			goto out;
		c->nlocs++;
	}
out:
	ifs_jiter_end(&ji);
	ifs_cidmap_free(&seen);
	return r;
}

typedef int (*conv_fn)(ifs_cload *L, const ifs_jctx *jc, const ifs_jdoc *d, int split);

static int load(ifs_cload *L, const char *zip_path, const char *name, int split, conv_fn conv)
{
	ifs_jdoc doc;
	char *entry = NULL;
	int r = ifs_cload_json(L, zip_path, name, &entry, &doc);

	if (r == 0) {
		ifs_jctx jc = { zip_path, entry, L->err };
		r = conv(L, &jc, &doc, split);
	}
	ifs_jdoc_free(&doc);
	free(entry);
	return r;
}

int ifs_cload_boxes(ifs_cload *L, const char *zip_path, const char *name, int split)
{
	return load(L, zip_path, name, split, boxes);
}

int ifs_cload_locations(ifs_cload *L, const char *zip_path, const char *name, int split)
{
	return load(L, zip_path, name, split, locations);
}

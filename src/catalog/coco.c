/*
 * coco.c - train2017.json, val2017.json and test2017.json: images, their
 * categories (joined from "annotations" on image_id, never by position),
 * the category list, licenses and info.
 *
 * The first file loaded (train2017.json) defines the categories; later ones
 * must carry the same list (test2017.json may carry none). Licenses from all
 * files are merged; one id must mean one license. Image ids are unique across
 * train and val, and separately within test.
 */
#include "catalog_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int streq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int load_info(ifs_cload *L, const ifs_jctx *jc, const ifs_jdoc *d, int split)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(d->root, "info");
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v))
		return ifs_jfail(jc, IFS_JTOP, "info", "expected an object, got %s", ifs_jtype(v));
	return ifs_jcompact(jc, IFS_JTOP, v, &L->c->info[split]);
}

static int load_licenses(ifs_cload *L, const ifs_jctx *jc, const ifs_jdoc *d)
{
	static const char *const keys[] = { "id", "name", "url" };
	const cJSON *it, *v[3];
	ifs_jarr arr;
	ifs_jiter ji;
	ifs_cidmap seen = { 0 };
	ifs_license lic = { 0 };
	size_t i = 0, old;
	int r = ifs_jtop_array(jc, d, "licenses", 0, &arr);

	if (r < 0 || !arr.present)
		return r;
	ifs_jiter_init(&ji, jc, &arr);
	while ((r = ifs_jiter_next(&ji, &it)) > 0) {
		ifs_jwhere w = { "licenses", i };
		if ((r = ifs_jpick(jc, w, it, keys, 3, v, NULL)) < 0 ||
		    (r = ifs_jint(jc, w, "id", v[0], &lic.id)) < 0 ||
		    (r = ifs_jstr_opt(jc, w, "name", v[1], &lic.name)) < 0 ||
		    (r = ifs_jstr_opt(jc, w, "url", v[2], &lic.url)) < 0)
			goto out;
		r = ifs_cidmap_put(&seen, lic.id, i, &old);
		if (r == 1) {
			r = ifs_jfail(jc, w, "id", "duplicate license id %lld (also licenses[%zu])",
				      (long long)lic.id, old);
			goto out;
		}
		if (r < 0)
			goto nomem;
		if (ifs_cidmap_get(&L->lic_ids, lic.id, &old)) {
			const ifs_license *o = &L->c->lics[old];
			if (!streq(o->name, lic.name) || !streq(o->url, lic.url)) {
				r = ifs_jfail(jc, w, NULL,
					      "license %lld differs from the one in an earlier file",
					      (long long)lic.id);
				goto out;
			}
			free(lic.name);
			free(lic.url);
		} else {
			r = ifs_cat_grow((void **)&L->c->lics, &L->cap_lics, L->c->nlics + 1,
					 sizeof lic, L->err);
			if (r < 0)
				goto out;
			if (ifs_cidmap_put(&L->lic_ids, lic.id, L->c->nlics, NULL) < 0)
				goto nomem;
			L->c->lics[L->c->nlics++] = lic;
		}
		memset(&lic, 0, sizeof lic);
		i++;
	}
	goto out;
nomem:
	r = ifs_err_set(L->err, ENOMEM, "%s: %s: out of memory", jc->zip, jc->entry);
out:
	ifs_jiter_end(&ji);
	free(lic.name);
	free(lic.url);
	ifs_cidmap_free(&seen);
	return r;
}

/* Reads categories[i] into *cat (strings malloc'd). */
static int read_cat(const ifs_jctx *jc, const cJSON *it, size_t i, ifs_category *cat)
{
	static const char *const keys[] = { "id", "name", "supercategory" };
	const cJSON *v[3];
	ifs_jwhere w = { "categories", i };
	int r;

	memset(cat, 0, sizeof *cat);
	if ((r = ifs_jpick(jc, w, it, keys, 3, v, NULL)) < 0 ||
	    (r = ifs_jint(jc, w, "id", v[0], &cat->id)) < 0 ||
	    (r = ifs_jstr(jc, w, "name", v[1], &cat->name)) < 0 ||
	    (r = ifs_jstr(jc, w, "supercategory", v[2], &cat->supercategory)) < 0 ||
	    /* folder inode numbers hold a category id in 32 bits
	     * (src/views/inode.h), and -1 marks an unlabeled image */
	    ((cat->id < 0 || cat->id > IFS_CATEGORY_ID_MAX) &&
	     (r = ifs_jfail(jc, w, "id", "category id %lld is out of range (0 to %lld)",
			    (long long)cat->id, (long long)IFS_CATEGORY_ID_MAX)) < 0)) {
		free(cat->name);
		free(cat->supercategory);
		memset(cat, 0, sizeof *cat);
	}
	return r;
}

static int load_categories(ifs_cload *L, const ifs_jctx *jc, const ifs_jdoc *d, int split)
{
	ifs_catalog *c = L->c;
	const cJSON *it;
	ifs_jarr arr;
	ifs_jiter ji;
	ifs_category cat = { 0 };
	uint8_t *seen = NULL;
	size_t i = 0, old;
	int defining = L->cats_from == NULL;
	int r = ifs_jtop_array(jc, d, "categories", split != IFS_SPLIT_TEST, &arr);

	if (r < 0)
		return r;
	/* The test file adds nothing; it may leave the list out. */
	if (!arr.present || (split == IFS_SPLIT_TEST && ifs_jarr_empty(&arr)))
		return 0;
	ifs_jiter_init(&ji, jc, &arr);
	if (!defining && !(seen = calloc(c->ncats + 1, 1)))
		goto nomem;
	while ((r = ifs_jiter_next(&ji, &it)) > 0) {
		ifs_jwhere w = { "categories", i };
		if ((r = read_cat(jc, it, i, &cat)) < 0)
			goto out;
		if (defining) {
			r = ifs_cat_grow((void **)&c->cats, &L->cap_cats, c->ncats + 1, sizeof cat,
					 L->err);
			if (r < 0)
				goto out;
			r = ifs_cidmap_put(&L->cat_ids, cat.id, c->ncats, &old);
			if (r == 1) {
				r = ifs_jfail(jc, w, "id", "duplicate category id %lld (also categories[%zu])",
					      (long long)cat.id, old);
				goto out;
			}
			if (r < 0)
				goto nomem;
			c->cats[c->ncats++] = cat;
			memset(&cat, 0, sizeof cat);
		} else {
			if (!ifs_cidmap_get(&L->cat_ids, cat.id, &old)) {
				r = ifs_jfail(jc, w, "id", "category %lld is not in %s",
					      (long long)cat.id, L->cats_from);
				goto out;
			}
			if (seen[old]) {
				r = ifs_jfail(jc, w, "id", "duplicate category id %lld",
					      (long long)cat.id);
				goto out;
			}
			seen[old] = 1;
			const ifs_category *o = &c->cats[old];
			if (strcmp(o->name, cat.name) != 0 ||
			    strcmp(o->supercategory, cat.supercategory) != 0) {
				r = ifs_jfail(jc, w, NULL,
					      "category %lld is \"%s\" (%s) here but \"%s\" (%s) in %s",
					      (long long)cat.id, cat.name, cat.supercategory, o->name,
					      o->supercategory, L->cats_from);
				goto out;
			}
			free(cat.name);
			free(cat.supercategory);
			memset(&cat, 0, sizeof cat);
		}
		i++;
	}
	if (r < 0)
		goto out;
	if (!defining && i != c->ncats) {
		r = ifs_jfail(jc, IFS_JTOP, "categories", "%zu categories here, %zu in %s", i,
			      c->ncats, L->cats_from);
		goto out;
	}
	if (defining && !(L->cats_from = strdup(jc->entry)))
		goto nomem;
	r = 0;
	goto out;
nomem:
	r = ifs_err_set(L->err, ENOMEM, "%s: %s: out of memory", jc->zip, jc->entry);
out:
	ifs_jiter_end(&ji);
	free(cat.name);
	free(cat.supercategory);
	free(seen);
	return r;
}

static const char *const img_keys[] = { "id", "width", "height", "file_name", "license",
					"rights_holder" };
#define NIMG_KEYS (sizeof img_keys / sizeof img_keys[0])

/* Unknown members of an image, as a compact object. */
static int image_extra(const ifs_jctx *jc, const cJSON *it, char **out)
{
	cJSON *o = cJSON_CreateObject();
	const cJSON *m;
	int r = 0;

	if (!o)
		goto nomem;
	cJSON_ArrayForEach(m, it) {
		size_t k = 0;
		if (!m->string)
			continue;
		while (k < NIMG_KEYS && strcmp(m->string, img_keys[k]) != 0)
			k++;
		if (k < NIMG_KEYS)
			continue;
		cJSON *d = cJSON_Duplicate(m, 1);
		if (!d || !cJSON_AddItemToObject(o, m->string, d)) {
			cJSON_Delete(d);
			goto nomem;
		}
	}
	r = ifs_jcompact(jc, IFS_JTOP, o, out);
	cJSON_Delete(o);
	return r;
nomem:
	cJSON_Delete(o);
	return ifs_err_set(jc->err, ENOMEM, "%s: %s: out of memory", jc->zip, jc->entry);
}

static int load_images(ifs_cload *L, const ifs_jctx *jc, const ifs_jdoc *d, int split,
		       ifs_cidmap *ids)
{
	ifs_catalog *c = L->c;
	const cJSON *it, *v[NIMG_KEYS];
	ifs_jarr arr;
	ifs_jiter ji;
	size_t i = 0, old, nunknown, base = c->nimgs;
	int r = ifs_jtop_array(jc, d, "images", 1, &arr);

	if (r < 0)
		return r;
	ifs_jiter_init(&ji, jc, &arr);
	while ((r = ifs_jiter_next(&ji, &it)) > 0) {
		ifs_jwhere w = { "images", i };
		r = ifs_cat_grow((void **)&c->imgs, &L->cap_imgs, c->nimgs + 1, sizeof *c->imgs,
				 L->err);
		if (r < 0)
			goto out;
		/* Counted at once: on failure ifs_catalog_free frees what was set. */
		ifs_image *im = &c->imgs[c->nimgs++];
		memset(im, 0, sizeof *im);
		im->split = split;
		im->category_id = -1;
		if ((r = ifs_jpick(jc, w, it, img_keys, NIMG_KEYS, v, &nunknown)) < 0 ||
		    (r = ifs_jint(jc, w, "id", v[0], &im->id)) < 0 ||
		    (r = ifs_jint(jc, w, "width", v[1], &im->width)) < 0 ||
		    (r = ifs_jint(jc, w, "height", v[2], &im->height)) < 0 ||
		    (r = ifs_jstr(jc, w, "file_name", v[3], &im->file_name)) < 0 ||
		    (r = ifs_jint_opt(jc, w, "license", v[4], -1, &im->license)) < 0 ||
		    (r = ifs_jstr_opt(jc, w, "rights_holder", v[5], &im->rights_holder)) < 0)
			goto out;
		if (im->width <= 0) {
			r = ifs_jfail(jc, w, "width", "expected a positive integer, got %lld",
				      (long long)im->width);
			goto out;
		}
		if (im->height <= 0) {
			r = ifs_jfail(jc, w, "height", "expected a positive integer, got %lld",
				      (long long)im->height);
			goto out;
		}
		if (nunknown && (r = image_extra(jc, it, &im->extra)) < 0)
			goto out;
		r = ifs_cidmap_put(ids, im->id, c->nimgs - 1, &old);
		if (r < 0) {
			r = ifs_err_set(L->err, ENOMEM, "%s: %s: out of memory", jc->zip, jc->entry);
			goto out;
		}
		if (r == 1) {
			if (c->imgs[old].split != split)
				r = ifs_jfail(jc, w, "id", "image id %lld is also in the %s split",
					      (long long)im->id, ifs_split_name(c->imgs[old].split));
			else
				r = ifs_jfail(jc, w, "id", "duplicate image id %lld (also images[%zu])",
					      (long long)im->id, old - base);
			goto out;
		}
		i++;
	}
out:
	ifs_jiter_end(&ji);
	return r;
}

static int load_annotations(ifs_cload *L, const ifs_jctx *jc, const ifs_jdoc *d, int split)
{
	static const char *const keys[] = { "id", "image_id", "category_id" };
	ifs_catalog *c = L->c;
	const cJSON *it, *v[3];
	ifs_jarr arr;
	ifs_jiter ji;
	ifs_cidmap seen = { 0 };
	size_t i = 0, old, idx;
	int64_t id, image_id, cat_id;
	int r = ifs_jtop_array(jc, d, "annotations", 1, &arr);

	if (r < 0)
		return r;
	ifs_jiter_init(&ji, jc, &arr);
	while ((r = ifs_jiter_next(&ji, &it)) > 0) {
		ifs_jwhere w = { "annotations", i };
		if ((r = ifs_jpick(jc, w, it, keys, 3, v, NULL)) < 0 ||
		    (r = ifs_jint(jc, w, "id", v[0], &id)) < 0 ||
		    (r = ifs_jint(jc, w, "image_id", v[1], &image_id)) < 0 ||
		    (r = ifs_jint(jc, w, "category_id", v[2], &cat_id)) < 0)
			goto out;
		r = ifs_cidmap_put(&seen, id, i, &old);
		if (r < 0) {
			r = ifs_err_set(L->err, ENOMEM, "%s: %s: out of memory", jc->zip, jc->entry);
			goto out;
		}
		if (r == 1) {
			r = ifs_jfail(jc, w, "id", "duplicate annotation id %lld (also annotations[%zu])",
				      (long long)id, old);
			goto out;
		}
		if (!ifs_cidmap_get(&L->tv_ids, image_id, &idx) || c->imgs[idx].split != split) {
			r = ifs_jfail(jc, w, "image_id", "no image with id %lld in this file",
				      (long long)image_id);
			goto out;
		}
		if (!ifs_cidmap_get(&L->cat_ids, cat_id, &old)) {
			r = ifs_jfail(jc, w, "category_id", "no category with id %lld",
				      (long long)cat_id);
			goto out;
		}
		ifs_image *im = &c->imgs[idx];
		if (im->category_id >= 0 && im->category_id != cat_id) {
			r = ifs_jfail(jc, w, "category_id",
				      "image %lld is already annotated with category %lld",
				      (long long)image_id, (long long)im->category_id);
			goto out;
		}
		im->category_id = cat_id;
		i++;
	}
out:
	ifs_jiter_end(&ji);
	ifs_cidmap_free(&seen);
	return r;
}

int ifs_cload_coco(ifs_cload *L, const char *zip_path, const char *name, int split)
{
	ifs_cidmap test_ids = { 0 };
	ifs_jdoc doc;
	char *entry = NULL;
	int r = ifs_cload_json(L, zip_path, name, &entry, &doc);

	if (r < 0)
		goto out;
	ifs_jctx jc = { zip_path, entry, L->err };
	if (!cJSON_IsObject(doc.root)) {
		r = ifs_jfail(&jc, IFS_JTOP, NULL, "expected a JSON object at the top level, got %s",
			      ifs_jtype(doc.root));
		goto out;
	}
	if ((r = load_info(L, &jc, &doc, split)) < 0 ||
	    (r = load_licenses(L, &jc, &doc)) < 0 ||
	    (r = load_categories(L, &jc, &doc, split)) < 0 ||
	    (r = load_images(L, &jc, &doc, split,
			     split == IFS_SPLIT_TEST ? &test_ids : &L->tv_ids)) < 0)
		goto out;
	/* The test split has no labels; its annotations, if any, are not read. */
	if (split != IFS_SPLIT_TEST && (r = load_annotations(L, &jc, &doc, split)) < 0)
		goto out;
out:
	ifs_jdoc_free(&doc);
	free(entry);
	ifs_cidmap_free(&test_ids);
	return r;
}

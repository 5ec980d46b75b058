/*
 * catalog.c - loading every annotation zip found in DATA_DIR into one
 * ifs_catalog (see include/inatfs/catalog.h), and freeing it.
 *
 * The order matters: train then val (images, categories), then boxes and
 * locations (they join on those images), then test. One JSON file is in
 * memory at a time, its big arrays parsed one element at a time (jsplit.c);
 * its bytes are freed once converted, and the heap trimmed. Nothing is
 * printed; the caller hears of each file through the progress callback.
 */
#include "catalog_int.h"
#include "inatfs/place.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int ifs_cat_grow(void **arr, size_t *cap, size_t need, size_t elsz, ifs_err *err)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 16;
	while (nc < need) {
		if (nc > SIZE_MAX / 2)
			return ifs_err_set(err, ENOMEM, "catalog: too many records");
		nc *= 2;
	}
	if (nc > SIZE_MAX / elsz)
		return ifs_err_set(err, ENOMEM, "catalog: too many records");
	void *p = realloc(*arr, nc * elsz);
	if (!p)
		return ifs_err_set(err, ENOMEM, "catalog: out of memory");
	*arr = p;
	*cap = nc;
	return 0;
}

static int add_file(ifs_cload *L, const char *zip_path, const char *name, const ifs_zblob *b)
{
	ifs_catalog *c = L->c;
	int r = ifs_cat_grow((void **)&c->files, &L->cap_files, c->nfiles + 1, sizeof *c->files,
			     L->err);
	if (r < 0)
		return r;
	ifs_annfile *f = &c->files[c->nfiles];
	memset(f, 0, sizeof *f);
	f->name = strdup(name);
	f->zip_path = strdup(zip_path);
	f->entry = strdup(b->entry);
	f->size = b->len;
	f->mtime = b->mtime;
	c->nfiles++; /* counted now so that a failure below frees what was set */
	if (!f->name || !f->zip_path || !f->entry)
		return ifs_err_set(L->err, ENOMEM, "%s: out of memory", zip_path);
	return 0;
}

int ifs_cload_json(ifs_cload *L, const char *zip_path, const char *name, char **entry,
		   ifs_jdoc *doc)
{
	ifs_zblob b;
	int r;

	*entry = NULL;
	memset(doc, 0, sizeof *doc);
	r = ifs_zip_find(zip_path, name, &b, L->err);
	if (r < 0)
		return r;
	r = add_file(L, zip_path, name, &b);
	if (r < 0)
		goto out;
	ifs_jctx jc = { zip_path, b.entry, L->err };
	r = ifs_jdoc_parse(&jc, &b.buf, b.len, doc);
	if (r < 0)
		goto out;
	*entry = b.entry;
	b.entry = NULL;
out:
	ifs_zblob_free(&b);
	return r;
}

static char *join(const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	const char *sep = dl && dir[dl - 1] == '/' ? "" : "/";
	size_t n = dl + strlen(sep) + strlen(name) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s%s", dir, sep, name);
	return p;
}

/* 1 if the zip is there, 0 if absent, or -errno. */
static int present(const char *path, ifs_err *err)
{
	return ifs_place_exists(path, err);
}

static int cmp_cat(const void *a, const void *b)
{
	int64_t x = ((const ifs_category *)a)->id, y = ((const ifs_category *)b)->id;
	return (x > y) - (x < y);
}

static int cmp_lic(const void *a, const void *b)
{
	int64_t x = ((const ifs_license *)a)->id, y = ((const ifs_license *)b)->id;
	return (x > y) - (x < y);
}

typedef int (*loader_fn)(ifs_cload *L, const char *zip_path, const char *name, int split);

static const struct job {
	const char *zip;
	const char *json;
	int split;
	loader_fn load;
	int required; /* 1: train_val2017.zip, which gates everything */
} jobs[] = {
	{ "train_val2017.zip", "train2017.json", IFS_SPLIT_TRAIN, ifs_cload_coco, 1 },
	{ "train_val2017.zip", "val2017.json", IFS_SPLIT_VAL, ifs_cload_coco, 1 },
	{ "train_2017_bboxes.zip", "train_2017_bboxes.json", IFS_SPLIT_TRAIN, ifs_cload_boxes, 0 },
	{ "val_2017_bboxes.zip", "val_2017_bboxes.json", IFS_SPLIT_VAL, ifs_cload_boxes, 0 },
	{ "inat2017_locations.zip", "train2017_locations.json", IFS_SPLIT_TRAIN,
	  ifs_cload_locations, 0 },
	{ "inat2017_locations.zip", "val2017_locations.json", IFS_SPLIT_VAL,
	  ifs_cload_locations, 0 },
	{ "test2017.zip", "test2017.json", IFS_SPLIT_TEST, ifs_cload_coco, 0 },
};

const char *ifs_annfile_zip(const char *name)
{
	for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++)
		if (!strcmp(jobs[i].json, name))
			return jobs[i].zip;
	return NULL;
}

int ifs_catalog_load(const char *data_dir, ifs_catalog **out, ifs_catalog_progress_fn progress,
		     void *pctx, ifs_err *err)
{
	ifs_cload L = { 0 };
	char *zip = NULL;
	int r = 0;

	*out = NULL;
	L.err = err;
	L.c = calloc(1, sizeof *L.c);
	if (!L.c)
		return ifs_err_set(err, ENOMEM, "catalog: out of memory");
	for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
		const struct job *j = &jobs[i];
		free(zip);
		zip = join(data_dir, j->zip);
		if (!zip) {
			r = ifs_err_set(err, ENOMEM, "catalog: out of memory");
			goto out;
		}
		r = present(zip, err);
		if (r < 0)
			goto out;
		if (r == 0) {
			if (j->required)
				goto done; /* no images: nothing else can be joined */
			continue;
		}
		if (progress)
			progress(pctx, j->json);
		r = j->load(&L, zip, j->json, j->split);
#ifdef __GLIBC__
		/* The file's text and the parse's scraps: give the memory back. */
		malloc_trim(0);
#endif
		if (r < 0)
			goto out;
	}
	/* qsort of an empty (NULL) array is undefined behaviour: found by fuzzing */
	if (L.c->ncats)
		qsort(L.c->cats, L.c->ncats, sizeof *L.c->cats, cmp_cat);
	if (L.c->nlics)
		qsort(L.c->lics, L.c->nlics, sizeof *L.c->lics, cmp_lic);
done:
	*out = L.c;
	L.c = NULL;
	r = 0;
out:
	free(zip);
	ifs_cidmap_free(&L.cat_ids);
	ifs_cidmap_free(&L.lic_ids);
	ifs_cidmap_free(&L.tv_ids);
	free(L.cats_from);
	ifs_catalog_free(L.c);
	return r;
}

void ifs_catalog_free(ifs_catalog *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->ncats; i++) {
		free(c->cats[i].name);
		free(c->cats[i].supercategory);
	}
	for (size_t i = 0; i < c->nlics; i++) {
		free(c->lics[i].name);
		free(c->lics[i].url);
	}
	for (size_t i = 0; i < c->nimgs; i++) {
		free(c->imgs[i].file_name);
		free(c->imgs[i].rights_holder);
		free(c->imgs[i].extra);
	}
	for (size_t i = 0; i < c->nboxes; i++)
		free(c->boxes[i].json);
	for (size_t i = 0; i < c->nlocs; i++)
		free(c->locs[i].json);
	for (size_t i = 0; i < c->nfiles; i++) {
		free(c->files[i].name);
		free(c->files[i].zip_path);
		free(c->files[i].entry);
	}
	for (size_t i = 0; i < 3; i++)
		free(c->info[i]);
	free(c->cats);
	free(c->lics);
	free(c->imgs);
	free(c->boxes);
	free(c->locs);
	free(c->files);
	free(c);
}

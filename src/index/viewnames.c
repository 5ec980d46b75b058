/*
 * viewnames.c - the names of the images in the split views, unique in their
 * folder. An image is shown under the safe form of its file_name's base
 * name (names.h), beside its sidecar "<stem>.json"; every folder of images
 * (train/<class>/, val/<class>/, test/, and the subsets of them that
 * by-supercategory/ and with-bbox/ show) holds images of one (split,
 * category), so names are made unique there, and every listed name then
 * resolves to exactly the entry listed. The rule, deterministic:
 *
 *   - images are taken in file order (train2017.json, val2017.json,
 *     test2017.json; each in its order); an image keeps its name unless it
 *     or its sidecar's name is taken in its folder already (by an earlier
 *     image or sidecar), and then gets "~2", "~3", ... before its last
 *     extension (a.jpg -> a~2.jpg, sidecar a~2.json), the first number that
 *     frees both names, its stem cut so that the name stays within
 *     IFS_NAME_MAX bytes;
 *   - a name whose extension is ".json" (its sidecar would have its very
 *     name) gets a "_" appended first (x.json -> x.json_, sidecar x.json).
 *
 * Real data has none of these: every image is "<32 hex digits>.jpg".
 */
#include "build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/catalog.h"
#include "inatfs/names.h"
#include "inatfs/strmap.h"

/* Longest extension kept whole in a renamed name (a longer one is cut). */
#define EXT_MAX 64

/* The start of a cut to at most n bytes of s, on a UTF-8 character boundary. */
static size_t cut_utf8(const char *s, size_t len, size_t n)
{
	if (len <= n)
		return len;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Candidate k (1: no number) for safe name `name` into out[IFS_NAME_MAX + 1]. */
static void candidate(const char *name, unsigned k, char *out)
{
	const char *dot = strrchr(name, '.');
	size_t len = strlen(name);
	size_t stem = dot && dot != name ? (size_t)(dot - name) : len;
	char ext[EXT_MAX + 8], num[24] = "";
	size_t el = cut_utf8(name + stem, len - stem, EXT_MAX);
	memcpy(ext, name + stem, el);
	ext[el] = '\0';
	if (strcmp(ext, ".json") == 0)
		strcpy(ext, ".json_");
	if (k > 1)
		snprintf(num, sizeof num, "~%u", k);
	size_t room = IFS_NAME_MAX - strlen(num) - strlen(ext);
	size_t sl = cut_utf8(name, stem, room);
	snprintf(out, IFS_NAME_MAX + 1, "%.*s%s%s", (int)sl, name, num, ext);
}

struct order {
	int split;
	int64_t category;
	size_t i;
};

static int by_folder(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	if (x->split != y->split)
		return x->split < y->split ? -1 : 1;
	if (x->category != y->category)
		return x->category < y->category ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int taken(const ifs_strmap *m, const char *s)
{
	return ifs_strmap_get(m, s, strlen(s), NULL);
}

int ifs_view_names(const ifs_catalog *c, char ***out, size_t *renamed, ifs_err *err)
{
	*out = NULL;
	*renamed = 0;
	char **names = calloc(c->nimgs + 1, sizeof *names);
	struct order *o = malloc((c->nimgs + 1) * sizeof *o);
	ifs_strmap *folder = NULL;
	int r = 0;
	if (!names || !o)
		goto nomem;
	for (size_t i = 0; i < c->nimgs; i++)
		o[i] = (struct order){ c->imgs[i].split, c->imgs[i].category_id, i };
	qsort(o, c->nimgs, sizeof *o, by_folder);
	for (size_t k = 0; k < c->nimgs; k++) {
		if (k == 0 || o[k].split != o[k - 1].split || o[k].category != o[k - 1].category) {
			ifs_strmap_free(folder);   /* a new folder */
			if (!(folder = ifs_strmap_new()))
				goto nomem;
		}
		const ifs_image *m = &c->imgs[o[k].i];
		const char *base = strrchr(m->file_name, '/');
		char safe[IFS_NAME_MAX + 1], name[IFS_NAME_MAX + 1], side[IFS_NAME_MAX + 8];
		ifs_name_safe(base ? base + 1 : m->file_name, safe, sizeof safe);
		unsigned n = 1;
		for (;; n++) {
			candidate(safe, n, name);
			ifs_sidecar_name(name, side, sizeof side);
			if (!taken(folder, name) && !taken(folder, side))
				break;
			if (n == UINT32_MAX) {   /* cannot happen: a folder holds < 2^32 names */
				r = ifs_err_set(err, EIO, "index: no free name for %s", safe);
				goto out;
			}
		}
		if (ifs_strmap_put(folder, name, strlen(name), 1) < 0 ||
		    ifs_strmap_put(folder, side, strlen(side), 1) < 0)
			goto nomem;
		if (strcmp(name, safe) != 0) {
			if (!(names[o[k].i] = strdup(name)))
				goto nomem;
			++*renamed;
		}
	}
	*out = names;
	names = NULL;
	goto out;
nomem:
	r = ifs_err_set(err, ENOMEM, "index: naming the images: out of memory");
out:
	if (names)
		for (size_t i = 0; i < c->nimgs; i++)
			free(names[i]);
	free(names);
	free(o);
	ifs_strmap_free(folder);
	return r;
}

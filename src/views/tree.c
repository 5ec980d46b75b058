/*
 * tree.c - the root, the views' own folders and files (train/, val/,
 * by-supercategory/, with-bbox/, test/, the annotation files, the COCO
 * files and the submission template), and the dispatch by inode that
 * views.h promises: getattr, lookup and listing.
 *
 * The root shows, in this order: the pristine root's folders (a tarball
 * folder named like a view, or like a file the root serves, is hidden
 * behind it), 2017/, the annotation files, the views' folders, and the
 * submission template. test/ and the template exist when there are test
 * images; a generated file is listed once the build has made it (a live
 * index: at the end of the scan; until then its lookup answers -EAGAIN).
 */
#include "views_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ALIAS_NAME "2017"
#define TEMPLATE_NAME "submission_template.csv"

/* The fixed children of the root and of with-bbox/, in listing order. */
struct child {
	const char *name;
	int k;   /* enum fixed */
};
static const struct child root_children[] = {
	{ "train", FIXED_TRAIN }, { "val", FIXED_VAL }, { "by-supercategory", FIXED_SUPER },
	{ "with-bbox", FIXED_BBOX }, { "test", FIXED_TEST }, { TEMPLATE_NAME, FIXED_TEMPLATE },
};
static const struct child bbox_children[] = {
	{ "train", FIXED_BBOX_TRAIN }, { "val", FIXED_BBOX_VAL },
	{ "train.json", FIXED_BBOX_TRAIN_JSON }, { "val.json", FIXED_BBOX_VAL_JSON },
};
#define NCHILD(a) (sizeof (a) / sizeof (a)[0])

/*
 * A generated file's entry. Not made yet: -EAGAIN while a live index's scan
 * runs (it is made at the end), -EIO once that failed, -ENOENT in a
 * listing (only what exists is listed).
 */
static int blob_entry(ifs_views *v, const char *name, uint64_t ino, ifs_entry *e, int listing,
		      ifs_err *err)
{
	uint64_t size = 0;
	int complete = ifs_index_complete(v->idx);   /* read before the query */
	int r = ifs_index_generated_size(v->idx, name, &size, err);
	if (r == -ENOENT && !complete && !listing)
		return ifs_index_live_state(v->idx) == IFS_LIVE_FAILED ? -EIO : -EAGAIN;
	if (r)
		return r;
	memset(e, 0, sizeof *e);
	e->ino = ino;
	e->src = IFS_SRC_BLOB;
	e->size = size;
	e->nlink = 1;
	e->mtime = v->mtime;
	e->mode = 0444;
	snprintf(e->key, sizeof e->key, "%s", name);
	return 0;
}

static void annfile_entry(const ifs_annfile_row *a, ifs_entry *e)
{
	memset(e, 0, sizeof *e);
	e->ino = ino_make(INO_FIXED, 0, (uint64_t)(FIXED_ANN_BASE + a->id));
	e->src = IFS_SRC_ANNFILE;
	e->size = a->size;
	e->mtime = a->mtime;
	e->nlink = 1;
	e->mode = 0444;
	snprintf(e->key, sizeof e->key, "%s", a->name);
}

/* The entry of fixed inode k (enum fixed); listing: see blob_entry. */
static int fixed_entry(ifs_views *v, int64_t k, ifs_entry *e, int listing, ifs_err *err)
{
	uint64_t ino = ino_make(INO_FIXED, 0, (uint64_t)k);
	switch (k) {
	case FIXED_TEMPLATE:
		return blob_entry(v, TEMPLATE_NAME, ino, e, listing, err);
	case FIXED_BBOX_TRAIN_JSON:
		return blob_entry(v, "with-bbox/train.json", ino, e, listing, err);
	case FIXED_BBOX_VAL_JSON:
		return blob_entry(v, "with-bbox/val.json", ino, e, listing, err);
	case FIXED_SUPER:
		ifs_views_dir_entry(v, e, ino, v->nsupers);
		return 0;
	case FIXED_BBOX:
		ifs_views_dir_entry(v, e, ino, 2);
		return 0;
	case FIXED_TRAIN: case FIXED_VAL: case FIXED_TEST: case FIXED_BBOX_TRAIN:
	case FIXED_BBOX_VAL:
		ifs_views_dir_entry(v, e, ino, 0);
		return 0;
	default:
		break;
	}
	if (k < FIXED_ANN_BASE)
		return -ENOENT;
	ifs_annfile_row a;
	int r = ifs_index_annfile_id(v->idx, k - FIXED_ANN_BASE, &a, err);
	if (!r)
		annfile_entry(&a, e);
	return r;
}

/* Is fixed entry k there at all? 1, 0 or -EIO. */
static int fixed_present(ifs_views *v, int k, ifs_err *err)
{
	return k == FIXED_TEST || k == FIXED_TEMPLATE ? ifs_views_has_test(v, err) : 1;
}

/*
 * Lookup or listing of a set of fixed children. A lookup of a name not in
 * the set returns 1 (the caller may look further).
 */
static int fixed_children(ifs_views *v, const struct child *c, size_t n, const char *name,
			  ifs_entry *e, ifs_views_fill_fn fill, void *ctx, ifs_err *err)
{
	for (size_t i = 0; i < n; i++) {
		if (!fill && strcmp(name, c[i].name) != 0)
			continue;
		int r = fixed_present(v, c[i].k, err);
		if (r <= 0) {
			if (r < 0 || !fill)
				return r < 0 ? r : -ENOENT;
			continue;
		}
		ifs_entry d;
		r = fixed_entry(v, c[i].k, &d, fill != NULL, err);
		if (!fill) {
			if (!r)
				*e = d;
			return r;
		}
		if (r == -ENOENT)
			continue;   /* a generated file not made (yet) */
		if (r || (r = fill(ctx, c[i].name, &d)))
			return r;
	}
	return fill ? 0 : 1;
}

/* ---- the root ---------------------------------------------------------- */

/* Which of the pristine root's children the root lists: folders whose name
 * no view or root file takes. 1 keep, 0 leave out, or -EIO. */
static int root_keeps(ifs_views *v, const char *name, const ifs_entry *e, ifs_err *err)
{
	if (e->src != IFS_SRC_DIR || strcmp(name, ALIAS_NAME) == 0)
		return 0;
	for (size_t i = 0; i < NCHILD(root_children); i++)
		if (strcmp(name, root_children[i].name) == 0)
			return 0;
	ifs_annfile_row a;
	int r = ifs_index_annfile_get(v->idx, name, &a, err);
	return r == -ENOENT ? 1 : r == 0 ? 0 : r;
}

/* 2017/ (alias 0: not there) */
static int alias_entry(ifs_views *v, ifs_entry *e, ifs_err *err)
{
	int64_t alias;
	int r = ifs_views_alias_root(v, &alias, err);
	return r ? r : ifs_views_node_getattr(v, ino_node(INO_ALIAS, alias), e, err);
}

struct ann_fill {
	ifs_views_fill_fn fill;
	void *ctx;
};

static int ann_fill(void *ctx, const ifs_annfile_row *a)
{
	struct ann_fill *f = ctx;
	ifs_entry e;
	annfile_entry(a, &e);
	return f->fill(f->ctx, a->name, &e);
}

static int root_dir(ifs_views *v, const char *name, ifs_entry *e, ifs_views_fill_fn fill,
		    void *ctx, ifs_err *err)
{
	ifs_entry d;
	int r;
	if (fill) {
		if ((r = ifs_views_node_dir(v, IFS_ROOT_NODE, NULL, NULL, fill, ctx, root_keeps, err)))
			return r;
		r = alias_entry(v, &d, err);
		if (r && r != -ENOENT)
			return r;
		if (!r && (r = fill(ctx, ALIAS_NAME, &d)))
			return r;
		struct ann_fill a = { fill, ctx };
		if ((r = ifs_index_annfile_list(v->idx, ann_fill, &a, err)))
			return r;
		return fixed_children(v, root_children, NCHILD(root_children), NULL, NULL, fill, ctx,
				      err);
	}
	if ((r = fixed_children(v, root_children, NCHILD(root_children), name, e, NULL, NULL,
				err)) <= 0)
		return r;
	if (strcmp(name, ALIAS_NAME) == 0)
		return alias_entry(v, e, err);
	ifs_annfile_row a;
	if ((r = ifs_index_annfile_get(v->idx, name, &a, err)) == 0)
		annfile_entry(&a, e);
	if (r != -ENOENT)
		return r;
	/* the pristine root's own */
	return ifs_views_node_dir(v, IFS_ROOT_NODE, name, e, NULL, NULL, NULL, err);
}

/* ---- dispatch ---------------------------------------------------------- */

int ifs_views_getattr(ifs_views *v, uint64_t ino, ifs_entry *e, ifs_err *err)
{
	if (ino == IFS_ROOT_NODE) {
		ifs_views_dir_entry(v, e, IFS_ROOT_NODE, NCHILD(root_children) - 1);
		return 0;
	}
	ino_parts p = ino_split(ino);
	switch (p.kind) {
	case INO_NODE: case INO_ALIAS:
		return ifs_views_node_getattr(v, ino, e, err);
	case INO_FIXED:
		return fixed_entry(v, p.id, e, 0, err);
	case INO_CLASS:
		ifs_views_class_entry(v, (int)p.view, p.id, e);
		return 0;
	case INO_SUPER:
		ifs_views_super_entry(v, p.view, p.id, e);
		return 0;
	case INO_IMAGE: case INO_SIDECAR:
		return ifs_views_image_getattr(v, ino, e, err);
	default:
		return -ENOENT;
	}
}

/* Lookup (fill NULL: the child `name` into *e) or listing (fill set) of the
 * folder with inode `ino`. One dispatch, so the two always agree. */
static int dir_op(ifs_views *v, uint64_t ino, const char *name, ifs_entry *e,
		  ifs_views_fill_fn fill, void *ctx, ifs_err *err)
{
	if (ino == IFS_ROOT_NODE)
		return root_dir(v, name, e, fill, ctx, err);
	ino_parts p = ino_split(ino);
	switch (p.kind) {
	case INO_NODE: case INO_ALIAS:
		return ifs_views_node_dir(v, ino, name, e, fill, ctx, NULL, err);
	case INO_FIXED:
		switch (p.id) {
		case FIXED_TRAIN:
			return ifs_views_classes_dir(v, V_TRAIN, 0, name, e, fill, ctx, err);
		case FIXED_VAL:
			return ifs_views_classes_dir(v, V_VAL, 0, name, e, fill, ctx, err);
		case FIXED_BBOX_TRAIN:
			return ifs_views_classes_dir(v, V_BBOX_TRAIN, 0, name, e, fill, ctx, err);
		case FIXED_BBOX_VAL:
			return ifs_views_classes_dir(v, V_BBOX_VAL, 0, name, e, fill, ctx, err);
		case FIXED_TEST:
			return ifs_views_images_dir(v, V_TEST, -1, name, e, fill, ctx, err);
		case FIXED_SUPER:
			return ifs_views_supers_dir(v, name, e, fill, ctx, err);
		case FIXED_BBOX: {
			int r = fixed_children(v, bbox_children, NCHILD(bbox_children), name, e, fill,
					       ctx, err);
			return r > 0 ? -ENOENT : r;
		}
		default:
			return -ENOTDIR;
		}
	case INO_CLASS:
		return ifs_views_images_dir(v, (int)p.view, p.id, name, e, fill, ctx, err);
	case INO_SUPER:
		if (p.view == SUPER_DIR)
			return ifs_views_super_dir(v, p.id, name, e, fill, ctx, err);
		return ifs_views_classes_dir(v, p.view == SUPER_TRAIN ? V_SUPER_TRAIN : V_SUPER_VAL,
					     p.id, name, e, fill, ctx, err);
	default:
		return -ENOTDIR;
	}
}

int ifs_views_lookup_child(ifs_views *v, uint64_t parent, const char *name, ifs_entry *out,
			   ifs_err *err)
{
	if (!*name || strchr(name, '/'))
		return -ENOENT;
	if (strlen(name) > 255)
		return -ENAMETOOLONG;
	ifs_entry p;
	int r = ifs_views_getattr(v, parent, &p, err);
	if (r)
		return r;
	if (p.src != IFS_SRC_DIR)
		return -ENOTDIR;
	return dir_op(v, parent, name, out, NULL, NULL, err);
}

int ifs_views_readdir_ino(ifs_views *v, uint64_t ino, ifs_views_fill_fn fill, void *ctx,
			  ifs_err *err)
{
	ifs_entry p;
	int r = ifs_views_getattr(v, ino, &p, err);
	if (r)
		return r;
	if (p.src != IFS_SRC_DIR)
		return -ENOTDIR;
	return dir_op(v, ino, NULL, NULL, fill, ctx, err);
}

/*
 * images.c - the folders of images: train/ and val/, with-bbox/{train,val}/,
 * by-supercategory/<S>/{train,val}/ (each a folder of class folders), the
 * class folders, test/, and the supercategory folders.
 *
 * A folder of images is a selection (ifs_image_sel): a split, a category,
 * only images with boxes, and whether images not scanned yet are shown
 * (while the scan may still reach them, or when damage stopped it). Each
 * image is listed as <name> and, with sidecars on, <sidecar name>.
 */
#include "views_int.h"

#include <errno.h>
#include <string.h>

/*
 * The selection of view `view`; id is a category id (class folders) or the
 * smallest category id of a supercategory (its folders): by-supercategory
 * views name their supercategory's folder into sdir. -ENOENT for an unknown
 * view or category.
 */
static int view_sel(ifs_views *v, int view, int64_t id, ifs_image_sel *s, char *sdir,
		    size_t sdir_size, ifs_err *err)
{
	memset(s, 0, sizeof *s);
	switch (view) {
	case V_TRAIN: case V_VAL:
		s->split = view == V_VAL ? IFS_SPLIT_VAL : IFS_SPLIT_TRAIN;
		break;
	case V_BBOX_TRAIN: case V_BBOX_VAL:
		s->split = view == V_BBOX_VAL ? IFS_SPLIT_VAL : IFS_SPLIT_TRAIN;
		s->boxed = 1;
		break;
	case V_TEST:
		s->split = IFS_SPLIT_TEST;
		break;
	case V_SUPER_TRAIN: case V_SUPER_VAL: {
		s->split = view == V_SUPER_VAL ? IFS_SPLIT_VAL : IFS_SPLIT_TRAIN;
		int r = ifs_index_super_of(v->idx, id, sdir, sdir_size, err);
		if (r)
			return r;
		s->superdir = sdir;
		break;
	}
	default:
		return -ENOENT;
	}
	s->pending = ifs_views_show_pending(v, s->split);
	return 0;
}

/* ---- entries ----------------------------------------------------------- */

static void image_entry(const ifs_image_row *im, int view, ifs_entry *e)
{
	memset(e, 0, sizeof *e);
	e->ino = ino_make(INO_IMAGE, (unsigned)view, (uint64_t)im->rid);
	e->src = IFS_SRC_MEMBER;
	e->pending = im->pending;
	e->off = im->off;
	e->size = im->size;
	e->nlink = 1;
	e->mtime = im->mtime;
	e->mode = 0444;
	e->crc = im->crc;
	e->archive = im->pending ? ifs_views_split_archive(im->split) : im->archive;
	e->rid = im->rid;
}

/* made from the annotations alone: never pending */
static void sidecar_entry(const ifs_image_row *im, int view, ifs_entry *e)
{
	image_entry(im, view, e);
	e->ino = ino_make(INO_SIDECAR, (unsigned)view, (uint64_t)im->rid);
	e->src = IFS_SRC_SIDECAR;
	e->pending = 0;
	e->size = im->sidecar_len;
	e->off = 0;
	e->crc = 0;
	e->archive = 0;
}

int ifs_views_image_getattr(ifs_views *v, uint64_t ino, ifs_entry *e, ifs_err *err)
{
	ino_parts p = ino_split(ino);
	ifs_image_row im;
	int r = ifs_index_image_rid(v->idx, p.id, &im, err);
	if (r)
		return r;
	if (im.pending && !ifs_views_show_pending(v, im.split))
		return -ENOENT;   /* not in the tarball: left out of the views */
	if (p.kind == INO_SIDECAR) {
		sidecar_entry(&im, (int)p.view, e);
		return 0;
	}
	image_entry(&im, (int)p.view, e);
	return ifs_views_file_answer(v, e, e->archive);
}

/* ---- folders of images ------------------------------------------------- */

struct image_fill {
	ifs_views *v;
	int view, attrs;
	ifs_views_fill_fn fill;
	void *ctx;
};

static int image_fill(void *ctx, const char *name, const ifs_image_row *im)
{
	struct image_fill *f = ctx;
	ifs_entry e;
	int r;
	if (f->attrs) {
		image_entry(im, f->view, &e);
	} else {   /* the index alone: no member row */
		memset(&e, 0, sizeof e);
		e.rid = im->rid;
		e.ino = ino_make(INO_IMAGE, (unsigned)f->view, (uint64_t)im->rid);
		e.src = IFS_SRC_MEMBER;
		e.nlink = 1;
		e.mode = 0444;
		e.mtime = f->v->mtime;
		e.pending = im->pending;
	}
	if ((r = f->fill(f->ctx, name, &e)))
		return r;
	if (!f->v->sidecars)
		return 0;
	char sc[IFS_NAME_MAX + 8];
	ifs_sidecar_name(name, sc, sizeof sc);
	if (f->attrs) {
		sidecar_entry(im, f->view, &e);
	} else {
		e.ino = ino_make(INO_SIDECAR, (unsigned)f->view, (uint64_t)im->rid);
		e.src = IFS_SRC_SIDECAR;
		e.pending = 0;
		e.size = im->sidecar_len;
	}
	return f->fill(f->ctx, sc, &e);
}

int ifs_views_images_dir(ifs_views *v, int view, int64_t category, const char *name,
			 ifs_entry *e, ifs_views_fill_fn fill, void *ctx, ifs_err *err)
{
	ifs_image_sel s;
	char sdir[IFS_NAME_MAX + 1];
	int r = view_sel(v, view, category, &s, sdir, sizeof sdir, err);
	if (r)
		return r;
	s.category = view == V_TEST ? -1 : category;
	if (fill) {
		struct image_fill f = { v, view, v->listing_attrs, fill, ctx };
		return ifs_index_image_list(v->idx, &s, f.attrs, image_fill, &f, err);
	}
	ifs_image_row im;
	r = ifs_index_image_get(v->idx, &s, name, &im, err);
	if (r == 0) {
		image_entry(&im, view, e);
		return ifs_views_file_answer(v, e, ifs_views_split_archive(s.split));
	}
	if (r != -ENOENT || !v->sidecars)
		return r;
	/* not an image: maybe a sidecar */
	if ((r = ifs_index_image_by_sidecar(v->idx, &s, name, &im, err)) == 0)
		sidecar_entry(&im, view, e);
	return r;
}

/* ---- folders of class folders ------------------------------------------ */

struct class_fill {
	ifs_views *v;
	int view;
	ifs_views_fill_fn fill;
	void *ctx;
};

void ifs_views_class_entry(ifs_views *v, int view, int64_t category, ifs_entry *e)
{
	ifs_views_dir_entry(v, e, ino_make(INO_CLASS, (unsigned)view, (uint64_t)category), 0);
}

static int class_fill(void *ctx, const char *dir, int64_t category)
{
	struct class_fill *f = ctx;
	ifs_entry e;
	ifs_views_class_entry(f->v, f->view, category, &e);
	return f->fill(f->ctx, dir, &e);
}

int ifs_views_classes_dir(ifs_views *v, int view, int64_t super_id, const char *name,
			  ifs_entry *e, ifs_views_fill_fn fill, void *ctx, ifs_err *err)
{
	ifs_image_sel s;
	char sdir[IFS_NAME_MAX + 1];
	int r = view_sel(v, view, super_id, &s, sdir, sizeof sdir, err);
	if (r)
		return r;
	if (fill) {
		struct class_fill f = { v, view, fill, ctx };
		return ifs_index_class_list(v->idx, &s, class_fill, &f, err);
	}
	int64_t cat = -1;
	if ((r = ifs_index_class_get(v->idx, &s, name, &cat, err)) == 0)
		ifs_views_class_entry(v, view, cat, e);
	return r;
}

/* ---- by-supercategory/ ------------------------------------------------- */

struct super_fill {
	ifs_views *v;
	ifs_views_fill_fn fill;
	void *ctx;
};

void ifs_views_super_entry(ifs_views *v, unsigned part, int64_t super_id, ifs_entry *e)
{
	/* by-supercategory/<S> holds train/ and val/; they hold class folders */
	ifs_views_dir_entry(v, e, ino_make(INO_SUPER, part, (uint64_t)super_id),
			    part == SUPER_DIR ? 2 : 0);
}

static int super_fill(void *ctx, const char *superdir, int64_t first)
{
	struct super_fill *f = ctx;
	ifs_entry e;
	ifs_views_super_entry(f->v, SUPER_DIR, first, &e);
	return f->fill(f->ctx, superdir, &e);
}

int ifs_views_supers_dir(ifs_views *v, const char *name, ifs_entry *e, ifs_views_fill_fn fill,
			 void *ctx, ifs_err *err)
{
	if (fill) {
		struct super_fill f = { v, fill, ctx };
		return ifs_index_super_list(v->idx, super_fill, &f, err);
	}
	int64_t sid = -1;
	int r = ifs_index_super_get(v->idx, name, &sid, err);
	if (!r)
		ifs_views_super_entry(v, SUPER_DIR, sid, e);
	return r;
}

int ifs_views_super_dir(ifs_views *v, int64_t super_id, const char *name, ifs_entry *e,
			ifs_views_fill_fn fill, void *ctx, ifs_err *err)
{
	static const struct { const char *name; unsigned part; } parts[] = {
		{ "train", SUPER_TRAIN }, { "val", SUPER_VAL },
	};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		ifs_entry d;
		ifs_views_super_entry(v, parts[i].part, super_id, &d);
		int r;
		if (fill && (r = fill(ctx, parts[i].name, &d)))
			return r;
		if (!fill && strcmp(name, parts[i].name) == 0) {
			*e = d;
			return 0;
		}
	}
	return fill ? 0 : -ENOENT;
}

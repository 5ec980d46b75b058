/*
 * views_int.h - what the files of src/views share (private): the views'
 * state, the answers for pending and damaged entries, and each part of the
 * tree's entry points.
 *
 *   views.c     set-up, the live and damage state, the entries of folders
 *   tree.c      the root, the views' fixed folders and files, and the
 *               dispatch by inode (getattr, lookup, listing)
 *   pristine.c  the tarballs' trees and their 2017/ alias
 *   images.c    class folders, images, sidecars, supercategories
 *   content.c   generated and annotation files' bytes, member paths
 *
 * Every folder is looked up and listed by one function per kind of folder
 * (lookup: fill NULL, the child `name` into *e; listing: fill called per
 * entry), and each entry is made by one function that getattr uses too, so
 * a listing's attributes, a lookup's and getattr's are the same.
 */
#ifndef INATFS_VIEWS_INT_H
#define INATFS_VIEWS_INT_H

#include "inatfs/index_query.h"
#include "inatfs/split.h"
#include "inatfs/views.h"
#include "inode.h"

struct ifs_views {
	ifs_index *idx;
	int sidecars;
	int listing_attrs;
	int64_t mtime;       /* for folders that exist only in the views */
	uint32_t nsupers;    /* supercategory folders (categories never change) */
	int has_test;        /* -1: not known yet (live index) */
	int64_t alias_root;  /* 2017/'s node: 0 not known yet, -1 none */
	/* per archive: damage recorded (index.h): 0 not known yet, 1 none, 2 damaged
	 * (then dmg_good is its good_out) */
	int dmg_state[IFS_ARCHIVE_MAX + 1];
	uint64_t dmg_good[IFS_ARCHIVE_MAX + 1];
};

/* ---- views.c ------------------------------------------------------------ */

/* The archive the images of split come from. */
int ifs_views_split_archive(int split);
/* May images whose member is not known (scan not there yet, or it stopped
 * at damage before them) be shown? */
int ifs_views_show_pending(ifs_views *v, int split);
/* What getattr and lookup answer for a file entry: 0, -EAGAIN while the
 * scan may still reach a pending one, -EIO once it cannot (damage, a failed
 * scan) or for a member past what a damaged archive's bytes vouch for. */
int ifs_views_file_answer(ifs_views *v, const ifs_entry *e, int archive);
/* Are there test images to show? 1, 0 or -EIO. Settled once complete. */
int ifs_views_has_test(ifs_views *v, ifs_err *err);
/* A folder's entry: nsub subfolders. */
void ifs_views_dir_entry(ifs_views *v, ifs_entry *e, uint64_t ino, uint32_t nsub);

/* ---- pristine.c --------------------------------------------------------- */

/* The node 2017/ shows: 0 and *id, -ENOENT while it does not exist (yet), -EIO. */
int ifs_views_alias_root(ifs_views *v, int64_t *id, ifs_err *err);
/* getattr of a pristine node (kind INO_NODE or INO_ALIAS). */
int ifs_views_node_getattr(ifs_views *v, uint64_t ino, ifs_entry *e, ifs_err *err);
/*
 * Lookup or listing of pristine folder `ino` (INO_NODE or INO_ALIAS). At
 * the root, keep(ctx, name, e) says which of the pristine root's children
 * the listing shows (the views own some names); NULL: all.
 */
typedef int (*ifs_views_keep_fn)(ifs_views *v, const char *name, const ifs_entry *e,
				 ifs_err *err);
int ifs_views_node_dir(ifs_views *v, uint64_t ino, const char *name, ifs_entry *e,
		       ifs_views_fill_fn fill, void *ctx, ifs_views_keep_fn keep, ifs_err *err);

/* ---- images.c ----------------------------------------------------------- */

/* The entries of a class folder, and of by-supercategory/<S> (part
 * SUPER_DIR) and its train/ and val/. */
void ifs_views_class_entry(ifs_views *v, int view, int64_t category, ifs_entry *e);
void ifs_views_super_entry(ifs_views *v, unsigned part, int64_t super_id, ifs_entry *e);
/* getattr of an image or sidecar (INO_IMAGE, INO_SIDECAR). */
int ifs_views_image_getattr(ifs_views *v, uint64_t ino, ifs_entry *e, ifs_err *err);
/* Lookup or listing of a folder of class folders: the split view `view`
 * (train/, val/, with-bbox/{train,val}/), or a supercategory's split
 * (INO_SUPER with view SUPER_TRAIN or SUPER_VAL, its smallest category). */
int ifs_views_classes_dir(ifs_views *v, int view, int64_t super_id, const char *name,
			  ifs_entry *e, ifs_views_fill_fn fill, void *ctx, ifs_err *err);
/* Lookup or listing of a folder of images: a class folder (INO_CLASS) or test/. */
int ifs_views_images_dir(ifs_views *v, int view, int64_t category, const char *name,
			 ifs_entry *e, ifs_views_fill_fn fill, void *ctx, ifs_err *err);
/* Lookup or listing of by-supercategory/ and of by-supercategory/<S>/. */
int ifs_views_supers_dir(ifs_views *v, const char *name, ifs_entry *e, ifs_views_fill_fn fill,
			 void *ctx, ifs_err *err);
int ifs_views_super_dir(ifs_views *v, int64_t super_id, const char *name, ifs_entry *e,
			ifs_views_fill_fn fill, void *ctx, ifs_err *err);

#endif

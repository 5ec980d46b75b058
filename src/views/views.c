/*
 * views.c - the views' set-up, and the state every answer depends on: while
 * an index is live (index.h) which images may be shown before the scan has
 * reached them, what a pending or damaged entry answers, whether there are
 * test images. Facts that can no longer change are kept once seen (atomics:
 * any thread may ask).
 *
 * The tree itself is in tree.c (root, fixed folders, dispatch by inode),
 * pristine.c and images.c; see views_int.h for the map.
 */
#include "views_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ifs_views_new(ifs_index *idx, const ifs_views_opts *opts, ifs_views **out, ifs_err *err)
{
	*out = NULL;
	ifs_views *v = calloc(1, sizeof *v);
	if (!v)
		return ifs_err_set(err, ENOMEM, "out of memory");
	v->idx = idx;
	v->sidecars = opts ? opts->sidecars : 1;
	v->listing_attrs = opts ? opts->listing_attrs : 1;
	ifs_node root;
	int r = ifs_index_node(idx, IFS_ROOT_NODE, &root, err);
	if (r == -ENOENT)
		r = ifs_err_set(err, EIO, "%s: index has no root", ifs_index_path(idx));
	/* the annotations' categories are in place before a live index is served */
	if (!r)
		r = ifs_index_super_count(idx, &v->nsupers, err);
	if (r) {
		free(v);
		return r;
	}
	v->mtime = root.mtime;
	v->has_test = -1;
	*out = v;
	return 0;
}

void ifs_views_free(ifs_views *v)
{
	free(v);
}

int ifs_views_split_archive(int split)
{
	return split == IFS_SPLIT_TEST ? IFS_ARCHIVE_TEST : IFS_ARCHIVE_TRAINVAL;
}

/*
 * Did the scan find archive damaged? Then *good_out: bytes from there on
 * cannot be trusted. Settled once seen, or once the index is complete.
 */
static int damaged(ifs_views *v, int archive, uint64_t *good_out)
{
	if (archive < 1 || archive > IFS_ARCHIVE_MAX)
		return 0;
	int known = __atomic_load_n(&v->dmg_state[archive], __ATOMIC_ACQUIRE);
	if (!known) {
		int complete = ifs_index_complete(v->idx);   /* read before the query */
		ifs_damage d;
		int r = ifs_index_damage(v->idx, archive, &d);
		if (r > 0) {
			v->dmg_good[archive] = d.good_out;
			known = 2;
		} else {
			known = r == 0 && complete ? 1 : 0;
		}
		if (known)
			__atomic_store_n(&v->dmg_state[archive], known, __ATOMIC_RELEASE);
		if (r > 0 && good_out)
			*good_out = d.good_out;
		return r > 0;
	}
	if (known == 2 && good_out)
		*good_out = v->dmg_good[archive];
	return known == 2;
}

int ifs_views_show_pending(ifs_views *v, int split)
{
	int archive = ifs_views_split_archive(split);
	return (ifs_index_live_state(v->idx) == IFS_LIVE_SCANNING &&
		ifs_index_archive(v->idx, archive) != NULL) || damaged(v, archive, NULL);
}

/* Pending things wait while the scan may still reach them; they fail once
 * it has stopped short of them (damage, a failed scan). */
static int pending_errno(ifs_views *v, int archive)
{
	if (damaged(v, archive, NULL) || ifs_index_complete(v->idx) ||
	    ifs_index_live_state(v->idx) == IFS_LIVE_FAILED)
		return -EIO;
	return -EAGAIN;
}

/* A member of a damaged archive that ends past the bytes that can be trusted. */
static int untrusted(ifs_views *v, const ifs_entry *e)
{
	uint64_t good;
	return e->src == IFS_SRC_MEMBER && !e->pending && damaged(v, e->archive, &good) &&
	       e->off + e->size > good;
}

int ifs_views_file_answer(ifs_views *v, const ifs_entry *e, int archive)
{
	if (e->pending)
		return pending_errno(v, archive);
	return untrusted(v, e) ? -EIO : 0;
}

int ifs_views_has_test(ifs_views *v, ifs_err *err)
{
	int known = __atomic_load_n(&v->has_test, __ATOMIC_RELAXED);
	if (known >= 0)
		return known;
	int complete = ifs_index_complete(v->idx);   /* read before the query */
	ifs_image_sel s = { .split = IFS_SPLIT_TEST,
			    .pending = ifs_views_show_pending(v, IFS_SPLIT_TEST) };
	int yes = ifs_index_has_images(v->idx, &s, err);
	if (yes >= 0 && complete)
		__atomic_store_n(&v->has_test, yes, __ATOMIC_RELAXED);
	return yes;
}

void ifs_views_dir_entry(ifs_views *v, ifs_entry *e, uint64_t ino, uint32_t nsub)
{
	memset(e, 0, sizeof *e);
	e->ino = ino;
	e->src = IFS_SRC_DIR;
	e->nlink = 2 + nsub;
	e->mtime = v->mtime;
	e->mode = 0555;
}

/*
 * pristine.c - the tarballs' own trees (train_val_images/..., test2017/...)
 * and 2017/, the train/val tarball's train_val_images/ under the name
 * torchvision's INaturalist(root, version="2017") looks for.
 *
 * A pristine entry's inode is its node id (INO_NODE); under 2017/ the same
 * entries have INO_ALIAS inodes, since a folder has one parent. Entries keep
 * the tar's names byte for byte and its permission bits. A member the scan
 * has not reached (planted from the JSON) is listed, and getattr and lookup
 * answer what ifs_views_file_answer says.
 */
#include "views_int.h"

#include <errno.h>
#include <string.h>

/* The entry of a node, as inode `ino` (the node's own or its alias). */
static void node_entry(const ifs_node *n, uint64_t ino, ifs_entry *e)
{
	memset(e, 0, sizeof *e);
	e->ino = ino;
	e->src = n->dir ? IFS_SRC_DIR : IFS_SRC_MEMBER;
	e->off = n->off;
	e->size = n->dir ? 0 : n->size;
	e->nlink = n->dir ? 2 + (uint32_t)n->size : 1;
	e->mtime = n->mtime;
	/* the tar's permission bits, as tar -x gives them (the mount is read-only) */
	e->mode = n->mode;
	e->crc = n->crc;
	e->archive = n->archive;
	e->pending = n->pending;
}

int ifs_views_alias_root(ifs_views *v, int64_t *id, ifs_err *err)
{
	int64_t known = __atomic_load_n(&v->alias_root, __ATOMIC_RELAXED);
	if (known) {
		*id = known;
		return known > 0 ? 0 : -ENOENT;
	}
	int complete = ifs_index_complete(v->idx);   /* read before the query */
	int64_t found = -1;
	int r = ifs_index_node_subdir(v->idx, IFS_ROOT_NODE, "train_val_images", &found, err);
	if (r && r != -ENOENT)
		return r;
	/* a live index may still get it; a complete one never changes */
	if (found > 0 || complete)
		__atomic_store_n(&v->alias_root, found, __ATOMIC_RELAXED);
	*id = found;
	return found > 0 ? 0 : -ENOENT;
}

int ifs_views_node_getattr(ifs_views *v, uint64_t ino, ifs_entry *e, ifs_err *err)
{
	ifs_node n;
	int r = ifs_index_node(v->idx, ino_split(ino).node, &n, err);
	if (r)
		return r;
	node_entry(&n, ino, e);
	return ifs_views_file_answer(v, e, e->archive);
}

/* A listing: each child as an entry (under the folder's kind of inode). */
struct node_fill {
	ifs_views *v;
	enum ino_kind kind;
	int attrs;
	ifs_views_keep_fn keep;
	ifs_views_fill_fn fill;
	void *ctx;
	ifs_err *err;
};

static int node_fill(void *ctx, const char *name, const ifs_node *n)
{
	struct node_fill *f = ctx;
	ifs_entry e;
	if (f->attrs) {
		node_entry(n, ino_node(f->kind, n->id), &e);
	} else {   /* what readdir needs: inode number and type */
		memset(&e, 0, sizeof e);
		e.ino = ino_node(f->kind, n->id);
		e.src = n->dir ? IFS_SRC_DIR : IFS_SRC_MEMBER;
		e.nlink = n->dir ? 2 : 1;
		e.mode = n->dir ? 0555 : 0444;   /* listings carry no attributes */
	}
	if (f->keep) {
		int k = f->keep(f->v, name, &e, f->err);
		if (k <= 0)
			return k;   /* left out, or an error */
	}
	return f->fill(f->ctx, name, &e);
}

int ifs_views_node_dir(ifs_views *v, uint64_t ino, const char *name, ifs_entry *e,
		       ifs_views_fill_fn fill, void *ctx, ifs_views_keep_fn keep, ifs_err *err)
{
	ino_parts p = ino_split(ino);
	enum ino_kind kind = p.kind == INO_ALIAS ? INO_ALIAS : INO_NODE;
	if (fill) {
		struct node_fill f = { v, kind, v->listing_attrs, keep, fill, ctx, err };
		return ifs_index_node_list(v->idx, p.node, f.attrs, node_fill, &f, err);
	}
	ifs_node n;
	int r = ifs_index_node_child(v->idx, p.node, name, &n, err);
	if (r)
		return r;
	node_entry(&n, ino_node(kind, n.id), e);
	return ifs_views_file_answer(v, e, e->archive);
}

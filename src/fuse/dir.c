/*
 * dir.c - folder handles: a listing is built whole at the first readdir of
 * an open folder (the kernel may answer from its cache and never ask) and
 * handed out by offset, with attributes or names only (staters.c).
 */
#include "fuse_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A whole listing: names and entries, in order. */
struct dirh {
	struct ifs_open open;   /* first: a handle is found from it */
	uint64_t ino;
	int built;
	ifs_entry *ents;
	char **names;
	size_t n, cap;
};

static void dirh_free(struct dirh *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->names[i]);
	free(d->names);
	free(d->ents);
	free(d);
}

void ifs_dir_free_open(struct ifs_open *o)
{
	dirh_free((struct dirh *)o);
}

static int collect(void *ctx, const char *name, const ifs_entry *e)
{
	struct dirh *d = ctx;
	if (!name)
		return -EIO;   /* the views check names; never reached */
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 64;
		ifs_entry *ne = realloc(d->ents, nc * sizeof *ne);
		if (!ne)
			return -ENOMEM;
		d->ents = ne;
		char **nn = realloc(d->names, nc * sizeof *nn);
		if (!nn)
			return -ENOMEM;
		d->names = nn;
		d->cap = nc;
	}
	if (!(d->names[d->n] = strdup(name)))
		return -ENOMEM;
	d->ents[d->n++] = *e;
	return 0;
}

static int do_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, ifs_err *err)
{
	ifs_fs *fs = ifs_fs_of(req);
	ifs_wait w = ifs_fuse_wait(req);
	ifs_entry self;
	int r = ifs_reader_getattr(fs->rd, &w, ino, &self, err);
	if (r)
		return r;
	if (self.src != IFS_SRC_DIR)
		return -ENOTDIR;
	struct dirh *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->ino = ino;
	ifs_open_track(fs, &d->open, 1);
	fi->fh = (uint64_t)(uintptr_t)d;
	/* a listing made while the scan runs may grow: not kept */
	fi->cache_readdir = ifs_index_complete(fs->idx);
	fi->keep_cache = ifs_index_complete(fs->idx);
	return 0;
}

void ifs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ifs_err err;
	ifs_err_clear(&err);
	int r = do_opendir(req, ino, fi, &err);
	if (r)
		ifs_fuse_reply_error(req, "opendir", ino, r, &err);
	else
		fuse_reply_open(req, fi);
}

/* "." and ".." (the kernel answers ".." itself; the inode there is a hint),
 * then the views' listing. */
static int dir_build(ifs_fs *fs, struct dirh *d, ifs_err *err)
{
	ifs_entry self;
	int r = ifs_views_getattr(fs->views, d->ino, &self, err);
	if (!r)
		r = collect(d, ".", &self);
	if (!r)
		r = collect(d, "..", &self);
	if (!r)
		r = ifs_views_readdir_ino(fs->views, d->ino, collect, d, err);
	d->built = r == 0;
	if (r) {   /* start over on the next try */
		for (size_t i = 0; i < d->n; i++)
			free(d->names[i]);
		d->n = 0;
	}
	return r;
}

/*
 * A listing built without attributes (the covering indexes alone) gets them
 * entry by entry when the kernel asks for a listing with attributes; an
 * entry that has none to give now (pending, damaged) goes without.
 */
static void fill_attrs(ifs_fs *fs, ifs_entry *e)
{
	if (e->attrs_known)
		return;
	ifs_entry full;
	ifs_err err;
	ifs_err_clear(&err);
	if (ifs_views_getattr(fs->views, e->ino, &full, &err) == 0)
		*e = full;
	else
		e->pending = 1;
	e->attrs_known = 1;
}

/* The entries from off on that fit in buf (size bytes): *used of them. */
static int do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
		      int plus, char *buf, size_t *used, ifs_err *err)
{
	ifs_fs *fs = ifs_fs_of(req);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	/* one handle gets concurrent readdirs only from one process; the kernel
	 * serialises them per open folder */
	int r = d->built ? 0 : dir_build(fs, d, err);
	if (r)
		return r;
	*used = 0;
	/* names only for a process that does not stat what it lists (staters.c) */
	int attrs = plus && (fs->readdirplus > 0 || ifs_fuse_stater_is(fuse_req_ctx(req)->pid));
	for (size_t i = off < 0 ? 0 : (size_t)off; i < d->n; i++) {
		size_t n;
		if (plus) {
			struct fuse_entry_param p;
			if (attrs && !fs->listing_attrs)
				fill_attrs(fs, &d->ents[i]);
			ifs_fuse_param(fs, &d->ents[i], &p);
			if (!attrs)
				p.ino = 0;   /* a name without attributes */
			n = fuse_add_direntry_plus(req, buf + *used, size - *used, d->names[i], &p,
						   (off_t)i + 1);
		} else {
			struct stat st;
			ifs_fuse_stat(&d->ents[i], &st);
			n = fuse_add_direntry(req, buf + *used, size - *used, d->names[i], &st,
					      (off_t)i + 1);
		}
		if (n > size - *used)
			break;
		*used += n;
	}
	return 0;
}

static void reply_dir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
		      int plus)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	ifs_err err;
	ifs_err_clear(&err);
	size_t used = 0;
	char *buf = malloc(size ? size : 1);
	int r = buf ? do_readdir(req, size, off, fi, plus, buf, &used, &err) : -ENOMEM;
	if (r)
		ifs_fuse_reply_error(req, "readdir", d->ino, r, &err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

void ifs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)ino;
	reply_dir(req, size, off, fi, 0);
}

void ifs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)ino;
	reply_dir(req, size, off, fi, 1);
}

void ifs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	ifs_open_untrack(ifs_fs_of(req), &d->open);
	dirh_free(d);
	fuse_reply_err(req, 0);
}

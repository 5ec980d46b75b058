/*
 * views.h - the mounted tree, inode by inode, without FUSE: what each entry is
 * (directory or file, size, mtime, its stable inode number) and where a file's
 * bytes come from. All answers come from the index.
 *
 *   /train_val_images/...  /test2017/...   the tarballs' own trees
 *   /<name>.json                            annotation files from the zips
 *   /train/<class>/  /val/<class>/          <hash>.jpg + <hash>.json sidecar
 *   /by-supercategory/<Super>/{train,val}/<class>/...
 *   /with-bbox/{train,val}/<class>/...  /with-bbox/{train,val}.json
 *   /test/<hash>.jpg + .json                /submission_template.csv
 * where <class> is "<category id, zero-padded> <name>" (names.h).
 *
 * Threading: any number of threads may call these functions at once (each
 * uses its own SQLite connection through the index).
 */
#ifndef INATFS_VIEWS_H
#define INATFS_VIEWS_H

#include <stddef.h>
#include <stdint.h>

#include "inatfs/err.h"
#include "inatfs/index.h"

enum ifs_src {
	IFS_SRC_DIR = 0,     /* a directory */
	IFS_SRC_MEMBER,      /* a tar member: archive, off, size, crc */
	IFS_SRC_SIDECAR,     /* generated JSON for image `rid` */
	IFS_SRC_BLOB,        /* a generated file, made when opened: `key` names it */
	IFS_SRC_ANNFILE,     /* a JSON file inside a zip: `key` names it */
};

typedef struct ifs_entry {
	uint64_t ino;        /* stable across mounts of the same index */
	int src;             /* enum ifs_src */
	uint64_t size;       /* files: exact size */
	uint32_t nlink;
	int64_t mtime;
	uint32_t mode;       /* permission bits only */
	int archive;         /* IFS_SRC_MEMBER */
	uint64_t off;        /* IFS_SRC_MEMBER: data offset in the uncompressed tar */
	uint32_t crc;        /* IFS_SRC_MEMBER: CRC-32 of the data */
	int64_t rid;         /* IFS_SRC_SIDECAR: images.rid */
	char key[64];        /* IFS_SRC_BLOB / IFS_SRC_ANNFILE */
	int pending;         /* IFS_SRC_MEMBER of a live index, not scanned yet: only
			      * in listings; size, off and crc are unknown (0) */
	int attrs_known;     /* for a listing's user: the attributes are filled in */
} ifs_entry;

typedef struct ifs_views_opts {
	int sidecars;        /* show <hash>.json beside every image in the split views */
	int listing_attrs;   /* listings of folders carry every attribute (for
			      * readdirplus); else only names, inode numbers, types
			      * and `pending` (cheaper: no tar member is looked up) */
} ifs_views_opts;

typedef struct ifs_views ifs_views;

int ifs_views_new(ifs_index *idx, const ifs_views_opts *opts, ifs_views **out, ifs_err *err);
void ifs_views_free(ifs_views *v);

/*
 * By inode (the root is inode 1): the entry of an inode, the child `name` of
 * a folder, and a folder's listing (without "." and "..", in a stable order;
 * fill returns 0 to go on, non-zero to stop, and that value is returned).
 * -ENOENT for an unknown inode or name, -ENOTDIR when the parent is a file.
 * Every listed name resolves to the entry listed, and with listing_attrs a
 * listed entry is what getattr of its inode answers.
 *
 * While the index is live (index.h) the split views list every image of the
 * annotations from the start; getattr and lookup of an image whose member
 * the scan has not reached return -EAGAIN (wait for the next commit, ask
 * again), or -EIO once the scan has failed. The pristine trees hold what has
 * been scanned so far, and the generated COCO files and submission template
 * appear when the scan ends (-EAGAIN until then).
 */
int ifs_views_getattr(ifs_views *v, uint64_t ino, ifs_entry *out, ifs_err *err);
int ifs_views_lookup_child(ifs_views *v, uint64_t parent, const char *name, ifs_entry *out,
			   ifs_err *err);
typedef int (*ifs_views_fill_fn)(void *ctx, const char *name, const ifs_entry *e);
int ifs_views_readdir_ino(ifs_views *v, uint64_t ino, ifs_views_fill_fn fill, void *ctx,
			  ifs_err *err);

/*
 * A tar member's path in its tarball, for messages ("ARCHIVE at offset N" if
 * it cannot be found). Returns 0 or -ENOENT/-EIO; out is always filled.
 */
int ifs_views_member_path(ifs_views *v, const ifs_entry *e, char *out, size_t outsz);

/*
 * The whole content of a generated or annotation file (SIDECAR, BLOB,
 * ANNFILE), malloc'd into *data. -EIO if it cannot be produced.
 */
int ifs_views_content(ifs_views *v, const ifs_entry *e, uint8_t **data, size_t *len,
		      ifs_err *err);

#endif

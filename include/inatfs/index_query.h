/*
 * index_query.h - what the other modules ask an open index (index.h), by
 * name: the pristine trees, the folders of images the views show, annotation
 * and generated files, sidecars, tar members and their paths, the ground
 * truth of a split. SQL stays inside src/index.
 *
 * Conventions:
 * - Lookups return 0 (the row into *out), -ENOENT (no such row) or -EIO
 *   (the index cannot answer; err says which index and what failed).
 * - Listings call fn once per row, in a stable order; a non-zero return
 *   from fn stops the listing and is returned. fn may ask the index other
 *   questions, but not start the same listing again on this thread (the
 *   listing's statement is in use until it returns).
 * - Names handed out are checked (ifs_index_name_ok): one that cannot be
 *   served is -EIO naming its row ("a damaged index"), never passed on.
 * - Any thread may ask; each uses its own connection (index.h).
 */
#ifndef INATFS_INDEX_QUERY_H
#define INATFS_INDEX_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "inatfs/buf.h"
#include "inatfs/err.h"
#include "inatfs/index.h"
#include "inatfs/names.h"
#include "inatfs/score.h"

/* ---- the pristine trees (table nodes) ---------------------------------- */

/* The root folder of the pristine trees (the tarballs' "/"). */
#define IFS_ROOT_NODE 1

typedef struct ifs_node {
	int64_t id;          /* < 2^40 (checked at open) */
	int dir;             /* a folder; else a tar member */
	int pending;         /* a member the JSON names that the scan has not
			      * reached: off, size and crc are not known (0) */
	int archive;         /* enum ifs_archive_id */
	uint64_t off;        /* members: data offset in the uncompressed tar */
	uint64_t size;       /* members: bytes; folders: how many subfolders */
	int64_t mtime;
	uint32_t mode;       /* the tar's permission bits (& 0777) */
	uint32_t crc;        /* members: CRC-32 of the data */
} ifs_node;

int ifs_index_node(ifs_index *idx, int64_t id, ifs_node *out, ifs_err *err);
int ifs_index_node_child(ifs_index *idx, int64_t parent, const char *name, ifs_node *out,
			 ifs_err *err);
/* The child folder `name` of parent (a member of that name does not count). */
int ifs_index_node_subdir(ifs_index *idx, int64_t parent, const char *name, int64_t *id,
			  ifs_err *err);

/*
 * The children of folder parent, by name. attrs 0: only id and dir are
 * filled (read from the index nodes_child alone, no table row), the rest 0.
 */
typedef int (*ifs_node_fn)(void *ctx, const char *name, const ifs_node *n);
int ifs_index_node_list(ifs_index *idx, int64_t parent, int attrs, ifs_node_fn fn, void *ctx,
			ifs_err *err);

/*
 * A member's path in its tarball, for messages: by node id, or by archive
 * and data offset. 0 and out filled; -ENOENT or -EIO (out untouched). The
 * walk up the tree is bounded, so a cycle of parents ends it.
 */
int ifs_index_node_path(ifs_index *idx, int64_t id, char *out, size_t size);
int ifs_index_member_path(ifs_index *idx, int archive, uint64_t off, char *out, size_t size);

/*
 * Every member of every tarball, in archive and offset order (inatfs
 * verify). The iterator has a statement of its own on the calling thread's
 * connection: use it on that thread only; other questions in between are
 * fine. next: 1 and *m, 0 at the end, -EIO.
 */
typedef struct ifs_member {
	int64_t id;          /* its node */
	int archive;
	uint64_t off, size;
	uint32_t crc;
	int pending;         /* the scan never reached it (a damaged archive) */
} ifs_member;
typedef struct ifs_member_iter ifs_member_iter;
int ifs_index_members_open(ifs_index *idx, ifs_member_iter **out, ifs_err *err);
int ifs_index_members_next(ifs_member_iter *it, ifs_member *m, ifs_err *err);
void ifs_index_members_close(ifs_member_iter *it);

/* ---- images, class folders, supercategories ---------------------------- */

/* Which images a folder of the views holds. */
typedef struct ifs_image_sel {
	int split;             /* enum ifs_split */
	int64_t category;      /* image listings: the category (-1: test images) */
	const char *superdir;  /* class listings: this supercategory's only (or NULL) */
	int boxed;             /* only images with boxes */
	int pending;           /* also images whose member is not known (yet) */
} ifs_image_sel;

typedef struct ifs_image_row {
	int64_t rid;           /* images.rid, < 2^32 (checked at open) */
	int split;
	int pending;           /* no member known (not scanned yet, or missing) */
	int archive;           /* the member's; 0 while pending */
	uint64_t off, size;    /* the member's data */
	int64_t mtime;
	uint32_t crc;
	uint64_t sidecar_len;  /* the exact size of its sidecar */
} ifs_image_row;

/*
 * The images of sel (split, category, boxed, pending), by name; names are at
 * most IFS_NAME_MAX bytes (so their sidecar names fit). attrs 0: only rid,
 * split, pending and sidecar_len are filled (the index images_by_class
 * alone).
 */
typedef int (*ifs_image_fn)(void *ctx, const char *name, const ifs_image_row *im);
int ifs_index_image_list(ifs_index *idx, const ifs_image_sel *sel, int attrs, ifs_image_fn fn,
			 void *ctx, ifs_err *err);
/* The image `name` of sel. */
int ifs_index_image_get(ifs_index *idx, const ifs_image_sel *sel, const char *name,
			ifs_image_row *out, ifs_err *err);
/* The image of sel whose sidecar is named `sidecar` (names.h, ifs_sidecar_name). */
int ifs_index_image_by_sidecar(ifs_index *idx, const ifs_image_sel *sel, const char *sidecar,
			       ifs_image_row *out, ifs_err *err);
/* The image row rid, whatever folder shows it (pending or not). */
int ifs_index_image_rid(ifs_index *idx, int64_t rid, ifs_image_row *out, ifs_err *err);
/* 1 if sel.split has an image (with sel.pending: or one not scanned yet), 0 if
 * not, -EIO. */
int ifs_index_has_images(ifs_index *idx, const ifs_image_sel *sel, ifs_err *err);

/*
 * Class folders ("0042 Ardea herodias", categories.dir) that hold an image
 * of sel (split, superdir, boxed, pending), by name; and one by its name.
 */
typedef int (*ifs_class_fn)(void *ctx, const char *dir, int64_t category);
int ifs_index_class_list(ifs_index *idx, const ifs_image_sel *sel, ifs_class_fn fn, void *ctx,
			 ifs_err *err);
int ifs_index_class_get(ifs_index *idx, const ifs_image_sel *sel, const char *dir,
			int64_t *category, ifs_err *err);

/*
 * Supercategory folders (categories.superdir), each with the smallest
 * category id in it (what names it in an inode number), by name; one by its
 * name; the folder of a category; how many there are.
 */
typedef int (*ifs_super_fn)(void *ctx, const char *superdir, int64_t first_category);
int ifs_index_super_list(ifs_index *idx, ifs_super_fn fn, void *ctx, ifs_err *err);
int ifs_index_super_get(ifs_index *idx, const char *superdir, int64_t *first_category,
			ifs_err *err);
int ifs_index_super_of(ifs_index *idx, int64_t category, char *superdir, size_t size,
		       ifs_err *err);
int ifs_index_super_count(ifs_index *idx, uint32_t *n, ifs_err *err);

/* The sidecar of image row rid (sidecar.h), appended to b. */
int ifs_index_sidecar(ifs_index *idx, int64_t rid, ifs_buf *b, ifs_err *err);

/* ---- annotation and generated files ------------------------------------ */

/* A JSON file served byte-identical from its zip (table annfiles). */
typedef struct ifs_annfile_row {
	int64_t id;            /* 1 to 0xffff (checked at open) */
	uint64_t size;
	int64_t mtime;
	char name[64];         /* one of the known names (checked at open) */
} ifs_annfile_row;
typedef int (*ifs_annfile_fn)(void *ctx, const ifs_annfile_row *a);
int ifs_index_annfile_list(ifs_index *idx, ifs_annfile_fn fn, void *ctx, ifs_err *err);
int ifs_index_annfile_get(ifs_index *idx, const char *name, ifs_annfile_row *out, ifs_err *err);
int ifs_index_annfile_id(ifs_index *idx, int64_t id, ifs_annfile_row *out, ifs_err *err);
/* Its bytes, read from its zip in DATA_DIR now (malloc'd); -EIO when the
 * zip's entry is no longer the size indexed. */
int ifs_index_annfile_read(ifs_index *idx, const char *name, uint8_t **data, size_t *len,
			   ifs_err *err);

/* The size recorded for a generated file (ifs_generated_files): -ENOENT
 * until the build has made it (a live index: at the end of the scan). */
int ifs_index_generated_size(ifs_index *idx, const char *name, uint64_t *size, ifs_err *err);

/* ---- scoring ------------------------------------------------------------ */

/* The ground truth of split (score.h): every image id with its category,
 * every category with its supercategory. */
int ifs_index_truth(ifs_index *idx, int split, ifs_truth **out, ifs_err *err);

/* ---- an index file as it is (inatfs info) ------------------------------ */

/*
 * An index file opened read-only for showing what it holds, whether or not
 * it matches the downloads (stale) or was finished. Its rows, for display,
 * as text columns (NULL for none); fn returns non-zero to stop:
 *   IFS_INFO_META      key, value (the counts and build facts, not the
 *                      per-split info_* records)
 *   IFS_INFO_ARCHIVES  file, compressed size, uncompressed size, members,
 *                      checkpoints, window bytes
 *   IFS_INFO_SOURCES   file, fingerprint
 */
typedef struct ifs_index_file ifs_index_file;
int ifs_index_file_open(const char *path, ifs_index_file **out, ifs_err *err);
void ifs_index_file_close(ifs_index_file *f);
enum { IFS_INFO_META, IFS_INFO_ARCHIVES, IFS_INFO_SOURCES };
typedef int (*ifs_info_fn)(void *ctx, int ncol, const char *const *col);
int ifs_index_file_rows(ifs_index_file *f, int what, ifs_info_fn fn, void *ctx, ifs_err *err);
/* Damage recorded for archive (index.h): 1 and *d, 0 if none, -EIO. */
int ifs_index_file_damage(ifs_index_file *f, int archive, ifs_damage *d);

/*
 * How far the build that owns temp_path (PATH.tmp-PID) has scanned: the
 * tarball (*file, "" before the scan) and its bytes done and total. alive 0:
 * its process is gone, and the file is opened read-write so that a commit
 * it left half done is rolled back, as the next build would. 0, or -EIO
 * when the file cannot be read.
 */
int ifs_build_read_progress(const char *temp_path, int alive, char *file, size_t size,
			    uint64_t *done, uint64_t *total);

#endif

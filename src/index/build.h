/*
 * build.h - pieces of the index build shared between build*.c (private).
 */
#ifndef INATFS_INDEX_BUILD_H
#define INATFS_INDEX_BUILD_H

#include <stdint.h>
#include <sqlite3.h>

#include "inatfs/buf.h"
#include "inatfs/err.h"
#include "inatfs/index.h"
#include "inatfs/strmap.h"

struct ifs_join;

/* State of the pristine tree while archives are scanned into it. */
typedef struct ifs_tree {
	sqlite3 *db;
	struct ifs_join *join;   /* members -> JSON images, as they are scanned */
	/* called often from the scan (the build commits from here); may be NULL */
	int (*tick)(void *ctx, const char *file, uint64_t in_done, uint64_t in_total,
		    ifs_err *err);
	void *tick_ctx;
	ifs_strmap *dirs;      /* mount path of every directory -> node id ("" = root) */
	ifs_strmap *paths;     /* mount path of every regular file -> node id */
	int64_t next_id;       /* next node id */
	int64_t default_mtime; /* for directories the tar does not list */
	uint64_t files, skipped_unsafe, skipped_type, duplicates;
} ifs_tree;

int ifs_tree_init(ifs_tree *t, sqlite3 *db, int64_t default_mtime, ifs_err *err);
void ifs_tree_free(ifs_tree *t);

/* Scans one tarball (gz + tar in one pass) into nodes and checkpoints. */
int ifs_tree_scan_archive(ifs_tree *t, int archive, const char *path,
			  const ifs_build_opts *opts, ifs_err *err);

/*
 * Checks the start of a tarball (gzip header, the first MiB of tar headers)
 * without indexing anything, so that most bad archives are refused before a
 * mount; the scan finds the rest.
 */
int ifs_tree_probe_archive(const char *path, ifs_err *err);

/* After all scans: directory child counts (for link counts). */
int ifs_tree_finish(ifs_tree *t, ifs_err *err);

struct ifs_catalog;
/*
 * Inserts the annotations, before any scan: images have no member yet
 * (images.node NULL). *join maps tar paths to those images; the scan links
 * each member as it ends (ifs_join_member).
 */
int ifs_catalog_insert(sqlite3 *db, const struct ifs_catalog *c, struct ifs_join **join,
		       int *class_width, ifs_err *err);

/* The member at mount path `path` is node `node`: link the images that name it. */
int ifs_join_member(struct ifs_join *j, const char *path, size_t len, int64_t node,
		    ifs_err *err);
void ifs_join_free(struct ifs_join *j);

/* Generated files (generated.c): makes one (with-bbox/{train,val}.json,
 * submission_template.csv) into *out (malloc'd), and records the size of
 * each in `generated` (at build time). */
int ifs_generate(sqlite3 *db, const char *name, ifs_buf *out, ifs_err *err);
int ifs_generated_record(sqlite3 *db, ifs_err *err);

#endif

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

/* State of the pristine tree while archives are scanned into it. */
typedef struct ifs_tree {
	sqlite3 *db;
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

/* After all scans: directory child counts (for link counts). */
int ifs_tree_finish(ifs_tree *t, ifs_err *err);

/* What the join of JSON images to tar members found. */
typedef struct ifs_join_counts {
	int64_t joined;    /* distinct members named by some image */
	int64_t missing;   /* images whose member is not in the tarballs */
	int64_t stray;     /* file members no image names */
} ifs_join_counts;

struct ifs_catalog;
/* Inserts the annotations (after the scans: joins through t->files). */
int ifs_catalog_insert(sqlite3 *db, const struct ifs_catalog *c, const ifs_tree *t,
		       ifs_join_counts *jc, int *class_width, ifs_err *err);

/* Generated files: with-bbox/{train,val}.json, submission_template.csv. */
int ifs_blobs_build(sqlite3 *db, ifs_err *err);

#endif

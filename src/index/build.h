/*
 * build.h - pieces of the index build shared between build*.c (private).
 */
#ifndef INATFS_INDEX_BUILD_H
#define INATFS_INDEX_BUILD_H

#include <stdint.h>
#include <sqlite3.h>

#include "inatfs/buf.h"
#include "inatfs/err.h"
#include "inatfs/gz.h"
#include "inatfs/index.h"
#include "inatfs/strmap.h"

struct ifs_join;

/*
 * Where the interrupted scan of one archive goes on (an adopted temporary
 * file, build.c). tar_off 0: the archive starts afresh (with the counters
 * restored). Else the gzip scan resumes at cp (stored checkpoint + the
 * stream state recorded with it) and the tar scanner at tar_off, after
 * tar_count members.
 */
typedef struct ifs_scan_resume {
	int archive;
	uint64_t tar_off, tar_count;
	ifs_gz_checkpoint cp;   /* where the gzip scan goes on (no window) */
	uint8_t *window;        /* the exact output before cp.out, min(32 KiB,
				 * cp.out - cp.member_out) bytes (malloc'd) */
	int prefix;   /* test tarball layout: -1 undecided, 0 as stored, 1 under test2017/ */
} ifs_scan_resume;

struct scan;

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
	const ifs_scan_resume *resume;   /* set by an adopted build; may be NULL */
	struct scan *cur;                /* the scan running, for ifs_tree_resume_record */
} ifs_tree;

int ifs_tree_init(ifs_tree *t, sqlite3 *db, int64_t default_mtime, ifs_err *err);
void ifs_tree_free(ifs_tree *t);

/*
 * An interrupted build's tree: the path maps and next id from `nodes` (the
 * counters are the caller's, from the resume record).
 */
int ifs_tree_restore(ifs_tree *t, sqlite3 *db, int64_t default_mtime, ifs_err *err);

/*
 * The resume record for the scan running now, consistent with what it has
 * written so far (call between tar feeds, i.e. from tick): 1 and the text in
 * buf, or 0 if this scan cannot be resumed (then none must be kept).
 */
int ifs_tree_resume_record(const ifs_tree *t, char *buf, size_t size);
/* The record before any scan: the first archive from its start. */
int ifs_tree_resume_initial(const ifs_tree *t, char *buf, size_t size);
/* Parses a record; 0 or -EINVAL. The window of r->cp is not filled. */
int ifs_tree_resume_parse(const char *rec, ifs_scan_resume *r, ifs_tree *t);

/* Scans one tarball (gz + tar in one pass) into nodes and checkpoints
 * (resuming it if t->resume names it). */
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

/* An interrupted build's links still to make: from the images table and the
 * restored tree (t->paths). */
int ifs_join_restore(sqlite3 *db, const ifs_tree *t, struct ifs_join **out, ifs_err *err);

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

/*
 * build.h - pieces of the index build shared between build*.c (private).
 */
#ifndef INATFS_INDEX_BUILD_H
#define INATFS_INDEX_BUILD_H

#include <limits.h>
#include <stdint.h>
#include <time.h>
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

/* Damage a scan found (see ifs_damage in index.h): kept until it is written. */
typedef struct ifs_tree_damage {
	int found;
	const char *kind;
	uint64_t in_off, in_size, good_out;
	char message[512];
} ifs_tree_damage;

#define IFS_TREE_STMTS 5

/* State of the pristine tree while archives are scanned into it. */
typedef struct ifs_tree {
	sqlite3 *db;
	struct ifs_join *join;   /* members -> JSON images, as they are scanned */
	/* called often from the scan (the build commits from here); may be NULL */
	int (*tick)(void *ctx, const char *file, uint64_t in_done, uint64_t in_total,
		    ifs_err *err);
	void *tick_ctx;
	/* mount path -> node id, negated while pending (tree_nodes.c), 0 for none */
	ifs_strmap *dirs;      /* every directory ("" = root) */
	ifs_strmap *paths;     /* every regular file */
	int64_t next_id;       /* next node id */
	int64_t default_mtime; /* for directories the tar does not list */
	uint64_t files, skipped_unsafe, skipped_type, duplicates;
	const ifs_scan_resume *resume;   /* set by an adopted build; may be NULL */
	struct scan *cur;                /* the scan running, for ifs_tree_resume_record */
	ifs_tree_damage damage[IFS_ARCHIVE_MAX + 1];   /* found by this run's scans */
	sqlite3_stmt *st[IFS_TREE_STMTS];              /* tree_nodes.c's, prepared on use */
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
 * buf; 0 if this scan cannot be resumed (then none must be kept); -1 if not
 * yet (the checkpoint it needs has not been delivered): commit later.
 */
int ifs_tree_resume_record(const ifs_tree *t, char *buf, size_t size);
/* The record before any scan: the first archive from its start. */
int ifs_tree_resume_initial(const ifs_tree *t, char *buf, size_t size);
/* Parses a record; 0 or -EINVAL. The window of r->cp is not filled. */
int ifs_tree_resume_parse(const char *rec, ifs_scan_resume *r, ifs_tree *t);

/*
 * Scans one tarball (gz + tar in one pass) into nodes and checkpoints
 * (resuming it if t->resume names it), and records it in `archives`. Damage
 * in the tarball's own bytes (index.h, ifs_damage) is not a failure: the
 * scan stops there, keeps what lies before it and the nodes the JSON
 * planted after it, records the damage in `damage` and t->damage[archive],
 * and returns 0. A tarball scanned whole loses its planted nodes that no
 * member filled.
 */
int ifs_tree_scan_archive(ifs_tree *t, int archive, const char *path,
			  const ifs_build_opts *opts, ifs_err *err);

/* ---- the rows of `checkpoints` (cpwrite.c) ---- */

/* The stream state a stored checkpoint carries (for resume records). */
typedef struct ifs_cp_state {
	uint64_t out, in_bit, member_out;
	uint32_t crc, members;
} ifs_cp_state;
#define IFS_CPW_RING 512   /* more than the sparse-window thread can lag behind */

/*
 * One archive's checkpoints as the scan delivers them, each written with the
 * member ends in its range (schema.h, checkpoints.ends): held until the next
 * one arrives, the last one until ifs_cpw_finish. Errors go to the err given
 * at init.
 */
typedef struct ifs_cpwriter {
	sqlite3 *db;
	sqlite3_stmt *ins;
	int archive;
	ifs_err *err;
	int held;                  /* cp is held, not written yet */
	ifs_gz_checkpoint cp;      /* its window in `window` */
	uint8_t *window, *blob;
	size_t window_cap, blob_cap;
	struct ifs_cp_end { uint64_t out, in_end; } *ends;   /* boundaries to write */
	size_t ends_head, nends, ends_cap;
	uint64_t *pend;            /* member data ends whose boundary is to come */
	size_t pend_head, npend, pend_cap;
	ifs_cp_state ring[IFS_CPW_RING];   /* the last ones written */
	uint64_t nring;
	ifs_cp_state first;        /* the held first checkpoint, for a record */
} ifs_cpwriter;

int ifs_cpw_init(ifs_cpwriter *w, sqlite3 *db, int archive, ifs_err *err);
void ifs_cpw_free(ifs_cpwriter *w);
/* A member's data ends at uncompressed offset end (called in increasing
 * order, before the scan reports the boundary at or after it). */
int ifs_cpw_member_end(ifs_cpwriter *w, uint64_t end);
/* A point the scan reports (ifs_gz_boundary_fn: a block boundary, or a
 * member's exact end): the first at or after each member end is kept. */
int ifs_cpw_boundary(ifs_cpwriter *w, uint64_t out, uint64_t in_end);
/* A delivered checkpoint (ifs_gz_checkpoint_fn): the one held is written,
 * this one held. */
int ifs_cpw_checkpoint(ifs_cpwriter *w, const ifs_gz_checkpoint *cp);
/* The scan is over (whole, or stopped at damage): the one held is written. */
int ifs_cpw_finish(ifs_cpwriter *w);
/*
 * Where a scan stopped at tar offset off can go on: the last checkpoint
 * written with out <= off, else the archive's first one (at offset 0, no
 * window) while it is held, which the next scan makes again (so that the
 * start of an archive does not hold commits back); NULL if none.
 */
const ifs_cp_state *ifs_cpw_stored(ifs_cpwriter *w, uint64_t off);
/* A scan that goes on from the stored checkpoint cp (its state from the
 * record): if that is the archive's first, it is held again, to be written
 * with the ends in its range (a no-op if its row is there already). */
int ifs_cpw_resume_first(ifs_cpwriter *w, const ifs_gz_checkpoint *cp);

/* ---- the rows of the pristine trees (tree_nodes.c) ---- */

/*
 * Node id of folder `path` (len bytes, "" the root) of archive, made with
 * its parents if missing: pending ones when `plant`; else a pending one met
 * here becomes real, with its parents. A file planted at that path gives way;
 * a member stored there (or at a parent's path) stays: 1, nothing made.
 */
int ifs_tree_dir(ifs_tree *t, int archive, const char *path, size_t len, int plant, int64_t *id,
		 ifs_err *err);
/* A folder's own entry in the tar: its mtime and mode. */
int ifs_tree_dir_attrs(ifs_tree *t, int64_t id, int64_t mtime, uint32_t mode, ifs_err *err);
struct ifs_tar_entry;
/*
 * The scan met the regular file `path` of archive (e: the ended member).
 * *id gets its node: the one the JSON planted (now real), a new one, or the
 * earlier copy of a member stored twice (*dup set), which this one replaces,
 * as with tar -x. -EEXIST (no message) when a folder has that path, 1 when
 * a member is stored at a parent's path (a/b, then a/b/c).
 */
int ifs_tree_member(ifs_tree *t, int archive, const char *path, size_t len,
		    const struct ifs_tar_entry *e, int64_t *id, int *dup, ifs_err *err);
/* Before the scan: a pending node for every file (and folder) that a JSON
 * image names, in each archive with present[archive] set. */
int ifs_tree_plant(ifs_tree *t, const int present[IFS_ARCHIVE_MAX + 1], ifs_err *err);
/* After archive was scanned whole: its pending nodes go. */
int ifs_tree_prune(ifs_tree *t, int archive, ifs_err *err);
void ifs_tree_stmts_free(ifs_tree *t);

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

/*
 * The names of the images in the split views, unique in each folder (the
 * rule: viewnames.c). (*out)[i] is image i's name when it is not the safe
 * form of its file_name's base name, else NULL; *renamed counts the former.
 */
int ifs_view_names(const struct ifs_catalog *c, char ***out, size_t *renamed, ifs_err *err);

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

/* ---- the build's state (build.c, build_resume.c) ---- */

struct ifs_build {
	char *data_dir, *path;
	char tmp[PATH_MAX];
	const ifs_build_opts *opts;   /* the caller's (live may be set after begin) */
	sqlite3 *db;
	ifs_tree tree;
	int class_width;
	time_t t0;
	struct timespec last_commit;
	struct timespec file_start;   /* of the tarball being scanned (scan_limit) */
	uint64_t file_in0;            /* where this run's scan of it started (a resumed
				       * scan does not start at 0) */
	const char *file;
	volatile int cancel;
	int renamed, scanned;
	int keep_tmp;             /* cancelled: the next build resumes from the file */
	int adopted;              /* this build goes on with an interrupted one */
	ifs_scan_resume resume;
	ifs_damage damage[IFS_ARCHIVE_MAX + 1];   /* archive 0: none found */
};

/* The fingerprint of input file f in data_dir, or "absent" (*fp malloc'd). */
int ifs_build_source_fingerprint(const char *data_dir, const char *f, char **fp, ifs_err *err);
/* The same for every file of ifs_source_files, all at once (fps[i] for
 * the i-th; a remote place pays one round trip, not one per file). On an
 * error, the first file's in that order is in err and fps holds nothing. */
int ifs_build_source_fingerprints(const char *data_dir, char **fps, ifs_err *err);
/*
 * Goes on with an interrupted build if there is one for the same inputs
 * (claimed into b->tmp): restores the tree, the links still to make and the
 * scan's resume point; removes the other temporaries of processes that are
 * gone. Returns 1 (adopted, b->db open in a transaction), 0 (none: start
 * afresh) or a negative errno.
 */
int ifs_build_adopt(ifs_build *b, const char *data_dir, int64_t default_mtime, ifs_err *err);
void ifs_build_resume_clear(ifs_scan_resume *rs);

#endif

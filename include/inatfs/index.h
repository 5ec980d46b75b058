/*
 * index.h - the SQLite index: tar members, checkpoints and annotations, built
 * once from the original downloads and reused by every later mount.
 *
 * Life cycle:
 *   ifs_index_locate()  where the index file lives (-o index=PATH, else
 *                       DATA_DIR/.inatfs-index.sqlite if DATA_DIR is writable,
 *                       else $XDG_CACHE_HOME/inatfs/<hash of DATA_DIR>.sqlite;
 *                       for a URL prefix $XDG_CACHE_HOME/inatfs/<name>.idx)
 *   ifs_index_check()   is an existing file usable? (schema version, and the
 *                       archives are the same files: size, mtime, hash of the
 *                       first and last MiB). Says why not.
 *   ifs_index_build()   builds into PATH.tmp-<pid>, fsyncs and renames it into
 *                       place: a build killed at any moment leaves the old
 *                       index or none, never a corrupt one, and the next
 *                       build of the same inputs goes on where it stopped
 *                       (opts->fresh: starts afresh). It is
 *                       ifs_build_begin() + ifs_build_scan(): a mount serves
 *                       between the two (a "live" index, see below).
 *   ifs_index_open()    opens a checked index read-only for serving.
 *
 * Threading: an ifs_index may be used from many threads at once; each thread
 * gets its own SQLite connection.
 *
 * What the index holds is asked through index_query.h; the SQL, the schema
 * (schema.c, docs/design.md) and the connections stay inside src/index.
 */
#ifndef INATFS_INDEX_H
#define INATFS_INDEX_H

#include <stdint.h>
#include <stdio.h>

#include "inatfs/err.h"
#include "inatfs/gz.h"
#include "inatfs/source.h"

#define IFS_SCHEMA_VERSION 13

/* The archives inatfs knows, by their download names. */
enum ifs_archive_id { IFS_ARCHIVE_TRAINVAL = 1, IFS_ARCHIVE_TEST = 2 };
#define IFS_ARCHIVE_MAX 2
/* "train_val_images.tar.gz" / "test2017.tar.gz" */
const char *ifs_archive_file(int archive);

/*
 * Chooses the index path: explicit (may be NULL) wins; else a file inside
 * data_dir if writable; else under $XDG_CACHE_HOME (or ~/.cache)/inatfs/.
 * *out is malloc'd.
 */
int ifs_index_locate(const char *data_dir, const char *explicit_path, char **out,
		     ifs_err *err);

/* $XDG_CACHE_HOME/inatfs, else ~/.cache/inatfs, created if missing (*out
 * malloc'd); -EACCES when neither variable is set. The index of a URL
 * prefix lives there ("<name from the URL>-<crc>.idx"), and the default
 * cache of fetched bytes ("cache"). */
int ifs_cache_home(char **out, ifs_err *err);

/*
 * 0 if the index at path exists, has this schema version and matches the
 * archives now in data_dir; -ENOENT if there is no index; -ESTALE if it must
 * be rebuilt (err says why: "train_val_images.tar.gz changed (size)", "schema
 * version 0, expected 1", "not an inatfs index", ...).
 */
int ifs_index_check(const char *path, const char *data_dir, ifs_err *err);

/* Build progress, for the CLI's progress bar. */
typedef struct ifs_build_progress {
	const char *phase;      /* "annotations", "scan", "join", "write" */
	const char *file;       /* file being processed */
	uint64_t done, total;   /* bytes of the current archive */
	uint64_t out_done;      /* uncompressed bytes */
} ifs_build_progress;
typedef void (*ifs_build_progress_fn)(void *ctx, const ifs_build_progress *p);

typedef struct ifs_index ifs_index;

typedef struct ifs_build_opts {
	ifs_build_progress_fn progress;   /* may be NULL */
	void *ctx;
	FILE *report;                     /* summary lines (counts, mismatches); may be NULL */
	ifs_index *live;                  /* told of every commit of the scan; may be NULL */
	double scan_limit;                /* bytes of tarball per second the scan may read
					   * (0: as fast as it can) */
	int scan_threads;                 /* the scan's decoding threads (ifs_gz_scan_opts.threads:
					   * 0 one per CPU, IFS_GZ_SERIAL the serial scan) */
	int fresh;                        /* do not go on with an interrupted build */
} ifs_build_opts;

/* Builds the index for data_dir at path (atomically, see above). */
int ifs_index_build(const char *data_dir, const char *path, const ifs_build_opts *opts,
		    ifs_err *err);

/*
 * A build in two steps, so that a mount can serve while the tarballs are
 * scanned (minutes on the real data):
 *   ifs_build_begin()   checks the start of every tarball, loads the
 *                       annotations and commits them, with the indexes the
 *                       views need, to the temporary file
 *                       (ifs_build_temp_path). Seconds. Or it takes over the
 *                       temporary file of an interrupted build of the same
 *                       inputs (on this boot), and the scan goes on from
 *                       its last commit.
 *   ifs_build_scan()    scans the tarballs, committing members and
 *                       checkpoints about twice a second (each commit is
 *                       announced to opts->live), then finishes the index and
 *                       renames it into place. Call it once, from any thread.
 *   ifs_build_cancel()  from any thread: ifs_build_scan() returns -ECANCELED
 *                       soon after.
 *   ifs_build_free()    removes the temporary file unless it was renamed,
 *                       or the scan was cancelled (kept: the next build
 *                       goes on with it).
 * opts must stay valid until ifs_build_free.
 */
typedef struct ifs_build ifs_build;
int ifs_build_begin(const char *data_dir, const char *path, const ifs_build_opts *opts,
		    ifs_build **out, ifs_err *err);
const char *ifs_build_temp_path(const ifs_build *b);
int ifs_build_scan(ifs_build *b, ifs_err *err);
/* After ifs_build_scan: how many archives it found damaged (ifs_damage). */
int ifs_build_damaged(const ifs_build *b);
void ifs_build_cancel(ifs_build *b);
void ifs_build_free(ifs_build *b);

/*
 * A "live" index is one still being built: opened from the temporary file
 * with ifs_index_open_live(), it answers from what has been committed so
 * far. Images whose member the scan has not reached are "pending": the
 * views return -EAGAIN for them, and the caller waits (ifs_index_wait) and
 * asks again. The build thread moves the state on.
 */
enum ifs_live_state {
	IFS_LIVE_NO = 0,     /* a complete index (ifs_index_open) */
	IFS_LIVE_SCANNING,   /* the scan is running */
	IFS_LIVE_DONE,       /* the scan ended and the index is complete */
	IFS_LIVE_FAILED,     /* the scan failed or was cancelled: pending stays pending */
};
int ifs_index_open_live(const char *temp_path, const char *data_dir, ifs_index **out,
			ifs_err *err);
int ifs_index_live_state(ifs_index *idx);
/* Can nothing in the index change any more (IFS_LIVE_NO or IFS_LIVE_DONE)? */
int ifs_index_complete(ifs_index *idx);
/* The number of commits announced so far (read it before asking the views). */
uint64_t ifs_index_generation(ifs_index *idx);
/* Announces a commit, or a new state (state < 0: unchanged); wakes the waiters. */
void ifs_index_publish(ifs_index *idx, int state);
/* Waits until the generation differs from gen, or timeout_ms passed. */
void ifs_index_wait(ifs_index *idx, uint64_t gen, int timeout_ms);

/* Opens a (checked) index read-only. data_dir is where the archives are. */
int ifs_index_open(const char *path, const char *data_dir, ifs_index **out, ifs_err *err);
void ifs_index_close(ifs_index *idx);

const char *ifs_index_data_dir(const ifs_index *idx);
const char *ifs_index_path(const ifs_index *idx);

/* Where an archive's bytes come from (opened at ifs_index_open, owned by the
 * index; any thread may read it), or NULL when the archive is not there. */
ifs_source *ifs_index_archive(const ifs_index *idx, int archive);

/*
 * The checkpoint that serves uncompressed offset off in archive (the last
 * one with from <= off); the window is malloc'd into cp (free with
 * ifs_gz_checkpoint_clear). 0; -EAGAIN (err untouched) when a live index has
 * none yet (the scan has not delivered it: wait for the next commit and ask
 * again, reader.h); -EIO when there is none, or the row is corrupt; -ENOMEM.
 */
int ifs_index_checkpoint(ifs_index *idx, int archive, uint64_t off, ifs_gz_checkpoint *cp,
			 ifs_err *err);

/*
 * Where the compressed bytes that output archive's data up to uncompressed
 * offset end (a member's data end) stop: the in_end of the first point
 * recorded at or after it (gz.h, ifs_gz_boundary_fn: the member's exact end,
 * else the block boundary after it). 0 when the index has none (a live
 * index's scan has not got there yet).
 */
uint64_t ifs_index_in_end(ifs_index *idx, int archive, uint64_t end);

/* The input files an index depends on (NULL-terminated list of base names). */
extern const char *const ifs_source_files[];

/*
 * A generated file ("with-bbox/train.json", "with-bbox/val.json",
 * "submission_template.csv"), made from the index now into *data
 * (malloc'd). Its size was recorded at build time (table `generated`).
 */
int ifs_index_generate(ifs_index *idx, const char *name, uint8_t **data, size_t *len,
		       ifs_err *err);

/*
 * Damage the scan found in an archive's own bytes (an interrupted download,
 * corrupt data): it is no build failure. The index keeps everything before
 * it: every uncompressed byte before good_out is the archive's (in a
 * truncated file, no gzip trailer vouches for them, but a prefix of a
 * deflate stream decodes to a prefix of its output). Members that end after
 * good_out, and images the scan never reached, are listed and fail with EIO
 * (views.h). A later mount of the unchanged archive reports it at once.
 */
typedef struct ifs_damage {
	int archive;
	char kind[32];          /* "truncated", "corrupt deflate data", ... */
	uint64_t in_off;        /* where in the archive it was found */
	uint64_t in_size;       /* the archive's size */
	uint64_t good_out;
	int64_t images;         /* JSON images it leaves unreadable (once the build ended) */
	char message[512];      /* the scan's own words */
} ifs_damage;
/* 1 and *d when archive has damage recorded (in a live index: so far), 0 if
 * not, -EIO if the index cannot say. */
int ifs_index_damage(ifs_index *idx, int archive, ifs_damage *d);
/* One line for users: which file (in data_dir, may be NULL), what, where,
 * what it costs, what to do. */
void ifs_damage_describe(const ifs_damage *d, const char *data_dir, char *buf, size_t size);

/* The files ifs_index_generate makes (NULL-terminated). */
extern const char *const ifs_generated_files[];

/* Is name a path component that can be served (not NULL, empty, "." or
 * "..", no '/', at most 255 bytes)? Names read from an index are checked
 * with it. */
int ifs_index_name_ok(const char *name);

/* meta table lookups (counts, build facts); returns a malloc'd string or NULL. */
char *ifs_index_meta(ifs_index *idx, const char *key);

/* Opens a download (DATA_DIR/name, or a URL: place.h) as a source: a local
 * file as trusted input (trust.h). */
int ifs_archive_open(const char *path, ifs_source **out, ifs_err *err);

/*
 * Archive fingerprint: "size:mtime:hash" where hash covers the first and last
 * MiB, read through the source (mtime 0 where the source knows none); a
 * remote object's is "size:remote:hash:identity" (source.h). The check
 * compares a remote object by identity alone, and a local copy with a remote
 * one by size and hash, so an index serves either. *out is malloc'd.
 * ifs_archive_fingerprint opens path with ifs_archive_open.
 */
int ifs_source_fingerprint(ifs_source *src, char **out, ifs_err *err);
int ifs_archive_fingerprint(const char *path, char **out, ifs_err *err);

#endif

/*
 * cli.h - the inatfs command: subcommands and their shared helpers.
 *
 * Exit codes (also in the README):
 *   0  success
 *   1  usage error (bad arguments or options)
 *   2  bad input: DATA_DIR, an archive or an annotation file is missing,
 *      unreadable, corrupt or malformed
 *   3  the index cannot be written or read (disk full, permissions, corrupt)
 *   4  the mount failed (mount point missing, not a folder, not empty,
 *      already mounted, FUSE unavailable)
 *   5  verify found damaged members
 */
#ifndef INATFS_CLI_H
#define INATFS_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "inatfs/err.h"
#include "inatfs/index.h"

enum {
	EXIT_USAGE = 1,
	EXIT_INPUT = 2,
	EXIT_INDEX = 3,
	EXIT_MOUNT = 4,
	EXIT_DAMAGED = 5,
};

int cmd_mount(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_score(int argc, char **argv);

/* Prints "inatfs: MSG" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Checks DATA_DIR: exists, is a folder, readable, holds the two required downloads. */
int cli_check_data_dir(const char *data_dir);

/*
 * Makes sure a usable index exists for data_dir (building it, with a
 * progress display on stderr, if missing or stale) and returns its path
 * (malloc'd) in *path. Returns an exit code (0 on success).
 */
int cli_ensure_index(const char *data_dir, const char *explicit_index, int force,
		     int scan_threads, char **path);

/*
 * The value of -o scan_threads=N: 1 to IFS_GZ_THREADS_MAX decoding
 * threads, or 0 for the serial scan. Returns 0 and sets *threads
 * (ifs_build_opts.scan_threads), or prints why not and returns EXIT_USAGE.
 */
int cli_scan_threads(const char *v, int *threads);

/*
 * For the mount: like cli_ensure_index, but a missing or stale index is
 * only begun (ifs_build_begin: annotations loaded, tarballs' starts
 * checked); *build is then set, and the caller runs the scan while serving.
 * o must outlive *build.
 */
int cli_begin_index(const char *data_dir, const char *explicit_index, const ifs_build_opts *o,
		    char **path, ifs_build **build);

/*
 * Damage recorded in the index (ifs_damage): one line per damaged archive
 * to out (may be NULL) and, with log, to syslog. Returns how many.
 */
int cli_report_damage(const char *index_path, const char *data_dir, FILE *out, int log);
/* Set by cli_ensure_index when it built the index (which printed its damage). */
extern int cli_built_now;

/* Maps a core error to an exit code (input vs index problem). */
int cli_exit_code(const ifs_err *err, int for_index);
/* The exit code of a failed build (r: its return value). */
int cli_build_exit_code(int r, const ifs_err *err);

/*
 * DATA_DIR as a URL prefix (remote.c). cli_source_opt takes one source
 * option in its -o form (key or key=value; cli_is_source_opt says whether
 * a key is one), cli_source_long its --long form at argv[*i] (dashes for
 * underscores; the value after '=' or in the next argument): 0, -1 when
 * argv[*i] is not one, or an exit code. cli_source_setup, once the options
 * are read, gives a URL prefix its cache (-o cache, else
 * $XDG_CACHE_HOME/inatfs/cache, none with -o nocache) and options;
 * cli_check_remote then checks that the required downloads are there and
 * reachable (one message naming the URL, EXIT_INPUT). Paths given
 * relative are made absolute.
 */
int cli_is_source_opt(const char *kv);
/* The DATA_DIR argument: a URL normalised (place.h) and set up
 * (cli_source_setup); a local path kept. 0 or an exit code. */
int cli_data_arg(const char **data);
int cli_source_opt(const char *kv);
int cli_source_long(int argc, char **argv, int *i);
int cli_source_setup(const char *data);
int cli_check_remote(const char *data);
/* Reads that fail for good are logged to syslog too (the daemon). */
void cli_source_log_to_syslog(void);
/* Requests and bytes fetched by this process, and the cache (a URL prefix). */
void cli_print_source_stats(FILE *out, const char *data);
/* The cache folder of a URL prefix once set up (NULL: none). */
const char *cli_source_cache_dir(void);

/*
 * The records of running mounts (daemons.c, daemonrec.h), kept in
 * $XDG_CACHE_HOME/inatfs/daemons (without a cache home: the index's
 * folder). cli_daemon_publish, in the daemon once it runs in the
 * background: writes this mount's record and starts the thread that
 * rewrites it with the source counters (once a second while they change);
 * a failure is one note (stderr, or syslog with log) and the mount goes on.
 * cli_daemon_unpublish stops it and removes the record (nothing published:
 * nothing done). cli_print_daemons (info): every live mount of data_dir on
 * this machine, with its counters, other machines' recent ones, or that
 * none runs; unusable records noted on stderr.
 */
void cli_daemon_publish(const char *data_dir, const char *mountpoint, const char *index_path,
			int log);
void cli_daemon_unpublish(void);
void cli_print_daemons(FILE *out, const char *data_dir, const char *index_path);

/*
 * One build of an index among processes wanting it at once (buildlock.c):
 * takes PATH.lock, or waits for its holder (showing its progress) until it
 * is released or its holder is dead, then takes it. 1: held (or no lock
 * could be made there: the build goes on without it); 2: held after waiting
 * for another builder (the index may be usable now: check it again).
 * cli_build_lock_note records the build's temporary file for the waiters;
 * cli_build_lock_after_fork moves the lock to a daemon's child;
 * cli_build_unlock releases it (once the index is renamed into place, or
 * the build failed); it may be called when nothing is held.
 */
int cli_build_lock(const char *path);
void cli_build_lock_note(const char *tmp);
void cli_build_lock_after_fork(void);
void cli_build_unlock(void);

/*
 * An index given as a URL (index_url.c): fetched once into the cache
 * folder and checked against data_dir's downloads; *index then names the
 * local copy (held in *held, malloc'd, for the caller to free), or is NULL
 * when the copy does not serve them (said on stderr: the default path is
 * used). A local *index is left alone. 0 or an exit code.
 */
int cli_index_url(const char *data_dir, const char **index, char **held);

/* Progress display for the build (progress.c). */
void cli_progress(void *ctx, const ifs_build_progress *p);
void cli_progress_done(void);

/* A generic byte-progress line for verify (progress.c). */
void cli_progress_bytes(const char *what, uint64_t done, uint64_t total);

#endif

/*
 * daemonrec.h - what a running mount tells other processes about itself,
 * for `inatfs info SOURCE`: one small file per daemon (its "record") with
 * its process, machine, mount point, source and the source counters
 * (source.h: requests, bytes fetched, cache hits and misses, cache size).
 *
 * The daemon rewrites its record atomically (a temporary file renamed over
 * it) while the counters change, at least every IFS_DAEMONREC_BEAT_S
 * seconds, and removes it when it ends. A reader lists the records of one
 * source in a folder and judges each by what it can check itself, never by
 * what the file claims alone:
 *   - this machine (same host name and boot id): live when the process runs
 *     and started when the record says (a reused process id is not it);
 *     otherwise dead, and removed;
 *   - another machine (a folder shared over NFS): shown while the file was
 *     written in the last IFS_DAEMONREC_STALE_S seconds (by its mtime),
 *     removed once silent for IFS_DAEMONREC_GONE_S.
 *
 * File: DIR/<name>-<crc>@<host>.<pid>.json, mode 0600, where <name> is the
 * source made safe for a file name (at most 60 bytes), <crc> the CRC-32 of
 * the whole source in 8 hex digits, <host> the host name made safe. Its
 * text is one JSON object, at most IFS_DAEMONREC_MAX bytes:
 *
 *   {"inatfs_daemon": 1, "pid": N, "start": N, "host": S, "boot": S,
 *    "source": S, "mountpoint": S, "index": S, "started": N, "updated": N,
 *    "cache": S|null, "cache_busy": B, "requests": N, "retries": N,
 *    "bytes_fetched": N, "cache_hits": N, "cache_misses": N, "cache_bad": N,
 *    "cache_bytes": N}
 *
 * start: the process's start time in clock ticks after boot
 * (/proc/PID/stat), started and updated: Unix seconds. Numbers are whole,
 * 0 to 2^53. The record holds no credentials: a source is a URL prefix
 * without user:password@ (source.h refuses one; the writer drops any) or a
 * folder; the counters are counts.
 *
 * Every record read is hostile input: a file that is not a regular file of
 * this user, larger than IFS_DAEMONREC_MAX, or not a record of this form is
 * reported (IFS_DREC_BAD, with why) and never used; the one of a process
 * gone from this machine is removed.
 *
 * Errors: 0 or a negative errno with err filled (names the file).
 * Thread safety: none needed (no shared state); one writer per record.
 */
#ifndef INATFS_DAEMONREC_H
#define INATFS_DAEMONREC_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "inatfs/err.h"
#include "inatfs/source.h"

#define IFS_DAEMONREC_MAX (64 << 10)
#define IFS_DAEMONREC_BEAT_S 10      /* rewritten at least this often */
#define IFS_DAEMONREC_STALE_S 60     /* another machine's: shown while this fresh */
#define IFS_DAEMONREC_GONE_S 3600    /* another machine's: removed past this */

typedef struct ifs_daemonrec {
	long pid;
	unsigned long long start;    /* clock ticks after boot when the process started */
	char host[256];
	char boot[64];               /* /proc/sys/kernel/random/boot_id ("" unknown) */
	char source[PATH_MAX];       /* URL prefix (place.h's form) or DATA_DIR, absolute */
	char mountpoint[PATH_MAX];
	char index[PATH_MAX];        /* the index it serves ("" not said) */
	char cache[PATH_MAX];        /* the cache folder configured ("" none) */
	int cache_busy;              /* ... but in use by another process: none used */
	int64_t started, updated;    /* Unix seconds */
	ifs_source_stats st;
} ifs_daemonrec;

/* Fills the calling process's pid, start, host and boot (after any fork). */
int ifs_daemonrec_self(ifs_daemonrec *r, ifs_err *err);

/*
 * The file name (no folder) of r's record into out: 0, or -ENAMETOOLONG.
 * ifs_daemonrec_prefix: the part every record of source shares ("<name>-<crc>@").
 */
int ifs_daemonrec_name(const ifs_daemonrec *r, char *out, size_t size);
int ifs_daemonrec_prefix(const char *source, char *out, size_t size);

/* Writes r into dir (created 0700 if missing): a temporary file, renamed. */
int ifs_daemonrec_write(const char *dir, const ifs_daemonrec *r, ifs_err *err);

/* Removes r's record from dir (and a temporary one); missing is fine. */
void ifs_daemonrec_remove(const char *dir, const ifs_daemonrec *r);

/* Parses a record's text (len bytes, no terminator needed) into *r. what
 * names it in messages. -EINVAL: not a record (err says what is wrong). */
int ifs_daemonrec_parse(const char *text, size_t len, const char *what, ifs_daemonrec *r,
			ifs_err *err);

enum {
	IFS_DREC_LIVE = 1,        /* a daemon running on this machine */
	IFS_DREC_ELSEWHERE,       /* another machine's, written recently */
	IFS_DREC_BAD,             /* a file that is not a usable record: r NULL, why set */
};

/* Called for each record listed: r (the record, NULL for IFS_DREC_BAD),
 * age (seconds since its file was written), why (IFS_DREC_BAD: what is
 * wrong, naming the file). */
typedef void (*ifs_daemonrec_fn)(void *ctx, int state, const ifs_daemonrec *r, double age,
				 const char *why);

/*
 * Calls fn for every record of source in dir, in no particular order, and
 * removes the dead ones (and temporary files of processes gone). Returns
 * how many calls were made: 0 when dir does not exist; a negative errno
 * when it cannot be read (err names it).
 */
int ifs_daemonrec_list(const char *dir, const char *source, ifs_daemonrec_fn fn, void *ctx,
		       ifs_err *err);

#endif

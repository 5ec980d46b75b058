/*
 * lockfile.h - one builder of an index among several processes, on one
 * machine or on many sharing a file system (NFS included, where flock and
 * fcntl locks may not reach the other machines).
 *
 * The lock is a file (PATH.lock beside the index) created with O_EXCL; it
 * holds its holder's host, boot id, process id, a note (the build's
 * temporary file, for the progress of those waiting) and a beat counter
 * that a thread of the holder rewrites every two seconds. A waiter judges
 * the lock dead by what it reads, with its own clock, never by the holder's:
 *   - the same host and boot, the process gone, the record unchanged for
 *     IFS_LOCK_DEAD_S seconds (a process killed on this machine);
 *   - otherwise the record unchanged for IFS_LOCK_STALE_S seconds (a
 *     machine that stopped, or lost the file system).
 * A dead lock is removed by one waiter at a time (PATH.lock.break, created
 * with O_EXCL, checked again under it), then all race to create it anew.
 * Reading the record opens the file each time: on NFS, close-to-open
 * consistency gives the newest beat where cached attributes would not.
 *
 * Not thread-safe per object: one thread uses a watch or a lock (the
 * heartbeat is the lock's own thread).
 */
#ifndef INATFS_LOCKFILE_H
#define INATFS_LOCKFILE_H

#include <limits.h>

#include "inatfs/err.h"

#define IFS_LOCK_BEAT_S 2
#define IFS_LOCK_DEAD_S 0.02   /* covers a daemon's fork: the child rewrites the record */
#define IFS_LOCK_STALE_S 30

/* What a waiter knows of the lock it waits for, from one try to the next. */
typedef struct ifs_lock_watch {
	char record[PATH_MAX + 512];   /* the record read last ("" none yet) */
	double since;                  /* when it last changed (CLOCK_MONOTONIC s) */
	/* the holder, from the record (empty when it could not be read) */
	char host[256];
	long pid;
	char note[PATH_MAX];
	int taken_over;                /* tries that removed a dead lock */
} ifs_lock_watch;

typedef struct ifs_lockfile ifs_lockfile;

/*
 * One try at the lock `path` (the lock file itself). 1: held now (*out
 * set, its heartbeat running, the note recorded); 0: someone else holds it
 * (w updated; a dead lock is removed on the way, so try again soon); a
 * negative errno when the file cannot be made (err names it).
 */
int ifs_lockfile_try(const char *path, const char *note, ifs_lock_watch *w, ifs_lockfile **out,
		     ifs_err *err);

/* Records a new note (the holder's temporary file). 0 or a negative errno. */
int ifs_lockfile_note(ifs_lockfile *l, const char *note);

/*
 * In the child of a fork (a daemon going to the background): the record
 * names this process and the heartbeat runs here. The parent must not
 * release the lock. 0 or a negative errno.
 */
int ifs_lockfile_after_fork(ifs_lockfile *l);

/* Stops the heartbeat and removes the lock file if it is still this
 * holder's; frees l (NULL is fine). */
void ifs_lockfile_release(ifs_lockfile *l);

#endif

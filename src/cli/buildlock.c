/*
 * buildlock.c - one build of an index among the processes that want it at
 * once (on one machine, or many sharing the index's folder): the first
 * takes PATH.lock (lockfile.h) and builds; the others wait, showing the
 * builder's progress from its temporary file, then use the index it made.
 * A builder that died is taken over: the lock is removed, and the taker
 * goes on with the interrupted build where it can (build_resume.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "inatfs/index_query.h"
#include "inatfs/lockfile.h"

static ifs_lockfile *held;   /* this process's, while it builds */

/* The holder's progress: its note is its temporary file, which is read
 * only when it is PATH.tmp-<pid> of this index (the lock file is input). */
static void show_progress(const char *path, const ifs_lock_watch *w)
{
	size_t pl = strlen(path);
	if (strncmp(w->note, path, pl) != 0 || strncmp(w->note + pl, ".tmp-", 5) != 0 ||
	    strspn(w->note + pl + 5, "0123456789") != strlen(w->note + pl + 5))
		return;
	char file[256], what[320];
	uint64_t done, total;
	if (ifs_build_read_progress(w->note, 1, file, sizeof file, &done, &total) < 0 || !file[0])
		return;
	snprintf(what, sizeof what, "waiting: another process scans %s", file);
	cli_progress_bytes(what, done, total);
}

int cli_build_lock(const char *path)
{
	char lock[PATH_MAX];
	if (snprintf(lock, sizeof lock, "%s.lock", path) >= (int)sizeof lock)
		return 1;   /* the build says what is wrong with the path */
	ifs_lock_watch w;
	memset(&w, 0, sizeof w);
	int said = 0, taken = 0;
	for (;;) {
		ifs_err err;
		ifs_err_clear(&err);
		int r = ifs_lockfile_try(lock, NULL, &w, &held, &err);
		if (r < 0) {
			/* a folder no one may write to: the build's own message says so */
			fprintf(stderr, "inatfs: note: %s; building without it\n", err.msg);
			return 1;
		}
		if (r == 1) {
			cli_progress_done();
			return said ? 2 : 1;
		}
		if (w.taken_over != taken) {
			taken = w.taken_over;
			cli_progress_done();
			fprintf(stderr, "inatfs: the build of %s by process %ld on %s stopped (no "
				"heartbeat); taking it over\n", path, w.pid, w.host[0] ? w.host : "?");
			continue;   /* the dead lock is gone: take it now */
		} else if (!said && w.host[0]) {
			char host[256];
			ifs_text_escape(w.host, host, sizeof host);
			fprintf(stderr, "inatfs: the index %s is being built by process %ld on %s; "
				"waiting for it\n", path, w.pid, host);
			said = 1;
		}
		if (said)
			show_progress(path, &w);
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

void cli_build_lock_note(const char *tmp)
{
	if (held && ifs_lockfile_note(held, tmp) < 0)
		fprintf(stderr, "inatfs: note: cannot record %s in the build lock\n", tmp);
}

void cli_build_lock_after_fork(void)
{
	if (held && ifs_lockfile_after_fork(held) < 0)
		fprintf(stderr, "inatfs: note: the build lock's heartbeat did not start\n");
}

void cli_build_unlock(void)
{
	ifs_lockfile_release(held);
	held = NULL;
}

/*
 * test_lockfile.c - the build lock (lockfile.h): one holder at a time, the
 * record a waiter reads (host, pid, note), the heartbeat, release, a dead
 * holder on this machine taken over at once, a silent holder elsewhere taken
 * over only once its record has not changed for IFS_LOCK_STALE_S (the
 * waiter's clock is moved, not waited for), and the record handed to a
 * forked child.
 */
#include "inatfs/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static char *lock_path;

static char *record(void)
{
	size_t n;
	uint8_t *b = tu_slurp(lock_path, &n);
	if (!b)
		return NULL;
	char *s = malloc(n + 1);
	memcpy(s, b, n);
	s[n] = '\0';
	free(b);
	return s;
}

/* A try with a fresh watch; returns what ifs_lockfile_try does. */
static int try_once(ifs_lock_watch *w, ifs_lockfile **l)
{
	ifs_err e;
	ifs_err_clear(&e);
	int r = ifs_lockfile_try(lock_path, "/idx.tmp", w, l, &e);
	if (r < 0)
		fprintf(stderr, "try: %s\n", e.msg);
	return r;
}

static void test_hold_and_release(void)
{
	ifs_lock_watch w = { 0 };
	ifs_lockfile *l = NULL, *l2 = NULL;
	CHECK(try_once(&w, &l) == 1 && l, "the first try holds the lock");
	char *rec = record();
	char want[64];
	snprintf(want, sizeof want, "pid %ld\n", (long)getpid());
	CHECK(rec && strstr(rec, want) && strstr(rec, "note /idx.tmp\n") &&
	      strstr(rec, "beat 0\n"), "the record names the holder: %s", rec ? rec : "(none)");
	free(rec);

	ifs_lock_watch w2 = { 0 };
	CHECK(try_once(&w2, &l2) == 0 && !l2, "a second try waits");
	CHECK(w2.pid == getpid() && strcmp(w2.note, "/idx.tmp") == 0 && w2.taken_over == 0,
	      "the waiter reads the holder (pid %ld, note %s)", w2.pid, w2.note);

	CHECK(ifs_lockfile_note(l, "/other.tmp") == 0, "a new note");
	CHECK(try_once(&w2, &l2) == 0 && strcmp(w2.note, "/other.tmp") == 0,
	      "the waiter sees it (%s)", w2.note);

	/* the heartbeat rewrites the record within a beat and a little */
	char *before = record();
	struct timespec ts = { IFS_LOCK_BEAT_S, 400 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	char *after = record();
	CHECK(before && after && strcmp(before, after) != 0 && !strstr(after, "beat 0\n"),
	      "the heartbeat moves the record on");
	free(before);
	free(after);

	ifs_lockfile_release(l);
	CHECK(access(lock_path, F_OK) < 0 && errno == ENOENT, "release removes the lock file");
	CHECK(try_once(&w2, &l2) == 1 && l2, "then the next try holds it");
	ifs_lockfile_release(l2);
	ifs_lockfile_release(NULL);
}

static void test_dead_holder_here(void)
{
	int fds[2];
	CHECK(pipe(fds) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		ifs_lock_watch w = { 0 };
		ifs_lockfile *l;
		char c = try_once(&w, &l) == 1 ? 'y' : 'n';
		if (write(fds[1], &c, 1) != 1)
			_exit(3);
		_exit(0);   /* killed, in effect: no release */
	}
	char c = 0;
	CHECK(read(fds[0], &c, 1) == 1 && c == 'y', "the child took the lock");
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "the child is gone");
	close(fds[0]);
	close(fds[1]);
	CHECK(access(lock_path, F_OK) == 0, "its lock stays behind");

	ifs_lock_watch w = { 0 };
	ifs_lockfile *l = NULL;
	int r = try_once(&w, &l);
	CHECK(r == 0 && w.pid == pid && w.taken_over == 1,
	      "the first try finds the holder gone and removes its lock (r %d, taken %d)", r,
	      w.taken_over);
	CHECK(try_once(&w, &l) == 1 && l, "the next try holds it");
	ifs_lockfile_release(l);
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_foreign(unsigned beat)
{
	FILE *f = fopen(lock_path, "w");
	CHECK(f != NULL, "write a record");
	if (!f)
		return;
	fprintf(f, "inatfs build lock\nhost another-machine\nboot 1234\npid 1\n"
		"note /shared/idx.tmp\nbeat %u\n", beat);
	fclose(f);
}

static void test_silent_holder_elsewhere(void)
{
	write_foreign(7);
	ifs_lock_watch w = { 0 };
	ifs_lockfile *l = NULL;
	CHECK(try_once(&w, &l) == 0 && strcmp(w.host, "another-machine") == 0 && w.pid == 1,
	      "another machine's holder (%s, pid %ld): wait", w.host, w.pid);
	/* its pid means nothing here: only silence counts */
	w.since = mono() - (IFS_LOCK_STALE_S - 1);
	CHECK(try_once(&w, &l) == 0 && w.taken_over == 0 && access(lock_path, F_OK) == 0,
	      "silent for less than IFS_LOCK_STALE_S: kept");
	/* a beat: the silence starts again */
	write_foreign(8);
	CHECK(try_once(&w, &l) == 0 && w.since > mono() - 1,
	      "a changed record is a living holder");
	w.since = mono() - (IFS_LOCK_STALE_S + 1);
	CHECK(try_once(&w, &l) == 0 && w.taken_over == 1 && access(lock_path, F_OK) < 0,
	      "silent for IFS_LOCK_STALE_S: removed");
	CHECK(try_once(&w, &l) == 1 && l, "and taken");
	ifs_lockfile_release(l);
}

/* A daemon's start: the process that took the lock forks and exits at once
 * (its heartbeat with it), the child goes on holding it. */
static void test_after_fork(void)
{
	int up[2], down[2];
	CHECK(pipe(up) == 0 && pipe(down) == 0, "pipes");
	pid_t parent = fork();
	if (parent == 0) {
		ifs_lock_watch w = { 0 };
		ifs_lockfile *l = NULL;
		if (try_once(&w, &l) != 1)
			_exit(3);
		pid_t child = fork();
		if (child != 0)
			_exit(child > 0 ? 0 : 3);   /* never releases: the child holds it */
		char c = ifs_lockfile_after_fork(l) == 0 ? 'y' : 'n';
		pid_t me = getpid();
		if (write(up[1], &c, 1) != 1 || write(up[1], &me, sizeof me) != sizeof me)
			_exit(3);
		char go;
		if (read(down[0], &go, 1) != 1)
			_exit(3);
		ifs_lockfile_release(l);
		_exit(0);
	}
	int st;
	CHECK(waitpid(parent, &st, 0) == parent && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the first process took the lock, forked and left");
	char c = 0;
	pid_t child = 0;
	CHECK(read(up[0], &c, 1) == 1 && c == 'y' &&
	      read(up[0], &child, sizeof child) == sizeof child, "the child took the record over");
	char *rec = record(), want[64];
	snprintf(want, sizeof want, "pid %ld\n", (long)child);
	CHECK(rec && strstr(rec, want), "the record names the child: %s", rec ? rec : "(none)");
	free(rec);
	/* past the parent's death and a beat: still the child's, never broken */
	struct timespec ts = { IFS_LOCK_BEAT_S, 400 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	ifs_lock_watch w2 = { 0 };
	ifs_lockfile *l2 = NULL;
	CHECK(try_once(&w2, &l2) == 0 && w2.pid == child && w2.taken_over == 0,
	      "a waiter waits for the child (pid %ld)", w2.pid);
	CHECK(write(down[1], "x", 1) == 1, "let the child go");
	/* the child is not ours to wait for: its lock file going is the sign */
	for (int i = 0; i < 100 && access(lock_path, F_OK) == 0; i++) {
		struct timespec t = { 0, 20 * 1000 * 1000 };
		nanosleep(&t, NULL);
	}
	CHECK(access(lock_path, F_OK) < 0, "the child released it");
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

int main(void)
{
	char *dir = tu_tmpdir("lockfile");
	if (asprintf(&lock_path, "%s/index.sqlite.lock", dir) < 0)
		return 2;
	test_hold_and_release();
	test_dead_holder_here();
	test_silent_holder_elsewhere();
	test_after_fork();
	tu_sh("rm -rf '%s'", dir);
	free(lock_path);
	free(dir);
	return tu_end("lockfile");
}

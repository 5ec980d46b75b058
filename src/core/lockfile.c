/*
 * lockfile.c - an O_EXCL lock file with a heartbeat, for one builder of an
 * index among processes on one or many machines (lockfile.h). The record is
 * text, rewritten in place; a reader that meets a half-written one sees a
 * change, which only delays a takeover.
 */
#include "inatfs/lockfile.h"

#include "inatfs/machine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ifs_lockfile {
	char path[PATH_MAX];
	char note[PATH_MAX];
	int fd;
	unsigned long long beat;
	pid_t pid;
	int stop;            /* __atomic: the heartbeat ends */
	int running;         /* a heartbeat thread of this process */
	pthread_t thread;
};

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This machine: host name and boot id (either may be empty). */
static void whoami(char host[256], char boot[64])
{
	ifs_machine_host(host, 256);
	ifs_machine_boot(boot, 64);
}

static int write_record(ifs_lockfile *l)
{
	char host[256], boot[64], rec[PATH_MAX + 512];
	whoami(host, boot);
	int n = snprintf(rec, sizeof rec, "inatfs build lock\nhost %s\nboot %s\npid %ld\nnote %s\n"
			 "beat %llu\n", host, boot, (long)l->pid, l->note, l->beat++);
	if (n < 0 || (size_t)n >= sizeof rec)
		return -ENAMETOOLONG;
	if (pwrite(l->fd, rec, (size_t)n, 0) != n || ftruncate(l->fd, n) < 0)
		return -errno;
	/* written through to the server: other machines see the beat */
	if (fdatasync(l->fd) < 0)
		return -errno;
	return 0;
}

static void *heartbeat(void *p)
{
	ifs_lockfile *l = p;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	double last = mono();
	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (mono() - last >= IFS_LOCK_BEAT_S) {
			/* a failed beat is retried at the next; waiters see a
			 * silent holder only after IFS_LOCK_STALE_S */
			(void)write_record(l);
			last = mono();
		}
	}
	return NULL;
}

static int start_heartbeat(ifs_lockfile *l)
{
	__atomic_store_n(&l->stop, 0, __ATOMIC_RELEASE);
	int e = pthread_create(&l->thread, NULL, heartbeat, l);
	if (e)
		return -e;
	l->running = 1;
	return 0;
}

/* The record at path into buf: 0, -ENOENT (no lock), or another -errno. */
static int read_record(const char *path, char *buf, size_t size)
{
	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	int e = n < 0 ? -errno : 0;
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return e;
}

/* The value of "key VALUE\n" in rec, into out ("" if none). */
static void field(const char *rec, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key);
	out[0] = '\0';
	for (const char *p = rec; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
			size_t n = strcspn(p + kl + 1, "\n");
			if (n >= size)
				n = size - 1;
			memcpy(out, p + kl + 1, n);
			out[n] = '\0';
			return;
		}
	}
}

/* Removes the dead lock w last read, unless another waiter does it or it
 * changed meanwhile. */
static void break_dead(const char *path, ifs_lock_watch *w)
{
	char bp[PATH_MAX + 8], again[sizeof w->record];
	if (snprintf(bp, sizeof bp, "%s.break", path) >= (int)sizeof bp)
		return;
	int fd = open(bp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		struct stat st;
		/* a breaker holds it for an instant: one left by a killed
		 * breaker is removed once clearly old */
		if (errno == EEXIST && stat(bp, &st) == 0 &&
		    time(NULL) - st.st_mtime > 2 * IFS_LOCK_STALE_S)
			unlink(bp);
		return;
	}
	close(fd);
	if (read_record(path, again, sizeof again) == 0 && strcmp(again, w->record) == 0 &&
	    unlink(path) == 0)
		w->taken_over++;
	unlink(bp);
}

int ifs_lockfile_try(const char *path, const char *note, ifs_lock_watch *w, ifs_lockfile **out,
		     ifs_err *err)
{
	*out = NULL;
	/* the record is written to a file of this process's own, then linked
	 * to the lock's name (atomic, NFS included): a lock file is never seen
	 * empty or half made */
	char mine[PATH_MAX + 64];
	if (snprintf(mine, sizeof mine, "%s.%ld", path, (long)getpid()) >= (int)sizeof mine)
		return ifs_err_set(err, ENAMETOOLONG, "%s: path too long", path);
	unlink(mine);
	int fd = open(mine, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return ifs_err_sys(err, errno, "%s: cannot make the build lock", mine);
	ifs_lockfile *l = calloc(1, sizeof *l);
	int r = l ? 0 : -ENOMEM;
	if (l) {
		l->fd = fd;
		l->pid = getpid();
		snprintf(l->path, sizeof l->path, "%s", path);
		snprintf(l->note, sizeof l->note, "%s", note ? note : "");
		r = write_record(l);
	}
	struct stat st;
	int linked = !r && (link(mine, path) == 0 ||
			    /* NFS may answer a link that was made with an error */
			    (fstat(fd, &st) == 0 && st.st_nlink == 2));
	int e = errno;
	unlink(mine);
	if (linked && !(r = start_heartbeat(l))) {
		*out = l;
		return 1;
	}
	if (linked)
		unlink(path);
	close(fd);
	free(l);
	if (r)
		return ifs_err_set(err, -r, "%s: cannot write the build lock: %s", path,
				   strerror(-r));
	if (e != EEXIST)
		return ifs_err_sys(err, e, "%s: cannot make the build lock", path);
	char rec[sizeof w->record];
	r = read_record(path, rec, sizeof rec);
	if (r == -ENOENT)
		return 0;   /* released meanwhile: the next try may get it */
	if (r)
		return ifs_err_sys(err, -r, "%s: cannot read the build lock", path);
	double now = mono();
	int changed = strcmp(rec, w->record) != 0 || w->since == 0;
	if (changed) {
		snprintf(w->record, sizeof w->record, "%s", rec);
		w->since = now;
		char pid[32];
		field(rec, "host", w->host, sizeof w->host);
		field(rec, "note", w->note, sizeof w->note);
		field(rec, "pid", pid, sizeof pid);
		w->pid = strtol(pid, NULL, 10);
	}
	char host[256], boot[64], rhost[256], rboot[64];
	whoami(host, boot);
	field(rec, "host", rhost, sizeof rhost);
	field(rec, "boot", rboot, sizeof rboot);
	int here = rhost[0] && rboot[0] && !strcmp(host, rhost) && !strcmp(boot, rboot);
	int gone = here && w->pid > 0 && kill((pid_t)w->pid, 0) < 0 && errno == ESRCH;
	if (gone && now - w->since < IFS_LOCK_DEAD_S) {
		/* a daemon's child rewrites the record right after its fork */
		struct timespec ts = { 0, (long)(IFS_LOCK_DEAD_S * 1e9) };
		nanosleep(&ts, NULL);
		char again[sizeof w->record];
		gone = read_record(path, again, sizeof again) == 0 && !strcmp(again, rec) &&
		       kill((pid_t)w->pid, 0) < 0 && errno == ESRCH;
		now = w->since + IFS_LOCK_DEAD_S;
	}
	if (gone || now - w->since >= IFS_LOCK_STALE_S) {
		break_dead(path, w);
		w->record[0] = '\0';
		w->since = 0;
	}
	return 0;
}

static void stop_heartbeat(ifs_lockfile *l)
{
	if (l->running) {
		__atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
		pthread_join(l->thread, NULL);
		l->running = 0;
	}
}

int ifs_lockfile_note(ifs_lockfile *l, const char *note)
{
	/* the heartbeat writes the record too: not at the same time */
	stop_heartbeat(l);
	snprintf(l->note, sizeof l->note, "%s", note ? note : "");
	int r = write_record(l);
	int s = start_heartbeat(l);
	return r ? r : s;
}

int ifs_lockfile_after_fork(ifs_lockfile *l)
{
	if (!l || l->pid == getpid())
		return 0;
	/* the parent's heartbeat thread is not in this process */
	l->pid = getpid();
	l->running = 0;
	int r = write_record(l);
	return r ? r : start_heartbeat(l);
}

void ifs_lockfile_release(ifs_lockfile *l)
{
	if (!l)
		return;
	stop_heartbeat(l);
	/* removed only if it is still this one (not taken over meanwhile) */
	struct stat mine, there;
	if (fstat(l->fd, &mine) == 0 && stat(l->path, &there) == 0 && mine.st_dev == there.st_dev &&
	    mine.st_ino == there.st_ino)
		unlink(l->path);
	close(l->fd);
	free(l);
}

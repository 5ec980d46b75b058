/*
 * daemons.c - the records of running mounts (daemonrec.h), both ends: the
 * daemon publishes its own (pid, mount point, the source counters) and
 * removes it when it ends; `inatfs info` lists those of its source.
 *
 * The folder is $XDG_CACHE_HOME/inatfs/daemons (or ~/.cache/inatfs/daemons)
 * whatever the cache and index options, so that `inatfs info SOURCE` finds
 * every mount of SOURCE, one with -o nocache or -o cache=DIR included.
 * Without a cache home the index's folder serves; info looks in both.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "cli.h"
#include "inatfs/daemonrec.h"
#include "inatfs/place.h"

/* The folders a record of this user may be in: [0] the cache home's,
 * [1] the index's ("" when the same or unknown). */
static void rec_dirs(const char *index_path, char dirs[2][PATH_MAX])
{
	dirs[0][0] = dirs[1][0] = '\0';
	char *home;
	ifs_err err;
	ifs_err_clear(&err);
	if (ifs_cache_home(&home, &err) == 0) {
		snprintf(dirs[0], PATH_MAX, "%s/daemons", home);
		free(home);
	}
	if (index_path && !ifs_place_is_url(index_path)) {
		snprintf(dirs[1], PATH_MAX, "%s", index_path);
		char *slash = strrchr(dirs[1], '/');
		if (slash)
			*slash = '\0';
		else
			snprintf(dirs[1], PATH_MAX, ".");
		if (!dirs[1][0])
			snprintf(dirs[1], PATH_MAX, "/");
		if (strcmp(dirs[0], dirs[1]) == 0)
			dirs[1][0] = '\0';
	}
}

/* The source as records name it: a URL as normalised, a folder absolute. */
static void source_key(const char *data_dir, char *out, size_t size)
{
	char real[PATH_MAX];
	if (!ifs_place_is_url(data_dir) && realpath(data_dir, real))
		snprintf(out, size, "%s", real);
	else
		snprintf(out, size, "%s", data_dir);
}

/* ---- the daemon's side --------------------------------------------------------- */

static struct {
	pthread_t thread;
	int running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int log, noted;
	char dir[PATH_MAX];
	ifs_daemonrec *rec;
} pub = { .mu = PTHREAD_MUTEX_INITIALIZER };

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The counters into the record; 1 if they changed. */
static int refresh(void)
{
	ifs_source_stats st;
	memset(&st, 0, sizeof st);
	if (ifs_place_is_url(pub.rec->source))
		ifs_place_stats(&st);
	int changed = memcmp(&st, &pub.rec->st, sizeof st) != 0;
	pub.rec->st = st;
	/* a cache configured that no origin holds: another process has it */
	pub.rec->cache_busy = pub.rec->cache[0] && !st.caches;
	return changed;
}

static int write_rec(void)
{
	pub.rec->updated = (int64_t)time(NULL);
	ifs_err err;
	ifs_err_clear(&err);
	if (ifs_daemonrec_write(pub.dir, pub.rec, &err) == 0)
		return 0;
	if (!pub.noted) {
		/* once: the mount serves all the same, info just does not see it */
		char safe[IFS_ERR_MSG_MAX * 4];
		ifs_text_escape(err.msg, safe, sizeof safe);
		if (pub.log)
			syslog(LOG_WARNING, "inatfs: cannot publish this mount's counters for inatfs "
			       "info: %s", safe);
		fprintf(stderr, "inatfs: note: cannot publish this mount's counters for inatfs info: "
			"%s\n", safe);
		pub.noted = 1;
	}
	return -1;
}

static void *publish_main(void *p)
{
	(void)p;
	/* signals are the main thread's (it runs the FUSE loop) */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	double last = mono();
	pthread_mutex_lock(&pub.mu);
	while (!pub.stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&pub.cv, &pub.mu, &until);
		if (pub.stop)
			break;
		pthread_mutex_unlock(&pub.mu);
		/* a file rewritten only when there is news, and now and then for
		 * other machines, which judge it by its age */
		if (refresh() || mono() - last >= IFS_DAEMONREC_BEAT_S) {
			write_rec();
			last = mono();
		}
		pthread_mutex_lock(&pub.mu);
	}
	pthread_mutex_unlock(&pub.mu);
	return NULL;
}

void cli_daemon_publish(const char *data_dir, const char *mountpoint, const char *index_path,
			int log)
{
	ifs_err err;
	ifs_err_clear(&err);
	pub.log = log;
	if (!(pub.rec = calloc(1, sizeof *pub.rec)) || ifs_daemonrec_self(pub.rec, &err) < 0) {
		fprintf(stderr, "inatfs: note: cannot publish this mount's counters for inatfs "
			"info: %s\n", pub.rec ? err.msg : "out of memory");
		free(pub.rec);
		pub.rec = NULL;
		return;
	}
	source_key(data_dir, pub.rec->source, sizeof pub.rec->source);
	snprintf(pub.rec->mountpoint, sizeof pub.rec->mountpoint, "%s", mountpoint);
	if (index_path)
		snprintf(pub.rec->index, sizeof pub.rec->index, "%s", index_path);
	const char *cache = ifs_place_is_url(data_dir) ? cli_source_cache_dir() : NULL;
	if (cache)
		snprintf(pub.rec->cache, sizeof pub.rec->cache, "%s", cache);
	pub.rec->started = (int64_t)time(NULL);
	refresh();
	char dirs[2][PATH_MAX];
	rec_dirs(index_path, dirs);
	int done = -1;
	for (int i = 0; i < 2 && done < 0; i++) {
		if (!dirs[i][0])
			continue;
		memcpy(pub.dir, dirs[i], PATH_MAX);
		pub.noted = i == 0 && dirs[1][0];   /* a first failure is quiet: there is another */
		done = write_rec();
	}
	pub.noted = 1;
	if (done < 0) {
		free(pub.rec);
		pub.rec = NULL;
		return;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int e = pthread_cond_init(&pub.cv, &ca);
	pthread_condattr_destroy(&ca);
	pub.stop = 0;
	if (e || pthread_create(&pub.thread, NULL, publish_main, NULL) != 0) {
		/* a record that is never rewritten would show stale counters */
		ifs_daemonrec_remove(pub.dir, pub.rec);
		if (!e)
			pthread_cond_destroy(&pub.cv);
		free(pub.rec);
		pub.rec = NULL;
		return;
	}
	pub.running = 1;
}

void cli_daemon_unpublish(void)
{
	if (!pub.rec)
		return;
	if (pub.running) {
		pthread_mutex_lock(&pub.mu);
		pub.stop = 1;
		pthread_cond_signal(&pub.cv);
		pthread_mutex_unlock(&pub.mu);
		pthread_join(pub.thread, NULL);
		pthread_cond_destroy(&pub.cv);
		pub.running = 0;
	}
	ifs_daemonrec_remove(pub.dir, pub.rec);
	free(pub.rec);
	pub.rec = NULL;
}

/* ---- info's side ----------------------------------------------------------------- */

#define SHOWN_MAX 64

struct shown {
	FILE *out;
	int remote;
	int n, more;
	struct { int state; double age; ifs_daemonrec *rec; } d[SHOWN_MAX];
};

static void collect(void *ctx, int state, const ifs_daemonrec *r, double age, const char *why)
{
	struct shown *s = ctx;
	if (state == IFS_DREC_BAD) {
		char safe[1024];
		ifs_text_escape(why, safe, sizeof safe);
		fprintf(stderr, "inatfs: note: %s (ignored)\n", safe);
		return;
	}
	ifs_daemonrec *copy = s->n < SHOWN_MAX ? malloc(sizeof *copy) : NULL;
	if (!copy) {
		s->more++;
		return;
	}
	*copy = *r;
	s->d[s->n].state = state;
	s->d[s->n].age = age;
	s->d[s->n].rec = copy;
	s->n++;
}

static void print_one(FILE *out, int remote, int state, double age, const ifs_daemonrec *r)
{
	/* everything from a record is input: printed escaped */
	char mp[1024], host[512], cache[1024];
	ifs_text_escape(r->mountpoint, mp, sizeof mp);
	ifs_text_escape(r->host, host, sizeof host);
	ifs_text_escape(r->cache, cache, sizeof cache);
	char since[64] = "?";
	time_t t = (time_t)r->started;
	struct tm tm;
	if (localtime_r(&t, &tm))
		strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S", &tm);
	/* a live one's counters are at most a second old: its record is
	 * rewritten within a second of any change */
	fprintf(out, "daemon: pid %ld", r->pid);
	if (state == IFS_DREC_ELSEWHERE)
		fprintf(out, " on %s (another machine: not checked from here; written %.0f s ago)",
			host, age < 0 ? 0.0 : age);
	fprintf(out, ", mounted at %s, since %s\n", mp, since);
	if (!remote)
		return;   /* a local folder: no network, no cache, no counters */
	fprintf(out, "  requests: %llu (retries %llu)\n  bytes fetched: %llu\n",
		(unsigned long long)r->st.requests, (unsigned long long)r->st.retries,
		(unsigned long long)r->st.bytes_fetched);
	if (!r->cache[0])
		fprintf(out, "  cache: none\n");
	else if (r->cache_busy)
		fprintf(out, "  cache: none (%s is in use by another inatfs process)\n", cache);
	else
		fprintf(out, "  cache: %s\n  cache hits: %llu blocks, misses %llu, bad %llu\n"
			"  cache size: %llu bytes\n", cache, (unsigned long long)r->st.cache_hits,
			(unsigned long long)r->st.cache_misses, (unsigned long long)r->st.cache_bad,
			(unsigned long long)r->st.cache_bytes);
}

void cli_print_daemons(FILE *out, const char *data_dir, const char *index_path)
{
	char key[PATH_MAX], dirs[2][PATH_MAX];
	source_key(data_dir, key, sizeof key);
	rec_dirs(index_path, dirs);
	struct shown *s = calloc(1, sizeof *s);
	if (!s) {
		cli_error("out of memory");
		return;
	}
	for (int i = 0; i < 2; i++) {
		ifs_err err;
		ifs_err_clear(&err);
		if (dirs[i][0] && ifs_daemonrec_list(dirs[i], key, collect, s, &err) < 0)
			cli_error("%s (the records of running mounts)", err.msg);
	}
	int remote = ifs_place_is_url(data_dir);
	if (s->n + s->more == 0)
		fprintf(out, "daemons: none serving this source on this machine\n");
	else
		fprintf(out, "daemons: %d serving this source\n", s->n + s->more);
	for (int i = 0; i < s->n; i++) {
		print_one(out, remote, s->d[i].state, s->d[i].age, s->d[i].rec);
		free(s->d[i].rec);
	}
	if (s->more)
		fprintf(out, "daemon: %d more not shown\n", s->more);
	free(s);
}

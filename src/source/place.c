/*
 * place.c - downloads named by a local path or a URL (place.h): trusted
 * local opens, and the process's remote origins, one per URL prefix.
 */
#include "inatfs/place.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inatfs/trust.h"

struct origin_ent {
	char *base;             /* the URL prefix, with its trailing '/' */
	ifs_origin *g;
	struct origin_ent *next;
};

struct known {                  /* a remote file asked about: there or not */
	char *url;
	int there;
	struct known *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static ifs_source_opts opts;
static char *own[4];            /* opts' strings that this module holds */
static struct origin_ent *origins;
static struct known *knowns;
static int cache_note;

int ifs_place_is_url(const char *p)
{
	return strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0 ||
	       strncmp(p, "s3://", 5) == 0;
}

static int dup_opt(const char *v, int slot, const char **to)
{
	free(own[slot]);
	own[slot] = NULL;
	*to = NULL;
	if (!v)
		return 0;
	if (!(own[slot] = strdup(v)))
		return -ENOMEM;
	*to = own[slot];
	return 0;
}

int ifs_place_configure(const ifs_source_opts *o, ifs_err *err)
{
	pthread_mutex_lock(&mu);
	opts = *o;
	int r = dup_opt(o->cacert, 0, &opts.cacert) || dup_opt(o->cache_dir, 1, &opts.cache_dir) ||
		dup_opt(o->endpoint, 2, &opts.endpoint) || dup_opt(o->region, 3, &opts.region);
	pthread_mutex_unlock(&mu);
	return r ? ifs_err_set(err, ENOMEM, "out of memory") : 0;
}

int ifs_place_normalize(const char *place, char **out, ifs_err *err)
{
	size_t n = strlen(place);
	if (ifs_place_is_url(place))
		while (n > 0 && place[n - 1] == '/')
			n--;
	if (!(*out = strndup(place, n)))
		return ifs_err_set(err, ENOMEM, "out of memory");
	return 0;
}

static void note(const char *line)
{
	if (opts.log)
		opts.log(opts.log_ctx, line);
	else
		fprintf(stderr, "%s\n", line);
}

/* The origin of base (with its trailing '/'), opened on first use. Under mu. */
static int origin_for(const char *base, ifs_origin **out, ifs_err *err)
{
	for (struct origin_ent *e = origins; e; e = e->next)
		if (strcmp(e->base, base) == 0) {
			*out = e->g;
			return 0;
		}
	struct origin_ent *e = calloc(1, sizeof *e);
	if (!e || !(e->base = strdup(base))) {
		free(e);
		return ifs_err_set(err, ENOMEM, "out of memory");
	}
	int r = ifs_origin_open(base, &opts, &e->g, err);
	if (r == -EBUSY && opts.cache_dir) {
		/* another inatfs process holds the cache: read without it */
		if (!cache_note) {
			char line[PATH_MAX + 128];
			snprintf(line, sizeof line, "inatfs: note: the cache %s is in use by another "
				 "inatfs process; reading %s without a cache", opts.cache_dir, base);
			note(line);
			cache_note = 1;
		}
		ifs_source_opts o = opts;
		o.cache_dir = NULL;
		ifs_err_clear(err);
		r = ifs_origin_open(base, &o, &e->g, err);
	}
	if (r) {
		free(e->base);
		free(e);
		return r;
	}
	e->next = origins;
	origins = e;
	*out = e->g;
	return 0;
}

static void remember(const char *url, int there)
{
	struct known *k = calloc(1, sizeof *k);
	if (!k || !(k->url = strdup(url))) {
		free(k);
		return;   /* only a memo */
	}
	k->there = there;
	k->next = knowns;
	knowns = k;
}

static int remote_open(const char *url, ifs_source **out, ifs_err *err)
{
	const char *slash = strrchr(url, '/');
	const char *host = strstr(url, "://") + 3;
	if (!slash || slash < host || !slash[1])
		return ifs_err_set(err, EINVAL, "%s: not a URL of a file", url);
	char *base = strndup(url, (size_t)(slash + 1 - url));
	if (!base)
		return ifs_err_set(err, ENOMEM, "out of memory");
	ifs_origin *g;
	pthread_mutex_lock(&mu);
	int r = origin_for(base, &g, err);
	pthread_mutex_unlock(&mu);
	free(base);
	if (r)
		return r;
	r = ifs_origin_source(g, slash + 1, out, err);
	if (r == 0 || r == -ENOENT) {
		pthread_mutex_lock(&mu);
		remember(url, r == 0);
		pthread_mutex_unlock(&mu);
	}
	return r;
}

int ifs_place_open(const char *path, ifs_source **out, ifs_err *err)
{
	*out = NULL;
	if (ifs_place_is_url(path))
		return remote_open(path, out, err);
	int fd = ifs_trust_open(path, 0, err);
	return fd < 0 ? fd : ifs_source_open_fd(fd, path, out, err);
}

int ifs_place_exists(const char *path, ifs_err *err)
{
	if (!ifs_place_is_url(path)) {
		if (access(path, F_OK) == 0)
			return 1;
		return errno == ENOENT || errno == ENOTDIR ? 0 : ifs_err_sys(err, errno, "%s", path);
	}
	pthread_mutex_lock(&mu);
	for (struct known *k = knowns; k; k = k->next)
		if (strcmp(k->url, path) == 0) {
			int there = k->there;
			pthread_mutex_unlock(&mu);
			return there;
		}
	pthread_mutex_unlock(&mu);
	ifs_source *s;
	int r = remote_open(path, &s, err);
	if (r == -ENOENT) {
		ifs_err_clear(err);
		return 0;
	}
	if (r)
		return r;
	ifs_source_close(s);
	return 1;
}

void ifs_place_stats(ifs_source_stats *st)
{
	memset(st, 0, sizeof *st);
	pthread_mutex_lock(&mu);
	for (struct origin_ent *e = origins; e; e = e->next) {
		ifs_source_stats one;
		ifs_origin_stats(e->g, &one);
		st->requests += one.requests;
		st->retries += one.retries;
		st->bytes_fetched += one.bytes_fetched;
		st->cache_hits += one.cache_hits;
		st->cache_misses += one.cache_misses;
		st->cache_bad += one.cache_bad;
		st->cache_bytes += one.cache_bytes;
		st->caches += one.caches;
	}
	pthread_mutex_unlock(&mu);
}

void ifs_place_shutdown(void)
{
	pthread_mutex_lock(&mu);
	while (origins) {
		struct origin_ent *e = origins;
		origins = e->next;
		ifs_origin_close(e->g);
		free(e->base);
		free(e);
	}
	while (knowns) {
		struct known *k = knowns;
		knowns = k->next;
		free(k->url);
		free(k);
	}
	for (int i = 0; i < 4; i++) {
		free(own[i]);
		own[i] = NULL;
	}
	memset(&opts, 0, sizeof opts);
	pthread_mutex_unlock(&mu);
}

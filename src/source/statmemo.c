/*
 * statmemo.c - what an origin's objects were when last opened (size, ETag,
 * Last-Modified), kept for IFS_STATMEMO_S seconds: a build or a mount opens
 * each download several times (the probe, the catalog, the fingerprints),
 * and each open of a remote object is a request, a round trip that the
 * others wait for.
 *
 * A remembered state cannot serve wrong bytes: every GET carries If-Match
 * with the ETag (or If-Unmodified-Since with the date, http.c), so an
 * object replaced since it was remembered fails its first read with EIO and
 * a log line, as one replaced after its open does.
 */
#include "source_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MEMO_MAX 64   /* objects per origin (the downloads are seven) */

struct memo {
	struct ifs_http_obj obj;
	uint64_t at_ms;
};

struct ifs_statmemo {
	pthread_mutex_t mu;
	struct memo m[MEMO_MAX];
	unsigned n;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ifs_statmemo_new(ifs_statmemo **out)
{
	*out = calloc(1, sizeof **out);
	if (!*out)
		return -ENOMEM;
	pthread_mutex_init(&(*out)->mu, NULL);
	return 0;
}

void ifs_statmemo_free(ifs_statmemo *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < m->n; i++)
		ifs_http_obj_free(&m->m[i].obj);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static char *dup_or_null(const char *s, int *oom)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*oom = 1;
	return d;
}

/* A copy of src into dst (display: the caller's); 0 or -ENOMEM. */
static int obj_copy(struct ifs_http_obj *dst, const struct ifs_http_obj *src, const char *display)
{
	int oom = 0;
	memset(dst, 0, sizeof *dst);
	dst->url = dup_or_null(src->url, &oom);
	dst->display = dup_or_null(display, &oom);
	dst->etag = dup_or_null(src->etag, &oom);
	dst->last_modified = dup_or_null(src->last_modified, &oom);
	dst->size = src->size;
	if (oom) {
		ifs_http_obj_free(dst);
		return -ENOMEM;
	}
	return 0;
}

int ifs_statmemo_get(ifs_statmemo *m, const char *url, const char *display,
		     struct ifs_http_obj *obj)
{
	int r = 0;
	uint64_t now = mono_ms();
	pthread_mutex_lock(&m->mu);
	for (unsigned i = 0; i < m->n; i++)
		if (!strcmp(m->m[i].obj.url, url)) {
			if (now - m->m[i].at_ms < IFS_STATMEMO_S * 1000u)
				r = obj_copy(obj, &m->m[i].obj, display) ? -ENOMEM : 1;
			break;
		}
	pthread_mutex_unlock(&m->mu);
	return r;
}

void ifs_statmemo_put(ifs_statmemo *m, const struct ifs_http_obj *obj)
{
	struct ifs_http_obj c;
	if (!obj->url || obj_copy(&c, obj, obj->display))
		return;   /* not remembered: the next open asks again */
	pthread_mutex_lock(&m->mu);
	unsigned k = m->n;
	for (unsigned i = 0; i < m->n; i++)
		if (!strcmp(m->m[i].obj.url, obj->url))
			k = i;
	if (k == MEMO_MAX) {   /* full: the oldest goes */
		k = 0;
		for (unsigned i = 1; i < m->n; i++)
			if (m->m[i].at_ms < m->m[k].at_ms)
				k = i;
	}
	if (k < m->n)
		ifs_http_obj_free(&m->m[k].obj);
	else
		m->n++;
	m->m[k].obj = c;
	m->m[k].at_ms = mono_ms();
	pthread_mutex_unlock(&m->mu);
}

/*
 * shared.c - the bytes of generated and annotation files, made at open
 * (ifs_views_content) and shared by every handle open on the same file: N
 * opens of a 130 MB annotation file hold one copy, made once (the first open
 * builds it outside the lock, the others wait on shared_cv). Sidecars are
 * small and one per image: made per open.
 */
#include "read_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct shared {
	int src;
	char key[64];
	int state;                   /* SH_BUILDING, SH_READY, SH_FAILED */
	ifs_err err;                 /* why the build failed */
	uint8_t *data;
	size_t len;
	unsigned refs;               /* under shared_lock */
	struct shared *next;
};
enum { SH_BUILDING, SH_READY, SH_FAILED };

static int shareable(const ifs_entry *e)
{
	return e->src == IFS_SRC_BLOB || e->src == IFS_SRC_ANNFILE;
}

/* Unlinks s from the reader's list and frees it (shared_lock held, no refs). */
static void drop(ifs_reader *r, struct shared *s)
{
	for (struct shared **p = &r->shared; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	free(s->data);
	free(s);
}

int ifs_shared_get(ifs_reader *r, ifs_rfile *f, ifs_err *err)
{
	if (!r->views)
		return ifs_err_set(err, EINVAL, "a reader without views has no generated files");
	if (!shareable(&f->e)) {
		int rc = ifs_views_content(r->views, &f->e, &f->own, &f->len, err);
		f->data = f->own;
		return rc;
	}
	pthread_mutex_lock(&r->shared_lock);
	struct shared *s;
	for (s = r->shared; s; s = s->next)
		if (s->src == f->e.src && !strcmp(s->key, f->e.key))
			break;
	if (s) {
		s->refs++;
		/* being built by another open: a wait of seconds at most, once per
		 * file while any handle holds it */
		while (s->state == SH_BUILDING)
			pthread_cond_wait(&r->shared_cv, &r->shared_lock);
	} else {
		if (!(s = calloc(1, sizeof *s))) {
			pthread_mutex_unlock(&r->shared_lock);
			return ifs_err_set(err, ENOMEM, "out of memory");
		}
		s->src = f->e.src;
		snprintf(s->key, sizeof s->key, "%s", f->e.key);
		s->state = SH_BUILDING;
		s->refs = 1;
		s->next = r->shared;
		r->shared = s;
		pthread_mutex_unlock(&r->shared_lock);
		uint8_t *data = NULL;
		size_t len = 0;
		ifs_err e;
		ifs_err_clear(&e);
		int rc = ifs_views_content(r->views, &f->e, &data, &len, &e);
		pthread_mutex_lock(&r->shared_lock);
		if (rc) {
			s->state = SH_FAILED;
			s->err = e;
			if (!s->err.code)
				ifs_err_set(&s->err, -rc, "%s: %s", f->e.key, strerror(-rc));
		} else {
			s->state = SH_READY;
			s->data = data;
			s->len = len;
		}
		pthread_cond_broadcast(&r->shared_cv);
	}
	if (s->state == SH_FAILED) {
		int code = s->err.code;
		if (err && !err->code)
			*err = s->err;
		if (--s->refs == 0)
			drop(r, s);
		pthread_mutex_unlock(&r->shared_lock);
		return -code;
	}
	pthread_mutex_unlock(&r->shared_lock);
	f->sh = s;
	f->data = s->data;
	f->len = s->len;
	return 0;
}

void ifs_shared_put(ifs_reader *r, ifs_rfile *f)
{
	struct shared *s = f->sh;
	if (!s) {
		free(f->own);
		return;
	}
	pthread_mutex_lock(&r->shared_lock);
	if (--s->refs == 0)
		drop(r, s);
	pthread_mutex_unlock(&r->shared_lock);
}

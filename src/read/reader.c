/*
 * reader.c - the reader's set-up, waiting for the scan (the one -EAGAIN
 * loop), attributes and lookups through it, the set of members that failed
 * their check, and the budget of whole-member buffers.
 */
#include "read_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ifs_reader_new(ifs_index *idx, ifs_views *views, const ifs_reader_opts *o,
		   ifs_reader **out, ifs_err *err)
{
	*out = NULL;
	ifs_reader *r = calloc(1, sizeof *r);
	if (!r || !(r->bad = ifs_strmap_new())) {
		free(r);
		return ifs_err_set(err, ENOMEM, "out of memory");
	}
	r->idx = idx;
	r->views = views;
	r->cursors_max = o && o->cursors_max ? o->cursors_max : IFS_READER_CURSORS_MAX;
	r->whole_budget = o && o->whole_budget ? o->whole_budget : IFS_READER_WHOLE_BUDGET;
	r->wait_max = o ? o->wait_max : 0;
	pthread_mutex_init(&r->wait_lock, NULL);
	pthread_mutex_init(&r->bad_lock, NULL);
	pthread_mutex_init(&r->whole_lock, NULL);
	pthread_mutex_init(&r->cur_lock, NULL);
	pthread_mutex_init(&r->shared_lock, NULL);
	pthread_cond_init(&r->shared_cv, NULL);
	*out = r;
	return 0;
}

void ifs_reader_free(ifs_reader *r)
{
	if (!r)
		return;
	ifs_strmap_free(r->bad);
	pthread_mutex_destroy(&r->wait_lock);
	pthread_mutex_destroy(&r->bad_lock);
	pthread_mutex_destroy(&r->whole_lock);
	pthread_mutex_destroy(&r->cur_lock);
	pthread_mutex_destroy(&r->shared_lock);
	pthread_cond_destroy(&r->shared_cv);
	free(r);
}

void ifs_reader_set_wait_max(ifs_reader *r, unsigned wait_max)
{
	pthread_mutex_lock(&r->wait_lock);
	r->wait_max = wait_max;
	pthread_mutex_unlock(&r->wait_lock);
}

void ifs_reader_stats_get(ifs_reader *r, ifs_reader_stats *st)
{
	st->starts = __atomic_load_n(&r->st.starts, __ATOMIC_RELAXED);
	st->go_ons = __atomic_load_n(&r->st.go_ons, __ATOMIC_RELAXED);
	st->wholes = __atomic_load_n(&r->st.wholes, __ATOMIC_RELAXED);
	st->evictions = __atomic_load_n(&r->st.evictions, __ATOMIC_RELAXED);
	st->gap_fills = __atomic_load_n(&r->st.gap_fills, __ATOMIC_RELAXED);
	st->checks = __atomic_load_n(&r->st.checks, __ATOMIC_RELAXED);
	st->mismatches = __atomic_load_n(&r->st.mismatches, __ATOMIC_RELAXED);
	st->waits = __atomic_load_n(&r->st.waits, __ATOMIC_RELAXED);
	pthread_mutex_lock(&r->cur_lock);
	st->cursors = r->ncur;
	pthread_mutex_unlock(&r->cur_lock);
}

/* ---- waiting for the scan ------------------------------------------------ */

/* A place among the requests that wait: 0 if all are taken. */
static int wait_take(ifs_reader *r)
{
	pthread_mutex_lock(&r->wait_lock);
	int ok = !r->wait_max || r->nwaiting < r->wait_max;
	r->nwaiting += ok;
	pthread_mutex_unlock(&r->wait_lock);
	return ok;
}

static void wait_put(ifs_reader *r)
{
	pthread_mutex_lock(&r->wait_lock);
	r->nwaiting--;
	pthread_mutex_unlock(&r->wait_lock);
}

/* Waits for the scan's next commit after generation gen: 0 to ask again, or
 * the errno to give up with (stop's, or -EAGAIN: no place to wait in). */
static int wait_scan(ifs_reader *r, const ifs_wait *w, uint64_t gen)
{
	int s = w && w->stop ? w->stop(w->ctx) : 0;
	if (s)
		return s < 0 ? s : -s;
	if (!wait_take(r))
		return -EAGAIN;
	IFS_STAT_ADD(r, waits, 1);
	ifs_index_wait(r->idx, gen, 1000);
	wait_put(r);
	return 0;
}

int ifs_reader_retry(ifs_reader *r, const ifs_wait *w, ifs_ask_fn ask, void *ctx, ifs_err *err)
{
	for (;;) {
		uint64_t gen = ifs_index_generation(r->idx);
		int rc = ask(ctx, err);
		if (rc != -EAGAIN)
			return rc;
		if ((rc = wait_scan(r, w, gen)))
			return rc;
	}
}

struct ask_entry {
	ifs_reader *r;
	uint64_t ino;
	const char *name;   /* NULL: getattr of ino; else lookup in folder ino */
	ifs_entry *e;
};

static int ask_entry(void *ctx, ifs_err *err)
{
	struct ask_entry *a = ctx;
	if (!a->r->views)
		return ifs_err_set(err, EINVAL, "a reader without views has no entries");
	return a->name ? ifs_views_lookup_child(a->r->views, a->ino, a->name, a->e, err)
		       : ifs_views_getattr(a->r->views, a->ino, a->e, err);
}

int ifs_reader_getattr(ifs_reader *r, const ifs_wait *w, uint64_t ino, ifs_entry *e,
		       ifs_err *err)
{
	struct ask_entry a = { r, ino, NULL, e };
	return ifs_reader_retry(r, w, ask_entry, &a, err);
}

int ifs_reader_lookup(ifs_reader *r, const ifs_wait *w, uint64_t parent, const char *name,
		      ifs_entry *e, ifs_err *err)
{
	struct ask_entry a = { r, parent, name, e };
	return ifs_reader_retry(r, w, ask_entry, &a, err);
}

/* ---- members that failed their check -------------------------------------- */

/* (archive, offset) of a member as a key */
static size_t member_key(const ifs_entry *e, char key[9])
{
	key[0] = (char)e->archive;
	memcpy(key + 1, &e->off, 8);
	return 9;
}

int ifs_reader_is_bad(ifs_reader *r, const ifs_entry *e)
{
	char key[9];
	pthread_mutex_lock(&r->bad_lock);
	int bad = ifs_strmap_get(r->bad, key, member_key(e, key), NULL);
	pthread_mutex_unlock(&r->bad_lock);
	return bad;
}

void ifs_reader_mark_bad(ifs_reader *r, const ifs_entry *e)
{
	char key[9];
	pthread_mutex_lock(&r->bad_lock);
	/* out of memory: the member is refused by this handle only */
	(void)ifs_strmap_put(r->bad, key, member_key(e, key), 1);
	pthread_mutex_unlock(&r->bad_lock);
}

/* ---- whole-member buffers -------------------------------------------------- */

int ifs_reader_whole_take(ifs_reader *r, uint64_t n)
{
	pthread_mutex_lock(&r->whole_lock);
	int ok = r->whole_bytes + n <= r->whole_budget;
	if (ok)
		r->whole_bytes += n;
	pthread_mutex_unlock(&r->whole_lock);
	return ok;
}

void ifs_reader_whole_put(ifs_reader *r, uint64_t n)
{
	pthread_mutex_lock(&r->whole_lock);
	r->whole_bytes -= n;
	pthread_mutex_unlock(&r->whole_lock);
}

/*
 * cplist.c - checkpoint ownership helpers, an in-memory sorted checkpoint
 * list (tests and tools; the index keeps checkpoints in SQLite).
 */
#include "gz_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ifs_gz_checkpoint_clear(ifs_gz_checkpoint *cp)
{
	if (!cp)
		return;
	free(cp->window);
	memset(cp, 0, sizeof *cp);
}

int ifs_gz_cplist_add(ifs_gz_cplist *l, const ifs_gz_checkpoint *cp)
{
	if (cp->from < cp->out || (l->n && cp->from <= l->cp[l->n - 1].from))
		return -EINVAL;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		ifs_gz_checkpoint *p = realloc(l->cp, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		l->cp = p;
		l->cap = cap;
	}
	ifs_gz_checkpoint *d = &l->cp[l->n];
	*d = *cp;
	d->window = NULL;
	if (cp->window_len) {
		d->window = malloc(cp->window_len);
		if (!d->window)
			return -ENOMEM;
		memcpy(d->window, cp->window, cp->window_len);
	}
	l->n++;
	return 0;
}

const ifs_gz_checkpoint *ifs_gz_cplist_find(const ifs_gz_cplist *l, uint64_t off)
{
	size_t lo = 0, hi = l->n; /* first index with from > off, by bisection */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->cp[mid].from <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &l->cp[lo - 1] : NULL;
}

void ifs_gz_cplist_free(ifs_gz_cplist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->cp[i].window);
	free(l->cp);
	memset(l, 0, sizeof *l);
}

/*
 * cursors.c - the cursors kept between reads: a list of the files that hold
 * one, most recently used first, at most cursors_max long (more only while
 * every other one is being read). A cursor holds ~200 KB; one whose file is
 * read again after it went starts again at a checkpoint.
 */
#include "read_int.h"

static void unlink_file(ifs_reader *r, ifs_rfile *f)
{
	if (f->cur_prev)
		f->cur_prev->cur_next = f->cur_next;
	else
		r->cur_head = f->cur_next;
	if (f->cur_next)
		f->cur_next->cur_prev = f->cur_prev;
	else
		r->cur_tail = f->cur_prev;
	f->cur_prev = f->cur_next = NULL;
	f->cur_listed = 0;
	r->ncur--;
}

/*
 * The cursors idle the longest go first; those whose file another thread
 * holds are left alone (trylock: f's lock is held here and the list's lock
 * is taken after files' locks, so no lock is ever awaited in two orders).
 */
void ifs_cursors_used(ifs_reader *r, ifs_rfile *f)
{
	pthread_mutex_lock(&r->cur_lock);
	if (f->cur_listed)
		unlink_file(r, f);
	f->cur_next = r->cur_head;
	if (r->cur_head)
		r->cur_head->cur_prev = f;
	else
		r->cur_tail = f;
	r->cur_head = f;
	f->cur_listed = 1;
	r->ncur++;
	for (ifs_rfile *v = r->cur_tail, *prev; v && r->ncur > r->cursors_max; v = prev) {
		prev = v->cur_prev;
		if (v == f || pthread_mutex_trylock(&v->lock) != 0)
			continue;
		unlink_file(r, v);
		ifs_gz_cursor_free(v->cur);
		v->cur = NULL;
		IFS_STAT_ADD(r, evictions, 1);
		pthread_mutex_unlock(&v->lock);
	}
	pthread_mutex_unlock(&r->cur_lock);
}

void ifs_cursors_drop(ifs_reader *r, ifs_rfile *f)
{
	pthread_mutex_lock(&r->cur_lock);
	if (f->cur_listed)
		unlink_file(r, f);
	ifs_gz_cursor_free(f->cur);
	f->cur = NULL;
	pthread_mutex_unlock(&r->cur_lock);
}

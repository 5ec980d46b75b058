/*
 * handles.c - every open file and folder, on a list: the kernel can end a
 * session with a RELEASE unanswered (libfuse refuses requests that come
 * after DESTROY, and a signal ends the loop with files open), so after the
 * loop ifs_fuse_release_all frees what is left.
 */
#include "fuse_int.h"

void ifs_open_track(ifs_fs *fs, struct ifs_open *o, int dir)
{
	o->dir = dir;
	o->prev = NULL;
	pthread_mutex_lock(&fs->open_lock);
	o->next = fs->opened;
	if (o->next)
		o->next->prev = o;
	fs->opened = o;
	pthread_mutex_unlock(&fs->open_lock);
}

void ifs_open_untrack(ifs_fs *fs, struct ifs_open *o)
{
	pthread_mutex_lock(&fs->open_lock);
	if (o->prev)
		o->prev->next = o->next;
	else
		fs->opened = o->next;
	if (o->next)
		o->next->prev = o->prev;
	pthread_mutex_unlock(&fs->open_lock);
}

void ifs_fuse_release_all(ifs_fs *fs)
{
	pthread_mutex_lock(&fs->open_lock);
	struct ifs_open *o = fs->opened;
	fs->opened = NULL;
	pthread_mutex_unlock(&fs->open_lock);
	while (o) {
		struct ifs_open *next = o->next;
		if (o->dir)
			ifs_dir_free_open(o);
		else
			ifs_file_free_open(o);
		o = next;
	}
}

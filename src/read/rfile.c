/*
 * rfile.c - open files of the reader: opening (the checks a member passes
 * first, the content of other files), reads dispatched by kind, and the pins
 * that keep a file and the bytes handed out alive until the caller is done
 * with them (a FUSE reply is still being written when the kernel may already
 * release the file).
 */
#include "read_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void file_free(ifs_rfile *f)
{
	ifs_cursors_drop(f->r, f);   /* before the lock goes: an eviction may hold it */
	if (f->e.src != IFS_SRC_MEMBER)
		ifs_shared_put(f->r, f);
	pthread_cond_destroy(&f->idle);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int ifs_reader_open_entry(ifs_reader *r, const ifs_entry *e, int flags, ifs_rfile **out,
			  ifs_err *err)
{
	*out = NULL;
	if (e->src == IFS_SRC_DIR)
		return -EISDIR;
	ifs_rfile *f = calloc(1, sizeof *f);
	if (!f)
		return ifs_err_set(err, ENOMEM, "out of memory");
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->idle, NULL);
	f->r = r;
	f->e = *e;
	f->flags = flags;
	int rc = 0;
	if (e->src == IFS_SRC_MEMBER) {
		if (!ifs_index_archive(r->idx, e->archive))
			rc = ifs_err_set(err, EIO, "%s is no longer there",
					 ifs_archive_file(e->archive));
		else if (ifs_reader_is_bad(r, e))
			rc = -EIO;   /* failed its check earlier (reported then) */
	} else if (!(rc = ifs_shared_get(r, f, err)) && f->len != e->size) {
		rc = ifs_err_set(err, EIO, "%s: generated %zu bytes, expected %llu", e->key, f->len,
				 (unsigned long long)e->size);
	}
	if (rc) {
		file_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

int ifs_reader_open(ifs_reader *r, const ifs_wait *w, uint64_t ino, ifs_rfile **out,
		    ifs_err *err)
{
	ifs_entry e;
	*out = NULL;
	int rc = ifs_reader_getattr(r, w, ino, &e, err);
	return rc ? rc : ifs_reader_open_entry(r, &e, 0, out, err);
}

int ifs_rfile_next(ifs_rfile *f, const ifs_entry *e, ifs_err *err)
{
	if (f->e.src != IFS_SRC_MEMBER || e->src != IFS_SRC_MEMBER || e->archive != f->e.archive)
		return ifs_err_set(err, EINVAL, "a file moves on only to a member of its archive");
	pthread_mutex_lock(&f->lock);
	f->e = *e;
	memset(&f->cov, 0, sizeof f->cov);
	f->bad = 0;
	f->reads = 0;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

const ifs_entry *ifs_rfile_entry(const ifs_rfile *f)
{
	return &f->e;
}

void ifs_rfile_close(ifs_rfile *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	while (f->pins)
		pthread_cond_wait(&f->idle, &f->lock);
	pthread_mutex_unlock(&f->lock);
	file_free(f);
}

/* A read of a member (f->lock held): from the whole copy another read made,
 * whole for a first bulk read, else as asked. */
static int read_member(ifs_rfile *f, const ifs_read_req *q, ifs_rdata *d, ifs_err *err)
{
	if (f->whole) {
		f->whole_refs++;
		d->whole_ref_ = 1;
		d->data = f->whole + q->off;
		return 0;
	}
	if (f->bad)
		return -EIO;   /* reported when it was found */
	if (f->reads++ == 0) {
		int rc = ifs_member_read_whole(f, q, d, err);
		if (rc)
			return rc < 0 ? rc : 0;
	}
	uint8_t *buf = q->buf;
	if (!buf && !(buf = d->own_ = malloc(q->len)))
		return ifs_err_set(err, ENOMEM, "out of memory");
	int rc = ifs_member_read(f, q, buf, err);
	if (rc) {
		free(d->own_);
		d->own_ = NULL;
		return rc;
	}
	d->data = buf;
	return 0;
}

int ifs_rfile_read(ifs_rfile *f, const ifs_read_req *q, ifs_rdata *d, ifs_err *err)
{
	memset(d, 0, sizeof *d);
	ifs_read_req a = *q;
	uint64_t size = f->e.size;
	a.len = a.off >= size ? 0 : size - a.off < a.len ? (size_t)(size - a.off) : a.len;
	int rc = 0;
	pthread_mutex_lock(&f->lock);
	if (a.len == 0)
		d->data = (const uint8_t *)"";
	else if (f->e.src != IFS_SRC_MEMBER)
		d->data = f->data + a.off;
	else
		rc = read_member(f, &a, d, err);
	if (!rc) {
		d->len = a.len;
		f->pins++;
	}
	pthread_mutex_unlock(&f->lock);
	if (rc && err && err->code && f->r->views) {
		/* name the file: "/train_val_images/...: what went wrong" */
		char path[4096];
		ifs_views_member_path(f->r->views, &f->e, path, sizeof path);
		ifs_err_prefix(err, "/%s", path);
	}
	return rc;
}

void ifs_rfile_done(ifs_rfile *f, ifs_rdata *d)
{
	ifs_reader *r = f->r;
	uint64_t size = f->e.size;
	uint8_t *whole = NULL;
	pthread_mutex_lock(&f->lock);
	if (d->whole_ref_ && --f->whole_refs == 0) {
		whole = f->whole;
		f->whole = NULL;
	}
	if (--f->pins == 0)
		pthread_cond_broadcast(&f->idle);
	pthread_mutex_unlock(&f->lock);   /* f may be freed from here on */
	free(d->own_);
	if (whole) {
		free(whole);
		ifs_reader_whole_put(r, size);
	}
	memset(d, 0, sizeof *d);
}

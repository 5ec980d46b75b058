/*
 * fs.c - libfuse3 low-level operations over the views (views.h).
 *
 * Each handler asks the views for an answer and replies exactly once; core
 * errors (negative errno) go back as they are. Files are served from tar
 * members through a gzip cursor per open file (so a file read front to back
 * is inflated once; the cursor exists only while the file is being read),
 * and generated or annotation files from a buffer filled at open().
 * Directory listings are built whole at the first readdir and handed out by
 * offset.
 *
 * While the index is live (the first mount, the scan still running), an
 * answer about an image the scan has not reached waits for the scan's next
 * commit and is asked again (the views say -EAGAIN); and the kernel may
 * cache answers for a second only, since the pristine trees still grow.
 *
 * Whole-member reads: the kernel asks for 128 KiB at a time (its readahead),
 * one request after the other, and each round trip leaves both the reader
 * and the daemon idle for a moment. So the first read of an open image, if
 * it is a bulk one (64 KiB or more, or to its end), decodes the whole
 * member, checks its CRC-32 before serving a byte, pushes the rest of the
 * file into the kernel's page cache (FUSE_NOTIFY_STORE) and answers: the
 * rest is read with no further request. Small first reads (a header probe),
 * later reads and members over 8 MiB are served as asked.
 *
 * Integrity: once the reads of a file (in any order) have covered all of it,
 * its CRC-32 is checked against the one recorded at index time; on a
 * mismatch the read that completes the file fails with EIO, every later read
 * too, and a line goes to the log. A whole-member read checks first.
 */
#define FUSE_USE_VERSION 312
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include "inatfs/buf.h"
#include "inatfs/crccover.h"
#include "inatfs/gz.h"

static ifs_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static int settled(ifs_fs *fs)
{
	return ifs_index_complete(fs->idx);
}

/* Nothing ever changes once the index is complete: the kernel may cache
 * names and attributes for long. Before, for a second. */
static double timeout_of(ifs_fs *fs)
{
	return settled(fs) ? 86400.0 : 1.0;
}

/* A place among the requests that wait (fs.h): 0 if all are taken. */
static int wait_take(ifs_fs *fs)
{
	pthread_mutex_lock(&fs->wait_lock);
	int ok = fs->nwaiting < fs->wait_max;
	fs->nwaiting += ok;
	pthread_mutex_unlock(&fs->wait_lock);
	return ok;
}

static void wait_put(ifs_fs *fs)
{
	pthread_mutex_lock(&fs->wait_lock);
	fs->nwaiting--;
	pthread_mutex_unlock(&fs->wait_lock);
}

/*
 * Waits for the scan's next commit after generation gen (the answer was
 * -EAGAIN). Returns 0 to ask again, or an errno to give up with: the
 * request was interrupted, the file system is going away, or so many
 * requests wait already that this one would take a thread others need
 * (EAGAIN: the caller may try again).
 */
static int wait_scan(fuse_req_t req, uint64_t gen)
{
	ifs_fs *fs = fs_of(req);
	if (fuse_req_interrupted(req))
		return EINTR;
	if (fs->se && fuse_session_exited(fs->se))
		return EIO;
	if (!wait_take(fs))
		return EAGAIN;
	ifs_index_wait(fs->idx, gen, 1000);
	wait_put(fs);
	return 0;
}

static void log_err(const char *what, uint64_t ino, const ifs_err *e, int code)
{
	syslog(LOG_ERR, "inatfs: %s inode %llu: %s", what, (unsigned long long)ino,
	       e->code ? e->msg : strerror(-code));
	fprintf(stderr, "inatfs: %s %s\n", what, e->code ? e->msg : strerror(-code));
}

/* Internal errors (EIO...) are logged; ENOENT and friends are normal answers. */
static int errno_of(const char *what, uint64_t ino, int r, const ifs_err *e)
{
	if ((r == -EIO || r == -ENOMEM) && e->code)
		log_err(what, ino, e, r);
	return r < 0 ? -r : EIO;
}

/* The daemon's own ids, asked once in op_init (listings stat every entry). */
static uid_t owner_uid;
static gid_t owner_gid;

static void to_stat(const ifs_entry *e, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = e->ino;
	st->st_mode = (e->src == IFS_SRC_DIR ? S_IFDIR : S_IFREG) | e->mode;
	st->st_nlink = e->nlink;
	st->st_size = e->src == IFS_SRC_DIR ? 4096 : (off_t)e->size;
	st->st_blksize = 128 * 1024;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtime = st->st_ctime = st->st_atime = e->mtime;
	st->st_uid = owner_uid;
	st->st_gid = owner_gid;
}

static void to_param(ifs_fs *fs, const ifs_entry *e, struct fuse_entry_param *p)
{
	memset(p, 0, sizeof *p);
	p->ino = e->ino;
	p->generation = 1;
	p->attr_timeout = timeout_of(fs);
	p->entry_timeout = timeout_of(fs);
	to_stat(e, &p->attr);
	if (e->pending)
		p->ino = 0;   /* in a readdirplus listing: a name without attributes */
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	ifs_fs *fs = userdata;
	owner_uid = getuid();   /* before any request is served */
	owner_gid = getgid();
	conn->max_readahead = 1u << 20;
	/* replies and pushes come from memory: writev copies them once, while
	 * splice (vmsplice into a pipe, then splice) measured ~3% more CPU */
	conn->want &= ~FUSE_CAP_SPLICE_WRITE;
	/*
	 * Every listing request in the form that can carry attributes; whether
	 * an answer carries them is decided per process (staters.c), not by the
	 * kernel's guess (READDIRPLUS_AUTO).
	 */
	if (fs->readdirplus >= 0 && (conn->capable & FUSE_CAP_READDIRPLUS)) {
		conn->want |= FUSE_CAP_READDIRPLUS;
		conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	} else {
		conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
	}
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	ifs_fs *fs = fs_of(req);
	ifs_entry e;
	ifs_err err;
	ifs_err_clear(&err);
	int r, w;
	for (;;) {
		uint64_t gen = ifs_index_generation(fs->idx);
		r = ifs_views_lookup_child(fs->views, parent, name, &e, &err);
		if (r != -EAGAIN)
			break;
		if ((w = wait_scan(req, gen))) {
			fuse_reply_err(req, w);
			return;
		}
	}
	if (r == -ENOENT) {
		/* a negative entry the kernel may cache as long as a positive one
		 * (not while the pristine trees still grow) */
		struct fuse_entry_param p;
		memset(&p, 0, sizeof p);
		p.entry_timeout = settled(fs) ? timeout_of(fs) : 0;
		fuse_reply_entry(req, &p);
		return;
	}
	if (r) {
		fuse_reply_err(req, errno_of("lookup", parent, r, &err));
		return;
	}
	if (e.src != IFS_SRC_DIR)   /* a stat or an open: it will want attributes */
		ifs_fuse_stater_note(fuse_req_ctx(req)->pid);
	struct fuse_entry_param p;
	to_param(fs, &e, &p);
	fuse_reply_entry(req, &p);
}

/* ifs_views_getattr, waiting for the scan while the answer is pending. */
static int getattr_wait(fuse_req_t req, uint64_t ino, ifs_entry *e, ifs_err *err)
{
	ifs_fs *fs = fs_of(req);
	for (;;) {
		uint64_t gen = ifs_index_generation(fs->idx);
		int r = ifs_views_getattr(fs->views, ino, e, err);
		if (r != -EAGAIN)
			return r;
		int w = wait_scan(req, gen);
		if (w)
			return -w;
	}
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	ifs_fs *fs = fs_of(req);
	ifs_entry e;
	ifs_err err;
	ifs_err_clear(&err);
	int r = getattr_wait(req, ino, &e, &err);
	if (r) {
		fuse_reply_err(req, r == -EINTR ? EINTR : errno_of("stat", ino, r, &err));
		return;
	}
	struct stat st;
	to_stat(&e, &st);
	fuse_reply_attr(req, &st, timeout_of(fs));
}

/* ---- open handles ------------------------------------------------------ */

/* The head of every open file's and folder's handle (fs->opened). */
struct ifs_open {
	struct ifs_open *prev, *next;
	int dir;
};

static void open_track(ifs_fs *fs, struct ifs_open *o, int dir)
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

static void open_untrack(ifs_fs *fs, struct ifs_open *o)
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

/* ---- directories -------------------------------------------------------- */

/* A whole listing, built at the first readdir (the kernel may answer from its
 * cache and never ask): names and entries, in order. */
struct dirh {
	struct ifs_open open;   /* first: a handle is found from it */
	uint64_t ino;
	int built;
	ifs_entry *ents;
	char **names;
	size_t n, cap;
};

static void dirh_free(struct dirh *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->names[i]);
	free(d->names);
	free(d->ents);
	free(d);
}

static int collect(void *ctx, const char *name, const ifs_entry *e)
{
	struct dirh *d = ctx;
	if (!name)
		return -EIO;   /* the views check names; never reached */
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 64;
		ifs_entry *ne = realloc(d->ents, nc * sizeof *ne);
		if (!ne)
			return -ENOMEM;
		d->ents = ne;
		char **nn = realloc(d->names, nc * sizeof *nn);
		if (!nn)
			return -ENOMEM;
		d->names = nn;
		d->cap = nc;
	}
	if (!(d->names[d->n] = strdup(name)))
		return -ENOMEM;
	d->ents[d->n++] = *e;
	return 0;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ifs_err err;
	ifs_err_clear(&err);
	ifs_entry self;
	int r = getattr_wait(req, ino, &self, &err);
	if (!r && self.src != IFS_SRC_DIR)
		r = -ENOTDIR;
	struct dirh *d = r ? NULL : calloc(1, sizeof *d);
	if (!r && !d)
		r = -ENOMEM;
	if (r) {
		fuse_reply_err(req, errno_of("opendir", ino, r, &err));
		return;
	}
	d->ino = ino;
	open_track(fs_of(req), &d->open, 1);
	fi->fh = (uint64_t)(uintptr_t)d;
	/* a listing made while the scan runs may grow: not kept */
	fi->cache_readdir = settled(fs_of(req));
	fi->keep_cache = settled(fs_of(req));
	fuse_reply_open(req, fi);
}

/* "." and ".." (the kernel answers ".." itself; the inode there is a hint), then
 * the views' listing. */
static int dir_build(ifs_fs *fs, struct dirh *d, ifs_err *err)
{
	ifs_entry self;
	int r = ifs_views_getattr(fs->views, d->ino, &self, err);
	if (!r)
		r = collect(d, ".", &self);
	if (!r)
		r = collect(d, "..", &self);
	if (!r)
		r = ifs_views_readdir_ino(fs->views, d->ino, collect, d, err);
	d->built = r == 0;
	if (r) {   /* start over on the next try */
		for (size_t i = 0; i < d->n; i++)
			free(d->names[i]);
		d->n = 0;
	}
	return r;
}

/*
 * A listing built without attributes (the covering indexes alone) gets them
 * entry by entry when the kernel asks for a listing with attributes; an
 * entry that has none to give now (pending, damaged) goes without.
 */
static void fill_attrs(ifs_fs *fs, ifs_entry *e)
{
	if (e->attrs_known)
		return;
	ifs_entry full;
	ifs_err err;
	ifs_err_clear(&err);
	if (ifs_views_getattr(fs->views, e->ino, &full, &err) == 0)
		*e = full;
	else
		e->pending = 1;
	e->attrs_known = 1;
}

static void reply_dir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, int plus)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	if (!d->built) {
		/* one handle may get concurrent readdirs only from one process; the kernel
		 * serialises them per open directory */
		ifs_err err;
		ifs_err_clear(&err);
		int r = dir_build(fs_of(req), d, &err);
		if (r) {
			fuse_reply_err(req, errno_of("readdir", d->ino, r, &err));
			return;
		}
	}
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	/* names only for a process that does not stat what it lists (staters.c) */
	int attrs = plus && (fs_of(req)->readdirplus > 0 ||
			     ifs_fuse_stater_is(fuse_req_ctx(req)->pid));
	for (size_t i = off < 0 ? 0 : (size_t)off; i < d->n; i++) {
		size_t n;
		if (plus) {
			struct fuse_entry_param p;
			if (attrs && !fs_of(req)->listing_attrs)
				fill_attrs(fs_of(req), &d->ents[i]);
			to_param(fs_of(req), &d->ents[i], &p);
			if (!attrs)
				p.ino = 0;   /* a name without attributes */
			n = fuse_add_direntry_plus(req, buf + used, size - used, d->names[i], &p,
						   (off_t)i + 1);
		} else {
			struct stat st;
			to_stat(&d->ents[i], &st);
			n = fuse_add_direntry(req, buf + used, size - used, d->names[i], &st,
					      (off_t)i + 1);
		}
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	reply_dir(req, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)ino;
	reply_dir(req, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	open_untrack(fs_of(req), &d->open);
	dirh_free(d);
	fuse_reply_err(req, 0);
}

/* ---- files -------------------------------------------------------------- */

/* The bytes of a generated or annotation file, shared by its open handles:
 * made once (the first open builds it while the others wait). */
struct ifs_shared {
	int src;
	char key[64];
	int state;                   /* SH_BUILDING, SH_READY, SH_FAILED */
	ifs_err err;                 /* why the build failed */
	uint8_t *data;
	size_t len;
	unsigned refs;               /* under fs->shared_lock */
	struct ifs_shared *next;
};
enum { SH_BUILDING, SH_READY, SH_FAILED };

struct fh {
	struct ifs_open open;        /* first: a handle is found from it */
	ifs_entry e;
	pthread_mutex_t lock;        /* the kernel may read one handle from several threads */
	pthread_cond_t pushed;       /* signalled when whole goes back to NULL */
	uint8_t *data;               /* generated and annotation files (owned, or sh's) */
	size_t len;
	struct ifs_shared *sh;       /* data belongs to this shared copy */
	ifs_gz_cursor *cur;          /* tar members: made at the first read */
	ifs_gz_checkpoint cp;        /* the checkpoint the cursor last started from */
	int have_cp;
	ifs_crc_cover cov;           /* what was read so far, for the CRC-32 check */
	int bad;                     /* a CRC mismatch was seen: fail every read */
	uint64_t reads;              /* member reads so far */
	uint8_t *whole;              /* the decoded member while a thread pushes its
				      * rest and answers (release waits) */
	struct fh *cur_prev, *cur_next;   /* fs's list of cursors, while cur is set */
	int cur_listed;
};

static int shareable(const ifs_entry *e)
{
	return e->src == IFS_SRC_BLOB || e->src == IFS_SRC_ANNFILE;
}

/* Unlinks s from fs's list and frees it (shared_lock held; s->refs == 0). */
static void shared_drop(ifs_fs *fs, struct ifs_shared *s)
{
	for (struct ifs_shared **p = &fs->shared; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	free(s->data);
	free(s);
}

/* The content of a generated or annotation file: the shared copy, made by
 * the first open of it (seconds for the big ones) while later ones wait
 * (sidecars, small and one per image, are made per open). */
static int content_get(ifs_fs *fs, struct fh *h, ifs_err *err)
{
	if (!shareable(&h->e))
		return ifs_views_content(fs->views, &h->e, &h->data, &h->len, err);
	pthread_mutex_lock(&fs->shared_lock);
	struct ifs_shared *s;
	for (s = fs->shared; s; s = s->next)
		if (s->src == h->e.src && !strcmp(s->key, h->e.key))
			break;
	if (s) {
		s->refs++;
		/* being built by another open: a wait of seconds at most, once per
		 * file while any handle holds it */
		while (s->state == SH_BUILDING)
			pthread_cond_wait(&fs->shared_cv, &fs->shared_lock);
	} else {
		s = calloc(1, sizeof *s);
		if (!s) {
			pthread_mutex_unlock(&fs->shared_lock);
			return ifs_err_set(err, ENOMEM, "out of memory");
		}
		s->src = h->e.src;
		snprintf(s->key, sizeof s->key, "%s", h->e.key);
		s->state = SH_BUILDING;
		s->refs = 1;
		s->next = fs->shared;
		fs->shared = s;
		pthread_mutex_unlock(&fs->shared_lock);
		uint8_t *data = NULL;
		size_t len = 0;
		ifs_err e;
		ifs_err_clear(&e);
		int r = ifs_views_content(fs->views, &h->e, &data, &len, &e);
		pthread_mutex_lock(&fs->shared_lock);
		if (r) {
			s->state = SH_FAILED;
			s->err = e;
			if (!s->err.code)
				ifs_err_set(&s->err, -r, "%s: %s", h->e.key, strerror(-r));
		} else {
			s->state = SH_READY;
			s->data = data;
			s->len = len;
		}
		pthread_cond_broadcast(&fs->shared_cv);
	}
	if (s->state == SH_FAILED) {
		int code = s->err.code;
		if (err && !err->code)
			*err = s->err;
		if (--s->refs == 0)
			shared_drop(fs, s);
		pthread_mutex_unlock(&fs->shared_lock);
		return -code;
	}
	pthread_mutex_unlock(&fs->shared_lock);
	h->sh = s;
	h->data = s->data;
	h->len = s->len;
	return 0;
}

static void content_put(ifs_fs *fs, struct fh *h)
{
	struct ifs_shared *s = h->sh;
	if (!s) {
		free(h->data);
		return;
	}
	pthread_mutex_lock(&fs->shared_lock);
	if (--s->refs == 0)
		shared_drop(fs, s);
	pthread_mutex_unlock(&fs->shared_lock);
}

/* ---- cursors: at most IFS_CURSORS_MAX kept (fs.h) ---- */

static void cur_unlink(ifs_fs *fs, struct fh *h)
{
	if (h->cur_prev)
		h->cur_prev->cur_next = h->cur_next;
	else
		fs->cur_head = h->cur_next;
	if (h->cur_next)
		h->cur_next->cur_prev = h->cur_prev;
	else
		fs->cur_tail = h->cur_prev;
	h->cur_prev = h->cur_next = NULL;
	h->cur_listed = 0;
	fs->ncur--;
}

/* h (its lock held) uses its cursor now: first in the list; past the cap,
 * the cursors idle the longest are freed (those whose handle another
 * thread holds are left alone: trylock, so locks are never awaited in two
 * orders). */
static void cur_used(ifs_fs *fs, struct fh *h)
{
	pthread_mutex_lock(&fs->cur_lock);
	if (h->cur_listed)
		cur_unlink(fs, h);
	h->cur_next = fs->cur_head;
	if (fs->cur_head)
		fs->cur_head->cur_prev = h;
	else
		fs->cur_tail = h;
	fs->cur_head = h;
	h->cur_listed = 1;
	fs->ncur++;
	for (struct fh *v = fs->cur_tail, *prev; v && fs->ncur > IFS_CURSORS_MAX; v = prev) {
		prev = v->cur_prev;
		if (v == h || pthread_mutex_trylock(&v->lock) != 0)
			continue;
		cur_unlink(fs, v);
		ifs_gz_cursor_free(v->cur);
		v->cur = NULL;
		ifs_gz_checkpoint_clear(&v->cp);
		v->have_cp = 0;
		pthread_mutex_unlock(&v->lock);
	}
	pthread_mutex_unlock(&fs->cur_lock);
}

/* h's cursor goes (its lock held, or h being freed). */
static void cur_drop(ifs_fs *fs, struct fh *h)
{
	pthread_mutex_lock(&fs->cur_lock);
	if (h->cur_listed)
		cur_unlink(fs, h);
	ifs_gz_cursor_free(h->cur);
	h->cur = NULL;
	pthread_mutex_unlock(&fs->cur_lock);
}

static void fh_free(ifs_fs *fs, struct fh *h)
{
	if (!h)
		return;
	cur_drop(fs, h);   /* before the lock goes: an eviction may hold it */
	ifs_gz_checkpoint_clear(&h->cp);
	content_put(fs, h);
	pthread_cond_destroy(&h->pushed);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* (archive, offset) of a member as a key of fs->bad */
static size_t member_key(const ifs_entry *e, char key[9])
{
	key[0] = (char)e->archive;
	memcpy(key + 1, &e->off, 8);
	return 9;
}

static int member_is_bad(ifs_fs *fs, const ifs_entry *e)
{
	char key[9];
	pthread_mutex_lock(&fs->bad_lock);
	int bad = fs->bad && ifs_strmap_get(fs->bad, key, member_key(e, key), NULL);
	pthread_mutex_unlock(&fs->bad_lock);
	return bad;
}

static void member_mark_bad(ifs_fs *fs, const ifs_entry *e)
{
	char key[9];
	pthread_mutex_lock(&fs->bad_lock);
	if (fs->bad)
		ifs_strmap_put(fs->bad, key, member_key(e, key), 1);
	pthread_mutex_unlock(&fs->bad_lock);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	ifs_fs *fs = fs_of(req);
	ifs_err err;
	ifs_err_clear(&err);
	struct fh *h = calloc(1, sizeof *h);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->pushed, NULL);
	int r = getattr_wait(req, ino, &h->e, &err);
	if (!r && h->e.src == IFS_SRC_DIR)
		r = -EISDIR;
	if (!r && h->e.src == IFS_SRC_MEMBER && ifs_index_archive_fd(fs->idx, h->e.archive) < 0)
		r = ifs_err_set(&err, EIO, "%s is no longer there", ifs_archive_file(h->e.archive));
	if (!r && h->e.src == IFS_SRC_MEMBER && member_is_bad(fs, &h->e))
		r = -EIO;   /* failed its CRC-32 check earlier (logged then) */
	if (!r && h->e.src != IFS_SRC_MEMBER) {
		r = content_get(fs, h, &err);
		if (!r && h->len != h->e.size)
			r = ifs_err_set(&err, EIO, "generated %zu bytes, expected %llu", h->len,
					(unsigned long long)h->e.size);
	}
	if (r) {
		fh_free(fs, h);
		fuse_reply_err(req, r == -EINTR ? EINTR : errno_of("open", ino, r, &err));
		return;
	}
	open_track(fs, &h->open, 0);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* h's cursor goes on to the archive offset abs without starting over. */
static int goes_on(const struct fh *h, uint64_t abs)
{
	uint64_t pos = h->cur ? ifs_gz_cursor_pos(h->cur) : UINT64_MAX;
	return h->have_cp && pos != UINT64_MAX && pos <= abs && pos >= h->cp.from &&
	       abs - pos <= (4u << 20);
}

/* Decodes size bytes of h's member from off into buf (size > 0, the range
 * inside the member): on from the cursor where it can, else from the
 * checkpoint serving the offset. */
static int decode_member(fuse_req_t req, struct fh *h, uint8_t *buf, size_t size, uint64_t off,
			 ifs_err *err)
{
	ifs_fs *fs = fs_of(req);
	uint64_t abs = h->e.off + off;
	if (!h->cur) {
		int r = ifs_gz_cursor_new(ifs_index_archive_fd(fs->idx, h->e.archive),
					  ifs_archive_file(h->e.archive), &h->cur, err);
		if (r)
			return r;
	}
	cur_used(fs, h);
	if (!goes_on(h, abs)) {
		ifs_gz_checkpoint_clear(&h->cp);
		h->have_cp = 0;
		int r;
		for (;;) {   /* live index: the scan may not have delivered it yet */
			uint64_t gen = ifs_index_generation(fs->idx);
			if ((r = ifs_index_checkpoint(fs->idx, h->e.archive, abs, &h->cp, err)) !=
			    -EAGAIN)
				break;
			int w = wait_scan(req, gen);
			if (w == EAGAIN || w == EINTR)
				return -w;   /* answers, not failures to log */
			if (w)
				return ifs_err_set(err, w, "waiting for the scan: %s", strerror(w));
		}
		if (r)
			return r;
		h->have_cp = 1;
	}
	ssize_t n = ifs_gz_cursor_read(h->cur, &h->cp, abs, buf, size, err);
	if (n < 0)
		return (int)n;
	if ((size_t)n != size)
		return ifs_err_set(err, EIO, "%s: member data ends early (offset %llu)",
				   ifs_archive_file(h->e.archive), (unsigned long long)abs);
	if (off + size == h->e.size)
		cur_drop(fs, h);   /* read to the end: freed until the next read, if any */
	return 0;
}

static int crc_mismatch(ifs_fs *fs, struct fh *h, uint32_t whole, ifs_err *err)
{
	h->bad = 1;
	member_mark_bad(fs, &h->e);
	return ifs_err_set(err, EIO, "CRC-32 mismatch in %s (got %08x, indexed %08x): the "
			   "archive changed or is damaged", ifs_archive_file(h->e.archive), whole,
			   h->e.crc);
}

/* The gap the cover names filled in by decoding it (the cover's table is
 * full: crccover.h), a piece at a time. */
#define GAP_PIECE (256u << 10)
static int fill_gap(fuse_req_t req, struct fh *h, ifs_err *err)
{
	uint64_t off, len;
	if (!ifs_crc_cover_gap(&h->cov, &off, &len))
		return ifs_err_set(err, EIO, "CRC-32 cover of %s: full, and no gap",
				   ifs_archive_file(h->e.archive));
	uint8_t *piece = malloc(len < GAP_PIECE ? len : GAP_PIECE);
	if (!piece)
		return ifs_err_set(err, ENOMEM, "out of memory");
	int r = 0;
	for (uint64_t done = 0; !r && done < len;) {
		size_t n = len - done < GAP_PIECE ? (size_t)(len - done) : GAP_PIECE;
		uint32_t whole;
		r = decode_member(req, h, piece, n, off + done, err);
		/* each piece touches the range before the gap: no new slot */
		if (!r && ifs_crc_cover_add(&h->cov, off + done, piece, n, h->e.size, &whole) == 1 &&
		    whole != h->e.crc)
			r = crc_mismatch(fs_of(req), h, whole, err);
		done += n;
	}
	free(piece);
	return r;
}

/* A read as asked: decoded, then CRC-checked once the reads so far cover the
 * whole member (overlapping reads and scattered ones included). */
static int read_member(fuse_req_t req, struct fh *h, uint8_t *buf, size_t size, uint64_t off,
		       ifs_err *err)
{
	int r = decode_member(req, h, buf, size, off, err);
	if (r)
		return r;
	uint32_t whole;
	int k;
	while ((k = ifs_crc_cover_add(&h->cov, off, buf, size, h->e.size, &whole)) ==
	       IFS_CRC_COVER_FULL)
		if ((r = fill_gap(req, h, err)))
			return r;
	if (k == 1 && whole != h->e.crc)
		return crc_mismatch(fs_of(req), h, whole, err);
	return 0;
}

/* ---- whole-member reads (see the top of the file) ---- */

/* a bulk read: the kernel asks for 64 KiB and more for reads of 32 KiB and
 * up (md5sum's first), 16-32 KiB for the few KiB a header probe reads */
#define WHOLE_MIN_READ (64u * 1024)
#define WHOLE_MAX (8u << 20)

/* Books a whole-member read of h's member: its buffer in the budget and, if
 * it pushes, a push slot (none if the file is being pushed already). */
static int whole_take(ifs_fs *fs, const struct fh *h, int push)
{
	int ok = 0;
	pthread_mutex_lock(&fs->push_lock);
	if (fs->whole_bytes + h->e.size <= IFS_WHOLE_BUDGET &&
	    (!push || fs->npushing < fs->push_slots)) {
		ok = 1;
		for (unsigned i = 0; push && i < fs->npushing; i++)
			if (fs->pushing[i] == h->e.ino)
				ok = 0;
		if (ok && push)
			fs->pushing[fs->npushing++] = h->e.ino;
		if (ok)
			fs->whole_bytes += h->e.size;
	}
	pthread_mutex_unlock(&fs->push_lock);
	return ok;
}

/* Gives back the push slot of ino's push (done, or never started). */
static void push_done(ifs_fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->push_lock);
	for (unsigned i = 0; i < fs->npushing; i++)
		if (fs->pushing[i] == ino) {
			fs->pushing[i] = fs->pushing[--fs->npushing];
			break;
		}
	pthread_mutex_unlock(&fs->push_lock);
}

/* Gives back a whole-member read's buffer bytes to the budget. */
static void whole_put(ifs_fs *fs, uint64_t size)
{
	pthread_mutex_lock(&fs->push_lock);
	fs->whole_bytes -= size;
	pthread_mutex_unlock(&fs->push_lock);
}

/*
 * Is the first read of a handle, [off, off+size), served by decoding the
 * member whole? (Later reads are those the page cache lost, or O_DIRECT ones
 * that come one by one and must not each decode the whole member.) Only a
 * bulk read says yes; *push says whether part of the file is then left to
 * push. Books it (whole_take) when it says yes.
 */
static int whole_wanted(ifs_fs *fs, struct fh *h, uint64_t off, size_t size, int *push)
{
	*push = 0;
	if (h->e.size > WHOLE_MAX)
		return 0;
	if (size < WHOLE_MIN_READ && off + size != h->e.size)
		return 0;   /* a probe of a few KiB (file(1), an image header) */
	*push = !(off == 0 && size == h->e.size);
	return whole_take(fs, h, *push);
}

/* Pushes data[off, off+len) of h's file into the kernel's page cache. Best
 * effort: where it fails, the kernel asks with reads as it would have. */
static void push_range(ifs_fs *fs, fuse_ino_t ino, const uint8_t *data, uint64_t off,
		       uint64_t len)
{
	if (!len)
		return;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);
	bv.buf[0].mem = (void *)(data + off);
	int r = fuse_lowlevel_notify_store(fs->se, ino, (off_t)off, &bv, 0);
	if (r && fs->debug)
		fprintf(stderr, "inatfs: page cache push of inode %llu failed: %s\n",
			(unsigned long long)ino, strerror(-r));
}

/*
 * Serves a read by decoding h's member whole, booked by whole_wanted (h->lock
 * held; released on return, and so is the booking). Returns 0 once the read
 * is answered, or a negative errno with the read not answered.
 */
static int read_whole(fuse_req_t req, fuse_ino_t ino, struct fh *h, uint64_t off, size_t size,
		      int push, ifs_err *err)
{
	ifs_fs *fs = fs_of(req);
	uint64_t key = h->e.ino, wsize = h->e.size;   /* h may be released once answered */
	uint8_t *w = malloc(wsize);
	int r = w ? decode_member(req, h, w, wsize, 0, err)
		  : ifs_err_set(err, ENOMEM, "out of memory");
	uint32_t crc;
	if (!r && (crc = ifs_crc32(0, w, wsize)) != h->e.crc)
		r = crc_mismatch(fs, h, crc, err);
	if (r) {
		pthread_mutex_unlock(&h->lock);
		if (push)
			push_done(fs, key);
		free(w);
		whole_put(fs, wsize);
		return r;
	}
	/* other reads of this handle are served from w meanwhile; release waits */
	h->whole = w;
	pthread_mutex_unlock(&h->lock);
	/*
	 * Push, then answer (answered first, the reader would ask for the next
	 * pages before the push reaches them). The push waits for pages that
	 * reads in flight hold: of this handle, answered from w by other
	 * threads; of other handles, answered by other threads as asked (one
	 * push per file at a time); never this read's own pages.
	 */
	if (push) {
		push_range(fs, ino, w, off + size, wsize - off - size);
		push_range(fs, ino, w, 0, off);
		/*
		 * The slot goes back before the answer: the reader's next file
		 * comes as soon as it has it, and found the slots taken in ~1 of
		 * 6 files with two readers (then read as asked, 128 KiB a round
		 * trip).
		 */
		push_done(fs, key);
	}
	fuse_reply_buf(req, (const char *)w + off, size);
	pthread_mutex_lock(&h->lock);
	h->whole = NULL;
	pthread_cond_broadcast(&h->pushed);
	pthread_mutex_unlock(&h->lock);
	free(w);
	whole_put(fs, wsize);
	return 0;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	ifs_fs *fs = fs_of(req);
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)off >= h->e.size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > h->e.size - (uint64_t)off)
		size = (size_t)(h->e.size - (uint64_t)off);
	if (h->e.src != IFS_SRC_MEMBER) {
		/* the kernel may send RELEASE as soon as it has the reply, while
		 * writev is still returning: keep release out until we are done */
		pthread_mutex_lock(&h->lock);
		fuse_reply_buf(req, (const char *)h->data + off, size);
		pthread_mutex_unlock(&h->lock);
		return;
	}
	ifs_err err;
	ifs_err_clear(&err);
	uint8_t *buf = NULL;
	int r, push;
	pthread_mutex_lock(&h->lock);
	if (h->whole) {
		/* another thread decoded it whole and is pushing it */
		fuse_reply_buf(req, (const char *)h->whole + off, size);
		pthread_mutex_unlock(&h->lock);
		return;
	}
	int first = h->reads++ == 0;
	if (h->bad) {
		r = -EIO;
	} else if (first && whole_wanted(fs, h, (uint64_t)off, size, &push)) {
		r = read_whole(req, ino, h, (uint64_t)off, size, push, &err);   /* unlocks */
		if (!r)
			return;
		goto failed;
	} else if (!(buf = malloc(size))) {
		r = -ENOMEM;
	} else {
		r = read_member(req, h, buf, size, (uint64_t)off, &err);
	}
	pthread_mutex_unlock(&h->lock);
	if (!r) {
		fuse_reply_buf(req, (const char *)buf, size);
		free(buf);
		return;
	}
	free(buf);
failed:
	if (err.code) {
		/* name the file: "read /train_val_images/...: what went wrong" */
		char path[4096];
		ifs_views_member_path(fs->views, &h->e, path, sizeof path);
		ifs_err_prefix(&err, "/%s", path);
	}
	fuse_reply_err(req, errno_of("read", ino, err.code ? -EIO : r, &err));
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	/* wait for a read that is still returning from its reply (see op_read),
	 * or pushing the file into the page cache */
	pthread_mutex_lock(&h->lock);
	while (h->whole)
		pthread_cond_wait(&h->pushed, &h->lock);
	pthread_mutex_unlock(&h->lock);
	open_untrack(fs_of(req), &h->open);
	fh_free(fs_of(req), h);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct statvfs st;
	memset(&st, 0, sizeof st);
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_namemax = 255;
	st.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &st);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	/* inode numbers are computed, not remembered: nothing to free */
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.statfs = op_statfs,
};

const struct fuse_lowlevel_ops *ifs_fuse_ops(void)
{
	return &ops;
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
			dirh_free((struct dirh *)o);
		else
			fh_free(fs, (struct fh *)o);
		o = next;
	}
}

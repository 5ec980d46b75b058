/*
 * fs.c - libfuse3 high-level operations over the views (views.h).
 *
 * Each handler resolves the path through the views and replies once; core
 * errors (negative errno) are passed straight through. Files are served
 * from three sources: tar members through a gzip cursor per open file
 * (so a file read front to back is inflated once), and generated or
 * annotation files from a buffer filled at open().
 *
 * Integrity: every file read sequentially from its first byte is checked
 * against the CRC-32 recorded at index time; on a mismatch the read that
 * completes the file fails with EIO and a line goes to the log.
 */
#define FUSE_USE_VERSION 312
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include "inatfs/gz.h"

static ifs_fs *fs_of(void)
{
	return fuse_get_context()->private_data;
}

static void log_err(const char *what, const char *path, const ifs_err *e, int code)
{
	syslog(LOG_ERR, "inatfs: %s %s: %s", what, path, e->code ? e->msg : strerror(-code));
	fprintf(stderr, "inatfs: %s %s: %s\n", what, path, e->code ? e->msg : strerror(-code));
}

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
	st->st_uid = getuid();
	st->st_gid = getgid();
}

/* Internal errors (EIO...) are logged; ENOENT and friends are normal. */
static int reply_err(const char *what, const char *path, int r, const ifs_err *e)
{
	if (r == -EIO || r == -ENOMEM)
		log_err(what, path, e, r);
	return r;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Nothing ever changes: cache names, attributes and data for long. */
	cfg->use_ino = 1;
	cfg->entry_timeout = 86400;
	cfg->attr_timeout = 86400;
	cfg->negative_timeout = 86400;
	cfg->kernel_cache = 1;
	conn->max_readahead = 1 << 20;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	return fs_of();
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	ifs_entry e;
	ifs_err err;
	ifs_err_clear(&err);
	int r = ifs_views_lookup(fs_of()->views, path, &e, &err);
	if (r)
		return reply_err("stat", path, r, &err);
	to_stat(&e, st);
	return 0;
}

struct fill_ctx {
	void *buf;
	fuse_fill_dir_t filler;
	int plus;
};

static int fill_one(void *ctx, const char *name, const ifs_entry *e)
{
	struct fill_ctx *f = ctx;
	struct stat st;
	to_stat(e, &st);
	/* a full buffer is not an error: libfuse keeps what fit */
	f->filler(f->buf, name, &st, 0, f->plus ? FUSE_FILL_DIR_PLUS : 0);
	return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)offset;
	(void)fi;
	ifs_err err;
	ifs_err_clear(&err);
	struct fill_ctx f = { buf, filler, (flags & FUSE_READDIR_PLUS) != 0 };
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	int r = ifs_views_readdir(fs_of()->views, path, fill_one, &f, &err);
	return r ? reply_err("readdir", path, r, &err) : 0;
}

/* An open file. */
struct fh {
	ifs_entry e;
	pthread_mutex_t lock;        /* FUSE may read one handle from several threads */
	/* generated and annotation files */
	uint8_t *data;
	size_t len;
	/* tar members */
	ifs_gz_cursor *cur;
	ifs_gz_checkpoint cp;        /* the checkpoint the cursor last started from */
	int have_cp;
	uint64_t crc_pos;            /* bytes checked sequentially from the start */
	uint32_t crc;
	int bad;                     /* a CRC mismatch was seen: fail every read */
	char *path;
};

static void fh_free(struct fh *h)
{
	if (!h)
		return;
	ifs_gz_cursor_free(h->cur);
	ifs_gz_checkpoint_clear(&h->cp);
	free(h->data);
	free(h->path);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return -EROFS;
	ifs_fs *fs = fs_of();
	ifs_err err;
	ifs_err_clear(&err);
	struct fh *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	int r = ifs_views_lookup(fs->views, path, &h->e, &err);
	if (r)
		goto fail;
	if (h->e.src == IFS_SRC_DIR) {
		r = -EISDIR;
		goto fail;
	}
	h->path = strdup(path);
	if (!h->path) {
		r = -ENOMEM;
		goto fail;
	}
	if (h->e.src == IFS_SRC_MEMBER) {
		/* the cursor is made at the first read and dropped after the last byte:
		 * thousands of files can be open, only those being read cost memory */
		if (ifs_index_archive_fd(fs->idx, h->e.archive) < 0) {
			r = ifs_err_set(&err, EIO, "%s is no longer there", ifs_archive_file(h->e.archive));
			goto fail;
		}
	} else {
		if ((r = ifs_views_content(fs->views, &h->e, &h->data, &h->len, &err)))
			goto fail;
		if (h->len != h->e.size) {
			r = ifs_err_set(&err, EIO, "generated %zu bytes, expected %llu", h->len,
					(unsigned long long)h->e.size);
			goto fail;
		}
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = 1;
	return 0;
fail:
	fh_free(h);
	return reply_err("open", path, r, &err);
}

static int read_member(struct fh *h, ifs_fs *fs, char *buf, size_t size, uint64_t off,
		       ifs_err *err)
{
	uint64_t abs = h->e.off + off;
	if (!h->cur) {
		int r = ifs_gz_cursor_new(ifs_index_archive_fd(fs->idx, h->e.archive),
					  ifs_archive_file(h->e.archive), &h->cur, err);
		if (r)
			return r;
	}
	uint64_t pos = ifs_gz_cursor_pos(h->cur);
	/* a cursor already inside this member, at or before the offset, just goes on */
	if (!h->have_cp || pos == UINT64_MAX || pos > abs || pos < h->cp.out ||
	    abs - pos > (4u << 20)) {
		ifs_gz_checkpoint_clear(&h->cp);
		h->have_cp = 0;
		int r = ifs_index_checkpoint(fs->idx, h->e.archive, abs, &h->cp, err);
		if (r)
			return r;
		h->have_cp = 1;
	}
	ssize_t n = ifs_gz_cursor_read(h->cur, &h->cp, abs, (uint8_t *)buf, size, err);
	if (n < 0)
		return (int)n;
	if ((size_t)n != size)
		return ifs_err_set(err, EIO, "%s: member data ends early (offset %llu)",
				   ifs_archive_file(h->e.archive), (unsigned long long)abs);
	/* integrity: CRC over a front-to-back read */
	if (off == h->crc_pos) {
		h->crc = ifs_crc32(h->crc, (const uint8_t *)buf, size);
		h->crc_pos += size;
		if (h->crc_pos == h->e.size && h->crc != h->e.crc) {
			h->bad = 1;
			return ifs_err_set(err, EIO, "%s: CRC-32 mismatch (got %08x, indexed %08x): "
					   "the archive changed or is damaged", h->path, h->crc,
					   h->e.crc);
		}
	}
	if (off + size == h->e.size) {
		/* read to the end: free the decoder until the next read, if any */
		ifs_gz_cursor_free(h->cur);
		h->cur = NULL;
	}
	return (int)n;
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	ifs_err err;
	ifs_err_clear(&err);
	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= h->e.size)
		return 0;
	if (size > h->e.size - (uint64_t)off)
		size = (size_t)(h->e.size - (uint64_t)off);
	if (h->e.src != IFS_SRC_MEMBER) {
		memcpy(buf, h->data + off, size);
		return (int)size;
	}
	pthread_mutex_lock(&h->lock);
	int r = h->bad ? -EIO : read_member(h, fs_of(), buf, size, (uint64_t)off, &err);
	pthread_mutex_unlock(&h->lock);
	return r < 0 ? reply_err("read", path ? path : h->path, r == -EIO || err.code ? -EIO : r,
				 &err) : r;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	fh_free((struct fh *)(uintptr_t)fi->fh);
	return 0;
}

static int op_opendir(const char *path, struct fuse_file_info *fi)
{
	(void)fi;
	ifs_entry e;
	ifs_err err;
	ifs_err_clear(&err);
	int r = ifs_views_lookup(fs_of()->views, path, &e, &err);
	if (r)
		return reply_err("opendir", path, r, &err);
	return e.src == IFS_SRC_DIR ? 0 : -ENOTDIR;
}

static int op_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	memset(st, 0, sizeof *st);
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_namemax = 255;
	st->f_flag = ST_RDONLY;
	return 0;
}

static int op_access(const char *path, int mask)
{
	if (mask & W_OK)
		return -EROFS;
	struct stat st;
	return op_getattr(path, &st, NULL);
}

static const struct fuse_operations ops = {
	.init = op_init,
	.getattr = op_getattr,
	.readdir = op_readdir,
	.opendir = op_opendir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.statfs = op_statfs,
	.access = op_access,
};

const struct fuse_operations *ifs_fuse_ops(void)
{
	return &ops;
}

/*
 * file.c - file handles: open, read and release as adapters of the reader
 * (reader.h), which holds the read policy (cursors, whole-member reads, the
 * CRC-32 checks, the wait for the scan).
 *
 * What FUSE adds: when the first read of an image decodes the member whole,
 * the rest of the file is pushed into the kernel's page cache before the
 * read is answered (push.c), so that the kernel's readahead of 128 KiB
 * requests, each a round trip, finds it there. The reader asks whether to
 * (take_rest) before it decodes, so that a read whose push could not take a
 * slot is served as asked.
 */
#include "fuse_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

struct fh {
	struct ifs_open open;   /* first: a handle is found from it */
	ifs_rfile *f;
};

void ifs_file_free_open(struct ifs_open *o)
{
	struct fh *h = (struct fh *)o;
	ifs_rfile_close(h->f);
	free(h);
}

static int do_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, ifs_err *err)
{
	ifs_fs *fs = ifs_fs_of(req);
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return -EROFS;
	struct fh *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	ifs_wait w = ifs_fuse_wait(req);
	int r = ifs_reader_open(fs->rd, &w, ino, &h->f, err);
	if (r) {
		free(h);
		return r;
	}
	ifs_open_track(fs, &h->open, 0);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = 1;
	return 0;
}

void ifs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ifs_err err;
	ifs_err_clear(&err);
	int r = do_open(req, ino, fi, &err);
	if (r)
		ifs_fuse_reply_error(req, "open", ino, r, &err);
	else
		fuse_reply_open(req, fi);
}

/* A read that decodes its member whole pushes the rest if it gets a slot. */
struct rest {
	ifs_fs *fs;
	uint64_t ino;
	int took;
};

static int take_rest(void *ctx)
{
	struct rest *t = ctx;
	return t->took = ifs_push_take(t->fs, t->ino);
}

void ifs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	ifs_fs *fs = ifs_fs_of(req);
	ifs_rfile *f = ((struct fh *)(uintptr_t)fi->fh)->f;
	ifs_wait w = ifs_fuse_wait(req);
	struct rest t = { fs, ino, 0 };
	ifs_read_req q = { .off = (uint64_t)off, .len = size, .wait = &w, .take_rest = take_rest,
			   .ctx = &t };
	ifs_rdata d;
	ifs_err err;
	ifs_err_clear(&err);
	int r = off < 0 ? -EINVAL : ifs_rfile_read(f, &q, &d, &err);
	if (t.took) {
		if (!r && d.whole) {
			/* everything but this read's own pages, which the kernel holds
			 * locked until answered */
			uint64_t fsize = ifs_rfile_entry(f)->size, end = (uint64_t)off + d.len;
			ifs_push_range(fs, ino, d.whole, end, fsize - end);
			ifs_push_range(fs, ino, d.whole, 0, (uint64_t)off);
		}
		/* the slot goes back before the answer: the reader's next file comes
		 * as soon as it has it, and would find the slots taken */
		ifs_push_done(fs, ino);
	}
	if (r) {
		ifs_fuse_reply_error(req, "read", ino, r, &err);
		return;
	}
	fuse_reply_buf(req, (const char *)d.data, d.len);
	ifs_rfile_done(f, &d);   /* after the reply: release waits for it */
}

void ifs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	ifs_open_untrack(ifs_fs_of(req), &h->open);
	/* waits for reads still returning from their reply, or pushing */
	ifs_file_free_open(&h->open);
	fuse_reply_err(req, 0);
}

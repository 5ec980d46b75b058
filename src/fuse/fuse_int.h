/*
 * fuse_int.h - what the FUSE layer's files share: replies and attributes
 * (ops.c), the wait a request gives up (interrupted, session ending), open
 * handles (handles.c), page-cache pushes (push.c), and the operations each
 * file adds to the table.
 */
#ifndef INATFS_FUSE_INT_H
#define INATFS_FUSE_INT_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include "fs.h"

static inline ifs_fs *ifs_fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ---- ops.c ---- */

/* How long the kernel may keep answers: long once nothing changes. */
double ifs_fuse_timeout(ifs_fs *fs);
void ifs_fuse_stat(const ifs_entry *e, struct stat *st);
void ifs_fuse_param(ifs_fs *fs, const ifs_entry *e, struct fuse_entry_param *p);
/* The reply to a failed request (r < 0): failures with a message (EIO,
 * ENOMEM) are logged; answers (ENOENT, EINTR, ...) are not. */
void ifs_fuse_reply_error(fuse_req_t req, const char *what, uint64_t ino, int r,
			  const ifs_err *err);
/* The reader's wait for this request: gives up when it is interrupted
 * (-EINTR) or the session ends (-EIO). */
ifs_wait ifs_fuse_wait(fuse_req_t req);

/* ---- handles.c: every open file and folder (fs->opened) ---- */

struct ifs_open {
	struct ifs_open *prev, *next;
	int dir;
};
void ifs_open_track(ifs_fs *fs, struct ifs_open *o, int dir);
void ifs_open_untrack(ifs_fs *fs, struct ifs_open *o);

/* ---- push.c ---- */

/* A push slot for file ino: 1, or 0 (all taken, or ino is being pushed). */
int ifs_push_take(ifs_fs *fs, uint64_t ino);
void ifs_push_done(ifs_fs *fs, uint64_t ino);
/* data[off, off + len) of file ino into the kernel's page cache (best
 * effort: where it fails, the kernel asks with reads). */
void ifs_push_range(ifs_fs *fs, uint64_t ino, const uint8_t *data, uint64_t off,
		    uint64_t len);

/* ---- the operations of dir.c and file.c ---- */

void ifs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ifs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void ifs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi);
void ifs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ifs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ifs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void ifs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* What release_all frees: a folder's listing, a file's handle. */
void ifs_dir_free_open(struct ifs_open *o);
void ifs_file_free_open(struct ifs_open *o);

#endif

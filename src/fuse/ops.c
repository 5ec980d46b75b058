/*
 * ops.c - the operations table, session set-up, and the operations on names
 * and attributes: lookup, getattr, statfs, forget. Each asks the core (the
 * reader waits while a live index has not got to the answer) and replies
 * exactly once.
 *
 * While the index is live (the first mount, the scan still running), the
 * kernel may cache answers for a second only, negative ones not at all,
 * since the pristine trees still grow.
 */
#include "fuse_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

/* The daemon's own ids, asked once in op_init (listings stat every entry). */
static uid_t owner_uid;
static gid_t owner_gid;

static int settled(ifs_fs *fs)
{
	return ifs_index_complete(fs->idx);
}

double ifs_fuse_timeout(ifs_fs *fs)
{
	return settled(fs) ? 86400.0 : 1.0;
}

void ifs_fuse_stat(const ifs_entry *e, struct stat *st)
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

void ifs_fuse_param(ifs_fs *fs, const ifs_entry *e, struct fuse_entry_param *p)
{
	memset(p, 0, sizeof *p);
	p->ino = e->ino;
	p->generation = 1;
	p->attr_timeout = ifs_fuse_timeout(fs);
	p->entry_timeout = ifs_fuse_timeout(fs);
	ifs_fuse_stat(e, &p->attr);
	if (e->pending)
		p->ino = 0;   /* in a readdirplus listing: a name without attributes */
}

void ifs_fuse_reply_error(fuse_req_t req, const char *what, uint64_t ino, int r,
			  const ifs_err *err)
{
	if ((r == -EIO || r == -ENOMEM) && err->code) {
		syslog(LOG_ERR, "inatfs: %s inode %llu: %s", what, (unsigned long long)ino, err->msg);
		fprintf(stderr, "inatfs: %s %s\n", what, err->msg);
	}
	fuse_reply_err(req, r < 0 ? -r : EIO);
}

static int req_stop(void *ctx)
{
	fuse_req_t req = ctx;
	ifs_fs *fs = ifs_fs_of(req);
	if (fuse_req_interrupted(req))
		return -EINTR;
	if (fs->se && fuse_session_exited(fs->se))
		return -EIO;   /* the file system is going away */
	return 0;
}

ifs_wait ifs_fuse_wait(fuse_req_t req)
{
	return (ifs_wait){ req_stop, req };
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	ifs_fs *fs = userdata;
	owner_uid = getuid();   /* before any request is served */
	owner_gid = getgid();
	conn->max_readahead = 1u << 20;
	if (fs->max_background) {
		conn->max_background = fs->max_background;
		conn->congestion_threshold = fs->max_background * 3 / 4;
	}
	/* replies and pushes come from memory: writev copies them once, while
	 * splice (vmsplice into a pipe, then splice) costs more CPU for that */
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

static int do_lookup(fuse_req_t req, fuse_ino_t parent, const char *name,
		     struct fuse_entry_param *p, ifs_err *err)
{
	ifs_fs *fs = ifs_fs_of(req);
	ifs_wait w = ifs_fuse_wait(req);
	ifs_entry e;
	int r = ifs_reader_lookup(fs->rd, &w, parent, name, &e, err);
	if (r == -ENOENT) {
		/* a negative entry the kernel may cache as long as a positive one
		 * (not while the pristine trees still grow) */
		memset(p, 0, sizeof *p);
		p->entry_timeout = settled(fs) ? ifs_fuse_timeout(fs) : 0;
		return 0;
	}
	if (r)
		return r;
	if (e.src != IFS_SRC_DIR)   /* a stat or an open: it will want attributes */
		ifs_fuse_stater_note(fuse_req_ctx(req)->pid);
	ifs_fuse_param(fs, &e, p);
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param p;
	ifs_err err;
	ifs_err_clear(&err);
	int r = do_lookup(req, parent, name, &p, &err);
	if (r)
		ifs_fuse_reply_error(req, "lookup", parent, r, &err);
	else
		fuse_reply_entry(req, &p);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	ifs_fs *fs = ifs_fs_of(req);
	ifs_wait w = ifs_fuse_wait(req);
	ifs_entry e;
	ifs_err err;
	ifs_err_clear(&err);
	int r = ifs_reader_getattr(fs->rd, &w, ino, &e, &err);
	struct stat st;
	if (r) {
		ifs_fuse_reply_error(req, "stat", ino, r, &err);
	} else {
		ifs_fuse_stat(&e, &st);
		fuse_reply_attr(req, &st, ifs_fuse_timeout(fs));
	}
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
	.opendir = ifs_op_opendir,
	.readdir = ifs_op_readdir,
	.readdirplus = ifs_op_readdirplus,
	.releasedir = ifs_op_releasedir,
	.open = ifs_op_open,
	.read = ifs_op_read,
	.release = ifs_op_release,
	.statfs = op_statfs,
};

const struct fuse_lowlevel_ops *ifs_fuse_ops(void)
{
	return &ops;
}

/*
 * fs.h - the libfuse3 layer: serves an opened index's views through the
 * low-level API. Inode numbers are the views' own (stable, derived from
 * index rows), so the daemon keeps no table of what the kernel has looked
 * up: its memory does not grow with the number of files.
 */
#ifndef INATFS_FUSE_FS_H
#define INATFS_FUSE_FS_H

#include <pthread.h>

#include "inatfs/index.h"
#include "inatfs/strmap.h"
#include "inatfs/views.h"

struct fuse_lowlevel_ops;

struct fuse_session;

typedef struct ifs_fs {
	ifs_index *idx;            /* may be live (still being built): see index.h */
	struct fuse_session *se;   /* set once the session exists */
	ifs_views *views;
	int debug;
	int readdirplus;   /* answer listings with attributes (-o readdirplus) */
	/* members whose CRC-32 check failed: never opened again (any view) */
	pthread_mutex_t bad_lock;
	ifs_strmap *bad;
	/* generated and annotation files that are open: one copy each, shared
	 * by their open handles (the real ones are 80-130 MB) */
	pthread_mutex_t shared_lock;
	struct ifs_shared *shared;
} ifs_fs;

/* The operations table; the session's userdata must be an ifs_fs *. */
const struct fuse_lowlevel_ops *ifs_fuse_ops(void);

#endif

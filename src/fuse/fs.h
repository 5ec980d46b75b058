/*
 * fs.h - the libfuse3 layer: serves an opened index's views. Nothing here
 * but turning FUSE calls into views/gz calls and core errors into errnos.
 */
#ifndef INATFS_FUSE_FS_H
#define INATFS_FUSE_FS_H

#include "inatfs/index.h"
#include "inatfs/views.h"

struct fuse_operations;

typedef struct ifs_fs {
	ifs_index *idx;
	ifs_views *views;
	int verbose;      /* log every read error, not just the first few */
} ifs_fs;

/* The operations table; private data must be an ifs_fs *. */
const struct fuse_operations *ifs_fuse_ops(void);

#endif

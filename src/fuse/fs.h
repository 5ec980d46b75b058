/*
 * fs.h - the libfuse3 layer: serves an opened index's views through the
 * low-level API. Inode numbers are the views' own (stable, derived from
 * index rows), so the daemon keeps no table of what the kernel has looked
 * up: its memory does not grow with the number of files.
 */
#ifndef INATFS_FUSE_FS_H
#define INATFS_FUSE_FS_H

#include <pthread.h>
#include <sys/types.h>
#include <stdint.h>

#include "inatfs/index.h"
#include "inatfs/strmap.h"
#include "inatfs/views.h"

#define IFS_PUSH_MAX 64
#define IFS_WHOLE_BUDGET (64u << 20)
/* gzip cursors kept between reads (~200 KB each): past this many, the one
 * idle the longest is freed (its file restarts at a checkpoint) */
#define IFS_CURSORS_MAX 128

struct fuse_lowlevel_ops;

struct fuse_session;
struct ifs_open;
struct fh;

typedef struct ifs_fs {
	ifs_index *idx;            /* may be live (still being built): see index.h */
	struct fuse_session *se;   /* set once the session exists */
	ifs_views *views;
	int debug;
	/* listings with attributes: 0 for processes that stat what they list
	 * (staters.c), 1 always (-o readdirplus), -1 never (-o noreaddirplus) */
	int readdirplus;
	int listing_attrs;  /* the views' listings carry attributes (ifs_views_opts) */
	/* members whose CRC-32 check failed: never opened again (any view) */
	pthread_mutex_t bad_lock;
	ifs_strmap *bad;
	/* generated and annotation files that are open: one copy each, shared
	 * by their open handles (the real ones are 80-130 MB), made once: the
	 * first open builds it, the others wait on shared_cv */
	pthread_mutex_t shared_lock;
	pthread_cond_t shared_cv;
	struct ifs_shared *shared;
	/* Whole-member reads (fs.c), under push_lock. Their buffers hold at most
	 * IFS_WHOLE_BUDGET bytes together. Those that push the rest of a file
	 * into the kernel's page cache are at most push_slots at once (0: never,
	 * as in single-threaded mode): a push can wait for a read of the same
	 * file that another thread must answer, so one push per file, and
	 * pushes get at most half of the threads. */
	pthread_mutex_t push_lock;
	uint64_t whole_bytes;
	unsigned push_slots;           /* <= IFS_PUSH_MAX */
	unsigned npushing;
	uint64_t pushing[IFS_PUSH_MAX];
	/* Cursors of open files (fs.c), under cur_lock: a list, most recently
	 * used first, of the handles that hold one; at most IFS_CURSORS_MAX
	 * (more only while every other one is being read). */
	pthread_mutex_t cur_lock;
	struct fh *cur_head, *cur_tail;
	unsigned ncur;
	/* Requests waiting for the scan, under wait_lock: at most wait_max at
	 * once, so that they never take every FUSE thread; past it they fail
	 * with EAGAIN. */
	pthread_mutex_t wait_lock;
	unsigned nwaiting, wait_max;
	/* open files and folders: the kernel may end the session with a
	 * RELEASE still unanswered (libfuse refuses requests after DESTROY),
	 * so what is left is freed by ifs_fuse_release_all */
	pthread_mutex_t open_lock;
	struct ifs_open *opened;
} ifs_fs;

/* The operations table; the session's userdata must be an ifs_fs *. */
const struct fuse_lowlevel_ops *ifs_fuse_ops(void);

/* Frees the handles the kernel never released; after the session's loop. */
void ifs_fuse_release_all(ifs_fs *fs);

/* staters.c: processes that have looked up a regular file get listings
 * with attributes (thread-safe). */
void ifs_fuse_stater_note(pid_t pid);
int ifs_fuse_stater_is(pid_t pid);

#endif

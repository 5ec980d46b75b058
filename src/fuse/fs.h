/*
 * fs.h - the libfuse3 layer: serves a reader (reader.h) of an opened index's
 * views through the low-level API. Every operation is an adapter: it calls
 * the core (views, reader), which answers with 0 or a negative errno, and
 * replies exactly once. What only FUSE can do stays here: pushing the rest
 * of a member decoded whole into the kernel's page cache (push.c), keeping
 * the open handles (handles.c), listings (dir.c, staters.c). Inode numbers
 * are the views' own (stable, derived from index rows), so the daemon keeps
 * no table of what the kernel has looked up: its memory does not grow with
 * the number of files.
 */
#ifndef INATFS_FUSE_FS_H
#define INATFS_FUSE_FS_H

#include <pthread.h>
#include <sys/types.h>
#include <stdint.h>

#include "inatfs/index.h"
#include "inatfs/reader.h"
#include "inatfs/views.h"

#define IFS_PUSH_MAX 64

struct fuse_lowlevel_ops;
struct fuse_session;
struct ifs_open;

typedef struct ifs_fs {
	ifs_index *idx;            /* may be live (still being built): see index.h */
	ifs_views *views;
	ifs_reader *rd;            /* reads the views' files */
	struct fuse_session *se;   /* set once the session exists */
	int debug;
	/* reads wait on the network: the kernel may send this many at once
	 * (its readahead is asynchronous, capped by max_background); 0: its
	 * default */
	unsigned max_background;
	/* listings with attributes: 0 for processes that stat what they list
	 * (staters.c), 1 always (-o readdirplus), -1 never (-o noreaddirplus) */
	int readdirplus;
	int listing_attrs;  /* the views' listings carry attributes (ifs_views_opts) */
	/* Pushes of a member's rest into the page cache (push.c), under
	 * push_lock: at most push_slots at once (0: never, as in single-threaded
	 * mode), one per file. A push can wait for a read of the same file that
	 * another thread must answer, so pushes get at most half of the
	 * threads. */
	pthread_mutex_t push_lock;
	unsigned push_slots;           /* <= IFS_PUSH_MAX */
	unsigned npushing;
	uint64_t pushing[IFS_PUSH_MAX];
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

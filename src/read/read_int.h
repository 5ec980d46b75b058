/*
 * read_int.h - what the reader's files share: the reader and an open file,
 * the cursor list (cursors.c), shared content (shared.c) and the member
 * read path (member.c). reader.c holds the waiting and the bad set, rfile.c
 * the open files and the dispatch of reads.
 */
#ifndef INATFS_READ_INT_H
#define INATFS_READ_INT_H

#include <pthread.h>
#include <stdint.h>

#include "inatfs/crccover.h"
#include "inatfs/gz.h"
#include "inatfs/reader.h"
#include "inatfs/strmap.h"

struct shared;

struct ifs_reader {
	ifs_index *idx;
	ifs_views *views;                 /* may be NULL */
	unsigned cursors_max;
	uint64_t whole_budget;
	/* requests waiting for the scan, under wait_lock */
	pthread_mutex_t wait_lock;
	unsigned nwaiting, wait_max;
	/* members whose CRC-32 check failed, under bad_lock */
	pthread_mutex_t bad_lock;
	ifs_strmap *bad;
	/* whole-member buffers (bytes), under whole_lock */
	pthread_mutex_t whole_lock;
	uint64_t whole_bytes;
	/* the files that hold a cursor, most recently used first, under cur_lock */
	pthread_mutex_t cur_lock;
	ifs_rfile *cur_head, *cur_tail;
	unsigned ncur;
	/* generated and annotation files open now, under shared_lock */
	pthread_mutex_t shared_lock;
	pthread_cond_t shared_cv;
	struct shared *shared;
	/* counters (atomic adds) */
	ifs_reader_stats st;
};

struct ifs_rfile {
	ifs_reader *r;
	ifs_entry e;
	int flags;                        /* IFS_RFILE_* */
	pthread_mutex_t lock;             /* the state below; held while decoding */
	pthread_cond_t idle;              /* pins went to 0 */
	unsigned pins;                    /* reads handed out, not done yet */
	/* generated and annotation files: their bytes */
	const uint8_t *data;
	size_t len;
	uint8_t *own;                     /* data when it is this file's own */
	struct shared *sh;                /* data when it is a shared copy */
	/* members */
	ifs_gz_cursor *cur;               /* made at the first decode */
	ifs_rfile *cur_prev, *cur_next;   /* the reader's list, while cur is set */
	int cur_listed;
	ifs_crc_cover cov;                /* what was read so far, for the check */
	int bad;                          /* a mismatch was seen: every read fails */
	uint64_t reads;                   /* member reads so far */
	uint8_t *whole;                   /* the member decoded whole, while reads use it */
	unsigned whole_refs;
};

#define IFS_STAT_ADD(r, field, n) __atomic_add_fetch(&(r)->st.field, (n), __ATOMIC_RELAXED)

/* ---- cursors.c: at most cursors_max kept ---- */

/* f (its lock held) is about to use its cursor: first in the list; past the
 * cap, the cursors idle the longest go. */
void ifs_cursors_used(ifs_reader *r, ifs_rfile *f);
/* f's cursor goes (its lock held, or f being freed). */
void ifs_cursors_drop(ifs_reader *r, ifs_rfile *f);

/* ---- shared.c: content of generated and annotation files ---- */

/* f->data, f->len for a file that is no member (f->e set). */
int ifs_shared_get(ifs_reader *r, ifs_rfile *f, ifs_err *err);
void ifs_shared_put(ifs_reader *r, ifs_rfile *f);

/* ---- reader.c ---- */

int ifs_reader_is_bad(ifs_reader *r, const ifs_entry *e);
void ifs_reader_mark_bad(ifs_reader *r, const ifs_entry *e);
/* Books n bytes of whole-member buffers: 1, or 0 past the budget. */
int ifs_reader_whole_take(ifs_reader *r, uint64_t n);
void ifs_reader_whole_put(ifs_reader *r, uint64_t n);

/* ---- member.c: reads of tar members (f->lock held) ---- */

/* The first read of a member, decoded whole when the policy says so
 * (reader.h): 1 and d filled (d->whole set), 0 not whole (nothing done), or
 * a negative errno. */
int ifs_member_read_whole(ifs_rfile *f, const ifs_read_req *q, ifs_rdata *d, ifs_err *err);
/* A read as asked, into buf: decoded, and checked once the reads so far
 * cover the member. */
int ifs_member_read(ifs_rfile *f, const ifs_read_req *q, uint8_t *buf, ifs_err *err);

#endif

/*
 * reader.h - the files of the views read without FUSE: the read policy of
 * the mount and of `inatfs verify`.
 *
 * A reader serves one index and its views (views.h). It answers attributes
 * and lookups, opens files and reads [off, off + len) of them. While the
 * index is live (index.h), what the scan has not reached yet is -EAGAIN
 * below the reader; the reader waits for the scan's next commit and asks
 * again, in one loop (ifs_reader_retry) that every caller goes through. The
 * caller says when to give up waiting (ifs_wait: the request was
 * interrupted, the session is ending).
 *
 * Tar members (IFS_SRC_MEMBER) are inflated through a gzip cursor (gz.h)
 * per open file, made at its first read:
 *  - a read goes on from where the cursor stands when that is at or before
 *    the offset and at most IFS_READER_GO_ON bytes before it; otherwise it
 *    starts again at the checkpoint that serves the offset (one index probe;
 *    in a live index it waits for the checkpoint). This choice is made here
 *    and nowhere else;
 *  - the cursor is freed when a read reaches the end of the file (unless
 *    the file walks on, IFS_RFILE_WALK), and at most opts.cursors_max are
 *    kept: past that, the one idle the longest is freed (never one being
 *    read), and its file starts again at a checkpoint when read next;
 *  - the first read of a member up to IFS_READER_WHOLE_MAX bytes, if it is a
 *    bulk one (IFS_READER_BULK or more, or to the end), decodes the member
 *    whole and checks its CRC-32 before a byte is served, when that buffer
 *    fits opts.whole_budget and either the read covers the file or its
 *    caller takes the rest (ifs_read_req.take_rest: FUSE pushes it into the
 *    kernel's page cache). Other reads of the handle are served from that
 *    copy until the last of them is done;
 *  - every other read is checked once the reads of the file have covered
 *    all of it, in any order (crccover.h; when its table is full, the
 *    smallest gap is decoded to join two ranges);
 *  - a member that fails its check goes on the reader's bad set: opening it
 *    again, through any view, fails with -EIO until the reader is freed.
 * Generated and annotation files are made at open (ifs_views_content), one
 * copy shared by all their open handles and made once; sidecars per open.
 *
 * Threading: every function may be called from any thread; one open file
 * may be read from several threads at once (a read holds its file's lock
 * while it decodes). ifs_rfile_done and ifs_rfile_close must follow each
 * read and each open exactly once.
 *
 * Errors: 0 or a negative errno. err is filled for failures worth a log
 * line (a damaged archive, a CRC mismatch, a broken index), naming the file;
 * never for answers (-ENOENT, -EINTR, -EAGAIN, a member already known bad).
 */
#ifndef INATFS_READER_H
#define INATFS_READER_H

#include <stddef.h>
#include <stdint.h>

#include "inatfs/err.h"
#include "inatfs/index.h"
#include "inatfs/views.h"

#define IFS_READER_CURSORS_MAX 128        /* cursors kept (~200 KB each) */
#define IFS_READER_WHOLE_BUDGET (64u << 20)
#define IFS_READER_WHOLE_MAX (8u << 20)   /* members decoded whole at most this big */
#define IFS_READER_BULK (64u << 10)       /* a first read this big is a bulk one */
#define IFS_READER_GO_ON (4u << 20)       /* a cursor goes on over at most this */

typedef struct ifs_reader ifs_reader;
typedef struct ifs_rfile ifs_rfile;

typedef struct ifs_reader_opts {
	unsigned cursors_max;    /* 0: IFS_READER_CURSORS_MAX */
	uint64_t whole_budget;   /* whole-member buffers together; 0: IFS_READER_WHOLE_BUDGET */
	unsigned wait_max;       /* requests waiting for the scan at once (past it they
				  * fail with -EAGAIN); 0: no limit */
} ifs_reader_opts;

/* views may be NULL: then only member entries can be opened (ifs_reader_open_entry),
 * and errors do not name the member's path. o may be NULL. */
int ifs_reader_new(ifs_index *idx, ifs_views *views, const ifs_reader_opts *o,
		   ifs_reader **out, ifs_err *err);
/* Every file must have been closed. */
void ifs_reader_free(ifs_reader *r);
void ifs_reader_set_wait_max(ifs_reader *r, unsigned wait_max);

/* ---- waiting for the scan ------------------------------------------------ */

/*
 * When a request that waits for the scan gives up. stop is called before
 * each wait (of at most a second): 0 to wait, or the negative errno to give
 * up with (-EINTR: the request was interrupted; -EIO: the session is
 * ending). A NULL ifs_wait (or stop) waits until the answer comes.
 */
typedef struct ifs_wait {
	int (*stop)(void *ctx);
	void *ctx;
} ifs_wait;

/*
 * Calls ask(ctx, err) until it returns something but -EAGAIN, waiting for
 * the scan's next commit in between. Returns ask's answer, stop's errno, or
 * -EAGAIN (err untouched) when wait_max requests wait already.
 */
typedef int (*ifs_ask_fn)(void *ctx, ifs_err *err);
int ifs_reader_retry(ifs_reader *r, const ifs_wait *w, ifs_ask_fn ask, void *ctx,
		     ifs_err *err);

/* The views' getattr and lookup (views.h), waiting while pending. */
int ifs_reader_getattr(ifs_reader *r, const ifs_wait *w, uint64_t ino, ifs_entry *e,
		       ifs_err *err);
int ifs_reader_lookup(ifs_reader *r, const ifs_wait *w, uint64_t parent, const char *name,
		      ifs_entry *e, ifs_err *err);

/* ---- open files ---------------------------------------------------------- */

/* The file will be moved on to later members (ifs_rfile_next): its cursor
 * is kept at the end of a member, and reads are never served whole. */
#define IFS_RFILE_WALK 1

/* Opens the file at inode ino (waiting while pending): -EISDIR for a
 * folder, -EIO for a member known bad or whose archive is gone. */
int ifs_reader_open(ifs_reader *r, const ifs_wait *w, uint64_t ino, ifs_rfile **out,
		    ifs_err *err);
/* Opens a file entry the caller has (e.g. a member listed by the index). */
int ifs_reader_open_entry(ifs_reader *r, const ifs_entry *e, int flags, ifs_rfile **out,
			  ifs_err *err);
/* Moves a member file (no read of it in progress) on to member e of the same
 * archive: a read there goes on from where the last one stopped when the
 * rule above allows. The CRC-32 check starts afresh. */
int ifs_rfile_next(ifs_rfile *f, const ifs_entry *e, ifs_err *err);
const ifs_entry *ifs_rfile_entry(const ifs_rfile *f);
/* Waits for the reads handed out to be done, then frees f. */
void ifs_rfile_close(ifs_rfile *f);

/* ---- reads --------------------------------------------------------------- */

typedef struct ifs_read_req {
	uint64_t off;
	size_t len;              /* cut at the end of the file */
	const ifs_wait *wait;    /* for a checkpoint the scan has not delivered */
	/*
	 * A read the reader would serve by decoding the member whole, while
	 * part of the file lies outside [off, off + len), asks take_rest(ctx)
	 * whether its caller takes that part: 1 yes (whatever the caller booked
	 * for it, it gives back itself), 0 no: the read is served as asked.
	 * NULL: served as asked.
	 */
	int (*take_rest)(void *ctx);
	void *ctx;
	/* Where to decode (len bytes): the read is then served as asked, into
	 * buf. NULL: the reader provides the memory. */
	uint8_t *buf;
} ifs_read_req;

typedef struct ifs_rdata {
	const uint8_t *data;     /* the bytes [off, off + len) */
	size_t len;              /* less than asked only at the end of the file */
	/* Non-NULL when this read decoded the member whole and checked it: the
	 * whole file (its size in bytes), for the caller to hand the rest on */
	const uint8_t *whole;
	/* private */
	uint8_t *own_;
	int whole_ref_;
} ifs_rdata;

/*
 * Reads [q->off, q->off + q->len) of f into *d (a read at or past the end
 * gives len 0). The bytes stay valid, and f open, until ifs_rfile_done(f,
 * d), which must follow every successful read. A failed read needs none:
 * -EIO for damage (err says what and names the member), -EINTR / -EAGAIN
 * from the wait, -ENOMEM.
 */
int ifs_rfile_read(ifs_rfile *f, const ifs_read_req *q, ifs_rdata *d, ifs_err *err);
void ifs_rfile_done(ifs_rfile *f, ifs_rdata *d);

/* ---- what happened (tests, benchmarks) ----------------------------------- */

typedef struct ifs_reader_stats {
	uint64_t starts;       /* cursors started at a checkpoint */
	uint64_t go_ons;       /* decodes that went on from where a cursor stood */
	uint64_t wholes;       /* members decoded whole for one read */
	uint64_t evictions;    /* cursors freed for the cap */
	uint64_t gap_fills;    /* gaps decoded to complete a CRC-32 check */
	uint64_t checks;       /* members whose CRC-32 was checked */
	uint64_t mismatches;   /* of those, wrong */
	uint64_t waits;        /* waits for the scan's next commit */
	unsigned cursors;      /* cursors kept now */
} ifs_reader_stats;
void ifs_reader_stats_get(ifs_reader *r, ifs_reader_stats *st);

#endif

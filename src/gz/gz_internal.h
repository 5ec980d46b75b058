/*
 * gz_internal.h - pieces shared by the gz module's files (not a public API):
 * a pread-based input buffer, gzip member header/trailer parsing, and the
 * sparse-window builder. Everything here is single-threaded per object.
 */
#ifndef INATFS_GZ_INTERNAL_H
#define INATFS_GZ_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "inatfs/err.h"
#include "inatfs/gz.h"
#include "inatfs/source.h"

#define GZI_WSIZE 32768u /* deflate's maximum back-reference distance */

/*
 * A window onto the file: buf[pos..len) holds the bytes at file offsets
 * off+pos .. off+len. Reads are source preads of up to `cap` bytes.
 */
typedef struct gzi_in {
	ifs_source *src;
	const char *name;
	uint8_t *buf;
	size_t cap, pos, len;
	uint64_t off;
	int eof; /* a pread returned 0: nothing after off+len */
	uint64_t stop; /* a fill below this offset reads no further (0: no stop) */
	int read_failed; /* a read failed: an error of the source, not of its data */
} gzi_in;

/* Allocates the buffer (with GZI_DEC_PAD zero bytes after the data, for the
 * decoder). Returns 0 or -ENOMEM. */
int gzi_in_init(gzi_in *r, ifs_source *src, size_t cap, ifs_err *err);
void gzi_in_free(gzi_in *r);
/* Drops the buffer; the next fill reads from file offset `off`. */
void gzi_in_seek(gzi_in *r, uint64_t off);
/* Drops the buffer and puts p[0..n) (n <= cap) in it, as if they were the
 * file's bytes just before offset `next`; the next fill reads from next. */
void gzi_in_preload(gzi_in *r, const uint8_t *p, size_t n, uint64_t next);
/* Moves the unread bytes to the front and reads more. Returns the number of
 * bytes added (0 at end of file) or a negative errno. */
ssize_t gzi_in_fill(gzi_in *r, ifs_err *err);
/* One byte: returns 1 (got it), 0 (end of file) or a negative errno. */
int gzi_in_byte(gzi_in *r, uint8_t *b, ifs_err *err);

static inline uint64_t gzi_in_tell(const gzi_in *r)
{
	return r->off + r->pos;
}

/*
 * Parses the gzip header at the current position (first: the file's first
 * member). Returns 0 (positioned at the first deflate block), 1 (no further
 * member: end of file, or only zero bytes up to it; never for first), or a
 * negative errno (-EIO with the offset in the message).
 */
int gzi_read_header(gzi_in *r, int first, ifs_err *err);

/* Reads the 8-byte member trailer. Returns 0 or a negative errno. */
int gzi_read_trailer(gzi_in *r, uint32_t *crc, uint32_t *isize, ifs_err *err);

/*
 * Sparse windows. Decodes raw deflate from bit `first_bit` of in[] after the
 * window win[0..wlen) until skip + 32 KiB bytes of output exist or the final
 * block ends, and sets need[i] = 1 (i < wlen) for every window byte that
 * output at or after `skip` reads, directly or through copies of earlier
 * output (output in [0, skip) that nothing after skip copies may come out
 * wrong). For a start at `skip` itself: need2[i] = 1 (i < wlen + skip, the
 * window then the output) for every byte that output at or after skip reads
 * directly, val[0..skip) gets the output before skip, and *entry_bit the bit
 * index into in[] where a symbol outputting byte skip starts in the first
 * block (0: none; always 0 when skip is 0), *hdr_bits that block's header
 * length. root is scratch space for skip + GZI_OUTMAX entries. in[] must have
 * 8 readable zero bytes after in_len (fast bit loads). Returns 0, 1 (in[]
 * ended too early: give more input), or -EIO (invalid deflate data; *why
 * says what).
 */
#define GZI_OUTMAX (GZI_WSIZE + 258) /* the last copy may run past 32 KiB */
int gzi_sparse_mark(const uint8_t *in, size_t in_len, unsigned first_bit, const uint8_t *win,
		    size_t wlen, size_t skip, uint32_t *root, uint8_t *need, uint8_t *val,
		    uint8_t *need2, uint64_t *entry_bit, uint32_t *hdr_bits, const char **why);

/*
 * Builds cp->window from the full window win[0..wlen) for reads from
 * cp->from on: reads the compressed bytes at cp->in_bit from src, marks the
 * bytes those reads need and encodes them (malloc'd into cp->window, its
 * size into cp->window_len), and sets the entry (cp->entry_bit, hdr_bits;
 * the window is then the one before `from`) where there is one and its
 * window costs at most entry_price bytes (per 4 KiB of skip) more. wlen 0 (a gzip member's start) gives no window
 * and sets from = out. A `from` more than GZI_SKIP_MAX past out (a block
 * that long is rare) is lowered to out, which bounds the decoding and the
 * scratch space. Returns 0 or a negative errno.
 */
#define GZI_SKIP_MAX (1u << 20)
/*
 * An entry keeps the window bytes that the output from `from` reads directly
 * in all of the 32 KiB before it, where the boundary's window keeps only
 * those it reaches from before the boundary: on JPEG data about twice as
 * many (and the index stores the entry in ~GZI_ENTRY_COST bytes). A
 * checkpoint gets its entry where that costs at most GZI_ENTRY_BYTES_PER_4KIB
 * bytes (the default price; ifs_gz_scan_opts) per 4 KiB of inflating it
 * saves (skip): the bytes an entry costs buy the most inflating saved,
 * and an entry at every checkpoint would take the index past its size
 * budget at real scale (the benchmark reports both).
 */
#define GZI_ENTRY_COST 5u
#define GZI_ENTRY_BYTES_PER_4KIB 7u
int gzi_sparse_build(ifs_source *src, ifs_gz_checkpoint *cp,
		     const uint8_t *win, size_t wlen, uint32_t entry_price, ifs_err *err);

/* Encodes the bytes of win[0..wlen) with keep[i] set (format in gz.h) into
 * a malloc'd *out. Returns 0 or -ENOMEM. */
int gzi_window_encode(const uint8_t *win, const uint8_t *keep, size_t wlen, uint8_t **out,
		      uint32_t *outlen);

/* ---- a raw-deflate decoder that stops at block boundaries (inflate*.c) ----
 *
 * Used by the chunked scan: it decodes from any bit offset, into bytes
 * (window known) or into 16-bit elements whose values >= GZI_MARK stand for
 * window byte (value - GZI_MARK) of an unknown 32 KiB window ("markers"),
 * and reports every block end with its exact bit offset. Accepts exactly
 * what zlib's inflate accepts. The caller owns both buffers:
 *
 *   input: in[0..in_len) are the file's bytes from offset in_off, with
 *          GZI_DEC_PAD readable bytes after them; in_eof: nothing follows.
 *          On GZI_D_NEED the caller moves in[ip..in_len) to the front (the
 *          decoder keeps fewer than 8 bits of in[ip - 1] in bitbuf), reads
 *          more and calls again.
 *   output: out (or out16)[0..op); a back-reference may reach down to
 *          index hist; cap elements plus GZI_DEC_SLACK are writable. A
 *          symbol starts only with 258 elements of room (else GZI_D_FULL)
 *          and only at op < stop (else GZI_D_LIMIT).
 */
#define GZI_DEC_PAD 16
#define GZI_DEC_SLACK 16
#define GZI_MARK 256u
#define GZI_LBITS 11
#define GZI_DBITS 8
/* main tables, then at most one subtable per code longer than the main bits
 * (16 entries for lengths, 128 for distances) */
#define GZI_LT_SIZE ((1u << GZI_LBITS) + 288u * 16u)
#define GZI_DT_SIZE ((1u << GZI_DBITS) + 32u * 128u)

enum gzi_dec_ret {
	GZI_D_ERR = -1,   /* invalid data: why says what, at bit err_bit */
	GZI_D_BLOCK = 1,  /* a block that is not the last ended (at gzi_dec_bit) */
	GZI_D_END,        /* the last block ended: the deflate stream is complete */
	GZI_D_NEED,       /* more input, please (never with in_eof) */
	GZI_D_TRUNC,      /* in_eof, and the data ends inside a block */
	GZI_D_FULL,       /* the output buffer is full */
	GZI_D_LIMIT,      /* op reached stop */
	GZI_D_STOP,       /* about to read a block header at or after stop_bit */
	GZI_D_CLEAN,      /* marker mode: the last 32 KiB of output hold no marker */
};

typedef struct gzi_match {
	uint64_t bit;     /* the bit after the copy's symbol (length, distance, extra bits) */
	uint32_t at;      /* output index of the copy's first byte */
	uint16_t dist, len;
} gzi_match;

typedef struct gzi_dec {
	const uint8_t *in;
	size_t in_len, ip;
	uint64_t in_off;
	int in_eof;
	uint64_t bitbuf;
	unsigned bitcnt;

	uint8_t *out;
	uint16_t *out16;
	size_t op, hist, cap, stop;
	size_t lm;          /* marker mode: no marker at or after index lm */
	uint64_t stop_bit;  /* GZI_D_STOP before a header at or after it (UINT64_MAX: never) */

	gzi_match *m;       /* NULL, or every copy is recorded here (GZI_D_FULL when
			     * m_cap of them are) */
	size_t nm, m_cap;

	int state;          /* what comes next: a block header, stored bytes, codes, nothing */
	int last;           /* the current block is the last one */
	int btype;          /* the current block's type (0 stored, 1 fixed, 2 dynamic) */
	int fixed_ready;    /* the tables hold the fixed code */
	uint32_t stored_left;
	uint64_t block_bit; /* where the current block's header began */
	uint32_t hdr_bits;  /* its length */
	const char *why;
	uint64_t err_bit;
	uint32_t lt[GZI_LT_SIZE];
	uint32_t dt[GZI_DT_SIZE];
} gzi_dec;

/* Ready to read a block header at in[ip], after its first `bit` bits (0-7).
 * Output fields are the caller's to set. */
void gzi_dec_start(gzi_dec *d, unsigned bit);
/* Decodes into out (bytes) or out16 (markers). */
int gzi_dec_run(gzi_dec *d);
int gzi_dec_run16(gzi_dec *d);
/* The bit offset in the file of the next bit to decode. */
static inline uint64_t gzi_dec_bit(const gzi_dec *d)
{
	return (d->in_off + d->ip) * 8 - d->bitcnt;
}
/* After GZI_D_END: drops the bits left of the last byte, so that in[ip] is
 * the byte after the deflate stream. */
void gzi_dec_align(gzi_dec *d);
/* Reads the block header at bit `bit` (0-7) of in[0..len) (nothing
 * follows): d's tables, btype, last and hdr_bits. Returns 0 or -1. */
int gzi_dec_header(gzi_dec *d, const uint8_t *in, size_t len, unsigned bit);
/* With the tables of a Huffman block (gzi_dec_header): are the next n
 * symbols from bit `bit` of in[0..len) all literals? Returns 1 and their
 * bits in *used, 0 if another symbol comes first, -1 if in[] ends first. */
int gzi_dec_literals(const gzi_dec *d, const uint8_t *in, size_t len, unsigned bit, size_t n,
		     uint64_t *used);

/*
 * The block finder: the first bit at or after `from` (and before `to`),
 * counted from in[0], where a dynamic-code block that is not the last can
 * start: a valid header whose codes are complete, as zlib requires. in[]
 * must have GZI_DEC_PAD readable bytes past len. Returns the bit, or
 * UINT64_MAX. d is scratch space (its tables).
 */
uint64_t gzi_find_block(gzi_dec *d, const uint8_t *in, size_t len, uint64_t from, uint64_t to);

/* ---- the scan's shared state ----
 *
 * scan.c keeps the checkpoint logic (wants, block boundaries, sparse-window
 * jobs and their delivery in order; scan_copies.c the jobs made from the
 * chunked scan's copies); scan_serial.c is the serial decoding loop (zlib),
 * pscan*.c the chunked one. Both hand the output, the block boundaries
 * and the gzip member ends to the gzi_scan_* functions, in stream order, on
 * the calling thread; helper threads only compute sparse windows (jobs) and
 * decode chunks.
 */
#define GZI_NJOB 32

/* Builds a checkpoint's sparse window (gzi_sparse_build's contract); ws: the
 * calling thread's reusable buffers, or NULL. */
typedef int (*gzi_window_fn)(void *ws, ifs_source *src, ifs_gz_checkpoint *cp,
			     const uint8_t *win, size_t wlen, uint32_t entry_price, ifs_err *err);

typedef struct gzi_job {
	ifs_gz_checkpoint cp;
	uint32_t wlen;
	int rc;
	int done;
	int ready;            /* may be computed (a job from copies waits for them) */
	/* From the copies the chunked scan recorded, instead of decoding again:
	 * the output in [out, from) (val) and the copies that start in
	 * [out, stop) (at counted from out); bound: a bit at or after the one
	 * where the reference decoding would stop */
	int from_copies;
	uint64_t stop, bound;
	uint8_t *val;
	gzi_match *c;
	size_t nc, capc;
	ifs_err err;
	uint8_t win[GZI_WSIZE];
} gzi_job;

/* The copies of the output being delivered (a chunk): m[0..n) with their
 * output at base + m[i].at, every copy that starts in [from, to) */
typedef struct gzi_copies {
	const gzi_match *m;
	size_t n;
	uint64_t base, from, to;
	uint64_t end, end_bit;   /* the chunk's output ends at end, at bit end_bit */
} gzi_copies;

struct ifs_gz_scan {
	const ifs_gz_scan_opts *o;
	ifs_source *src;
	const char *name;
	ifs_err *err;
	uint32_t entry_price;  /* o->entry_bytes_per_4kib, or the default */
	gzi_window_fn window_fn;

	/* Wanted offsets. One below `pos` lies in the block being decoded, so
	 * they all get one checkpoint: only their minimum is kept (want_low).
	 * Later ones (a caller may ask ahead) wait in wants[], unordered. */
	uint64_t want_low;
	uint64_t *wants;
	size_t nwant, capwant;
	uint64_t want_min;     /* the smallest of all */
	int want_oom;

	uint64_t pos;          /* uncompressed bytes delivered */
	uint64_t in_now;       /* compressed position there (progress) */
	uint64_t in_total;     /* the file's size */
	uint64_t next_progress;
	uint32_t crc;          /* the gzip member's CRC-32 so far */
	uint64_t mstart;       /* uncompressed offset where the member began */

	/* delivered output still in memory: offset x (hbase <= x < pos) is at
	 * hist[x - hbase]; a driver calls gzi_scan_keep_window before dropping any */
	const uint8_t *hist;
	uint64_t hbase;

	uint64_t cur, cur_bit; /* the latest block boundary */
	uint32_t cur_crc;      /* the member's CRC-32 up to cur */
	uint32_t cur_wl;
	int cur_saved;         /* its window is in curwin (else in hist) */
	uint8_t curwin[GZI_WSIZE];

	int emitted_any;
	uint64_t last_emit;

	/* block boundaries at least 16 KiB apart, newest last (for damage) */
	uint64_t bring[16];
	unsigned nbring;

	const gzi_copies *copies;  /* the chunked scan: copies of the output being delivered */
	gzi_job *jobs;         /* ring: [head, tail) queued, [head, wnext) claimed */
	uint64_t head, tail, wnext;
	int helpers;           /* threads that compute jobs (0: the calling thread does) */
	int quit;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;

	uint64_t hinted;       /* the source has been told of the bytes before this */

	/* wanted member ends (ifs_gz_want_end), in order: [end_head, nend) wait
	 * for the boundary after them; scan_ends.c decodes their block again */
	uint64_t *ends;
	size_t end_head, nend, end_cap;
	gzi_dec *ed;
	uint8_t *ein, *eout;
	size_t ein_cap, eout_cap;

	ifs_gz_scan_result res;
};

/*
 * Tells the source of the compressed bytes the stream reads next, from `at`
 * on, GZI_HINT_AHEAD at a time, half of it before they are needed (a remote
 * source fetches them meanwhile).
 */
#define GZI_HINT_AHEAD (16u << 20)
/* The chunked scan keeps at least this much hinted past the chunk a worker
 * takes, whatever the number of workers: what must be in flight to hide a
 * round trip depends on the network, not on how many threads decode. */
#define GZI_SCAN_AHEAD (32u << 20)
void gzi_scan_hint(ifs_gz_scan *s, uint64_t at);

/* Data delivered in order: the member's CRC-32, on_data, progress. */
int gzi_scan_feed(ifs_gz_scan *s, const uint8_t *p, size_t n);
/* A block boundary at the current position, compressed bit `bit` (also a
 * gzip member's first block: member_start). */
int gzi_scan_boundary(ifs_gz_scan *s, uint64_t bit, int member_start);
/* Before the boundary at the current position (its bits end before bit
 * `limit`) is reported: the wanted ends in the block before it, each with
 * on_boundary (scan_ends.c). */
int gzi_scan_settle_ends(ifs_gz_scan *s, uint64_t limit);
void gzi_scan_ends_free(ifs_gz_scan *s);
/* A gzip member begins at the current position, its first block at bit. */
int gzi_scan_member_start(ifs_gz_scan *s, uint64_t bit);
/* The member's trailer (at file offset tpos) says crc, isize: checked (a
 * mismatch is damage). */
int gzi_scan_member_end(ifs_gz_scan *s, uint32_t crc, uint32_t isize, uint64_t tpos);
/* The scan stops with rc: if that is damage in the data (-EIO, and the file
 * could be read), it is recorded (gz.h: kind, where, good_out). Returns rc. */
int gzi_scan_damaged(ifs_gz_scan *s, int rc, int read_failed, int kind, uint64_t where,
		     uint64_t good_out);
/* The good_out of corrupt data found at output err_out, and of input that
 * ends inside a deflate stream at output end (gz.h). */
uint64_t gzi_scan_good_before(const ifs_gz_scan *s, uint64_t err_out);
uint64_t gzi_scan_good_truncated(const ifs_gz_scan *s, uint64_t end);
/* The chunked scan: a chunk's copies (c) are about to be delivered
 * (before its data), or were (after: c NULL); or output without copies
 * follows (gzi_scan_no_copies). Jobs from copies gather them here. */
int gzi_scan_copies_begin(ifs_gz_scan *s, const gzi_copies *c);
void gzi_scan_copies_end(ifs_gz_scan *s);
void gzi_scan_no_copies(ifs_gz_scan *s);
/* The output below offset `from` is about to leave memory. */
void gzi_scan_keep_window(ifs_gz_scan *s, uint64_t from);
/* Hands finished checkpoints on; with block, waits for the oldest first. */
int gzi_scan_deliver(ifs_gz_scan *s, int block);
/* Under s->mu: the next job to compute, or NULL. */
gzi_job *gzi_scan_claim_job(ifs_gz_scan *s);
/* Computes a claimed job (without s->mu) and marks it done; ws as for
 * window_fn. */
void gzi_scan_run_job(ifs_gz_scan *s, gzi_job *j, void *ws);
/* Sets the scan up at a checkpoint of an earlier scan (opts->resume). */
int gzi_scan_resume(ifs_gz_scan *s, const ifs_gz_checkpoint *cp, const uint8_t *win);
/* Windows from copies (scan_copies.c). A job just made at cur takes the
 * output before its `from` and the copies so far, if all of them are there
 * (else it decodes). Returns 0 or -ENOMEM. */
int gzi_scan_from_copies(ifs_gz_scan *s, gzi_job *j);
/* A pending job has all its copies; bound: a bit at or after the end of the
 * reference's decoding. Under s->mu. */
void gzi_scan_copies_ready(gzi_job *j, uint64_t bound);

/* The chunked scan (pscan.c) with `threads` decoding threads: the whole
 * file, or from opts->resume on. */
int gzi_scan_chunked(ifs_gz_scan *s, int threads);
/* The serial scan (scan_serial.c): zlib on the calling thread, sparse
 * windows on one helper; the whole file, or from opts->resume on. */
int gzi_scan_serial(ifs_gz_scan *s);

/* The sparse window as gzi_sparse_build makes it, from a decoder that
 * records copies (track.c): the same result, several times faster. ws: a
 * gzi_track_ws of the calling thread (its buffers are kept for the next
 * call), or NULL. */
typedef struct gzi_track_ws gzi_track_ws;
gzi_track_ws *gzi_track_ws_new(void);
void gzi_track_ws_free(gzi_track_ws *ws);
int gzi_track_build(void *ws, ifs_source *src, ifs_gz_checkpoint *cp,
		    const uint8_t *win, size_t wlen, uint32_t entry_price, ifs_err *err);
/* A job's window from its copies (ws as for gzi_track_build). */
int gzi_track_copies(void *ws, ifs_source *src, gzi_job *j, uint32_t entry_price);
/* Shared by both builders: clears cp's window and entry and checks the
 * checkpoint; 0 when cp needs no window (no history: cp->from is then
 * cp->out), 1 to go on building one, or a negative errno (err set, naming
 * name). A skip past GZI_SKIP_MAX is cut to none. */
int gzi_sparse_begin(ifs_gz_checkpoint *cp, size_t wlen, const char *name, ifs_err *err);
/* Shared by both builders: from the marks, the windows and the entry choice. */
int gzi_sparse_finish(ifs_gz_checkpoint *cp, const uint8_t *win, size_t wlen, size_t skip,
		      const uint8_t *need, const uint8_t *val, const uint8_t *need2,
		      uint64_t entry_bit, uint32_t hdr_bits, uint32_t entry_price);
/*
 * The compressed bytes a sparse window may read from its checkpoint on:
 * honest data needs less than twice the output it decodes (skip + 32 KiB),
 * plus block headers. Past this (a long run of empty blocks, say), the
 * window keeps every byte and has no entry.
 */
#define GZI_SPARSE_IN_MAX(skip) (4 * ((size_t)(skip) + 65536))

#endif

/*
 * gz.h - seekable gzip: one streaming pass that records checkpoints, then
 * random reads that inflate only from the nearest checkpoint.
 *
 * A checkpoint is a deflate block boundary: the bit offset of the block's
 * first bit in the compressed file, the uncompressed offset there, and a
 * "sparse window": the bytes of the 32 KiB of output before the boundary
 * that the output a reader wants actually reads. A checkpoint is wanted for a
 * tar member's data, which starts a little after the boundary; only output
 * from there on (`from`) has to come out right, so only the window bytes it
 * reads, directly or through copies of the output before it, are kept
 * (~14 bytes of 32 KiB on JPEG data, many checkpoints need none).
 *
 * Most checkpoints also have an entry: the bit where the symbol that outputs
 * `from` begins, inside the block, and the length of the block's header.
 * A read then starts there, after the block's header bits (read from the
 * file and laid in front of the entry bit), and inflates nothing before
 * `from`; the window is then the 32 KiB before `from`, and holds the bytes
 * the output from `from` on reads directly. Without an entry (a copy runs
 * across `from`, or `from` falls in a stored block) a read starts at the
 * boundary and inflates the bytes up to `from` first.
 *
 * Window format (what `window` holds, ifs_gz_window_decode): varint(32768 -
 * wlen), then runs: varint(gap << 3 | min(len - 1, 7)), then varint(len - 8)
 * if len > 7, and len bytes, where gap is the run's start minus the previous
 * run's end (the first run's: its start). Bytes outside the runs are zero.
 * Varints are LEB128.
 *
 * Uncompressed offsets count across all members of a multi-member
 * (concatenated) gzip file, as `gzip -dc` would output them.
 *
 * Bytes come from a source (source.h: a local file, or an object behind a
 * URL): the scan, the sparse windows and the cursors read only through it,
 * and tell it which ranges they are about to read (ifs_source_hint).
 *
 * Threading: an ifs_gz_scan runs on the calling thread with helper threads
 * (ifs_gz_scan_opts.threads); its callbacks are called on the calling
 * thread, in order. A cursor is used by one thread at a time; any number of
 * cursors may read the same source at once.
 *
 * The scan decodes the file in chunks on several threads at once: each
 * chunk of compressed bytes (4 MiB) is decoded from the first deflate block
 * that starts in it, found by a block finder, with the 32 KiB before it
 * unknown (references into it are kept as markers and filled in once the
 * chunk before is done); a chunk's output is used only if it starts exactly
 * where the chunk before ended, else that stretch is decoded on the calling
 * thread from where the stream stands. The serial scan (zlib, one pass) is
 * kept as the reference (IFS_GZ_SERIAL): both give the same checkpoints.
 *
 * Errors: every function returns 0 (or a byte count) on success and a
 * negative errno on failure (-EIO for corrupt or truncated data, with the
 * compressed offset in the message). Bytes are never handed out unchecked
 * against an error the decoder detected.
 */
#ifndef INATFS_GZ_H
#define INATFS_GZ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "inatfs/crc32.h"   /* the members' CRC-32, checked by cursors' users */
#include "inatfs/err.h"
#include "inatfs/source.h"

/* ---- checkpoints ------------------------------------------------------- */

typedef struct ifs_gz_checkpoint {
	uint64_t out;       /* uncompressed offset of the block boundary */
	uint64_t from;      /* >= out: output from here on decodes exactly; the output in
			     * [out, from) may not (window bytes it alone reads are left out) */
	uint64_t in_bit;    /* bit offset, in the compressed file, of the block's first bit */
	uint64_t entry_bit; /* 0: no entry; else the bit offset, in the compressed file, of the
			     * first symbol that outputs `from` (inside out's block) */
	uint32_t hdr_bits;  /* with an entry: bits of the block's header, from in_bit on (3
			     * for a fixed-code block; at most IFS_GZ_HDR_BITS_MAX) */
	uint32_t window_len;/* bytes in window (0: no window: the checkpoint is at the start of
			     * a gzip member's output, and from == out) */
	uint8_t *window;    /* the sparse window, in the format above: of the 32 KiB before
			     * `from` with an entry, before `out` without; owned by whoever
			     * holds the struct */
	/* Set by the scan (not stored in the index): the stream's state at `out`,
	 * enough to resume a scan there (ifs_gz_scan_opts.resume). */
	uint32_t crc;        /* CRC-32 of the current gzip member's output before out */
	uint64_t member_out; /* uncompressed offset where that gzip member began */
	uint32_t members;    /* gzip members begun so far, that one included */
} ifs_gz_checkpoint;

/* A dynamic block's header: 3 + 14 + 19 * 3 bits, then at most 286 + 30 code
 * lengths of at most 7 + 7 bits each. */
#define IFS_GZ_HDR_BITS_MAX (3u + 14u + 57u + 316u * 14u)

#define IFS_GZ_ENTRY_ALWAYS UINT32_MAX

/* Frees cp->window and zeroes the struct. */
void ifs_gz_checkpoint_clear(ifs_gz_checkpoint *cp);

/*
 * Decodes a window (format above) into dict (32 KiB of room):
 * *wlen gets its length. Returns 0, or -EIO if the bytes are not a window.
 */
int ifs_gz_window_decode(const uint8_t *w, size_t len, uint8_t *dict, size_t *wlen);

/*
 * An in-memory, sorted list of checkpoints (for tests, tools and `verify`;
 * the index stores them in SQLite instead). Not thread-safe for writes.
 */
typedef struct ifs_gz_cplist {
	ifs_gz_checkpoint *cp;
	size_t n, cap;
} ifs_gz_cplist;

/* Appends a deep copy of *cp (window copied). cp->from must increase. */
int ifs_gz_cplist_add(ifs_gz_cplist *l, const ifs_gz_checkpoint *cp);
/* The last checkpoint with from <= off, or NULL if none. */
const ifs_gz_checkpoint *ifs_gz_cplist_find(const ifs_gz_cplist *l, uint64_t off);
void ifs_gz_cplist_free(ifs_gz_cplist *l);

/* ---- the scan pass ----------------------------------------------------- */

typedef struct ifs_gz_scan ifs_gz_scan;

/*
 * Called with every uncompressed byte, in order: `off` is the uncompressed
 * offset of buf[0]. Return 0 to go on; a negative errno stops the scan and is
 * returned by ifs_gz_scan_source (fill the ifs_err yourself).
 */
typedef int (*ifs_gz_data_fn)(void *ctx, ifs_gz_scan *s, const uint8_t *buf,
			      size_t len, uint64_t off);

/*
 * Called once per checkpoint, in strictly increasing `out` (and `from`)
 * order (there is always one at offset 0, so every offset has a checkpoint
 * at or before it) (possibly some time after the data passed, since sparse
 * windows are computed beside the main inflate). cp and its window are
 * valid only during the call: copy what you keep. Return 0 or a negative
 * errno to stop.
 */
typedef int (*ifs_gz_checkpoint_fn)(void *ctx, const ifs_gz_checkpoint *cp);

/*
 * Called at every deflate block boundary, at the end of each gzip member's
 * data, and at each end asked for with ifs_gz_want_end (just before the
 * boundary after it), in increasing `out`, once the output before it has
 * been delivered (on_data): `out` is the uncompressed offset there,
 * `in_end` the compressed offset where the data that outputs the bytes
 * before `out` ends (rounded up to a byte; at a wanted end, the byte after
 * the symbol that outputs its last byte: a copy across `out` counts whole).
 * So the compressed bytes of a range of output end at the in_end of the
 * first call with out >= the range's end. Return 0 or a negative errno to
 * stop.
 */
typedef int (*ifs_gz_boundary_fn)(void *ctx, uint64_t out, uint64_t in_end);

/* Called now and then (about every 16 MiB of input). */
typedef void (*ifs_gz_progress_fn)(void *ctx, uint64_t in_done, uint64_t in_total,
				   uint64_t out_done);

typedef struct ifs_gz_scan_opts {
	/* A checkpoint at least every max_spacing uncompressed bytes even when
	 * nobody asks (long members); 0 = default 4 MiB. */
	uint64_t max_spacing;
	/* The most a checkpoint's entry may cost in stored bytes per 4 KiB of
	 * inflating it saves (see sparse.c); 0 = the default;
	 * IFS_GZ_ENTRY_ALWAYS: every checkpoint that has one gets it (tests). */
	uint32_t entry_bytes_per_4kib;
	ifs_gz_data_fn on_data;
	ifs_gz_checkpoint_fn on_checkpoint;
	ifs_gz_progress_fn on_progress;   /* may be NULL */
	ifs_gz_boundary_fn on_boundary;   /* may be NULL */
	void *ctx;                         /* passed to all callbacks */
	/*
	 * Resume an earlier scan of the same file at this checkpoint, one it
	 * emitted (out, in_bit, crc, member_out and members as it gave them),
	 * with resume_window: the exact output before resume->out, the last
	 * min(32 KiB, out - member_out) bytes of it (a checkpoint's sparse window
	 * is not enough: the scan checks every byte). Output and callbacks start
	 * at resume->out, no checkpoint is emitted there again, and the checks go
	 * on as if the scan had never stopped (the member's CRC-32 continues from
	 * resume->crc). NULL: from the start.
	 */
	const ifs_gz_checkpoint *resume;
	const uint8_t *resume_window;
	/* Decoding threads: 0 = one per CPU; IFS_GZ_SERIAL = the serial scan. */
	int threads;
	/* Compressed bytes per chunk; 0 = the default (4 MiB; tests use small ones). */
	uint32_t chunk_size;
} ifs_gz_scan_opts;

#define IFS_GZ_SERIAL (-1)
#define IFS_GZ_THREADS_MAX 256

/* What a scan that failed on damaged data found (ifs_gz_scan_result.damage). */
enum ifs_gz_damage {
	IFS_GZ_DAMAGE_NONE = 0,  /* no damage: success, or a failure of another kind
				  * (reading the file, memory, a callback's error) */
	IFS_GZ_TRUNCATED,        /* the file ends inside the data (an interrupted download) */
	IFS_GZ_CORRUPT,          /* deflate data that does not decode */
	IFS_GZ_BAD_TRAILER,      /* a gzip member's CRC-32 or size does not match its data */
	IFS_GZ_GARBAGE,          /* bytes after a gzip member that are no gzip member */
};

typedef struct ifs_gz_scan_result {
	uint64_t in_size;      /* compressed bytes consumed (the file size) */
	uint64_t out_size;     /* total uncompressed size */
	uint32_t members;      /* gzip members seen */
	uint64_t checkpoints;  /* checkpoints emitted */
	uint64_t window_bytes; /* sum of the sparse windows' sizes */
	/*
	 * Filled when the scan fails on damaged data (and only then):
	 * damage_in is the compressed offset where it was found; every
	 * uncompressed byte before good_out is what the archive holds, and can
	 * be read back with a cursor; from good_out on nothing is. TRUNCATED: a
	 * prefix of a deflate stream decodes to a prefix of its output, but a
	 * cursor (ISA-L) does not decode the last symbols of input that ends
	 * early: all the output delivered but its last 64 KiB (all of it when
	 * only the gzip trailer is cut). GARBAGE: all the output delivered.
	 * CORRUPT: the last block boundary at least 64 KiB of
	 * output before the error (data that fails to decode has usually been
	 * decoding wrong for a short while: a few hundred bytes of blocks that
	 * only look valid). BAD_TRAILER: the start of that gzip member, whose
	 * bytes no check vouches for.
	 */
	int damage;            /* enum ifs_gz_damage */
	uint64_t damage_in;
	uint64_t good_out;
	/* How the chunked scan went (on success): */
	uint64_t chunks_used;  /* chunks decoded by helper threads and used */
	uint64_t chunks_own;   /* stretches the calling thread decoded itself */
	uint64_t chunks_unjoined; /* decoded by helper threads from a start that was
				   * not where the stream stood: not used */
	uint64_t windows_copied;  /* sparse windows made from the copies the chunks
				   * recorded (the others are decoded again) */
} ifs_gz_scan_result;

/* A word for a damage kind ("truncated", ...), for messages. */
const char *ifs_gz_damage_name(int damage);

/*
 * One pass over the gzip file src (messages name it as the source does).
 * Checks the gzip header of every member, CRC32 and ISIZE of every member,
 * and that nothing but gzip members (or trailing zero bytes) follows. res may
 * be NULL; on success it holds the totals, on a failure caused by damaged
 * data its damage fields (see above), on any other failure zeros.
 */
int ifs_gz_scan_source(ifs_source *src, const ifs_gz_scan_opts *opts,
		       ifs_gz_scan_result *res, ifs_err *err);

/*
 * From inside on_data: ask for a checkpoint at the last block boundary at or
 * before uncompressed offset `off` (the start of a tar member's data), that
 * serves reads from off on. off must be >= the offset of the data currently
 * being delivered. Requests for the same boundary yield one checkpoint, whose
 * `from` is the smallest of them.
 */
void ifs_gz_want(ifs_gz_scan *s, uint64_t off);

/*
 * From inside on_data: ask for the exact compressed end of the output
 * before uncompressed offset `end` (a tar member's data end): on_boundary
 * is called with out = end before the boundary after it. end must be at or
 * after the data being delivered, and larger than the previous end asked
 * for. Where the block holding it is not decoded again (longer than 4 MiB,
 * or the end is a boundary itself) the boundary's call serves.
 */
void ifs_gz_want_end(ifs_gz_scan *s, uint64_t end);

/* From inside on_data: compressed bytes consumed so far. */
uint64_t ifs_gz_scan_in_pos(const ifs_gz_scan *s);

/* ---- random reads ------------------------------------------------------ */

/*
 * A cursor decodes forward from a checkpoint and stops where a read ends, so
 * that the next read at or after that point goes on without starting again.
 * It has no policy: whether a read goes on or starts again at a checkpoint
 * is the caller's choice (the member reader's, reader.h).
 */
typedef struct ifs_gz_cursor ifs_gz_cursor;

/* A cursor over the gzip file src (not owned; must outlive the cursor). */
int ifs_gz_cursor_new(ifs_source *src, ifs_gz_cursor **out, ifs_err *err);
void ifs_gz_cursor_free(ifs_gz_cursor *c);

/*
 * Puts the cursor at checkpoint cp (not kept: cp may be freed after): reads
 * from cp->from on are then possible. in_end: where the compressed bytes
 * that the reads from here will decode end, if the caller knows (else 0);
 * the source is then told of exactly those ranges before the first read
 * (ifs_source_hint: a remote one fetches them in one request: with an entry,
 * the block's header and the bytes from the entry on are one range when
 * little lies between), and the cursor's reads of the file stop at in_end
 * before going past it. Returns 0 or a negative errno (a bad checkpoint,
 * the source).
 */
int ifs_gz_cursor_start(ifs_gz_cursor *c, const ifs_gz_checkpoint *cp, uint64_t in_end,
			ifs_err *err);

/*
 * Reads up to len uncompressed bytes at offset off into buf, going on from
 * where the cursor stands: off must be at or after ifs_gz_cursor_pos (else
 * -EINVAL: start it at a checkpoint first). The bytes between are decoded
 * and dropped. Returns the number of bytes read (short only at the end of
 * the stream), or a negative errno; after an error the cursor must be
 * started again.
 */
ssize_t ifs_gz_cursor_read(ifs_gz_cursor *c, uint64_t off, uint8_t *buf, size_t len,
			   ifs_err *err);

/* The smallest offset the cursor can read next without starting again
 * (UINT64_MAX: none, it must be started). */
uint64_t ifs_gz_cursor_pos(const ifs_gz_cursor *c);

/* How many times the cursor was started at a checkpoint. */
uint64_t ifs_gz_cursor_restarts(const ifs_gz_cursor *c);

#endif

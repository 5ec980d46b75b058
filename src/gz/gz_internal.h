/*
 * gz_internal.h - pieces shared by the gz module's files (not a public API):
 * a pread-based input buffer, gzip member header/trailer parsing, and the
 * sparse-window builder. Everything here is single-threaded per object.
 */
#ifndef INATFS_GZ_INTERNAL_H
#define INATFS_GZ_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "inatfs/err.h"
#include "inatfs/gz.h"

#define GZI_WSIZE 32768u /* deflate's maximum back-reference distance */

/*
 * A window onto the file: buf[pos..len) holds the bytes at file offsets
 * off+pos .. off+len. Reads are pread()s of up to `cap` bytes.
 */
typedef struct gzi_in {
	int fd;
	const char *name;
	uint8_t *buf;
	size_t cap, pos, len;
	uint64_t off;
	int eof; /* a pread returned 0: nothing after off+len */
	int read_failed; /* a pread failed: an error of the file, not of its data */
} gzi_in;

/* Allocates the buffer. Returns 0 or -ENOMEM. */
int gzi_in_init(gzi_in *r, int fd, const char *name, size_t cap, ifs_err *err);
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
 * cp->from on: reads the compressed bytes at cp->in_bit from fd, marks the
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
 * saves (skip). On the bench fixture: 47% of the checkpoints, which skip 57%
 * of the bytes before members, for 6.5 bytes more per checkpoint (with every
 * entry: 100%, for 26 more, which would take the index past its size budget
 * at real scale).
 */
#define GZI_ENTRY_COST 5u
#define GZI_ENTRY_BYTES_PER_4KIB 7u
int gzi_sparse_build(int fd, const char *name, ifs_gz_checkpoint *cp,
		     const uint8_t *win, size_t wlen, uint32_t entry_price, ifs_err *err);

/* Encodes the bytes of win[0..wlen) with keep[i] set (format in gz.h) into
 * a malloc'd *out. Returns 0 or -ENOMEM. */
int gzi_window_encode(const uint8_t *win, const uint8_t *keep, size_t wlen, uint8_t **out,
		      uint32_t *outlen);

#endif

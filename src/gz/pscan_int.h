/*
 * pscan_int.h - what the chunked scan's two sides share (pscan.c: the
 * stitcher, on the calling thread; pscan_worker.c: the workers that decode
 * chunks): a chunk, its events, the scan's state, and input helpers.
 * Private to those two.
 */
#ifndef INATFS_PSCAN_INT_H
#define INATFS_PSCAN_INT_H

#include "gz_internal.h"

#include <pthread.h>

#define IN_CAP (1u << 20)   /* each decoding thread's input buffer */

enum { EV_BLOCK, EV_MSTART, EV_MEND };

typedef struct ev {
	uint64_t bit;      /* BLOCK, MSTART: where the next block begins; MEND: the trailer's offset */
	uint32_t at;       /* output index */
	uint32_t kind;
	uint32_t crc, isize;
} ev;

enum { C_FREE, C_BUSY, C_DONE };
enum { R_NONE, R_STOP, R_EOF, R_CUT };

typedef struct chunk {
	int state;
	uint64_t index;
	int res;              /* R_*: how the decoding ended */
	uint64_t start_bit, end_bit;
	uint8_t *ob;          /* output from index GZI_WSIZE (the 32 KiB before are for the window) */
	size_t ob_cap, n_out;
	uint16_t *o16;        /* the marker phase: [GZI_WSIZE, n16); [0, GZI_WSIZE) are the markers */
	size_t o16_cap, n16;
	ev *ev;
	size_t nev, ev_cap;
	gzi_match *m;         /* the copies, for sparse windows (all that start before m_to) */
	size_t nm, m_cap, m_to;
} chunk;

typedef struct pscan {
	ifs_gz_scan *s;
	uint64_t csize, nchunks;
	chunk *c;
	size_t look;
	uint64_t want_from;   /* the stitcher may use chunks from here on */
	uint64_t next;        /* the next chunk for a worker */
	int quit;
	pthread_t *thr;
	int nthr;
	/* the stitcher's own decoding */
	gzi_dec *d;
	gzi_in r;
	uint8_t *obuf;
	uint8_t tail[GZI_WSIZE];   /* the last 32 KiB of output */
} pscan;

/* Points d at r's unread input. */
static inline void attach(gzi_dec *d, const gzi_in *r)
{
	d->in = r->buf;
	d->in_len = r->len;
	d->in_off = r->off;
	d->ip = r->pos;
	d->in_eof = r->eof;
}

/* More input for d (which said GZI_D_NEED). Returns 0 or a negative errno. */
static inline int refill(gzi_dec *d, gzi_in *r, ifs_err *err)
{
	r->pos = d->ip;
	ssize_t n = gzi_in_fill(r, err);
	if (n < 0)
		return (int)n;
	attach(d, r);
	return 0;
}

/* Positions r at file byte `byte` with at least `want` bytes there (or the
 * end of the file). */
static inline int seek_to(gzi_in *r, uint64_t byte, size_t want, ifs_err *err)
{
	if (byte < r->off || byte > r->off + r->len)
		gzi_in_seek(r, byte);
	else
		r->pos = (size_t)(byte - r->off);
	while (r->len - r->pos < want && !r->eof) {
		ssize_t n = gzi_in_fill(r, err);
		if (n < 0)
			return (int)n;
		if (n == 0 && !r->eof)
			break;
	}
	return 0;
}

/* A worker thread (pscan_worker.c): decodes the chunks the stitcher will
 * want next, and computes sparse-window jobs first; arg is the pscan. */
void *gzi_pscan_worker(void *arg);

#endif

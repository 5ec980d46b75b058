/*
 * track.c - sparse windows for the chunked scan: the same result as
 * gzi_sparse_build (sparse.c, the reference), from the table decoder of
 * inflate.c instead of the bit-by-bit one. It decodes from the checkpoint's
 * boundary with the exact window in front, into bytes (so the output before
 * `from` is simply there), records every copy, and stops where the
 * reference stops: at the first symbol that starts skip + 32 KiB after the
 * boundary (the copy that crosses it counts whole; a stored block is cut
 * there), or at the end of the gzip member. The entry is the bit where a
 * symbol of the first block (not a stored one) starts exactly at skip: the
 * decoder is first told to stop there.
 *
 * Then, from the copies alone (literals copy nothing): each output byte's
 * root (the window byte it copies, through copies of copies), the window
 * bytes the output from skip on reaches through them (need), and those it
 * reads directly, output before skip included (need2).
 */
#include "gz_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOROOT UINT32_MAX
#define IN_PIECE (256u * 1024)

typedef struct trk {
	int fd;
	uint64_t start;      /* the checkpoint's first byte */
	size_t in_max, cap;
	uint8_t *in;
	int soft;            /* input stopped at in_max, not at the file's end */
} trk;

/* More input for d: keeps in[ip..), reads up to in_max bytes from start. */
static int more(trk *t, gzi_dec *d, ifs_err *err, const char *name)
{
	memmove(t->in, t->in + d->ip, d->in_len - d->ip);
	d->in_off += d->ip;
	d->in_len -= d->ip;
	d->ip = 0;
	uint64_t read_to = d->in_off + d->in_len;
	size_t room = t->cap - d->in_len;
	uint64_t left = t->start + t->in_max - read_to;
	if (room > left)
		room = (size_t)left;
	if (room == 0) {
		t->soft = 1;
		d->in_eof = 1;
	}
	while (room > 0) {
		ssize_t n = pread(t->fd, t->in + d->in_len, room, (off_t)read_to);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ifs_err_sys(err, errno, "%s: read at offset %llu", name,
					   (unsigned long long)read_to);
		if (n == 0)
			d->in_eof = 1;
		d->in_len += (size_t)n;
		break;
	}
	memset(t->in + d->in_len, 0, GZI_DEC_PAD);
	d->in = t->in;
	return 0;
}

int gzi_track_build(int fd, const char *name, ifs_gz_checkpoint *cp, const uint8_t *win,
		    size_t wlen, uint32_t entry_price, ifs_err *err)
{
	free(cp->window);
	cp->window = NULL;
	cp->window_len = 0;
	cp->entry_bit = 0;
	cp->hdr_bits = 0;
	if (cp->from < cp->out)
		return ifs_err_set(err, EINVAL, "%s: checkpoint serves offsets before itself", name);
	if (wlen == 0) {
		cp->from = cp->out; /* no history: everything after out is exact */
		return 0;
	}
	if (wlen > GZI_WSIZE)
		return ifs_err_set(err, EINVAL, "%s: window too large", name);
	if (cp->from - cp->out > GZI_SKIP_MAX)
		cp->from = cp->out; /* a very long block: serve reads from out on */
	size_t skip = (size_t)(cp->from - cp->out);
	trk t = { .fd = fd, .start = cp->in_bit >> 3, .in_max = GZI_SPARSE_IN_MAX(skip) };
	t.cap = t.in_max < IN_PIECE ? t.in_max : IN_PIECE;
	size_t ocap = GZI_WSIZE + skip + GZI_OUTMAX;
	size_t mcap = (skip + GZI_OUTMAX) / 3 + 2;
	gzi_dec *d = malloc(sizeof *d);
	uint8_t *out = malloc(ocap + GZI_DEC_SLACK), *need = calloc(1, wlen);
	uint8_t *need2 = calloc(1, wlen + skip);
	uint32_t *root = NULL;
	gzi_match *m = malloc(mcap * sizeof *m);
	t.in = malloc(t.cap + GZI_DEC_PAD);
	int ret = -ENOMEM, rc;
	uint64_t entry = 0;
	uint32_t hdr = 0;
	if (!d || !out || !need || !need2 || !m || !t.in)
		goto oom;
	memset(d, 0, offsetof(gzi_dec, lt));
	memcpy(out + GZI_WSIZE - wlen, win, wlen);
	d->out = out;
	d->op = GZI_WSIZE;
	d->hist = GZI_WSIZE - wlen;
	d->cap = ocap;
	d->stop_bit = UINT64_MAX;
	d->m = m;
	d->m_cap = mcap;
	d->in = t.in;
	d->in_off = t.start;
	if ((ret = more(&t, d, err, name)) < 0)
		goto out;
	if (d->in_len == 0) {
		ret = ifs_err_set(err, EIO, "%s: checkpoint at compressed offset %llu is past the "
				  "end of the file", name, (unsigned long long)t.start);
		goto out;
	}
	gzi_dec_start(d, (unsigned)(cp->in_bit & 7));
	/* first to skip (the entry), then to skip + 32 KiB */
	int first = 1, ended = 0, fallback = 0;
	for (int phase = skip ? 0 : 1; phase < 2 && !ended && !fallback; phase++) {
		d->stop = GZI_WSIZE + skip + (phase ? GZI_WSIZE : 0);
		for (;;) {
			rc = gzi_dec_track(d);
			if (rc == GZI_D_NEED) {
				if ((ret = more(&t, d, err, name)) < 0)
					goto out;
				continue;
			}
			if (rc == GZI_D_BLOCK) {
				first = 0;
				continue;
			}
			if (rc == GZI_D_LIMIT) {
				if (phase == 0 && first && d->btype != 0 && d->op == GZI_WSIZE + skip) {
					entry = gzi_dec_bit(d);
					hdr = d->hdr_bits;
				}
				break;
			}
			if (rc == GZI_D_END) {
				ended = 1;
				break;
			}
			if (rc == GZI_D_TRUNC && t.soft) {
				/* more input than honest data needs: keep the whole window */
				fallback = 1;
				break;
			}
			ret = ifs_err_set(err, EIO, "%s: corrupt deflate data after compressed "
					  "offset %llu: %s", name, (unsigned long long)t.start,
					  rc == GZI_D_TRUNC ? "unexpected end of file"
					  : rc == GZI_D_ERR ? d->why : "internal error");
			goto out;
		}
	}
	if (fallback) {
		memset(need, 1, wlen);
		entry = 0;
	} else {
		size_t end = d->op - GZI_WSIZE, w0 = GZI_WSIZE - wlen;
		if (!(root = malloc((end ? end : 1) * sizeof *root)))
			goto oom;
		memset(root, 0xff, end * sizeof *root);
		for (size_t i = 0; i < d->nm; i++) {
			size_t at = m[i].at - GZI_WSIZE, dist = m[i].dist;
			for (size_t k = 0; k < m[i].len; k++, at++) {
				/* the source, counted from the window's first byte */
				size_t src = at + wlen - dist;
				uint32_t r = src < wlen ? (uint32_t)src : root[src - wlen];
				root[at] = r;
				if (at < skip)
					continue;
				if (r != NOROOT)
					need[r] = 1;
				if (src < wlen + skip)
					need2[src] = 1;
			}
		}
		(void)w0;
	}
	if (gzi_sparse_finish(cp, win, wlen, skip, need, out + GZI_WSIZE, need2, entry, hdr,
			      entry_price) < 0)
		goto oom;
	ret = 0;
	goto out;
oom:
	ret = ifs_err_set(err, ENOMEM, "%s: out of memory building a sparse window", name);
out:
	free(d);
	free(out);
	free(need);
	free(need2);
	free(root);
	free(m);
	free(t.in);
	return ret;
}

/*
 * fuzz_gz.c - libFuzzer harness for the gzip engine on damaged streams: the
 * input is written to a memfd and scanned twice with ifs_gz_scan_source
 * (asking for a checkpoint every few KiB of output): by the serial scan and
 * by the chunked one, in small chunks (their size taken from the input) on
 * two threads, so that the block finder, the marker decoding and the
 * stitching see hostile data. Both must agree: both fail (with a message),
 * or both give the same bytes, totals and checkpoints. Then cursors read
 * from each checkpoint and must give the bytes the scan saw.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "inatfs/gz.h"

#define MAX_OUT (4u << 20)

struct ctx {
	uint8_t *out;
	size_t len;
	int overflow;
	ifs_gz_cplist cps;
};

static int on_data(void *p, ifs_gz_scan *s, const uint8_t *buf, size_t len, uint64_t off)
{
	struct ctx *c = p;
	if (off != c->len)
		abort();   /* bytes come in order, without gaps */
	if (c->len + len > MAX_OUT) {
		c->overflow = 1;
	} else {
		memcpy(c->out + c->len, buf, len);
	}
	c->len += len;
	/* ask for a checkpoint a little ahead, as the tar scanner does */
	ifs_gz_want(s, off + len / 2);
	return 0;
}

static int on_cp(void *p, const ifs_gz_checkpoint *cp)
{
	struct ctx *c = p;
	return ifs_gz_cplist_add(&c->cps, cp);
}

static int scan(ifs_source *src, struct ctx *c, int threads, uint32_t chunk,
		ifs_gz_scan_result *res)
{
	/* every entry there is, so that reads start at entries too */
	ifs_gz_scan_opts o = { .max_spacing = 16384, .entry_bytes_per_4kib = IFS_GZ_ENTRY_ALWAYS,
			       .on_data = on_data, .on_checkpoint = on_cp, .ctx = c,
			       .threads = threads, .chunk_size = chunk };
	ifs_err err;
	ifs_err_clear(&err);
	memset(res, 0, sizeof *res);
	int r = ifs_gz_scan_source(src, &o, res, &err);
	if (r < 0 && err.msg[0] == '\0')
		abort();
	return r;
}

static int same_cp(const ifs_gz_checkpoint *a, const ifs_gz_checkpoint *b)
{
	return a->out == b->out && a->from == b->from && a->in_bit == b->in_bit &&
	       a->entry_bit == b->entry_bit && a->hdr_bits == b->hdr_bits &&
	       a->window_len == b->window_len && a->crc == b->crc &&
	       a->member_out == b->member_out && a->members == b->members &&
	       (!a->window_len || !memcmp(a->window, b->window, a->window_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz.gz", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	ifs_source *src = NULL;
	ifs_err oerr;
	if (ifs_source_open_fd(fd, "fuzz.gz", &src, &oerr) < 0)   /* takes fd over */
		return 0;
	struct ctx c = { malloc(MAX_OUT), 0, 0, { 0 } }, p = { malloc(MAX_OUT), 0, 0, { 0 } };
	ifs_gz_scan_result res, pres;
	int r = scan(src, &c, IFS_GZ_SERIAL, 0, &res);
	uint32_t chunk = 64 + (size ? data[size / 2] : 0) * 8u;
	int pr = scan(src, &p, 2, chunk, &pres);
	if ((r == 0) != (pr == 0))
		abort();   /* the chunked scan accepts what the serial one accepts, no more */
	if (r == 0 && (res.out_size != pres.out_size || res.in_size != pres.in_size ||
		       res.members != pres.members || res.checkpoints != pres.checkpoints ||
		       res.window_bytes != pres.window_bytes || c.len != p.len ||
		       c.overflow != p.overflow || c.cps.n != p.cps.n))
		abort();
	if (r == 0 && !c.overflow && memcmp(c.out, p.out, c.len) != 0)
		abort();   /* the same bytes */
	for (size_t i = 0; r == 0 && i < c.cps.n; i++)
		if (!same_cp(&c.cps.cp[i], &p.cps.cp[i]))
			abort();   /* the same checkpoints, row for row */
	if (r == 0 && !c.overflow) {
		if (res.out_size != c.len)
			abort();
		ifs_gz_cursor *cur;
		ifs_err err;
		if (ifs_gz_cursor_new(src, &cur, &err) == 0) {
			uint8_t buf[4096];
			for (size_t i = 0; i < c.cps.n && i < 8; i++) {
				const ifs_gz_checkpoint *cp = &c.cps.cp[c.cps.n - 1 - i];
				/* a checkpoint serves from its `from` on */
				uint64_t at = cp->from + (cp->out % 7);
				if (at > c.len)
					at = cp->from;
				ifs_err_clear(&err);
				ssize_t n = ifs_gz_cursor_start(cur, cp, 0, &err);
				if (n == 0)
					n = ifs_gz_cursor_read(cur, at, buf, sizeof buf, &err);
				if (n < 0)
					abort();   /* the scan accepted this stream: reads must work */
				if ((size_t)n != (c.len - at < sizeof buf ? c.len - at : sizeof buf) ||
				    memcmp(buf, c.out + at, (size_t)n) != 0)
					abort();   /* a cursor must give what the scan saw */
			}
			ifs_gz_cursor_free(cur);
		}
	}
	ifs_gz_cplist_free(&c.cps);
	ifs_gz_cplist_free(&p.cps);
	free(c.out);
	free(p.out);
	ifs_source_close(src);
	return 0;
}

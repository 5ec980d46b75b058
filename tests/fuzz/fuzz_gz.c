/*
 * fuzz_gz.c - libFuzzer harness for the gzip engine on damaged streams: the
 * input is written to a memfd, scanned with ifs_gz_scan_file (asking for a
 * checkpoint every few KiB of output), and if the scan succeeds, cursors
 * read from each checkpoint and must give the same bytes the scan saw.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz.gz", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	struct ctx c = { malloc(MAX_OUT), 0, 0, { 0 } };
	/* every entry there is, so that reads start at entries too */
	ifs_gz_scan_opts o = { .max_spacing = 16384, .entry_bytes_per_4kib = IFS_GZ_ENTRY_ALWAYS,
			       .on_data = on_data, .on_checkpoint = on_cp, .ctx = &c };
	ifs_gz_scan_result res;
	ifs_err err;
	ifs_err_clear(&err);
	int r = ifs_gz_scan_file(fd, "fuzz.gz", &o, &res, &err);
	if (r < 0 && err.msg[0] == '\0')
		abort();
	if (r == 0 && !c.overflow) {
		if (res.out_size != c.len)
			abort();
		ifs_gz_cursor *cur;
		if (ifs_gz_cursor_new(fd, "fuzz.gz", &cur, &err) == 0) {
			uint8_t buf[4096];
			for (size_t i = 0; i < c.cps.n && i < 8; i++) {
				const ifs_gz_checkpoint *cp = &c.cps.cp[c.cps.n - 1 - i];
				/* a checkpoint serves from its `from` on */
				uint64_t at = cp->from + (cp->out % 7);
				if (at > c.len)
					at = cp->from;
				ifs_err_clear(&err);
				ssize_t n = ifs_gz_cursor_read(cur, cp, at, buf, sizeof buf, &err);
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
	free(c.out);
	close(fd);
	return 0;
}

/*
 * fuzz_tar.c - libFuzzer harness for the tar header scanner: the input is
 * fed to ifs_tar_feed in chunks whose sizes come from the input's first
 * bytes, then ifs_tar_finish. Checks the scanner's own promises: entries
 * come in increasing offset order, data lies after its header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/tar.h"

struct st { uint64_t last_hdr; int bad; };

static int on_entry(void *ctx, const ifs_tar_entry *e)
{
	struct st *s = ctx;
	if (!e->path || !e->linkname || e->data_off < e->header_off + 512 ||
	    e->header_off < s->last_hdr || (e->data_off & 511))
		abort();
	s->last_hdr = e->header_off;
	(void)strlen(e->path);
	return 0;
}

static int on_end(void *ctx, const ifs_tar_entry *e)
{
	(void)ctx;
	(void)strlen(e->path);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned chunk = (unsigned)data[0] * 7 + 1, step = data[1];
	data += 2;
	size -= 2;
	struct st s = { 0, 0 };
	ifs_tar_callbacks cb = { on_entry, on_end, &s };
	ifs_tar_scanner *t = ifs_tar_new("fuzz.tar", &cb);
	if (!t)
		return 0;
	ifs_err err;
	ifs_err_clear(&err);
	size_t off = 0;
	int r = 0;
	while (off < size && r == 0) {
		size_t n = chunk;
		if (n > size - off)
			n = size - off;
		r = ifs_tar_feed(t, data + off, n, &err);
		off += n;
		chunk = (chunk * 31 + step) % 1500 + 1;
	}
	if (r == 0)
		r = ifs_tar_finish(t, &err);
	if (r < 0 && (err.code == 0 || err.msg[0] == '\0'))
		abort();   /* every error carries a message */
	ifs_tar_free(t);
	return 0;
}

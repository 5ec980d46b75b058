/*
 * fuzz_daemonrec.c - libFuzzer harness for the records running mounts
 * publish (src/source/daemonrec.c), which `inatfs info` reads from a folder
 * others may have written to: the input is parsed as a record, and, when
 * accepted, written and listed back. Checks the parser's promises: an
 * accepted record has a pid, a source, NUL-terminated fields and counters
 * a JSON double holds exactly; written and parsed again it is the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inatfs/daemonrec.h"

static void terminated(const char *s, size_t cap)
{
	if (strnlen(s, cap) == cap)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ifs_daemonrec r, back;
	ifs_err e;
	ifs_err_clear(&e);
	if (ifs_daemonrec_parse((const char *)data, size, "fuzz", &r, &e) < 0) {
		if (!e.msg[0])
			abort();   /* a refusal says why */
		return 0;
	}
	if (r.pid < 1 || !r.source[0] || r.st.requests > (1ull << 53) ||
	    r.st.bytes_fetched > (1ull << 53))
		abort();
	terminated(r.host, sizeof r.host);
	terminated(r.boot, sizeof r.boot);
	terminated(r.source, sizeof r.source);
	terminated(r.mountpoint, sizeof r.mountpoint);
	terminated(r.index, sizeof r.index);
	terminated(r.cache, sizeof r.cache);
	/* the round trip: what the writer makes of it, the reader takes back */
	char name[NAME_MAX + 1];
	if (ifs_daemonrec_name(&r, name, sizeof name) < 0)
		abort();
	static char dir[64];
	if (!dir[0])
		snprintf(dir, sizeof dir, "/tmp/fuzz-daemonrec-%d", (int)getpid());
	if (ifs_daemonrec_write(dir, &r, &e) < 0)
		return 0;   /* a name too long for the folder: refused, not written */
	char path[PATH_MAX + NAME_MAX + 2];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	static char text[IFS_DAEMONREC_MAX + 1];
	size_t n = f ? fread(text, 1, sizeof text, f) : 0;
	if (f)
		fclose(f);
	ifs_daemonrec_remove(dir, &r);
	if (!n || ifs_daemonrec_parse(text, n, "again", &back, &e) < 0)
		abort();
	/* the writer drops what could be a credential from a URL: compared past it */
	if (back.pid != r.pid || back.start != r.start || strcmp(back.host, r.host) ||
	    strcmp(back.mountpoint, r.mountpoint) || memcmp(&back.st, &r.st, sizeof r.st) ||
	    back.cache_busy != r.cache_busy || strcmp(back.cache, r.cache))
		abort();
	return 0;
}

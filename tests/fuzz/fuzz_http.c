/*
 * fuzz_http.c - libFuzzer harness for the parsing of HTTP responses
 * (src/source/httpresp.c): the input, cut into lines, is fed as response
 * header lines; then whole as a Content-Range value and as an error body.
 * Checks the parser's promises: a range it accepts is ordered and inside
 * its total, kept values are printable and NUL-terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/source/source_int.h"

static void printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	if (n == cap)
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7f)
			abort();
}

static void check(const struct ifs_http_resp *r)
{
	if (r->has_range && (r->first > r->last || (!r->total_unknown && r->last >= r->total)))
		abort();
	if (r->status < 0 || r->status > 999)
		abort();
	printable(r->etag, sizeof r->etag);
	printable(r->last_modified, sizeof r->last_modified);
	printable(r->encoding, sizeof r->encoding);
	printable(r->region, sizeof r->region);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct ifs_http_resp r;
	ifs_http_resp_reset(&r);
	for (size_t i = 0; i < size;) {
		const char *nl = memchr(p + i, '\n', size - i);
		size_t n = nl ? (size_t)(nl - (p + i)) + 1 : size - i;
		ifs_http_resp_line(&r, p + i, n);
		check(&r);
		i += n;
	}
	ifs_http_resp_reset(&r);
	if (ifs_http_content_range(p, size, &r) == 0)
		check(&r);
	char t[300];
	ifs_http_error_text(p, size, t, sizeof t);
	printable(t, sizeof t);
	return 0;
}

/*
 * httpresp.c - reading what an HTTP server sent back: header lines (status,
 * Content-Range, Content-Length, ETag, Last-Modified, Content-Encoding,
 * x-amz-bucket-region) and the code and message of an S3-style XML error
 * body. Every byte is hostile: numbers are parsed strictly (digits only, no
 * overflow), values are cut to fixed sizes and kept printable, and a header
 * we rely on that does not parse marks the response bad instead of being
 * guessed at.
 */
#include "source_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void ifs_http_resp_reset(struct ifs_http_resp *r)
{
	memset(r, 0, sizeof *r);
}

/* Digits only, at least one, no overflow. Returns chars used or 0. */
static size_t parse_u64(const char *p, size_t len, uint64_t *out)
{
	size_t i = 0;
	uint64_t v = 0;
	while (i < len && p[i] >= '0' && p[i] <= '9') {
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
		i++;
	}
	if (i == 0 || i > 20)
		return 0;
	*out = v;
	return i;
}

int ifs_http_content_range(const char *v, size_t len, struct ifs_http_resp *r)
{
	if (len < 6 || strncasecmp(v, "bytes ", 6) != 0)
		return -1;
	size_t i = 6, n;
	while (i < len && v[i] == ' ')
		i++;
	if (i < len && v[i] == '*') {   /* bytes * /TOTAL: unsatisfiable */
		if (++i >= len || v[i++] != '/')
			return -1;
		if (!(n = parse_u64(v + i, len - i, &r->total)) || i + n != len)
			return -1;
		r->range_unsat = 1;
		return 0;
	}
	if (!(n = parse_u64(v + i, len - i, &r->first)))
		return -1;
	i += n;
	if (i >= len || v[i++] != '-')
		return -1;
	if (!(n = parse_u64(v + i, len - i, &r->last)))
		return -1;
	i += n;
	if (i >= len || v[i++] != '/')
		return -1;
	if (i + 1 == len && v[i] == '*') {
		r->total_unknown = 1;
	} else {
		if (!(n = parse_u64(v + i, len - i, &r->total)) || i + n != len)
			return -1;
		if (r->last >= r->total)
			return -1;
	}
	if (r->last < r->first)
		return -1;
	r->has_range = 1;
	return 0;
}

static void copy_val(char *dst, size_t cap, const char *v, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	for (size_t i = 0; i < len; i++)
		dst[i] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
	dst[len] = '\0';
}

void ifs_http_resp_line(struct ifs_http_resp *r, const char *line, size_t len)
{
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* a new response (after a redirect or a 100 Continue) */
		ifs_http_resp_reset(r);
		const char *sp = memchr(line, ' ', len);
		uint64_t st;
		size_t n;
		if (!sp || !(n = parse_u64(sp + 1, len - (size_t)(sp + 1 - line), &st)) || n != 3)
			r->bad_header = 1;
		else
			r->status = (long)st;
		return;
	}
	const char *colon = memchr(line, ':', len);
	if (!colon)
		return;   /* the blank line ending the headers, or junk we ignore */
	size_t nl = (size_t)(colon - line);
	const char *v = colon + 1;
	size_t vl = len - nl - 1;
	while (vl && (*v == ' ' || *v == '\t'))
		v++, vl--;
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
#define IS(name) (nl == sizeof(name) - 1 && strncasecmp(line, name, nl) == 0)
	if (IS("content-range")) {
		struct ifs_http_resp t = *r;
		t.has_range = t.range_unsat = t.total_unknown = 0;
		if (r->has_range || r->range_unsat || ifs_http_content_range(v, vl, &t))
			r->bad_header = 1;   /* two of them, or one that does not parse */
		else
			*r = t;
	} else if (IS("content-length")) {
		uint64_t n;
		if (r->has_length || parse_u64(v, vl, &n) != vl)
			r->bad_header = 1;
		else
			r->has_length = 1, r->length = n;
	} else if (IS("etag")) {
		if (r->etag[0] || vl >= sizeof r->etag)
			r->bad_header = 1;
		else
			copy_val(r->etag, sizeof r->etag, v, vl);
	} else if (IS("last-modified")) {
		copy_val(r->last_modified, sizeof r->last_modified, v, vl);
	} else if (IS("content-encoding")) {
		copy_val(r->encoding, sizeof r->encoding, v, vl);
	} else if (IS("x-amz-bucket-region")) {
		copy_val(r->region, sizeof r->region, v, vl);
	}
#undef IS
}

/* The text between <tag> and </tag>, or NULL. */
static const char *xml_field(const char *body, size_t len, const char *tag, size_t *vl)
{
	char open[32], close[32];
	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	size_t ol = strlen(open), cl = strlen(close);
	for (size_t i = 0; i + ol <= len; i++) {
		if (memcmp(body + i, open, ol))
			continue;
		size_t s = i + ol;
		for (size_t j = s; j + cl <= len; j++)
			if (memcmp(body + j, close, cl) == 0) {
				*vl = j - s;
				return body + s;
			}
		return NULL;
	}
	return NULL;
}

void ifs_http_error_text(const char *body, size_t len, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	out[0] = '\0';
	size_t cl = 0, ml = 0;
	const char *code = xml_field(body, len, "Code", &cl);
	const char *msg = xml_field(body, len, "Message", &ml);
	if (!code)
		return;
	char c[64], m[200];
	copy_val(c, sizeof c, code, cl);
	copy_val(m, sizeof m, msg ? msg : "", msg ? ml : 0);
	snprintf(out, outlen, m[0] ? "%s: %s" : "%s", c, m);
}

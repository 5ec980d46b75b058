/*
 * buf.c - a growing byte buffer for building text (see buf.h).
 */
#include "inatfs/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ifs_buf_add(ifs_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int ifs_buf_addf(ifs_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof tmp)
		return ifs_buf_add(b, tmp, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (!big)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int r = ifs_buf_add(b, big, (size_t)n);
	free(big);
	return r;
}

int ifs_buf_json_str(ifs_buf *b, const char *s)
{
	int r = ifs_buf_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; r == 0 && *p; p++) {
		switch (*p) {
		case '"': r = ifs_buf_add(b, "\\\"", 2); break;
		case '\\': r = ifs_buf_add(b, "\\\\", 2); break;
		case '\n': r = ifs_buf_add(b, "\\n", 2); break;
		case '\r': r = ifs_buf_add(b, "\\r", 2); break;
		case '\t': r = ifs_buf_add(b, "\\t", 2); break;
		default:
			if (*p < 0x20)
				r = ifs_buf_addf(b, "\\u%04x", *p);
			else
				r = ifs_buf_add(b, (const char *)p, 1);
		}
	}
	return r ? r : ifs_buf_add(b, "\"", 1);
}

int ifs_buf_adds(ifs_buf *b, const char *s)
{
	return ifs_buf_add(b, s, strlen(s));
}

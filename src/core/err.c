/*
 * err.c - the core's error type (see include/inatfs/err.h).
 */
#include "inatfs/err.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ifs_err_clear(ifs_err *e)
{
	if (!e)
		return;
	e->code = 0;
	e->msg[0] = '\0';
}

/* Length of the valid UTF-8 sequence at s (2-4 bytes), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned c = s[0], cp, min;
	size_t n;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;   /* C1 controls (U+0080-U+009F) are escaped too */
	return n;
}

void ifs_text_escape(const char *in, char *out, size_t outsz)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	while (*s) {
		size_t n = *s >= 0x20 && *s < 0x7f ? 1 : *s >= 0x80 ? utf8_seq(s) : 0;
		if (n) {
			if (o + n >= outsz)
				break;
			memcpy(out + o, s, n);
			o += n;
			s += n;
		} else {
			if (o + 4 >= outsz)
				break;
			snprintf(out + o, 5, "\\x%02x", *s);
			o += 4;
			s++;
		}
	}
	out[o] = '\0';
}

/* The message as it is kept: escaped (see err.h). */
static void clean(ifs_err *e)
{
	char raw[IFS_ERR_MSG_MAX];
	memcpy(raw, e->msg, sizeof raw);
	ifs_text_escape(raw, e->msg, sizeof e->msg);
}

static int vset(ifs_err *e, int code, int errno_value, const char *fmt, va_list ap)
{
	if (code <= 0)
		code = EIO;   /* a call that failed without saying why (errno 0) */
	if (!e || e->code)
		return -code;
	e->code = code;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	if (errno_value) {
		size_t n = strlen(e->msg);
		snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(errno_value));
	}
	clean(e);
	return -code;
}

int ifs_err_set(ifs_err *e, int code, const char *fmt, ...)
{
	assert(code > 0);   /* an error always has its errno */
	va_list ap;
	va_start(ap, fmt);
	int r = vset(e, code, 0, fmt, ap);
	va_end(ap);
	return r;
}

int ifs_err_sys(ifs_err *e, int errno_value, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vset(e, errno_value, errno_value, fmt, ap);
	va_end(ap);
	return r;
}

void ifs_err_prefix(ifs_err *e, const char *fmt, ...)
{
	if (!e || !e->code)
		return;
	char pre[IFS_ERR_MSG_MAX], old[IFS_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	/* cut the prefix so that the root cause always survives */
	size_t keep = strlen(old) + 2 < sizeof e->msg ? sizeof e->msg - strlen(old) - 3 : 0;
	pre[keep < sizeof pre ? keep : sizeof pre - 1] = '\0';
	int n = snprintf(e->msg, sizeof e->msg, "%s: ", pre);
	if (n > 0 && (size_t)n < sizeof e->msg)
		memcpy(e->msg + n, old, strlen(old) + 1 < sizeof e->msg - (size_t)n
		       ? strlen(old) + 1 : sizeof e->msg - (size_t)n);
	e->msg[sizeof e->msg - 1] = '\0';
	clean(e);
}

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
}

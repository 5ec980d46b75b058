/*
 * err.h - the one error type of the inatfs core.
 *
 * Every core function that can fail returns 0 on success or a negative errno
 * value (-EIO for corrupt data, -ENOMEM, -EINVAL for bad input, -ENOENT, ...)
 * and, when given a non-NULL `ifs_err *`, fills it with that code and a
 * human-readable message that names the file and what is wrong with it.
 * The FUSE layer turns the code into the errno it replies with; the CLI
 * prints the message.
 *
 * Messages quote names from the input (zip entries, category names, member
 * paths), and they go to a terminal or syslog: every message is kept free
 * of control characters (ifs_text_escape).
 *
 * An ifs_err is plain memory: no allocation, no cleanup, safe to copy.
 */
#ifndef INATFS_ERR_H
#define INATFS_ERR_H

#include <stddef.h>

#define IFS_ERR_MSG_MAX 512

typedef struct ifs_err {
	int code;                   /* positive errno value; 0 = no error */
	char msg[IFS_ERR_MSG_MAX];  /* "FILE: what is wrong" */
} ifs_err;

/* Clears *e (code 0, empty message). e may be NULL. */
void ifs_err_clear(ifs_err *e);

/*
 * Records an error: code is a positive errno value, msg is printf-style.
 * Returns -code so callers can write `return ifs_err_set(e, EIO, ...)`.
 * e may be NULL (the message is dropped, the code still returned).
 * If e already holds an error, the first one is kept (it is the root cause).
 */
int ifs_err_set(ifs_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Same as ifs_err_set, with ": strerror(errno_value)" appended. */
int ifs_err_sys(ifs_err *e, int errno_value, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (adds context on the way up). */
void ifs_err_prefix(ifs_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Copies in to out (outsz > 0, always NUL-terminated, cut to fit) with what
 * a terminal would act on written as text: control bytes (C0, DEL), C1
 * control characters and bytes that are not valid UTF-8 become "\xNN".
 * Printable text, UTF-8 included, is kept.
 */
void ifs_text_escape(const char *in, char *out, size_t outsz);

#endif

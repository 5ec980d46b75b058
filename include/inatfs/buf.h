/*
 * buf.h - a growing byte buffer for building text (JSON, CSV).
 * All functions return 0 or -ENOMEM; on failure the buffer keeps what it had.
 */
#ifndef INATFS_BUF_H
#define INATFS_BUF_H

#include <stddef.h>

typedef struct ifs_buf {
	char *p;          /* NUL-terminated once anything was added; owned; free(p) */
	size_t len, cap;
} ifs_buf;

int ifs_buf_add(ifs_buf *b, const char *s, size_t n);
int ifs_buf_adds(ifs_buf *b, const char *s);
int ifs_buf_addf(ifs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
int ifs_buf_json_str(ifs_buf *b, const char *s);

#endif

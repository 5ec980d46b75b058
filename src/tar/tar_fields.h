/*
 * tar_fields.h - internal to src/tar: decoding of tar header numeric fields
 * and of pax extended-header records. Not part of the core's public API.
 *
 * All functions treat their input as hostile: lengths are explicit, nothing
 * is read outside [p, p + n), and overflow is an error.
 */
#ifndef INATFS_TAR_FIELDS_H
#define INATFS_TAR_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inatfs/err.h"

/* Largest member size accepted (1 PiB): anything above is a corrupt field. */
#define IFS_TAR_MAX_SIZE ((uint64_t)1 << 50)
/* Longest pax record ("LEN key=value\n") accepted. */
#define IFS_TAR_MAX_PAX_RECORD ((size_t)1 << 20)

/*
 * Decodes a numeric header field of n bytes: octal digits (leading spaces
 * allowed, ended by space, NUL or the field's end; an empty field is 0) or
 * GNU/star base-256 (first byte 0x80 = positive, 0xff = negative).
 * Returns 0 and *out, or -1 if the field is malformed or overflows int64.
 */
int ifs_tar_parse_num(const uint8_t *p, size_t n, int64_t *out);

/* Verifies a 512-byte header's checksum (unsigned or signed sum). */
bool ifs_tar_checksum_ok(const uint8_t *hdr);

/* A pax attribute: absent, set to a value, or deleted by an empty value. */
enum ifs_pax_state { IFS_PAX_NONE = 0, IFS_PAX_SET, IFS_PAX_DELETED };

/* The pax keywords the scanner uses; others are ignored. */
typedef struct ifs_pax_attrs {
	char *path;             /* malloc'd, NUL-terminated when path_st == SET */
	char *linkpath;
	uint64_t size;
	int64_t mtime;          /* whole seconds, rounded down */
	unsigned char path_st, linkpath_st, size_st, mtime_st;
} ifs_pax_attrs;

/* Frees the strings and resets every attribute to NONE. */
void ifs_pax_clear(ifs_pax_attrs *a);

/*
 * Parses the body of a pax 'x' or 'g' header (len bytes at p) into *a,
 * overriding what *a already holds. global: an empty value unsets the
 * keyword (NONE) instead of marking it DELETED. where/off name the header
 * in messages. Returns 0, -EIO (malformed or absurd record) or -ENOMEM.
 */
int ifs_pax_parse(ifs_pax_attrs *a, const uint8_t *p, size_t len, bool global,
	const char *where, uint64_t off, ifs_err *err);

#endif

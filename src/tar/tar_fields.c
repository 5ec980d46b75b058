/*
 * tar_fields.c - decoding of tar header fields and pax records (see
 * tar_fields.h). Pure functions over bounded buffers; no stream state.
 *
 * Limits: only the pax keywords path, linkpath, size and mtime are decoded;
 * mtime's fractional part is dropped (rounded toward minus infinity).
 */
#include "tar_fields.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/*
 * Header layout (POSIX ustar; GNU and v7 differ only after byte 257):
 *
 *   off len field        off len field
 *     0 100 name         157 100 linkname
 *   100   8 mode         257   6 magic "ustar\0" (GNU: "ustar ")
 *   108   8 uid          263   2 version "00"    (GNU: " \0")
 *   116   8 gid          265  32 uname
 *   124  12 size         297  32 gname
 *   136  12 mtime        329   8 devmajor
 *   148   8 chksum       337   8 devminor
 *   156   1 typeflag     345 155 prefix (GNU: atime, ctime, sparse map...)
 */
#define CHK_OFF 148
#define CHK_LEN 8

static int parse_base256(const uint8_t *p, size_t n, int64_t *out)
{
	/* Two's complement, big-endian, in the low 6 bits of p[0] and all
	 * later bytes; bit 6 of p[0] is the sign. Negative values are decoded
	 * from their complement so the magnitude never overflows. */
	bool neg = (p[0] & 0x40) != 0;
	uint64_t mag = (uint64_t)((neg ? ~p[0] : p[0]) & 0x3f);
	for (size_t i = 1; i < n; i++) {
		if (mag > ((uint64_t)INT64_MAX >> 8))
			return -1;
		mag = (mag << 8) | (uint8_t)(neg ? ~p[i] : p[i]);
	}
	*out = neg ? -(int64_t)mag - 1 : (int64_t)mag;
	return 0;
}

int ifs_tar_parse_num(const uint8_t *p, size_t n, int64_t *out)
{
	if (n == 0)
		return -1;
	if (p[0] & 0x80)
		return parse_base256(p, n, out);
	size_t i = 0;
	while (i < n && p[i] == ' ')
		i++;
	uint64_t v = 0;
	for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
		if (v > ((uint64_t)INT64_MAX >> 3))
			return -1;
		v = (v << 3) | (uint64_t)(p[i] - '0');
	}
	/* The digits must end the field or be ended by space or NUL. */
	if (i < n && p[i] != ' ' && p[i] != '\0')
		return -1;
	*out = (int64_t)v;
	return 0;
}

bool ifs_tar_checksum_ok(const uint8_t *hdr)
{
	int64_t stored;
	if (ifs_tar_parse_num(hdr + CHK_OFF, CHK_LEN, &stored) < 0 || stored < 0)
		return false;
	/* The checksum field itself counts as eight spaces. Historic writers
	 * summed signed chars, so GNU tar accepts either sum. */
	uint32_t usum = ' ' * CHK_LEN;
	int32_t ssum = ' ' * CHK_LEN;
	for (size_t i = 0; i < 512; i++) {
		if (i == CHK_OFF) {
			i += CHK_LEN - 1;
			continue;
		}
		usum += hdr[i];
		ssum += (int8_t)hdr[i];
	}
	return (int64_t)usum == stored || (int64_t)ssum == stored;
}

void ifs_pax_clear(ifs_pax_attrs *a)
{
	free(a->path);
	free(a->linkpath);
	memset(a, 0, sizeof *a);
}

/* Sets a string attribute from a value (no NUL allowed inside). */
static int set_str(char **dst, unsigned char *st, const uint8_t *v, size_t vlen,
	bool global)
{
	free(*dst);
	*dst = NULL;
	if (vlen == 0) {
		*st = global ? IFS_PAX_NONE : IFS_PAX_DELETED;
		return 0;
	}
	char *s = malloc(vlen + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, v, vlen);
	s[vlen] = '\0';
	*dst = s;
	*st = IFS_PAX_SET;
	return 0;
}

/* Decimal digits only, at most IFS_TAR_MAX_SIZE. */
static int dec_size(const uint8_t *v, size_t n, uint64_t *out)
{
	if (n == 0 || n > 20)
		return -1;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
		if (x > IFS_TAR_MAX_SIZE)
			return -1;
	}
	*out = x;
	return 0;
}

/* "[-]digits[.digits]" -> whole seconds, rounded down. */
static int dec_time(const uint8_t *v, size_t n, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	if (i < n && v[i] == '-') {
		neg = true;
		i++;
	}
	size_t start = i;
	uint64_t x = 0;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		if (x > ((uint64_t)INT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (i == start)
		return -1;
	bool frac = false;
	if (i < n && v[i] == '.') {
		for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++)
			if (v[i] != '0')
				frac = true;
	}
	if (i != n)
		return -1;
	int64_t s = (int64_t)x;
	*out = neg ? -s - (frac ? 1 : 0) : s;
	return 0;
}

static bool key_is(const uint8_t *k, size_t klen, const char *want)
{
	size_t n = strlen(want);
	return klen == n && memcmp(k, want, n) == 0;
}

int ifs_pax_parse(ifs_pax_attrs *a, const uint8_t *p, size_t len, bool global,
	const char *where, uint64_t off, ifs_err *err)
{
	size_t pos = 0;
	while (pos < len) {
		/* Some writers pad the body with NULs: accept only NULs to the end. */
		if (p[pos] == '\0') {
			for (; pos < len; pos++)
				if (p[pos] != '\0')
					goto bad;
			break;
		}
		size_t rec = 0, i = pos;
		for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
			rec = rec * 10 + (size_t)(p[i] - '0');
			if (rec > IFS_TAR_MAX_PAX_RECORD)
				return ifs_err_set(err, EIO,
					"%s: pax record at offset %" PRIu64 " longer than 1 MiB",
					where, off + pos);
		}
		size_t digits = i - pos;
		/* Shortest record: "N k=\n". */
		if (digits == 0 || i >= len || p[i] != ' ' || rec < digits + 4 ||
		    rec > len - pos || p[pos + rec - 1] != '\n')
			goto bad;
		const uint8_t *key = p + i + 1;
		const uint8_t *end = p + pos + rec - 1;  /* the '\n' */
		const uint8_t *eq = memchr(key, '=', (size_t)(end - key));
		if (!eq || eq == key)
			goto bad;
		size_t klen = (size_t)(eq - key);
		const uint8_t *v = eq + 1;
		size_t vlen = (size_t)(end - v);
		int r = 0;
		if (key_is(key, klen, "path") || key_is(key, klen, "linkpath")) {
			bool is_path = klen == 4;
			if (memchr(v, '\0', vlen))
				return ifs_err_set(err, EIO,
					"%s: pax %s at offset %" PRIu64 " contains a NUL byte",
					where, is_path ? "path" : "linkpath", off + pos);
			r = is_path ? set_str(&a->path, &a->path_st, v, vlen, global)
			            : set_str(&a->linkpath, &a->linkpath_st, v, vlen, global);
			if (r < 0)
				return ifs_err_set(err, ENOMEM, "%s: out of memory", where);
		} else if (key_is(key, klen, "size")) {
			if (vlen == 0) {
				a->size_st = global ? IFS_PAX_NONE : IFS_PAX_DELETED;
			} else if (dec_size(v, vlen, &a->size) < 0) {
				return ifs_err_set(err, EIO,
					"%s: bad pax size at offset %" PRIu64, where, off + pos);
			} else {
				a->size_st = IFS_PAX_SET;
			}
		} else if (key_is(key, klen, "mtime")) {
			if (vlen == 0) {
				a->mtime_st = global ? IFS_PAX_NONE : IFS_PAX_DELETED;
			} else if (dec_time(v, vlen, &a->mtime) < 0) {
				return ifs_err_set(err, EIO,
					"%s: bad pax mtime at offset %" PRIu64, where, off + pos);
			} else {
				a->mtime_st = IFS_PAX_SET;
			}
		}
		pos += rec;
	}
	return 0;
bad:
	return ifs_err_set(err, EIO, "%s: malformed pax record at offset %" PRIu64,
		where, off + pos);
}

/*
 * jpack.c - compact lossless packing of JSON records by shape (see jpack.h).
 */
#include "inatfs/jpack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/strmap.h"
#include "inatfs/varint.h"

struct ifs_jpack {
	ifs_strmap *ids;      /* shape text -> id */
	char **shape;         /* shape[id - 1], NUL-terminated */
	size_t *shape_len;
	size_t n, cap;
	ifs_buf skel, vals;   /* scratch for one record */
};

ifs_jpack *ifs_jpack_new(void)
{
	ifs_jpack *p = calloc(1, sizeof *p);
	if (p && !(p->ids = ifs_strmap_new())) {
		free(p);
		p = NULL;
	}
	return p;
}

void ifs_jpack_free(ifs_jpack *p)
{
	if (!p)
		return;
	ifs_strmap_free(p->ids);
	for (size_t i = 0; i < p->n; i++)
		free(p->shape[i]);
	free(p->shape);
	free(p->shape_len);
	free(p->skel.p);
	free(p->vals.p);
	free(p);
}

size_t ifs_jpack_count(const ifs_jpack *p)
{
	return p->n;
}

const char *ifs_jpack_shape(const ifs_jpack *p, size_t id, size_t *len)
{
	if (id < 1 || id > p->n)
		return NULL;
	*len = p->shape_len[id - 1];
	return p->shape[id - 1];
}

static int put_varint(ifs_buf *b, uint64_t v)
{
	uint8_t t[IFS_VARINT_MAX];
	return ifs_buf_add(b, (const char *)t, ifs_varint_put(t, v));
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A plain decimal token as (m, d) packed into one integer; 0 if it is not one. */
static int pack_number(const char *t, size_t n, uint64_t *packed)
{
	const char *p = t, *end = t + n;
	int neg = 0;
	unsigned digits = 0, frac = 0;
	uint64_t m = 0;
	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	if (p == end || !is_digit(*p))
		return 0;
	if (*p == '0') {           /* "0" alone: "01" is not canonical */
		p++;
		digits = 1;
		if (p < end && is_digit(*p))
			return 0;
	} else {
		for (; p < end && is_digit(*p); p++, digits++) {
			if (digits == 17)
				return 0;
			m = m * 10 + (uint64_t)(*p - '0');
		}
	}
	if (p < end && *p == '.') {
		p++;
		for (; p < end && is_digit(*p); p++, frac++) {
			if (digits + frac == 17 || frac == 15)
				return 0;
			m = m * 10 + (uint64_t)(*p - '0');
		}
		if (frac == 0)
			return 0;
	}
	if (p != end || (neg && m == 0))   /* an exponent, or "-0": kept raw */
		return 0;
	uint64_t zz = neg ? 2 * m - 1 : 2 * m;   /* zigzag of -m or m */
	*packed = zz << 4 | frac;
	return 1;
}

/* Field values and radixes of a packed time "YYYY-MM-DD HH:MM:SS" (or
 * "...DDTHH..."), least significant last; the zone and the separator come
 * below them (radix TZ_RADIX). */
static const struct {
	unsigned at, radix;
} time_fields[] = {{5, 13}, {8, 32}, {11, 24}, {14, 60}, {17, 61}};
/* (zone << 1 | separator is 'T'), zone 0: none, else 1 + (quarter hours << 1
 * | negative), up to 23:45 */
#define TZ_RADIX (194 * 2)

static int two_digits(const char *t, unsigned *v)
{
	if (!is_digit(t[0]) || !is_digit(t[1]))
		return 0;
	*v = (unsigned)(t[0] - '0') * 10 + (unsigned)(t[1] - '0');
	return 1;
}

/* A string "YYYY-MM-DD HH:MM:SS" (or with a 'T' between date and time) with
 * an optional "+HH:MM"/"-HH:MM" zone (a quarter-hour multiple) as one
 * integer; 0 if it is not exactly that form with the fields in range (so
 * that unpack_time gives the same text). */
static int pack_time(const char *t, size_t n, uint64_t *packed)
{
	unsigned y = 0, v, tz = 0;
	if ((n != 19 && n != 25) || t[4] != '-' || t[7] != '-' || (t[10] != ' ' && t[10] != 'T') ||
	    t[13] != ':' || t[16] != ':')
		return 0;
	for (int i = 0; i < 4; i++) {
		if (!is_digit(t[i]))
			return 0;
		y = y * 10 + (unsigned)(t[i] - '0');
	}
	uint64_t x = y;
	for (size_t f = 0; f < sizeof time_fields / sizeof *time_fields; f++) {
		if (!two_digits(t + time_fields[f].at, &v) || v >= time_fields[f].radix)
			return 0;
		x = x * time_fields[f].radix + v;
	}
	if (n == 25) {
		unsigned hh, mm;
		if ((t[19] != '+' && t[19] != '-') || t[22] != ':' || !two_digits(t + 20, &hh) ||
		    !two_digits(t + 23, &mm) || hh > 23 || mm % 15)
			return 0;
		tz = 1 + ((hh * 4 + mm / 15) << 1 | (t[19] == '-'));
	}
	*packed = x * TZ_RADIX + (tz << 1 | (t[10] == 'T'));
	return 1;
}

static int unpack_time(uint64_t packed, ifs_buf *out)
{
	unsigned tz = (unsigned)(packed % TZ_RADIX) >> 1, v[5];
	char sep = packed & 1 ? 'T' : ' ';
	uint64_t x = packed / TZ_RADIX;
	for (size_t f = 5; f-- > 0;) {
		v[f] = (unsigned)(x % time_fields[f].radix);
		x /= time_fields[f].radix;
	}
	if (x > 9999)
		return -EIO;
	char t[32];
	int k = snprintf(t, sizeof t, "\"%04u-%02u-%02u%c%02u:%02u:%02u", (unsigned)x, v[0], v[1],
			 sep, v[2], v[3], v[4]);
	if (tz) {
		unsigned q = (tz - 1) >> 1;
		k += snprintf(t + k, sizeof t - (size_t)k, "%c%02u:%02u", (tz - 1) & 1 ? '-' : '+',
			      q / 4, q % 4 * 15);
	}
	t[k++] = '"';
	return ifs_buf_add(out, t, (size_t)k);
}

/* Splits text into p->skel and p->vals; 0 if it cannot be (use shape 0). */
static int split(ifs_jpack *p, const char *t, size_t n, int *ok)
{
	ifs_buf *s = &p->skel, *v = &p->vals;
	int r = 0;
	size_t i = 0;
	*ok = 0;
	s->len = v->len = 0;
	while (i < n && !r) {
		unsigned char c = (unsigned char)t[i];
		if (c < 0x20)
			return 0;
		if (c == '"') {
			size_t j = i + 1;
			while (j < n && t[j] != '"') {
				/* marker bytes cannot go into a shape (keys), escaped or not */
				if ((unsigned char)t[j] <= IFS_JPACK_MAX ||
				    (t[j] == '\\' && j + 1 < n && (unsigned char)t[j + 1] <= IFS_JPACK_MAX))
					return 0;
				j += t[j] == '\\' ? 2 : 1;
			}
			if (j >= n)
				return 0;
			if (j + 1 < n && t[j + 1] == ':') {         /* a key: part of the shape */
				r = ifs_buf_add(s, t + i, j + 1 - i);
			} else {
				uint64_t packed = 0;
				char m = pack_time(t + i + 1, j - i - 1, &packed) ? IFS_JPACK_TIME
										  : IFS_JPACK_STR;
				r = ifs_buf_add(s, &m, 1);
				if (!r && m == IFS_JPACK_TIME)
					r = put_varint(v, packed);
				if (!r && m == IFS_JPACK_STR)
					r = put_varint(v, j - i - 1);
				if (!r && m == IFS_JPACK_STR)
					r = ifs_buf_add(v, t + i + 1, j - i - 1);
			}
			i = j + 1;
		} else if (c == '-' || is_digit((char)c)) {
			size_t j = i;
			while (j < n && t[j] && strchr("+-.eE0123456789", t[j]))
				j++;
			uint64_t packed = 0;
			char m = pack_number(t + i, j - i, &packed) ? IFS_JPACK_NUM : IFS_JPACK_RAW;
			r = ifs_buf_add(s, &m, 1);
			if (!r && m == IFS_JPACK_NUM)
				r = put_varint(v, packed);
			if (!r && m == IFS_JPACK_RAW)
				r = put_varint(v, j - i);
			if (!r && m == IFS_JPACK_RAW)
				r = ifs_buf_add(v, t + i, j - i);
			i = j;
		} else {
			r = ifs_buf_add(s, t + i, 1);
			i++;
		}
	}
	*ok = !r && s->len > 0;
	return r;
}

static int new_shape(ifs_jpack *p, int64_t *id)
{
	if (p->n == p->cap) {
		size_t nc = p->cap ? 2 * p->cap : 16;
		char **ns = realloc(p->shape, nc * sizeof *ns);
		if (!ns)
			return -ENOMEM;
		p->shape = ns;
		size_t *nl = realloc(p->shape_len, nc * sizeof *nl);
		if (!nl)
			return -ENOMEM;
		p->shape_len = nl;
		p->cap = nc;
	}
	char *copy = malloc(p->skel.len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, p->skel.p, p->skel.len + 1);
	*id = (int64_t)p->n + 1;
	if (ifs_strmap_put(p->ids, p->skel.p, p->skel.len, *id) < 0) {
		free(copy);
		return -ENOMEM;
	}
	p->shape[p->n] = copy;
	p->shape_len[p->n] = p->skel.len;
	p->n++;
	return 0;
}

int ifs_jpack_encode(ifs_jpack *p, const char *text, size_t len, ifs_buf *out)
{
	int ok, r = split(p, text, len, &ok);
	if (r)
		return r;
	if (!ok) {
		r = put_varint(out, 0);
		if (!r)
			r = put_varint(out, len);
		return r ? r : ifs_buf_add(out, text, len);
	}
	int64_t id;
	if (!ifs_strmap_get(p->ids, p->skel.p, p->skel.len, &id) && (r = new_shape(p, &id)))
		return r;
	r = put_varint(out, (uint64_t)id);
	return r ? r : ifs_buf_add(out, p->vals.p ? p->vals.p : "", p->vals.len);
}

static int unpack_number(uint64_t packed, ifs_buf *out)
{
	size_t frac = packed & 15;
	uint64_t zz = packed >> 4;
	int neg = zz & 1;
	uint64_t m = neg ? (zz + 1) / 2 : zz / 2;
	char d[48], t[48];
	int nd = snprintf(d + 16, sizeof d - 16, "%llu", (unsigned long long)m);
	/* left-pad to frac + 1 digits: 5 with 2 after the point is "0.05" */
	char *digits = d + 16;
	size_t n = (size_t)nd;
	while (n < frac + 1) {
		*--digits = '0';
		n++;
	}
	size_t k = 0;
	if (neg)
		t[k++] = '-';
	memcpy(t + k, digits, n - frac);
	k += n - frac;
	if (frac) {
		t[k++] = '.';
		memcpy(t + k, digits + n - frac, frac);
		k += frac;
	}
	return ifs_buf_add(out, t, k);
}

int ifs_jpack_decode(const uint8_t *in, size_t len, size_t *used, ifs_jpack_lookup lookup,
		     void *ctx, ifs_buf *out)
{
	size_t pos = 0;
	uint64_t id, v;
	const char *shape = "\3";
	size_t slen = 1;
	int r = ifs_varint_get(in, len, &pos, &id);
	if (!r && id != 0)
		r = lookup(ctx, id, &shape, &slen);
	for (size_t i = 0; i < slen && !r; i++) {
		unsigned char c = (unsigned char)shape[i];
		if (c > IFS_JPACK_MAX) {
			size_t j = i;
			while (j < slen && (unsigned char)shape[j] > IFS_JPACK_MAX)
				j++;
			r = ifs_buf_add(out, shape + i, j - i);
			i = j - 1;
			continue;
		}
		if ((r = ifs_varint_get(in, len, &pos, &v)))
			break;
		if (c == IFS_JPACK_NUM) {
			r = unpack_number(v, out);
		} else if (c == IFS_JPACK_TIME) {
			r = unpack_time(v, out);
		} else if (c == 0 || v > len - pos) {
			r = -EIO;
		} else {
			if (c == IFS_JPACK_STR)
				r = ifs_buf_add(out, "\"", 1);
			if (!r)
				r = ifs_buf_add(out, (const char *)in + pos, (size_t)v);
			if (!r && c == IFS_JPACK_STR)
				r = ifs_buf_add(out, "\"", 1);
			pos += (size_t)v;
		}
	}
	if (!r)
		*used = pos;
	return r;
}

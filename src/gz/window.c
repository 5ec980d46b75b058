/*
 * window.c - the stored form of a sparse window (format in gz.h): the kept
 * bytes as runs with varint gaps. On JPEG data a window keeps a dozen bytes
 * or none, and zlib's own framing of 32 KiB of mostly zeros cost ~100 bytes
 * where this costs ~30.
 */
#include "gz_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static int get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned shift = 0; shift < 64 && *pos < len; shift += 7) {
		uint8_t b = p[(*pos)++];
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

int gzi_window_encode(const uint8_t *win, const uint8_t *keep, size_t wlen, uint8_t **out,
		      uint32_t *outlen)
{
	/* worst case: every other byte kept, a run of one each */
	uint8_t *p = malloc(8 + wlen / 2 * 8 + wlen);
	if (!p)
		return -ENOMEM;
	size_t n = put_varint(p, GZI_WSIZE - wlen), end = 0;
	for (size_t i = 0; i < wlen;) {
		if (!keep[i] || !win[i]) { /* zero bytes are free: the window is zero-filled */
			i++;
			continue;
		}
		size_t j = i;
		while (j < wlen && keep[j] && win[j])
			j++;
		n += put_varint(p + n, i - end);
		n += put_varint(p + n, j - i - 1);
		memcpy(p + n, win + i, j - i);
		n += j - i;
		end = i = j;
	}
	uint8_t *fit = realloc(p, n);
	*out = fit ? fit : p;
	*outlen = (uint32_t)n;
	return 0;
}

int ifs_gz_window_decode(const uint8_t *w, size_t len, uint8_t *dict, size_t *wlen)
{
	size_t pos = 0, end = 0;
	uint64_t v, gap, run;
	if (!w || get_varint(w, len, &pos, &v) < 0 || v >= GZI_WSIZE)
		return -EIO;
	size_t n = GZI_WSIZE - (size_t)v;
	memset(dict, 0, n);
	while (pos < len) {
		if (get_varint(w, len, &pos, &gap) < 0 || get_varint(w, len, &pos, &run) < 0 ||
		    gap > n - end || run >= n - end - gap || run >= len - pos)
			return -EIO;
		end += (size_t)gap;
		memcpy(dict + end, w + pos, (size_t)run + 1);
		pos += (size_t)run + 1;
		end += (size_t)run + 1;
	}
	*wlen = n;
	return 0;
}

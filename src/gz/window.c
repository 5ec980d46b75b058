/*
 * window.c - the stored form of a sparse window (format in gz.h): the kept
 * bytes as runs with varint gaps. On JPEG data a window keeps few bytes or
 * none, and zlib's own framing of 32 KiB of mostly zeros costs several
 * times what runs and gaps do. Runs are short (a copy reads 3 bytes or a few more,
 * and zero bytes split them), so a run's length shares its gap's varint.
 */
#include "gz_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/varint.h"

/* Writes the runs (format in gz.h) to p, or only counts their bytes (p NULL). */
static size_t runs(const uint8_t *win, const uint8_t *keep, size_t wlen, uint8_t *p)
{
	uint8_t tmp[10];
	size_t n = ifs_varint_put(p ? p : tmp, GZI_WSIZE - wlen), end = 0;
	for (size_t i = 0; i < wlen;) {
		uint64_t k8;
		if (i + 8 <= wlen && (memcpy(&k8, keep + i, 8), k8 == 0)) {
			i += 8;   /* most of the window is not kept */
			continue;
		}
		if (!keep[i] || !win[i]) { /* zero bytes are free: the window is zero-filled */
			i++;
			continue;
		}
		size_t j = i;
		while (j < wlen && keep[j] && win[j])
			j++;
		size_t len1 = j - i - 1;
		n += ifs_varint_put(p ? p + n : tmp, (uint64_t)(i - end) << 3 | (len1 < 7 ? len1 : 7));
		if (len1 >= 7)
			n += ifs_varint_put(p ? p + n : tmp, len1 - 7);
		if (p)
			memcpy(p + n, win + i, j - i);
		n += j - i;
		end = i = j;
	}
	return n;
}

int gzi_window_encode(const uint8_t *win, const uint8_t *keep, size_t wlen, uint8_t **out,
		      uint32_t *outlen)
{
	/* counted first: the worst case (every other byte kept) is 5 times the
	 * window, and a window keeps a few dozen bytes */
	size_t n = runs(win, keep, wlen, NULL);
	uint8_t *p = malloc(n);
	if (!p)
		return -ENOMEM;
	runs(win, keep, wlen, p);
	*out = p;
	*outlen = (uint32_t)n;
	return 0;
}

int ifs_gz_window_decode(const uint8_t *w, size_t len, uint8_t *dict, size_t *wlen)
{
	size_t pos = 0, end = 0;
	uint64_t v, gap, run;
	if (!w || ifs_varint_get(w, len, &pos, &v) < 0 || v >= GZI_WSIZE)
		return -EIO;
	size_t n = GZI_WSIZE - (size_t)v;
	memset(dict, 0, n);
	while (pos < len) {
		if (ifs_varint_get(w, len, &pos, &gap) < 0)
			return -EIO;
		run = gap & 7; /* length - 1, or 7: more in the next varint */
		gap >>= 3;
		if (run == 7) {
			uint64_t more;
			if (ifs_varint_get(w, len, &pos, &more) < 0 || more >= n)
				return -EIO;
			run += more;
		}
		if (gap > n - end || run >= n - end - gap || run >= len - pos)
			return -EIO;
		end += (size_t)gap;
		memcpy(dict + end, w + pos, (size_t)run + 1);
		pos += (size_t)run + 1;
		end += (size_t)run + 1;
	}
	*wlen = n;
	return 0;
}

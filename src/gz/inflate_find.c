/*
 * inflate_find.c - the decoder's block headers read where no decoding runs
 * (contract in gz_internal.h): the block finder, which looks for a dynamic
 * block header at every bit of a chunk of the file, and the probes the
 * sparse-window tracker (track.c) uses on a checkpoint's first block.
 */
#include "inflate_int.h"

int gzi_dec_header(gzi_dec *d, const uint8_t *in, size_t len, unsigned bit)
{
	d->in = in;
	d->in_len = len;
	d->in_off = 0;
	d->in_eof = 1;
	d->ip = 0;
	d->fixed_ready = 0;
	gzi_dec_start(d, bit);
	return gzi_inflate_header(d) == 0 ? 0 : -1;
}

int gzi_dec_literals(const gzi_dec *d, const uint8_t *in, size_t len, unsigned bit, size_t n,
		     uint64_t *used)
{
	uint64_t pos = bit, end = (uint64_t)len * 8;
	for (size_t k = 0; k < n; k++) {
		if (pos >= end)
			return -1;
		/* 64 bits from pos, zero past the end */
		uint64_t v = 0;
		size_t at = (size_t)(pos >> 3);
		memcpy(&v, in + at, len - at < 8 ? len - at : 8);
		v = le64toh(v) >> (pos & 7);
		uint32_t e = d->lt[v & LMASK];
		unsigned nb = 0;
		if (e & F_SUB) {
			nb = GZI_LBITS;
			e = d->lt[E_VAL(e) + ((v >> GZI_LBITS) & ((1u << E_CL(e)) - 1))];
		}
		if (!(e & F_LIT))
			return 0;
		pos += nb + E_TOTAL(e);
		if (pos > end)
			return -1;
	}
	*used = pos - bit;
	return 1;
}

/* 2^(7 - len) for two 3-bit code-length-code lengths (0: no code) */
static const uint8_t kraft2[64] = {
	0, 64, 32, 16, 8, 4, 2, 1, 64, 128, 96, 80, 72, 68, 66, 65,
	32, 96, 64, 48, 40, 36, 34, 33, 16, 80, 48, 32, 24, 20, 18, 17,
	8, 72, 40, 24, 16, 12, 10, 9, 4, 68, 36, 20, 12, 8, 6, 5,
	2, 66, 34, 18, 10, 6, 4, 3, 1, 65, 33, 17, 9, 5, 3, 2,
};

/*
 * Is there a dynamic block header at bit b of in[] (not the last block)?
 * v holds 57 bits from b on. A cheap look at the first 17 bits and the
 * code-length code's lengths first (random bits fail there but for about
 * one position in 200); then the whole header, as the decoder reads it.
 */
static int header_at(gzi_dec *d, const uint8_t *in, size_t len, uint64_t b, uint64_t v)
{
	if (((v >> 3) & 31) > 29 || ((v >> 8) & 31) > 29)
		return 0;
	unsigned ncode = (unsigned)((v >> 13) & 15) + 4;
	/* the code-length code must be complete: sum of 2^(7 - len) == 128 */
	uint64_t w = load64(in + ((b + 17) >> 3)) >> ((b + 17) & 7);
	w &= ((uint64_t)1 << (3 * ncode)) - 1;
	unsigned kraft = 0;
	for (unsigned i = 0; i < 60; i += 6)
		kraft += kraft2[(w >> i) & 63];
	if (kraft != 128)
		return 0;
	d->in = in;
	d->in_len = len;
	d->in_off = 0;
	d->in_eof = 1;
	d->ip = (size_t)(b >> 3);
	d->bitbuf = 0;
	d->bitcnt = 0;
	if (b & 7) {
		d->bitbuf = (uint64_t)(in[d->ip] >> (b & 7));
		d->bitcnt = 8 - (unsigned)(b & 7);
		d->ip++;
	}
	d->fixed_ready = 0;
	return gzi_inflate_header(d) == 0;
}

uint64_t gzi_find_block(gzi_dec *d, const uint8_t *in, size_t len, uint64_t from, uint64_t to)
{
	uint64_t end = (uint64_t)len * 8;
	if (to > end)
		to = end;
	for (uint64_t b = from; b < to; b += 48) {
		/* 48 positions at once: those whose first three bits are 0, 0, 1
		 * (BFINAL 0, BTYPE 2) */
		uint64_t v = load64(in + (b >> 3)) >> (b & 7);
		uint64_t m = ~v & ~(v >> 1) & (v >> 2) & (((uint64_t)1 << 48) - 1);
		if (to - b < 48)
			m &= ((uint64_t)1 << (to - b)) - 1;
		while (m) {
			uint64_t c = b + (uint64_t)__builtin_ctzll(m);
			m &= m - 1;
			if (header_at(d, in, len, c, load64(in + (c >> 3)) >> (c & 7)))
				return c;
		}
	}
	return UINT64_MAX;
}

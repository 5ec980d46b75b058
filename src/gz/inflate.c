/*
 * inflate.c - a raw-deflate decoder for the chunked scan (contract in
 * gz_internal.h). zlib's inflate cannot start without the window and ISA-L's
 * cannot stop at block boundaries; this one does both: it reports every
 * block end with its bit offset, and it can decode with an unknown window
 * into 16-bit elements where a copy out of that window leaves a marker (the
 * window byte's index) to be replaced once the window is known.
 *
 * Speed comes from the usual table design: a 64-bit bit buffer refilled
 * with one unaligned load, an 11-bit literal/length table (8-bit distance
 * table) whose entries give the symbol, its code length and its extra bits
 * at once, second-level tables for longer codes, and copies 8 bytes at a
 * time. Near the end of the input (only when nothing follows) every symbol
 * is decoded with checks instead.
 *
 * This file is the decoding loop. Block headers and their tables are
 * inflate_header.c's (which says what is valid: what zlib accepts), the
 * block finder inflate_find.c's.
 */
#include "inflate_int.h"

#define HDR_NEED 640   /* bytes a block header can take (IFS_GZ_HDR_BITS_MAX / 8), and some */

void gzi_dec_start(gzi_dec *d, unsigned bit)
{
	d->bitbuf = 0;
	d->bitcnt = 0;
	d->state = S_HDR;
	d->last = 0;
	d->btype = 0;
	d->stored_left = 0;
	d->why = NULL;
	if (bit & 7) {
		d->bitbuf = (uint64_t)(d->in[d->ip] >> (bit & 7));
		d->bitcnt = 8 - (bit & 7);
		d->ip++;
	}
}

/* Gives whole bytes in the bit buffer back to the input. */
static void normalize(gzi_dec *d)
{
	d->ip -= d->bitcnt >> 3;
	d->bitcnt &= 7;
	d->bitbuf &= ((uint64_t)1 << d->bitcnt) - 1;
}

void gzi_dec_align(gzi_dec *d)
{
	normalize(d);
	d->bitbuf = 0;
	d->bitcnt = 0;
}

enum { M_BYTE, M_WIDE };

/*
 * One symbol with every input check (the last bytes of the input, when
 * nothing follows): *e gets the literal/length entry, *len and *dist the
 * copy. Returns 0, GZI_D_TRUNC or GZI_D_ERR; consumes nothing unless 0.
 */
static int slow_symbol(gzi_dec *d, uint32_t *pe, size_t *plen, size_t *pdist)
{
	while (d->bitcnt <= 56 && d->ip < d->in_len) {
		d->bitbuf |= (uint64_t)d->in[d->ip++] << d->bitcnt;
		d->bitcnt += 8;
	}
	uint64_t bb = d->bitbuf;
	unsigned bc = d->bitcnt, used;
	uint32_t e = d->lt[bb & LMASK];
	if (e & F_SUB) {
		if (GZI_LBITS > bc)
			return GZI_D_TRUNC;
		bb >>= GZI_LBITS;
		bc -= GZI_LBITS;
		e = d->lt[E_VAL(e) + (bb & ((1u << E_CL(e)) - 1))];
	}
	if (E_TOTAL(e) > bc)
		return GZI_D_TRUNC;
	if (e & F_BAD)
		return fail(d, "invalid literal/length code");
	if (!(e & (F_LIT | F_EOB))) {
		used = E_TOTAL(e);
		*plen = E_VAL(e) + (size_t)((bb & (((uint64_t)1 << used) - 1)) >> E_CL(e));
		bb >>= used;
		bc -= used;
		uint32_t de = d->dt[bb & DMASK];
		if (de & F_SUB) {
			if (GZI_DBITS > bc)
				return GZI_D_TRUNC;
			bb >>= GZI_DBITS;
			bc -= GZI_DBITS;
			de = d->dt[E_VAL(de) + (bb & ((1u << E_CL(de)) - 1))];
		}
		if (E_TOTAL(de) > bc)
			return GZI_D_TRUNC;
		if (de & F_BAD)
			return fail(d, "invalid distance code");
		used = E_TOTAL(de);
		*pdist = E_VAL(de) + (size_t)((bb & (((uint64_t)1 << used) - 1)) >> E_CL(de));
	} else {
		used = E_TOTAL(e);
	}
	bb >>= used;
	bc -= used;
	d->bitbuf = bb;
	d->bitcnt = bc;
	*pe = e;
	return 0;
}

#define PUT(v)                                     \
	do {                                       \
		if (mode == M_WIDE)                \
			o16[op++] = (uint16_t)(v); \
		else                               \
			out[op++] = (uint8_t)(v);  \
	} while (0)
#define REFILL()                                  \
	do {                                      \
		bb |= load64(in + ip) << bc;      \
		ip += (63 - bc) >> 3;             \
		bc |= 56;                         \
	} while (0)
#define CONSUME(n)              \
	do {                    \
		bb >>= (n);     \
		bc -= (n);      \
	} while (0)
#define SAVE()                  \
	do {                    \
		d->ip = ip;     \
		d->bitbuf = bb; \
		d->bitcnt = bc; \
		d->op = op;     \
	} while (0)

/*
 * Decodes a Huffman block's symbols. mode is a constant in each caller, so
 * each gets its own specialised copy. The fast loop runs while the input has
 * 16 bytes to spare and the output room for four literals or three and a copy; the
 * careful step after it decodes one symbol with the exact checks.
 */
static inline __attribute__((always_inline)) int codes(gzi_dec *d, const int mode)
{
	const uint8_t *in = d->in;
	const uint32_t *lt = d->lt, *dt = d->dt;
	uint8_t *out = d->out;
	uint16_t *o16 = d->out16;
	size_t ip = d->ip, op = d->op, lm = d->lm;
	const size_t hist = d->hist;
	uint64_t bb = d->bitbuf;
	unsigned bc = d->bitcnt;
	/* a symbol starts only at op < op_end: room for the longest copy, and before stop */
	size_t op_end = d->cap >= 258 ? d->cap - 257 : 0;
	if (op_end > d->stop)
		op_end = d->stop;
	const size_t op_fast = op_end > 3 ? op_end - 3 : 0;
	const size_t in_fast = d->in_len > 16 ? d->in_len - 16 : 0;
	/* (no recording: never full) */
	const size_t m_fast = d->m ? d->m_cap : SIZE_MAX;
	int ret;
	uint32_t e;
	size_t len = 0, dist = 0;

	for (;;) {
		while (op < op_fast && ip < in_fast &&
		       (mode != M_WIDE || op - lm < GZI_WSIZE) && d->nm < m_fast) {
			REFILL();
			e = lt[bb & LMASK];
			if (e & F_LIT) {
				/* up to four literals of main-table codes (<= 11 bits each) on one refill */
				CONSUME(E_TOTAL(e));
				PUT(E_VAL(e));
				e = lt[bb & LMASK];
				if (e & F_LIT) {
					CONSUME(E_TOTAL(e));
					PUT(E_VAL(e));
					e = lt[bb & LMASK];
					if (e & F_LIT) {
						CONSUME(E_TOTAL(e));
						PUT(E_VAL(e));
						e = lt[bb & LMASK];
						if (e & F_LIT) {
							CONSUME(E_TOTAL(e));
							PUT(E_VAL(e));
							continue;
						}
					}
				}
				REFILL();   /* the next symbol may be a length and a distance */
			}
			if (e & F_SUB) {
				CONSUME(GZI_LBITS);
				e = lt[E_VAL(e) + (bb & ((1u << E_CL(e)) - 1))];
				if (e & F_LIT) {
					CONSUME(E_TOTAL(e));
					PUT(E_VAL(e));
					continue;
				}
			}
			if (e & (F_EOB | F_BAD)) {
				if (e & F_BAD) {
					SAVE();
					ret = fail(d, "invalid literal/length code");
					goto out;
				}
				CONSUME(E_TOTAL(e));
				ret = d->last ? GZI_D_END : GZI_D_BLOCK;
				d->state = d->last ? S_DONE : S_HDR;
				goto out;
			}
			unsigned used = E_TOTAL(e);
			len = E_VAL(e) + (size_t)((bb & (((uint64_t)1 << used) - 1)) >> E_CL(e));
			CONSUME(used);
			e = dt[bb & DMASK];
			if (e & F_SUB) {
				CONSUME(GZI_DBITS);
				e = dt[E_VAL(e) + (bb & ((1u << E_CL(e)) - 1))];
			}
			if (e & F_BAD) {
				SAVE();
				ret = fail(d, "invalid distance code");
				goto out;
			}
			used = E_TOTAL(e);
			dist = E_VAL(e) + (size_t)((bb & (((uint64_t)1 << used) - 1)) >> E_CL(e));
			CONSUME(used);
			goto copy;
		}
		/* the careful step: one symbol */
		if (op >= op_end) {
			ret = op >= d->stop ? GZI_D_LIMIT : GZI_D_FULL;
			goto out;
		}
		if (mode == M_WIDE && op - lm >= GZI_WSIZE) {
			ret = GZI_D_CLEAN;
			goto out;
		}
		if (d->m && d->nm == d->m_cap) {
			ret = GZI_D_FULL;
			goto out;
		}
		if (ip >= in_fast && !d->in_eof) {
			ret = GZI_D_NEED;
			goto out;
		}
		SAVE();
		ret = slow_symbol(d, &e, &len, &dist);
		ip = d->ip;
		bb = d->bitbuf;
		bc = d->bitcnt;
		if (ret)
			goto out;
		if (e & F_LIT) {
			PUT(E_VAL(e));
			continue;
		}
		if (e & F_EOB) {
			ret = d->last ? GZI_D_END : GZI_D_BLOCK;
			d->state = d->last ? S_DONE : S_HDR;
			goto out;
		}
copy:
		/* a copy of len bytes from dist back */
		if (dist > op - hist) {
			SAVE();
			ret = fail(d, "invalid distance too far back");
			goto out;
		}
		if (d->m) {
			gzi_match *mm = &d->m[d->nm++];
			mm->bit = (d->in_off + ip) * 8 - bc;
			mm->at = (uint32_t)op;
			mm->dist = (uint16_t)dist;
			mm->len = (uint16_t)len;
		}
		if (mode == M_WIDE) {
			uint16_t *dst = o16 + op;
			const uint16_t *src = dst - dist;
			if (dist >= 4) {
				uint16_t *end = dst + len;
				do {
					memcpy(dst, src, 8);
					dst += 4;
					src += 4;
				} while (dst < end);
			} else {
				for (size_t k = 0; k < len; k++)
					dst[k] = src[k];
			}
			if (op - dist < lm) {
				/* it may have copied markers: lm goes past the last one */
				for (size_t k = len; k-- > 0;)
					if (o16[op + k] >= GZI_MARK) {
						lm = op + k + 1;
						break;
					}
			}
			op += len;
		} else {
			uint8_t *dst = out + op;
			const uint8_t *src = dst - dist;
			op += len;
			if (dist >= 8) {
				uint8_t *end = out + op;
				do {
					memcpy(dst, src, 8);
					dst += 8;
					src += 8;
				} while (dst < end);
			} else if (dist == 1) {
				memset(dst, src[0], len);
			} else {
				for (size_t k = 0; k < len; k++)
					dst[k] = src[k];
			}
		}
	}
out:
	if (ret != GZI_D_ERR)
		SAVE();
	d->lm = lm;
	return ret;
}

/* Copies stored bytes (widened in marker mode). */
static int stored(gzi_dec *d, int wide)
{
	size_t n = d->stored_left, avail = d->in_len - d->ip;
	if (d->op >= d->stop)
		return GZI_D_LIMIT;
	if (n > avail)
		n = avail;
	if (n > d->cap - d->op)
		n = d->cap - d->op;
	if (n > d->stop - d->op)
		n = d->stop - d->op;
	if (wide) {
		for (size_t k = 0; k < n; k++)
			d->out16[d->op + k] = d->in[d->ip + k];
	} else {
		memcpy(d->out + d->op, d->in + d->ip, n);
	}
	d->op += n;
	d->ip += n;
	d->stored_left -= (uint32_t)n;
	if (d->stored_left == 0) {
		d->state = d->last ? S_DONE : S_HDR;
		return d->last ? GZI_D_END : GZI_D_BLOCK;
	}
	if (d->op >= d->stop)
		return GZI_D_LIMIT;
	if (d->op == d->cap)
		return GZI_D_FULL;
	return d->in_eof ? GZI_D_TRUNC : GZI_D_NEED;
}

static inline __attribute__((always_inline)) int run(gzi_dec *d, const int mode)
{
	int r;
	for (;;) {
		switch (d->state) {
		case S_HDR:
			if (d->op >= d->stop) {
				r = GZI_D_LIMIT;
				goto out;
			}
			if (gzi_dec_bit(d) >= d->stop_bit) {
				r = GZI_D_STOP;
				goto out;
			}
			if (!d->in_eof && d->in_len - d->ip < HDR_NEED) {
				r = GZI_D_NEED;
				goto out;
			}
			{
				/* a header that fails leaves the input where it began */
				size_t ip = d->ip;
				uint64_t bb = d->bitbuf;
				unsigned bc = d->bitcnt;
				r = gzi_inflate_header(d);
				if (r) {
					if (r == GZI_D_TRUNC) {
						d->ip = ip;
						d->bitbuf = bb;
						d->bitcnt = bc;
					}
					goto out;
				}
			}
			break;
		case S_STORED:
			r = stored(d, mode == M_WIDE);
			goto out;
		case S_CODES:
			r = codes(d, mode);
			goto out;
		default:
			r = GZI_D_END;
			goto out;
		}
	}
out:
	if (r == GZI_D_TRUNC && !d->why) {
		d->why = "unexpected end of file";
		d->err_bit = gzi_dec_bit(d);
	}
	normalize(d);
	return r;
}

/* On x86-64 with glibc, a second copy of the decoding loops for CPUs with
 * BMI2 (shifts by a register without cl: fewer instructions per symbol), picked
 * when the program loads. GCC only: clang 14 names the dispatcher so that
 * calls from other files do not find it. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("default", "arch=x86-64-v3")))
#else
#define CLONES
#endif

CLONES int gzi_dec_run(gzi_dec *d)
{
	return run(d, M_BYTE);
}

CLONES int gzi_dec_run16(gzi_dec *d)
{
	return run(d, M_WIDE);
}

/*
 * cached.c - a source read through the cache of fetched bytes (cache.c): a
 * pread takes the bytes the cache holds, and fetches the rest in one read of
 * the inner source, from the first byte missing to the last (exactly those:
 * blocks held in part keep what was fetched), then keeps them. A fetch that
 * would leave a gap in a block beside the run held there reaches over the
 * gap, so that the two join: a block holds one run, and a cursor that reads
 * a block's header and then its bytes from an entry further on would
 * otherwise keep only one of the two. A range the cache holds whole is read
 * straight into the caller's buffer (ifs_cache_read). It takes no hints: it
 * tells a read-ahead above it which part of a hinted range it would fetch
 * (to_fetch).
 */
#include "source_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define B IFS_CACHE_BLOCK

struct cached_source {
	ifs_source base;
	ifs_source *inner;
	ifs_cache *c;
	struct ident *id;
	int pass;   /* ifs_source_pass: keep nothing fetched */
};

static uint32_t block_len(const ifs_source *s, uint64_t b)
{
	uint64_t bo = b * B;
	return (uint32_t)(s->size - bo < B ? s->size - bo : B);
}

/* The bytes of block b that [off, off + len) covers: [*lo, *hi). */
static void want(const ifs_source *s, uint64_t off, uint64_t len, uint64_t b, uint32_t *lo,
		 uint32_t *hi)
{
	uint64_t bo = b * B, be = bo + block_len(s, b);
	*lo = (uint32_t)((off > bo ? off : bo) - bo);
	*hi = (uint32_t)((off + len < be ? off + len : be) - bo);
}

/* The fetch for blocks b0 + m0 .. b0 + m1 wanting [lo, ...) of the first and
 * [..., hi) of the last, reaching over a gap to a run held beside it:
 * [*from, *to) in the block-relative offsets of the first and last block. */
static void reach(struct cached_source *cs, uint64_t bf, uint32_t lo, uint64_t bl, uint32_t hi,
		  uint32_t *from, uint32_t *to)
{
	uint32_t s, l;
	*from = lo;
	*to = hi;
	if (ifs_cache_run(cs->c, cs->id, bf, &s, &l) && s + l < lo)
		*from = s + l;
	if (ifs_cache_run(cs->c, cs->id, bl, &s, &l) && s > hi)
		*to = s;
}

/* A pread of a range none of whose blocks holds anything: fetched straight
 * into buf (no run beside it to reach to), then kept from there. */
static ssize_t fetch_direct(struct cached_source *cs, void *buf, size_t len, uint64_t off,
			    ifs_err *err)
{
	ifs_source *s = &cs->base;
	ssize_t got = ifs_source_pread(cs->inner, buf, len, off, err);
	if (got < 0)
		return got;
	if ((size_t)got != len)
		return ifs_err_set(err, EIO, "%s: %zd bytes at %llu where %zu were expected "
				   "(did it shrink?)", s->name, got, (unsigned long long)off, len);
	uint64_t b0 = off / B, b1 = (off + len - 1) / B;
	ifs_cache_count_miss(cs->c, (unsigned)(b1 - b0 + 1));
	for (uint64_t b = b0; b <= b1 && !cs->pass; b++) {
		uint32_t lo, hi;
		want(s, off, len, b, &lo, &hi);
		ifs_cache_put(cs->c, cs->id, b, lo, (const uint8_t *)buf + (b * B + lo - off),
			      hi - lo);
	}
	return (ssize_t)len;
}

static ssize_t cs_pread(ifs_source *s, void *buf, size_t len, uint64_t off, ifs_err *err)
{
	struct cached_source *cs = (struct cached_source *)s;
	if (ifs_cache_read(cs->c, cs->id, off, len, buf))
		return (ssize_t)len;   /* all held: no buffer, no copy */
	uint64_t b0 = off / B, b1 = (off + len - 1) / B;
	size_t n = (size_t)(b1 - b0 + 1);
	if (!ifs_cache_holds_any(cs->c, cs->id, b0, n))
		return fetch_direct(cs, buf, len, off, err);
	uint8_t *span = malloc(n * B), *present = calloc(n, 1);
	uint32_t *lo = calloc(n, sizeof *lo), *hi = calloc(n, sizeof *hi);
	ssize_t r = (ssize_t)len;
	if (!span || !present || !lo || !hi) {
		r = ifs_err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		want(s, off, len, b0 + i, &lo[i], &hi[i]);
	if (ifs_cache_get(cs->c, cs->id, b0, (unsigned)n, lo, hi, span, present) < n) {
		size_t m0 = 0, m1 = n - 1;
		while (present[m0])
			m0++;
		while (present[m1])
			m1--;
		uint32_t flo, thi;
		reach(cs, b0 + m0, lo[m0], b0 + m1, hi[m1], &flo, &thi);
		lo[m0] = flo;
		hi[m1] = thi;
		uint64_t from = (b0 + m0) * B + lo[m0], to = (b0 + m1) * B + hi[m1];
		ssize_t got = ifs_source_pread(cs->inner, span + m0 * B + lo[m0],
					       (size_t)(to - from), from, err);
		if (got < 0) {
			r = got;
			goto out;
		}
		if ((uint64_t)got != to - from) {
			r = ifs_err_set(err, EIO, "%s: %zd bytes at %llu where %llu were expected "
					"(did it shrink?)", s->name, got, (unsigned long long)from,
					(unsigned long long)(to - from));
			goto out;
		}
		ifs_cache_count_miss(cs->c, (unsigned)(m1 - m0 + 1));
		for (size_t i = m0; i <= m1 && !cs->pass; i++)
			ifs_cache_put(cs->c, cs->id, b0 + i, lo[i], span + i * B + lo[i],
				      hi[i] - lo[i]);
	}
	memcpy(buf, span + (off - b0 * B), len);
out:
	free(span);
	free(present);
	free(lo);
	free(hi);
	return r;
}

/* The range a pread of [*off, *off + *len) would fetch: from the first
 * byte the cache misses to the last (reaching over a gap beside a held
 * run); none when the cache holds it all. A read-ahead above fetches only
 * that ahead, and its reader takes the rest from the cache itself. */
static void cs_to_fetch(ifs_source *s, uint64_t *off, uint64_t *len)
{
	struct cached_source *cs = (struct cached_source *)s;
	uint64_t b0 = *off / B, b1 = (*off + *len - 1) / B;
	uint32_t lo0, hi0, lo1, hi1;
	for (;; b0++) {
		if (b0 > b1) {
			*len = 0;
			return;
		}
		want(s, *off, *len, b0, &lo0, &hi0);
		if (!ifs_cache_has(cs->c, cs->id, b0, lo0, hi0))
			break;
	}
	for (;; b1--) {
		want(s, *off, *len, b1, &lo1, &hi1);
		if (b1 == b0 || !ifs_cache_has(cs->c, cs->id, b1, lo1, hi1))
			break;
	}
	reach(cs, b0, lo0, b1, hi1, &lo0, &hi1);
	*off = b0 * B + lo0;
	*len = b1 * B + hi1 - *off;
}

static void cs_close(ifs_source *s)
{
	struct cached_source *cs = (struct cached_source *)s;
	ifs_source_close(cs->inner);
	ifs_source_fini(s);
	free(cs);
}

static void cs_pass(ifs_source *s)
{
	((struct cached_source *)s)->pass = 1;
}

static const struct ifs_source_ops cs_ops = { cs_pread, NULL, cs_close, cs_pass, cs_to_fetch };

int ifs_cache_wrap(ifs_cache *c, ifs_source *inner, ifs_source **out, ifs_err *err)
{
	*out = NULL;
	struct cached_source *cs = calloc(1, sizeof *cs);
	int r = cs ? ifs_source_init(&cs->base, &cs_ops, inner->size, inner->identity,
				     inner->name, err) : ifs_err_set(err, ENOMEM, "out of memory");
	if (!r) {
		cs->base.has_mtime = inner->has_mtime;
		cs->base.mtime = inner->mtime;
	}
	if (!r && (r = ifs_cache_ident(c, inner->identity, &cs->id)) < 0) {
		ifs_source_fini(&cs->base);
		free(cs);
		if (r == -ENOMEM) {
			ifs_source_close(inner);
			return ifs_err_set(err, ENOMEM, "out of memory");
		}
		*out = inner;   /* the cache cannot keep this one: read it directly */
		return 0;
	}
	if (r) {
		free(cs);
		ifs_source_close(inner);
		return r;
	}
	cs->inner = inner;
	cs->c = c;
	*out = &cs->base;
	return 0;
}

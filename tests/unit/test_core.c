/*
 * test_core.c - the small core pieces: a file's CRC-32 assembled from reads
 * in any order (crccover), the string map (and its resistance to keys
 * crafted to collide), and the JSON record packer
 * (jpack), whose round trip must be exact for any text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "inatfs/crccover.h"
#include "inatfs/jpack.h"
#include "inatfs/strmap.h"
#include "testutil.h"

static uint32_t crc(const uint8_t *b, size_t n)
{
	return (uint32_t)crc32(0, b, (uInt)n);
}

/* What the FUSE layer does: add a read; while the table is full, fill the
 * smallest gap first (counting the bytes filled). */
static int cover_read(ifs_crc_cover *c, const uint8_t *buf, uint64_t off, uint64_t len,
		      uint64_t size, uint32_t *whole, uint64_t *filled)
{
	int r;
	while ((r = ifs_crc_cover_add(c, off, buf + off, len, size, whole)) == IFS_CRC_COVER_FULL) {
		uint64_t go, gl;
		if (!ifs_crc_cover_gap(c, &go, &gl))
			return -2;
		*filled += gl;
		if (ifs_crc_cover_add(c, go, buf + go, gl, size, whole) != 0)
			return -3;
	}
	return r;
}

static void test_cover(void)
{
	enum { N = 300000 };
	uint8_t *buf = malloc(N);
	uint64_t seed = 7;
	for (size_t i = 0; i < N; i++)
		buf[i] = (uint8_t)tu_rand(&seed);
	uint32_t want = crc(buf, N);

	for (int round = 0; round < 300; round++) {
		/* cut into chunks of random sizes (up to 200 of them: more than the
		 * table holds), each stretched to overlap its neighbours now and
		 * then, added in a random order */
		size_t maxc = round % 3 == 0 ? 200 : 31, chunk = round % 3 == 0 ? 3000 : 40000;
		size_t cuts[256], nc = 0, pos = 0;
		while (pos < N && nc < maxc) {
			size_t len = 1 + tu_rand(&seed) % chunk;
			if (len > N - pos)
				len = N - pos;
			cuts[nc++] = pos;
			pos += len;
		}
		cuts[nc] = N;   /* the last chunk runs to the end */
		size_t order[256];
		for (size_t i = 0; i < nc; i++)
			order[i] = i;
		for (size_t i = nc; i > 1; i--) {
			size_t j = tu_rand(&seed) % i, t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
		ifs_crc_cover c;
		memset(&c, 0, sizeof c);
		uint32_t whole = 0;
		uint64_t filled = 0;
		int done = 0, bad = 0;
		for (size_t k = 0; k < nc; k++) {
			size_t a = cuts[order[k]], b = cuts[order[k] + 1];
			if (round % 2) {   /* overlap the neighbours by up to 2000 bytes */
				size_t back = tu_rand(&seed) % 2000, on = tu_rand(&seed) % 2000;
				a = a > back ? a - back : 0;
				b = b + on < N ? b + on : N;
			}
			int r = cover_read(&c, buf, a, b - a, N, &whole, &filled);
			bad |= r < 0 || (r == 1 && done);
			done |= r == 1;
		}
		CHECK(done && !bad && whole == want && filled <= N,
		      "round %d: %zu chunks, crc %08x want %08x, %llu bytes filled in", round, nc,
		      whole, want, (unsigned long long)filled);
	}

	/* a read overlapping an earlier one: its new bytes count */
	ifs_crc_cover c;
	memset(&c, 0, sizeof c);
	uint32_t whole = 0;
	CHECK(ifs_crc_cover_add(&c, 0, buf, 1000, N, &whole) == 0, "first");
	CHECK(ifs_crc_cover_add(&c, 500, buf + 500, 1000, N, &whole) == 0 && c.n == 1 &&
	      c.seg[0].len == 1500, "overlap taken: %d ranges, %llu bytes", c.n,
	      (unsigned long long)c.seg[0].len);
	CHECK(ifs_crc_cover_add(&c, 1500, buf + 1500, N - 1500, N, &whole) == 1 && whole == want,
	      "completed after an overlapping read");
	CHECK(ifs_crc_cover_add(&c, 0, buf, N, N, &whole) == 0, "reported once");
	/* a read spanning covered ranges takes the gaps between them */
	memset(&c, 0, sizeof c);
	CHECK(ifs_crc_cover_add(&c, 100, buf + 100, 100, N, &whole) == 0 &&
	      ifs_crc_cover_add(&c, 300, buf + 300, 100, N, &whole) == 0 && c.n == 2, "two");
	CHECK(ifs_crc_cover_add(&c, 0, buf, N, N, &whole) == 1 && whole == want,
	      "a whole read over covered ranges");

	/* 40 scattered reads: the table is full after 32; a gap is filled in
	 * (the smallest), and the check still runs */
	memset(&c, 0, sizeof c);
	int full = 0;
	for (int i = 0; i < 40; i++) {
		int r = ifs_crc_cover_add(&c, (uint64_t)i * 7000, buf + i * 7000, 10, N, &whole);
		full += r == IFS_CRC_COVER_FULL;
	}
	uint64_t go = 0, gl = 0;
	CHECK(full == 8 && c.n == 32 && ifs_crc_cover_gap(&c, &go, &gl) && go == 10 && gl == 6990,
	      "full after 32 ranges (%d refused), gap %llu+%llu", full, (unsigned long long)go,
	      (unsigned long long)gl);
	uint64_t filled = 0;
	int r = 0;
	for (int i = 32; i < 40 && r >= 0; i++)
		r = cover_read(&c, buf, (uint64_t)i * 7000, 10, N, &whole, &filled);
	r = cover_read(&c, buf, 0, N, N, &whole, &filled);
	CHECK(r == 1 && whole == want && filled == 8 * 6990, "completed: %d, %llu filled", r,
	      (unsigned long long)filled);

	/* a damaged byte shows */
	memset(&c, 0, sizeof c);
	buf[12345] ^= 1;
	CHECK(ifs_crc_cover_add(&c, 0, buf, N, N, &whole) == 1 && whole != want,
	      "damage changes the crc");
	/* past the end, empty */
	CHECK(ifs_crc_cover_add(&c, N, buf, 1, N, &whole) == 0, "past the end");
	CHECK(!ifs_crc_cover_gap(&c, &go, &gl), "no gap once whole");
	free(buf);
}

static void test_strmap(void)
{
	ifs_strmap *m = ifs_strmap_new();
	char key[32];
	for (int i = 0; i < 50000; i++) {
		int n = snprintf(key, sizeof key, "k%d", i);
		CHECK(ifs_strmap_put(m, key, (size_t)n, i) == 0, "put");
	}
	int64_t v = -1;
	CHECK(ifs_strmap_count(m) == 50000, "count");
	CHECK(ifs_strmap_get(m, "k4242", 5, &v) == 1 && v == 4242, "get");
	CHECK(ifs_strmap_get(m, "k50000", 6, &v) == 0, "missing");
	CHECK(ifs_strmap_put(m, "k7", 2, -7) == 0 && ifs_strmap_get(m, "k7", 2, &v) && v == -7 &&
	      ifs_strmap_count(m) == 50000, "replace");
	char bin[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	CHECK(ifs_strmap_put(m, bin, 9, 99) == 0 && ifs_strmap_get(m, bin, 9, &v) && v == 99,
	      "binary keys with NUL bytes");
	ifs_strmap_free(m);
}

/* FNV-1a, the unkeyed hash strmap used once: keys crafted against it must not
 * pile up in one probe run (hash flooding). */
static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void test_strmap_flood(void)
{
	enum { N = 3000 };
	ifs_strmap *m = ifs_strmap_new();
	char key[32];
	size_t found = 0;
	/* keys whose FNV-1a hash is 0 in the low 13 bits: one slot for every
	 * table up to 8192 slots, where N keys end up */
	for (uint64_t i = 0; found < N; i++) {
		int n = snprintf(key, sizeof key, "train_val_images/%llu", (unsigned long long)i);
		if (fnv1a(key, (size_t)n) & 0x1fff)
			continue;
		CHECK(ifs_strmap_put(m, key, (size_t)n, (int64_t)i) == 0, "put");
		found++;
	}
	size_t probe = ifs_strmap_probe_max(m);
	CHECK(probe < 64, "crafted keys: longest probe run %zu (want < 64)", probe);
	ifs_strmap_free(m);
}

static int lookup(void *ctx, uint64_t id, const char **shape, size_t *len)
{
	*shape = ifs_jpack_shape(ctx, (size_t)id, len);
	return *shape ? 0 : -ENOENT;
}

/* Packs text, unpacks it, and checks the bytes; returns the packed size. */
static size_t round_trip(ifs_jpack *p, const char *text, size_t n)
{
	ifs_buf packed = { 0 }, back = { 0 };
	size_t used = 0;
	CHECK(ifs_jpack_encode(p, text, n, &packed) == 0, "encode %.60s", text);
	int r = ifs_jpack_decode((const uint8_t *)packed.p, packed.len, &used, lookup, p, &back);
	CHECK(r == 0 && used == packed.len && back.len == n && (n == 0 || !memcmp(back.p, text, n)),
	      "round trip of [%.*s] gave [%.*s] (r %d, used %zu of %zu)", (int)n, text,
	      (int)back.len, back.p ? back.p : "", r, used, packed.len);
	size_t len = packed.len;
	free(packed.p);
	free(back.p);
	return len;
}

static void test_jpack(void)
{
	ifs_jpack *p = ifs_jpack_new();
	static const char *const texts[] = {
		"{\"id\":0,\"lat\":null,\"lon\":null,\"user_id\":183549,"
		"\"date\":\"2016-11-06 08:26:42-05:00\",\"date_c\":0.847956}",
		"{\"id\":1,\"lat\":-30.628336,\"lon\":117.890308,\"user_id\":null,"
		"\"date\":\"2010-07-04 00:32:17-07:00\",\"date_c\":0.504171}",
		"{\"id\":0,\"image_id\":0,\"category_id\":847,\"bbox\":[6.97,1.5,9.01,25.96],"
		"\"area\":116.9498,\"iscrowd\":0}",
		"{\"bbox\":[0.0,-0.5,1.50,100.250,0.05,0.000,10,-12]}",
		/* kept raw: exponents, "-0", leading zeros, too many digits, a lone point */
		"[1e5,-0,-0.0,01,1.,.5,123456789012345678,0.1234567890123456,-,+1,1e+300]",
		"[12345678901234567,0.123456789012345,-99999999999999999]",
		"{\"s\":\"a\\\"b\\\\\",\"k\\\"x\":1,\"\":\"\",\"u\":\"\\u0001\"}",
		"\"just a string\"", "42", "-7.25", "null", "", "{}", "[]", "tr",
		/* not JSON at all, unterminated, control bytes, marker bytes in keys */
		"{\"a\":\"unterminated", "\"\\", "{\"a\x01\":1}", "{\"a\\\x02\":1}",
		"x\ty\n", "\x03\x02\x01", "{\"v\":\"\x01\"}", "{\"a\x04\":1}", "{\"v\":\"\x04\"}",
		/* times: packed, or kept as strings when not exactly the form */
		"[\"2016-11-06 08:26:42\",\"0000-00-00 00:00:00+00:00\",\"9999-12-31 23:59:60-23:45\"]",
		"[\"2016-13-06 08:26:42\",\"2016-11-32 08:26:42\",\"2016-11-06 24:26:42\"]",
		"[\"2016-11-06 08:60:42\",\"2016-11-06 08:26:61\",\"2016-11-06 08:26:42+05:20\"]",
		"[\"2016-11-06 08:26:42+24:00\",\"2016-11-06 08:26:42Z\",\"2016-11-06T08:26:42\"]",
		"[\"2016-11-06T08:26:42-05:00\",\"2016-11-06t08:26:42\",\"2016-11-06_08:26:42\"]",
		"[\"2016-11-06 08:26:42.5\",\"16-11-06 08:26:42\",\"2016-11-06 08:26:42 +05:00\"]",
		"[\"2016-1a-06 08:26:42\",\"2016-11-06 08:26:42+0a:00\",\"-016-11-06 08:26:42\"]",
	};
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
		round_trip(p, texts[i], strlen(texts[i]));
	size_t loc = round_trip(p, texts[0], strlen(texts[0]));
	size_t box = round_trip(p, texts[2], strlen(texts[2]));
	CHECK(loc <= 30 && box <= 30, "packed sizes: location %zu, box %zu bytes", loc, box);
	static const char iso[] = "{\"date\":\"2016-11-06T08:26:42-05:00\"}";
	size_t isol = round_trip(p, iso, strlen(iso));
	CHECK(isol <= 10, "an ISO time (T, zone) packs too: %zu bytes", isol);
	CHECK(ifs_jpack_count(p) < 30, "shapes are shared: %zu", ifs_jpack_count(p));

	/* random text from a JSON-ish alphabet, and random bytes */
	uint64_t seed = 11;
	static const char alpha[] = "{}[]:,\"\\-+.eE0123456789abnul \x01\x02\x03\x04\x7f\xc3\xa9";
	char t[200];
	for (int round = 0; round < 20000; round++) {
		size_t n = tu_rand(&seed) % sizeof t;
		for (size_t i = 0; i < n; i++)
			t[i] = round % 4 ? alpha[tu_rand(&seed) % (sizeof alpha - 1)]
					 : (char)tu_rand(&seed);
		round_trip(p, t, n);
	}
	/* time-like strings with random digits: each round trips, the valid ones
	 * packed (a 25-character time with its zone in at most 8 bytes) */
	size_t packed_times = 0;
	for (int round = 0; round < 20000; round++) {
		char d[64];
		unsigned r = (unsigned)tu_rand(&seed);
		int n = snprintf(d, sizeof d, "{\"date\":\"%04u-%02u-%02u%c%02u:%02u:%02u",
				 r % 10000, (r >> 3) % 14, (r >> 7) % 33, round % 2 ? 'T' : ' ',
				 (r >> 11) % 25, (r >> 15) % 61, (r >> 19) % 62);
		if (r & (1u << 30))
			n += snprintf(d + n, sizeof d - (size_t)n, "%c%02u:%02u", r & (1u << 29) ? '-' : '+',
				      (r >> 23) % 25, (r >> 27) % 4 * 15 + (r & (1u << 31) ? 1 : 0));
		n += snprintf(d + n, sizeof d - (size_t)n, "\"}");
		if (round_trip(p, d, (size_t)n) <= 10)
			packed_times++;
	}
	CHECK(packed_times > 4000 && packed_times < 16000, "times packed: %zu of 20000",
	      packed_times);
	/* hostile packed input: decoding fails cleanly or gives text, never reads past */
	for (int round = 0; round < 20000; round++) {
		uint8_t in[40];
		size_t n = tu_rand(&seed) % sizeof in, used;
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)(round % 2 ? tu_rand(&seed) % 8 : tu_rand(&seed));
		uint8_t *heap = malloc(n ? n : 1);   /* exact size, so ASan sees overreads */
		memcpy(heap, in, n);
		ifs_buf out = { 0 };
		int r = ifs_jpack_decode(heap, n, &used, lookup, p, &out);
		CHECK(r == 0 ? used <= n : (r == -EIO || r == -ENOENT), "hostile input: r %d", r);
		free(out.p);
		free(heap);
	}
	ifs_jpack_free(p);
}

int main(void)
{
	test_cover();
	test_strmap();
	test_strmap_flood();
	test_jpack();
	return tu_end("core");
}

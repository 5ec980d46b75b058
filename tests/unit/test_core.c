/*
 * test_core.c - the small core pieces: a file's CRC-32 assembled from reads
 * in any order (crccover), and the string map.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "inatfs/crccover.h"
#include "inatfs/strmap.h"
#include "testutil.h"

static uint32_t crc(const uint8_t *b, size_t n)
{
	return (uint32_t)crc32(0, b, (uInt)n);
}

static void test_cover(void)
{
	enum { N = 300000 };
	uint8_t *buf = malloc(N);
	uint64_t seed = 7;
	for (size_t i = 0; i < N; i++)
		buf[i] = (uint8_t)tu_rand(&seed);
	uint32_t want = crc(buf, N);

	for (int round = 0; round < 200; round++) {
		/* cut into chunks of random sizes, add them in a random order */
		size_t cuts[64], nc = 0, pos = 0;
		while (pos < N && nc < 31) {
			size_t len = 1 + tu_rand(&seed) % 40000;
			if (len > N - pos)
				len = N - pos;
			cuts[nc++] = pos;
			pos += len;
		}
		cuts[nc] = N;   /* the last chunk runs to the end */
		size_t order[64];
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
		int done = 0, early = 0;
		for (size_t k = 0; k < nc; k++) {
			size_t a = cuts[order[k]], b = cuts[order[k] + 1];
			int r = ifs_crc_cover_add(&c, a, b - a, crc(buf + a, b - a), N, &whole);
			if (r && k + 1 < nc)
				early = 1;
			done |= r;
			/* a repeated read of the same bytes changes nothing */
			CHECK(ifs_crc_cover_add(&c, a, b - a, 0xdeadbeef, N, &whole) == 0,
			      "repeat ignored");
		}
		CHECK(done && !early && whole == want, "round %d: %zu chunks, crc %08x want %08x",
		      round, nc, whole, want);
	}

	/* overlapping ranges are ignored; coverage completes with the missing piece */
	ifs_crc_cover c;
	memset(&c, 0, sizeof c);
	uint32_t whole = 0;
	CHECK(ifs_crc_cover_add(&c, 0, 1000, crc(buf, 1000), N, &whole) == 0, "first");
	CHECK(ifs_crc_cover_add(&c, 500, 1000, 0x1234, N, &whole) == 0 && c.n == 1, "overlap");
	CHECK(ifs_crc_cover_add(&c, 1000, N - 1000, crc(buf + 1000, N - 1000), N, &whole) == 1 &&
	      whole == want, "completed");
	CHECK(ifs_crc_cover_add(&c, 0, N, want, N, &whole) == 0, "reported once");
	/* a damaged byte shows */
	memset(&c, 0, sizeof c);
	buf[12345] ^= 1;
	CHECK(ifs_crc_cover_add(&c, 0, N, crc(buf, N), N, &whole) == 1 && whole != want,
	      "damage changes the crc");
	/* past the end, empty */
	CHECK(ifs_crc_cover_add(&c, N, 1, 0, N, &whole) == 0, "past the end");
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

int main(void)
{
	test_cover();
	test_strmap();
	return tu_end("core");
}

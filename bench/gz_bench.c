/*
 * gz_bench.c - measures the seekable gzip engine on a .tar.gz:
 *   (a) the scan pass, with a checkpoint wanted before every tar member's
 *       data (tar headers parsed minimally here: 512-byte headers, octal
 *       size, GNU 'L'/'K' and pax records skipped like any member);
 *   (b) a sequential inflate of the whole file through one cursor (ISA-L);
 *   (c) whole-member reads in shuffled order, each from a cold cursor, in
 *       128 KiB pieces like FUSE would ask.
 * Output: `key: value` lines. Usage: inatfs-gz-bench FILE.tar.gz [MAX_READS]
 * [SCAN_THREADS] (0: the serial scan; default: one per CPU).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inatfs/gz.h"

typedef struct member {
	uint64_t off, size;
} member;

typedef struct bench {
	uint64_t next_hdr;
	uint8_t hdr[512];
	size_t hdr_have;
	member *m;
	size_t n, cap;
	ifs_gz_cplist cps;
	int oom;
} bench;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t octal(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++)
		v = v * 8 + (uint64_t)(p[i] - '0');
	return v;
}

static void header(bench *b, ifs_gz_scan *s)
{
	uint64_t start = b->next_hdr + 512;
	int zero = 1;
	for (size_t i = 0; i < 512 && zero; i++)
		zero = b->hdr[i] == 0;
	if (zero) {
		b->next_hdr = start;
		return;
	}
	uint64_t size = octal(b->hdr + 124, 12);
	char type = (char)b->hdr[156];
	if ((type == '0' || type == '\0') && size > 0) {
		ifs_gz_want(s, start);
		if (b->n == b->cap) {
			size_t cap = b->cap ? b->cap * 2 : 1024;
			member *p = realloc(b->m, cap * sizeof *p);
			if (!p) {
				b->oom = 1;
				return;
			}
			b->m = p;
			b->cap = cap;
		}
		b->m[b->n++] = (member){start, size};
	}
	b->next_hdr = start + (size + 511) / 512 * 512;
}

static int on_data(void *ctx, ifs_gz_scan *s, const uint8_t *buf, size_t len, uint64_t off)
{
	bench *b = ctx;
	uint64_t end = off + len;
	while (b->next_hdr + b->hdr_have < end) {
		size_t i = (size_t)(b->next_hdr + b->hdr_have - off);
		size_t take = 512 - b->hdr_have;
		if (take > len - i)
			take = len - i;
		memcpy(b->hdr + b->hdr_have, buf + i, take);
		b->hdr_have += take;
		if (b->hdr_have < 512)
			break;
		b->hdr_have = 0;
		header(b, s);
	}
	return b->oom ? -ENOMEM : 0;
}

static int on_cp(void *ctx, const ifs_gz_checkpoint *cp)
{
	bench *b = ctx;
	return ifs_gz_cplist_add(&b->cps, cp);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE.tar.gz [MAX_READS]\n", argv[0]);
		return 2;
	}
	size_t max_reads = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 500;
	int threads = argc > 3 ? atoi(argv[3]) : 0;
	if (argc > 3 && threads == 0)
		threads = IFS_GZ_SERIAL;
	bench b = {0};
	ifs_err err;
	ifs_err_clear(&err);
	ifs_source *src = NULL;
	if (ifs_source_open_file(argv[1], 0, &src, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	ifs_gz_scan_opts o = {.on_data = on_data, .on_checkpoint = on_cp, .ctx = &b,
			      .threads = threads};
	ifs_gz_scan_result res;
	double t0 = now();
	int rc = ifs_gz_scan_source(src, &o, &res, &err);
	double t_scan = now() - t0;
	if (rc < 0) {
		fprintf(stderr, "scan: %s\n", err.msg);
		return 1;
	}
	/* + ~24 bytes of row (key, skip, in_bit, SQLite cell) and ~5 for an entry:
	 * see the index rows */
	size_t entries = 0;
	for (size_t i = 0; i < b.cps.n; i++)
		entries += b.cps.cp[i].entry_bit != 0;
	double per_cp = res.checkpoints ? 24.0 + ((double)res.window_bytes + 5.0 * (double)entries) /
						 (double)res.checkpoints : 0;
	printf("scan_s: %.3f\n", t_scan);
	printf("scan_chunks_used: %llu\n", (unsigned long long)res.chunks_used);
	printf("scan_chunks_own: %llu\n", (unsigned long long)res.chunks_own);
	printf("scan_mb_s: %.1f\n", (double)res.out_size / t_scan / 1e6);
	printf("in_bytes: %llu\n", (unsigned long long)res.in_size);
	printf("out_bytes: %llu\n", (unsigned long long)res.out_size);
	printf("members: %zu\n", b.n);
	printf("checkpoints: %llu\n", (unsigned long long)res.checkpoints);
	printf("entry_checkpoints: %zu\n", entries);
	printf("avg_window_bytes: %.1f\n", res.checkpoints ? (double)res.window_bytes / (double)res.checkpoints : 0);
	printf("avg_checkpoint_bytes: %.1f\n", per_cp);
	printf("index_bytes_per_gb: %.0f\n", per_cp * (double)res.checkpoints / ((double)res.in_size / 1e9));

	/* (b) sequential inflate through one cursor */
	ifs_gz_cursor *c = NULL;
	if (ifs_gz_cursor_new(src, &c, &err) < 0 ||
	    ifs_gz_cursor_start(c, ifs_gz_cplist_find(&b.cps, 0), 0, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	size_t bufsz = 1 << 20;
	uint8_t *buf = malloc(bufsz);
	if (!buf)
		return 1;
	uint64_t off = 0;
	t0 = now();
	for (;;) {
		ssize_t got = ifs_gz_cursor_read(c, off, buf, bufsz, &err);
		if (got < 0) {
			fprintf(stderr, "read: %s\n", err.msg);
			return 1;
		}
		if (got == 0)
			break;
		off += (uint64_t)got;
	}
	double t_seq = now() - t0;
	double seq_bps = (double)off / t_seq;
	ifs_gz_cursor_free(c);
	printf("seq_s: %.3f\n", t_seq);
	printf("seq_mb_s: %.1f\n", seq_bps / 1e6);
	printf("seq_ok: %d\n", off == res.out_size);

	/* (c) shuffled whole-member reads from cold cursors */
	size_t n = b.n;
	uint64_t seed = 88172645463325252ull;
	for (size_t i = n; i > 1; i--) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		size_t j = (size_t)(seed % i);
		member t = b.m[i - 1];
		b.m[i - 1] = b.m[j];
		b.m[j] = t;
	}
	if (n > max_reads)
		n = max_reads;
	double *times = malloc((n ? n : 1) * sizeof *times);
	double *ratios = malloc((n ? n : 1) * sizeof *ratios);
	double sum_extra = 0;
	for (size_t i = 0; i < n; i++) {
		member m = b.m[i];
		const ifs_gz_checkpoint *cp = ifs_gz_cplist_find(&b.cps, m.off);
		/* inflated before the member: nothing from an entry (from == m.off) */
		sum_extra += (double)(m.off - (cp->entry_bit ? cp->from : cp->out));
		t0 = now();
		if (ifs_gz_cursor_new(src, &c, &err) < 0 || ifs_gz_cursor_start(c, cp, 0, &err) < 0)
			return 1;
		for (uint64_t p = 0; p < m.size;) {
			size_t want = m.size - p < 131072 ? (size_t)(m.size - p) : 131072;
			ssize_t got = ifs_gz_cursor_read(c, m.off + p, buf, want, &err);
			if (got <= 0) {
				fprintf(stderr, "member read: %s\n", err.msg);
				return 1;
			}
			p += (uint64_t)got;
		}
		ifs_gz_cursor_free(c);
		times[i] = now() - t0;
		ratios[i] = times[i] / ((double)m.size / seq_bps);
	}
	qsort(times, n, sizeof *times, cmp_double);
	qsort(ratios, n, sizeof *ratios, cmp_double);
	printf("member_reads: %zu\n", n);
	printf("member_median_ms: %.3f\n", n ? times[n / 2] * 1e3 : 0);
	printf("member_ratio_median: %.3f\n", n ? ratios[n / 2] : 0);
	printf("member_avg_lead_bytes: %.0f\n", n ? sum_extra / (double)n : 0);
	free(times);
	free(ratios);
	free(buf);
	free(b.m);
	ifs_gz_cplist_free(&b.cps);
	ifs_source_close(src);
	return 0;
}

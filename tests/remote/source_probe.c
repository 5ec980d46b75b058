/*
 * source_probe.c - drives the source library for the remote tests: opens
 * NAME under BASE (a folder, http(s):// or s3:// prefix) with the -o
 * options given, then answers commands from stdin, one line each:
 *
 *   read OFF LEN          ok N CRC32     | error ERRNO MESSAGE
 *   save OFF LEN PATH     ok N           (the bytes written to PATH)
 *   verify PATH COUNT MAXLEN THREADS SEED
 *                         ok COUNT       | bad OFF LEN | error ERRNO MESSAGE
 *                         (COUNT random ranges read by THREADS threads at
 *                         once through the one source, each compared with
 *                         the local file PATH)
 *   hint OFF LEN          ok
 *   stats                 stats requests=N retries=N bytes=N hits=N misses=N bad=N cache_bytes=N
 *   quit
 *
 * At start it prints "open size=N identity=ID", or "error ERRNO MESSAGE"
 * and exits 2. The library's log lines go to stderr as "log: LINE".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "inatfs/source.h"

static ifs_source *src;
static ifs_origin *origin;

static void on_log(void *ctx, const char *line)
{
	fprintf(stderr, "log: %s\n", line);
	fflush(stderr);
}

struct job {
	const char *path;
	int fd;
	unsigned count, maxlen;
	uint64_t seed;
	int bad;
	uint64_t bad_off;
	size_t bad_len;
	ifs_err err;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

static void *verify_thread(void *arg)
{
	struct job *j = arg;
	uint64_t size = ifs_source_size(src);
	uint8_t *a = malloc(j->maxlen + 1), *b = malloc(j->maxlen + 1);
	if (!a || !b) {
		j->bad = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < j->count && !j->bad; i++) {
		uint64_t off = size ? rnd(&j->seed) % size : 0;
		size_t len = (size_t)(rnd(&j->seed) % j->maxlen) + 1;
		ifs_err_clear(&j->err);
		ssize_t n = ifs_source_pread(src, a, len, off, &j->err);
		if (n < 0) {
			j->bad = (int)n;
			break;
		}
		ssize_t m = pread(j->fd, b, len, (off_t)off);
		if (n != m || memcmp(a, b, (size_t)n)) {
			j->bad = 1;
			j->bad_off = off;
			j->bad_len = len;
		}
	}
out:
	free(a);
	free(b);
	return NULL;
}

static void verify(const char *path, unsigned count, unsigned maxlen, unsigned threads,
		   uint64_t seed)
{
	if (threads == 0 || threads > 256 || maxlen == 0) {
		printf("error %d bad arguments\n", EINVAL);
		return;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("error %d %s: %s\n", errno, path, strerror(errno));
		return;
	}
	struct job *jobs = calloc(threads, sizeof *jobs);
	pthread_t *th = calloc(threads, sizeof *th);
	for (unsigned t = 0; t < threads; t++) {
		jobs[t] = (struct job){ .path = path, .fd = fd, .count = count / threads +
					(t < count % threads), .maxlen = maxlen,
					.seed = seed * 7919 + t + 1 };
		if (pthread_create(&th[t], NULL, verify_thread, &jobs[t])) {
			printf("error %d pthread_create\n", EAGAIN);
			exit(1);
		}
	}
	for (unsigned t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	int done = 0;
	for (unsigned t = 0; t < threads && !done; t++) {
		if (jobs[t].bad < 0) {
			printf("error %d %s\n", -jobs[t].bad, jobs[t].err.msg);
			done = 1;
		} else if (jobs[t].bad) {
			printf("bad %" PRIu64 " %zu\n", jobs[t].bad_off, jobs[t].bad_len);
			done = 1;
		}
	}
	if (!done)
		printf("ok %u\n", count);
	free(jobs);
	free(th);
	close(fd);
}

static void do_read(uint64_t off, size_t len, const char *save)
{
	uint8_t *buf = malloc(len ? len : 1);
	ifs_err err;
	ifs_err_clear(&err);
	ssize_t n = buf ? ifs_source_pread(src, buf, len, off, &err) : -ENOMEM;
	if (n < 0) {
		printf("error %d %s\n", (int)-n, err.msg);
	} else if (save) {
		FILE *f = fopen(save, "wb");
		if (!f || fwrite(buf, 1, (size_t)n, f) != (size_t)n || fclose(f))
			printf("error %d %s: cannot write\n", EIO, save);
		else
			printf("ok %zd\n", n);
	} else {
		printf("ok %zd %08lx\n", n, crc32(0, buf, (uInt)n));
	}
	free(buf);
}

int main(int argc, char **argv)
{
	ifs_source_opts o = { .log = on_log };
	int i = 1;
	ifs_err err;
	ifs_err_clear(&err);
	for (; i + 1 < argc && strcmp(argv[i], "-o") == 0; i += 2) {
		char *kv = argv[i + 1], *eq = strchr(kv, '=');
		if (eq)
			*eq++ = '\0';
		if (ifs_source_opt(&o, kv, eq, &err)) {
			printf("error %d %s\n", err.code, err.msg);
			return 2;
		}
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: source_probe [-o KEY[=VALUE]]... BASE NAME\n");
		return 1;
	}
	if (ifs_origin_open(argv[i], &o, &origin, &err) ||
	    ifs_origin_source(origin, argv[i + 1], &src, &err)) {
		printf("error %d %s\n", err.code, err.msg);
		ifs_origin_close(origin);
		return 2;
	}
	printf("open size=%" PRIu64 " identity=%s\n", ifs_source_size(src), ifs_source_identity(src));
	fflush(stdout);
	char line[8192];
	while (fgets(line, sizeof line, stdin)) {
		char cmd[32], path[4096];
		unsigned long long a, b;
		unsigned c, d, e, seed;
		if (sscanf(line, "%31s", cmd) != 1)
			continue;
		if (strcmp(cmd, "quit") == 0)
			break;
		if (strcmp(cmd, "read") == 0 && sscanf(line, "%*s %llu %llu", &a, &b) == 2) {
			do_read(a, (size_t)b, NULL);
		} else if (strcmp(cmd, "save") == 0 &&
			   sscanf(line, "%*s %llu %llu %4095s", &a, &b, path) == 3) {
			do_read(a, (size_t)b, path);
		} else if (strcmp(cmd, "verify") == 0 &&
			   sscanf(line, "%*s %4095s %u %u %u %u", path, &c, &d, &e, &seed) == 5) {
			verify(path, c, d, e, seed);
		} else if (strcmp(cmd, "hint") == 0 && sscanf(line, "%*s %llu %llu", &a, &b) == 2) {
			ifs_source_hint(src, a, b);
			printf("ok\n");
		} else if (strcmp(cmd, "stats") == 0) {
			ifs_source_stats st;
			ifs_origin_stats(origin, &st);
			printf("stats requests=%" PRIu64 " retries=%" PRIu64 " bytes=%" PRIu64
			       " hits=%" PRIu64 " misses=%" PRIu64 " bad=%" PRIu64
			       " cache_bytes=%" PRIu64 "\n", st.requests, st.retries,
			       st.bytes_fetched, st.cache_hits, st.cache_misses, st.cache_bad,
			       st.cache_bytes);
		} else {
			printf("error %d unknown command\n", EINVAL);
		}
		fflush(stdout);
	}
	ifs_source_close(src);
	ifs_origin_close(origin);
	return 0;
}

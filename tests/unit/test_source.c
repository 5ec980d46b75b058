/*
 * test_source.c - the byte-source library without a server: local files,
 * origins and URL checks, options, Signature V4 against AWS's published
 * examples, the credentials file, response parsing, read-ahead, and the
 * cache of fetched bytes over a local file (hits, eviction at the cap,
 * reopening, a tampered block fetched again, SIGKILL while writing), and
 * the records running mounts publish (written, listed, judged, hostile ones).
 * The tests against real servers are in tests/remote.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inatfs/daemonrec.h"
#include "inatfs/source.h"
#include "../../src/source/source_int.h"
#include "testutil.h"

static char *tmp;

static char *write_random(const char *name, size_t n, uint64_t seed, uint8_t **data)
{
	char *path;
	if (asprintf(&path, "%s/%s", tmp, name) < 0)
		abort();
	uint8_t *b = malloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)tu_rand(&seed);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f))
		abort();
	if (data)
		*data = b;
	else
		free(b);
	return path;
}

/* n random ranges read through s compared with data; returns mismatches */
static int compare_ranges(ifs_source *s, const uint8_t *data, size_t size, int n, size_t maxlen,
			  uint64_t seed)
{
	uint8_t *buf = malloc(maxlen);
	int bad = 0;
	for (int i = 0; i < n; i++) {
		uint64_t off = tu_rand(&seed) % (size + 10);
		size_t len = 1 + tu_rand(&seed) % maxlen;
		ifs_err e;
		ifs_err_clear(&e);
		ssize_t r = ifs_source_pread(s, buf, len, off, &e);
		size_t want = off >= size ? 0 : (len < size - off ? len : size - off);
		if (r != (ssize_t)want || (want && memcmp(buf, data + off, want))) {
			if (bad++ < 3)
				fprintf(stderr, "range %llu+%zu: got %zd want %zu (%s)\n",
					(unsigned long long)off, len, r, want, e.msg);
		}
	}
	free(buf);
	return bad;
}

static void test_local(void)
{
	uint8_t *data;
	size_t n = 300001;
	char *path = write_random("local.bin", n, 1, &data);
	ifs_source *s;
	ifs_err e;
	ifs_err_clear(&e);
	CHECK(ifs_source_open_file(path, 1, &s, &e) == 0, "open: %s", e.msg);
	CHECK(ifs_source_size(s) == n, "size");
	CHECK(strncmp(ifs_source_identity(s), "file:300001:", 12) == 0, "identity %s",
	      ifs_source_identity(s));
	CHECK(strcmp(ifs_source_name(s), path) == 0, "name");
	CHECK(compare_ranges(s, data, n, 500, 70000, 2) == 0, "local ranges");
	ifs_source_hint(s, 0, n);   /* advice: nothing to see but no harm */
	char *id1 = strdup(ifs_source_identity(s));
	ifs_source_close(s);

	/* rewritten: another identity */
	struct timespec ts = { 0, 0 };
	nanosleep(&(struct timespec){ 0, 20000000 }, &ts);
	free(write_random("local.bin", n, 9, NULL));
	CHECK(ifs_source_open_file(path, 1, &s, &e) == 0, "reopen");
	CHECK(strcmp(id1, ifs_source_identity(s)) != 0, "identity changes with the file");
	ifs_source_close(s);
	free(id1);

	/* a symbolic link with nofollow, a folder, a FIFO (must not block) */
	char *lnk, *fifo;
	if (asprintf(&lnk, "%s/link.bin", tmp) < 0 || asprintf(&fifo, "%s/fifo", tmp) < 0)
		abort();
	CHECK(symlink(path, lnk) == 0, "symlink");
	ifs_err_clear(&e);
	CHECK(ifs_source_open_file(lnk, 1, &s, &e) == -ELOOP && strstr(e.msg, "symbolic link"),
	      "nofollow refuses a link: %s", e.msg);
	CHECK(ifs_source_open_file(lnk, 0, &s, &e) == 0, "a link followed when allowed");
	ifs_source_close(s);
	ifs_err_clear(&e);
	CHECK(ifs_source_open_file(tmp, 0, &s, &e) == -EISDIR, "a folder: %s", e.msg);
	CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
	ifs_err_clear(&e);
	CHECK(ifs_source_open_file(fifo, 0, &s, &e) == -EINVAL && strstr(e.msg, "regular"),
	      "a FIFO: %s", e.msg);
	free(lnk);
	free(fifo);
	free(path);
	free(data);
}

static void test_origins(void)
{
	ifs_origin *g;
	ifs_source *s;
	ifs_err e;
	ifs_err_clear(&e);
	CHECK(ifs_origin_open(tmp, NULL, &g, &e) == 0 && !ifs_origin_is_remote(g), "dir origin");
	CHECK(ifs_origin_source(g, "local.bin", &s, &e) == 0, "by name: %s", e.msg);
	ifs_source_close(s);
	ifs_err_clear(&e);
	CHECK(ifs_origin_source(g, "absent.bin", &s, &e) == -ENOENT && strstr(e.msg, "absent.bin"),
	      "missing: %s", e.msg);
	const char *bad[] = { "../x", "a/b", ".", "..", "" };
	for (size_t i = 0; i < 5; i++) {
		ifs_err_clear(&e);
		CHECK(ifs_origin_source(g, bad[i], &s, &e) == -EINVAL, "name '%s' refused", bad[i]);
	}
	ifs_origin_close(g);

	ifs_err_clear(&e);
	CHECK(ifs_origin_open("https://user:hunter2@example.org/x/", NULL, &g, &e) == -EINVAL &&
	      !strstr(e.msg, "hunter2"), "credentials in a URL refused, not echoed: %s", e.msg);
	const char *urls[] = { "http://h/x?y=1", "http://h/x#f", "http:///x", "https://h/a b/" };
	for (size_t i = 0; i < 4; i++) {
		ifs_err_clear(&e);
		CHECK(ifs_origin_open(urls[i], NULL, &g, &e) == -EINVAL, "%s refused", urls[i]);
	}
	ifs_err_clear(&e);
	CHECK(ifs_origin_open("s3://A_/x/", &(ifs_source_opts){ .no_sign_request = 1 }, &g, &e) ==
	      -EINVAL, "a bad bucket name: %s", e.msg);
	/* a signed s3 origin with no credentials anywhere */
	char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	setenv("HOME", tmp, 1);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_PROFILE");
	ifs_err_clear(&e);
	CHECK(ifs_origin_open("s3://bucket/x/", NULL, &g, &e) == -EACCES &&
	      strstr(e.msg, "no AWS credentials"), "no credentials: %s", e.msg);
	ifs_err_clear(&e);
	CHECK(ifs_origin_open("s3://bucket/x", &(ifs_source_opts){ .no_sign_request = 1 }, &g, &e)
	      == 0 && strcmp(ifs_origin_base(g), "s3://bucket/x/") == 0, "anonymous s3 origin");
	ifs_origin_close(g);
	if (home) {
		setenv("HOME", home, 1);
		free(home);
	}
}

static void test_opts(void)
{
	ifs_source_opts o = { 0 };
	ifs_err e;
	ifs_err_clear(&e);
	CHECK(ifs_source_opt(&o, "cache_size", "20G", &e) == 0 && o.cache_size == 20ull << 30,
	      "cache_size=20G");
	CHECK(ifs_source_opt(&o, "cache_size", "512MiB", &e) == 0 && o.cache_size == 512ull << 20,
	      "cache_size=512MiB");
	CHECK(ifs_source_opt(&o, "timeout", "5", &e) == 0 && o.timeout_ms == 5000, "timeout=5");
	CHECK(ifs_source_opt(&o, "requester_pays", NULL, &e) == 0 && o.requester_pays, "flag");
	CHECK(ifs_source_opt(&o, "cache", "/c", &e) == 0 && strcmp(o.cache_dir, "/c") == 0, "cache");
	CHECK(ifs_source_opt(&o, "nocache", NULL, &e) == 0 && !o.cache_dir, "nocache");
	const char *bad[][2] = { { "timeout", "0" }, { "timeout", "-1" }, { "cache_size", "1X" },
				 { "region", "EU WEST" }, { "endpoint", "ftp://x" },
				 { "no_sign_request", "1" }, { "cacert", "" }, { "bogus", "1" },
				 { "max_conns", "0" } };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ifs_err_clear(&e);
		CHECK(ifs_source_opt(&o, bad[i][0], bad[i][1], &e) == -EINVAL && e.msg[0],
		      "%s=%s refused", bad[i][0], bad[i][1]);
	}
}

/* AWS's examples for S3 (Signature V4, "Examples: signature calculations"):
 * secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, 2013-05-24, us-east-1. */
static void test_sigv4(void)
{
	static const char empty[] =
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	char h[65];
	ifs_sha256_hex("", 0, h);
	CHECK(strcmp(h, empty) == 0, "sha256 of nothing");
	struct ifs_sigv4_hdr get[] = { { "Host", "examplebucket.s3.amazonaws.com" },
				       { "x-amz-date", "20130524T000000Z" },
				       { "Range", "bytes=0-9" },
				       { "x-amz-content-sha256", empty } };
	struct ifs_sigv4_req q = {
		.method = "GET", .path = "/test.txt", .headers = get, .nheaders = 4,
		.payload_hash = empty, .amz_date = "20130524T000000Z", .region = "us-east-1",
		.service = "s3", .key_id = "AKIAIOSFODNN7EXAMPLE",
		.secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	};
	char out[1024];
	CHECK(ifs_sigv4_authorization(&q, out, sizeof out) == 0, "sign GET object");
	CHECK(strcmp(out, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		     "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
		     "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	      == 0, "GET object: %s", out);
	/* the query sorted and encoded here: given in the wrong order */
	struct ifs_sigv4_hdr list[] = { { "host", " examplebucket.s3.amazonaws.com " },
					{ "x-amz-content-sha256", empty },
					{ "x-amz-date", "20130524T000000Z" } };
	q.path = "/";
	q.query = "prefix=J&max-keys=2";
	q.headers = list;
	q.nheaders = 3;
	CHECK(ifs_sigv4_authorization(&q, out, sizeof out) == 0 &&
	      strstr(out, "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
	      "list objects, query sorted: %s", out);
	q.query = "lifecycle";
	CHECK(ifs_sigv4_authorization(&q, out, sizeof out) == 0 &&
	      strstr(out, "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
	      "a key without a value: %s", out);
	q.secret = "wrong";
	CHECK(ifs_sigv4_authorization(&q, out, sizeof out) == 0 && !strstr(out, "fea454ca"),
	      "another secret, another signature");
	CHECK(ifs_sigv4_authorization(&q, out, 20) == -ENOSPC, "a short buffer");
	ifs_buf b = { 0 };
	CHECK(ifs_uri_encode(&b, "a b/c~d%é", strlen("a b/c~d%é"), 1) == 0 &&
	      strcmp(b.p, "a%20b/c~d%25%C3%A9") == 0, "uri encode");
	free(b.p);
}

static void test_creds(void)
{
	const char *text = "# comment\n[default]\naws_access_key_id = AKDEFAULT\n"
			   "aws_secret_access_key=SECRETDEFAULT\n\n[ other ]\n"
			   "; another\naws_access_key_id=AKOTHER\r\naws_secret_access_key = S2 \n"
			   "aws_session_token = TOK\n[broken]\naws_access_key_id=X\n";
	struct ifs_aws_creds c;
	ifs_err e;
	ifs_err_clear(&e);
	CHECK(ifs_aws_creds_parse(text, strlen(text), "f", "default", &c, &e) == 1 &&
	      strcmp(c.key_id, "AKDEFAULT") == 0 && strcmp(c.secret, "SECRETDEFAULT") == 0 &&
	      !c.token, "default profile");
	ifs_aws_creds_free(&c);
	CHECK(ifs_aws_creds_parse(text, strlen(text), "f", "other", &c, &e) == 1 &&
	      strcmp(c.key_id, "AKOTHER") == 0 && strcmp(c.secret, "S2") == 0 && c.token &&
	      strcmp(c.token, "TOK") == 0, "other profile, CRLF and spaces trimmed");
	ifs_aws_creds_free(&c);
	CHECK(ifs_aws_creds_parse(text, strlen(text), "f", "absent", &c, &e) == 0, "no profile");
	ifs_err_clear(&e);
	CHECK(ifs_aws_creds_parse(text, strlen(text), "f", "broken", &c, &e) == -EINVAL &&
	      !strstr(e.msg, "X\n") && strstr(e.msg, "broken"), "incomplete: %s", e.msg);
	const char *junk = "[default]\naws_secret_access_key SECRETVALUE\n";
	ifs_err_clear(&e);
	CHECK(ifs_aws_creds_parse(junk, strlen(junk), "f", "default", &c, &e) == -EINVAL &&
	      !strstr(e.msg, "SECRETVALUE") && strstr(e.msg, "f:2"), "bad line: %s", e.msg);

	/* the environment first, then the file of AWS_SHARED_CREDENTIALS_FILE */
	char *path;
	if (asprintf(&path, "%s/credentials", tmp) < 0)
		abort();
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_PROFILE", "other", 1);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	CHECK(ifs_aws_creds_load(&c, &e) == 1 && strcmp(c.key_id, "AKOTHER") == 0, "from the file");
	ifs_aws_creds_free(&c);
	setenv("AWS_PROFILE", "nope", 1);
	ifs_err_clear(&e);
	CHECK(ifs_aws_creds_load(&c, &e) == -ENOENT && strstr(e.msg, "nope"), "AWS_PROFILE "
	      "missing: %s", e.msg);
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SENV", 1);
	CHECK(ifs_aws_creds_load(&c, &e) == 1 && strcmp(c.key_id, "AKENV") == 0, "env first");
	ifs_aws_creds_free(&c);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	ifs_err_clear(&e);
	CHECK(ifs_aws_creds_load(&c, &e) == -EINVAL, "half the env: %s", e.msg);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	free(path);
}

static void resp_lines(struct ifs_http_resp *r, const char *const *lines)
{
	ifs_http_resp_reset(r);
	for (; *lines; lines++)
		ifs_http_resp_line(r, *lines, strlen(*lines));
}

static void test_resp(void)
{
	struct ifs_http_resp r;
	const char *ok[] = { "HTTP/1.1 301 Moved\r\n", "Location: x\r\n", "HTTP/2 206\r\n",
			     "content-range: bytes 10-19/100\r\n", "Content-Length: 10\r\n",
			     "ETag: \"abc\"\r\n", "Last-Modified: Sun, 06 Dec 2026 10:00:00 GMT\r\n",
			     "\r\n", NULL };
	resp_lines(&r, ok);
	CHECK(r.status == 206 && r.has_range && r.first == 10 && r.last == 19 && r.total == 100 &&
	      r.has_length && r.length == 10 && strcmp(r.etag, "\"abc\"") == 0 && !r.bad_header &&
	      strstr(r.last_modified, "2026"), "a 206 after a redirect");
	const char *bad[][3] = {
		{ "HTTP/1.1 206\r\n", "Content-Range: bytes 19-10/100", NULL },
		{ "HTTP/1.1 206\r\n", "Content-Range: bytes 0-100/100", NULL },
		{ "HTTP/1.1 206\r\n", "Content-Range: bytes -1-5/100", NULL },
		{ "HTTP/1.1 206\r\n", "Content-Range: bytes 0-5/100x", NULL },
		{ "HTTP/1.1 206\r\n", "Content-Range: bytes 0-99999999999999999999999/1", NULL },
		{ "HTTP/1.1 206\r\n", "Content-Length: 12a", NULL },
		{ "HTTP/1.1 206\r\n", "Content-Length: 18446744073709551616", NULL },
		{ "HTTP/1.1 2x6\r\n", NULL, NULL },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		resp_lines(&r, bad[i]);
		CHECK(r.bad_header, "bad header %zu marks the response bad", i);
	}
	const char *two[] = { "HTTP/1.1 206", "Content-Range: bytes 0-1/5",
			      "Content-Range: bytes 0-1/5", NULL };
	resp_lines(&r, two);
	CHECK(r.bad_header, "two Content-Ranges");
	const char *unsat[] = { "HTTP/1.1 416", "Content-Range: bytes */0", NULL };
	resp_lines(&r, unsat);
	CHECK(r.range_unsat && r.total == 0 && !r.bad_header, "416 bytes */0");
	const char *unknown[] = { "HTTP/1.1 206", "Content-Range: bytes 5-9/*", NULL };
	resp_lines(&r, unknown);
	CHECK(r.has_range && r.total_unknown && !r.bad_header, "total unknown");

	char t[300];
	const char *xml = "<?xml?><Error><Code>SignatureDoesNotMatch</Code><Message>The request "
			  "signature we calculated does not match</Message><StringToSign>AWS4"
			  "</StringToSign></Error>";
	ifs_http_error_text(xml, strlen(xml), t, sizeof t);
	CHECK(strcmp(t, "SignatureDoesNotMatch: The request signature we calculated does not "
		     "match") == 0, "error text: %s", t);
	ifs_http_error_text("<html>404</html>", 16, t, sizeof t);
	CHECK(t[0] == '\0', "no code, no text");
	const char *ctl = "<Code>A\x01\n</Code>";
	ifs_http_error_text(ctl, strlen(ctl), t, sizeof t);
	CHECK(strcmp(t, "A??") == 0, "control bytes made printable: %s", t);
}

/* A source that counts the preads reaching it and their bytes (for
 * read-ahead and the cache). */
struct counting {
	ifs_source base;
	ifs_source *inner;
	int preads;
	uint64_t bytes;
};

static ssize_t cnt_pread(ifs_source *s, void *buf, size_t len, uint64_t off, ifs_err *err)
{
	struct counting *c = (struct counting *)s;
	__atomic_add_fetch(&c->preads, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&c->bytes, len, __ATOMIC_SEQ_CST);
	return ifs_source_pread(c->inner, buf, len, off, err);
}

static void cnt_close(ifs_source *s)
{
	struct counting *c = (struct counting *)s;
	ifs_source_close(c->inner);
	ifs_source_fini(s);
	free(c);
}

static const struct ifs_source_ops cnt_ops = { cnt_pread, NULL, cnt_close, NULL, NULL };

static struct counting *counting(const char *path)
{
	struct counting *c = calloc(1, sizeof *c);
	ifs_err e;
	ifs_err_clear(&e);
	if (ifs_source_open_file(path, 0, &c->inner, &e) ||
	    ifs_source_init(&c->base, &cnt_ops, c->inner->size, c->inner->identity,
			    c->inner->name, &e))
		abort();
	return c;
}

static void test_readahead(void)
{
	uint8_t *data;
	size_t n = 20u << 20;
	char *path = write_random("ra.bin", n, 3, &data);
	struct counting *c = counting(path);
	ifs_source *ra;
	ifs_err e;
	ifs_err_clear(&e);
	CHECK(ifs_readahead_wrap(&c->base, &ra, &e) == 0, "wrap");
	uint8_t *buf = malloc(1 << 20);
	int bad = 0;
	for (size_t off = 0; off < n; off += 1 << 20) {
		if (off % (16u << 20) == 0)
			ifs_source_hint(ra, off, 16u << 20);
		ssize_t r = ifs_source_pread(ra, buf, 1 << 20, off, &e);
		bad += r != 1 << 20 || memcmp(buf, data + off, 1 << 20);
	}
	CHECK(bad == 0, "sequential reads through read-ahead are right (%d bad)", bad);
	/* 20 reads of 1 MiB became 3 segments of at most 8 MiB */
	CHECK(c->preads == 3, "read-ahead fetched in segments: %d preads", c->preads);
	CHECK(compare_ranges(ra, data, n, 200, 3 << 20, 4) == 0, "random reads after");
	ifs_source_hint(ra, 5 << 20, 40 << 20);   /* closed with segments in flight */
	ifs_source_close(ra);
	free(buf);
	free(data);
	free(path);
}

static uint64_t cache_bytes(ifs_cache *c, ifs_source_stats *st)
{
	memset(st, 0, sizeof *st);
	ifs_cache_stats(c, st);
	return st->cache_bytes;
}

static ifs_source *cached(ifs_cache *c, const char *path, struct counting **cnt)
{
	struct counting *k = counting(path);
	ifs_source *s;
	ifs_err e;
	ifs_err_clear(&e);
	if (ifs_cache_wrap(c, &k->base, &s, &e))
		abort();
	if (cnt)
		*cnt = k;
	return s;
}

static void test_cache(void)
{
	uint8_t *data;
	size_t n = 24u << 20;   /* six chunks */
	char *path = write_random("cached.bin", n, 5, &data), *dir;
	if (asprintf(&dir, "%s/cache", tmp) < 0)
		abort();
	ifs_cache *c, *c2;
	ifs_err e;
	ifs_err_clear(&e);
	CHECK(ifs_cache_open(dir, 1 << 20, &c, &e) == -EINVAL, "a cap below two chunks");
	uint64_t cap = 3 * (4096 + (uint64_t)IFS_CACHE_BLOCK * IFS_CACHE_CHUNK_BLOCKS);
	ifs_err_clear(&e);
	CHECK(ifs_cache_open(dir, cap, &c, &e) == 0, "open: %s", e.msg);
	ifs_err_clear(&e);
	CHECK(ifs_cache_open(dir, cap, &c2, &e) == -EBUSY, "one user at a time: %s", e.msg);

	struct counting *k;
	ifs_source *s = cached(c, path, &k);
	ifs_source_stats st;
	uint8_t *buf = malloc(1 << 20);
	/* a range: blocks fetched in one read, then served from disk */
	ssize_t r = ifs_source_pread(s, buf, 100000, 50000, &e);
	CHECK(r == 100000 && memcmp(buf, data + 50000, 100000) == 0, "first read");
	CHECK(k->preads == 1, "one inner read for a cold range");
	cache_bytes(c, &st);
	CHECK(st.cache_misses == 4 && st.cache_hits == 0, "blocks 1-4 fetched (%llu)",
	      (unsigned long long)st.cache_misses);
	r = ifs_source_pread(s, buf, 100000, 50000, &e);
	CHECK(r == 100000 && memcmp(buf, data + 50000, 100000) == 0 && k->preads == 1,
	      "the same range again from the cache");
	cache_bytes(c, &st);
	CHECK(st.cache_hits == 4, "4 hits (%llu)", (unsigned long long)st.cache_hits);
	/* partly cached: only the missing blocks are fetched, in one read */
	r = ifs_source_pread(s, buf, 200000, 100000, &e);
	CHECK(r == 200000 && memcmp(buf, data + 100000, 200000) == 0 && k->preads == 2,
	      "a range overlapping cached blocks");
	CHECK(compare_ranges(s, data, n, 300, 400000, 6) == 0, "random ranges through the cache");
	/* the whole file through a cap of three chunks */
	int bad = 0;
	for (size_t off = 0; off < n; off += 1 << 20)
		bad += ifs_source_pread(s, buf, 1 << 20, off, &e) != 1 << 20 ||
		       memcmp(buf, data + off, 1 << 20);
	CHECK(bad == 0, "whole file right");
	CHECK(cache_bytes(c, &st) <= cap, "under the cap after eviction: %llu > %llu",
	      (unsigned long long)st.cache_bytes, (unsigned long long)cap);
	CHECK(st.cache_bytes > cap / 2, "still holds something: %llu",
	      (unsigned long long)st.cache_bytes);
	glob_t g;
	char pat[4200];
	snprintf(pat, sizeof pat, "%s/*/0*", dir);
	CHECK(glob(pat, 0, NULL, &g) == 0 && g.gl_pathc == 3, "three chunk files on disk (%zu)",
	      g.gl_pathc);
	globfree(&g);
	ifs_source_close(s);
	ifs_cache_close(c);

	/* reopened: the last chunk read is still there */
	ifs_err_clear(&e);
	CHECK(ifs_cache_open(dir, cap, &c, &e) == 0, "reopen: %s", e.msg);
	CHECK(cache_bytes(c, &st) > cap / 2, "size known after reopening");
	s = cached(c, path, &k);
	r = ifs_source_pread(s, buf, 1 << 20, n - (1 << 20), &e);
	CHECK(r == 1 << 20 && memcmp(buf, data + n - (1 << 20), 1 << 20) == 0 && k->preads == 0,
	      "served from disk after reopening (%d preads)", k->preads);

	/* a block changed on disk: fetched again, right bytes served */
	snprintf(pat, sizeof pat, "%s/*/%016llx", dir,
		 (unsigned long long)((n - 1) / IFS_CACHE_BLOCK / IFS_CACHE_CHUNK_BLOCKS));
	CHECK(glob(pat, 0, NULL, &g) == 0 && g.gl_pathc == 1, "the last chunk's file");
	int fd = open(g.gl_pathv[0], O_RDWR);
	off_t at = 4096 + (off_t)(((n - 1) / IFS_CACHE_BLOCK) % IFS_CACHE_CHUNK_BLOCKS) *
		   IFS_CACHE_BLOCK + 77;
	uint8_t x;
	CHECK(pread(fd, &x, 1, at) == 1, "read a cached byte");
	x ^= 0xff;
	CHECK(pwrite(fd, &x, 1, at) == 1, "tamper with it");
	close(fd);
	globfree(&g);
	r = ifs_source_pread(s, buf, 1000, n - 1000, &e);
	cache_bytes(c, &st);
	CHECK(r == 1000 && memcmp(buf, data + n - 1000, 1000) == 0 && k->preads == 1 &&
	      st.cache_bad == 1, "a tampered block is fetched again (bad %llu, preads %d)",
	      (unsigned long long)st.cache_bad, k->preads);
	r = ifs_source_pread(s, buf, 1000, n - 1000, &e);
	CHECK(r == 1000 && memcmp(buf, data + n - 1000, 1000) == 0 && k->preads == 1,
	      "and kept again");
	ifs_source_close(s);

	/* another file (identity) in the same cache is kept apart */
	uint8_t *other;
	char *opath = write_random("other.bin", 300000, 8, &other);
	s = cached(c, opath, NULL);
	CHECK(compare_ranges(s, other, 300000, 50, 100000, 9) == 0, "a second identity");
	ifs_source_close(s);

	/* a source read through once (a scan) is served from the cache, and
	 * keeps nothing new in it */
	uint64_t before = cache_bytes(c, &st);
	s = cached(c, path, &k);
	ifs_source_pass(s);
	int pbad = 0;
	for (size_t off = 0; off < n; off += 1 << 20)
		pbad += ifs_source_pread(s, buf, 1 << 20, off, &e) != 1 << 20 ||
			memcmp(buf, data + off, 1 << 20);
	CHECK(pbad == 0, "a passing read of the whole file is right");
	CHECK(cache_bytes(c, &st) == before, "and keeps nothing (%llu, was %llu)",
	      (unsigned long long)st.cache_bytes, (unsigned long long)before);
	int was = k->preads;
	CHECK(ifs_source_pread(s, buf, 1 << 20, 0, &e) == 1 << 20 && k->preads == was + 1,
	      "so it fetches again");
	r = ifs_source_pread(s, buf, 1000, n - 1000, &e);
	CHECK(r == 1000 && memcmp(buf, data + n - 1000, 1000) == 0 && k->preads == was + 1,
	      "what the cache held is still served from it");
	ifs_source_close(s);
	ifs_cache_close(c);
	free(other);
	free(opath);
	free(buf);
	free(data);
	free(path);
	free(dir);
}

/* The bytes this process's read calls have returned (rchar: page cache or
 * not), the cache's chunk files' reads among them. */
static uint64_t rchar(void)
{
	unsigned long long v = 0;
	char line[128];
	FILE *f = fopen("/proc/self/io", "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "rchar: %llu", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/* Reads through the cache in 64 KiB steps that end inside blocks, as a
 * cursor reads; the number of steps that gave wrong bytes. */
static int read_steps(ifs_source *s, const uint8_t *data, uint64_t off, uint64_t len)
{
	uint8_t *buf = malloc(65536);
	ifs_err e;
	int bad = 0;
	for (uint64_t p = off; p < off + len; p += 65536) {
		size_t want = off + len - p < 65536 ? (size_t)(off + len - p) : 65536;
		ifs_err_clear(&e);
		bad += ifs_source_pread(s, buf, want, p, &e) != (ssize_t)want ||
		       memcmp(buf, data + p, want) != 0;
	}
	free(buf);
	return bad;
}

/* Flips the byte at off of a source in the cache's chunk file (the only
 * identity in dir). */
static void tamper(const char *dir, uint64_t off)
{
	uint64_t block = off / IFS_CACHE_BLOCK;
	char pat[4200];
	glob_t g;
	snprintf(pat, sizeof pat, "%s/*/%016llx", dir,
		 (unsigned long long)(block / IFS_CACHE_CHUNK_BLOCKS));
	if (glob(pat, 0, NULL, &g) != 0 || g.gl_pathc != 1)
		abort();
	int fd = open(g.gl_pathv[0], O_RDWR);
	off_t at = 4096 + (off_t)(block % IFS_CACHE_CHUNK_BLOCKS) * IFS_CACHE_BLOCK +
		   (off_t)(off % IFS_CACHE_BLOCK);
	uint8_t x;
	if (fd < 0 || pread(fd, &x, 1, at) != 1)
		abort();
	x ^= 0x5a;
	if (pwrite(fd, &x, 1, at) != 1)
		abort();
	close(fd);
	globfree(&g);
}

/*
 * What the cache holds whole is read from it directly: a read-ahead over
 * it queues no segment for such a hint (only for the part the cache would
 * fetch), a pass in steps that end inside blocks reads each run from disk
 * once, and a run is checked whole whatever part of it a read wants.
 */
static void test_cache_held(void)
{
	uint8_t *data;
	size_t n = 6u << 20;
	char *path = write_random("held.bin", n, 11, &data), *dir;
	if (asprintf(&dir, "%s/heldcache", tmp) < 0)
		abort();
	ifs_cache *c;
	ifs_err e;
	ifs_err_clear(&e);
	CHECK(ifs_cache_open(dir, 1ull << 30, &c, &e) == 0, "open: %s", e.msg);
	struct counting *k;
	ifs_source *ra, *cs = cached(c, path, &k);
	CHECK(ifs_readahead_wrap(cs, &ra, &e) == 0, "wrap");
	uint64_t off = 1000, len = 900000;   /* a segment under 1 MiB: freed once read */

	/* cold: the hinted range is one segment, fetched in one read */
	ifs_source_hint(ra, off, len);
	CHECK(ifs_readahead_segments(ra) == 1, "a cold hint: one segment (%llu)",
	      (unsigned long long)ifs_readahead_segments(ra));
	CHECK(read_steps(ra, data, off, len) == 0, "a cold range read right");
	CHECK(k->preads == 1 && k->bytes == len, "fetched in one read, exactly (%d, %llu)",
	      k->preads, (unsigned long long)k->bytes);

	/* warm: the same hint queues nothing, the reads fetch nothing, and the
	 * cache's files give up each byte once (not again for every read that
	 * touches a block another read touched) */
	uint64_t r0 = rchar();
	ifs_source_hint(ra, off, len);
	CHECK(ifs_readahead_segments(ra) == 1, "a hint the cache holds whole: no segment (%llu)",
	      (unsigned long long)ifs_readahead_segments(ra));
	CHECK(read_steps(ra, data, off, len) == 0, "a warm range read right");
	uint64_t got = rchar() - r0;
	CHECK(k->preads == 1, "nothing fetched (%d)", k->preads);
	CHECK(got >= len && got <= len + 2 * IFS_CACHE_BLOCK,
	      "each run read from disk once: %llu bytes for a range of %llu",
	      (unsigned long long)got, (unsigned long long)len);

	/* half held: the segment is what the cache would fetch, from the first
	 * block it does not hold whole on */
	uint64_t h = off + len / 2, from = (off + len) / IFS_CACHE_BLOCK * IFS_CACHE_BLOCK;
	ifs_source_hint(ra, h, len);
	CHECK(ifs_readahead_segments(ra) == 2, "a hint held in part: one segment (%llu)",
	      (unsigned long long)ifs_readahead_segments(ra));
	CHECK(read_steps(ra, data, h, len) == 0, "a range held in part read right");
	CHECK(k->preads == 2 && k->bytes == len + (h + len - from),
	      "only the part not held fetched (%d, %llu)", k->preads,
	      (unsigned long long)k->bytes);

	/* a byte of a run outside the range wanted (before it, after it) is
	 * checked all the same: the run is fetched again, the bytes are right */
	ifs_source_stats st;
	uint64_t blk = 5 * (uint64_t)IFS_CACHE_BLOCK;
	uint8_t buf[100];
	tamper(dir, blk + 10);
	ssize_t r = ifs_source_pread(ra, buf, sizeof buf, blk + 5000, &e);
	cache_bytes(c, &st);
	CHECK(r == sizeof buf && memcmp(buf, data + blk + 5000, sizeof buf) == 0 &&
	      st.cache_bad == 1 && k->preads == 3,
	      "a run bad before the range read: fetched again (bad %llu, preads %d)",
	      (unsigned long long)st.cache_bad, k->preads);
	blk += 5 * (uint64_t)IFS_CACHE_BLOCK;
	tamper(dir, blk + 30000);
	r = ifs_source_pread(ra, buf, sizeof buf, blk + 5000, &e);
	cache_bytes(c, &st);
	CHECK(r == sizeof buf && memcmp(buf, data + blk + 5000, sizeof buf) == 0 &&
	      st.cache_bad == 2 && k->preads == 4,
	      "a run bad after the range read: fetched again (bad %llu, preads %d)",
	      (unsigned long long)st.cache_bad, k->preads);
	CHECK(compare_ranges(ra, data, n, 200, 300000, 12) == 0, "random ranges after");
	ifs_source_close(ra);
	ifs_cache_close(c);
	free(data);
	free(path);
	free(dir);
}

/* A process killed at random moments while it fills the cache never leaves
 * a block that is served wrong. */
static void test_cache_sigkill(void)
{
	uint8_t *data;
	size_t n = 6u << 20;
	char *path = write_random("killed.bin", n, 11, &data), *dir;
	if (asprintf(&dir, "%s/killcache", tmp) < 0)
		abort();
	uint64_t cap = 64ull << 20, seed = 12;
	for (int round = 0; round < 25; round++) {
		pid_t pid = fork();
		if (pid == 0) {
			ifs_cache *c;
			ifs_err e;
			ifs_err_clear(&e);
			if (ifs_cache_open(dir, cap, &c, &e))
				_exit(3);
			ifs_source *s = cached(c, path, NULL);
			uint8_t *b = malloc(1 << 20);
			uint64_t rs = (uint64_t)getpid();
			for (;;) {   /* until killed */
				uint64_t off = tu_rand(&rs) % n;
				if (ifs_source_pread(s, b, 1 + tu_rand(&rs) % (1 << 20), off, &e) < 0)
					_exit(4);
			}
		}
		struct timespec ts = { 0, (long)(1 + tu_rand(&seed) % 60) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		CHECK(WIFSIGNALED(status), "round %d: the writer was killed (status %d)", round,
		      status);
	}
	ifs_cache *c;
	ifs_err e;
	ifs_err_clear(&e);
	CHECK(ifs_cache_open(dir, cap, &c, &e) == 0, "open after the kills: %s", e.msg);
	struct counting *k;
	ifs_source *s = cached(c, path, &k);
	uint8_t *buf = malloc(n);
	ssize_t r = ifs_source_pread(s, buf, n, 0, &e);
	CHECK(r == (ssize_t)n && memcmp(buf, data, n) == 0, "every byte right after the kills");
	ifs_source_stats st;
	cache_bytes(c, &st);
	CHECK(st.cache_hits > 0, "the killed writers left blocks that were used (%llu hits, "
	      "%llu bad)", (unsigned long long)st.cache_hits, (unsigned long long)st.cache_bad);
	r = ifs_source_pread(s, buf, n, 0, &e);
	CHECK(r == (ssize_t)n && memcmp(buf, data, n) == 0 && k->preads <= 1, "then all cached");
	ifs_source_close(s);
	ifs_cache_close(c);
	free(buf);
	free(data);
	free(path);
	free(dir);
}

struct seen {
	int live, elsewhere, bad;
	ifs_daemonrec last;
	char why[1024];
};

static void seen_fn(void *ctx, int state, const ifs_daemonrec *r, double age, const char *why)
{
	struct seen *s = ctx;
	(void)age;
	if (state == IFS_DREC_LIVE)
		s->live++;
	else if (state == IFS_DREC_ELSEWHERE)
		s->elsewhere++;
	else
		s->bad++;
	if (r)
		s->last = *r;
	if (why)
		snprintf(s->why, sizeof s->why, "%s", why);
}

static struct seen list_recs(const char *dir, const char *source)
{
	struct seen s;
	memset(&s, 0, sizeof s);
	ifs_err e;
	ifs_err_clear(&e);
	int n = ifs_daemonrec_list(dir, source, seen_fn, &s, &e);
	CHECK(n == s.live + s.elsewhere + s.bad, "list: %d calls (%s)", n, e.msg);
	return s;
}

static int file_exists(const char *dir, const char *name)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void put_file(const char *dir, const char *name, const char *text, size_t n)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(text, 1, n, f) != n || fclose(f))
		abort();
}

static void test_daemonrec(void)
{
	char dir[PATH_MAX], name[NAME_MAX + 1], prefix[NAME_MAX + 1];
	snprintf(dir, sizeof dir, "%s/daemons", tmp);
	const char *src = "https://example.org/inat/2017";
	ifs_err e;
	ifs_err_clear(&e);
	ifs_daemonrec *r = calloc(1, sizeof *r), *back = calloc(1, sizeof *back);
	CHECK(ifs_daemonrec_self(r, &e) == 0 && r->pid == (long)getpid() && r->start > 0,
	      "self: %s", e.msg);
	/* a URL with a password (refused upstream) is never written with it */
	snprintf(r->source, sizeof r->source, "https://user:s3cret@example.org/inat/2017?sig=x");
	snprintf(r->mountpoint, sizeof r->mountpoint, "/mnt/in\nat");
	snprintf(r->cache, sizeof r->cache, "/c");
	r->st.requests = 12;
	r->st.bytes_fetched = (1ull << 53) - 1;
	r->st.cache_hits = 3;
	r->started = r->updated = 1700000000;
	CHECK(ifs_daemonrec_write(dir, r, &e) == 0, "write: %s", e.msg);
	CHECK(ifs_daemonrec_name(r, name, sizeof name) == 0 && file_exists(dir, name), "%s", name);
	char path[PATH_MAX * 2];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	size_t n;
	char *text = (char *)tu_slurp(path, &n);
	CHECK(text && !memmem(text, n, "s3cret", 6) && !memmem(text, n, "user", 4) &&
	      !memmem(text, n, "sig=", 4), "no credentials in the record");
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
	CHECK(text && ifs_daemonrec_parse(text, n, "t", back, &e) == 0 &&
	      strcmp(back->source, src) == 0 && strcmp(back->mountpoint, r->mountpoint) == 0 &&
	      back->st.bytes_fetched == r->st.bytes_fetched && back->st.requests == 12 &&
	      back->start == r->start && !strcmp(back->cache, "/c") && !back->cache_busy,
	      "read back: %s", e.msg);
	free(text);

	/* listed as live, by the source as given or cleaned; not for another source */
	struct seen s = list_recs(dir, src);
	CHECK(s.live == 1 && s.bad == 0 && s.last.st.cache_hits == 3, "live: %d bad %d (%s)",
	      s.live, s.bad, s.why);
	s = list_recs(dir, "https://example.org/inat/2018");
	CHECK(s.live + s.bad + s.elsewhere == 0, "another source sees nothing");

	/* the same pid with another start time: a reused process id, dead, removed */
	r->start += 1;
	CHECK(ifs_daemonrec_write(dir, r, &e) == 0, "rewrite");
	s = list_recs(dir, src);
	CHECK(s.live == 0 && !file_exists(dir, name), "a reused pid is not the daemon");
	r->start -= 1;

	/* another boot of this machine: dead */
	snprintf(r->boot, sizeof r->boot, "00000000-0000-0000-0000-000000000000");
	ifs_daemonrec_write(dir, r, &e);
	s = list_recs(dir, src);
	CHECK(s.live == 0 && !file_exists(dir, name), "a record of another boot is removed");

	/* another machine: shown while fresh; not shown when old; removed when very old */
	ifs_daemonrec *far = calloc(1, sizeof *far);
	*far = *r;
	snprintf(far->host, sizeof far->host, "far.example");
	far->pid = 999999;
	ifs_daemonrec_write(dir, far, &e);
	ifs_daemonrec_name(far, name, sizeof name);
	s = list_recs(dir, src);
	CHECK(s.elsewhere == 1 && s.live == 0 && s.last.pid == 999999, "another machine's");
	snprintf(path, sizeof path, "%s/%s", dir, name);
	struct timespec old[2] = { { time(NULL) - 300, 0 }, { time(NULL) - 300, 0 } };
	utimensat(AT_FDCWD, path, old, 0);
	s = list_recs(dir, src);
	CHECK(s.elsewhere == 0 && file_exists(dir, name), "silent 5 min: not shown, kept");
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 2 * IFS_DAEMONREC_GONE_S;
	utimensat(AT_FDCWD, path, old, 0);
	s = list_recs(dir, src);
	CHECK(s.elsewhere == 0 && !file_exists(dir, name), "silent for hours: removed");
	free(far);

	/* hostile files named like records of this source */
	ifs_daemonrec_self(r, &e);
	snprintf(r->source, sizeof r->source, "%s", src);
	ifs_daemonrec_prefix(src, prefix, sizeof prefix);
	char host[80];
	CHECK(ifs_daemonrec_name(r, name, sizeof name) == 0, "name");
	snprintf(host, sizeof host, "%.*s", (int)(strrchr(name, '.') - name - strlen(prefix)),
		 name + strlen(prefix));
	*strrchr(host, '.') = '\0';   /* "<host>" of "<host>.<pid>" */
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	char nm[NAME_MAX + 1];
	size_t big = IFS_DAEMONREC_MAX + 10;
	char *junk = malloc(big);
	memset(junk, ' ', big);
	junk[0] = '{';
	junk[big - 1] = '}';
	snprintf(nm, sizeof nm, "%s%s.%ld.json", prefix, host, (long)getpid());
	put_file(dir, nm, junk, big);
	s = list_recs(dir, src);
	CHECK(s.bad == 1 && strstr(s.why, "more than") && file_exists(dir, nm),
	      "oversized, of a live process: reported, kept (%s)", s.why);
	unlink(strcat(strcat(strcpy(path, dir), "/"), nm));
	snprintf(nm, sizeof nm, "%s%s.%ld.json", prefix, host, (long)dead);
	put_file(dir, nm, junk, big);
	s = list_recs(dir, src);
	CHECK(s.bad == 0 && !file_exists(dir, nm), "oversized, of a dead process: removed");
	free(junk);
	snprintf(nm, sizeof nm, "%s%s.%ld.json.tmp", prefix, host, (long)dead);
	put_file(dir, nm, "{", 1);
	s = list_recs(dir, src);
	CHECK(s.bad == 0 && !file_exists(dir, nm), "a dead process's temporary file: removed");
	snprintf(nm, sizeof nm, "%sother.7.json", prefix);
	snprintf(path, sizeof path, "%s/%s", dir, nm);
	CHECK(symlink("/etc/passwd", path) == 0, "symlink");
	s = list_recs(dir, src);
	CHECK(s.bad == 1 && strstr(s.why, "symbolic link") && file_exists(dir, nm),
	      "a link: reported, left (%s)", s.why);
	unlink(path);
	CHECK(mkfifo(path, 0600) == 0, "fifo");
	s = list_recs(dir, src);
	CHECK(s.bad == 1 && strstr(s.why, "not a regular file"), "a fifo: reported (%s)", s.why);
	unlink(path);

	/* the parser alone: every field checked */
	static const char *const bad[] = {
		"", "{", "[]", "null", "{\"inatfs_daemon\":1}",
		"{\"inatfs_daemon\":1,\"pid\":1} trailing",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(ifs_daemonrec_parse(bad[i], strlen(bad[i]), "t", back, &e) == -EINVAL,
		      "refused: %s", bad[i]);
	const char *good = "{\"inatfs_daemon\":1,\"pid\":5,\"start\":9,\"started\":1,\"updated\":2,"
			   "\"requests\":1,\"retries\":0,\"bytes_fetched\":3,\"cache_hits\":0,"
			   "\"cache_misses\":0,\"cache_bad\":0,\"cache_bytes\":0,\"host\":\"h\","
			   "\"boot\":\"b\",\"source\":\"s3://b/p\",\"mountpoint\":\"/m\","
			   "\"index\":\"\",\"cache\":null,\"cache_busy\":false}";
	CHECK(ifs_daemonrec_parse(good, strlen(good), "t", back, &e) == 0 && back->pid == 5 &&
	      back->st.bytes_fetched == 3 && !back->cache[0], "accepted: %s", e.msg);
	static const char *const swaps[][2] = {
		{ "\"pid\":5", "\"pid\":0" }, { "\"pid\":5", "\"pid\":-5" },
		{ "\"pid\":5", "\"pid\":\"5\"" }, { "\"pid\":5", "\"pid\":5.5" },
		{ "\"pid\":5", "\"pid\":1e300" }, { "\"requests\":1", "\"requests\":-1" },
		{ "\"requests\":1", "\"requests\":1e17" }, { "\"inatfs_daemon\":1", "\"inatfs_daemon\":2" },
		{ "\"host\":\"h\"", "\"host\":7" }, { "\"source\":\"s3://b/p\"", "\"source\":\"\"" },
		{ "\"cache\":null", "\"cache\":[]" }, { "\"cache_busy\":false", "\"cache_busy\":0" },
	};
	for (size_t i = 0; i < sizeof swaps / sizeof *swaps; i++) {
		char t[1024];
		const char *at = strstr(good, swaps[i][0]);
		snprintf(t, sizeof t, "%.*s%s%s", (int)(at - good), good, swaps[i][1],
			 at + strlen(swaps[i][0]));
		ifs_err_clear(&e);
		CHECK(ifs_daemonrec_parse(t, strlen(t), "t", back, &e) == -EINVAL &&
		      strstr(e.msg, "not a daemon record"), "refused: %s (%s)", swaps[i][1], e.msg);
	}
	/* a host name longer than the field */
	char *longhost = malloc(600);
	int k = snprintf(longhost, 600, "%.*s", (int)(strstr(good, "\"h\"") - good), good);
	k += snprintf(longhost + k, 600 - (size_t)k, "\"%0300d\"%s", 0, strstr(good, "\"h\"") + 3);
	CHECK(ifs_daemonrec_parse(longhost, (size_t)k, "t", back, &e) == -EINVAL, "long host");
	free(longhost);
	free(r);
	free(back);
}

int main(void)
{
	tmp = tu_tmpdir("source");
	if (!tmp)
		return 1;
	test_local();
	test_origins();
	test_opts();
	test_sigv4();
	test_creds();
	test_resp();
	test_readahead();
	test_cache();
	test_cache_held();
	test_cache_sigkill();
	test_daemonrec();
	tu_sh("rm -rf '%s'", tmp);
	free(tmp);
	return tu_end("source");
}

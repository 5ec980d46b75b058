/*
 * http.c - ranged GETs over HTTP(S) with libcurl, for the http and s3
 * sources: a pool of easy handles (each keeps its connection alive; HTTP/2
 * where the server offers it over TLS; DNS and TLS sessions shared), so that
 * concurrent reads run on concurrent connections; each GET conditional on
 * the object as it was opened; every response checked; retries with
 * exponential backoff and jitter until a deadline.
 *
 * What is retried: 5xx, 408, 429, failed or cut connections, stalls (no
 * byte for a while), timeouts and short bodies. What is not: 4xx (a 412 is
 * a replaced object), a response that contradicts the request (another
 * range, too many bytes, a transformed body), TLS verification failures, a
 * refused redirect. Opening a source (ifs_http_stat) does not retry an
 * unknown host or a refused connection either: that is a wrong URL, said
 * at once.
 */
#include "source_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 4000
#define CONNECT_MAX_MS 10000
#define ERROR_BODY_MAX 4096

struct conn {
	CURL *h;
	struct conn *next;
};

struct ifs_http {
	struct ifs_http_cfg cfg;
	char *cacert;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct conn *idle;
	unsigned count;
	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
};

/* ---- the pool -------------------------------------------------------------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *c, curl_lock_data d, curl_lock_access a, void *ctx)
{
	ifs_http *h = ctx;
	if (d < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&h->share_mu[d]);
}

static void share_unlock(CURL *c, curl_lock_data d, void *ctx)
{
	ifs_http *h = ctx;
	if (d < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&h->share_mu[d]);
}

int ifs_http_new(const struct ifs_http_cfg *cfg, ifs_http **out, ifs_err *err)
{
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return ifs_err_set(err, EIO, "libcurl: %s", curl_easy_strerror(global_rc));
	ifs_http *h = calloc(1, sizeof *h);
	if (!h)
		return ifs_err_set(err, ENOMEM, "out of memory");
	h->cfg = *cfg;
	if (!h->cfg.timeout_ms)
		h->cfg.timeout_ms = IFS_SOURCE_TIMEOUT_MS;
	if (!h->cfg.max_conns)
		h->cfg.max_conns = IFS_SOURCE_MAX_CONNS;
	if (cfg->cacert && !(h->cacert = strdup(cfg->cacert))) {
		free(h);
		return ifs_err_set(err, ENOMEM, "out of memory");
	}
	h->cfg.cacert = h->cacert;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_mu[i], NULL);
	if (!(h->share = curl_share_init()) ||
	    curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION)) {
		ifs_http_free(h);
		return ifs_err_set(err, ENOMEM, "libcurl: cannot share DNS and TLS sessions");
	}
	*out = h;
	return 0;
}

void ifs_http_free(ifs_http *h)
{
	if (!h)
		return;
	for (struct conn *c = h->idle, *n; c; c = n) {
		n = c->next;
		curl_easy_cleanup(c->h);
		free(c);
	}
	if (h->share)
		curl_share_cleanup(h->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_mu[i]);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h->cacert);
	free(h);
}

/* A handle for one request: an idle one (its connection still open), a new
 * one while under max_conns, else wait for one. NULL: out of memory. */
static struct conn *conn_get(ifs_http *h)
{
	pthread_mutex_lock(&h->mu);
	while (!h->idle && h->count >= h->cfg.max_conns)
		pthread_cond_wait(&h->cv, &h->mu);
	struct conn *c = h->idle;
	if (c) {
		h->idle = c->next;
	} else {
		h->count++;
	}
	pthread_mutex_unlock(&h->mu);
	if (c)
		return c;
	c = calloc(1, sizeof *c);
	if (c && !(c->h = curl_easy_init())) {
		free(c);
		c = NULL;
	}
	if (!c) {
		pthread_mutex_lock(&h->mu);
		h->count--;
		pthread_cond_signal(&h->cv);
		pthread_mutex_unlock(&h->mu);
	}
	return c;
}

static void conn_put(ifs_http *h, struct conn *c)
{
	pthread_mutex_lock(&h->mu);
	c->next = h->idle;   /* last in, first out: the warmest connection next */
	h->idle = c;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* ---- one request ----------------------------------------------------------- */

struct xfer {
	uint8_t *buf;
	size_t cap, got;
	int overflow;
	struct ifs_counters *counters;
	struct ifs_http_resp resp;
	char ebody[ERROR_BODY_MAX];
	size_t elen;
};

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	ifs_http_resp_line(&x->resp, p, n);
	return n;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	atomic_fetch_add(&x->counters->bytes, n);
	if (x->resp.status == 200 || x->resp.status == 206) {
		if (n > x->cap - x->got) {
			x->overflow = 1;
			return 0;   /* more than the range asked for: abort */
		}
		memcpy(x->buf + x->got, p, n);
		x->got += n;
		return n;
	}
	size_t room = sizeof x->ebody - 1 - x->elen;
	if (n > room)
		return 0;   /* an error body this long is not worth reading on */
	memcpy(x->ebody + x->elen, p, n);
	x->elen += n;
	x->ebody[x->elen] = '\0';
	return n;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs one request on a pooled handle. Returns the curl code; *x holds the
 * response. errbuf gets curl's own words. */
static CURLcode perform(ifs_http *h, const char *url, const char *range, const char *cond,
			uint64_t deadline, struct xfer *x, char *errbuf, ifs_err *err, int *r)
{
	*r = 0;
	struct conn *c = conn_get(h);
	if (!c) {
		*r = ifs_err_set(err, ENOMEM, "out of memory");
		return CURLE_OUT_OF_MEMORY;
	}
	struct curl_slist *hdrs = NULL, *t;
	char line[IFS_HDR_VAL_MAX + 64];
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	snprintf(line, sizeof line, "Range: %s", range);
	if (!(t = curl_slist_append(hdrs, line)))
		goto out;
	hdrs = t;
	if (cond) {
		if (!(t = curl_slist_append(hdrs, cond)))
			goto out;
		hdrs = t;
	}
	if (!(t = curl_slist_append(hdrs, "Accept-Encoding: identity")))
		goto out;
	hdrs = t;
	if (h->cfg.sign && (*r = h->cfg.sign(h->cfg.sign_ctx, "GET", url, range, &hdrs, err)))
		goto out;

	uint64_t now = now_ms();
	long left = deadline > now ? (long)(deadline - now) : 1;
	long stall = (long)(h->cfg.timeout_ms / 4000);
	stall = stall < 1 ? 1 : stall > 10 ? 10 : stall;
	CURL *e = c->h;
	curl_easy_reset(e);   /* keeps the live connection, DNS and TLS sessions */
	errbuf[0] = '\0';
	if (curl_easy_setopt(e, CURLOPT_URL, url) ||
	    curl_easy_setopt(e, CURLOPT_SHARE, h->share) ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR,
			     h->cfg.https_only ? "https" : "http,https") ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, h->cfg.follow_redirects ? 1L : 0L) ||
	    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L) ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    (h->cacert && curl_easy_setopt(e, CURLOPT_CAINFO, h->cacert)) ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs) ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, x) ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, x) ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, left < CONNECT_MAX_MS ? left
			     : (long)CONNECT_MAX_MS) ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left) ||
	    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L) ||
	    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall) ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) ||
	    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS) ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "inatfs")) {
		*r = ifs_err_set(err, EIO, "%s: libcurl refused an option", url);
		cc = CURLE_FAILED_INIT;
		goto out;
	}
	atomic_fetch_add(&h->cfg.counters->requests, 1);
	cc = curl_easy_perform(e);
	/* the status of the last response: a followed redirect's own is gone */
	long code = 0;
	if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code &&
	    code != x->resp.status)
		x->resp.bad_header = 1;
out:
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	conn_put(h, c);
	if (cc == CURLE_OUT_OF_MEMORY && !*r)
		*r = ifs_err_set(err, ENOMEM, "out of memory");
	return cc;
}

/* ---- what a response means -------------------------------------------------- */

enum verdict { V_OK, V_RETRY, V_FATAL };

static int transient_curl(CURLcode cc, int at_open)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		return !at_open;   /* a wrong URL at open; a server restarting later */
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:   /* cut during the handshake */
	case CURLE_WEIRD_SERVER_REPLY:
		return 1;
	default:
		return 0;
	}
}

static int transient_status(long st)
{
	return st >= 500 || st == 408 || st == 429;
}

/* "503 SlowDown: Please reduce..." or "503" or curl's words. */
static void describe(char *out, size_t n, CURLcode cc, const char *errbuf, const struct xfer *x)
{
	char etext[300];
	ifs_http_error_text(x->ebody, x->elen, etext, sizeof etext);
	if (cc != CURLE_OK && !(x->resp.status && cc == CURLE_WRITE_ERROR && !x->overflow))
		snprintf(out, n, "%s%s%s", curl_easy_strerror(cc), errbuf[0] ? ": " : "", errbuf);
	else if (etext[0])
		snprintf(out, n, "%ld %s", x->resp.status, etext);
	else
		snprintf(out, n, "status %ld", x->resp.status);
}

static int status_errno(long st)
{
	return st == 404 || st == 410 ? ENOENT : st == 401 || st == 403 ? EACCES : EIO;
}

/* A 3xx the client did not follow (s3), with the region S3 names if any. */
static int redirect_error(const char *what, const struct xfer *x, ifs_err *err)
{
	if (x->resp.region[0])
		return ifs_err_set(err, EIO, "%s: the bucket is in region %s (give -o region=%s)",
				   what, x->resp.region, x->resp.region);
	return ifs_err_set(err, EIO, "%s: redirected (status %ld), not followed", what,
			   x->resp.status);
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t jitter(uint64_t max)
{
	static _Thread_local uint64_t s;
	if (!s)
		s = (uint64_t)now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)pthread_self();
	s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
	return max ? (s * 0x2545F4914F6CDD1Dull) % (max + 1) : 0;
}

/* Waits before attempt n+1; 0, or -1 when that would pass the deadline. */
static int backoff(unsigned attempt, uint64_t deadline)
{
	uint64_t cap = BACKOFF_FIRST_MS << (attempt < 6 ? attempt : 6);
	if (cap > BACKOFF_MAX_MS)
		cap = BACKOFF_MAX_MS;
	uint64_t wait = cap / 2 + jitter(cap / 2);
	if (now_ms() + wait >= deadline)
		return -1;
	sleep_ms(wait);
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

int ifs_http_stat(ifs_http *h, const char *url, const char *display,
		  struct ifs_http_obj *obj, ifs_err *err)
{
	memset(obj, 0, sizeof *obj);
	uint64_t start = now_ms(), deadline = start + h->cfg.timeout_ms;
	uint8_t byte;
	char errbuf[CURL_ERROR_SIZE], last[512];
	int r;
	for (unsigned attempt = 0;; attempt++) {
		struct xfer *x = calloc(1, sizeof *x);
		if (!x)
			return ifs_err_set(err, ENOMEM, "out of memory");
		x->buf = &byte;
		x->cap = 1;
		x->counters = h->cfg.counters;
		if (attempt)
			atomic_fetch_add(&h->cfg.counters->retries, 1);
		CURLcode cc = perform(h, url, "bytes=0-0", NULL, deadline, x, errbuf, err, &r);
		const struct ifs_http_resp *p = &x->resp;
		enum verdict v = V_FATAL;
		describe(last, sizeof last, cc, errbuf, x);
		if (r) {
			free(x);
			return r;
		}
		if (p->bad_header) {
			r = ifs_err_set(err, EIO, "%s: a malformed response (status %ld)", display,
					p->status);
		} else if (p->status == 206 || p->status == 200 || p->status == 416) {
			if (p->encoding[0] && strcasecmp(p->encoding, "identity"))
				r = ifs_err_set(err, EIO, "%s: the server sends it transformed "
						"(Content-Encoding: %s)", display, p->encoding);
			else if (p->status == 206 && p->has_range && !p->total_unknown &&
				 p->first == 0 && p->last == 0)
				obj->size = p->total, v = V_OK;
			else if (p->status == 416 && p->range_unsat && p->total == 0)
				obj->size = 0, v = V_OK;
			else if (p->status == 200 && p->has_length && p->length <= 1 &&
				 (cc == CURLE_OK || cc == CURLE_WRITE_ERROR))
				obj->size = p->length, v = V_OK;
			else if (p->status == 200)
				r = ifs_err_set(err, EIO, "%s: the server ignores range requests "
						"(it answered 200 to bytes=0-0)", display);
			else if (cc == CURLE_OK || !transient_curl(cc, 1))
				r = ifs_err_set(err, EIO, "%s: status %ld with a missing or wrong "
						"Content-Range", display, p->status);
			else
				v = V_RETRY;
		} else if (cc == CURLE_UNSUPPORTED_PROTOCOL && p->status >= 300 && p->status < 400) {
			r = ifs_err_set(err, EIO, "%s: a redirect to a non-https URL (refused)", display);
		} else if (cc == CURLE_TOO_MANY_REDIRECTS) {
			r = ifs_err_set(err, EIO, "%s: too many redirects", display);
		} else if (p->status >= 300 && p->status < 400) {
			r = redirect_error(display, x, err);
		} else if (p->status && !transient_status(p->status)) {
			r = ifs_err_set(err, status_errno(p->status), "%s: %s%s", display, last,
					p->status == 404 ? " (not found)" : p->status == 403 ?
					" (access denied)" : "");
		} else if (!p->status && !transient_curl(cc, 1)) {
			r = ifs_err_set(err, cc == CURLE_COULDNT_RESOLVE_HOST ? EHOSTUNREACH :
					cc == CURLE_COULDNT_CONNECT ? ECONNREFUSED : EIO,
					"%s: %s", display, last);
		} else {
			v = V_RETRY;
		}
		if (v == V_OK) {
			obj->last_modified = dup_or_null(p->last_modified);
			/* a weak ETag never matches If-Match: use the date instead */
			if (strncmp(p->etag, "W/", 2))
				obj->etag = dup_or_null(p->etag);
			obj->url = strdup(url);
			obj->display = strdup(display);
		}
		free(x);
		if (v == V_OK) {
			if (!obj->url || !obj->display || (!obj->etag && !obj->last_modified)) {
				int no_tag = obj->url && obj->display;
				ifs_http_obj_free(obj);
				if (no_tag)
					return ifs_err_set(err, EIO, "%s: the server sends neither an ETag "
							   "nor Last-Modified, so a changed file could "
							   "not be told apart", display);
				return ifs_err_set(err, ENOMEM, "out of memory");
			}
			return 0;
		}
		if (v == V_FATAL)
			return r;
		if (backoff(attempt, deadline))
			return ifs_err_set(err, EIO, "%s: no answer in %.1f s (%u attempts); last: %s",
					   display, (double)(now_ms() - start) / 1000, attempt + 1,
					   last);
	}
}

void ifs_http_obj_free(struct ifs_http_obj *obj)
{
	free(obj->url);
	free(obj->display);
	free(obj->etag);
	free(obj->last_modified);
	memset(obj, 0, sizeof *obj);
}

/* Checks a 2xx answer to bytes=off-(off+len-1): a verdict and, when fatal,
 * the error set. */
static enum verdict check_data(const struct ifs_http_obj *obj, uint64_t off, size_t len,
			       CURLcode cc, const struct xfer *x, const char *rng, ifs_err *err)
{
	const struct ifs_http_resp *p = &x->resp;
	const char *d = obj->display;
	if (x->overflow)
		return ifs_err_set(err, EIO, "%s: %s: the server sent more bytes than asked for",
				   d, rng), V_FATAL;
	if (p->encoding[0] && strcasecmp(p->encoding, "identity"))
		return ifs_err_set(err, EIO, "%s: %s: a transformed body (Content-Encoding: %s)",
				   d, rng, p->encoding), V_FATAL;
	if (obj->etag && p->etag[0] && strcmp(p->etag, obj->etag))
		return ifs_err_set(err, EIO, "%s: %s: the object changed since it was opened "
				   "(ETag %s, was %s)", d, rng, p->etag, obj->etag), V_FATAL;
	if (p->status == 200) {
		if (off != 0 || len != obj->size)
			return ifs_err_set(err, EIO, "%s: %s: the server ignored the range (status "
					   "200)", d, rng), V_FATAL;
		if (p->has_length && p->length != obj->size)
			return ifs_err_set(err, EIO, "%s: the object changed since it was opened "
					   "(%llu bytes, was %llu)", d, (unsigned long long)p->length,
					   (unsigned long long)obj->size), V_FATAL;
	} else {
		if (!p->has_range)
			return ifs_err_set(err, EIO, "%s: %s: status 206 without Content-Range", d,
					   rng), V_FATAL;
		if (!p->total_unknown && p->total != obj->size)
			return ifs_err_set(err, EIO, "%s: %s: the object changed since it was opened "
					   "(%llu bytes, was %llu)", d, rng,
					   (unsigned long long)p->total,
					   (unsigned long long)obj->size), V_FATAL;
		if (p->first != off || p->last != off + len - 1)
			return ifs_err_set(err, EIO, "%s: %s: the server sent bytes %llu-%llu", d, rng,
					   (unsigned long long)p->first,
					   (unsigned long long)p->last), V_FATAL;
		if (p->has_length && p->length != len)
			return ifs_err_set(err, EIO, "%s: %s: Content-Length %llu for %zu bytes", d,
					   rng, (unsigned long long)p->length, len), V_FATAL;
	}
	if (cc != CURLE_OK || x->got != len)
		return V_RETRY;   /* cut short: the connection broke or the body was short */
	return V_OK;
}

int ifs_http_get(ifs_http *h, const struct ifs_http_obj *obj, void *buf, uint64_t off,
		 size_t len, ifs_err *err)
{
	if (len == 0)
		return 0;
	if (off > obj->size || len > obj->size - off)
		return ifs_err_set(err, EINVAL, "%s: bytes %llu+%zu lie past its end", obj->display,
				   (unsigned long long)off, len);
	char rng[64], cond[IFS_HDR_VAL_MAX + 32], errbuf[CURL_ERROR_SIZE], last[512];
	snprintf(rng, sizeof rng, "bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	if (obj->etag)
		snprintf(cond, sizeof cond, "If-Match: %s", obj->etag);
	else
		snprintf(cond, sizeof cond, "If-Unmodified-Since: %s", obj->last_modified);
	uint64_t start = now_ms(), deadline = start + h->cfg.timeout_ms;
	struct xfer *x = malloc(sizeof *x);
	if (!x)
		return ifs_err_set(err, ENOMEM, "out of memory");
	ifs_err e;
	int r;
	for (unsigned attempt = 0;; attempt++) {
		memset(x, 0, sizeof *x);
		x->buf = buf;
		x->cap = len;
		x->counters = h->cfg.counters;
		ifs_err_clear(&e);
		if (attempt)
			atomic_fetch_add(&h->cfg.counters->retries, 1);
		CURLcode cc = perform(h, obj->url, rng, cond, deadline, x, errbuf, &e, &r);
		if (r)
			break;
		const struct ifs_http_resp *p = &x->resp;
		enum verdict v;
		describe(last, sizeof last, cc, errbuf, x);
		if (p->bad_header) {
			r = ifs_err_set(&e, EIO, "%s: %s: a malformed response (status %ld)",
					obj->display, rng, p->status);
			v = V_FATAL;
		} else if (p->status == 200 || p->status == 206) {
			v = check_data(obj, off, len, cc, x, rng, &e);
		} else if (p->status == 412) {
			v = V_FATAL;
			ifs_err_set(&e, EIO, "%s: %s: status 412: the object changed since it was "
				    "opened (%s %s)", obj->display, rng, obj->etag ? "ETag" :
				    "Last-Modified", obj->etag ? obj->etag : obj->last_modified);
		} else if (cc == CURLE_UNSUPPORTED_PROTOCOL && p->status >= 300 && p->status < 400) {
			v = V_FATAL;
			ifs_err_set(&e, EIO, "%s: %s: a redirect to a non-https URL (refused)",
				    obj->display, rng);
		} else if (p->status >= 300 && p->status < 400) {
			v = V_FATAL;
			redirect_error(obj->display, x, &e);
		} else if ((p->status && !transient_status(p->status)) ||
			   (!p->status && !transient_curl(cc, 0))) {
			v = V_FATAL;
			ifs_err_set(&e, p->status ? status_errno(p->status) : EIO, "%s: %s: %s",
				    obj->display, rng, last);
		} else {
			v = V_RETRY;
		}
		if (v == V_OK) {
			r = 0;
			break;
		}
		if (v == V_RETRY && backoff(attempt, deadline) == 0)
			continue;
		if (v == V_RETRY)
			ifs_err_set(&e, EIO, "%s: %s: gave up after %u attempts in %.1f s; last: %s",
				    obj->display, rng, attempt + 1,
				    (double)(now_ms() - start) / 1000, last);
		/* a read that failed for good says so once, where the operator looks */
		if (h->cfg.log)
			h->cfg.log(h->cfg.log_ctx, e.msg);
		else
			fprintf(stderr, "inatfs: %s\n", e.msg);
		r = -EIO;
		break;
	}
	free(x);
	if (r) {
		if (err && !err->code) {
			*err = e;
			err->code = EIO;
		}
		return -EIO;
	}
	return 0;
}

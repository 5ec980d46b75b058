/*
 * s3.c - s3://bucket/prefix/ origins: where each object's URL is (AWS's
 * virtual-hosted endpoint of the region, path-style for a bucket with a dot
 * or with -o endpoint=), and the headers that sign each request with
 * Signature V4 (sigv4.c) or, for a public bucket, none. S3 answers a
 * request in the wrong region with a redirect that a signed request cannot
 * follow: it is not followed, and the error names the bucket's region.
 */
#include "source_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ifs_s3 {
	char *bucket, *prefix;   /* prefix: "" or ending in '/' */
	char *endpoint;          /* scheme://host[:port], no trailing '/' */
	char *host;              /* what Host: says */
	int path_style;
	char *region;
	int sign, requester_pays;
	struct ifs_aws_creds creds;
};

/* an unsigned payload: GETs have no body */
static const char empty_sha256[] =
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

void ifs_s3_free(struct ifs_s3 *s)
{
	if (!s)
		return;
	free(s->bucket);
	free(s->prefix);
	free(s->endpoint);
	free(s->host);
	free(s->region);
	ifs_aws_creds_free(&s->creds);
	free(s);
}

static int valid_bucket(const char *b, size_t n)
{
	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-' ||
		      b[i] == '.' || b[i] == '_'))
			return 0;
	return 1;
}

/* endpoint "scheme://host[:port][/]": the part after the scheme, the
 * default port dropped (curl leaves it out of Host: too). */
static int endpoint_host(const char *ep, char **host, char **norm)
{
	const char *h = strstr(ep, "://");
	if (!h)
		return -1;
	int https = strncmp(ep, "https://", 8) == 0;
	h += 3;
	size_t hl = strcspn(h, "/");
	if (hl == 0 || (h[hl] && strcmp(h + hl, "/")) || memchr(h, '@', hl))
		return -1;
	const char *dflt = https ? ":443" : ":80";
	if (hl > strlen(dflt) && strncmp(h + hl - strlen(dflt), dflt, strlen(dflt)) == 0)
		hl -= strlen(dflt);
	if (!(*host = strndup(h, hl)))
		return -2;
	if (asprintf(norm, "%s://%s", https ? "https" : "http", *host) < 0) {
		free(*host);
		return -2;
	}
	return 0;
}

static int sign(void *ctx, const char *method, const char *url, const char *range,
		struct curl_slist **headers, ifs_err *err)
{
	struct ifs_s3 *s = ctx;
	char date[17], line[1024];
	time_t now = time(NULL);
	struct tm tm;
	if (!gmtime_r(&now, &tm) || !strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm))
		return ifs_err_set(err, EIO, "the clock cannot be read");
	const char *p = strstr(url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	struct ifs_sigv4_hdr h[8];
	size_t n = 0;
	h[n++] = (struct ifs_sigv4_hdr){ "host", s->host };
	if (range)
		h[n++] = (struct ifs_sigv4_hdr){ "range", range };
	h[n++] = (struct ifs_sigv4_hdr){ "x-amz-content-sha256", empty_sha256 };
	h[n++] = (struct ifs_sigv4_hdr){ "x-amz-date", date };
	if (s->requester_pays)
		h[n++] = (struct ifs_sigv4_hdr){ "x-amz-request-payer", "requester" };
	if (s->sign && s->creds.token)
		h[n++] = (struct ifs_sigv4_hdr){ "x-amz-security-token", s->creds.token };
	/* Host and Range go out as curl is told; the rest are added here */
	char hostline[300];
	snprintf(hostline, sizeof hostline, "Host: %s", s->host);
	struct curl_slist *t = curl_slist_append(*headers, hostline);
	if (!t)
		return ifs_err_set(err, ENOMEM, "out of memory");
	*headers = t;
	for (size_t i = range ? 2 : 1; i < n; i++) {
		if (!s->sign && strncmp(h[i].name, "x-amz-", 6) == 0 &&
		    strcmp(h[i].name, "x-amz-request-payer"))
			continue;
		snprintf(line, sizeof line, "%s: %s", h[i].name, h[i].value);
		if (!(t = curl_slist_append(*headers, line)))
			return ifs_err_set(err, ENOMEM, "out of memory");
		*headers = t;
	}
	if (!s->sign)
		return 0;
	struct ifs_sigv4_req q = {
		.method = method, .path = p ? p : "/", .query = NULL, .headers = h, .nheaders = n,
		.payload_hash = empty_sha256, .amz_date = date, .region = s->region,
		.service = "s3", .key_id = s->creds.key_id, .secret = s->creds.secret,
	};
	char auth[1024], *tmp = NULL;
	int r = ifs_sigv4_authorization(&q, auth, sizeof auth);
	if (r)
		return ifs_err_set(err, -r, "s3://%s/: the request could not be signed", s->bucket);
	if (asprintf(&tmp, "Authorization: %s", auth) < 0)
		return ifs_err_set(err, ENOMEM, "out of memory");
	t = curl_slist_append(*headers, tmp);
	free(tmp);
	if (!t)
		return ifs_err_set(err, ENOMEM, "out of memory");
	*headers = t;
	return 0;
}

int ifs_s3_origin(const char *base, const ifs_source_opts *o, struct ifs_counters *counters,
		  struct ifs_s3 **out, ifs_http **http, ifs_err *err)
{
	*out = NULL;
	struct ifs_s3 *s = calloc(1, sizeof *s);
	if (!s)
		return ifs_err_set(err, ENOMEM, "out of memory");
	int r = 0;
	const char *b = base + 5;   /* after s3:// */
	size_t bl = strcspn(b, "/");
	if (!valid_bucket(b, bl)) {
		r = ifs_err_set(err, EINVAL, "%s: not a bucket name (3-63 of a-z 0-9 . - _)", base);
		goto fail;
	}
	if (!(s->bucket = strndup(b, bl)) || !(s->prefix = strdup(b[bl] ? b + bl + 1 : "")))
		goto nomem;
	const char *region = o->region;
	if (!region || !*region)
		region = getenv("AWS_REGION");
	if (!region || !*region)
		region = getenv("AWS_DEFAULT_REGION");
	if (!region || !*region)
		region = "us-east-1";
	for (const char *p = region; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) {
			r = ifs_err_set(err, EINVAL, "region %.64s: not a region name", region);
			goto fail;
		}
	if (!(s->region = strdup(region)))
		goto nomem;
	char *ep = NULL;
	if (o->endpoint) {
		if ((r = endpoint_host(o->endpoint, &s->host, &s->endpoint)) == -1) {
			r = ifs_err_set(err, EINVAL, "endpoint=%.200s: not scheme://host[:port]",
					o->endpoint);
			goto fail;
		} else if (r) {
			goto nomem;
		}
		s->path_style = 1;
	} else {
		s->path_style = strchr(s->bucket, '.') != NULL;   /* dots break TLS names */
		if (s->path_style ? asprintf(&ep, "https://s3.%s.amazonaws.com", s->region)
				  : asprintf(&ep, "https://%s.s3.%s.amazonaws.com", s->bucket,
					     s->region) < 0)
			goto nomem;
		r = endpoint_host(ep, &s->host, &s->endpoint);
		free(ep);
		if (r)
			goto nomem;
	}
	s->requester_pays = o->requester_pays;
	s->sign = !o->no_sign_request;
	if (s->sign) {
		r = ifs_aws_creds_load(&s->creds, err);
		if (r < 0)
			goto fail;
		if (r == 0) {
			r = ifs_err_set(err, EACCES, "s3://%s/: no AWS credentials (set "
					"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile "
					"in ~/.aws/credentials; -o no_sign_request for a public "
					"bucket)", s->bucket);
			goto fail;
		}
	}
	struct ifs_http_cfg cfg = {
		.cacert = o->cacert, .timeout_ms = o->timeout_ms, .max_conns = o->max_conns,
		.https_only = strncmp(s->endpoint, "https://", 8) == 0, .follow_redirects = 0,
		.sign = sign, .sign_ctx = s, .log = o->log, .log_ctx = o->log_ctx,
		.counters = counters,
	};
	if ((r = ifs_http_new(&cfg, http, err)))
		goto fail;
	*out = s;
	return 0;
nomem:
	r = ifs_err_set(err, ENOMEM, "out of memory");
fail:
	ifs_s3_free(s);
	return r;
}

int ifs_s3_url(struct ifs_s3 *s, const char *name, char **url, char **display, ifs_err *err)
{
	*url = *display = NULL;
	ifs_buf u = { 0 }, key = { 0 };
	int r = ifs_buf_addf(&key, "%s%s", s->prefix, name);
	if (!r)
		r = ifs_buf_adds(&u, s->endpoint);
	if (!r && s->path_style)
		r = ifs_buf_addf(&u, "/%s", s->bucket);
	if (!r)
		r = ifs_buf_add(&u, "/", 1);
	if (!r)
		r = ifs_uri_encode(&u, key.p, key.len, 1);
	if (!r && asprintf(display, "s3://%s/%s", s->bucket, key.p) < 0) {
		*display = NULL;
		r = -ENOMEM;
	}
	free(key.p);
	if (r) {
		free(u.p);
		return ifs_err_set(err, ENOMEM, "out of memory");
	}
	*url = u.p;
	return 0;
}

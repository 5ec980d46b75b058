/*
 * http_source.c - a source that is one object behind an http(s) or s3 URL:
 * its size, ETag and Last-Modified from one request at open (or from the
 * origin's memo of a recent open, statmemo.c), then every pread one ranged
 * GET conditional on them (http.c).
 */
#include "source_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

struct http_source {
	ifs_source base;
	ifs_http *http;
	struct ifs_http_obj obj;
};

static ssize_t hs_pread(ifs_source *s, void *buf, size_t len, uint64_t off, ifs_err *err)
{
	struct http_source *h = (struct http_source *)s;
	int r = ifs_http_get(h->http, &h->obj, buf, off, len, err);
	return r ? r : (ssize_t)len;
}

static void hs_close(ifs_source *s)
{
	struct http_source *h = (struct http_source *)s;
	ifs_http_obj_free(&h->obj);
	ifs_source_fini(s);
	free(h);
}

static const struct ifs_source_ops hs_ops = { hs_pread, NULL, hs_close, NULL, NULL };

int ifs_http_source_open(ifs_http *http, ifs_statmemo *memo, const char *url,
			 const char *display, ifs_source **out, ifs_err *err)
{
	*out = NULL;
	struct http_source *h = calloc(1, sizeof *h);
	if (!h)
		return ifs_err_set(err, ENOMEM, "out of memory");
	h->http = http;
	int r = memo ? ifs_statmemo_get(memo, url, display, &h->obj) : 0;
	if (r == 0) {
		r = ifs_http_stat(http, url, display, &h->obj, err);
		if (r == 0 && memo)
			ifs_statmemo_put(memo, &h->obj);
	} else {
		r = r == 1 ? 0 : ifs_err_set(err, ENOMEM, "out of memory");
	}
	if (r) {
		free(h);
		return r;
	}
	char *id;
	if (asprintf(&id, "http:%llu:%s:%s", (unsigned long long)h->obj.size,
		     h->obj.etag ? h->obj.etag : "", h->obj.last_modified ? h->obj.last_modified
		     : "") < 0) {
		ifs_http_obj_free(&h->obj);
		free(h);
		return ifs_err_set(err, ENOMEM, "out of memory");
	}
	r = ifs_source_init(&h->base, &hs_ops, h->obj.size, id, display, err);
	free(id);
	time_t lm = h->obj.last_modified ? curl_getdate(h->obj.last_modified, NULL) : -1;
	if (!r && lm >= 0) {
		h->base.has_mtime = 1;
		h->base.mtime.tv_sec = lm;
	}
	if (r) {
		ifs_http_obj_free(&h->obj);
		free(h);
		return r;
	}
	*out = &h->base;
	return 0;
}

/*
 * source.c - the source interface (dispatch to each kind's methods), the
 * options in their -o form, and origins: a local directory or a URL prefix
 * under which sources are opened by name.
 */
#include "source_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the interface --------------------------------------------------------- */

int ifs_source_init(ifs_source *s, const struct ifs_source_ops *ops, uint64_t size,
		    const char *identity, const char *name, ifs_err *err)
{
	s->ops = ops;
	s->size = size;
	s->identity = strdup(identity);
	s->name = strdup(name);
	if (!s->identity || !s->name) {
		ifs_source_fini(s);
		return ifs_err_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

void ifs_source_fini(ifs_source *s)
{
	free(s->identity);
	free(s->name);
	s->identity = s->name = NULL;
}

char *ifs_printable(const char *s, size_t len, size_t max)
{
	if (len > max)
		len = max;
	char *o = malloc(len + 1);
	if (!o)
		return NULL;
	for (size_t i = 0; i < len; i++)
		o[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	o[len] = '\0';
	return o;
}

uint64_t ifs_source_size(const ifs_source *s) { return s->size; }
const char *ifs_source_identity(const ifs_source *s) { return s->identity; }
const char *ifs_source_name(const ifs_source *s) { return s->name; }

int ifs_source_mtime(const ifs_source *s, struct timespec *ts)
{
	if (!s->has_mtime)
		return -ENOENT;
	*ts = s->mtime;
	return 0;
}

ssize_t ifs_source_pread(ifs_source *s, void *buf, size_t len, uint64_t off, ifs_err *err)
{
	if (off >= s->size || len == 0)
		return 0;
	if (len > s->size - off)
		len = (size_t)(s->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	return s->ops->pread(s, buf, len, off, err);
}

void ifs_source_hint(ifs_source *s, uint64_t off, uint64_t len)
{
	if (!s->ops->hint || off >= s->size || len == 0)
		return;
	if (len > s->size - off)
		len = s->size - off;
	s->ops->hint(s, off, len);
}

void ifs_source_pass(ifs_source *s)
{
	if (s && s->ops->pass)
		s->ops->pass(s);
}

void ifs_source_close(ifs_source *s)
{
	if (s)
		s->ops->close(s);
}

/* ---- options --------------------------------------------------------------- */

static int parse_size(const char *v, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || *v == '-')
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')   /* KiB, KB */
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || (shift && n > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)n << shift;
	return 0;
}

static int parse_uint(const char *v, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || n > max)
		return -1;
	*out = n;
	return 0;
}

int ifs_source_opt(ifs_source_opts *o, const char *key, const char *val, ifs_err *err)
{
	static const char *const flags[] = { "no_sign_request", "requester_pays", "nocache" };
	for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
		if (strcmp(key, flags[i]) == 0 && val)
			return ifs_err_set(err, EINVAL, "option %s takes no value", key);
	static const char *const valued[] = { "cacert", "region", "endpoint", "timeout",
					      "max_conns", "cache", "cache_size" };
	for (size_t i = 0; i < sizeof valued / sizeof *valued; i++)
		if (strcmp(key, valued[i]) == 0 && (!val || !*val))
			return ifs_err_set(err, EINVAL, "option %s needs a value (%s=...)", key, key);

	unsigned long n;
	if (strcmp(key, "no_sign_request") == 0) {
		o->no_sign_request = 1;
	} else if (strcmp(key, "requester_pays") == 0) {
		o->requester_pays = 1;
	} else if (strcmp(key, "nocache") == 0) {
		o->cache_dir = NULL;
	} else if (strcmp(key, "cacert") == 0) {
		o->cacert = val;
	} else if (strcmp(key, "region") == 0) {
		for (const char *p = val; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
				return ifs_err_set(err, EINVAL, "region=%s: not a region name "
						   "(lowercase letters, digits and '-')", val);
		o->region = val;
	} else if (strcmp(key, "endpoint") == 0) {
		if (strncmp(val, "http://", 7) && strncmp(val, "https://", 8))
			return ifs_err_set(err, EINVAL, "endpoint=: not an http:// or https:// URL");
		o->endpoint = val;
	} else if (strcmp(key, "timeout") == 0) {
		if (parse_uint(val, 86400, &n) || n == 0)
			return ifs_err_set(err, EINVAL, "timeout=%s: not a number of seconds "
					   "from 1 to 86400", val);
		o->timeout_ms = (unsigned)n * 1000u;
	} else if (strcmp(key, "max_conns") == 0) {
		if (parse_uint(val, 1024, &n) || n == 0)
			return ifs_err_set(err, EINVAL, "max_conns=%s: not a number from 1 to 1024",
					   val);
		o->max_conns = (unsigned)n;
	} else if (strcmp(key, "cache") == 0) {
		o->cache_dir = val;
	} else if (strcmp(key, "cache_size") == 0) {
		uint64_t sz;
		if (parse_size(val, &sz))
			return ifs_err_set(err, EINVAL, "cache_size=%s: not a size (e.g. 20G)", val);
		o->cache_size = sz;
	} else {
		return ifs_err_set(err, EINVAL, "unknown option %s", key);
	}
	return 0;
}

/* ---- origins --------------------------------------------------------------- */

enum origin_kind { ORIGIN_DIR, ORIGIN_HTTP, ORIGIN_S3 };

struct ifs_origin {
	enum origin_kind kind;
	char *base;                  /* as given, with a trailing '/' for URLs */
	ifs_http *http;
	struct ifs_s3 *s3;
	ifs_cache *cache;
	ifs_statmemo *memo;
	struct ifs_counters counters;
};

/* A URL prefix that is safe to append names to and to print. */
static int check_url(const char *u, ifs_err *err)
{
	const char *host = strstr(u, "://");
	if (!host)
		return ifs_err_set(err, EINVAL, "%s: not a URL", u);
	host += 3;
	size_t hl = strcspn(host, "/");
	if (memchr(host, '@', hl))
		return ifs_err_set(err, EINVAL, "a URL with user:password@ is refused (give "
				   "credentials through the environment)");
	if (hl == 0)
		return ifs_err_set(err, EINVAL, "%s: no host", u);
	for (const char *p = u; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '?' || *p == '#' || *p == '\\')
			return ifs_err_set(err, EINVAL, "%.200s: a URL prefix may not hold spaces, "
					   "control bytes, '?', '#' or '\\'", u);
	return 0;
}

int ifs_origin_open(const char *base, const ifs_source_opts *o, ifs_origin **out, ifs_err *err)
{
	static const ifs_source_opts none;
	if (!o)
		o = &none;
	*out = NULL;
	ifs_origin *g = calloc(1, sizeof *g);
	if (!g)
		return ifs_err_set(err, ENOMEM, "out of memory");
	int r = 0;
	int is_http = strncmp(base, "http://", 7) == 0 || strncmp(base, "https://", 8) == 0;
	int is_s3 = strncmp(base, "s3://", 5) == 0;
	if (!is_http && !is_s3) {
		g->kind = ORIGIN_DIR;
		if (!(g->base = strdup(base)))
			goto nomem;
		*out = g;
		return 0;
	}
	if ((r = check_url(base, err)))
		goto fail;
	size_t bl = strlen(base);
	if (asprintf(&g->base, "%s%s", base, bl && base[bl - 1] == '/' ? "" : "/") < 0) {
		g->base = NULL;
		goto nomem;
	}
	if (is_http) {
		g->kind = ORIGIN_HTTP;
		struct ifs_http_cfg cfg = {
			.cacert = o->cacert, .timeout_ms = o->timeout_ms, .max_conns = o->max_conns,
			.https_only = strncmp(base, "https://", 8) == 0, .follow_redirects = 1,
			.log = o->log, .log_ctx = o->log_ctx, .counters = &g->counters,
		};
		if ((r = ifs_http_new(&cfg, &g->http, err)))
			goto fail;
	} else {
		g->kind = ORIGIN_S3;
		if ((r = ifs_s3_origin(g->base, o, &g->counters, &g->s3, &g->http, err)))
			goto fail;
	}
	if (ifs_statmemo_new(&g->memo))
		goto nomem;
	if (o->cache_dir) {
		uint64_t cap = o->cache_size ? o->cache_size : IFS_CACHE_DEFAULT_SIZE;
		if ((r = ifs_cache_open(o->cache_dir, cap, &g->cache, err)))
			goto fail;
	}
	*out = g;
	return 0;
nomem:
	r = ifs_err_set(err, ENOMEM, "out of memory");
fail:
	ifs_origin_close(g);
	return r;
}

/* Percent-encodes a name for a URL path (it has no '/': the caller checked). */
static int name_url(const char *prefix, const char *name, char **out)
{
	ifs_buf b = { 0 };
	if (ifs_buf_adds(&b, prefix) || ifs_uri_encode(&b, name, strlen(name), 0)) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	return 0;
}

int ifs_origin_source(ifs_origin *g, const char *name, ifs_source **out, ifs_err *err)
{
	*out = NULL;
	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return ifs_err_set(err, EINVAL, "%s: not a plain file name", name);
	int r;
	ifs_source *s = NULL;
	if (g->kind == ORIGIN_DIR) {
		char *path;
		size_t bl = strlen(g->base);
		if (asprintf(&path, "%s%s%s", g->base, bl && g->base[bl - 1] == '/' ? "" : "/",
			     name) < 0)
			return ifs_err_set(err, ENOMEM, "out of memory");
		r = ifs_source_open_file(path, 0, out, err);
		free(path);
		return r;
	}
	char *url = NULL, *display = NULL;
	if (g->kind == ORIGIN_HTTP) {
		if (name_url(g->base, name, &url)) {
			r = ifs_err_set(err, ENOMEM, "out of memory");
			goto out;
		}
		if (!(display = strdup(url))) {
			r = ifs_err_set(err, ENOMEM, "out of memory");
			goto out;
		}
	} else if ((r = ifs_s3_url(g->s3, name, &url, &display, err))) {
		goto out;
	}
	if ((r = ifs_http_source_open(g->http, g->memo, url, display, &s, err)))
		goto out;
	/* the read-ahead over the cache: what it fetches is kept whole, read or
	 * not (a cursor's hinted range runs a little past where its member's
	 * decoding stops), and a later hint of it is served from disk */
	if (g->cache && (r = ifs_cache_wrap(g->cache, s, &s, err)))
		goto out;   /* s is closed */
	if ((r = ifs_readahead_wrap(s, &s, err)))
		goto out;   /* s is closed */
	*out = s;
out:
	free(url);
	free(display);
	return r;
}

int ifs_origin_is_remote(const ifs_origin *g) { return g->kind != ORIGIN_DIR; }
const char *ifs_origin_base(const ifs_origin *g) { return g->base; }

void ifs_origin_stats(const ifs_origin *g, ifs_source_stats *out)
{
	memset(out, 0, sizeof *out);
	out->requests = atomic_load(&g->counters.requests);
	out->retries = atomic_load(&g->counters.retries);
	out->bytes_fetched = atomic_load(&g->counters.bytes);
	if (g->cache) {
		out->caches = 1;
		ifs_cache_stats(g->cache, out);
	}
}

void ifs_origin_close(ifs_origin *g)
{
	if (!g)
		return;
	ifs_cache_close(g->cache);
	ifs_statmemo_free(g->memo);
	ifs_http_free(g->http);
	ifs_s3_free(g->s3);
	free(g->base);
	free(g);
}

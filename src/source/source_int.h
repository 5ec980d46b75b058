/*
 * source_int.h - what the files of src/source share: the source's method
 * table (each kind embeds struct ifs_source first), the counters of an
 * origin, and the HTTP transport, S3 signing and credentials they build on.
 */
#ifndef INATFS_SOURCE_INT_H
#define INATFS_SOURCE_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "inatfs/buf.h"
#include "inatfs/source.h"

struct curl_slist;

struct ifs_source_ops {
	ssize_t (*pread)(ifs_source *s, void *buf, size_t len, uint64_t off, ifs_err *err);
	void (*hint)(ifs_source *s, uint64_t off, uint64_t len);   /* may be NULL */
	void (*close)(ifs_source *s);
	void (*pass)(ifs_source *s);   /* ifs_source_pass; NULL: nothing to do */
	/* Narrows [*off, *off + *len) to the part a pread of it would fetch from
	 * further away (*len 0: none, it is all at hand), for a read-ahead over
	 * this source. NULL: all of it. */
	void (*to_fetch)(ifs_source *s, uint64_t *off, uint64_t *len);
};

struct ifs_source {
	const struct ifs_source_ops *ops;
	uint64_t size;
	char *identity;   /* malloc'd */
	char *name;       /* malloc'd */
	int has_mtime;    /* mtime is known (ifs_source_mtime) */
	struct timespec mtime;
};

/* Fills the common part; takes nothing over on failure. */
int ifs_source_init(ifs_source *s, const struct ifs_source_ops *ops, uint64_t size,
		    const char *identity, const char *name, ifs_err *err);
/* Frees the common part (not s itself). */
void ifs_source_fini(ifs_source *s);

/* Printable ASCII only, at most max bytes: what a server sent, made safe to
 * put in an identity or a message (malloc'd; NULL: out of memory). */
char *ifs_printable(const char *s, size_t len, size_t max);

/* ---- counters ------------------------------------------------------------- */

struct ifs_counters {
	_Atomic uint64_t requests, retries, bytes;
};

/* ---- response parsing (httpresp.c): every byte from a server is hostile --- */

#define IFS_HDR_VAL_MAX 256

struct ifs_http_resp {
	long status;              /* of the last status line */
	int has_range;            /* a valid Content-Range */
	int range_unsat;          /* "bytes * /TOTAL" */
	uint64_t first, last, total;
	int total_unknown;        /* "bytes A-B/ *" */
	int has_length;
	uint64_t length;          /* Content-Length */
	int bad_header;           /* a header we rely on could not be parsed */
	char etag[IFS_HDR_VAL_MAX];
	char last_modified[IFS_HDR_VAL_MAX];
	char encoding[64];        /* Content-Encoding */
	char region[64];          /* x-amz-bucket-region */
};

void ifs_http_resp_reset(struct ifs_http_resp *r);
/* One header line as the server sent it (with or without CRLF). A status
 * line ("HTTP/...") starts a new response: everything before is dropped. */
void ifs_http_resp_line(struct ifs_http_resp *r, const char *line, size_t len);
/* Parses "bytes A-B/T", "bytes A-B/ *", "bytes * /T" strictly. 0 or -1. */
int ifs_http_content_range(const char *v, size_t len, struct ifs_http_resp *r);
/* The <Code> and <Message> of an S3-style XML error body, as "Code: Message"
 * in printable ASCII (out gets "" when there is none). */
void ifs_http_error_text(const char *body, size_t len, char *out, size_t outlen);

/* ---- the HTTP transport (http.c) ------------------------------------------ */

typedef struct ifs_http ifs_http;

/* Adds per-request headers (signing); 0 or a negative errno. */
typedef int (*ifs_http_sign_fn)(void *ctx, const char *method, const char *url,
				const char *range, struct curl_slist **headers, ifs_err *err);

struct ifs_http_cfg {
	const char *cacert;
	unsigned timeout_ms, max_conns;
	int https_only;              /* redirects may only go to https */
	int follow_redirects;
	ifs_http_sign_fn sign;       /* NULL: anonymous */
	void *sign_ctx;
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
	struct ifs_counters *counters;
};

int ifs_http_new(const struct ifs_http_cfg *cfg, ifs_http **out, ifs_err *err);
void ifs_http_free(ifs_http *h);

/* What an object was when opened. */
struct ifs_http_obj {
	char *url;            /* what is fetched */
	char *display;        /* what messages name */
	uint64_t size;
	char *etag;           /* NULL: none (a weak one counts as none) */
	char *last_modified;  /* NULL: none */
};

/* Learns size, ETag and Last-Modified with a GET of byte 0. Fills obj
 * (url and display copied). -ENOENT, -EACCES, -EIO, ... with a message. */
int ifs_http_stat(ifs_http *h, const char *url, const char *display,
		  struct ifs_http_obj *obj, ifs_err *err);
void ifs_http_obj_free(struct ifs_http_obj *obj);

/* Exactly [off, off + len) of obj into buf (within its size), with retries
 * until the deadline. 0 or a negative errno. */
int ifs_http_get(ifs_http *h, const struct ifs_http_obj *obj, void *buf, uint64_t off,
		 size_t len, ifs_err *err);

/* What an origin's objects were when last opened, for IFS_STATMEMO_S
 * seconds (statmemo.c: why that is safe). get: 1 and obj filled (a copy,
 * display the caller's) when url was opened that recently, 0 when not,
 * -ENOMEM. put: remembers obj (nothing on failure). */
#define IFS_STATMEMO_S 30u
typedef struct ifs_statmemo ifs_statmemo;
int ifs_statmemo_new(ifs_statmemo **out);
void ifs_statmemo_free(ifs_statmemo *m);
int ifs_statmemo_get(ifs_statmemo *m, const char *url, const char *display,
		     struct ifs_http_obj *obj);
void ifs_statmemo_put(ifs_statmemo *m, const struct ifs_http_obj *obj);

/* The http(s) source of an object (http_source.c); memo may be NULL. */
int ifs_http_source_open(ifs_http *h, ifs_statmemo *memo, const char *url, const char *display,
			 ifs_source **out, ifs_err *err);

/* ---- read-ahead (readahead.c) --------------------------------------------- */

/* A source that serves inner's hints from memory segments fetched on
 * background threads. Takes ownership of inner. */
int ifs_readahead_wrap(ifs_source *inner, ifs_source **out, ifs_err *err);
/* The segments a read-ahead source has queued since it was opened. */
uint64_t ifs_readahead_segments(ifs_source *ra);

/* ---- the cache's blocks (cache.c), for the cached source (cached.c) ------ */

struct ident;
/* The cache's handle on a source identity (its folder made if new). 0, or
 * a negative errno: then the source is not cached. */
int ifs_cache_ident(ifs_cache *c, const char *identity, struct ident **out);
/* Blocks first..first+n-1, of which [lo[i], hi[i]) is wanted (offsets in
 * the block): each block whose held run covers that has the run's bytes at
 * their place in buf + i * IFS_CACHE_BLOCK, and present[i] set to 1. A run
 * that fails its check is forgotten. Returns how many were found. */
unsigned ifs_cache_get(ifs_cache *c, struct ident *id, uint64_t first, unsigned n,
		       const uint32_t *lo, const uint32_t *hi, uint8_t *buf, uint8_t *present);
/* [off, off + len) of the source into buf when the cache holds every byte
 * of it: 1, each run it touches read whole and checked (one preadv per
 * chunk: the bytes wanted straight into buf), or taken from the run the
 * calling thread's last read ended in, as that read checked it; 0 when a
 * block is not held or a run failed its check (forgotten), buf's bytes then
 * undefined. */
int ifs_cache_read(ifs_cache *c, struct ident *id, uint64_t off, size_t len, uint8_t *buf);
/* Whether the cache holds [lo, hi) of block as far as its table says (not
 * read nor checked: for hints). */
int ifs_cache_has(ifs_cache *c, struct ident *id, uint64_t block, uint32_t lo, uint32_t hi);
/* Whether any of blocks first .. first + n - 1 holds a run, as far as the
 * table says. */
int ifs_cache_holds_any(ifs_cache *c, struct ident *id, uint64_t first, uint64_t n);
/* The run of block held, as far as the table says: 1 and *start, *len, or 0. */
int ifs_cache_run(ifs_cache *c, struct ident *id, uint64_t block, uint32_t *start,
		  uint32_t *len);
/* Keeps [start, start + len) of one block, joined to the run held when the
 * two touch (best effort: a full disk just keeps nothing). */
void ifs_cache_put(ifs_cache *c, struct ident *id, uint64_t block, uint32_t start,
		   const uint8_t *data, uint32_t len);
void ifs_cache_count_miss(ifs_cache *c, unsigned blocks);

/* ---- S3 (sigv4.c, s3.c, creds.c) ------------------------------------------ */

struct ifs_aws_creds {
	char *key_id, *secret, *token;   /* token may be NULL */
};

/* From the environment, else the shared credentials file. 1 found, 0 none,
 * or a negative errno (an unreadable or malformed file: the message names
 * the file and line, never a value). */
int ifs_aws_creds_load(struct ifs_aws_creds *c, ifs_err *err);
/* Parses a credentials file's text for profile; same returns. */
int ifs_aws_creds_parse(const char *text, size_t len, const char *file, const char *profile,
			struct ifs_aws_creds *c, ifs_err *err);
void ifs_aws_creds_free(struct ifs_aws_creds *c);   /* wipes the secrets */

struct ifs_sigv4_hdr { const char *name, *value; };

struct ifs_sigv4_req {
	const char *method;
	const char *path;          /* URI-encoded as sent, e.g. "/bucket/a%20b" */
	const char *query;         /* raw query without '?', NULL or "" for none */
	const struct ifs_sigv4_hdr *headers;   /* every header to sign, host included */
	size_t nheaders;
	const char *payload_hash;  /* hex SHA-256 of the body */
	const char *amz_date;      /* YYYYMMDDTHHMMSSZ */
	const char *region, *service;
	const char *key_id, *secret;
};

/* The Authorization header's value ("AWS4-HMAC-SHA256 Credential=...").
 * Returns 0, or -EINVAL / -ENOMEM / -ENOSPC (out too small). */
int ifs_sigv4_authorization(const struct ifs_sigv4_req *q, char *out, size_t outlen);
/* An s3://bucket/prefix/ origin: its settings, credentials and the
 * transport that signs with them (s3.c). */
struct ifs_s3;
int ifs_s3_origin(const char *base, const ifs_source_opts *o, struct ifs_counters *counters,
		  struct ifs_s3 **out, ifs_http **http, ifs_err *err);
/* The URL of name under the prefix, and its s3://bucket/key for messages. */
int ifs_s3_url(struct ifs_s3 *s, const char *name, char **url, char **display, ifs_err *err);
void ifs_s3_free(struct ifs_s3 *s);

/* Lowercase hex SHA-256 of data (out: 65 bytes). */
void ifs_sha256_hex(const void *data, size_t len, char out[65]);
/* Appends s to out, percent-encoded as SigV4 wants (unreserved kept;
 * '/' kept when keep_slash). Returns 0 or -ENOMEM. */
int ifs_uri_encode(struct ifs_buf *out, const char *s, size_t len, int keep_slash);

#endif

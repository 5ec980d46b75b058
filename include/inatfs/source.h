/*
 * source.h - where an archive's bytes come from: a local file, or an object
 * behind an http(s):// or s3:// URL prefix.
 *
 * A source is one file: its size, an identity that changes whenever its bytes
 * may have (a local file: size, mtime and inode; a remote object: size, ETag
 * and Last-Modified), pread of a range, and a hint of ranges about to be
 * read. Nothing above a source needs to know where the bytes come from.
 *
 * An origin is the place the files live, given as one string: a local
 * directory (DATA_DIR), `http(s)://host[:port]/prefix/` or
 * `s3://bucket/prefix/`. Sources are opened from it by name (a plain file
 * name: no '/', not "." or ".."). A remote origin holds what its sources
 * share: the pool of kept-alive connections, credentials, the cache of
 * fetched bytes and the counters.
 *
 * Remote reads are ranged GETs. Every GET names the object as it was when
 * the source was opened (If-Match with its ETag, else If-Unmodified-Since
 * with its Last-Modified), and every response is checked (status,
 * Content-Range, ETag, length, exact body size): a replaced object gives
 * -EIO, never the new object's bytes. 5xx, 408/429, connection failures,
 * stalls and short bodies are retried with exponential backoff and jitter
 * until the read's deadline (opts.timeout_ms); then the read fails with -EIO
 * and one log line naming the URL, the range and the last status. TLS is
 * always verified; a redirect from https to http is refused. Credentials
 * never appear in a message, a log line, an identity or a name.
 *
 * Thread safety: every function on an open source or origin may be called
 * from many threads at once (pread, hint, size, identity, name, stats);
 * opening and closing are not concurrent with other use of the same object.
 * Errors: 0 or a byte count on success, a negative errno on failure with
 * *err filled (see err.h); messages name the file or URL.
 */
#ifndef INATFS_SOURCE_H
#define INATFS_SOURCE_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "inatfs/err.h"

typedef struct ifs_source ifs_source;
typedef struct ifs_origin ifs_origin;
typedef struct ifs_cache ifs_cache;

/* ---- options -------------------------------------------------------------- */

#define IFS_SOURCE_TIMEOUT_MS 60000u            /* a read's default deadline */
#define IFS_SOURCE_MAX_CONNS 32u                /* default connection pool size */
#define IFS_CACHE_DEFAULT_SIZE (16ull << 30)    /* default cache cap */

typedef struct ifs_source_opts {
	const char *cacert;      /* PEM file of the CAs to trust instead of the system's */
	const char *region;      /* s3: NULL = $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1 */
	const char *endpoint;    /* s3: http(s)://host[:port], path-style; NULL = AWS */
	int no_sign_request;     /* s3: anonymous requests */
	int requester_pays;      /* s3: send x-amz-request-payer: requester */
	unsigned timeout_ms;     /* deadline of one read, retries included; 0 = default */
	unsigned max_conns;      /* connections kept per origin; 0 = default */
	const char *cache_dir;   /* remote: cache of fetched bytes; NULL = none */
	uint64_t cache_size;     /* its cap in bytes; 0 = IFS_CACHE_DEFAULT_SIZE */
	/* Where a read that failed for good says so (one line, no newline); NULL:
	 * stderr. Called from the reading thread. */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
} ifs_source_opts;

/*
 * Sets one option from its -o form: cacert=FILE, region=R, endpoint=URL,
 * no_sign_request, requester_pays, timeout=SECONDS, max_conns=N, cache=DIR,
 * cache_size=SIZE (K/M/G/T suffixes), nocache. String values point into val,
 * which must outlive o. Returns 0, or -EINVAL for an unknown key or a bad
 * value (the message names it). Never echoes a value that could be secret.
 */
int ifs_source_opt(ifs_source_opts *o, const char *key, const char *val, ifs_err *err);

/* ---- sources -------------------------------------------------------------- */

/*
 * Opens a local file. nofollow: refuse a symbolic link (-ELOOP). Anything
 * but a regular file is refused (-EINVAL); a FIFO never blocks the open.
 */
int ifs_source_open_file(const char *path, int nofollow, ifs_source **out, ifs_err *err);

/*
 * The same over a descriptor already open (and checked: trust.h) on a
 * regular file; name is what messages call it. Takes the descriptor over:
 * it is closed with the source, or at once on failure.
 */
int ifs_source_open_fd(int fd, const char *name, ifs_source **out, ifs_err *err);

uint64_t ifs_source_size(const ifs_source *s);

/*
 * A string that differs whenever the bytes may differ: "file:SIZE:MTIME:INODE"
 * or "http:SIZE:ETAG:LAST-MODIFIED" (the ETag and date as the server sent
 * them, sanitised to printable ASCII). Valid until close.
 */
const char *ifs_source_identity(const ifs_source *s);

/* The path or URL for messages (an s3 source: s3://bucket/key). */
const char *ifs_source_name(const ifs_source *s);

/*
 * When the bytes last changed, where the source knows it (a local file: its
 * mtime; a remote object: its Last-Modified, to the second): 0 and *ts, or
 * -ENOENT when it does not.
 */
int ifs_source_mtime(const ifs_source *s, struct timespec *ts);

/*
 * Reads len bytes at off into buf. Returns len, fewer only where the file
 * ends (0 at or past its end), or a negative errno (-EIO for a read that
 * could not be served: a replaced object, a bad response, the deadline).
 */
ssize_t ifs_source_pread(ifs_source *s, void *buf, size_t len, uint64_t off, ifs_err *err);

/*
 * Says that [off, off + len) will be read soon, in order. A local file
 * passes it to the kernel (POSIX_FADV_WILLNEED); a remote source fetches it
 * ahead, in segments on background threads, so that the preads that follow
 * find it in memory (at most IFS_READAHEAD_MAX bytes ahead per source).
 * Never fails: a segment that cannot be fetched is read again by the pread
 * that wants it.
 */
#define IFS_READAHEAD_MAX (64u << 20)
void ifs_source_hint(ifs_source *s, uint64_t off, uint64_t len);

/*
 * Says that s will be read through once (a scan): a cache under it keeps
 * none of what it fetches for s (it still serves what it holds), so that a
 * first scan does not write the whole archive through the cache's cap.
 */
void ifs_source_pass(ifs_source *s);

void ifs_source_close(ifs_source *s);

/* ---- origins -------------------------------------------------------------- */

/*
 * Opens where the files live: a local directory, or an http(s):// or s3://
 * prefix (a trailing '/' is added if missing). Nothing is fetched yet, except
 * that an s3 origin that signs reads its credentials (the environment's
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, else profile
 * $AWS_PROFILE or "default" of $AWS_SHARED_CREDENTIALS_FILE or
 * ~/.aws/credentials) and fails with -EACCES when there are none. A URL with
 * user:password@, a query or a fragment is refused. o may be NULL.
 */
int ifs_origin_open(const char *base, const ifs_source_opts *o, ifs_origin **out, ifs_err *err);

/*
 * Opens the file named name under the origin: one HEAD request for a remote
 * one, which also checks that the server can be reached and answers (a
 * missing file is -ENOENT, a refused one -EACCES, with the server's reason).
 * A remote source reads through the origin's cache, if it has one.
 */
int ifs_origin_source(ifs_origin *g, const char *name, ifs_source **out, ifs_err *err);

int ifs_origin_is_remote(const ifs_origin *g);

/* The base as given, without credentials, for messages. */
const char *ifs_origin_base(const ifs_origin *g);

typedef struct ifs_source_stats {
	uint64_t requests;       /* HTTP requests sent, retries and HEADs included */
	uint64_t retries;        /* of those, repeats after a failed attempt */
	uint64_t bytes_fetched;  /* body bytes received */
	uint64_t cache_hits;     /* cache blocks served from disk */
	uint64_t cache_misses;   /* cache blocks fetched */
	uint64_t cache_bad;      /* blocks that failed their checksum (fetched again) */
	uint64_t cache_bytes;    /* bytes the cache holds now */
	uint64_t caches;         /* origins reading through a cache (0: none has one) */
} ifs_source_stats;

void ifs_origin_stats(const ifs_origin *g, ifs_source_stats *out);

/* Frees the origin; every source opened from it must be closed first. */
void ifs_origin_close(ifs_origin *g);

/* ---- the cache of fetched bytes ------------------------------------------- */

/*
 * Blocks of IFS_CACHE_BLOCK bytes of a source, keyed by the source's
 * identity and the block's offset, kept in DIR in chunk files of
 * IFS_CACHE_CHUNK_BLOCKS blocks, evicted whole chunks at a time, least
 * recently used first, to stay under the cap. Each block carries its CRC-32
 * in its chunk's header, written after the block: a block whose bytes do not
 * match (a write cut short by a crash, a changed file) is fetched again,
 * never served. One process uses a directory at a time (-EBUSY otherwise).
 */
#define IFS_CACHE_BLOCK (32u << 10)
#define IFS_CACHE_CHUNK_BLOCKS 128u

int ifs_cache_open(const char *dir, uint64_t cap, ifs_cache **out, ifs_err *err);

/*
 * A source that reads inner through the cache: a pread is served from the
 * blocks held, and the blocks missing are read from inner in one pread (the
 * whole blocks around the range) and kept. Takes ownership of inner (closed
 * with the result, or at once on failure). The cache must outlive it.
 */
int ifs_cache_wrap(ifs_cache *c, ifs_source *inner, ifs_source **out, ifs_err *err);

/* Adds the cache's counters (hits, misses, bad, bytes) to *st. */
void ifs_cache_stats(const ifs_cache *c, ifs_source_stats *st);

void ifs_cache_close(ifs_cache *c);

#endif

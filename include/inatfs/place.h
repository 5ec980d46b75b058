/*
 * place.h - the downloads' place, as one string everywhere above the sources:
 * DATA_DIR (a local folder) or a URL prefix (http://, https://,
 * s3://bucket/prefix). A download is named by the place and its file name
 * joined with '/', so "DIR/test2017.zip" and "https://host/2017/test2017.zip"
 * are opened alike.
 *
 * A local file is opened as trusted input (trust.h). A URL is opened from an
 * origin (source.h) that this module keeps for the process, one per URL
 * prefix, with the options set by ifs_place_configure: the pool of
 * connections, credentials and the cache are shared by every source opened
 * under it. Whether a remote file is there is asked once per process.
 *
 * Thread safety: ifs_place_configure before any other call; the rest may be
 * called from any thread.
 */
#ifndef INATFS_PLACE_H
#define INATFS_PLACE_H

#include <stdint.h>

#include "inatfs/err.h"
#include "inatfs/source.h"

/* 1 if p is an http://, https:// or s3:// URL. */
int ifs_place_is_url(const char *p);

/*
 * The options of every remote origin opened from now on (copied). With
 * o->cache_dir set and that folder in use by another process, origins read
 * without a cache (and say so once through o->log or on stderr).
 */
int ifs_place_configure(const ifs_source_opts *o, ifs_err *err);

/*
 * A place as given on the command line, in the form the paths are joined
 * from: a URL loses its trailing '/'s (malloc'd in *out). A local path is
 * kept as given.
 */
int ifs_place_normalize(const char *place, char **out, ifs_err *err);

/*
 * Opens the download at path (a local path, or a URL). Local: trust.h's
 * checks, then a source over the descriptor. Remote: one request (the
 * object's size and identity), -ENOENT when it is not there. Errors name
 * the path or URL.
 */
int ifs_place_open(const char *path, ifs_source **out, ifs_err *err);

/* 1 if the download at path is there, 0 if not, or a negative errno (a
 * server that cannot be reached, a refusal) with err set. */
int ifs_place_exists(const char *path, ifs_err *err);

/* The counters of every remote origin opened so far (all zero: none). */
void ifs_place_stats(ifs_source_stats *st);

/* Closes the origins; every source opened from them must be closed first. */
void ifs_place_shutdown(void);

#endif

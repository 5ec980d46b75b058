/*
 * zip.c - reading annotation JSON out of the downloaded zips (libarchive).
 *
 * Only libarchive's seekable zip reader is enabled: it works from the central
 * directory, so a zip cut short (central directory gone) is reported as
 * corrupt instead of being half read by the streaming reader. Entries are
 * read whole into memory, at most ifs_zip_entry_max bytes (the buffer never
 * grows past that, whatever the entry inflates to); libarchive checks
 * each entry's CRC as it is read. Encrypted entries fail to read (-EIO).
 * The zip's bytes come from a source (source.h) through libarchive's read,
 * seek and skip callbacks.
 */
#include "catalog_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "inatfs/place.h"
#include "inatfs/trust.h"

/* First allocation for an entry, whatever size its header claims. */
#define FIRST_CHUNK ((size_t)64 << 20)

size_t ifs_zip_entry_max = IFS_ZIP_ENTRY_MAX;

size_t ifs_zip_next_cap(size_t cap, size_t max)
{
	return cap >= max / 2 + 1 ? max + 2 : cap * 2;
}

static const char *aerr(struct archive *a)
{
	const char *s = archive_error_string(a);
	return s ? s : "unknown libarchive error";
}

/* libarchive reads the zip through these, from a source. A zip up to
 * ZWHOLE is read whole first: libarchive reads 64 KiB at a time, at the
 * start, the end, then the start again, and each read of a remote zip would
 * be a request (the downloads' zips are 27 MB at most). */
#define ZBUF (1u << 16)
#define ZWHOLE (64u << 20)
struct zsrc {
	ifs_source *src;
	uint64_t pos;
	uint8_t *all;   /* the whole zip, or NULL */
	uint64_t size;
	uint8_t buf[ZBUF];
};

static la_ssize_t z_read(struct archive *a, void *ud, const void **buf)
{
	struct zsrc *z = ud;
	if (z->all) {
		uint64_t n = z->pos < z->size ? z->size - z->pos : 0;
		if (n > ZBUF)
			n = ZBUF;
		*buf = z->all + z->pos;
		z->pos += n;
		return (la_ssize_t)n;
	}
	ifs_err e;
	ifs_err_clear(&e);
	ssize_t n = ifs_source_pread(z->src, z->buf, ZBUF, z->pos, &e);
	if (n < 0) {
		archive_set_error(a, -(int)n, "%s", e.msg);
		return -1;
	}
	z->pos += (uint64_t)n;
	*buf = z->buf;
	return n;
}

static la_int64_t z_seek(struct archive *a, void *ud, la_int64_t off, int whence)
{
	struct zsrc *z = ud;
	int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)z->pos
		       : (int64_t)ifs_source_size(z->src);
	if ((whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) ||
	    (off < 0 && -off > base) || (off > 0 && off > INT64_MAX - base)) {
		archive_set_error(a, EINVAL, "seek out of range");
		return ARCHIVE_FATAL;
	}
	z->pos = (uint64_t)(base + off);
	return (la_int64_t)z->pos;
}

static la_int64_t z_skip(struct archive *a, void *ud, la_int64_t n)
{
	struct zsrc *z = ud;
	(void)a;
	uint64_t size = ifs_source_size(z->src);
	uint64_t left = z->pos < size ? size - z->pos : 0;
	uint64_t k = n > 0 ? ((uint64_t)n < left ? (uint64_t)n : left) : 0;
	z->pos += k;
	return (la_int64_t)k;
}

static void zfree(struct zsrc *z)
{
	if (z)
		free(z->all);
	free(z);
}

/* what: the entry looked for, named in messages (may be NULL). *z is freed
 * by the caller (zfree), after archive_read_free. */
static int zopen(ifs_source *src, const char *what, struct archive **out, struct zsrc **z,
		 ifs_err *err)
{
	const char *zip_path = ifs_source_name(src);
	*out = NULL;
	if (!(*z = calloc(1, sizeof **z)))
		return ifs_err_set(err, ENOMEM, "%s: out of memory", zip_path);
	(*z)->src = src;
	uint64_t size = ifs_source_size(src);
	if (size <= ZWHOLE && size > 0) {
		uint8_t *all = malloc(size);
		if (!all)
			return ifs_err_set(err, ENOMEM, "%s: out of memory", zip_path);
		ssize_t n = ifs_source_pread(src, all, size, 0, err);
		if (n != (ssize_t)size) {
			free(all);
			return n < 0 ? (int)n : ifs_err_set(err, EIO, "%s: shorter than its size",
							    zip_path);
		}
		(*z)->all = all;
		(*z)->size = size;
	}
	struct archive *a = archive_read_new();
	if (!a)
		return ifs_err_set(err, ENOMEM, "%s: out of memory", zip_path);
	if (archive_read_support_format_zip_seekable(a) != ARCHIVE_OK ||
	    archive_read_set_read_callback(a, z_read) != ARCHIVE_OK ||
	    archive_read_set_seek_callback(a, z_seek) != ARCHIVE_OK ||
	    archive_read_set_skip_callback(a, z_skip) != ARCHIVE_OK ||
	    archive_read_set_callback_data(a, *z) != ARCHIVE_OK ||
	    archive_read_open1(a) != ARCHIVE_OK) {
		int r = ifs_err_set(err, EIO, "%s: %s%snot a readable zip: %s", zip_path,
				    what ? what : "", what ? ": " : "", aerr(a));
		archive_read_free(a);
		return r;
	}
	*out = a;
	return 0;
}

/* The zip at zip_path (a local file as trusted input, trust.h; or a URL:
 * place.h), as a source. */
static int zsource(const char *zip_path, ifs_source **out, ifs_err *err)
{
	return ifs_place_open(zip_path, out, err);
}

/* Reads the current entry's data into a malloc'd, NUL-terminated buffer. */
static int read_data(struct archive *a, struct archive_entry *ae, const char *zip_path,
		     const char *entry, uint8_t **bufp, size_t *lenp, ifs_err *err)
{
	size_t max = ifs_zip_entry_max, cap = 1 << 16, n = 0;
	uint8_t *buf = NULL;
	int r = 0;

	*bufp = NULL;
	*lenp = 0;
	if (archive_entry_size_is_set(ae)) {
		int64_t sz = archive_entry_size(ae);
		if (sz < 0 || (uint64_t)sz > max)
			return ifs_err_set(err, EIO, "%s: %s: entry size %lld is over the %zu bytes "
					   "inatfs reads", zip_path, entry, (long long)sz, max);
		/* Trust the claim only so far: a hostile header could say 1 GiB. */
		cap = (size_t)sz + 1 < FIRST_CHUNK ? (size_t)sz + 1 : FIRST_CHUNK;
	}
	if (cap > max + 2)
		cap = max + 2;
	buf = malloc(cap);
	if (!buf)
		return ifs_err_set(err, ENOMEM, "%s: %s: out of memory", zip_path, entry);
	for (;;) {
		if (cap - n < 2) {
			/* n <= max here, so cap < max + 2: it may grow */
			size_t nc = ifs_zip_next_cap(cap, max);
			uint8_t *nb = realloc(buf, nc);
			if (!nb) {
				r = ifs_err_set(err, ENOMEM, "%s: %s: out of memory", zip_path, entry);
				goto out;
			}
			buf = nb;
			cap = nc;
		}
		/* Keep one byte free for the terminating NUL. */
		la_ssize_t got = archive_read_data(a, buf + n, cap - n - 1);
		if (got < 0) {
			r = ifs_err_set(err, EIO, "%s: %s: %s", zip_path, entry, aerr(a));
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > max) {   /* refused without reading on (a zip bomb?) */
			r = ifs_err_set(err, EIO, "%s: %s: entry larger than %zu bytes", zip_path,
					entry, max);
			goto out;
		}
	}
	buf[n] = 0;
	*bufp = buf;
	*lenp = n;
	buf = NULL;
out:
	free(buf);
	return r;
}

/* path is `base` or `DIR/base` with DIR one non-empty component. */
static int base_matches(const char *path, const char *base)
{
	size_t pl = strlen(path), bl = strlen(base);
	if (pl == bl)
		return strcmp(path, base) == 0;
	if (pl < bl + 2 || strcmp(path + pl - bl, base) != 0 || path[pl - bl - 1] != '/')
		return 0;
	return memchr(path, '/', pl - bl - 1) == NULL;
}

int ifs_zip_find(const char *zip_path, const char *name, ifs_zblob *out, ifs_err *err)
{
	struct archive *a = NULL;
	struct archive_entry *ae;
	ifs_zblob b = { 0 };
	ifs_source *src = NULL;
	struct zsrc *z = NULL;
	memset(out, 0, sizeof *out);
	int r = zsource(zip_path, &src, err);
	if (!r)
		r = zopen(src, name, &a, &z, err);
	if (r < 0)
		goto out;
	for (;;) {
		int h = archive_read_next_header(a, &ae);
		if (h == ARCHIVE_EOF)
			break;
		if (h != ARCHIVE_OK && h != ARCHIVE_WARN) {
			r = ifs_err_set(err, EIO, "%s: %s: corrupt zip: %s", zip_path, name, aerr(a));
			goto out;
		}
		const char *p = archive_entry_pathname(ae);
		if (!p || archive_entry_filetype(ae) != AE_IFREG || !base_matches(p, name))
			continue;
		if (b.entry) {
			r = ifs_err_set(err, EIO, "%s: two entries named %s: %s and %s", zip_path,
					name, b.entry, p);
			goto out;
		}
		b.entry = strdup(p);
		if (!b.entry) {
			r = ifs_err_set(err, ENOMEM, "%s: out of memory", zip_path);
			goto out;
		}
		b.mtime = archive_entry_mtime(ae);
		r = read_data(a, ae, zip_path, b.entry, &b.buf, &b.len, err);
		if (r < 0)
			goto out;
	}
	if (!b.entry) {
		r = ifs_err_set(err, ENOENT,
				"%s: %s: not in this zip (looked at the root and one folder deep)",
				zip_path, name);
		goto out;
	}
	*out = b;
	memset(&b, 0, sizeof b);
out:
	ifs_zblob_free(&b);
	archive_read_free(a);
	zfree(z);
	ifs_source_close(src);
	return r;
}

void ifs_zblob_free(ifs_zblob *b)
{
	if (!b)
		return;
	free(b->entry);
	free(b->buf);
	memset(b, 0, sizeof *b);
}

int ifs_zip_read_entry(const char *zip_path, const char *entry, uint8_t **buf, size_t *len,
		       ifs_err *err)
{
	ifs_source *src = NULL;
	*buf = NULL;
	*len = 0;
	int r = zsource(zip_path, &src, err);
	if (!r)
		r = ifs_zip_read_entry_source(src, entry, buf, len, err);
	ifs_source_close(src);
	return r;
}

int ifs_zip_read_entry_source(ifs_source *src, const char *entry, uint8_t **buf, size_t *len,
			      ifs_err *err)
{
	const char *zip_path = ifs_source_name(src);
	struct archive *a = NULL;
	struct archive_entry *ae;
	struct zsrc *z = NULL;
	*buf = NULL;
	*len = 0;
	int r = zopen(src, entry, &a, &z, err);
	if (r < 0)
		goto out;
	for (;;) {
		int h = archive_read_next_header(a, &ae);
		if (h == ARCHIVE_EOF)
			break;
		if (h != ARCHIVE_OK && h != ARCHIVE_WARN) {
			r = ifs_err_set(err, EIO, "%s: %s: corrupt zip: %s", zip_path, entry, aerr(a));
			goto out;
		}
		const char *p = archive_entry_pathname(ae);
		if (p && strcmp(p, entry) == 0 && archive_entry_filetype(ae) == AE_IFREG) {
			r = read_data(a, ae, zip_path, entry, buf, len, err);
			goto out;
		}
	}
	r = ifs_err_set(err, ENOENT, "%s: %s: no such entry", zip_path, entry);
out:
	archive_read_free(a);
	zfree(z);
	return r;
}

/*
 * tar.c - the streaming tar header scanner (see include/inatfs/tar.h).
 *
 * A byte-driven state machine: headers (and the bodies of extension headers:
 * GNU long names, pax records) are gathered into buffers, whatever the chunk
 * boundaries; member data is never copied, only run through CRC-32.
 *
 * Limits: GNU sparse members ('S') are reported as stored (type 'S', size of
 * the stored data, extension blocks skipped); pax sparse formats are not
 * expanded. Hard links carry data only when a pax header came with them;
 * symlinks, devices, FIFOs and directories never do, whatever their size
 * field says (libarchive's rules; GNU tar agrees except that it skips a
 * sized symlink's data). One zero block ends the archive, as in libarchive.
 */
#include "inatfs/tar.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/crc32.h"
#include "tar_fields.h"

#define BLOCK 512
#define MAX_LONGNAME ((uint64_t)64 << 10)  /* GNU 'L'/'K' body */
#define MAX_PAX_BODY ((uint64_t)16 << 20)  /* a whole 'x'/'g' body */

enum state {
	ST_HEADER,   /* gathering a 512-byte header */
	ST_SPARSE,   /* gathering a GNU sparse extension block */
	ST_EXT,      /* gathering the body of an L/K/x/g header */
	ST_DATA,     /* member data: CRC only */
	ST_PAD,      /* padding up to the next block */
	ST_END,      /* after the end-of-archive block: ignore the rest */
};

/* A growable NUL-terminated string. */
typedef struct strbuf {
	char *p;
	size_t len, cap;
} strbuf;

struct ifs_tar_scanner {
	char *name;
	ifs_tar_callbacks cb;
	enum state st;
	int failed;              /* negative code once an error was returned */
	int cb_failed;           /* ... and it was a callback's */
	uint64_t off;            /* stream offset of the next byte */
	uint64_t count;
	bool seen_header;        /* a header with a valid checksum was seen */
	bool had_global;         /* a pax 'g' header was seen: no resume point after it */
	uint64_t safe_off, safe_count;   /* the last resume point (0, 0: the start) */

	uint8_t hdr[BLOCK];
	uint8_t sblk[BLOCK];     /* a GNU sparse extension block */
	size_t hdr_fill;         /* bytes gathered of hdr or sblk */
	uint64_t hdr_off;        /* where the block being gathered started */

	uint64_t remain;         /* bytes left in ST_DATA / ST_EXT */
	size_t pad;              /* bytes left in ST_PAD */

	/* Extension headers pending for the next member. */
	char ext_type;
	uint64_t ext_off;        /* offset of the extension header */
	uint8_t *ext;
	size_t ext_len, ext_cap;
	bool have_first;         /* first_off is the member's first header */
	uint64_t first_off;
	bool has_longname, has_longlink, has_pax;
	strbuf longname, longlink;
	ifs_pax_attrs pax_x, pax_g;

	/* The member being reported. */
	ifs_tar_entry e;
	strbuf path, link;
	uint32_t crc;
};

/* Appends n bytes to b (keeping it NUL-terminated); sb_set starts afresh. */
static int sb_add(strbuf *b, const char *s, size_t n)
{
	if (n + 1 > b->cap - b->len) {
		size_t need = b->len + n + 1;
		if (need < 2 * b->cap)
			need = 2 * b->cap;
		char *np = realloc(b->p, need);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = need;
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int sb_set(strbuf *b, const char *s, size_t n)
{
	b->len = 0;
	return sb_add(b, s, n);
}

ifs_tar_scanner *ifs_tar_new(const char *name, const ifs_tar_callbacks *cb)
{
	ifs_tar_scanner *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->name = strdup(name ? name : "tar");
	if (!t->name) {
		free(t);
		return NULL;
	}
	if (cb)
		t->cb = *cb;
	return t;
}

void ifs_tar_free(ifs_tar_scanner *t)
{
	if (!t)
		return;
	ifs_pax_clear(&t->pax_x);
	ifs_pax_clear(&t->pax_g);
	free(t->longname.p);
	free(t->longlink.p);
	free(t->path.p);
	free(t->link.p);
	free(t->ext);
	free(t->name);
	free(t);
}

uint64_t ifs_tar_count(const ifs_tar_scanner *t)
{
	return t ? t->count : 0;
}

int ifs_tar_damaged(const ifs_tar_scanner *t, uint64_t *at)
{
	if (t->failed != -EIO || t->cb_failed)
		return 0;
	*at = t->off;
	return 1;
}

int ifs_tar_resume_point(const ifs_tar_scanner *t, uint64_t *off, uint64_t *count)
{
	if (t->had_global || t->failed)
		return 0;
	*off = t->safe_off;
	*count = t->safe_count;
	return 1;
}

void ifs_tar_start_at(ifs_tar_scanner *t, uint64_t off, uint64_t count)
{
	t->off = off;
	t->count = count;
	t->seen_header = count > 0;
	t->safe_off = off;
	t->safe_count = count;
}

static bool all_zero(const uint8_t *b)
{
	for (size_t i = 0; i < BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

static size_t pad_of(uint64_t n)
{
	return (size_t)((BLOCK - n % BLOCK) % BLOCK);
}

/* Size field, strictly: framing depends on it. */
static int header_size(ifs_tar_scanner *t, uint64_t *out, ifs_err *err)
{
	int64_t v;
	if (ifs_tar_parse_num(t->hdr + 124, 12, &v) < 0 || v < 0)
		return ifs_err_set(err, EIO, "%s: bad size field in header at offset %" PRIu64,
			t->name, t->hdr_off);
	if ((uint64_t)v > IFS_TAR_MAX_SIZE)
		return ifs_err_set(err, EIO, "%s: absurd size %" PRId64
			" in header at offset %" PRIu64, t->name, v, t->hdr_off);
	*out = (uint64_t)v;
	return 0;
}

static void reset_pending(ifs_tar_scanner *t)
{
	t->have_first = false;
	t->has_longname = t->has_longlink = t->has_pax = false;
	ifs_pax_clear(&t->pax_x);
}

/* The body of an extension header is complete. */
static int end_ext(ifs_tar_scanner *t, ifs_err *err)
{
	int r = 0;
	uint64_t body = t->ext_off + BLOCK;
	switch (t->ext_type) {
	case 'L':
	case 'K': {
		/* The name is NUL-terminated inside the body; GNU counts the NUL. */
		size_t n = strnlen((const char *)t->ext, t->ext_len);
		bool l = t->ext_type == 'L';
		r = sb_set(l ? &t->longname : &t->longlink, (const char *)t->ext, n);
		if (r < 0)
			return ifs_err_set(err, ENOMEM, "%s: out of memory", t->name);
		*(l ? &t->has_longname : &t->has_longlink) = true;
		break;
	}
	case 'g':
		r = ifs_pax_parse(&t->pax_g, t->ext, t->ext_len, true, t->name, body, err);
		t->had_global = true;
		break;
	default: /* 'x', 'X' */
		r = ifs_pax_parse(&t->pax_x, t->ext, t->ext_len, false, t->name, body, err);
		t->has_pax = true;
		break;
	}
	if (r < 0)
		return r;
	t->pad = pad_of(t->ext_len);
	t->st = t->pad ? ST_PAD : ST_HEADER;
	return 0;
}

static int begin_ext(ifs_tar_scanner *t, char type, uint64_t size, ifs_err *err)
{
	uint64_t max = (type == 'L' || type == 'K') ? MAX_LONGNAME : MAX_PAX_BODY;
	if (size > max)
		return ifs_err_set(err, EIO, "%s: %s header at offset %" PRIu64
			" is too long (%" PRIu64 " bytes)", t->name,
			(type == 'L' || type == 'K') ? "long name" : "pax", t->hdr_off, size);
	if (size + 1 > t->ext_cap) {
		uint8_t *np = realloc(t->ext, (size_t)size + 1);
		if (!np)
			return ifs_err_set(err, ENOMEM, "%s: out of memory", t->name);
		t->ext = np;
		t->ext_cap = (size_t)size + 1;
	}
	/* A global header belongs to no member. */
	if (!t->have_first && type != 'g') {
		t->have_first = true;
		t->first_off = t->hdr_off;
	}
	t->ext_type = type;
	t->ext_off = t->hdr_off;
	t->ext_len = 0;
	t->remain = size;
	t->st = ST_EXT;
	/* An empty body is complete now (finish must not call it truncated). */
	return size ? 0 : end_ext(t, err);
}

/* path: pax 'x', then pax 'g', then GNU long name, then the header fields. */
static int build_path(ifs_tar_scanner *t, ifs_err *err)
{
	const uint8_t *h = t->hdr;
	int r;
	if (t->pax_x.path_st == IFS_PAX_SET)
		r = sb_set(&t->path, t->pax_x.path, strlen(t->pax_x.path));
	else if (t->pax_x.path_st != IFS_PAX_DELETED && t->pax_g.path_st == IFS_PAX_SET)
		r = sb_set(&t->path, t->pax_g.path, strlen(t->pax_g.path));
	else if (t->has_longname)
		r = sb_set(&t->path, t->longname.p, strlen(t->longname.p));
	else {
		size_t nlen = strnlen((const char *)h, 100);
		size_t plen = 0;
		/* POSIX ustar has a 155-byte prefix; star's is 131 bytes, followed
		 * by times and "tar\0" at 508. GNU and v7 have no prefix. */
		if (memcmp(h + 257, "ustar\0", 6) == 0)
			plen = strnlen((const char *)h + 345,
				memcmp(h + 508, "tar\0", 4) == 0 ? 131 : 155);
		r = sb_set(&t->path, (const char *)h + 345, plen);
		if (r == 0 && plen)
			r = sb_add(&t->path, "/", 1);
		if (r == 0)
			r = sb_add(&t->path, (const char *)h, nlen);
	}
	if (r == 0) {
		if (t->pax_x.linkpath_st == IFS_PAX_SET)
			r = sb_set(&t->link, t->pax_x.linkpath, strlen(t->pax_x.linkpath));
		else if (t->pax_x.linkpath_st != IFS_PAX_DELETED &&
		         t->pax_g.linkpath_st == IFS_PAX_SET)
			r = sb_set(&t->link, t->pax_g.linkpath, strlen(t->pax_g.linkpath));
		else if (t->has_longlink)
			r = sb_set(&t->link, t->longlink.p, strlen(t->longlink.p));
		else
			r = sb_set(&t->link, (const char *)h + 157, strnlen((const char *)h + 157, 100));
	}
	if (r < 0)
		return ifs_err_set(err, ENOMEM, "%s: out of memory", t->name);
	return 0;
}

/* Calls on_end for the current member and moves on to its padding. */
static int end_member(ifs_tar_scanner *t, ifs_err *err)
{
	t->e.crc = t->crc;
	if (t->cb.on_end) {
		int r = t->cb.on_end(t->cb.ctx, &t->e);
		if (r < 0 && (t->cb_failed = 1))
			return ifs_err_set(err, -r, "%s: %s: end callback failed", t->name, t->e.path);
	}
	t->pad = pad_of(t->e.size);
	t->st = t->pad ? ST_PAD : ST_HEADER;
	/* the next member's first header: a fresh scanner could start there */
	if (!t->had_global) {
		t->safe_off = t->off + t->pad;
		t->safe_count = t->count;
	}
	return 0;
}

/* All headers of a member are in: report it and start on its data. */
static int start_member(ifs_tar_scanner *t, ifs_err *err)
{
	const uint8_t *h = t->hdr;
	int r = build_path(t, err);
	if (r < 0)
		return r;
	ifs_tar_entry *e = &t->e;
	e->path = t->path.p;
	e->linkname = t->link.p;

	char type = (char)h[156];
	if (type == '\0' || type == '7')
		type = IFS_TAR_FILE;
	/* Old tars have no directory type: a trailing slash marks one. */
	size_t plen = strlen(e->path);
	if (h[156] == '\0' && plen && e->path[plen - 1] == '/')
		type = IFS_TAR_DIR;
	e->type = type;

	uint64_t size;
	if (t->pax_x.size_st == IFS_PAX_SET)
		size = t->pax_x.size;
	else if (t->pax_x.size_st != IFS_PAX_DELETED && t->pax_g.size_st == IFS_PAX_SET)
		size = t->pax_g.size;
	else if ((r = header_size(t, &size, err)) < 0)
		return r;
	switch (type) {
	case IFS_TAR_HARDLINK:
		if (!t->has_pax)
			size = 0;
		break;
	case IFS_TAR_SYMLINK:
	case IFS_TAR_CHAR:
	case IFS_TAR_BLOCK:
	case IFS_TAR_DIR:
	case IFS_TAR_FIFO:
		size = 0;
		break;
	default:
		break;
	}
	e->size = size;

	int64_t v;
	if (t->pax_x.mtime_st == IFS_PAX_SET)
		e->mtime = t->pax_x.mtime;
	else if (t->pax_x.mtime_st != IFS_PAX_DELETED && t->pax_g.mtime_st == IFS_PAX_SET)
		e->mtime = t->pax_g.mtime;
	else if (ifs_tar_parse_num(h + 136, 12, &v) == 0)
		e->mtime = v;
	else
		return ifs_err_set(err, EIO, "%s: bad mtime field in header at offset %" PRIu64,
			t->name, t->hdr_off);
	if (ifs_tar_parse_num(h + 100, 8, &v) < 0)
		return ifs_err_set(err, EIO, "%s: bad mode field in header at offset %" PRIu64,
			t->name, t->hdr_off);
	e->mode = (uint32_t)((uint64_t)v & 07777);

	e->header_off = t->have_first ? t->first_off : t->hdr_off;
	e->data_off = t->off;
	e->crc = 0;
	t->crc = 0;
	reset_pending(t);
	t->count++;
	if (t->cb.on_entry) {
		r = t->cb.on_entry(t->cb.ctx, e);
		if (r < 0 && (t->cb_failed = 1))
			return ifs_err_set(err, -r, "%s: %s: entry callback failed", t->name, e->path);
	}
	if (size == 0)
		return end_member(t, err);
	t->remain = size;
	t->st = ST_DATA;
	return 0;
}

/* A 512-byte header block is complete in t->hdr. */
static int on_header(ifs_tar_scanner *t, ifs_err *err)
{
	if (all_zero(t->hdr)) {
		/* End of archive. Like libarchive, one zero block is enough. */
		if (t->have_first)
			return ifs_err_set(err, EIO, "%s: extension header at offset %" PRIu64
				" is not followed by a member", t->name, t->first_off);
		t->st = ST_END;
		return 0;
	}
	if (!ifs_tar_checksum_ok(t->hdr)) {
		if (!t->seen_header)
			return ifs_err_set(err, EIO, "%s: not a tar archive "
				"(no valid header at offset %" PRIu64 ")", t->name, t->hdr_off);
		return ifs_err_set(err, EIO, "%s: bad header checksum at offset %" PRIu64,
			t->name, t->hdr_off);
	}
	t->seen_header = true;
	char type = (char)t->hdr[156];
	uint64_t size;
	int r;
	switch (type) {
	case 'L':
	case 'K':
	case 'x':
	case 'X':   /* Solaris' name for 'x' */
	case 'g':
		if ((r = header_size(t, &size, err)) < 0)
			return r;
		if (type == 'X')
			type = 'x';
		return begin_ext(t, type, size, err);
	case 'S':
		/* GNU sparse: extension blocks of the sparse map may follow. */
		if (t->hdr[482]) {
			if (!t->have_first) {
				t->have_first = true;
				t->first_off = t->hdr_off;
			}
			t->st = ST_SPARSE;
			return 0;
		}
		return start_member(t, err);
	default:
		return start_member(t, err);
	}
}

int ifs_tar_feed(ifs_tar_scanner *t, const uint8_t *buf, size_t len, ifs_err *err)
{
	if (t->failed)
		return ifs_err_set(err, -t->failed, "%s: scanner already failed", t->name);
	int r = 0;
	while (len > 0) {
		size_t n;
		switch (t->st) {
		case ST_END:
			t->off += len;
			return 0;
		case ST_HEADER:
		case ST_SPARSE: {
			/* Sparse extension blocks must not overwrite the header. */
			uint8_t *dst = t->st == ST_HEADER ? t->hdr : t->sblk;
			if (t->hdr_fill == 0 && t->st == ST_HEADER)
				t->hdr_off = t->off;
			n = BLOCK - t->hdr_fill;
			if (n > len)
				n = len;
			memcpy(dst + t->hdr_fill, buf, n);
			t->hdr_fill += n;
			buf += n;
			len -= n;
			t->off += n;
			if (t->hdr_fill < BLOCK)
				break;
			t->hdr_fill = 0;
			if (t->st == ST_HEADER)
				r = on_header(t, err);
			else if (t->sblk[504] == 0)  /* last sparse extension block */
				r = start_member(t, err);
			break;
		}
		case ST_EXT:
			n = t->remain < len ? (size_t)t->remain : len;
			memcpy(t->ext + t->ext_len, buf, n);
			t->ext_len += n;
			t->remain -= n;
			buf += n;
			len -= n;
			t->off += n;
			if (t->remain == 0)
				r = end_ext(t, err);
			break;
		case ST_DATA:
			n = t->remain < len ? (size_t)t->remain : len;
			/* ifs_crc32 is zlib's CRC-32 computed by ISA-L (faster than zlib's) */
			t->crc = ifs_crc32(t->crc, buf, n);
			t->remain -= n;
			buf += n;
			len -= n;
			t->off += n;
			if (t->remain == 0)
				r = end_member(t, err);
			break;
		case ST_PAD:
			n = t->pad < len ? t->pad : len;
			t->pad -= n;
			buf += n;
			len -= n;
			t->off += n;
			if (t->pad == 0)
				t->st = ST_HEADER;
			break;
		}
		if (r < 0) {
			t->failed = r;
			return r;
		}
	}
	return 0;
}

int ifs_tar_finish(ifs_tar_scanner *t, ifs_err *err)
{
	if (t->failed)
		return ifs_err_set(err, -t->failed, "%s: scanner already failed", t->name);
	int r = 0;
	if (!t->seen_header && t->st != ST_END)
		r = ifs_err_set(err, EIO, "%s: not a tar archive (%" PRIu64 " bytes, no header)",
			t->name, t->off);
	else if (t->st == ST_DATA)
		r = ifs_err_set(err, EIO, "%s: truncated at offset %" PRIu64
			" (inside the data of %s)", t->name, t->off, t->e.path);
	else if (t->st == ST_EXT)
		r = ifs_err_set(err, EIO, "%s: truncated at offset %" PRIu64
			" (inside the extension header at %" PRIu64 ")", t->name, t->off, t->ext_off);
	else if (t->st == ST_PAD)
		r = ifs_err_set(err, EIO, "%s: truncated at offset %" PRIu64
			" (inside padding)", t->name, t->off);
	else if (t->st != ST_END && t->hdr_fill)
		r = ifs_err_set(err, EIO, "%s: truncated at offset %" PRIu64
			" (inside the header at %" PRIu64 ")", t->name, t->off, t->hdr_off);
	else if (t->st != ST_END && t->have_first)
		r = ifs_err_set(err, EIO, "%s: truncated at offset %" PRIu64
			" (extension header at %" PRIu64 " without its member)",
			t->name, t->off, t->first_off);
	if (r < 0)
		t->failed = r;
	return r;
}

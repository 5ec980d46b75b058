/*
 * member.c - reading a tar member (f->lock held): its cursor goes on or
 * starts again at the checkpoint that serves the offset (waiting for it in a
 * live index), a first bulk read decodes the member whole and checks it
 * before serving a byte, and reads as asked are checked once they cover the
 * member (crccover.h).
 */
#include "read_int.h"

#include <errno.h>
#include <stdlib.h>

/*
 * Does f's cursor go on to archive offset abs, rather than start again at
 * a checkpoint? Going on decodes the bytes in between; a start decodes from
 * the checkpoint's boundary or entry, never more than the spacing of
 * checkpoints (4 MiB) before the offset. This is the only place that
 * decides it.
 */
static int goes_on(const ifs_rfile *f, uint64_t abs)
{
	uint64_t pos = ifs_gz_cursor_pos(f->cur);
	return pos != UINT64_MAX && pos <= abs && abs - pos <= IFS_READER_GO_ON;
}

struct ask_cp {
	ifs_index *idx;
	int archive;
	uint64_t off;
	ifs_gz_checkpoint *cp;
};

static int ask_cp(void *ctx, ifs_err *err)
{
	struct ask_cp *a = ctx;
	ifs_gz_checkpoint_clear(a->cp);
	return ifs_index_checkpoint(a->idx, a->archive, a->off, a->cp, err);
}

/* Decodes size bytes of f's member from off into buf (size > 0, the range
 * inside the member). */
static int decode(ifs_rfile *f, const ifs_wait *w, uint8_t *buf, size_t size, uint64_t off,
		  ifs_err *err)
{
	ifs_reader *r = f->r;
	uint64_t abs = f->e.off + off;
	int rc;
	if (!f->cur) {
		ifs_source *src = ifs_index_archive(r->idx, f->e.archive);
		if (!src)
			return ifs_err_set(err, EIO, "%s is no longer there",
					   ifs_archive_file(f->e.archive));
		if ((rc = ifs_gz_cursor_new(src, &f->cur, err)))
			return rc;
	}
	ifs_cursors_used(r, f);
	if (goes_on(f, abs)) {
		IFS_STAT_ADD(r, go_ons, 1);
	} else {
		/* a live index: the scan may not have delivered it yet */
		ifs_gz_checkpoint cp = { 0 };
		struct ask_cp a = { r->idx, f->e.archive, abs, &cp };
		rc = ifs_reader_retry(r, w, ask_cp, &a, err);
		/* the compressed bytes up to the member's end, asked for at once
		 * (one ranged request from a remote source) */
		if (!rc)
			rc = ifs_gz_cursor_start(f->cur, &cp, ifs_index_in_end(r->idx, f->e.archive,
									   f->e.off + f->e.size), err);
		ifs_gz_checkpoint_clear(&cp);
		if (rc)
			return rc;
		IFS_STAT_ADD(r, starts, 1);
	}
	ssize_t n = ifs_gz_cursor_read(f->cur, abs, buf, size, err);
	if (n < 0)
		return (int)n;
	if ((size_t)n != size)
		return ifs_err_set(err, EIO, "%s: member data ends early (offset %llu)",
				   ifs_archive_file(f->e.archive), (unsigned long long)abs);
	if (off + size == f->e.size && !(f->flags & IFS_RFILE_WALK))
		ifs_cursors_drop(r, f);   /* read to the end: freed until the next read, if any */
	return 0;
}

/* The member's bytes are not what the index recorded: every later read of
 * this handle fails, and no view opens the member again. */
static int mismatch(ifs_rfile *f, uint32_t got, ifs_err *err)
{
	f->bad = 1;
	ifs_reader_mark_bad(f->r, &f->e);
	IFS_STAT_ADD(f->r, mismatches, 1);
	ifs_cursors_drop(f->r, f);   /* what it decoded may reach into what follows */
	return ifs_err_set(err, EIO, "CRC-32 mismatch in %s (got %08x, indexed %08x): the "
			   "archive changed or is damaged", ifs_archive_file(f->e.archive), got,
			   f->e.crc);
}

/* Adds what a read returned to the cover: 0, 1 (the whole member is
 * covered and was checked), IFS_CRC_COVER_FULL, or a negative errno. */
static int cover(ifs_rfile *f, uint64_t off, const uint8_t *p, uint64_t n, ifs_err *err)
{
	uint32_t whole;
	int k = ifs_crc_cover_add(&f->cov, off, p, n, f->e.size, &whole);
	if (k != 1)
		return k;
	IFS_STAT_ADD(f->r, checks, 1);
	return whole == f->e.crc ? 1 : mismatch(f, whole, err);
}

/* The gap the cover names filled in by decoding it (its table is full), a
 * piece at a time: every byte at most once, so at most the member's size
 * more decoding in all. */
#define GAP_PIECE (256u << 10)
static int fill_gap(ifs_rfile *f, const ifs_wait *w, ifs_err *err)
{
	uint64_t off, len;
	if (!ifs_crc_cover_gap(&f->cov, &off, &len))
		return ifs_err_set(err, EIO, "CRC-32 cover of %s: full, and no gap",
				   ifs_archive_file(f->e.archive));
	uint8_t *piece = malloc(len < GAP_PIECE ? len : GAP_PIECE);
	if (!piece)
		return ifs_err_set(err, ENOMEM, "out of memory");
	IFS_STAT_ADD(f->r, gap_fills, 1);
	int rc = 0;
	for (uint64_t done = 0; rc >= 0 && done < len;) {
		size_t n = len - done < GAP_PIECE ? (size_t)(len - done) : GAP_PIECE;
		rc = decode(f, w, piece, n, off + done, err);
		/* each piece touches the range before the gap: no new slot */
		if (!rc && (rc = cover(f, off + done, piece, n, err)) == IFS_CRC_COVER_FULL)
			rc = ifs_err_set(err, EIO, "CRC-32 cover of %s: a gap took a slot",
					 ifs_archive_file(f->e.archive));
		done += n;
	}
	free(piece);
	return rc < 0 ? rc : 0;
}

int ifs_member_read(ifs_rfile *f, const ifs_read_req *q, uint8_t *buf, ifs_err *err)
{
	if (f->bad)
		return -EIO;   /* logged when it was found */
	int rc = decode(f, q->wait, buf, q->len, q->off, err);
	while (!rc && (rc = cover(f, q->off, buf, q->len, err)) == IFS_CRC_COVER_FULL)
		rc = fill_gap(f, q->wait, err);
	return rc < 0 ? rc : 0;
}

int ifs_member_read_whole(ifs_rfile *f, const ifs_read_req *q, ifs_rdata *d, ifs_err *err)
{
	ifs_reader *r = f->r;
	uint64_t size = f->e.size;
	if ((f->flags & IFS_RFILE_WALK) || q->buf || size > IFS_READER_WHOLE_MAX)
		return 0;
	if (q->len < IFS_READER_BULK && q->off + q->len != size)
		return 0;   /* a probe of a few KiB (file(1), an image header) */
	int rest = !(q->off == 0 && q->len == size);
	if ((rest && !q->take_rest) || !ifs_reader_whole_take(r, size))
		return 0;
	if (rest && !q->take_rest(q->ctx)) {
		ifs_reader_whole_put(r, size);
		return 0;
	}
	uint8_t *w = malloc(size);
	int rc = w ? decode(f, q->wait, w, size, 0, err)
		   : ifs_err_set(err, ENOMEM, "out of memory");
	if (!rc) {
		uint32_t crc = ifs_crc32(0, w, size);
		IFS_STAT_ADD(r, checks, 1);
		if (crc != f->e.crc)
			rc = mismatch(f, crc, err);
	}
	if (rc) {
		free(w);
		ifs_reader_whole_put(r, size);
		return rc;
	}
	IFS_STAT_ADD(r, wholes, 1);
	f->whole = w;
	f->whole_refs = 1;
	d->whole = w;
	d->whole_ref_ = 1;
	d->data = w + q->off;
	return 1;
}

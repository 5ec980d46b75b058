/*
 * tar.h - a streaming tar header scanner: fed the uncompressed bytes of a tar
 * in order, in chunks of any size, it reports every member with the offset of
 * its data in the stream. (libarchive cannot report data offsets.)
 *
 * Understands ustar (with the prefix field), GNU tar (././@LongLink long names
 * 'L' and long link names 'K', base-256 sizes and times), pax extended
 * headers ('x': path, linkpath, size, mtime; 'g' global headers are applied
 * to following members) and v7. Checks every header's checksum: a bad one is
 * an error (-EIO) naming the offset, never a skipped member.
 *
 * Not thread-safe; one scanner per stream.
 */
#ifndef INATFS_TAR_H
#define INATFS_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "inatfs/err.h"

enum ifs_tar_type {
	IFS_TAR_FILE = '0',   /* also '\0' and '7' (contiguous) are reported as '0' */
	IFS_TAR_HARDLINK = '1',
	IFS_TAR_SYMLINK = '2',
	IFS_TAR_CHAR = '3',
	IFS_TAR_BLOCK = '4',
	IFS_TAR_DIR = '5',
	IFS_TAR_FIFO = '6',
};

typedef struct ifs_tar_entry {
	const char *path;      /* full path as stored (long name / pax applied), NUL-terminated */
	const char *linkname;  /* for links, else "" */
	uint64_t header_off;   /* offset of the (first) header block of this member */
	uint64_t data_off;     /* offset of the member's data */
	uint64_t size;         /* data size in bytes */
	int64_t mtime;
	uint32_t mode;         /* permission bits */
	char type;             /* enum ifs_tar_type (other types passed through as-is) */
	uint32_t crc;          /* CRC-32 of the data; valid in on_end only */
} ifs_tar_entry;

typedef struct ifs_tar_callbacks {
	/* A member's header is complete (its data follows at e->data_off). */
	int (*on_entry)(void *ctx, const ifs_tar_entry *e);
	/* All of a member's data has been seen; e->crc holds its CRC-32. */
	int (*on_end)(void *ctx, const ifs_tar_entry *e);
	void *ctx;
} ifs_tar_callbacks;

typedef struct ifs_tar_scanner ifs_tar_scanner;

/* name is used in messages. Returns NULL on allocation failure. */
ifs_tar_scanner *ifs_tar_new(const char *name, const ifs_tar_callbacks *cb);
void ifs_tar_free(ifs_tar_scanner *t);

/*
 * Feeds the next len bytes (stream offset = sum of earlier lens). Callbacks
 * run from inside. Returns 0, a callback's negative return, or -EIO for a
 * malformed header.
 */
int ifs_tar_feed(ifs_tar_scanner *t, const uint8_t *buf, size_t len, ifs_err *err);

/*
 * End of stream. Returns -EIO if the stream ended inside a header or a
 * member's data, or before any valid header ("not a tar"). The end-of-archive
 * zero blocks are optional (GNU tar writes them; a missing one is accepted).
 */
int ifs_tar_finish(ifs_tar_scanner *t, ifs_err *err);

/* Members reported so far. */
uint64_t ifs_tar_count(const ifs_tar_scanner *t);

/*
 * After ifs_tar_feed or ifs_tar_finish failed: 1 if the archive's own bytes
 * are at fault (a malformed header, a stream that ends inside a member), with
 * *at the stream offset where the scanner stopped (every member reported
 * complete by on_end ends at or before it); 0 for any other failure (a
 * callback's, memory) or none.
 */
int ifs_tar_damaged(const ifs_tar_scanner *t, uint64_t *at);

/*
 * Resuming an interrupted scan. A resume point is the offset of the first
 * header after the last member whose on_end has run, with the number of
 * members reported up to it: a fresh scanner started there
 * (ifs_tar_start_at, then fed from that offset on) reports exactly the
 * members that follow (before any member ended: offset 0, count 0). Returns
 * 1 and the point, or 0 once a pax global header ('g') was seen (its
 * attributes would be lost) or the scanner failed.
 */
int ifs_tar_resume_point(const ifs_tar_scanner *t, uint64_t *off, uint64_t *count);
/* Before the first feed: the stream starts at off, after `count` members. */
void ifs_tar_start_at(ifs_tar_scanner *t, uint64_t off, uint64_t count);

#endif

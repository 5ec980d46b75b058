/*
 * crccover.h - the CRC-32 of a file assembled from reads that arrive in any
 * order (the kernel's readahead sends several at once), overlapping or not:
 * each read adds the bytes it returned; the parts not covered yet are
 * taken, their CRC combined with their neighbours' (zlib's crc32_combine)
 * until one range covers the whole file, whose CRC can then be checked.
 *
 * The table holds IFS_CRC_COVER_SEGS separate ranges. A read that needs a
 * new one when it is full is refused (IFS_CRC_COVER_FULL, nothing taken):
 * the caller first reads the gap ifs_crc_cover_gap names and adds it, which
 * joins two ranges, and adds again. Every byte is filled in at most once,
 * so the extra reading is at most the file's size, and the check always
 * runs once the reads have covered the file. Not thread-safe: one per open
 * file, under its lock.
 */
#ifndef INATFS_CRCCOVER_H
#define INATFS_CRCCOVER_H

#include <stdint.h>

#define IFS_CRC_COVER_SEGS 32
#define IFS_CRC_COVER_FULL (-1)

typedef struct ifs_crc_cover {
	struct {
		uint64_t start, len;
		uint32_t crc;
	} seg[IFS_CRC_COVER_SEGS];   /* sorted, disjoint, never adjacent */
	int n;
	int done;                    /* the whole file was covered once */
} ifs_crc_cover;

/*
 * Adds bytes [off, off + len) of a file of `size` bytes, data[0, len)
 * holding them. Returns 1, with the file's CRC-32 in *whole, the first time
 * the ranges cover [0, size); 0 otherwise (also for a range outside the
 * file, and once done); IFS_CRC_COVER_FULL as above.
 */
int ifs_crc_cover_add(ifs_crc_cover *c, uint64_t off, const uint8_t *data, uint64_t len,
		      uint64_t size, uint32_t *whole);

/* The smallest gap between two covered ranges: 1 and [*off, *off + *len),
 * or 0 if there is none. */
int ifs_crc_cover_gap(const ifs_crc_cover *c, uint64_t *off, uint64_t *len);

#endif

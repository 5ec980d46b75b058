/*
 * crccover.h - the CRC-32 of a file assembled from reads that arrive in any
 * order (the kernel's readahead sends several at once): each read adds its
 * range and CRC; adjacent ranges are combined (zlib's crc32_combine) until
 * one range covers the whole file, whose CRC can then be checked.
 *
 * A range that overlaps what is already covered is ignored (the bytes were
 * already accounted for); so is one that finds the table full. Not
 * thread-safe: one per open file, under its lock.
 */
#ifndef INATFS_CRCCOVER_H
#define INATFS_CRCCOVER_H

#include <stdint.h>

#define IFS_CRC_COVER_SEGS 32

typedef struct ifs_crc_cover {
	struct {
		uint64_t start, len;
		uint32_t crc;
	} seg[IFS_CRC_COVER_SEGS];   /* sorted, disjoint, never adjacent */
	int n;
	int done;                    /* the whole file was covered once */
} ifs_crc_cover;

/*
 * Adds the CRC-32 of bytes [off, off + len) of a file of `size` bytes.
 * Returns 1, with the file's CRC-32 in *whole, the first time the ranges
 * cover [0, size); 0 otherwise.
 */
int ifs_crc_cover_add(ifs_crc_cover *c, uint64_t off, uint64_t len, uint32_t crc,
		      uint64_t size, uint32_t *whole);

#endif

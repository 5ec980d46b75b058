/*
 * crc32.h - the CRC-32 of gzip, zip and tar members' recorded sums (zlib's
 * polynomial and convention), computed by ISA-L: crc = ifs_crc32(crc, buf,
 * len), starting at 0; ifs_crc32(crc, NULL, 0) is crc. Combining the sums
 * of pieces read in any order is crccover.h's.
 */
#ifndef INATFS_CRC32_H
#define INATFS_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t ifs_crc32(uint32_t crc, const uint8_t *buf, size_t len);

#endif

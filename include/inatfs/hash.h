/*
 * hash.h - the hash of the core's hash tables (strmap, the catalog's id
 * map): SipHash-1-3 under a key drawn at random once per process, so that
 * names and ids from the input cannot be chosen to collide (hash flooding
 * would make a table's probes quadratic). Thread-safe.
 */
#ifndef INATFS_HASH_H
#define INATFS_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The keyed hash of p[0, n). */
uint64_t ifs_hash(const void *p, size_t n);
/* The keyed hash of a 64-bit integer (its 8 bytes, little-endian). */
uint64_t ifs_hash_u64(uint64_t x);

#endif

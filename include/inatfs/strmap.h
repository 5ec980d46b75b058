/*
 * strmap.h - a string -> int64 hash map (open addressing, keys copied).
 * Used while building the index (directory paths -> node ids). Not
 * thread-safe.
 */
#ifndef INATFS_STRMAP_H
#define INATFS_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ifs_strmap ifs_strmap;

ifs_strmap *ifs_strmap_new(void);
void ifs_strmap_free(ifs_strmap *m);
/* Inserts or replaces. Returns 0 or -ENOMEM. */
int ifs_strmap_put(ifs_strmap *m, const char *key, size_t keylen, int64_t value);
/* 1 and *value if found, else 0. */
int ifs_strmap_get(const ifs_strmap *m, const char *key, size_t keylen, int64_t *value);
size_t ifs_strmap_count(const ifs_strmap *m);
/* The longest distance of a key from its home slot (tests: crafted keys
 * must not pile up). */
size_t ifs_strmap_probe_max(const ifs_strmap *m);

#endif

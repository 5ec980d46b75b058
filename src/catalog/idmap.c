/*
 * idmap.c - an open-addressing hash map from int64 ids to array indexes, for
 * joining annotations to images and finding duplicates among 858k ids
 * without sorting. Linear probing, load factor at most 1/2, 16 bytes a slot;
 * indexes must stay below UINT32_MAX. The ids come from the input: the hash
 * is keyed per process (hash.h), so they cannot be chosen to collide.
 */
#include "catalog_int.h"

#include <errno.h>
#include <stdlib.h>

#include "inatfs/hash.h"

struct ifs_cidslot {
	int64_t key;
	uint32_t idx1; /* index + 1; 0 = empty */
};

static size_t slot_of(int64_t key, size_t cap)
{
	return (size_t)(ifs_hash_u64((uint64_t)key) & (cap - 1));
}

static int rehash(ifs_cidmap *m, size_t ncap)
{
	struct ifs_cidslot *ns = calloc(ncap, sizeof *ns);
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].idx1)
			continue;
		size_t s = slot_of(m->slots[i].key, ncap);
		while (ns[s].idx1)
			s = (s + 1) & (ncap - 1);
		ns[s] = m->slots[i];
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

int ifs_cidmap_put(ifs_cidmap *m, int64_t key, size_t idx, size_t *old)
{
	if (idx >= UINT32_MAX)
		return -ENOMEM;
	if ((m->n + 1) * 2 > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 1024;
		if (ncap < m->cap || ncap > SIZE_MAX / sizeof(struct ifs_cidslot))
			return -ENOMEM;
		int r = rehash(m, ncap);
		if (r < 0)
			return r;
	}
	size_t s = slot_of(key, m->cap);
	while (m->slots[s].idx1) {
		if (m->slots[s].key == key) {
			if (old)
				*old = m->slots[s].idx1 - 1;
			return 1;
		}
		s = (s + 1) & (m->cap - 1);
	}
	m->slots[s].key = key;
	m->slots[s].idx1 = (uint32_t)idx + 1;
	m->n++;
	return 0;
}

int ifs_cidmap_get(const ifs_cidmap *m, int64_t key, size_t *idx)
{
	if (!m->cap)
		return 0;
	size_t s = slot_of(key, m->cap);
	while (m->slots[s].idx1) {
		if (m->slots[s].key == key) {
			*idx = m->slots[s].idx1 - 1;
			return 1;
		}
		s = (s + 1) & (m->cap - 1);
	}
	return 0;
}

void ifs_cidmap_free(ifs_cidmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}

size_t ifs_cidmap_probe_max(const ifs_cidmap *m)
{
	size_t worst = 0;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].idx1)
			continue;
		size_t d = (i - slot_of(m->slots[i].key, m->cap)) & (m->cap - 1);
		if (d > worst)
			worst = d;
	}
	return worst;
}

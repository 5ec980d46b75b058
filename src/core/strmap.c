/*
 * strmap.c - string -> int64 hash map with linear probing (see strmap.h).
 * Keys are copied; the table doubles at 50% load. Keys come from the input
 * (member paths): the hash is keyed per process (hash.h), so they cannot be
 * chosen to collide.
 */
#include "inatfs/strmap.h"

#include "inatfs/hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	char *key;
	size_t len;
	uint64_t hash;
	int64_t value;
};

struct ifs_strmap {
	struct slot *slots;
	size_t cap, count;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
	return ifs_hash(s, n);
}

ifs_strmap *ifs_strmap_new(void)
{
	ifs_strmap *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->cap = 64;
	m->slots = calloc(m->cap, sizeof *m->slots);
	if (!m->slots) {
		free(m);
		return NULL;
	}
	return m;
}

void ifs_strmap_free(ifs_strmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	free(m);
}

static struct slot *find(const ifs_strmap *m, const char *key, size_t len, uint64_t h)
{
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct slot *s = &m->slots[i];
		if (!s->key)
			return s;
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return s;
	}
}

static int grow(ifs_strmap *m)
{
	size_t ncap = m->cap * 2;
	struct slot *ns = calloc(ncap, sizeof *ns);
	if (!ns)
		return -ENOMEM;
	struct slot *old = m->slots;
	size_t ocap = m->cap;
	m->slots = ns;
	m->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].key)
			*find(m, old[i].key, old[i].len, old[i].hash) = old[i];
	free(old);
	return 0;
}

int ifs_strmap_put(ifs_strmap *m, const char *key, size_t len, int64_t value)
{
	if ((m->count + 1) * 2 > m->cap && grow(m) < 0)
		return -ENOMEM;
	uint64_t h = hash_bytes(key, len);
	struct slot *s = find(m, key, len, h);
	if (!s->key) {
		s->key = malloc(len + 1);
		if (!s->key)
			return -ENOMEM;
		memcpy(s->key, key, len);
		s->key[len] = '\0';
		s->len = len;
		s->hash = h;
		m->count++;
	}
	s->value = value;
	return 0;
}

int ifs_strmap_get(const ifs_strmap *m, const char *key, size_t len, int64_t *value)
{
	struct slot *s = find(m, key, len, hash_bytes(key, len));
	if (!s->key)
		return 0;
	if (value)
		*value = s->value;
	return 1;
}

size_t ifs_strmap_count(const ifs_strmap *m)
{
	return m->count;
}

size_t ifs_strmap_probe_max(const ifs_strmap *m)
{
	size_t worst = 0, mask = m->cap - 1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key && ((i - m->slots[i].hash) & mask) > worst)
			worst = (i - m->slots[i].hash) & mask;
	return worst;
}

/*
 * cache.c - a disk cache of fetched bytes in front of any source.
 *
 * Blocks of IFS_CACHE_BLOCK bytes, keyed by (the source's identity, the
 * block's offset), live in chunk files of IFS_CACHE_CHUNK_BLOCKS blocks. A
 * block may be held in part: one run of its bytes, so that a read keeps
 * exactly what it fetched (a later read next to it joins the two runs):
 *
 *   DIR/lock                       flock'd by the one process using DIR
 *   DIR/<16 hex of sha256(id)>/id  the identity in full (written, then renamed)
 *   DIR/<...>/<chunk, 16 hex>      a chunk file (created whole, then renamed):
 *
 *   offset  size
 *   0       8     magic "IFSCACH2"
 *   8       4     block size (LE)            12  4  blocks per chunk (LE)
 *   16      8     chunk index (LE)           24  8  first 8 bytes of sha256(id)
 *   64      8*N   per block: the run's start in the block (2), its length
 *                 (2: 1 to the block size, 0 = absent; B itself is 0x8000),
 *                 the CRC-32 of its bytes (4), LE
 *   4096    ...   block i at 4096 + i * block size (a sparse file)
 *
 * A block is written before its entry, and an entry being rewritten is
 * cleared first; every block read is checked against its entry's CRC. So
 * whatever moment a process is killed at, a torn or half-written block is
 * never served: it reads as absent or fails its check, and is fetched again.
 *
 * The cache's size is its chunks' headers and blocks. Past the cap, whole
 * chunks go, least recently used first (recency is kept in memory; at start
 * it is taken from the files' mtimes). Readers open a chunk file per read,
 * so one evicted under them still reads whole; a block stored into a chunk
 * evicted meanwhile is dropped (the chunk's generation changed).
 */
#include "source_int.h"

#include "inatfs/crc32.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define B IFS_CACHE_BLOCK
#define NB IFS_CACHE_CHUNK_BLOCKS
#define HDR 4096u
#define ENTRY0 64u
#define MAGIC "IFSCACH2"

struct ident {
	char hash[17];
	int dirfd;       /* its folder, opened for a source that reads it; -1 */
	struct ident *next;
};

struct chunk {
	struct ident *id;
	uint64_t index, gen, bytes;
	time_t mtime;                  /* at load: the initial recency */
	uint32_t len[NB], crc[NB];
	uint16_t start[NB];            /* the held run: [start, start + len) of the block */
	struct chunk *hnext, *prev, *next;
};

struct ifs_cache {
	char *dir;
	int lockfd;
	uint64_t cap, bytes, gen;
	pthread_mutex_t mu;
	struct ident *idents;
	struct chunk **tab;
	size_t ntab;
	struct chunk *head, *tail;     /* most recently used at head */
	_Atomic uint64_t hits, misses, bad;
	pthread_key_t memo_key;        /* each thread's struct memo */
	int has_key;
	struct memo *memos;            /* every thread's, freed at close */
};

/*
 * The rest of the run a thread's last read ended in, read from disk and
 * checked with that read: a read that goes on from there (a cursor reads on
 * in steps that end inside a block) takes those bytes from here, so that a
 * pass reads and checks each run once, not once per read that touches it.
 * Used only while the chunk's table still holds that very run (generation,
 * start, length, CRC-32). One per thread and cache.
 */
struct memo {
	ifs_cache *c;
	struct memo *prev, *next;
	struct ident *id;
	uint64_t block, gen;
	uint32_t start, len, crc;   /* the run as checked; len 0: none */
	uint32_t have;              /* run[] holds its bytes from here to its end */
	uint8_t run[B];             /* (at their offsets in the block) */
};

/* A thread's memo, at its end (the key's destructor) or the cache's close. */
static void memo_free(void *p)
{
	struct memo *m = p;
	pthread_mutex_lock(&m->c->mu);
	if (m->prev)
		m->prev->next = m->next;
	else
		m->c->memos = m->next;
	if (m->next)
		m->next->prev = m->prev;
	pthread_mutex_unlock(&m->c->mu);
	free(m);
}

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> 8 * i); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

static int hexbyte(const char *h)
{
	int v = 0;
	for (int i = 0; i < 2; i++) {
		char c = h[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

static int is_hex16(const char *s)
{
	if (strlen(s) != 16)
		return 0;
	for (int i = 0; i < 16; i += 2)
		if (hexbyte(s + i) < 0)
			return 0;
	return 1;
}

/* ---- the table of chunks (call with mu held) ----------------------------------- */

static size_t slot_of(const ifs_cache *c, const struct ident *id, uint64_t index)
{
	uint64_t h = (uint64_t)(uintptr_t)id * 0x9E3779B97F4A7C15ull ^ index * 0xC2B2AE3D27D4EB4Full;
	return (size_t)((h ^ h >> 29) % c->ntab);
}

static struct chunk *find(ifs_cache *c, const struct ident *id, uint64_t index)
{
	for (struct chunk *k = c->tab[slot_of(c, id, index)]; k; k = k->hnext)
		if (k->id == id && k->index == index)
			return k;
	return NULL;
}

static void lru_unlink(ifs_cache *c, struct chunk *k)
{
	if (k->prev) k->prev->next = k->next; else c->head = k->next;
	if (k->next) k->next->prev = k->prev; else c->tail = k->prev;
	k->prev = k->next = NULL;
}

static void lru_front(ifs_cache *c, struct chunk *k)
{
	if (c->head == k)
		return;
	if (k->prev || k->next || c->tail == k)
		lru_unlink(c, k);
	k->next = c->head;
	if (c->head)
		c->head->prev = k;
	c->head = k;
	if (!c->tail)
		c->tail = k;
}

static void add_chunk(ifs_cache *c, struct chunk *k)
{
	size_t s = slot_of(c, k->id, k->index);
	k->hnext = c->tab[s];
	c->tab[s] = k;
	k->gen = ++c->gen;
	c->bytes += k->bytes;
	lru_front(c, k);
}

static void chunk_path(const ifs_cache *c, const struct ident *id, uint64_t index, char *out,
		       size_t n)
{
	if (snprintf(out, n, "%s/%s/%016llx", c->dir, id->hash, (unsigned long long)index) >= (int)n)
		out[0] = '\0';   /* cannot happen: open refuses a longer folder name */
}

/* A chunk file opened for reading: by its name in the identity's folder
 * when that is held open (dirfd), else by its path. */
static int open_chunk(const ifs_cache *c, int dirfd, const struct ident *id, uint64_t index)
{
	if (dirfd >= 0) {
		static const char hex[] = "0123456789abcdef";
		char name[17];
		for (int i = 15; i >= 0; i--, index >>= 4)
			name[i] = hex[index & 15];
		name[16] = '\0';
		return openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	char path[4096];
	chunk_path(c, id, index, path, sizeof path);
	return open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

static void drop_chunk(ifs_cache *c, struct chunk *k)
{
	char path[4096];
	chunk_path(c, k->id, k->index, path, sizeof path);
	(void)unlink(path);   /* gone already is as good */
	struct chunk **pp = &c->tab[slot_of(c, k->id, k->index)];
	while (*pp != k)
		pp = &(*pp)->hnext;
	*pp = k->hnext;
	lru_unlink(c, k);
	c->bytes -= k->bytes;
	free(k);
}

static void evict(ifs_cache *c, const struct chunk *keep)
{
	while (c->bytes > c->cap && c->tail && c->tail != keep)
		drop_chunk(c, c->tail);
}

/* A new, empty chunk file, made whole under a temporary name. */
static struct chunk *create_chunk(ifs_cache *c, struct ident *id, uint64_t index)
{
	char path[4096], tmp[4120];
	chunk_path(c, id, index, path, sizeof path);
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return NULL;
	uint8_t h[HDR] = { 0 };
	memcpy(h, MAGIC, 8);
	put32(h + 8, B);
	put32(h + 12, NB);
	put64(h + 16, index);
	for (int i = 0; i < 8; i++)
		h[24 + i] = (uint8_t)hexbyte(id->hash + 2 * i);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	int ok = pwrite(fd, h, HDR, 0) == HDR;
	ok &= close(fd) == 0;
	struct chunk *k = ok && rename(tmp, path) == 0 ? calloc(1, sizeof *k) : NULL;
	if (!k) {
		(void)unlink(tmp);
		return NULL;
	}
	k->id = id;
	k->index = index;
	k->bytes = HDR;
	add_chunk(c, k);
	return k;
}

/* ---- loading what is on disk ----------------------------------------------- */

static struct ident *ident_add(ifs_cache *c, const char *hash)
{
	for (struct ident *i = c->idents; i; i = i->next)
		if (strcmp(i->hash, hash) == 0)
			return i;
	struct ident *i = calloc(1, sizeof *i);
	if (!i)
		return NULL;
	memcpy(i->hash, hash, 17);
	i->dirfd = -1;
	i->next = c->idents;
	c->idents = i;
	return i;
}

/* Loads one chunk file's header; removes a file that is not a whole one. */
static void load_chunk(ifs_cache *c, struct ident *id, const char *dirpath, const char *name)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s/%s", dirpath, name) >= (int)sizeof path)
		return;
	if (!is_hex16(name)) {
		if (strstr(name, ".tmp"))
			(void)unlink(path);   /* left by a process killed while making it */
		return;
	}
	uint64_t index = strtoull(name, NULL, 16);
	uint8_t h[HDR];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		 pread(fd, h, HDR, 0) == HDR && memcmp(h, MAGIC, 8) == 0 && get32(h + 8) == B &&
		 get32(h + 12) == NB && get64(h + 16) == index;
	for (int i = 0; ok && i < 8; i++)
		ok = h[24 + i] == (uint8_t)hexbyte(id->hash + 2 * i);
	if (fd >= 0)
		close(fd);
	struct chunk *k = ok ? calloc(1, sizeof *k) : NULL;
	if (!k) {
		(void)unlink(path);
		return;
	}
	k->id = id;
	k->index = index;
	k->bytes = HDR;
	k->mtime = st.st_mtime;
	for (unsigned i = 0; i < NB; i++) {
		uint32_t e = get32(h + ENTRY0 + 8 * i);
		k->start[i] = (uint16_t)(e & 0xffff);
		k->len[i] = e >> 16;
		k->crc[i] = get32(h + ENTRY0 + 8 * i + 4);
		if ((uint32_t)k->start[i] + k->len[i] > B)
			k->len[i] = 0;   /* garbage: absent (the block fails its check anyway) */
		k->bytes += k->len[i];
	}
	add_chunk(c, k);
}

static int by_mtime(const void *a, const void *b)
{
	const struct chunk *x = *(struct chunk *const *)a, *y = *(struct chunk *const *)b;
	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

static int load(ifs_cache *c, ifs_err *err)
{
	DIR *d = opendir(c->dir);
	if (!d)
		return ifs_err_sys(err, errno, "%s", c->dir);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!is_hex16(e->d_name))
			continue;
		char sub[4096];
		if (snprintf(sub, sizeof sub, "%s/%s", c->dir, e->d_name) >= (int)sizeof sub)
			continue;
		struct ident *id = ident_add(c, e->d_name);
		DIR *s = id ? opendir(sub) : NULL;
		if (!s)
			continue;
		struct dirent *f;
		while ((f = readdir(s)))
			if (f->d_name[0] != '.' && strcmp(f->d_name, "id"))
				load_chunk(c, id, sub, f->d_name);
		closedir(s);
	}
	closedir(d);
	/* recency from mtimes: the oldest to the back */
	size_t n = 0;
	for (struct chunk *k = c->head; k; k = k->next)
		n++;
	struct chunk **all = n ? malloc(n * sizeof *all) : NULL;
	if (n && !all)
		return ifs_err_set(err, ENOMEM, "out of memory");
	n = 0;
	for (struct chunk *k = c->head; k; k = k->next)
		all[n++] = k;
	if (n)
		qsort(all, n, sizeof *all, by_mtime);
	for (size_t i = 0; i < n; i++)
		lru_front(c, all[i]);
	free(all);
	evict(c, NULL);
	return 0;
}

int ifs_cache_open(const char *dir, uint64_t cap, ifs_cache **out, ifs_err *err)
{
	*out = NULL;
	if (cap < 2ull * (HDR + (uint64_t)B * NB))
		return ifs_err_set(err, EINVAL, "cache_size=%llu: at least %llu bytes",
				   (unsigned long long)cap,
				   (unsigned long long)(2ull * (HDR + (uint64_t)B * NB)));
	if (strlen(dir) > 3000)
		return ifs_err_set(err, ENAMETOOLONG, "cache=: a folder name of at most 3000 bytes");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return ifs_err_sys(err, errno, "%s: cannot make the cache folder", dir);
	int r;
	ifs_cache *c = calloc(1, sizeof *c);
	if (!c || !(c->dir = strdup(dir)))
		goto nomem;
	c->lockfd = -1;
	c->cap = cap;
	c->ntab = (size_t)(cap / ((uint64_t)B * NB)) * 2 + 1024;
	if (!(c->tab = calloc(c->ntab, sizeof *c->tab)))
		goto nomem;
	pthread_mutex_init(&c->mu, NULL);
	if (pthread_key_create(&c->memo_key, memo_free) != 0) {
		r = ifs_err_set(err, EAGAIN, "%s: cannot make a thread key", dir);
		goto fail;
	}
	c->has_key = 1;
	char lp[4096];
	if (snprintf(lp, sizeof lp, "%s/lock", dir) >= (int)sizeof lp)
		goto nomem;   /* cannot happen: checked above */
	if ((c->lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		r = ifs_err_sys(err, errno, "%s", lp);
		goto fail;
	}
	if (flock(c->lockfd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? ifs_err_set(err, EBUSY, "%s: the cache is in use by "
						       "another process", dir)
					 : ifs_err_sys(err, errno, "%s: lock", lp);
		goto fail;
	}
	if ((r = load(c, err)))
		goto fail;
	*out = c;
	return 0;
nomem:
	r = ifs_err_set(err, ENOMEM, "out of memory");
fail:
	ifs_cache_close(c);
	return r;
}

void ifs_cache_close(ifs_cache *c)
{
	if (!c)
		return;
	for (struct chunk *k = c->head, *n; k; k = n) {
		n = k->next;
		free(k);
	}
	for (struct ident *i = c->idents, *n; i; i = n) {
		n = i->next;
		if (i->dirfd >= 0)
			close(i->dirfd);
		free(i);
	}
	if (c->has_key) {
		/* no thread reads any more: their memos go, and the key (a thread
		 * that ends later has no value for it) */
		while (c->memos)
			memo_free(c->memos);
		pthread_key_delete(c->memo_key);
	}
	if (c->tab)
		pthread_mutex_destroy(&c->mu);
	if (c->lockfd >= 0)
		close(c->lockfd);   /* drops the lock */
	free(c->tab);
	free(c->dir);
	free(c);
}

void ifs_cache_stats(const ifs_cache *c, ifs_source_stats *st)
{
	ifs_cache *m = (ifs_cache *)c;
	st->cache_hits += atomic_load(&m->hits);
	st->cache_misses += atomic_load(&m->misses);
	st->cache_bad += atomic_load(&m->bad);
	pthread_mutex_lock(&m->mu);
	st->cache_bytes += m->bytes;
	pthread_mutex_unlock(&m->mu);
}

/* ---- identities, and blocks in and out ------------------------------------------ */

/* At most max bytes of a file (malloc'd), NULL if it cannot be read. */
static char *read_small(const char *path, size_t max, size_t *n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	char *b = malloc(max ? max : 1);
	ssize_t r = b ? read(fd, b, max) : -1;
	close(fd);
	if (r < 0) {
		free(b);
		return NULL;
	}
	*n = (size_t)r;
	return b;
}

int ifs_cache_ident(ifs_cache *c, const char *identity, struct ident **out)
{
	char sha[65], hash[17], sub[4096], idp[4120], tmp[4130];
	ifs_sha256_hex(identity, strlen(identity), sha);
	memcpy(hash, sha, 16);
	hash[16] = '\0';
	if (snprintf(sub, sizeof sub, "%s/%s", c->dir, hash) >= (int)sizeof sub ||
	    snprintf(idp, sizeof idp, "%s/id", sub) >= (int)sizeof idp)
		return -ENAMETOOLONG;
	if (mkdir(sub, 0700) < 0 && errno != EEXIST)
		return -errno;
	size_t il = strlen(identity), n = 0;
	char *have = read_small(idp, il + 1, &n);
	int same = have && n == il && memcmp(have, identity, il) == 0;
	free(have);
	if (!have) {   /* new: the identity in full, whole or not at all */
		if (snprintf(tmp, sizeof tmp, "%s.tmp", idp) >= (int)sizeof tmp)
			return -ENAMETOOLONG;
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		int ok = write(fd, identity, il) == (ssize_t)il;
		ok &= close(fd) == 0;
		if (!ok || rename(tmp, idp) < 0) {
			(void)unlink(tmp);
			return -EIO;
		}
		same = 1;
	}
	if (!same)
		return -EEXIST;   /* two identities with the same hash: not cached */
	/* its folder held open: a read opens a chunk by its name alone */
	int dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	pthread_mutex_lock(&c->mu);
	*out = ident_add(c, hash);
	if (*out && (*out)->dirfd < 0) {
		(*out)->dirfd = dfd;
		dfd = -1;
	}
	pthread_mutex_unlock(&c->mu);
	if (dfd >= 0)
		close(dfd);
	return *out ? 0 : -ENOMEM;
}

/* Whether the run held covers [lo, hi) of the block (call with mu held). */
static int covers(const struct chunk *k, unsigned slot, uint32_t lo, uint32_t hi)
{
	return k->len[slot] && k->start[slot] <= lo && hi <= k->start[slot] + k->len[slot];
}

int ifs_cache_has(ifs_cache *c, struct ident *id, uint64_t block, uint32_t lo, uint32_t hi)
{
	pthread_mutex_lock(&c->mu);
	struct chunk *k = find(c, id, block / NB);
	int has = k && covers(k, (unsigned)(block % NB), lo, hi);
	pthread_mutex_unlock(&c->mu);
	return has;
}

int ifs_cache_holds_any(ifs_cache *c, struct ident *id, uint64_t first, uint64_t n)
{
	int any = 0;
	pthread_mutex_lock(&c->mu);
	for (uint64_t b = first; b < first + n && !any;) {
		struct chunk *k = find(c, id, b / NB);
		uint64_t next = (b / NB + 1) * NB;   /* the next chunk's first block */
		for (; k && b < next && b < first + n && !any; b++)
			any = k->len[b % NB] != 0;
		b = next;
	}
	pthread_mutex_unlock(&c->mu);
	return any;
}

int ifs_cache_run(ifs_cache *c, struct ident *id, uint64_t block, uint32_t *start,
		  uint32_t *len)
{
	pthread_mutex_lock(&c->mu);
	struct chunk *k = find(c, id, block / NB);
	unsigned slot = (unsigned)(block % NB);
	*start = k ? k->start[slot] : 0;
	*len = k ? k->len[slot] : 0;
	pthread_mutex_unlock(&c->mu);
	return *len != 0;
}

/* Forgets a run that failed its check, unless it changed meanwhile. */
static void forget(ifs_cache *c, struct ident *id, uint64_t index, uint64_t gen, unsigned slot,
		   uint32_t start, uint32_t len, uint32_t crc)
{
	atomic_fetch_add(&c->bad, 1);
	pthread_mutex_lock(&c->mu);
	struct chunk *k = find(c, id, index);
	if (k && k->gen == gen && k->start[slot] == start && k->len[slot] == len &&
	    k->crc[slot] == crc) {
		k->bytes -= len;
		c->bytes -= len;
		k->len[slot] = 0;
	}
	pthread_mutex_unlock(&c->mu);
}

unsigned ifs_cache_get(ifs_cache *c, struct ident *id, uint64_t first, unsigned n,
		       const uint32_t *lo, const uint32_t *hi, uint8_t *buf, uint8_t *present)
{
	unsigned got = 0;
	for (unsigned i = 0; i < n;) {
		uint64_t index = (first + i) / NB;
		unsigned slot = (unsigned)((first + i) % NB), m = NB - slot;
		if (m > n - i)
			m = n - i;
		uint32_t crc[NB], len[NB], start[NB];
		uint8_t want[NB] = { 0 };
		uint64_t gen = 0;
		size_t span = 0;   /* bytes to read from the first block's start */
		pthread_mutex_lock(&c->mu);
		struct chunk *k = find(c, id, index);
		if (k) {
			gen = k->gen;
			lru_front(c, k);
			for (unsigned j = 0; j < m; j++) {
				start[j] = k->start[slot + j];
				len[j] = k->len[slot + j];
				crc[j] = k->crc[slot + j];
				if ((want[j] = (uint8_t)covers(k, slot + j, lo[i + j], hi[i + j])))
					span = (size_t)j * B + start[j] + len[j];
			}
		}
		int dirfd = id->dirfd;
		pthread_mutex_unlock(&c->mu);
		int fd = span ? open_chunk(c, dirfd, id, index) : -1;
		/* one read for the runs wanted from this chunk */
		ssize_t rd = fd >= 0 ? pread(fd, buf + (size_t)i * B, span, HDR + (off_t)slot * B) : -1;
		for (unsigned j = 0; rd >= 0 && j < m; j++) {
			if (!want[j])
				continue;
			const uint8_t *run = buf + (size_t)(i + j) * B + start[j];
			int whole = (size_t)j * B + start[j] + len[j] <= (size_t)rd;
			if (whole && ifs_crc32(0, run, len[j]) == crc[j]) {
				present[i + j] = 1;
				got++;
				continue;
			}
			/* torn or changed on disk: forget it, fetch it again */
			forget(c, id, index, gen, slot + j, start[j], len[j], crc[j]);
		}
		if (fd >= 0)
			close(fd);
		i += m;
	}
	atomic_fetch_add(&c->hits, got);
	return got;
}

/* A stretch of the file read into memory: the source's bytes [from, to) at p. */
struct piece {
	uint64_t from, to;
	uint8_t *p;
};

static int add_piece(struct piece *pc, int n, uint64_t from, uint64_t to, uint8_t *p)
{
	if (from < to)
		pc[n++] = (struct piece){ from, to, p };
	return n;
}

/* The CRC-32 of the source's bytes [a, e), which the pieces hold. */
static uint32_t pieces_crc(const struct piece *pc, int n, uint64_t a, uint64_t e)
{
	uint32_t crc = 0;
	for (int i = 0; i < n; i++) {
		uint64_t x = a > pc[i].from ? a : pc[i].from, y = e < pc[i].to ? e : pc[i].to;
		if (x < y)
			crc = ifs_crc32(crc, pc[i].p + (x - pc[i].from), (size_t)(y - x));
	}
	return crc;
}

/* This thread's memo for c (made at its first use; NULL: out of memory). */
static struct memo *memo_of(ifs_cache *c)
{
	struct memo *m = pthread_getspecific(c->memo_key);
	if (m || !(m = calloc(1, sizeof *m)))
		return m;
	m->c = c;
	pthread_mutex_lock(&c->mu);
	m->next = c->memos;
	if (m->next)
		m->next->prev = m;
	c->memos = m;
	pthread_mutex_unlock(&c->mu);
	if (pthread_setspecific(c->memo_key, m) == 0)
		return m;
	memo_free(m);
	return NULL;
}

int ifs_cache_read(ifs_cache *c, struct ident *id, uint64_t off, size_t len, uint8_t *buf)
{
	uint64_t end = off + len;
	unsigned blocks = 0;
	struct memo *mo = memo_of(c);
	uint8_t head[B];   /* the first run's bytes before off */
	for (uint64_t pos = off; pos < end;) {
		uint64_t block = pos / B, index = block / NB, c0 = index * NB * (uint64_t)B;
		unsigned slot = (unsigned)(block % NB);
		uint64_t cend = c0 + NB * (uint64_t)B;   /* this chunk's part of the read */
		if (cend > end)
			cend = end;
		unsigned m = (unsigned)((cend - 1) / B - block + 1);
		uint32_t start[NB], rl[NB], crc[NB];
		uint64_t gen = 0;
		pthread_mutex_lock(&c->mu);
		struct chunk *k = find(c, id, index);
		int held = k != NULL;
		for (unsigned j = 0; held && j < m; j++) {
			uint64_t bo = (block + j) * B;
			uint32_t lo = j ? 0 : (uint32_t)(pos - bo);
			uint32_t hi = (uint32_t)(cend - bo < B ? cend - bo : B);
			held = covers(k, slot + j, lo, hi);
			start[j] = k->start[slot + j];
			rl[j] = k->len[slot + j];
			crc[j] = k->crc[slot + j];
		}
		if (held) {
			gen = k->gen;
			lru_front(c, k);
		}
		int dirfd = id->dirfd;
		pthread_mutex_unlock(&c->mu);
		if (!held)
			return 0;
		blocks += m;
		unsigned j0 = 0;
		if (mo && mo->len && mo->id == id && mo->block == block && mo->gen == gen &&
		    mo->start == start[0] && mo->len == rl[0] && mo->crc == crc[0] &&
		    pos - block * B >= mo->have) {
			/* the run this thread's last read ended in, as it checked it */
			uint64_t be = (block + 1) * B < cend ? (block + 1) * B : cend;
			memcpy(buf + (pos - off), mo->run + (pos - block * B), (size_t)(be - pos));
			if ((pos = be) == cend)
				continue;
			j0 = 1;
		}
		/* each block's run reaches its neighbour's (the wanted bytes cross
		 * every inner block edge), so the runs are one stretch of the file:
		 * the part before the read aside, the part wanted into buf, the part
		 * past it (a run that goes on) into the memo */
		uint64_t last = block + m - 1;
		uint64_t a = (block + j0) * B + start[j0], e = last * B + start[m - 1] + rl[m - 1];
		if (e > cend && !mo)
			return 0;
		struct piece pc[3];
		int np = add_piece(pc, 0, a, pos, head);
		np = add_piece(pc, np, pos, cend, buf + (pos - off));
		if (e > cend) {
			mo->len = 0;
			np = add_piece(pc, np, cend, e, mo->run + (cend - last * B));
		}
		struct iovec iov[3];
		for (int i = 0; i < np; i++)
			iov[i] = (struct iovec){ pc[i].p, (size_t)(pc[i].to - pc[i].from) };
		int fd = open_chunk(c, dirfd, id, index);
		ssize_t rd = fd >= 0 ? preadv(fd, iov, np, HDR + (off_t)(a - c0)) : -1;
		if (fd >= 0)
			close(fd);
		int ok = rd >= 0;
		for (unsigned j = j0; rd >= 0 && j < m; j++) {
			uint64_t ra = (block + j) * B + start[j], re = ra + rl[j];
			if (re - a <= (uint64_t)rd && pieces_crc(pc, np, ra, re) == crc[j])
				continue;
			/* torn or changed on disk: forget it, fetch it again */
			forget(c, id, index, gen, slot + j, start[j], rl[j], crc[j]);
			ok = 0;
		}
		if (!ok)
			return 0;
		if (e > cend) {
			mo->id = id;
			mo->block = last;
			mo->gen = gen;
			mo->start = start[m - 1];
			mo->len = rl[m - 1];
			mo->crc = crc[m - 1];
			mo->have = (uint32_t)(cend - last * B);
		}
		pos = cend;
	}
	atomic_fetch_add(&c->hits, blocks);
	return 1;
}

/*
 * The run to write for [start, start + len) given the one held: the new
 * run alone, or both joined when they touch (the held bytes read back and
 * checked first). Returns 0 to write tmp[*us, *us + *ul), or -1 to keep
 * what is held (it covers the new run, or is the longer of two apart).
 */
static int join(int fd, unsigned slot, uint32_t s0, uint32_t l0, uint32_t crc0, uint32_t start,
		const uint8_t *data, uint32_t len, uint8_t *tmp, uint32_t *us, uint32_t *ul)
{
	memcpy(tmp + start, data, len);
	*us = start;
	*ul = len;
	if (!l0)
		return 0;
	if (s0 <= start && start + len <= s0 + l0)
		return -1;
	if (start > s0 + l0 || s0 > start + len)   /* apart: keep the longer */
		return l0 > len ? -1 : 0;
	uint8_t old[B];
	if (pread(fd, old, l0, HDR + (off_t)slot * B + s0) != (ssize_t)l0 ||
	    ifs_crc32(0, old, l0) != crc0)
		return 0;   /* the held run is bad: the new one replaces it */
	uint32_t a = s0 < start ? s0 : start;
	uint32_t e = s0 + l0 > start + len ? s0 + l0 : start + len;
	/* the held bytes where the new run does not reach (both are the
	 * source's same bytes where they overlap) */
	for (uint32_t x = s0; x < s0 + l0; x++)
		if (x < start || x >= start + len)
			tmp[x] = old[x - s0];
	*us = a;
	*ul = e - a;
	return 0;
}

void ifs_cache_put(ifs_cache *c, struct ident *id, uint64_t block, uint32_t start,
		   const uint8_t *data, uint32_t len)
{
	if (!len || start + len > B)
		return;
	uint64_t index = block / NB;
	unsigned slot = (unsigned)(block % NB);
	pthread_mutex_lock(&c->mu);
	struct chunk *k = find(c, id, index);
	if (!k)
		k = create_chunk(c, id, index);
	if (!k || covers(k, slot, start, start + len)) {
		if (k)
			lru_front(c, k);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	uint64_t gen = k->gen;
	uint32_t s0 = k->start[slot], l0 = k->len[slot], crc0 = k->crc[slot];
	k->bytes -= l0;
	c->bytes -= l0;
	k->len[slot] = 0;
	pthread_mutex_unlock(&c->mu);

	char path[4096];
	uint8_t e[8] = { 0 }, tmp[B];
	uint32_t us, ul;
	chunk_path(c, id, index, path, sizeof path);
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;   /* evicted meanwhile */
	int ok = 1;
	if (join(fd, slot, s0, l0, crc0, start, data, len, tmp, &us, &ul) < 0) {
		us = s0;   /* what was held stays: its entry on disk is unchanged */
		ul = l0;
	} else {
		uint32_t crc = ifs_crc32(0, tmp + us, ul);
		off_t eoff = ENTRY0 + (off_t)slot * 8;
		/* the order is what makes it crash-safe: entry cleared, run, entry
		 * (the disk may hold an entry that memory dropped as bad) */
		ok = pwrite(fd, e, 8, eoff) == 8;
		ok = ok && pwrite(fd, tmp + us, ul, HDR + (off_t)slot * B + us) == (ssize_t)ul;
		put32(e, us | ul << 16);
		put32(e + 4, crc);
		ok = ok && pwrite(fd, e, 8, eoff) == 8;
		crc0 = crc;
	}
	ok &= close(fd) == 0;
	if (!ok)
		return;
	pthread_mutex_lock(&c->mu);
	k = find(c, id, index);
	if (k && k->gen == gen && k->len[slot] == 0) {
		k->start[slot] = (uint16_t)us;
		k->len[slot] = ul;
		k->crc[slot] = crc0;
		k->bytes += ul;
		c->bytes += ul;
		lru_front(c, k);
		evict(c, k);
	}
	pthread_mutex_unlock(&c->mu);
}

void ifs_cache_count_miss(ifs_cache *c, unsigned blocks)
{
	atomic_fetch_add(&c->misses, blocks);
}

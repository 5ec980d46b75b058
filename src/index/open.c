/*
 * open.c - finding, checking and opening an index for serving.
 *
 * Serving connections are opened through /proc/self/fd/N of a descriptor
 * held since ifs_index_open, so every thread reads the same file even if a
 * rebuild renames a new index into place meanwhile; they are opened with
 * immutable=1 since nothing changes an index after its build. A live index
 * (still being built, by this process) is opened with normal locking
 * instead; its state moves on with ifs_index_publish.
 */
#include "inatfs/index.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <sqlite3.h>

#include "inatfs/place.h"
#include "inatfs/trust.h"
#include "schema.h"

const char *const ifs_source_files[] = {
	"train_val_images.tar.gz", "test2017.tar.gz", "train_val2017.zip",
	"train_2017_bboxes.zip", "val_2017_bboxes.zip", "inat2017_locations.zip",
	"test2017.zip", NULL,
};

const char *ifs_archive_file(int archive)
{
	switch (archive) {
	case IFS_ARCHIVE_TRAINVAL: return "train_val_images.tar.gz";
	case IFS_ARCHIVE_TEST: return "test2017.tar.gz";
	default: return NULL;
	}
}

/* ---- fingerprints ------------------------------------------------------ */

int ifs_archive_open(const char *path, ifs_source **out, ifs_err *err)
{
	return ifs_place_open(path, out, err);
}

static int is_remote(const ifs_source *src)
{
	return strncmp(ifs_source_identity(src), "file:", 5) != 0;
}

static int hash_range(ifs_source *src, uint64_t off, size_t len, uLong *crc, ifs_err *err)
{
	uint8_t buf[65536];
	ifs_source_hint(src, off, len);   /* a remote source: one request, not one per buffer */
	while (len > 0) {
		size_t want = len < sizeof buf ? len : sizeof buf;
		ssize_t n = ifs_source_pread(src, buf, want, off, err);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		*crc = crc32(*crc, buf, (uInt)n);
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int ifs_source_fingerprint(ifs_source *src, char **out, ifs_err *err)
{
	*out = NULL;
	uint64_t size = ifs_source_size(src);
	struct timespec mt = { 0, 0 };
	(void)ifs_source_mtime(src, &mt);   /* unknown: 0 */
	const size_t mib = 1 << 20;
	uLong head = crc32(0, NULL, 0), tail = crc32(0, NULL, 0);
	if (size > mib)   /* a remote source fetches it while the head is hashed */
		ifs_source_hint(src, size - mib, mib);
	int r = hash_range(src, 0, mib, &head, err);
	if (r == 0 && size > mib)
		r = hash_range(src, size - mib, mib, &tail, err);
	if (r)
		return r;
	int n = is_remote(src)
		? asprintf(out, "%llu:remote:%08lx%08lx:%s", (unsigned long long)size, head, tail,
			   ifs_source_identity(src))
		: asprintf(out, "%llu:%lld.%09ld:%08lx%08lx", (unsigned long long)size,
			   (long long)mt.tv_sec, mt.tv_nsec, head, tail);
	if (n < 0) {
		*out = NULL;
		return ifs_err_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

int ifs_archive_fingerprint(const char *path, char **out, ifs_err *err)
{
	ifs_source *src;
	*out = NULL;
	int r = ifs_archive_open(path, &src, err);
	if (r)
		return r;
	r = ifs_source_fingerprint(src, out, err);
	ifs_source_close(src);
	return r;
}

/*
 * A fingerprint's parts: the size and the hash of the first and last MiB
 * (16 hex digits), and for a remote one the source's identity. 0, or -1 for
 * a string of another form.
 */
static int fp_parts(const char *fp, unsigned long long *size, char hash[17], const char **ident)
{
	char *end;
	errno = 0;
	*size = strtoull(fp, &end, 10);
	if (errno || end == fp || *end != ':')
		return -1;
	const char *p = strchr(end + 1, ':');
	if (!p || strspn(p + 1, "0123456789abcdef") < 16)
		return -1;
	memcpy(hash, p + 1, 16);
	hash[16] = '\0';
	p += 17;
	*ident = strncmp(end + 1, "remote:", 7) == 0 && *p == ':' ? p + 1 : NULL;
	return *ident || !*p ? 0 : -1;
}

/*
 * Whether the download at full is the one the index recorded as then: a
 * remote object by its identity (size, ETag, Last-Modified: no bytes read);
 * a local file by its fingerprint as always; across the two (an index built
 * from a local copy serving the remote one, or back) by size and content
 * hash. 1, 0 (*what says how it differs), or a negative errno.
 */
static int same_source(const char *full, const char *then, const char **what, ifs_err *err)
{
	ifs_source *src;
	int r = ifs_archive_open(full, &src, err);
	if (r)
		return r;
	unsigned long long tsize = 0, nsize;
	char thash[17], nhash[17];
	const char *tid = NULL, *nid;
	int tparsed = fp_parts(then, &tsize, thash, &tid) == 0;
	*what = "changed";
	if (tparsed && tid && is_remote(src)) {
		r = tsize == ifs_source_size(src) && strcmp(tid, ifs_source_identity(src)) == 0;
		ifs_source_close(src);
		return r;
	}
	char *now = NULL;
	r = ifs_source_fingerprint(src, &now, err);
	ifs_source_close(src);
	if (r)
		return r;
	if (!tparsed || fp_parts(now, &nsize, nhash, &nid))
		r = 0;
	else if (!tid == !nid)
		r = strcmp(then, now) == 0;
	else
		r = tsize == nsize && strcmp(thash, nhash) == 0;
	free(now);
	return r;
}

/* ---- locating ---------------------------------------------------------- */

/* $XDG_CACHE_HOME/inatfs (or ~/.cache/inatfs), created (malloc'd in *out). */
int ifs_cache_home(char **out, ifs_err *err)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *base = NULL;
	*out = NULL;
	if (xdg && *xdg) {
		if (asprintf(&base, "%s/inatfs", xdg) < 0)
			return ifs_err_set(err, ENOMEM, "out of memory");
	} else if (home && *home) {
		if (asprintf(&base, "%s/.cache/inatfs", home) < 0)
			return ifs_err_set(err, ENOMEM, "out of memory");
	} else {
		return ifs_err_set(err, EACCES, "neither XDG_CACHE_HOME nor HOME is set");
	}
	/* mkdir -p of the cache folder (two levels at most matter here) */
	char *slash = strrchr(base, '/');
	if (slash) {
		*slash = '\0';
		mkdir(base, 0700);
		*slash = '/';
	}
	if (mkdir(base, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		free(base);
		return ifs_err_sys(err, e, "cannot create the cache folder");
	}
	*out = base;
	return 0;
}

/* The index of a URL prefix: named from it, "https_host_2017-<crc>.idx". */
static int remote_index_path(const char *url, char **out, ifs_err *err)
{
	char *base, name[160];
	int r = ifs_cache_home(&base, err);
	if (r)
		return r;
	size_t n = 0;
	for (const char *p = url; *p && n + 1 < 120; p++) {
		int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			 (*p >= '0' && *p <= '9') || *p == '.' || *p == '-';
		if (ok)
			name[n++] = *p;
		else if (n && name[n - 1] != '_')
			name[n++] = '_';
	}
	while (n && name[n - 1] == '_')
		n--;
	name[n] = '\0';
	uLong h = crc32(0, (const Bytef *)url, (uInt)strlen(url));
	int k = asprintf(out, "%s/%s-%08lx.idx", base, name, h);
	free(base);
	if (k < 0) {
		*out = NULL;
		return ifs_err_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

int ifs_index_locate(const char *data_dir, const char *explicit_path, char **out, ifs_err *err)
{
	*out = NULL;
	if (explicit_path) {
		*out = strdup(explicit_path);
		return *out ? 0 : ifs_err_set(err, ENOMEM, "out of memory");
	}
	if (ifs_place_is_url(data_dir))
		return remote_index_path(data_dir, out, err);
	if (access(data_dir, W_OK) == 0) {
		if (asprintf(out, "%s/.inatfs-index.sqlite", data_dir) < 0)
			goto nomem;
		return 0;
	}
	char real[PATH_MAX];
	if (!realpath(data_dir, real))
		return ifs_err_sys(err, errno, "%s", data_dir);
	char *base;
	ifs_err e2;
	ifs_err_clear(&e2);
	int r = ifs_cache_home(&base, &e2);
	if (r == -EACCES)
		return ifs_err_set(err, EACCES, "%s is not writable and neither XDG_CACHE_HOME nor "
				   "HOME is set: give the index a place with -o index=PATH", data_dir);
	if (r)
		return ifs_err_set(err, e2.code, "%s", e2.msg);
	uLong h = crc32(0, (const Bytef *)real, (uInt)strlen(real));
	const char *leaf = strrchr(real, '/');
	int n = asprintf(out, "%s/%s-%08lx.sqlite", base, leaf && leaf[1] ? leaf + 1 : "root", h);
	free(base);
	if (n < 0)
		goto nomem;
	return 0;
nomem:
	*out = NULL;
	return ifs_err_set(err, ENOMEM, "out of memory");
}

/* ---- checking ---------------------------------------------------------- */

int ifs_index_check(const char *path, const char *data_dir, ifs_err *err)
{
	if (access(path, F_OK) < 0 && errno != ELOOP)
		return errno == ENOENT ? -ENOENT : ifs_err_sys(err, errno, "%s", path);
	/* a link, or a file someone else could have planted: refused, not rebuilt
	 * over (trust.h) */
	int tfd = ifs_trust_open(path, 0, err);
	if (tfd < 0)
		return tfd;
	close(tfd);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int r = -ESTALE;
	if (ifs_index_sql_open(path, &db, SQLITE_OPEN_READONLY) != SQLITE_OK) {
		ifs_err_set(err, ESTALE, "cannot open it (%s)", db ? sqlite3_errmsg(db) : "no memory");
		goto out;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		ifs_err_set(err, ESTALE, "not an inatfs index (%s)", sqlite3_errmsg(db));
		goto out;
	}
	int version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version != IFS_SCHEMA_VERSION) {
		ifs_err_set(err, ESTALE, "schema version %d, this inatfs needs %d", version,
			    IFS_SCHEMA_VERSION);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "SELECT fingerprint FROM sources WHERE file=?1", -1, &st,
			       NULL) != SQLITE_OK) {
		ifs_err_set(err, ESTALE, "not an inatfs index (%s)", sqlite3_errmsg(db));
		goto out;
	}
	for (const char *const *f = ifs_source_files; *f; f++) {
		char full[PATH_MAX];
		snprintf(full, sizeof full, "%s/%s", data_dir, *f);
		ifs_err e2;
		ifs_err_clear(&e2);
		int there = ifs_place_exists(full, &e2);
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, *f, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		const char *then = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
		int was = then && strcmp(then, "absent") != 0;
		const char *what = was ? "was removed" : "was added";
		int same = there >= 0 && !there && !was;
		if (there > 0 && was)
			there = same = same_source(full, then, &what, &e2);
		if (there < 0) {
			r = ifs_err_set(err, e2.code, "%s", e2.msg);
			goto out;
		}
		if (!same) {
			ifs_err_set(err, ESTALE, "%s %s since the index was built", *f, what);
			goto out;
		}
	}
	r = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

/* ---- serving ----------------------------------------------------------- */

#define STMT_CACHE 64

struct conn {
	sqlite3 *db;
	struct { const char *sql; sqlite3_stmt *st; } stmts[STMT_CACHE];
	struct ifs_index *idx;
	struct conn *prev, *next;
};

struct ifs_index {
	char *path, *data_dir, *uri;
	int index_fd;
	ifs_source *archive[IFS_ARCHIVE_MAX + 1];
	pthread_key_t key;
	pthread_mutex_t lock;      /* guards conns */
	struct conn *conns;
	/* a live index (being built): state and commit count, under live_lock */
	int live;
	pthread_mutex_t live_lock;
	pthread_cond_t live_cv;
	uint64_t generation;
};

static void conn_free(struct conn *c)
{
	for (int i = 0; i < STMT_CACHE; i++)
		sqlite3_finalize(c->stmts[i].st);
	sqlite3_close(c->db);
	free(c);
}

/*
 * A thread that exits closes its connection: FUSE starts and stops worker
 * threads as load comes and goes, and each connection holds a descriptor.
 */
static void conn_release(void *p)
{
	struct conn *c = p;
	ifs_index *idx = c->idx;
	pthread_mutex_lock(&idx->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		idx->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&idx->lock);
	conn_free(c);
}

static int index_open(const char *path, const char *data_dir, int live, ifs_index **out,
		      ifs_err *err)
{
	*out = NULL;
	ifs_index *idx = calloc(1, sizeof *idx);
	if (!idx)
		return ifs_err_set(err, ENOMEM, "out of memory");
	idx->index_fd = -1;
	pthread_mutex_init(&idx->lock, NULL);
	pthread_mutex_init(&idx->live_lock, NULL);
	pthread_cond_init(&idx->live_cv, NULL);
	idx->live = live;
	int r = 0;
	if (pthread_key_create(&idx->key, conn_release) != 0) {
		free(idx);
		return ifs_err_set(err, EAGAIN, "pthread_key_create failed");
	}
	idx->path = strdup(path);
	idx->data_dir = strdup(data_dir);
	if (!idx->path || !idx->data_dir) {
		r = ifs_err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	idx->index_fd = ifs_trust_open(path, 0, err);
	if (idx->index_fd < 0) {
		r = idx->index_fd;
		goto fail;
	}
	/* a live index changes under us: normal locking, and waits for the writer */
	if (asprintf(&idx->uri, live ? "file:/proc/self/fd/%d" : "file:/proc/self/fd/%d?immutable=1",
		     idx->index_fd) < 0) {
		idx->uri = NULL;
		r = ifs_err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
		char full[PATH_MAX];
		snprintf(full, sizeof full, "%s/%s", data_dir, ifs_archive_file(a));
		ifs_err e2;
		ifs_err_clear(&e2);
		int ar = ifs_archive_open(full, &idx->archive[a], &e2);
		if (ar < 0 && ar != -ENOENT) {
			r = ifs_err_set(err, e2.code, "%s", e2.msg);
			goto fail;
		}
	}
	sqlite3 *db = ifs_index_db(idx, err);
	if (!db) {
		r = -(err && err->code ? err->code : EIO);
		goto fail;
	}
	if ((r = ifs_index_validate(db, path, err)))
		goto fail;
	*out = idx;
	return 0;
fail:
	ifs_index_close(idx);
	return r;
}

int ifs_index_open(const char *path, const char *data_dir, ifs_index **out, ifs_err *err)
{
	return index_open(path, data_dir, IFS_LIVE_NO, out, err);
}

int ifs_index_open_live(const char *temp_path, const char *data_dir, ifs_index **out,
			ifs_err *err)
{
	return index_open(temp_path, data_dir, IFS_LIVE_SCANNING, out, err);
}

int ifs_index_live_state(ifs_index *idx)
{
	return __atomic_load_n(&idx->live, __ATOMIC_ACQUIRE);
}

int ifs_index_complete(ifs_index *idx)
{
	int s = ifs_index_live_state(idx);
	return s == IFS_LIVE_NO || s == IFS_LIVE_DONE;
}

uint64_t ifs_index_generation(ifs_index *idx)
{
	pthread_mutex_lock(&idx->live_lock);
	uint64_t g = idx->generation;
	pthread_mutex_unlock(&idx->live_lock);
	return g;
}

void ifs_index_publish(ifs_index *idx, int state)
{
	pthread_mutex_lock(&idx->live_lock);
	idx->generation++;
	if (state >= 0)
		__atomic_store_n(&idx->live, state, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&idx->live_cv);
	pthread_mutex_unlock(&idx->live_lock);
}

void ifs_index_wait(ifs_index *idx, uint64_t gen, int timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&idx->live_lock);
	while (idx->generation == gen &&
	       pthread_cond_timedwait(&idx->live_cv, &idx->live_lock, &until) == 0)
		;
	pthread_mutex_unlock(&idx->live_lock);
}

void ifs_index_close(ifs_index *idx)
{
	if (!idx)
		return;
	/* threads still alive (this one included) leave their connection here */
	pthread_setspecific(idx->key, NULL);
	for (struct conn *c = idx->conns, *n; c; c = n) {
		n = c->next;
		conn_free(c);
	}
	pthread_key_delete(idx->key);
	pthread_mutex_destroy(&idx->lock);
	pthread_mutex_destroy(&idx->live_lock);
	pthread_cond_destroy(&idx->live_cv);
	for (int a = 0; a <= IFS_ARCHIVE_MAX; a++)
		ifs_source_close(idx->archive[a]);
	if (idx->index_fd >= 0)
		close(idx->index_fd);
	free(idx->uri);
	free(idx->path);
	free(idx->data_dir);
	free(idx);
}

static struct conn *thread_conn(ifs_index *idx, ifs_err *err)
{
	struct conn *c = pthread_getspecific(idx->key);
	if (c)
		return c;
	c = calloc(1, sizeof *c);
	if (!c) {
		ifs_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
	if (ifs_index_sql_open(idx->uri, &c->db, flags) != SQLITE_OK) {
		ifs_err_set(err, EIO, "%s: %s", idx->path, c->db ? sqlite3_errmsg(c->db) : "no memory");
		sqlite3_close(c->db);
		free(c);
		return NULL;
	}
	/* A small page cache per thread keeps the daemon's memory bounded. */
	sqlite3_exec(c->db, "PRAGMA cache_size=-4096", NULL, NULL, NULL);
	if (idx->live)   /* the build holds the file while it commits */
		sqlite3_busy_timeout(c->db, 60000);
	c->idx = idx;
	pthread_mutex_lock(&idx->lock);
	c->next = idx->conns;
	if (c->next)
		c->next->prev = c;
	idx->conns = c;
	pthread_mutex_unlock(&idx->lock);
	pthread_setspecific(idx->key, c);
	return c;
}

sqlite3 *ifs_index_db(ifs_index *idx, ifs_err *err)
{
	struct conn *c = thread_conn(idx, err);
	return c ? c->db : NULL;
}

sqlite3_stmt *ifs_index_stmt(ifs_index *idx, const char *sql, ifs_err *err)
{
	struct conn *c = thread_conn(idx, err);
	if (!c)
		return NULL;
	int i;
	for (i = 0; i < STMT_CACHE && c->stmts[i].sql; i++) {
		if (c->stmts[i].sql == sql) {
			sqlite3_reset(c->stmts[i].st);
			sqlite3_clear_bindings(c->stmts[i].st);
			return c->stmts[i].st;
		}
	}
	sqlite3_stmt *st;
	if (ifs_sql_prepare(c->db, sql, &st, err) < 0)
		return NULL;
	if (i < STMT_CACHE) {
		c->stmts[i].sql = sql;
		c->stmts[i].st = st;
	} else {
		/* cache full: replace the last slot (never happens with the fixed query set) */
		sqlite3_finalize(c->stmts[STMT_CACHE - 1].st);
		c->stmts[STMT_CACHE - 1].sql = sql;
		c->stmts[STMT_CACHE - 1].st = st;
	}
	return st;
}

int ifs_index_db_error(ifs_index *idx, ifs_err *err)
{
	struct conn *c = pthread_getspecific(idx->key);
	return ifs_err_set(err, EIO, "index: %s: %s", idx->path,
			   c ? sqlite3_errmsg(c->db) : "no connection");
}

int ifs_index_bad_name(ifs_index *idx, const char *what, long long row, ifs_err *err)
{
	return ifs_err_set(err, EIO, "index: %s: %s %lld has no valid name (a damaged index: "
			   "remove it to have it rebuilt)", idx->path, what, row);
}

const char *ifs_index_data_dir(const ifs_index *idx) { return idx->data_dir; }
const char *ifs_index_path(const ifs_index *idx) { return idx->path; }

ifs_source *ifs_index_archive(const ifs_index *idx, int archive)
{
	return archive >= 1 && archive <= IFS_ARCHIVE_MAX ? idx->archive[archive] : NULL;
}

int ifs_index_checkpoint(ifs_index *idx, int archive, uint64_t off, ifs_gz_checkpoint *cp,
			 ifs_err *err)
{
	memset(cp, 0, sizeof *cp);
	sqlite3_stmt *st = ifs_index_stmt(idx, ifs_sql_checkpoint, err);
	if (!st)
		return -EIO;
	int r = ifs_sql_checkpoint_row(st, archive, off, cp);
	if (r == -ENOENT && ifs_index_live_state(idx) == IFS_LIVE_SCANNING)
		return -EAGAIN;   /* the scan has not delivered it yet */
	if (r == -ENOENT)
		return ifs_err_set(err, EIO, "%s: no checkpoint at or before offset %llu",
				   ifs_archive_file(archive), (unsigned long long)off);
	if (r == -ENOMEM)
		return ifs_err_set(err, ENOMEM, "out of memory");
	if (r)
		return ifs_err_set(err, EIO, "index: %s: looking up a checkpoint of %s failed "
				   "(corrupt index?)", idx->path, ifs_archive_file(archive));
	return 0;
}

uint64_t ifs_index_in_end(ifs_index *idx, int archive, uint64_t end)
{
	if (archive < 1 || archive > IFS_ARCHIVE_MAX || (end >> IFS_CP_OFF_BITS))
		return 0;
	sqlite3_stmt *st = ifs_index_stmt(idx, ifs_sql_ends, NULL);
	uint64_t v = 0;
	if (!st || ifs_sql_in_end(st, archive, end, &v) != 1)
		return 0;
	/* a hint only: a value outside the file is no hint */
	ifs_source *src = idx->archive[archive];
	return v > 0 && src && v <= ifs_source_size(src) ? v : 0;
}

static const char *const q_meta = "SELECT value FROM meta WHERE key=?1";

char *ifs_index_meta(ifs_index *idx, const char *key)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_meta, NULL);
	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	char *v = NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return v;
}

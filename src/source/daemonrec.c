/*
 * daemonrec.c - the records running mounts publish about themselves
 * (daemonrec.h): naming, the atomic write, the checked read, and the
 * listing that tells live daemons from dead ones by what it can check on
 * this machine (/proc), not by what a file says.
 */
#include "inatfs/daemonrec.h"

#include "inatfs/machine.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define NAME_PART 60
#define HOST_PART 64
#define NUM_MAX 9007199254740992.0   /* 2^53: every whole number below is exact in JSON */

/* ---- naming -------------------------------------------------------------- */

/* in made safe for a file name: [A-Za-z0-9.-] kept, runs of others one '_'. */
static void safe_part(const char *in, char *out, size_t max)
{
	size_t n = 0;
	for (const char *p = in; *p && n + 1 < max; p++) {
		int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			 (*p >= '0' && *p <= '9') || *p == '.' || *p == '-';
		if (ok)
			out[n++] = *p;
		else if (n && out[n - 1] != '_')
			out[n++] = '_';
	}
	while (n && out[n - 1] == '_')
		n--;
	if (n == 0)
		out[n++] = 'x';
	out[n] = '\0';
}

/* The source as recorded: a URL without user:password@, query or fragment
 * (refused upstream; dropped here all the same: no credential is written). */
static void clean_source(const char *in, char *out, size_t size)
{
	snprintf(out, size, "%s", in);
	char *auth = strstr(out, "://");
	size_t sl = strspn(out, "abcdefghijklmnopqrstuvwxyz0123456789+.-");
	if (!auth || sl == 0 || out + sl != auth)
		return;   /* not a URL */
	auth += 3;
	auth[strcspn(auth, "?#")] = '\0';
	size_t al = strcspn(auth, "/");
	char *at = NULL;
	for (char *p = auth; p < auth + al; p++)
		if (*p == '@')
			at = p;
	if (at)
		memmove(auth, at + 1, strlen(at + 1) + 1);
}

int ifs_daemonrec_prefix(const char *source, char *out, size_t size)
{
	char clean[PATH_MAX], name[NAME_PART + 1];
	clean_source(source, clean, sizeof clean);
	safe_part(clean, name, sizeof name);
	uLong crc = crc32(0, (const Bytef *)clean, (uInt)strlen(clean));
	int n = snprintf(out, size, "%s-%08lx@", name, crc);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int ifs_daemonrec_name(const ifs_daemonrec *r, char *out, size_t size)
{
	char host[HOST_PART + 1];
	safe_part(r->host, host, sizeof host);
	int p = ifs_daemonrec_prefix(r->source, out, size);
	if (p)
		return p;
	size_t l = strlen(out);
	int n = snprintf(out + l, size - l, "%s.%ld.json", host, r->pid);
	return n < 0 || (size_t)n >= size - l ? -ENAMETOOLONG : 0;
}

/* ---- this machine and its processes ---------------------------------------- */

/* The start time of process pid (field 22 of /proc/PID/stat): 0, or -ESRCH
 * when it is not running. The name in parentheses may hold anything: the
 * fields are counted from the last ')'. */
static int proc_start(long pid, unsigned long long *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return -ESRCH;
	p++;
	/* fields 3 (state) to 22 (starttime): 20 fields after the ')' */
	for (int field = 3; field < 22 && p; field++) {
		p += strspn(p, " ");
		p = strchr(p, ' ');
	}
	if (!p)
		return -ESRCH;
	char *end;
	errno = 0;
	*start = strtoull(p, &end, 10);
	return end == p || errno ? -ESRCH : 0;
}

int ifs_daemonrec_self(ifs_daemonrec *r, ifs_err *err)
{
	r->pid = (long)getpid();
	if (proc_start(r->pid, &r->start) < 0)
		return ifs_err_set(err, ENOENT, "/proc/self/stat: cannot read this process's start");
	ifs_machine_host(r->host, sizeof r->host);
	ifs_machine_boot(r->boot, sizeof r->boot);
	return 0;
}

/* ---- writing ------------------------------------------------------------------ */

static char *format(const ifs_daemonrec *r)
{
	char src[PATH_MAX];
	clean_source(r->source, src, sizeof src);
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	const struct { const char *k; uint64_t v; } nums[] = {
		{ "inatfs_daemon", 1 }, { "pid", (uint64_t)r->pid }, { "start", r->start },
		{ "started", (uint64_t)r->started }, { "updated", (uint64_t)r->updated },
		{ "requests", r->st.requests }, { "retries", r->st.retries },
		{ "bytes_fetched", r->st.bytes_fetched }, { "cache_hits", r->st.cache_hits },
		{ "cache_misses", r->st.cache_misses }, { "cache_bad", r->st.cache_bad },
		{ "cache_bytes", r->st.cache_bytes },
	};
	int ok = 1;
	for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
		/* written as integers (cJSON's doubles print 15 digits), capped
		 * where a reader's double is still exact */
		char num[24];
		uint64_t v = nums[i].v < (1ull << 53) ? nums[i].v : (1ull << 53);
		snprintf(num, sizeof num, "%llu", (unsigned long long)v);
		ok &= cJSON_AddRawToObject(o, nums[i].k, num) != NULL;
	}
	ok &= cJSON_AddStringToObject(o, "host", r->host) != NULL;
	ok &= cJSON_AddStringToObject(o, "boot", r->boot) != NULL;
	ok &= cJSON_AddStringToObject(o, "source", src) != NULL;
	ok &= cJSON_AddStringToObject(o, "mountpoint", r->mountpoint) != NULL;
	ok &= cJSON_AddStringToObject(o, "index", r->index) != NULL;
	ok &= (r->cache[0] ? cJSON_AddStringToObject(o, "cache", r->cache)
			   : cJSON_AddNullToObject(o, "cache")) != NULL;
	ok &= cJSON_AddBoolToObject(o, "cache_busy", r->cache_busy) != NULL;
	char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return text;
}

int ifs_daemonrec_write(const char *dir, const ifs_daemonrec *r, ifs_err *err)
{
	char name[NAME_MAX + 1], path[PATH_MAX], tmp[PATH_MAX];
	if (ifs_daemonrec_name(r, name, sizeof name) < 0 ||
	    snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
	    snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return ifs_err_set(err, ENAMETOOLONG, "%s: the record's name is too long", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return ifs_err_sys(err, errno, "%s", dir);
	char *text = format(r);
	if (!text)
		return ifs_err_set(err, ENOMEM, "out of memory");
	size_t len = strlen(text);
	int e = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = errno;
	} else {
		for (size_t done = 0; done < len && !e;) {
			ssize_t n = write(fd, text + done, len - done);
			if (n < 0 && errno != EINTR)
				e = errno;
			else if (n > 0)
				done += (size_t)n;
		}
		if (close(fd) < 0 && !e)
			e = errno;
		/* the rename is what readers see: the whole new record or the old one */
		if (!e && rename(tmp, path) < 0)
			e = errno;
		if (e)
			unlink(tmp);
	}
	free(text);
	return e ? ifs_err_sys(err, e, "%s", tmp) : 0;
}

void ifs_daemonrec_remove(const char *dir, const ifs_daemonrec *r)
{
	char name[NAME_MAX + 1], path[PATH_MAX];
	if (ifs_daemonrec_name(r, name, sizeof name) < 0 ||
	    snprintf(path, sizeof path, "%s/%s.tmp", dir, name) >= (int)sizeof path)
		return;
	unlink(path);
	path[strlen(path) - 4] = '\0';
	unlink(path);
}

/* ---- reading ------------------------------------------------------------------ */

static int get_num(const cJSON *o, const char *key, double max, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
	    v->valuedouble > max || v->valuedouble != floor(v->valuedouble))
		return -1;
	*out = v->valuedouble;
	return 0;
}

/* A string (or, with nullable, null: ""), shorter than size. */
static int get_str(const cJSON *o, const char *key, char *out, size_t size, int nullable)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (nullable && cJSON_IsNull(v)) {
		out[0] = '\0';
		return 0;
	}
	if (!cJSON_IsString(v) || !v->valuestring || strlen(v->valuestring) >= size)
		return -1;
	memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
	return 0;
}

int ifs_daemonrec_parse(const char *text, size_t len, const char *what, ifs_daemonrec *r,
			ifs_err *err)
{
	memset(r, 0, sizeof *r);
	const char *end = NULL;
	cJSON *o = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!o)
		return ifs_err_set(err, EINVAL, "%s: not JSON", what);
	/* one value, then only white space */
	for (const char *p = end; p && p < text + len; p++)
		if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') {
			cJSON_Delete(o);
			return ifs_err_set(err, EINVAL, "%s: text after the record", what);
		}
	const char *bad = NULL;
	double v[12];
	static const char *const keys[] = { "inatfs_daemon", "pid", "start", "started", "updated",
					    "requests", "retries", "bytes_fetched", "cache_hits",
					    "cache_misses", "cache_bad", "cache_bytes" };
	if (!cJSON_IsObject(o))
		bad = "not a JSON object";
	for (size_t i = 0; !bad && i < 12; i++)
		if (get_num(o, keys[i], i == 1 ? 2147483647.0 : NUM_MAX, &v[i]) < 0)
			bad = keys[i];
	if (!bad && v[0] != 1)
		bad = "inatfs_daemon (a record of another version)";
	if (!bad && v[1] < 1)
		bad = "pid";
	const cJSON *busy = cJSON_GetObjectItemCaseSensitive(o, "cache_busy");
	if (!bad && !cJSON_IsBool(busy))
		bad = "cache_busy";
	if (!bad) {
		if (get_str(o, "host", r->host, sizeof r->host, 0) < 0)
			bad = "host";
		else if (get_str(o, "boot", r->boot, sizeof r->boot, 0) < 0)
			bad = "boot";
		else if (get_str(o, "source", r->source, sizeof r->source, 0) < 0 || !r->source[0])
			bad = "source";
		else if (get_str(o, "mountpoint", r->mountpoint, sizeof r->mountpoint, 0) < 0)
			bad = "mountpoint";
		else if (get_str(o, "index", r->index, sizeof r->index, 0) < 0)
			bad = "index";
		else if (get_str(o, "cache", r->cache, sizeof r->cache, 1) < 0)
			bad = "cache";
	}
	if (bad) {
		cJSON_Delete(o);
		memset(r, 0, sizeof *r);
		return ifs_err_set(err, EINVAL, "%s: not a daemon record (%s missing or wrong)",
				   what, bad);
	}
	r->pid = (long)v[1];
	r->start = (unsigned long long)v[2];
	r->started = (int64_t)v[3];
	r->updated = (int64_t)v[4];
	r->st.requests = (uint64_t)v[5];
	r->st.retries = (uint64_t)v[6];
	r->st.bytes_fetched = (uint64_t)v[7];
	r->st.cache_hits = (uint64_t)v[8];
	r->st.cache_misses = (uint64_t)v[9];
	r->st.cache_bad = (uint64_t)v[10];
	r->st.cache_bytes = (uint64_t)v[11];
	r->cache_busy = cJSON_IsTrue(busy);
	cJSON_Delete(o);
	return 0;
}

/* ---- listing ------------------------------------------------------------------ */

struct lister {
	int dfd;
	const char *dir;
	ifs_daemonrec *rec;        /* scratch: a record is large */
	char host[256], safe_host[HOST_PART + 1], boot[64];
};

/* "<host>.<pid>.json[.tmp]" after the prefix: the host part and the pid, or -1. */
static long name_pid(const char *rest, char *host, size_t size, int *tmp)
{
	size_t n = strlen(rest);
	*tmp = n > 4 && strcmp(rest + n - 4, ".tmp") == 0;
	if (*tmp)
		n -= 4;
	if (n < 5 || strncmp(rest + n - 5, ".json", 5) != 0)
		return -1;
	n -= 5;
	size_t d = n;
	while (d > 0 && rest[d - 1] >= '0' && rest[d - 1] <= '9')
		d--;
	if (d == n || d == 0 || rest[d - 1] != '.' || n - d > 9 || d - 1 >= size)
		return -1;
	memcpy(host, rest, d - 1);
	host[d - 1] = '\0';
	return strtol(rest + d, NULL, 10);
}

/* The record in file name: 0 and l->rec filled; -ENOENT (gone meanwhile);
 * else why it is not a usable record, in why. */
static int read_rec(struct lister *l, const char *name, struct stat *st, char *why,
		    size_t wsize)
{
	int fd = openat(l->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return -ENOENT;
		snprintf(why, wsize, "%s/%s: %s", l->dir, name,
			 e == ELOOP ? "a symbolic link, not a record" : strerror(e));
		return -e;
	}
	int r = -EINVAL;
	char *buf = NULL;
	if (fstat(fd, st) < 0) {
		snprintf(why, wsize, "%s/%s: %s", l->dir, name, strerror(errno));
	} else if (!S_ISREG(st->st_mode)) {
		snprintf(why, wsize, "%s/%s: not a regular file", l->dir, name);
	} else if (st->st_uid != geteuid()) {
		snprintf(why, wsize, "%s/%s: owned by user %u, not this one: not trusted", l->dir,
			 name, (unsigned)st->st_uid);
	} else if (st->st_size > IFS_DAEMONREC_MAX) {
		snprintf(why, wsize, "%s/%s: %lld bytes, more than a record's %d", l->dir, name,
			 (long long)st->st_size, IFS_DAEMONREC_MAX);
		r = -EFBIG;
	} else if (!(buf = malloc(IFS_DAEMONREC_MAX + 1))) {
		snprintf(why, wsize, "out of memory");
		r = -ENOMEM;
	} else {
		/* the size may change under us: never more than the cap is read */
		size_t got = 0;
		ssize_t n;
		int e = 0;
		while (got <= IFS_DAEMONREC_MAX &&
		       (n = read(fd, buf + got, IFS_DAEMONREC_MAX + 1 - got)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				e = errno;
				got = (size_t)-1;
				break;
			}
			got += (size_t)n;
		}
		char what[PATH_MAX + NAME_MAX + 2];
		snprintf(what, sizeof what, "%s/%s", l->dir, name);
		ifs_err err;
		ifs_err_clear(&err);
		if (got == (size_t)-1)
			snprintf(why, wsize, "%s: %s", what, strerror(e));
		else if (got > IFS_DAEMONREC_MAX)
			snprintf(why, wsize, "%s: more than a record's %d bytes", what,
				 IFS_DAEMONREC_MAX);
		else if (ifs_daemonrec_parse(buf, got, what, l->rec, &err) < 0)
			snprintf(why, wsize, "%s", err.msg);
		else
			r = 0;
	}
	free(buf);
	close(fd);
	return r;
}

static int alive(long pid) { return kill((pid_t)pid, 0) == 0 || errno == EPERM; }

int ifs_daemonrec_list(const char *dir, const char *source, ifs_daemonrec_fn fn, void *ctx,
		       ifs_err *err)
{
	char prefix[NAME_MAX + 1], clean[PATH_MAX];
	if (ifs_daemonrec_prefix(source, prefix, sizeof prefix) < 0)
		return ifs_err_set(err, ENAMETOOLONG, "%s: too long", source);
	clean_source(source, clean, sizeof clean);
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : ifs_err_sys(err, errno, "%s", dir);
	struct lister l = { .dfd = dirfd(d), .dir = dir };
	if (!(l.rec = malloc(sizeof *l.rec))) {
		closedir(d);
		return ifs_err_set(err, ENOMEM, "out of memory");
	}
	ifs_machine_host(l.host, sizeof l.host);
	safe_part(l.host, l.safe_host, sizeof l.safe_host);
	ifs_machine_boot(l.boot, sizeof l.boot);
	size_t pl = strlen(prefix);
	int calls = 0;
	struct dirent *de;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, pl) != 0)
			continue;
		char nhost[HOST_PART + 1], why[PATH_MAX + 512];
		int tmp;
		long pid = name_pid(de->d_name + pl, nhost, sizeof nhost, &tmp);
		/* by its name, a process of this machine that is gone: its file is
		 * dead whatever it holds (a temporary, or one torn by a crash) */
		int gone_here = pid > 0 && strcmp(nhost, l.safe_host) == 0 && !alive(pid);
		if (tmp) {
			struct stat st;
			if (gone_here && fstatat(l.dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode) && st.st_uid == geteuid())
				unlinkat(l.dfd, de->d_name, 0);
			continue;
		}
		struct stat st;
		memset(&st, 0, sizeof st);
		int r = pid > 0 ? read_rec(&l, de->d_name, &st, why, sizeof why) : -EINVAL;
		if (pid <= 0)
			snprintf(why, sizeof why, "%s/%s: not a record's name", dir, de->d_name);
		if (r == -ENOENT)
			continue;
		if (r < 0) {
			/* ours and dead: removed; anything else is left as it is */
			if (gone_here && (r == -EINVAL || r == -EFBIG) && S_ISREG(st.st_mode) &&
			    st.st_uid == geteuid()) {
				unlinkat(l.dfd, de->d_name, 0);
				continue;
			}
			fn(ctx, IFS_DREC_BAD, NULL, 0, why);
			calls++;
			continue;
		}
		const ifs_daemonrec *rec = l.rec;
		if (strcmp(rec->source, clean) != 0)
			continue;   /* another source whose name and CRC agree */
		if (rec->pid != pid) {
			snprintf(why, sizeof why, "%s/%s: holds the record of process %ld", dir,
				 de->d_name, rec->pid);
			fn(ctx, IFS_DREC_BAD, NULL, 0, why);
			calls++;
			continue;
		}
		double age = (double)(now.tv_sec - st.st_mtim.tv_sec) +
			     (double)(now.tv_nsec - st.st_mtim.tv_nsec) / 1e9;
		int dead;
		if (strcmp(rec->host, l.host) == 0) {
			unsigned long long start;
			/* another boot, or the process id of another process now */
			dead = (rec->boot[0] && l.boot[0] && strcmp(rec->boot, l.boot) != 0) ||
			       proc_start(pid, &start) < 0 || start != rec->start;
			if (!dead) {
				fn(ctx, IFS_DREC_LIVE, rec, age, NULL);
				calls++;
			}
		} else {
			dead = age > IFS_DAEMONREC_GONE_S;
			if (age <= IFS_DAEMONREC_STALE_S) {
				fn(ctx, IFS_DREC_ELSEWHERE, rec, age, NULL);
				calls++;
			}
		}
		if (dead)
			unlinkat(l.dfd, de->d_name, 0);
	}
	free(l.rec);
	closedir(d);
	return calls;
}

/*
 * build_tree.c - the scan pass of one tarball: the gzip engine inflates, the
 * tar scanner reads headers from the same bytes, and every member becomes a
 * row of `nodes` (with its data offset, size and CRC-32), every requested
 * seek point a row of `checkpoints`. One decompression, no second pass.
 *
 * Paths are normalised (names.h); members whose path cannot be served safely
 * (a ".." component, control characters) are skipped and counted, as are
 * links and special files. A member stored twice replaces the first, as
 * `tar -x` would. test2017.tar.gz without a top folder is placed under
 * test2017/, so the tree is the same for both layouts.
 */
#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inatfs/gz.h"
#include "inatfs/names.h"
#include "inatfs/tar.h"
#include "schema.h"

int ifs_tree_init(ifs_tree *t, sqlite3 *db, int64_t default_mtime, ifs_err *err)
{
	memset(t, 0, sizeof *t);
	t->db = db;
	t->default_mtime = default_mtime;
	t->dirs = ifs_strmap_new();
	t->paths = ifs_strmap_new();
	if (!t->dirs || !t->paths)
		return ifs_err_set(err, ENOMEM, "out of memory");
	t->next_id = IFS_ROOT_NODE + 1;
	if (ifs_strmap_put(t->dirs, "", 0, IFS_ROOT_NODE) < 0)
		return ifs_err_set(err, ENOMEM, "out of memory");
	char sql[256];
	snprintf(sql, sizeof sql, "INSERT INTO nodes VALUES(%d, 0, '', 0, %d, 0, 0, %lld, %d, 0)",
		 IFS_ROOT_NODE, IFS_NODE_DIR, (long long)default_mtime, 0555);
	return ifs_sql_exec(db, sql, "creating the root", err);
}

void ifs_tree_free(ifs_tree *t)
{
	ifs_strmap_free(t->dirs);
	ifs_strmap_free(t->paths);
	t->dirs = NULL;
	t->paths = NULL;
}

/* One scan in progress. */
struct scan {
	ifs_tree *t;
	int archive;
	const char *file;
	const ifs_build_opts *opts;
	ifs_err *err;
	ifs_gz_scan *gz;            /* valid inside on_data */
	ifs_tar_scanner *tar;
	int prefix_decided;
	const char *prefix;          /* "test2017" for a flat test tarball */
	sqlite3_stmt *ins_node, *ins_cp, *upd_node, *upd_dir;
	uint64_t in_total;
};

static int mount_path(struct scan *s, const char *raw, char *out, size_t outsz)
{
	char norm[PATH_MAX];
	if (ifs_path_normalize(raw, norm, sizeof norm) < 0)
		return -EINVAL;
	if (!s->prefix_decided) {
		s->prefix_decided = 1;
		if (s->archive == IFS_ARCHIVE_TEST && strcmp(norm, "test2017") != 0 &&
		    strncmp(norm, "test2017/", 9) != 0)
			s->prefix = "test2017";
	}
	int n = s->prefix ? snprintf(out, outsz, "%s/%s", s->prefix, norm)
			  : snprintf(out, outsz, "%s", norm);
	return n < 0 || (size_t)n >= outsz ? -EINVAL : 0;
}

static int step_done(struct scan *s, sqlite3_stmt *st, const char *what)
{
	return ifs_sql_step_done(s->t->db, st, what, s->err);
}

/* Node id of directory `path` (length len), creating it and its parents. */
static int ensure_dir(struct scan *s, const char *path, size_t len, int64_t *id)
{
	if (ifs_strmap_get(s->t->dirs, path, len, id))
		return 0;
	const char *slash = memrchr(path, '/', len);
	int64_t parent;
	int r = ensure_dir(s, path, slash ? (size_t)(slash - path) : 0, &parent);
	if (r)
		return r;
	const char *name = slash ? slash + 1 : path;
	size_t nlen = len - (size_t)(name - path);
	*id = s->t->next_id++;
	sqlite3_stmt *st = s->ins_node;
	sqlite3_bind_int64(st, 1, *id);
	sqlite3_bind_int64(st, 2, parent);
	sqlite3_bind_text(st, 3, name, (int)nlen, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 4, s->archive);
	sqlite3_bind_int(st, 5, IFS_NODE_DIR);
	sqlite3_bind_int64(st, 6, 0);
	sqlite3_bind_int64(st, 7, 0);
	sqlite3_bind_int64(st, 8, s->t->default_mtime);
	sqlite3_bind_int(st, 9, 0555);
	sqlite3_bind_int64(st, 10, 0);
	if ((r = step_done(s, st, "adding a directory")))
		return r;
	if (ifs_strmap_put(s->t->dirs, path, len, *id) < 0)
		return ifs_err_set(s->err, ENOMEM, "out of memory");
	return 0;
}

static int on_entry(void *ctx, const ifs_tar_entry *e)
{
	struct scan *s = ctx;
	if (e->type == IFS_TAR_FILE) {
		if (e->size > 0)
			ifs_gz_want(s->gz, e->data_off);
		return 0;
	}
	if (e->type != IFS_TAR_DIR) {
		s->t->skipped_type++;
		return 0;
	}
	char path[PATH_MAX];
	if (mount_path(s, e->path, path, sizeof path) < 0) {
		s->t->skipped_unsafe++;
		return 0;
	}
	int64_t id;
	int r = ensure_dir(s, path, strlen(path), &id);
	if (r)
		return r;
	/* the tar's own mtime and mode for the directory */
	sqlite3_bind_int64(s->upd_dir, 1, e->mtime);
	sqlite3_bind_int(s->upd_dir, 2, (int)(e->mode & 07777));
	sqlite3_bind_int64(s->upd_dir, 3, id);
	return step_done(s, s->upd_dir, "updating a directory");
}

static int on_end(void *ctx, const ifs_tar_entry *e)
{
	struct scan *s = ctx;
	if (e->type != IFS_TAR_FILE)
		return 0;
	char path[PATH_MAX];
	if (mount_path(s, e->path, path, sizeof path) < 0) {
		s->t->skipped_unsafe++;
		return 0;
	}
	size_t len = strlen(path);
	const char *slash = strrchr(path, '/');
	int64_t parent, id;
	int r = ensure_dir(s, path, slash ? (size_t)(slash - path) : 0, &parent);
	if (r)
		return r;
	if (ifs_strmap_get(s->t->dirs, path, len, NULL)) {
		/* a file where a directory is: tar -x would fail here too */
		s->t->skipped_unsafe++;
		return 0;
	}
	const char *name = slash ? slash + 1 : path;
	int exists = ifs_strmap_get(s->t->paths, path, len, &id);
	sqlite3_stmt *st;
	if (exists) {
		/* stored twice: the later copy wins, as with tar -x */
		s->t->duplicates++;
		st = s->upd_node;
		sqlite3_bind_int(st, 1, s->archive);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)e->data_off);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)e->size);
		sqlite3_bind_int64(st, 4, e->mtime);
		sqlite3_bind_int(st, 5, (int)(e->mode & 07777));
		sqlite3_bind_int64(st, 6, e->crc);
		sqlite3_bind_int64(st, 7, id);
		if ((r = step_done(s, st, "updating a member")))
			return r;
		return s->t->join ? ifs_join_member(s->t->join, path, len, id, s->err) : 0;
	}
	id = s->t->next_id++;
	st = s->ins_node;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, parent);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, s->archive);
	sqlite3_bind_int(st, 5, IFS_NODE_FILE);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)e->data_off);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)e->size);
	sqlite3_bind_int64(st, 8, e->mtime);
	sqlite3_bind_int(st, 9, (int)(e->mode & 07777));
	sqlite3_bind_int64(st, 10, e->crc);
	if ((r = step_done(s, st, "adding a member")))
		return r;
	if (ifs_strmap_put(s->t->paths, path, len, id) < 0)
		return ifs_err_set(s->err, ENOMEM, "out of memory");
	s->t->files++;
	return s->t->join ? ifs_join_member(s->t->join, path, len, id, s->err) : 0;
}

static int on_data(void *ctx, ifs_gz_scan *gz, const uint8_t *buf, size_t len, uint64_t off)
{
	struct scan *s = ctx;
	(void)off;
	s->gz = gz;
	int r = ifs_tar_feed(s->tar, buf, len, s->err);
	/* between feeds no statement is running: the build may commit here */
	if (!r && s->t->tick)
		r = s->t->tick(s->t->tick_ctx, s->file, ifs_gz_scan_in_pos(gz), s->in_total,
			       s->err);
	return r;
}

static int on_checkpoint(void *ctx, const ifs_gz_checkpoint *cp)
{
	struct scan *s = ctx;
	sqlite3_stmt *st = s->ins_cp;
	sqlite3_bind_int(st, 1, s->archive);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)cp->out);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)cp->in_bit);
	if (cp->window_len)
		sqlite3_bind_blob(st, 4, cp->window, (int)cp->window_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	return step_done(s, st, "adding a checkpoint");
}

static void on_progress(void *ctx, uint64_t in_done, uint64_t in_total, uint64_t out_done)
{
	struct scan *s = ctx;
	s->in_total = in_total;
	if (!s->opts || !s->opts->progress)
		return;
	ifs_build_progress p = { "scan", s->file, in_done, in_total, out_done };
	s->opts->progress(s->opts->ctx, &p);
}

int ifs_tree_scan_archive(ifs_tree *t, int archive, const char *path,
			  const ifs_build_opts *opts, ifs_err *err)
{
	struct scan s = { .t = t, .archive = archive, .file = ifs_archive_file(archive),
			  .opts = opts, .err = err };
	ifs_tar_callbacks cb = { on_entry, on_end, &s };
	int r = 0, fd = -1;
	ifs_gz_scan_result res;
	memset(&res, 0, sizeof res);
	if ((r = ifs_sql_prepare(t->db, "INSERT INTO nodes VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
				 &s.ins_node, err)) ||
	    (r = ifs_sql_prepare(t->db, "INSERT INTO checkpoints VALUES(?1,?2,?3,?4)", &s.ins_cp,
				 err)) ||
	    (r = ifs_sql_prepare(t->db, "UPDATE nodes SET archive=?1, off=?2, size=?3, mtime=?4, "
				 "mode=?5, crc=?6 WHERE id=?7", &s.upd_node, err)) ||
	    (r = ifs_sql_prepare(t->db, "UPDATE nodes SET mtime=?1, mode=?2 WHERE id=?3",
				 &s.upd_dir, err)))
		goto out;
	s.tar = ifs_tar_new(path, &cb);
	if (!s.tar) {
		r = ifs_err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = ifs_err_sys(err, errno, "%s", path);
		goto out;
	}
	ifs_gz_scan_opts go = { .on_data = on_data, .on_checkpoint = on_checkpoint,
				.on_progress = on_progress, .ctx = &s };
	r = ifs_gz_scan_file(fd, path, &go, &res, err);
	if (r == 0)
		r = ifs_tar_finish(s.tar, err);
	if (r)
		goto out;
	char sql[512];
	snprintf(sql, sizeof sql, "INSERT INTO archives VALUES(%d, '%s', %llu, %llu, %llu, %llu, %llu)",
		 archive, s.file, (unsigned long long)res.in_size, (unsigned long long)res.out_size,
		 (unsigned long long)ifs_tar_count(s.tar), (unsigned long long)res.checkpoints,
		 (unsigned long long)res.window_bytes);
	r = ifs_sql_exec(t->db, sql, "recording an archive", err);
out:
	if (fd >= 0)
		close(fd);
	ifs_tar_free(s.tar);
	sqlite3_finalize(s.ins_node);
	sqlite3_finalize(s.ins_cp);
	sqlite3_finalize(s.upd_node);
	sqlite3_finalize(s.upd_dir);
	return r;
}

/* ---- probing the start of a tarball ----------------------------------- */

#define PROBE_BYTES (1u << 20)

struct probe {
	ifs_tar_scanner *tar;
	ifs_err *err;
	uint64_t seen;
	int stopped;
};

static int probe_entry(void *ctx, const ifs_tar_entry *e)
{
	(void)ctx;
	(void)e;
	return 0;
}

static int probe_data(void *ctx, ifs_gz_scan *gz, const uint8_t *buf, size_t len, uint64_t off)
{
	struct probe *p = ctx;
	(void)gz;
	(void)off;
	int r = ifs_tar_feed(p->tar, buf, len, p->err);
	if (r)
		return r;
	p->seen += len;
	if (p->seen >= PROBE_BYTES) {
		p->stopped = 1;
		return -ECANCELED;
	}
	return 0;
}

int ifs_tree_probe_archive(const char *path, ifs_err *err)
{
	struct probe p = { .err = err };
	ifs_tar_callbacks cb = { probe_entry, probe_entry, &p };
	ifs_gz_scan_result res;
	p.tar = ifs_tar_new(path, &cb);
	if (!p.tar)
		return ifs_err_set(err, ENOMEM, "out of memory");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ifs_tar_free(p.tar);
		return ifs_err_sys(err, errno, "%s", path);
	}
	ifs_gz_scan_opts go = { .on_data = probe_data, .ctx = &p };
	int r = ifs_gz_scan_file(fd, path, &go, &res, err);
	if (p.stopped) {
		r = 0;
		ifs_err_clear(err);
	} else if (r == 0) {
		r = ifs_tar_finish(p.tar, err);   /* the whole archive was small */
	}
	close(fd);
	ifs_tar_free(p.tar);
	return r;
}

int ifs_tree_finish(ifs_tree *t, ifs_err *err)
{
	/* for directories, `size` holds the number of subdirectories (link count - 2) */
	return ifs_sql_exec(t->db,
			    "UPDATE nodes SET size=(SELECT count(*) FROM nodes c WHERE c.parent=nodes.id "
			    "AND c.type=1) WHERE type=1", "counting subdirectories", err);
}

/*
 * build_tree.c - the scan pass of one tarball: the gzip engine inflates, the
 * tar scanner reads headers from the same bytes, and every member becomes a
 * row of `nodes` (with its data offset, size and CRC-32), every requested
 * seek point a row of `checkpoints`. One decompression, no second pass.
 *
 * Paths are normalised (names.h); members whose path cannot be served safely
 * (a ".." component, control characters) are skipped and counted, as are
 * links and special files, and members whose path runs into an earlier
 * one of the other kind (a/b/c or the folder a/b/ after the file a/b; the
 * file a/b after the folder): the first one stays, so a name is one entry.
 * A file stored twice replaces the first, as `tar -x` would. test2017.tar.gz without a top folder is placed under
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
#include "inatfs/trust.h"
#include "schema.h"

/* An empty tree: no maps filled, no node made. */
static int tree_setup(ifs_tree *t, sqlite3 *db, int64_t default_mtime, ifs_err *err)
{
	memset(t, 0, sizeof *t);
	t->db = db;
	t->default_mtime = default_mtime;
	t->dirs = ifs_strmap_new();
	t->paths = ifs_strmap_new();
	if (!t->dirs || !t->paths)
		return ifs_err_set(err, ENOMEM, "out of memory");
	return 0;
}

int ifs_tree_init(ifs_tree *t, sqlite3 *db, int64_t default_mtime, ifs_err *err)
{
	int r = tree_setup(t, db, default_mtime, err);
	if (r)
		return r;
	t->next_id = IFS_ROOT_NODE + 1;
	if (ifs_strmap_put(t->dirs, "", 0, IFS_ROOT_NODE) < 0)
		return ifs_err_set(err, ENOMEM, "out of memory");
	char sql[256];
	snprintf(sql, sizeof sql, "INSERT INTO nodes VALUES(%d, 0, '', 0, %d, 0, 0, %lld, %d, 0)",
		 IFS_ROOT_NODE, IFS_NODE_DIR, (long long)default_mtime, IFS_NODE_MODE(0555));
	return ifs_sql_exec(db, sql, "creating the root", err);
}

void ifs_tree_free(ifs_tree *t)
{
	ifs_tree_stmts_free(t);
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
	ifs_cpwriter cpw;
	uint64_t in_total;
	uint64_t in_pos;            /* compressed bytes read at the last data */
	/* resuming: tar bytes before skip_to were scanned by the interrupted
	 * build; members whose data starts in [rewant_from, skip_to) still want
	 * their checkpoints (they may not have been delivered before it stopped) */
	uint64_t skip_to, rewant_from;
	int rewant;
	/* the counters at the tar scanner's last resume point (each member end) */
	uint64_t snap[4];
	int snap_prefix;
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
	int r = ifs_tree_dir(s->t, s->archive, path, strlen(path), 0, &id, s->err);
	if (r == 1) {   /* a file is there: the first one stays */
		s->t->skipped_unsafe++;
		return 0;
	}
	if (r)
		return r;
	/* the tar's own mtime and mode for the directory */
	return ifs_tree_dir_attrs(s->t, id, e->mtime, e->mode, s->err);
}

static int member_end(void *ctx, const ifs_tar_entry *e);

/* A member's data ends at `end`: the scan is asked for its exact compressed
 * end, and the checkpoint writer keeps the first point reported at or after
 * it (the exact end, or the boundary where there is none). */
static int want_end(struct scan *s, uint64_t end)
{
	ifs_gz_want_end(s->gz, end);
	return ifs_cpw_member_end(&s->cpw, end);
}

static int prefix_state(const struct scan *s)
{
	return !s->prefix_decided ? -1 : s->prefix ? 1 : 0;
}

/* A member ended: the tar scanner's resume point moves here, so do the
 * counters a resumed build starts from. */
static int on_end(void *ctx, const ifs_tar_entry *e)
{
	struct scan *s = ctx;
	int r = 0;
	if (e->type == IFS_TAR_FILE && e->size)
		r = want_end(s, e->data_off + e->size);
	if (r == 0)
		r = member_end(ctx, e);
	if (r == 0) {
		s->snap[0] = s->t->files;
		s->snap[1] = s->t->skipped_unsafe;
		s->snap[2] = s->t->skipped_type;
		s->snap[3] = s->t->duplicates;
		s->snap_prefix = prefix_state(s);
	}
	return r;
}

static int member_end(void *ctx, const ifs_tar_entry *e)
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
	int64_t id;
	int dup;
	int r = ifs_tree_member(s->t, s->archive, path, len, e, &id, &dup, s->err);
	if (r == -EEXIST || r == 1) {
		/* a file where a folder is, or below a file (a/b/c after the file
		 * a/b): tar -x fails on it too; the first one stays */
		s->t->skipped_unsafe++;
		return 0;
	}
	if (r)
		return r;
	if (dup)
		s->t->duplicates++;
	else
		s->t->files++;
	return s->t->join ? ifs_join_member(s->t->join, path, len, id, s->err) : 0;
}

/* Resuming: the members whose checkpoints may not have been delivered, and
 * those whose ends may not have been written, as rows before the stored
 * checkpoint the scan goes on from are (a scan of `nodes`, once per resume:
 * a fraction of a second at real scale). */
static int rewant(struct scan *s)
{
	sqlite3_stmt *st;
	int r = ifs_sql_prepare(s->t->db, "SELECT off, size FROM nodes WHERE archive=?1 AND type=0 "
				"AND size>0 AND off*512<?3 AND off*512+size>?2 ORDER BY off", &st,
				s->err);
	if (r)
		return r;
	sqlite3_bind_int(st, 1, s->archive);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)s->rewant_from);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)s->skip_to);
	int rc = SQLITE_DONE;
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t off = (uint64_t)sqlite3_column_int64(st, 0) << IFS_NODE_OFF_SHIFT;
		uint64_t end = off + (uint64_t)sqlite3_column_int64(st, 1);
		if (off >= s->rewant_from)
			ifs_gz_want(s->gz, off);
		r = want_end(s, end);
	}
	sqlite3_finalize(st);
	if (r)
		return r;
	return rc == SQLITE_DONE ? 0 : ifs_err_set(s->err, EIO, "index: %s: resuming: %s",
						   sqlite3_db_filename(s->t->db, "main"),
						   sqlite3_errmsg(s->t->db));
}

static int on_data(void *ctx, ifs_gz_scan *gz, const uint8_t *buf, size_t len, uint64_t off)
{
	struct scan *s = ctx;
	s->gz = gz;
	s->in_pos = ifs_gz_scan_in_pos(gz);
	int r = 0;
	if (s->rewant) {
		s->rewant = 0;
		if ((r = rewant(s)))
			return r;
	}
	if (off < s->skip_to) {   /* resuming: the tar scanner starts at skip_to */
		size_t skip = s->skip_to - off < len ? (size_t)(s->skip_to - off) : len;
		buf += skip;
		len -= skip;
	}
	if (len)
		r = ifs_tar_feed(s->tar, buf, len, s->err);
	/* between feeds no statement is running: the build may commit here */
	if (!r && s->t->tick)
		r = s->t->tick(s->t->tick_ctx, s->file, ifs_gz_scan_in_pos(gz), s->in_total,
			       s->err);
	return r;
}

static int on_checkpoint(void *ctx, const ifs_gz_checkpoint *cp)
{
	struct scan *s = ctx;
	if (cp->from >> IFS_CP_OFF_BITS)
		return ifs_err_set(s->err, EFBIG, "%s: more than 256 TB of tar data", s->file);
	return ifs_cpw_checkpoint(&s->cpw, cp);
}

/* A member's exact data end (ifs_gz_want_end), or the first boundary at or
 * after it: where its compressed bytes end (the reader fetches exactly up
 * to there). */
static int on_boundary(void *ctx, uint64_t out, uint64_t in_end)
{
	struct scan *s = ctx;
	return out >> IFS_CP_OFF_BITS ? 0 : ifs_cpw_boundary(&s->cpw, out, in_end);
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

/*
 * The scan of s failed with r: damage in the tarball's own bytes (the gzip
 * stream's, or the tar's) is recorded, in t->damage and in `damage`, and
 * the scan ends there as a success; any other failure is returned.
 */
static int damage(struct scan *s, const ifs_gz_scan_result *res, int r, uint64_t in_size)
{
	ifs_tree_damage *d = &s->t->damage[s->archive];
	uint64_t at;
	memset(d, 0, sizeof *d);
	if (res->damage) {
		d->kind = ifs_gz_damage_name(res->damage);
		d->in_off = res->damage_in;
		d->good_out = res->good_out;
	} else if (ifs_tar_damaged(s->tar, &at)) {
		/* the gzip stream ended well and the tar inside it did not: cut short */
		d->kind = res->out_size ? "truncated tar data" : "bad tar data";
		d->in_off = s->in_pos;
		d->good_out = at;
	} else {
		return r;
	}
	d->found = 1;
	d->in_size = in_size;
	snprintf(d->message, sizeof d->message, "%s", s->err->msg);
	ifs_err_clear(s->err);
	sqlite3_stmt *st;
	if ((r = ifs_sql_prepare(s->t->db, "INSERT OR REPLACE INTO damage VALUES(?1,?2,?3,?4,?5,?6,0)",
				 &st, s->err)))
		return r;
	sqlite3_bind_int(st, 1, s->archive);
	sqlite3_bind_text(st, 2, d->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)d->in_off);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)d->in_size);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)d->good_out);
	sqlite3_bind_text(st, 6, d->message, -1, SQLITE_STATIC);
	r = ifs_sql_step_done(s->t->db, st, "recording damage", s->err);
	sqlite3_finalize(st);
	return r;
}

int ifs_tree_scan_archive(ifs_tree *t, int archive, const char *path,
			  const ifs_build_opts *opts, ifs_err *err)
{
	struct scan s = { .t = t, .archive = archive, .file = ifs_archive_file(archive),
			  .opts = opts, .err = err };
	ifs_tar_callbacks cb = { on_entry, on_end, &s };
	int r = 0;
	ifs_source *src = NULL;
	uint64_t in_size = 0;
	ifs_gz_scan_result res;
	memset(&res, 0, sizeof res);
	if ((r = ifs_cpw_init(&s.cpw, t->db, archive, err)))
		goto out;
	s.tar = ifs_tar_new(path, &cb);
	if (!s.tar) {
		r = ifs_err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if ((r = ifs_archive_open(path, &src, err)))
		goto out;
	ifs_source_pass(src);   /* read once: not worth a cache's room */
	in_size = ifs_source_size(src);
	s.in_total = in_size;   /* for the progress recorded at commits */
	ifs_gz_scan_opts go = { .on_data = on_data, .on_checkpoint = on_checkpoint,
				.on_progress = on_progress, .on_boundary = on_boundary, .ctx = &s,
				.threads = opts ? opts->scan_threads : 0 };
	const ifs_scan_resume *rs = t->resume && t->resume->archive == archive ? t->resume : NULL;
	s.snap[0] = t->files;
	s.snap[1] = t->skipped_unsafe;
	s.snap[2] = t->skipped_type;
	s.snap[3] = t->duplicates;
	s.snap_prefix = -1;
	if (rs) {
		s.prefix_decided = rs->prefix >= 0;
		s.prefix = rs->prefix == 1 ? "test2017" : NULL;
		s.snap_prefix = rs->prefix;
		if (rs->tar_off) {
			if ((r = ifs_cpw_resume_first(&s.cpw, &rs->cp)))
				goto out;
			go.resume = &rs->cp;
			go.resume_window = rs->window;
			ifs_tar_start_at(s.tar, rs->tar_off, rs->tar_count);
			s.skip_to = rs->tar_off;
			s.rewant_from = rs->cp.out;
			s.rewant = 1;
		}
	}
	t->cur = &s;
	r = ifs_gz_scan_source(src, &go, &res, err);
	t->cur = NULL;
	if (r == 0)
		r = ifs_tar_finish(s.tar, err);
	if (r && (r = damage(&s, &res, r, in_size)))
		goto out;
	if ((r = ifs_cpw_finish(&s.cpw)))
		goto out;
	if (!t->damage[archive].found && (r = ifs_tree_prune(t, archive, err)))
		goto out;
	if ((rs && rs->tar_off) || t->damage[archive].found) {
		/* the counts of the whole archive, not of the resumed (or damaged) part */
		sqlite3_stmt *st;
		if ((r = ifs_sql_prepare(t->db, "SELECT count(*), coalesce(sum(length(window)), 0) "
					 "FROM checkpoints WHERE key>=?1 AND key<?2", &st, err)))
			goto out;
		sqlite3_bind_int64(st, 1, IFS_CP_KEY(archive, 0));
		sqlite3_bind_int64(st, 2, IFS_CP_KEY(archive + 1, 0));
		if (sqlite3_step(st) == SQLITE_ROW) {
			res.checkpoints = (uint64_t)sqlite3_column_int64(st, 0);
			res.window_bytes = (uint64_t)sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
	}
	if (t->damage[archive].found) {
		res.in_size = in_size;
		res.out_size = t->damage[archive].good_out;
	}
	char sql[512];
	snprintf(sql, sizeof sql, "INSERT INTO archives VALUES(%d, '%s', %llu, %llu, %llu, %llu, %llu)",
		 archive, s.file, (unsigned long long)res.in_size, (unsigned long long)res.out_size,
		 (unsigned long long)ifs_tar_count(s.tar), (unsigned long long)res.checkpoints,
		 (unsigned long long)res.window_bytes);
	r = ifs_sql_exec(t->db, sql, "recording an archive", err);
out:
	t->cur = NULL;
	ifs_source_close(src);
	ifs_tar_free(s.tar);
	ifs_cpw_free(&s.cpw);
	return r;
}

/* ---- resuming an interrupted build ------------------------------------ */

#define RECORD_FMT "1 %d %llu %llu %llu %llu %u %llu %u %d %llu %llu %llu %llu"

int ifs_tree_resume_record(const ifs_tree *t, char *buf, size_t size)
{
	struct scan *s = t->cur;
	uint64_t off, count;
	if (!s || !ifs_tar_resume_point(s->tar, &off, &count))
		return 0;
	const ifs_cp_state *best = NULL;
	if (off) {
		/* the last stored checkpoint at or before the point */
		best = ifs_cpw_stored(&s->cpw, off);
		if (!best)
			return -1;   /* not written yet (held, or on the sparse-window thread) */
	}
	static const ifs_cp_state none;
	const ifs_cp_state *c = best ? best : &none;
	int n = snprintf(buf, size, RECORD_FMT, s->archive, (unsigned long long)off,
			 (unsigned long long)count, (unsigned long long)c->out,
			 (unsigned long long)c->in_bit, c->crc, (unsigned long long)c->member_out,
			 c->members, s->snap_prefix, (unsigned long long)s->snap[0],
			 (unsigned long long)s->snap[1], (unsigned long long)s->snap[2],
			 (unsigned long long)s->snap[3]);
	return n > 0 && (size_t)n < size;
}

int ifs_tree_resume_initial(const ifs_tree *t, char *buf, size_t size)
{
	int n = snprintf(buf, size, RECORD_FMT, IFS_ARCHIVE_TRAINVAL, 0ull, 0ull, 0ull, 0ull, 0u,
			 0ull, 0u, -1, (unsigned long long)t->files,
			 (unsigned long long)t->skipped_unsafe, (unsigned long long)t->skipped_type,
			 (unsigned long long)t->duplicates);
	return n > 0 && (size_t)n < size;
}

int ifs_tree_resume_parse(const char *rec, ifs_scan_resume *r, ifs_tree *t)
{
	unsigned long long off, count, out, in_bit, mout, f, u, ty, d;
	unsigned crc, members;
	int archive, prefix, end = 0;
	memset(r, 0, sizeof *r);
	if (sscanf(rec, RECORD_FMT "%n", &archive, &off, &count, &out, &in_bit, &crc, &mout,
		   &members, &prefix, &f, &u, &ty, &d, &end) != 13 || rec[end] ||
	    archive < 1 || archive > IFS_ARCHIVE_MAX || prefix < -1 || prefix > 1 ||
	    (off && (out > off || mout > out || members == 0)))
		return -EINVAL;
	r->archive = archive;
	r->tar_off = off;
	r->tar_count = count;
	r->cp.out = out;
	r->cp.in_bit = in_bit;
	r->cp.crc = crc;
	r->cp.member_out = mout;
	r->cp.members = members;
	r->prefix = prefix;
	t->files = f;
	t->skipped_unsafe = u;
	t->skipped_type = ty;
	t->duplicates = d;
	return 0;
}

int ifs_tree_restore(ifs_tree *t, sqlite3 *db, int64_t default_mtime, ifs_err *err)
{
	int r = tree_setup(t, db, default_mtime, err);
	if (r)
		return r;
	/* a parent always has a smaller id than its children (made first) */
	sqlite3_stmt *st;
	if ((r = ifs_sql_prepare(db, "SELECT id, parent, nm(name), type, off IS NULL FROM nodes "
				 "ORDER BY id", &st, err)))
		return r;
	char **dir = NULL;   /* id -> path of directories */
	size_t ndir = 0;
	int rc;
	int64_t max = 0;
	char path[PATH_MAX];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), parent = sqlite3_column_int64(st, 1);
		const char *name = (const char *)sqlite3_column_text(st, 2);
		int is_dir = sqlite3_column_int(st, 3) == IFS_NODE_DIR;
		int64_t v = sqlite3_column_int(st, 4) ? -id : id;   /* pending: negated */
		max = id;
		if (id == IFS_ROOT_NODE) {
			path[0] = '\0';
		} else if (parent < 1 || (size_t)parent >= ndir || !dir[parent] || !name ||
			   snprintf(path, sizeof path, "%s%s%s", dir[parent], *dir[parent] ? "/" : "",
				    name) >= (int)sizeof path) {
			r = ifs_err_set(err, EIO, "index: %s: node %lld has no parent folder",
					sqlite3_db_filename(db, "main"), (long long)id);
			break;
		}
		if (is_dir) {
			if ((size_t)id >= ndir) {
				size_t nn = ndir ? ndir : 1024;
				while (nn <= (size_t)id)
					nn *= 2;
				char **nd = realloc(dir, nn * sizeof *nd);
				if (!nd) {
					r = -ENOMEM;
					break;
				}
				memset(nd + ndir, 0, (nn - ndir) * sizeof *nd);
				dir = nd;
				ndir = nn;
			}
			if (!(dir[id] = strdup(path)) ||
			    ifs_strmap_put(t->dirs, path, strlen(path), v) < 0) {
				r = -ENOMEM;
				break;
			}
		} else if (ifs_strmap_put(t->paths, path, strlen(path), v) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	if (!r && rc != SQLITE_DONE)
		r = ifs_err_set(err, EIO, "index: %s: reading the tree: %s",
				sqlite3_db_filename(db, "main"), sqlite3_errmsg(db));
	if (r == -ENOMEM)
		r = ifs_err_set(err, ENOMEM, "out of memory");
	sqlite3_finalize(st);
	for (size_t i = 0; i < ndir; i++)
		free(dir[i]);
	free(dir);
	if (!r && max < IFS_ROOT_NODE)
		r = ifs_err_set(err, EIO, "index: %s: no root node", sqlite3_db_filename(db, "main"));
	t->next_id = max + 1;
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
	ifs_source *src;
	int r = ifs_archive_open(path, &src, err);
	if (r) {
		ifs_tar_free(p.tar);
		return r;
	}
	/* the first MiB: the serial scan (no threads to start for so little) */
	ifs_gz_scan_opts go = { .on_data = probe_data, .ctx = &p, .threads = IFS_GZ_SERIAL };
	r = ifs_gz_scan_source(src, &go, &res, err);
	if (p.stopped) {
		r = 0;
		ifs_err_clear(err);
	} else if (r == 0) {
		r = ifs_tar_finish(p.tar, err);   /* the whole archive was small */
	}
	ifs_source_close(src);
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

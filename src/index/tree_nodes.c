/*
 * tree_nodes.c - the rows of the pristine trees (`nodes`): folders made on
 * demand, files, and the part of the trees the JSON names, planted before
 * the scan so that it is listed from the first moment.
 *
 * A planted node is pending (nodes.off NULL) until the scan meets its path:
 * a member there, or one below a planted folder, makes it real (and its
 * folders above). The path maps hold a pending node's id negated (0: no
 * node). Pending nodes left when an archive has been scanned whole are
 * pruned (images the tarball turned out not to hold); when the scan stopped
 * at damage they stay, and are served as EIO.
 */
#include "build.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/catalog.h"
#include "inatfs/names.h"
#include "inatfs/tar.h"
#include "schema.h"

enum { ST_INS, ST_UNPEND, ST_DEL, ST_MEMBER, ST_DIRMODE, ST_N };
static const char *const sql[ST_N] = {
	"INSERT INTO nodes VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
	"UPDATE nodes SET off=0 WHERE id=?1",
	"DELETE FROM nodes WHERE id=?1",
	"UPDATE nodes SET archive=?1, off=?2, size=?3, mtime=?4, mode=?5, crc=?6 WHERE id=?7",
	"UPDATE nodes SET mtime=?1, mode=?2 WHERE id=?3",
};

/* Folders the tar does not list get what tar -x gives them (umask 022). */
#define IMPLICIT_DIR_MODE 0755
/* A planted file until the scan reaches it (never served: it waits). */
#define PENDING_FILE_MODE 0444

static sqlite3_stmt *stmt(ifs_tree *t, int k, ifs_err *err)
{
	if (!t->st[k] && ifs_sql_prepare(t->db, sql[k], &t->st[k], err))
		return NULL;
	return t->st[k];
}

void ifs_tree_stmts_free(ifs_tree *t)
{
	for (int k = 0; k < ST_N && k < IFS_TREE_STMTS; k++) {
		sqlite3_finalize(t->st[k]);
		t->st[k] = NULL;
	}
}

static int step(ifs_tree *t, sqlite3_stmt *st, const char *what, ifs_err *err)
{
	return ifs_sql_step_done(t->db, st, what, err);
}

static int insert(ifs_tree *t, int64_t id, int64_t parent, const char *name, int nlen,
		  int archive, int type, int pending, uint32_t mode, ifs_err *err)
{
	sqlite3_stmt *st = stmt(t, ST_INS, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, parent);
	ifs_sql_bind_name(st, 3, name, nlen);
	sqlite3_bind_int(st, 4, archive);
	sqlite3_bind_int(st, 5, type);
	if (pending)
		sqlite3_bind_null(st, 6);
	else
		sqlite3_bind_int64(st, 6, 0);
	sqlite3_bind_int64(st, 7, 0);
	sqlite3_bind_int64(st, 8, t->default_mtime);
	sqlite3_bind_int(st, 9, IFS_NODE_MODE(mode));
	sqlite3_bind_int64(st, 10, 0);
	return step(t, st, type == IFS_NODE_DIR ? "adding a folder" : "adding a member", err);
}

static int by_id(ifs_tree *t, int k, int64_t id, const char *what, ifs_err *err)
{
	sqlite3_stmt *st = stmt(t, k, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	return step(t, st, what, err);
}

int ifs_tree_dir(ifs_tree *t, int archive, const char *path, size_t len, int plant, int64_t *id,
		 ifs_err *err)
{
	int64_t v;
	const char *slash = memrchr(path, '/', len);
	size_t plen = slash ? (size_t)(slash - path) : 0;
	int64_t parent;
	int r;
	if (ifs_strmap_get(t->dirs, path, len, &v) && v) {
		*id = v > 0 ? v : -v;
		if (v > 0 || plant)
			return 0;
		/* a planted folder the scan has reached: real, and so are its parents */
		if ((r = by_id(t, ST_UNPEND, *id, "updating a folder", err)))
			return r;
		if (ifs_strmap_put(t->dirs, path, len, *id) < 0)
			return ifs_err_set(err, ENOMEM, "out of memory");
		return ifs_tree_dir(t, archive, path, plen, 0, &parent, err);
	}
	/* a member stored at this path (a/b, then a/b/c or the folder a/b/): the
	 * first one stays, the caller skips this one */
	if (ifs_strmap_get(t->paths, path, len, &v) && v > 0)
		return 1;
	if ((r = ifs_tree_dir(t, archive, path, plen, plant, &parent, err)))
		return r;
	/* a file planted at this path gives way to the folder, as tar -x would */
	if (ifs_strmap_get(t->paths, path, len, &v) && v < 0) {
		if ((r = by_id(t, ST_DEL, -v, "removing a planted file", err)))
			return r;
		if (ifs_strmap_put(t->paths, path, len, 0) < 0)
			return ifs_err_set(err, ENOMEM, "out of memory");
	}
	const char *name = slash ? slash + 1 : path;
	*id = t->next_id++;
	if ((r = insert(t, *id, parent, name, (int)(len - (size_t)(name - path)), archive,
			IFS_NODE_DIR, plant, IMPLICIT_DIR_MODE, err)))
		return r;
	if (ifs_strmap_put(t->dirs, path, len, plant ? -*id : *id) < 0)
		return ifs_err_set(err, ENOMEM, "out of memory");
	return 0;
}

int ifs_tree_dir_attrs(ifs_tree *t, int64_t id, int64_t mtime, uint32_t mode, ifs_err *err)
{
	sqlite3_stmt *st = stmt(t, ST_DIRMODE, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, mtime);
	sqlite3_bind_int(st, 2, IFS_NODE_MODE(mode));
	sqlite3_bind_int64(st, 3, id);
	return step(t, st, "updating a folder", err);
}

int ifs_tree_member(ifs_tree *t, int archive, const char *path, size_t len,
		    const ifs_tar_entry *e, int64_t *id, int *dup, ifs_err *err)
{
	const char *slash = memrchr(path, '/', len);
	int64_t parent, v;
	int r = ifs_tree_dir(t, archive, path, slash ? (size_t)(slash - path) : 0, 0, &parent, err);
	if (r)
		return r;
	if (ifs_strmap_get(t->dirs, path, len, &v) && v)
		return -EEXIST;   /* a file where a folder is: tar -x fails there too */
	if (e->data_off & ((1u << IFS_NODE_OFF_SHIFT) - 1))
		return ifs_err_set(err, EIO, "%s: the data of %s is not on a 512-byte record",
				   ifs_archive_file(archive), path);
	*dup = 0;
	sqlite3_stmt *st;
	if (ifs_strmap_get(t->paths, path, len, &v) && v) {
		/* planted by the JSON, or stored twice (the later copy wins, as
		 * with tar -x) */
		*dup = v > 0;
		*id = v > 0 ? v : -v;
		if (!(st = stmt(t, ST_MEMBER, err)))
			return -EIO;
		sqlite3_bind_int(st, 1, archive);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)(e->data_off >> IFS_NODE_OFF_SHIFT));
		sqlite3_bind_int64(st, 3, (sqlite3_int64)e->size);
		sqlite3_bind_int64(st, 4, e->mtime);
		sqlite3_bind_int(st, 5, IFS_NODE_MODE(e->mode));
		sqlite3_bind_int64(st, 6, IFS_NODE_CRC(e->crc));
		sqlite3_bind_int64(st, 7, *id);
		if ((r = step(t, st, "updating a member", err)))
			return r;
		if (v < 0 && ifs_strmap_put(t->paths, path, len, *id) < 0)
			return ifs_err_set(err, ENOMEM, "out of memory");
		return 0;
	}
	*id = t->next_id++;
	if (!(st = stmt(t, ST_INS, err)))
		return -EIO;
	const char *name = slash ? slash + 1 : path;
	sqlite3_bind_int64(st, 1, *id);
	sqlite3_bind_int64(st, 2, parent);
	ifs_sql_bind_name(st, 3, name, (int)(len - (size_t)(name - path)));
	sqlite3_bind_int(st, 4, archive);
	sqlite3_bind_int(st, 5, IFS_NODE_FILE);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)(e->data_off >> IFS_NODE_OFF_SHIFT));
	sqlite3_bind_int64(st, 7, (sqlite3_int64)e->size);
	sqlite3_bind_int64(st, 8, e->mtime);
	sqlite3_bind_int(st, 9, IFS_NODE_MODE(e->mode));
	sqlite3_bind_int64(st, 10, IFS_NODE_CRC(e->crc));
	if ((r = step(t, st, "adding a member", err)))
		return r;
	if (ifs_strmap_put(t->paths, path, len, *id) < 0)
		return ifs_err_set(err, ENOMEM, "out of memory");
	return 0;
}

/* Where the scan will put the member an image's file_name names: the
 * tarball's canonical layout (the join, build_catalog.c, also accepts the
 * file name without train_val_images/, and a test image by its base name). */
static int planted_path(int split, const char *file_name, char *out, size_t outsz)
{
	char norm[PATH_MAX];
	if (ifs_path_normalize(file_name, norm, sizeof norm) < 0)
		return -1;
	const char *top = split == IFS_SPLIT_TEST ? "test2017/" : "train_val_images/";
	const char *rest = norm;
	if (split == IFS_SPLIT_TEST) {
		const char *slash = strrchr(norm, '/');
		rest = slash ? slash + 1 : norm;
	} else if (strncmp(norm, top, strlen(top)) == 0) {
		rest = norm + strlen(top);
	}
	int n = snprintf(out, outsz, "%s%s", top, rest);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

int ifs_tree_plant(ifs_tree *t, const int present[IFS_ARCHIVE_MAX + 1], ifs_err *err)
{
	sqlite3_stmt *q;
	int r = ifs_sql_prepare(t->db, "SELECT split, " IFS_SQL_FILE_NAME("i") " FROM images i "
				"ORDER BY rid", &q, err);
	if (r)
		return r;
	int rc;
	char path[PATH_MAX];
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int split = sqlite3_column_int(q, 0);
		int archive = split == IFS_SPLIT_TEST ? IFS_ARCHIVE_TEST : IFS_ARCHIVE_TRAINVAL;
		const char *fn = (const char *)sqlite3_column_text(q, 1);
		if (!present[archive] || !fn || planted_path(split, fn, path, sizeof path) < 0)
			continue;   /* no tarball to wait for, or a path the scan never serves */
		size_t len = strlen(path);
		int64_t v, parent;
		if ((ifs_strmap_get(t->paths, path, len, &v) && v) ||
		    (ifs_strmap_get(t->dirs, path, len, &v) && v))
			continue;   /* named twice, or a folder */
		const char *slash = strrchr(path, '/');
		if ((r = ifs_tree_dir(t, archive, path, (size_t)(slash - path), 1, &parent, err))) {
			if (r != 1)
				break;
			r = 0;   /* below a member: never served */
			continue;
		}
		int64_t id = t->next_id++;
		if ((r = insert(t, id, parent, slash + 1, -1, archive, IFS_NODE_FILE, 1,
				PENDING_FILE_MODE, err)))
			break;
		if (ifs_strmap_put(t->paths, path, len, -id) < 0) {
			r = ifs_err_set(err, ENOMEM, "out of memory");
			break;
		}
	}
	if (!r && rc != SQLITE_DONE)
		r = ifs_err_set(err, EIO, "index: %s: planting the pristine trees: %s",
				sqlite3_db_filename(t->db, "main"), sqlite3_errmsg(t->db));
	sqlite3_finalize(q);
	return r;
}

int ifs_tree_prune(ifs_tree *t, int archive, ifs_err *err)
{
	char q[128];
	snprintf(q, sizeof q, "DELETE FROM nodes WHERE archive=%d AND off IS NULL", archive);
	return ifs_sql_exec(t->db, q, "removing what the tarball does not hold", err);
}

/*
 * query_tree.c - the pristine trees as index_query.h gives them: nodes by
 * id, by parent and name, listings, a member's path for messages, and every
 * member in archive order (inatfs verify).
 *
 * Names are read with nm() and compared with nk() (stored names, schema.h);
 * a name that cannot be served ends a listing with -EIO (check.c checks the
 * rest at open).
 */
#include "inatfs/index_query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

#define NODE_COLS "SELECT id, type, off, size, mtime, mode, crc, archive"
static const char q_node_id[] = NODE_COLS " FROM nodes WHERE id=?1";
static const char q_node_child[] = NODE_COLS " FROM nodes WHERE parent=?1 AND name=nk(?2)";
static const char q_node_list[] = NODE_COLS ", nm(name) FROM nodes WHERE parent=?1 ORDER BY name";
/* without attributes: the index nodes_child (parent, name, type) alone */
static const char q_node_names[] = "SELECT id, type, nm(name) FROM nodes WHERE parent=?1 "
				   "ORDER BY name";
static const char q_node_subdir[] = "SELECT id FROM nodes WHERE parent=?1 AND name=nk(?2) AND "
				    "type=?3";

/* A row of NODE_COLS into *n. */
static void node_row(sqlite3_stmt *st, ifs_node *n)
{
	memset(n, 0, sizeof *n);
	n->id = sqlite3_column_int64(st, 0);
	n->dir = sqlite3_column_int(st, 1) == IFS_NODE_DIR;
	n->off = (uint64_t)sqlite3_column_int64(st, 2) << IFS_NODE_OFF_SHIFT;
	n->size = (uint64_t)sqlite3_column_int64(st, 3);
	n->mtime = sqlite3_column_int64(st, 4);
	n->mode = ((uint32_t)sqlite3_column_int64(st, 5) ^ IFS_NODE_MODE_USUAL) & 0777;
	n->crc = (uint32_t)sqlite3_column_int64(st, 6);
	n->archive = sqlite3_column_int(st, 7);
	n->pending = !n->dir && sqlite3_column_type(st, 2) == SQLITE_NULL;
}

/* Steps a one-row lookup of NODE_COLS and resets it. */
static int node_one(ifs_index *idx, sqlite3_stmt *st, ifs_node *out, ifs_err *err)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		node_row(st, out);
	int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

int ifs_index_node(ifs_index *idx, int64_t id, ifs_node *out, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_node_id, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	return node_one(idx, st, out, err);
}

int ifs_index_node_child(ifs_index *idx, int64_t parent, const char *name, ifs_node *out,
			 ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_node_child, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, parent);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	return node_one(idx, st, out, err);
}

int ifs_index_node_subdir(ifs_index *idx, int64_t parent, const char *name, int64_t *id,
			  ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_node_subdir, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, parent);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, IFS_NODE_DIR);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

int ifs_index_node_list(ifs_index *idx, int64_t parent, int attrs, ifs_node_fn fn, void *ctx,
			ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, attrs ? q_node_list : q_node_names, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, parent);
	int rc, r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ifs_node n;
		if (attrs) {
			node_row(st, &n);
		} else {
			memset(&n, 0, sizeof n);
			n.id = sqlite3_column_int64(st, 0);
			n.dir = sqlite3_column_int(st, 1) == IFS_NODE_DIR;
		}
		const char *name = (const char *)sqlite3_column_text(st, attrs ? 8 : 2);
		if (!ifs_index_name_ok(name)) {
			r = ifs_index_bad_name(idx, "node", (long long)n.id, err);
			break;
		}
		if ((r = fn(ctx, name, &n)))
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

/* bounded: a cycle of parents in a damaged index ends the walk (4096 bytes
 * is the longest path the kernel takes) */
#define PATH_UP(start) \
	"WITH RECURSIVE up(id, parent, path) AS (SELECT id, parent, nm(name) FROM nodes " \
	"WHERE " start " UNION ALL SELECT n.id, n.parent, nm(n.name) || '/' || up.path " \
	"FROM nodes n JOIN up ON n.id=up.parent WHERE n.id<>1 AND length(up.path) < 4096) " \
	"SELECT path FROM up WHERE parent=1 LIMIT 1"
static const char q_node_path[] = PATH_UP("id=?1");
static const char q_member_path[] = PATH_UP("archive=?1 AND off=?2 AND type=0");

static int path_of(sqlite3_stmt *st, char *out, size_t size)
{
	int rc = sqlite3_step(st);
	const char *p = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (p)
		snprintf(out, size, "%s", p);
	sqlite3_reset(st);
	return p ? 0 : rc == SQLITE_ROW || rc == SQLITE_DONE ? -ENOENT : -EIO;
}

int ifs_index_node_path(ifs_index *idx, int64_t id, char *out, size_t size)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_node_path, NULL);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	return path_of(st, out, size);
}

int ifs_index_member_path(ifs_index *idx, int archive, uint64_t off, char *out, size_t size)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_member_path, NULL);
	if (!st)
		return -EIO;
	if (off & ((1u << IFS_NODE_OFF_SHIFT) - 1))
		return -ENOENT;
	sqlite3_bind_int(st, 1, archive);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(off >> IFS_NODE_OFF_SHIFT));
	return path_of(st, out, size);
}

/* ---- every member ------------------------------------------------------ */

/* off NULL: a member the JSON names that a damaged archive's scan never reached */
static const char q_members[] =
	"SELECT id, archive, off, size, crc, off IS NULL FROM nodes WHERE type=0 "
	"ORDER BY archive, off";

struct ifs_member_iter {
	ifs_index *idx;
	sqlite3_stmt *st;   /* its own: the cached ones serve the reads in between */
};

int ifs_index_members_open(ifs_index *idx, ifs_member_iter **out, ifs_err *err)
{
	*out = NULL;
	sqlite3 *db = ifs_index_db(idx, err);
	if (!db)
		return -EIO;
	ifs_member_iter *it = calloc(1, sizeof *it);
	if (!it)
		return ifs_err_set(err, ENOMEM, "out of memory");
	it->idx = idx;
	if (sqlite3_prepare_v2(db, q_members, -1, &it->st, NULL) != SQLITE_OK) {
		int r = ifs_index_db_error(idx, err);
		ifs_index_members_close(it);
		return r;
	}
	*out = it;
	return 0;
}

int ifs_index_members_next(ifs_member_iter *it, ifs_member *m, ifs_err *err)
{
	int rc = sqlite3_step(it->st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return ifs_index_db_error(it->idx, err);
	m->id = sqlite3_column_int64(it->st, 0);
	m->archive = sqlite3_column_int(it->st, 1);
	m->off = (uint64_t)sqlite3_column_int64(it->st, 2) << IFS_NODE_OFF_SHIFT;
	m->size = (uint64_t)sqlite3_column_int64(it->st, 3);
	m->crc = (uint32_t)sqlite3_column_int64(it->st, 4);
	m->pending = sqlite3_column_int(it->st, 5);
	return 1;
}

void ifs_index_members_close(ifs_member_iter *it)
{
	if (!it)
		return;
	sqlite3_finalize(it->st);
	free(it);
}

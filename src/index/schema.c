/*
 * schema.c - the index's tables and indexes (see schema.h, docs/design.md).
 * The schema version lives in PRAGMA user_version (IFS_SCHEMA_VERSION).
 */
#include "schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/index.h"
#include "inatfs/names.h"
#include "inatfs/varint.h"

/* off NULL: pending, a path the JSON names that the scan has not reached;
 * mode and crc: IFS_NODE_MODE, IFS_NODE_CRC (schema.h) */
#define NODES "(id INTEGER PRIMARY KEY, parent INTEGER NOT NULL, name TEXT NOT NULL," \
	"  archive INTEGER NOT NULL, type INTEGER NOT NULL, off INTEGER," \
	"  size INTEGER NOT NULL, mtime INTEGER NOT NULL, mode INTEGER NOT NULL," \
	"  crc INTEGER NOT NULL)"
/* type: plain listings of the pristine trees read this index alone */
#define NODES_CHILD "CREATE UNIQUE INDEX nodes_child ON nodes(parent, name, type)"

static const char *const ddl =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
	"CREATE TABLE sources(file TEXT PRIMARY KEY, fingerprint TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE archives(id INTEGER PRIMARY KEY, file TEXT NOT NULL, in_size INTEGER,"
	"  out_size INTEGER, members INTEGER, checkpoints INTEGER, window_bytes INTEGER);"
	/* key: IFS_CP_KEY(archive, from) (schema.h); skip: from - out; entry:
	 * NULL or IFS_CP_ENTRY(entry_bit - in_bit, hdr_bits); ends: the member
	 * ends in the row's range (schema.h), NULL if none */
	"CREATE TABLE checkpoints(key INTEGER PRIMARY KEY, skip INTEGER NOT NULL,"
	"  in_bit INTEGER NOT NULL, window BLOB, entry INTEGER, ends BLOB);"
	"CREATE TABLE nodes" NODES ";"
	"CREATE TABLE categories(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
	"  supercategory TEXT NOT NULL, dir TEXT NOT NULL, superdir TEXT NOT NULL);"
	"CREATE TABLE licenses(id INTEGER PRIMARY KEY, name TEXT, url TEXT);"
	"CREATE TABLE images(rid INTEGER PRIMARY KEY, split INTEGER NOT NULL, id INTEGER NOT NULL,"
	"  category INTEGER NOT NULL, name TEXT NOT NULL, node INTEGER, nboxes INTEGER NOT NULL,"
	"  sidecar_len INTEGER NOT NULL DEFAULT 0,"
	"  file_name TEXT, width INTEGER, height INTEGER, license INTEGER,"
	"  rights_holder INTEGER, extra TEXT, boxes BLOB, location BLOB,"
	/* as many bytes as the scan's UPDATE of node takes (build_catalog.c)
	 * gives back: rows do not grow, so the pages packed by the bulk insert
	 * are not split, nor shrink, leaving holes */
	"  pad BLOB);"
	"CREATE TABLE shapes(id INTEGER PRIMARY KEY, text BLOB NOT NULL);"
	"CREATE TABLE holders(id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
	"CREATE TABLE annfiles(name TEXT PRIMARY KEY, zip TEXT NOT NULL, entry TEXT NOT NULL,"
	"  size INTEGER NOT NULL, mtime INTEGER NOT NULL);"
	"CREATE TABLE generated(name TEXT PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID;"
	/* an archive the scan found damaged (index.h, ifs_damage) */
	"CREATE TABLE damage(archive INTEGER PRIMARY KEY, kind TEXT NOT NULL, in_off INTEGER NOT NULL,"
	"  in_size INTEGER NOT NULL, good_out INTEGER NOT NULL, message TEXT NOT NULL,"
	"  images INTEGER NOT NULL);";

static const char *const ddl_indexes =
	NODES_CHILD ";"
	"CREATE INDEX images_by_class ON images(split, category, name, nboxes, node, sidecar_len);"
	"CREATE INDEX categories_by_dir ON categories(dir);";

int ifs_sql_exec(sqlite3 *db, const char *sql, const char *what, ifs_err *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int code = sqlite3_errcode(db) == SQLITE_FULL ? ENOSPC : EIO;
		ifs_err_set(err, code, "index: %s: %s: %s", sqlite3_db_filename(db, "main"), what,
			    msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -code;
	}
	return 0;
}

int ifs_sql_step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, ifs_err *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return ifs_err_set(err, rc == SQLITE_FULL ? ENOSPC : EIO, "index: %s: %s: %s",
				   sqlite3_db_filename(db, "main"), what, sqlite3_errmsg(db));
	return 0;
}

int ifs_sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, ifs_err *err)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return ifs_err_set(err, EIO, "index: %s (in \"%.80s\")", sqlite3_errmsg(db), sql);
	return 0;
}

int ifs_schema_create(sqlite3 *db, ifs_err *err)
{
	char pragma[64];
	snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d;", IFS_SCHEMA_VERSION);
	/* incremental: the build packs the tree's indexes at its end and gives
	 * the freed pages back (build.c); nothing is vacuumed at commits */
	int r = ifs_sql_exec(db, "PRAGMA auto_vacuum=INCREMENTAL", "creating tables", err);
	if (r == 0)
		r = ifs_sql_exec(db, ddl, "creating tables", err);
	if (r == 0)
		r = ifs_sql_exec(db, pragma, "setting the schema version", err);
	return r;
}

int ifs_schema_create_indexes(sqlite3 *db, ifs_err *err)
{
	return ifs_sql_exec(db, ddl_indexes, "creating indexes", err);
}

/* The scan's updates of planted nodes grow their rows, which splits pages
 * and leaves them part empty: the table is copied in id order, which fills
 * its pages. The indexes were made by inserts in random order
 * (and the scan's updates of images.node): rebuilt in order, they shrink. */
const char ifs_sql_pack[] =
	"CREATE TABLE nodes_packed" NODES ";"
	"INSERT INTO nodes_packed SELECT * FROM nodes ORDER BY id;"
	"DROP TABLE nodes;"
	"ALTER TABLE nodes_packed RENAME TO nodes;"
	NODES_CHILD ";"
	"REINDEX images_by_class;"
	"PRAGMA incremental_vacuum";

const char ifs_sql_checkpoint[] =
	"SELECT key, skip, in_bit, window, entry FROM checkpoints WHERE key<=?2 AND key>=?1 "
	"ORDER BY key DESC LIMIT 1";

int ifs_sql_checkpoint_row(sqlite3_stmt *st, int archive, uint64_t off, ifs_gz_checkpoint *cp)
{
	memset(cp, 0, sizeof *cp);
	if (off >> IFS_CP_OFF_BITS)
		return -ENOENT;
	sqlite3_bind_int64(st, 1, IFS_CP_KEY(archive, 0));
	sqlite3_bind_int64(st, 2, IFS_CP_KEY(archive, off));
	int rc = sqlite3_step(st), r = 0;
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? -ENOENT : -EIO;
	}
	cp->from = (uint64_t)(sqlite3_column_int64(st, 0) - IFS_CP_KEY(archive, 0));
	sqlite3_int64 skip = sqlite3_column_int64(st, 1), in_bit = sqlite3_column_int64(st, 2);
	int n = sqlite3_column_bytes(st, 3);
	sqlite3_int64 entry = sqlite3_column_int64(st, 4);
	uint64_t delta = entry > 0 ? (uint64_t)entry >> IFS_CP_ENTRY_HDR : 0;
	uint32_t hdr = entry > 0 ? (uint32_t)(entry & ((1 << IFS_CP_ENTRY_HDR) - 1)) : 0;
	if (skip < 0 || (uint64_t)skip > cp->from || in_bit < 0 || (n == 0 && skip != 0) ||
	    entry < 0 || (entry > 0 && (skip == 0 || n == 0 || hdr < 3 ||
					hdr > IFS_GZ_HDR_BITS_MAX || delta < hdr ||
					delta > INT64_MAX - (uint64_t)in_bit))) {
		r = -EIO;
	} else {
		cp->out = cp->from - (uint64_t)skip;
		cp->in_bit = (uint64_t)in_bit;
		if (entry > 0) {
			cp->entry_bit = (uint64_t)in_bit + delta;
			cp->hdr_bits = hdr;
		}
		if (n > 0) {
			cp->window = malloc((size_t)n);
			if (!cp->window)
				r = -ENOMEM;
			else {
				memcpy(cp->window, sqlite3_column_blob(st, 3), (size_t)n);
				cp->window_len = (uint32_t)n;
			}
		}
	}
	sqlite3_reset(st);
	return r;
}

size_t ifs_cp_ends_put(uint8_t *p, uint64_t out, uint64_t in_end, ifs_cp_ends_at *at)
{
	/* the compressed bytes since the last boundary, less the output since it */
	int64_t d = (int64_t)((in_end - at->in) - (out - at->out));
	size_t n = ifs_varint_put(p, out - at->from);
	n += ifs_varint_put(p + n, (uint64_t)d << 1 ^ (uint64_t)(d >> 63));
	at->from = at->out = out;
	at->in = in_end;
	return n;
}

/* In a row's ends (b[0, len), starting at `at`): the in_end of the first
 * boundary at or after end. 1 (*in_end set), 0 (none), -EIO. */
static int ends_find(const uint8_t *b, size_t len, ifs_cp_ends_at at, uint64_t end,
		     uint64_t *in_end)
{
	uint64_t d_out, z;
	for (size_t pos = 0; pos < len;) {
		if (ifs_varint_get(b, len, &pos, &d_out) || ifs_varint_get(b, len, &pos, &z) ||
		    d_out > UINT64_MAX - at.from)
			return -EIO;
		uint64_t out = at.from + d_out;
		/* modulo 2^64: a wrong value is caught by the caller's range check */
		at.in += (out - at.out) + (z >> 1 ^ (0 - (z & 1)));
		at.from = at.out = out;
		if (out >= end) {
			*in_end = at.in;
			return 1;
		}
	}
	return 0;
}

const char ifs_sql_ends[] =
	"SELECT key, skip, in_bit, ends FROM checkpoints WHERE key>=coalesce((SELECT max(key) "
	"FROM checkpoints WHERE key>=?1 AND key<=?2), ?1) AND key<?3 ORDER BY key LIMIT 3";

int ifs_sql_in_end(sqlite3_stmt *st, int archive, uint64_t end, uint64_t *in_end)
{
	if (end >> IFS_CP_OFF_BITS)
		return 0;
	sqlite3_int64 k0 = IFS_CP_KEY(archive, 0);
	sqlite3_bind_int64(st, 1, k0);
	sqlite3_bind_int64(st, 2, IFS_CP_KEY(archive, end));
	sqlite3_bind_int64(st, 3, IFS_CP_KEY(archive + 1, 0));
	int r = 0, rc = SQLITE_DONE;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 key = sqlite3_column_int64(st, 0), skip = sqlite3_column_int64(st, 1);
		sqlite3_int64 in_bit = sqlite3_column_int64(st, 2);
		const uint8_t *b = sqlite3_column_blob(st, 3);
		int n = sqlite3_column_bytes(st, 3);
		if (key < k0 || skip < 0 || skip > key - k0 || in_bit < 0) {
			r = -EIO;
		} else if (b) {
			ifs_cp_ends_at at = { (uint64_t)(key - k0), (uint64_t)(key - k0 - skip),
					      (uint64_t)in_bit >> 3 };
			r = ends_find(b, (size_t)n, at, end, in_end);
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = -EIO;
	sqlite3_reset(st);
	return r;
}

static void fn_nm(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_BLOB &&
	    sqlite3_value_bytes(argv[0]) == IFS_NAME_PACKED) {
		char out[IFS_NAME_UNPACKED + 1];
		ifs_name_unpack(sqlite3_value_blob(argv[0]), out);
		sqlite3_result_text(ctx, out, IFS_NAME_UNPACKED, SQLITE_TRANSIENT);
	} else {
		sqlite3_result_value(ctx, argv[0]);
	}
}

static void fn_nk(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	uint8_t packed[IFS_NAME_PACKED];
	if (sqlite3_value_type(argv[0]) == SQLITE_TEXT &&
	    ifs_name_pack((const char *)sqlite3_value_text(argv[0]),
			  (size_t)sqlite3_value_bytes(argv[0]), packed))
		sqlite3_result_blob(ctx, packed, sizeof packed, SQLITE_TRANSIENT);
	else
		sqlite3_result_value(ctx, argv[0]);
}

int ifs_index_sql_open(const char *path, sqlite3 **db, int flags)
{
	int rc = sqlite3_open_v2(path, db, flags, NULL);
	int fl = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(*db, "nm", 1, fl, NULL, fn_nm, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(*db, "nk", 1, fl, NULL, fn_nk, NULL, NULL);
	return rc;
}

int ifs_sql_bind_name(sqlite3_stmt *st, int i, const char *name, int len)
{
	uint8_t packed[IFS_NAME_PACKED];
	size_t n = len < 0 ? strlen(name) : (size_t)len;
	if (ifs_name_pack(name, n, packed))
		return sqlite3_bind_blob(st, i, packed, sizeof packed, SQLITE_TRANSIENT);
	return sqlite3_bind_text(st, i, name, (int)n, SQLITE_TRANSIENT);
}

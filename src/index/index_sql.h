/*
 * index_sql.h - the SQLite side of an index, private to src/index (and to
 * the white-box tests of the index): connections, cached statements,
 * checks of what is read back. Every other module asks through
 * index_query.h.
 */
#ifndef INATFS_INDEX_SQL_H
#define INATFS_INDEX_SQL_H

#include <sqlite3.h>

#include "inatfs/err.h"
#include "inatfs/index.h"
#include "inatfs/score.h"

/* This thread's connection (created on first use, closed with the index). */
sqlite3 *ifs_index_db(ifs_index *idx, ifs_err *err);

/*
 * This thread's prepared statement for `sql`, reset and with bindings
 * cleared. `sql` must be a string literal (statements are cached by its
 * address, 64 per thread; past that the last slot is replaced, finalizing
 * the statement there: do not hold one across calls that prepare others).
 * The caller steps it and must reset it when done (a statement left
 * mid-step keeps its read transaction open). Returns NULL on error (err set).
 */
sqlite3_stmt *ifs_index_stmt(ifs_index *idx, const char *sql, ifs_err *err);

/* -EIO with this thread's last SQLite message, naming the index. */
int ifs_index_db_error(ifs_index *idx, ifs_err *err);
/* -EIO for a name read back that cannot be served (check.c): what and row
 * name it ("node", 42). */
int ifs_index_bad_name(ifs_index *idx, const char *what, long long row, ifs_err *err);

/*
 * Opens an index file with SQLite directly (the library, `inatfs info`,
 * tests), like sqlite3_open_v2 (on failure *db may still need closing), and
 * registers the SQL functions that stored names need: nm(x), a node's or
 * image's stored name as text, and nk(text), a name's stored form (names.h).
 */
int ifs_index_sql_open(const char *path, sqlite3 **db, int flags);

/* Damage recorded for archive, from an index file's connection (index.h,
 * ifs_index_damage): 1 and *d, 0 if none, -EIO. */
int ifs_damage_read(sqlite3 *db, int archive, ifs_damage *d);

/*
 * Checks what serving relies on in an index opened with SQLite (check.c):
 * id ranges, the root, categories, annotation and generated files. 0, or
 * -EIO with err naming the file and the row.
 */
int ifs_index_validate(sqlite3 *db, const char *path, ifs_err *err);

/*
 * Loads split (enum ifs_split: 0 train, 1 val, 2 test) from an index
 * database: every row of `categories`, and `images` of that split. Returns
 * 0, -EINVAL for a bad split, -EIO if the database cannot be read (err names
 * the query and SQLite's message), -ENOMEM. *out is NULL on failure.
 */
int ifs_truth_load(sqlite3 *db, int split, ifs_truth **out, ifs_err *err);

#endif

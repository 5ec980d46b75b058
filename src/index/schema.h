/*
 * schema.h - the index's SQL schema (private to src/index).
 *
 * Tables (see docs/design.md for the full description):
 *   meta(key, value)                 build facts and counts
 *   sources(file, fingerprint)       every input file the index was built from
 *   archives(id, file, in_size, out_size, members, checkpoints, window_bytes)
 *   checkpoints(key, skip, in_bit, window, entry, ends)   gzip seek points:
 *                                    key = IFS_CP_KEY(archive, from), skip = from - out,
 *                                    entry = IFS_CP_ENTRY(...) or NULL, ends: where
 *                                    members' compressed bytes end (below) or NULL
 *   nodes(id, parent, name, archive, type, off, size, mtime, mode, crc)
 *                                    the pristine tree of every tarball
 *   categories(id, name, supercategory, dir, superdir)
 *   licenses(id, name, url)
 *   images(rid, split, id, category, name, node, nboxes, sidecar_len,
 *          file_name, width, height, license, rights_holder, extra, boxes,
 *          location, pad)            boxes and location: packed JSON records;
 *                                    pad: 4 bytes until the scan sets node
 *   shapes(id, text)                 the shapes of the packed records (jpack.h)
 *   holders(id, name)                rights holders (images.rights_holder -> id)
 *   annfiles(name, zip, entry, size, mtime)   JSON files served from the zips
 *   generated(name, size)            files made when opened (COCO files,
 *                                    template; generated.c): their sizes
 */
#ifndef INATFS_INDEX_SCHEMA_H
#define INATFS_INDEX_SCHEMA_H

#include <sqlite3.h>

#include "inatfs/buf.h"
#include "inatfs/err.h"
#include "inatfs/gz.h"
#include "inatfs/index_query.h"   /* IFS_ROOT_NODE */
#include "inatfs/jpack.h"
#include "index_sql.h"

/* node types in nodes.type */
enum { IFS_NODE_FILE = 0, IFS_NODE_DIR = 1 };

/*
 * checkpoints.key: the archive and the first offset the checkpoint serves
 * (ifs_gz_checkpoint.from) in one rowid, so that "the checkpoint for offset
 * X" is one probe of the table's own B-tree, and rows appended in key order
 * fill their pages (a WITHOUT ROWID table keyed (archive, from) leaves
 * pages part empty and stores the key twice as wide). Archive 1's keys are
 * its offsets, archive 2's start at 1 << 48: a rowid takes a byte less than
 * with archive << 48.
 */
#define IFS_CP_OFF_BITS 48
#define IFS_CP_KEY(archive, off) \
	((sqlite3_int64)((archive) - 1) << IFS_CP_OFF_BITS | (sqlite3_int64)(off))

/* checkpoints.entry: where the checkpoint's entry is (entry_bit - in_bit) and
 * its block's header length (hdr_bits < 2^13) in one integer; NULL: none */
#define IFS_CP_ENTRY_HDR 13
#define IFS_CP_ENTRY(delta, hdr) ((sqlite3_int64)(delta) << IFS_CP_ENTRY_HDR | (sqlite3_int64)(hdr))

/* "The checkpoint that serves offset ?2 of archive ?1" (ifs_sql_checkpoint_row
 * reads its row). */
extern const char ifs_sql_checkpoint[];
/*
 * Steps st (ifs_sql_checkpoint, prepared on db) for offset off of archive and
 * fills cp (window malloc'd) from the row; resets st. 0, -ENOENT (no row),
 * -EIO (the row is corrupt or the query failed), -ENOMEM.
 */
int ifs_sql_checkpoint_row(sqlite3_stmt *st, int archive, uint64_t off, ifs_gz_checkpoint *cp);

/*
 * checkpoints.ends: where the compressed bytes of members end, for reads
 * that fetch exactly those (ifs_index_in_end). For every member with data,
 * the first point the scan reports at or after its data end (gz.h,
 * ifs_gz_boundary_fn: uncompressed `out`, compressed `in_end`): the exact
 * end the build asks for (ifs_gz_want_end), else the block boundary after
 * it (an index built before, a block too long to decode again); each such
 * point is kept in the row whose range it lies in ([from, the next row's
 * from)), in order, as two varints: out - the previous out (at first the
 * row's from), and, zigzag-coded, the compressed bytes since the previous
 * boundary (at first the row's: out = from - skip, in = in_bit >> 3) less
 * the output since it (small for data that deflate does not shrink, as
 * JPEGs). In the row, not a table of its own: a few bytes per member, not
 * a row each.
 * The boundary for a member that ends at E lies in the range of the row that
 * serves E or of one of the next two (rows start at a want inside the block
 * before a boundary or at a boundary: at most one starts in (E, boundary),
 * one at it): ifs_sql_in_end reads those three.
 */
typedef struct ifs_cp_ends_at {
	uint64_t from;   /* the previous boundary's out, at first the row's from */
	uint64_t out;    /* the previous boundary's out, at first the row's out */
	uint64_t in;     /* the previous boundary's in_end, at first the row's in_bit >> 3 */
} ifs_cp_ends_at;
/* Appends the boundary (out, in_end) at p (room for 2 * IFS_VARINT_MAX) and
 * moves *at to it. Returns the bytes written. */
size_t ifs_cp_ends_put(uint8_t *p, uint64_t out, uint64_t in_end, ifs_cp_ends_at *at);
/* The rows whose ends may hold the boundary for an end (ifs_sql_in_end reads them). */
extern const char ifs_sql_ends[];
/*
 * Steps st (ifs_sql_ends, prepared) for a member of archive whose data ends
 * at uncompressed offset end; resets st. 1 and *in_end: the boundary's
 * in_end; 0: none recorded (yet); -EIO: a row is corrupt or the query failed.
 */
int ifs_sql_in_end(sqlite3_stmt *st, int archive, uint64_t end, uint64_t *in_end);

/*
 * nodes.mode: the permission bits XOR the usual file mode, which is so
 * stored in no bytes (SQLite keeps 0 and 1 in the row's header); nodes.crc:
 * the CRC-32 as a signed 32-bit integer (4 bytes, where half of them took 6
 * unsigned). Readers take both back with a cast to uint32_t (and the XOR).
 */
#define IFS_NODE_MODE_USUAL 0644
/* nodes.off: a member's data offset in 512-byte records (tar data starts on
 * one, tar.c), so that offsets past 2 GB take 4 bytes, not 6; SQL that needs
 * bytes says off*512 */
#define IFS_NODE_OFF_SHIFT 9
#define IFS_NODE_MODE(mode) ((int)(((mode) & 07777) ^ IFS_NODE_MODE_USUAL))
#define IFS_NODE_CRC(crc) ((sqlite3_int64)(int32_t)(uint32_t)(crc))

/* The root of the pristine tree (IFS_ROOT_NODE) has id 1 and parent 0. */

/*
 * images.file_name is NULL when it is the canonical path (saves ~70 bytes per
 * image): train_val_images/<supercategory>/<category name>/<name> for train
 * and val, test2017/<name> for test. This SQL expression gives the JSON's
 * file_name for a row of images aliased `i` (needs categories reachable).
 */
#define IFS_SQL_FILE_NAME(i) \
	"coalesce(" i ".file_name, CASE WHEN " i ".split=2 THEN 'test2017/' || nm(" i ".name) " \
	"ELSE (SELECT 'train_val_images/' || c.supercategory || '/' || c.name || '/' || nm(" i ".name) " \
	"FROM categories c WHERE c.id=" i ".category) END)"

/*
 * Packed records (records.c). images.boxes holds an image's COCO box records
 * back to back, in file order; images.location its locations record; both
 * NULL when there are none. A shape lookup for ifs_jpack_decode() through a
 * prepared ifs_sql_shape statement, caching the last shape.
 */
extern const char ifs_sql_shape[];
struct ifs_shapes {
	sqlite3_stmt *st;   /* prepared ifs_sql_shape; not owned */
	int have;
	uint64_t id;
	ifs_buf text;
};
int ifs_shape_lookup(void *ctx, uint64_t id, const char **shape, size_t *len);
void ifs_shapes_done(struct ifs_shapes *s);   /* frees the cache, not the statement */
/* Appends the records of in[0, len) to out, separated by commas; *count
 * (may be NULL) gets how many. 0, -EIO (malformed), -ENOENT, -ENOMEM. */
int ifs_records_unpack(const void *in, size_t len, struct ifs_shapes *s, ifs_buf *out,
		       size_t *count);

/* Creates every table (not the secondary indexes). */
int ifs_schema_create(sqlite3 *db, ifs_err *err);
/* Creates the secondary indexes (after the bulk inserts: faster). */
int ifs_schema_create_indexes(sqlite3 *db, ifs_err *err);
/* Packs the tables and indexes that the build filled out of order, once
 * everything is in (the freed pages go back to the file system). */
extern const char ifs_sql_pack[];

/*
 * Stored names (names.h): names of nodes and images are written with
 * ifs_sql_bind_name (or nk(?) in SQL), compared as `name=nk(?)`, and read as
 * `nm(name)`; connections get nm and nk from ifs_index_sql_open (index.h).
 * ORDER BY name puts text names before packed ones.
 */
/* Binds name[0, len) (len -1: up to the NUL) in its stored form. */
int ifs_sql_bind_name(sqlite3_stmt *st, int i, const char *name, int len);

/* Runs SQL with no result rows; err names `what`. */
int ifs_sql_exec(sqlite3 *db, const char *sql, const char *what, ifs_err *err);
/* Steps a statement that returns no rows and resets it; a full disk is -ENOSPC. */
int ifs_sql_step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, ifs_err *err);
/* Prepares a statement; err names the SQL on failure. */
int ifs_sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, ifs_err *err);

#endif

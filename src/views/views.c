/*
 * views.c - path -> entry for every view of the mount, and directory
 * listings, answered from the index (see views.h for the tree).
 *
 * Inode numbers are derived from index row ids, so they are stable across
 * mounts of the same index:
 *   pristine tree node            id                      (< 2^40)
 *   fixed folders and files       1<<40 | k
 *   class folder of view V        2<<40 | V<<32 | category id
 *   image in view V               3<<40 | V<<32 | images.rid
 *   sidecar in view V             4<<40 | V<<32 | images.rid
 *   by-supercategory folders      5<<40 | part<<32 | smallest category id
 *   2017/... (train_val_images/)  6<<40 | pristine node id
 */
#include "inatfs/views.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "inatfs/catalog.h"
#include "inatfs/names.h"
#include "inatfs/sidecar.h"
#include "../index/schema.h"

struct ifs_views {
	ifs_index *idx;
	int sidecars;
	int listing_attrs;
	int64_t mtime;       /* for folders that exist only in the views */
	int has_test;        /* -1: not known yet (live index) */
	int64_t alias_root;  /* 2017/'s node: 0 not known yet, -1 none */
	/* per archive: damage recorded (index.h): 0 not known yet, 1 none, 2 damaged
	 * (then dmg_good is its good_out) */
	int dmg_state[IFS_ARCHIVE_MAX + 1];
	uint64_t dmg_good[IFS_ARCHIVE_MAX + 1];
};

static int split_archive(int split)
{
	return split == IFS_SPLIT_TEST ? IFS_ARCHIVE_TEST : IFS_ARCHIVE_TRAINVAL;
}

/*
 * Did the scan find archive damaged? Then *good_out: bytes from there on
 * cannot be trusted. Settled once seen, or once the index is complete.
 */
static int damaged(ifs_views *v, int archive, uint64_t *good_out)
{
	if (archive < 1 || archive > IFS_ARCHIVE_MAX)
		return 0;
	int known = __atomic_load_n(&v->dmg_state[archive], __ATOMIC_ACQUIRE);
	if (!known) {
		int complete = ifs_index_complete(v->idx);   /* read before the query */
		ifs_damage d;
		int r = ifs_index_damage(v->idx, archive, &d);
		if (r > 0) {
			v->dmg_good[archive] = d.good_out;
			known = 2;
		} else {
			known = r == 0 && complete ? 1 : 0;
		}
		if (known)
			__atomic_store_n(&v->dmg_state[archive], known, __ATOMIC_RELEASE);
		if (r > 0 && good_out)
			*good_out = d.good_out;
		return r > 0;
	}
	if (known == 2 && good_out)
		*good_out = v->dmg_good[archive];
	return known == 2;
}

/* May images whose member is not known (scan not there yet, or it stopped
 * at damage before them) be shown? */
static int show_pending(ifs_views *v, int split)
{
	int archive = split_archive(split);
	return (ifs_index_live_state(v->idx) == IFS_LIVE_SCANNING &&
		ifs_index_archive(v->idx, archive) != NULL) || damaged(v, archive, NULL);
}

/* Pending things wait while the scan may still reach them; they fail once
 * it has stopped short of them (damage, a failed scan). */
static int pending_errno(ifs_views *v, int archive)
{
	if (damaged(v, archive, NULL) || ifs_index_complete(v->idx) ||
	    ifs_index_live_state(v->idx) == IFS_LIVE_FAILED)
		return -EIO;
	return -EAGAIN;
}

/* A member of a damaged archive that ends past the bytes that can be trusted. */
static int untrusted(ifs_views *v, const ifs_entry *e)
{
	uint64_t good;
	return e->src == IFS_SRC_MEMBER && !e->pending && damaged(v, e->archive, &good) &&
	       e->off + e->size > good;
}

/* What a lookup or getattr of a file entry answers. */
static int file_answer(ifs_views *v, const ifs_entry *e, int archive)
{
	if (e->pending)
		return pending_errno(v, archive);
	return untrusted(v, e) ? -EIO : 0;
}

/* A folder of images: one split, maybe one category, maybe one supercategory. */
enum { V_TRAIN, V_VAL, V_BBOX_TRAIN, V_BBOX_VAL, V_SUPER_TRAIN, V_SUPER_VAL, V_TEST };
struct imgsel {
	int view;
	int split;
	int boxed;             /* only images with boxes */
	const char *superdir;  /* by-supercategory: this one only */
};

#define INO(kind, v, id) (((uint64_t)(kind) << 40) | ((uint64_t)(v) << 32) | (uint64_t)(id))

/* Fixed names under the root and in with-bbox/. */
enum { K_TRAIN = 1, K_VAL, K_SUPER, K_BBOX, K_TEST, K_TEMPLATE, K_BBOX_TRAIN, K_BBOX_VAL,
       K_BBOX_TRAIN_JSON, K_BBOX_VAL_JSON, K_ANN_BASE = 64 };

static void dir_entry(ifs_views *v, ifs_entry *e, uint64_t ino, uint32_t nsub)
{
	memset(e, 0, sizeof *e);
	e->ino = ino;
	e->src = IFS_SRC_DIR;
	e->nlink = 2 + nsub;
	e->mtime = v->mtime;
	e->mode = 0555;
}

static int db_error(ifs_views *v, ifs_err *err)
{
	sqlite3 *db = ifs_index_db(v->idx, NULL);
	return ifs_err_set(err, EIO, "index: %s", db ? sqlite3_errmsg(db) : "no connection");
}

/* A name read back that cannot be served (check.c): the index is damaged. */
static int bad_name(ifs_views *v, const char *what, long long row, ifs_err *err)
{
	return ifs_err_set(err, EIO, "index: %s: %s %lld has no valid name (a damaged index: "
			   "remove it to have it rebuilt)", ifs_index_path(v->idx), what, row);
}

/* ---- set-up ------------------------------------------------------------ */

int ifs_views_new(ifs_index *idx, const ifs_views_opts *opts, ifs_views **out, ifs_err *err)
{
	*out = NULL;
	ifs_views *v = calloc(1, sizeof *v);
	if (!v)
		return ifs_err_set(err, ENOMEM, "out of memory");
	v->idx = idx;
	v->sidecars = opts ? opts->sidecars : 1;
	v->listing_attrs = opts ? opts->listing_attrs : 1;
	sqlite3_stmt *st = ifs_index_stmt(idx, "SELECT mtime FROM nodes WHERE id=1", err);
	if (!st || sqlite3_step(st) != SQLITE_ROW) {
		if (st)
			sqlite3_reset(st);
		free(v);
		return ifs_err_set(err, EIO, "%s: index has no root", ifs_index_path(idx));
	}
	v->mtime = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	v->has_test = -1;
	*out = v;
	return 0;
}

/* Are there test images to show? Settled once the index is complete. */
static int has_test(ifs_views *v)
{
	int known = __atomic_load_n(&v->has_test, __ATOMIC_RELAXED);
	if (known >= 0)
		return known;
	int complete = ifs_index_complete(v->idx);   /* read before the query */
	sqlite3_stmt *st = ifs_index_stmt(v->idx, "SELECT EXISTS(SELECT 1 FROM images WHERE "
					  "split=2 AND (node IS NOT NULL OR ?1))", NULL);
	int yes = 0;
	if (!st)
		return 0;
	sqlite3_bind_int(st, 1, show_pending(v, IFS_SPLIT_TEST));
	if (sqlite3_step(st) == SQLITE_ROW)
		yes = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (complete)
		__atomic_store_n(&v->has_test, yes, __ATOMIC_RELAXED);
	return yes;
}

void ifs_views_free(ifs_views *v)
{
	free(v);
}

/* ---- the pristine trees ------------------------------------------------ */

static const char q_node_child[] =
	"SELECT id, type, off, size, mtime, mode, crc, archive FROM nodes WHERE parent=?1 "
	"AND name=nk(?2)";
static const char q_node_list[] =
	"SELECT id, type, off, size, mtime, mode, crc, archive, nm(name) FROM nodes "
	"WHERE parent=?1 ORDER BY name";
/* Without listing_attrs: read from the index nodes_child (parent, name, type) alone. */
static const char q_node_names[] =
	"SELECT id, type, nm(name) FROM nodes WHERE parent=?1 ORDER BY name";

static void node_entry(sqlite3_stmt *st, ifs_entry *e)
{
	memset(e, 0, sizeof *e);
	e->ino = (uint64_t)sqlite3_column_int64(st, 0);
	int dir = sqlite3_column_int(st, 1) == IFS_NODE_DIR;
	e->src = dir ? IFS_SRC_DIR : IFS_SRC_MEMBER;
	e->off = (uint64_t)sqlite3_column_int64(st, 2);
	e->size = dir ? 0 : (uint64_t)sqlite3_column_int64(st, 3);
	e->nlink = dir ? 2 + (uint32_t)sqlite3_column_int64(st, 3) : 1;
	e->mtime = sqlite3_column_int64(st, 4);
	/* the tar's permission bits, as tar -x gives them (the mount is read-only) */
	e->mode = (uint32_t)sqlite3_column_int64(st, 5) & 0777;
	e->crc = (uint32_t)sqlite3_column_int64(st, 6);
	e->archive = sqlite3_column_int(st, 7);
	e->pending = !dir && sqlite3_column_type(st, 2) == SQLITE_NULL;
}

/* Top-level names the views own; a tarball folder of the same name is hidden. */
static int is_view_name(const char *name)
{
	static const char *const names[] = { "train", "val", "by-supercategory", "with-bbox",
					     "test", "2017", NULL };
	for (const char *const *n = names; *n; n++)
		if (strcmp(name, *n) == 0)
			return 1;
	return 0;
}

/*
 * 2017/ is the train/val tarball's top folder, train_val_images/, under the
 * name torchvision's INaturalist(root, version="2017") looks for. Its entries
 * are the pristine ones with ALIAS_KIND in the inode's kind bits: a folder
 * has one parent, so the alias cannot share the pristine tree's inodes.
 */
#define ALIAS_KIND 6
#define ALIAS_NAME "2017"
#define NODE_BITS ((UINT64_C(1) << 40) - 1)
#define ALIAS_INO(id) ((uint64_t)ALIAS_KIND << 40 | (uint64_t)(id))

/* The node 2017/ shows, or -ENOENT while it does not exist (yet). */
static int alias_root(ifs_views *v, int64_t *id, ifs_err *err)
{
	int64_t known = __atomic_load_n(&v->alias_root, __ATOMIC_RELAXED);
	if (known) {
		*id = known;
		return known > 0 ? 0 : -ENOENT;
	}
	int complete = ifs_index_complete(v->idx);   /* read before the query */
	sqlite3_stmt *st = ifs_index_stmt(v->idx, "SELECT id FROM nodes WHERE parent=?1 AND "
					  "name=nk('train_val_images') AND type=?2", err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, IFS_ROOT_NODE);
	sqlite3_bind_int(st, 2, IFS_NODE_DIR);
	int rc = sqlite3_step(st);
	int64_t found = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(v, err);
	/* a live index may still get it; a complete one never changes */
	if (found > 0 || complete)
		__atomic_store_n(&v->alias_root, found, __ATOMIC_RELAXED);
	*id = found;
	return found > 0 ? 0 : -ENOENT;
}

/* A listing of an alias folder: the pristine entries with alias inodes. */
struct alias_fill {
	ifs_views_fill_fn fill;
	void *ctx;
};

static int alias_fill(void *ctx, const char *name, const ifs_entry *e)
{
	struct alias_fill *a = ctx;
	ifs_entry ae = *e;
	ae.ino = ALIAS_INO(e->ino);
	return a->fill(a->ctx, name, &ae);
}

/* A name the root serves a file under (an annotation file, the template):
 * a tarball folder of that name is hidden behind it. */
static int is_root_file(ifs_views *v, const char *name)
{
	if (strcmp(name, "submission_template.csv") == 0)
		return 1;
	sqlite3_stmt *st = ifs_index_stmt(v->idx, "SELECT 1 FROM annfiles WHERE name=?1", NULL);
	if (!st)
		return 1;   /* hidden rather than listed twice */
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int yes = sqlite3_step(st) != SQLITE_DONE;
	sqlite3_reset(st);
	return yes;
}

static int node_list(ifs_views *v, int64_t id, int skip_root_kids, ifs_views_fill_fn fill,
		     void *ctx, ifs_err *err)
{
	int full = v->listing_attrs;
	sqlite3_stmt *st = ifs_index_stmt(v->idx, full ? q_node_list : q_node_names, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	int rc, r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ifs_entry e;
		if (full) {
			node_entry(st, &e);
		} else {   /* what readdir needs: inode number and type */
			memset(&e, 0, sizeof e);
			e.ino = (uint64_t)sqlite3_column_int64(st, 0);
			int dir = sqlite3_column_int(st, 1) == IFS_NODE_DIR;
			e.src = dir ? IFS_SRC_DIR : IFS_SRC_MEMBER;
			e.nlink = dir ? 2 : 1;
			e.mode = dir ? 0555 : 0444;   /* listings carry no attributes */
		}
		const char *name = (const char *)sqlite3_column_text(st, full ? 8 : 2);
		if (!ifs_index_name_ok(name)) {
			sqlite3_reset(st);
			return bad_name(v, "node", (long long)e.ino, err);
		}
		if (skip_root_kids && id == IFS_ROOT_NODE &&
		    (e.src != IFS_SRC_DIR || is_view_name(name) || is_root_file(v, name)))
			continue;   /* the root's files and these names belong to the views */
		if ((r = fill(ctx, name, &e)))
			break;
	}
	sqlite3_reset(st);
	if (!r && rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_error(v, err);
	return r;
}

/* ---- image folders ----------------------------------------------------- */

/* ?9 in the image queries: also images not scanned yet (live index) */
static const char q_classes[] =
	"SELECT c.id, c.dir FROM categories c WHERE (?2 IS NULL OR c.superdir=?2) AND EXISTS("
	"SELECT 1 FROM images i WHERE i.split=?1 AND i.category=c.id AND "
	"(i.node IS NOT NULL OR ?9) AND i.nboxes>=?3) ORDER BY c.dir";
static const char q_class[] =
	"SELECT c.id FROM categories c WHERE c.dir=?4 AND (?2 IS NULL OR c.superdir=?2) AND EXISTS("
	"SELECT 1 FROM images i WHERE i.split=?1 AND i.category=c.id AND "
	"(i.node IS NOT NULL OR ?9) AND i.nboxes>=?3)";
#define IMG_COLS "SELECT i.rid, nm(i.name), n.off, n.size, n.mtime, n.crc, n.archive, i.sidecar_len, " \
	"i.split " \
	"FROM images i LEFT JOIN nodes n ON n.id=i.node WHERE (i.node IS NOT NULL OR ?9) "
static const char q_images[] = IMG_COLS
	"AND i.split=?1 AND i.category=?2 AND i.nboxes>=?3 ORDER BY i.name";
/* a listing without attributes: the images table (and its index) alone */
static const char q_image_names[] =
	"SELECT i.rid, nm(i.name), i.node IS NULL, i.sidecar_len FROM images i WHERE "
	"(i.node IS NOT NULL OR ?9) AND i.split=?1 AND i.category=?2 AND i.nboxes>=?3 "
	"ORDER BY i.name";
static const char q_image[] = IMG_COLS
	"AND i.split=?1 AND i.category=?2 AND i.nboxes>=?3 AND i.name=nk(?4)";
/* images whose name starts with "stem." (sidecar lookup) or is "stem": a
 * packed name only as "stem.jpg", text names by their range */
static const char q_image_stem[] = IMG_COLS
	"AND i.split=?1 AND i.category=?2 AND i.nboxes>=?3 AND (i.name=?4 OR "
	"i.name=nk(?4||'.jpg') OR (i.name>?4||'.' AND i.name<?4||'/')) ORDER BY i.name";

/* The class queries take ?1 split, ?2 supercategory folder (or NULL), ?3 boxed. */
static void bind_classes(ifs_views *v, sqlite3_stmt *st, const struct imgsel *s)
{
	sqlite3_bind_int(st, 1, s->split);
	if (s->superdir)
		sqlite3_bind_text(st, 2, s->superdir, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int(st, 3, s->boxed ? 1 : 0);
	sqlite3_bind_int(st, 9, show_pending(v, s->split));
}

/* The image queries take ?1 split, ?2 category (-1 for test), ?3 boxed. */
static void bind_images(ifs_views *v, sqlite3_stmt *st, const struct imgsel *s,
			int64_t category)
{
	sqlite3_bind_int(st, 1, s->split);
	sqlite3_bind_int64(st, 2, category);
	sqlite3_bind_int(st, 3, s->boxed ? 1 : 0);
	sqlite3_bind_int(st, 9, show_pending(v, s->split));
}

static void image_entry(sqlite3_stmt *st, int view, ifs_entry *e)
{
	memset(e, 0, sizeof *e);
	int64_t rid = sqlite3_column_int64(st, 0);
	e->ino = INO(3, view, rid);
	e->src = IFS_SRC_MEMBER;
	e->pending = sqlite3_column_type(st, 2) == SQLITE_NULL;
	e->off = (uint64_t)sqlite3_column_int64(st, 2);
	e->size = (uint64_t)sqlite3_column_int64(st, 3);
	e->nlink = 1;
	e->mtime = sqlite3_column_int64(st, 4);
	e->mode = 0444;
	e->crc = (uint32_t)sqlite3_column_int64(st, 5);
	e->archive = e->pending ? split_archive(sqlite3_column_int(st, 8))
				: sqlite3_column_int(st, 6);
	e->rid = rid;
}

static void sidecar_entry(sqlite3_stmt *st, int view, ifs_entry *e)
{
	image_entry(st, view, e);
	e->ino = INO(4, view, e->rid);
	e->src = IFS_SRC_SIDECAR;
	e->pending = 0;   /* made from the annotations alone */
	e->size = (uint64_t)sqlite3_column_int64(st, 7);
	e->off = 0;
	e->crc = 0;
	e->archive = 0;
}

static int class_lookup(ifs_views *v, const struct imgsel *s, const char *dir, int64_t *cat,
			ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(v->idx, q_class, err);
	if (!st)
		return -EIO;
	bind_classes(v, st, s);
	sqlite3_bind_text(st, 4, dir, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*cat = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : db_error(v, err);
}

static int list_classes(ifs_views *v, const struct imgsel *s, ifs_views_fill_fn fill, void *ctx,
			ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(v->idx, q_classes, err);
	if (!st)
		return -EIO;
	bind_classes(v, st, s);
	int rc, r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ifs_entry e;
		dir_entry(v, &e, INO(2, s->view, sqlite3_column_int64(st, 0)), 0);
		if ((r = fill(ctx, (const char *)sqlite3_column_text(st, 1), &e)))
			break;
	}
	sqlite3_reset(st);
	return r ? r : (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : db_error(v, err);
}

static int list_images(ifs_views *v, const struct imgsel *s, int64_t cat, ifs_views_fill_fn fill,
		       void *ctx, ifs_err *err)
{
	int full = v->listing_attrs;
	sqlite3_stmt *st = ifs_index_stmt(v->idx, full ? q_images : q_image_names, err);
	if (!st)
		return -EIO;
	bind_images(v, st, s, cat);
	int rc, r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ifs_entry e;
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (!ifs_index_name_ok(name) || strlen(name) > IFS_NAME_MAX) {
			long long rid = sqlite3_column_int64(st, 0);
			sqlite3_reset(st);
			return bad_name(v, "image", rid, err);
		}
		if (full) {
			image_entry(st, s->view, &e);
		} else {
			memset(&e, 0, sizeof e);
			e.rid = sqlite3_column_int64(st, 0);
			e.ino = INO(3, s->view, e.rid);
			e.src = IFS_SRC_MEMBER;
			e.nlink = 1;
			e.mode = 0444;
			e.mtime = v->mtime;
			e.pending = sqlite3_column_int(st, 2);
		}
		if ((r = fill(ctx, name, &e)))
			break;
		if (v->sidecars) {
			char sc[IFS_NAME_MAX + 8];
			ifs_sidecar_name(name, sc, sizeof sc);
			if (full) {
				sidecar_entry(st, s->view, &e);
			} else {
				e.ino = INO(4, s->view, e.rid);
				e.src = IFS_SRC_SIDECAR;
				e.pending = 0;
				e.size = (uint64_t)sqlite3_column_int64(st, 3);
			}
			if ((r = fill(ctx, sc, &e)))
				break;
		}
	}
	sqlite3_reset(st);
	return r ? r : (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : db_error(v, err);
}

static int image_lookup(ifs_views *v, const struct imgsel *s, int64_t cat, const char *name,
			ifs_entry *e, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(v->idx, q_image, err);
	if (!st)
		return -EIO;
	bind_images(v, st, s, cat);
	sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		image_entry(st, s->view, e);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return file_answer(v, e, split_archive(s->split));
	if (rc != SQLITE_DONE)
		return db_error(v, err);
	/* not an image: maybe a sidecar */
	size_t len = strlen(name);
	if (!v->sidecars || len <= 5 || strcmp(name + len - 5, ".json") != 0)
		return -ENOENT;
	char stem[IFS_NAME_MAX + 1];
	snprintf(stem, sizeof stem, "%.*s", (int)(len - 5), name);
	st = ifs_index_stmt(v->idx, q_image_stem, err);
	if (!st)
		return -EIO;
	bind_images(v, st, s, cat);
	sqlite3_bind_text(st, 4, stem, -1, SQLITE_STATIC);
	int r = -ENOENT;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char sc[IFS_NAME_MAX + 8];
		const char *img = (const char *)sqlite3_column_text(st, 1);
		if (!ifs_index_name_ok(img))
			continue;   /* a damaged row: its folder's listing says so */
		ifs_sidecar_name(img, sc, sizeof sc);
		if (strcmp(sc, name) == 0) {
			sidecar_entry(st, s->view, e);
			r = 0;
			break;
		}
	}
	sqlite3_reset(st);
	if (r && rc != SQLITE_DONE)
		return db_error(v, err);
	return r;
}

/* ---- by-supercategory -------------------------------------------------- */

static const char q_supers[] =
	"SELECT superdir, min(id) FROM categories GROUP BY superdir ORDER BY superdir";
static const char q_super[] = "SELECT min(id) FROM categories WHERE superdir=?1";

static int super_id(ifs_views *v, const char *sdir, int64_t *id, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(v->idx, q_super, err);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, sdir, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
	if (found)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return found ? 0 : rc == SQLITE_ROW || rc == SQLITE_DONE ? -ENOENT : db_error(v, err);
}

/* ---- the root and dispatch --------------------------------------------- */

static const char q_annfiles[] = "SELECT name, size, mtime, rowid FROM annfiles ORDER BY name";
static const char q_blob[] = "SELECT size FROM generated WHERE name=?1";

static int blob_entry(ifs_views *v, const char *name, uint64_t ino, ifs_entry *e, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(v->idx, q_blob, err);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(e, 0, sizeof *e);
		e->ino = ino;
		e->src = IFS_SRC_BLOB;
		e->size = (uint64_t)sqlite3_column_int64(st, 0);
		e->nlink = 1;
		e->mtime = v->mtime;
		e->mode = 0444;
		snprintf(e->key, sizeof e->key, "%s", name);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE && !ifs_index_complete(v->idx))
		return ifs_index_live_state(v->idx) == IFS_LIVE_FAILED ? -EIO
									: -EAGAIN;   /* written when the scan ends */
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : db_error(v, err);
}

static void annfile_entry(sqlite3_stmt *st, const char *name, int64_t k, ifs_entry *e)
{
	memset(e, 0, sizeof *e);
	e->ino = INO(1, 0, K_ANN_BASE + k);
	e->src = IFS_SRC_ANNFILE;
	e->size = (uint64_t)sqlite3_column_int64(st, 0);
	e->mtime = sqlite3_column_int64(st, 1);
	e->nlink = 1;
	e->mode = 0444;
	snprintf(e->key, sizeof e->key, "%s", name);
}

static int list_root(ifs_views *v, ifs_views_fill_fn fill, void *ctx, ifs_err *err)
{
	ifs_entry e;
	int r = node_list(v, IFS_ROOT_NODE, 1, fill, ctx, err);
	if (r)
		return r;
	int64_t alias;
	if (alias_root(v, &alias, err) == 0 && ifs_views_getattr(v, ALIAS_INO(alias), &e, err) == 0 &&
	    (r = fill(ctx, ALIAS_NAME, &e)))
		return r;
	sqlite3_stmt *st = ifs_index_stmt(v->idx, q_annfiles, err);
	if (!st)
		return -EIO;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		memset(&e, 0, sizeof e);
		e.ino = INO(1, 0, K_ANN_BASE + sqlite3_column_int64(st, 3));
		e.src = IFS_SRC_ANNFILE;
		e.size = (uint64_t)sqlite3_column_int64(st, 1);
		e.mtime = sqlite3_column_int64(st, 2);
		e.nlink = 1;
		e.mode = 0444;
		snprintf(e.key, sizeof e.key, "%s", name);
		if ((r = fill(ctx, name, &e)))
			break;
	}
	sqlite3_reset(st);
	if (r)
		return r;
	static const struct { const char *name; int k; } dirs[] = {
		{ "train", K_TRAIN }, { "val", K_VAL }, { "by-supercategory", K_SUPER },
		{ "with-bbox", K_BBOX }, { "test", K_TEST },
	};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		if (dirs[i].k == K_TEST && !has_test(v))
			continue;
		dir_entry(v, &e, INO(1, 0, dirs[i].k), 0);
		if ((r = fill(ctx, dirs[i].name, &e)))
			return r;
	}
	if (has_test(v) && blob_entry(v, "submission_template.csv", INO(1, 0, K_TEMPLATE), &e,
				      err) == 0)
		return fill(ctx, "submission_template.csv", &e);
	return 0;
}

/* ---- inodes ------------------------------------------------------------ */

/* The image selection of view `view`; id is a category id (class folders) or
 * the smallest category id of a supercategory (by-supercategory folders). */
static int view_sel(ifs_views *v, int view, int64_t id, struct imgsel *s, char *sdir,
		    ifs_err *err)
{
	memset(s, 0, sizeof *s);
	s->view = view;
	switch (view) {
	case V_TRAIN: case V_VAL:
		s->split = view == V_VAL;
		return 0;
	case V_BBOX_TRAIN: case V_BBOX_VAL:
		s->split = view == V_BBOX_VAL;
		s->boxed = 1;
		return 0;
	case V_TEST:
		s->split = IFS_SPLIT_TEST;
		return 0;
	case V_SUPER_TRAIN: case V_SUPER_VAL: {
		s->split = view == V_SUPER_VAL;
		sqlite3_stmt *st = ifs_index_stmt(v->idx, "SELECT superdir FROM categories WHERE id=?1",
						  err);
		if (!st)
			return -EIO;
		sqlite3_bind_int64(st, 1, id);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			snprintf(sdir, IFS_NAME_MAX + 1, "%s", sqlite3_column_text(st, 0));
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			return rc == SQLITE_DONE ? -ENOENT : db_error(v, err);
		s->superdir = sdir;
		return 0;
	}
	default:
		return -ENOENT;
	}
}

static const char q_image_rid[] = IMG_COLS "AND i.rid=?1";
static const char q_node_id[] =
	"SELECT id, type, off, size, mtime, mode, crc, archive FROM nodes WHERE id=?1";
static const char q_annfile_rowid[] = "SELECT size, mtime, name FROM annfiles WHERE rowid=?1";

int ifs_views_getattr(ifs_views *v, uint64_t ino, ifs_entry *e, ifs_err *err)
{
	unsigned kind = (unsigned)(ino >> 40);
	int view = (int)((ino >> 32) & 0xff);
	int64_t id = (int64_t)(ino & 0xffffffffu);
	sqlite3_stmt *st;
	int rc;
	if (ino == IFS_ROOT_NODE) {
		dir_entry(v, e, IFS_ROOT_NODE, 5);
		return 0;
	}
	switch (kind) {
	case 0:   /* the pristine trees */
	case ALIAS_KIND:
		if (!(st = ifs_index_stmt(v->idx, q_node_id, err)))
			return -EIO;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)(ino & NODE_BITS));
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			node_entry(st, e);
		sqlite3_reset(st);
		if (rc == SQLITE_ROW && kind == ALIAS_KIND)
			e->ino = ino;
		if (rc == SQLITE_ROW)
			return file_answer(v, e, e->archive);
		return rc == SQLITE_DONE ? -ENOENT : db_error(v, err);
	case 1:
		if (id == K_TEMPLATE)
			return blob_entry(v, "submission_template.csv", ino, e, err);
		if (id == K_BBOX_TRAIN_JSON)
			return blob_entry(v, "with-bbox/train.json", ino, e, err);
		if (id == K_BBOX_VAL_JSON)
			return blob_entry(v, "with-bbox/val.json", ino, e, err);
		if (id >= K_ANN_BASE) {
			if (!(st = ifs_index_stmt(v->idx, q_annfile_rowid, err)))
				return -EIO;
			sqlite3_bind_int64(st, 1, id - K_ANN_BASE);
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW)
				annfile_entry(st, (const char *)sqlite3_column_text(st, 2),
					      id - K_ANN_BASE, e);
			sqlite3_reset(st);
			return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : db_error(v, err);
		}
		if (id < K_TRAIN || id > K_BBOX_VAL)
			return -ENOENT;
		dir_entry(v, e, ino, id == K_SUPER ? 13 : id == K_BBOX ? 2 : 0);
		return 0;
	case 2:
	case 5:
		dir_entry(v, e, ino, kind == 5 && view == 0 ? 2 : 0);
		return 0;
	case 3:
	case 4:
		if (!(st = ifs_index_stmt(v->idx, q_image_rid, err)))
			return -EIO;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 9, 1);   /* shown or not: below */
		rc = sqlite3_step(st);
		int split = rc == SQLITE_ROW ? sqlite3_column_int(st, 8) : 0;
		int unknown = rc == SQLITE_ROW && sqlite3_column_type(st, 2) == SQLITE_NULL;
		if (rc == SQLITE_ROW) {
			if (kind == 3)
				image_entry(st, view, e);
			else
				sidecar_entry(st, view, e);
		}
		sqlite3_reset(st);
		if (unknown && !show_pending(v, split))
			return -ENOENT;   /* not in the tarball: left out of the views */
		if (rc == SQLITE_ROW && kind == 3)
			return file_answer(v, e, e->archive);
		return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : db_error(v, err);
	default:
		return -ENOENT;
	}
}

/* A folder of class folders (train/, by-supercategory/X/val/, ...): the
 * class folder `name` into *e, or (fill != NULL) the listing. */
static int class_folders(ifs_views *v, const struct imgsel *s, const char *name, ifs_entry *e,
			 ifs_views_fill_fn fill, void *ctx, ifs_err *err)
{
	if (fill)
		return list_classes(v, s, fill, ctx, err);
	int64_t cat = -1;
	int r = class_lookup(v, s, name, &cat, err);
	if (!r)
		dir_entry(v, e, INO(2, s->view, cat), 0);
	return r;
}

/* Lookup (fill == NULL: the child `name` into *e) or listing (fill != NULL) of
 * the folder with inode `ino`. One dispatch, so the two always agree. */
static int dir_op(ifs_views *v, uint64_t ino, const char *name, ifs_entry *e,
		  ifs_views_fill_fn fill, void *ctx, ifs_err *err)
{
	unsigned kind = (unsigned)(ino >> 40);
	int view = (int)((ino >> 32) & 0xff);
	int64_t id = (int64_t)(ino & 0xffffffffu);
	struct imgsel s;
	char sdir[IFS_NAME_MAX + 1];
	ifs_entry d;
	int r;

	if (ino == IFS_ROOT_NODE) {
		if (fill)
			return list_root(v, fill, ctx, err);
		static const struct { const char *name; int k; uint32_t nsub; } dirs[] = {
			{ "train", K_TRAIN, 0 }, { "val", K_VAL, 0 }, { "by-supercategory", K_SUPER, 13 },
			{ "with-bbox", K_BBOX, 2 }, { "test", K_TEST, 0 },
		};
		for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
			if (strcmp(name, dirs[i].name) == 0) {
				if (dirs[i].k == K_TEST && !has_test(v))
					return -ENOENT;
				dir_entry(v, e, INO(1, 0, dirs[i].k), dirs[i].nsub);
				return 0;
			}
		}
		if (strcmp(name, "submission_template.csv") == 0)
			return has_test(v) ? blob_entry(v, name, INO(1, 0, K_TEMPLATE), e, err) : -ENOENT;
		if (strcmp(name, ALIAS_NAME) == 0) {
			int64_t alias;
			return (r = alias_root(v, &alias, err)) ? r
				: ifs_views_getattr(v, ALIAS_INO(alias), e, err);
		}
		sqlite3_stmt *st = ifs_index_stmt(v->idx,
			"SELECT size, mtime, name, rowid FROM annfiles WHERE name=?1", err);
		if (!st)
			return -EIO;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			annfile_entry(st, name, sqlite3_column_int64(st, 3), e);
		sqlite3_reset(st);
		if (rc == SQLITE_ROW)
			return 0;
		if (rc != SQLITE_DONE)
			return db_error(v, err);
		/* fall through to the pristine root */
	}
	switch (kind) {
	case 0:
	case ALIAS_KIND: {
		int64_t node = (int64_t)(ino & NODE_BITS);
		if (fill && kind == ALIAS_KIND) {
			struct alias_fill a = { fill, ctx };
			return node_list(v, node, 0, alias_fill, &a, err);
		}
		if (fill)
			return node_list(v, node, 0, fill, ctx, err);
		sqlite3_stmt *st = ifs_index_stmt(v->idx, q_node_child, err);
		if (!st)
			return -EIO;
		sqlite3_bind_int64(st, 1, node);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			node_entry(st, e);
		sqlite3_reset(st);
		if (rc == SQLITE_ROW && kind == ALIAS_KIND)
			e->ino = ALIAS_INO(e->ino);
		if (rc == SQLITE_ROW)
			return file_answer(v, e, e->archive);
		return rc == SQLITE_DONE ? -ENOENT : db_error(v, err);
	}
	case 1:
		switch (id) {
		case K_TRAIN: case K_VAL: case K_BBOX_TRAIN: case K_BBOX_VAL: {
			int vw = id == K_TRAIN ? V_TRAIN : id == K_VAL ? V_VAL
				 : id == K_BBOX_TRAIN ? V_BBOX_TRAIN : V_BBOX_VAL;
			view_sel(v, vw, 0, &s, sdir, err);
			return class_folders(v, &s, name, e, fill, ctx, err);
		}
		case K_TEST:
			view_sel(v, V_TEST, 0, &s, sdir, err);
			return fill ? list_images(v, &s, -1, fill, ctx, err)
				    : image_lookup(v, &s, -1, name, e, err);
		case K_BBOX:
			if (fill) {
				dir_entry(v, &d, INO(1, 0, K_BBOX_TRAIN), 0);
				if ((r = fill(ctx, "train", &d)))
					return r;
				dir_entry(v, &d, INO(1, 0, K_BBOX_VAL), 0);
				if ((r = fill(ctx, "val", &d)))
					return r;
				if (blob_entry(v, "with-bbox/train.json", INO(1, 0, K_BBOX_TRAIN_JSON), &d,
					       err) == 0 && (r = fill(ctx, "train.json", &d)))
					return r;
				if (blob_entry(v, "with-bbox/val.json", INO(1, 0, K_BBOX_VAL_JSON), &d,
					       err) == 0)
					return fill(ctx, "val.json", &d);
				return 0;
			}
			if (!strcmp(name, "train") || !strcmp(name, "val")) {
				dir_entry(v, e, INO(1, 0, name[0] == 't' ? K_BBOX_TRAIN : K_BBOX_VAL), 0);
				return 0;
			}
			if (!strcmp(name, "train.json"))
				return blob_entry(v, "with-bbox/train.json", INO(1, 0, K_BBOX_TRAIN_JSON),
						  e, err);
			if (!strcmp(name, "val.json"))
				return blob_entry(v, "with-bbox/val.json", INO(1, 0, K_BBOX_VAL_JSON), e,
						  err);
			return -ENOENT;
		case K_SUPER: {
			if (!fill) {
				int64_t sid = -1;
				if ((r = super_id(v, name, &sid, err)))
					return r;
				dir_entry(v, e, INO(5, 0, sid), 2);
				return 0;
			}
			sqlite3_stmt *st = ifs_index_stmt(v->idx, q_supers, err);
			if (!st)
				return -EIO;
			int rc;
			r = 0;
			while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
				dir_entry(v, &d, INO(5, 0, sqlite3_column_int64(st, 1)), 2);
				if ((r = fill(ctx, (const char *)sqlite3_column_text(st, 0), &d)))
					break;
			}
			sqlite3_reset(st);
			return r ? r : (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : db_error(v, err);
		}
		default:
			return -ENOTDIR;
		}
	case 2:
		if ((r = view_sel(v, view, id, &s, sdir, err)))
			return r;
		return fill ? list_images(v, &s, id, fill, ctx, err)
			    : image_lookup(v, &s, id, name, e, err);
	case 5:
		if (view == 0) {
			if (fill) {
				dir_entry(v, &d, INO(5, 1, id), 0);
				if ((r = fill(ctx, "train", &d)))
					return r;
				dir_entry(v, &d, INO(5, 2, id), 0);
				return fill(ctx, "val", &d);
			}
			if (strcmp(name, "train") && strcmp(name, "val"))
				return -ENOENT;
			dir_entry(v, e, INO(5, name[0] == 't' ? 1 : 2, id), 0);
			return 0;
		} else {
			int vw = view == 1 ? V_SUPER_TRAIN : V_SUPER_VAL;
			if ((r = view_sel(v, vw, id, &s, sdir, err)))
				return r;
			return class_folders(v, &s, name, e, fill, ctx, err);
		}
	default:
		return -ENOTDIR;
	}
}

int ifs_views_lookup_child(ifs_views *v, uint64_t parent, const char *name, ifs_entry *out,
			   ifs_err *err)
{
	if (!*name || strchr(name, '/'))
		return -ENOENT;
	if (strlen(name) > 255)
		return -ENAMETOOLONG;
	ifs_entry p;
	int r = ifs_views_getattr(v, parent, &p, err);
	if (r)
		return r;
	if (p.src != IFS_SRC_DIR)
		return -ENOTDIR;
	return dir_op(v, parent, name, out, NULL, NULL, err);
}

int ifs_views_readdir_ino(ifs_views *v, uint64_t ino, ifs_views_fill_fn fill, void *ctx,
			  ifs_err *err)
{
	ifs_entry p;
	int r = ifs_views_getattr(v, ino, &p, err);
	if (r)
		return r;
	if (p.src != IFS_SRC_DIR)
		return -ENOTDIR;
	return dir_op(v, ino, NULL, NULL, fill, ctx, err);
}

/* bounded: a cycle of parents in a damaged index ends the walk (4096 bytes
 * is the longest path the kernel takes) */
static const char q_member_path[] =
	"WITH RECURSIVE up(id, parent, path) AS (SELECT id, parent, nm(name) FROM nodes "
	"WHERE archive=?1 AND off=?2 AND type=0 UNION ALL SELECT n.id, n.parent, "
	"nm(n.name) || '/' || up.path FROM nodes n JOIN up ON n.id=up.parent WHERE n.id<>1 "
	"AND length(up.path) < 4096) SELECT path FROM up WHERE parent=1 LIMIT 1";

int ifs_views_member_path(ifs_views *v, const ifs_entry *e, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s at offset %llu", ifs_archive_file(e->archive),
		 (unsigned long long)e->off);
	sqlite3_stmt *st = ifs_index_stmt(v->idx, q_member_path, NULL);
	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, e->archive);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)e->off);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, outsz, "%s", sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -ENOENT;
}

/* ---- generated content ------------------------------------------------- */

int ifs_views_content(ifs_views *v, const ifs_entry *e, uint8_t **data, size_t *len, ifs_err *err)
{
	*data = NULL;
	*len = 0;
	if (e->src == IFS_SRC_SIDECAR) {
		ifs_sidecar_stmts q = {
			ifs_index_stmt(v->idx, ifs_sql_sidecar_image, err),
			ifs_index_stmt(v->idx, ifs_sql_sidecar_shape, err),
		};
		if (!q.image || !q.shape)
			return -EIO;
		ifs_buf b = { 0 };
		int r = ifs_sidecar_build(&q, e->rid, &b, err);
		if (r) {
			free(b.p);
			return r;
		}
		*data = (uint8_t *)b.p;
		*len = b.len;
		return 0;
	}
	if (e->src == IFS_SRC_BLOB)
		return ifs_index_generate(v->idx, e->key, data, len, err);
	if (e->src == IFS_SRC_ANNFILE) {
		sqlite3_stmt *st = ifs_index_stmt(v->idx,
			"SELECT zip, entry, size FROM annfiles WHERE name=?1", err);
		if (!st)
			return -EIO;
		sqlite3_bind_text(st, 1, e->key, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_reset(st);
			return ifs_err_set(err, EIO, "index: annotation file %s is missing", e->key);
		}
		/* the zip by its name in DATA_DIR (check.c: one of the downloads') */
		char *zip = NULL;
		const char *zname = (const char *)sqlite3_column_text(st, 0);
		const char *ename = (const char *)sqlite3_column_text(st, 1);
		if (zname && ename && asprintf(&zip, "%s/%s", ifs_index_data_dir(v->idx), zname) < 0)
			zip = NULL;
		char *entry = ename ? strdup(ename) : NULL;
		uint64_t want = (uint64_t)sqlite3_column_int64(st, 2);
		sqlite3_reset(st);
		int r = zip && entry ? ifs_zip_read_entry(zip, entry, data, len, err)
				     : ifs_err_set(err, ENOMEM, "out of memory");
		if (r == 0 && *len != want) {
			r = ifs_err_set(err, EIO, "%s: %s is %zu bytes now, %llu when indexed", zip,
					entry, *len, (unsigned long long)want);
			free(*data);
			*data = NULL;
			*len = 0;
		}
		free(zip);
		free(entry);
		return r;
	}
	return ifs_err_set(err, EISDIR, "not a generated file");
}

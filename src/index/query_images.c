/*
 * query_images.c - the folders of images the views show, as index_query.h
 * gives them: class folders, the images of a class (with their member, or
 * only what a listing without attributes needs), an image by name, by its
 * sidecar's name or by row, and the supercategory folders.
 *
 * The class and image queries share their parameters: ?1 split, ?2
 * supercategory folder (NULL: any) or category, ?3 only images with boxes,
 * ?9 images with no member too; the covering index images_by_class
 * (split, category, name, nboxes, node, sidecar_len) answers all but the
 * member's columns.
 */
#include "inatfs/index_query.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "schema.h"

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
static const char q_image_rid[] = IMG_COLS "AND i.rid=?1";
static const char q_has_images[] =
	"SELECT EXISTS(SELECT 1 FROM images WHERE split=?1 AND (node IS NOT NULL OR ?9))";

static const char q_supers[] =
	"SELECT superdir, min(id) FROM categories GROUP BY superdir ORDER BY superdir";
static const char q_super[] = "SELECT min(id) FROM categories WHERE superdir=?1";
static const char q_super_of[] = "SELECT superdir FROM categories WHERE id=?1";
static const char q_super_count[] = "SELECT count(DISTINCT superdir) FROM categories";

static void bind_classes(sqlite3_stmt *st, const ifs_image_sel *s)
{
	sqlite3_bind_int(st, 1, s->split);
	if (s->superdir)
		sqlite3_bind_text(st, 2, s->superdir, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int(st, 3, s->boxed ? 1 : 0);
	sqlite3_bind_int(st, 9, s->pending ? 1 : 0);
}

static void bind_images(sqlite3_stmt *st, const ifs_image_sel *s)
{
	sqlite3_bind_int(st, 1, s->split);
	sqlite3_bind_int64(st, 2, s->category);
	sqlite3_bind_int(st, 3, s->boxed ? 1 : 0);
	sqlite3_bind_int(st, 9, s->pending ? 1 : 0);
}

/* A row of IMG_COLS into *im. */
static void image_row(sqlite3_stmt *st, ifs_image_row *im)
{
	memset(im, 0, sizeof *im);
	im->rid = sqlite3_column_int64(st, 0);
	im->pending = sqlite3_column_type(st, 2) == SQLITE_NULL;
	im->off = (uint64_t)sqlite3_column_int64(st, 2) << IFS_NODE_OFF_SHIFT;
	im->size = (uint64_t)sqlite3_column_int64(st, 3);
	im->mtime = sqlite3_column_int64(st, 4);
	im->crc = (uint32_t)sqlite3_column_int64(st, 5);
	im->archive = sqlite3_column_int(st, 6);
	im->sidecar_len = (uint64_t)sqlite3_column_int64(st, 7);
	im->split = sqlite3_column_int(st, 8);
}

/* Steps a one-row lookup of IMG_COLS and resets it. */
static int image_one(ifs_index *idx, sqlite3_stmt *st, ifs_image_row *out, ifs_err *err)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		image_row(st, out);
	int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

/* ---- class folders ----------------------------------------------------- */

int ifs_index_class_list(ifs_index *idx, const ifs_image_sel *sel, ifs_class_fn fn, void *ctx,
			 ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_classes, err);
	if (!st)
		return -EIO;
	bind_classes(st, sel);
	int rc, r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = fn(ctx, (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 0))))
			break;
	if (!r && rc != SQLITE_DONE)
		r = ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

int ifs_index_class_get(ifs_index *idx, const ifs_image_sel *sel, const char *dir,
			int64_t *category, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_class, err);
	if (!st)
		return -EIO;
	bind_classes(st, sel);
	sqlite3_bind_text(st, 4, dir, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*category = sqlite3_column_int64(st, 0);
	int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

/* ---- images ------------------------------------------------------------ */

int ifs_index_image_list(ifs_index *idx, const ifs_image_sel *sel, int attrs, ifs_image_fn fn,
			 void *ctx, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, attrs ? q_images : q_image_names, err);
	if (!st)
		return -EIO;
	bind_images(st, sel);
	int rc, r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ifs_image_row im;
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (!ifs_index_name_ok(name) || strlen(name) > IFS_NAME_MAX) {
			r = ifs_index_bad_name(idx, "image", (long long)sqlite3_column_int64(st, 0), err);
			break;
		}
		if (attrs) {
			image_row(st, &im);
		} else {
			memset(&im, 0, sizeof im);
			im.rid = sqlite3_column_int64(st, 0);
			im.split = sel->split;
			im.pending = sqlite3_column_int(st, 2);
			im.sidecar_len = (uint64_t)sqlite3_column_int64(st, 3);
		}
		if ((r = fn(ctx, name, &im)))
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

int ifs_index_image_get(ifs_index *idx, const ifs_image_sel *sel, const char *name,
			ifs_image_row *out, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_image, err);
	if (!st)
		return -EIO;
	bind_images(st, sel);
	sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
	return image_one(idx, st, out, err);
}

int ifs_index_image_by_sidecar(ifs_index *idx, const ifs_image_sel *sel, const char *sidecar,
			       ifs_image_row *out, ifs_err *err)
{
	size_t len = strlen(sidecar);
	if (len <= 5 || strcmp(sidecar + len - 5, ".json") != 0 || len - 5 > IFS_NAME_MAX)
		return -ENOENT;
	char stem[IFS_NAME_MAX + 1];
	snprintf(stem, sizeof stem, "%.*s", (int)(len - 5), sidecar);
	sqlite3_stmt *st = ifs_index_stmt(idx, q_image_stem, err);
	if (!st)
		return -EIO;
	bind_images(st, sel);
	sqlite3_bind_text(st, 4, stem, -1, SQLITE_STATIC);
	int rc, r = -ENOENT;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char sc[IFS_NAME_MAX + 8];
		const char *img = (const char *)sqlite3_column_text(st, 1);
		if (!ifs_index_name_ok(img))
			continue;   /* a damaged row: its folder's listing says so */
		ifs_sidecar_name(img, sc, sizeof sc);
		if (strcmp(sc, sidecar) == 0) {
			image_row(st, out);
			r = 0;
			break;
		}
	}
	if (r && rc != SQLITE_DONE)
		r = ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

int ifs_index_image_rid(ifs_index *idx, int64_t rid, ifs_image_row *out, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_image_rid, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_int(st, 9, 1);
	return image_one(idx, st, out, err);
}

int ifs_index_has_images(ifs_index *idx, const ifs_image_sel *sel, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_has_images, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, sel->split);
	sqlite3_bind_int(st, 9, sel->pending ? 1 : 0);
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

/* ---- supercategories --------------------------------------------------- */

int ifs_index_super_list(ifs_index *idx, ifs_super_fn fn, void *ctx, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_supers, err);
	if (!st)
		return -EIO;
	int rc, r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1))))
			break;
	if (!r && rc != SQLITE_DONE)
		r = ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

int ifs_index_super_get(ifs_index *idx, const char *superdir, int64_t *first_category,
			ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_super, err);
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, superdir, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
	if (found)
		*first_category = sqlite3_column_int64(st, 0);
	int r = found ? 0 : rc == SQLITE_ROW || rc == SQLITE_DONE ? -ENOENT
							       : ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

int ifs_index_super_of(ifs_index *idx, int64_t category, char *superdir, size_t size,
		       ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_super_of, err);
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, category);
	int rc = sqlite3_step(st);
	const char *dir = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (rc == SQLITE_ROW)
		snprintf(superdir, size, "%s", dir ? dir : "");
	int r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

int ifs_index_super_count(ifs_index *idx, uint32_t *n, ifs_err *err)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_super_count, err);
	if (!st)
		return -EIO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = (uint32_t)sqlite3_column_int64(st, 0);
	int r = rc == SQLITE_ROW ? 0 : ifs_index_db_error(idx, err);
	sqlite3_reset(st);
	return r;
}

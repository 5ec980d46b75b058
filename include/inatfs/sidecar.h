/*
 * sidecar.h - the JSON sidecar of one image (<hash>.json beside <hash>.jpg):
 * id, file_name, split, width, height, category {id, name, supercategory},
 * license {id, name, url}, rights_holder, extra (unknown JSON keys, if any),
 * bboxes (the COCO records), location (the whole locations record or null).
 */
#ifndef INATFS_SIDECAR_H
#define INATFS_SIDECAR_H

#include <stdint.h>
#include <sqlite3.h>

#include "inatfs/buf.h"
#include "inatfs/err.h"

/* The three queries a sidecar needs (prepare these exact strings). */
extern const char ifs_sql_sidecar_image[];
extern const char ifs_sql_sidecar_boxes[];
extern const char ifs_sql_sidecar_location[];

typedef struct ifs_sidecar_stmts {
	sqlite3_stmt *image, *boxes, *location;
} ifs_sidecar_stmts;

/* Appends the sidecar of images.rid = rid to b. 0, -ENOENT or -EIO/-ENOMEM. */
int ifs_sidecar_build(const ifs_sidecar_stmts *q, int64_t rid, ifs_buf *b, ifs_err *err);

#endif

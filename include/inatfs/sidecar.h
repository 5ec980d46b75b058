/*
 * sidecar.h - the JSON sidecar of one image (<hash>.json beside <hash>.jpg):
 * id, file_name, split, width, height, category {id, name, supercategory},
 * license {id, name, url}, rights_holder, extra (unknown JSON keys, if any),
 * bboxes (the COCO records), location (the whole locations record or null).
 *
 * One formatter, two sources: the build fills an ifs_sidecar_rec from the
 * catalog in memory (to record each sidecar's exact size), serving fills it
 * from the index (ifs_index_sidecar in index_query.h, to produce the bytes).
 * Same code, so the size always matches the content.
 */
#ifndef INATFS_SIDECAR_H
#define INATFS_SIDECAR_H

#include <stddef.h>
#include <stdint.h>

#include "inatfs/buf.h"
#include "inatfs/err.h"

typedef struct ifs_sidecar_rec {
	int64_t id;
	const char *file_name;
	int split;                  /* enum ifs_split */
	int64_t width, height;
	int has_category;           /* category_* valid */
	int64_t category_id;
	const char *category_name, *supercategory;
	int has_license;            /* the image names a license id */
	int64_t license_id;
	int license_known;          /* the licenses list defines it: name/url valid */
	const char *license_name, *license_url;   /* may be NULL (JSON null) */
	const char *rights_holder;  /* NULL: JSON null */
	const char *extra;          /* compact JSON object or NULL (key omitted) */
	const char *const *boxes;   /* compact JSON records */
	size_t nboxes;
	const char *location;       /* compact JSON or NULL (JSON null) */
} ifs_sidecar_rec;

/* Appends the sidecar text to b. Returns 0 or -ENOMEM. */
int ifs_sidecar_format(const ifs_sidecar_rec *r, ifs_buf *b);

#endif

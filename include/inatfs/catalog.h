/*
 * catalog.h - the annotations: the COCO-style JSON files inside the
 * downloaded zips, read where they are (libarchive), parsed (cJSON) and
 * checked, as plain arrays of records. No SQLite here: the index module
 * writes a catalog into the database.
 *
 * Files looked for in DATA_DIR (each optional except train_val2017.zip, which
 * the index requires; a missing one is simply absent from the catalog):
 *   train_val2017.zip       train2017.json, val2017.json
 *   train_2017_bboxes.zip   train_2017_bboxes.json
 *   val_2017_bboxes.zip     val_2017_bboxes.json
 *   inat2017_locations.zip  train2017_locations.json, val2017_locations.json
 *   test2017.zip            test2017.json
 * A JSON entry is found by its base name, at the zip root or inside one
 * folder (e.g. inat2017_locations/...).
 *
 * Accepts every variant in the formats notes: null lat/lon/user_id, int or
 * float boxes, file_name with or without a folder prefix, unknown extra keys
 * (kept, as compact JSON, in `extra`). Rejects, with a message naming the zip,
 * the JSON file and the problem: corrupt zips, invalid JSON, missing required
 * keys, keys of the wrong type, duplicate ids, annotations that reference
 * unknown images or categories.
 *
 * Memory: the whole catalog is in memory (about 300 bytes per image); parsing
 * peaks higher (a cJSON tree of one file at a time).
 */
#ifndef INATFS_CATALOG_H
#define INATFS_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "inatfs/err.h"

enum ifs_split { IFS_SPLIT_TRAIN = 0, IFS_SPLIT_VAL = 1, IFS_SPLIT_TEST = 2 };

/* "train", "val", "test". */
const char *ifs_split_name(int split);

typedef struct ifs_category {
	int64_t id;
	char *name;
	char *supercategory;
} ifs_category;

typedef struct ifs_license {
	int64_t id;
	char *name;
	char *url;
} ifs_license;

typedef struct ifs_image {
	int64_t id;
	int split;             /* enum ifs_split */
	char *file_name;       /* as in the JSON */
	int64_t width, height;
	int64_t license;       /* -1 if absent/null */
	char *rights_holder;   /* NULL if absent/null */
	int64_t category_id;   /* from the split's annotations; -1 if none (test) */
	char *extra;           /* unknown keys as a compact JSON object, or NULL */
} ifs_image;

typedef struct ifs_box {
	int64_t id;
	int split;
	int64_t image_id;
	int64_t category_id;
	double x, y, w, h;
	char *json;            /* the whole annotation record, compact JSON */
} ifs_box;

typedef struct ifs_location {
	int64_t image_id;
	int split;
	char *json;            /* the whole object (every key), compact JSON */
} ifs_location;

/* One JSON file found in a zip, served byte-identical by the daemon. */
typedef struct ifs_annfile {
	char *name;            /* base name, e.g. "train2017.json" */
	char *zip_path;        /* path of the zip (as DATA_DIR/NAME.zip) */
	char *entry;           /* path of the entry inside the zip */
	uint64_t size;         /* uncompressed size */
	int64_t mtime;
} ifs_annfile;

typedef struct ifs_catalog {
	ifs_category *cats;  size_t ncats;   /* sorted by id */
	ifs_license *lics;   size_t nlics;   /* sorted by id */
	ifs_image *imgs;     size_t nimgs;   /* train, then val, then test, each in JSON order */
	ifs_box *boxes;      size_t nboxes;
	ifs_location *locs;  size_t nlocs;
	ifs_annfile *files;  size_t nfiles;
	char *info[3];       /* each split's "info" object as compact JSON, or NULL */
} ifs_catalog;

typedef void (*ifs_catalog_progress_fn)(void *ctx, const char *what);

/*
 * Loads every annotation file present in data_dir. progress (may be NULL) is
 * told the name of each file as it starts. On failure *out is NULL.
 */
int ifs_catalog_load(const char *data_dir, ifs_catalog **out,
		     ifs_catalog_progress_fn progress, void *pctx, ifs_err *err);
void ifs_catalog_free(ifs_catalog *c);

/*
 * Reads a whole zip entry into memory (malloc'd, *len bytes). Used by the
 * daemon to serve annotation files and by tests. Returns 0 or -errno.
 */
int ifs_zip_read_entry(const char *zip_path, const char *entry, uint8_t **buf,
		       size_t *len, ifs_err *err);

#endif

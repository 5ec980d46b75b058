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
 * adds one file's text at a time (its big arrays are parsed one element at a
 * time). The scale benchmark reports the peak for the real dataset's sizes
 * (579k train + 96k val + 183k test images, 545k boxes, 675k locations).
 */
#ifndef INATFS_CATALOG_H
#define INATFS_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "inatfs/err.h"
#include "inatfs/source.h"
#include "inatfs/split.h"

/* Category ids are 0 to this: inode numbers hold them in 32 bits
 * (src/views/inode.h); -1 is "no label". A file with another id is refused. */
#define IFS_CATEGORY_ID_MAX 4294967295LL

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
	size_t nlocs_skipped; /* locations whose id is no image of their split */
} ifs_catalog;

typedef void (*ifs_catalog_progress_fn)(void *ctx, const char *what);

/*
 * Loads every annotation file present in data_dir. progress (may be NULL) is
 * told the name of each file as it starts. On failure *out is NULL.
 *
 * If train_val2017.zip is absent the catalog is empty (0, nothing else is
 * read: boxes and locations cannot be joined without the images). Returns
 * -EIO for corrupt zips and bad JSON, -ENOENT when a present zip lacks the
 * JSON it should hold, -ENOMEM, or the errno of a failed stat/open. Every
 * message starts "ZIP: ENTRY: " (ENTRY when known) and names the problem,
 * with a JSON path where one applies ("images[17].width: ...").
 *
 * Checks beyond the types: ids are integers within +-2^53 (cJSON keeps
 * numbers as doubles, so larger ones cannot be told apart); width/height > 0;
 * image ids unique within train+val and within test; category, license,
 * annotation, box (per file) and location (per file) ids unique; train, val
 * and test (when test lists any) carry the same categories; a license id in
 * several files means the same license; one category per image; bbox is 4
 * finite numbers; lat/lon numbers or null; the text is UTF-8 and no string
 * holds a NUL. Not thread-safe with other cJSON users that change cJSON's
 * hooks; otherwise reentrant (no global state of its own).
 */
int ifs_catalog_load(const char *data_dir, ifs_catalog **out,
		     ifs_catalog_progress_fn progress, void *pctx, ifs_err *err);
void ifs_catalog_free(ifs_catalog *c);

/* The zip that holds annotation file `name` ("train2017.json" ->
 * "train_val2017.zip"), or NULL if inatfs knows no such file. */
const char *ifs_annfile_zip(const char *name);

/*
 * Reads a whole zip entry (exact path inside the zip) into memory: *buf is
 * malloc'd, *len bytes, followed by a NUL byte not counted in *len. Used by
 * the daemon to serve annotation files and by tests. Returns 0, -ENOENT (no
 * such zip or entry), -EIO (corrupt zip, bad CRC, entry over 1 GiB) or
 * -ENOMEM; the message names the zip and the entry. On failure *buf is NULL.
 */
int ifs_zip_read_entry(const char *zip_path, const char *entry, uint8_t **buf,
		       size_t *len, ifs_err *err);
/* The same from a zip read through a source (source.h); messages name it as
 * the source does. */
int ifs_zip_read_entry_source(ifs_source *zip, const char *entry, uint8_t **buf,
			      size_t *len, ifs_err *err);

#endif

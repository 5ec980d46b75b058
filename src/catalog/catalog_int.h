/*
 * catalog_int.h - what the catalog's source files share and nothing else
 * sees: zip entry lookup (zip.c), typed JSON getters with path-naming error
 * messages (json.c), element-at-a-time parsing of big arrays (jsplit.c), an
 * int64 -> index hash map (idmap.c), and the loader state that coco.c
 * (images, categories, annotations) and extras.c (boxes, locations) fill
 * through catalog.c's helpers.
 *
 * All functions return 0 or a negative errno and fill the ifs_err they are
 * given; none keeps state between calls.
 */
#ifndef INATFS_CATALOG_INT_H
#define INATFS_CATALOG_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "inatfs/catalog.h"

/* Largest entry read into memory (the real files are ~200 MB at most): a
 * bigger one is an error, never read on. A variable so that tests can
 * lower it. */
#define IFS_ZIP_ENTRY_MAX ((size_t)1 << 30)
extern size_t ifs_zip_entry_max;
/* The next capacity of a buffer of cap bytes (cap < max + 2) that reads up
 * to max + 1 bytes (one more than allowed: so an entry of more is seen) and
 * a NUL: doubles, never past max + 2. */
size_t ifs_zip_next_cap(size_t cap, size_t max);
/* Text that the strict JSON scanner (jsplit.c) rejects is handed to cJSON
 * whole, which takes ~20 bytes per byte of text: only up to this size. */
#define IFS_JSON_LENIENT_MAX ((size_t)16 << 20)

/* ---- zip.c ---- */

/* One entry read whole. entry, buf: malloc'd; buf has a NUL after len bytes. */
typedef struct ifs_zblob {
	char *entry;
	uint8_t *buf;
	size_t len;
	int64_t mtime;
} ifs_zblob;

/*
 * Finds the regular entry whose base name is `name`, at the zip root or one
 * folder deep, and reads it. -ENOENT if there is none, -EIO if the zip is
 * corrupt or two entries match. On failure *out is zeroed.
 */
int ifs_zip_find(const char *zip_path, const char *name, ifs_zblob *out, ifs_err *err);
void ifs_zblob_free(ifs_zblob *b);

/* ---- json.c ---- */

/* Names the file in messages: "ZIP: ENTRY: ...". */
typedef struct ifs_jctx {
	const char *zip;
	const char *entry;
	ifs_err *err;
} ifs_jctx;

/* Where a value sits, formatted only on error: "arr[idx].key"; arr NULL = top. */
typedef struct ifs_jwhere {
	const char *arr;
	size_t idx;
} ifs_jwhere;

#define IFS_JTOP ((ifs_jwhere){ NULL, 0 })

/*
 * Parses buf: rejects invalid UTF-8, NUL bytes, "\u0000" in strings, syntax
 * errors (with line and column) and trailing garbage. *out is the tree
 * (cJSON_Delete) or NULL.
 */
int ifs_jparse(const ifs_jctx *c, const uint8_t *buf, size_t len, cJSON **out);

/* The checks of ifs_jparse that cJSON does not make (UTF-8, NULs), alone. */
int ifs_jprescan(const ifs_jctx *c, const uint8_t *p, size_t n);

/* 1-based line and column of byte off of p. */
void ifs_jline_col(const uint8_t *p, size_t off, size_t *line, size_t *col);

/* -EIO with "ZIP: ENTRY: WHERE.KEY: MESSAGE". key may be NULL. */
int ifs_jfail(const ifs_jctx *c, ifs_jwhere w, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

const char *ifs_jtype(const cJSON *v);

/*
 * Checks obj is an object and sorts its members into vals[] by keys[] (NULL
 * when absent). A known key given twice is an error. *nunknown (may be NULL)
 * gets the number of other members.
 */
int ifs_jpick(const ifs_jctx *c, ifs_jwhere w, const cJSON *obj, const char *const *keys,
	      size_t nkeys, const cJSON **vals, size_t *nunknown);

/* v is the value of key (NULL = absent: an error for the required forms). */
int ifs_jint(const ifs_jctx *c, ifs_jwhere w, const char *key, const cJSON *v, int64_t *out);
/* Absent or null -> dflt. */
int ifs_jint_opt(const ifs_jctx *c, ifs_jwhere w, const char *key, const cJSON *v,
		 int64_t dflt, int64_t *out);
/* A finite number. */
int ifs_jnum(const ifs_jctx *c, ifs_jwhere w, const char *key, const cJSON *v, double *out);
/* strdup'd string. */
int ifs_jstr(const ifs_jctx *c, ifs_jwhere w, const char *key, const cJSON *v, char **out);
/* Absent or null -> NULL. */
int ifs_jstr_opt(const ifs_jctx *c, ifs_jwhere w, const char *key, const cJSON *v, char **out);
/* Compact JSON text of v, malloc'd. */
int ifs_jcompact(const ifs_jctx *c, ifs_jwhere w, const cJSON *v, char **out);
/* Compact JSON text of an element read from the source: its checked text
 * with the whitespace outside strings removed (numbers and escapes as the
 * file wrote them), or ifs_jcompact(v) where there is no source text. */
struct ifs_jiter;
int ifs_jcompact_src(const ifs_jctx *c, ifs_jwhere w, const struct ifs_jiter *it,
		     const cJSON *v, char **out);

/* ---- jsplit.c ---- */

/*
 * One file's JSON, parsed lazily where that is the same as parsing it whole:
 * root is then a skeleton (every top-level array, or the top-level array
 * itself, is an empty placeholder backed by buf); otherwise root is the
 * whole tree and buf is NULL.
 */
typedef struct ifs_jdoc {
	cJSON *root;
	uint8_t *buf;          /* the file's bytes, owned */
	const uint8_t *text;   /* buf past a byte order mark */
	size_t len;            /* of text */
	struct ifs_jlazy *lazy;
	size_t nlazy;
} ifs_jdoc;

/*
 * Takes buf (malloc'd, len bytes and a NUL; *buf becomes NULL) and parses it
 * with ifs_jparse's checks and messages. On failure *d is empty.
 */
int ifs_jdoc_parse(const ifs_jctx *c, uint8_t **buf, size_t len, ifs_jdoc *d);
void ifs_jdoc_free(ifs_jdoc *d);

/* An array of a document: a cJSON array or a placeholder's text. */
typedef struct ifs_jarr {
	int present;
	const cJSON *tree;
	const uint8_t *text;   /* the document's text, when lazy */
	size_t off, end;       /* '[' .. just past ']' */
} ifs_jarr;

/* node (an array in d->root, or d->root; NULL = absent) as an ifs_jarr. */
void ifs_jdoc_arr(const ifs_jdoc *d, const cJSON *node, ifs_jarr *out);
int ifs_jarr_empty(const ifs_jarr *a);

/* Walks an array's elements; a lazy one's are parsed one at a time. */
typedef struct ifs_jiter {
	const ifs_jctx *c;
	ifs_jarr a;
	const cJSON *next;     /* tree: the next element */
	size_t pos, count;     /* lazy: where the next element starts, elements seen */
	cJSON *cur;            /* lazy: the element last returned, owned */
	size_t cur_s, cur_e;   /* lazy: its text, text[cur_s, cur_e) */
} ifs_jiter;

void ifs_jiter_init(ifs_jiter *it, const ifs_jctx *c, const ifs_jarr *a);
/* 1 and *el (valid until the next call or ifs_jiter_end), 0 at the end, or -errno. */
int ifs_jiter_next(ifs_jiter *it, const cJSON **el);
void ifs_jiter_end(ifs_jiter *it);
/* The source text of the element last returned (1), or 0 if there is none
 * (a parsed tree, not a lazy array). */
int ifs_jiter_span(const ifs_jiter *it, const uint8_t **p, size_t *n);

/*
 * The top-level member `key` of d (which must be an object) as an array.
 * Absent: an error if required, else out->present = 0.
 */
int ifs_jtop_array(const ifs_jctx *c, const ifs_jdoc *d, const char *key, int required,
		   ifs_jarr *out);

/* ---- idmap.c ---- */

/* Open-addressing map from int64 ids to array indexes (< UINT32_MAX). */
typedef struct ifs_cidmap {
	struct ifs_cidslot *slots;
	size_t cap, n;
} ifs_cidmap;

/* 0 if inserted, 1 if the key was there (*old gets its index), -ENOMEM. */
int ifs_cidmap_put(ifs_cidmap *m, int64_t key, size_t idx, size_t *old);
/* 1 and *idx if found, else 0. */
int ifs_cidmap_get(const ifs_cidmap *m, int64_t key, size_t *idx);
void ifs_cidmap_free(ifs_cidmap *m);
/* The longest distance of a key from its home slot (tests: ids chosen to
 * collide must not pile up). */
size_t ifs_cidmap_probe_max(const ifs_cidmap *m);

/* ---- catalog.c: loader state ---- */

typedef struct ifs_cload {
	ifs_catalog *c;
	size_t cap_cats, cap_lics, cap_imgs, cap_boxes, cap_locs, cap_files;
	ifs_cidmap cat_ids;     /* category id -> index in c->cats (unsorted) */
	ifs_cidmap lic_ids;     /* license id -> index in c->lics */
	ifs_cidmap tv_ids;      /* train and val image id -> index in c->imgs */
	char *cats_from;       /* entry whose categories defined c->cats */
	ifs_err *err;
} ifs_cload;

/* Makes room for `need` elements of elsz bytes (geometric growth). */
int ifs_cat_grow(void **arr, size_t *cap, size_t need, size_t elsz, ifs_err *err);

/*
 * Reads zip_path's entry `name`, records it in c->files and parses it into
 * *doc (ifs_jdoc_free it as soon as it is converted: it may hold the file's
 * bytes). *entry (malloc'd, the caller frees it, also on failure) is the
 * entry's path for messages.
 */
int ifs_cload_json(ifs_cload *L, const char *zip_path, const char *name, char **entry,
		   ifs_jdoc *doc);

/* ---- coco.c, extras.c ---- */

/* train2017.json, val2017.json, test2017.json. */
int ifs_cload_coco(ifs_cload *L, const char *zip_path, const char *name, int split);
int ifs_cload_boxes(ifs_cload *L, const char *zip_path, const char *name, int split);
int ifs_cload_locations(ifs_cload *L, const char *zip_path, const char *name, int split);

#endif

/*
 * score.h - the competition's own workflow: check a submission file and
 * score it against the ground truth of one split.
 *
 * A submission is the Kaggle CSV of the competition README:
 *
 *   id,predicted
 *   12345,0 78 23 3 42
 *   67890,83 13 42 0 21
 *
 * one row per image of the split, exactly five distinct known category ids
 * per row. The error of one image is 0 if its true category is among the
 * predictions (top-5; top-1 looks at the first prediction only), else 1; a
 * score is the mean error over the images of the split.
 *
 * Tolerated: a UTF-8 byte-order mark, CRLF line ends, a final line without a
 * newline, spaces or tabs around fields and runs of them between
 * predictions. Everything else that is not exactly the format is a problem
 * (see ifs_score_file). Lines longer than IFS_SCORE_LINE_MAX bytes are a
 * problem too (read in bounded memory: the rest of the line is skipped).
 *
 * Thread safety: none of these objects is shared; different objects may be
 * used from different threads.
 */
#ifndef INATFS_SCORE_H
#define INATFS_SCORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "inatfs/err.h"

/* ---- ground truth ------------------------------------------------------ */

/*
 * The images of one split (image id, category id; -1 = unlabeled, as in the
 * test split) and the known categories (id, supercategory name). Built from
 * an index with ifs_index_truth (index_query.h), or in memory with
 * ifs_truth_new + ifs_truth_add_category + ifs_truth_add. Adding does not
 * check for duplicates or unknown categories: ifs_score_file does, and fails
 * (-EINVAL, err says which id) on a truth that has either.
 */
typedef struct ifs_truth ifs_truth;

/* An empty truth (split -1: "unknown"). Returns 0 or -ENOMEM. */
int ifs_truth_new(ifs_truth **out, ifs_err *err);
void ifs_truth_free(ifs_truth *t);

/* A known category and its supercategory (name copied). 0 or -ENOMEM/-EINVAL. */
int ifs_truth_add_category(ifs_truth *t, int64_t category, const char *supercategory,
			   ifs_err *err);
/* An image of the split; category -1 if unlabeled. 0 or -ENOMEM. */
int ifs_truth_add(ifs_truth *t, int64_t image_id, int64_t category, ifs_err *err);

/* Number of images, of categories; whether every image has a label. */
size_t ifs_truth_count(const ifs_truth *t);
size_t ifs_truth_ncategories(const ifs_truth *t);
int ifs_truth_labeled(const ifs_truth *t);

/* The split it is the truth of (enum ifs_split; named in messages). */
void ifs_truth_set_split(ifs_truth *t, int split);

/* ---- checking and scoring ---------------------------------------------- */

#define IFS_SCORE_MAX_PROBLEMS 100   /* problems kept with their text */
#define IFS_SCORE_MSG_MAX 160
#define IFS_SCORE_LINE_MAX 4096
#define IFS_SCORE_MISSING_SHOWN 5    /* missing ids named in the problem text */

typedef struct ifs_score_problem {
	uint64_t line;                  /* 1-based; 0 = the file as a whole */
	char msg[IFS_SCORE_MSG_MAX];    /* printable ASCII only */
} ifs_score_problem;

typedef struct ifs_score_problems {
	uint64_t total;                 /* every problem found */
	size_t n;                       /* kept in item[]: min(total, MAX) */
	uint64_t missing;               /* images of the split with no row */
	uint64_t rows;                  /* data rows read (lines after the header) */
	ifs_score_problem item[IFS_SCORE_MAX_PROBLEMS];
} ifs_score_problems;

typedef struct ifs_score_group {
	char *name;                     /* supercategory (malloc'd) */
	uint64_t images;
	double top1, top5;              /* errors in [0, 1] */
} ifs_score_group;

typedef struct ifs_score_result {
	int scored;                     /* 0 in check-only mode: only `images` is set */
	uint64_t images;                /* images of the split = rows of the file */
	double top1, top5;              /* overall errors */
	uint64_t classes;               /* categories with at least one image in the split */
	double macro_top1, macro_top5;  /* mean over those classes of each one's error */
	size_t ngroups;
	ifs_score_group *groups;        /* per supercategory, sorted by name (malloc'd) */
} ifs_score_result;

/* Frees what a result holds and zeroes it. r may be NULL. */
void ifs_score_result_clear(ifs_score_result *r);

/*
 * Reads the submission at csv_path and checks it against t; unless
 * check_only, scores it (t must then be labeled: -ENODATA otherwise).
 *
 * Problems found (each with its line number; reading goes on after one):
 * empty file, missing or wrong header, blank line, line too long, wrong
 * number of columns, non-integer or out-of-range id, id not in the split,
 * duplicate id (names the first line), not exactly five predictions,
 * non-integer category, unknown category, category repeated in a row, and
 * (line 0) images of the split with no row: how many, and the first few ids.
 *
 * Returns 0 if the file is valid (res filled; scored unless check_only);
 * -EINVAL if it has problems (probs filled, err holds a one-line summary,
 * res untouched); another negative errno if the file cannot be read or the
 * truth is unusable (err says why). probs is always reset first; res is
 * zeroed first and owns its memory after a 0 return (ifs_score_result_clear).
 */
int ifs_score_file(const char *csv_path, const ifs_truth *t, int check_only,
		   ifs_score_result *res /* OUT */, ifs_score_problems *probs /* OUT */,
		   ifs_err *err);

/* ---- output ------------------------------------------------------------- */

/* A human-readable table: overall, macro-average, one line per supercategory. */
int ifs_score_print(FILE *f, const ifs_score_result *r, const char *split);

/*
 * The result as one JSON object (and a newline):
 * {"valid":true,"split":S,"images":N,"scored":B,"top1_error":..,"top5_error":..,
 *  "macro":{"classes":N,"top1_error":..,"top5_error":..},
 *  "supercategories":[{"name":..,"images":N,"top1_error":..,"top5_error":..},..]}
 * (the error keys only when scored). Returns 0 or -ENOMEM/-EIO.
 */
int ifs_score_print_json(FILE *f, const ifs_score_result *r, const char *split);

/* Every kept problem as "PATH:LINE: MSG" (or "PATH: MSG" for line 0). */
void ifs_score_print_problems(FILE *f, const char *path, const ifs_score_problems *p);

/* {"valid":false,"problems_total":N,"missing":N,"problems":[{"line":N,"message":S},..]} */
int ifs_score_print_problems_json(FILE *f, const ifs_score_problems *p);

#endif

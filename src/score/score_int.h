/*
 * score_int.h - the ground-truth layout shared by the score module's files.
 */
#ifndef INATFS_SCORE_INT_H
#define INATFS_SCORE_INT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ifs_truth_img {
	int64_t id;
	int64_t cat;          /* -1 = unlabeled */
} ifs_truth_img;

typedef struct ifs_truth_cat {
	int64_t id;
	char *super;          /* malloc'd */
} ifs_truth_cat;

struct ifs_truth {
	int split;            /* enum ifs_split, or -1 */
	ifs_truth_img *img;
	size_t nimg, capimg;
	ifs_truth_cat *cat;
	size_t ncat, capcat;
	size_t unlabeled;     /* images with cat < 0 */
};

#endif

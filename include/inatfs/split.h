/*
 * split.h - the dataset's splits, as the annotations, the index and the
 * views number them (images.split in the index).
 */
#ifndef INATFS_SPLIT_H
#define INATFS_SPLIT_H

enum ifs_split { IFS_SPLIT_TRAIN = 0, IFS_SPLIT_VAL = 1, IFS_SPLIT_TEST = 2 };

/* "train", "val", "test" ("unknown" for anything else). */
const char *ifs_split_name(int split);

#endif

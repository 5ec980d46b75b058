/*
 * split.c - the splits' names (split.h).
 */
#include "inatfs/split.h"

const char *ifs_split_name(int split)
{
	switch (split) {
	case IFS_SPLIT_TRAIN:
		return "train";
	case IFS_SPLIT_VAL:
		return "val";
	case IFS_SPLIT_TEST:
		return "test";
	default:
		return "unknown";
	}
}

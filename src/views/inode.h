/*
 * inode.h - the views' inode numbers (private to src/views): the one place
 * they are made and taken apart.
 *
 * They derive from index row ids, so they are stable across mounts of the
 * same index, and the FUSE layer answers by inode without a table:
 *
 *   kind (bits 40-47)  view (bits 32-39)  id
 *   INO_NODE      0    -                  pristine tree node (bits 0-39)
 *   INO_FIXED     1    -                  enum fixed: a folder or file of
 *                                         the views' own (0-31)
 *   INO_CLASS     2    enum view          category id (0-31)
 *   INO_IMAGE     3    enum view          images.rid (0-31)
 *   INO_SIDECAR   4    enum view          images.rid (0-31)
 *   INO_SUPER     5    0: by-supercategory/<S>, 1: <S>/train, 2: <S>/val;
 *                                         the smallest category id in <S>
 *   INO_ALIAS     6    -                  pristine node under 2017/ (0-39)
 *
 * The root is inode 1, the pristine root's node id (IFS_ROOT_NODE): the
 * views' root holds the pristine root's folders beside their own. The
 * ranges are checked when the index is opened (check.c: node ids < 2^40,
 * image rows and category ids < 2^32).
 */
#ifndef INATFS_VIEWS_INODE_H
#define INATFS_VIEWS_INODE_H

#include <stdint.h>

enum ino_kind {
	INO_NODE = 0,
	INO_FIXED = 1,
	INO_CLASS = 2,
	INO_IMAGE = 3,
	INO_SIDECAR = 4,
	INO_SUPER = 5,
	INO_ALIAS = 6,
};

/* The folders of images (the view bits of classes, images, sidecars). */
enum view { V_TRAIN, V_VAL, V_BBOX_TRAIN, V_BBOX_VAL, V_SUPER_TRAIN, V_SUPER_VAL, V_TEST };

/* INO_SUPER's view bits */
enum { SUPER_DIR = 0, SUPER_TRAIN = 1, SUPER_VAL = 2 };

/* The views' own folders and files (INO_FIXED); an annotation file is
 * FIXED_ANN_BASE + its annfiles row. */
enum fixed {
	FIXED_TRAIN = 1, FIXED_VAL, FIXED_SUPER, FIXED_BBOX, FIXED_TEST, FIXED_TEMPLATE,
	FIXED_BBOX_TRAIN, FIXED_BBOX_VAL, FIXED_BBOX_TRAIN_JSON, FIXED_BBOX_VAL_JSON,
	FIXED_ANN_BASE = 64,
};

#define INO_NODE_BITS ((UINT64_C(1) << 40) - 1)

static inline uint64_t ino_make(enum ino_kind kind, unsigned view, uint64_t id)
{
	return (uint64_t)kind << 40 | (uint64_t)view << 32 | id;
}

/* A pristine node as itself or under 2017/. */
static inline uint64_t ino_node(enum ino_kind kind, int64_t node)
{
	return (uint64_t)kind << 40 | ((uint64_t)node & INO_NODE_BITS);
}

typedef struct ino_parts {
	unsigned kind;      /* enum ino_kind (or anything: an unknown inode) */
	unsigned view;
	int64_t id;         /* bits 0-31 */
	int64_t node;       /* bits 0-39 (INO_NODE, INO_ALIAS) */
} ino_parts;

static inline ino_parts ino_split(uint64_t ino)
{
	ino_parts p = {
		(unsigned)(ino >> 40), (unsigned)((ino >> 32) & 0xff), (int64_t)(ino & 0xffffffffu),
		(int64_t)(ino & INO_NODE_BITS),
	};
	return p;
}

#endif

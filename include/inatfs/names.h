/*
 * names.h - turning names from hostile input (category names, tar member
 * paths) into path components that can neither escape nor break the tree.
 */
#ifndef INATFS_NAMES_H
#define INATFS_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* Longest component we emit (bytes); the kernel's NAME_MAX is 255. */
#define IFS_NAME_MAX 240

/*
 * Writes a safe single path component for `in` into out (outsz >= IFS_NAME_MAX+1):
 * '/', control characters and bytes that are not valid UTF-8 become '_';
 * "", "." and ".." become "_", "_." and "_.."; the result is cut to
 * IFS_NAME_MAX bytes on a UTF-8 character boundary. Returns 1 if the name
 * was changed, 0 if it was already safe.
 */
int ifs_name_safe(const char *in, char *out, size_t outsz);

/*
 * The class folder name "<id zero-padded to width> <safe name>", e.g.
 * "0042 Ardea herodias". Sorting these names sorts by id.
 */
void ifs_class_dirname(int64_t id, int width, const char *name, char *out, size_t outsz);

/*
 * Normalises a tar member path for the tree: strips leading "/" and "./",
 * collapses "//", drops "." components and a trailing "/". Returns 0, or
 * -EINVAL for a path that cannot be served as is: a ".." component, a
 * component longer than 255 bytes, control characters, or nothing left.
 */
int ifs_path_normalize(const char *in, char *out, size_t outsz);

#endif

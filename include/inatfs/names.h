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
 * The sidecar name of image name `name`: its last extension (from the last
 * '.', unless that is its first byte) replaced by ".json", or ".json"
 * appended when it has none. out has room for IFS_NAME_MAX + 8 bytes.
 */
void ifs_sidecar_name(const char *name, char *out, size_t outsz);

/*
 * Normalises a tar member path for the tree: strips leading "/" and "./",
 * collapses "//", drops "." components and a trailing "/". Returns 0, or
 * -EINVAL for a path that cannot be served as is: a ".." component, a
 * component longer than 255 bytes, control characters, or nothing left.
 */
int ifs_path_normalize(const char *in, char *out, size_t outsz);

/*
 * Stored names. Every image of the real dataset is named "<32 lowercase hex
 * digits>.jpg", and the index holds each name four times (tree, tree index,
 * images, class index), so such a name is stored as its 16 bytes instead of
 * its 36 characters. Any other name is stored
 * as text, so the packed form is canonical: a name has exactly one stored
 * form, and equality of stored forms is equality of names.
 */
#define IFS_NAME_PACKED 16
#define IFS_NAME_UNPACKED 36   /* strlen of an unpacked name */
/* 1 and out filled if name[0, len) has the packed form, else 0. */
int ifs_name_pack(const char *name, size_t len, uint8_t out[IFS_NAME_PACKED]);
/* The name back, NUL-terminated, into out[IFS_NAME_UNPACKED + 1]. */
void ifs_name_unpack(const uint8_t in[IFS_NAME_PACKED], char *out);

#endif

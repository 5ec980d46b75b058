/*
 * content.c - the bytes of the files the views make or take from the zips
 * (sidecars, the generated COCO files and template, the annotation files),
 * whole, when one is opened; and a member's path for messages. Tar members'
 * bytes are not here: they are read through gz cursors at the offsets the
 * entries carry.
 */
#include "views_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int ifs_views_member_path(ifs_views *v, const ifs_entry *e, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s at offset %llu", ifs_archive_file(e->archive),
		 (unsigned long long)e->off);
	return ifs_index_member_path(v->idx, e->archive, e->off, out, outsz);
}

int ifs_views_content(ifs_views *v, const ifs_entry *e, uint8_t **data, size_t *len, ifs_err *err)
{
	*data = NULL;
	*len = 0;
	switch (e->src) {
	case IFS_SRC_SIDECAR: {
		ifs_buf b = { 0 };
		int r = ifs_index_sidecar(v->idx, e->rid, &b, err);
		if (r) {
			free(b.p);
			return r;
		}
		*data = (uint8_t *)b.p;
		*len = b.len;
		return 0;
	}
	case IFS_SRC_BLOB:
		return ifs_index_generate(v->idx, e->key, data, len, err);
	case IFS_SRC_ANNFILE:
		return ifs_index_annfile_read(v->idx, e->key, data, len, err);
	default:
		return ifs_err_set(err, EISDIR, "not a generated file");
	}
}

/*
 * records.c - the packed JSON records of the index (images.boxes,
 * images.location; see jpack.h and schema.h): shapes looked up in the
 * `shapes` table through a one-entry cache (nearly every box shares one
 * shape, every location one of a few).
 */
#include "schema.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char ifs_sql_shape[] = "SELECT text FROM shapes WHERE id=?1";

int ifs_shape_lookup(void *ctx, uint64_t id, const char **shape, size_t *len)
{
	struct ifs_shapes *s = ctx;
	if (!s->have || s->id != id) {
		s->have = 0;
		s->text.len = 0;
		sqlite3_bind_int64(s->st, 1, (sqlite3_int64)id);
		int rc = sqlite3_step(s->st);
		int r = 0;
		if (rc == SQLITE_ROW) {
			const void *t = sqlite3_column_blob(s->st, 0);
			int n = sqlite3_column_bytes(s->st, 0);
			r = ifs_buf_add(&s->text, t ? t : "", (size_t)n);
		}
		sqlite3_reset(s->st);
		if (rc != SQLITE_ROW)
			return rc == SQLITE_DONE ? -ENOENT : -EIO;
		if (r)
			return r;
		s->have = 1;
		s->id = id;
	}
	*shape = s->text.p;
	*len = s->text.len;
	return 0;
}

void ifs_shapes_done(struct ifs_shapes *s)
{
	free(s->text.p);
	memset(s, 0, sizeof *s);
}

int ifs_records_unpack(const void *in, size_t len, struct ifs_shapes *s, ifs_buf *out,
		       size_t *count)
{
	const uint8_t *p = in;
	size_t pos = 0, n = 0;
	while (pos < len) {
		size_t used;
		int r = (n ? ifs_buf_add(out, ",", 1) : 0);
		if (!r)
			r = ifs_jpack_decode(p + pos, len - pos, &used, ifs_shape_lookup, s, out);
		if (r)
			return r;
		pos += used;
		n++;
	}
	if (count)
		*count = n;
	return 0;
}

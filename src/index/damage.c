/*
 * damage.c - damage the scan found in an archive, read back from the index
 * and said in words (index.h, ifs_damage).
 */
#include "inatfs/index.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "index_sql.h"

static const char q_damage[] =
	"SELECT kind, in_off, in_size, good_out, images, message FROM damage WHERE archive=?1";

static int row(sqlite3_stmt *st, int archive, ifs_damage *d)
{
	memset(d, 0, sizeof *d);
	sqlite3_bind_int(st, 1, archive);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		d->archive = archive;
		snprintf(d->kind, sizeof d->kind, "%s",
			 sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "?");
		d->in_off = (uint64_t)sqlite3_column_int64(st, 1);
		d->in_size = (uint64_t)sqlite3_column_int64(st, 2);
		d->good_out = (uint64_t)sqlite3_column_int64(st, 3);
		d->images = sqlite3_column_int64(st, 4);
		snprintf(d->message, sizeof d->message, "%s",
			 sqlite3_column_text(st, 5) ? (const char *)sqlite3_column_text(st, 5) : "");
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
}

int ifs_index_damage(ifs_index *idx, int archive, ifs_damage *d)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_damage, NULL);
	return st ? row(st, archive, d) : -EIO;
}

int ifs_damage_read(sqlite3 *db, int archive, ifs_damage *d)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, q_damage, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	int r = row(st, archive, d);
	sqlite3_finalize(st);
	return r;
}

void ifs_damage_describe(const ifs_damage *d, const char *data_dir, char *buf, size_t size)
{
	char f[4096];
	snprintf(f, sizeof f, "%s%s%s", data_dir ? data_dir : "", data_dir ? "/" : "",
		 ifs_archive_file(d->archive));
	unsigned long long at = (unsigned long long)d->in_off, all = (unsigned long long)d->in_size;
	char what[4400];
	if (!strcmp(d->kind, "truncated"))
		snprintf(what, sizeof what, "%s is truncated: it ends at byte %llu inside its "
			 "compressed data (an interrupted download?)", f, all);
	else if (!strcmp(d->kind, "truncated tar data"))
		snprintf(what, sizeof what, "%s is truncated: its tar data ends inside a member", f);
	else if (!strcmp(d->kind, "checksum mismatch"))
		snprintf(what, sizeof what, "%s is corrupt: the gzip checksum at byte %llu of %llu "
			 "does not match its data", f, at, all);
	else
		snprintf(what, sizeof what, "%s is damaged: %s at byte %llu of %llu", f, d->kind, at,
			 all);
	char lost[128] = "";
	if (d->images > 0)
		snprintf(lost, sizeof lost, "; %lld image%s in the JSON cannot be read (EIO), the "
			 "others are served", (long long)d->images, d->images == 1 ? "" : "s");
	snprintf(buf, size, "%.4400s%s. Download it again, or resume the download (curl -C -), and "
		 "mount again: the index is rebuilt", what, lost);
}

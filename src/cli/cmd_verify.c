/*
 * cmd_verify.c - `inatfs verify DATA_DIR`: reads every tar member through
 * the same cursors the mount uses, in archive order (one sequential inflate
 * per archive), and checks each against the CRC-32 recorded at index time.
 * Prints every damaged member and exits 5 if there was any.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cli.h"
#include "inatfs/gz.h"

/* off NULL: a member the JSON names that a damaged archive's scan never reached */
static const char q_members[] =
	"SELECT id, archive, off, size, crc, off IS NULL FROM nodes WHERE type=0 "
	"ORDER BY archive, off";
static const char q_path[] =
	"WITH RECURSIVE up(id, parent, path) AS (SELECT id, parent, nm(name) FROM nodes WHERE id=?1 "
	"UNION ALL SELECT n.id, n.parent, nm(n.name) || '/' || up.path FROM nodes n JOIN up ON "
	"n.id=up.parent WHERE n.id<>1 AND length(up.path) < 4096) SELECT path FROM up WHERE "
	"parent=1";
static const char q_total[] = "SELECT coalesce(sum(size), 0) FROM nodes WHERE type=0";

static void print_path(ifs_index *idx, int64_t id, const char *why)
{
	sqlite3_stmt *st = ifs_index_stmt(idx, q_path, NULL);
	const char *p = NULL;
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			p = (const char *)sqlite3_column_text(st, 0);
	}
	char safe[8192];
	ifs_text_escape(p ? p : "?", safe, sizeof safe);
	printf("BAD %s: %s\n", safe, why);
	if (st)
		sqlite3_reset(st);
}

int cmd_verify(int argc, char **argv)
{
	const char *data_dir = NULL, *index = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--index") && i + 1 < argc)
			index = argv[++i];
		else if (argv[i][0] != '-' && !data_dir)
			data_dir = argv[i];
		else {
			cli_error("usage: inatfs verify DATA_DIR [--index PATH]");
			return EXIT_USAGE;
		}
	}
	if (!data_dir) {
		cli_error("usage: inatfs verify DATA_DIR [--index PATH]");
		return EXIT_USAGE;
	}
	int r = cli_check_data_dir(data_dir);
	if (r)
		return r;
	char *path = NULL;
	if ((r = cli_ensure_index(data_dir, index, 0, &path)))
		return r;
	ifs_err err;
	ifs_err_clear(&err);
	ifs_index *idx = NULL;
	ifs_gz_cursor *cur[IFS_ARCHIVE_MAX + 1] = { 0 };
	uint8_t *buf = malloc(1 << 20);
	uint64_t bad = 0, checked = 0, done = 0, total = 0;
	if (!buf || ifs_index_open(path, data_dir, &idx, &err) < 0) {
		cli_error("%s", buf ? err.msg : "out of memory");
		r = EXIT_INDEX;
		goto out;
	}
	sqlite3_stmt *tot = ifs_index_stmt(idx, q_total, &err);
	if (tot && sqlite3_step(tot) == SQLITE_ROW)
		total = (uint64_t)sqlite3_column_int64(tot, 0);
	if (tot)
		sqlite3_reset(tot);
	sqlite3 *db = ifs_index_db(idx, &err);
	sqlite3_stmt *st = NULL;
	/* its own statement: the cached ones are used for checkpoints inside the loop */
	if (!db || sqlite3_prepare_v2(db, q_members, -1, &st, NULL) != SQLITE_OK) {
		cli_error("%s: cannot list members", path);
		r = EXIT_INDEX;
		goto out;
	}
	ifs_gz_checkpoint cp = { 0 };
	int have_cp = -1;
	ifs_damage dmg[IFS_ARCHIVE_MAX + 1];
	for (int a = 0; a <= IFS_ARCHIVE_MAX; a++)
		if (ifs_index_damage(idx, a, &dmg[a]) <= 0)
			dmg[a].archive = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		int a = sqlite3_column_int(st, 1);
		uint64_t off = (uint64_t)sqlite3_column_int64(st, 2);
		uint64_t size = (uint64_t)sqlite3_column_int64(st, 3);
		uint32_t want = (uint32_t)sqlite3_column_int64(st, 4);
		int fd = ifs_index_archive_fd(idx, a);
		ifs_err_clear(&err);
		if (a >= 1 && a <= IFS_ARCHIVE_MAX && dmg[a].archive &&
		    (sqlite3_column_int(st, 5) || off + size > dmg[a].good_out)) {
			char why[128];
			snprintf(why, sizeof why, "lost to the damage in %s (%s)", ifs_archive_file(a),
				 dmg[a].kind);
			cli_progress_done();
			print_path(idx, id, why);
			checked++;
			bad++;
			continue;
		}
		if (fd < 0 || (!cur[a] && ifs_gz_cursor_new(fd, ifs_archive_file(a), &cur[a], &err))) {
			print_path(idx, id, "archive cannot be read");
			bad++;
			continue;
		}
		uint32_t crc = 0;
		uint64_t pos = 0;
		int failed = 0;
		while (pos < size && !failed) {
			uint64_t at = off + pos, cpos = ifs_gz_cursor_pos(cur[a]);
			if (have_cp != a || cpos == UINT64_MAX || cpos > at || at - cpos > (4u << 20)) {
				ifs_gz_checkpoint_clear(&cp);
				if (ifs_index_checkpoint(idx, a, at, &cp, &err) < 0) {
					failed = 1;
					break;
				}
				have_cp = a;
			}
			size_t n = size - pos < (1u << 20) ? (size_t)(size - pos) : (1u << 20);
			ssize_t got = ifs_gz_cursor_read(cur[a], &cp, at, buf, n, &err);
			if (got != (ssize_t)n) {
				failed = 1;
				break;
			}
			crc = ifs_crc32(crc, buf, n);
			pos += n;
			done += n;
		}
		checked++;
		if (failed || crc != want) {
			char why[IFS_ERR_MSG_MAX + 64];
			if (failed)
				snprintf(why, sizeof why, "%s", err.code ? err.msg : "read failed");
			else
				snprintf(why, sizeof why, "CRC-32 %08x, indexed %08x", crc, want);
			cli_progress_done();
			print_path(idx, id, why);
			bad++;
			have_cp = -1;   /* restart from a checkpoint after damage */
		}
		if ((checked & 255) == 0)
			cli_progress_bytes("verifying", done, total);
	}
	cli_progress_bytes("verifying", done, total);
	cli_progress_done();
	ifs_gz_checkpoint_clear(&cp);
	sqlite3_finalize(st);
	printf("verified %llu members (%.1f MB): %llu damaged\n", (unsigned long long)checked,
	       (double)done / 1e6, (unsigned long long)bad);
	if (cli_report_damage(path, data_dir, stdout, 0))
		bad += !bad;
	r = bad ? EXIT_DAMAGED : 0;
out:
	for (int a = 0; a <= IFS_ARCHIVE_MAX; a++)
		ifs_gz_cursor_free(cur[a]);
	ifs_index_close(idx);
	free(buf);
	free(path);
	return r;
}

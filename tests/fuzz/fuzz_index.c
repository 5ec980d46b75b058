/*
 * fuzz_index.c - libFuzzer harness for reading an index back: a real index
 * of a small fixture (INATFS_FUZZ_DATA, built once at start) is copied, the
 * input's operations change its rows, and the copy is opened and read
 * through the core as the daemon does: every folder listed and every name
 * looked up, generated, annotation and sidecar files and a few members read
 * through the reader (reader.h), member paths named. Whatever the rows
 * hold, this must end without a crash, a hang or a leak, every name listed
 * must be one the kernel can serve, and the index's own failures must
 * carry a message.
 *
 * Input: operations of 5 bytes and a value: table, column, row (2 bytes,
 * an offset into the table's rows), value kind; then the value (an
 * integer of 1 or 8 bytes, or text / a blob of 1 + n bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "inatfs/gz.h"
#include "inatfs/index.h"
#include "inatfs/reader.h"
#include "inatfs/views.h"
#include "../../src/index/index_sql.h"   /* white-box: the SQL side */

static const char *data_dir;
static char tmpl[128], work[128];
static uint8_t *tmpl_bytes;
static size_t tmpl_len;

static const struct {
	const char *table;
	const char *cols[11];
} tables[] = {
	{ "nodes", { "id", "parent", "name", "archive", "type", "off", "size", "mtime", "mode",
		     "crc", NULL } },
	{ "images", { "rid", "split", "id", "category", "name", "node", "nboxes", "sidecar_len",
		      "file_name", "boxes", NULL } },
	{ "images", { "location", "extra", "license", "rights_holder", "width", NULL } },
	{ "categories", { "id", "name", "supercategory", "dir", "superdir", NULL } },
	{ "annfiles", { "name", "zip", "entry", "size", "mtime", NULL } },
	{ "generated", { "name", "size", NULL } },
	{ "checkpoints", { "key", "skip", "in_bit", "window", "entry", "ends", NULL } },
	{ "shapes", { "id", "text", NULL } },
	{ "holders", { "id", "name", NULL } },
	{ "licenses", { "id", "name", "url", NULL } },
	{ "archives", { "id", "file", "in_size", "out_size", NULL } },
};
#define NTABLES (sizeof tables / sizeof tables[0])

static void cleanup(void)
{
	unlink(tmpl);
	unlink(work);
	free(tmpl_bytes);
}

static void setup(void)
{
	data_dir = getenv("INATFS_FUZZ_DATA");
	if (!data_dir) {
		fprintf(stderr, "fuzz_index: set INATFS_FUZZ_DATA to a fixture folder\n");
		abort();
	}
	const char *shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(tmpl, sizeof tmpl, "%s/fuzz-index-%d.sqlite", shm, (int)getpid());
	snprintf(work, sizeof work, "%s/fuzz-index-%d-w.sqlite", shm, (int)getpid());
	ifs_err err;
	ifs_err_clear(&err);
	if (ifs_index_build(data_dir, tmpl, NULL, &err) != 0) {
		fprintf(stderr, "fuzz_index: building the index: %s\n", err.msg);
		abort();
	}
	FILE *f = fopen(tmpl, "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0)
		abort();
	tmpl_len = (size_t)ftell(f);
	rewind(f);
	tmpl_bytes = malloc(tmpl_len);
	if (!tmpl_bytes || fread(tmpl_bytes, 1, tmpl_len, f) != tmpl_len)
		abort();
	fclose(f);
	atexit(cleanup);
}

/* Applies the input's operations to the copy at work. */
static void mutate(const uint8_t *p, size_t n)
{
	sqlite3 *db;
	if (ifs_index_sql_open(work, &db, SQLITE_OPEN_READWRITE) != SQLITE_OK)
		abort();
	sqlite3_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", NULL, NULL, NULL);
	size_t i = 0;
	while (i + 5 <= n) {
		unsigned t = p[i] % NTABLES, ncol = 0;
		while (tables[t].cols[ncol])
			ncol++;
		const char *col = tables[t].cols[p[i + 1] % ncol];
		unsigned row = (unsigned)p[i + 2] << 8 | p[i + 3], kind = p[i + 4] % 6;
		i += 5;
		char sql[256];
		snprintf(sql, sizeof sql, "UPDATE %s SET %s=?1 WHERE rowid=(SELECT rowid FROM %s "
			 "ORDER BY rowid LIMIT 1 OFFSET ?2)", tables[t].table, col, tables[t].table);
		if (kind == 5)   /* a row goes */
			snprintf(sql, sizeof sql, "DELETE FROM %s WHERE rowid=(SELECT rowid FROM %s "
				 "ORDER BY rowid LIMIT 1 OFFSET ?2)", tables[t].table, tables[t].table);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			continue;
		sqlite3_bind_int(st, 2, (int)(row % 1024));
		if (kind == 0) {
			sqlite3_bind_null(st, 1);
		} else if (kind == 1 && i < n) {   /* a small integer, maybe negative */
			sqlite3_bind_int(st, 1, (int8_t)p[i]);
			i++;
		} else if (kind == 2 && i + 8 <= n) {
			int64_t v;
			memcpy(&v, p + i, 8);
			sqlite3_bind_int64(st, 1, v);
			i += 8;
		} else if ((kind == 3 || kind == 4) && i < n) {
			size_t len = p[i] < n - i - 1 ? p[i] : n - i - 1;
			if (kind == 3)
				sqlite3_bind_text(st, 1, (const char *)p + i + 1, (int)len, SQLITE_TRANSIENT);
			else
				sqlite3_bind_blob(st, 1, p + i + 1, (int)len, SQLITE_TRANSIENT);
			i += 1 + len;
		} else if (kind != 5) {
			sqlite3_bind_int(st, 1, 1);
		}
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
}

struct walk {
	ifs_views *v;
	ifs_index *idx;
	ifs_reader *rd;
	uint64_t queue[4096];
	size_t nq;
	unsigned entries, members, contents, paths;
};

static void must_say(int r, const ifs_err *e)
{
	/* a failure with a message says which file (an EIO without one is an
	 * answer: an image of a damaged archive, or whose member is gone) */
	if (r && e->code && !e->msg[0])
		abort();
}

/* The first 4 KiB of a file through the reader the mount uses. */
static void read_file(struct walk *w, const ifs_entry *e)
{
	ifs_err err;
	ifs_err_clear(&err);
	ifs_rfile *f = NULL;
	int r = ifs_reader_open_entry(w->rd, e, 0, &f, &err);
	must_say(r, &err);
	if (r)
		return;
	ifs_read_req q = { .off = 0, .len = 4096 };
	ifs_rdata d;
	ifs_err_clear(&err);
	r = ifs_rfile_read(f, &q, &d, &err);
	must_say(r, &err);
	if (!r)
		ifs_rfile_done(f, &d);
	ifs_rfile_close(f);
	if (e->src == IFS_SRC_MEMBER) {
		char path[4096];
		ifs_views_member_path(w->v, e, path, sizeof path);
	}
}

/* What the kernel is given must be a name it can serve: the views refuse
 * (EIO) a folder whose index rows hold anything else. */
static void servable(const char *name)
{
	if (!name || !*name || !strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/') ||
	    strlen(name) > 255)
		abort();
}

static int fill(void *ctx, const char *name, const ifs_entry *e)
{
	struct walk *w = ctx;
	servable(name);
	if (++w->entries > 3000)
		return 1;
	if (e->src == IFS_SRC_DIR && w->nq < sizeof w->queue / sizeof w->queue[0])
		w->queue[w->nq++] = e->ino;
	return 0;
}

static void visit_file(struct walk *w, uint64_t parent, const char *name)
{
	ifs_entry e;
	ifs_err err;
	ifs_err_clear(&err);
	int r = ifs_views_lookup_child(w->v, parent, name, &e, &err);
	must_say(r, &err);
	if (r || e.src == IFS_SRC_DIR)
		return;
	ifs_err_clear(&err);
	r = ifs_views_getattr(w->v, e.ino, &e, &err);
	must_say(r, &err);
	if (r)
		return;
	if (e.src == IFS_SRC_MEMBER ? w->members++ < 4 : w->contents++ <= 40)
		read_file(w, &e);
}

struct names {
	char **v;
	size_t n, cap;
};

static int collect(void *ctx, const char *name, const ifs_entry *e)
{
	struct names *s = ctx;
	servable(name);
	if (e->src == IFS_SRC_DIR || s->n >= 64)
		return 0;
	if (s->n == s->cap) {
		size_t nc = s->cap ? 2 * s->cap : 16;
		char **nv = realloc(s->v, nc * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n] = strdup(name);
	return s->v[s->n] ? (s->n++, 0) : -ENOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!tmpl_bytes)
		setup();
	FILE *f = fopen(work, "wb");
	if (!f || fwrite(tmpl_bytes, 1, tmpl_len, f) != tmpl_len || fclose(f) != 0)
		abort();
	mutate(data, size);

	ifs_err err;
	ifs_err_clear(&err);
	ifs_index *idx = NULL;
	int r = ifs_index_open(work, data_dir, &idx, &err);
	if (r) {
		if (!err.code)
			abort();
		return 0;
	}
	ifs_views *v = NULL;
	ifs_views_opts vo = { .sidecars = 1, .listing_attrs = size & 1 };
	ifs_reader *rd = NULL;
	if (ifs_views_new(idx, &vo, &v, &err) == 0 && ifs_reader_new(idx, v, NULL, &rd, &err) == 0) {
		struct walk *w = calloc(1, sizeof *w);
		if (!w)
			abort();
		w->v = v;
		w->idx = idx;
		w->rd = rd;
		w->queue[w->nq++] = 1;
		for (size_t k = 0; k < w->nq && w->entries <= 3000; k++) {
			ifs_err_clear(&err);
			r = ifs_views_readdir_ino(v, w->queue[k], fill, w, &err);
			must_say(r, &err);
			/* the files of this folder, looked up by name */
			struct names s = { 0 };
			ifs_err_clear(&err);
			if (ifs_views_readdir_ino(v, w->queue[k], collect, &s, &err) == 0)
				for (size_t i = 0; i < s.n; i++)
					visit_file(w, w->queue[k], s.v[i]);
			for (size_t i = 0; i < s.n; i++)
				free(s.v[i]);
			free(s.v);
		}
		free(w);
	} else if (!err.code) {
		abort();
	}
	ifs_reader_free(rd);
	ifs_views_free(v);
	ifs_index_close(idx);
	return 0;
}

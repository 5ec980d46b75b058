/*
 * cmd_verify.c - `inatfs verify DATA_DIR`: reads every tar member through
 * the same cursors the mount uses and checks each against the CRC-32
 * recorded at index time. Prints every damaged member and exits 5 if there
 * was any.
 *
 * The decoding is split like the first scan's: the members, in archive
 * order, are cut into one run of about equal bytes per thread (-o
 * scan_threads=N, default one per CPU); each thread reads its run through
 * the reader the mount uses (reader.h), one file walking from member to
 * member, so that its cursor goes on sequentially from the stored
 * checkpoint before its first member (the index knows every start, so no
 * block finder is needed). Damaged members are listed at the end, in
 * archive order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "inatfs/gz.h"
#include "inatfs/index_query.h"
#include "inatfs/reader.h"

typedef struct member {
	int64_t id;
	uint64_t off, size;
	uint32_t crc;
	int archive;
	int lost;   /* not in what a damaged archive still holds */
} member;

typedef struct bad_member {
	size_t member;   /* index into the member list */
	char why[IFS_ERR_MSG_MAX + 64];
} bad_member;

#define RUN_PIECE (1u << 20)

struct run {
	ifs_index *idx;
	ifs_reader *rd;
	const ifs_damage *dmg;   /* per archive (archive 0: none) */
	const member *m;
	size_t from, to;        /* members [from, to) */
	uint64_t done;          /* bytes checked (read by the progress display) */
	bad_member *bad;
	size_t nbad, capbad;
	int oom;
	int started, finished;
};

static void add_bad(struct run *r, size_t i, const char *why)
{
	if (r->nbad == r->capbad) {
		size_t cap = r->capbad ? r->capbad * 2 : 16;
		bad_member *b = realloc(r->bad, cap * sizeof *b);
		if (!b) {
			r->oom = 1;
			return;
		}
		r->bad = b;
		r->capbad = cap;
	}
	r->bad[r->nbad].member = i;
	snprintf(r->bad[r->nbad].why, sizeof r->bad[r->nbad].why, "%s", why);
	r->nbad++;
}

/* A member of the run as the reader's entry. */
static ifs_entry entry_of(const member *m)
{
	ifs_entry e;
	memset(&e, 0, sizeof e);
	e.src = IFS_SRC_MEMBER;
	e.archive = m->archive;
	e.off = m->off;
	e.size = m->size;
	e.crc = m->crc;
	return e;
}

/* Reads member m through f, a piece at a time into buf: the reader checks
 * its CRC-32 when the last piece is in. */
static int verify_member(struct run *r, ifs_rfile *f, const member *m, uint8_t *buf,
			 ifs_err *err)
{
	if (m->size == 0 && m->crc != 0)
		return ifs_err_set(err, EIO, "CRC-32 00000000, indexed %08x", m->crc);
	for (uint64_t pos = 0; pos < m->size;) {
		size_t n = m->size - pos < RUN_PIECE ? (size_t)(m->size - pos) : RUN_PIECE;
		ifs_read_req q = { .off = pos, .len = n, .buf = buf };
		ifs_rdata d;
		int rc = ifs_rfile_read(f, &q, &d, err);
		if (rc)
			return rc;
		ifs_rfile_done(f, &d);
		pos += n;
		__atomic_add_fetch(&r->done, n, __ATOMIC_RELAXED);
	}
	return 0;
}

static void *verify_run(void *arg)
{
	struct run *r = arg;
	ifs_rfile *f = NULL;
	ifs_err err;
	uint8_t *buf = malloc(RUN_PIECE);
	if (!buf) {
		r->oom = 1;
		__atomic_store_n(&r->finished, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	for (size_t i = r->from; i < r->to; i++) {
		const member *m = &r->m[i];
		int a = m->archive;
		ifs_err_clear(&err);
		if (m->lost) {
			char why[128];
			snprintf(why, sizeof why, "lost to the damage in %s (%s)", ifs_archive_file(a),
				 r->dmg[a].kind);
			add_bad(r, i, why);
			continue;
		}
		/* one file walks the run's members of an archive: its cursor goes
		 * on from one member to the next */
		ifs_entry e = entry_of(m);
		int rc;
		if (f && ifs_rfile_entry(f)->archive == a) {
			rc = ifs_rfile_next(f, &e, &err);
		} else {
			ifs_rfile_close(f);
			f = NULL;
			rc = ifs_reader_open_entry(r->rd, &e, IFS_RFILE_WALK, &f, &err);
		}
		if (!rc)
			rc = verify_member(r, f, m, buf, &err);
		if (rc)
			add_bad(r, i, err.code ? err.msg : strerror(-rc));
	}
	ifs_rfile_close(f);
	free(buf);
	__atomic_store_n(&r->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void print_path(ifs_index *idx, int64_t id, const char *why)
{
	char p[8192], safe[8192];
	if (ifs_index_node_path(idx, id, p, sizeof p) < 0)
		snprintf(p, sizeof p, "?");
	ifs_text_escape(p, safe, sizeof safe);
	printf("BAD %s: %s\n", safe, why);
}

/* Every member, in archive order (*n of them, malloc'd), and their bytes. */
static member *load_members(ifs_index *idx, const ifs_damage *dmg, size_t *n, uint64_t *total)
{
	ifs_err err;
	ifs_err_clear(&err);
	ifs_member_iter *it = NULL;
	ifs_member mb;
	member *m = NULL;
	size_t cap = 0;
	*n = 0;
	*total = 0;
	if (ifs_index_members_open(idx, &it, &err) < 0)
		return NULL;
	int rc;
	while ((rc = ifs_index_members_next(it, &mb, &err)) > 0) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 1024;
			member *p = realloc(m, cap * sizeof *p);
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			m = p;
		}
		member *x = &m[(*n)++];
		x->id = mb.id;
		x->archive = mb.archive;
		x->off = mb.off;
		x->size = mb.size;
		x->crc = mb.crc;
		int a = x->archive;
		x->lost = a >= 1 && a <= IFS_ARCHIVE_MAX && dmg[a].archive &&
			  (mb.pending || x->off + x->size > dmg[a].good_out);
		if (!x->lost)
			*total += x->size;
	}
	ifs_index_members_close(it);
	if (rc != 0) {
		free(m);
		return NULL;
	}
	if (!m)
		m = malloc(sizeof *m);   /* no members: an empty list, not an error */
	return m;
}

int cmd_verify(int argc, char **argv)
{
	const char *data_dir = NULL, *index = NULL;
	int threads = 0;
	for (int i = 1; i < argc; i++) {
		int r = cli_source_long(argc, argv, &i);
		if (r >= 0) {
			if (r)
				return r;
		} else if (!strcmp(argv[i], "--index") && i + 1 < argc) {
			index = argv[++i];
		} else if (!strncmp(argv[i], "-o", 2)) {
			const char *o = argv[i][2] ? argv[i] + 2 : i + 1 < argc ? argv[++i] : "";
			if (cli_is_source_opt(o)) {
				if ((r = cli_source_opt(o)))
					return r;
				continue;
			}
			if (strncmp(o, "scan_threads=", 13) != 0) {
				cli_error("verify: unknown option -o %s (scan_threads=N or a source "
					  "option)", o);
				return EXIT_USAGE;
			}
			if ((r = cli_scan_threads(o + 13, &threads)))
				return r;
		} else if (argv[i][0] != '-' && !data_dir) {
			data_dir = argv[i];
		} else {
			cli_error("usage: inatfs verify DATA_DIR|URL [--index PATH] [-o scan_threads=N]");
			return EXIT_USAGE;
		}
	}
	if (!data_dir) {
		cli_error("usage: inatfs verify DATA_DIR|URL [--index PATH] [-o scan_threads=N]");
		return EXIT_USAGE;
	}
	int r = cli_data_arg(&data_dir);
	if (r || (r = cli_check_data_dir(data_dir)))
		return r;
	char *path = NULL;
	if ((r = cli_ensure_index(data_dir, index, 0, threads, &path)))
		return r;
	ifs_err err;
	ifs_err_clear(&err);
	ifs_index *idx = NULL;
	member *m = NULL;
	ifs_reader *rd = NULL;
	struct run *runs = NULL;
	pthread_t *thr = NULL;
	size_t n = 0, nrun = 0;
	uint64_t total = 0, bad = 0, done = 0;
	if (ifs_index_open(path, data_dir, &idx, &err) < 0 ||
	    ifs_reader_new(idx, NULL, NULL, &rd, &err) < 0) {
		cli_error("%s", err.msg);
		r = EXIT_INDEX;
		goto out;
	}
	ifs_damage dmg[IFS_ARCHIVE_MAX + 1];
	for (int a = 0; a <= IFS_ARCHIVE_MAX; a++)
		if (ifs_index_damage(idx, a, &dmg[a]) <= 0)
			dmg[a].archive = 0;
	if (!(m = load_members(idx, dmg, &n, &total))) {
		cli_error("%s: cannot list members", path);
		r = EXIT_INDEX;
		goto out;
	}
	long cpus = threads > 0 ? threads : threads == IFS_GZ_SERIAL ? 1
		    : sysconf(_SC_NPROCESSORS_ONLN);
	nrun = cpus < 1 ? 1 : cpus > IFS_GZ_THREADS_MAX ? IFS_GZ_THREADS_MAX : (size_t)cpus;
	if (nrun > n && n > 0)
		nrun = n;
	runs = calloc(nrun, sizeof *runs);
	thr = calloc(nrun, sizeof *thr);
	if (!runs || !thr) {
		cli_error("out of memory");
		r = EXIT_INDEX;
		goto out;
	}
	/* runs of about total / nrun bytes each */
	size_t at = 0;
	uint64_t acc = 0;
	for (size_t k = 0; k < nrun; k++) {
		runs[k].idx = idx;
		runs[k].rd = rd;
		runs[k].dmg = dmg;
		runs[k].m = m;
		runs[k].from = at;
		uint64_t goal = total / nrun * (k + 1);
		while (at < n && (k == nrun - 1 || acc < goal))
			acc += m[at++].size;
		runs[k].to = at;
	}
	/* one thread per run; this one shows the progress (and runs what could
	 * not get a thread) */
	for (size_t k = 0; k < nrun; k++)
		runs[k].started = pthread_create(&thr[k], NULL, verify_run, &runs[k]) == 0;
	for (size_t k = 0; k < nrun; k++)
		if (!runs[k].started)
			verify_run(&runs[k]);
	for (;;) {
		size_t finished = 0;
		done = 0;
		for (size_t k = 0; k < nrun; k++) {
			done += __atomic_load_n(&runs[k].done, __ATOMIC_RELAXED);
			finished += __atomic_load_n(&runs[k].finished, __ATOMIC_ACQUIRE);
		}
		if (finished == nrun)
			break;
		cli_progress_bytes("verifying", done, total);
		usleep(200 * 1000);
	}
	for (size_t k = 0; k < nrun; k++)
		if (runs[k].started)
			pthread_join(thr[k], NULL);
	done = 0;
	for (size_t k = 0; k < nrun; k++)
		done += runs[k].done;
	cli_progress_bytes("verifying", done, total);
	cli_progress_done();
	for (size_t k = 0; k < nrun; k++) {
		if (runs[k].oom) {
			cli_error("out of memory");
			r = EXIT_INDEX;
			goto out;
		}
		for (size_t i = 0; i < runs[k].nbad; i++)
			print_path(idx, m[runs[k].bad[i].member].id, runs[k].bad[i].why);
		bad += runs[k].nbad;
	}
	printf("verified %zu members (%.1f MB): %llu damaged\n", n, (double)done / 1e6,
	       (unsigned long long)bad);
	if (cli_report_damage(path, data_dir, stdout, 0))
		bad += !bad;
	r = bad ? EXIT_DAMAGED : 0;
out:
	for (size_t k = 0; runs && k < nrun; k++)
		free(runs[k].bad);
	free(runs);
	free(thr);
	free(m);
	ifs_reader_free(rd);
	ifs_index_close(idx);
	free(path);
	return r;
}

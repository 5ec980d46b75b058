/*
 * cmd_index.c - `inatfs index` (build without mounting), `inatfs info`, and
 * the index life cycle shared with the mount: check, rebuild with a reason,
 * progress on stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"
#include "inatfs/index_query.h"
#include "inatfs/place.h"
#include "inatfs/trust.h"

int cli_built_now;

int cli_exit_code(const ifs_err *err, int for_index)
{
	switch (err->code) {
	case ENOSPC: case EDQUOT: case EROFS: case EACCES: case EPERM:
		return for_index ? EXIT_INDEX : EXIT_INPUT;
	default:
		return strncmp(err->msg, "index:", 6) == 0 ? EXIT_INDEX : EXIT_INPUT;
	}
}

int cli_check_data_dir(const char *data_dir)
{
	if (ifs_place_is_url(data_dir))
		return cli_check_remote(data_dir);
	struct stat st;
	if (stat(data_dir, &st) < 0) {
		cli_error("%s: %s", data_dir, strerror(errno));
		return EXIT_INPUT;
	}
	if (!S_ISDIR(st.st_mode)) {
		cli_error("%s: not a folder (DATA_DIR is the folder holding the downloads)", data_dir);
		return EXIT_INPUT;
	}
	if (access(data_dir, R_OK | X_OK) < 0) {
		cli_error("%s: cannot read this folder: %s", data_dir, strerror(errno));
		return EXIT_INPUT;
	}
	static const char *const need[] = { "train_val_images.tar.gz", "train_val2017.zip" };
	for (size_t i = 0; i < 2; i++) {
		char p[PATH_MAX];
		struct stat lst;
		snprintf(p, sizeof p, "%s/%s", data_dir, need[i]);
		if (lstat(p, &lst) < 0 || (!S_ISLNK(lst.st_mode) && access(p, R_OK) < 0)) {
			cli_error("%s: %s (the train/val tarball and train_val2017.zip are the minimum "
				  "inatfs needs)", p, errno == ENOENT ? "missing" : strerror(errno));
			return EXIT_INPUT;
		}
	}
	/* every download there is opened as trusted input (trust.h): a link or a
	 * planted file is one message now, not a failure later */
	for (const char *const *f = ifs_source_files; *f; f++) {
		char p[PATH_MAX];
		struct stat lst;
		snprintf(p, sizeof p, "%s/%s", data_dir, *f);
		if (lstat(p, &lst) < 0)
			continue;
		ifs_err err;
		ifs_err_clear(&err);
		int fd = ifs_trust_open(p, 0, &err);
		if (fd < 0) {
			cli_error("%s", err.msg);
			return EXIT_INPUT;
		}
		close(fd);
	}
	return 0;
}

/* Build failures: a full disk is the index's; EACCES/EROFS only when about
 * the index (an unreadable zip or tarball is bad input). */
int cli_build_exit_code(int r, const ifs_err *err)
{
	int code = cli_exit_code(err, 0);
	if (r == -ENOSPC || r == -EDQUOT || strncmp(err->msg, "index:", 6) == 0)
		code = EXIT_INDEX;
	return code;
}

/*
 * Locates the index and checks it. Returns 0 with *path set when it is
 * usable; -1 with *path set when it must be built (the reason printed, and
 * the memory the build needs); else an exit code.
 */
static int locate_and_check(const char *data_dir, const char *explicit_index, int force,
			    char **path)
{
	ifs_err err;
	ifs_err_clear(&err);
	*path = NULL;
	char *fetched;
	int code = cli_index_url(data_dir, &explicit_index, &fetched);
	if (code)
		return code;
	code = ifs_index_locate(data_dir, explicit_index, path, &err);
	free(fetched);
	if (code < 0) {
		cli_error("%s", err.msg);
		return cli_exit_code(&err, 1);
	}
	int r = force ? -ESTALE : ifs_index_check(*path, data_dir, &err);
	if (r == 0)
		return 0;
	if (r == -ESTALE || r == -ENOENT) {
		/* one build among those wanting it at once: after waiting for
		 * another builder, its index is used if it serves */
		int waited = cli_build_lock(*path) == 2;
		if (waited || !force) {
			/* another may have finished between the check and the lock */
			ifs_err_clear(&err);
			r = force ? -ESTALE : ifs_index_check(*path, data_dir, &err);
			if (r == 0) {
				cli_build_unlock();
				fprintf(stderr, "inatfs: using the index %s that another process "
					"built\n", *path);
				return 0;
			}
		}
	}
	if (r == -ESTALE && !force)
		fprintf(stderr, "inatfs: rebuilding the index %s: %s\n", *path, err.msg);
	else if (r == -ENOENT)
		fprintf(stderr, "inatfs: building the index %s (first use; later mounts reuse it)\n",
			*path);
	else if (r != -ESTALE) {
		cli_build_unlock();
		cli_error("%s: %s", *path, err.msg);
		free(*path);
		*path = NULL;
		return EXIT_INDEX;
	}
	/* The build's peak memory grows with the largest zip: the annotations
	 * in memory, the member path map and SQLite's cache (the estimate's
	 * factor is checked by the scale benchmark). */
	uint64_t biggest = 0;
	for (const char *const *f = ifs_source_files; *f; f++) {
		char p[PATH_MAX];
		struct stat st;
		snprintf(p, sizeof p, "%s/%s", data_dir, *f);
		if (!strstr(*f, ".zip"))
			continue;
		if (ifs_place_is_url(p)) {
			ifs_source *s;
			ifs_err_clear(&err);
			if (ifs_place_exists(p, &err) == 1 && ifs_place_open(p, &s, &err) == 0) {
				if (ifs_source_size(s) > biggest)
					biggest = ifs_source_size(s);
				ifs_source_close(s);
			}
		} else if (stat(p, &st) == 0 && (uint64_t)st.st_size > biggest) {
			biggest = (uint64_t)st.st_size;
		}
	}
	/* a URL's scan holds its read-ahead's segments besides (up to
	 * IFS_READAHEAD_MAX); a remote build of the bench fixture peaks at
	 * about twice that above a local one */
	uint64_t ahead = ifs_place_is_url(data_dir) ? 2 * (IFS_READAHEAD_MAX >> 20) : 0;
	fprintf(stderr, "inatfs: the build needs about %llu MB of memory; serving needs far "
		"less\n", (unsigned long long)((biggest * 20 >> 20) + 64 + ahead));
	return -1;
}

int cli_report_damage(const char *index_path, const char *data_dir, FILE *out, int log)
{
	ifs_index_file *f = NULL;
	int n = 0;
	if (ifs_index_file_open(index_path, &f, NULL) == 0) {
		for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
			ifs_damage d;
			if (ifs_index_file_damage(f, a, &d) <= 0)
				continue;
			char line[5120];
			ifs_damage_describe(&d, data_dir, line, sizeof line);
			if (out)
				fprintf(out, "inatfs: %s\n", line);
			if (log)
				syslog(LOG_ERR, "inatfs: %s", line);
			n++;
		}
	}
	ifs_index_file_close(f);
	return n;
}

int cli_scan_threads(const char *v, int *threads)
{
	char *end;
	long n = strtol(v, &end, 10);
	if (end == v || *end || n < 0 || n > IFS_GZ_THREADS_MAX) {
		cli_error("-o scan_threads=%s: expected 1 to %d decoding threads, or 0 for the serial "
			  "scan", v, IFS_GZ_THREADS_MAX);
		return EXIT_USAGE;
	}
	*threads = n == 0 ? IFS_GZ_SERIAL : (int)n;
	return 0;
}

int cli_ensure_index(const char *data_dir, const char *explicit_index, int force,
		     int scan_threads, char **path)
{
	int r = locate_and_check(data_dir, explicit_index, force, path);
	if (r >= 0)
		return r;
	ifs_err err;
	ifs_err_clear(&err);
	/* --force: a fresh build, even where an interrupted one could go on */
	ifs_build_opts o = { .progress = cli_progress, .report = stderr, .fresh = force,
			     .scan_threads = scan_threads };
	r = ifs_index_build(data_dir, *path, &o, &err);
	cli_build_unlock();
	cli_built_now = r == 0;
	cli_progress_done();
	if (r < 0) {
		cli_error("%s", err.msg);
		free(*path);
		*path = NULL;
		return cli_build_exit_code(r, &err);
	}
	return 0;
}

int cli_begin_index(const char *data_dir, const char *explicit_index, const ifs_build_opts *o,
		    char **path, ifs_build **build)
{
	*build = NULL;
	int r = locate_and_check(data_dir, explicit_index, 0, path);
	if (r >= 0)
		return r;
	ifs_err err;
	ifs_err_clear(&err);
	r = ifs_build_begin(data_dir, *path, o, build, &err);
	cli_progress_done();
	if (r == 0)
		cli_build_lock_note(ifs_build_temp_path(*build));
	if (r < 0) {
		cli_build_unlock();
		cli_error("%s", err.msg);
		free(*path);
		*path = NULL;
		return cli_build_exit_code(r, &err);
	}
	return 0;
}

/* Parses "DATA_DIR [--index PATH] [--force] [-o scan_threads=N] [source options]". */
static int parse(int argc, char **argv, const char **data_dir, const char **index, int *force,
		 int *threads)
{
	*data_dir = NULL;
	*index = NULL;
	for (int i = 1; i < argc; i++) {
		int r = cli_source_long(argc, argv, &i);
		if (r >= 0) {
			if (r)
				return r;
		} else if (!strcmp(argv[i], "--index") && i + 1 < argc) {
			*index = argv[++i];
		} else if (!strncmp(argv[i], "--index=", 8)) {
			*index = argv[i] + 8;
		} else if (force && !strcmp(argv[i], "--force")) {
			*force = 1;
		} else if (threads && (!strcmp(argv[i], "-o") || !strncmp(argv[i], "-o", 2))) {
			const char *o = argv[i][2] ? argv[i] + 2 : i + 1 < argc ? argv[++i] : "";
			if (cli_is_source_opt(o)) {
				if ((r = cli_source_opt(o)))
					return r;
				continue;
			}
			if (strncmp(o, "scan_threads=", 13) != 0) {
				cli_error("%s: unknown option -o %s (scan_threads=N or a source option)",
					  argv[0], o);
				return EXIT_USAGE;
			}
			if ((r = cli_scan_threads(o + 13, threads)))
				return r;
		} else if (argv[i][0] == '-') {
			cli_error("%s: unknown option %s", argv[0], argv[i]);
			return EXIT_USAGE;
		} else if (!*data_dir) {
			*data_dir = argv[i];
		} else {
			cli_error("%s: unexpected argument %s", argv[0], argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!*data_dir) {
		cli_error("usage: inatfs %s DATA_DIR|URL [--index PATH]%s", argv[0],
			  force ? " [--force] [-o scan_threads=N]" : "");
		return EXIT_USAGE;
	}
	return cli_data_arg(data_dir);
}

int cli_data_arg(const char **data)
{
	if (!ifs_place_is_url(*data))
		return 0;
	char *n;
	ifs_err err;
	ifs_err_clear(&err);
	if (ifs_place_normalize(*data, &n, &err) < 0) {
		cli_error("%s", err.msg);
		return EXIT_INPUT;
	}
	static char *held;   /* for the process */
	free(held);
	held = n;
	*data = n;
	return cli_source_setup(n);
}

int cmd_index(int argc, char **argv)
{
	const char *data_dir, *index;
	int force = 0, threads = 0, r = parse(argc, argv, &data_dir, &index, &force, &threads);
	if (r || (r = cli_check_data_dir(data_dir)))
		return r;
	char *path;
	if ((r = cli_ensure_index(data_dir, index, force, threads, &path)))
		return r;
	printf("%s\n", path);
	/* a damaged download: the index serves what lies before the damage, and
	 * the download is bad input all the same (a new build printed it) */
	int damaged = cli_report_damage(path, data_dir, NULL, 0);
	if (damaged && !cli_built_now)
		cli_report_damage(path, data_dir, stderr, 0);
	free(path);
	return damaged ? EXIT_INPUT : 0;
}

/* One row of an index's facts: label, then the columns (each with its own
 * prefix, "-" for none), escaped (an index is input too). */
struct facts {
	const char *label;
	const char *const *prefix;   /* per column; NULL: none */
};

static int print_facts(void *ctx, int ncol, const char *const *col)
{
	const struct facts *f = ctx;
	printf("%s", f->label);
	for (int c = 0; c < ncol; c++) {
		char safe[1024];
		ifs_text_escape(col[c] ? col[c] : "-", safe, sizeof safe);
		printf("%s%s%s", c ? "  " : "", col[c] && f->prefix ? f->prefix[c] : "", safe);
	}
	printf("\n");
	return 0;
}

/* meta rows: "key: value" (a value of none: "-") */
static int print_meta(void *ctx, int ncol, const char *const *col)
{
	(void)ctx;
	char line[2048], safe[1024];
	if (ncol < 2 || !col[0] || !col[1])
		snprintf(line, sizeof line, "-");
	else
		snprintf(line, sizeof line, "%s: %s", col[0], col[1]);
	ifs_text_escape(line, safe, sizeof safe);
	printf("%s\n", safe);
	return 0;
}

/*
 * A build scanning right now (PATH.tmp-<pid> of a live process), or one that
 * was interrupted (of a process that is gone: the next build goes on with
 * it): prints its progress. Returns 1 if there was one.
 */
static int print_build_in_progress(const char *path)
{
	char dir[PATH_MAX], prefix[PATH_MAX + 8];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	snprintf(prefix, sizeof prefix, "%s.tmp-", slash ? slash + 1 : dir);
	if (slash)
		*slash = '\0';
	DIR *d = opendir(slash ? (dir[0] ? dir : "/") : ".");
	if (!d)
		return 0;
	struct dirent *de;
	int found = 0;
	size_t pl = strlen(prefix);
	while (!found && (de = readdir(d))) {
		char *end;
		if (strncmp(de->d_name, prefix, pl) != 0)
			continue;
		long pid = strtol(de->d_name + pl, &end, 10);
		if (*end || pid <= 0)
			continue;
		int alive = !(kill((pid_t)pid, 0) < 0 && errno == ESRCH);
		char full[PATH_MAX * 2];
		snprintf(full, sizeof full, "%s/%s", slash ? (dir[0] ? dir : "") : ".", de->d_name);
		char file[256];
		uint64_t done, total;
		/* an interrupted build may have left the commit it was in: reading it
		 * read-write rolls that back, as the next build would */
		if (ifs_build_read_progress(full, alive, file, sizeof file, &done, &total) == 0) {
			if (alive)
				printf("build in progress: process %ld, %s\n", pid, full);
			else
				printf("interrupted build: %s (the next mount or inatfs index goes on "
				       "with it if the downloads are unchanged)\n", full);
			if (file[0])
				printf("scan: %s %.1f of %.1f MB (%.0f%%)\n", file, (double)done / 1e6,
				       (double)total / 1e6, total ? 100.0 * (double)done / (double)total
								  : 0.0);
			else
				printf("scan: starting\n");
			found = 1;
		}
	}
	closedir(d);
	return found;
}

int cmd_info(int argc, char **argv)
{
	const char *data_dir, *index;
	int r = parse(argc, argv, &data_dir, &index, NULL, NULL);
	if (r || (r = cli_check_data_dir(data_dir)))
		return r;
	ifs_err err;
	ifs_err_clear(&err);
	char *path, *fetched;
	if ((r = cli_index_url(data_dir, &index, &fetched)))
		return r;
	r = ifs_index_locate(data_dir, index, &path, &err);
	free(fetched);
	if (r < 0) {
		cli_error("%s", err.msg);
		return EXIT_INDEX;
	}
	printf("%s: %s\nindex: %s\n", ifs_place_is_url(data_dir) ? "source" : "data_dir", data_dir,
	       path);
	r = ifs_index_check(path, data_dir, &err);
	printf("index state: %s\n", r == 0 ? "up to date" : r == -ENOENT ? "not built yet"
	       : r == -ESTALE ? "stale, rebuilt on next mount" : "unreadable");
	if (r && r != -ENOENT && err.msg[0])
		printf("why: %s\n", err.msg);
	cli_print_source_stats(stdout, data_dir);
	cli_print_daemons(stdout, data_dir, path);
	if (r)
		print_build_in_progress(path);
	if (r == -ENOENT || (r && r != -ESTALE)) {
		free(path);
		return r == -ENOENT ? 0 : EXIT_INDEX;
	}
	ifs_index_file *f;
	ifs_err_clear(&err);   /* it may hold why the index is stale */
	if (ifs_index_file_open(path, &f, &err) < 0) {
		cli_error("%s", err.msg);
		free(path);
		return EXIT_INDEX;
	}
	struct stat st;
	if (stat(path, &st) == 0)
		printf("index size: %lld bytes\n", (long long)st.st_size);
	static const char *const archive_cols[] = { "", "compressed ", "uncompressed ", "members ",
						    "checkpoints ", "window bytes " };
	struct facts archives = { "archive: ", archive_cols }, sources = { "source: ", NULL };
	/* what cannot be read is left out, as before the damage lines */
	ifs_index_file_rows(f, IFS_INFO_META, print_meta, NULL, NULL);
	ifs_index_file_rows(f, IFS_INFO_ARCHIVES, print_facts, &archives, NULL);
	ifs_index_file_rows(f, IFS_INFO_SOURCES, print_facts, &sources, NULL);
	for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
		ifs_damage d;
		if (ifs_index_file_damage(f, a, &d) <= 0)
			continue;
		char line[5120];
		ifs_damage_describe(&d, data_dir, line, sizeof line);
		printf("damage: %s\n", line);
		printf("damage: %s: the members that end before byte %llu of its tar data decoded "
		       "without error and are served, but no gzip checksum vouches for them\n",
		       ifs_archive_file(a), (unsigned long long)d.good_out);
	}
	ifs_index_file_close(f);
	free(path);
	return 0;
}

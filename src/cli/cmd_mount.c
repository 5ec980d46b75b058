/*
 * cmd_mount.c - `inatfs DATA_DIR MOUNTPOINT [FUSE options]`.
 *
 * Everything that can be checked quickly is checked before the mount: a bad
 * DATA_DIR, an annotation file, the start of each tarball, an unusable mount
 * point give one message and a non-zero exit, and nothing is mounted.
 *
 * With no usable index, the annotations are loaded (seconds), the tree is
 * mounted at once, and the tarballs are scanned on a thread of the daemon
 * while it serves (index.h, "live"). If the scan fails (damage deep inside
 * a tarball), the daemon logs why, unmounts and exits with the code the
 * build would have given; the half-built index is removed.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "../fuse/fs.h"
#include "cli.h"
#include "inatfs/place.h"
#include "inatfs/trust.h"

struct mount_opts {
	char *index;
	char *scan_limit;   /* MB/s */
	char *scan_threads;
	int nosidecar;
	int readdirplus, noreaddirplus;
	int follow_links;   /* symbolic links in place of the downloads (trust.h) */
	int max_threads_given;   /* -o max_threads=N: the user's, not ours */
	int bad_source_opt;      /* an exit code: a source option was refused */
	char *data_dir;
	char *mountpoint;   /* the second non-option, kept in args for fuse_parse_cmdline */
};

#define OPT(t, p) { t, offsetof(struct mount_opts, p), 1 }
enum { KEY_MAX_THREADS = 1, KEY_SOURCE };
static const struct fuse_opt opt_spec[] = {
	FUSE_OPT_KEY("max_threads=", KEY_MAX_THREADS),
	/* where the bytes come from (source.h) */
	FUSE_OPT_KEY("region=", KEY_SOURCE),
	FUSE_OPT_KEY("endpoint=", KEY_SOURCE),
	FUSE_OPT_KEY("cacert=", KEY_SOURCE),
	FUSE_OPT_KEY("timeout=", KEY_SOURCE),
	FUSE_OPT_KEY("max_conns=", KEY_SOURCE),
	FUSE_OPT_KEY("cache=", KEY_SOURCE),
	FUSE_OPT_KEY("cache_size=", KEY_SOURCE),
	FUSE_OPT_KEY("no_sign_request", KEY_SOURCE),
	FUSE_OPT_KEY("requester_pays", KEY_SOURCE),
	FUSE_OPT_KEY("nocache", KEY_SOURCE),
	{ "index=%s", offsetof(struct mount_opts, index), 0 },
	{ "scan_limit=%s", offsetof(struct mount_opts, scan_limit), 0 },
	{ "scan_threads=%s", offsetof(struct mount_opts, scan_threads), 0 },
	OPT("nosidecar", nosidecar),
	OPT("readdirplus", readdirplus),
	OPT("noreaddirplus", noreaddirplus),
	OPT("follow_links", follow_links),
	FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)outargs;
	struct mount_opts *o = data;
	if (key == KEY_MAX_THREADS) {
		o->max_threads_given = 1;
		return 1;   /* kept for fuse_parse_cmdline */
	}
	if (key == KEY_SOURCE) {
		int r = cli_source_opt(arg);
		if (r && !o->bad_source_opt)
			o->bad_source_opt = r;
		return 0;
	}
	if (key == FUSE_OPT_KEY_NONOPT && !o->data_dir) {
		o->data_dir = strdup(arg);
		return 0;
	}
	if (key == FUSE_OPT_KEY_NONOPT && !o->mountpoint)
		o->mountpoint = strdup(arg);
	return 1;
}

static int check_mountpoint(const char *mp)
{
	struct stat st, parent;
	if (stat(mp, &st) < 0) {
		cli_error("%s: %s (create the mount point first)", mp, strerror(errno));
		return EXIT_MOUNT;
	}
	if (!S_ISDIR(st.st_mode)) {
		cli_error("%s: the mount point is not a folder", mp);
		return EXIT_MOUNT;
	}
	char up[PATH_MAX];
	snprintf(up, sizeof up, "%s/..", mp);
	if (stat(up, &parent) == 0 && (parent.st_dev != st.st_dev || parent.st_ino == st.st_ino)) {
		cli_error("%s: something is already mounted there (fusermount3 -u %s)", mp, mp);
		return EXIT_MOUNT;
	}
	DIR *d = opendir(mp);
	if (!d) {
		cli_error("%s: %s", mp, strerror(errno));
		return EXIT_MOUNT;
	}
	struct dirent *de;
	int empty = 1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = 0;
	closedir(d);
	if (!empty) {
		cli_error("%s: the mount point is not empty", mp);
		return EXIT_MOUNT;
	}
	return 0;
}

/* 1 if mp (an absolute path) is still a FUSE mount point in this process's
 * mount table (/proc/self/mountinfo: the fifth field, octal escapes for
 * space, tab, newline and backslash; the type after " - "). */
static int fuse_mounted_at(const char *mp)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return 0;   /* unknown: taken as gone (an unmount usually ends the loop) */
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	while (!found && getline(&line, &cap, f) > 0) {
		char *p = line;
		for (int i = 0; i < 4 && p; i++)
			if ((p = strchr(p, ' ')))
				p++;
		const char *sep = p ? strstr(p, " - ") : NULL;
		if (!sep || strncmp(sep + 3, "fuse", 4) != 0)
			continue;
		const char *m = mp;
		while (*p && *p != ' ' && *m) {
			int c = (unsigned char)*p;
			if (c == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
			    p[3] >= '0' && p[3] <= '7') {
				c = (p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0');
				p += 3;
			}
			if (c != (unsigned char)*m)
				break;
			p++;
			m++;
		}
		found = !*m && (*p == ' ' || !*p);
	}
	free(line);
	fclose(f);
	return found;
}

/*
 * Threads serving requests, unless -o max_threads says: two per CPU, at
 * least 4. More idle threads cost time: the kernel hands each request to
 * the thread that has waited longest, whose CPU and caches are the coldest.
 */
static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 2)
		n = 2;
	if (n > 512)
		n = 512;
	return (unsigned)(2 * n);
}

/* The scan of a first mount, on its own thread while the daemon serves. */
struct scan_job {
	ifs_build *build;
	ifs_index *idx;   /* the live index, for the log */
	ifs_err err;
	int r;
};

static void *scan_main(void *p)
{
	struct scan_job *j = p;
	/* signals are the main thread's (it runs the FUSE loop) */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	j->r = ifs_build_scan(j->build, &j->err);
	/* renamed into place (or failed): those waiting may go on */
	cli_build_unlock();
	cli_progress_done();
	if (j->r == 0 && ifs_build_damaged(j->build) && j->idx) {
		/* the build printed it to stderr; the log gets it too, and the mount
		 * stays up, serving what lies before the damage */
		for (int a = 1; a <= IFS_ARCHIVE_MAX; a++) {
			ifs_damage d;
			char line[5120];
			if (ifs_index_damage(j->idx, a, &d) > 0) {
				ifs_damage_describe(&d, ifs_index_data_dir(j->idx), line, sizeof line);
				syslog(LOG_ERR, "inatfs: %s", line);
			}
		}
	}
	/* the scan's maps are freed: give their memory back (a daemon serving a
	 * complete index stays small) */
	malloc_trim(0);
	if (j->r && j->r != -ECANCELED) {
		/* stop serving: the main thread unmounts and reports */
		syslog(LOG_ERR, "inatfs: %s", j->err.msg);
		kill(getpid(), SIGTERM);
	}
	return NULL;
}

int cmd_mount(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct mount_opts o = { 0 };
	struct fuse_cmdline_opts co = { 0 };
	struct fuse_session *se = NULL;
	ifs_index *idx = NULL;
	ifs_views *views = NULL;
	ifs_reader *reader = NULL;
	char *index_path = NULL, *abs_index = NULL;
	ifs_build *build = NULL;
	ifs_build_opts bo = { .progress = cli_progress, .report = stderr };
	struct scan_job job;
	pthread_t scan_thread;
	int r = EXIT_USAGE, mounted = 0, scanning = 0;
	ifs_err err;
	ifs_err_clear(&err);

	if (fuse_opt_parse(&args, &o, opt_spec, opt_proc) < 0)
		goto out;
	if (o.bad_source_opt) {
		r = o.bad_source_opt;
		goto out;
	}
	ifs_trust_follow_links(o.follow_links);
	const char *data_arg = o.data_dir;
	if (data_arg && (r = cli_data_arg(&data_arg)))
		goto out;
	r = EXIT_USAGE;
	/* before fuse_parse_cmdline, which rejects a missing mount point as a usage error */
	if (data_arg && o.mountpoint &&
	    ((r = cli_check_data_dir(data_arg)) || (r = check_mountpoint(o.mountpoint))))
		goto out;
	r = EXIT_USAGE;
	if (fuse_parse_cmdline(&args, &co) != 0)
		goto out;
	if (co.show_help || co.show_version) {
		printf("usage: inatfs DATA_DIR MOUNTPOINT [options]; see inatfs --help\n");
		r = 0;
		goto out;
	}
	if (!o.data_dir || !co.mountpoint) {
		cli_error("usage: inatfs DATA_DIR MOUNTPOINT [-f] [-d] [-s] [-o OPTIONS] "
			  "(inatfs --help for more)");
		goto out;
	}
	if (o.scan_limit) {
		char *end;
		double mbs = strtod(o.scan_limit, &end);
		if (end == o.scan_limit || *end || !(mbs > 0) || mbs > 1e6) {
			cli_error("-o scan_limit=%s: expected a positive number of MB/s", o.scan_limit);
			r = EXIT_USAGE;
			goto out;
		}
		bo.scan_limit = mbs * 1e6;
	}
	if (o.scan_threads && (r = cli_scan_threads(o.scan_threads, &bo.scan_threads)))
		goto out;
	if (!o.mountpoint && ((r = cli_check_data_dir(data_arg)) ||
			      (r = check_mountpoint(co.mountpoint))))
		goto out;
	char data_dir[PATH_MAX];
	if (ifs_place_is_url(data_arg)) {
		snprintf(data_dir, sizeof data_dir, "%s", data_arg);
		if (!co.foreground)
			cli_source_log_to_syslog();
	} else if (!realpath(o.data_dir, data_dir)) {
		cli_error("%s: %s", o.data_dir, strerror(errno));
		r = EXIT_INPUT;
		goto out;
	}
	/* the daemon leaves the current folder: the index path must not depend on it */
	if (o.index && o.index[0] != '/' && !ifs_place_is_url(o.index)) {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd) || asprintf(&abs_index, "%s/%s", cwd, o.index) < 0) {
			abs_index = NULL;
			cli_error("%s: %s", o.index, strerror(errno));
			r = EXIT_INDEX;
			goto out;
		}
	}
	if ((r = cli_begin_index(data_dir, abs_index ? abs_index : o.index, &bo, &index_path,
				 &build)))
		goto out;
	if (build)
		malloc_trim(0);   /* the annotations' records are freed: most of the build's peak */
	if ((build ? ifs_index_open_live(ifs_build_temp_path(build), data_dir, &idx, &err)
		   : ifs_index_open(index_path, data_dir, &idx, &err)) < 0) {
		cli_error("%s", err.msg);
		r = EXIT_INDEX;
		goto out;
	}
	bo.live = idx;
	/* an index that records damage says so at every mount (the mount serves
	 * what lies before it) */
	if (!build)
		cli_report_damage(index_path, data_dir, stderr, !co.foreground);
	if (o.readdirplus && o.noreaddirplus) {
		cli_error("-o readdirplus and -o noreaddirplus: choose one");
		r = EXIT_USAGE;
		goto out;
	}
	/* listings always with attributes: read them with the listing */
	ifs_views_opts vo = { .sidecars = !o.nosidecar, .listing_attrs = o.readdirplus };
	if (ifs_views_new(idx, &vo, &views, &err) < 0) {
		cli_error("%s", err.msg);
		r = EXIT_INDEX;
		goto out;
	}
	/* read-only, permissions checked by the kernel, named after the data;
	 * the folder's name is escaped whole (libfuse reads "\," as a comma
	 * and "\\" as a backslash): a name holding ",allow_other" must not
	 * add a mount option when someone else mounts it */
	char fsname[2 * PATH_MAX + 128];
	size_t fl = (size_t)snprintf(fsname, sizeof fsname, "-ofsname=inatfs:");
	for (const char *c = data_dir; *c && fl + 2 < sizeof fsname; c++) {
		if (*c == ',' || *c == '\\')
			fsname[fl++] = '\\';
		fsname[fl++] = *c;
	}
	snprintf(fsname + fl, sizeof fsname - fl, ",subtype=inatfs,ro,default_permissions");
	if (fuse_opt_add_arg(&args, fsname) < 0) {
		r = EXIT_MOUNT;
		goto out;
	}
	/* one thread (-s) waits for the scan alone */
	ifs_reader_opts ro = { .wait_max = 1 };
	if (ifs_reader_new(idx, views, &ro, &reader, &err) < 0) {
		cli_error("%s", err.msg);
		r = EXIT_MOUNT;
		goto out;
	}
	ifs_fs fs = { .idx = idx, .views = views, .rd = reader, .debug = co.debug,
		      .max_background = ifs_place_is_url(data_dir) ? 2 * IFS_SOURCE_MAX_CONNS : 0,
		      .readdirplus = o.readdirplus ? 1 : o.noreaddirplus ? -1 : 0,
		      .listing_attrs = o.readdirplus, .push_lock = PTHREAD_MUTEX_INITIALIZER,
		      .open_lock = PTHREAD_MUTEX_INITIALIZER };
	se = fuse_session_new(&args, ifs_fuse_ops(), sizeof *ifs_fuse_ops(), &fs);
	if (!se) {
		r = EXIT_MOUNT;
		goto out;
	}
	fs.se = se;
	if (fuse_session_mount(se, co.mountpoint) != 0) {
		cli_error("%s: mount failed (is /dev/fuse available and fusermount3 installed?)",
			  co.mountpoint);
		r = EXIT_MOUNT;
		goto out;
	}
	mounted = 1;
	if (fuse_daemonize(co.foreground) != 0) {
		r = EXIT_MOUNT;
		goto out;
	}
	cli_build_lock_after_fork();
	if (fuse_set_signal_handlers(se) != 0) {
		r = EXIT_MOUNT;
		goto out;
	}
	if (co.foreground)
		fprintf(stderr, "inatfs: mounted %s at %s (Ctrl-C or fusermount3 -u %s to unmount)\n",
			data_dir, co.mountpoint, co.mountpoint);
	/* in the process that serves (after the fork): inatfs info SOURCE reads it */
	cli_daemon_publish(data_dir, co.mountpoint, index_path, !co.foreground);
	if (build) {
		/* after fuse_daemonize: threads do not survive its fork */
		memset(&job, 0, sizeof job);
		job.build = build;
		job.idx = idx;
		if (pthread_create(&scan_thread, NULL, scan_main, &job) != 0) {
			cli_error("cannot start the scan thread");
			r = EXIT_INDEX;
			goto out;
		}
		scanning = 1;
		if (co.foreground)
			fprintf(stderr, "inatfs: the folders are usable now; the tarballs are being "
				"scanned (reading an image waits until the scan reaches it)\n");
	}
	int lr;
	if (co.singlethread) {
		lr = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(lc, co.clone_fd);
		if (co.max_idle_threads <= 100000)   /* UINT_MAX means "not given" */
			fuse_loop_cfg_set_idle_threads(lc, co.max_idle_threads);
		unsigned maxt = o.max_threads_given && co.max_threads > 0 && co.max_threads <= 100000
				? co.max_threads : default_threads();
		/* while the scan runs, requests for images not reached yet hold a
		 * thread (up to wait_max of them) */
		if (build && maxt < 32)
			maxt = 32;
		/* a read of a URL waits on the network, not on a CPU: enough
		 * threads for the connection pool's requests to be in flight */
		if (ifs_place_is_url(data_dir) && !o.max_threads_given &&
		    maxt < 2 * IFS_SOURCE_MAX_CONNS)
			maxt = 2 * IFS_SOURCE_MAX_CONNS;
		fuse_loop_cfg_set_max_threads(lc, maxt);
		/* pushes into the page cache may wait for reads other threads
		 * answer: never more of them than half the threads (fs.h) */
		fs.push_slots = maxt / 2 < IFS_PUSH_MAX ? maxt / 2 : IFS_PUSH_MAX;
		/* requests that wait (for the scan) leave a quarter of the threads,
		 * and at least two, to everyone else */
		unsigned keep = maxt / 4 > 2 ? maxt / 4 : 2;
		ifs_reader_set_wait_max(reader, maxt > keep ? maxt - keep : 1);
		lr = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	cli_daemon_unpublish();
	ifs_fuse_release_all(&fs);
	fuse_remove_signal_handlers(se);
	/* the loop returns the signal that ended it (libfuse's handlers): an
	 * unmount by SIGINT, SIGTERM or SIGHUP is a clean end. So is an unmount
	 * that catches a thread taking a request (a file's release, sent after
	 * its close): the kernel ends the connection as the last reference goes,
	 * and that thread's read fails with ECONNABORTED (libfuse prints it).
	 * A connection aborted (/sys/fs/fuse/connections/N/abort) ends the loop
	 * the same ways but leaves the mount point in the table, dead, and
	 * libfuse leaves it so (it cannot know the mount there is still its
	 * own): an error, said. */
	int aborted = (lr == 0 || lr == -ECONNABORTED) && fuse_mounted_at(co.mountpoint);
	if (lr == -ECONNABORTED && !aborted)
		lr = 0;
	r = !aborted && (lr == 0 || lr == SIGINT || lr == SIGTERM || lr == SIGHUP) ? 0 : EXIT_MOUNT;
	if (aborted)
		cli_error("%s: the FUSE connection was aborted; the mount point is left dead "
			  "until fusermount3 -u %s", co.mountpoint, co.mountpoint);
	else if (r)
		cli_error("%s: the FUSE session ended with an error (%s)", co.mountpoint,
			  lr < 0 ? strerror(-lr) : strsignal(lr));
	if (scanning) {
		ifs_build_cancel(build);
		pthread_join(scan_thread, NULL);
		scanning = 0;
		if (job.r == -ECANCELED) {
			fprintf(stderr, "inatfs: unmounted before the scan ended: the next mount (or "
				"inatfs index) goes on from where it stopped\n");
		} else if (job.r) {
			cli_error("%s", job.err.msg);
			r = cli_build_exit_code(job.r, &job.err);
		}
	}
out:
	cli_daemon_unpublish();
	if (scanning) {
		ifs_build_cancel(build);
		pthread_join(scan_thread, NULL);
	}
	cli_build_unlock();   /* a build that never ran */
	if (mounted)
		fuse_session_unmount(se);
	if (se)
		fuse_session_destroy(se);
	ifs_reader_free(reader);
	ifs_views_free(views);
	ifs_index_close(idx);
	ifs_build_free(build);
	free(index_path);
	free(abs_index);
	free(co.mountpoint);
	free(o.data_dir);
	free(o.mountpoint);
	free(o.index);
	free(o.scan_limit);
	free(o.scan_threads);
	fuse_opt_free_args(&args);
	return r;
}

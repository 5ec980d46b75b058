/*
 * cmd_mount.c - `inatfs DATA_DIR MOUNTPOINT [FUSE options]`.
 *
 * Everything is loaded and checked before the mount: a bad DATA_DIR, a bad
 * archive or annotation file, or an unusable mount point gives one message
 * and a non-zero exit, and nothing is mounted.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stddef.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../fuse/fs.h"
#include "cli.h"

struct mount_opts {
	char *index;
	int nosidecar;
	int readdirplus;
	char *data_dir;
	char *mountpoint;   /* the second non-option, kept in args for fuse_parse_cmdline */
};

#define OPT(t, p) { t, offsetof(struct mount_opts, p), 1 }
static const struct fuse_opt opt_spec[] = {
	{ "index=%s", offsetof(struct mount_opts, index), 0 },
	OPT("nosidecar", nosidecar),
	OPT("readdirplus", readdirplus),
	FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)outargs;
	struct mount_opts *o = data;
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

int cmd_mount(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct mount_opts o = { 0 };
	struct fuse_cmdline_opts co = { 0 };
	struct fuse_session *se = NULL;
	ifs_index *idx = NULL;
	ifs_views *views = NULL;
	ifs_strmap *bad = NULL;
	char *index_path = NULL;
	int r = EXIT_USAGE, mounted = 0;
	ifs_err err;
	ifs_err_clear(&err);

	if (fuse_opt_parse(&args, &o, opt_spec, opt_proc) < 0)
		goto out;
	/* before fuse_parse_cmdline, which rejects a missing mount point as a usage error */
	if (o.data_dir && o.mountpoint &&
	    ((r = cli_check_data_dir(o.data_dir)) || (r = check_mountpoint(o.mountpoint))))
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
	if ((r = cli_check_data_dir(o.data_dir)) || (r = check_mountpoint(co.mountpoint)))
		goto out;
	char data_dir[PATH_MAX];
	if (!realpath(o.data_dir, data_dir)) {
		cli_error("%s: %s", o.data_dir, strerror(errno));
		r = EXIT_INPUT;
		goto out;
	}
	if ((r = cli_ensure_index(data_dir, o.index, 0, &index_path)))
		goto out;
	if (ifs_index_open(index_path, data_dir, &idx, &err) < 0) {
		cli_error("%s", err.msg);
		r = EXIT_INDEX;
		goto out;
	}
	ifs_views_opts vo = { .sidecars = !o.nosidecar };
	if (ifs_views_new(idx, &vo, &views, &err) < 0) {
		cli_error("%s", err.msg);
		r = EXIT_INDEX;
		goto out;
	}
	/* read-only, permissions checked by the kernel, named after the data */
	char fsname[PATH_MAX + 128];
	snprintf(fsname, sizeof fsname, "-ofsname=inatfs:%s,subtype=inatfs,ro,default_permissions",
		 data_dir);
	/* commas in the name would split the option: FUSE has no escape for them */
	for (char *c = fsname + 18; *c; c++)
		if (*c == ',' && strncmp(c, ",subtype=", 9) == 0)
			break;
		else if (*c == ',')
			*c = '_';
	if (fuse_opt_add_arg(&args, fsname) < 0) {
		r = EXIT_MOUNT;
		goto out;
	}
	bad = ifs_strmap_new();
	if (!bad) {
		r = EXIT_MOUNT;
		goto out;
	}
	ifs_fs fs = { idx, views, co.debug, o.readdirplus, PTHREAD_MUTEX_INITIALIZER, bad };
	se = fuse_session_new(&args, ifs_fuse_ops(), sizeof *ifs_fuse_ops(), &fs);
	if (!se) {
		r = EXIT_MOUNT;
		goto out;
	}
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
	if (fuse_set_signal_handlers(se) != 0) {
		r = EXIT_MOUNT;
		goto out;
	}
	if (co.foreground)
		fprintf(stderr, "inatfs: mounted %s at %s (Ctrl-C or fusermount3 -u %s to unmount)\n",
			data_dir, co.mountpoint, co.mountpoint);
	int lr;
	if (co.singlethread) {
		lr = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(lc, co.clone_fd);
		if (co.max_idle_threads <= 100000)   /* UINT_MAX means "not given" */
			fuse_loop_cfg_set_idle_threads(lc, co.max_idle_threads);
		if (co.max_threads > 0 && co.max_threads <= 100000)
			fuse_loop_cfg_set_max_threads(lc, co.max_threads);
		lr = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	fuse_remove_signal_handlers(se);
	r = lr == 0 ? 0 : EXIT_MOUNT;
out:
	if (mounted)
		fuse_session_unmount(se);
	if (se)
		fuse_session_destroy(se);
	ifs_strmap_free(bad);
	ifs_views_free(views);
	ifs_index_close(idx);
	free(index_path);
	free(co.mountpoint);
	free(o.data_dir);
	free(o.mountpoint);
	free(o.index);
	fuse_opt_free_args(&args);
	return r;
}

/*
 * trust.c - opening the downloads and the index as trusted input (see
 * trust.h).
 */
#include "inatfs/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int follow;

void ifs_trust_follow_links(int yes)
{
	follow = yes;
}

int ifs_trust_links_followed(void)
{
	return follow;
}

/* Can a user other than this one (or root) write into st's folder? */
static int others_can_write(const struct stat *st)
{
	uid_t me = geteuid();
	if (st->st_uid != me && st->st_uid != 0)
		return 1;
	if (st->st_mode & S_IWOTH)
		return 1;
	return (st->st_mode & S_IWGRP) && st->st_gid != getegid();
}

int ifs_trust_check(int fd, const char *path, ifs_err *err)
{
	struct stat st, dst;
	if (fstat(fd, &st) < 0)
		return ifs_err_sys(err, errno, "%s", path);
	if (!S_ISREG(st.st_mode))
		return ifs_err_set(err, EINVAL, "%s: not a regular file", path);
	if (st.st_uid == geteuid() || st.st_uid == 0)
		return 0;
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	if (stat(dir, &dst) < 0)
		return ifs_err_sys(err, errno, "%s", dir);
	if (!others_can_write(&dst))
		return 0;
	return ifs_err_set(err, EACCES, "%s: owned by uid %u, in a folder other users can write "
			   "to (%s): inatfs does not trust it there (only files of yours or "
			   "root's; see README, Security)", path, (unsigned)st.st_uid, dir);
}

int ifs_trust_open(const char *path, int flags, ifs_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW) | flags);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP && !follow)
			return ifs_err_set(err, ELOOP, "%s: a symbolic link: inatfs does not follow "
					   "links to its input (-o follow_links allows them)", path);
		return ifs_err_sys(err, e, "%s", path);
	}
	int r = ifs_trust_check(fd, path, err);
	if (r) {
		close(fd);
		return r;
	}
	return fd;
}

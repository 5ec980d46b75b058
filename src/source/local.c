/*
 * local.c - a source that is a local file: pread on a descriptor held open.
 * Its identity is what a replaced or rewritten file changes: size, mtime
 * (to the nanosecond) and inode.
 */
#include "source_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct local_source {
	ifs_source base;
	int fd;
};

static ssize_t local_pread(ifs_source *s, void *buf, size_t len, uint64_t off, ifs_err *err)
{
	struct local_source *l = (struct local_source *)s;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(l->fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ifs_err_sys(err, errno, "%s: read of %zu bytes at %llu", s->name,
					   len - done, (unsigned long long)(off + done));
		}
		if (n == 0)
			break;   /* the file shrank: the caller sees a short read */
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void local_hint(ifs_source *s, uint64_t off, uint64_t len)
{
	struct local_source *l = (struct local_source *)s;
	/* advice only: its failure changes nothing */
	(void)posix_fadvise(l->fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
}

static void local_close(ifs_source *s)
{
	struct local_source *l = (struct local_source *)s;
	close(l->fd);
	ifs_source_fini(s);
	free(l);
}

static const struct ifs_source_ops local_ops = { local_pread, local_hint, local_close, NULL, NULL };

/* The source over fd (taken over), a regular file; path names it. */
static int from_fd(int fd, const char *path, ifs_source **out, ifs_err *err)
{
	struct stat st;
	int r = 0;
	char *id = NULL;
	struct local_source *l = NULL;
	if (fstat(fd, &st) < 0) {
		r = ifs_err_sys(err, errno, "%s: stat", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = ifs_err_set(err, S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
				"%s: not a regular file", path);
		goto fail;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		r = ifs_err_sys(err, errno, "%s: fcntl", path);
		goto fail;
	}
	if (asprintf(&id, "file:%lld:%lld.%09ld:%llu", (long long)st.st_size,
		     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		     (unsigned long long)st.st_ino) < 0) {
		id = NULL;
		r = ifs_err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	if (!(l = calloc(1, sizeof *l))) {
		r = ifs_err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = ifs_source_init(&l->base, &local_ops, (uint64_t)st.st_size, id, path, err)))
		goto fail;
	l->fd = fd;
	l->base.has_mtime = 1;
	l->base.mtime = st.st_mtim;
	free(id);
	*out = &l->base;
	return 0;
fail:
	free(l);
	free(id);
	close(fd);
	return r;
}

int ifs_source_open_file(const char *path, int nofollow, ifs_source **out, ifs_err *err)
{
	*out = NULL;
	/* O_NONBLOCK: a FIFO must not hang the open; it is refused below */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0) {
		if (errno == ELOOP && nofollow)
			return ifs_err_set(err, ELOOP, "%s: a symbolic link (refused)", path);
		return ifs_err_sys(err, errno, "%s", path);
	}
	return from_fd(fd, path, out, err);
}

int ifs_source_open_fd(int fd, const char *name, ifs_source **out, ifs_err *err)
{
	*out = NULL;
	return from_fd(fd, name, out, err);
}

/*
 * index_url.c - `-o index=URL` (and `--index URL`): an index built once and
 * published over HTTP(S) or S3. It is fetched once into the cache folder
 * (named from the URL, like the index of a URL prefix), checked against the
 * downloads' fingerprints like any index, and used only if it matches;
 * else the index is built under the default path and the message says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "inatfs/place.h"

/* Copies the object at url into path (through path.tmp-<pid>, fsynced,
 * renamed). 0 or an exit code (the message printed). */
static int fetch(const char *url, const char *path)
{
	ifs_err err;
	ifs_err_clear(&err);
	ifs_source *s = NULL;
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) >= (int)sizeof tmp) {
		cli_error("%s: path too long", path);
		return EXIT_INDEX;
	}
	if (ifs_place_open(url, &s, &err) < 0) {
		cli_error("%s", err.msg);
		return EXIT_INPUT;
	}
	uint64_t size = ifs_source_size(s);
	fprintf(stderr, "inatfs: fetching the index %s (%.1f MB) into %s\n", url,
		(double)size / 1e6, path);
	int code = 0;
	size_t bsz = 4 << 20;
	char *buf = malloc(bsz);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (!buf || fd < 0) {
		cli_error("%s: %s", tmp, buf ? strerror(errno) : "out of memory");
		code = EXIT_INDEX;
		goto out;
	}
	for (uint64_t off = 0; off < size;) {
		size_t want = size - off < bsz ? (size_t)(size - off) : bsz;
		ssize_t n = ifs_source_pread(s, buf, want, off, &err);
		if (n <= 0) {
			cli_error("%s", n < 0 ? err.msg : "the index ended early");
			code = EXIT_INPUT;
			goto out;
		}
		for (ssize_t w = 0; w < n;) {
			ssize_t k = write(fd, buf + w, (size_t)(n - w));
			if (k < 0) {
				cli_error("%s: %s", tmp, strerror(errno));
				code = EXIT_INDEX;
				goto out;
			}
			w += k;
		}
		off += (uint64_t)n;
		cli_progress_bytes("fetching the index", off, size);
	}
	cli_progress_done();
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		cli_error("%s: %s", tmp, strerror(errno));
		code = EXIT_INDEX;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		cli_error("rename %s -> %s: %s", tmp, path, strerror(errno));
		code = EXIT_INDEX;
	}
out:
	if (fd >= 0)
		close(fd);
	if (code)
		unlink(tmp);
	free(buf);
	ifs_source_close(s);
	return code;
}

int cli_index_url(const char *data_dir, const char **index, char **held)
{
	*held = NULL;
	if (!*index || !ifs_place_is_url(*index))
		return 0;
	ifs_err err;
	ifs_err_clear(&err);
	char *url = NULL, *local = NULL;
	int code = 0;
	/* the copy is named from the URL under the cache folder */
	if (ifs_place_normalize(*index, &url, &err) < 0 ||
	    ifs_index_locate(url, NULL, &local, &err) < 0) {
		cli_error("%s", err.msg);
		code = EXIT_INDEX;
		goto out;
	}
	/* fetched before and still matching: not fetched again */
	if (ifs_index_check(local, data_dir, &err) != 0) {
		ifs_err_clear(&err);
		if ((code = fetch(url, local)))
			goto out;
		int r = ifs_index_check(local, data_dir, &err);
		if (r != 0) {
			fprintf(stderr, "inatfs: the index %s does not serve %s (%s): not used; "
				"building one under the default path\n", url, data_dir,
				r == -ENOENT ? "missing" : err.msg);
			unlink(local);
			*index = NULL;
			goto out;
		}
	}
	*held = local;
	local = NULL;
	*index = *held;
out:
	free(url);
	free(local);
	return code;
}

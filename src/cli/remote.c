/*
 * remote.c - DATA_DIR as a URL prefix: the source options (-o region=...,
 * and their --long forms for index, info and verify), the default cache,
 * the checks made before anything is built or mounted, and this process's
 * counters.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"
#include "inatfs/place.h"

static ifs_source_opts sopts;
static int nocache, cache_given, to_syslog;
static char *held[3];   /* absolute forms of cacert and cache, the default cache */

static const char *const source_keys[] = {
	"region", "endpoint", "cacert", "timeout", "max_conns", "cache", "cache_size",
	"no_sign_request", "requester_pays", "nocache", NULL,
};

int cli_is_source_opt(const char *kv)
{
	size_t kl = strcspn(kv, "=");
	for (const char *const *k = source_keys; *k; k++)
		if (strlen(*k) == kl && strncmp(*k, kv, kl) == 0)
			return 1;
	return 0;
}

int cli_source_opt(const char *arg)
{
	/* ifs_source_opt keeps pointers to the values: a copy for the process */
	static char *kept[64];
	static unsigned nkept;
	if (nkept == sizeof kept / sizeof *kept) {
		cli_error("too many options");
		return EXIT_USAGE;
	}
	char *key = strdup(arg);
	if (!key) {
		cli_error("out of memory");
		return EXIT_INPUT;
	}
	kept[nkept++] = key;
	size_t kl = strcspn(key, "=");
	const char *val = key[kl] ? key + kl + 1 : NULL;
	key[kl] = '\0';
	ifs_err err;
	ifs_err_clear(&err);
	if (ifs_source_opt(&sopts, key, val, &err) < 0) {
		cli_error("-o %s", err.msg);
		return EXIT_USAGE;
	}
	if (strcmp(key, "nocache") == 0)
		nocache = 1;
	if (strcmp(key, "cache") == 0)
		cache_given = 1;
	return 0;
}

int cli_source_long(int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	if (strncmp(a, "--", 2) != 0)
		return -1;
	char kv[PATH_MAX + 64];
	size_t n = 0;
	for (const char *p = a + 2; *p && *p != '=' && n + 1 < sizeof kv; p++)
		kv[n++] = *p == '-' ? '_' : *p;
	kv[n] = '\0';
	if (!cli_is_source_opt(kv))
		return -1;
	const char *eq = strchr(a, '=');
	int flag = !strcmp(kv, "no_sign_request") || !strcmp(kv, "requester_pays") ||
		   !strcmp(kv, "nocache");
	if (!eq && !flag) {
		if (*i + 1 >= argc) {
			cli_error("%s needs a value", a);
			return EXIT_USAGE;
		}
		eq = argv[++*i] - 1;   /* the value is the next argument */
	}
	if (eq && snprintf(kv + n, sizeof kv - n, "=%s", eq + 1) >= (int)(sizeof kv - n)) {
		cli_error("%s: value too long", a);
		return EXIT_USAGE;
	}
	return cli_source_opt(kv);
}

/* A read that failed for good, from the reading thread. */
static void log_line(void *ctx, const char *line)
{
	(void)ctx;
	if (to_syslog)
		syslog(LOG_ERR, "%s", line);
	fprintf(stderr, "%s\n", line);
}

void cli_source_log_to_syslog(void) { to_syslog = 1; }

/* An absolute path (the daemon leaves the current folder). */
static int absolute(const char *p, int slot, const char **to)
{
	if (p[0] == '/')
		return 0;
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd) || asprintf(&held[slot], "%s/%s", cwd, p) < 0) {
		held[slot] = NULL;
		cli_error("%s: %s", p, strerror(errno));
		return EXIT_USAGE;
	}
	*to = held[slot];
	return 0;
}

int cli_source_setup(const char *data)
{
	if (!ifs_place_is_url(data))
		return 0;
	int r;
	if (sopts.cacert && (r = absolute(sopts.cacert, 0, &sopts.cacert)))
		return r;
	if (nocache) {
		sopts.cache_dir = NULL;
	} else if (cache_given && sopts.cache_dir) {
		if ((r = absolute(sopts.cache_dir, 1, &sopts.cache_dir)))
			return r;
	} else {
		ifs_err err;
		ifs_err_clear(&err);
		char *home;
		if (ifs_cache_home(&home, &err) == 0) {
			if (asprintf(&held[2], "%s/cache", home) < 0)
				held[2] = NULL;
			free(home);
			sopts.cache_dir = held[2];
		} else {
			fprintf(stderr, "inatfs: note: no cache of fetched bytes (%s; give one with "
				"-o cache=DIR)\n", err.msg);
		}
	}
	sopts.log = log_line;
	ifs_err err;
	ifs_err_clear(&err);
	if (ifs_place_configure(&sopts, &err) < 0) {
		cli_error("%s", err.msg);
		return EXIT_INPUT;
	}
	return 0;
}


struct probe {
	char url[PATH_MAX];
	int r;   /* ifs_place_exists's answer */
	ifs_err err;
	pthread_t th;
	int started;
};

static void *probe_one(void *arg)
{
	struct probe *p = arg;
	p->r = ifs_place_exists(p->url, &p->err);
	return NULL;
}

int cli_check_remote(const char *data)
{
	static const char *const need[] = { "train_val_images.tar.gz", "train_val2017.zip" };
	size_t n = 0;
	while (ifs_source_files[n])
		n++;
	struct probe *pr = calloc(n, sizeof *pr);
	if (!pr) {
		cli_error("out of memory");
		return EXIT_INPUT;
	}
	/* every download asked about at once: one round trip, not one each (the
	 * answers are remembered for the opens that follow) */
	for (size_t i = 0; i < n; i++) {
		snprintf(pr[i].url, sizeof pr[i].url, "%s/%s", data, ifs_source_files[i]);
		ifs_err_clear(&pr[i].err);
		pr[i].started = pthread_create(&pr[i].th, NULL, probe_one, &pr[i]) == 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (pr[i].started)
			pthread_join(pr[i].th, NULL);
		else
			probe_one(&pr[i]);
	}
	/* said in a fixed order: the two it needs first, then any refusal */
	int rc = 0;
	for (size_t k = 0; k < 2 && !rc; k++)
		for (size_t i = 0; i < n && !rc; i++) {
			if (strcmp(ifs_source_files[i], need[k]) != 0)
				continue;
			if (pr[i].r == 0) {
				cli_error("%s: missing (the train/val tarball and train_val2017.zip are "
					  "the minimum inatfs needs)", pr[i].url);
				rc = EXIT_INPUT;
			} else if (pr[i].r < 0) {
				cli_error("%s", pr[i].err.msg);
				rc = EXIT_INPUT;
			}
		}
	for (size_t i = 0; i < n && !rc; i++)
		if (pr[i].r < 0) {
			cli_error("%s", pr[i].err.msg);
			rc = EXIT_INPUT;
		}
	free(pr);
	return rc;
}

const char *cli_source_cache_dir(void) { return sopts.cache_dir; }

void cli_print_source_stats(FILE *out, const char *data)
{
	if (!ifs_place_is_url(data))
		return;
	ifs_source_stats st;
	ifs_place_stats(&st);
	/* what this command itself asked; a running mount's counters are its own
	 * (daemons.c) */
	fprintf(out, "this command: %llu requests (retries %llu), %llu bytes fetched\n",
		(unsigned long long)st.requests, (unsigned long long)st.retries,
		(unsigned long long)st.bytes_fetched);
	if (!sopts.cache_dir)
		fprintf(out, "cache: none\n");
	else if (!st.caches)
		fprintf(out, "cache: %s (in use by another inatfs process)\n", sopts.cache_dir);
	else
		fprintf(out, "cache: %s\ncache size: %llu bytes\n", sopts.cache_dir,
			(unsigned long long)st.cache_bytes);
}

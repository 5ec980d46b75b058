/*
 * creds.c - AWS credentials: the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else one profile ($AWS_PROFILE,
 * else "default") of the shared credentials file
 * ($AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials). The file is read
 * as INI text: [profile] sections, key = value lines, '#' and ';' comments.
 * No message ever holds a value from it, only the file, line and key.
 * Secrets are wiped from memory when freed.
 */
#include "source_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CREDS_FILE_MAX (1 << 20)

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void ifs_aws_creds_free(struct ifs_aws_creds *c)
{
	wipe_free(c->key_id);
	wipe_free(c->secret);
	wipe_free(c->token);
	c->key_id = c->secret = c->token = NULL;
}

static const char *trim(char *s, size_t *len)
{
	size_t l = *len;
	while (l && (*s == ' ' || *s == '\t'))
		s++, l--;
	while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
		l--;
	*len = l;
	return s;
}

int ifs_aws_creds_parse(const char *text, size_t len, const char *file, const char *profile,
			struct ifs_aws_creds *c, ifs_err *err)
{
	memset(c, 0, sizeof *c);
	char *t = malloc(len + 1);
	if (!t)
		return ifs_err_set(err, ENOMEM, "out of memory");
	memcpy(t, text, len);
	t[len] = '\0';
	int in = 0, seen = 0, r = 0;
	unsigned lineno = 0;
	for (char *p = t; p < t + len && !r;) {
		char *nl = memchr(p, '\n', (size_t)(t + len - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(t + len - p);
		char *next = p + ll + 1;
		lineno++;
		if (memchr(p, '\0', ll)) {
			r = ifs_err_set(err, EINVAL, "%s:%u: a NUL byte", file, lineno);
			break;
		}
		const char *s = trim(p, &ll);
		if (ll == 0 || *s == '#' || *s == ';') {
			p = next;
			continue;
		}
		if (*s == '[') {
			if (s[ll - 1] != ']') {
				r = ifs_err_set(err, EINVAL, "%s:%u: a section without ']'", file, lineno);
				break;
			}
			size_t nl2 = ll - 2;
			const char *name = trim((char *)s + 1, &nl2);
			in = nl2 == strlen(profile) && memcmp(name, profile, nl2) == 0;
			seen |= in;
			p = next;
			continue;
		}
		if (!in) {
			p = next;
			continue;
		}
		const char *eq = memchr(s, '=', ll);
		if (!eq) {
			r = ifs_err_set(err, EINVAL, "%s:%u: not a key = value line", file, lineno);
			break;
		}
		size_t kl = (size_t)(eq - s), vl = ll - kl - 1;
		const char *k = trim((char *)s, &kl), *v = trim((char *)eq + 1, &vl);
		char **slot = NULL;
		if (kl == 17 && memcmp(k, "aws_access_key_id", 17) == 0)
			slot = &c->key_id;
		else if (kl == 21 && memcmp(k, "aws_secret_access_key", 21) == 0)
			slot = &c->secret;
		else if (kl == 17 && memcmp(k, "aws_session_token", 17) == 0)
			slot = &c->token;
		if (slot) {
			wipe_free(*slot);
			if (!(*slot = strndup(v, vl)))
				r = ifs_err_set(err, ENOMEM, "out of memory");
		}
		p = next;
	}
	OPENSSL_cleanse(t, len);
	free(t);
	if (!r && seen && (!c->key_id || !*c->key_id || !c->secret || !*c->secret))
		r = ifs_err_set(err, EINVAL, "%s: profile %s lacks aws_access_key_id or "
				"aws_secret_access_key", file, profile);
	if (r || !seen) {
		ifs_aws_creds_free(c);
		return r;
	}
	if (c->token && !*c->token) {
		wipe_free(c->token);
		c->token = NULL;
	}
	return 1;
}

static int read_file(const char *path, char **out, size_t *len, ifs_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : ifs_err_sys(err, errno, "%s", path);
	struct stat st;
	int r = 0;
	char *b = NULL;
	if (fstat(fd, &st) < 0) {
		r = ifs_err_sys(err, errno, "%s", path);
	} else if (!S_ISREG(st.st_mode) || st.st_size > CREDS_FILE_MAX) {
		r = ifs_err_set(err, EINVAL, "%s: not a regular file of at most 1 MiB", path);
	} else if (!(b = malloc((size_t)st.st_size + 1))) {
		r = ifs_err_set(err, ENOMEM, "out of memory");
	} else {
		size_t got = 0;
		while (got < (size_t)st.st_size) {
			ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = ifs_err_sys(err, errno, "%s", path);
				break;
			}
			if (n == 0)
				break;
			got += (size_t)n;
		}
		*len = got;
	}
	close(fd);
	if (r) {
		if (b)
			OPENSSL_cleanse(b, (size_t)st.st_size);
		free(b);
		return r;
	}
	*out = b;
	return 1;
}

int ifs_aws_creds_load(struct ifs_aws_creds *c, ifs_err *err)
{
	memset(c, 0, sizeof *c);
	const char *id = getenv("AWS_ACCESS_KEY_ID"), *sec = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tok = getenv("AWS_SESSION_TOKEN");
	if ((id && *id) || (sec && *sec)) {
		if (!id || !*id || !sec || !*sec)
			return ifs_err_set(err, EINVAL, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
					   "must be set together");
		c->key_id = strdup(id);
		c->secret = strdup(sec);
		c->token = tok && *tok ? strdup(tok) : NULL;
		if (!c->key_id || !c->secret || (tok && *tok && !c->token)) {
			ifs_aws_creds_free(c);
			return ifs_err_set(err, ENOMEM, "out of memory");
		}
		return 1;
	}
	const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE"), *home = getenv("HOME");
	const char *profile = getenv("AWS_PROFILE");
	int explicit_file = file && *file, explicit_profile = profile && *profile;
	char *path = NULL;
	if (explicit_file)
		path = strdup(file);
	else if (home && *home && asprintf(&path, "%s/.aws/credentials", home) < 0)
		path = NULL;
	if (!path)
		return (explicit_file || (home && *home)) ? ifs_err_set(err, ENOMEM, "out of memory")
							  : 0;
	if (!explicit_profile)
		profile = "default";
	char *text = NULL;
	size_t len = 0;
	int r = read_file(path, &text, &len, err);
	if (r == 0 && explicit_file)
		r = ifs_err_set(err, ENOENT, "%s (AWS_SHARED_CREDENTIALS_FILE): no such file", path);
	if (r == 1) {
		r = ifs_aws_creds_parse(text, len, path, profile, c, err);
		OPENSSL_cleanse(text, len);
		free(text);
		if (r == 0 && explicit_profile)
			r = ifs_err_set(err, ENOENT, "%s: no profile %s (AWS_PROFILE)", path, profile);
	}
	free(path);
	return r;
}

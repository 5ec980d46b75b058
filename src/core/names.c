/*
 * names.c - safe path components from hostile names (see names.h).
 */
#include "inatfs/names.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	unsigned cp = c & (0x3f >> (n - 1));
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int ifs_name_safe(const char *in, char *out, size_t outsz)
{
	size_t cap = outsz - 1 < IFS_NAME_MAX ? outsz - 1 : IFS_NAME_MAX;
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	int changed = 0;
	if (strcmp(in, "") == 0 || strcmp(in, ".") == 0 || strcmp(in, "..") == 0) {
		snprintf(out, outsz, "_%s", in);
		return 1;
	}
	while (*s) {
		size_t n = utf8_len(s);
		if (n == 0 || *s < 0x20 || *s == 0x7f || *s == '/') {
			if (o + 1 > cap) {
				changed = 1;
				break;
			}
			out[o++] = '_';
			s++;
			changed = 1;
			continue;
		}
		if (o + n > cap) {
			changed = 1;
			break;
		}
		memcpy(out + o, s, n);
		o += n;
		s += n;
	}
	out[o] = '\0';
	return changed;
}

void ifs_class_dirname(int64_t id, int width, const char *name, char *out, size_t outsz)
{
	char safe[IFS_NAME_MAX + 1];
	char num[32];
	int nl = snprintf(num, sizeof num, "%0*lld", width, (long long)id);
	ifs_name_safe(name, safe, sizeof safe);
	/* keep the whole thing within IFS_NAME_MAX, cutting on a character boundary */
	size_t room = IFS_NAME_MAX - (size_t)nl - 1, len = strlen(safe);
	while (len > room) {
		len--;
		while (len > 0 && ((unsigned char)safe[len] & 0xc0) == 0x80)
			len--;
	}
	safe[len] = '\0';
	snprintf(out, outsz, "%s %s", num, safe);
}

void ifs_sidecar_name(const char *name, char *out, size_t outsz)
{
	const char *dot = strrchr(name, '.');
	size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
	snprintf(out, outsz, "%.*s.json", (int)stem, name);
}

int ifs_path_normalize(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	const char *p = in;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 1 && p[0] == '.') {
			p += n;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (n > 255)
			return -EINVAL;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				return -EINVAL;
		if (o + (o ? 1 : 0) + n + 1 > outsz)
			return -EINVAL;
		if (o)
			out[o++] = '/';
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	if (o == 0)
		return -EINVAL;
	out[o] = '\0';
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int ifs_name_pack(const char *name, size_t len, uint8_t out[IFS_NAME_PACKED])
{
	if (len != IFS_NAME_UNPACKED || memcmp(name + 32, ".jpg", 4) != 0)
		return 0;
	for (size_t i = 0; i < IFS_NAME_PACKED; i++) {
		int hi = hexval(name[2 * i]), lo = hexval(name[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;   /* uppercase hex stays text: it must unpack to itself */
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 1;
}

void ifs_name_unpack(const uint8_t in[IFS_NAME_PACKED], char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < IFS_NAME_PACKED; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	memcpy(out + 32, ".jpg", 5);
}

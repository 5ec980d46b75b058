/*
 * json.c - parsing one annotation file with cJSON, and typed getters whose
 * errors name the zip, the entry and the JSON path of the bad value
 * ("train_val2017.zip: train2017.json: images[17].width: expected an integer,
 * got string").
 *
 * cJSON stores every number as a double, so integers are accepted only up to
 * 2^53 in magnitude, where a double is still exact. cJSON also turns "\u0000"
 * into a NUL inside a string and does not check UTF-8; a scan before parsing
 * rejects both, so every string it returns is a whole, valid C string.
 */
#include "catalog_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/buf.h"

#define INT_LIMIT 9007199254740992.0 /* 2^53 */

static void where_str(char *b, size_t n, ifs_jwhere w, const char *key)
{
	if (w.arr && key)
		snprintf(b, n, "%s[%zu].%s", w.arr, w.idx, key);
	else if (w.arr)
		snprintf(b, n, "%s[%zu]", w.arr, w.idx);
	else if (key)
		snprintf(b, n, "%s", key);
	else
		b[0] = 0;
}

int ifs_jfail(const ifs_jctx *c, ifs_jwhere w, const char *key, const char *fmt, ...)
{
	char where[160], msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	where_str(where, sizeof where, w, key);
	if (where[0])
		return ifs_err_set(c->err, EIO, "%s: %s: %s: %s", c->zip, c->entry, where, msg);
	return ifs_err_set(c->err, EIO, "%s: %s: %s", c->zip, c->entry, msg);
}

const char *ifs_jtype(const cJSON *v)
{
	if (!v)
		return "nothing";
	switch (v->type & 0xff) {
	case cJSON_False:
	case cJSON_True:
		return "boolean";
	case cJSON_NULL:
		return "null";
	case cJSON_Number:
		return "number";
	case cJSON_String:
		return "string";
	case cJSON_Array:
		return "array";
	case cJSON_Object:
		return "object";
	default:
		return "an unknown type";
	}
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates), or 0. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	size_t k;
	uint32_t cp, min;

	if (c >= 0xc2 && c <= 0xdf) {
		k = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		k = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

void ifs_jline_col(const uint8_t *p, size_t off, size_t *line, size_t *col)
{
	size_t l = 1, start = 0;
	for (size_t i = 0; i < off; i++) {
		if (p[i] == '\n') {
			l++;
			start = i + 1;
		}
	}
	*line = l;
	*col = off - start + 1;
}

/* What cJSON lets through: bad UTF-8, raw NUL bytes, escaped NULs. */
int ifs_jprescan(const ifs_jctx *c, const uint8_t *p, size_t n)
{
	int in_str = 0;
	size_t i = 0, line, col;

	while (i < n) {
		uint8_t ch = p[i];
		if (ch >= 0x80) {
			size_t k = utf8_len(p + i, n - i);
			if (!k) {
				ifs_jline_col(p, i, &line, &col);
				return ifs_jfail(c, IFS_JTOP, NULL, "line %zu, column %zu: invalid UTF-8",
						 line, col);
			}
			i += k;
			continue;
		}
		if (ch == 0) {
			ifs_jline_col(p, i, &line, &col);
			return ifs_jfail(c, IFS_JTOP, NULL, "line %zu, column %zu: NUL byte", line,
					 col);
		}
		if (in_str && ch == '\\') {
			if (i + 5 < n && p[i + 1] == 'u' && memcmp(p + i + 2, "0000", 4) == 0) {
				ifs_jline_col(p, i, &line, &col);
				return ifs_jfail(c, IFS_JTOP, NULL,
						 "line %zu, column %zu: string holds a NUL (\\u0000)",
						 line, col);
			}
			/* Skip the escaped character: \" does not end the string. */
			i += 2;
			continue;
		}
		if (ch == '"')
			in_str = !in_str;
		i++;
	}
	return 0;
}

int ifs_jparse(const ifs_jctx *c, const uint8_t *buf, size_t len, cJSON **out)
{
	const char *end = NULL;
	size_t line, col;
	int r;

	*out = NULL;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		buf += 3; /* a UTF-8 byte order mark */
		len -= 3;
	}
	r = ifs_jprescan(c, buf, len);
	if (r < 0)
		return r;
	cJSON *root = cJSON_ParseWithLengthOpts((const char *)buf, len, &end, 0);
	if (!root) {
		if (len == 0)
			return ifs_jfail(c, IFS_JTOP, NULL, "invalid JSON: the file is empty");
		size_t off = end && (const uint8_t *)end >= buf ? (size_t)((const uint8_t *)end - buf) : 0;
		if (off > len)
			off = len;
		ifs_jline_col(buf, off, &line, &col);
		return ifs_jfail(c, IFS_JTOP, NULL, "invalid JSON at line %zu, column %zu", line, col);
	}
	/* cJSON stops after the first value; anything but whitespace after it is bad. */
	size_t off = (size_t)((const uint8_t *)end - buf);
	while (off < len && strchr(" \t\r\n", buf[off]))
		off++;
	if (off < len) {
		cJSON_Delete(root);
		ifs_jline_col(buf, off, &line, &col);
		return ifs_jfail(c, IFS_JTOP, NULL,
				 "invalid JSON: unexpected data after the end at line %zu, column %zu",
				 line, col);
	}
	*out = root;
	return 0;
}

int ifs_jpick(const ifs_jctx *c, ifs_jwhere w, const cJSON *obj, const char *const *keys,
	      size_t nkeys, const cJSON **vals, size_t *nunknown)
{
	size_t unknown = 0;
	const cJSON *m;

	for (size_t k = 0; k < nkeys; k++)
		vals[k] = NULL;
	if (!cJSON_IsObject(obj))
		return ifs_jfail(c, w, NULL, "expected an object, got %s", ifs_jtype(obj));
	cJSON_ArrayForEach(m, obj) {
		size_t k = 0;
		while (k < nkeys && (!m->string || strcmp(m->string, keys[k]) != 0))
			k++;
		if (k == nkeys) {
			unknown++;
			continue;
		}
		if (vals[k])
			return ifs_jfail(c, w, keys[k], "key given twice");
		vals[k] = m;
	}
	if (nunknown)
		*nunknown = unknown;
	return 0;
}

int ifs_jint(const ifs_jctx *c, ifs_jwhere w, const char *key, const cJSON *v, int64_t *out)
{
	if (!v)
		return ifs_jfail(c, w, key, "missing");
	if (!cJSON_IsNumber(v))
		return ifs_jfail(c, w, key, "expected an integer, got %s", ifs_jtype(v));
	double d = v->valuedouble;
	if (!isfinite(d) || d != floor(d))
		return ifs_jfail(c, w, key, "expected an integer, got %.17g", d);
	if (fabs(d) > INT_LIMIT)
		return ifs_jfail(c, w, key, "integer %.17g is out of range (beyond 2^53)", d);
	*out = (int64_t)d;
	return 0;
}

int ifs_jint_opt(const ifs_jctx *c, ifs_jwhere w, const char *key, const cJSON *v,
		 int64_t dflt, int64_t *out)
{
	if (!v || cJSON_IsNull(v)) {
		*out = dflt;
		return 0;
	}
	return ifs_jint(c, w, key, v, out);
}

int ifs_jnum(const ifs_jctx *c, ifs_jwhere w, const char *key, const cJSON *v, double *out)
{
	if (!v)
		return ifs_jfail(c, w, key, "missing");
	if (!cJSON_IsNumber(v))
		return ifs_jfail(c, w, key, "expected a number, got %s", ifs_jtype(v));
	if (!isfinite(v->valuedouble))
		return ifs_jfail(c, w, key, "number out of range");
	*out = v->valuedouble;
	return 0;
}

int ifs_jstr(const ifs_jctx *c, ifs_jwhere w, const char *key, const cJSON *v, char **out)
{
	*out = NULL;
	if (!v)
		return ifs_jfail(c, w, key, "missing");
	if (!cJSON_IsString(v) || !v->valuestring)
		return ifs_jfail(c, w, key, "expected a string, got %s", ifs_jtype(v));
	*out = strdup(v->valuestring);
	if (!*out)
		return ifs_err_set(c->err, ENOMEM, "%s: %s: out of memory", c->zip, c->entry);
	return 0;
}

int ifs_jstr_opt(const ifs_jctx *c, ifs_jwhere w, const char *key, const cJSON *v, char **out)
{
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	return ifs_jstr(c, w, key, v, out);
}

/*
 * Compact JSON text of v. Not cJSON_PrintUnformatted: cJSON prints numbers
 * with 15 digits when they are merely close, so 530.1683999999999 would come
 * back as 530.1684. Here every number gets the shortest of %.15g/%.16g/%.17g
 * that reads back as exactly the same double.
 */
static int print_number(ifs_buf *b, double d)
{
	char tmp[64];
	/* integers (ids, counts: half the numbers) the cheap way; the same text
	 * as %.15g gives them (below 1e15, and not -0) */
	if (d > -1e15 && d < 1e15 && d == (double)(long long)d && !(d == 0 && signbit(d))) {
		snprintf(tmp, sizeof tmp, "%lld", (long long)d);
		return ifs_buf_adds(b, tmp);
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	return ifs_buf_adds(b, tmp);
}

static int print_value(ifs_buf *b, const cJSON *v, int depth)
{
	int r = 0;
	if (depth > 200)
		return -EINVAL;
	if (cJSON_IsNull(v))
		return ifs_buf_adds(b, "null");
	if (cJSON_IsTrue(v))
		return ifs_buf_adds(b, "true");
	if (cJSON_IsFalse(v))
		return ifs_buf_adds(b, "false");
	if (cJSON_IsNumber(v))
		return print_number(b, v->valuedouble);
	if (cJSON_IsString(v))
		return ifs_buf_json_str(b, v->valuestring ? v->valuestring : "");
	int obj = cJSON_IsObject(v);
	if (!obj && !cJSON_IsArray(v))
		return -EINVAL;
	r = ifs_buf_adds(b, obj ? "{" : "[");
	for (const cJSON *e = v->child; e && !r; e = e->next) {
		if (e != v->child)
			r = ifs_buf_adds(b, ",");
		if (!r && obj)
			r = ifs_buf_json_str(b, e->string ? e->string : "");
		if (!r && obj)
			r = ifs_buf_adds(b, ":");
		if (!r)
			r = print_value(b, e, depth + 1);
	}
	return r ? r : ifs_buf_adds(b, obj ? "}" : "]");
}

int ifs_jcompact(const ifs_jctx *c, ifs_jwhere w, const cJSON *v, char **out)
{
	(void)w;
	ifs_buf b = { 0 };
	int r = print_value(&b, v, 0);
	if (r) {
		free(b.p);
		*out = NULL;
		return ifs_err_set(c->err, r == -ENOMEM ? ENOMEM : EIO, "%s: %s: %s", c->zip, c->entry,
				   r == -ENOMEM ? "out of memory" : "cannot re-serialise a value");
	}
	/* An exact copy: b.p has room for 4 KiB, and there are a million of these. */
	*out = b.p ? strndup(b.p, b.len) : strdup("null");
	free(b.p);
	if (!*out)
		return ifs_err_set(c->err, ENOMEM, "%s: %s: out of memory", c->zip, c->entry);
	return 0;
}

int ifs_jcompact_src(const ifs_jctx *c, ifs_jwhere w, const struct ifs_jiter *it,
		     const cJSON *v, char **out)
{
	const uint8_t *p;
	size_t n;
	if (!ifs_jiter_span(it, &p, &n))
		return ifs_jcompact(c, w, v, out);
	/* re-printing costs a float print and a strtod per number (a quarter of
	 * the annotations' load at real scale); the checked text needs only its
	 * whitespace taken out: every byte up to a space outside strings (cJSON
	 * skips them all), and raw control bytes inside strings escaped (cJSON
	 * keeps them; strict parsers reject them), so what is served is JSON */
	size_t ctl = 0;
	for (size_t i = 0; i < n; i++)
		ctl += p[i] < 0x20;
	if (ctl > (SIZE_MAX - n - 1) / 5)
		return ifs_err_set(c->err, ENOMEM, "%s: %s: out of memory", c->zip, c->entry);
	char *o = malloc(n + 5 * ctl + 1);
	if (!o)
		return ifs_err_set(c->err, ENOMEM, "%s: %s: out of memory", c->zip, c->entry);
	size_t k = 0;
	int in_str = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = p[i];
		if (in_str) {
			if (ch < 0x20) {
				snprintf(o + k, 7, "\\u%04x", ch);
				k += 6;
				continue;
			}
			o[k++] = (char)ch;
			if (ch == '\\' && i + 1 < n)
				o[k++] = (char)p[++i];   /* an escape: two bytes, both printable */
			else if (ch == '"')
				in_str = 0;
		} else if (ch > 0x20) {
			o[k++] = (char)ch;
			in_str = ch == '"';
		}
	}
	o[k] = '\0';
	/* a million of these are held until the index is written: fit them */
	char *fit = realloc(o, k + 1);
	*out = fit ? fit : o;
	return 0;
}

int ifs_jtop_array(const ifs_jctx *c, const ifs_jdoc *d, const char *key, int required,
		   ifs_jarr *out)
{
	memset(out, 0, sizeof *out);
	if (!cJSON_IsObject(d->root))
		return ifs_jfail(c, IFS_JTOP, NULL, "expected a JSON object at the top level, got %s",
				 ifs_jtype(d->root));
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(d->root, key);
	if (!v) {
		if (required)
			return ifs_jfail(c, IFS_JTOP, NULL, "missing key \"%s\"", key);
		return 0;
	}
	if (!cJSON_IsArray(v))
		return ifs_jfail(c, IFS_JTOP, key, "expected an array, got %s", ifs_jtype(v));
	ifs_jdoc_arr(d, v, out);
	return 0;
}

/*
 * jsplit.c - reading a big annotation file without building its whole cJSON
 * tree. A cJSON tree takes about 20 bytes per byte of JSON text, gigabytes
 * for the real train2017.json and the box and location files, so here one
 * pass checks the whole text against the strict JSON grammar and notes where
 * each top-level member's value lies. Array values (images, annotations, a
 * locations file's top-level array, ...) are then walked one element at a
 * time: each element gets its own small cJSON tree, freed when the next one
 * is asked for. Everything else (the top level's keys, "info") goes into a
 * skeleton root parsed by cJSON, in which each array member is an empty
 * placeholder array that ifs_jdoc_arr maps back to its text.
 *
 * The results are those of one cJSON parse of the whole file. The grammar
 * accepted here is a subset of cJSON's (RFC 8259 with cJSON's whitespace and
 * cJSON's \u surrogate rules, numbers of at most 63 characters, nesting at
 * most 512 deep), and the whole text is checked before any record is looked
 * at, so a syntax error anywhere still wins over a bad record. A file it
 * rejects, whether broken or merely something cJSON tolerates ("01", "+1",
 * "\uZZZZ", deep nesting), is parsed whole by ifs_jparse: same error
 * message or same tree, at the cost of a whole tree; so only up to
 * IFS_JSON_LENIENT_MAX bytes. A bigger file must be strict JSON: it fails
 * with the line and column where the scan stopped.
 */
#include "catalog_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 512 /* cJSON allows 1000 */
#define NUM_MAX 63    /* cJSON reads at most 63 characters of a number */

/* A placeholder array in the skeleton and the text it stands for. */
struct ifs_jlazy {
	const cJSON *node;
	size_t off, end; /* '[' .. just past ']' */
};

/* A top-level member's key and value, as byte ranges. */
struct member {
	size_t ks, ke, vs, ve;
};

/* What cJSON skips between tokens: every byte up to a space (not NUL). */
static size_t skip_ws(const uint8_t *p, size_t n, size_t i)
{
	while (i < n && p[i] <= 32 && p[i] != 0)
		i++;
	return i;
}

static int hex4(const uint8_t *p, size_t n, size_t i, unsigned *out)
{
	unsigned u = 0;
	if (i > n || n - i < 4)
		return -1;
	for (size_t k = 0; k < 4; k++) {
		uint8_t ch = p[i + k];
		u <<= 4;
		if (ch >= '0' && ch <= '9')
			u |= (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			u |= (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			u |= (unsigned)(ch - 'A' + 10);
		else
			return -1;
	}
	*out = u;
	return 0;
}

/* p[*pos] is '"'. Raw control bytes pass, as in cJSON; UTF-8 was checked before.
 * On failure (here and in the other v_ functions) *pos is where it failed. */
static int v_string(const uint8_t *p, size_t n, size_t *pos)
{
	size_t i = *pos + 1;
	unsigned u, lo;

	while (i < n) {
		uint8_t ch = p[i];
		if (ch == '"') {
			*pos = i + 1;
			return 0;
		}
		if (ch == 0)
			break;
		if (ch != '\\') {
			i++;
			continue;
		}
		if (n - i < 2)
			break;
		ch = p[i + 1];
		if (ch == '"' || ch == '\\' || ch == '/' || ch == 'b' || ch == 'f' || ch == 'n' ||
		    ch == 'r' || ch == 't') {
			i += 2;
			continue;
		}
		if (ch != 'u' || hex4(p, n, i + 2, &u) < 0 || u == 0)
			break;
		if (u >= 0xdc00 && u <= 0xdfff)
			break; /* a lone low surrogate */
		if (u >= 0xd800 && u <= 0xdbff) {
			if (n - i < 12 || p[i + 6] != '\\' || p[i + 7] != 'u' ||
			    hex4(p, n, i + 8, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
				break;
			i += 6;
		}
		i += 6;
	}
	*pos = i < n ? i : n;
	return -1;
}

static int is_digit(uint8_t ch)
{
	return ch >= '0' && ch <= '9';
}

static int v_number(const uint8_t *p, size_t n, size_t *pos)
{
	size_t i = *pos, start = i;

	if (i < n && p[i] == '-')
		i++;
	if (i >= n || !is_digit(p[i]))
		goto bad;
	if (p[i] == '0')
		i++;
	else
		while (i < n && is_digit(p[i]))
			i++;
	if (i < n && p[i] == '.') {
		i++;
		if (i >= n || !is_digit(p[i]))
			goto bad;
		while (i < n && is_digit(p[i]))
			i++;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i >= n || !is_digit(p[i]))
			goto bad;
		while (i < n && is_digit(p[i]))
			i++;
	}
	if (i - start > NUM_MAX) {
		i = start;
		goto bad;
	}
	*pos = i;
	return 0;
bad:
	*pos = i < n ? i : n;
	return -1;
}

static int v_literal(const uint8_t *p, size_t n, size_t *pos, const char *lit)
{
	size_t l = strlen(lit);
	if (n - *pos < l || memcmp(p + *pos, lit, l) != 0)
		return -1;
	*pos += l;
	return 0;
}

/* One value at p[*pos] (no whitespace before it); *pos moves past it. */
static int v_value(const uint8_t *p, size_t n, size_t *pos, unsigned depth)
{
	size_t i = *pos;

	if (i >= n)
		return -1;
	switch (p[i]) {
	case '"':
		return v_string(p, n, pos);
	case 't':
		return v_literal(p, n, pos, "true");
	case 'f':
		return v_literal(p, n, pos, "false");
	case 'n':
		return v_literal(p, n, pos, "null");
	case '{':
	case '[':
		break;
	default:
		return v_number(p, n, pos);
	}
	int obj = p[i] == '{';
	uint8_t close = obj ? '}' : ']';
	if (depth >= MAX_DEPTH)
		return -1;
	i = skip_ws(p, n, i + 1);
	if (i < n && p[i] == close) {
		*pos = i + 1;
		return 0;
	}
	for (;;) {
		if (obj) {
			if (i >= n || p[i] != '"' || v_string(p, n, &i) < 0)
				goto bad;
			i = skip_ws(p, n, i);
			if (i >= n || p[i] != ':')
				goto bad;
			i = skip_ws(p, n, i + 1);
		}
		if (v_value(p, n, &i, depth + 1) < 0)
			goto bad;
		i = skip_ws(p, n, i);
		if (i >= n)
			goto bad;
		if (p[i] == close) {
			*pos = i + 1;
			return 0;
		}
		if (p[i] != ',')
			goto bad;
		i = skip_ws(p, n, i + 1);
	}
bad:
	*pos = i < n ? i : n;
	return -1;
}

/* After the top-level value ifs_jparse allows only these. */
static int trailing_ok(const uint8_t *p, size_t n, size_t i)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i == n;
}

/*
 * Checks a top-level object and notes its members. 1: not for this path
 * (the caller parses the file whole; *bad is where the text went wrong), 0:
 * done, -ENOMEM.
 */
static int scan_object(const uint8_t *p, size_t n, size_t i, struct member **out, size_t *nout,
		       size_t *bad)
{
	struct member *m = NULL;
	size_t nm = 0, cap = 0;
	int r = 1;

	*out = NULL;
	*nout = 0;
	i = skip_ws(p, n, i + 1);
	if (i < n && p[i] == '}') {
		i++;
		goto end;
	}
	for (;;) {
		struct member cur;
		cur.ks = i;
		if (i >= n || p[i] != '"' || v_string(p, n, &i) < 0)
			goto out;
		cur.ke = i;
		i = skip_ws(p, n, i);
		if (i >= n || p[i] != ':')
			goto out;
		i = skip_ws(p, n, i + 1);
		cur.vs = i;
		if (v_value(p, n, &i, 1) < 0)
			goto out;
		cur.ve = i;
		if (nm == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct member *nb = nc <= SIZE_MAX / sizeof *m ? realloc(m, nc * sizeof *m) : NULL;
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			m = nb;
			cap = nc;
		}
		m[nm++] = cur;
		i = skip_ws(p, n, i);
		if (i >= n)
			goto out;
		if (p[i] == '}') {
			i++;
			break;
		}
		if (p[i] != ',')
			goto out;
		i = skip_ws(p, n, i + 1);
	}
end:
	if (!trailing_ok(p, n, i))
		goto out;
	*out = m;
	*nout = nm;
	return 0;
out:
	*bad = i < n ? i : n;
	free(m);
	return r;
}

/* cJSON tree of p[s, e), which the scan found to be one value. NULL: out of memory. */
static cJSON *parse_span(const uint8_t *p, size_t s, size_t e)
{
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithLengthOpts((const char *)p + s, e - s, &end, 0);
	if (v && end != (const char *)p + e) {
		cJSON_Delete(v); /* cannot happen: the grammar is a subset of cJSON's */
		v = NULL;
	}
	return v;
}

static int add_lazy(ifs_jdoc *d, size_t *cap, const cJSON *node, size_t off, size_t end)
{
	if (d->nlazy == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct ifs_jlazy *nb = nc <= SIZE_MAX / sizeof *nb ?
			realloc(d->lazy, nc * sizeof *nb) : NULL;
		if (!nb)
			return -ENOMEM;
		d->lazy = nb;
		*cap = nc;
	}
	d->lazy[d->nlazy++] = (struct ifs_jlazy){ node, off, end };
	return 0;
}

/* The skeleton of a checked top-level object. */
static int build_object(ifs_jdoc *d, const struct member *m, size_t nm)
{
	const uint8_t *p = d->text;
	size_t cap = 0;

	d->root = cJSON_CreateObject();
	if (!d->root)
		return -ENOMEM;
	for (size_t k = 0; k < nm; k++) {
		cJSON *key = parse_span(p, m[k].ks, m[k].ke), *v;
		if (!key || !cJSON_IsString(key) || !key->valuestring) {
			cJSON_Delete(key);
			return -ENOMEM;
		}
		if (p[m[k].vs] == '[') {
			v = cJSON_CreateArray();
			if (v && add_lazy(d, &cap, v, m[k].vs, m[k].ve) < 0) {
				cJSON_Delete(v);
				v = NULL;
			}
		} else {
			v = parse_span(p, m[k].vs, m[k].ve);
		}
		if (!v || !cJSON_AddItemToObject(d->root, key->valuestring, v)) {
			cJSON_Delete(v);
			cJSON_Delete(key);
			return -ENOMEM;
		}
		cJSON_Delete(key);
	}
	return 0;
}

/* 0: split, 1: not for this path (*bad: where the text went wrong), -ENOMEM. */
static int split(ifs_jdoc *d, size_t *bad)
{
	const uint8_t *p = d->text;
	size_t n = d->len, i = skip_ws(p, n, 0), cap = 0, nm;
	struct member *m = NULL;
	int r;

	*bad = i;
	if (i >= n)
		return 1;
	if (p[i] == '{') {
		r = scan_object(p, n, i, &m, &nm, bad);
		if (r == 0)
			r = build_object(d, m, nm);
		free(m);
		return r;
	}
	if (p[i] != '[')
		return 1; /* a bare scalar: small, and wrong for every file */
	size_t s = i;
	if (v_value(p, n, &i, 0) < 0 || !trailing_ok(p, n, i)) {
		*bad = i;
		return 1;
	}
	d->root = cJSON_CreateArray();
	if (!d->root || add_lazy(d, &cap, d->root, s, i) < 0)
		return -ENOMEM;
	return 0;
}

int ifs_jdoc_parse(const ifs_jctx *c, uint8_t **buf, size_t len, ifs_jdoc *d)
{
	cJSON *root = NULL;
	int r;

	memset(d, 0, sizeof *d);
	d->buf = *buf;
	*buf = NULL;
	d->text = d->buf;
	d->len = len;
	if (len >= 3 && memcmp(d->text, "\xef\xbb\xbf", 3) == 0) {
		d->text += 3;
		d->len -= 3;
	}
	r = ifs_jprescan(c, d->text, d->len);
	if (r < 0)
		goto fail;
	size_t bad = 0;
	r = split(d, &bad);
	if (r == 0)
		return 0;
	if (r < 0) {
		r = ifs_err_set(c->err, ENOMEM, "%s: %s: out of memory", c->zip, c->entry);
		goto fail;
	}
	if (d->len > IFS_JSON_LENIENT_MAX) {
		/* a whole cJSON tree costs many times the text: not for a big file */
		size_t line, col;
		ifs_jline_col(d->text, bad, &line, &col);
		r = ifs_jfail(c, IFS_JTOP, NULL, "invalid JSON at line %zu, column %zu (a file over "
			      "%zu MiB must be strict JSON: RFC 8259, numbers of at most %d "
			      "characters, nesting at most %d deep)", line, col,
			      IFS_JSON_LENIENT_MAX >> 20, NUM_MAX, MAX_DEPTH);
		goto fail;
	}
	/* Not plain JSON, and small: cJSON decides, on the whole file. */
	cJSON_Delete(d->root);
	d->root = NULL;
	free(d->lazy);
	d->lazy = NULL;
	d->nlazy = 0;
	r = ifs_jparse(c, d->buf, len, &root);
	if (r < 0)
		goto fail;
	free(d->buf);
	memset(d, 0, sizeof *d);
	d->root = root;
	return 0;
fail:
	ifs_jdoc_free(d);
	return r;
}

void ifs_jdoc_free(ifs_jdoc *d)
{
	if (!d)
		return;
	cJSON_Delete(d->root);
	free(d->lazy);
	free(d->buf);
	memset(d, 0, sizeof *d);
}

void ifs_jdoc_arr(const ifs_jdoc *d, const cJSON *node, ifs_jarr *out)
{
	memset(out, 0, sizeof *out);
	if (!node)
		return;
	out->present = 1;
	for (size_t k = 0; k < d->nlazy; k++) {
		if (d->lazy[k].node == node) {
			out->text = d->text;
			out->off = d->lazy[k].off;
			out->end = d->lazy[k].end;
			return;
		}
	}
	out->tree = node;
}

int ifs_jarr_empty(const ifs_jarr *a)
{
	if (a->text)
		return skip_ws(a->text, a->end, a->off + 1) + 1 >= a->end;
	return !a->tree || !a->tree->child;
}

void ifs_jiter_init(ifs_jiter *it, const ifs_jctx *c, const ifs_jarr *a)
{
	memset(it, 0, sizeof *it);
	it->c = c;
	it->a = *a;
	it->next = a->tree ? a->tree->child : NULL;
	it->pos = a->off + 1;
}

int ifs_jiter_next(ifs_jiter *it, const cJSON **out)
{
	const ifs_jctx *c = it->c;
	const uint8_t *p = it->a.text;
	size_t n = it->a.end, i, s, line, col;

	*out = NULL;
	cJSON_Delete(it->cur);
	it->cur = NULL;
	if (!p) {
		if (!it->next)
			return 0;
		*out = it->next;
		it->next = it->next->next;
		return 1;
	}
	/* The text was checked whole; these checks only keep a bug in bounds. */
	i = skip_ws(p, n, it->pos);
	if (i >= n)
		goto bad;
	if (p[i] == ']') {
		it->pos = i;
		return 0;
	}
	if (it->count) {
		if (p[i] != ',')
			goto bad;
		i = skip_ws(p, n, i + 1);
	}
	s = i;
	if (v_value(p, n, &i, 0) < 0)
		goto bad;
	it->cur = parse_span(p, s, i);
	if (!it->cur)
		return ifs_err_set(c->err, ENOMEM, "%s: %s: out of memory", c->zip, c->entry);
	it->cur_s = s;
	it->cur_e = i;
	it->pos = i;
	it->count++;
	*out = it->cur;
	return 1;
bad:
	ifs_jline_col(p, i < n ? i : n, &line, &col);
	return ifs_jfail(c, IFS_JTOP, NULL, "invalid JSON at line %zu, column %zu", line, col);
}

int ifs_jiter_span(const ifs_jiter *it, const uint8_t **p, size_t *n)
{
	if (!it->a.text || !it->cur)
		return 0;
	*p = it->a.text + it->cur_s;
	*n = it->cur_e - it->cur_s;
	return 1;
}

void ifs_jiter_end(ifs_jiter *it)
{
	cJSON_Delete(it->cur);
	it->cur = NULL;
}

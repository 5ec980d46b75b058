/*
 * score.c - checks a submission CSV against a ground truth and scores it
 * (top-1/top-5 error overall, per supercategory, and macro-averaged over
 * classes). One pass over the file in bounded memory per line; the truth is
 * sorted into lookup tables first (O(n log n)), each row costs a few binary
 * searches. Every problem is counted; the first IFS_SCORE_MAX_PROBLEMS keep
 * their text. Limits: ids and categories must fit in int64.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inatfs/catalog.h"
#include "inatfs/score.h"
#include "score_int.h"

#define NPRED 5
#define MAX_KEPT_TOKENS 16   /* tokens remembered per row for the repeat check */
#define QUOTE_MAX 24         /* bytes of a bad value quoted in a message */

typedef struct idpos {
	int64_t id;
	size_t pos;
} idpos;

/* Lookup tables built from the truth for one file. */
typedef struct prep {
	const ifs_truth *t;
	idpos *img;           /* sorted by id -> index into t->img */
	idpos *cat;           /* sorted by id -> index into t->cat */
	size_t *grp_of_cat;   /* t->cat index -> group index */
	size_t ngrp;
	const char **grp_name;/* group index -> name (borrowed from t) */
	size_t *cls_of_img;   /* t->img index -> t->cat index (SIZE_MAX if unlabeled) */
	uint64_t *line;       /* t->img index -> line of its row, 0 = none yet */
	uint8_t *rank;        /* t->img index -> 1..5 hit rank, 6 miss, 0 not scored */
} prep;

static int cmp_idpos(const void *a, const void *b)
{
	const idpos *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static const idpos *find(const idpos *v, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].id < id)
			lo = mid + 1;
		else if (v[mid].id > id)
			hi = mid;
		else
			return &v[mid];
	}
	return NULL;
}

static void prep_free(prep *p)
{
	free(p->img);
	free(p->cat);
	free(p->grp_of_cat);
	free(p->grp_name);
	free(p->cls_of_img);
	free(p->line);
	free(p->rank);
	memset(p, 0, sizeof *p);
}

/* For sorting category indices by supercategory name. */
typedef struct supref {
	const char *name;
	size_t cat;
} supref;

static int cmp_supref(const void *a, const void *b)
{
	const supref *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->cat < y->cat ? -1 : x->cat > y->cat;
}

static int prep_build(prep *p, const ifs_truth *t, ifs_err *err)
{
	size_t n = t->nimg, nc = t->ncat;
	supref *sr = NULL;
	int r = 0;
	memset(p, 0, sizeof *p);
	p->t = t;
	/* calloc(0) may return NULL: allocate at least one element */
	p->img = calloc(n + 1, sizeof *p->img);
	p->cat = calloc(nc + 1, sizeof *p->cat);
	p->grp_of_cat = calloc(nc + 1, sizeof *p->grp_of_cat);
	p->grp_name = calloc(nc + 1, sizeof *p->grp_name);
	p->cls_of_img = calloc(n + 1, sizeof *p->cls_of_img);
	p->line = calloc(n + 1, sizeof *p->line);
	p->rank = calloc(n + 1, sizeof *p->rank);
	sr = calloc(nc + 1, sizeof *sr);
	if (!p->img || !p->cat || !p->grp_of_cat || !p->grp_name || !p->cls_of_img || !p->line ||
	    !p->rank || !sr) {
		r = ifs_err_set(err, ENOMEM, "ground truth: out of memory");
		goto out;
	}
	for (size_t i = 0; i < nc; i++) {
		p->cat[i] = (idpos){ t->cat[i].id, i };
		sr[i] = (supref){ t->cat[i].super, i };
	}
	qsort(p->cat, nc, sizeof *p->cat, cmp_idpos);
	for (size_t i = 1; i < nc; i++)
		if (p->cat[i].id == p->cat[i - 1].id) {
			r = ifs_err_set(err, EINVAL, "ground truth: category %lld appears twice",
					(long long)p->cat[i].id);
			goto out;
		}
	qsort(sr, nc, sizeof *sr, cmp_supref);
	for (size_t i = 0; i < nc; i++) {
		if (i == 0 || strcmp(sr[i].name, sr[i - 1].name))
			p->grp_name[p->ngrp++] = sr[i].name;
		p->grp_of_cat[sr[i].cat] = p->ngrp - 1;
	}
	for (size_t i = 0; i < n; i++)
		p->img[i] = (idpos){ t->img[i].id, i };
	qsort(p->img, n, sizeof *p->img, cmp_idpos);
	for (size_t i = 1; i < n; i++)
		if (p->img[i].id == p->img[i - 1].id) {
			r = ifs_err_set(err, EINVAL, "ground truth: image id %lld appears twice",
					(long long)p->img[i].id);
			goto out;
		}
	for (size_t i = 0; i < n; i++) {
		p->cls_of_img[i] = SIZE_MAX;
		if (t->img[i].cat < 0)
			continue;
		const idpos *c = find(p->cat, nc, t->img[i].cat);
		if (!c) {
			r = ifs_err_set(err, EINVAL, "ground truth: image %lld has unknown category %lld",
					(long long)t->img[i].id, (long long)t->img[i].cat);
			goto out;
		}
		p->cls_of_img[i] = c->pos;
	}
out:
	free(sr);
	if (r < 0)
		prep_free(p);
	return r;
}

/* ---- problems ------------------------------------------------------------ */

static void problem(ifs_score_problems *pr, uint64_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(ifs_score_problems *pr, uint64_t line, const char *fmt, ...)
{
	pr->total++;
	if (pr->n >= IFS_SCORE_MAX_PROBLEMS)
		return;
	ifs_score_problem *it = &pr->item[pr->n++];
	it->line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(it->msg, sizeof it->msg, fmt, ap);
	va_end(ap);
	for (char *c = it->msg; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
}

/* A bad value for a message: at most QUOTE_MAX bytes, "..." if cut. */
static const char *quote(char *dst, size_t cap, const char *s, size_t len)
{
	size_t k = len < QUOTE_MAX ? len : QUOTE_MAX;
	if (k > cap - 4)
		k = cap - 4;
	memcpy(dst, s, k);
	strcpy(dst + k, len > k ? "..." : "");
	return dst;
}

/* ---- lexing -------------------------------------------------------------- */

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *len)
{
	while (*len && is_blank(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_blank((*s)[*len - 1]))
		(*len)--;
}

/* 0 ok; -1 not an integer; -2 out of int64 range. Accepts [-]digits only. */
static int parse_i64(const char *s, size_t len, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	if (len && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == len)
		return -1;
	uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	int range = 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (lim - d) / 10)
			range = 1;
		else
			v = v * 10 + d;
	}
	if (range)
		return -2;
	*out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
	return 0;
}

/*
 * Reads one line (without its '\n', and without a '\r' before it) into buf,
 * keeping at most cap-1 bytes. Returns 1 if a line was read, 0 at end of
 * file before any byte, -errno on a read error. *over: longer than kept;
 * *nul: held a NUL byte.
 */
static int read_line(FILE *f, char *buf, size_t cap, size_t *len, int *over, int *nul)
{
	size_t n = 0;
	int c, any = 0;
	*over = *nul = 0;
	errno = 0;
	while ((c = getc_unlocked(f)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (c == 0)
			*nul = 1;
		if (n < cap - 1)
			buf[n++] = (char)c;
		else
			*over = 1;
	}
	if (ferror(f))
		return errno ? -errno : -EIO;
	if (!any)
		return 0;
	if (!*over && n && buf[n - 1] == '\r')
		n--;
	buf[n] = 0;
	*len = n;
	return 1;
}

/* ---- rows ---------------------------------------------------------------- */

typedef struct ctx {
	prep *p;
	ifs_score_problems *pr;
	const char *split;    /* "val", ... or NULL */
} ctx;

/* Checks (and, if clean and labeled, ranks) one data row. */
static void do_row(ctx *c, uint64_t ln, const char *s, size_t len)
{
	const ifs_truth *t = c->p->t;
	uint64_t before = c->pr->total;
	char q[QUOTE_MAX + 8];
	const char *comma = memchr(s, ',', len);
	size_t ncomma = 0;
	for (size_t i = 0; i < len; i++)
		ncomma += s[i] == ',';
	if (ncomma != 1) {
		problem(c->pr, ln, "expected 2 columns (id,predicted), found %zu", ncomma + 1);
		return;
	}
	const char *ids = s, *ps = comma + 1;
	size_t idlen = (size_t)(comma - s), plen = len - idlen - 1;
	trim(&ids, &idlen);

	/* the id */
	int64_t id = 0;
	size_t img = SIZE_MAX;
	int pr = parse_i64(ids, idlen, &id);
	if (pr == -1)
		problem(c->pr, ln, "id '%s' is not an integer", quote(q, sizeof q, ids, idlen));
	else if (pr == -2)
		problem(c->pr, ln, "id '%s' is out of range", quote(q, sizeof q, ids, idlen));
	else {
		const idpos *hit = find(c->p->img, t->nimg, id);
		if (!hit) {
			if (c->split)
				problem(c->pr, ln, "image id %lld is not in the %s split", (long long)id,
					c->split);
			else
				problem(c->pr, ln, "image id %lld is not in the split", (long long)id);
		} else if (c->p->line[hit->pos]) {
			problem(c->pr, ln, "duplicate id %lld (first on line %llu)", (long long)id,
				(unsigned long long)c->p->line[hit->pos]);
		} else {
			img = hit->pos;
			c->p->line[img] = ln;
		}
	}

	/* the predictions */
	int64_t kept[MAX_KEPT_TOKENS];
	size_t nkept = 0, ntok = 0;
	size_t i = 0;
	while (i < plen) {
		while (i < plen && is_blank(ps[i]))
			i++;
		if (i == plen)
			break;
		size_t st = i;
		while (i < plen && !is_blank(ps[i]))
			i++;
		ntok++;
		int64_t v = 0;
		int e = parse_i64(ps + st, i - st, &v);
		if (e < 0) {
			problem(c->pr, ln, "prediction %zu '%s' is not an integer category id", ntok,
				quote(q, sizeof q, ps + st, i - st));
			continue;
		}
		if (!find(c->p->cat, t->ncat, v)) {
			problem(c->pr, ln, "prediction %zu: unknown category %lld", ntok, (long long)v);
			continue;
		}
		int rep = 0;
		for (size_t k = 0; k < nkept && !rep; k++)
			rep = kept[k] == v;
		if (rep) {
			problem(c->pr, ln, "prediction %zu: category %lld is repeated", ntok,
				(long long)v);
			continue;
		}
		if (nkept < MAX_KEPT_TOKENS)
			kept[nkept++] = v;
	}
	if (ntok != NPRED)
		problem(c->pr, ln, "expected %d predictions, found %zu", NPRED, ntok);

	if (img == SIZE_MAX || c->pr->total != before || t->img[img].cat < 0)
		return;
	uint8_t rank = NPRED + 1;
	for (size_t k = 0; k < NPRED; k++)
		if (kept[k] == t->img[img].cat) {
			rank = (uint8_t)(k + 1);
			break;
		}
	c->p->rank[img] = rank;
}

/* Line 1: the header, or (if it looks like data) a missing header. */
static void do_header(ctx *c, const char *s, size_t len)
{
	char q[QUOTE_MAX + 8];
	const char *comma = memchr(s, ',', len);
	if (comma) {
		const char *a = s, *b = comma + 1;
		size_t al = (size_t)(comma - s), bl = len - al - 1;
		trim(&a, &al);
		trim(&b, &bl);
		if (al == 2 && !memcmp(a, "id", 2) && bl == 9 && !memcmp(b, "predicted", 9))
			return;
		int64_t v;
		if (parse_i64(a, al, &v) != -1) {
			problem(c->pr, 1, "missing header 'id,predicted'");
			c->pr->rows++;
			do_row(c, 1, s, len);
			return;
		}
	}
	problem(c->pr, 1, "wrong header '%s': expected 'id,predicted'", quote(q, sizeof q, s, len));
}

static void fill_result(const prep *p, ifs_score_result *res, int check_only)
{
	const ifs_truth *t = p->t;
	res->images = t->nimg;
	if (check_only)
		return;
	res->scored = 1;
	/* per class (t->cat index) and per group: images, top-1 misses, top-5 misses */
	uint64_t (*cls)[3] = calloc(t->ncat + 1, sizeof *cls);
	uint64_t (*grp)[3] = calloc(p->ngrp + 1, sizeof *grp);
	uint64_t w1 = 0, w5 = 0;
	size_t ng = 0;
	if (!cls || !grp)
		goto out;
	for (size_t i = 0; i < t->nimg; i++) {
		size_t k = p->cls_of_img[i], g = p->grp_of_cat[k];
		uint64_t m1 = p->rank[i] != 1, m5 = p->rank[i] == 0 || p->rank[i] > NPRED;
		w1 += m1;
		w5 += m5;
		cls[k][0]++;
		cls[k][1] += m1;
		cls[k][2] += m5;
		grp[g][0]++;
		grp[g][1] += m1;
		grp[g][2] += m5;
	}
	if (t->nimg) {
		res->top1 = (double)w1 / (double)t->nimg;
		res->top5 = (double)w5 / (double)t->nimg;
	}
	double s1 = 0, s5 = 0;
	for (size_t k = 0; k < t->ncat; k++) {
		if (!cls[k][0])
			continue;
		res->classes++;
		s1 += (double)cls[k][1] / (double)cls[k][0];
		s5 += (double)cls[k][2] / (double)cls[k][0];
	}
	if (res->classes) {
		res->macro_top1 = s1 / (double)res->classes;
		res->macro_top5 = s5 / (double)res->classes;
	}
	for (size_t g = 0; g < p->ngrp; g++)
		ng += grp[g][0] > 0;
	if (!(res->groups = calloc(ng + 1, sizeof *res->groups)))
		goto out;
	for (size_t g = 0; g < p->ngrp; g++) {
		uint64_t n = grp[g][0];
		if (!n)
			continue;
		ifs_score_group *gr = &res->groups[res->ngroups];
		if (!(gr->name = strdup(p->grp_name[g])))
			goto out;
		res->ngroups++;
		gr->images = n;
		gr->top1 = (double)grp[g][1] / (double)n;
		gr->top5 = (double)grp[g][2] / (double)n;
	}
out:
	free(cls);
	free(grp);
	if (!res->groups || res->ngroups != ng)
		res->scored = -1;   /* out of memory: the caller fails */
}

void ifs_score_result_clear(ifs_score_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ngroups; i++)
		free(r->groups[i].name);
	free(r->groups);
	memset(r, 0, sizeof *r);
}

int ifs_score_file(const char *csv_path, const ifs_truth *t, int check_only,
		   ifs_score_result *res, ifs_score_problems *probs, ifs_err *err)
{
	FILE *f = NULL;
	char *buf = NULL;
	prep p = { 0 };
	int r;
	memset(res, 0, sizeof *res);
	memset(probs, 0, sizeof *probs);
	if (!check_only && t->unlabeled)
		return ifs_err_set(err, ENODATA, "%s: the %s%ssplit has no labels: it can only be checked",
				   csv_path, t->split >= 0 ? ifs_split_name(t->split) : "",
				   t->split >= 0 ? " " : "");
	if ((r = prep_build(&p, t, err)) < 0)
		return r;
	buf = malloc(IFS_SCORE_LINE_MAX + 1);
	if (!buf) {
		r = ifs_err_set(err, ENOMEM, "%s: out of memory", csv_path);
		goto out;
	}
	if (!(f = fopen(csv_path, "rb"))) {
		r = ifs_err_sys(err, errno, "%s", csv_path);
		goto out;
	}
	ctx c = { &p, probs, t->split >= 0 ? ifs_split_name(t->split) : NULL };
	uint64_t ln = 0;
	for (;;) {
		size_t len = 0;
		int over, nul;
		r = read_line(f, buf, IFS_SCORE_LINE_MAX + 1, &len, &over, &nul);
		if (r < 0) {
			r = ifs_err_sys(err, -r, "%s: read error after line %llu", csv_path,
					(unsigned long long)ln);
			goto out;
		}
		if (r == 0)
			break;
		ln++;
		const char *s = buf;
		if (ln == 1 && len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) {
			s += 3;
			len -= 3;
		}
		if (over) {
			problem(probs, ln, "line longer than %d bytes", IFS_SCORE_LINE_MAX);
			probs->rows += ln > 1;
			continue;
		}
		if (nul) {
			problem(probs, ln, "line holds a NUL byte");
			probs->rows += ln > 1;
			continue;
		}
		if (ln == 1) {
			do_header(&c, s, len);
			continue;
		}
		const char *ts = s;
		size_t tl = len;
		trim(&ts, &tl);
		if (!tl) {
			problem(probs, ln, "blank line");
			continue;
		}
		probs->rows++;
		do_row(&c, ln, s, len);
	}
	if (ln == 0)
		problem(probs, 1, "empty file: expected the header 'id,predicted'");

	/* images with no row */
	char ids[IFS_SCORE_MISSING_SHOWN * 22 + 8];
	size_t il = 0;
	ids[0] = 0;
	for (size_t i = 0; i < t->nimg; i++) {
		if (p.line[i])
			continue;
		if (probs->missing < IFS_SCORE_MISSING_SHOWN) {
			int w = snprintf(ids + il, sizeof ids - il, "%s%lld", il ? ", " : "",
					 (long long)t->img[i].id);
			if (w > 0 && (size_t)w < sizeof ids - il)
				il += (size_t)w;
		}
		probs->missing++;
	}
	if (probs->missing)
		problem(probs, 0, "%llu image%s of the %s%ssplit ha%s no row (first: %s%s)",
			(unsigned long long)probs->missing, probs->missing == 1 ? "" : "s",
			c.split ? c.split : "", c.split ? " " : "", probs->missing == 1 ? "s" : "ve", ids,
			probs->missing > IFS_SCORE_MISSING_SHOWN ? ", ..." : "");

	if (probs->total) {
		r = ifs_err_set(err, EINVAL, "%s: not a valid submission: %llu problem%s", csv_path,
				(unsigned long long)probs->total, probs->total == 1 ? "" : "s");
		goto out;
	}
	fill_result(&p, res, check_only);
	if (res->scored < 0) {
		ifs_score_result_clear(res);
		r = ifs_err_set(err, ENOMEM, "%s: out of memory", csv_path);
		goto out;
	}
	r = 0;
out:
	if (f)
		fclose(f);
	free(buf);
	prep_free(&p);
	return r;
}

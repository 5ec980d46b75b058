/*
 * test_score.c - the score module: hand-computed errors on small truths,
 * every malformed-file case with its line number, a truth loaded from an
 * SQLite database, the JSON output, and a full-size (95,986 images) file
 * checked against an independent count made while generating it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "inatfs/score.h"
#include "testutil.h"
#include "../../src/index/index_sql.h"   /* white-box: the SQL side */

static char *dir;
static ifs_score_problems probs;

static const char *tmp_path(const char *name)
{
	static char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static const char *write_file(const char *name, const char *data, size_t len)
{
	const char *p = tmp_path(name);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "cannot write %s\n", p);
		exit(2);
	}
	return p;
}

/* Scores a CSV given as a string; returns ifs_score_file's code. */
static int score_str(const ifs_truth *t, const char *csv, int check_only, ifs_score_result *res,
		     ifs_err *err)
{
	const char *p = write_file("sub.csv", csv, strlen(csv));
	ifs_err_clear(err);
	return ifs_score_file(p, t, check_only, res, &probs, err);
}

/* Whether a kept problem is on `line` and contains `what`. */
static int has_problem(uint64_t line, const char *what)
{
	for (size_t i = 0; i < probs.n; i++)
		if (probs.item[i].line == line && strstr(probs.item[i].msg, what))
			return 1;
	return 0;
}

static void dump_problems(void)
{
	for (size_t i = 0; i < probs.n; i++)
		fprintf(stderr, "  problem line %llu: %s\n", (unsigned long long)probs.item[i].line,
			probs.item[i].msg);
}

static int near(double a, double b)
{
	return fabs(a - b) < 1e-12;
}

/*
 * Categories 0..2 Aves, 3..5 Plantae, 6..9 Fungi. Images:
 * class A = category 0 (Aves): 100, 101, 102; class B = 3 (Plantae): 200;
 * class C = 4 (Plantae): 300, 301.
 */
static ifs_truth *small_truth(void)
{
	ifs_truth *t = NULL;
	ifs_err err;
	int ok = ifs_truth_new(&t, &err) == 0;
	static const char *const sup[] = { "Aves", "Aves", "Aves", "Plantae", "Plantae",
					   "Plantae", "Fungi", "Fungi", "Fungi", "Fungi" };
	for (int c = 9; ok && c >= 0; c--)   /* added out of order on purpose */
		ok = ifs_truth_add_category(t, c, sup[c], &err) == 0;
	static const int64_t img[][2] = { { 100, 0 }, { 200, 3 }, { 101, 0 },
					  { 300, 4 }, { 102, 0 }, { 301, 4 } };
	for (size_t i = 0; ok && i < sizeof img / sizeof img[0]; i++)
		ok = ifs_truth_add(t, img[i][0], img[i][1], &err) == 0;
	if (!ok) {
		fprintf(stderr, "cannot build the small truth\n");
		exit(2);
	}
	return t;
}

static void test_basic_scores(void)
{
	ifs_truth *t = small_truth();
	ifs_score_result res;
	ifs_err err;
	CHECK(ifs_truth_count(t) == 6 && ifs_truth_ncategories(t) == 10 && ifs_truth_labeled(t),
	      "small truth counts");

	/* all right at rank 1 */
	int r = score_str(t,
			  "id,predicted\n100,0 1 2 3 4\n101,0 5 6 7 8\n102,0 9 8 7 6\n"
			  "200,3 0 1 2 4\n300,4 3 2 1 0\n301,4 9 8 7 6\n",
			  0, &res, &err);
	CHECK(r == 0, "all right: valid (%d %s)", r, err.msg);
	CHECK(res.scored == 1 && res.images == 6 && res.top1 == 0.0 && res.top5 == 0.0,
	      "all right: top1 %g top5 %g", res.top1, res.top5);
	CHECK(res.classes == 3 && res.macro_top1 == 0.0 && res.macro_top5 == 0.0, "all right: macro");
	ifs_score_result_clear(&res);

	/* all wrong */
	r = score_str(t,
		      "id,predicted\n100,5 6 7 8 9\n101,5 6 7 8 9\n102,5 6 7 8 9\n"
		      "200,5 6 7 8 9\n300,5 6 7 8 9\n301,5 6 7 8 9\n",
		      0, &res, &err);
	CHECK(r == 0 && res.top1 == 1.0 && res.top5 == 1.0, "all wrong: %d top1 %g top5 %g", r,
	      res.top1, res.top5);
	CHECK(res.macro_top1 == 1.0 && res.macro_top5 == 1.0, "all wrong: macro");
	ifs_score_result_clear(&res);

	/* right at rank 5 everywhere */
	r = score_str(t,
		      "id,predicted\n100,5 6 7 8 0\n101,5 6 7 8 0\n102,5 6 7 8 0\n"
		      "200,5 6 7 8 3\n300,5 6 7 8 4\n301,5 6 7 8 4\n",
		      0, &res, &err);
	CHECK(r == 0 && res.top1 == 1.0 && res.top5 == 0.0, "rank 5: %d top1 %g top5 %g", r,
	      res.top1, res.top5);
	ifs_score_result_clear(&res);

	/* right at rank 6: a format error, not a score */
	r = score_str(t,
		      "id,predicted\n100,5 6 7 8 9 0\n101,0 1 2 3 4\n102,0 1 2 3 4\n"
		      "200,3 0 1 2 4\n300,4 3 2 1 0\n301,4 3 2 1 0\n",
		      0, &res, &err);
	CHECK(r == -EINVAL && probs.total == 1 && has_problem(2, "expected 5 predictions, found 6"),
	      "rank 6: invalid (%d, %llu problems)", r, (unsigned long long)probs.total);
	CHECK(res.scored == 0 && res.groups == NULL, "rank 6: no result");
	CHECK(strstr(err.msg, "not a valid submission") != NULL, "rank 6: summary '%s'", err.msg);

	/*
	 * Unbalanced, by hand:
	 *   100 A rank 1, 101 A rank 3, 102 A miss, 200 B rank 2, 300 C rank 4, 301 C miss
	 *   overall: top-1 wrong 101 102 200 300 301 = 5/6; top-5 wrong 102 301 = 2/6
	 *   A: 2/3, 1/3   B: 1, 0   C: 1, 1/2
	 *   macro top-1 (2/3 + 1 + 1)/3 = 8/9; macro top-5 (1/3 + 0 + 1/2)/3 = 5/18
	 *   Aves (A): 3 images, 2/3, 1/3; Plantae (B, C): 3 images, 3/3, 1/3
	 */
	r = score_str(t,
		      "id,predicted\n301,0 1 2 3 5\n100,0 1 2 3 4\n101,5 6 0 7 8\n"
		      "102,1 2 3 4 5\n200,1 3 2 4 5\n300,0 1 2 4 5\n",
		      0, &res, &err);
	CHECK(r == 0, "unbalanced: valid (%d %s)", r, err.msg);
	CHECK(near(res.top1, 5.0 / 6) && near(res.top5, 2.0 / 6), "unbalanced: top1 %g top5 %g",
	      res.top1, res.top5);
	CHECK(res.classes == 3 && near(res.macro_top1, 8.0 / 9) && near(res.macro_top5, 5.0 / 18),
	      "unbalanced: macro %llu %g %g", (unsigned long long)res.classes, res.macro_top1,
	      res.macro_top5);
	CHECK(res.ngroups == 2, "unbalanced: 2 supercategories with images, got %zu", res.ngroups);
	if (res.ngroups == 2) {
		CHECK(!strcmp(res.groups[0].name, "Aves") && res.groups[0].images == 3 &&
		      near(res.groups[0].top1, 2.0 / 3) && near(res.groups[0].top5, 1.0 / 3),
		      "Aves: %s %llu %g %g", res.groups[0].name,
		      (unsigned long long)res.groups[0].images, res.groups[0].top1,
		      res.groups[0].top5);
		CHECK(!strcmp(res.groups[1].name, "Plantae") && res.groups[1].images == 3 &&
		      near(res.groups[1].top1, 1.0) && near(res.groups[1].top5, 1.0 / 3),
		      "Plantae: %s %llu %g %g", res.groups[1].name,
		      (unsigned long long)res.groups[1].images, res.groups[1].top1,
		      res.groups[1].top5);
	}

	/* the same file as JSON, parsed back */
	FILE *f = fopen(tmp_path("out.json"), "w+");
	CHECK(f && ifs_score_print_json(f, &res, "val") == 0, "json printed");
	if (f) {
		char buf[4096];
		rewind(f);
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = 0;
		fclose(f);
		cJSON *o = cJSON_Parse(buf);
		cJSON *t1 = cJSON_GetObjectItemCaseSensitive(o, "top1_error");
		cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "macro");
		cJSON *m5 = cJSON_GetObjectItemCaseSensitive(m, "top5_error");
		cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "supercategories");
		cJSON *g1 = cJSON_GetArrayItem(sc, 1);
		CHECK(o && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "valid")), "json valid");
		CHECK(cJSON_IsNumber(t1) && near(t1->valuedouble, 5.0 / 6), "json top1");
		CHECK(cJSON_IsNumber(m5) && near(m5->valuedouble, 5.0 / 18), "json macro top5");
		CHECK(cJSON_GetArraySize(sc) == 2 &&
		      !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g1, "name")) ?
			      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g1, "name")) : "",
			      "Plantae"),
		      "json supercategories");
		cJSON_Delete(o);
	}
	f = fopen(tmp_path("out.txt"), "w+");
	CHECK(f && ifs_score_print(f, &res, "val") == 0, "table printed");
	if (f) {
		char buf[4096];
		rewind(f);
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = 0;
		fclose(f);
		CHECK(strstr(buf, "83.33%") && strstr(buf, "Plantae") && strstr(buf, "27.78%"),
		      "table holds 5/6, 5/18 and Plantae:\n%s", buf);
	}
	ifs_score_result_clear(&res);
	CHECK(res.groups == NULL && res.ngroups == 0, "result cleared");

	/* check-only: valid, not scored */
	r = score_str(t,
		      "id,predicted\n100,0 1 2 3 4\n101,0 1 2 3 4\n102,0 1 2 3 4\n"
		      "200,0 1 2 3 4\n300,0 1 2 3 4\n301,0 1 2 3 4\n",
		      1, &res, &err);
	CHECK(r == 0 && res.scored == 0 && res.images == 6 && res.ngroups == 0, "check-only");
	ifs_score_result_clear(&res);
	ifs_truth_free(t);
}

/* One malformed file: expects exactly `n` problems, one of them on `line` with `what`. */
static void bad(const ifs_truth *t, const char *name, const char *csv, uint64_t total,
		uint64_t line, const char *what)
{
	ifs_score_result res;
	ifs_err err;
	int r = score_str(t, csv, 0, &res, &err);
	int ok = r == -EINVAL && probs.total == total && has_problem(line, what);
	CHECK(ok, "%s: expected %llu problem(s), '%s' on line %llu; got %d, %llu", name,
	      (unsigned long long)total, what, (unsigned long long)line, r,
	      (unsigned long long)probs.total);
	if (!ok)
		dump_problems();
	CHECK(res.scored == 0 && res.groups == NULL, "%s: no result", name);
	ifs_score_result_clear(&res);
}

#define ROWS_AFTER_100 "101,0 1 2 3 4\n102,0 1 2 3 4\n200,0 1 2 3 4\n300,0 1 2 3 4\n301,0 1 2 3 4\n"
#define ALL_ROWS "100,0 1 2 3 4\n" ROWS_AFTER_100

static void test_malformed(void)
{
	ifs_truth *t = small_truth();
	ifs_score_result res;
	ifs_err err;

	/* tolerated variants first: they must be valid */
	CHECK(score_str(t, "id,predicted\n" ALL_ROWS, 0, &res, &err) == 0, "plain file valid");
	ifs_score_result_clear(&res);
	CHECK(score_str(t, "id,predicted\r\n100,0 1 2 3 4\r\n101,0 1 2 3 4\r\n102,0 1 2 3 4\r\n"
			"200,0 1 2 3 4\r\n300,0 1 2 3 4\r\n301,0 1 2 3 4\r\n", 0, &res, &err) == 0,
	      "CRLF valid: %s", err.msg);
	CHECK(near(res.top1, 3.0 / 6) && near(res.top5, 0.0), "CRLF scores: %g %g", res.top1,
	      res.top5);
	ifs_score_result_clear(&res);
	CHECK(score_str(t, "\xEF\xBB\xBFid,predicted\n" ALL_ROWS, 0, &res, &err) == 0,
	      "BOM valid: %s", err.msg);
	ifs_score_result_clear(&res);
	CHECK(score_str(t, "id,predicted\n" ROWS_AFTER_100 "100,0  1\t2 3 4 ", 0, &res, &err) == 0,
	      "no final newline, extra blanks valid: %s", err.msg);
	ifs_score_result_clear(&res);

	bad(t, "empty", "", 2, 1, "empty file");
	bad(t, "missing header", ALL_ROWS, 1, 1, "missing header");
	bad(t, "wrong header", "image,label\n" ALL_ROWS, 1, 1, "wrong header");
	bad(t, "no comma header", "hello\n" ALL_ROWS, 1, 1, "wrong header");
	bad(t, "three columns", "id,predicted\n100,0 1 2 3 4,9\n" ROWS_AFTER_100, 2, 2,
	    "expected 2 columns (id,predicted), found 3");
	bad(t, "one column", "id,predicted\n" ROWS_AFTER_100 "100 0 1 2 3 4\n", 2, 7,
	    "expected 2 columns (id,predicted), found 1");
	bad(t, "non-integer id", "id,predicted\n" ROWS_AFTER_100 "1x0,0 1 2 3 4\n", 2, 7,
	    "id '1x0' is not an integer");
	bad(t, "float id", "id,predicted\n" ROWS_AFTER_100 "100.0,0 1 2 3 4\n", 2, 7,
	    "is not an integer");
	bad(t, "empty id", "id,predicted\n" ROWS_AFTER_100 ",0 1 2 3 4\n", 2, 7,
	    "is not an integer");
	bad(t, "huge id", "id,predicted\n" ALL_ROWS "99999999999999999999,0 1 2 3 4\n", 1, 8,
	    "out of range");
	bad(t, "id not in split", "id,predicted\n" ALL_ROWS "999,0 1 2 3 4\n", 1, 8,
	    "image id 999 is not in the split");
	bad(t, "duplicate id", "id,predicted\n100,0 1 2 3 4\n101,0 1 2 3 4\n100,5 6 7 8 9\n"
	    "102,0 1 2 3 4\n200,0 1 2 3 4\n300,0 1 2 3 4\n301,0 1 2 3 4\n", 1, 4,
	    "duplicate id 100 (first on line 2)");
	bad(t, "four predictions", "id,predicted\n" ROWS_AFTER_100 "100,0 1 2 3\n", 1, 7,
	    "expected 5 predictions, found 4");
	bad(t, "six predictions", "id,predicted\n100,0 1 2 3 4 5\n" ROWS_AFTER_100, 1, 2,
	    "expected 5 predictions, found 6");
	bad(t, "no predictions", "id,predicted\n100,\n" ROWS_AFTER_100, 1, 2,
	    "expected 5 predictions, found 0");
	bad(t, "non-integer category", "id,predicted\n100,0 1 x 3 4\n" ROWS_AFTER_100, 1, 2,
	    "prediction 3 'x' is not an integer");
	bad(t, "float category", "id,predicted\n" ROWS_AFTER_100 "100,0 1 2 3 4.0\n", 1, 7,
	    "prediction 5 '4.0' is not an integer");
	bad(t, "unknown category", "id,predicted\n100,0 1 2 3 77\n" ROWS_AFTER_100, 1, 2,
	    "prediction 5: unknown category 77");
	bad(t, "negative category", "id,predicted\n100,-1 1 2 3 4\n" ROWS_AFTER_100, 1, 2,
	    "unknown category -1");
	bad(t, "repeated category", "id,predicted\n100,0 1 2 1 4\n" ROWS_AFTER_100, 1, 2,
	    "prediction 4: category 1 is repeated");
	bad(t, "missing rows", "id,predicted\n100,0 1 2 3 4\n102,0 1 2 3 4\n200,0 1 2 3 4\n"
	    "301,0 1 2 3 4\n", 1, 0, "2 images of the split have no row (first: 101, 300)");
	CHECK(probs.missing == 2, "missing count %llu", (unsigned long long)probs.missing);
	bad(t, "header only", "id,predicted\n", 1, 0,
	    "6 images of the split have no row (first: 100, 200, 101, 300, 102, ...)");
	bad(t, "blank line", "id,predicted\n100,0 1 2 3 4\n101,0 1 2 3 4\n\n" "102,0 1 2 3 4\n"
	    "200,0 1 2 3 4\n300,0 1 2 3 4\n301,0 1 2 3 4\n", 1, 4, "blank line");
	bad(t, "blank CRLF line", "id,predicted\r\n" ALL_ROWS "\r\n", 1, 8, "blank line");
	bad(t, "two final newlines", "id,predicted\n" ALL_ROWS "\n", 1, 8, "blank line");

	/* a line too long, and a NUL byte */
	size_t big = IFS_SCORE_LINE_MAX + 100;
	char *s = malloc(big + 200);
	if (s) {
		int n = snprintf(s, 200, "id,predicted\n" ALL_ROWS "100,");
		memset(s + n, '1', big);
		strcpy(s + n + big, "\n");
		bad(t, "long line", s, 1, 8, "line longer than");
		free(s);
	}
	static const char nul[] = "id,predicted\n" ROWS_AFTER_100 "100,0 1\0 2 3 4\n";
	write_file("nul.csv", nul, sizeof nul - 1);
	int r = ifs_score_file(tmp_path("nul.csv"), t, 0, &res, &probs, &err);
	CHECK(r == -EINVAL && has_problem(7, "NUL byte"), "NUL byte: %d", r);

	/* many problems in one file: all counted, lines right, first 100 kept */
	size_t cap = 64 * 300 + 512, len = 0;
	char *many = malloc(cap);
	if (many) {
		len += (size_t)snprintf(many + len, cap - len, "id,predicted\n" ALL_ROWS);
		for (int i = 0; i < 150; i++)
			len += (size_t)snprintf(many + len, cap - len, "%d,0 1 2 3 4\n", 5000 + i);
		len += (size_t)snprintf(many + len, cap - len, "100,0 1 2 3 4\n");
		r = score_str(t, many, 0, &res, &err);
		CHECK(r == -EINVAL && probs.total == 151 && probs.n == IFS_SCORE_MAX_PROBLEMS,
		      "many problems: total %llu kept %zu", (unsigned long long)probs.total, probs.n);
		CHECK(has_problem(8, "image id 5000 is not") && has_problem(107, "image id 5099 is not"),
		      "many problems: first lines kept with their numbers");
		CHECK(!has_problem(108, "5100"), "many problems: the 101st is not kept");
		free(many);
	}

	/* several different problems in one file, each on its line */
	r = score_str(t, "id,predicted\nabc,0 1 2 3 4\n100,0 1 2 3\n\n101,0 1 2 2 4\n102,0 1 2 3 4\n"
		      "102,0 1 2 3 4\n200,0 1 2 3 4\n300,0 1 2 3 4\n", 0, &res, &err);
	CHECK(r == -EINVAL && probs.total == 6 && has_problem(2, "'abc'") &&
	      has_problem(3, "found 4") && has_problem(4, "blank") && has_problem(5, "repeated") &&
	      has_problem(7, "first on line 6") && has_problem(0, "1 image of the split has no row (first: 301)"),
	      "mixed problems: %d, %llu", r, (unsigned long long)probs.total);
	if (probs.total != 6)
		dump_problems();

	/* unreadable file */
	ifs_err_clear(&err);
	r = ifs_score_file(tmp_path("does-not-exist.csv"), t, 0, &res, &probs, &err);
	CHECK(r == -ENOENT && probs.total == 0 && strstr(err.msg, "does-not-exist.csv"),
	      "missing file: %d %s", r, err.msg);
	ifs_truth_free(t);
}

static void test_bad_truth(void)
{
	ifs_truth *t = NULL;
	ifs_score_result res;
	ifs_err err;
	ifs_truth_new(&t, &err);
	CHECK(t != NULL, "truth");
	if (!t)
		return;
	for (int c = 0; c < 6; c++)
		ifs_truth_add_category(t, c, "X", &err);
	ifs_truth_add(t, 1, -1, &err);
	ifs_truth_add(t, 2, -1, &err);
	CHECK(!ifs_truth_labeled(t), "unlabeled truth");
	const char *csv = "id,predicted\n1,0 1 2 3 4\n2,5 4 3 2 1\n";
	CHECK(score_str(t, csv, 0, &res, &err) == -ENODATA, "unlabeled: scoring refused");
	CHECK(score_str(t, csv, 1, &res, &err) == 0 && res.images == 2 && !res.scored,
	      "unlabeled: check-only valid: %s", err.msg);
	ifs_score_result_clear(&res);
	ifs_truth_add(t, 2, -1, &err);
	CHECK(score_str(t, csv, 1, &res, &err) == -EINVAL && probs.total == 0 &&
	      strstr(err.msg, "image id 2 appears twice"), "duplicate truth id: %s", err.msg);
	ifs_truth_free(t);

	ifs_truth_new(&t, &err);
	ifs_truth_add_category(t, 0, "X", &err);
	ifs_truth_add(t, 1, 7, &err);
	CHECK(score_str(t, csv, 0, &res, &err) == -EINVAL && probs.total == 0 &&
	      strstr(err.msg, "unknown category 7"), "truth with unknown category: %s", err.msg);
	ifs_truth_free(t);
}

static void test_load(void)
{
	sqlite3 *db = NULL;
	ifs_truth *t = NULL;
	ifs_score_result res;
	ifs_err err;
	ifs_err_clear(&err);
	int ok = sqlite3_open(":memory:", &db) == SQLITE_OK &&
		 sqlite3_exec(db,
			      "CREATE TABLE categories(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
			      " supercategory TEXT NOT NULL);"
			      "CREATE TABLE images(rid INTEGER PRIMARY KEY, split INTEGER NOT NULL,"
			      " id INTEGER NOT NULL, category INTEGER NOT NULL);"
			      "INSERT INTO categories VALUES (0,'a','Aves'),(1,'b','Aves'),"
			      " (2,'c','Fungi'),(3,'d','Fungi'),(4,'e','Fungi'),(5,'f','Insecta');"
			      "INSERT INTO images(split,id,category) VALUES (0,1,0),(0,2,1),(1,10,2),"
			      " (1,11,5),(1,12,2),(2,20,-1);",
			      NULL, NULL, NULL) == SQLITE_OK;
	CHECK(ok, "in-memory index: %s", db ? sqlite3_errmsg(db) : "?");
	if (!ok)
		goto out;
	CHECK(ifs_truth_load(db, 1, &t, &err) == 0 && t && ifs_truth_count(t) == 3 &&
	      ifs_truth_ncategories(t) == 6 && ifs_truth_labeled(t), "load val: %s", err.msg);
	if (t) {
		/* 10 right at 1, 11 right at 2, 12 wrong: top-1 2/3, top-5 1/3 */
		int r = score_str(t, "id,predicted\n10,2 0 1 3 4\n11,0 5 1 2 3\n12,0 1 3 4 5\n", 0,
				  &res, &err);
		CHECK(r == 0 && near(res.top1, 2.0 / 3) && near(res.top5, 1.0 / 3) &&
		      res.classes == 2 && near(res.macro_top1, (0.5 + 1.0) / 2) &&
		      near(res.macro_top5, (0.5 + 0.0) / 2) && res.ngroups == 2,
		      "scored from the database: %d %s", r, err.msg);
		ifs_score_result_clear(&res);
		r = score_str(t, "id,predicted\n10,2 0 1 3 4\n11,0 5 1 2 3\n1,0 1 3 4 5\n", 0, &res,
			      &err);
		CHECK(r == -EINVAL && has_problem(4, "image id 1 is not in the val split"),
		      "a train id in a val file: %d", r);
		ifs_truth_free(t);
		t = NULL;
	}
	CHECK(ifs_truth_load(db, 2, &t, &err) == 0 && t && ifs_truth_count(t) == 1 &&
	      !ifs_truth_labeled(t), "load test: unlabeled");
	ifs_truth_free(t);
	t = NULL;
	ifs_err_clear(&err);
	CHECK(ifs_truth_load(db, 7, &t, &err) == -EINVAL && !t, "bad split refused");
	sqlite3_exec(db, "DROP TABLE images", NULL, NULL, NULL);
	ifs_err_clear(&err);
	CHECK(ifs_truth_load(db, 1, &t, &err) == -EIO && !t && strstr(err.msg, "index:"),
	      "missing table: %s", err.msg);
out:
	sqlite3_close(db);
}

/* 95,986 images, 5,089 categories in 13 supercategories, rows in scrambled order. */
static void test_large(void)
{
	enum { N = 95986, NC = 5089, NS = 13 };
	static const char *const sup[NS] = { "Plantae", "Insecta", "Aves", "Reptilia",
					     "Mammalia", "Fungi", "Amphibia", "Mollusca",
					     "Animalia", "Arachnida", "Actinopterygii",
					     "Chromista", "Protozoa" };
	ifs_truth *t = NULL;
	ifs_score_result res;
	ifs_err err;
	int64_t *cat = malloc(N * sizeof *cat);
	int *rank = malloc(N * sizeof *rank);
	uint64_t (*cls)[3] = calloc(NC, sizeof *cls), (*grp)[3] = calloc(NS, sizeof *grp);
	FILE *f = NULL;
	int ok = cat && rank && cls && grp && ifs_truth_new(&t, &err) == 0;
	for (int c = 0; ok && c < NC; c++)
		ok = ifs_truth_add_category(t, c, sup[c % NS], &err) == 0;
	uint64_t seed = 0x5eed;
	for (int i = 0; ok && i < N; i++) {
		cat[i] = (int64_t)(tu_rand(&seed) % (NC - 40));   /* 40 classes stay empty */
		ok = ifs_truth_add(t, (int64_t)i * 7 + 3, cat[i], &err) == 0;
	}
	ok = ok && (f = fopen(tmp_path("large.csv"), "w")) != NULL;
	ok = ok && fputs("id,predicted\n", f) >= 0;
	uint64_t w1 = 0, w5 = 0;
	for (int j = 0; ok && j < N; j++) {
		int i = (int)(((uint64_t)j * 40503u) % N);   /* a permutation: gcd(40503, N) = 1 */
		int k = (int)(tu_rand(&seed) % 8);           /* 1..5 hit there, else miss */
		int64_t p[5];
		for (int m = 0; m < 5; m++)
			p[m] = (cat[i] + 1 + m) % NC;
		if (k >= 1 && k <= 5)
			p[k - 1] = cat[i];
		rank[i] = k >= 1 && k <= 5 ? k : 0;
		ok = fprintf(f, "%lld,%lld %lld %lld %lld %lld\n", (long long)(i * 7 + 3),
			     (long long)p[0], (long long)p[1], (long long)p[2], (long long)p[3],
			     (long long)p[4]) > 0;
	}
	if (f && fclose(f) != 0)
		ok = 0;
	CHECK(ok, "large file written");
	if (!ok)
		goto out;
	for (int i = 0; i < N; i++) {
		int m1 = rank[i] != 1, m5 = rank[i] == 0;
		w1 += (uint64_t)m1;
		w5 += (uint64_t)m5;
		cls[cat[i]][0]++, cls[cat[i]][1] += (uint64_t)m1, cls[cat[i]][2] += (uint64_t)m5;
		int g = (int)(cat[i] % NS);
		grp[g][0]++, grp[g][1] += (uint64_t)m1, grp[g][2] += (uint64_t)m5;
	}
	double s1 = 0, s5 = 0;
	uint64_t ncls = 0;
	for (int c = 0; c < NC; c++)
		if (cls[c][0]) {
			ncls++;
			s1 += (double)cls[c][1] / (double)cls[c][0];
			s5 += (double)cls[c][2] / (double)cls[c][0];
		}
	int r = ifs_score_file(tmp_path("large.csv"), t, 0, &res, &probs, &err);
	CHECK(r == 0, "large: valid (%d %s)", r, err.msg);
	if (r)
		dump_problems();
	CHECK(res.images == N && res.top1 == (double)w1 / N && res.top5 == (double)w5 / N,
	      "large: top1 %.6f vs %.6f, top5 %.6f vs %.6f", res.top1, (double)w1 / N, res.top5,
	      (double)w5 / N);
	CHECK(res.classes == ncls && fabs(res.macro_top1 - s1 / (double)ncls) < 1e-9 &&
	      fabs(res.macro_top5 - s5 / (double)ncls) < 1e-9, "large: macro %.6f %.6f vs %.6f %.6f",
	      res.macro_top1, res.macro_top5, s1 / (double)ncls, s5 / (double)ncls);
	CHECK(res.top5 > 0.35 && res.top5 < 0.40 && res.top1 > 0.85, "large: plausible mix");
	CHECK(res.ngroups == NS, "large: %zu supercategories", res.ngroups);
	for (size_t g = 0; g < res.ngroups; g++) {
		int s = -1;
		for (int q = 0; q < NS; q++)
			if (!strcmp(sup[q], res.groups[g].name))
				s = q;
		CHECK(s >= 0 && res.groups[g].images == grp[s][0] &&
		      res.groups[g].top1 == (double)grp[s][1] / (double)grp[s][0] &&
		      res.groups[g].top5 == (double)grp[s][2] / (double)grp[s][0],
		      "large: supercategory %s", res.groups[g].name);
		if (g)
			CHECK(strcmp(res.groups[g - 1].name, res.groups[g].name) < 0, "sorted by name");
	}
	ifs_score_result_clear(&res);
out:
	ifs_truth_free(t);
	free(cat);
	free(rank);
	free(cls);
	free(grp);
}

int main(void)
{
	dir = tu_tmpdir("score");
	if (!dir) {
		fprintf(stderr, "no temporary directory\n");
		return 2;
	}
	test_basic_scores();
	test_malformed();
	test_bad_truth();
	test_load();
	test_large();
	tu_sh("rm -rf '%s'", dir);
	free(dir);
	return tu_end("score");
}
